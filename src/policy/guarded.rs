use super::{Decision, Evidence, ProgressivePolicy, RollbackPolicy, ThresholdPolicy};
use crate::health::HealthSnapshot;

/// A guard with a veto over a driver: when the guard objects — a rollback,
/// a shift down, or an inconclusive verdict — its decision stands;
/// otherwise the driver decides (shift up, promote, hold).
///
/// This is how a policy that *holds* when all is well (thresholds) combines
/// with one that *moves* the weight (progressive): with [`any`](super::any)
/// the guard's hold would outrank every step up.
///
/// Both decide on every call, so both evidences are current; the evidence
/// is the guard's checks, then the driver's.
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{guarded, Decision, ProgressivePolicy, RollbackPolicy, ThresholdPolicy};
///
/// let mut policy = guarded(ThresholdPolicy::new(), ProgressivePolicy::new(1.0));
/// // ThresholdPolicy's defaults: halve under 95, roll back under 80.
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 1000;
/// snapshot.score = 99.0;
/// assert!(matches!(policy.decide(&snapshot, 0.2), Decision::Shift { .. })); // the driver moves
/// snapshot.score = 50.0;
/// assert!(matches!(policy.decide(&snapshot, 0.2), Decision::Rollback { .. })); // the guard vetoes
/// ```
#[derive(Clone, Debug)]
pub struct Guarded<G, D> {
    guard: G,
    driver: D,
}

/// `guard` with a veto over `driver`. See [`Guarded`].
pub fn guarded<G: RollbackPolicy, D: RollbackPolicy>(guard: G, driver: D) -> Guarded<G, D> {
    Guarded { guard, driver }
}

impl<G, D> Guarded<G, D> {
    /// The guard and the driver.
    pub fn into_inner(self) -> (G, D) {
        (self.guard, self.driver)
    }
}

/// The rollout's default policy: a strict [`ThresholdPolicy`] guarding a
/// [`ProgressivePolicy`] toward full traffic.
///
/// From `Shadow`, a healthy candidate is walked up 5 points per tick (never
/// more than 10) and promoted. The guard is stricter than
/// `ThresholdPolicy`'s own defaults, because with noise cancelled a real
/// difference on a few percent of requests is a bug: a score under 99
/// halves the canary's weight, under 97 rolls it back (a difference on 5 %
/// of requests scores 95). Excess errors or latency hold or revert it;
/// under 100 pairs nothing is decided.
pub type Standard = Guarded<ThresholdPolicy, ProgressivePolicy>;

impl Standard {
    /// The standard policy with its defaults.
    ///
    /// ```
    /// use tower_shadow::policy::Standard;
    ///
    /// let policy = Standard::standard();
    /// # let _ = policy;
    /// ```
    pub fn standard() -> Self {
        let guard = ThresholdPolicy::new()
            .rollback_threshold(99.0)
            .critical_threshold(97.0);
        guarded(guard, ProgressivePolicy::new(1.0))
    }
}

impl Default for Standard {
    fn default() -> Self {
        Self::standard()
    }
}

impl<G: RollbackPolicy, D: RollbackPolicy> RollbackPolicy for Guarded<G, D> {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        let guard = self.guard.decide(snapshot, canary_weight);
        let driver = self.driver.decide(snapshot, canary_weight);
        let objects =
            guard.severity(canary_weight) >= 3 || matches!(guard, Decision::Inconclusive { .. });
        if objects {
            guard
        } else {
            driver
        }
    }

    fn evidence(&self) -> Evidence {
        [self.guard.evidence(), self.driver.evidence()]
            .into_iter()
            .collect()
    }

    fn reset(&mut self) {
        self.guard.reset();
        self.driver.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(pairs: u64, score: f64) -> HealthSnapshot {
        HealthSnapshot {
            pairs,
            score,
            ..HealthSnapshot::default()
        }
    }

    #[test]
    fn the_guard_vetoes_and_the_driver_moves() {
        let mut policy = Standard::standard();
        assert!(matches!(
            policy.decide(&snapshot(10, 100.0), 0.0),
            Decision::Inconclusive { .. }
        ));
        match policy.decide(&snapshot(500, 100.0), 0.0) {
            Decision::Shift { canary_weight, .. } => assert!((canary_weight - 0.05).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            policy.decide(&snapshot(500, 100.0), 0.96),
            Decision::Promote
        );
        match policy.decide(&snapshot(500, 98.0), 0.4) {
            Decision::Shift { canary_weight, .. } => assert!((canary_weight - 0.2).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            // A difference on 5 % of requests.
            policy.decide(&snapshot(500, 95.0), 0.4),
            Decision::Rollback { .. }
        ));
        assert!(!policy.evidence().checks.is_empty());
    }
}
