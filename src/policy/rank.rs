use super::error::{in_range, ConfigError};
use super::figures::{guard, not_counted, weight, DEFAULT_MIN_PAIRS};
use super::judge::{CanaryJudge, Classification, JudgeConfig, MetricConfig, Verdict};
use super::sequential::{false_alarm_rate, window_ticks};
use super::stats::Sample;
use super::{Check, Decision, Evidence, RollbackPolicy};
use crate::health::{HealthSnapshot, LatencyBin};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A fixed-window canary judge in the manner of Kayenta, on the snapshot:
/// once per window, a [`CanaryJudge`] classifies three metrics by rank
/// tests and scores them.
///
/// | metric    | samples                                                  | group (weight) |
/// |-----------|----------------------------------------------------------|----------------|
/// | `latency` | the window's latency histogram per side (`latency_bins`) | latency (25)   |
/// | `spread`  | each side's absolute deviations from its median          | spread (15)    |
/// | `errors`  | one 0/1 value per pair: did the side fail? (critical)    | errors (60)    |
///
/// The spread metric catches a candidate whose latency widens while its
/// median stays put. Binned latencies and 0/1 errors are full of ties,
/// which the test corrects for. A failing `errors` (critical) or a score
/// under `marginal_score` rolls back; a score under `pass_score` shifts
/// the canary down by `step_down`; a metric without data never passes
/// silently: the decision is `Inconclusive`, naming it.
///
/// # Looks and false alarms
///
/// A rank test is a fixed-sample test: looking at overlapping windows
/// every tick would multiply its false alarms. The policy judges once every
/// `window_ticks` ticks (disjoint windows when `window_ticks × interval ≥
/// window`) and gives each test `false_alarm_rate / (looks × 3)`, so over
/// the first `looks` looks the chance of any false alarm is at most
/// `false_alarm_rate` (a union bound). Between looks it holds (or stays
/// inconclusive until its first look); its evidence is the last look's.
///
/// ```
/// use tower_shadow::health::{HealthSnapshot, LatencyBin};
/// use tower_shadow::policy::{Decision, RankPolicy, RollbackPolicy};
///
/// let bins = |shift: f64| (0..40).map(|i| LatencyBin { ms: 20.0 + shift + f64::from(i), count: 30 }).collect::<Vec<_>>();
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 1200;
/// snapshot.latency_bins.baseline = bins(0.0);
/// snapshot.latency_bins.candidate = bins(12.0);
///
/// let mut policy = RankPolicy::new().window_ticks(1);
/// let decision = policy.decide(&snapshot, 0.2);
/// assert!(matches!(decision, Decision::Shift { canary_weight, .. } if canary_weight == 0.1));
/// assert!(decision.reason().unwrap().starts_with("score 75.0 < pass 95.0: latency high"));
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "RankConfig", into = "RankConfig")]
pub struct RankPolicy {
    config: RankConfig,
    tick: u64,
    looked: Option<Verdict>,
    last: Evidence,
}

/// The settings of a [`RankPolicy`], and its serde form.
///
/// ```
/// use tower_shadow::policy::RankConfig;
///
/// let config: RankConfig = serde_json::from_str(r#"{"looks": 20, "latency": {"group": "latency", "allowed_increase": 1.1}}"#)?;
/// assert_eq!(config.latency.allowed_increase, 1.1);
/// assert!(config.build().is_ok());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RankConfig {
    /// The bound on the chance of any false alarm over the first `looks`
    /// looks, in `0..=0.5` (0 excluded); default 0.01.
    pub false_alarm_rate: f64,
    /// The looks the false-alarm budget is planned for, at least 1;
    /// default 10.
    pub looks: u32,
    /// Ticks per window: the policy judges every `window_ticks` ticks. In
    /// `1..=1024`; default 6 (a 60 s window, a 10 s interval).
    pub window_ticks: u32,
    /// No judgement on fewer pairs; default [`DEFAULT_MIN_PAIRS`].
    pub min_pairs: u64,
    /// The latency metric.
    pub latency: MetricConfig,
    /// The latency spread metric.
    pub spread: MetricConfig,
    /// The error metric.
    pub errors: MetricConfig,
    /// Group weights: by default errors 60, latency 25, spread 15.
    pub groups: BTreeMap<String, f64>,
    /// The lowest passing score; default 95.
    pub pass_score: f64,
    /// The lowest marginal score (under it: roll back); default 75.
    pub marginal_score: f64,
    /// The factor (`0..1`) a marginal score multiplies the canary weight
    /// by; default 0.5.
    pub step_down: f64,
}

impl Default for RankConfig {
    fn default() -> Self {
        Self {
            false_alarm_rate: 0.01,
            looks: 10,
            window_ticks: 6,
            min_pairs: DEFAULT_MIN_PAIRS,
            latency: MetricConfig::new("latency"),
            spread: MetricConfig::new("spread"),
            errors: MetricConfig::new("errors").critical(true),
            groups: [("errors", 60.0), ("latency", 25.0), ("spread", 15.0)]
                .into_iter()
                .map(|(g, w)| (g.to_owned(), w))
                .collect(),
            pass_score: 95.0,
            marginal_score: 75.0,
            step_down: 0.5,
        }
    }
}

impl RankConfig {
    /// The per-test false-alarm rate: `false_alarm_rate / (looks × 3)`.
    ///
    /// ```
    /// use tower_shadow::policy::RankConfig;
    ///
    /// assert!((RankConfig::default().test_alpha() - 0.01 / 30.0).abs() < 1e-15);
    /// ```
    pub fn test_alpha(&self) -> f64 {
        self.false_alarm_rate / (f64::from(self.looks.max(1)) * 3.0)
    }

    fn judge(&self) -> Result<CanaryJudge, ConfigError> {
        JudgeConfig {
            confidence: 1.0 - self.test_alpha(),
            groups: self.groups.clone(),
            pass_score: self.pass_score,
            marginal_score: self.marginal_score,
        }
        .build()
    }

    /// Checks every field, naming the first out of range.
    ///
    /// ```
    /// use tower_shadow::policy::RankConfig;
    ///
    /// let mut config = RankConfig::default();
    /// config.looks = 0;
    /// assert_eq!(config.validate().unwrap_err().to_string(), "invalid policy config: looks: must be at least 1, not 0");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        false_alarm_rate("false_alarm_rate", self.false_alarm_rate)?;
        if self.looks == 0 {
            return Err(ConfigError::new("looks", "must be at least 1, not 0"));
        }
        window_ticks(self.window_ticks)?;
        self.latency.validate("latency")?;
        self.spread.validate("spread")?;
        self.errors.validate("errors")?;
        if !(0.0..1.0).contains(&self.step_down) {
            return Err(ConfigError::new(
                "step_down",
                format_args!("must be in 0..1 (1 excluded), not {}", self.step_down),
            ));
        }
        in_range("pass_score", self.pass_score, 0.0, 100.0)?;
        self.judge().map(|_| ())
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::policy::RankConfig;
    ///
    /// let mut config = RankConfig::default();
    /// config.marginal_score = 99.0;
    /// assert!(config.build().unwrap_err().to_string().contains("marginal_score"));
    /// ```
    pub fn build(self) -> Result<RankPolicy, ConfigError> {
        RankPolicy::try_from(self)
    }
}

impl TryFrom<RankConfig> for RankPolicy {
    type Error = ConfigError;

    fn try_from(config: RankConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::default()
        })
    }
}

impl From<RankPolicy> for RankConfig {
    fn from(policy: RankPolicy) -> Self {
        policy.config
    }
}

/// A latency histogram as a sample.
fn bins(bins: &[LatencyBin]) -> Sample {
    Sample::from_bins(bins.iter().map(|b| (b.ms, b.count)))
}

/// One 0/1 value per pair: did this side fail?
fn failures(pairs: u64, errors: u64) -> Sample {
    let errors = errors.min(pairs);
    Sample::from_bins([(0.0, pairs - errors), (1.0, errors)])
}

impl RankPolicy {
    /// The defaults (see [`RankConfig`]).
    ///
    /// ```
    /// use tower_shadow::policy::{RankConfig, RankPolicy};
    ///
    /// assert_eq!(RankPolicy::new().config(), &RankConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges every `ticks` ticks. Builder values are checked on each
    /// decision; while one is out of range the decision is
    /// `Inconclusive`, naming it.
    ///
    /// ```
    /// use tower_shadow::policy::RankPolicy;
    ///
    /// assert_eq!(RankPolicy::new().window_ticks(12).config().window_ticks, 12);
    /// ```
    pub fn window_ticks(mut self, ticks: u32) -> Self {
        self.config.window_ticks = ticks;
        self
    }

    /// The false-alarm bound over the planned looks.
    ///
    /// ```
    /// use tower_shadow::policy::RankPolicy;
    ///
    /// assert_eq!(RankPolicy::new().false_alarm_rate(0.05).config().false_alarm_rate, 0.05);
    /// ```
    pub fn false_alarm_rate(mut self, rate: f64) -> Self {
        self.config.false_alarm_rate = rate;
        self
    }

    /// The looks the false-alarm budget is planned for.
    ///
    /// ```
    /// use tower_shadow::policy::RankPolicy;
    ///
    /// assert_eq!(RankPolicy::new().looks(30).config().looks, 30);
    /// ```
    pub fn looks(mut self, looks: u32) -> Self {
        self.config.looks = looks;
        self
    }

    /// No judgement on fewer pairs than this.
    ///
    /// ```
    /// use tower_shadow::health::HealthSnapshot;
    /// use tower_shadow::policy::{Decision, RankPolicy, RollbackPolicy};
    ///
    /// let mut policy = RankPolicy::new().window_ticks(1).min_pairs(500);
    /// let mut snapshot = HealthSnapshot::default();
    /// snapshot.pairs = 20;
    /// assert_eq!(policy.decide(&snapshot, 0.1), Decision::Inconclusive { reason: "20 pairs < 500 needed".into() });
    /// ```
    pub fn min_pairs(mut self, pairs: u64) -> Self {
        self.config.min_pairs = pairs;
        self
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::RankPolicy;
    ///
    /// assert!(RankPolicy::new().config().errors.critical);
    /// ```
    pub fn config(&self) -> &RankConfig {
        &self.config
    }

    /// Checks the settings ([`RankConfig::validate`]).
    ///
    /// ```
    /// use tower_shadow::policy::RankPolicy;
    ///
    /// assert!(RankPolicy::new().false_alarm_rate(f64::NAN).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }

    fn judge(
        &mut self,
        snapshot: &HealthSnapshot,
        canary_weight: f64,
        evidence: &mut Evidence,
    ) -> Decision {
        let config = &self.config;
        let judge = match config.validate().and_then(|()| config.judge()) {
            Ok(judge) => judge,
            Err(error) => {
                return Decision::Inconclusive {
                    reason: error.to_string(),
                }
            }
        };
        let n = u64::from(config.window_ticks);
        self.tick += 1;
        let phase = self.tick % n;
        if phase != 0 {
            *evidence = self.last.clone();
            let next = n - phase;
            return match self.looked {
                None | Some(Verdict::NoData) => Decision::Inconclusive {
                    reason: format!(
                        "judged once per window of {n} ticks: next judgement in {next} tick{}",
                        if next == 1 { "" } else { "s" }
                    ),
                },
                Some(_) => Decision::Hold,
            };
        }
        if let Some(inconclusive) = guard(snapshot, config.min_pairs, evidence) {
            self.looked = Some(Verdict::NoData);
            return inconclusive;
        }
        let (b, c) = (
            bins(&snapshot.latency_bins.baseline),
            bins(&snapshot.latency_bins.candidate),
        );
        let metrics = vec![
            judge.classify("latency", &config.latency, &b, &c),
            judge.classify("spread", &config.spread, &b.deviations(), &c.deviations()),
            judge.classify(
                "errors",
                &config.errors,
                &failures(snapshot.pairs, snapshot.baseline_errors),
                &failures(snapshot.pairs, snapshot.candidate_errors),
            ),
        ];
        let alpha = config.test_alpha();
        for m in &metrics {
            let name = format!("{}_p_value", m.name);
            evidence.push(match (&m.test, m.classification) {
                (_, Classification::NoData) | (None, _) => not_counted(&name, &m.reason, alpha),
                (Some(t), _) => Check {
                    crossed: m.failed(),
                    ..Check::at_least(name, t.p_greater.min(t.p_less), alpha)
                },
            });
        }
        let report = judge.score(metrics);
        if let Some(score) = report.score {
            evidence.push(Check::at_least("score", score, config.pass_score));
        }
        self.looked = Some(report.verdict);
        match report.verdict {
            Verdict::Pass => Decision::Hold,
            Verdict::NoData => Decision::Inconclusive {
                reason: report.reason,
            },
            Verdict::Fail => Decision::Rollback {
                reason: report.reason,
            },
            Verdict::Marginal => {
                let current = match weight(canary_weight) {
                    Ok(w) => w,
                    Err(inconclusive) => return inconclusive,
                };
                let lowered = current * config.step_down;
                if lowered < current {
                    Decision::Shift {
                        canary_weight: lowered,
                        reason: report.reason,
                    }
                } else {
                    Decision::Hold
                }
            }
        }
    }
}

impl RollbackPolicy for RankPolicy {
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
        self.tick = 0;
        self.looked = None;
        self.last = Evidence::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(shift: f64, widen: f64, b_err: u64, c_err: u64) -> HealthSnapshot {
        let side = |shift: f64, widen: f64| {
            (0..40)
                .map(|i| LatencyBin {
                    ms: 40.0 + shift + (f64::from(i) - 20.0) * widen,
                    count: 30,
                })
                .collect::<Vec<_>>()
        };
        let mut s = HealthSnapshot {
            pairs: 1200,
            baseline_errors: b_err,
            candidate_errors: c_err,
            ..HealthSnapshot::default()
        };
        s.latency_bins.baseline = side(0.0, 1.0);
        s.latency_bins.candidate = side(shift, widen);
        s
    }

    #[test]
    fn holds_when_alike_and_judges_once_per_window() {
        let mut p = RankPolicy::new().window_ticks(3);
        let same = snapshot(0.0, 1.0, 2, 2);
        assert_eq!(
            p.decide(&same, 0.5),
            Decision::Inconclusive {
                reason: "judged once per window of 3 ticks: next judgement in 2 ticks".into()
            }
        );
        assert!(matches!(
            p.decide(&same, 0.5),
            Decision::Inconclusive { .. }
        ));
        assert_eq!(p.decide(&same, 0.5), Decision::Hold);
        let evidence = p.evidence();
        assert_eq!(evidence.checks.len(), 5);
        assert_eq!(evidence.crossed().count(), 0);
        // Between looks: hold, and keep the last look's evidence.
        assert_eq!(p.decide(&snapshot(30.0, 1.0, 0, 500), 0.5), Decision::Hold);
        assert_eq!(p.evidence(), evidence);
        p.reset();
        assert!(p.evidence().checks.is_empty());
    }

    #[test]
    fn catches_a_wider_spread_with_the_same_median() {
        let mut p = RankPolicy::new().window_ticks(1);
        let d = p.decide(&snapshot(0.0, 2.0, 0, 0), 0.5);
        let reason = d.reason().unwrap_or_default().to_owned();
        assert!(matches!(d, Decision::Shift { .. }), "{d:?}");
        assert!(reason.contains("spread high"), "{reason}");
        assert!(!reason.contains("latency high"), "{reason}");
    }

    #[test]
    fn rolls_back_on_errors_and_on_latency_with_spread() {
        let mut p = RankPolicy::new().window_ticks(1);
        let d = p.decide(&snapshot(0.0, 1.0, 0, 30), 0.5);
        assert!(
            matches!(&d, Decision::Rollback { reason } if reason.starts_with("critical metric errors high")),
            "{d:?}"
        );
        let d = p.decide(&snapshot(15.0, 2.0, 0, 0), 0.5);
        assert!(
            matches!(&d, Decision::Rollback { reason } if reason.starts_with("score 60.0 < marginal 75.0")),
            "{d:?}"
        );
    }

    #[test]
    fn is_inconclusive_without_latencies_or_with_bad_settings() {
        let mut p = RankPolicy::new().window_ticks(1);
        let no_latency = HealthSnapshot {
            pairs: 1200,
            ..HealthSnapshot::default()
        };
        let d = p.decide(&no_latency, 0.5);
        assert_eq!(
            d,
            Decision::Inconclusive {
                reason: "score 100.0, but no data for latency: no baseline data; spread: no baseline data".into()
            }
        );
        assert_eq!(p.evidence().checks.len(), 5);
        let mut p = RankPolicy::new().looks(0);
        assert!(
            matches!(p.decide(&no_latency, 0.5), Decision::Inconclusive { reason } if reason.contains("looks"))
        );
        let json = serde_json::to_string(&RankPolicy::new()).unwrap();
        let back: RankPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), &RankConfig::default());
    }
}
