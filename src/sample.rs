//! Which requests get a shadow copy, decided from the request head alone.
//!
//! A [`Sampler`] looks at the [`Parts`] of a request (method, URI, headers)
//! and answers yes or no. The layer asks it once per request, before anything
//! is buffered or spawned, so a "no" costs the primary nothing more than the
//! call itself.
//!
//! | strategy | sampler |
//! |---|---|
//! | random share of traffic | [`Random::percent`] |
//! | geographic (by region) | [`ByKey::region`], or [`Matches::header`] for named regions |
//! | user segment (by user, tenant, cookie) | [`ByKey::user`], [`ByKey::tenant`], [`ByKey::cookie`] |
//! | at most N shadows a second | [`RateLimited::new`] around any of the above |
//! | a share the rollout adjusts | [`Adaptive`] |
//! | anything else | a closure `Fn(&Parts) -> bool` |
//!
//! Keyed samplers hash the key with a fixed, seeded hash: the same key gets
//! the same decision on every replica and in every run, so a user is either
//! always shadowed or never, and sticky diffs can be followed per user.
//!
//! ```
//! use http::Request;
//! use tower_shadow::sample::{ByKey, Random, RateLimited, Sampler, SamplerExt};
//!
//! // 5 % of users, at most 100 shadows a second.
//! let sampler = RateLimited::new(ByKey::user(5.0), 100.0);
//!
//! // Only the EU regions, and there a random 10 % of requests.
//! let eu = tower_shadow::sample::Matches::header("x-region", ["eu-west-1", "eu-central-1"])
//!     .and(Random::percent(10.0));
//!
//! // A closure is a sampler too.
//! let api_only = |head: &http::request::Parts| head.uri.path().starts_with("/api/");
//!
//! let (head, ()) = Request::get("/api/items").body(()).unwrap().into_parts();
//! assert!(api_only.sample(&head));
//! # let _ = (sampler, eu);
//! ```
//!
//! Percentages are in `0.0..=100.0`; values outside are clamped and `NaN`
//! counts as `0.0`, so a bad configuration never panics.
//!
//! A configuration file chooses among these with
//! [`SamplerConfig`](crate::shadow::SamplerConfig), which rejects such
//! values with an error naming the field.

use http::header::{HeaderName, COOKIE};
use http::request::Parts;
use parking_lot::Mutex;
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// Decides, from the request head, whether a request is shadowed.
///
/// Implemented for closures `Fn(&Parts) -> bool`, for `Box<dyn Sampler>`,
/// and combined with [`SamplerExt::and`], [`SamplerExt::or`] and
/// [`SamplerExt::not`].
pub trait Sampler: Send + Sync + 'static {
    /// Whether the request with this head gets a shadow copy.
    fn sample(&self, head: &Parts) -> bool;
}

impl<F> Sampler for F
where
    F: Fn(&Parts) -> bool + Send + Sync + 'static,
{
    fn sample(&self, head: &Parts) -> bool {
        self(head)
    }
}

impl Sampler for Box<dyn Sampler> {
    fn sample(&self, head: &Parts) -> bool {
        (**self).sample(head)
    }
}

/// Combinators for every [`Sampler`].
pub trait SamplerExt: Sampler + Sized {
    /// Samples when both `self` and `other` do; `other` is asked only when `self` says yes.
    fn and<O: Sampler>(self, other: O) -> And<Self, O> {
        And(self, other)
    }

    /// Samples when either `self` or `other` does; `other` is asked only when `self` says no.
    fn or<O: Sampler>(self, other: O) -> Or<Self, O> {
        Or(self, other)
    }

    /// Samples exactly when `self` does not.
    fn not(self) -> Not<Self> {
        Not(self)
    }
}

impl<S: Sampler> SamplerExt for S {}

/// Both samplers must say yes. Made by [`SamplerExt::and`].
#[derive(Clone, Debug)]
pub struct And<A, B>(A, B);

impl<A: Sampler, B: Sampler> Sampler for And<A, B> {
    fn sample(&self, head: &Parts) -> bool {
        self.0.sample(head) && self.1.sample(head)
    }
}

/// Either sampler may say yes. Made by [`SamplerExt::or`].
#[derive(Clone, Debug)]
pub struct Or<A, B>(A, B);

impl<A: Sampler, B: Sampler> Sampler for Or<A, B> {
    fn sample(&self, head: &Parts) -> bool {
        self.0.sample(head) || self.1.sample(head)
    }
}

/// The opposite decision. Made by [`SamplerExt::not`].
#[derive(Clone, Debug)]
pub struct Not<A>(A);

impl<A: Sampler> Sampler for Not<A> {
    fn sample(&self, head: &Parts) -> bool {
        !self.0.sample(head)
    }
}

/// Samples every request. The layer's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Always;

impl Sampler for Always {
    fn sample(&self, _: &Parts) -> bool {
        true
    }
}

/// Clamps a percentage to `0.0..=100.0`, `NaN` to `0.0`.
fn clamp_percent(percent: f64) -> f64 {
    if percent.is_nan() {
        0.0
    } else {
        percent.clamp(0.0, 100.0)
    }
}

/// The `u64` below which a uniform draw falls with probability `percent` %.
///
/// `None` means "always": 100 % cannot be expressed as a bound on `u64`.
fn threshold(percent: f64) -> Option<u64> {
    let p = clamp_percent(percent);
    if p >= 100.0 {
        None
    } else {
        // The product is below 2^64, so the cast does not saturate.
        Some((p / 100.0 * 18_446_744_073_709_551_616.0) as u64)
    }
}

fn below(draw: u64, threshold: Option<u64>) -> bool {
    threshold.is_none_or(|t| draw < t)
}

/// SplitMix64's output function: a fast, well-mixed 64-bit bijection.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of `bytes` under `seed`: FNV-1a, then mixed.
///
/// Unlike `std`'s `DefaultHasher` it is fixed forever, so every replica and
/// every release places a key at the same point.
pub(crate) fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ mix64(seed);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// Where a stable hash places `bytes` on `[0, 1)`, under `seed`.
pub(crate) fn unit_point(seed: u64, bytes: &[u8]) -> f64 {
    unit(stable_hash(seed, bytes))
}

/// Where 64 random bits fall on `[0, 1)`: their top 53, as many as an
/// `f64` holds exactly.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// SplitMix64's step between two states.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A draw from the calling thread's SplitMix64 generator, seeded once per
/// thread from `rand`'s. A sampling or routing decision needs a fast,
/// well-spread draw, not a cryptographic one: this is a few instructions of
/// thread-local state, against `rand::random`'s reference-counted ChaCha
/// generator and its block refills.
pub(crate) fn thread_draw() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(rand::random());
    }
    STATE.with(|state| {
        let next = state.get().wrapping_add(GOLDEN_GAMMA);
        state.set(next);
        mix64(next)
    })
}

/// A draw on `[0, 1)` from the calling thread's generator ([`thread_draw`]).
pub(crate) fn thread_unit() -> f64 {
    unit(thread_draw())
}

/// Where random draws come from: the calling thread's generator (no state
/// shared between threads, so cores never contend for it), or, once
/// seeded, one lock-free SplitMix64 stream shared by every thread, which is
/// reproducible in the order of the calls.
#[derive(Debug)]
struct Stream(Option<AtomicU64>);

impl Stream {
    fn thread() -> Self {
        Self(None)
    }

    fn new(seed: u64) -> Self {
        Self(Some(AtomicU64::new(seed)))
    }

    fn next(&self) -> u64 {
        match &self.0 {
            None => thread_draw(),
            Some(state) => mix64(
                state
                    .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
                    .wrapping_add(GOLDEN_GAMMA),
            ),
        }
    }
}

/// Samples a random share of requests.
///
/// ```
/// use tower_shadow::sample::{Random, Sampler};
///
/// let (head, ()) = http::Request::get("/").body(()).unwrap().into_parts();
/// assert!(Random::percent(100.0).sample(&head));
/// assert!(!Random::percent(0.0).sample(&head));
///
/// // Seeded: the same sequence of decisions in every run.
/// let a = Random::percent(30.0).seed(7);
/// let b = Random::percent(30.0).seed(7);
/// assert!((0..100).all(|_| a.sample(&head) == b.sample(&head)));
/// ```
#[derive(Debug)]
pub struct Random {
    threshold: Option<u64>,
    stream: Stream,
}

impl Random {
    /// Samples `percent` % of requests (`0.0..=100.0`), at random.
    pub fn percent(percent: f64) -> Self {
        Self {
            threshold: threshold(percent),
            stream: Stream::thread(),
        }
    }

    /// Makes the decisions reproducible: the same seed, the same sequence.
    ///
    /// Unseeded, each thread draws from its own generator, so the cores
    /// serving requests never contend; seeded, every thread draws from one
    /// shared stream (an atomic add per decision), for tests and replays.
    #[must_use]
    pub fn seed(self, seed: u64) -> Self {
        Self {
            stream: Stream::new(seed),
            ..self
        }
    }
}

impl Sampler for Random {
    fn sample(&self, _: &Parts) -> bool {
        match self.threshold {
            None => true,
            Some(0) => false,
            t => below(self.stream.next(), t),
        }
    }
}

/// Where [`ByKey`] finds its key.
#[derive(Clone, Debug)]
enum KeySource {
    Header(HeaderName),
    Cookie(String),
}

/// Samples a share of *keys* (users, tenants, regions): the same key always
/// gets the same decision, on every replica and in every run.
///
/// The key's bytes are hashed with a fixed hash under a seed (default 0) to a
/// point on `[0, 1)`; the key is sampled when the point is below
/// `percent / 100`. Raising the percentage only ever adds keys. Requests
/// without the key are not sampled unless [`ByKey::when_missing`] says so.
///
/// ```
/// use tower_shadow::sample::{ByKey, Sampler};
///
/// let sampler = ByKey::header("x-tenant-id", 50.0);
/// let head = |tenant: &str| {
///     http::Request::get("/").header("x-tenant-id", tenant).body(()).unwrap().into_parts().0
/// };
/// let first = sampler.sample(&head("acme"));
/// assert!((0..10).all(|_| sampler.sample(&head("acme")) == first));
/// ```
#[derive(Clone, Debug)]
pub struct ByKey {
    source: KeySource,
    percent: f64,
    seed: u64,
    when_missing: bool,
}

impl ByKey {
    /// Keyed by the value of header `name`.
    ///
    /// An invalid header name samples nothing (and is logged once at build
    /// time through `tracing`) rather than panicking.
    pub fn header(name: impl AsRef<str>, percent: f64) -> Self {
        let source = match HeaderName::try_from(name.as_ref()) {
            Ok(name) => KeySource::Header(name),
            Err(_) => {
                tracing::warn!(
                    name = name.as_ref(),
                    "invalid header name for ByKey; nothing will be sampled"
                );
                KeySource::Cookie(String::new())
            }
        };
        Self::from_source(source, percent)
    }

    /// Keyed by the value of cookie `name`.
    pub fn cookie(name: impl Into<String>, percent: f64) -> Self {
        Self::from_source(KeySource::Cookie(name.into()), percent)
    }

    /// Geographic mirroring: keyed by the `x-region` header.
    pub fn region(percent: f64) -> Self {
        Self::header("x-region", percent)
    }

    /// User-segment mirroring: keyed by the `x-user-id` header.
    pub fn user(percent: f64) -> Self {
        Self::header("x-user-id", percent)
    }

    /// Tenant-segment mirroring: keyed by the `x-tenant-id` header.
    pub fn tenant(percent: f64) -> Self {
        Self::header("x-tenant-id", percent)
    }

    fn from_source(source: KeySource, percent: f64) -> Self {
        Self {
            source,
            percent: clamp_percent(percent),
            seed: 0,
            when_missing: false,
        }
    }

    /// Changes the hash seed, which picks a different (but still stable) set of keys.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The decision for requests that carry no key (default `false`).
    #[must_use]
    pub fn when_missing(mut self, sample: bool) -> Self {
        self.when_missing = sample;
        self
    }

    /// Where the key lands on `[0, 1)`; sampled when below `percent / 100`.
    pub fn point(&self, key: &[u8]) -> f64 {
        unit_point(self.seed, key)
    }

    fn key<'a>(&self, head: &'a Parts) -> Option<&'a [u8]> {
        match &self.source {
            KeySource::Header(name) => head.headers.get(name).map(|v| v.as_bytes()),
            KeySource::Cookie(name) if name.is_empty() => None,
            KeySource::Cookie(name) => head
                .headers
                .get_all(COOKIE)
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
                .find_map(|pair| {
                    let pair = pair.trim_ascii();
                    let eq = pair.iter().position(|&b| b == b'=')?;
                    (pair[..eq].trim_ascii() == name.as_bytes())
                        .then(|| pair[eq + 1..].trim_ascii())
                }),
        }
    }
}

impl Sampler for ByKey {
    fn sample(&self, head: &Parts) -> bool {
        match self.key(head) {
            Some(key) => self.point(key) < self.percent / 100.0,
            None => self.when_missing,
        }
    }
}

/// Samples requests whose header has one of a set of values, e.g. named regions.
///
/// ```
/// use tower_shadow::sample::{Matches, Sampler};
///
/// let sampler = Matches::header("x-region", ["eu-west-1"]);
/// let (head, ()) = http::Request::get("/").header("x-region", "eu-west-1").body(()).unwrap().into_parts();
/// assert!(sampler.sample(&head));
/// ```
#[derive(Clone, Debug)]
pub struct Matches {
    name: Option<HeaderName>,
    values: Vec<Vec<u8>>,
}

impl Matches {
    /// Samples requests whose header `name` equals one of `values`.
    pub fn header<I, V>(name: impl AsRef<str>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<str>,
    {
        Self {
            name: HeaderName::try_from(name.as_ref()).ok(),
            values: values
                .into_iter()
                .map(|v| v.as_ref().as_bytes().to_vec())
                .collect(),
        }
    }
}

impl Sampler for Matches {
    fn sample(&self, head: &Parts) -> bool {
        let Some(name) = &self.name else { return false };
        head.headers
            .get_all(name)
            .iter()
            .any(|v| self.values.iter().any(|want| want == v.as_bytes()))
    }
}

/// Caps how many requests per second another sampler lets through.
///
/// A token bucket holding at most one second's worth of tokens: bursts are
/// allowed up to `per_second`, and the long-run rate never exceeds it. The
/// inner sampler is asked first; only its "yes" answers spend tokens.
///
/// ```
/// use tower_shadow::sample::{Always, RateLimited, Sampler};
///
/// let sampler = RateLimited::new(Always, 10.0);
/// let (head, ()) = http::Request::get("/").body(()).unwrap().into_parts();
/// let taken = (0..1000).filter(|_| sampler.sample(&head)).count();
/// assert!(taken >= 10 && taken <= 11);
/// ```
pub struct RateLimited<S> {
    inner: S,
    per_second: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl<S> RateLimited<S> {
    /// Lets at most `per_second` of `inner`'s picks through each second.
    ///
    /// Zero, a negative rate or `NaN` lets nothing through.
    pub fn new(inner: S, per_second: f64) -> Self {
        let per_second = if per_second.is_finite() {
            per_second.max(0.0)
        } else if per_second == f64::INFINITY {
            f64::MAX
        } else {
            0.0
        };
        Self {
            inner,
            per_second,
            bucket: Mutex::new(Bucket {
                tokens: per_second.max(1.0),
                refilled: Instant::now(),
            }),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RateLimited<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("inner", &self.inner)
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

impl<S: Sampler> Sampler for RateLimited<S> {
    fn sample(&self, head: &Parts) -> bool {
        if self.per_second <= 0.0 || !self.inner.sample(head) {
            return false;
        }
        let mut bucket = self.bucket.lock();
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.refilled = now;
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.per_second.max(1.0));
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A random share of requests that can be changed while serving.
///
/// Clones share the percentage: keep one clone in the layer and hand another
/// to whatever adjusts it (the rollout raises it when anomalies appear and
/// lowers it while the candidate is steady).
///
/// ```
/// use tower_shadow::sample::{Adaptive, Sampler};
///
/// let sampler = Adaptive::new(0.0);
/// let knob = sampler.clone();
/// let (head, ()) = http::Request::get("/").body(()).unwrap().into_parts();
/// assert!(!sampler.sample(&head));
/// knob.set_percent(100.0);
/// assert!(sampler.sample(&head));
/// assert_eq!(sampler.percent(), 100.0);
/// ```
#[derive(Clone, Debug)]
pub struct Adaptive {
    percent: Arc<AtomicU64>,
    stream: Arc<Stream>,
}

impl Adaptive {
    /// Starts sampling `percent` % of requests.
    pub fn new(percent: f64) -> Self {
        Self {
            percent: Arc::new(AtomicU64::new(clamp_percent(percent).to_bits())),
            stream: Arc::new(Stream::thread()),
        }
    }

    /// Makes the random decisions reproducible.
    #[must_use]
    pub fn seed(self, seed: u64) -> Self {
        Self {
            stream: Arc::new(Stream::new(seed)),
            ..self
        }
    }

    /// The current percentage.
    pub fn percent(&self) -> f64 {
        f64::from_bits(self.percent.load(Ordering::Relaxed))
    }

    /// Changes the percentage for every clone (clamped to `0.0..=100.0`).
    pub fn set_percent(&self, percent: f64) {
        self.percent
            .store(clamp_percent(percent).to_bits(), Ordering::Relaxed);
    }
}

impl Sampler for Adaptive {
    fn sample(&self, _: &Parts) -> bool {
        match threshold(self.percent()) {
            None => true,
            Some(0) => false,
            t => below(self.stream.next(), t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn head() -> Parts {
        Request::get("/").body(()).unwrap().into_parts().0
    }

    fn with(name: &str, value: &str) -> Parts {
        Request::get("/")
            .header(name, value)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn random_share_is_within_binomial_bounds() {
        let sampler = Random::percent(25.0).seed(42);
        let head = head();
        let n = 100_000;
        let hits = (0..n).filter(|_| sampler.sample(&head)).count() as f64;
        // mean 25_000, sd = sqrt(n p (1-p)) ≈ 137; 5 sd is ≈ 685.
        assert!((hits - 25_000.0).abs() < 700.0, "hits = {hits}");
    }

    #[test]
    fn unseeded_share_is_within_binomial_bounds_on_every_thread() {
        let shares: Vec<f64> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let sampler = Random::percent(25.0);
                        let head = head();
                        (0..100_000).filter(|_| sampler.sample(&head)).count() as f64
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for hits in &shares {
            assert!((hits - 25_000.0).abs() < 700.0, "hits = {hits}");
        }
        // Each thread seeds its own generator: the sequences differ.
        assert!(shares.windows(2).any(|w| w[0] != w[1]), "{shares:?}");
        let unit: Vec<f64> = (0..1000).map(|_| thread_unit()).collect();
        assert!(unit.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = unit.iter().sum::<f64>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "mean = {mean}");
    }

    #[test]
    fn bad_percentages_are_clamped() {
        let head = head();
        assert!(Random::percent(250.0).sample(&head));
        assert!(!Random::percent(-3.0).sample(&head));
        assert!(!Random::percent(f64::NAN).sample(&head));
        assert_eq!(Adaptive::new(f64::INFINITY).percent(), 100.0);
    }

    #[test]
    fn stable_hash_is_fixed_across_releases() {
        // Pinned values: changing the hash would move every user between
        // sampled and unsampled on upgrade.
        assert_eq!(stable_hash(0, b""), mix64(0xcbf2_9ce4_8422_2325));
        assert_eq!(stable_hash(0, b"user-1"), stable_hash(0, b"user-1"));
        assert_ne!(stable_hash(0, b"user-1"), stable_hash(1, b"user-1"));
        // FNV-1a 64 of "user-1", then SplitMix64's finalizer, computed independently:
        // python3 -c "M=2**64-1\nh=0xcbf29ce484222325\nfor b in b'user-1': h=((h^b)*0x100000001b3)&M\nz=((h^(h>>30))*0xbf58476d1ce4e5b9)&M\nz=((z^(z>>27))*0x94d049bb133111eb)&M\nprint(hex(z^(z>>31)))"
        assert_eq!(stable_hash(0, b"user-1"), 0xc499_b5f8_a721_df58);
    }

    #[test]
    fn by_key_share_and_monotonicity() {
        let low = ByKey::user(10.0);
        let high = ByKey::user(30.0);
        let mut low_hits = 0;
        for i in 0..20_000 {
            let head = with("x-user-id", &format!("user-{i}"));
            let l = low.sample(&head);
            let h = high.sample(&head);
            // raising the share only adds keys
            assert!(!l || h);
            low_hits += usize::from(l);
        }
        // mean 2000, sd ≈ 42
        assert!((1790..=2210).contains(&low_hits), "low_hits = {low_hits}");
    }

    #[test]
    fn by_key_missing_and_cookie() {
        let head = head();
        assert!(!ByKey::user(100.0).sample(&head));
        assert!(ByKey::user(0.0).when_missing(true).sample(&head));
        let cookie = with("cookie", "theme=dark; session = abc ; x=1");
        let by_cookie = ByKey::cookie("session", 100.0);
        assert_eq!(by_cookie.key(&cookie), Some(&b"abc"[..]));
        assert!(by_cookie.sample(&cookie));
        assert!(!ByKey::cookie("absent", 100.0).sample(&cookie));
        assert!(!ByKey::header("bad header", 100.0).sample(&cookie));
    }

    #[test]
    fn combinators() {
        let head = with("x-region", "eu-west-1");
        let eu = Matches::header("x-region", ["eu-west-1"]);
        assert!(eu.clone().sample(&head));
        assert!(!eu.clone().not().sample(&head));
        assert!(!eu.clone().and(Random::percent(0.0)).sample(&head));
        assert!(Random::percent(0.0).or(eu).sample(&head));
        let boxed: Box<dyn Sampler> = Box::new(Always);
        assert!(boxed.sample(&head));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_refills_with_time() {
        let sampler = RateLimited::new(Always, 5.0);
        let head = head();
        assert_eq!((0..100).filter(|_| sampler.sample(&head)).count(), 5);
        tokio::time::advance(std::time::Duration::from_millis(400)).await;
        assert_eq!((0..100).filter(|_| sampler.sample(&head)).count(), 2);
        assert!(!RateLimited::new(Always, 0.0).sample(&head));
        assert!(!RateLimited::new(Always, f64::NAN).sample(&head));
    }
}
