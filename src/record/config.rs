use super::{FileRecorder, Opening};
use crate::config::{in_range, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const SECTION: &str = "record";

/// The serde form of a [`FileRecorder`]'s settings ([`Opening`]), checked
/// when it is applied.
///
/// | field | default | allowed |
/// |---|---|---|
/// | `path` | required | a file path |
/// | `max_bytes` | 67108864 (64 MiB) | `1024..=` 2^40 ([`Opening::max_bytes`]) |
/// | `max_files` | 5 | `0..=1000` ([`Opening::max_files`]) |
/// | `queue` | 1024 | `1..=1000000` ([`Opening::queue`]) |
///
/// ```no_run
/// use tower_shadow::record::FileRecorderConfig;
///
/// let config: FileRecorderConfig = serde_json::from_str(r#"{"path": "pairs.jsonl", "max_files": 2}"#)?;
/// let recorder = config.opening()?.start()?;
/// # let _ = recorder;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileRecorderConfig {
    /// The file records go to (created, or appended to).
    pub path: PathBuf,
    /// Rotate past this many bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Keep this many rotated files.
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    /// Queue at most this many records.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_max_bytes() -> u64 {
    64 << 20
}

fn default_max_files() -> usize {
    5
}

fn default_queue() -> usize {
    1024
}

impl FileRecorderConfig {
    /// Records to `path` with the default limits.
    ///
    /// ```
    /// use tower_shadow::record::FileRecorderConfig;
    ///
    /// let config = FileRecorderConfig::new("pairs.jsonl");
    /// assert_eq!((config.max_bytes, config.max_files, config.queue), (64 << 20, 5, 1024));
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_bytes: default_max_bytes(),
            max_files: default_max_files(),
            queue: default_queue(),
        }
    }

    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::record::FileRecorderConfig;
    ///
    /// let mut config = FileRecorderConfig::new("pairs.jsonl");
    /// config.max_bytes = 10;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid record config: max_bytes: must be in 1024..=1099511627776, not 10"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(SECTION, "path", "must not be empty"));
        }
        in_range(SECTION, "max_bytes", self.max_bytes, 1024, 1 << 40)?;
        in_range(SECTION, "max_files", self.max_files as u64, 0, 1000)?;
        in_range(SECTION, "queue", self.queue as u64, 1, 1_000_000)
    }

    /// Checks the settings and applies them to an [`Opening`]; its
    /// [`start`](Opening::start) opens the file.
    ///
    /// ```
    /// use tower_shadow::record::FileRecorderConfig;
    ///
    /// let dir = std::env::temp_dir().join(format!("tower-shadow-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let recorder = FileRecorderConfig::new(dir.join("pairs.jsonl")).opening()?.start()?;
    /// recorder.close()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn opening(&self) -> Result<Opening, ConfigError> {
        self.validate()?;
        let opening =
            FileRecorder::open(&self.path).map_err(|e| ConfigError::invalid(SECTION, "path", e))?;
        Ok(opening
            .max_bytes(self.max_bytes)
            .max_files(self.max_files)
            .queue(self.queue))
    }
}
