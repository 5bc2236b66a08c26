use super::figures::guard;
use super::{Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;

/// The minimum sample guard around any policy: no verdict on fewer than
/// `min` pairs.
///
/// Under `min` pairs the decision is `Inconclusive` ("12 pairs < 100
/// needed") and the inner policy is not asked, so a policy that learns
/// from what it sees does not learn from a handful of pairs. The evidence
/// starts with the `pairs` check, followed by the inner policy's when it
/// was asked.
///
/// The built-in policies have this guard already (`min_pairs`, default
/// [`DEFAULT_MIN_PAIRS`](super::DEFAULT_MIN_PAIRS)); `MinPairs` gives it to
/// a closure or a policy of your own.
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{Decision, MinPairs, RollbackPolicy};
///
/// let rollback_on_any_error = |s: &HealthSnapshot, _: f64| {
///     if s.candidate_errors > 0 {
///         Decision::Rollback { reason: format!("{} candidate errors", s.candidate_errors) }
///     } else {
///         Decision::Hold
///     }
/// };
/// let mut policy = MinPairs::new(100, rollback_on_any_error);
///
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 12;
/// snapshot.candidate_errors = 1;
/// assert_eq!(
///     policy.decide(&snapshot, 0.1),
///     Decision::Inconclusive { reason: "12 pairs < 100 needed".into() }
/// );
/// assert!(policy.evidence().checks[0].crossed);
///
/// snapshot.pairs = 100;
/// assert!(matches!(policy.decide(&snapshot, 0.1), Decision::Rollback { .. }));
/// ```
#[derive(Clone, Debug)]
pub struct MinPairs<P> {
    min: u64,
    inner: P,
    last: Evidence,
}

impl<P> MinPairs<P> {
    /// `inner`, asked only from `min` pairs on.
    ///
    /// ```
    /// use tower_shadow::policy::{MinPairs, ThresholdPolicy};
    ///
    /// let policy = MinPairs::new(1000, ThresholdPolicy::new());
    /// assert_eq!(policy.min(), 1000);
    /// ```
    pub fn new(min: u64, inner: P) -> Self {
        Self {
            min,
            inner,
            last: Evidence::default(),
        }
    }

    /// The fewest pairs the inner policy is asked about.
    ///
    /// ```
    /// use tower_shadow::policy::{MinPairs, ThresholdPolicy};
    ///
    /// assert_eq!(MinPairs::new(50, ThresholdPolicy::new()).min(), 50);
    /// ```
    pub fn min(&self) -> u64 {
        self.min
    }

    /// The inner policy.
    ///
    /// ```
    /// use tower_shadow::policy::{MinPairs, ThresholdPolicy};
    ///
    /// let policy = MinPairs::new(50, ThresholdPolicy::new());
    /// assert_eq!(policy.get_ref().config().critical_threshold, 80.0);
    /// ```
    pub fn get_ref(&self) -> &P {
        &self.inner
    }

    /// The inner policy, mutably.
    ///
    /// ```
    /// use tower_shadow::policy::{MinPairs, ThresholdPolicy};
    ///
    /// let mut policy = MinPairs::new(50, ThresholdPolicy::new());
    /// *policy.get_mut() = ThresholdPolicy::new().critical_threshold(60.0);
    /// assert_eq!(policy.get_ref().config().critical_threshold, 60.0);
    /// ```
    pub fn get_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// The inner policy, unwrapped.
    ///
    /// ```
    /// use tower_shadow::policy::{MinPairs, ThresholdPolicy};
    ///
    /// let inner: ThresholdPolicy = MinPairs::new(50, ThresholdPolicy::new()).into_inner();
    /// # let _ = inner;
    /// ```
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P: RollbackPolicy> RollbackPolicy for MinPairs<P> {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        let mut evidence = Evidence::default();
        let decision = match guard(snapshot, self.min, &mut evidence) {
            Some(inconclusive) => inconclusive,
            None => {
                let decision = self.inner.decide(snapshot, canary_weight);
                evidence.checks.extend(self.inner.evidence().checks);
                decision
            }
        };
        self.last = evidence;
        decision
    }

    fn evidence(&self) -> Evidence {
        self.last.clone()
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.last = Evidence::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Check, ThresholdPolicy};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn pairs(n: u64) -> HealthSnapshot {
        HealthSnapshot {
            pairs: n,
            score: 50.0,
            ..Default::default()
        }
    }

    #[test]
    fn does_not_ask_the_inner_policy_under_the_minimum() {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let mut policy = MinPairs::new(10, move |_: &HealthSnapshot, _: f64| {
            counter.fetch_add(1, Ordering::Relaxed);
            Decision::Promote
        });
        assert_eq!(
            policy.decide(&pairs(9), 0.5),
            Decision::Inconclusive {
                reason: "9 pairs < 10 needed".into()
            }
        );
        assert_eq!(
            policy.evidence().checks,
            [Check::at_least("pairs", 9.0, 10.0)]
        );
        assert_eq!(asked.load(Ordering::Relaxed), 0);
        assert_eq!(policy.decide(&pairs(10), 0.5), Decision::Promote);
        assert_eq!(policy.evidence().crossed().count(), 0);
        assert_eq!(asked.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn adds_the_inner_evidence_and_resets_it() {
        let mut policy = MinPairs::new(10, ThresholdPolicy::new().min_pairs(0));
        assert!(matches!(
            policy.decide(&pairs(20), 0.5),
            Decision::Rollback { .. }
        ));
        let names: Vec<_> = policy
            .evidence()
            .checks
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["pairs", "pairs", "score", "score"]);
        policy.reset();
        assert!(policy.evidence().checks.is_empty());
        assert!(policy.get_ref().evidence().checks.is_empty());
    }

    #[test]
    fn zero_lets_everything_through() {
        let mut policy = MinPairs::new(0, |_: &HealthSnapshot, _: f64| Decision::Hold);
        assert_eq!(policy.decide(&pairs(0), 0.0), Decision::Hold);
    }
}
