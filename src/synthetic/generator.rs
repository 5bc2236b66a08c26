use super::profile::SyntheticProfile;
use crate::compare::{Comparator, Standard};
use crate::exchange::Exchange;
use crate::health::{Health, LatencySummary};
use crate::policy::ConfigError;
use crate::shadow::call;
use crate::BoxError;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower_service::Service;

/// What the [`Generator`] can load: a service taking the synthetic
/// requests, cloned for each one and called on spawned tasks, whose errors
/// and body errors convert into [`BoxError`].
///
/// Implemented for every service that fits (axum's `Router`, a
/// `service_fn`, a boxed service, ...); there is nothing to implement.
pub trait Target:
    Service<
        Request<Full<Bytes>>,
        Response = Response<<Self as Target>::Body>,
        Future: Send,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + 'static
{
    /// The response body.
    type Body: Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> Target for S
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Body = B;
}

/// The settings of a [`Generator`], and its serde form. Every field but
/// `rate` and one of `duration_secs` / `requests` may be left out.
///
/// ```
/// use tower_shadow::synthetic::GeneratorConfig;
///
/// let config: GeneratorConfig = serde_json::from_str(
///     r#"{"rate": 50, "stress": 4, "concurrency": 16, "duration_secs": 30, "mix": {"GET /items/{id}": 2}}"#,
/// )?;
/// assert!(config.validate().is_ok());
/// let bad: GeneratorConfig = serde_json::from_str(r#"{"rate": 50, "requests": 10, "stress": 0}"#)?;
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "invalid generator config: stress: must be in 0.001..=1000, not 0"
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct GeneratorConfig {
    /// The baseline rate, requests per second, in `0.001..=1000000`
    /// (e.g. [`Captured::rate`](super::Captured::rate)); default 10.
    pub rate: f64,
    /// The stress multiplier: requests go out at `rate × stress`, in
    /// `0.001..=1000`; default 1.
    pub stress: f64,
    /// The most requests in flight at once, `1..=65536`; default 64. When
    /// it is reached, the next request waits (and counts as late).
    pub concurrency: usize,
    /// Stop after this many seconds (`0.001..=86400`).
    pub duration_secs: Option<f64>,
    /// Stop after this many requests (`1..`). With `duration_secs` too,
    /// whichever comes first.
    pub requests: Option<u64>,
    /// Each side's answer is given up after this many milliseconds, and
    /// counted as a timeout (`1..=3600000`); default 10 000.
    pub timeout_ms: f64,
    /// The most body bytes compared per answer, `0..=67108864`; default 1 MiB.
    pub max_body_bytes: usize,
    /// The seed of the profile draws; default 0.
    pub seed: u64,
    /// A weight per profile name instead of the profiles' shares (profiles
    /// left out get none); weights are non-negative, not all 0.
    pub mix: BTreeMap<String, f64>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            rate: 10.0,
            stress: 1.0,
            concurrency: 64,
            duration_secs: None,
            requests: None,
            timeout_ms: 10_000.0,
            max_body_bytes: 1 << 20,
            seed: 0,
            mix: BTreeMap::new(),
        }
    }
}

impl GeneratorConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range =
            |field: &str, value, lo, hi| crate::config::in_range("generator", field, value, lo, hi);
        range("rate", self.rate, 0.001, 1e6)?;
        range("stress", self.stress, 0.001, 1000.0)?;
        crate::config::in_range("generator", "concurrency", self.concurrency, 1, 65536)?;
        if let Some(secs) = self.duration_secs {
            range("duration_secs", secs, 0.001, 86400.0)?;
        }
        match self.requests {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "generator",
                    "requests",
                    "must be 1 or more, not 0",
                ))
            }
            None if self.duration_secs.is_none() => {
                return Err(ConfigError::invalid(
                    "generator",
                    "duration_secs",
                    "a duration or a request count is needed, or the run would not stop",
                ))
            }
            _ => {}
        }
        range("timeout_ms", self.timeout_ms, 1.0, 3_600_000.0)?;
        crate::config::in_range(
            "generator",
            "max_body_bytes",
            self.max_body_bytes,
            0,
            1 << 26,
        )?;
        for (name, weight) in &self.mix {
            if !(weight.is_finite() && *weight >= 0.0) {
                return Err(ConfigError::invalid(
                    "generator",
                    format_args!("mix.{name}"),
                    format_args!("must be a finite number, 0 or more, not {weight}"),
                ));
            }
        }
        if !self.mix.is_empty() && self.mix.values().all(|w| *w == 0.0) {
            return Err(ConfigError::invalid(
                "generator",
                "mix",
                "the weights are all 0",
            ));
        }
        Ok(())
    }

    /// The rate requests go out at: `rate × stress`.
    pub fn target_rate(&self) -> f64 {
        self.rate * self.stress
    }
}

/// Drives services with synthetic requests drawn from
/// [`SyntheticProfile`]s: at `rate × stress` requests per second, at most
/// `concurrency` in flight, until a duration or a request count, then it
/// stops by itself.
///
/// [`run`](Generator::run) sends each request to a baseline and a
/// candidate, compares the answers with the same [`Comparator`] as live
/// shadows, and records the pair in a [`Health`] under the profile's name
/// as endpoint, so any [`RollbackPolicy`](crate::policy::RollbackPolicy)
/// can judge the rehearsal, and [`judge_profiles`](super::judge_profiles)
/// each profile. [`drive`](Generator::drive) only loads one service.
///
/// Requests go out on a fixed schedule (the `i`-th at `i / (rate ×
/// stress)` seconds), not when the previous answer arrives, so a slow
/// service does not slow the load down (open loop) until the concurrency
/// bound is reached. Each request runs on its own task; a run cancelled
/// midway leaves its requests in flight to finish (within the timeout).
///
/// The [`Health`] judges a sliding window (60 s by default): for a longer
/// rehearsal judged as a whole, give the generator a health whose window
/// covers the run.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use axum::{routing::get, Router};
/// use tower_shadow::synthetic::{Generator, SyntheticProfile};
///
/// let profile: SyntheticProfile = serde_json::from_str(r#"{"name": "GET /", "share": 1, "route": "GET /",
///     "template": {"method": "GET", "uri": "/", "headers": [], "body": {"text": ""}}}"#).unwrap();
/// let stable = Router::new().route("/", get(|| async { "v1" }));
/// let candidate = Router::new().route("/", get(|| async { "v2" }));
///
/// let generator = Generator::builder(vec![profile]).rate(100.0).requests(50).build().unwrap();
/// let report = generator.run(stable, candidate).await;
/// assert_eq!(report.requests, 50);
/// let snapshot = generator.health().snapshot();
/// assert_eq!((snapshot.pairs, snapshot.different), (50, 50));
/// assert_eq!(snapshot.endpoints["GET /"].pairs, 50);
/// # }
/// ```
#[derive(Clone)]
pub struct Generator {
    profiles: Arc<[SyntheticProfile]>,
    /// Cumulative mix weights, one per profile.
    cumulative: Arc<[f64]>,
    config: GeneratorConfig,
    comparator: Arc<dyn Comparator>,
    health: Health,
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("profiles", &self.profiles.len())
            .field("config", &self.config)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Generator`]. Made by [`Generator::builder`].
pub struct GeneratorBuilder {
    profiles: Vec<SyntheticProfile>,
    config: GeneratorConfig,
    comparator: Arc<dyn Comparator>,
    health: Option<Health>,
}

impl fmt::Debug for GeneratorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratorBuilder")
            .field("profiles", &self.profiles.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GeneratorBuilder {
    /// All settings at once.
    pub fn config(mut self, config: GeneratorConfig) -> Self {
        self.config = config;
        self
    }

    /// The baseline rate, requests per second (default 10).
    pub fn rate(mut self, per_second: f64) -> Self {
        self.config.rate = per_second;
        self
    }

    /// The stress multiplier (default 1).
    pub fn stress(mut self, multiplier: f64) -> Self {
        self.config.stress = multiplier;
        self
    }

    /// The most requests in flight (default 64).
    pub fn concurrency(mut self, max: usize) -> Self {
        self.config.concurrency = max;
        self
    }

    /// Stop after `duration`.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.config.duration_secs = Some(duration.as_secs_f64());
        self
    }

    /// Stop after `count` requests.
    pub fn requests(mut self, count: u64) -> Self {
        self.config.requests = Some(count);
        self
    }

    /// Give up on an answer after `timeout` (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout_ms = timeout.as_secs_f64() * 1e3;
        self
    }

    /// The seed of the profile draws (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Gives the profile named `name` the mix weight `weight` instead of
    /// its share; once one weight is set, profiles without one get none.
    pub fn mix(mut self, name: impl Into<String>, weight: f64) -> Self {
        self.config.mix.insert(name.into(), weight);
        self
    }

    /// How answers are compared (default [`compare::Standard`](Standard)).
    pub fn comparator(mut self, comparator: impl Comparator) -> Self {
        self.comparator = Arc::new(comparator);
        self
    }

    /// The health the pairs go to (default: a new one).
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Checks the settings and builds the generator. Fails on invalid
    /// settings, and when no profile has a weight above 0 (naming `mix`,
    /// or `profiles` when there are none).
    pub fn build(self) -> Result<Generator, ConfigError> {
        self.config.validate()?;
        let weights: Vec<f64> = self
            .profiles
            .iter()
            .map(|p| {
                if self.config.mix.is_empty() {
                    p.share.max(0.0)
                } else {
                    self.config.mix.get(&p.name).copied().unwrap_or(0.0)
                }
            })
            .collect();
        let mut total = 0.0;
        let cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                total += if w.is_finite() { *w } else { 0.0 };
                total
            })
            .collect();
        if total <= 0.0 {
            let field = if self.profiles.is_empty() {
                "profiles"
            } else {
                "mix"
            };
            return Err(ConfigError::invalid(
                "generator",
                field,
                "no profile has a weight above 0",
            ));
        }
        Ok(Generator {
            profiles: self.profiles.into(),
            cumulative: cumulative.into(),
            config: self.config,
            comparator: self.comparator,
            health: self.health.unwrap_or_default(),
        })
    }
}

/// What one profile saw during a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileReport {
    /// Requests sent.
    pub requests: u64,
    /// Answers where the candidate failed (an error or a 5xx).
    pub candidate_errors: u64,
    /// Pairs that differed (with a baseline only).
    pub different: u64,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunReport {
    /// The rate asked for: `rate × stress`, per second.
    pub target_rate: f64,
    /// The rate achieved: `requests / (time of the last send + one period)`.
    pub rate: f64,
    /// Requests sent (all answered when the run returns).
    pub requests: u64,
    /// Requests sent more than one period late, because `concurrency`
    /// requests were in flight: the service did not keep up.
    pub late: u64,
    /// The most requests in flight at once.
    pub max_in_flight: usize,
    /// From the first send to the last answer.
    pub elapsed_secs: f64,
    /// Answers where the candidate failed (an error or a 5xx).
    pub candidate_errors: u64,
    /// The candidate's latency.
    pub candidate_latency: LatencySummary,
    /// Per profile.
    pub profiles: BTreeMap<String, ProfileReport>,
}

impl RunReport {
    /// The candidate's share of failed answers (0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.candidate_errors as f64 / self.requests as f64
        }
    }
}

/// Tallies of a run, shared by its tasks.
struct Tally {
    report: RunReport,
    latency: Histogram<u64>,
    in_flight: usize,
}

impl Generator {
    /// A builder over `profiles`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::compare::JsonComparator;
    /// use tower_shadow::health::Health;
    /// use tower_shadow::synthetic::{Generator, SyntheticProfile};
    ///
    /// # let profiles: Vec<SyntheticProfile> = serde_json::from_str(r#"[{"name": "GET /", "share": 1, "route": "GET /",
    /// #     "template": {"method": "GET", "uri": "/", "headers": [], "body": {"text": ""}}}]"#).unwrap();
    /// let generator = Generator::builder(profiles)
    ///     .rate(120.0)                           // the live rate, e.g. from `Captured::rate`
    ///     .stress(3.0)                           // × 3: 360 requests per second
    ///     .concurrency(32)
    ///     .duration(Duration::from_secs(60))
    ///     .requests(50_000)                      // whichever comes first
    ///     .timeout(Duration::from_secs(2))
    ///     .mix("GET /", 1.0)
    ///     .seed(7)
    ///     .comparator(JsonComparator::new().ignore("/served_at"))
    ///     .health(Health::new())
    ///     .build()?;
    /// assert_eq!(generator.config().target_rate(), 360.0);
    /// assert_eq!(generator.profiles().len(), 1);
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn builder(profiles: Vec<SyntheticProfile>) -> GeneratorBuilder {
        GeneratorBuilder {
            profiles,
            config: GeneratorConfig::default(),
            comparator: Arc::new(Standard::new()),
            health: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The health the pairs of [`run`](Self::run) go to.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// The profiles.
    pub fn profiles(&self) -> &[SyntheticProfile] {
        &self.profiles
    }

    /// Sends each synthetic request to `baseline` and `candidate`, compares
    /// the answers and records the pair in the [`health`](Self::health)
    /// under the profile's name. Returns when every request is answered
    /// (or timed out).
    pub async fn run<S: Target, C: Target>(&self, baseline: S, candidate: C) -> RunReport {
        self.load(Some(baseline), candidate, self.config.stress)
            .await
    }

    /// Only loads `service` (nothing is compared or recorded in the
    /// health): for stress runs and capacity measurements.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use tower_shadow::synthetic::{Generator, SyntheticProfile};
    ///
    /// # let profiles: Vec<SyntheticProfile> = serde_json::from_str(r#"[{"name": "GET /", "share": 1, "route": "GET /",
    /// #     "template": {"method": "GET", "uri": "/", "headers": [], "body": {"text": ""}}}]"#).unwrap();
    /// let service = tower::service_fn(|_req: http::Request<_>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok"))))
    /// });
    /// let generator = Generator::builder(profiles).rate(10.0).requests(20).build().unwrap();
    /// let report = generator.drive(service).await;
    /// assert_eq!((report.requests, report.candidate_errors), (20, 0));
    /// assert_eq!(report.rate, 10.0);
    /// assert_eq!(report.profiles["GET /"].requests, 20);
    /// assert_eq!(report.error_rate(), 0.0);
    /// # }
    /// ```
    pub async fn drive<C: Target>(&self, service: C) -> RunReport {
        self.load(None::<C>, service, self.config.stress).await
    }

    /// The run itself, at `stress`.
    pub(super) async fn load<S: Target, C: Target>(
        &self,
        baseline: Option<S>,
        candidate: C,
        stress: f64,
    ) -> RunReport {
        let config = &self.config;
        let target_rate = config.rate * stress;
        let period = Duration::from_secs_f64(1.0 / target_rate);
        let wait = Duration::from_secs_f64(config.timeout_ms / 1e3);
        let limit = config.max_body_bytes;
        let tally = Arc::new(Mutex::new(Tally {
            report: RunReport {
                target_rate,
                ..RunReport::default()
            },
            latency: Histogram::new(2).expect("2 significant figures are supported"),
            in_flight: 0,
        }));
        let permits = Arc::new(Semaphore::new(config.concurrency));
        let mut rng = StdRng::seed_from_u64(config.seed);
        let start = Instant::now();
        let end = config
            .duration_secs
            .map(|secs| start + Duration::from_secs_f64(secs));
        let total = config.requests.unwrap_or(u64::MAX);
        let mut last_send = start;
        let mut sent = 0u64;
        while sent < total {
            let at = start + period.mul_f64(sent as f64);
            if end.is_some_and(|end| at >= end) {
                break;
            }
            tokio::time::sleep_until(at).await;
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            last_send = Instant::now();
            let late = last_send - at > period;
            let profile = &self.profiles[self.draw(&mut rng)];
            let name = profile.name.clone();
            let request = profile.to_request();
            let copy = baseline.as_ref().map(|b| (b.clone(), profile.to_request()));
            let candidate = candidate.clone();
            let (tally, health, comparator) = (
                Arc::clone(&tally),
                self.health.clone(),
                Arc::clone(&self.comparator),
            );
            {
                let mut t = tally.lock();
                t.in_flight += 1;
                t.report.max_in_flight = t.report.max_in_flight.max(t.in_flight);
                t.report.late += u64::from(late);
            }
            tokio::spawn(async move {
                let (baseline, candidate) = match copy {
                    Some((service, copy)) => {
                        let (b, c) = tokio::join!(
                            call(service, copy, limit, wait),
                            call(candidate, request, limit, wait)
                        );
                        (Some(b), c)
                    }
                    None => (None, call(candidate, request, limit, wait).await),
                };
                let different = baseline.as_ref().map(|baseline| {
                    let comparison = comparator.compare(baseline, &candidate);
                    health.record_pair(&name, baseline, &candidate, &comparison);
                    !comparison.is_equivalent()
                });
                tally
                    .lock()
                    .add(&name, &candidate, different.unwrap_or(false));
                drop(permit);
            });
            sent += 1;
        }
        let _all = permits
            .acquire_many(config.concurrency as u32)
            .await
            .expect("the semaphore is never closed");
        let mut tally = tally.lock();
        let send_span = (last_send - start + period).as_secs_f64();
        let latency = LatencySummary::of(&tally.latency);
        let report = &mut tally.report;
        report.requests = sent;
        report.rate = if sent == 0 {
            0.0
        } else {
            sent as f64 / send_span
        };
        report.elapsed_secs = (Instant::now() - start).as_secs_f64();
        report.candidate_latency = latency;
        report.clone()
    }

    /// Draws a profile index by the mix weights.
    fn draw(&self, rng: &mut StdRng) -> usize {
        let total = *self.cumulative.last().expect("checked by build");
        let u = rng.random::<f64>() * total;
        self.cumulative
            .iter()
            .position(|c| u < *c)
            .unwrap_or(self.cumulative.len() - 1)
    }
}

impl Tally {
    fn add(&mut self, profile: &str, candidate: &Exchange, different: bool) {
        self.in_flight -= 1;
        let micros = u64::try_from(candidate.latency.as_micros()).unwrap_or(u64::MAX);
        if self.latency.record(micros).is_err() {
            self.latency.saturating_record(micros);
        }
        let failed = candidate.is_failure();
        self.report.candidate_errors += u64::from(failed);
        let entry = self.report.profiles.entry(profile.to_owned()).or_default();
        entry.requests += 1;
        entry.candidate_errors += u64::from(failed);
        entry.different += u64::from(different);
    }
}
