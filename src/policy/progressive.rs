use super::error::{above, in_range, ConfigError};
use super::figures::{
    describe, excess_error_rate, guard, not_counted, num, p99_ratio, weight, DEFAULT_MIN_PAIRS,
};
use super::{Check, Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use serde::{Deserialize, Serialize};

/// The most a [`ProgressivePolicy`] raises the canary weight in one
/// decision: 0.10, ten points of traffic per interval.
///
/// ```
/// use tower_shadow::policy::MAX_STEP;
///
/// assert_eq!(MAX_STEP, 0.1);
/// ```
pub const MAX_STEP: f64 = 0.1;

/// Raises the canary weight toward a target by a bounded step each
/// interval (each call to [`decide`](RollbackPolicy::decide)), while the
/// candidate's error rate and latency stay under their thresholds.
///
/// Two figures are watched, each with a *hold* and a higher *revert*
/// threshold:
///
/// - `excess_error_rate`: candidate errors beyond the baseline's, per
///   pair (failures both versions share, such as a downstream outage, are
///   not the candidate's fault); hold over 0.01, revert over 0.05 by
///   default;
/// - `p99_ratio`: candidate p99 latency over baseline p99, the baseline
///   counted as at least [`P99_FLOOR_MS`](super::P99_FLOOR_MS); hold over 1.25, revert over 2.0
///   by default. Not checked (the evidence says so) while either side has
///   no latencies.
///
/// | condition                                          | decision                     |
/// |----------------------------------------------------|------------------------------|
/// | fewer than `min_pairs` pairs (default 100)         | `Inconclusive`               |
/// | a figure over its revert threshold, at any weight  | `Rollback`                   |
/// | a figure over its hold threshold                   | `Hold`                       |
/// | weight ≥ target                                    | `Promote` if the target is 1, else `Hold` |
/// | the step reaches a weight of 1                     | `Promote`                    |
/// | otherwise                                          | `Shift` up by the [`Step`]   |
///
/// Each step is at most [`MAX_STEP`] and stops at the target, so the
/// weight never jumps by more than ten points: `Promote` only comes once
/// the weight is within a step of 1. The policy never shifts the weight
/// down (that is [`ThresholdPolicy`](super::ThresholdPolicy)'s job); a
/// weight above the target is held. A weight outside `0..=1` is clamped;
/// a NaN weight gives `Inconclusive`.
///
/// The evidence lists `pairs`, `excess_error_rate` against the hold and the
/// revert threshold, `p99_ratio` likewise, and, when shifting, `step`
/// against [`MAX_STEP`].
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{Decision, ProgressivePolicy, RollbackPolicy, Step};
///
/// let mut policy = ProgressivePolicy::new(1.0).step(Step::Linear(0.1));
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 500;
///
/// // Healthy: one step up.
/// let decision = policy.decide(&snapshot, 0.2);
/// assert!(matches!(decision, Decision::Shift { canary_weight, .. } if (canary_weight - 0.3).abs() < 1e-9));
///
/// // 2 % more errors than the baseline: hold.
/// snapshot.candidate_errors = 10;
/// assert_eq!(policy.decide(&snapshot, 0.3), Decision::Hold);
///
/// // 6 %: revert.
/// snapshot.candidate_errors = 30;
/// assert_eq!(
///     policy.decide(&snapshot, 0.3),
///     Decision::Rollback { reason: "excess_error_rate 0.06 > revert 0.05".into() }
/// );
///
/// // Within a step of full traffic: promote.
/// snapshot.candidate_errors = 0;
/// assert_eq!(policy.decide(&snapshot, 0.95), Decision::Promote);
/// ```
///
/// Loaded from JSON:
///
/// ```
/// use tower_shadow::policy::{ProgressivePolicy, Step};
///
/// let policy: ProgressivePolicy = serde_json::from_str(r#"{
///     "target": 0.5,
///     "step": {"exponential": {"first": 0.01, "factor": 2}},
///     "revert_p99_ratio": 1.5
/// }"#)?;
/// assert_eq!(policy.config().step, Step::Exponential { first: 0.01, factor: 2.0 });
///
/// let bad = serde_json::from_str::<ProgressivePolicy>(r#"{"step": {"linear": 0.25}}"#);
/// assert!(bad.unwrap_err().to_string().contains("step.linear: must be above 0 and at most 0.1, not 0.25"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "ProgressiveConfig", into = "ProgressiveConfig")]
pub struct ProgressivePolicy {
    config: ProgressiveConfig,
    last: Evidence,
}

/// How far a [`ProgressivePolicy`] raises the canary weight each interval.
///
/// Whatever the variant, a step is at most [`MAX_STEP`] and stops at the
/// target. In JSON: `{"linear": 0.05}`,
/// `{"exponential": {"first": 0.01, "factor": 2}}`,
/// `{"by_score": {"max": 0.1}}`.
///
/// ```
/// use tower_shadow::policy::Step;
///
/// let step: Step = serde_json::from_str(r#"{"by_score": {"max": 0.08}}"#)?;
/// assert_eq!(step, Step::ByScore { max: 0.08 });
/// assert_eq!(Step::default(), Step::Linear(0.05));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Step {
    /// The same step each time, in `(0, 0.1]`: `0 → x → 2x → …`.
    Linear(f64),
    /// Multiply the weight by `factor` (above 1) each time, starting at
    /// `first` (in `(0, 0.1]`): `0 → first → first × factor → …`, each
    /// step capped at [`MAX_STEP`]. Computed from the current weight, so
    /// nothing to remember between intervals.
    Exponential {
        /// The first weight, from any weight under it.
        first: f64,
        /// The growth factor.
        factor: f64,
    },
    /// A step in proportion to the snapshot's score: `max × score / 100`,
    /// `max` in `(0, 0.1]`. A perfect candidate moves by `max`, one at 50
    /// by half of it; a NaN score gives `Inconclusive`.
    ByScore {
        /// The step at a score of 100.
        max: f64,
    },
}

impl Default for Step {
    fn default() -> Self {
        Self::Linear(0.05)
    }
}

impl Step {
    fn validate(&self) -> Result<(), ConfigError> {
        let step = |field: &str, x: f64| {
            if x > 0.0 && x <= MAX_STEP {
                Ok(())
            } else {
                Err(ConfigError::new(
                    field,
                    format_args!("must be above 0 and at most {MAX_STEP}, not {x}"),
                ))
            }
        };
        match *self {
            Self::Linear(x) => step("step.linear", x),
            Self::Exponential { first, factor } => {
                step("step.exponential.first", first)?;
                above("step.exponential.factor", factor, 1.0)
            }
            Self::ByScore { max } => step("step.by_score.max", max),
        }
    }

    /// The raw step from `weight`, before the cap and the target; `None`
    /// when the score it needs is NaN.
    fn size(&self, weight: f64, score: f64) -> Option<f64> {
        Some(match *self {
            Self::Linear(x) => x,
            Self::Exponential { first, .. } if weight < first => first - weight,
            Self::Exponential { factor, .. } => weight * (factor - 1.0),
            Self::ByScore { max } if !score.is_nan() => max * score.clamp(0.0, 100.0) / 100.0,
            Self::ByScore { .. } => return None,
        })
    }
}

/// The settings of a [`ProgressivePolicy`], and its serde form.
///
/// Every field may be left out of the JSON; the defaults are those of
/// [`ProgressivePolicy::new`]`(1.0)`.
///
/// ```
/// use tower_shadow::policy::{ProgressiveConfig, Step};
///
/// let mut config = ProgressiveConfig::default();
/// config.step = Step::Linear(0.02);
/// config.revert_error_rate = 0.02;
/// let policy = config.build()?;
/// assert_eq!(policy.config().hold_error_rate, 0.01);
/// # Ok::<(), tower_shadow::policy::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProgressiveConfig {
    /// The weight to reach, in `(0, 1]`; default 1 (then promote).
    pub target: f64,
    /// How far each interval moves; default `Linear(0.05)`.
    pub step: Step,
    /// Hold over this excess error rate; in `0..=1`, default 0.01.
    pub hold_error_rate: f64,
    /// Roll back over this excess error rate; in `0..=1`, at least
    /// `hold_error_rate`, default 0.05.
    pub revert_error_rate: f64,
    /// Hold over this p99 ratio; above 0, default 1.25.
    pub hold_p99_ratio: f64,
    /// Roll back over this p99 ratio; at least `hold_p99_ratio`, default 2.
    pub revert_p99_ratio: f64,
    /// No verdict on fewer pairs than this; default [`DEFAULT_MIN_PAIRS`].
    pub min_pairs: u64,
}

impl Default for ProgressiveConfig {
    fn default() -> Self {
        Self {
            target: 1.0,
            step: Step::default(),
            hold_error_rate: 0.01,
            revert_error_rate: 0.05,
            hold_p99_ratio: 1.25,
            revert_p99_ratio: 2.0,
            min_pairs: DEFAULT_MIN_PAIRS,
        }
    }
}

impl ProgressiveConfig {
    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::policy::ProgressiveConfig;
    ///
    /// let mut config = ProgressiveConfig::default();
    /// config.revert_p99_ratio = 1.1;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid policy config: revert_p99_ratio: must be at least hold_p99_ratio (1.25), not 1.1"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.target > 0.0 && self.target <= 1.0) {
            return Err(ConfigError::new(
                "target",
                format_args!("must be above 0 and at most 1, not {}", self.target),
            ));
        }
        self.step.validate()?;
        in_range("hold_error_rate", self.hold_error_rate, 0.0, 1.0)?;
        in_range("revert_error_rate", self.revert_error_rate, 0.0, 1.0)?;
        at_least(
            "revert_error_rate",
            self.revert_error_rate,
            "hold_error_rate",
            self.hold_error_rate,
        )?;
        above("hold_p99_ratio", self.hold_p99_ratio, 0.0)?;
        above("revert_p99_ratio", self.revert_p99_ratio, 0.0)?;
        at_least(
            "revert_p99_ratio",
            self.revert_p99_ratio,
            "hold_p99_ratio",
            self.hold_p99_ratio,
        )
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::policy::ProgressiveConfig;
    ///
    /// let mut config = ProgressiveConfig::default();
    /// config.target = 0.0;
    /// assert!(config.build().unwrap_err().to_string().contains("target: must be above 0"));
    /// ```
    pub fn build(self) -> Result<ProgressivePolicy, ConfigError> {
        ProgressivePolicy::try_from(self)
    }
}

fn at_least(field: &str, value: f64, other: &str, min: f64) -> Result<(), ConfigError> {
    if value >= min {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format_args!("must be at least {other} ({min}), not {value}"),
        ))
    }
}

impl TryFrom<ProgressiveConfig> for ProgressivePolicy {
    type Error = ConfigError;

    fn try_from(config: ProgressiveConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            config,
            last: Evidence::default(),
        })
    }
}

impl From<ProgressivePolicy> for ProgressiveConfig {
    fn from(policy: ProgressivePolicy) -> Self {
        policy.config
    }
}

impl Default for ProgressivePolicy {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl ProgressivePolicy {
    /// Progress toward `target` (in `(0, 1]`) with the defaults: steps of
    /// 0.05, hold over 1 % excess errors or a p99 ratio of 1.25, roll back
    /// over 5 % or 2.0, no verdict under 100 pairs.
    ///
    /// Builder values are checked by [`validate`](Self::validate); while
    /// one is out of range every decision is `Inconclusive`, naming it.
    ///
    /// ```
    /// use tower_shadow::policy::{ProgressivePolicy, Step};
    ///
    /// let policy = ProgressivePolicy::new(0.5);
    /// assert_eq!(policy.config().target, 0.5);
    /// assert_eq!(policy.config().step, Step::Linear(0.05));
    /// ```
    pub fn new(target: f64) -> Self {
        Self {
            config: ProgressiveConfig {
                target,
                ..ProgressiveConfig::default()
            },
            last: Evidence::default(),
        }
    }

    /// How far each interval moves.
    ///
    /// ```
    /// use tower_shadow::policy::{ProgressivePolicy, Step};
    ///
    /// let policy = ProgressivePolicy::new(1.0).step(Step::Exponential { first: 0.01, factor: 2.0 });
    /// assert!(policy.validate().is_ok());
    /// ```
    pub fn step(mut self, step: Step) -> Self {
        self.config.step = step;
        self
    }

    /// Hold while the excess error rate is over this (`0..=1`).
    ///
    /// ```
    /// use tower_shadow::policy::ProgressivePolicy;
    ///
    /// let policy = ProgressivePolicy::new(1.0).hold_error_rate(0.005);
    /// assert_eq!(policy.config().hold_error_rate, 0.005);
    /// ```
    pub fn hold_error_rate(mut self, rate: f64) -> Self {
        self.config.hold_error_rate = rate;
        self
    }

    /// Roll back when the excess error rate is over this (`0..=1`, at
    /// least the hold rate).
    ///
    /// ```
    /// use tower_shadow::policy::ProgressivePolicy;
    ///
    /// let policy = ProgressivePolicy::new(1.0).revert_error_rate(0.02);
    /// assert_eq!(policy.config().revert_error_rate, 0.02);
    /// ```
    pub fn revert_error_rate(mut self, rate: f64) -> Self {
        self.config.revert_error_rate = rate;
        self
    }

    /// Hold while the p99 ratio is over this (above 0).
    ///
    /// ```
    /// use tower_shadow::policy::ProgressivePolicy;
    ///
    /// let policy = ProgressivePolicy::new(1.0).hold_p99_ratio(1.1);
    /// assert_eq!(policy.config().hold_p99_ratio, 1.1);
    /// ```
    pub fn hold_p99_ratio(mut self, ratio: f64) -> Self {
        self.config.hold_p99_ratio = ratio;
        self
    }

    /// Roll back when the p99 ratio is over this (at least the hold ratio).
    ///
    /// ```
    /// use tower_shadow::policy::ProgressivePolicy;
    ///
    /// let policy = ProgressivePolicy::new(1.0).revert_p99_ratio(1.5);
    /// assert_eq!(policy.config().revert_p99_ratio, 1.5);
    /// ```
    pub fn revert_p99_ratio(mut self, ratio: f64) -> Self {
        self.config.revert_p99_ratio = ratio;
        self
    }

    /// No verdict on fewer pairs than this (default
    /// [`DEFAULT_MIN_PAIRS`]); 0 turns the guard off.
    ///
    /// ```
    /// use tower_shadow::health::HealthSnapshot;
    /// use tower_shadow::policy::{Decision, ProgressivePolicy, RollbackPolicy};
    ///
    /// let mut policy = ProgressivePolicy::new(1.0).min_pairs(500);
    /// let mut snapshot = HealthSnapshot::default();
    /// snapshot.pairs = 120;
    /// assert_eq!(
    ///     policy.decide(&snapshot, 0.1),
    ///     Decision::Inconclusive { reason: "120 pairs < 500 needed".into() }
    /// );
    /// ```
    pub fn min_pairs(mut self, pairs: u64) -> Self {
        self.config.min_pairs = pairs;
        self
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::ProgressivePolicy;
    ///
    /// assert_eq!(ProgressivePolicy::default().config().revert_p99_ratio, 2.0);
    /// ```
    pub fn config(&self) -> &ProgressiveConfig {
        &self.config
    }

    /// Checks the settings ([`ProgressiveConfig::validate`]).
    ///
    /// ```
    /// use tower_shadow::policy::{ProgressivePolicy, Step};
    ///
    /// let error = ProgressivePolicy::new(1.0).step(Step::ByScore { max: 0.5 }).validate().unwrap_err();
    /// assert!(error.to_string().contains("step.by_score.max"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }

    fn judge(
        &self,
        snapshot: &HealthSnapshot,
        canary_weight: f64,
        evidence: &mut Evidence,
    ) -> Decision {
        let config = &self.config;
        if let Err(error) = config.validate() {
            return Decision::Inconclusive {
                reason: error.to_string(),
            };
        }
        if let Some(inconclusive) = guard(snapshot, config.min_pairs, evidence) {
            return inconclusive;
        }

        let errors = excess_error_rate(snapshot);
        let mut hold = vec![Check::at_most(
            "excess_error_rate",
            errors,
            config.hold_error_rate,
        )];
        let mut revert = vec![Check::at_most(
            "excess_error_rate",
            errors,
            config.revert_error_rate,
        )];
        evidence.push(hold[0].clone());
        evidence.push(revert[0].clone());
        match p99_ratio(snapshot) {
            Ok(ratio) => {
                hold.push(Check::at_most("p99_ratio", ratio, config.hold_p99_ratio));
                revert.push(Check::at_most("p99_ratio", ratio, config.revert_p99_ratio));
                evidence.push(hold[1].clone());
                evidence.push(revert[1].clone());
            }
            Err(why) => evidence.push(not_counted("p99_ratio", why, config.hold_p99_ratio)),
        }

        let crossed = |checks: &[Check], label: &str| -> Vec<String> {
            checks
                .iter()
                .filter(|c| c.crossed)
                .map(|c| describe(c, label))
                .collect()
        };
        let reverts = crossed(&revert, "revert");
        if !reverts.is_empty() {
            return Decision::Rollback {
                reason: reverts.join("; "),
            };
        }
        if !crossed(&hold, "hold").is_empty() {
            return Decision::Hold;
        }

        let current = match weight(canary_weight) {
            Ok(w) => w,
            Err(inconclusive) => return inconclusive,
        };
        let target = config.target;
        if current >= target {
            return if target >= 1.0 {
                Decision::Promote
            } else {
                Decision::Hold
            };
        }
        let Some(raw) = config.step.size(current, snapshot.score) else {
            return Decision::Inconclusive {
                reason: "the score is NaN, and the step depends on it".into(),
            };
        };
        let step = raw.clamp(0.0, MAX_STEP).min(target - current);
        // Landing exactly on the target keeps float noise out of the weight.
        let next = if step == target - current {
            target
        } else {
            (current + step).min(target)
        };
        // A step too small to change the weight (a score near 0) is a hold.
        if next <= current {
            return Decision::Hold;
        }
        evidence.push(Check::at_most("step", step, MAX_STEP));
        if next >= 1.0 {
            return Decision::Promote;
        }
        let healthy: Vec<_> = hold.iter().map(|c| describe(c, "hold")).collect();
        Decision::Shift {
            canary_weight: next,
            reason: format!(
                "{}: step {} toward target {}",
                healthy.join(", "),
                num(step),
                num(target)
            ),
        }
    }
}

impl RollbackPolicy for ProgressivePolicy {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        let mut evidence = Evidence::default();
        let decision = self.judge(snapshot, canary_weight, &mut evidence);
        self.last = evidence;
        decision
    }

    fn evidence(&self) -> Evidence {
        self.last.clone()
    }

    fn reset(&mut self) {
        self.last = Evidence::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::P99_FLOOR_MS;

    fn healthy() -> HealthSnapshot {
        let mut s = HealthSnapshot {
            pairs: 1000,
            equivalent: 1000,
            score: 100.0,
            ..Default::default()
        };
        s.baseline_latency.count = 1000;
        s.baseline_latency.p99_ms = 40.0;
        s.candidate_latency.count = 1000;
        s.candidate_latency.p99_ms = 44.0;
        s
    }

    fn shifted_to(d: &Decision) -> f64 {
        match d {
            Decision::Shift { canary_weight, .. } => *canary_weight,
            other => panic!("expected a shift, got {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn steps_up_linearly_and_explains() {
        let mut p = ProgressivePolicy::new(1.0).step(Step::Linear(0.1));
        let d = p.decide(&healthy(), 0.2);
        assert!(close(shifted_to(&d), 0.3));
        assert_eq!(
            d.reason(),
            Some(
                "excess_error_rate 0.0 ≤ hold 0.01, p99_ratio 1.1 ≤ hold 1.25: \
                 step 0.1 toward target 1.0"
            )
        );
        let names: Vec<_> = p.evidence().checks.iter().map(|c| c.name.clone()).collect();
        assert_eq!(
            names,
            [
                "pairs",
                "excess_error_rate",
                "excess_error_rate",
                "p99_ratio",
                "p99_ratio",
                "step"
            ]
        );
        assert_eq!(p.evidence().crossed().count(), 0);
        // From shadow only.
        assert!(close(shifted_to(&p.decide(&healthy(), 0.0)), 0.1));
        // The default step.
        let mut p = ProgressivePolicy::new(1.0);
        assert!(close(shifted_to(&p.decide(&healthy(), 0.5)), 0.55));
    }

    #[test]
    fn exponential_starts_at_first_and_is_capped() {
        let mut p = ProgressivePolicy::new(1.0).step(Step::Exponential {
            first: 0.01,
            factor: 2.0,
        });
        let mut w = 0.0;
        let mut seen = Vec::new();
        for _ in 0..20 {
            match p.decide(&healthy(), w) {
                Decision::Shift { canary_weight, .. } => {
                    assert!(canary_weight - w <= MAX_STEP + 1e-12);
                    w = canary_weight;
                    seen.push(w);
                }
                Decision::Promote => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(close(seen[0], 0.01));
        assert!(close(seen[1], 0.02));
        assert!(close(seen[2], 0.04));
        assert!(close(seen[4], 0.16));
        // 0.16 would double to 0.32: capped at +0.1.
        assert!(close(seen[5], 0.26));
        assert!(1.0 - w <= MAX_STEP + 1e-12);
        // Any weight under `first` goes to `first`.
        assert!(close(shifted_to(&p.decide(&healthy(), 0.004)), 0.01));
    }

    #[test]
    fn by_score_scales_the_step_with_the_score() {
        let mut p = ProgressivePolicy::new(1.0).step(Step::ByScore { max: 0.1 });
        let mut s = healthy();
        s.score = 50.0;
        assert!(close(shifted_to(&p.decide(&s, 0.2)), 0.25));
        s.score = 1e9;
        assert!(close(shifted_to(&p.decide(&s, 0.2)), 0.3));
        s.score = 0.0;
        assert_eq!(p.decide(&s, 0.2), Decision::Hold);
        // Found by the property test: a step too small to move the weight.
        s.score = 2.7e-309;
        assert_eq!(p.decide(&s, 0.2), Decision::Hold);
        s.score = f64::NAN;
        assert!(matches!(
            p.decide(&s, 0.2),
            Decision::Inconclusive { reason } if reason.contains("score is NaN")
        ));
    }

    #[test]
    fn stops_at_the_target() {
        let mut p = ProgressivePolicy::new(0.5).step(Step::Linear(0.1));
        assert_eq!(shifted_to(&p.decide(&healthy(), 0.45)), 0.5);
        assert_eq!(p.decide(&healthy(), 0.5), Decision::Hold);
        // Above the target: held, not shifted down.
        assert_eq!(p.decide(&healthy(), 0.8), Decision::Hold);
    }

    #[test]
    fn promotes_within_a_step_of_full_traffic() {
        let mut p = ProgressivePolicy::new(1.0).step(Step::Linear(0.1));
        assert_eq!(p.decide(&healthy(), 0.9), Decision::Promote);
        assert_eq!(p.decide(&healthy(), 0.95), Decision::Promote);
        assert_eq!(p.decide(&healthy(), 1.0), Decision::Promote);
        assert_eq!(p.decide(&healthy(), 3.0), Decision::Promote);
        assert!(close(shifted_to(&p.decide(&healthy(), 0.85)), 0.95));
    }

    #[test]
    fn holds_over_a_hold_threshold() {
        let mut p = ProgressivePolicy::new(1.0);
        let mut s = healthy();
        s.candidate_errors = 20; // 2 %
        assert_eq!(p.decide(&s, 0.3), Decision::Hold);
        let crossed: Vec<_> = p.evidence().crossed().cloned().collect();
        assert_eq!(crossed, [Check::at_most("excess_error_rate", 0.02, 0.01)]);
        // Errors the baseline shares are not the candidate's.
        s.baseline_errors = 20;
        assert!(matches!(p.decide(&s, 0.3), Decision::Shift { .. }));

        let mut s = healthy();
        s.candidate_latency.p99_ms = 60.0; // ratio 1.5
        assert_eq!(p.decide(&s, 0.3), Decision::Hold);
        assert_eq!(p.evidence().crossed().count(), 1);
    }

    #[test]
    fn reverts_over_a_revert_threshold_at_any_stage() {
        let mut p = ProgressivePolicy::new(1.0);
        let mut s = healthy();
        s.candidate_errors = 60;
        s.candidate_latency.p99_ms = 100.0;
        for w in [0.0, 0.3, 1.0, f64::NAN] {
            assert_eq!(
                p.decide(&s, w),
                Decision::Rollback {
                    reason: "excess_error_rate 0.06 > revert 0.05; p99_ratio 2.5 > revert 2.0"
                        .into()
                }
            );
        }
        assert_eq!(p.evidence().crossed().count(), 4);
    }

    #[test]
    fn latency_is_not_counted_without_data() {
        let mut p = ProgressivePolicy::new(1.0);
        let mut s = healthy();
        s.baseline_latency.count = 0;
        s.candidate_latency.p99_ms = 1e6;
        assert!(matches!(p.decide(&s, 0.3), Decision::Shift { .. }));
        let check = &p.evidence().checks[3];
        assert_eq!(check.name, "p99_ratio (not counted: no baseline latencies)");
        assert!(!check.crossed);
        // A fast baseline counts as P99_FLOOR_MS.
        let mut s = healthy();
        s.baseline_latency.p99_ms = 0.2;
        s.candidate_latency.p99_ms = 7.0;
        assert_eq!(p.decide(&s, 0.3), Decision::Hold);
        assert_eq!(p.evidence().checks[3].value, 7.0 / P99_FLOOR_MS);
    }

    #[test]
    fn is_inconclusive_on_too_few_pairs_a_nan_weight_or_a_bad_config() {
        let mut p = ProgressivePolicy::new(1.0);
        let mut s = healthy();
        s.pairs = 99;
        assert_eq!(
            p.decide(&s, 0.3),
            Decision::Inconclusive {
                reason: "99 pairs < 100 needed".into()
            }
        );
        assert_eq!(p.evidence().checks.len(), 1);
        assert!(matches!(
            p.decide(&healthy(), f64::NAN),
            Decision::Inconclusive { .. }
        ));
        let mut p = ProgressivePolicy::new(f64::NAN);
        assert_eq!(
            p.decide(&healthy(), 0.3),
            Decision::Inconclusive {
                reason: "invalid policy config: target: must be above 0 and at most 1, not NaN"
                    .into()
            }
        );
    }

    #[test]
    fn validates_each_field() {
        let error = |p: ProgressivePolicy| p.validate().unwrap_err().to_string();
        let p = || ProgressivePolicy::new(1.0);
        assert!(error(p().step(Step::Linear(0.0))).contains("step.linear"));
        assert!(error(p().step(Step::Exponential {
            first: 0.01,
            factor: 1.0
        }))
        .contains("step.exponential.factor: must be a finite number above 1, not 1"));
        assert!(error(p().step(Step::Exponential {
            first: 0.2,
            factor: 2.0
        }))
        .contains("step.exponential.first"));
        assert!(error(p().hold_error_rate(1.5)).contains("hold_error_rate: must be in 0..=1"));
        assert!(error(p().revert_error_rate(0.001))
            .contains("revert_error_rate: must be at least hold_error_rate (0.01), not 0.001"));
        assert!(error(p().hold_p99_ratio(0.0)).contains("hold_p99_ratio"));
        assert!(error(p().revert_p99_ratio(f64::INFINITY)).contains("revert_p99_ratio"));
        assert!(error(ProgressivePolicy::new(1.5)).contains("target"));
        assert!(p().validate().is_ok());
    }

    #[test]
    fn round_trips_through_json() {
        let p = ProgressivePolicy::new(0.5).step(Step::ByScore { max: 0.1 });
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"target":0.5,"step":{"by_score":{"max":0.1}},"hold_error_rate":0.01,"revert_error_rate":0.05,"hold_p99_ratio":1.25,"revert_p99_ratio":2.0,"min_pairs":100}"#
        );
        let back: ProgressivePolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), p.config());
        assert!(serde_json::from_str::<ProgressivePolicy>(
            r#"{"step": {"exponential": {"first": 0.01, "factor": 2, "cap": 1}}}"#
        )
        .is_err());
        assert!(
            serde_json::from_str::<ProgressivePolicy>(r#"{"target": 0}"#)
                .unwrap_err()
                .to_string()
                .contains("target: must be above 0")
        );
    }

    #[test]
    fn reset_forgets_the_evidence() {
        let mut p = ProgressivePolicy::new(1.0);
        p.decide(&healthy(), 0.1);
        p.reset();
        assert!(p.evidence().checks.is_empty());
    }
}
