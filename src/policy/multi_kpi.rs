use super::error::{above, in_range, ConfigError};
use super::figures::{
    describe, excess_error_rate, guard, kpi_ratio, mismatch_rate, not_counted, p99_ratio,
    DEFAULT_MIN_PAIRS,
};
use super::{Check, Decision, Evidence, RollbackPolicy};
use crate::health::HealthSnapshot;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Watches several KPIs, each with its own warning threshold, and rolls
/// back when more than `max_warnings` of them warn at once.
///
/// The KPIs, with their names in the evidence:
///
/// - `p99_ratio`: candidate p99 latency over baseline p99, the baseline
///   counted as at least [`P99_FLOOR_MS`](super::P99_FLOOR_MS); warns over
///   1.5 by default;
/// - `excess_error_rate`: candidate errors beyond the baseline's, per pair;
///   warns over 0.01 by default;
/// - `mismatch_rate`: pairs with a real difference, per pair; warns over
///   0.05 by default;
/// - `kpi:<name>`, one per [`kpi`](Self::kpi): the candidate's mean of a
///   custom KPI the application reports for each side
///   ([`Health::record_kpi`](crate::health::Health::record_kpi)) over the
///   baseline's mean, e.g. database query time.
///
/// A KPI that cannot be measured — no latencies or no values on a side, a
/// baseline mean of 0 or less — is not counted, and the evidence says so
/// (`kpi:db_ms (not counted: no baseline values)`).
///
/// | condition                                   | decision       |
/// |---------------------------------------------|----------------|
/// | fewer than `min_pairs` pairs (default 100)  | `Inconclusive` |
/// | more than `max_warnings` KPIs warn (default 1) | `Rollback`  |
/// | otherwise                                   | `Hold`         |
///
/// With the default `max_warnings` of 1, one KPI over its threshold is a
/// warning on record; two at once is a pattern.
///
/// ```
/// use tower_shadow::health::{HealthSnapshot, KpiSnapshot, KpiSummary};
/// use tower_shadow::policy::{Decision, MultiKpiPolicy, RollbackPolicy};
///
/// let mut policy = MultiKpiPolicy::new().kpi("db_query_ms", 1.5).max_warnings(1);
///
/// let mut snapshot = HealthSnapshot::default();
/// snapshot.pairs = 1000;
/// snapshot.different = 80; // mismatch rate 0.08 > 0.05
/// let side = |mean| KpiSummary { count: 200, mean, max: mean * 3.0 };
/// snapshot.kpis.insert("db_query_ms".into(), KpiSnapshot { baseline: side(8.0), candidate: side(9.0) });
///
/// // One warning: hold.
/// assert_eq!(policy.decide(&snapshot, 0.2), Decision::Hold);
/// assert_eq!(policy.evidence().crossed().count(), 1);
///
/// // Two: roll back.
/// snapshot.kpis.get_mut("db_query_ms").unwrap().candidate = side(14.0);
/// assert_eq!(
///     policy.decide(&snapshot, 0.2),
///     Decision::Rollback {
///         reason: "2 KPIs warn, more than 1 allowed: mismatch_rate 0.08 > 0.05; kpi:db_query_ms 1.75 > 1.5".into()
///     }
/// );
/// ```
///
/// Loaded from JSON (`null` turns a built-in KPI off):
///
/// ```
/// use tower_shadow::policy::MultiKpiPolicy;
///
/// let policy: MultiKpiPolicy = serde_json::from_str(r#"{
///     "mismatch_rate": null,
///     "kpis": {"db_query_ms": 1.3, "cache_miss_rate": 1.2},
///     "max_warnings": 0
/// }"#)?;
/// assert_eq!(policy.config().mismatch_rate, None);
/// assert_eq!(policy.config().latency_p99_ratio, Some(1.5));
///
/// let bad = serde_json::from_str::<MultiKpiPolicy>(r#"{"kpis": {"db_query_ms": 0}}"#);
/// assert!(bad.unwrap_err().to_string().contains("kpis.db_query_ms: must be a finite number above 0, not 0"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "MultiKpiConfig", into = "MultiKpiConfig")]
pub struct MultiKpiPolicy {
    config: MultiKpiConfig,
    last: Evidence,
}

/// The settings of a [`MultiKpiPolicy`], and its serde form.
///
/// Every field may be left out of the JSON; the defaults are those of
/// [`MultiKpiPolicy::new`]. A built-in KPI set to `None` (`null`) is not
/// watched.
///
/// ```
/// use tower_shadow::policy::MultiKpiConfig;
///
/// let mut config = MultiKpiConfig::default();
/// config.kpis.insert("db_query_ms".into(), 1.5);
/// config.error_rate = None;
/// let policy = config.build()?;
/// assert_eq!(policy.config().kpis["db_query_ms"], 1.5);
/// # Ok::<(), tower_shadow::policy::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MultiKpiConfig {
    /// Warn over this p99 ratio; above 0, default 1.5.
    pub latency_p99_ratio: Option<f64>,
    /// Warn over this excess error rate; in `0..=1`, default 0.01.
    pub error_rate: Option<f64>,
    /// Warn over this mismatch rate; in `0..=1`, default 0.05.
    pub mismatch_rate: Option<f64>,
    /// Custom KPIs: warn when the candidate's mean is over this multiple of
    /// the baseline's (above 0). None by default.
    pub kpis: BTreeMap<String, f64>,
    /// Roll back when more KPIs than this warn; default 1.
    pub max_warnings: usize,
    /// No verdict on fewer pairs than this; default [`DEFAULT_MIN_PAIRS`].
    pub min_pairs: u64,
}

impl Default for MultiKpiConfig {
    fn default() -> Self {
        Self {
            latency_p99_ratio: Some(1.5),
            error_rate: Some(0.01),
            mismatch_rate: Some(0.05),
            kpis: BTreeMap::new(),
            max_warnings: 1,
            min_pairs: DEFAULT_MIN_PAIRS,
        }
    }
}

impl MultiKpiConfig {
    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiConfig;
    ///
    /// let mut config = MultiKpiConfig::default();
    /// config.error_rate = Some(5.0);
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid policy config: error_rate: must be in 0..=1, not 5"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(ratio) = self.latency_p99_ratio {
            above("latency_p99_ratio", ratio, 0.0)?;
        }
        if let Some(rate) = self.error_rate {
            in_range("error_rate", rate, 0.0, 1.0)?;
        }
        if let Some(rate) = self.mismatch_rate {
            in_range("mismatch_rate", rate, 0.0, 1.0)?;
        }
        for (name, &ratio) in &self.kpis {
            if name.is_empty() {
                return Err(ConfigError::new("kpis", "a KPI name must not be empty"));
            }
            above(&format!("kpis.{name}"), ratio, 0.0)?;
        }
        Ok(())
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiConfig;
    ///
    /// let mut config = MultiKpiConfig::default();
    /// config.kpis.insert(String::new(), 2.0);
    /// assert!(config.build().unwrap_err().to_string().contains("a KPI name must not be empty"));
    /// ```
    pub fn build(self) -> Result<MultiKpiPolicy, ConfigError> {
        MultiKpiPolicy::try_from(self)
    }
}

impl TryFrom<MultiKpiConfig> for MultiKpiPolicy {
    type Error = ConfigError;

    fn try_from(config: MultiKpiConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            config,
            last: Evidence::default(),
        })
    }
}

impl From<MultiKpiPolicy> for MultiKpiConfig {
    fn from(policy: MultiKpiPolicy) -> Self {
        policy.config
    }
}

impl MultiKpiPolicy {
    /// The built-in KPIs with their defaults (p99 ratio 1.5, excess error
    /// rate 0.01, mismatch rate 0.05), no custom KPI, roll back when more
    /// than 1 warns, no verdict under 100 pairs.
    ///
    /// Builder values are checked by [`validate`](Self::validate); while
    /// one is out of range every decision is `Inconclusive`, naming it.
    ///
    /// ```
    /// use tower_shadow::policy::{MultiKpiConfig, MultiKpiPolicy};
    ///
    /// assert_eq!(MultiKpiPolicy::new().config(), &MultiKpiConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// No KPI at all, for a policy of custom KPIs only; add the built-in
    /// ones wanted with their methods.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// let policy = MultiKpiPolicy::empty().kpi("db_query_ms", 1.5).latency_p99_ratio(2.0);
    /// assert_eq!(policy.config().error_rate, None);
    /// assert_eq!(policy.config().latency_p99_ratio, Some(2.0));
    /// ```
    pub fn empty() -> Self {
        Self {
            config: MultiKpiConfig {
                latency_p99_ratio: None,
                error_rate: None,
                mismatch_rate: None,
                ..MultiKpiConfig::default()
            },
            last: Evidence::default(),
        }
    }

    /// Warn when the candidate's p99 latency is over `max` times the
    /// baseline's.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// let policy = MultiKpiPolicy::new().latency_p99_ratio(1.2);
    /// assert_eq!(policy.config().latency_p99_ratio, Some(1.2));
    /// ```
    pub fn latency_p99_ratio(mut self, max: f64) -> Self {
        self.config.latency_p99_ratio = Some(max);
        self
    }

    /// Warn when the candidate's errors beyond the baseline's are over
    /// `max` per pair.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// let policy = MultiKpiPolicy::new().error_rate(0.001);
    /// assert_eq!(policy.config().error_rate, Some(0.001));
    /// ```
    pub fn error_rate(mut self, max: f64) -> Self {
        self.config.error_rate = Some(max);
        self
    }

    /// Warn when more than `max` of the pairs differ.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// let policy = MultiKpiPolicy::new().mismatch_rate(0.1);
    /// assert_eq!(policy.config().mismatch_rate, Some(0.1));
    /// ```
    pub fn mismatch_rate(mut self, max: f64) -> Self {
        self.config.mismatch_rate = Some(max);
        self
    }

    /// Warn when the candidate's mean of the custom KPI `name` is over
    /// `max_ratio` times the baseline's. Replaces an earlier threshold for
    /// the same name.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// let policy = MultiKpiPolicy::new().kpi("db_query_ms", 1.5).kpi("cache_misses", 1.2);
    /// assert_eq!(policy.config().kpis.len(), 2);
    /// ```
    pub fn kpi(mut self, name: impl Into<String>, max_ratio: f64) -> Self {
        self.config.kpis.insert(name.into(), max_ratio);
        self
    }

    /// Roll back when more than `n` KPIs warn; 0 rolls back on the first.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// let policy = MultiKpiPolicy::new().max_warnings(0);
    /// assert_eq!(policy.config().max_warnings, 0);
    /// ```
    pub fn max_warnings(mut self, n: usize) -> Self {
        self.config.max_warnings = n;
        self
    }

    /// No verdict on fewer pairs than this (default
    /// [`DEFAULT_MIN_PAIRS`]); 0 turns the guard off.
    ///
    /// ```
    /// use tower_shadow::health::HealthSnapshot;
    /// use tower_shadow::policy::{Decision, MultiKpiPolicy, RollbackPolicy};
    ///
    /// let mut policy = MultiKpiPolicy::new().min_pairs(0);
    /// assert_eq!(policy.decide(&HealthSnapshot::default(), 0.0), Decision::Hold);
    /// ```
    pub fn min_pairs(mut self, pairs: u64) -> Self {
        self.config.min_pairs = pairs;
        self
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// assert_eq!(MultiKpiPolicy::new().config().max_warnings, 1);
    /// ```
    pub fn config(&self) -> &MultiKpiConfig {
        &self.config
    }

    /// Checks the settings ([`MultiKpiConfig::validate`]).
    ///
    /// ```
    /// use tower_shadow::policy::MultiKpiPolicy;
    ///
    /// assert!(MultiKpiPolicy::new().kpi("db_query_ms", -1.0).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }

    fn judge(&self, snapshot: &HealthSnapshot, evidence: &mut Evidence) -> Decision {
        let config = &self.config;
        if let Err(error) = config.validate() {
            return Decision::Inconclusive {
                reason: error.to_string(),
            };
        }
        if let Some(inconclusive) = guard(snapshot, config.min_pairs, evidence) {
            return inconclusive;
        }
        let mut kpis = Vec::new();
        if let Some(max) = config.latency_p99_ratio {
            kpis.push(match p99_ratio(snapshot) {
                Ok(ratio) => Check::at_most("p99_ratio", ratio, max),
                Err(why) => not_counted("p99_ratio", why, max),
            });
        }
        if let Some(max) = config.error_rate {
            kpis.push(Check::at_most(
                "excess_error_rate",
                excess_error_rate(snapshot),
                max,
            ));
        }
        if let Some(max) = config.mismatch_rate {
            kpis.push(Check::at_most(
                "mismatch_rate",
                mismatch_rate(snapshot),
                max,
            ));
        }
        for (name, &max) in &config.kpis {
            let label = format!("kpi:{name}");
            kpis.push(match kpi_ratio(snapshot.kpis.get(name)) {
                Ok(ratio) => Check::at_most(label, ratio, max),
                Err(why) => not_counted(&label, why, max),
            });
        }
        let warnings: Vec<_> = kpis
            .iter()
            .filter(|c| c.crossed)
            .map(|c| describe(c, ""))
            .collect();
        evidence.checks.extend(kpis);
        if warnings.len() > config.max_warnings {
            Decision::Rollback {
                reason: format!(
                    "{}, more than {} allowed: {}",
                    match warnings.len() {
                        1 => "1 KPI warns".to_owned(),
                        n => format!("{n} KPIs warn"),
                    },
                    config.max_warnings,
                    warnings.join("; ")
                ),
            }
        } else {
            Decision::Hold
        }
    }
}

impl RollbackPolicy for MultiKpiPolicy {
    fn decide(&mut self, snapshot: &HealthSnapshot, _canary_weight: f64) -> Decision {
        let mut evidence = Evidence::default();
        let decision = self.judge(snapshot, &mut evidence);
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
    use crate::health::{KpiSnapshot, KpiSummary};

    fn side(count: u64, mean: f64) -> KpiSummary {
        KpiSummary {
            count,
            mean,
            max: mean,
        }
    }

    fn snapshot() -> HealthSnapshot {
        let mut s = HealthSnapshot {
            pairs: 1000,
            equivalent: 990,
            different: 10,
            ..Default::default()
        };
        s.baseline_latency.count = 1000;
        s.baseline_latency.p99_ms = 40.0;
        s.candidate_latency.count = 1000;
        s.candidate_latency.p99_ms = 50.0;
        s.kpis.insert(
            "db_ms".into(),
            KpiSnapshot {
                baseline: side(100, 10.0),
                candidate: side(100, 11.0),
            },
        );
        s
    }

    fn names(p: &MultiKpiPolicy) -> Vec<String> {
        p.evidence().checks.into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn holds_with_every_kpi_in_the_evidence() {
        let mut p = MultiKpiPolicy::new().kpi("db_ms", 1.5);
        assert_eq!(p.decide(&snapshot(), 0.1), Decision::Hold);
        assert_eq!(
            names(&p),
            [
                "pairs",
                "p99_ratio",
                "excess_error_rate",
                "mismatch_rate",
                "kpi:db_ms"
            ]
        );
        let evidence = p.evidence();
        assert_eq!(evidence.crossed().count(), 0);
        assert_eq!(evidence.checks[1].value, 1.25);
        assert_eq!(evidence.checks[3].value, 0.01);
        assert!((evidence.checks[4].value - 1.1).abs() < 1e-12);
    }

    #[test]
    fn holds_up_to_max_warnings_then_rolls_back() {
        let mut p = MultiKpiPolicy::new().kpi("db_ms", 1.05).max_warnings(1);
        let mut s = snapshot();
        assert_eq!(p.decide(&s, 0.1), Decision::Hold);
        assert_eq!(p.evidence().crossed().count(), 1);

        s.candidate_errors = 30;
        s.candidate_latency.p99_ms = 100.0;
        assert_eq!(
            p.decide(&s, 0.1),
            Decision::Rollback {
                reason: "3 KPIs warn, more than 1 allowed: p99_ratio 2.5 > 1.5; \
                         excess_error_rate 0.03 > 0.01; kpi:db_ms 1.1 > 1.05"
                    .into()
            }
        );
        let mut p = p.max_warnings(3);
        assert_eq!(p.decide(&s, 0.1), Decision::Hold);
        let mut p = p.max_warnings(0).kpi("db_ms", 2.0);
        s = snapshot();
        s.different = 100;
        assert_eq!(
            p.decide(&s, 0.1),
            Decision::Rollback {
                reason: "1 KPI warns, more than 0 allowed: mismatch_rate 0.1 > 0.05".into()
            }
        );
    }

    #[test]
    fn kpis_without_data_are_not_counted() {
        let mut p = MultiKpiPolicy::new()
            .kpi("db_ms", 1.05)
            .kpi("missing", 1.0)
            .kpi("zero", 1.0)
            .max_warnings(0);
        let mut s = snapshot();
        s.baseline_latency.count = 0;
        s.kpis.get_mut("db_ms").unwrap().baseline.count = 0;
        s.kpis.insert(
            "zero".into(),
            KpiSnapshot {
                baseline: side(5, 0.0),
                candidate: side(5, 3.0),
            },
        );
        assert_eq!(p.decide(&s, 0.1), Decision::Hold);
        assert_eq!(
            names(&p),
            [
                "pairs",
                "p99_ratio (not counted: no baseline latencies)",
                "excess_error_rate",
                "mismatch_rate",
                "kpi:db_ms (not counted: no baseline values)",
                "kpi:missing (not counted: no values)",
                "kpi:zero (not counted: baseline mean is not above 0)"
            ]
        );
        assert!(p.evidence().checks.iter().all(|c| c.value.is_finite()));
    }

    #[test]
    fn turned_off_kpis_are_not_checked() {
        let mut p = MultiKpiPolicy::empty().kpi("db_ms", 1.5).max_warnings(0);
        let mut s = snapshot();
        s.different = 1000;
        assert_eq!(p.decide(&s, 0.1), Decision::Hold);
        assert_eq!(names(&p), ["pairs", "kpi:db_ms"]);
        let mut p = MultiKpiPolicy::empty().min_pairs(0).max_warnings(0);
        assert_eq!(p.decide(&HealthSnapshot::default(), 0.0), Decision::Hold);
    }

    #[test]
    fn is_inconclusive_on_too_few_pairs_or_a_bad_config() {
        let mut p = MultiKpiPolicy::new();
        let mut s = snapshot();
        s.pairs = 12;
        assert_eq!(
            p.decide(&s, 0.1),
            Decision::Inconclusive {
                reason: "12 pairs < 100 needed".into()
            }
        );
        assert_eq!(names(&p), ["pairs"]);
        let mut p = MultiKpiPolicy::new().latency_p99_ratio(f64::NAN);
        assert_eq!(
            p.decide(&snapshot(), 0.1),
            Decision::Inconclusive {
                reason:
                    "invalid policy config: latency_p99_ratio: must be a finite number above 0, not NaN"
                        .into()
            }
        );
    }

    #[test]
    fn validates_each_field() {
        let error = |p: MultiKpiPolicy| p.validate().unwrap_err().to_string();
        assert!(error(MultiKpiPolicy::new().latency_p99_ratio(0.0)).contains("latency_p99_ratio"));
        assert!(error(MultiKpiPolicy::new().error_rate(-0.1)).contains("error_rate"));
        assert!(error(MultiKpiPolicy::new().mismatch_rate(1.1)).contains("mismatch_rate"));
        assert!(error(MultiKpiPolicy::new().kpi("q", f64::INFINITY)).contains("kpis.q"));
        assert!(error(MultiKpiPolicy::new().kpi("", 1.0)).contains("kpis"));
    }

    #[test]
    fn round_trips_through_json() {
        let p = MultiKpiPolicy::new().kpi("db_ms", 1.5).max_warnings(2);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"latency_p99_ratio":1.5,"error_rate":0.01,"mismatch_rate":0.05,"kpis":{"db_ms":1.5},"max_warnings":2,"min_pairs":100}"#
        );
        let back: MultiKpiPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), p.config());
        assert!(serde_json::from_str::<MultiKpiPolicy>(r#"{"max_warning": 2}"#).is_err());
    }

    #[test]
    fn reset_forgets_the_evidence() {
        let mut p = MultiKpiPolicy::new();
        p.decide(&snapshot(), 0.1);
        p.reset();
        assert!(p.evidence().checks.is_empty());
    }
}
