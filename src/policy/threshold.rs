use super::error::{in_range, ConfigError};
use super::figures::{describe, guard, weight, DEFAULT_MIN_PAIRS};
use super::{Check, Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use serde::{Deserialize, Serialize};

/// Acts on the snapshot's 0–100 [`score`](HealthSnapshot::score): shifts
/// traffic toward stable under one threshold, rolls back under a lower one.
///
/// | condition                                   | decision                                        |
/// |---------------------------------------------|-------------------------------------------------|
/// | fewer than `min_pairs` pairs (default 100)  | `Inconclusive`                                  |
/// | the score is NaN                            | `Inconclusive`                                  |
/// | score < `critical_threshold` (default 80)   | `Rollback`                                      |
/// | score < `rollback_threshold` (default 95)   | `Shift` to `weight × step_down` (default: half) |
/// | otherwise                                   | `Hold`                                          |
///
/// A shift down is what the rollout alerts on. At weight 0 (shadow only)
/// there is no traffic left to take off the canary, so a score under the
/// rollback threshold gives `Hold`; the evidence still shows the crossed
/// threshold. The evidence of each decision holds the `pairs` check and the
/// two `score` checks (critical, then rollback).
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{Decision, RollbackPolicy, ThresholdPolicy};
///
/// let mut policy = ThresholdPolicy::new(); // 95 / 80, halve the weight, 100 pairs
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 500;
///
/// snapshot.score = 99.0;
/// assert_eq!(policy.decide(&snapshot, 0.2), Decision::Hold);
///
/// snapshot.score = 90.0;
/// assert_eq!(
///     policy.decide(&snapshot, 0.2),
///     Decision::Shift { canary_weight: 0.1, reason: "score 90.0 < rollback threshold 95.0".into() }
/// );
///
/// snapshot.score = 72.0;
/// assert_eq!(
///     policy.decide(&snapshot, 0.1),
///     Decision::Rollback { reason: "score 72.0 < critical 80.0".into() }
/// );
/// assert_eq!(policy.evidence().crossed().count(), 2);
/// ```
///
/// Customised, or loaded from JSON (unknown fields are errors, values are
/// checked):
///
/// ```
/// use tower_shadow::policy::ThresholdPolicy;
///
/// let strict = ThresholdPolicy::new()
///     .rollback_threshold(98.0)
///     .critical_threshold(90.0)
///     .step_down(0.25)
///     .min_pairs(1000);
/// assert!(strict.validate().is_ok());
///
/// let loaded: ThresholdPolicy = serde_json::from_str(r#"{"critical_threshold": 85}"#)?;
/// assert_eq!(loaded.config().critical_threshold, 85.0);
/// assert_eq!(loaded.config().rollback_threshold, 95.0);
///
/// let bad = serde_json::from_str::<ThresholdPolicy>(r#"{"rollback_threshold": 101}"#);
/// assert!(bad.unwrap_err().to_string().contains("rollback_threshold: must be in 0..=100, not 101"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "ThresholdConfig", into = "ThresholdConfig")]
pub struct ThresholdPolicy {
    config: ThresholdConfig,
    last: Evidence,
}

/// The settings of a [`ThresholdPolicy`], and its serde form.
///
/// Every field may be left out of the JSON; the defaults are those of
/// [`ThresholdPolicy::new`].
///
/// ```
/// use tower_shadow::policy::ThresholdConfig;
///
/// let mut config = ThresholdConfig::default();
/// config.critical_threshold = 85.0;
/// let policy = config.build()?;
/// assert_eq!(policy.config().critical_threshold, 85.0);
/// # Ok::<(), tower_shadow::policy::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ThresholdConfig {
    /// Under this score the canary's weight is cut by `step_down`. In
    /// `0..=100`, at least `critical_threshold`; default 95.
    pub rollback_threshold: f64,
    /// Under this score the canary is rolled back. In `0..=100`; default 80.
    pub critical_threshold: f64,
    /// The factor a shift down multiplies the canary weight by. In `0..1`
    /// (0 takes all traffic off the canary, yet as a shift, not a
    /// rollback); default 0.5.
    pub step_down: f64,
    /// No verdict on fewer pairs than this; default [`DEFAULT_MIN_PAIRS`].
    pub min_pairs: u64,
}

impl Default for ThresholdConfig {
    fn default() -> Self {
        Self {
            rollback_threshold: 95.0,
            critical_threshold: 80.0,
            step_down: 0.5,
            min_pairs: DEFAULT_MIN_PAIRS,
        }
    }
}

impl ThresholdConfig {
    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdConfig;
    ///
    /// let mut config = ThresholdConfig::default();
    /// assert!(config.validate().is_ok());
    /// config.critical_threshold = 97.0;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid policy config: critical_threshold: must be at most rollback_threshold (95), not 97"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range("rollback_threshold", self.rollback_threshold, 0.0, 100.0)?;
        in_range("critical_threshold", self.critical_threshold, 0.0, 100.0)?;
        if self.critical_threshold > self.rollback_threshold {
            return Err(ConfigError::new(
                "critical_threshold",
                format_args!(
                    "must be at most rollback_threshold ({}), not {}",
                    self.rollback_threshold, self.critical_threshold
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.step_down) {
            return Err(ConfigError::new(
                "step_down",
                format_args!("must be in 0..1 (1 excluded), not {}", self.step_down),
            ));
        }
        Ok(())
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdConfig;
    ///
    /// let mut config = ThresholdConfig::default();
    /// config.step_down = 1.0;
    /// assert!(config.build().unwrap_err().to_string().contains("step_down"));
    /// ```
    pub fn build(self) -> Result<ThresholdPolicy, ConfigError> {
        ThresholdPolicy::try_from(self)
    }
}

impl TryFrom<ThresholdConfig> for ThresholdPolicy {
    type Error = ConfigError;

    fn try_from(config: ThresholdConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            config,
            last: Evidence::default(),
        })
    }
}

impl From<ThresholdPolicy> for ThresholdConfig {
    fn from(policy: ThresholdPolicy) -> Self {
        policy.config
    }
}

impl ThresholdPolicy {
    /// The defaults: roll back under 80, halve the canary weight under 95,
    /// no verdict under 100 pairs.
    ///
    /// ```
    /// use tower_shadow::policy::{ThresholdConfig, ThresholdPolicy};
    ///
    /// assert_eq!(ThresholdPolicy::new().config(), &ThresholdConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Under this score (0–100) the canary weight is cut by
    /// [`step_down`](Self::step_down).
    ///
    /// Builder values are checked by [`validate`](Self::validate); while
    /// one is out of range every decision is `Inconclusive`, naming it.
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdPolicy;
    ///
    /// let policy = ThresholdPolicy::new().rollback_threshold(98.0);
    /// assert_eq!(policy.config().rollback_threshold, 98.0);
    /// ```
    pub fn rollback_threshold(mut self, score: f64) -> Self {
        self.config.rollback_threshold = score;
        self
    }

    /// Under this score (0–100, at most the rollback threshold) the canary
    /// is rolled back.
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdPolicy;
    ///
    /// let policy = ThresholdPolicy::new().critical_threshold(70.0);
    /// assert_eq!(policy.config().critical_threshold, 70.0);
    /// ```
    pub fn critical_threshold(mut self, score: f64) -> Self {
        self.config.critical_threshold = score;
        self
    }

    /// The factor (`0..1`) a shift down multiplies the canary weight by;
    /// 0.5 halves it.
    ///
    /// ```
    /// use tower_shadow::health::HealthSnapshot;
    /// use tower_shadow::policy::{Decision, RollbackPolicy, ThresholdPolicy};
    ///
    /// let mut policy = ThresholdPolicy::new().step_down(0.25);
    /// let mut snapshot = HealthSnapshot::default();
    /// snapshot.pairs = 500;
    /// snapshot.score = 90.0;
    /// let decision = policy.decide(&snapshot, 0.4);
    /// assert!(matches!(decision, Decision::Shift { canary_weight, .. } if canary_weight == 0.1));
    /// ```
    pub fn step_down(mut self, factor: f64) -> Self {
        self.config.step_down = factor;
        self
    }

    /// No verdict on fewer pairs than this (default
    /// [`DEFAULT_MIN_PAIRS`]); 0 turns the guard off.
    ///
    /// ```
    /// use tower_shadow::health::HealthSnapshot;
    /// use tower_shadow::policy::{Decision, RollbackPolicy, ThresholdPolicy};
    ///
    /// let mut policy = ThresholdPolicy::new().min_pairs(20);
    /// let mut snapshot = HealthSnapshot::default();
    /// snapshot.pairs = 12;
    /// assert_eq!(
    ///     policy.decide(&snapshot, 0.1),
    ///     Decision::Inconclusive { reason: "12 pairs < 20 needed".into() }
    /// );
    /// ```
    pub fn min_pairs(mut self, pairs: u64) -> Self {
        self.config.min_pairs = pairs;
        self
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdPolicy;
    ///
    /// assert_eq!(ThresholdPolicy::new().config().step_down, 0.5);
    /// ```
    pub fn config(&self) -> &ThresholdConfig {
        &self.config
    }

    /// Checks the settings ([`ThresholdConfig::validate`]).
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdPolicy;
    ///
    /// assert!(ThresholdPolicy::new().validate().is_ok());
    /// assert!(ThresholdPolicy::new().step_down(f64::NAN).validate().is_err());
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
        if snapshot.score.is_nan() {
            return Decision::Inconclusive {
                reason: "the score is NaN".into(),
            };
        }
        let score = snapshot.score.clamp(0.0, 100.0);
        let critical = Check::at_least("score", score, config.critical_threshold);
        let rollback = Check::at_least("score", score, config.rollback_threshold);
        evidence.push(critical.clone());
        evidence.push(rollback.clone());
        if critical.crossed {
            return Decision::Rollback {
                reason: describe(&critical, "critical"),
            };
        }
        if !rollback.crossed {
            return Decision::Hold;
        }
        let current = match weight(canary_weight) {
            Ok(w) => w,
            Err(inconclusive) => return inconclusive,
        };
        let lowered = current * config.step_down;
        if lowered < current {
            Decision::Shift {
                canary_weight: lowered,
                reason: describe(&rollback, "rollback threshold"),
            }
        } else {
            Decision::Hold
        }
    }
}

impl RollbackPolicy for ThresholdPolicy {
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

    fn snapshot(pairs: u64, score: f64) -> HealthSnapshot {
        HealthSnapshot {
            pairs,
            score,
            ..Default::default()
        }
    }

    fn shift(w: f64, reason: &str) -> Decision {
        Decision::Shift {
            canary_weight: w,
            reason: reason.into(),
        }
    }

    #[test]
    fn holds_when_healthy() {
        let mut p = ThresholdPolicy::new();
        assert_eq!(p.decide(&snapshot(500, 95.0), 0.3), Decision::Hold);
        assert_eq!(p.decide(&snapshot(500, 100.0), 0.3), Decision::Hold);
        let evidence = p.evidence();
        assert_eq!(evidence.checks.len(), 3);
        assert_eq!(evidence.crossed().count(), 0);
        assert_eq!(evidence.checks[1], Check::at_least("score", 100.0, 80.0));
        assert_eq!(evidence.checks[2], Check::at_least("score", 100.0, 95.0));
    }

    #[test]
    fn shifts_toward_stable_under_the_rollback_threshold() {
        let mut p = ThresholdPolicy::new();
        assert_eq!(
            p.decide(&snapshot(500, 90.0), 0.4),
            shift(0.2, "score 90.0 < rollback threshold 95.0")
        );
        let crossed: Vec<_> = p.evidence().crossed().cloned().collect();
        assert_eq!(crossed, [Check::at_least("score", 90.0, 95.0)]);
        // Exactly at the critical threshold is not under it.
        assert_eq!(
            p.decide(&snapshot(500, 80.0), 1.0),
            shift(0.5, "score 80.0 < rollback threshold 95.0")
        );
        let mut p = p.step_down(0.0);
        assert_eq!(
            p.decide(&snapshot(500, 90.0), 0.4),
            shift(0.0, "score 90.0 < rollback threshold 95.0")
        );
    }

    #[test]
    fn holds_at_weight_zero_with_the_crossing_in_the_evidence() {
        let mut p = ThresholdPolicy::new();
        assert_eq!(p.decide(&snapshot(500, 90.0), 0.0), Decision::Hold);
        assert_eq!(p.evidence().crossed().count(), 1);
        // Weights out of range are clamped first.
        assert_eq!(p.decide(&snapshot(500, 90.0), -3.0), Decision::Hold);
        assert_eq!(
            p.decide(&snapshot(500, 90.0), 7.0),
            shift(0.5, "score 90.0 < rollback threshold 95.0")
        );
    }

    #[test]
    fn rolls_back_under_the_critical_threshold() {
        let mut p = ThresholdPolicy::new();
        assert_eq!(
            p.decide(&snapshot(500, 72.0), 0.1),
            Decision::Rollback {
                reason: "score 72.0 < critical 80.0".into()
            }
        );
        assert_eq!(p.evidence().crossed().count(), 2);
        // Even with a NaN weight: rolling back needs no weight.
        assert!(matches!(
            p.decide(&snapshot(500, f64::NEG_INFINITY), f64::NAN),
            Decision::Rollback { .. }
        ));
        assert_eq!(p.evidence().checks[1].value, 0.0);
    }

    #[test]
    fn is_inconclusive_on_too_few_pairs_or_unusable_figures() {
        let mut p = ThresholdPolicy::new();
        assert_eq!(
            p.decide(&snapshot(12, 10.0), 0.5),
            Decision::Inconclusive {
                reason: "12 pairs < 100 needed".into()
            }
        );
        let evidence = p.evidence();
        assert_eq!(evidence.checks.len(), 1);
        assert!(evidence.checks[0].crossed);
        assert_eq!(evidence.checks[0].name, "pairs");

        assert_eq!(
            p.decide(&snapshot(500, f64::NAN), 0.5),
            Decision::Inconclusive {
                reason: "the score is NaN".into()
            }
        );
        assert!(matches!(
            p.decide(&snapshot(500, 90.0), f64::NAN),
            Decision::Inconclusive { .. }
        ));
        let mut p = p.min_pairs(0);
        assert_eq!(p.decide(&snapshot(0, 100.0), 0.5), Decision::Hold);
    }

    #[test]
    fn an_invalid_config_gives_no_verdict() {
        let mut p = ThresholdPolicy::new().critical_threshold(f64::NAN);
        assert_eq!(
            p.decide(&snapshot(500, 10.0), 0.5),
            Decision::Inconclusive {
                reason: "invalid policy config: critical_threshold: must be in 0..=100, not NaN"
                    .into()
            }
        );
        assert!(p.evidence().checks.is_empty());
    }

    #[test]
    fn validates_each_field() {
        let error = |p: ThresholdPolicy| p.validate().unwrap_err().to_string();
        assert!(error(ThresholdPolicy::new().rollback_threshold(-1.0))
            .contains("rollback_threshold: must be in 0..=100, not -1"));
        assert!(error(ThresholdPolicy::new().critical_threshold(96.0))
            .contains("critical_threshold: must be at most rollback_threshold (95), not 96"));
        assert!(error(ThresholdPolicy::new().step_down(-0.5))
            .contains("step_down: must be in 0..1 (1 excluded), not -0.5"));
        assert!(ThresholdPolicy::new()
            .rollback_threshold(80.0)
            .critical_threshold(80.0)
            .validate()
            .is_ok());
    }

    #[test]
    fn round_trips_through_json() {
        let p = ThresholdPolicy::new()
            .critical_threshold(70.0)
            .min_pairs(50);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"rollback_threshold":95.0,"critical_threshold":70.0,"step_down":0.5,"min_pairs":50}"#
        );
        let back: ThresholdPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), p.config());
        let error = serde_json::from_str::<ThresholdPolicy>(r#"{"critical": 1}"#).unwrap_err();
        assert!(error.to_string().contains("unknown field `critical`"));
    }

    #[test]
    fn reset_forgets_the_evidence() {
        let mut p = ThresholdPolicy::new();
        p.decide(&snapshot(500, 50.0), 0.5);
        assert!(!p.evidence().checks.is_empty());
        p.reset();
        assert!(p.evidence().checks.is_empty());
    }
}
