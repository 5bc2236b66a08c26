use super::error::ConfigError;
use super::figures::{guard, num, DEFAULT_MIN_PAIRS};
use super::sequential::{false_alarm_rate, window_ticks};
use super::severity::{Anomaly, AnomalyKind, Severity};
use super::stats::{count_score, Cusum, Ewma, Sample};
use super::{Check, Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Adaptive thresholds: control charts (EWMA and CUSUM) on the candidate's
/// difference from the stable version, with limits set from the in-control
/// false-alarm rate instead of a hand-picked threshold.
///
/// # What is charted
///
/// Each tick turns the window into standardized figures, 0 on average and
/// with standard deviation 1 while the candidate behaves like the stable
/// version, whose own data set the scale:
///
/// | figure    | z                                                                                    | kind        |
/// |-----------|--------------------------------------------------------------------------------------|-------------|
/// | `latency` | `ln(candidate mean / baseline mean)`, over its standard error from the baseline's own spread | latency |
/// | `errors`  | the normal score ([`count_score`]) of the candidate's share of all failures, ½ in control | error rate |
/// | `kpi:<name>` (listed in `kpis`) | `(candidate mean − baseline mean) / (√2 σ)`, `σ` learned from the history of the stable version's window means (after `warmup` ticks) | kpi |
///
/// Each figure feeds an upper EWMA chart (smoothing `lambda`) and an upper
/// CUSUM (reference `cusum_k`). Their limits come from the average run
/// length: with `F` figures, each chart is designed for an in-control ARL
/// of `2F / false_alarm_rate` looks ([`ewma_limit`](super::stats::ewma_limit),
/// [`cusum_limit`](super::stats::cusum_limit)), so in control the policy
/// raises a false alarm on at most about `false_alarm_rate` of its ticks
/// (over `T` ticks: about `T × false_alarm_rate`; the default 0.0002 gives
/// about 1 % over 50 ticks).
///
/// As for [`SequentialPolicy`](super::SequentialPolicy), successive
/// snapshots overlap: tick `t` feeds the charts of phase `t mod
/// window_ticks`, so each chart sees disjoint windows (independent
/// figures, as the run-length theory needs) and the policy still looks
/// every tick.
///
/// A signal is an [`Anomaly`] weighed by [`Severity`]. With none:
/// `Inconclusive` under `min_pairs` pairs (the charts then skip the
/// window), `Hold` otherwise. The evidence holds each figure's EWMA and
/// CUSUM against their limits.
///
/// ```
/// use tower_shadow::health::{HealthSnapshot, LatencyBin};
/// use tower_shadow::policy::{AdaptivePolicy, Decision, RollbackPolicy};
///
/// let side = |ms: f64| (0..20).map(|i| LatencyBin { ms: ms + f64::from(i), count: 10 }).collect::<Vec<_>>();
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 200;
/// snapshot.latency_bins.baseline = side(50.0);
/// snapshot.latency_bins.candidate = side(50.0);
///
/// let mut policy = AdaptivePolicy::new().window_ticks(1);
/// assert_eq!(policy.decide(&snapshot, 0.4), Decision::Hold);
///
/// snapshot.latency_bins.candidate = side(56.0);
/// let first = (0..10).map(|_| policy.decide(&snapshot, 0.4)).find(|d| *d != Decision::Hold);
/// assert!(matches!(first, Some(Decision::Shift { ref reason, .. }) if reason.starts_with("latency")));
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "AdaptiveConfig", into = "AdaptiveConfig")]
pub struct AdaptivePolicy {
    config: AdaptiveConfig,
    state: Option<State>,
    last: Evidence,
}

#[derive(Clone, Debug)]
struct State {
    template: (Ewma, Cusum),
    /// Per phase, per figure.
    charts: Vec<BTreeMap<String, (Ewma, Cusum)>>,
    /// The stable version's KPI window means: count, mean, M2 (Welford).
    history: BTreeMap<String, (u64, f64, f64)>,
    tick: u64,
}

/// The settings of an [`AdaptivePolicy`], and its serde form.
///
/// ```
/// use tower_shadow::policy::AdaptiveConfig;
///
/// let config: AdaptiveConfig = serde_json::from_str(r#"{"kpis": ["db_query_ms"], "warmup": 30}"#)?;
/// assert_eq!(config.lambda, 0.2);
/// assert!(config.build().is_ok());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdaptiveConfig {
    /// The in-control false-alarm rate per tick, in `1e-9..=0.5`; default
    /// 0.0002.
    pub false_alarm_rate: f64,
    /// The EWMA smoothing, in `0.01..=1`; default 0.2.
    pub lambda: f64,
    /// The CUSUM reference, in standard deviations (half the shift it is
    /// tuned to), in `0.05..=3`; default 0.5.
    pub cusum_k: f64,
    /// Ticks per window (see the type's docs), in `1..=1024`; default 6.
    pub window_ticks: u32,
    /// Under this many pairs, no verdict; default [`DEFAULT_MIN_PAIRS`].
    pub min_pairs: u64,
    /// Custom KPIs to chart (higher is worse); default none.
    pub kpis: Vec<String>,
    /// Ticks of stable-version history a KPI chart waits for; at least 2,
    /// default 20.
    pub warmup: u32,
    /// What a signal does.
    pub severity: Severity,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            false_alarm_rate: 2e-4,
            lambda: 0.2,
            cusum_k: 0.5,
            window_ticks: 6,
            min_pairs: DEFAULT_MIN_PAIRS,
            kpis: Vec::new(),
            warmup: 20,
            severity: Severity::default(),
        }
    }
}

impl AdaptiveConfig {
    /// Checks every field, naming the first out of range.
    ///
    /// ```
    /// use tower_shadow::policy::AdaptiveConfig;
    ///
    /// let mut config = AdaptiveConfig::default();
    /// config.lambda = 0.0;
    /// assert_eq!(config.validate().unwrap_err().to_string(), "invalid policy config: lambda: must be in 0.01..=1, not 0");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        false_alarm_rate("false_alarm_rate", self.false_alarm_rate)?;
        if self.false_alarm_rate < 1e-9 {
            return Err(ConfigError::new(
                "false_alarm_rate",
                format_args!("must be at least 1e-9, not {}", self.false_alarm_rate),
            ));
        }
        super::error::in_range("lambda", self.lambda, 0.01, 1.0)?;
        super::error::in_range("cusum_k", self.cusum_k, 0.05, 3.0)?;
        window_ticks(self.window_ticks)?;
        if self.warmup < 2 {
            return Err(ConfigError::new(
                "warmup",
                format_args!("must be at least 2, not {}", self.warmup),
            ));
        }
        self.severity.validate()
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::policy::AdaptiveConfig;
    ///
    /// let mut config = AdaptiveConfig::default();
    /// config.cusum_k = f64::NAN;
    /// assert!(config.build().is_err());
    /// ```
    pub fn build(self) -> Result<AdaptivePolicy, ConfigError> {
        AdaptivePolicy::try_from(self)
    }

    /// The in-control ARL each chart is designed for, in looks.
    ///
    /// ```
    /// use tower_shadow::policy::AdaptiveConfig;
    ///
    /// // Two figures (latency, errors), two charts each, 0.0002 per tick.
    /// assert_eq!(AdaptiveConfig::default().chart_arl(), 20_000.0);
    /// ```
    pub fn chart_arl(&self) -> f64 {
        2.0 * (2 + self.kpis.len()) as f64 / self.false_alarm_rate
    }
}

impl TryFrom<AdaptiveConfig> for AdaptivePolicy {
    type Error = ConfigError;

    fn try_from(config: AdaptiveConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::default()
        })
    }
}

impl From<AdaptivePolicy> for AdaptiveConfig {
    fn from(policy: AdaptivePolicy) -> Self {
        policy.config
    }
}

impl AdaptivePolicy {
    /// The defaults (see [`AdaptiveConfig`]).
    ///
    /// ```
    /// use tower_shadow::policy::{AdaptiveConfig, AdaptivePolicy};
    ///
    /// assert_eq!(AdaptivePolicy::new().config(), &AdaptiveConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The in-control false-alarm rate per tick. Builder values are checked
    /// on each decision; while one is out of range the decision is
    /// `Inconclusive`, naming it. Each builder call starts the charts over.
    ///
    /// ```
    /// use tower_shadow::policy::AdaptivePolicy;
    ///
    /// assert_eq!(AdaptivePolicy::new().false_alarm_rate(1e-3).config().false_alarm_rate, 1e-3);
    /// ```
    pub fn false_alarm_rate(mut self, rate: f64) -> Self {
        self.config.false_alarm_rate = rate;
        self.forget()
    }

    /// Ticks per window.
    ///
    /// ```
    /// use tower_shadow::policy::AdaptivePolicy;
    ///
    /// assert_eq!(AdaptivePolicy::new().window_ticks(3).config().window_ticks, 3);
    /// ```
    pub fn window_ticks(mut self, ticks: u32) -> Self {
        self.config.window_ticks = ticks;
        self.forget()
    }

    /// Charts this custom KPI too (higher is worse).
    ///
    /// ```
    /// use tower_shadow::policy::AdaptivePolicy;
    ///
    /// assert_eq!(AdaptivePolicy::new().kpi("queue_depth").config().kpis, ["queue_depth"]);
    /// ```
    pub fn kpi(mut self, name: impl Into<String>) -> Self {
        self.config.kpis.push(name.into());
        self.forget()
    }

    /// The EWMA smoothing and the CUSUM reference.
    ///
    /// ```
    /// use tower_shadow::policy::AdaptivePolicy;
    ///
    /// let policy = AdaptivePolicy::new().charts(0.1, 0.25);
    /// assert_eq!((policy.config().lambda, policy.config().cusum_k), (0.1, 0.25));
    /// ```
    pub fn charts(mut self, lambda: f64, cusum_k: f64) -> Self {
        self.config.lambda = lambda;
        self.config.cusum_k = cusum_k;
        self.forget()
    }

    /// What a signal does.
    ///
    /// ```
    /// use tower_shadow::policy::{AdaptivePolicy, Severity};
    ///
    /// let policy = AdaptivePolicy::new().severity(Severity::default());
    /// assert_eq!(policy.config().severity, Severity::default());
    /// ```
    pub fn severity(mut self, severity: Severity) -> Self {
        self.config.severity = severity;
        self
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::AdaptivePolicy;
    ///
    /// assert_eq!(AdaptivePolicy::new().config().window_ticks, 6);
    /// ```
    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    /// Checks the settings ([`AdaptiveConfig::validate`]).
    ///
    /// ```
    /// use tower_shadow::policy::AdaptivePolicy;
    ///
    /// assert!(AdaptivePolicy::new().false_alarm_rate(0.0).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }

    fn forget(mut self) -> Self {
        self.state = None;
        self
    }

    fn judge(
        &mut self,
        snapshot: &HealthSnapshot,
        canary_weight: f64,
        evidence: &mut Evidence,
    ) -> Decision {
        if let Err(error) = self.config.validate() {
            return Decision::Inconclusive {
                reason: error.to_string(),
            };
        }
        let config = &self.config;
        let n = config.window_ticks as usize;
        let state = match &mut self.state {
            Some(state) => state,
            None => {
                let arl = config.chart_arl();
                let (Some(ewma), Some(cusum)) = (
                    Ewma::new(config.lambda, arl),
                    Cusum::new(config.cusum_k, arl),
                ) else {
                    return Decision::Inconclusive {
                        reason: format!("no control limits for an ARL of {} looks", num(arl)),
                    };
                };
                self.state.insert(State {
                    template: (ewma, cusum),
                    charts: vec![BTreeMap::new(); n],
                    history: BTreeMap::new(),
                    tick: 0,
                })
            }
        };
        let phase = (state.tick % n as u64) as usize;
        state.tick += 1;
        if let Some(inconclusive) = guard(snapshot, config.min_pairs, evidence) {
            return inconclusive;
        }

        let mut figures: Vec<(String, AnomalyKind, f64, String)> = Vec::new();
        let (b, c) = (
            Sample::from_bins(
                snapshot
                    .latency_bins
                    .baseline
                    .iter()
                    .map(|x| (x.ms, x.count)),
            ),
            Sample::from_bins(
                snapshot
                    .latency_bins
                    .candidate
                    .iter()
                    .map(|x| (x.ms, x.count)),
            ),
        );
        if let (Some(mb), Some(mc), Some(vb)) = (b.mean(), c.mean(), b.variance()) {
            if mb > 0.0 && mc > 0.0 && vb > 0.0 {
                let se = (vb / (mb * mb) * (1.0 / b.len() as f64 + 1.0 / c.len() as f64)).sqrt();
                let z = (mc / mb).ln() / se;
                figures.push((
                    "latency".into(),
                    AnomalyKind::Latency,
                    z,
                    format!("mean {} ms vs {} ms", num(mc), num(mb)),
                ));
            }
        }
        let pairs = snapshot.pairs;
        let (be, ce) = (
            snapshot.baseline_errors.min(pairs),
            snapshot.candidate_errors.min(pairs),
        );
        figures.push((
            "errors".into(),
            AnomalyKind::ErrorRate,
            count_score(ce, be.saturating_add(ce), 0.5),
            format!("{ce} candidate vs {be} baseline errors"),
        ));
        for name in &config.kpis {
            let Some(kpi) = snapshot.kpis.get(name) else {
                continue;
            };
            if kpi.baseline.count == 0 || !kpi.baseline.mean.is_finite() {
                continue;
            }
            let (count, mean, m2) = state.history.entry(name.clone()).or_insert((0, 0.0, 0.0));
            let learned = (*count >= u64::from(config.warmup))
                .then(|| (m2.max(0.0) / (*count - 1) as f64).sqrt());
            // Learn from the stable version only, after reading: the current
            // window is judged against the history before it.
            *count += 1;
            let delta = kpi.baseline.mean - *mean;
            *mean += delta / *count as f64;
            *m2 += delta * (kpi.baseline.mean - *mean);
            if let Some(sigma) = learned.filter(|s| *s > 0.0) {
                if kpi.candidate.count > 0 && kpi.candidate.mean.is_finite() {
                    let z = (kpi.candidate.mean - kpi.baseline.mean)
                        / (std::f64::consts::SQRT_2 * sigma);
                    figures.push((
                        format!("kpi:{name}"),
                        AnomalyKind::Kpi,
                        z,
                        format!(
                            "{} vs {}, stable σ {}",
                            num(kpi.candidate.mean),
                            num(kpi.baseline.mean),
                            num(sigma)
                        ),
                    ));
                }
            }
        }

        let mut anomalies = Vec::new();
        for (name, kind, z, detail) in figures {
            let (ewma, cusum) = state.charts[phase]
                .entry(name.clone())
                .or_insert_with(|| state.template.clone());
            let e = ewma.update(z);
            let s = cusum.update(z);
            evidence.push(Check::at_most(
                format!("{name}_ewma"),
                ewma.value(),
                ewma.limit(),
            ));
            evidence.push(Check::at_most(
                format!("{name}_cusum"),
                cusum.value(),
                cusum.limit(),
            ));
            if e || s {
                let (chart, value, limit) = if s {
                    ("CUSUM", cusum.value(), cusum.limit())
                } else {
                    ("EWMA", ewma.value(), ewma.limit())
                };
                anomalies.push(Anomaly::new(
                    kind,
                    format!(
                        "{name} {chart} {} > limit {} (z {} this window: {detail})",
                        num(value),
                        num(limit),
                        num(z)
                    ),
                ));
            }
        }
        config
            .severity
            .decide(&anomalies, canary_weight)
            .unwrap_or(Decision::Hold)
    }
}

impl RollbackPolicy for AdaptivePolicy {
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
        if let Some(state) = &mut self.state {
            for phase in &mut state.charts {
                phase.clear();
            }
            state.history.clear();
            state.tick = 0;
        }
        self.last = Evidence::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{KpiSnapshot, KpiSummary, LatencyBin};

    fn snap(shift: f64, b_err: u64, c_err: u64) -> HealthSnapshot {
        let side = |ms: f64| {
            (0..20)
                .map(|i| LatencyBin {
                    ms: ms + f64::from(i),
                    count: 10,
                })
                .collect::<Vec<_>>()
        };
        let mut s = HealthSnapshot {
            pairs: 200,
            baseline_errors: b_err,
            candidate_errors: c_err,
            ..HealthSnapshot::default()
        };
        s.latency_bins.baseline = side(50.0);
        s.latency_bins.candidate = side(50.0 + shift);
        s
    }

    #[test]
    fn holds_in_control_and_signals_errors() {
        let mut p = AdaptivePolicy::new().window_ticks(2);
        for _ in 0..30 {
            assert_eq!(p.decide(&snap(0.0, 3, 3), 0.5), Decision::Hold);
        }
        assert_eq!(p.evidence().checks.len(), 5);
        let first = (0..20)
            .map(|_| p.decide(&snap(0.0, 1, 12), 0.5))
            .find(|d| *d != Decision::Hold);
        let Some(Decision::Rollback { reason }) = first else {
            panic!("{first:?}")
        };
        assert!(reason.starts_with("errors "), "{reason}");
        assert!(
            reason.contains("12 candidate vs 1 baseline errors"),
            "{reason}"
        );
        p.reset();
        assert_eq!(p.decide(&snap(0.0, 3, 3), 0.5), Decision::Hold);
    }

    #[test]
    fn learns_kpi_limits_from_the_stable_version() {
        let mut p = AdaptivePolicy::new().window_ticks(1).kpi("db_ms");
        let kpi = |b: f64, c: f64| {
            let mut s = snap(0.0, 0, 0);
            let side = |mean| KpiSummary {
                count: 100,
                mean,
                max: mean,
            };
            s.kpis.insert(
                "db_ms".into(),
                KpiSnapshot {
                    baseline: side(b),
                    candidate: side(c),
                },
            );
            s
        };
        // The stable version wanders between 9 and 11.
        for i in 0..20 {
            let b = 10.0 + if i % 2 == 0 { 1.0 } else { -1.0 };
            assert_eq!(p.decide(&kpi(b, b), 0.5), Decision::Hold);
        }
        assert_eq!(p.decide(&kpi(10.0, 10.5), 0.5), Decision::Hold);
        let first = (0..10)
            .map(|_| p.decide(&kpi(10.0, 16.0), 0.5))
            .find(|d| *d != Decision::Hold);
        assert!(
            matches!(&first, Some(Decision::Shift { reason, .. }) if reason.starts_with("kpi:db_ms")),
            "{first:?}"
        );
    }

    #[test]
    fn is_inconclusive_on_little_data_or_bad_settings() {
        let mut p = AdaptivePolicy::new();
        assert_eq!(
            p.decide(&HealthSnapshot::default(), 0.5),
            Decision::Inconclusive {
                reason: "0 pairs < 100 needed".into()
            }
        );
        let mut p = AdaptivePolicy::new().charts(f64::NAN, 0.5);
        assert!(matches!(
            p.decide(&snap(0.0, 0, 0), 0.5),
            Decision::Inconclusive { reason } if reason.contains("lambda")
        ));
        let json = serde_json::to_string(&AdaptivePolicy::new()).unwrap();
        let back: AdaptivePolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), &AdaptiveConfig::default());
        assert!(serde_json::from_str::<AdaptivePolicy>(r#"{"warmup": 1}"#).is_err());
    }
}
