//! One configuration file for the whole stack, and the crate's
//! [`ConfigError`].
//!
//! Every builder of the crate has a serde form with a default for each
//! field, unknown fields rejected, and a `validate` whose [`ConfigError`]
//! names the field and the allowed range:
//!
//! | part | config |
//! |---|---|
//! | [`Health`](crate::health::Health) | [`HealthConfig`] |
//! | [`ShadowLayer`](crate::shadow::ShadowLayer) | [`ShadowConfig`] (with [`SamplerConfig`](crate::shadow::SamplerConfig), [`MaskerConfig`](crate::mask::MaskerConfig), [`ComparatorConfig`](crate::compare::ComparatorConfig)) |
//! | [`WeightedRouterLayer`](crate::router::WeightedRouterLayer) | [`RouterConfig`] |
//! | [`Rollout`] | [`RolloutConfig`] (with [`PolicyConfig`](crate::policy::PolicyConfig)) |
//! | [`FileRecorder`](crate::record::FileRecorder) | [`FileRecorderConfig`] |
//! | `Admin` (feature `admin`) | `AdminConfig` |
//!
//! [`Config`] gathers them in one document an operator can edit, so a
//! threshold changes without a rebuild. Durations are whole milliseconds
//! (`250`) or strings with a unit (`"250ms"`, `"5s"`, `"2m"`, `"1h"`).
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_shadow::config::Config;
//!
//! let config = Config::from_json(r#"{
//!     "health": {"window": "2m"},
//!     "shadow": {"sampler": {"random": {"percent": 10}}, "shadow_timeout": "1s"},
//!     "router": {"sticky_header": "x-user-id"},
//!     "rollout": {"interval": "30s", "policy": {"threshold": {"critical_threshold": 90}}}
//! }"#)?;
//!
//! let stable: Router = Router::new().route("/", get(|| async { "v1" }));
//! let candidate: Router = Router::new().route("/", get(|| async { "v2" }));
//! let rollout = config.rollout()?;
//! let app = Router::new().fallback_service(config.service(&rollout, stable, candidate)?);
//! # let _: Router = app;
//! # Ok::<(), tower_shadow::config::ConfigError>(())
//! ```

pub(crate) mod duration;
mod error;

pub use self::error::ConfigError;
pub(crate) use self::error::{duration_in, header_name, in_range};

#[cfg(feature = "admin")]
use crate::admin::AdminConfig;
use crate::health::HealthConfig;
use crate::record::FileRecorderConfig;
use crate::rollout::{Rollout, RolloutConfig};
use crate::router::{RouterConfig, WeightedRouter, Weights};
use crate::shadow::{Builder, Shadow, ShadowConfig};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The whole stack [`Config::service`] makes: live traffic split between
/// stable `S` and candidate `C`, each side shadowed to the other.
pub type Stack<S, C> = WeightedRouter<Shadow<S, C>, Shadow<C, S>>;

/// The whole stack's configuration: one JSON document, every section and
/// field optional.
///
/// ```json
/// {
///   "health":  { "window": "60s", "buckets": 12, "noise": { "relative": 0.2 } },
///   "shadow":  { "sampler": { "by_key": { "header": "x-user-id", "percent": 5 } },
///                "max_body_bytes": 1048576, "shadow_timeout": "5s",
///                "comparator": { "json": { "ignore": ["/meta/timestamp"] } } },
///   "router":  { "sticky_header": "x-user-id" },
///   "rollout": { "interval": "10s", "testing_weight": 0.05,
///                "policy": { "guarded": { "guard": { "threshold": {} },
///                                         "driver": { "progressive": {} } } } },
///   "record":  { "path": "pairs.jsonl" },
///   "admin":   { "gate": { "min_score": 95 } }
/// }
/// ```
///
/// `admin` is only known with the `admin` feature.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The sliding window the figures add up in.
    pub health: HealthConfig,
    /// Which requests are shadowed, and how the answers are compared.
    pub shadow: ShadowConfig,
    /// How live traffic is split.
    pub router: RouterConfig,
    /// The controller and its policy.
    pub rollout: RolloutConfig,
    /// Where pairs are recorded, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<FileRecorderConfig>,
    /// The control plane's settings.
    #[cfg(feature = "admin")]
    pub admin: AdminConfig,
}

impl Config {
    /// Reads and checks a JSON document. A field of the wrong type, an
    /// unknown field and a value out of range are all errors naming the
    /// field by its path.
    ///
    /// ```
    /// use tower_shadow::config::Config;
    ///
    /// let config = Config::from_json(r#"{"rollout": {"interval": "30s"}}"#)?;
    /// assert_eq!(config.rollout.interval.as_secs(), 30);
    ///
    /// let error = Config::from_json(r#"{"shadow": {"max_in_fligth": 10}}"#).unwrap_err();
    /// assert_eq!(error.field(), "shadow.max_in_fligth");
    /// assert!(error.rule().starts_with("unknown field `max_in_fligth`"));
    ///
    /// let error = Config::from_json(r#"{"rollout": {"policy": {"threshold": {"step_down": 1}}}}"#).unwrap_err();
    /// assert_eq!(error.field(), "rollout.policy.threshold.step_down");
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let config: Self = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            // The path's root is `.`, and a place it cannot name is `?`.
            let path = e.path().to_string();
            let field = path.trim_end_matches(['.', '?']).to_owned();
            ConfigError::invalid("", field, e.into_inner())
        })?;
        deserializer
            .end()
            .map_err(|e| ConfigError::invalid("", "", e))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every section, naming the first faulty field by its path.
    ///
    /// ```
    /// use tower_shadow::config::Config;
    ///
    /// let mut config = Config::default();
    /// config.health.buckets = 5000;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid health config: health.buckets: must be in 1..=1024, not 5000"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.health.validate().map_err(|e| e.at("health"))?;
        self.shadow.validate().map_err(|e| e.at("shadow"))?;
        self.router.validate().map_err(|e| e.at("router"))?;
        self.rollout.validate().map_err(|e| e.at("rollout"))?;
        if let Some(record) = &self.record {
            record.validate().map_err(|e| e.at("record"))?;
        }
        #[cfg(feature = "admin")]
        self.admin.validate().map_err(|e| e.at("admin"))?;
        Ok(())
    }

    /// A rollout as configured: a new [`Health`](crate::health::Health)
    /// from `health`, new [`Weights`], the `rollout` section. Call
    /// [`Rollout::spawn`] on it to start ticking.
    ///
    /// ```
    /// use tower_shadow::{config::Config, rollout::Stage};
    ///
    /// let rollout = Config::default().rollout()?;
    /// assert_eq!(rollout.stage(), Stage::Shadow);
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn rollout(&self) -> Result<Rollout, ConfigError> {
        let health = self.health.build().map_err(|e| e.at("health"))?;
        let builder = self
            .rollout
            .builder(health, Weights::new(0.0))
            .map_err(|e| e.at("rollout"))?;
        Ok(builder.build())
    }

    /// The whole stack as one service, as [`Rollout::service`] makes it,
    /// with the `shadow` and `router` sections applied.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_shadow::config::Config;
    ///
    /// let config = Config::default();
    /// let rollout = config.rollout()?;
    /// let stable: Router = Router::new().route("/", get(|| async { "v1" }));
    /// let candidate: Router = Router::new().route("/", get(|| async { "v2" }));
    /// let service = config.service(&rollout, stable, candidate)?;
    /// # let _ = service;
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn service<S, C>(
        &self,
        rollout: &Rollout,
        stable: S,
        candidate: C,
    ) -> Result<Stack<S, C>, ConfigError>
    where
        S: Clone,
        C: Clone,
    {
        let layer = self.shadow.builder(candidate).map_err(|e| e.at("shadow"))?;
        self.service_with(rollout, stable, layer)
    }

    /// Like [`service`](Self::service), with a shadow layer builder of
    /// your own (made with [`ShadowConfig::builder`] and given, say, a
    /// recorder); the `router` section is applied.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_shadow::{config::Config, record::Memory};
    ///
    /// let config = Config::default();
    /// let rollout = config.rollout()?;
    /// let stable: Router = Router::new().route("/", get(|| async { "v1" }));
    /// let candidate: Router = Router::new().route("/", get(|| async { "v2" }));
    /// let layer = config.shadow.builder(candidate)?.recorder(Memory::new(100));
    /// let service = config.service_with(&rollout, stable, layer)?;
    /// # let _ = service;
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn service_with<S, C>(
        &self,
        rollout: &Rollout,
        stable: S,
        layer: Builder<C>,
    ) -> Result<Stack<S, C>, ConfigError>
    where
        S: Clone,
        C: Clone,
    {
        self.router
            .apply(rollout.service_with(stable, layer))
            .map_err(|e| e.at("router"))
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// [`Config::from_json`].
    fn from_str(json: &str) -> Result<Self, ConfigError> {
        Self::from_json(json)
    }
}
