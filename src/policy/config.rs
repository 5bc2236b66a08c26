use super::{
    all_of, any_of, guarded, AdaptiveConfig, ConfigError, MinPairs, MultiKpiConfig,
    PredictiveConfig, ProgressiveConfig, RankConfig, RollbackPolicy, SequentialConfig, Standard,
    ThresholdConfig,
};
use serde::{Deserialize, Serialize};

/// Which policy a configuration file chooses: one of the crate's policies
/// or a combination of them, and its serde form.
///
/// | JSON | policy |
/// |---|---|
/// | `"standard"` (the default) | [`Standard`] |
/// | `{"threshold": {..}}` | [`ThresholdPolicy`](super::ThresholdPolicy) ([`ThresholdConfig`]) |
/// | `{"progressive": {..}}` | [`ProgressivePolicy`](super::ProgressivePolicy) ([`ProgressiveConfig`]) |
/// | `{"multi_kpi": {..}}` | [`MultiKpiPolicy`](super::MultiKpiPolicy) ([`MultiKpiConfig`]) |
/// | `{"rank": {..}}` | [`RankPolicy`](super::RankPolicy) ([`RankConfig`]) |
/// | `{"sequential": {..}}` | [`SequentialPolicy`](super::SequentialPolicy) ([`SequentialConfig`]) |
/// | `{"adaptive": {..}}` | [`AdaptivePolicy`](super::AdaptivePolicy) ([`AdaptiveConfig`]) |
/// | `{"predictive": {..}}` | [`PredictivePolicy`](super::PredictivePolicy) ([`PredictiveConfig`]) |
/// | `{"guarded": {"guard": .., "driver": ..}}` | [`guarded`] |
/// | `{"any": [..]}`, `{"all": [..]}` | [`any_of`], [`all_of`] (one policy or more) |
/// | `{"min_pairs": {"min": 500, "policy": ..}}` | [`MinPairs`] |
///
/// ```
/// use tower_shadow::policy::PolicyConfig;
///
/// let config: PolicyConfig = serde_json::from_str(r#"{"guarded": {
///     "guard": {"any": [{"threshold": {"critical_threshold": 90}}, {"sequential": {}}]},
///     "driver": {"progressive": {"step": {"linear": 0.1}}}
/// }}"#)?;
/// let policy = config.build()?;
/// # let _ = policy;
///
/// let bad: PolicyConfig = serde_json::from_str(r#"{"any": [{"threshold": {"step_down": 2}}]}"#)?;
/// assert_eq!(bad.validate().unwrap_err().field(), "any[0].threshold.step_down");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PolicyConfig {
    /// [`Standard::standard`]: thresholds guarding a progressive walk.
    #[default]
    Standard,
    /// A threshold policy.
    Threshold(ThresholdConfig),
    /// A progressive policy.
    Progressive(ProgressiveConfig),
    /// A multi-KPI policy.
    MultiKpi(MultiKpiConfig),
    /// A rank-test canary judge.
    Rank(RankConfig),
    /// Sequential tests.
    Sequential(SequentialConfig),
    /// Control charts.
    Adaptive(AdaptiveConfig),
    /// Trend forecasts.
    Predictive(PredictiveConfig),
    /// A guard with a veto over a driver.
    Guarded {
        /// The guard.
        guard: Box<PolicyConfig>,
        /// The driver.
        driver: Box<PolicyConfig>,
    },
    /// The most severe decision of several.
    Any(Vec<PolicyConfig>),
    /// The least severe decision of several.
    All(Vec<PolicyConfig>),
    /// No verdict on fewer than `min` pairs, else `policy`'s.
    MinPairs {
        /// The fewest pairs for a verdict.
        min: u64,
        /// The policy asked once there are enough.
        policy: Box<PolicyConfig>,
    },
}

impl PolicyConfig {
    /// Checks every policy's settings, naming the first faulty field by its
    /// path (`guarded.guard.threshold.step_down`, `any[1].rank.looks`).
    ///
    /// ```
    /// use tower_shadow::policy::PolicyConfig;
    ///
    /// assert_eq!(
    ///     PolicyConfig::Any(vec![]).validate().unwrap_err().to_string(),
    ///     "invalid policy config: any: must hold 1 or more policies, not 0"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let list = |name: &str, policies: &[PolicyConfig]| {
            if policies.is_empty() {
                return Err(ConfigError::new(
                    name,
                    "must hold 1 or more policies, not 0",
                ));
            }
            policies
                .iter()
                .enumerate()
                .try_for_each(|(i, p)| p.validate().map_err(|e| e.at(&format!("{name}[{i}]"))))
        };
        match self {
            Self::Standard => Ok(()),
            Self::Threshold(c) => c.validate().map_err(|e| e.at("threshold")),
            Self::Progressive(c) => c.validate().map_err(|e| e.at("progressive")),
            Self::MultiKpi(c) => c.validate().map_err(|e| e.at("multi_kpi")),
            Self::Rank(c) => c.validate().map_err(|e| e.at("rank")),
            Self::Sequential(c) => c.validate().map_err(|e| e.at("sequential")),
            Self::Adaptive(c) => c.validate().map_err(|e| e.at("adaptive")),
            Self::Predictive(c) => c.validate().map_err(|e| e.at("predictive")),
            Self::Guarded { guard, driver } => {
                guard.validate().map_err(|e| e.at("guarded.guard"))?;
                driver.validate().map_err(|e| e.at("guarded.driver"))
            }
            Self::Any(policies) => list("any", policies),
            Self::All(policies) => list("all", policies),
            Self::MinPairs { policy, .. } => {
                policy.validate().map_err(|e| e.at("min_pairs.policy"))
            }
        }
    }

    /// Checks the settings and builds the policy.
    ///
    /// ```
    /// use tower_shadow::health::HealthSnapshot;
    /// use tower_shadow::policy::{Decision, PolicyConfig};
    ///
    /// let config: PolicyConfig = serde_json::from_str(r#"{"threshold": {"min_pairs": 10}}"#)?;
    /// let mut policy = config.build()?;
    /// let mut snapshot = HealthSnapshot::default();
    /// snapshot.pairs = 50;
    /// snapshot.score = 50.0;
    /// assert!(matches!(policy.decide(&snapshot, 0.1), Decision::Rollback { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(&self) -> Result<Box<dyn RollbackPolicy>, ConfigError> {
        self.validate()?;
        self.build_valid()
    }

    fn build_valid(&self) -> Result<Box<dyn RollbackPolicy>, ConfigError> {
        let list = |policies: &[PolicyConfig]| {
            policies
                .iter()
                .map(PolicyConfig::build_valid)
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match self {
            Self::Standard => Box::new(Standard::standard()),
            Self::Threshold(c) => Box::new(c.clone().build()?),
            Self::Progressive(c) => Box::new(c.clone().build()?),
            Self::MultiKpi(c) => Box::new(c.clone().build()?),
            Self::Rank(c) => Box::new(c.clone().build()?),
            Self::Sequential(c) => Box::new(c.clone().build()?),
            Self::Adaptive(c) => Box::new(c.clone().build()?),
            Self::Predictive(c) => Box::new(c.clone().build()?),
            Self::Guarded { guard, driver } => {
                Box::new(guarded(guard.build_valid()?, driver.build_valid()?))
            }
            Self::Any(policies) => Box::new(any_of(list(policies)?)),
            Self::All(policies) => Box::new(all_of(list(policies)?)),
            Self::MinPairs { min, policy } => Box::new(MinPairs::new(*min, policy.build_valid()?)),
        })
    }
}
