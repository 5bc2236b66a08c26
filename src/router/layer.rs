use super::{WeightedRouter, Weights};
use http::request::Parts;
use http::HeaderName;
use std::fmt;
use std::sync::Arc;
use tower_layer::Layer;

/// A sticky key: where a request lands on `[0, 1)` is fixed by its key.
pub(crate) type StickyKey = Arc<dyn Fn(&Parts) -> Option<Vec<u8>> + Send + Sync>;

/// The sticky key held by header `name`.
pub(crate) fn header_key(name: HeaderName) -> StickyKey {
    Arc::new(move |head: &Parts| head.headers.get(&name).map(|v| v.as_bytes().to_vec()))
}

/// Wraps the stable service in a [`WeightedRouter`] that sends a share of
/// requests (the canary weight) to `canary` instead.
///
/// ```
/// use axum::{routing::get, Router};
/// use http::HeaderName;
/// use tower_shadow::router::{WeightedRouterLayer, Weights};
///
/// let weights = Weights::new(0.05);
/// let canary = Router::new().route("/", get(|| async { "v2" }));
/// let app: Router = Router::new()
///     .route("/", get(|| async { "v1" }))
///     .layer(WeightedRouterLayer::new(canary, weights.clone()).sticky_header(HeaderName::from_static("x-user-id")));
/// weights.set_canary(0.5); // takes effect on the next request
/// # let _ = app;
/// ```
pub struct WeightedRouterLayer<C> {
    canary: C,
    weights: Weights,
    sticky: Option<StickyKey>,
}

impl<C> WeightedRouterLayer<C> {
    /// Routes `weights.canary()` of requests to `canary`, at random.
    pub fn new(canary: C, weights: Weights) -> Self {
        Self {
            canary,
            weights,
            sticky: None,
        }
    }

    /// Routes by the value of header `name` instead of at random: the key's
    /// stable hash places it on `[0, 1)`, and it goes to the canary when
    /// that point is below the weight. Raising the weight only ever moves
    /// keys from stable to canary, never back. Requests without the header
    /// are routed at random.
    pub fn sticky_header(mut self, name: HeaderName) -> Self {
        self.sticky = Some(header_key(name));
        self
    }

    /// Routes by any key taken from the request head (a user id from a
    /// token, a tenant from the host, ...), as [`sticky_header`](Self::sticky_header)
    /// does; `None` routes at random.
    pub fn sticky(
        mut self,
        key: impl Fn(&Parts) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.sticky = Some(Arc::new(key));
        self
    }
}

impl<C: Clone> Clone for WeightedRouterLayer<C> {
    fn clone(&self) -> Self {
        Self {
            canary: self.canary.clone(),
            weights: self.weights.clone(),
            sticky: self.sticky.clone(),
        }
    }
}

impl<C> fmt::Debug for WeightedRouterLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedRouterLayer")
            .field("weights", &self.weights)
            .field("sticky", &self.sticky.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, C: Clone> Layer<S> for WeightedRouterLayer<C> {
    type Service = WeightedRouter<S, C>;

    fn layer(&self, stable: S) -> Self::Service {
        WeightedRouter::from_parts(
            stable,
            self.canary.clone(),
            self.weights.clone(),
            self.sticky.clone(),
        )
    }
}
