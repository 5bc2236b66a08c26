use super::error::{in_range, ConfigError};
use super::figures::num;
use super::sequential::sci;
use super::stats::{mann_whitney, RankTest, Sample};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which change of a metric is a regression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricDirection {
    /// Higher is worse (latency, errors): only `High` fails.
    #[default]
    Increase,
    /// Lower is worse (throughput, cache hits): only `Low` fails.
    Decrease,
    /// Any significant change fails.
    Either,
}

/// How one metric was classified by [`CanaryJudge::classify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No regression found.
    Pass,
    /// The candidate is significantly higher.
    High,
    /// The candidate is significantly lower.
    Low,
    /// Too little data on a side to say: never counted as a pass.
    NoData,
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "pass",
            Self::High => "high",
            Self::Low => "low",
            Self::NoData => "no data",
        })
    }
}

/// How one metric is judged: its group, which direction is bad, the
/// tolerance band and the effect-size gates.
///
/// ```
/// use tower_shadow::policy::{MetricConfig, MetricDirection};
///
/// let config = MetricConfig::new("latency").critical(true).allowed_increase(1.1);
/// assert_eq!(config.direction, MetricDirection::Increase);
/// assert_eq!(config.tolerance, 0.25);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricConfig {
    /// The group whose score the metric counts in.
    pub group: String,
    /// Which change fails; default [`MetricDirection::Increase`].
    pub direction: MetricDirection,
    /// The tolerance band, as a fraction of the Hodges-Lehmann shift
    /// (Kayenta's): `High` needs the interval's lower end above
    /// `tolerance × |shift|`. In `0..=1`; default 0.25.
    pub tolerance: f64,
    /// `High` also needs `candidate mean / baseline mean` at least this;
    /// default 1 (any rise).
    pub allowed_increase: f64,
    /// `Low` also needs the mean ratio at most this; default 1.
    pub allowed_decrease: f64,
    /// `High` also needs the CLES at least `0.5 + cles_margin`, `Low` at
    /// most `0.5 − cles_margin`. In `0..0.5`; default 0 (no gate).
    pub cles_margin: f64,
    /// A failing critical metric fails the whole judgement, whatever the
    /// score; default false.
    pub critical: bool,
    /// Fewer values than this on a side is `NoData`; default 10.
    pub min_samples: u64,
}

impl Default for MetricConfig {
    fn default() -> Self {
        Self {
            group: "default".into(),
            direction: MetricDirection::Increase,
            tolerance: 0.25,
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
            cles_margin: 0.0,
            critical: false,
            min_samples: 10,
        }
    }
}

impl MetricConfig {
    /// A metric in `group` with the defaults.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// assert_eq!(MetricConfig::new("errors").group, "errors");
    /// ```
    pub fn new(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            ..Self::default()
        }
    }

    /// Which change fails.
    ///
    /// ```
    /// use tower_shadow::policy::{MetricConfig, MetricDirection};
    ///
    /// let config = MetricConfig::new("throughput").direction(MetricDirection::Decrease);
    /// assert_eq!(config.direction, MetricDirection::Decrease);
    /// ```
    pub fn direction(mut self, direction: MetricDirection) -> Self {
        self.direction = direction;
        self
    }

    /// The tolerance band, a fraction of the shift.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// assert_eq!(MetricConfig::new("g").tolerance(0.1).tolerance, 0.1);
    /// ```
    pub fn tolerance(mut self, fraction: f64) -> Self {
        self.tolerance = fraction;
        self
    }

    /// The smallest mean ratio that may be `High`.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// assert_eq!(MetricConfig::new("g").allowed_increase(1.2).allowed_increase, 1.2);
    /// ```
    pub fn allowed_increase(mut self, ratio: f64) -> Self {
        self.allowed_increase = ratio;
        self
    }

    /// The largest mean ratio that may be `Low`.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// assert_eq!(MetricConfig::new("g").allowed_decrease(0.8).allowed_decrease, 0.8);
    /// ```
    pub fn allowed_decrease(mut self, ratio: f64) -> Self {
        self.allowed_decrease = ratio;
        self
    }

    /// The CLES margin over 0.5 a change needs.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// assert_eq!(MetricConfig::new("g").cles_margin(0.05).cles_margin, 0.05);
    /// ```
    pub fn cles_margin(mut self, margin: f64) -> Self {
        self.cles_margin = margin;
        self
    }

    /// Whether a failure fails the whole judgement.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// assert!(MetricConfig::new("g").critical(true).critical);
    /// ```
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// The fewest values per side.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// assert_eq!(MetricConfig::new("g").min_samples(50).min_samples, 50);
    /// ```
    pub fn min_samples(mut self, n: u64) -> Self {
        self.min_samples = n;
        self
    }

    /// Checks every field; `prefix` names the metric in the error.
    ///
    /// ```
    /// use tower_shadow::policy::MetricConfig;
    ///
    /// let error = MetricConfig::new("g").tolerance(2.0).validate("latency").unwrap_err();
    /// assert_eq!(error.to_string(), "invalid policy config: latency.tolerance: must be in 0..=1, not 2");
    /// ```
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        in_range(&format!("{prefix}.tolerance"), self.tolerance, 0.0, 1.0)?;
        for (field, value) in [
            ("allowed_increase", self.allowed_increase),
            ("allowed_decrease", self.allowed_decrease),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(ConfigError::new(
                    format_args!("{prefix}.{field}"),
                    format_args!("must be a finite number ≥ 0, not {value}"),
                ));
            }
        }
        if !(0.0..0.5).contains(&self.cles_margin) {
            return Err(ConfigError::new(
                format_args!("{prefix}.cles_margin"),
                format_args!("must be in 0..0.5 (0.5 excluded), not {}", self.cles_margin),
            ));
        }
        Ok(())
    }
}

/// One metric's classification, with the test behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricResult {
    /// The metric's name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// Whether it is critical.
    pub critical: bool,
    /// The outcome.
    pub classification: Classification,
    /// Why, with the figures.
    pub reason: String,
    /// The rank test, when one was run.
    pub test: Option<RankTest>,
    /// `candidate mean / baseline mean` (∞ when only the baseline's is 0).
    pub mean_ratio: Option<f64>,
}

impl MetricResult {
    /// Whether the metric fails: `High` or `Low` in its bad direction
    /// ([`CanaryJudge::classify`] only returns those then).
    ///
    /// ```
    /// use tower_shadow::policy::{CanaryJudge, MetricConfig};
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// let result = CanaryJudge::new().classify("m", &MetricConfig::new("g"), &Sample::default(), &Sample::default());
    /// assert!(!result.failed());
    /// ```
    pub fn failed(&self) -> bool {
        matches!(
            self.classification,
            Classification::High | Classification::Low
        )
    }
}

/// The overall outcome of a judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Score at least the pass level, every metric with data.
    Pass,
    /// Score between the marginal and pass levels.
    Marginal,
    /// Score under the marginal level, or a critical metric failed.
    Fail,
    /// No metric had data, or the score would pass while some metric had
    /// none: never a silent pass.
    NoData,
}

/// A judgement: each metric, each group's score, the overall 0–100 score
/// and the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JudgeReport {
    /// The metrics, in the order given.
    pub metrics: Vec<MetricResult>,
    /// Each group's score: the percentage of its metrics with data that
    /// pass.
    pub groups: BTreeMap<String, f64>,
    /// The weighted mean of the group scores (groups with data only).
    pub score: Option<f64>,
    /// The outcome.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}

/// A Kayenta-style canary judge on raw samples: each metric is classified
/// by a Mann-Whitney rank test, groups are scored and the weighted score
/// compared with pass and marginal levels.
///
/// # Classifying one metric
///
/// 1. A side with fewer than `min_samples` values: `NoData`.
/// 2. Every value on both sides equal: `Pass`, saying so.
/// 3. The Mann-Whitney test ([`mann_whitney`]) with tie correction gives a
///    p-value, the Hodges-Lehmann shift and its confidence interval.
///    `High` needs, in this order: the direction to allow it, a p-value
///    under `1 − confidence` (one-sided for `Increase`/`Decrease`,
///    two-sided for `Either`), the interval's lower end above
///    `tolerance × |shift|` (Kayenta's band), the mean ratio at least
///    `allowed_increase` and the CLES at least `0.5 + cles_margin`. `Low`
///    mirrors it.
///
/// Kayenta's users report sparse metrics (errors: mostly zeros) passing
/// when they should not: the shift and its interval are then exactly 0, so
/// no interval can clear the band. When the interval collapses to a point
/// (ties), the band is not required and the p-value and effect-size gates
/// decide, so 50 errors against none is `High`.
///
/// # Scoring
///
/// A group's score is the percentage of its metrics (with data) that pass;
/// the overall score is the mean of group scores weighted by `groups`
/// (weight 1 for a group not listed), over groups with data. A failing
/// critical metric fails the judgement. Otherwise the score against
/// `pass_score` and `marginal_score` gives `Pass`, `Marginal` or `Fail` —
/// except that `Pass` needs every metric to have data (`NoData` instead).
///
/// ```
/// use tower_shadow::policy::stats::Sample;
/// use tower_shadow::policy::{CanaryJudge, Classification, MetricConfig, Verdict};
///
/// let judge = CanaryJudge::new();
/// let errors = MetricConfig::new("errors").critical(true);
/// let baseline = Sample::from_bins([(0.0, 1000)]);
/// let candidate = Sample::from_bins([(0.0, 950), (1.0, 50)]);
/// let result = judge.classify("errors", &errors, &baseline, &candidate);
/// assert_eq!(result.classification, Classification::High);
///
/// let report = judge.score(vec![result]);
/// assert_eq!(report.verdict, Verdict::Fail);
/// assert_eq!(report.score, Some(0.0));
/// ```
///
/// Loaded from JSON:
///
/// ```
/// use tower_shadow::policy::CanaryJudge;
///
/// let judge: CanaryJudge = serde_json::from_str(r#"{"confidence": 0.99, "groups": {"errors": 3, "latency": 1}}"#)?;
/// assert_eq!(judge.config().pass_score, 95.0);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "JudgeConfig", into = "JudgeConfig")]
pub struct CanaryJudge {
    config: JudgeConfig,
}

/// The settings of a [`CanaryJudge`], and its serde form.
///
/// ```
/// use tower_shadow::policy::JudgeConfig;
///
/// let mut config = JudgeConfig::default();
/// config.groups.insert("errors".into(), 2.0);
/// assert!(config.build().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct JudgeConfig {
    /// One minus each test's false-alarm rate, in `0.5..1`; default 0.95.
    pub confidence: f64,
    /// Group weights (finite, ≥ 0); a group not listed weighs 1.
    pub groups: BTreeMap<String, f64>,
    /// The lowest passing score, in `0..=100`; default 95.
    pub pass_score: f64,
    /// The lowest marginal score, at most `pass_score`; default 75.
    pub marginal_score: f64,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            confidence: 0.95,
            groups: BTreeMap::new(),
            pass_score: 95.0,
            marginal_score: 75.0,
        }
    }
}

impl JudgeConfig {
    /// Checks every field, naming the first out of range.
    ///
    /// ```
    /// use tower_shadow::policy::JudgeConfig;
    ///
    /// let mut config = JudgeConfig::default();
    /// config.confidence = 1.0;
    /// assert!(config.validate().unwrap_err().to_string().contains("confidence"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.confidence >= 0.5 && self.confidence < 1.0) {
            return Err(ConfigError::new(
                "confidence",
                format_args!("must be in 0.5..1 (1 excluded), not {}", self.confidence),
            ));
        }
        for (group, weight) in &self.groups {
            if !(*weight >= 0.0 && weight.is_finite()) {
                return Err(ConfigError::new(
                    format_args!("groups.{group}"),
                    format_args!("must be a finite number ≥ 0, not {weight}"),
                ));
            }
        }
        in_range("pass_score", self.pass_score, 0.0, 100.0)?;
        in_range("marginal_score", self.marginal_score, 0.0, self.pass_score)
    }

    /// Checks the settings and builds the judge.
    ///
    /// ```
    /// use tower_shadow::policy::JudgeConfig;
    ///
    /// let mut config = JudgeConfig::default();
    /// config.marginal_score = 99.0;
    /// assert!(config.build().is_err());
    /// ```
    pub fn build(self) -> Result<CanaryJudge, ConfigError> {
        CanaryJudge::try_from(self)
    }
}

impl TryFrom<JudgeConfig> for CanaryJudge {
    type Error = ConfigError;

    fn try_from(config: JudgeConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self { config })
    }
}

impl From<CanaryJudge> for JudgeConfig {
    fn from(judge: CanaryJudge) -> Self {
        judge.config
    }
}

impl CanaryJudge {
    /// The defaults: 95 % confidence, pass at 95, marginal at 75.
    ///
    /// ```
    /// use tower_shadow::policy::CanaryJudge;
    ///
    /// assert_eq!(CanaryJudge::new().config().confidence, 0.95);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The judge with `config`, checked.
    ///
    /// ```
    /// use tower_shadow::policy::{CanaryJudge, JudgeConfig};
    ///
    /// assert!(CanaryJudge::with_config(JudgeConfig::default()).is_ok());
    /// ```
    pub fn with_config(config: JudgeConfig) -> Result<Self, ConfigError> {
        Self::try_from(config)
    }

    /// The settings.
    ///
    /// ```
    /// use tower_shadow::policy::CanaryJudge;
    ///
    /// assert_eq!(CanaryJudge::new().config().marginal_score, 75.0);
    /// ```
    pub fn config(&self) -> &JudgeConfig {
        &self.config
    }

    /// Classifies one metric (see the type's docs). An invalid metric
    /// config or judge config gives `NoData`, naming the field.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    /// use tower_shadow::policy::{CanaryJudge, Classification, MetricConfig};
    ///
    /// let judge = CanaryJudge::new();
    /// let latency = MetricConfig::new("latency");
    /// let baseline = Sample::from_values(&(0..100).map(|i| 50.0 + f64::from(i % 10)).collect::<Vec<_>>());
    /// let slower = Sample::from_values(&(0..100).map(|i| 60.0 + f64::from(i % 10)).collect::<Vec<_>>());
    /// let result = judge.classify("latency", &latency, &baseline, &slower);
    /// assert_eq!(result.classification, Classification::High);
    /// assert_eq!(result.test.unwrap().shift, 10.0);
    ///
    /// let result = judge.classify("latency", &latency, &Sample::default(), &slower);
    /// assert_eq!(result.classification, Classification::NoData);
    /// assert_eq!(result.reason, "no baseline data");
    /// ```
    pub fn classify(
        &self,
        name: &str,
        metric: &MetricConfig,
        baseline: &Sample,
        candidate: &Sample,
    ) -> MetricResult {
        let mut result = MetricResult {
            name: name.to_owned(),
            group: metric.group.clone(),
            critical: metric.critical,
            classification: Classification::NoData,
            reason: String::new(),
            test: None,
            mean_ratio: None,
        };
        if let Err(error) = self.config.validate().and(metric.validate(name)) {
            result.reason = error.to_string();
            return result;
        }
        let (nb, nc) = (baseline.len(), candidate.len());
        if nb == 0 || nc == 0 {
            result.reason = format!("no {} data", if nb == 0 { "baseline" } else { "candidate" });
            return result;
        }
        if nb < metric.min_samples || nc < metric.min_samples {
            let (side, n) = if nb < metric.min_samples {
                ("baseline", nb)
            } else {
                ("candidate", nc)
            };
            result.reason = format!("{n} {side} values < {} needed", metric.min_samples);
            return result;
        }
        let alpha = 1.0 - self.config.confidence;
        let level = match metric.direction {
            MetricDirection::Either => self.config.confidence,
            // Each end of a 1 − 2α interval is a one-sided 1 − α bound.
            MetricDirection::Increase | MetricDirection::Decrease => (1.0 - 2.0 * alpha).max(0.01),
        };
        let (Some(test), Some(mb), Some(mc)) = (
            mann_whitney(baseline, candidate, level),
            baseline.mean(),
            candidate.mean(),
        ) else {
            result.reason = "the rank test could not be computed".into();
            return result;
        };
        let ratio = if mb == 0.0 {
            if mc == 0.0 {
                1.0
            } else {
                f64::INFINITY.copysign(mc)
            }
        } else {
            mc / mb
        };
        result.test = Some(test);
        result.mean_ratio = Some(ratio);
        let (bv, cv) = (baseline.values(), candidate.values());
        if baseline.is_constant() && candidate.is_constant() && bv[0].0 == cv[0].0 {
            result.classification = Classification::Pass;
            result.reason = format!("both sides constant at {}", num(bv[0].0));
            return result;
        }
        let figures = format!(
            "shift {} ({}..{} at {} %), p {}, mean ratio {}, CLES {}",
            signed(test.shift),
            num(test.shift_low),
            num(test.shift_high),
            num(level * 100.0),
            sci(match metric.direction {
                MetricDirection::Increase => test.p_greater,
                MetricDirection::Decrease => test.p_less,
                MetricDirection::Either => test.p_two_sided,
            }),
            num(ratio),
            num(test.cles)
        );
        let degenerate = test.shift_low == test.shift_high;
        let band = metric.tolerance * test.shift.abs();
        let p_high = match metric.direction {
            MetricDirection::Either => test.p_two_sided,
            _ => test.p_greater,
        };
        let p_low = match metric.direction {
            MetricDirection::Either => test.p_two_sided,
            _ => test.p_less,
        };
        let high = metric.direction != MetricDirection::Decrease
            && p_high < alpha
            && (degenerate || test.shift_low > band)
            && ratio >= metric.allowed_increase
            && test.cles >= 0.5 + metric.cles_margin;
        let low = metric.direction != MetricDirection::Increase
            && p_low < alpha
            && (degenerate || test.shift_high < -band)
            && ratio <= metric.allowed_decrease
            && test.cles <= 0.5 - metric.cles_margin;
        (result.classification, result.reason) = if high {
            (Classification::High, format!("higher: {figures}"))
        } else if low {
            (Classification::Low, format!("lower: {figures}"))
        } else {
            (Classification::Pass, format!("no regression: {figures}"))
        };
        result
    }

    /// Scores classified metrics (see the type's docs).
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    /// use tower_shadow::policy::{CanaryJudge, MetricConfig, Verdict};
    ///
    /// let judge = CanaryJudge::new();
    /// let same = Sample::from_values(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
    /// let ok = judge.classify("a", &MetricConfig::new("g"), &same, &same);
    /// let empty = judge.classify("b", &MetricConfig::new("g"), &Sample::default(), &same);
    /// let report = judge.score(vec![ok.clone(), empty]);
    /// assert_eq!(report.score, Some(100.0));
    /// assert_eq!(report.verdict, Verdict::NoData); // b had no data: no silent pass
    /// assert_eq!(judge.score(vec![ok]).verdict, Verdict::Pass);
    /// ```
    pub fn score(&self, metrics: Vec<MetricResult>) -> JudgeReport {
        let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for m in metrics
            .iter()
            .filter(|m| m.classification != Classification::NoData)
        {
            let entry = counts.entry(m.group.clone()).or_default();
            entry.1 += 1;
            if !m.failed() {
                entry.0 += 1;
            }
        }
        let groups: BTreeMap<String, f64> = counts
            .iter()
            .map(|(g, (pass, all))| (g.clone(), 100.0 * f64::from(*pass) / f64::from(*all)))
            .collect();
        let weight = |g: &str| self.config.groups.get(g).copied().unwrap_or(1.0);
        let total_weight: f64 = groups.keys().map(|g| weight(g)).sum();
        let score = (total_weight > 0.0)
            .then(|| groups.iter().map(|(g, s)| weight(g) * s).sum::<f64>() / total_weight);
        let failed: Vec<String> = metrics
            .iter()
            .filter(|m| m.failed())
            .map(|m| format!("{} {}: {}", m.name, m.classification, m.reason))
            .collect();
        let critical: Vec<&MetricResult> = metrics
            .iter()
            .filter(|m| m.critical && m.failed())
            .collect();
        let no_data: Vec<String> = metrics
            .iter()
            .filter(|m| m.classification == Classification::NoData)
            .map(|m| format!("{}: {}", m.name, m.reason))
            .collect();
        let (verdict, reason) = if let Some(first) = critical.first() {
            (
                Verdict::Fail,
                format!(
                    "critical metric {} {}: {}",
                    first.name, first.classification, first.reason
                ),
            )
        } else if let Some(score) = score {
            let s = num(score);
            if score < self.config.marginal_score {
                (
                    Verdict::Fail,
                    format!(
                        "score {s} < marginal {}: {}",
                        num(self.config.marginal_score),
                        failed.join("; ")
                    ),
                )
            } else if score < self.config.pass_score {
                (
                    Verdict::Marginal,
                    format!(
                        "score {s} < pass {}: {}",
                        num(self.config.pass_score),
                        failed.join("; ")
                    ),
                )
            } else if !no_data.is_empty() {
                (
                    Verdict::NoData,
                    format!("score {s}, but no data for {}", no_data.join("; ")),
                )
            } else {
                (
                    Verdict::Pass,
                    format!("score {s} ≥ pass {}", num(self.config.pass_score)),
                )
            }
        } else {
            (Verdict::NoData, format!("no data: {}", no_data.join("; ")))
        };
        JudgeReport {
            metrics,
            groups,
            score,
            verdict,
            reason,
        }
    }
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(from: f64, n: u32) -> Sample {
        Sample::from_values(&(0..n).map(|i| from + f64::from(i % 20)).collect::<Vec<_>>())
    }

    #[test]
    fn classifies_each_direction() {
        let judge = CanaryJudge::new();
        let up = MetricConfig::new("g");
        let down = MetricConfig::new("g").direction(MetricDirection::Decrease);
        let either = MetricConfig::new("g").direction(MetricDirection::Either);
        let (b, hi, lo) = (ramp(100.0, 200), ramp(110.0, 200), ramp(90.0, 200));
        let class = |m: &MetricConfig, c: &Sample| judge.classify("m", m, &b, c).classification;
        assert_eq!(class(&up, &hi), Classification::High);
        assert_eq!(class(&up, &lo), Classification::Pass);
        assert_eq!(class(&down, &lo), Classification::Low);
        assert_eq!(class(&down, &hi), Classification::Pass);
        assert_eq!(class(&either, &hi), Classification::High);
        assert_eq!(class(&either, &lo), Classification::Low);
        assert_eq!(class(&up, &b), Classification::Pass);
        // Effect-size gates.
        let strict = MetricConfig::new("g").allowed_increase(1.2);
        assert_eq!(class(&strict, &hi), Classification::Pass);
        let cles = MetricConfig::new("g").cles_margin(0.4);
        assert_eq!(class(&cles, &hi), Classification::Pass);
    }

    #[test]
    fn never_silently_passes_empty_constant_or_sparse_data() {
        let judge = CanaryJudge::new();
        let m = MetricConfig::new("errors");
        let zeros = Sample::from_bins([(0.0, 1000)]);
        let r = judge.classify("errors", &m, &zeros, &zeros);
        assert_eq!(r.classification, Classification::Pass);
        assert_eq!(r.reason, "both sides constant at 0.0");
        let r = judge.classify("errors", &m, &zeros, &Sample::from_bins([(1.0, 1000)]));
        assert_eq!(r.classification, Classification::High);
        // Sparse: Kayenta's band on a zero shift would pass this.
        let sparse = Sample::from_bins([(0.0, 980), (1.0, 20)]);
        let r = judge.classify("errors", &m, &zeros, &sparse);
        assert_eq!(r.classification, Classification::High, "{}", r.reason);
        assert_eq!(r.mean_ratio, Some(f64::INFINITY));
        let r = judge.classify("errors", &m, &Sample::from_values(&[f64::NAN; 50]), &sparse);
        assert_eq!(
            (r.classification, r.reason.as_str()),
            (Classification::NoData, "no baseline data")
        );
        let r = judge.classify("errors", &m, &zeros, &Sample::from_values(&[1.0; 3]));
        assert_eq!(r.reason, "3 candidate values < 10 needed");
        let r = judge.classify("x", &m.clone().tolerance(f64::NAN), &zeros, &zeros);
        assert_eq!(r.classification, Classification::NoData);
        assert!(r.reason.contains("x.tolerance"));
    }

    #[test]
    fn scores_groups_with_weights_and_critical_metrics() {
        let mut config = JudgeConfig::default();
        config.groups.insert("errors".into(), 3.0);
        let judge = config.build().unwrap();
        let (b, hi) = (ramp(100.0, 200), ramp(110.0, 200));
        let lat = |c: &Sample| judge.classify("latency", &MetricConfig::new("latency"), &b, c);
        let err = |c: &Sample| judge.classify("errors", &MetricConfig::new("errors"), &b, c);
        // errors weigh 3, latency 1: a latency failure alone scores 75.
        let report = judge.score(vec![lat(&hi), err(&b)]);
        assert_eq!(report.score, Some(75.0));
        assert_eq!(report.verdict, Verdict::Marginal);
        assert!(
            report
                .reason
                .starts_with("score 75.0 < pass 95.0: latency high: higher: shift +10.0"),
            "{}",
            report.reason
        );
        let report = judge.score(vec![lat(&b), err(&hi)]);
        assert_eq!(report.score, Some(25.0));
        assert_eq!(report.verdict, Verdict::Fail);
        let critical = judge.classify(
            "latency",
            &MetricConfig::new("latency").critical(true),
            &b,
            &hi,
        );
        let many_ok: Vec<_> = (0..20).map(|_| err(&b)).chain([critical]).collect();
        let report = judge.score(many_ok);
        assert_eq!(report.verdict, Verdict::Fail);
        assert!(report.reason.starts_with("critical metric latency high"));
        assert_eq!(judge.score(vec![]).verdict, Verdict::NoData);
    }
}
