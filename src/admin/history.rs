//! A bounded ring of health samples per deployment, for "score over time".

use crate::health::HealthSnapshot;
use crate::rollout::Stage;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One point of a deployment's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct Sample {
    /// Milliseconds since the Unix epoch.
    pub(super) at_ms: u64,
    pub(super) stage: Stage,
    pub(super) paused: bool,
    pub(super) weight: f64,
    pub(super) score: f64,
    pub(super) pairs: u64,
    /// Pairs with a real difference, per pair.
    pub(super) difference_rate: f64,
    pub(super) baseline_error_rate: f64,
    pub(super) candidate_error_rate: f64,
    pub(super) baseline_p99_ms: f64,
    pub(super) candidate_p99_ms: f64,
}

impl Sample {
    pub(super) fn of(stage: Stage, paused: bool, weight: f64, s: &HealthSnapshot) -> Self {
        Self {
            at_ms: now_ms(),
            stage,
            paused,
            weight,
            score: s.score,
            pairs: s.pairs,
            difference_rate: rate(s.different, s.pairs),
            baseline_error_rate: rate(s.baseline_errors, s.pairs),
            candidate_error_rate: rate(s.candidate_errors, s.pairs),
            baseline_p99_ms: s.baseline_latency.p99_ms,
            candidate_p99_ms: s.candidate_latency.p99_ms,
        }
    }
}

/// `part / whole`, 0 when `whole` is 0.
pub(super) fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// At most `capacity` samples, at most one per `every`. When full, the
/// history is downsampled rather than cut: every other sample goes and the
/// period doubles, so it always spans the whole rollout, at a resolution
/// that halves as it grows.
#[derive(Debug)]
pub(super) struct History {
    samples: VecDeque<Sample>,
    capacity: usize,
    every: Duration,
    last: Option<Instant>,
}

impl History {
    pub(super) fn new(capacity: usize, every: Duration) -> Self {
        Self {
            samples: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            every,
            last: None,
        }
    }

    /// Whether a sample is due at `now` (`force`: after a change, always).
    pub(super) fn due(&self, now: Instant, force: bool) -> bool {
        force
            || self
                .last
                .is_none_or(|last| now.duration_since(last) >= self.every)
    }

    /// Appends `sample`, taken at `now`; when full, downsamples first.
    pub(super) fn push(&mut self, now: Instant, sample: Sample) {
        if self.samples.len() == self.capacity {
            if self.capacity == 1 {
                self.samples.clear();
            } else {
                let mut index = 0;
                self.samples.retain(|_| {
                    index += 1;
                    index % 2 == 1
                });
                self.every = self.every.saturating_mul(2);
            }
        }
        self.samples.push_back(sample);
        self.last = Some(now);
    }

    /// The samples, oldest first.
    pub(super) fn samples(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_capacity_samples_downsampling_when_full() {
        let mut history = History::new(4, Duration::from_secs(2));
        let start = Instant::now();
        let sample = |score| {
            let s = HealthSnapshot {
                score,
                pairs: 10,
                different: 1,
                ..HealthSnapshot::default()
            };
            Sample::of(Stage::Shadow, false, 0.0, &s)
        };
        assert!(history.due(start, false));
        history.push(start, sample(1.0));
        assert!(!history.due(start + Duration::from_secs(1), false));
        assert!(history.due(start + Duration::from_secs(1), true));
        for i in 2..=5 {
            let at = start + Duration::from_secs(2 * i);
            assert!(history.due(at, false));
            history.push(at, sample(i as f64));
        }
        // Full at four: every other sample went, the period doubled.
        let scores: Vec<f64> = history.samples().iter().map(|s| s.score).collect();
        assert_eq!(scores, [1.0, 3.0, 5.0]);
        assert_eq!(history.every, Duration::from_secs(4));
        assert!(!history.due(start + Duration::from_secs(12), false));
        assert_eq!(history.samples()[0].difference_rate, 0.1);
    }
}
