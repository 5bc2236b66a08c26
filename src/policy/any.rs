use super::{Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use std::fmt;

/// Asks both policies and acts on the more severe decision
/// ([`Decision::severity`]): either one can shift traffic off the canary
/// or roll it back. On a tie, the first policy's decision.
///
/// Made by [`any`]; [`any_of`] takes any number of policies. Both policies
/// decide on every call (so the evidence of each is current); the
/// evidence is the first's checks, then the second's. `reset` resets both.
///
/// Severity ranks rollback, shift down, hold or inconclusive, shift up,
/// promote. So a policy that *holds* when all is well, such as
/// [`ThresholdPolicy`](super::ThresholdPolicy), outranks a shift up: `any`
/// suits policies that guard (thresholds, KPIs), while
/// [`ProgressivePolicy`](super::ProgressivePolicy) carries its own hold and
/// revert thresholds.
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{any, Decision, MultiKpiPolicy, RollbackPolicy, ThresholdPolicy};
///
/// let mut policy = any(ThresholdPolicy::new(), MultiKpiPolicy::new().max_warnings(0));
///
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 1000;
/// snapshot.score = 99.0;
/// assert_eq!(policy.decide(&snapshot, 0.2), Decision::Hold);
///
/// // The score is fine, but 3 % excess errors is one KPI warning too many.
/// snapshot.candidate_errors = 30;
/// assert!(matches!(policy.decide(&snapshot, 0.2), Decision::Rollback { .. }));
/// assert_eq!(policy.evidence().crossed().count(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Any<A, B> {
    first: A,
    second: B,
}

/// Both policies; the more severe decision. See [`Any`].
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{any, Decision, RollbackPolicy};
///
/// let hold = |_: &HealthSnapshot, _: f64| Decision::Hold;
/// let roll_back = |_: &HealthSnapshot, _: f64| Decision::Rollback { reason: "no".into() };
/// let mut policy = any(hold, roll_back);
/// assert!(matches!(policy.decide(&HealthSnapshot::default(), 0.5), Decision::Rollback { .. }));
/// ```
pub fn any<A, B>(first: A, second: B) -> Any<A, B>
where
    A: RollbackPolicy,
    B: RollbackPolicy,
{
    Any::new(first, second)
}

impl<A, B> Any<A, B> {
    /// Both policies; the more severe decision. The same as [`any`].
    ///
    /// ```
    /// use tower_shadow::policy::{Any, MultiKpiPolicy, ThresholdPolicy};
    ///
    /// let policy = Any::new(ThresholdPolicy::new(), MultiKpiPolicy::new());
    /// # let _ = policy;
    /// ```
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The two policies.
    ///
    /// ```
    /// use tower_shadow::policy::{any, MultiKpiPolicy, ThresholdPolicy};
    ///
    /// let (threshold, _kpis) = any(ThresholdPolicy::new(), MultiKpiPolicy::new()).into_inner();
    /// assert_eq!(threshold.config().critical_threshold, 80.0);
    /// ```
    pub fn into_inner(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A: RollbackPolicy, B: RollbackPolicy> RollbackPolicy for Any<A, B> {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        let first = self.first.decide(snapshot, canary_weight);
        let second = self.second.decide(snapshot, canary_weight);
        most_severe([first, second], canary_weight)
    }

    fn evidence(&self) -> Evidence {
        [self.first.evidence(), self.second.evidence()]
            .into_iter()
            .collect()
    }

    fn reset(&mut self) {
        self.first.reset();
        self.second.reset();
    }
}

/// Any number of policies; the most severe decision, the first on a tie,
/// `Hold` with none. See [`Any`].
///
/// Made by [`any_of`]. With the default type parameter it holds boxed
/// policies of different types.
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{any_of, Decision, MultiKpiPolicy, RollbackPolicy, ThresholdPolicy};
///
/// let mut policy = any_of([
///     Box::new(ThresholdPolicy::new()) as Box<dyn RollbackPolicy>,
///     Box::new(MultiKpiPolicy::new()),
///     Box::new(|s: &HealthSnapshot, _: f64| {
///         if s.candidate_panics > 0 {
///             Decision::Rollback { reason: "the candidate panicked".into() }
///         } else {
///             Decision::Hold
///         }
///     }),
/// ]);
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 1000;
/// snapshot.score = 100.0;
/// snapshot.candidate_panics = 1;
/// assert_eq!(
///     policy.decide(&snapshot, 0.5),
///     Decision::Rollback { reason: "the candidate panicked".into() }
/// );
/// ```
pub struct AnyOf<P = Box<dyn RollbackPolicy>> {
    policies: Vec<P>,
}

impl<P> fmt::Debug for AnyOf<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyOf")
            .field("policies", &self.policies.len())
            .finish()
    }
}

impl<P: Clone> Clone for AnyOf<P> {
    fn clone(&self) -> Self {
        Self {
            policies: self.policies.clone(),
        }
    }
}

/// Any number of policies; the most severe decision. See [`AnyOf`].
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{any_of, Decision, RollbackPolicy, ThresholdPolicy};
///
/// // Three thresholds of the same type need no boxing.
/// let mut policy = any_of([80.0, 90.0, 95.0].map(|t| ThresholdPolicy::new().critical_threshold(t).min_pairs(0)));
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.score = 92.0;
/// assert!(matches!(policy.decide(&snapshot, 0.5), Decision::Rollback { reason } if reason.contains("95")));
/// ```
pub fn any_of<P: RollbackPolicy>(policies: impl IntoIterator<Item = P>) -> AnyOf<P> {
    AnyOf {
        policies: policies.into_iter().collect(),
    }
}

impl<P> AnyOf<P> {
    /// The policies.
    ///
    /// ```
    /// use tower_shadow::policy::{any_of, ThresholdPolicy};
    ///
    /// assert_eq!(any_of([ThresholdPolicy::new()]).into_inner().len(), 1);
    /// ```
    pub fn into_inner(self) -> Vec<P> {
        self.policies
    }
}

impl<P: RollbackPolicy> RollbackPolicy for AnyOf<P> {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        let decisions: Vec<_> = self
            .policies
            .iter_mut()
            .map(|p| p.decide(snapshot, canary_weight))
            .collect();
        most_severe(decisions, canary_weight)
    }

    fn evidence(&self) -> Evidence {
        self.policies.iter().map(|p| p.evidence()).collect()
    }

    fn reset(&mut self) {
        self.policies.iter_mut().for_each(RollbackPolicy::reset);
    }
}

/// The most severe decision, the earliest on a tie, `Hold` with none.
fn most_severe(decisions: impl IntoIterator<Item = Decision>, canary_weight: f64) -> Decision {
    let mut best: Option<Decision> = None;
    for decision in decisions {
        match &best {
            Some(b) if decision.severity(canary_weight) <= b.severity(canary_weight) => {}
            _ => best = Some(decision),
        }
    }
    best.unwrap_or(Decision::Hold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Check;

    /// A policy that always decides `decision`, with one check named `name`.
    #[derive(Clone)]
    struct Fixed {
        name: &'static str,
        decision: Decision,
        resets: usize,
    }

    fn fixed(name: &'static str, decision: Decision) -> Fixed {
        Fixed {
            name,
            decision,
            resets: 0,
        }
    }

    impl RollbackPolicy for Fixed {
        fn decide(&mut self, _: &HealthSnapshot, _: f64) -> Decision {
            self.decision.clone()
        }
        fn evidence(&self) -> Evidence {
            Evidence {
                checks: vec![Check::at_most(self.name, 0.0, 1.0)],
            }
        }
        fn reset(&mut self) {
            self.resets += 1;
        }
    }

    fn shift(w: f64, reason: &str) -> Decision {
        Decision::Shift {
            canary_weight: w,
            reason: reason.into(),
        }
    }

    fn rollback(reason: &str) -> Decision {
        Decision::Rollback {
            reason: reason.into(),
        }
    }

    fn inconclusive(reason: &str) -> Decision {
        Decision::Inconclusive {
            reason: reason.into(),
        }
    }

    #[test]
    fn takes_the_more_severe_decision() {
        let s = HealthSnapshot::default();
        let cases = [
            (Decision::Promote, shift(0.6, "up"), shift(0.6, "up")),
            (shift(0.6, "up"), Decision::Hold, Decision::Hold),
            (Decision::Hold, shift(0.2, "down"), shift(0.2, "down")),
            (shift(0.2, "down"), rollback("bad"), rollback("bad")),
            (rollback("bad"), Decision::Promote, rollback("bad")),
            (inconclusive("few"), shift(0.6, "up"), inconclusive("few")),
        ];
        for (a, b, expected) in cases {
            let mut p = any(fixed("a", a.clone()), fixed("b", b.clone()));
            assert_eq!(p.decide(&s, 0.5), expected, "{a:?} vs {b:?}");
            let mut p = any(fixed("b", b.clone()), fixed("a", a.clone()));
            assert_eq!(p.decide(&s, 0.5), expected, "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn ties_go_to_the_first() {
        let s = HealthSnapshot::default();
        let mut p = any(
            fixed("a", rollback("first")),
            fixed("b", rollback("second")),
        );
        assert_eq!(p.decide(&s, 0.5), rollback("first"));
        let mut p = any(fixed("a", Decision::Hold), fixed("b", inconclusive("few")));
        assert_eq!(p.decide(&s, 0.5), Decision::Hold);
        let mut p = any(fixed("a", inconclusive("few")), fixed("b", Decision::Hold));
        assert_eq!(p.decide(&s, 0.5), inconclusive("few"));
        let mut p = any_of([
            fixed("a", shift(0.3, "first")),
            fixed("b", shift(0.1, "second")),
            fixed("c", Decision::Hold),
        ]);
        assert_eq!(p.decide(&s, 0.5), shift(0.3, "first"));
    }

    #[test]
    fn concatenates_evidence_and_resets_all() {
        let mut p = any(fixed("a", Decision::Hold), fixed("b", Decision::Hold));
        let names: Vec<_> = p.evidence().checks.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b"]);
        p.reset();
        let (a, b) = p.into_inner();
        assert_eq!((a.resets, b.resets), (1, 1));

        let mut p = any_of([fixed("a", Decision::Hold), fixed("b", Decision::Hold)]);
        let names: Vec<_> = p.evidence().checks.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b"]);
        p.reset();
        assert!(p.into_inner().iter().all(|f| f.resets == 1));
    }

    #[test]
    fn none_holds() {
        let mut p = any_of(Vec::<Box<dyn RollbackPolicy>>::new());
        assert_eq!(p.decide(&HealthSnapshot::default(), 0.5), Decision::Hold);
        assert!(p.evidence().checks.is_empty());
        assert_eq!(format!("{p:?}"), "AnyOf { policies: 0 }");
    }
}
