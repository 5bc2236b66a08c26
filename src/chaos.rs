//! Chaos experiments: injected latency, error statuses and aborts.
//!
//! [`FaultLayer`] wraps a service — typically the candidate on the shadow
//! path, or a synthetic rehearsal's target — and, at set rates, delays a
//! request, answers it with an error status without calling the service, or
//! aborts it with an error. The draws come from one seeded random source
//! shared by every clone, so an experiment is repeatable. Run one to check
//! that the rollout's policies catch what they should before a real fault
//! does.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{routing::get, Router};
//! use http::StatusCode;
//! use std::time::Duration;
//! use tower::Layer;
//! use tower_shadow::chaos::{Delay, FaultLayer};
//! use tower_shadow::shadow::ShadowLayer;
//!
//! let faults = FaultLayer::new()
//!     .seed(7)
//!     .latency(0.1, Delay::exponential(Duration::from_millis(30)))
//!     .error(StatusCode::SERVICE_UNAVAILABLE, 0.05)
//!     .abort(0.01);
//! assert!(faults.validate().is_ok());
//!
//! let candidate = Router::new().route("/", get(|| async { "v2" }));
//! let stable = Router::new().route("/", get(|| async { "v1" }));
//! // The faults are on the shadow path only: users never see them.
//! let app: Router = stable.layer(ShadowLayer::new(faults.layer(candidate)));
//! # let _ = app;
//! # }
//! ```
//!
//! Its error type is the crate's `BoxError` (an abort is an
//! [`Aborted`] error); to serve a faulty service with axum, whose services
//! may not fail, put `axum::error_handling::HandleErrorLayer` in front.
//!
//! Loaded from JSON (unknown fields are errors, values are checked):
//!
//! ```
//! use tower_shadow::chaos::FaultLayer;
//!
//! let faults: FaultLayer = serde_json::from_str(r#"{
//!     "seed": 7,
//!     "latency": {"rate": 0.1, "delay": {"kind": "uniform", "min_ms": 10, "max_ms": 50}},
//!     "errors": [{"status": 503, "rate": 0.05}],
//!     "abort_rate": 0.01
//! }"#)?;
//! assert_eq!(faults.config().errors[0].rate, 0.05);
//!
//! let bad = serde_json::from_str::<FaultLayer>(r#"{"abort_rate": 1.5}"#);
//! assert!(bad.unwrap_err().to_string().contains("abort_rate: must be in 0..=1, not 1.5"));
//! # Ok::<(), serde_json::Error>(())
//! ```

use crate::policy::ConfigError;
use crate::BoxError;
use http::{Request, Response, StatusCode};
use parking_lot::Mutex;
use pin_project_lite::pin_project;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

/// How long an injected delay lasts.
///
/// ```
/// use std::time::Duration;
/// use tower_shadow::chaos::Delay;
///
/// let delay = Delay::uniform(Duration::from_millis(10), Duration::from_millis(50));
/// assert_eq!(serde_json::to_string(&delay)?, r#"{"kind":"uniform","min_ms":10.0,"max_ms":50.0}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Delay {
    /// Always `ms` milliseconds.
    Fixed {
        /// The delay, in milliseconds (0 or more).
        ms: f64,
    },
    /// Uniform between `min_ms` and `max_ms`.
    Uniform {
        /// The shortest delay, in milliseconds (0 or more).
        min_ms: f64,
        /// The longest delay, in milliseconds (at least `min_ms`).
        max_ms: f64,
    },
    /// Exponentially distributed with mean `mean_ms`: mostly short, with a
    /// long tail, like a saturated queue.
    Exponential {
        /// The mean delay, in milliseconds (0 or more).
        mean_ms: f64,
    },
}

impl Delay {
    /// Always `delay`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::chaos::Delay;
    ///
    /// assert_eq!(Delay::fixed(Duration::from_millis(250)), Delay::Fixed { ms: 250.0 });
    /// ```
    pub fn fixed(delay: Duration) -> Self {
        Self::Fixed { ms: millis(delay) }
    }

    /// Uniform between `min` and `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::chaos::Delay;
    ///
    /// let d = Delay::uniform(Duration::from_millis(5), Duration::from_millis(9));
    /// assert_eq!(d, Delay::Uniform { min_ms: 5.0, max_ms: 9.0 });
    /// ```
    pub fn uniform(min: Duration, max: Duration) -> Self {
        Self::Uniform {
            min_ms: millis(min),
            max_ms: millis(max),
        }
    }

    /// Exponential with mean `mean`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::chaos::Delay;
    ///
    /// assert_eq!(Delay::exponential(Duration::from_secs(1)), Delay::Exponential { mean_ms: 1000.0 });
    /// ```
    pub fn exponential(mean: Duration) -> Self {
        Self::Exponential {
            mean_ms: millis(mean),
        }
    }

    /// A delay drawn with `u`, uniform in `0..1`.
    fn draw(&self, u: f64) -> Duration {
        let ms = match *self {
            Self::Fixed { ms } => ms,
            Self::Uniform { min_ms, max_ms } => min_ms + u * (max_ms - min_ms),
            Self::Exponential { mean_ms } => -mean_ms * (1.0 - u).ln(),
        };
        // Out-of-range builder values give no delay rather than a panic.
        Duration::try_from_secs_f64(ms / 1e3).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let non_negative =
            |field: &str, ms: f64| crate::config::in_range("fault", field, ms, 0.0, MAX_DELAY_MS);
        match *self {
            Self::Fixed { ms } => non_negative("latency.delay.ms", ms),
            Self::Uniform { min_ms, max_ms } => {
                non_negative("latency.delay.min_ms", min_ms)?;
                crate::config::in_range(
                    "fault",
                    "latency.delay.max_ms",
                    max_ms,
                    min_ms,
                    MAX_DELAY_MS,
                )
            }
            Self::Exponential { mean_ms } => non_negative("latency.delay.mean_ms", mean_ms),
        }
    }
}

/// The longest delay a config may ask for: one hour, in milliseconds.
const MAX_DELAY_MS: f64 = 3_600_000.0;

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Injected latency: a share of requests delayed before the service runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyFault {
    /// The share of requests delayed, in `0..=1`.
    pub rate: f64,
    /// How long each delay lasts.
    pub delay: Delay,
}

/// An injected error status: a share of requests answered with `status`
/// (and an empty body) without calling the service.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorFault {
    /// The status, `100..=999`.
    pub status: u16,
    /// The share of requests, in `0..=1`.
    pub rate: f64,
}

/// The settings of a [`FaultLayer`], and its serde form. Every field may
/// be left out: the default injects nothing.
///
/// ```
/// use tower_shadow::chaos::{ErrorFault, FaultConfig};
///
/// let mut config = FaultConfig::default();
/// config.errors.push(ErrorFault { status: 500, rate: 0.7 });
/// config.abort_rate = 0.5;
/// assert_eq!(
///     config.validate().unwrap_err().to_string(),
///     "invalid fault config: abort_rate: error and abort rates add up to 1.2, more than 1"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FaultConfig {
    /// The seed of the random draws; default 0.
    pub seed: u64,
    /// Injected latency, if any.
    pub latency: Option<LatencyFault>,
    /// Injected error statuses; their rates and `abort_rate` add up to at
    /// most 1.
    pub errors: Vec<ErrorFault>,
    /// The share of requests aborted with an [`Aborted`] error, in `0..=1`.
    pub abort_rate: f64,
}

impl FaultConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(latency) = &self.latency {
            crate::config::in_range("fault", "latency.rate", latency.rate, 0.0, 1.0)?;
            latency.delay.validate()?;
        }
        for (i, error) in self.errors.iter().enumerate() {
            if StatusCode::from_u16(error.status).is_err() {
                return Err(ConfigError::invalid(
                    "fault",
                    format_args!("errors[{i}].status"),
                    format_args!("must be in 100..=999, not {}", error.status),
                ));
            }
            crate::config::in_range("fault", &format!("errors[{i}].rate"), error.rate, 0.0, 1.0)?;
        }
        crate::config::in_range("fault", "abort_rate", self.abort_rate, 0.0, 1.0)?;
        let total = self.abort_rate + self.errors.iter().map(|e| e.rate).sum::<f64>();
        if total > 1.0 + 1e-12 {
            return Err(ConfigError::invalid(
                "fault",
                "abort_rate",
                format_args!("error and abort rates add up to {total}, more than 1"),
            ));
        }
        Ok(())
    }

    /// Checks the settings and builds the layer.
    ///
    /// ```
    /// use tower_shadow::chaos::{ErrorFault, FaultConfig};
    ///
    /// let mut config = FaultConfig::default();
    /// config.errors.push(ErrorFault { status: 503, rate: 0.1 });
    /// let layer = config.build()?;
    /// assert_eq!(layer.config().errors.len(), 1);
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<FaultLayer, ConfigError> {
        FaultLayer::try_from(self)
    }
}

/// Injects latency, error statuses and aborts. See the [module docs](self).
///
/// Clones share the random source and the [`FaultCounts`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http::StatusCode;
/// use tower::{Layer, ServiceExt};
/// use tower_shadow::chaos::FaultLayer;
///
/// let faults = FaultLayer::new().error(StatusCode::SERVICE_UNAVAILABLE, 1.0);
/// let service = faults.layer(tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
/// let response = service.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(faults.counts().errors, 1);
/// # }
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "FaultConfig", into = "FaultConfig")]
pub struct FaultLayer {
    config: FaultConfig,
    shared: Arc<Shared>,
}

struct Shared {
    rng: Mutex<StdRng>,
    counts: [AtomicU64; 4],
}

impl Shared {
    fn new(seed: u64) -> Arc<Self> {
        Arc::new(Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counts: Default::default(),
        })
    }
}

impl fmt::Debug for FaultLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultLayer")
            .field("config", &self.config)
            .field("counts", &self.counts())
            .finish()
    }
}

impl Default for FaultLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TryFrom<FaultConfig> for FaultLayer {
    type Error = ConfigError;

    fn try_from(config: FaultConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            shared: Shared::new(config.seed),
            config,
        })
    }
}

impl From<FaultLayer> for FaultConfig {
    fn from(layer: FaultLayer) -> Self {
        layer.config
    }
}

/// What a [`FaultLayer`] has injected so far, over all its clones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultCounts {
    /// Requests seen.
    pub requests: u64,
    /// Requests delayed.
    pub delayed: u64,
    /// Requests answered with an injected error status.
    pub errors: u64,
    /// Requests aborted.
    pub aborted: u64,
}

const REQUESTS: usize = 0;
const DELAYED: usize = 1;
const ERRORS: usize = 2;
const ABORTED: usize = 3;

impl FaultLayer {
    /// A layer that injects nothing (seed 0) until told to.
    ///
    /// ```
    /// use tower_shadow::chaos::{FaultConfig, FaultLayer};
    ///
    /// assert_eq!(FaultLayer::new().config(), &FaultConfig::default());
    /// ```
    pub fn new() -> Self {
        Self {
            config: FaultConfig::default(),
            shared: Shared::new(0),
        }
    }

    /// The seed of the random draws (restarts the sequence).
    ///
    /// ```
    /// use tower_shadow::chaos::FaultLayer;
    ///
    /// assert_eq!(FaultLayer::new().seed(42).config().seed, 42);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self.shared = Shared::new(seed);
        self
    }

    /// Delays a share `rate` of requests by `delay` before the service runs.
    ///
    /// Builder values are checked by [`validate`](Self::validate); out of
    /// range, rates act as clamped to `0..=1` and delays as zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::chaos::{Delay, FaultLayer};
    ///
    /// let layer = FaultLayer::new().latency(0.5, Delay::fixed(Duration::from_millis(100)));
    /// assert_eq!(layer.config().latency.unwrap().rate, 0.5);
    /// ```
    pub fn latency(mut self, rate: f64, delay: Delay) -> Self {
        self.config.latency = Some(LatencyFault { rate, delay });
        self
    }

    /// Answers a share `rate` of requests with `status` and an empty body,
    /// without calling the service. May be called for several statuses.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_shadow::chaos::FaultLayer;
    ///
    /// let layer = FaultLayer::new()
    ///     .error(StatusCode::INTERNAL_SERVER_ERROR, 0.02)
    ///     .error(StatusCode::SERVICE_UNAVAILABLE, 0.03);
    /// assert_eq!(layer.config().errors.len(), 2);
    /// ```
    pub fn error(mut self, status: StatusCode, rate: f64) -> Self {
        self.config.errors.push(ErrorFault {
            status: status.as_u16(),
            rate,
        });
        self
    }

    /// Fails a share `rate` of requests with an [`Aborted`] error, without
    /// calling the service: a connection reset, as far as the caller knows.
    ///
    /// ```
    /// use tower_shadow::chaos::FaultLayer;
    ///
    /// assert_eq!(FaultLayer::new().abort(0.01).config().abort_rate, 0.01);
    /// ```
    pub fn abort(mut self, rate: f64) -> Self {
        self.config.abort_rate = rate;
        self
    }

    /// The settings.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Checks the settings, naming the first field out of range.
    ///
    /// ```
    /// use tower_shadow::chaos::FaultLayer;
    ///
    /// let error = FaultLayer::new().abort(-0.1).validate().unwrap_err();
    /// assert_eq!(error.to_string(), "invalid fault config: abort_rate: must be in 0..=1, not -0.1");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config.validate()
    }

    /// What has been injected so far.
    ///
    /// ```
    /// use tower_shadow::chaos::FaultLayer;
    ///
    /// assert_eq!(FaultLayer::new().counts().requests, 0);
    /// ```
    pub fn counts(&self) -> FaultCounts {
        let c = |i: usize| self.shared.counts[i].load(Ordering::Relaxed);
        FaultCounts {
            requests: c(REQUESTS),
            delayed: c(DELAYED),
            errors: c(ERRORS),
            aborted: c(ABORTED),
        }
    }

    fn count(&self, i: usize) {
        self.shared.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Draws the fate of one request.
    fn draw(&self) -> (Option<Duration>, Outcome) {
        let (delay_u, delay_len_u, outcome_u) = {
            let mut rng = self.shared.rng.lock();
            (
                rng.random::<f64>(),
                rng.random::<f64>(),
                rng.random::<f64>(),
            )
        };
        self.count(REQUESTS);
        let delay = self
            .config
            .latency
            .filter(|l| delay_u < l.rate)
            .map(|l| l.delay.draw(delay_len_u))
            .filter(|d| !d.is_zero());
        if delay.is_some() {
            self.count(DELAYED);
        }
        let mut edge = self.config.abort_rate.clamp(0.0, 1.0);
        if outcome_u < edge {
            self.count(ABORTED);
            return (delay, Outcome::Abort);
        }
        for error in &self.config.errors {
            edge += error.rate.clamp(0.0, 1.0);
            if outcome_u < edge {
                if let Ok(status) = StatusCode::from_u16(error.status) {
                    self.count(ERRORS);
                    return (delay, Outcome::Status(status));
                }
            }
        }
        (delay, Outcome::Pass)
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = Fault<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Fault {
            inner,
            faults: self.clone(),
        }
    }
}

/// A service with faults injected by a [`FaultLayer`].
///
/// ```
/// use tower_shadow::chaos::{Fault, FaultLayer};
///
/// let service = Fault::new(tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }), FaultLayer::new().abort(0.5));
/// let _inner = service.into_inner();
/// ```
#[derive(Clone, Debug)]
pub struct Fault<S> {
    inner: S,
    faults: FaultLayer,
}

impl<S> Fault<S> {
    /// `inner` with the faults of `faults`.
    pub fn new(inner: S, faults: FaultLayer) -> Self {
        Self { inner, faults }
    }

    /// A [`FaultLayer`] that injects nothing yet; see [`FaultLayer::new`].
    pub fn layer() -> FaultLayer {
        FaultLayer::new()
    }

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

/// The error of an aborted request.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower::{Layer, ServiceExt};
/// use tower_shadow::chaos::{Aborted, FaultLayer};
///
/// let service = FaultLayer::new().abort(1.0).layer(tower::service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
/// let error = service.oneshot(http::Request::new(())).await.unwrap_err();
/// assert!(error.is::<Aborted>());
/// assert_eq!(error.to_string(), "request aborted by fault injection");
/// # }
/// ```
#[derive(Debug)]
pub struct Aborted(());

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request aborted by fault injection")
    }
}

impl std::error::Error for Aborted {}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Pass,
    Status(StatusCode),
    Abort,
}

impl<S, B, ResBody> Service<Request<B>> for Fault<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (delay, outcome) = self.faults.draw();
        let state = match outcome {
            Outcome::Pass => State::Inner {
                future: self.inner.call(request),
            },
            Outcome::Status(status) => State::Injected {
                status: Some(status),
            },
            Outcome::Abort => State::Injected { status: None },
        };
        ResponseFuture {
            delay: delay.map(tokio::time::sleep),
            state,
        }
    }
}

pin_project! {
    /// The response future of [`Fault`].
    pub struct ResponseFuture<F> {
        #[pin]
        delay: Option<Sleep>,
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F },
        // `None`: aborted.
        Injected { status: Option<StatusCode> },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("delayed", &self.delay.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: Into<BoxError>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(delay) = this.delay.as_mut().as_pin_mut() {
            std::task::ready!(delay.poll(cx));
            this.delay.set(None);
        }
        match this.state.project() {
            StateProj::Inner { future } => future.poll(cx).map_err(Into::into),
            StateProj::Injected {
                status: Some(status),
            } => {
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = *status;
                Poll::Ready(Ok(response))
            }
            StateProj::Injected { status: None } => Poll::Ready(Err(Box::new(Aborted(())))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_drawn_from_their_distribution() {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        assert_eq!(ms(Delay::fixed(Duration::from_millis(7)).draw(0.3)), 7.0);
        let uniform = Delay::uniform(Duration::from_millis(10), Duration::from_millis(20));
        assert_eq!(ms(uniform.draw(0.5)), 15.0);
        let exponential = Delay::exponential(Duration::from_millis(10));
        assert!((ms(exponential.draw(1.0 - (-1.0f64).exp())) - 10.0).abs() < 1e-9);
        assert_eq!(Delay::Fixed { ms: -5.0 }.draw(0.0), Duration::ZERO);
    }

    #[test]
    fn validation_names_the_field() {
        let too_long = FaultLayer::new().latency(
            0.1,
            Delay::Uniform {
                min_ms: 5.0,
                max_ms: 1.0,
            },
        );
        assert_eq!(
            too_long.validate().unwrap_err().to_string(),
            "invalid fault config: latency.delay.max_ms: must be in 5..=3600000, not 1"
        );
        let mut config = FaultConfig::default();
        config.errors.push(ErrorFault {
            status: 42,
            rate: 0.1,
        });
        assert_eq!(
            config.build().unwrap_err().to_string(),
            "invalid fault config: errors[0].status: must be in 100..=999, not 42"
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let draws = |layer: FaultLayer| -> Vec<String> {
            (0..50).map(|_| format!("{:?}", layer.draw())).collect()
        };
        let make = || {
            FaultLayer::new()
                .seed(3)
                .error(StatusCode::BAD_GATEWAY, 0.3)
                .latency(0.5, Delay::exponential(Duration::from_millis(5)))
        };
        assert_eq!(draws(make()), draws(make()));
        assert_ne!(draws(make()), draws(make().seed(4)));
    }
}
