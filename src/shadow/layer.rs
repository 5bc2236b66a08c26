use super::fork::Roles;
use super::service::Parts;
use super::Shadow;
use crate::compare::{Comparator, Standard};
use crate::health::{EndpointKey, Health, RouteTemplate};
use crate::mask::Masker;
use crate::record::Recorder;
use crate::router::{WeightedRouter, Weights};
use crate::sample::{Always, Sampler};
use http::{HeaderName, HeaderValue, Method};
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower_layer::Layer;

/// The default header carrying the id shared by a request and its shadow copy.
pub const CORRELATION_HEADER: &str = "x-shadow-correlation-id";
/// The default header that marks the copy as a shadow.
pub const MARKER_HEADER: &str = "x-shadow";

/// Applies [`Shadow`] to a service: sampled requests are also sent, in the
/// background, to the shadow service `T`, and the two answers compared.
///
/// See the [module docs](super) for the flow and the guarantees.
pub struct ShadowLayer<T> {
    parts: Arc<Parts<T>>,
}

impl<T> ShadowLayer<T> {
    /// Shadows every GET, HEAD and OPTIONS request to `shadow`, with the
    /// defaults of [`Builder`].
    pub fn new(shadow: T) -> Self {
        Self::builder(shadow).build()
    }

    /// A builder to configure the layer.
    pub fn builder(shadow: T) -> Builder<T> {
        Builder::new(shadow)
    }

    /// The [`Health`] this layer records into.
    pub fn health(&self) -> Health {
        self.parts.config.health.clone()
    }

    /// Splits live traffic between `stable` and this layer's shadow service
    /// (the candidate) by `weights`, and shadows each request to the
    /// *other* version: a user routed to stable has the candidate shadowed,
    /// a user routed to the canary has stable shadowed. Pairs are always
    /// recorded as (stable, candidate) in this layer's [`Health`].
    ///
    /// A [`secondary`](Builder::secondary) is used only for requests routed
    /// to stable.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_shadow::{router::Weights, shadow::ShadowLayer};
    ///
    /// let stable: Router = Router::new().route("/", get(|| async { "v1" }));
    /// let candidate: Router = Router::new().route("/", get(|| async { "v2" }));
    /// let weights = Weights::new(0.1);
    /// let layer = ShadowLayer::new(candidate);
    /// let health = layer.health();
    /// let service = layer.route(stable, weights.clone());
    /// # let _ = (service, health);
    /// ```
    pub fn route<S>(self, stable: S, weights: Weights) -> WeightedRouter<Shadow<S, T>, Shadow<T, S>>
    where
        S: Clone,
        T: Clone,
    {
        // The copy of a canary request goes to stable, with no secondary.
        let swapped = Parts {
            shadow: stable.clone(),
            secondary: None,
            roles: Roles::PrimaryIsCandidate,
            config: Arc::clone(&self.parts.config),
        };
        let to_canary = Shadow::from_parts(self.parts.shadow.clone(), Arc::new(swapped));
        let to_stable = Shadow::from_parts(stable, self.parts);
        WeightedRouter::new(to_stable, to_canary, weights)
    }

    pub(crate) fn into_parts(self) -> Arc<Parts<T>> {
        self.parts
    }
}

impl<T> Clone for ShadowLayer<T> {
    fn clone(&self) -> Self {
        Self {
            parts: Arc::clone(&self.parts),
        }
    }
}

impl<T> fmt::Debug for ShadowLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowLayer")
            .field("config", &self.parts.config)
            .finish_non_exhaustive()
    }
}

impl<S, T> Layer<S> for ShadowLayer<T> {
    type Service = Shadow<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Shadow::from_parts(inner, Arc::clone(&self.parts))
    }
}

/// Configures a [`ShadowLayer`]. Made by [`ShadowLayer::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`sampler`](Self::sampler) | every request ([`Always`]) |
/// | [`methods`](Self::methods) | GET, HEAD, OPTIONS |
/// | [`skip_streaming`](Self::skip_streaming) | none: streaming calls are shadowed |
/// | [`comparator`](Self::comparator) | status, `content-type`, `grpc-status`, body JSON-aware ([`Standard`]) |
/// | [`max_body_bytes`](Self::max_body_bytes) | 1 MiB |
/// | [`max_in_flight`](Self::max_in_flight) | 256 |
/// | [`shadow_timeout`](Self::shadow_timeout) | 5 s |
/// | [`correlation_header`](Self::correlation_header) | `x-shadow-correlation-id` |
/// | [`marker`](Self::marker) | `x-shadow: 1` |
/// | [`endpoint`](Self::endpoint) | method and path template ([`RouteTemplate`]) |
/// | [`secondary`](Self::secondary) | none: no noise cancellation |
/// | [`masker`](Self::masker) | `Authorization`, `Cookie`, `Set-Cookie` redacted ([`Masker::new`]) |
/// | [`recorder`](Self::recorder) | none |
/// | [`health`](Self::health) | a new [`Health`] |
pub struct Builder<T> {
    shadow: T,
    secondary: Option<T>,
    config: Config,
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<T> Builder<T> {
    fn new(shadow: T) -> Self {
        Self {
            shadow,
            secondary: None,
            config: Config {
                sampler: Box::new(Always),
                endpoint: Box::new(RouteTemplate),
                comparator: Box::new(Standard::new()),
                methods: vec![Method::GET, Method::HEAD, Method::OPTIONS],
                streaming: HashSet::new(),
                max_body_bytes: 1024 * 1024,
                max_in_flight: 256,
                in_flight: AtomicUsize::new(0),
                shadow_timeout: Duration::from_secs(5),
                correlation_header: HeaderName::from_static(CORRELATION_HEADER),
                marker: (
                    HeaderName::from_static(MARKER_HEADER),
                    HeaderValue::from_static("1"),
                ),
                health: Health::new(),
                masker: Masker::new(),
                recorder: None,
            },
        }
    }

    /// Which requests are shadowed (default: all of the allowed methods).
    pub fn sampler(mut self, sampler: impl Sampler) -> Self {
        self.config.sampler = Box::new(sampler);
        self
    }

    /// How the two answers are compared (default: [`Standard`]: status,
    /// `content-type` and `grpc-status`, and the body, field by field when
    /// both sides are JSON).
    pub fn comparator(mut self, comparator: impl Comparator) -> Self {
        self.config.comparator = Box::new(comparator);
        self
    }

    /// The methods that may be shadowed, replacing the default GET, HEAD
    /// and OPTIONS.
    ///
    /// A shadowed request runs twice; for a method with side effects (POST,
    /// PUT, PATCH, DELETE) that means the side effect happens twice, unless
    /// the shadow writes somewhere harmless. Opt in only when it does.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.config.methods = methods.into_iter().collect();
        self
    }

    /// Request paths of streaming calls not to shadow, such as the gRPC
    /// methods `/users.Users/Chat`; each is counted as
    /// [`SkipReason::Streaming`](crate::health::SkipReason::Streaming).
    ///
    /// By default streaming calls are shadowed like any other: the copy of
    /// the request stream goes to the shadow once the client has sent all
    /// of it (within [`max_body_bytes`](Self::max_body_bytes) and
    /// [`shadow_timeout`](Self::shadow_timeout)), and the response streams
    /// are compared message by message. Skip the calls whose answers
    /// depend on when each message arrives (a chat, a subscription), or
    /// that stay open longer than the timeout. With the `grpc` feature,
    /// `compare::GrpcComparator::streaming_methods`
    /// lists every streaming method of a descriptor set.
    ///
    /// ```
    /// use http::Method;
    /// use tower::service_fn;
    /// use tower_shadow::shadow::ShadowLayer;
    ///
    /// # let candidate = service_fn(|_: http::Request<tower_shadow::shadow::RequestBody<String>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// # });
    /// let layer = ShadowLayer::builder(candidate)
    ///     .methods([Method::POST]) // gRPC calls are POSTs
    ///     .skip_streaming(["/chat.Chat/Talk"])
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn skip_streaming<I>(mut self, paths: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config.streaming = paths.into_iter().map(Into::into).collect();
        self
    }

    /// The most bytes copied from a request or response body (default 1 MiB).
    ///
    /// A request whose body is larger is not shadowed (counted as
    /// [`SkipReason::Oversize`](crate::health::SkipReason::Oversize)); a
    /// response body that is larger is compared on its first
    /// `max_body_bytes`, marked `truncated`. The primary always gets and
    /// returns whole bodies.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config.max_body_bytes = max;
        self
    }

    /// The most shadows running at once (default 256). Over it a request is
    /// not shadowed (counted as
    /// [`SkipReason::Overloaded`](crate::health::SkipReason::Overloaded)),
    /// never queued. Zero disables shadowing.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.config.max_in_flight = max;
        self
    }

    /// How long the shadow may take, from the moment the copy is ready to
    /// send — its readiness wait included — to the end of its body
    /// (default 5 s); past it the shadow is dropped and counted as a
    /// candidate timeout. The same bound applies to waiting for the
    /// primary's side once the shadow has answered.
    pub fn shadow_timeout(mut self, timeout: Duration) -> Self {
        self.config.shadow_timeout = timeout;
        self
    }

    /// The header carrying the id shared by a request and its copy (default
    /// `x-shadow-correlation-id`). An id the client sent is kept; otherwise
    /// a random one is set on both.
    pub fn correlation_header(mut self, name: HeaderName) -> Self {
        self.config.correlation_header = name;
        self
    }

    /// The header set on the copy only, so the shadow can tell it is one
    /// (default `x-shadow: 1`). A request that already carries it is never
    /// shadowed again.
    pub fn marker(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.config.marker = (name, value);
        self
    }

    /// How pairs are grouped into endpoints (default [`RouteTemplate`]).
    pub fn endpoint(mut self, key: impl EndpointKey) -> Self {
        self.config.endpoint = Box::new(key);
        self
    }

    /// A second instance of the *stable* version, sent the same copy as the
    /// shadow: what differs between it and the primary is noise (timestamps,
    /// ids, ordering), and is not held against the candidate. See
    /// [`NoiseThresholds`](crate::health::NoiseThresholds).
    ///
    /// It has the shadow's type, as it does when both are axum `Router`s or
    /// tonic `Routes`; box both (`tower::util::BoxCloneService`) otherwise.
    pub fn secondary(mut self, secondary: T) -> Self {
        self.secondary = Some(secondary);
        self
    }

    /// What is masked in the copy sent to the candidate and in records
    /// (default [`Masker::new`]: `Authorization`, `Cookie` and `Set-Cookie`
    /// redacted). Use [`Masker::none`] or [`Masker::keep_header`] when the
    /// candidate must see them, e.g. to authenticate the copy.
    pub fn masker(mut self, masker: Masker) -> Self {
        self.config.masker = masker;
        self
    }

    /// Keeps a masked [`Record`](crate::record::Record) of every compared pair.
    pub fn recorder(mut self, recorder: impl Recorder) -> Self {
        self.config.recorder = Some(Box::new(recorder));
        self
    }

    /// Records into `health`, which other layers may share.
    pub fn health(mut self, health: Health) -> Self {
        self.config.health = health;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> ShadowLayer<T> {
        ShadowLayer {
            parts: Arc::new(Parts {
                shadow: self.shadow,
                secondary: self.secondary,
                roles: Roles::PrimaryIsStable,
                config: Arc::new(self.config),
            }),
        }
    }
}

/// The layer's settings, shared by every service it makes.
pub(crate) struct Config {
    pub(crate) sampler: Box<dyn Sampler>,
    pub(crate) endpoint: Box<dyn EndpointKey>,
    pub(crate) comparator: Box<dyn Comparator>,
    pub(crate) methods: Vec<Method>,
    pub(crate) streaming: HashSet<String>,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_in_flight: usize,
    in_flight: AtomicUsize,
    pub(crate) shadow_timeout: Duration,
    pub(crate) correlation_header: HeaderName,
    pub(crate) marker: (HeaderName, HeaderValue),
    pub(crate) health: Health,
    pub(crate) masker: Masker,
    pub(crate) recorder: Option<Box<dyn Recorder>>,
}

impl Config {
    /// A place among the `max_in_flight` running shadows, if one is free.
    pub(crate) fn try_slot(self: &Arc<Self>) -> Option<Slot> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) < self.max_in_flight {
            Some(Slot(Arc::clone(self)))
        } else {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            None
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("methods", &self.methods)
            .field("streaming", &self.streaming)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_in_flight", &self.max_in_flight)
            .field("shadow_timeout", &self.shadow_timeout)
            .field("correlation_header", &self.correlation_header)
            .field("marker", &self.marker)
            .finish_non_exhaustive()
    }
}

/// One of the `max_in_flight` places, held by a running shadow and freed on drop.
pub(crate) struct Slot(Arc<Config>);

impl Slot {
    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
