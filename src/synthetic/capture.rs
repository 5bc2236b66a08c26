use super::cluster::{cluster, ClusterConfig, Clustering};
use super::shape::RequestShape;
use crate::health::{EndpointKey, RouteTemplate};
use crate::mask::Masker;
use crate::policy::ConfigError;
use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use pin_project_lite::pin_project;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

/// The settings of a [`CaptureLayer`], and its serde form. Every field may
/// be left out.
///
/// ```
/// use tower_shadow::synthetic::CaptureConfig;
///
/// let config: CaptureConfig = serde_json::from_str(r#"{"half_life_secs": 600, "max_samples": 4096}"#)?;
/// assert!(config.validate().is_ok());
/// let bad: CaptureConfig = serde_json::from_str(r#"{"max_samples": 0}"#)?;
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "invalid capture config: max_samples: must be in 1..=1000000, not 0"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CaptureConfig {
    /// After this many seconds a request weighs half as much as a new one
    /// (in the sample and in the rate); above 0, default 300.
    pub half_life_secs: f64,
    /// The most request shapes kept, `1..=1000000`; default 1024.
    pub max_samples: usize,
    /// The most body bytes kept per shape, `0..=1048576`; default 4096.
    pub max_body_bytes: usize,
    /// The seed of the sampling draws; default 0.
    pub seed: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            half_life_secs: 300.0,
            max_samples: 1024,
            max_body_bytes: 4096,
            seed: 0,
        }
    }
}

const MAX_SAMPLES: usize = 1_000_000;
const MAX_BODY_BYTES: usize = 1 << 20;

impl CaptureConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let h = self.half_life_secs;
        if !(h > 0.0 && h.is_finite()) {
            return Err(ConfigError::invalid(
                "capture",
                "half_life_secs",
                format_args!("must be a finite number above 0, not {h}"),
            ));
        }
        crate::config::in_range("capture", "max_samples", self.max_samples, 1, MAX_SAMPLES)?;
        crate::config::in_range(
            "capture",
            "max_body_bytes",
            self.max_body_bytes,
            0,
            MAX_BODY_BYTES,
        )
    }
}

/// Records the shape of live requests into a [`Captured`] sample, to be
/// clustered into synthetic profiles. See the [module docs](super).
///
/// The sample is bounded (`max_samples` shapes) and leans toward recent
/// traffic: each request is kept with a probability that decays
/// exponentially with its age (forward-decay reservoir sampling), so the
/// sample is drawn from the traffic weighted by `2^(−age / half_life)`. A
/// request that will not be kept costs one lock and a random draw; a kept
/// one also copies its head and up to `max_body_bytes` of its body as the
/// body streams by, never delaying it. Masking and shaping are left to the
/// reader ([`Captured::shapes`]), off the request's path.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_shadow::synthetic::CaptureLayer;
///
/// let capture = CaptureLayer::new();
/// let captured = capture.captured(); // keep this to cluster later
/// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(capture);
/// # let _ = (app, captured);
/// ```
#[derive(Clone)]
pub struct CaptureLayer {
    captured: Captured,
}

impl fmt::Debug for CaptureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureLayer")
            .field("captured", &self.captured)
            .finish()
    }
}

impl Default for CaptureLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CaptureLayer {
    /// A layer with the default settings ([`CaptureConfig::default`]),
    /// [`RouteTemplate`] endpoint keys and the default [`Masker`].
    pub fn new() -> Self {
        Self::builder().build().expect("the defaults are in range")
    }

    /// A builder for the settings, the endpoint key and the masker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::mask::Masker;
    /// use tower_shadow::synthetic::{CaptureConfig, CaptureLayer};
    ///
    /// let layer = CaptureLayer::builder()
    ///     .half_life(Duration::from_secs(600))
    ///     .max_samples(4096)
    ///     .max_body_bytes(16 * 1024)
    ///     .seed(7)
    ///     .masker(Masker::new().redact_path("/card"))
    ///     .endpoint(|head: &http::request::Parts| head.uri.path().to_owned())
    ///     .build()?;
    /// # let _ = layer;
    /// let config: CaptureConfig = serde_json::from_str(r#"{"half_life_secs": 0}"#).unwrap();
    /// let error = CaptureLayer::builder().config(config).build().unwrap_err();
    /// assert!(error.to_string().contains("half_life_secs"));
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn builder() -> CaptureBuilder {
        CaptureBuilder {
            config: CaptureConfig::default(),
            endpoint: Arc::new(RouteTemplate),
            masker: Masker::new(),
        }
    }

    /// The shared sample this layer records into.
    pub fn captured(&self) -> Captured {
        self.captured.clone()
    }
}

/// Configures a [`CaptureLayer`]. Made by [`CaptureLayer::builder`].
pub struct CaptureBuilder {
    config: CaptureConfig,
    endpoint: Arc<dyn EndpointKey>,
    masker: Masker,
}

impl fmt::Debug for CaptureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureBuilder")
            .field("config", &self.config)
            .field("masker", &self.masker)
            .finish_non_exhaustive()
    }
}

impl CaptureBuilder {
    /// All settings at once.
    pub fn config(mut self, config: CaptureConfig) -> Self {
        self.config = config;
        self
    }

    /// How fast old traffic fades (default 5 minutes).
    pub fn half_life(mut self, half_life: Duration) -> Self {
        self.config.half_life_secs = half_life.as_secs_f64();
        self
    }

    /// The most request shapes kept (default 1024).
    pub fn max_samples(mut self, max: usize) -> Self {
        self.config.max_samples = max;
        self
    }

    /// The most body bytes kept per shape (default 4096).
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config.max_body_bytes = max;
        self
    }

    /// The seed of the sampling draws (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// How requests are grouped into routes (default [`RouteTemplate`]).
    pub fn endpoint(mut self, key: impl EndpointKey) -> Self {
        self.endpoint = Arc::new(key);
        self
    }

    /// What is masked before the shape is kept (default [`Masker::new`]).
    pub fn masker(mut self, masker: Masker) -> Self {
        self.masker = masker;
        self
    }

    /// Checks the settings and builds the layer.
    pub fn build(self) -> Result<CaptureLayer, ConfigError> {
        self.config.validate()?;
        let lambda = std::f64::consts::LN_2 / self.config.half_life_secs;
        Ok(CaptureLayer {
            captured: Captured {
                inner: Arc::new(CapturedInner {
                    state: Mutex::new(State {
                        rng: StdRng::seed_from_u64(self.config.seed),
                        heap: BinaryHeap::new(),
                        start: None,
                        seen: 0,
                        rate: 0.0,
                        rate_at: None,
                    }),
                    lambda,
                    config: self.config,
                    endpoint: self.endpoint,
                    masker: self.masker,
                }),
            },
        })
    }
}

/// A shared, bounded sample of request shapes and the decayed request
/// rate, filled by a [`CaptureLayer`]. Clones share it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower::{Layer, ServiceExt};
/// use tower_shadow::synthetic::{CaptureLayer, ClusterConfig};
///
/// let layer = CaptureLayer::new();
/// let captured = layer.captured();
/// let app = layer.layer(tower::service_fn(|_req: http::Request<_>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// }));
/// for i in 0..10 {
///     let request = http::Request::get(format!("/items/{i}")).body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
///     app.clone().oneshot(request).await.unwrap();
/// }
/// assert_eq!(captured.len(), 10);
/// let clustering = captured.cluster(&ClusterConfig::default());
/// assert_eq!(clustering.profiles.len(), 1);
/// assert_eq!(clustering.profiles[0].name, "GET /items/{id}");
/// # }
/// ```
#[derive(Clone)]
pub struct Captured {
    inner: Arc<CapturedInner>,
}

struct CapturedInner {
    state: Mutex<State>,
    /// The decay rate, per second: `ln 2 / half_life`.
    lambda: f64,
    config: CaptureConfig,
    endpoint: Arc<dyn EndpointKey>,
    masker: Masker,
}

struct State {
    rng: StdRng,
    /// The kept shapes; the top is the first to go.
    heap: BinaryHeap<Kept>,
    start: Option<Instant>,
    /// Requests counted.
    seen: u64,
    /// The decayed count of requests, as of `rate_at`.
    rate: f64,
    rate_at: Option<Instant>,
}

/// A kept shape and its sampling key: `ln(E / w)` with `E` a standard
/// exponential draw and `w = e^(λ t)` the request's forward-decay weight.
/// The smallest keys make a weighted sample without replacement.
struct Kept {
    key: f64,
    sample: Sample,
}

/// A kept request: as captured on the request's path (copied, not yet
/// masked), or shaped by the first reader.
enum Sample {
    Raw(Box<Raw>),
    Shaped(RequestShape),
}

/// What the request's path copies of a kept request; masking and shaping
/// wait for a reader ([`Captured::shapes`]), off that path.
struct Raw {
    route: String,
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
    body_bytes: usize,
}

impl Raw {
    fn new(head: &http::request::Parts, route: String, body: Bytes, body_bytes: usize) -> Self {
        Self {
            route,
            method: head.method.clone(),
            uri: head.uri.clone(),
            headers: head.headers.clone(),
            body,
            body_bytes,
        }
    }

    fn shape(self, masker: &Masker) -> RequestShape {
        let mut head = Request::new(()).into_parts().0;
        head.method = self.method;
        head.uri = self.uri;
        head.headers = self.headers;
        RequestShape::of(&head, self.route, &self.body, self.body_bytes, masker)
    }
}

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.key.total_cmp(&other.key) == Ordering::Equal
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.total_cmp(&other.key)
    }
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captured")
            .field("config", &self.inner.config)
            .field("samples", &self.len())
            .field("rate", &self.rate())
            .finish()
    }
}

impl Captured {
    /// How many shapes are kept.
    pub fn len(&self) -> usize {
        self.inner.state.lock().heap.len()
    }

    /// Whether no shape is kept yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kept shapes, a sample of the traffic weighted toward recent
    /// requests, in the order of their sampling keys.
    ///
    /// Requests are masked and shaped here, by the reader, not on their
    /// own path: until a first read, a kept request's head and body prefix
    /// are held as they came. The sample is taken out of the shared state
    /// while it is shaped, so requests are never held up by a reader;
    /// concurrent readers may each see part of it.
    ///
    /// ```
    /// use tower_shadow::synthetic::CaptureLayer;
    ///
    /// let captured = CaptureLayer::builder().max_samples(2).build()?.captured();
    /// for path in ["/a", "/b", "/c"] {
    ///     let (head, ()) = http::Request::get(path).body(()).unwrap().into_parts();
    ///     captured.record(&head, b"");
    /// }
    /// assert_eq!(captured.shapes().len(), 2); // bounded
    /// assert_eq!(captured.len(), 2);
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn shapes(&self) -> Vec<RequestShape> {
        let taken = std::mem::take(&mut self.inner.state.lock().heap);
        let kept: Vec<Kept> = taken
            .into_sorted_vec()
            .into_iter()
            .map(|Kept { key, sample }| {
                let shape = match sample {
                    Sample::Raw(raw) => raw.shape(&self.inner.masker),
                    Sample::Shaped(shape) => shape,
                };
                Kept {
                    key,
                    sample: Sample::Shaped(shape),
                }
            })
            .collect();
        let shapes = kept
            .iter()
            .filter_map(|k| match &k.sample {
                Sample::Shaped(shape) => Some(shape.clone()),
                Sample::Raw(_) => None,
            })
            .collect();
        let mut state = self.inner.state.lock();
        state.heap.extend(kept);
        while state.heap.len() > self.inner.config.max_samples {
            state.heap.pop();
        }
        shapes
    }

    /// The live request rate, per second, exponentially decayed with the
    /// half-life: for traffic at a steady rate `r` it is `r`. `None`
    /// before two requests.
    ///
    /// With `c` the decayed count of requests and `T` the time since the
    /// first, the rate is `λ c / (1 − e^(−λ T))`: the correction makes the
    /// figure right from the start, not only after a few half-lives.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use tower_shadow::synthetic::CaptureLayer;
    ///
    /// let captured = CaptureLayer::new().captured();
    /// let (head, ()) = http::Request::get("/").body(()).unwrap().into_parts();
    /// assert_eq!(captured.rate(), None);
    /// for _ in 0..=50 {
    ///     captured.record(&head, b"");
    ///     tokio::time::advance(Duration::from_millis(100)).await;
    /// }
    /// assert!((captured.rate().unwrap() - 10.0).abs() < 0.3);
    /// # }
    /// ```
    pub fn rate(&self) -> Option<f64> {
        let state = self.inner.state.lock();
        let (start, at) = (state.start?, state.rate_at?);
        let now = Instant::now();
        let lambda = self.inner.lambda;
        let count = state.rate * (-lambda * (now - at).as_secs_f64()).exp();
        let span = (now - start).as_secs_f64();
        if state.seen < 2 || span <= 0.0 {
            return None;
        }
        Some(lambda * count / -(-lambda * span).exp_m1())
    }

    /// Clusters the kept shapes into synthetic profiles.
    pub fn cluster(&self, config: &ClusterConfig) -> Clustering {
        cluster(&self.shapes(), config)
    }

    /// Counts a request and draws its key; `Some(key)` when the request
    /// is to be kept.
    fn admit(&self) -> Option<f64> {
        let mut state = self.inner.state.lock();
        let now = Instant::now();
        let lambda = self.inner.lambda;
        let start = *state.start.get_or_insert(now);
        let decayed = state.rate_at.map_or(0.0, |at| {
            state.rate * (-lambda * (now - at).as_secs_f64()).exp()
        });
        state.rate = decayed + 1.0;
        state.seen += 1;
        state.rate_at = Some(now);
        // A standard exponential draw; `1 − u` is in (0, 1], so ln is finite.
        let exponential = -(1.0 - state.rng.random::<f64>()).ln();
        let key = exponential.ln() - lambda * (now - start).as_secs_f64();
        let full = state.heap.len() >= self.inner.config.max_samples;
        match state.heap.peek() {
            Some(top) if full && key >= top.key => None,
            _ => Some(key),
        }
    }

    fn keep(&self, key: f64, raw: Raw) {
        let sample = Sample::Raw(Box::new(raw));
        let mut state = self.inner.state.lock();
        state.heap.push(Kept { key, sample });
        while state.heap.len() > self.inner.config.max_samples {
            state.heap.pop();
        }
    }

    /// Records one shape directly, as the layer does for each kept request:
    /// for tests, and for traffic that does not pass through the layer.
    ///
    /// ```
    /// use tower_shadow::synthetic::CaptureLayer;
    ///
    /// let captured = CaptureLayer::new().captured();
    /// let (head, ()) = http::Request::get("/").body(()).unwrap().into_parts();
    /// captured.record(&head, b"");
    /// assert_eq!(captured.shapes()[0].route, "GET /");
    /// ```
    pub fn record(&self, head: &http::request::Parts, body: &[u8]) {
        if let Some(key) = self.admit() {
            let kept = &body[..body.len().min(self.inner.config.max_body_bytes)];
            let route = self.inner.endpoint.endpoint(head);
            let raw = Raw::new(head, route, Bytes::copy_from_slice(kept), body.len());
            self.keep(key, raw);
        }
    }
}

impl<S> Layer<S> for CaptureLayer {
    type Service = Capture<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Capture {
            inner,
            captured: self.captured.clone(),
        }
    }
}

/// A service whose requests' shapes are recorded by a [`CaptureLayer`].
/// Made by the layer:
///
/// ```
/// use tower::Layer;
/// use tower_shadow::synthetic::CaptureLayer;
///
/// let inner = tower::service_fn(|_: http::Request<tower_shadow::synthetic::CaptureBody<String>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// let service = CaptureLayer::new().layer(inner);
/// let _inner = service.into_inner();
/// ```
#[derive(Clone, Debug)]
pub struct Capture<S> {
    inner: S,
    captured: Captured,
}

impl<S> Capture<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for Capture<S>
where
    S: Service<Request<CaptureBody<B>>, Response = Response<ResBody>>,
    B: Body<Data = Bytes>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (head, body) = request.into_parts();
        let pending = self.captured.admit().map(|key| {
            // The endpoint key may read extensions (a matched route), so it
            // is taken now; extensions are not kept.
            let route = self.captured.inner.endpoint.endpoint(&head);
            Box::new(Pending {
                captured: self.captured.clone(),
                key,
                raw: Some(Raw::new(&head, route, Bytes::new(), 0)),
                body: BytesMut::new(),
            })
        });
        let body = CaptureBody {
            inner: body,
            pending,
        };
        self.inner.call(Request::from_parts(head, body))
    }
}

/// A kept request whose body is still streaming; its shape is recorded
/// when the body ends or is dropped, whichever comes first.
struct Pending {
    captured: Captured,
    key: f64,
    raw: Option<Raw>,
    body: BytesMut,
}

impl Pending {
    fn push(&mut self, data: &Bytes) {
        let room = self.captured.inner.config.max_body_bytes - self.body.len();
        self.body.extend_from_slice(&data[..data.len().min(room)]);
        if let Some(raw) = &mut self.raw {
            raw.body_bytes += data.len();
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut raw) = self.raw.take() {
            raw.body = std::mem::take(&mut self.body).freeze();
            self.captured.keep(self.key, raw);
        }
    }
}

pin_project! {
    /// The request body the service wrapped by a [`CaptureLayer`] receives:
    /// the client's body, frame by frame, unchanged.
    pub struct CaptureBody<B> {
        #[pin]
        inner: B,
        pending: Option<Box<Pending>>,
    }
}

impl<B> fmt::Debug for CaptureBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureBody")
            .field("capturing", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Body<Data = Bytes>> Body for CaptureBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(pending), Some(data)) = (this.pending.as_mut(), frame.data_ref()) {
                    pending.push(data);
                }
            }
            // The end, or a broken body: record what was seen (on drop).
            _ => drop(this.pending.take()),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(path: &str) -> http::request::Parts {
        http::Request::get(path).body(()).unwrap().into_parts().0
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_follows_steady_traffic_from_the_start() {
        let captured = CaptureLayer::new().captured();
        for _ in 0..=100 {
            captured.record(&head("/"), b"");
            tokio::time::advance(Duration::from_millis(50)).await;
        }
        let rate = captured.rate().unwrap();
        assert!((rate - 20.0).abs() < 0.5, "{rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_sample_is_bounded_and_leans_recent() {
        let captured = CaptureLayer::builder()
            .max_samples(100)
            .half_life(Duration::from_secs(10))
            .build()
            .unwrap()
            .captured();
        for _ in 0..1000 {
            captured.record(&head("/old"), b"");
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        // 40 s later (four half-lives), as many requests again.
        tokio::time::advance(Duration::from_secs(30)).await;
        for _ in 0..1000 {
            captured.record(&head("/new"), b"");
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        let shapes = captured.shapes();
        assert_eq!(shapes.len(), 100);
        let old = shapes.iter().filter(|s| s.route == "GET /old").count();
        // Weight of the old traffic ≈ 2^-4 of the new: about 6 of 100.
        assert!(old < 20, "{old} old shapes");
        assert!(old > 0, "old traffic still shows");
    }
}
