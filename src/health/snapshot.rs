use serde::{Deserialize, Serialize};

/// The figures of a [`Health`](super::Health) at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthSnapshot {
    /// Requests the sampler picked.
    pub sampled: u64,
    /// Picked requests that were not shadowed, or whose pair was not
    /// compared; the sum of `skipped_reasons`.
    pub skipped: u64,
    /// `skipped`, by reason.
    pub skipped_reasons: SkippedReasons,
    /// Compared pairs: `equivalent + different`.
    pub pairs: u64,
    /// Pairs whose comparison found no difference.
    pub equivalent: u64,
    /// Pairs whose comparison found a difference.
    pub different: u64,
    /// Pairs whose baseline side failed (an error or a 5xx).
    pub baseline_errors: u64,
    /// Pairs whose candidate side failed (an error, a timeout, a panic or a 5xx).
    pub candidate_errors: u64,
    /// Of `candidate_errors`, those that timed out.
    pub candidate_timeouts: u64,
    /// Of `candidate_errors`, those that panicked.
    pub candidate_panics: u64,
    /// Shadows started and not yet compared.
    pub in_flight: u64,
    /// `100 × equivalent / pairs`; `100` before any pair.
    pub score: f64,
}

/// Skipped requests by [`SkipReason`](super::SkipReason).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SkippedReasons {
    /// The method is not shadowed.
    pub method: u64,
    /// The request body was over `max_body_bytes`.
    pub oversize: u64,
    /// `max_in_flight` shadows were already running.
    pub overloaded: u64,
    /// The primary's side did not complete.
    pub incomplete: u64,
    /// No Tokio runtime to spawn the shadow on.
    pub no_runtime: u64,
    /// The comparator panicked.
    pub comparator: u64,
}
