use super::{Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use std::fmt;

/// Asks both policies and acts on the less severe decision
/// ([`Decision::severity`]): traffic moves off the canary only as far as
/// both agree, e.g. a rollback needs both to roll back. On a tie, the
/// first policy's decision.
///
/// Made by [`all`]; [`all_of`] takes any number of policies. Both policies
/// decide on every call (so the evidence of each is current); the
/// evidence is the first's checks, then the second's. `reset` resets both.
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{all, Decision, MultiKpiPolicy, RollbackPolicy, ThresholdPolicy};
///
/// // Roll back only when the score is critical *and* KPIs warn.
/// let mut policy = all(ThresholdPolicy::new(), MultiKpiPolicy::new().max_warnings(0));
///
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 1000;
/// snapshot.score = 70.0;
/// assert_eq!(policy.decide(&snapshot, 0.2), Decision::Hold);
///
/// snapshot.candidate_errors = 30;
/// assert!(matches!(policy.decide(&snapshot, 0.2), Decision::Rollback { .. }));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct All<A, B> {
    first: A,
    second: B,
}

/// Both policies; the less severe decision. See [`All`].
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{all, Decision, RollbackPolicy};
///
/// let hold = |_: &HealthSnapshot, _: f64| Decision::Hold;
/// let roll_back = |_: &HealthSnapshot, _: f64| Decision::Rollback { reason: "no".into() };
/// let mut policy = all(hold, roll_back);
/// assert_eq!(policy.decide(&HealthSnapshot::default(), 0.5), Decision::Hold);
/// ```
pub fn all<A, B>(first: A, second: B) -> All<A, B>
where
    A: RollbackPolicy,
    B: RollbackPolicy,
{
    All::new(first, second)
}

impl<A, B> All<A, B> {
    /// Both policies; the less severe decision. The same as [`all`].
    ///
    /// ```
    /// use tower_shadow::policy::{All, MultiKpiPolicy, ThresholdPolicy};
    ///
    /// let policy = All::new(ThresholdPolicy::new(), MultiKpiPolicy::new());
    /// # let _ = policy;
    /// ```
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }

    /// The two policies.
    ///
    /// ```
    /// use tower_shadow::policy::{all, MultiKpiPolicy, ThresholdPolicy};
    ///
    /// let (_threshold, kpis) = all(ThresholdPolicy::new(), MultiKpiPolicy::new()).into_inner();
    /// assert_eq!(kpis.config().max_warnings, 1);
    /// ```
    pub fn into_inner(self) -> (A, B) {
        (self.first, self.second)
    }
}

impl<A: RollbackPolicy, B: RollbackPolicy> RollbackPolicy for All<A, B> {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        let first = self.first.decide(snapshot, canary_weight);
        let second = self.second.decide(snapshot, canary_weight);
        least_severe([first, second], canary_weight)
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

/// Any number of policies; the least severe decision, the first on a tie,
/// `Hold` with none. See [`All`].
///
/// Made by [`all_of`]. With the default type parameter it holds boxed
/// policies of different types.
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{all_of, Decision, MultiKpiPolicy, RollbackPolicy, ThresholdPolicy};
///
/// let mut policy = all_of([
///     Box::new(ThresholdPolicy::new()) as Box<dyn RollbackPolicy>,
///     Box::new(MultiKpiPolicy::new().max_warnings(0)),
/// ]);
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 1000;
/// snapshot.score = 50.0;
/// snapshot.different = 500;
/// assert!(matches!(policy.decide(&snapshot, 0.5), Decision::Rollback { .. }));
/// assert_eq!(policy.evidence().crossed().count(), 3);
/// ```
pub struct AllOf<P = Box<dyn RollbackPolicy>> {
    policies: Vec<P>,
}

impl<P> fmt::Debug for AllOf<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllOf")
            .field("policies", &self.policies.len())
            .finish()
    }
}

impl<P: Clone> Clone for AllOf<P> {
    fn clone(&self) -> Self {
        Self {
            policies: self.policies.clone(),
        }
    }
}

/// Any number of policies; the least severe decision. See [`AllOf`].
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{all_of, Decision, RollbackPolicy, ThresholdPolicy};
///
/// let mut policy = all_of([80.0, 90.0].map(|t| ThresholdPolicy::new().critical_threshold(t).min_pairs(0)));
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.score = 85.0;
/// // Only one of the two is critical: the other's shift down wins.
/// assert!(matches!(policy.decide(&snapshot, 0.5), Decision::Shift { .. }));
/// ```
pub fn all_of<P: RollbackPolicy>(policies: impl IntoIterator<Item = P>) -> AllOf<P> {
    AllOf {
        policies: policies.into_iter().collect(),
    }
}

impl<P> AllOf<P> {
    /// The policies.
    ///
    /// ```
    /// use tower_shadow::policy::{all_of, ThresholdPolicy};
    ///
    /// assert_eq!(all_of([ThresholdPolicy::new()]).into_inner().len(), 1);
    /// ```
    pub fn into_inner(self) -> Vec<P> {
        self.policies
    }
}

impl<P: RollbackPolicy> RollbackPolicy for AllOf<P> {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        let decisions: Vec<_> = self
            .policies
            .iter_mut()
            .map(|p| p.decide(snapshot, canary_weight))
            .collect();
        least_severe(decisions, canary_weight)
    }

    fn evidence(&self) -> Evidence {
        self.policies.iter().map(|p| p.evidence()).collect()
    }

    fn reset(&mut self) {
        self.policies.iter_mut().for_each(RollbackPolicy::reset);
    }
}

/// The least severe decision, the earliest on a tie, `Hold` with none.
fn least_severe(decisions: impl IntoIterator<Item = Decision>, canary_weight: f64) -> Decision {
    let mut best: Option<Decision> = None;
    for decision in decisions {
        match &best {
            Some(b) if decision.severity(canary_weight) >= b.severity(canary_weight) => {}
            _ => best = Some(decision),
        }
    }
    best.unwrap_or(Decision::Hold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Check;

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
    fn takes_the_less_severe_decision() {
        let s = HealthSnapshot::default();
        let cases = [
            (Decision::Promote, shift(0.6, "up"), Decision::Promote),
            (shift(0.6, "up"), Decision::Hold, shift(0.6, "up")),
            (Decision::Hold, shift(0.2, "down"), Decision::Hold),
            (shift(0.2, "down"), rollback("bad"), shift(0.2, "down")),
            (rollback("bad"), Decision::Promote, Decision::Promote),
            (inconclusive("few"), rollback("bad"), inconclusive("few")),
        ];
        for (a, b, expected) in cases {
            let mut p = all(fixed("a", a.clone()), fixed("b", b.clone()));
            assert_eq!(p.decide(&s, 0.5), expected, "{a:?} vs {b:?}");
            let mut p = all(fixed("b", b.clone()), fixed("a", a.clone()));
            assert_eq!(p.decide(&s, 0.5), expected, "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn ties_go_to_the_first() {
        let s = HealthSnapshot::default();
        let mut p = all(
            fixed("a", rollback("first")),
            fixed("b", rollback("second")),
        );
        assert_eq!(p.decide(&s, 0.5), rollback("first"));
        let mut p = all(fixed("a", inconclusive("few")), fixed("b", Decision::Hold));
        assert_eq!(p.decide(&s, 0.5), inconclusive("few"));
        let mut p = all_of([
            fixed("a", rollback("x")),
            fixed("b", shift(0.7, "first")),
            fixed("c", shift(0.9, "second")),
        ]);
        assert_eq!(p.decide(&s, 0.5), shift(0.7, "first"));
    }

    #[test]
    fn concatenates_evidence_and_resets_all() {
        let mut p = all(fixed("a", Decision::Hold), fixed("b", Decision::Hold));
        let names: Vec<_> = p.evidence().checks.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b"]);
        p.reset();
        let (a, b) = p.into_inner();
        assert_eq!((a.resets, b.resets), (1, 1));

        let mut p = all_of([fixed("a", Decision::Hold), fixed("b", Decision::Hold)]);
        let names: Vec<_> = p.evidence().checks.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b"]);
        p.reset();
        assert!(p.into_inner().iter().all(|f| f.resets == 1));
    }

    #[test]
    fn none_holds() {
        let mut p = all_of(Vec::<Box<dyn RollbackPolicy>>::new());
        assert_eq!(p.decide(&HealthSnapshot::default(), 0.5), Decision::Hold);
        assert_eq!(format!("{p:?}"), "AllOf { policies: 0 }");
    }
}
