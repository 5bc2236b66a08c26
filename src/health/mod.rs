//! How the candidate is doing: what the shadows saw, over a sliding window.
//!
//! [`Health`] is a cheap-to-clone shared handle. The shadow layer records
//! every pair into it; anything may read it with [`Health::snapshot`], which
//! returns a serde-serializable [`HealthSnapshot`]: pairs, equivalence,
//! errors and latency quantiles on each side, the most frequent differing
//! paths with a sample each, the paths dismissed as noise, the same per
//! endpoint, and a 0–100 score whose formula and inputs are in the snapshot.
//!
//! Figures cover a sliding window (default 60 s, in 12 buckets): old
//! buckets fall out as time passes, so the snapshot follows the candidate's
//! current behaviour. Several layers may share one `Health` (pass it to
//! each builder), so a whole service's figures add up in one place.
//!
//! # Noise
//!
//! When the layer also sends each copy to a *secondary* (a second instance
//! of the stable version), the baseline-vs-secondary differences show what
//! differs between two runs of the same code: timestamps, request ids,
//! random order. A path only counts as a real difference when the candidate
//! differs there clearly more often than the secondary does
//! ([`NoiseThresholds`]).
//!
//! Every figure is also emitted through the [`metrics`] facade, under the
//! names listed in [`names`].
//!
//! ```
//! # async fn demo() {
//! use std::time::Duration;
//! use tower_shadow::health::Health;
//!
//! let health = Health::builder().window(Duration::from_secs(120)).buckets(24).build();
//! // ... serve traffic through a ShadowLayer built with `.health(health.clone())` ...
//! health.idle().await; // every shadow started so far has been compared
//! let snapshot = health.snapshot();
//! println!("{} pairs, {} different, score {:.1}", snapshot.pairs, snapshot.different, snapshot.score);
//! for diff in &snapshot.top_differences {
//!     println!("{} {} ×{}: {:?}", diff.endpoint, diff.path, diff.count, diff.sample);
//! }
//! # }
//! ```

mod aggregate;
mod config;
mod endpoint;
pub mod names;
mod snapshot;
mod window;

pub use self::aggregate::{AggregateError, HealthAggregate};
pub use self::config::HealthConfig;
pub use self::endpoint::{EndpointKey, RouteTemplate};
pub use self::snapshot::{
    EndpointSnapshot, HealthSnapshot, KpiSnapshot, KpiSummary, LatencyBin, LatencyBins,
    LatencySummary, PathReport, ScoreParts, SkippedReasons, LATENCY_ALLOWANCE, LATENCY_FLOOR,
    LATENCY_SLACK_MS, TOP_DIFFERENCES,
};

use self::window::{Limits, Window};
#[cfg(feature = "prometheus")]
pub(crate) use self::{snapshot::sort_reports, window::Counts};
use crate::compare::Comparison;
use crate::exchange::{ErrorKind, Exchange};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A shared handle on the figures of one candidate. Clones share them.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    window: Mutex<Window>,
    noise: NoiseThresholds,
    pending: AtomicUsize,
    idle: Notify,
}

impl Default for Health {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("limits", &self.inner.window.lock().limits)
            .field("noise", &self.inner.noise)
            .field("in_flight", &self.inner.pending.load(Ordering::Relaxed))
            .finish()
    }
}

/// When a differing path is a real difference rather than noise.
///
/// With `raw` the candidate's differences at a path over `pairs` pairs, and
/// `noise` the secondary's over `noise_pairs`, the path is real when
///
/// - `raw_rate > noise_rate`, where `raw_rate = raw / pairs` and
///   `noise_rate = noise / noise_pairs` (0 without a secondary),
/// - `(raw_rate − noise_rate) / raw_rate > relative`: the noise explains
///   less than `1 − relative` of it, and
/// - `raw_rate − noise_rate > absolute`: it is not vanishingly rare.
///
/// Each pair is judged with the first two rules only (one real difference
/// makes a pair different); reports apply all three.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseThresholds {
    /// Default 0.2 (20 %).
    pub relative: f64,
    /// Default 0.0003 (0.03 % of the endpoint's pairs).
    pub absolute: f64,
}

impl Default for NoiseThresholds {
    fn default() -> Self {
        Self {
            relative: 0.2,
            absolute: 0.0003,
        }
    }
}

impl NoiseThresholds {
    fn rates(raw: u64, noise: u64, pairs: u64, noise_pairs: u64) -> (f64, f64) {
        let rate = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        (rate(raw, pairs), rate(noise, noise_pairs))
    }

    /// Whether one pair's difference at a path is real, given the window's counts.
    fn is_real_in_pair(&self, raw: u64, noise: u64, pairs: u64, noise_pairs: u64) -> bool {
        let (raw, noise) = Self::rates(raw, noise, pairs, noise_pairs);
        raw > noise && (raw - noise) / raw > self.relative
    }

    /// Whether a path is reported as a real difference.
    pub fn is_real(&self, raw: u64, noise: u64, pairs: u64, noise_pairs: u64) -> bool {
        let (raw_rate, noise_rate) = Self::rates(raw, noise, pairs, noise_pairs);
        self.is_real_in_pair(raw, noise, pairs, noise_pairs)
            && raw_rate - noise_rate > self.absolute
    }
}

/// Configures a [`Health`]. Made by [`Health::builder`].
#[derive(Clone, Debug)]
pub struct Builder {
    window: Duration,
    buckets: usize,
    max_endpoints: usize,
    max_paths: usize,
    noise: NoiseThresholds,
}

impl Builder {
    /// The length of the sliding window (default 60 s; at least 1 ms).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self
    }

    /// How many buckets the window moves by (default 12; 1 to 1024).
    pub fn buckets(mut self, buckets: usize) -> Self {
        self.buckets = buckets.clamp(1, 1024);
        self
    }

    /// The most endpoints kept apart (default 32); the rest are counted
    /// together under `"(other endpoints)"`. Memory is bounded by
    /// `buckets × max_endpoints × (max_paths + two latency histograms)`.
    pub fn max_endpoints(mut self, max: usize) -> Self {
        self.max_endpoints = max.max(1);
        self
    }

    /// The most differing paths kept per endpoint and bucket (default 64);
    /// the rest are counted under `"(other paths)"`.
    pub fn max_paths(mut self, max: usize) -> Self {
        self.max_paths = max.max(1);
        self
    }

    /// When a differing path counts as real rather than noise.
    pub fn noise(mut self, thresholds: NoiseThresholds) -> Self {
        self.noise = thresholds;
        self
    }

    /// Builds the `Health`.
    pub fn build(self) -> Health {
        let bucket = (self.window / self.buckets as u32).max(Duration::from_micros(1));
        Health {
            inner: Arc::new(Inner {
                window: Mutex::new(Window::new(Limits {
                    bucket,
                    buckets: self.buckets,
                    max_endpoints: self.max_endpoints,
                    max_paths: self.max_paths,
                })),
                noise: self.noise,
                pending: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }
}

/// One side of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The stable version.
    Baseline = 0,
    /// The candidate version.
    Candidate = 1,
}

impl Side {
    /// The side's name, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Candidate => "candidate",
        }
    }
}

/// Why a sampled request was not shadowed (or its pair not compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// The method is not one the layer shadows (by default only GET, HEAD
    /// and OPTIONS are).
    Method,
    /// The request body was larger than `max_body_bytes`.
    Oversize,
    /// `max_in_flight` shadows were already running.
    Overloaded,
    /// The primary did not finish its side (its request body was not read to
    /// the end, or the response was dropped or not done in time), so there
    /// was nothing to compare.
    Incomplete,
    /// The request was served outside a Tokio runtime, where no task can be
    /// spawned.
    NoRuntime,
    /// The comparator panicked on this pair (a bug in the comparator, not
    /// the candidate's fault); the panic was contained.
    Comparator,
    /// The call streams, and the layer was told not to shadow it
    /// ([`skip_streaming`](crate::shadow::Builder::skip_streaming)).
    Streaming,
}

impl SkipReason {
    pub(crate) const COUNT: usize = 7;
    /// Every reason, in index order.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) const ALL: [SkipReason; Self::COUNT] = [
        Self::Method,
        Self::Oversize,
        Self::Overloaded,
        Self::Incomplete,
        Self::NoRuntime,
        Self::Comparator,
        Self::Streaming,
    ];
    /// The reason's name, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::Oversize => "oversize",
            Self::Overloaded => "overloaded",
            Self::Incomplete => "incomplete",
            Self::NoRuntime => "no_runtime",
            Self::Comparator => "comparator",
            Self::Streaming => "streaming",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Health {
    /// A new, empty health with the default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for the window, the bounds and the noise thresholds.
    pub fn builder() -> Builder {
        Builder {
            window: Duration::from_secs(60),
            buckets: 12,
            max_endpoints: 32,
            max_paths: 64,
            noise: NoiseThresholds::default(),
        }
    }

    /// The figures over the window.
    pub fn snapshot(&self) -> HealthSnapshot {
        let (window_secs, merged) = {
            let window = self.inner.window.lock();
            let limits = window.limits;
            (
                limits.bucket.as_secs_f64() * limits.buckets as f64,
                window.merged(),
            )
        };
        let in_flight = self.inner.pending.load(Ordering::Relaxed) as u64;
        let snapshot = HealthSnapshot::of(window_secs, &merged, &self.inner.noise, in_flight);
        metrics::gauge!(names::SCORE).set(snapshot.score);
        snapshot
    }

    /// Resolves once every shadow started so far has been compared and
    /// recorded (or skipped).
    ///
    /// A pair completes when both sides have answered: the shadow's, and the
    /// primary's once its response body has been read to the end. Tests use
    /// this instead of sleeping.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Counts a request the sampler picked.
    pub(crate) fn record_sampled(&self) {
        self.inner.window.lock().layer().sampled += 1;
        metrics::counter!(names::SAMPLED).increment(1);
    }

    /// Counts a sampled request that was not shadowed, or not compared.
    pub fn record_skip(&self, reason: SkipReason) {
        self.inner.window.lock().layer().skipped[reason.index()] += 1;
        metrics::counter!(names::SKIPPED, "reason" => reason.as_str()).increment(1);
    }

    /// Records one value of a custom KPI (e.g. database query time) that
    /// the application measured on one side, to be judged like the built-in
    /// figures (see [`KpiSnapshot`]). At most 32 KPI names are kept; values
    /// of further names are dropped. Non-finite values are ignored.
    ///
    /// ```
    /// use tower_shadow::health::{Health, Side};
    ///
    /// let health = Health::new();
    /// health.record_kpi("db_query_ms", Side::Baseline, 4.0);
    /// health.record_kpi("db_query_ms", Side::Candidate, 9.0);
    /// let kpi = health.snapshot().kpis["db_query_ms"];
    /// assert_eq!((kpi.baseline.mean, kpi.candidate.mean), (4.0, 9.0));
    /// ```
    pub fn record_kpi(&self, name: &str, side: Side, value: f64) {
        if !value.is_finite() {
            return;
        }
        if let Some(stats) = self.inner.window.lock().kpi(name) {
            stats[side as usize].record(value);
        }
        metrics::histogram!(names::KPI, "kpi" => name.to_owned(), "side" => side.as_str())
            .record(value);
    }

    /// Counts a baseline-vs-secondary comparison of `endpoint`: what differs
    /// between two runs of the stable version is noise.
    ///
    /// Record a request's noise pair before its candidate pair, so the
    /// candidate's differences are judged with it.
    pub fn record_noise(&self, endpoint: &str, comparison: &Comparison) {
        let mut window = self.inner.window.lock();
        let max_paths = window.limits.max_paths;
        let stats = window.endpoint(endpoint);
        stats.counts.noise_pairs += 1;
        for difference in comparison.differences.iter().take(max_paths) {
            stats.path(difference, max_paths).1.noise += 1;
        }
    }

    /// Counts a compared baseline-vs-candidate pair of `endpoint`.
    pub fn record_pair(
        &self,
        endpoint: &str,
        baseline: &Exchange,
        candidate: &Exchange,
        comparison: &Comparison,
    ) {
        let mut window = self.inner.window.lock();
        let max_paths = window.limits.max_paths;
        let (endpoint, stats) = window.endpoint_entry(endpoint);
        let c = &mut stats.counts;
        c.pairs += 1;
        c.baseline_errors += u64::from(baseline.is_failure());
        c.candidate_errors += u64::from(candidate.is_failure());
        match candidate.error.as_ref().map(|e| e.kind) {
            Some(ErrorKind::Timeout) => c.candidate_timeouts += 1,
            Some(ErrorKind::Panic) => c.candidate_panics += 1,
            _ => {}
        }
        stats.record_latency(baseline.latency, candidate.latency);
        let mut paths = Vec::with_capacity(comparison.differences.len().min(max_paths));
        for difference in comparison.differences.iter().take(max_paths) {
            let (path, p) = stats.path(difference, max_paths);
            p.raw += 1;
            // One sample per path and bucket: buckets are merged newest
            // first, so the snapshot's sample is still a recent one, and a
            // flood of differences does not clone each of them.
            if p.sample.is_none() {
                p.sample = Some(difference.clone());
            }
            paths.push(path);
        }
        let noise = &self.inner.noise;
        let real: Vec<&str> = paths
            .into_iter()
            .filter(|path| {
                let (raw, noisy, pairs, noise_pairs) = window.path_totals(endpoint, path);
                noise.is_real_in_pair(raw, noisy, pairs, noise_pairs)
            })
            .collect();
        let equivalent = real.is_empty();
        if equivalent {
            window.endpoint(endpoint).counts.equivalent += 1;
        }
        drop(window);

        let outcome = if equivalent {
            "equivalent"
        } else {
            "different"
        };
        metrics::counter!(names::PAIRS, "outcome" => outcome).increment(1);
        for path in real {
            metrics::counter!(names::DIFFERENCES, "endpoint" => endpoint.to_owned(), "path" => path.to_owned())
                .increment(1);
        }
        if baseline.is_failure() {
            metrics::counter!(names::ERRORS, "side" => "baseline").increment(1);
        }
        if candidate.is_failure() {
            metrics::counter!(names::ERRORS, "side" => "candidate").increment(1);
        }
        metrics::histogram!(names::LATENCY, "side" => "baseline")
            .record(baseline.latency.as_secs_f64());
        metrics::histogram!(names::LATENCY, "side" => "candidate")
            .record(candidate.latency.as_secs_f64());
    }

    /// Marks a shadow as started; [`Health::idle`] waits until the returned
    /// guard is dropped.
    pub(crate) fn start_pending(&self) -> Pending {
        self.inner.pending.fetch_add(1, Ordering::AcqRel);
        metrics::gauge!(names::IN_FLIGHT).increment(1.0);
        Pending(self.clone())
    }
}

/// A shadow that [`Health::idle`] waits for; finished when dropped, however
/// the shadow ended (even by a panic).
#[derive(Debug)]
pub(crate) struct Pending(Health);

impl Drop for Pending {
    fn drop(&mut self) {
        metrics::gauge!(names::IN_FLIGHT).decrement(1.0);
        if self.0.inner.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Comparator, DiffKind, Difference, Exact};
    use crate::exchange::ExchangeError;
    use http::{HeaderMap, StatusCode};

    fn ok(body: &'static str, ms: u64) -> Exchange {
        Exchange::new(StatusCode::OK, HeaderMap::new(), body)
            .with_latency(Duration::from_millis(ms))
    }

    fn differing(paths: &[&str]) -> Comparison {
        let differences = paths
            .iter()
            .map(|p| Difference::new(*p, DiffKind::Value, Some("a"), Some("b")))
            .collect();
        Comparison::different(0.0, differences)
    }

    #[tokio::test]
    async fn idle_waits_for_every_pending_shadow() {
        let health = Health::new();
        health.idle().await;
        let first = health.start_pending();
        let second = health.start_pending();
        let waiter = tokio::spawn({
            let health = health.clone();
            async move { health.idle().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(health.snapshot().in_flight, 1);
        drop(second);
        waiter.await.unwrap();
        assert_eq!(health.snapshot().in_flight, 0);
    }

    #[tokio::test]
    async fn counts_pairs_errors_and_skips() {
        let health = Health::new();
        let a = ok("x", 10);
        let timeout = Exchange::failed(ExchangeError::new(ErrorKind::Timeout, "5s"));
        health.record_pair("GET /", &a, &a, &Exact.compare(&a, &a));
        health.record_pair("GET /", &a, &timeout, &Exact.compare(&a, &timeout));
        health.record_skip(SkipReason::Oversize);
        health.record_skip(SkipReason::Overloaded);
        health.record_skip(SkipReason::Overloaded);
        let s = health.snapshot();
        assert_eq!((s.pairs, s.equivalent, s.different), (2, 1, 1));
        assert_eq!(
            (s.candidate_errors, s.candidate_timeouts, s.baseline_errors),
            (1, 1, 0)
        );
        assert_eq!(s.skipped, 3);
        assert_eq!(s.skipped_reasons.overloaded, 2);
        // equivalence 1/2, excess errors 1/2
        assert_eq!(s.score_parts.equivalence, 0.5);
        assert_eq!(s.score_parts.excess_error_rate, 0.5);
        assert_eq!(s.score, 25.0);
        assert_eq!(s.endpoints["GET /"].pairs, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn old_buckets_leave_the_window() {
        let health = Health::builder()
            .window(Duration::from_secs(10))
            .buckets(10)
            .build();
        let a = ok("x", 1);
        health.record_pair("e", &a, &a, &Comparison::equivalent());
        tokio::time::advance(Duration::from_secs(5)).await;
        health.record_pair("e", &a, &a, &differing(&["/x"]));
        assert_eq!(health.snapshot().pairs, 2);
        tokio::time::advance(Duration::from_secs(6)).await;
        let s = health.snapshot();
        assert_eq!((s.pairs, s.different), (1, 1));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(health.snapshot().pairs, 0);
        assert_eq!(health.snapshot().score, 100.0);
    }

    #[tokio::test]
    async fn noise_is_dismissed_and_real_paths_reported() {
        let health = Health::new();
        let a = ok("x", 1);
        for i in 0..200 {
            // Two runs of the stable version always differ in the timestamp.
            health.record_noise("GET /items", &differing(&["/ts"]));
            let mut paths = vec!["/ts"];
            if i % 20 == 0 {
                paths.push("/price");
            }
            health.record_pair("GET /items", &a, &a, &differing(&paths));
        }
        let s = health.snapshot();
        assert_eq!((s.pairs, s.different, s.noise_pairs), (200, 10, 200));
        let real: Vec<_> = s
            .top_differences
            .iter()
            .map(|d| (d.path.as_str(), d.count))
            .collect();
        assert_eq!(real, [("/price", 10)]);
        assert_eq!(s.noise[0].path, "/ts");
        assert_eq!((s.noise[0].count, s.noise[0].noise), (200, 200));
        assert!(s.top_differences[0].sample.is_some());
    }

    #[tokio::test]
    async fn latency_quantiles_and_the_latency_factor() {
        let health = Health::new();
        for i in 1..=100 {
            let baseline = ok("x", i);
            let candidate = ok("x", 3 * i);
            health.record_pair("e", &baseline, &candidate, &Comparison::equivalent());
        }
        let s = health.snapshot();
        assert!(
            (s.baseline_latency.p50_ms - 50.0).abs() < 1.0,
            "{:?}",
            s.baseline_latency
        );
        assert!(
            (s.candidate_latency.p99_ms - 297.0).abs() < 3.0,
            "{:?}",
            s.candidate_latency
        );
        // (1.25 × 99 + 5) / 297 ≈ 0.43, floored at 0.5
        assert_eq!(s.score_parts.latency_factor, LATENCY_FLOOR);
        let total: u64 = s.latency_bins.candidate.iter().map(|b| b.count).sum();
        assert_eq!(total, 100);
        assert!(s
            .latency_bins
            .baseline
            .windows(2)
            .all(|w| w[0].ms < w[1].ms));
        assert_eq!(s.score, 50.0);
    }

    #[tokio::test]
    async fn endpoints_and_paths_are_bounded() {
        let health = Health::builder().max_endpoints(2).max_paths(3).build();
        let a = ok("x", 1);
        for e in ["a", "b", "c", "d"] {
            health.record_pair(e, &a, &a, &differing(&["/1", "/2", "/3", "/4", "/5"]));
        }
        let s = health.snapshot();
        let names: Vec<_> = s.endpoints.keys().map(String::as_str).collect();
        assert_eq!(names, ["(other endpoints)", "a", "b"]);
        assert_eq!(s.endpoints["(other endpoints)"].pairs, 2);
        assert!(s.endpoints["a"].top_differences.len() <= 3);
    }
}
