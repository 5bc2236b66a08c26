use super::error::{in_range, ConfigError};
use super::figures::{guard, num, DEFAULT_MIN_PAIRS};
use super::severity::{Anomaly, AnomalyKind, Severity};
use super::stats::{MixtureSprt, SequentialTest};
use super::{Check, Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use serde::{Deserialize, Serialize};

/// Always-valid sequential tests on the mismatch rate and the error rate:
/// the policy may look every tick, and the chance that it ever raises a
/// false alarm stays under `false_alarm_rate`, however long the rollout.
///
/// # The tests
///
/// - **Mismatch**: each pair is a Bernoulli trial, "differs" or not. `H0`:
///   the mismatch rate is at most `max_mismatch_rate`. A
///   [`MixtureSprt`] (mixture sequential probability ratio test) rejects it
///   as soon as the evidence is strong enough.
/// - **Errors**: each failure, on either side, is a trial "was it the
///   candidate's?". With the same pairs on both sides, `H0` (the candidate
///   fails at most `error_ratio` times as often as the baseline) says a
///   failure is the candidate's with probability at most
///   `error_ratio / (1 + error_ratio)`. Failures the two sides share (a
///   downstream outage) count once each side and cancel out; a baseline
///   with no errors at all is no obstacle (every failure is the
///   candidate's).
///
/// Each test's p-value is always valid (Johari et al. 2017, "Peeking at
/// A/B tests"): the running minimum of `1/Λ`, `Λ` the mixture likelihood
/// ratio, is below `α` with probability at most `α` under `H0`, at any
/// stopping time. `false_alarm_rate` is split evenly between the tests.
///
/// # The sliding window
///
/// A [`HealthSnapshot`] covers a sliding window, so two successive
/// snapshots share most of their pairs and cannot simply be added. The
/// policy keeps `window_ticks` interleaved streams: tick `t` feeds stream
/// `t mod window_ticks`. When `window_ticks × interval ≥ window` (the
/// defaults: a 60 s window, a 10 s interval, 6 ticks), the snapshots a
/// stream receives cover disjoint stretches of time, so each stream's
/// cumulative counts are of distinct pairs and its test is exact. Each
/// stream tests at `α / window_ticks` (a union bound), so the whole
/// policy's false-alarm rate stays under `α` while it looks every tick.
/// A shorter `window_ticks` than the window needs makes streams double
/// count pairs and voids the bound; a longer one only wastes some power.
///
/// # Decisions
///
/// A rejected test is an [`Anomaly`] weighed by [`Severity`] (by default
/// either one rolls back). Rejections are final until
/// [`reset`](RollbackPolicy::reset). With no rejection: `Inconclusive`
/// under `min_pairs` pairs in the snapshot, `Hold` otherwise. The evidence
/// holds the `pairs` check and each test's always-valid p-value (adjusted
/// for the streams) against its share of `false_alarm_rate`.
///
/// ```
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{Decision, RollbackPolicy, SequentialPolicy};
///
/// let mut policy = SequentialPolicy::new().window_ticks(1); // snapshots never overlap here
/// let mut healthy = HealthSnapshot::default();
/// healthy.pairs = 500;
/// healthy.different = 5;
/// for _ in 0..10 {
///     assert_eq!(policy.decide(&healthy, 0.1), Decision::Hold);
/// }
///
/// let mut policy = SequentialPolicy::new().window_ticks(1);
/// let mut bad = HealthSnapshot::default();
/// bad.pairs = 500;
/// bad.different = 20;
/// let decisions: Vec<_> = (0..4).map(|_| policy.decide(&bad, 0.1)).collect();
/// assert!(matches!(&decisions[3], Decision::Rollback { reason } if reason.starts_with("mismatch rate 4.0 % > 1.0 %")));
/// ```
///
/// Loaded from JSON:
///
/// ```
/// use tower_shadow::policy::SequentialPolicy;
///
/// let policy: SequentialPolicy = serde_json::from_str(
///     r#"{"false_alarm_rate": 0.001, "max_mismatch_rate": 0.002, "severity": {"mismatch": 0.5}}"#,
/// )?;
/// assert_eq!(policy.config().window_ticks, 6);
/// assert!(serde_json::from_str::<SequentialPolicy>(r#"{"error_ratio": 0.5}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "SequentialConfig", into = "SequentialConfig")]
pub struct SequentialPolicy {
    config: SequentialConfig,
    streams: Vec<Stream>,
    tick: u64,
    last: Evidence,
}

#[derive(Clone, Debug)]
struct Stream {
    mismatch: Option<SequentialTest>,
    errors: SequentialTest,
}

/// The settings of a [`SequentialPolicy`], and its serde form.
///
/// ```
/// use tower_shadow::policy::SequentialConfig;
///
/// let mut config = SequentialConfig::default();
/// config.max_mismatch_rate = None; // test errors only
/// assert!(config.build().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SequentialConfig {
    /// The bound on the chance of any false alarm over the whole rollout,
    /// in `0..=0.5` (0 excluded); default 0.01.
    pub false_alarm_rate: f64,
    /// The mismatch rate tolerated: `H0` of the mismatch test. In `0..1`
    /// (0 excluded); `None` turns the test off; default 1 %.
    pub max_mismatch_rate: Option<f64>,
    /// How many times the baseline's error rate the candidate's may be:
    /// `H0` of the error test. Finite, at least 1; default 1.
    pub error_ratio: f64,
    /// Ticks per window: the window length over the rollout interval,
    /// rounded up. In `1..=1024`; default 6 (60 s / 10 s).
    pub window_ticks: u32,
    /// Under this many pairs in the snapshot, and with no rejection, the
    /// decision is `Inconclusive`; default [`DEFAULT_MIN_PAIRS`].
    pub min_pairs: u64,
    /// What a rejection does.
    pub severity: Severity,
}

impl Default for SequentialConfig {
    fn default() -> Self {
        Self {
            false_alarm_rate: 0.01,
            max_mismatch_rate: Some(0.01),
            error_ratio: 1.0,
            window_ticks: 6,
            min_pairs: DEFAULT_MIN_PAIRS,
            severity: Severity::default(),
        }
    }
}

/// Checks a false-alarm rate: in `0..=0.5`, 0 excluded.
pub(super) fn false_alarm_rate(field: &str, value: f64) -> Result<(), ConfigError> {
    in_range(field, value, 0.0, 0.5)?;
    if value == 0.0 {
        return Err(ConfigError::new(field, "must be above 0, not 0"));
    }
    Ok(())
}

/// Checks a `window_ticks`: in `1..=1024`.
pub(super) fn window_ticks(value: u32) -> Result<(), ConfigError> {
    if (1..=1024).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(
            "window_ticks",
            format_args!("must be in 1..=1024, not {value}"),
        ))
    }
}

impl SequentialConfig {
    /// Checks every field, naming the first out of range.
    ///
    /// ```
    /// use tower_shadow::policy::SequentialConfig;
    ///
    /// let mut config = SequentialConfig::default();
    /// config.window_ticks = 0;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid policy config: window_ticks: must be in 1..=1024, not 0"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        false_alarm_rate("false_alarm_rate", self.false_alarm_rate)?;
        if let Some(rate) = self.max_mismatch_rate {
            if !(rate > 0.0 && rate < 1.0) {
                return Err(ConfigError::new(
                    "max_mismatch_rate",
                    format_args!("must be in 0..1 (both excluded), not {rate}"),
                ));
            }
        }
        if !(self.error_ratio >= 1.0 && self.error_ratio.is_finite()) {
            return Err(ConfigError::new(
                "error_ratio",
                format_args!("must be a finite number ≥ 1, not {}", self.error_ratio),
            ));
        }
        window_ticks(self.window_ticks)?;
        self.severity.validate()
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::policy::SequentialConfig;
    ///
    /// let mut config = SequentialConfig::default();
    /// config.false_alarm_rate = 0.0;
    /// assert!(config.build().unwrap_err().to_string().contains("false_alarm_rate"));
    /// ```
    pub fn build(self) -> Result<SequentialPolicy, ConfigError> {
        SequentialPolicy::try_from(self)
    }

    fn tests(&self) -> u32 {
        1 + u32::from(self.max_mismatch_rate.is_some())
    }
}

impl TryFrom<SequentialConfig> for SequentialPolicy {
    type Error = ConfigError;

    fn try_from(config: SequentialConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::default()
        })
    }
}

impl From<SequentialPolicy> for SequentialConfig {
    fn from(policy: SequentialPolicy) -> Self {
        policy.config
    }
}

impl SequentialPolicy {
    /// The defaults: 1 % false alarms, mismatches up to 1 %, errors up to
    /// the baseline's, 6 ticks per window.
    ///
    /// ```
    /// use tower_shadow::policy::{SequentialConfig, SequentialPolicy};
    ///
    /// assert_eq!(SequentialPolicy::new().config(), &SequentialConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The bound on the chance of any false alarm (`0..=0.5`). Builder
    /// values are checked on each decision: while one is out of range the
    /// decision is `Inconclusive`, naming it. Each builder call starts the
    /// tests over.
    ///
    /// ```
    /// use tower_shadow::policy::SequentialPolicy;
    ///
    /// assert_eq!(SequentialPolicy::new().false_alarm_rate(0.05).config().false_alarm_rate, 0.05);
    /// ```
    pub fn false_alarm_rate(mut self, rate: f64) -> Self {
        self.config.false_alarm_rate = rate;
        self.forget()
    }

    /// The tolerated mismatch rate; `None` turns the mismatch test off.
    ///
    /// ```
    /// use tower_shadow::policy::SequentialPolicy;
    ///
    /// let policy = SequentialPolicy::new().max_mismatch_rate(Some(0.002));
    /// assert_eq!(policy.config().max_mismatch_rate, Some(0.002));
    /// ```
    pub fn max_mismatch_rate(mut self, rate: Option<f64>) -> Self {
        self.config.max_mismatch_rate = rate;
        self.forget()
    }

    /// How many times the baseline's error rate the candidate's may be
    /// (at least 1).
    ///
    /// ```
    /// use tower_shadow::policy::SequentialPolicy;
    ///
    /// assert_eq!(SequentialPolicy::new().error_ratio(2.0).config().error_ratio, 2.0);
    /// ```
    pub fn error_ratio(mut self, ratio: f64) -> Self {
        self.config.error_ratio = ratio;
        self.forget()
    }

    /// Ticks per window (see the type's docs).
    ///
    /// ```
    /// use tower_shadow::policy::SequentialPolicy;
    ///
    /// assert_eq!(SequentialPolicy::new().window_ticks(12).config().window_ticks, 12);
    /// ```
    pub fn window_ticks(mut self, ticks: u32) -> Self {
        self.config.window_ticks = ticks;
        self.forget()
    }

    /// `Inconclusive` under this many pairs, unless a test already rejects.
    ///
    /// ```
    /// use tower_shadow::health::HealthSnapshot;
    /// use tower_shadow::policy::{Decision, RollbackPolicy, SequentialPolicy};
    ///
    /// let mut policy = SequentialPolicy::new().min_pairs(50);
    /// let mut snapshot = HealthSnapshot::default();
    /// snapshot.pairs = 12;
    /// assert_eq!(
    ///     policy.decide(&snapshot, 0.1),
    ///     Decision::Inconclusive { reason: "12 pairs < 50 needed".into() }
    /// );
    /// ```
    pub fn min_pairs(mut self, pairs: u64) -> Self {
        self.config.min_pairs = pairs;
        self
    }

    /// What a rejection does.
    ///
    /// ```
    /// use tower_shadow::policy::{SequentialPolicy, Severity};
    ///
    /// let mut severity = Severity::default();
    /// severity.mismatch = 0.5; // a shift down, not a rollback
    /// assert_eq!(SequentialPolicy::new().severity(severity).config().severity.mismatch, 0.5);
    /// ```
    pub fn severity(mut self, severity: Severity) -> Self {
        self.config.severity = severity;
        self
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::SequentialPolicy;
    ///
    /// assert_eq!(SequentialPolicy::new().config().false_alarm_rate, 0.01);
    /// ```
    pub fn config(&self) -> &SequentialConfig {
        &self.config
    }

    /// Checks the settings ([`SequentialConfig::validate`]).
    ///
    /// ```
    /// use tower_shadow::policy::SequentialPolicy;
    ///
    /// assert!(SequentialPolicy::new().error_ratio(f64::NAN).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }

    fn forget(mut self) -> Self {
        self.streams.clear();
        self.tick = 0;
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
        if self.streams.len() != n {
            let ratio = config.error_ratio;
            let stream = Stream {
                mismatch: config
                    .max_mismatch_rate
                    .and_then(MixtureSprt::new)
                    .map(SequentialTest::new),
                errors: SequentialTest::new(
                    MixtureSprt::new(ratio / (1.0 + ratio)).expect("0 < θ0 < 1 for a ratio ≥ 1"),
                ),
            };
            self.streams = vec![stream; n];
            self.tick = 0;
        }
        let pairs = snapshot.pairs;
        let stream = &mut self.streams[(self.tick % n as u64) as usize];
        self.tick += 1;
        if let Some(test) = &mut stream.mismatch {
            test.add(snapshot.different.min(pairs), pairs);
        }
        let (b, c) = (
            snapshot.baseline_errors.min(pairs),
            snapshot.candidate_errors.min(pairs),
        );
        stream.errors.add(c, b.saturating_add(c));

        let alpha = config.false_alarm_rate / f64::from(config.tests());
        let scale = n as f64;
        let mut anomalies = Vec::new();
        let below = guard(snapshot, config.min_pairs, evidence);

        if let Some(p0) = config.max_mismatch_rate {
            let best = self
                .streams
                .iter()
                .filter_map(|s| s.mismatch.as_ref())
                .min_by(|x, y| x.p_value().total_cmp(&y.p_value()));
            if let Some(test) = best {
                let p = (test.p_value() * scale).min(1.0);
                evidence.push(Check::at_least("mismatch_p_value", p, alpha));
                if p < alpha {
                    let (s, trials) = test.counts();
                    anomalies.push(Anomaly::new(
                        AnomalyKind::Mismatch,
                        format!(
                            "mismatch rate {} % > {} % ({s} of {trials} pairs, always-valid p {} < {})",
                            pct(s, trials),
                            num(p0 * 100.0),
                            sci(p),
                            num(alpha)
                        ),
                    ));
                }
            }
        }
        let best = self
            .streams
            .iter()
            .map(|s| &s.errors)
            .min_by(|x, y| x.p_value().total_cmp(&y.p_value()))
            .expect("at least one stream");
        let p = (best.p_value() * scale).min(1.0);
        evidence.push(Check::at_least("error_p_value", p, alpha));
        if p < alpha {
            let (c, events) = best.counts();
            anomalies.push(Anomaly::new(
                AnomalyKind::ErrorRate,
                format!(
                    "candidate errors {c} vs baseline {} over the same pairs, more than {}× (always-valid p {} < {})",
                    events - c,
                    num(config.error_ratio),
                    sci(p),
                    num(alpha)
                ),
            ));
        }
        if let Some(decision) = config.severity.decide(&anomalies, canary_weight) {
            return decision;
        }
        below.unwrap_or(Decision::Hold)
    }
}

/// `s / n` in percent, one decimal.
fn pct(s: u64, n: u64) -> String {
    if n == 0 {
        "0.0".into()
    } else {
        format!("{:.1}", s as f64 * 100.0 / n as f64)
    }
}

/// A small probability, readably: `0.0031` or `2.1e-7`.
pub(super) fn sci(p: f64) -> String {
    if p >= 1e-4 || p == 0.0 {
        num(p)
    } else {
        format!("{p:.1e}")
    }
}

impl RollbackPolicy for SequentialPolicy {
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
        self.streams.clear();
        self.tick = 0;
        self.last = Evidence::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(pairs: u64, different: u64, b: u64, c: u64) -> HealthSnapshot {
        HealthSnapshot {
            pairs,
            different,
            baseline_errors: b,
            candidate_errors: c,
            ..HealthSnapshot::default()
        }
    }

    #[test]
    fn holds_on_healthy_traffic_and_is_inconclusive_on_little() {
        let mut p = SequentialPolicy::new();
        assert_eq!(
            p.decide(&snap(0, 0, 0, 0), 0.1),
            Decision::Inconclusive {
                reason: "0 pairs < 100 needed".into()
            }
        );
        for _ in 0..50 {
            assert_eq!(p.decide(&snap(1200, 12, 2, 2), 0.1), Decision::Hold);
        }
        let evidence = p.evidence();
        assert_eq!(evidence.checks.len(), 3);
        assert_eq!(evidence.crossed().count(), 0);
    }

    #[test]
    fn rejects_a_mismatch_rise_and_stays_rejected() {
        let mut p = SequentialPolicy::new().window_ticks(1);
        let d = p.decide(&snap(2000, 60, 0, 0), 0.5);
        let Decision::Rollback { reason } = d else {
            panic!("{d:?}")
        };
        assert!(
            reason.starts_with("mismatch rate 3.0 % > 1.0 % (60 of 2000 pairs"),
            "{reason}"
        );
        assert!(p.evidence().checks[1].crossed);
        assert!(matches!(
            p.decide(&snap(2000, 0, 0, 0), 0.5),
            Decision::Rollback { .. }
        ));
        p.reset();
        assert_eq!(p.decide(&snap(2000, 0, 0, 0), 0.5), Decision::Hold);
    }

    #[test]
    fn catches_sparse_errors_against_a_clean_baseline() {
        let mut p = SequentialPolicy::new().window_ticks(1);
        let mut decisions = (0..10).map(|_| p.decide(&snap(500, 0, 0, 3), 0.5));
        let hit = decisions.position(|d| matches!(d, Decision::Rollback { .. }));
        assert!(hit.is_some());
        // Shared failures (both sides) are no evidence.
        let mut p = SequentialPolicy::new().window_ticks(1);
        for _ in 0..100 {
            assert_eq!(p.decide(&snap(500, 0, 40, 40), 0.5), Decision::Hold);
        }
    }

    #[test]
    fn counts_are_clamped_and_streams_interleave() {
        let mut p = SequentialPolicy::new().window_ticks(3);
        // More differences than pairs count as all pairs differing.
        p.decide(&snap(100, 1000, 1000, 0), 0.5);
        assert_eq!(p.streams[0].mismatch.as_ref().unwrap().counts(), (100, 100));
        assert_eq!(p.streams[0].errors.counts(), (0, 100));
        p.decide(&snap(10, 0, 0, 0), 0.5);
        assert_eq!(p.streams[1].errors.counts(), (0, 0));
        assert_eq!(p.streams[1].mismatch.as_ref().unwrap().counts(), (0, 10));
    }

    #[test]
    fn weighs_by_severity_and_refuses_bad_settings() {
        let severity = Severity {
            mismatch: 0.5,
            ..Severity::default()
        };
        let mut p = SequentialPolicy::new().window_ticks(1).severity(severity);
        assert!(matches!(
            p.decide(&snap(2000, 100, 0, 0), 0.5),
            Decision::Shift { canary_weight, .. } if canary_weight == 0.25
        ));
        let mut p = SequentialPolicy::new().max_mismatch_rate(Some(1.0));
        assert_eq!(
            p.decide(&snap(2000, 100, 0, 0), 0.5),
            Decision::Inconclusive {
                reason: "invalid policy config: max_mismatch_rate: must be in 0..1 (both excluded), not 1".into()
            }
        );
        assert!(SequentialPolicy::new().error_ratio(0.5).validate().is_err());
        assert!(SequentialPolicy::new()
            .false_alarm_rate(0.6)
            .validate()
            .is_err());
        let json = serde_json::to_string(&SequentialPolicy::new()).unwrap();
        let back: SequentialPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), &SequentialConfig::default());
    }
}
