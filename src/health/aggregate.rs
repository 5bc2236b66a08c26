//! A replica's window as data: exported, shipped, merged with other
//! replicas' into one fleet-wide [`HealthSnapshot`].

use super::window::{Counts, EndpointStats, KpiStats, Latency, Merged, PathStats};
use super::{Health, HealthSnapshot, NoiseThresholds};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;

/// The version of the serialized form; another version is refused.
const VERSION: u32 = 1;
/// The most endpoints, paths per endpoint and latency bins per side a
/// deserialized aggregate may hold, so a corrupt store cannot exhaust memory.
const MAX_ENTRIES: usize = 65_536;

/// One replica's health window as data: counts, latency histograms,
/// differing paths and KPIs, over the whole window.
///
/// Aggregates add up: [`merge`](Self::merge) (or `collect()`) several
/// replicas' aggregates and [`snapshot`](Self::snapshot) is the fleet's
/// [`HealthSnapshot`], the same as if one `Health` had seen every pair.
/// Counts are summed and latency histograms merged bin by bin (`hdrhistogram`
/// `add`), so fleet quantiles are exact at the histograms' ~1 % precision,
/// not averages of quantiles.
///
/// It serializes with serde (JSON through `serde_json`): a versioned
/// document with latencies as `[microseconds, count]` bins.
///
/// ```
/// use tower_shadow::compare::Comparison;
/// use tower_shadow::exchange::Exchange;
/// use tower_shadow::health::{Health, HealthAggregate};
///
/// let ok = Exchange::new(http::StatusCode::OK, http::HeaderMap::new(), "x");
/// let (a, b) = (Health::new(), Health::new());
/// a.record_pair("GET /", &ok, &ok, &Comparison::equivalent());
/// b.record_pair("GET /", &ok, &ok, &Comparison::equivalent());
/// b.record_pair("GET /", &ok, &ok, &Comparison::equivalent());
///
/// // Each replica ships its aggregate, e.g. as JSON through a shared store.
/// let shipped = serde_json::to_string(&b.aggregate()).unwrap();
/// let from_b: HealthAggregate = serde_json::from_str(&shipped).unwrap();
///
/// let fleet: HealthAggregate = [a.aggregate(), from_b].into_iter().collect();
/// assert_eq!(fleet.snapshot().pairs, 3);
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct HealthAggregate {
    window_secs: f64,
    in_flight: u64,
    noise: NoiseThresholds,
    merged: Merged,
}

impl Health {
    /// This health's window as data, to be merged with other replicas'
    /// (see [`HealthAggregate`]).
    pub fn aggregate(&self) -> HealthAggregate {
        let (window_secs, merged) = {
            let window = self.inner.window.lock();
            let limits = window.limits;
            (
                limits.bucket.as_secs_f64() * limits.buckets as f64,
                window.merged(),
            )
        };
        HealthAggregate {
            window_secs,
            in_flight: self.inner.pending.load(Ordering::Relaxed) as u64,
            noise: self.inner.noise,
            merged,
        }
    }
}

impl HealthAggregate {
    /// Adds `other`'s figures to these. The window length is the longer of
    /// the two; the noise thresholds stay these.
    pub fn merge(&mut self, other: &HealthAggregate) {
        self.window_secs = self.window_secs.max(other.window_secs);
        self.in_flight += other.in_flight;
        let m = &other.merged;
        self.merged.add(&m.layer, &m.kpis, &m.endpoints);
    }

    /// The figures as a [`HealthSnapshot`], scored like
    /// [`Health::snapshot`].
    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot::of(self.window_secs, &self.merged, &self.noise, self.in_flight)
    }
}

impl FromIterator<HealthAggregate> for HealthAggregate {
    /// Merges every aggregate; empty when there are none.
    fn from_iter<I: IntoIterator<Item = HealthAggregate>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        let mut sum = iter.next().unwrap_or_default();
        for other in iter {
            sum.merge(&other);
        }
        sum
    }
}

/// The serialized form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u32,
    window_secs: f64,
    in_flight: u64,
    noise: NoiseThresholds,
    layer: Counts,
    #[serde(default)]
    kpis: BTreeMap<String, [KpiStats; 2]>,
    #[serde(default)]
    endpoints: BTreeMap<String, WireEndpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEndpoint {
    counts: Counts,
    /// `[microseconds, count]` per recorded bin, ascending.
    #[serde(default)]
    baseline_latency: Vec<(u64, u64)>,
    #[serde(default)]
    candidate_latency: Vec<(u64, u64)>,
    #[serde(default)]
    paths: BTreeMap<String, PathStats>,
}

fn bins(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    // The highest value of a bin records back into the same bin.
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn fill(h: &mut Histogram<u64>, bins: &[(u64, u64)]) -> Result<(), AggregateError> {
    for &(value, count) in bins {
        h.record_n(value.max(1), count)
            .map_err(|_| AggregateError(format!("latency bin {value} µs out of range")))?;
    }
    Ok(())
}

impl From<HealthAggregate> for Wire {
    fn from(a: HealthAggregate) -> Self {
        let endpoints = a
            .merged
            .endpoints
            .into_iter()
            .map(|(name, stats)| {
                let (baseline_latency, candidate_latency) = match &stats.latency {
                    Some(l) => (bins(&l.baseline), bins(&l.candidate)),
                    None => Default::default(),
                };
                let endpoint = WireEndpoint {
                    counts: stats.counts,
                    baseline_latency,
                    candidate_latency,
                    paths: stats.paths.into_iter().collect(),
                };
                (name, endpoint)
            })
            .collect();
        Wire {
            v: VERSION,
            window_secs: a.window_secs,
            in_flight: a.in_flight,
            noise: a.noise,
            layer: a.merged.layer,
            kpis: a.merged.kpis.into_iter().collect(),
            endpoints,
        }
    }
}

impl TryFrom<Wire> for HealthAggregate {
    type Error = AggregateError;

    fn try_from(w: Wire) -> Result<Self, Self::Error> {
        if w.v != VERSION {
            return Err(AggregateError(format!(
                "version {} is not the supported {VERSION}",
                w.v
            )));
        }
        if !(w.window_secs.is_finite() && w.window_secs >= 0.0) {
            return Err(AggregateError(format!(
                "window_secs {} is not a finite, non-negative number",
                w.window_secs
            )));
        }
        let too_many = |what: &str, n: usize| {
            (n > MAX_ENTRIES)
                .then(|| AggregateError(format!("{n} {what}, more than {MAX_ENTRIES}")))
        };
        if let Some(e) = too_many("endpoints", w.endpoints.len()) {
            return Err(e);
        }
        let mut merged = Merged {
            layer: w.layer,
            kpis: w.kpis.into_iter().collect(),
            endpoints: Default::default(),
        };
        for (name, e) in w.endpoints {
            let over = too_many("paths", e.paths.len())
                .or_else(|| too_many("latency bins", e.baseline_latency.len()))
                .or_else(|| too_many("latency bins", e.candidate_latency.len()));
            if let Some(err) = over {
                return Err(err);
            }
            let latency = if e.baseline_latency.is_empty() && e.candidate_latency.is_empty() {
                None
            } else {
                let mut latency = Latency::new();
                fill(&mut latency.baseline, &e.baseline_latency)?;
                fill(&mut latency.candidate, &e.candidate_latency)?;
                Some(latency)
            };
            let stats = EndpointStats {
                counts: e.counts,
                latency,
                paths: e.paths.into_iter().collect(),
            };
            merged.endpoints.insert(name, stats);
        }
        Ok(Self {
            window_secs: w.window_secs,
            in_flight: w.in_flight,
            noise: w.noise,
            merged,
        })
    }
}

/// Why a serialized [`HealthAggregate`] was refused.
///
/// ```
/// use tower_shadow::health::HealthAggregate;
///
/// let mut doc = serde_json::to_value(HealthAggregate::default()).unwrap();
/// doc["v"] = 2.into(); // written by another version of the crate
/// let error = serde_json::from_value::<HealthAggregate>(doc).unwrap_err();
/// assert!(error.to_string().starts_with("invalid health aggregate: version 2"), "{error}");
/// ```
#[derive(Debug)]
pub struct AggregateError(String);

impl fmt::Display for AggregateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid health aggregate: {}", self.0)
    }
}

impl std::error::Error for AggregateError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Comparison, DiffKind, Difference};
    use crate::exchange::Exchange;
    use http::{HeaderMap, StatusCode};
    use std::time::Duration;

    fn ok(ms: u64) -> Exchange {
        Exchange::new(StatusCode::OK, HeaderMap::new(), "x").with_latency(Duration::from_millis(ms))
    }

    fn failing(ms: u64) -> Exchange {
        Exchange::new(StatusCode::BAD_GATEWAY, HeaderMap::new(), "x")
            .with_latency(Duration::from_millis(ms))
    }

    fn differing(path: &str) -> Comparison {
        let d = Difference::new(path, DiffKind::Value, Some("1"), Some("2"));
        Comparison::different(0.0, vec![d])
    }

    /// Records pair number `i` of a deterministic stream into `health`.
    fn record(health: &Health, i: u64) {
        let endpoint = if i.is_multiple_of(3) {
            "GET /a"
        } else {
            "GET /b"
        };
        let candidate = if i.is_multiple_of(7) {
            failing(3 * i)
        } else {
            ok(2 * i)
        };
        let comparison = if i.is_multiple_of(5) {
            differing("/price")
        } else {
            Comparison::equivalent()
        };
        health.record_pair(endpoint, &ok(i), &candidate, &comparison);
    }

    #[tokio::test]
    async fn merged_replicas_equal_one_health_that_saw_everything() {
        let whole = Health::new();
        let parts = [Health::new(), Health::new(), Health::new()];
        for i in 1..=300 {
            record(&whole, i);
            record(&parts[(i % 3) as usize], i);
        }
        let shipped: Vec<HealthAggregate> = parts
            .iter()
            .map(|p| serde_json::from_str(&serde_json::to_string(&p.aggregate()).unwrap()).unwrap())
            .collect();
        let fleet: HealthAggregate = shipped.into_iter().collect();
        assert_eq!(fleet.snapshot(), whole.snapshot());
        assert_eq!(fleet.snapshot().pairs, 300);
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let mut doc = serde_json::to_value(HealthAggregate::default()).unwrap();
        doc["v"] = 9.into();
        let err = serde_json::from_value::<HealthAggregate>(doc).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let err = serde_json::from_str::<HealthAggregate>("{\"v\": 1}").unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    #[test]
    fn an_empty_collection_is_an_empty_window() {
        let fleet: HealthAggregate = std::iter::empty().collect();
        assert_eq!(fleet.snapshot(), HealthSnapshot::default());
    }
}
