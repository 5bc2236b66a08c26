use super::layer::{header_key, StickyKey};
use super::{WeightedRouter, WeightedRouterLayer, Weights};
use crate::config::{header_name, ConfigError};
use serde::{Deserialize, Serialize};

/// The serde form of a [`WeightedRouterLayer`]'s settings, checked when it
/// is applied.
///
/// | field | default | allowed |
/// |---|---|---|
/// | `sticky_header` | none: requests are routed at random | a header name ([`WeightedRouterLayer::sticky_header`]) |
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_shadow::router::{RouterConfig, Weights};
///
/// let config: RouterConfig = serde_json::from_str(r#"{"sticky_header": "x-user-id"}"#)?;
/// let weights = Weights::new(0.1);
/// let canary: Router = Router::new().route("/", get(|| async { "v2" }));
/// let app: Router = Router::new()
///     .route("/", get(|| async { "v1" }))
///     .layer(config.layer(canary, weights)?);
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RouterConfig {
    /// The header whose value keeps a user on one version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky_header: Option<String>,
}

impl RouterConfig {
    /// Checks the settings.
    ///
    /// ```
    /// use tower_shadow::router::RouterConfig;
    ///
    /// let config: RouterConfig = serde_json::from_str(r#"{"sticky_header": "x user"}"#)?;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid router config: sticky_header: must be a header name (letters, digits, `-`), not \"x user\""
    /// );
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.sticky_key().map(drop)
    }

    /// Checks the settings and makes the layer routing `weights.canary()`
    /// of requests to `canary`.
    ///
    /// ```
    /// use tower_shadow::router::{RouterConfig, Weights};
    ///
    /// let layer = RouterConfig::default().layer("canary service", Weights::new(0.0))?;
    /// # let _ = layer;
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn layer<C>(
        &self,
        canary: C,
        weights: Weights,
    ) -> Result<WeightedRouterLayer<C>, ConfigError> {
        let layer = WeightedRouterLayer::new(canary, weights);
        Ok(match self.sticky_key_name()? {
            Some(name) => layer.sticky_header(name),
            None => layer,
        })
    }

    /// Applies the settings to a router made elsewhere (e.g. by
    /// [`Rollout::service`](crate::rollout::Rollout::service)).
    pub(crate) fn apply<S, C: Clone>(
        &self,
        router: WeightedRouter<S, C>,
    ) -> Result<WeightedRouter<S, C>, ConfigError> {
        Ok(router.with_sticky(self.sticky_key()?))
    }

    fn sticky_key_name(&self) -> Result<Option<http::HeaderName>, ConfigError> {
        self.sticky_header
            .as_deref()
            .map(|name| header_name("router", "sticky_header", name))
            .transpose()
    }

    fn sticky_key(&self) -> Result<Option<StickyKey>, ConfigError> {
        Ok(self.sticky_key_name()?.map(header_key))
    }
}
