//! The sliding window: a ring of time buckets, each holding per-endpoint
//! figures, merged on demand into a snapshot.

use super::SkipReason;
use crate::compare::{DiffKind, Difference};
use hashbrown::HashMap;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// The key under which endpoints beyond `max_endpoints` are counted.
pub(crate) const OTHER_ENDPOINTS: &str = "(other endpoints)";
/// The path under which differing paths beyond `max_paths` are counted.
pub(crate) const OTHER_PATHS: &str = "(other paths)";

/// Significant figures kept by latency histograms: about 1 % relative error.
const SIGFIG: u8 = 2;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) bucket: Duration,
    pub(crate) buckets: usize,
    pub(crate) max_endpoints: usize,
    pub(crate) max_paths: usize,
}

/// Counts for one endpoint (or, for `sampled` and `skipped`, the whole
/// layer: those are known before the endpoint matters).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub(crate) sampled: u64,
    pub(crate) skipped: [u64; SkipReason::COUNT],
    pub(crate) pairs: u64,
    pub(crate) equivalent: u64,
    pub(crate) baseline_errors: u64,
    pub(crate) candidate_errors: u64,
    pub(crate) candidate_timeouts: u64,
    pub(crate) candidate_panics: u64,
    pub(crate) noise_pairs: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.sampled += other.sampled;
        for (a, b) in self.skipped.iter_mut().zip(other.skipped) {
            *a += b;
        }
        self.pairs += other.pairs;
        self.equivalent += other.equivalent;
        self.baseline_errors += other.baseline_errors;
        self.candidate_errors += other.candidate_errors;
        self.candidate_timeouts += other.candidate_timeouts;
        self.candidate_panics += other.candidate_panics;
        self.noise_pairs += other.noise_pairs;
    }
}

/// How often one path differed: against the candidate (`raw`) and between
/// two instances of the stable version (`noise`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PathStats {
    pub(crate) kind: DiffKind,
    pub(crate) raw: u64,
    pub(crate) noise: u64,
    pub(crate) sample: Option<Difference>,
}

/// Latency histograms in microseconds, baseline and candidate.
#[derive(Clone, Debug)]
pub(crate) struct Latency {
    pub(crate) baseline: Histogram<u64>,
    pub(crate) candidate: Histogram<u64>,
}

impl Latency {
    pub(crate) fn new() -> Self {
        let histogram = || Histogram::new(SIGFIG).expect("2 significant figures are supported");
        Self {
            baseline: histogram(),
            candidate: histogram(),
        }
    }

    fn add(&mut self, other: &Latency) {
        // Auto-resizing histograms of the same precision always merge.
        let _ = self.baseline.add(&other.baseline);
        let _ = self.candidate.add(&other.candidate);
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Everything recorded for one endpoint, in one bucket or merged.
#[derive(Clone, Debug, Default)]
pub(crate) struct EndpointStats {
    pub(crate) counts: Counts,
    pub(crate) latency: Option<Latency>,
    pub(crate) paths: HashMap<String, PathStats>,
}

impl EndpointStats {
    pub(crate) fn record_latency(&mut self, baseline: Duration, candidate: Duration) {
        let latency = self.latency.get_or_insert_with(Latency::new);
        // `record` grows an auto-resizing histogram; `saturating_record` would not.
        for (h, d) in [
            (&mut latency.baseline, baseline),
            (&mut latency.candidate, candidate),
        ] {
            if h.record(micros(d)).is_err() {
                h.saturating_record(micros(d));
            }
        }
    }

    /// The key and stats of `difference`'s path, or of [`OTHER_PATHS`]
    /// when `max_paths` distinct paths are already kept.
    pub(crate) fn path<'d>(
        &mut self,
        difference: &'d Difference,
        max_paths: usize,
    ) -> (&'d str, &mut PathStats) {
        let (key, stats) = bounded_entry(
            &mut self.paths,
            &difference.path,
            max_paths,
            OTHER_PATHS,
            || PathStats {
                kind: difference.kind,
                raw: 0,
                noise: 0,
                sample: None,
            },
        );
        (key, stats)
    }

    /// Adds `other`'s counts and latencies, not its paths.
    pub(crate) fn merge_figures(&mut self, other: &EndpointStats) {
        self.counts.add(&other.counts);
        match (&mut self.latency, &other.latency) {
            (Some(mine), Some(theirs)) => mine.add(theirs),
            (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
            (_, None) => {}
        }
    }

    fn add(&mut self, other: &EndpointStats) {
        self.merge_figures(other);
        for (path, stats) in &other.paths {
            let mine = self.paths.entry(path.clone()).or_insert_with(|| PathStats {
                kind: stats.kind,
                raw: 0,
                noise: 0,
                sample: None,
            });
            mine.raw += stats.raw;
            mine.noise += stats.noise;
            // Buckets are merged newest first: keep the most recent sample.
            if mine.sample.is_none() {
                mine.sample.clone_from(&stats.sample);
            }
        }
    }
}

/// Count, sum and maximum of one KPI on one side.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct KpiStats {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) max: f64,
}

impl KpiStats {
    pub(crate) fn record(&mut self, value: f64) {
        self.max = if self.count == 0 {
            value
        } else {
            self.max.max(value)
        };
        self.count += 1;
        self.sum += value;
    }

    fn add(&mut self, other: &KpiStats) {
        if other.count > 0 {
            self.max = if self.count == 0 {
                other.max
            } else {
                self.max.max(other.max)
            };
            self.count += other.count;
            self.sum += other.sum;
        }
    }
}

/// The entry of `key` in `map`, or of `other` once `max` keys are kept;
/// the key is copied only when it is new.
fn bounded_entry<'m, 'k, V>(
    map: &'m mut HashMap<String, V>,
    key: &'k str,
    max: usize,
    other: &'static str,
    new: impl FnOnce() -> V,
) -> (&'k str, &'m mut V) {
    let key = if map.len() < max || map.contains_key(key) {
        key
    } else {
        other
    };
    (key, map.entry_ref(key).or_insert_with(new))
}

/// The most custom KPIs kept; values of further names are dropped.
pub(crate) const MAX_KPIS: usize = 32;

#[derive(Debug, Default)]
struct Bucket {
    index: u64,
    layer: Counts,
    kpis: HashMap<String, [KpiStats; 2]>,
    endpoints: HashMap<String, EndpointStats>,
}

/// A ring of `buckets` time buckets covering the window.
#[derive(Debug)]
pub(crate) struct Window {
    pub(crate) limits: Limits,
    epoch: Instant,
    ring: Vec<Bucket>,
}

impl Window {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            epoch: Instant::now(),
            ring: (0..limits.buckets).map(|_| Bucket::default()).collect(),
        }
    }

    fn index(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        // Index 0 marks an unused bucket, so live indexes start at 1.
        (elapsed / self.limits.bucket.as_nanos().max(1)) as u64 + 1
    }

    fn current(&mut self) -> &mut Bucket {
        let index = self.index(Instant::now());
        let slot = (index % self.ring.len() as u64) as usize;
        let bucket = &mut self.ring[slot];
        if bucket.index != index {
            bucket.index = index;
            bucket.layer = Counts::default();
            bucket.kpis.clear();
            bucket.endpoints.clear();
        }
        bucket
    }

    /// Layer-wide counts of the current bucket.
    pub(crate) fn layer(&mut self) -> &mut Counts {
        &mut self.current().layer
    }

    /// The current bucket's stats of KPI `name` (baseline, candidate), or
    /// `None` when [`MAX_KPIS`] other names are already kept.
    pub(crate) fn kpi(&mut self, name: &str) -> Option<&mut [KpiStats; 2]> {
        let kpis = &mut self.current().kpis;
        if !kpis.contains_key(name) && kpis.len() >= MAX_KPIS {
            return None;
        }
        Some(kpis.entry_ref(name).or_default())
    }

    /// The current bucket's stats for `endpoint`, or for
    /// [`OTHER_ENDPOINTS`] once `max_endpoints` are kept.
    pub(crate) fn endpoint(&mut self, endpoint: &str) -> &mut EndpointStats {
        self.endpoint_entry(endpoint).1
    }

    /// Like [`Window::endpoint`], with the key the endpoint is kept under.
    pub(crate) fn endpoint_entry<'e>(
        &mut self,
        endpoint: &'e str,
    ) -> (&'e str, &mut EndpointStats) {
        let max = self.limits.max_endpoints;
        let endpoints = &mut self.current().endpoints;
        bounded_entry(endpoints, endpoint, max, OTHER_ENDPOINTS, Default::default)
    }

    /// The live buckets, in ring order.
    fn live_any_order(&self) -> impl Iterator<Item = &Bucket> {
        let now = self.index(Instant::now());
        let oldest = now.saturating_sub(self.ring.len() as u64 - 1).max(1);
        self.ring
            .iter()
            .filter(move |b| (oldest..=now).contains(&b.index))
    }

    /// The live buckets, newest first.
    fn live(&self) -> impl Iterator<Item = &Bucket> {
        let mut live: Vec<&Bucket> = self.live_any_order().collect();
        live.sort_by_key(|b| std::cmp::Reverse(b.index));
        live.into_iter()
    }

    /// Window-wide (raw, noise, pairs, noise pairs) for one path of one endpoint.
    pub(crate) fn path_totals(&self, endpoint: &str, path: &str) -> (u64, u64, u64, u64) {
        let mut totals = (0, 0, 0, 0);
        for stats in self
            .live_any_order()
            .filter_map(|b| b.endpoints.get(endpoint))
        {
            if let Some(p) = stats.paths.get(path) {
                totals.0 += p.raw;
                totals.1 += p.noise;
            }
            totals.2 += stats.counts.pairs;
            totals.3 += stats.counts.noise_pairs;
        }
        totals
    }

    /// The whole window merged.
    pub(crate) fn merged(&self) -> Merged {
        let mut merged = Merged::default();
        for bucket in self.live() {
            merged.add(&bucket.layer, &bucket.kpis, &bucket.endpoints);
        }
        merged
    }
}

/// A window's buckets added up (or several replicas' windows).
#[derive(Clone, Debug, Default)]
pub(crate) struct Merged {
    pub(crate) layer: Counts,
    pub(crate) kpis: HashMap<String, [KpiStats; 2]>,
    pub(crate) endpoints: HashMap<String, EndpointStats>,
}

impl Merged {
    /// Adds one bucket's (or one replica's) figures.
    pub(crate) fn add(
        &mut self,
        layer: &Counts,
        kpis: &HashMap<String, [KpiStats; 2]>,
        endpoints: &HashMap<String, EndpointStats>,
    ) {
        self.layer.add(layer);
        for (name, [baseline, candidate]) in kpis {
            let [b, c] = self.kpis.entry(name.clone()).or_default();
            b.add(baseline);
            c.add(candidate);
        }
        for (name, stats) in endpoints {
            self.endpoints.entry(name.clone()).or_default().add(stats);
        }
    }
}
