use super::{Record, Recorder};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// A bounded in-memory ring of records: the most recent differing pairs
/// (and equivalent ones with [`Memory::keep_equivalent`]). Clones share it.
///
/// ```
/// use tower_shadow::record::Memory;
///
/// let ring = Memory::new(2);
/// assert!(ring.records().is_empty());
/// ```
#[derive(Clone)]
pub struct Memory {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    keep_equivalent: bool,
    records: Mutex<VecDeque<Record>>,
}

impl Memory {
    /// Keeps at most `capacity` records (at least 1), the oldest dropped first.
    pub fn new(capacity: usize) -> Self {
        Self::with(capacity.max(1), false)
    }

    fn with(capacity: usize, keep_equivalent: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity,
                keep_equivalent,
                records: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Keeps equivalent pairs too.
    #[must_use]
    pub fn keep_equivalent(self) -> Self {
        Self::with(self.inner.capacity, true)
    }

    /// The records kept, oldest first.
    pub fn records(&self) -> Vec<Record> {
        self.inner.records.lock().iter().cloned().collect()
    }
}

impl Recorder for Memory {
    fn record(&self, record: &Record) {
        if !self.inner.keep_equivalent && record.comparison.is_equivalent() {
            return;
        }
        let mut records = self.inner.records.lock();
        if records.len() == self.inner.capacity {
            records.pop_front();
        }
        records.push_back(record.clone());
    }
}

impl fmt::Debug for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memory")
            .field("capacity", &self.inner.capacity)
            .field("len", &self.inner.records.lock().len())
            .finish()
    }
}
