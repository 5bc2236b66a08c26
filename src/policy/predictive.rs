use super::error::{in_range, ConfigError};
use super::figures::{
    excess_error_rate, guard, kpi_ratio, mismatch_rate, not_counted, num, p99_ratio,
};
use super::severity::{Anomaly, AnomalyKind, Severity};
use super::stats::{normal_quantile, Holt};
use super::{Check, Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Predictive rollback: forecasts each figure's trend with Holt's linear
/// method and acts when the forecast crosses its threshold within the
/// horizon, before the threshold itself is reached.
///
/// Each tick (with at least `min_pairs` pairs) adds the window's value of
/// every figure in `thresholds` to its [`Holt`] model. A figure is an
/// [`Anomaly`] when
///
/// - its value is already over the threshold, or
/// - after `warmup` ticks, for some `h ≤ horizon`, the forecast `h` ticks
///   ahead is over the threshold even at the lower end of its one-sided
///   `confidence` prediction interval: the trend is clear enough that
///   noise alone is unlikely to carry it there.
///
/// The reason states the forecast, when it crosses and the horizon, e.g.
/// `mean_latency_ratio forecast 1.53 > 1.5 in 4 ticks (now 1.31, trend
/// +0.06/tick, horizon 12 ticks)`. Anomalies are weighed by [`Severity`].
/// With none: `Inconclusive` under `min_pairs` pairs or during the warm-up,
/// `Hold` otherwise.
///
/// | figure               | value                                                  | kind       |
/// |----------------------|--------------------------------------------------------|------------|
/// | `excess_error_rate`  | candidate errors beyond the baseline's, per pair       | error rate |
/// | `mismatch_rate`      | pairs with a real difference, per pair                 | mismatch   |
/// | `mean_latency_ratio` | candidate mean latency / baseline mean latency         | latency    |
/// | `p99_ratio`          | candidate p99 / max(baseline p99, [`P99_FLOOR_MS`](super::P99_FLOOR_MS)) | latency |
/// | `kpi:<name>`         | candidate mean / baseline mean of a custom KPI         | kpi        |
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{Decision, PredictivePolicy, RollbackPolicy};
///
/// let mut policy = PredictivePolicy::new(); // mismatch_rate threshold 5 %
/// let mut decisions = Vec::new();
/// for tick in 0..20u64 {
///     // The mismatch rate climbs 0.3 points per tick from 1 %.
///     let mut snapshot = HealthSnapshot::default();
///     snapshot.pairs = 1000;
///     snapshot.different = 10 + 3 * tick;
///     decisions.push(policy.decide(&snapshot, 0.3));
/// }
/// let first = decisions.iter().position(|d| matches!(d, Decision::Rollback { .. })).unwrap();
/// // Acted while the rate was still under 5 % (at tick 13 it reaches 4.9 %).
/// assert!(first <= 13, "{first}");
/// let reason = decisions[first].reason().unwrap();
/// assert!(reason.starts_with("mismatch_rate forecast"), "{reason}");
/// assert!(reason.contains("horizon 12 ticks"), "{reason}");
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "PredictiveConfig", into = "PredictiveConfig")]
pub struct PredictivePolicy {
    config: PredictiveConfig,
    models: BTreeMap<String, Holt>,
    ticks: u64,
    last: Evidence,
}

/// The settings of a [`PredictivePolicy`], and its serde form.
///
/// ```
/// use tower_shadow::policy::PredictiveConfig;
///
/// let config: PredictiveConfig = serde_json::from_str(r#"{"thresholds": {"p99_ratio": 2.0, "kpi:db_ms": 1.5}, "horizon": 10}"#)?;
/// assert_eq!(config.thresholds.len(), 2);
/// assert!(config.build().is_ok());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PredictiveConfig {
    /// Each figure's threshold (bad above). Default: `excess_error_rate`
    /// 0.02, `mismatch_rate` 0.05, `mean_latency_ratio` 1.5.
    pub thresholds: BTreeMap<String, f64>,
    /// How many ticks ahead a forecast may cross, in `1..=1000`; default 12
    /// (two minutes at a 10 s interval).
    pub horizon: u32,
    /// Holt's level smoothing, in `0..=1` (0 excluded); default 0.5.
    pub alpha: f64,
    /// Holt's trend smoothing, in `0..=1`; default 0.2.
    pub beta: f64,
    /// The one-sided prediction-interval level a forecast must clear, in
    /// `0.5..1`; default 0.99.
    pub confidence: f64,
    /// Ticks of history before forecasts count, at least 3; default 6.
    pub warmup: u32,
    /// Under this many pairs, no update and no verdict; default 1000
    /// (forecasts from the small windows of the first ticks are noise).
    pub min_pairs: u64,
    /// What an anomaly does.
    pub severity: Severity,
}

impl Default for PredictiveConfig {
    fn default() -> Self {
        Self {
            thresholds: [
                ("excess_error_rate", 0.02),
                ("mismatch_rate", 0.05),
                ("mean_latency_ratio", 1.5),
            ]
            .into_iter()
            .map(|(name, t)| (name.to_owned(), t))
            .collect(),
            horizon: 12,
            alpha: 0.5,
            beta: 0.2,
            confidence: 0.99,
            warmup: 6,
            min_pairs: 1000,
            severity: Severity::default(),
        }
    }
}

const FIGURES: [&str; 4] = [
    "excess_error_rate",
    "mismatch_rate",
    "mean_latency_ratio",
    "p99_ratio",
];

impl PredictiveConfig {
    /// Checks every field, naming the first out of range.
    ///
    /// ```
    /// use tower_shadow::policy::PredictiveConfig;
    ///
    /// let mut config = PredictiveConfig::default();
    /// config.thresholds.insert("p50".into(), 1.0);
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid policy config: thresholds.p50: unknown figure (excess_error_rate, mismatch_rate, mean_latency_ratio, p99_ratio or kpi:<name>)"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, threshold) in &self.thresholds {
            if !FIGURES.contains(&name.as_str()) && !name.starts_with("kpi:") {
                return Err(ConfigError::new(
                    format_args!("thresholds.{name}"),
                    "unknown figure (excess_error_rate, mismatch_rate, mean_latency_ratio, p99_ratio or kpi:<name>)",
                ));
            }
            if !threshold.is_finite() {
                return Err(ConfigError::new(
                    format_args!("thresholds.{name}"),
                    format_args!("must be a finite number, not {threshold}"),
                ));
            }
        }
        if !(1..=1000).contains(&self.horizon) {
            return Err(ConfigError::new(
                "horizon",
                format_args!("must be in 1..=1000, not {}", self.horizon),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(ConfigError::new(
                "alpha",
                format_args!("must be in 0..=1 (0 excluded), not {}", self.alpha),
            ));
        }
        in_range("beta", self.beta, 0.0, 1.0)?;
        if !(self.confidence >= 0.5 && self.confidence < 1.0) {
            return Err(ConfigError::new(
                "confidence",
                format_args!("must be in 0.5..1 (1 excluded), not {}", self.confidence),
            ));
        }
        if self.warmup < 3 {
            return Err(ConfigError::new(
                "warmup",
                format_args!("must be at least 3, not {}", self.warmup),
            ));
        }
        self.severity.validate()
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::policy::PredictiveConfig;
    ///
    /// let mut config = PredictiveConfig::default();
    /// config.horizon = 0;
    /// assert!(config.build().is_err());
    /// ```
    pub fn build(self) -> Result<PredictivePolicy, ConfigError> {
        PredictivePolicy::try_from(self)
    }
}

impl TryFrom<PredictiveConfig> for PredictivePolicy {
    type Error = ConfigError;

    fn try_from(config: PredictiveConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::default()
        })
    }
}

impl From<PredictivePolicy> for PredictiveConfig {
    fn from(policy: PredictivePolicy) -> Self {
        policy.config
    }
}

/// A figure's value in a snapshot, its kind, or why it has none.
fn figure(name: &str, s: &HealthSnapshot) -> Result<(f64, AnomalyKind), &'static str> {
    match name {
        "excess_error_rate" => Ok((excess_error_rate(s), AnomalyKind::ErrorRate)),
        "mismatch_rate" => Ok((mismatch_rate(s), AnomalyKind::Mismatch)),
        "p99_ratio" => p99_ratio(s).map(|r| (r, AnomalyKind::Latency)),
        "mean_latency_ratio" => {
            let (b, c) = (&s.baseline_latency, &s.candidate_latency);
            if b.count == 0 || c.count == 0 {
                return Err("no latencies on a side");
            }
            if !(b.mean_ms > 0.0 && c.mean_ms.is_finite() && b.mean_ms.is_finite()) {
                return Err("a mean latency is not a positive, finite number");
            }
            Ok((c.mean_ms / b.mean_ms, AnomalyKind::Latency))
        }
        _ => match name.strip_prefix("kpi:") {
            Some(kpi) => kpi_ratio(s.kpis.get(kpi)).map(|r| (r, AnomalyKind::Kpi)),
            None => Err("unknown figure"),
        },
    }
}

impl PredictivePolicy {
    /// The defaults (see [`PredictiveConfig`]).
    ///
    /// ```
    /// use tower_shadow::policy::{PredictiveConfig, PredictivePolicy};
    ///
    /// assert_eq!(PredictivePolicy::new().config(), &PredictiveConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a figure's threshold. Builder values are checked on each
    /// decision; while one is out of range the decision is
    /// `Inconclusive`, naming it.
    ///
    /// ```
    /// use tower_shadow::policy::PredictivePolicy;
    ///
    /// let policy = PredictivePolicy::new().threshold("p99_ratio", 2.0);
    /// assert_eq!(policy.config().thresholds["p99_ratio"], 2.0);
    /// ```
    pub fn threshold(mut self, figure: impl Into<String>, threshold: f64) -> Self {
        self.config.thresholds.insert(figure.into(), threshold);
        self
    }

    /// How many ticks ahead a forecast may cross.
    ///
    /// ```
    /// use tower_shadow::policy::PredictivePolicy;
    ///
    /// assert_eq!(PredictivePolicy::new().horizon(12).config().horizon, 12);
    /// ```
    pub fn horizon(mut self, ticks: u32) -> Self {
        self.config.horizon = ticks;
        self
    }

    /// Holt's smoothing parameters; starts the forecasts over.
    ///
    /// ```
    /// use tower_shadow::policy::PredictivePolicy;
    ///
    /// let policy = PredictivePolicy::new().smoothing(0.5, 0.2);
    /// assert_eq!((policy.config().alpha, policy.config().beta), (0.5, 0.2));
    /// ```
    pub fn smoothing(mut self, alpha: f64, beta: f64) -> Self {
        self.config.alpha = alpha;
        self.config.beta = beta;
        self.models.clear();
        self
    }

    /// The prediction-interval level a forecast must clear.
    ///
    /// ```
    /// use tower_shadow::policy::PredictivePolicy;
    ///
    /// assert_eq!(PredictivePolicy::new().confidence(0.9).config().confidence, 0.9);
    /// ```
    pub fn confidence(mut self, level: f64) -> Self {
        self.config.confidence = level;
        self
    }

    /// No update and no verdict under this many pairs.
    ///
    /// ```
    /// use tower_shadow::policy::PredictivePolicy;
    ///
    /// assert_eq!(PredictivePolicy::new().min_pairs(1000).config().min_pairs, 1000);
    /// ```
    pub fn min_pairs(mut self, pairs: u64) -> Self {
        self.config.min_pairs = pairs;
        self
    }

    /// What an anomaly does.
    ///
    /// ```
    /// use tower_shadow::policy::{PredictivePolicy, Severity};
    ///
    /// assert_eq!(PredictivePolicy::new().severity(Severity::default()).config().severity, Severity::default());
    /// ```
    pub fn severity(mut self, severity: Severity) -> Self {
        self.config.severity = severity;
        self
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::PredictivePolicy;
    ///
    /// assert_eq!(PredictivePolicy::new().config().horizon, 12);
    /// ```
    pub fn config(&self) -> &PredictiveConfig {
        &self.config
    }

    /// Checks the settings ([`PredictiveConfig::validate`]).
    ///
    /// ```
    /// use tower_shadow::policy::PredictivePolicy;
    ///
    /// assert!(PredictivePolicy::new().threshold("mismatch_rate", f64::NAN).validate().is_err());
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
        if let Err(error) = config.validate() {
            return Decision::Inconclusive {
                reason: error.to_string(),
            };
        }
        if let Some(inconclusive) = guard(snapshot, config.min_pairs, evidence) {
            return inconclusive;
        }
        self.ticks += 1;
        let z = normal_quantile(config.confidence);
        let horizon = config.horizon;
        let mut anomalies = Vec::new();
        for (name, &threshold) in &config.thresholds {
            let (value, kind) = match figure(name, snapshot) {
                Ok(v) => v,
                Err(why) => {
                    evidence.push(not_counted(name, why, threshold));
                    continue;
                }
            };
            let model = self.models.entry(name.clone()).or_insert_with(|| {
                Holt::new(config.alpha, config.beta).expect("validated smoothing")
            });
            model.update(value);
            let now = Check::at_most(name.clone(), value, threshold);
            evidence.push(now.clone());
            if now.crossed {
                anomalies.push(Anomaly::new(
                    kind,
                    format!("{name} {} > {} now", num(value), num(threshold)),
                ));
                continue;
            }
            if model.observations() < u64::from(config.warmup) {
                continue;
            }
            let lower = |h: u32| {
                let h = f64::from(h);
                Some(model.forecast(h)? - z * model.forecast_sd(h)?)
            };
            let crossing = (1..=horizon).find(|&h| lower(h).is_some_and(|l| l > threshold));
            let at_horizon = lower(horizon).unwrap_or(f64::NAN);
            evidence.push(Check {
                crossed: crossing.is_some(),
                ..Check::at_most(
                    format!("{name}_forecast_low_{horizon}"),
                    at_horizon,
                    threshold,
                )
            });
            if let Some(h) = crossing {
                let forecast = model.forecast(f64::from(h)).unwrap_or(f64::NAN);
                let trend = model.trend();
                anomalies.push(Anomaly::new(
                    kind,
                    format!(
                        "{name} forecast {} > {} in {h} tick{} (now {}, trend {}{}/tick, horizon {horizon} ticks)",
                        num(forecast),
                        num(threshold),
                        if h == 1 { "" } else { "s" },
                        num(value),
                        if trend >= 0.0 { "+" } else { "" },
                        num(trend)
                    ),
                ));
            }
        }
        if let Some(decision) = config.severity.decide(&anomalies, canary_weight) {
            return decision;
        }
        if self.ticks < u64::from(config.warmup) {
            return Decision::Inconclusive {
                reason: format!(
                    "forecasts start after {} ticks, {} so far",
                    config.warmup, self.ticks
                ),
            };
        }
        Decision::Hold
    }
}

impl RollbackPolicy for PredictivePolicy {
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
        self.models.clear();
        self.ticks = 0;
        self.last = Evidence::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(different: u64, b_mean: f64, c_mean: f64) -> HealthSnapshot {
        let mut s = HealthSnapshot {
            pairs: 1000,
            different,
            ..HealthSnapshot::default()
        };
        s.baseline_latency.count = 1000;
        s.baseline_latency.mean_ms = b_mean;
        s.candidate_latency.count = 1000;
        s.candidate_latency.mean_ms = c_mean;
        s
    }

    #[test]
    fn warms_up_then_holds_on_a_flat_series() {
        let mut p = PredictivePolicy::new();
        for tick in 1..6 {
            assert_eq!(
                p.decide(&snap(10 + tick % 3, 50.0, 50.0 + (tick % 2) as f64), 0.5),
                Decision::Inconclusive {
                    reason: format!("forecasts start after 6 ticks, {tick} so far")
                }
            );
        }
        for tick in 0..50 {
            assert_eq!(
                p.decide(&snap(10 + tick % 3, 50.0, 50.0 + (tick % 2) as f64), 0.5),
                Decision::Hold
            );
        }
        // pairs, then each figure now and forecast.
        assert_eq!(p.evidence().checks.len(), 7);
    }

    #[test]
    fn acts_on_a_rising_latency_before_the_threshold() {
        let mut p = PredictivePolicy::new();
        let mut first = None;
        for tick in 0..40 {
            let ratio = 1.0 + 0.03 * f64::from(tick);
            let d = p.decide(&snap(10, 50.0, 50.0 * ratio), 0.5);
            if d != Decision::Hold && !matches!(d, Decision::Inconclusive { .. }) {
                first = Some((ratio, d));
                break;
            }
        }
        let (ratio, d) = first.unwrap();
        assert!(ratio < 1.5, "{ratio}");
        let Decision::Shift { reason, .. } = d else {
            panic!("{d:?}")
        };
        assert!(
            reason.starts_with("mean_latency_ratio forecast"),
            "{reason}"
        );
        assert!(reason.contains("trend +0.03/tick"), "{reason}");
    }

    #[test]
    fn acts_at_once_over_the_threshold_and_skips_unusable_figures() {
        let mut p = PredictivePolicy::new();
        assert_eq!(
            p.decide(&snap(80, 50.0, 50.0), 0.5),
            Decision::Rollback {
                reason: "mismatch_rate 0.08 > 0.05 now (severity 1.0 ≥ 1.0)".into()
            }
        );
        let mut p = PredictivePolicy::new().threshold("kpi:db", 1.2);
        p.decide(&snap(10, 0.0, 50.0), 0.5);
        let names: Vec<_> = p.evidence().checks.iter().map(|c| c.name.clone()).collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("kpi:db (not counted: no values)")),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("mean_latency_ratio (not counted")),
            "{names:?}"
        );
        let mut p = PredictivePolicy::new().smoothing(0.0, 0.1);
        assert!(
            matches!(p.decide(&snap(10, 1.0, 1.0), 0.5), Decision::Inconclusive { reason } if reason.contains("alpha"))
        );
        let json = serde_json::to_string(&PredictivePolicy::new()).unwrap();
        let back: PredictivePolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), &PredictiveConfig::default());
    }
}
