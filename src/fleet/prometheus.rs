use crate::compare::DiffKind;
use crate::health::{
    names, Counts, HealthSnapshot, LatencySummary, PathReport, ScoreParts, SkipReason,
    SkippedReasons, TOP_DIFFERENCES,
};
use crate::policy::{Decision, Evidence, RollbackPolicy};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The largest answer read from Prometheus.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Fleet-wide health from the Prometheus HTTP API (feature `prometheus`):
/// the per-replica `tower_shadow_*` series, summed in PromQL, as a
/// [`HealthSnapshot`].
///
/// Each [`snapshot`](Self::snapshot) runs [`queries`](Self::queries) as
/// instant queries (`GET /api/v1/query`) over a window (default 5 min):
/// pairs by outcome, failed sides, sampled and skipped requests, latency
/// quantiles with `histogram_quantile` over the summed buckets, latency
/// means, and the most frequent differing paths. The score is computed
/// from them as [`HealthSnapshot`] documents. What Prometheus does not
/// carry is left at its default: noise, KPIs, per-endpoint figures and
/// latency maxima (0); a path's kind is `status` for `status`, `header`
/// under `/headers/`, `value` otherwise.
///
/// Latency quantiles need the latency histogram exported with buckets
/// (with `metrics-exporter-prometheus`:
/// `set_buckets_for_metric(Matcher::Full("tower_shadow_latency_seconds".into()), &[..])`);
/// exported as a summary, per-replica quantiles cannot be summed and the
/// quantiles read 0.
///
/// ```
/// use std::time::Duration;
/// use tower_shadow::fleet::PrometheusSource;
///
/// let source = PrometheusSource::new("http://prometheus.monitoring:9090")?
///     .selector(r#"job="checkout", track="canary""#)
///     .window(Duration::from_secs(120));
/// let (_, pairs) = &source.queries()[0];
/// assert_eq!(
///     pairs,
///     r#"sum by (outcome) (increase(tower_shadow_pairs_total{job="checkout", track="canary"}[120s]))"#
/// );
/// // In a Tokio runtime: let snapshot = source.snapshot().await?;
/// # Ok::<(), tower_shadow::fleet::PrometheusError>(())
/// ```
#[derive(Clone)]
pub struct PrometheusSource {
    base: String,
    selector: String,
    window: Duration,
    timeout: Duration,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("base", &self.base)
            .field("selector", &self.selector)
            .field("window", &self.window)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why Prometheus gave no figures.
///
/// ```
/// use tower_shadow::fleet::PrometheusSource;
///
/// let error = PrometheusSource::new("ftp://prometheus").unwrap_err();
/// assert_eq!(error.to_string(), "prometheus: `ftp://prometheus` is not an http:// URL with a host");
/// ```
#[derive(Debug)]
pub struct PrometheusError {
    message: String,
    source: Option<crate::BoxError>,
}

impl PrometheusError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    fn with_source(mut self, source: impl Into<crate::BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl fmt::Display for PrometheusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "prometheus: {}", self.message)
    }
}

impl std::error::Error for PrometheusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The names of the queries, in the order [`PrometheusSource::queries`] lists them.
const PAIRS: usize = 0;
const ERRORS: usize = 1;
const SAMPLED: usize = 2;
const SKIPPED: usize = 3;
const LATENCY_COUNT: usize = 4;
const LATENCY_SUM: usize = 5;
const P50: usize = 6;
const P90: usize = 7;
const P99: usize = 8;
const DIFFERENCES: usize = 9;

impl PrometheusSource {
    /// Reads from the Prometheus at `url` (`http://host:9090`, with any
    /// route prefix; plain HTTP), with no selector, a 5 min window and a
    /// 5 s timeout.
    ///
    /// # Errors
    ///
    /// When `url` is not an `http://` URL.
    pub fn new(url: &str) -> Result<Self, PrometheusError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| PrometheusError::new(format!("`{url}` is not a URL")).with_source(e))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(PrometheusError::new(format!(
                "`{url}` is not an http:// URL with a host"
            )));
        }
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            selector: String::new(),
            window: Duration::from_secs(300),
            timeout: Duration::from_secs(5),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Label matchers for every series, e.g. `job="checkout"` (default: none).
    pub fn selector(mut self, matchers: impl Into<String>) -> Self {
        self.selector = matchers.into();
        self
    }

    /// The range the figures cover (default 5 min; at least 1 s). Make it
    /// at least four scrape intervals.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_secs(1));
        self
    }

    /// The longest a snapshot's queries may take (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Each query's name and PromQL, as [`snapshot`](Self::snapshot) runs them.
    pub fn queries(&self) -> Vec<(&'static str, String)> {
        let s = if self.selector.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", self.selector)
        };
        let w = format!("[{}s]", self.window.as_secs());
        let increase = |by: &str, name: &str| match by {
            "" => format!("sum(increase({name}{s}{w}))"),
            by => format!("sum by ({by}) (increase({name}{s}{w}))"),
        };
        let quantile = |q: &str| {
            format!(
                "histogram_quantile({q}, sum by (side, le) (rate({}_bucket{s}{w})))",
                names::LATENCY
            )
        };
        vec![
            ("pairs", increase("outcome", names::PAIRS)),
            ("errors", increase("side", names::ERRORS)),
            ("sampled", increase("", names::SAMPLED)),
            ("skipped", increase("reason", names::SKIPPED)),
            (
                "latency_count",
                increase("side", &format!("{}_count", names::LATENCY)),
            ),
            (
                "latency_sum",
                increase("side", &format!("{}_sum", names::LATENCY)),
            ),
            ("latency_p50", quantile("0.5")),
            ("latency_p90", quantile("0.9")),
            ("latency_p99", quantile("0.99")),
            (
                "differences",
                format!(
                    "topk({TOP_DIFFERENCES}, {})",
                    increase("endpoint, path", names::DIFFERENCES)
                ),
            ),
        ]
    }

    /// Runs the queries and builds the fleet's snapshot.
    ///
    /// # Errors
    ///
    /// When Prometheus cannot be reached, answers in time, or answers with
    /// an error (a bad selector, for one).
    pub async fn snapshot(&self) -> Result<HealthSnapshot, PrometheusError> {
        let queries = self.queries();
        let answers = tokio::time::timeout(
            self.timeout,
            futures::future::try_join_all(queries.iter().map(|(_, q)| self.query(q))),
        )
        .await
        .map_err(|_| PrometheusError::new(format!("no answer within {:?}", self.timeout)))??;
        Ok(build(&answers))
    }

    /// One instant query: its samples, labels and value.
    async fn query(&self, promql: &str) -> Result<Vec<Sample>, PrometheusError> {
        let url = format!("{}/api/v1/query?query={}", self.base, encode(promql));
        let request = http::Request::get(url)
            .body(Empty::new())
            .map_err(|e| PrometheusError::new("cannot build the request").with_source(e))?;
        let response = self.client.request(request).await.map_err(|e| {
            PrometheusError::new(format!("cannot reach {}", self.base)).with_source(e)
        })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| PrometheusError::new(format!("reading the answer: {e}")))?
            .to_bytes();
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            PrometheusError::new(format!("not a Prometheus API answer (HTTP {status})"))
                .with_source(e)
        })?;
        match answer {
            Answer {
                status,
                data: Some(data),
                ..
            } if status == "success" => {
                if data.result_type != "vector" {
                    return Err(PrometheusError::new(format!(
                        "`{promql}` gave a {}, not a vector",
                        data.result_type
                    )));
                }
                serde_json::from_value(data.result).map_err(|e| {
                    PrometheusError::new("malformed vector in the answer").with_source(e)
                })
            }
            Answer {
                error, error_type, ..
            } => Err(PrometheusError::new(format!(
                "`{promql}` failed: {} ({})",
                error.unwrap_or_default(),
                error_type.unwrap_or_default()
            ))),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct Sample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

impl Sample {
    /// The value, or `None` for NaN and infinities (no data).
    fn value(&self) -> Option<f64> {
        self.value.1.parse::<f64>().ok().filter(|v| v.is_finite())
    }

    fn label(&self, name: &str) -> &str {
        self.metric.get(name).map_or("", String::as_str)
    }
}

/// The value of the sample whose `label` is `value` (any sample when `label` is empty).
fn pick(samples: &[Sample], label: &str, value: &str) -> f64 {
    samples
        .iter()
        .filter(|s| label.is_empty() || s.label(label) == value)
        .find_map(Sample::value)
        .unwrap_or(0.0)
}

fn count(samples: &[Sample], label: &str, value: &str) -> u64 {
    pick(samples, label, value).max(0.0).round() as u64
}

fn build(answers: &[Vec<Sample>]) -> HealthSnapshot {
    let equivalent = count(&answers[PAIRS], "outcome", "equivalent");
    let different = count(&answers[PAIRS], "outcome", "different");
    let latency = |side: &str| {
        let n = count(&answers[LATENCY_COUNT], "side", side);
        let sum = pick(&answers[LATENCY_SUM], "side", side);
        let ms = |i: usize| pick(&answers[i], "side", side) * 1000.0;
        LatencySummary {
            count: n,
            mean_ms: if n == 0 { 0.0 } else { sum * 1000.0 / n as f64 },
            p50_ms: ms(P50),
            p90_ms: ms(P90),
            p99_ms: ms(P99),
            max_ms: 0.0,
        }
    };
    let reasons = SkipReason::ALL.map(|r| count(&answers[SKIPPED], "reason", r.as_str()));
    let mut top_differences: Vec<PathReport> = answers[DIFFERENCES]
        .iter()
        .filter_map(|s| {
            let path = s.label("path").to_owned();
            let kind = if path == "status" {
                DiffKind::Status
            } else if path.starts_with("/headers/") {
                DiffKind::Header
            } else {
                DiffKind::Value
            };
            Some(PathReport {
                endpoint: s.label("endpoint").to_owned(),
                path,
                kind,
                count: s.value()?.max(0.0).round() as u64,
                noise: 0,
                sample: None,
            })
        })
        .collect();
    crate::health::sort_reports(&mut top_differences);
    let pairs = equivalent + different;
    let (baseline_latency, candidate_latency) = (latency("baseline"), latency("candidate"));
    let baseline_errors = count(&answers[ERRORS], "side", "baseline");
    let candidate_errors = count(&answers[ERRORS], "side", "candidate");
    let counts = Counts {
        pairs,
        equivalent,
        baseline_errors,
        candidate_errors,
        ..Counts::default()
    };
    let score_parts = ScoreParts::of(&counts, &baseline_latency, &candidate_latency);
    HealthSnapshot {
        sampled: count(&answers[SAMPLED], "", ""),
        skipped: reasons.iter().sum(),
        skipped_reasons: SkippedReasons::of(&reasons),
        pairs,
        equivalent,
        different,
        baseline_errors,
        candidate_errors,
        baseline_latency,
        candidate_latency,
        top_differences,
        score: score_parts.score(),
        score_parts,
        ..HealthSnapshot::default()
    }
}

/// Percent-encodes a query-string value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A policy that judges the fleet from Prometheus (feature `prometheus`):
/// it hands the latest [`PrometheusSource`] snapshot to an inner policy,
/// in place of the local health.
///
/// Each [`decide`](RollbackPolicy::decide) starts a refresh in the
/// background (one at a time) and decides on the last answer, so a tick
/// never waits on Prometheus; the figures are at most one tick older than
/// Prometheus's, which lag a scrape interval anyway. Without an answer yet,
/// with an error, or with an answer older than `max_age` (default 60 s),
/// the decision is [`Decision::Inconclusive`], saying why: a Prometheus
/// outage never moves the weights.
///
/// ```
/// use tower_shadow::fleet::{PrometheusPolicy, PrometheusSource};
/// use tower_shadow::health::HealthSnapshot;
/// use tower_shadow::policy::{Decision, RollbackPolicy, ThresholdPolicy};
///
/// let source = PrometheusSource::new("http://127.0.0.1:9")?.selector(r#"job="checkout""#);
/// let mut policy = PrometheusPolicy::new(source, ThresholdPolicy::new());
/// // No answer yet (and here, outside a runtime, no way to ask):
/// let decision = policy.decide(&HealthSnapshot::default(), 0.1);
/// assert!(matches!(decision, Decision::Inconclusive { .. }), "{decision:?}");
/// # Ok::<(), tower_shadow::fleet::PrometheusError>(())
/// ```
pub struct PrometheusPolicy<P> {
    source: Arc<PrometheusSource>,
    inner: P,
    max_age: Duration,
    latest: Arc<Mutex<Latest>>,
    decided: bool,
}

#[derive(Default)]
struct Latest {
    answer: Option<(Instant, Result<HealthSnapshot, String>)>,
    fetching: bool,
}

impl<P: fmt::Debug> fmt::Debug for PrometheusPolicy<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusPolicy")
            .field("source", &self.source)
            .field("inner", &self.inner)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl<P: RollbackPolicy> PrometheusPolicy<P> {
    /// `inner` decides on the snapshots `source` builds.
    pub fn new(source: PrometheusSource, inner: P) -> Self {
        Self {
            source: Arc::new(source),
            inner,
            max_age: Duration::from_secs(60),
            latest: Arc::default(),
            decided: false,
        }
    }

    /// The oldest answer still decided on (default 60 s).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Asks Prometheus now and keeps the answer for the next decision.
    ///
    /// # Errors
    ///
    /// As [`PrometheusSource::snapshot`]; the error is also what the next
    /// decision reports.
    pub async fn refresh(&self) -> Result<(), PrometheusError> {
        fetch(&self.source, &self.latest).await
    }

    fn refresh_in_background(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut latest = self.latest.lock();
            if latest.fetching {
                return;
            }
            latest.fetching = true;
        }
        let (source, latest) = (self.source.clone(), self.latest.clone());
        runtime.spawn(async move {
            let _ = fetch(&source, &latest).await;
        });
    }
}

async fn fetch(source: &PrometheusSource, latest: &Mutex<Latest>) -> Result<(), PrometheusError> {
    let result = source.snapshot().await;
    let kept = result.as_ref().map(Clone::clone).map_err(|e| e.to_string());
    let mut latest = latest.lock();
    latest.answer = Some((Instant::now(), kept));
    latest.fetching = false;
    result.map(drop)
}

impl<P: RollbackPolicy> RollbackPolicy for PrometheusPolicy<P> {
    fn decide(&mut self, _local: &HealthSnapshot, canary_weight: f64) -> Decision {
        self.refresh_in_background();
        let answer = self.latest.lock().answer.clone();
        self.decided = false;
        let reason = match answer {
            None => "no answer from Prometheus yet".to_owned(),
            Some((at, _)) if at.elapsed() > self.max_age => format!(
                "the last answer from Prometheus is {:.0} s old",
                at.elapsed().as_secs_f64()
            ),
            Some((_, Err(error))) => error,
            Some((_, Ok(fleet))) => {
                self.decided = true;
                return self.inner.decide(&fleet, canary_weight);
            }
        };
        Decision::Inconclusive { reason }
    }

    fn evidence(&self) -> Evidence {
        if self.decided {
            self.inner.evidence()
        } else {
            Evidence::default()
        }
    }

    fn reset(&mut self) {
        self.inner.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_refused() {
        let err = PrometheusSource::new("https://prom:9090").unwrap_err();
        assert_eq!(
            err.to_string(),
            "prometheus: `https://prom:9090` is not an http:// URL with a host"
        );
        assert!(PrometheusSource::new("not a url").is_err());
    }

    #[test]
    fn queries_without_a_selector_have_no_braces() {
        let source = PrometheusSource::new("http://prom:9090/").unwrap();
        let queries = source.queries();
        assert_eq!(
            queries[SAMPLED].1,
            "sum(increase(tower_shadow_sampled_total[300s]))"
        );
        assert_eq!(
            queries[P99].1,
            "histogram_quantile(0.99, sum by (side, le) (rate(tower_shadow_latency_seconds_bucket[300s])))"
        );
        assert_eq!(encode("a{b=\"c\"}[5m] ~"), "a%7Bb%3D%22c%22%7D%5B5m%5D%20~");
    }
}
