use super::{Record, Recorder};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Records as JSON lines in a file, written by a background thread.
///
/// - The queue is bounded ([`Opening::queue`], default 1024 records):
///   when the writer falls behind, new records are dropped and counted
///   ([`FileRecorder::dropped`]); recording never blocks a shadow.
/// - The file rotates when it passes [`max_bytes`](Opening::max_bytes)
///   (default 64 MiB): `pairs.jsonl` becomes `pairs.jsonl.1`, the previous
///   `.1` becomes `.2`, and so on up to [`max_files`](Opening::max_files)
///   (default 5) old files.
/// - [`close`](FileRecorder::close) writes everything queued, flushes and
///   waits for the writer; dropping the last clone does the same in the
///   background.
///
/// ```no_run
/// use tower_shadow::record::FileRecorder;
///
/// let recorder = FileRecorder::open("pairs.jsonl")?.max_bytes(16 << 20).start()?;
/// // ShadowLayer::builder(candidate).recorder(recorder.clone()) ...
/// recorder.close()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct FileRecorder {
    inner: Arc<Shared>,
}

struct Shared {
    sender: parking_lot::Mutex<Option<SyncSender<Record>>>,
    writer: parking_lot::Mutex<Option<JoinHandle<io::Result<()>>>>,
    dropped: AtomicU64,
    written: Arc<AtomicU64>,
}

/// Settings of a [`FileRecorder`] before it starts. Made by [`FileRecorder::open`].
#[derive(Debug)]
pub struct Opening {
    path: PathBuf,
    max_bytes: u64,
    max_files: usize,
    queue: usize,
}

impl FileRecorder {
    /// Records to `path` (created, or appended to).
    #[allow(clippy::new_ret_no_self)]
    pub fn open(path: impl AsRef<Path>) -> io::Result<Opening> {
        Ok(Opening {
            path: path.as_ref().to_path_buf(),
            max_bytes: 64 << 20,
            max_files: 5,
            queue: 1024,
        })
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// Writes everything queued, flushes, and stops the writer. Records
    /// sent afterwards are dropped (and counted).
    pub fn close(&self) -> io::Result<()> {
        drop(self.inner.sender.lock().take());
        match self.inner.writer.lock().take() {
            Some(writer) => writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the record writer panicked"))),
            None => Ok(()),
        }
    }
}

impl Opening {
    /// Rotates past this many bytes (at least 1 KiB).
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max.max(1024);
        self
    }

    /// Keeps this many rotated files (0: the old file is deleted).
    pub fn max_files(mut self, max: usize) -> Self {
        self.max_files = max;
        self
    }

    /// Queues at most this many records (at least 1).
    pub fn queue(mut self, records: usize) -> Self {
        self.queue = records.max(1);
        self
    }

    /// Opens the file and starts the writer thread.
    pub fn start(self) -> io::Result<FileRecorder> {
        let file = append(&self.path)?;
        let size = file.metadata()?.len();
        let (sender, receiver) = sync_channel::<Record>(self.queue);
        let written = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&written);
        let mut out = Output {
            path: self.path,
            max_bytes: self.max_bytes,
            max_files: self.max_files,
            file: BufWriter::new(file),
            size,
        };
        let writer = std::thread::Builder::new()
            .name("tower-shadow-records".into())
            .spawn(move || {
                for record in receiver {
                    out.write(&record)?;
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                out.file.flush()
            })?;
        Ok(FileRecorder {
            inner: Arc::new(Shared {
                sender: parking_lot::Mutex::new(Some(sender)),
                writer: parking_lot::Mutex::new(Some(writer)),
                dropped: AtomicU64::new(0),
                written,
            }),
        })
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

struct Output {
    path: PathBuf,
    max_bytes: u64,
    max_files: usize,
    file: BufWriter<File>,
    size: u64,
}

impl Output {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let numbered = |n: usize| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.max_files == 0 {
            fs::remove_file(&self.path)?;
        } else {
            let _ = fs::remove_file(numbered(self.max_files));
            for n in (1..self.max_files).rev() {
                let from = numbered(n);
                if from.exists() {
                    fs::rename(&from, numbered(n + 1))?;
                }
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = BufWriter::new(append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

impl Recorder for FileRecorder {
    fn record(&self, record: &Record) {
        let sent = match &*self.inner.sender.lock() {
            Some(sender) => match sender.try_send(record.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for FileRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRecorder")
            .field("written", &self.written())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}
