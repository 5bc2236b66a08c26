//! How the candidate is doing: counts of what the shadows saw.
//!
//! [`Health`] is a cheap-to-clone shared handle. The shadow layer records
//! into it; anything may read it with [`Health::snapshot`], which returns a
//! serde-serializable [`HealthSnapshot`]. Several layers may share one
//! `Health` (pass it to each builder), so the figures of a whole service add
//! up in one place.
//!
//! Every figure is also emitted through the [`metrics`] facade, under the
//! names listed in [`names`].
//!
//! ```
//! # async fn demo() {
//! use tower_shadow::health::Health;
//!
//! let health = Health::new();
//! // ... serve traffic through a ShadowLayer built with `.health(health.clone())` ...
//! health.idle().await; // every shadow started so far has been compared
//! let snapshot = health.snapshot();
//! println!("{} pairs, {} different", snapshot.pairs, snapshot.different);
//! # }
//! ```

pub mod names;
mod snapshot;

pub use self::snapshot::{HealthSnapshot, SkippedReasons};

use crate::compare::Comparison;
use crate::exchange::{ErrorKind, Exchange};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A shared handle on the figures of one candidate. Clones share them.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    sampled: AtomicU64,
    skipped: [AtomicU64; SkipReason::COUNT],
    pairs: AtomicU64,
    equivalent: AtomicU64,
    baseline_errors: AtomicU64,
    candidate_errors: AtomicU64,
    candidate_timeouts: AtomicU64,
    candidate_panics: AtomicU64,
    pending: AtomicUsize,
    idle: Notify,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Health").field(&self.snapshot()).finish()
    }
}

/// Why a sampled request was not shadowed (or its pair not compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// The method is not one the layer shadows (by default only GET, HEAD
    /// and OPTIONS are).
    Method,
    /// The request body was larger than `max_body_bytes`.
    Oversize,
    /// `max_in_flight` shadows were already running.
    Overloaded,
    /// The primary did not finish its side (its request body was not read to
    /// the end, or the response was dropped or not done in time), so there
    /// was nothing to compare.
    Incomplete,
    /// The request was served outside a Tokio runtime, where no task can be
    /// spawned.
    NoRuntime,
    /// The comparator panicked on this pair (a bug in the comparator, not
    /// the candidate's fault); the panic was contained.
    Comparator,
}

impl SkipReason {
    const COUNT: usize = 6;
    const ALL: [SkipReason; Self::COUNT] = [
        Self::Method,
        Self::Oversize,
        Self::Overloaded,
        Self::Incomplete,
        Self::NoRuntime,
        Self::Comparator,
    ];

    /// The reason's name, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::Oversize => "oversize",
            Self::Overloaded => "overloaded",
            Self::Incomplete => "incomplete",
            Self::NoRuntime => "no_runtime",
            Self::Comparator => "comparator",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Health {
    /// A new, empty health.
    pub fn new() -> Self {
        Self::default()
    }

    /// The figures so far.
    pub fn snapshot(&self) -> HealthSnapshot {
        let i = &*self.inner;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let skipped = |r: SkipReason| load(&i.skipped[r.index()]);
        let pairs = load(&i.pairs);
        let equivalent = load(&i.equivalent).min(pairs);
        let skipped_reasons = SkippedReasons {
            method: skipped(SkipReason::Method),
            oversize: skipped(SkipReason::Oversize),
            overloaded: skipped(SkipReason::Overloaded),
            incomplete: skipped(SkipReason::Incomplete),
            no_runtime: skipped(SkipReason::NoRuntime),
            comparator: skipped(SkipReason::Comparator),
        };
        HealthSnapshot {
            sampled: load(&i.sampled),
            skipped: SkipReason::ALL.into_iter().map(skipped).sum(),
            skipped_reasons,
            pairs,
            equivalent,
            different: pairs - equivalent,
            baseline_errors: load(&i.baseline_errors),
            candidate_errors: load(&i.candidate_errors),
            candidate_timeouts: load(&i.candidate_timeouts),
            candidate_panics: load(&i.candidate_panics),
            in_flight: i.pending.load(Ordering::Relaxed) as u64,
            score: if pairs == 0 {
                100.0
            } else {
                100.0 * equivalent as f64 / pairs as f64
            },
        }
    }

    /// Resolves once every shadow started so far has been compared and
    /// recorded (or skipped).
    ///
    /// A pair completes when both sides have answered: the shadow's, and the
    /// primary's once its response body has been read to the end or dropped.
    /// Tests use this instead of sleeping.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Counts a request the sampler picked.
    pub(crate) fn record_sampled(&self) {
        self.inner.sampled.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::SAMPLED).increment(1);
    }

    /// Counts a sampled request that was not shadowed, or not compared.
    pub fn record_skip(&self, reason: SkipReason) {
        self.inner.skipped[reason.index()].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::SKIPPED, "reason" => reason.as_str()).increment(1);
    }

    /// Counts a compared pair.
    pub fn record_pair(&self, baseline: &Exchange, candidate: &Exchange, comparison: &Comparison) {
        let i = &*self.inner;
        i.pairs.fetch_add(1, Ordering::Relaxed);
        let outcome = if comparison.is_equivalent() {
            i.equivalent.fetch_add(1, Ordering::Relaxed);
            "equivalent"
        } else {
            "different"
        };
        metrics::counter!(names::PAIRS, "outcome" => outcome).increment(1);
        if baseline.is_failure() {
            i.baseline_errors.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(names::ERRORS, "side" => "baseline").increment(1);
        }
        if candidate.is_failure() {
            i.candidate_errors.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(names::ERRORS, "side" => "candidate").increment(1);
        }
        match candidate.error.as_ref().map(|e| e.kind) {
            Some(ErrorKind::Timeout) => {
                i.candidate_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Some(ErrorKind::Panic) => {
                i.candidate_panics.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        metrics::histogram!(names::LATENCY, "side" => "baseline")
            .record(baseline.latency.as_secs_f64());
        metrics::histogram!(names::LATENCY, "side" => "candidate")
            .record(candidate.latency.as_secs_f64());
        metrics::gauge!(names::SCORE).set(self.snapshot().score);
    }

    /// Marks a shadow as started; [`Health::idle`] waits until the returned
    /// guard is dropped.
    pub(crate) fn start_pending(&self) -> Pending {
        self.inner.pending.fetch_add(1, Ordering::AcqRel);
        metrics::gauge!(names::IN_FLIGHT).increment(1.0);
        Pending(self.clone())
    }
}

/// A shadow that [`Health::idle`] waits for; finished when dropped, however
/// the shadow ended (even by a panic).
#[derive(Debug)]
pub(crate) struct Pending(Health);

impl Drop for Pending {
    fn drop(&mut self) {
        metrics::gauge!(names::IN_FLIGHT).decrement(1.0);
        if self.0.inner.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Comparator, Exact};
    use crate::exchange::ExchangeError;
    use http::{HeaderMap, StatusCode};

    #[tokio::test]
    async fn idle_waits_for_every_pending_shadow() {
        let health = Health::new();
        health.idle().await;
        let first = health.start_pending();
        let second = health.start_pending();
        let waiter = tokio::spawn({
            let health = health.clone();
            async move { health.idle().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(health.snapshot().in_flight, 1);
        drop(second);
        waiter.await.unwrap();
        assert_eq!(health.snapshot().in_flight, 0);
    }

    #[test]
    fn counts_pairs_errors_and_skips() {
        let health = Health::new();
        let ok = Exchange::new(StatusCode::OK, HeaderMap::new(), "x");
        let timeout = Exchange::failed(ExchangeError::new(ErrorKind::Timeout, "5s"));
        health.record_pair(&ok, &ok, &Exact.compare(&ok, &ok));
        health.record_pair(&ok, &timeout, &Exact.compare(&ok, &timeout));
        health.record_skip(SkipReason::Oversize);
        health.record_skip(SkipReason::Overloaded);
        health.record_skip(SkipReason::Overloaded);
        let s = health.snapshot();
        assert_eq!((s.pairs, s.equivalent, s.different), (2, 1, 1));
        assert_eq!((s.candidate_errors, s.candidate_timeouts, s.baseline_errors), (1, 1, 0));
        assert_eq!(s.skipped, 3);
        assert_eq!(s.skipped_reasons.overloaded, 2);
        assert_eq!(s.score, 50.0);
    }
}
