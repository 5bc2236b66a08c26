use super::{Builder, Rollout};
use crate::config::{duration, duration_in, in_range, ConfigError};
use crate::health::Health;
use crate::policy::PolicyConfig;
use crate::router::Weights;
use crate::sample::Adaptive;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SECTION: &str = "rollout";
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The serde form of a [`Rollout`]'s [`Builder`], checked when it is
/// applied.
///
/// | field | default | allowed |
/// |---|---|---|
/// | `interval` | `"10s"` | `1ms..=24h` ([`Builder::interval`]) |
/// | `validation` | `"60s"` | `0ms..=24h` ([`Builder::validation`]) |
/// | `testing_weight` | 0.05 | `0..=1` ([`Builder::testing_weight`]) |
/// | `max_events` | 1000 | `1..=`[`MAX_EVENTS`](Self::MAX_EVENTS) ([`Builder::max_events`]) |
/// | `adaptive` | none | `{"percent", "min", "max"}`, each in `0..=100`, `min <= percent <= max` ([`Builder::adaptive`]) |
/// | `policy` | `"standard"` | a [`PolicyConfig`] ([`Builder::policy`]) |
/// | `stable_version`, `candidate_version` | none | names ([`Builder::stable_version`], [`Builder::candidate_version`]) |
///
/// Alert sinks are code, added to the builder this returns.
///
/// ```
/// use tower_shadow::{health::Health, rollout::RolloutConfig, router::Weights};
///
/// let config: RolloutConfig = serde_json::from_str(r#"{
///     "interval": "30s",
///     "testing_weight": 0.01,
///     "adaptive": {"percent": 5, "min": 1, "max": 50},
///     "policy": {"threshold": {"critical_threshold": 90}}
/// }"#)?;
/// let rollout = config.builder(Health::new(), Weights::new(0.0))?.build();
/// # let _ = rollout;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RolloutConfig {
    /// How often the rollout ticks.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// How long a rollback is watched before it counts as validated.
    #[serde(with = "duration")]
    pub validation: Duration,
    /// The canary weight a promotion from `Shadow` starts `Testing` at.
    pub testing_weight: f64,
    /// The most events kept in the audit log.
    pub max_events: usize,
    /// Adaptive shadowing: the rollout moves the share of shadowed requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveShadowing>,
    /// The policy consulted on each tick.
    pub policy: PolicyConfig,
    /// The stable version's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_version: Option<String>,
    /// The candidate's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_version: Option<String>,
}

/// The bounds of adaptive shadowing ([`Builder::adaptive`]): the share of
/// requests shadowed starts at `percent` and moves between `min` and `max`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdaptiveShadowing {
    /// The starting share, in `min..=max`.
    pub percent: f64,
    /// The lowest share, in `0..=100`.
    pub min: f64,
    /// The highest share, in `min..=100`.
    pub max: f64,
}

impl AdaptiveShadowing {
    /// Starts at `percent`, moves within `min..=max`.
    ///
    /// ```
    /// use tower_shadow::rollout::AdaptiveShadowing;
    ///
    /// let bounds = AdaptiveShadowing::new(5.0, 1.0, 50.0);
    /// assert_eq!(bounds.max, 50.0);
    /// ```
    pub fn new(percent: f64, min: f64, max: f64) -> Self {
        Self { percent, min, max }
    }
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            validation: Duration::from_secs(60),
            testing_weight: 0.05,
            max_events: 1000,
            adaptive: None,
            policy: PolicyConfig::default(),
            stable_version: None,
            candidate_version: None,
        }
    }
}

impl RolloutConfig {
    /// The largest `max_events` accepted.
    pub const MAX_EVENTS: usize = 1_000_000;

    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::rollout::RolloutConfig;
    ///
    /// let mut config = RolloutConfig::default();
    /// config.testing_weight = 5.0;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid rollout config: testing_weight: must be in 0..=1, not 5"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        duration_in(
            SECTION,
            "interval",
            self.interval,
            Duration::from_millis(1),
            DAY,
        )?;
        duration_in(SECTION, "validation", self.validation, Duration::ZERO, DAY)?;
        in_range(SECTION, "testing_weight", self.testing_weight, 0.0, 1.0)?;
        in_range(
            SECTION,
            "max_events",
            self.max_events as u64,
            1,
            Self::MAX_EVENTS as u64,
        )?;
        if let Some(adaptive) = &self.adaptive {
            in_range(SECTION, "adaptive.min", adaptive.min, 0.0, 100.0)?;
            in_range(SECTION, "adaptive.max", adaptive.max, adaptive.min, 100.0)?;
            in_range(
                SECTION,
                "adaptive.percent",
                adaptive.percent,
                adaptive.min,
                adaptive.max,
            )?;
        }
        self.policy.validate().map_err(|e| e.at("policy"))
    }

    /// Checks the settings and makes a builder for a rollout reading
    /// `health` and writing `weights`, every setting of this config
    /// applied; add alert sinks and build it.
    ///
    /// With `adaptive` set, the builder gets a new [`Adaptive`] sampler at
    /// `percent`, which [`Rollout::service`] then shadows with.
    ///
    /// ```
    /// use tower_shadow::{health::Health, rollout::{RolloutConfig, Stage}, router::Weights};
    ///
    /// let rollout = RolloutConfig::default().builder(Health::new(), Weights::new(0.0))?.build();
    /// assert_eq!(rollout.stage(), Stage::Shadow);
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn builder(&self, health: Health, weights: Weights) -> Result<Builder, ConfigError> {
        self.validate()?;
        let mut builder = Rollout::builder(health, weights)
            .interval(self.interval)
            .validation(self.validation)
            .testing_weight(self.testing_weight)
            .max_events(self.max_events)
            .policy(self.policy.build().map_err(|e| e.at("policy"))?);
        if let Some(adaptive) = &self.adaptive {
            builder = builder.adaptive(Adaptive::new(adaptive.percent), adaptive.min, adaptive.max);
        }
        if let Some(name) = &self.stable_version {
            builder = builder.stable_version(name.clone(), serde_json::Value::Null);
        }
        if let Some(name) = &self.candidate_version {
            builder = builder.candidate_version(name.clone(), serde_json::Value::Null);
        }
        Ok(builder)
    }
}
