use super::window::{Counts, EndpointStats, KpiStats, Latency, Merged};
use super::NoiseThresholds;
use crate::compare::{DiffKind, Difference};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How many differing paths a snapshot lists, overall and per endpoint.
pub const TOP_DIFFERENCES: usize = 10;
/// Candidate p99 latency up to this multiple of the baseline's (plus
/// [`LATENCY_SLACK_MS`]) costs no score.
pub const LATENCY_ALLOWANCE: f64 = 1.25;
/// Milliseconds of candidate p99 beyond the baseline's that cost no score
/// whatever the ratio: sub-millisecond jitter is not a regression.
pub const LATENCY_SLACK_MS: f64 = 5.0;
/// The lowest the latency factor of the score goes.
pub const LATENCY_FLOOR: f64 = 0.5;

/// The figures of a [`Health`](super::Health) over its sliding window.
///
/// # The score
///
/// ```text
/// score = 100 × equivalence × (1 − excess_error_rate) × latency_factor
///
/// equivalence       = equivalent / pairs                       (1 with no pairs)
/// excess_error_rate = max(0, candidate_errors − baseline_errors) / pairs
/// allowed p99       = 1.25 × baseline p99 + 5 ms
/// latency_factor    = 1                                        if candidate p99 ≤ allowed p99
///                   = max(0.5, allowed p99 / candidate p99)    otherwise
/// ```
///
/// A pair is equivalent when every difference its comparator found is at a
/// path dismissed as noise (see [`NoiseThresholds`]). Each input is in
/// [`ScoreParts`]. With no pairs (and so in `HealthSnapshot::default()`)
/// the score is 100: no evidence against the candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthSnapshot {
    /// The length of the window these figures cover, in seconds.
    pub window_secs: f64,
    /// Requests the sampler picked.
    pub sampled: u64,
    /// Picked requests that were not shadowed, or whose pair was not
    /// compared; the sum of `skipped_reasons`.
    pub skipped: u64,
    /// `skipped`, by reason.
    pub skipped_reasons: SkippedReasons,
    /// Compared pairs: `equivalent + different`.
    pub pairs: u64,
    /// Pairs with no difference, once noise is dismissed.
    pub equivalent: u64,
    /// Pairs with at least one real difference.
    pub different: u64,
    /// Pairs whose baseline side failed (an error or a 5xx).
    pub baseline_errors: u64,
    /// Pairs whose candidate side failed (an error, a timeout, a panic or a 5xx).
    pub candidate_errors: u64,
    /// Of `candidate_errors`, those that timed out.
    pub candidate_timeouts: u64,
    /// Of `candidate_errors`, those that panicked.
    pub candidate_panics: u64,
    /// Baseline-vs-secondary pairs compared to learn the noise.
    pub noise_pairs: u64,
    /// Shadows started and not yet compared.
    pub in_flight: u64,
    /// The baseline's latency to the response head.
    pub baseline_latency: LatencySummary,
    /// The candidate's latency to the response head.
    pub candidate_latency: LatencySummary,
    /// The latency distributions behind the summaries, for judges that test
    /// whole distributions (rank tests, spread checks).
    pub latency_bins: LatencyBins,
    /// The most frequent real differences, most frequent first, each with a sample.
    pub top_differences: Vec<PathReport>,
    /// Paths whose differences were dismissed as noise, with their counts.
    pub noise: Vec<PathReport>,
    /// The same figures per endpoint.
    pub endpoints: BTreeMap<String, EndpointSnapshot>,
    /// Custom KPIs the application reported for each side
    /// ([`Health::record_kpi`](super::Health::record_kpi)).
    pub kpis: BTreeMap<String, KpiSnapshot>,
    /// 0–100; see the type's docs for the formula.
    pub score: f64,
    /// The inputs of `score`.
    pub score_parts: ScoreParts,
}

impl HealthSnapshot {
    /// The snapshot of a merged window (one replica's, or a fleet's).
    pub(crate) fn of(
        window_secs: f64,
        merged: &Merged,
        noise: &NoiseThresholds,
        in_flight: u64,
    ) -> Self {
        let (layer, endpoints) = (&merged.layer, &merged.endpoints);
        let mut all = EndpointStats::default();
        let mut per_endpoint = std::collections::BTreeMap::new();
        let mut top_differences = Vec::new();
        let mut dismissed = Vec::new();
        for (name, stats) in endpoints {
            let snapshot = EndpointSnapshot::of(name, stats, noise);
            top_differences.extend(snapshot.top_differences.iter().cloned());
            dismissed.extend(snapshot.noise.iter().cloned());
            per_endpoint.insert(name.clone(), snapshot);
            all.merge_figures(stats);
        }
        sort_reports(&mut top_differences);
        top_differences.truncate(TOP_DIFFERENCES);
        sort_reports(&mut dismissed);
        let overall = EndpointSnapshot::of("", &all, noise);
        HealthSnapshot {
            window_secs,
            sampled: layer.sampled,
            skipped: layer.skipped.iter().sum(),
            skipped_reasons: SkippedReasons::of(&layer.skipped),
            pairs: overall.pairs,
            equivalent: overall.equivalent,
            different: overall.different,
            baseline_errors: overall.baseline_errors,
            candidate_errors: overall.candidate_errors,
            candidate_timeouts: all.counts.candidate_timeouts,
            candidate_panics: all.counts.candidate_panics,
            noise_pairs: overall.noise_pairs,
            in_flight,
            baseline_latency: overall.baseline_latency,
            candidate_latency: overall.candidate_latency,
            latency_bins: LatencyBins::of(all.latency.as_ref()),
            top_differences,
            noise: dismissed,
            endpoints: per_endpoint,
            kpis: merged
                .kpis
                .iter()
                .map(|(name, stats)| (name.clone(), KpiSnapshot::of(stats)))
                .collect(),
            score: overall.score,
            score_parts: overall.score_parts,
        }
    }
}

/// The figures of one endpoint over the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EndpointSnapshot {
    /// Compared pairs.
    pub pairs: u64,
    /// Pairs with no real difference.
    pub equivalent: u64,
    /// Pairs with at least one real difference.
    pub different: u64,
    /// Pairs whose baseline side failed.
    pub baseline_errors: u64,
    /// Pairs whose candidate side failed.
    pub candidate_errors: u64,
    /// Baseline-vs-secondary pairs.
    pub noise_pairs: u64,
    /// The baseline's latency.
    pub baseline_latency: LatencySummary,
    /// The candidate's latency.
    pub candidate_latency: LatencySummary,
    /// The most frequent real differences.
    pub top_differences: Vec<PathReport>,
    /// Paths dismissed as noise.
    pub noise: Vec<PathReport>,
    /// 0–100, as for the whole [`HealthSnapshot`].
    pub score: f64,
    /// The inputs of `score`.
    pub score_parts: ScoreParts,
}

impl Default for HealthSnapshot {
    fn default() -> Self {
        let score_parts = ScoreParts::default();
        Self {
            window_secs: 0.0,
            sampled: 0,
            skipped: 0,
            skipped_reasons: SkippedReasons::default(),
            pairs: 0,
            equivalent: 0,
            different: 0,
            baseline_errors: 0,
            candidate_errors: 0,
            candidate_timeouts: 0,
            candidate_panics: 0,
            noise_pairs: 0,
            in_flight: 0,
            baseline_latency: LatencySummary::default(),
            candidate_latency: LatencySummary::default(),
            latency_bins: LatencyBins::default(),
            top_differences: Vec::new(),
            noise: Vec::new(),
            endpoints: BTreeMap::new(),
            kpis: BTreeMap::new(),
            score: score_parts.score(),
            score_parts,
        }
    }
}

impl Default for EndpointSnapshot {
    fn default() -> Self {
        let score_parts = ScoreParts::default();
        Self {
            pairs: 0,
            equivalent: 0,
            different: 0,
            baseline_errors: 0,
            candidate_errors: 0,
            noise_pairs: 0,
            baseline_latency: LatencySummary::default(),
            candidate_latency: LatencySummary::default(),
            top_differences: Vec::new(),
            noise: Vec::new(),
            score: score_parts.score(),
            score_parts,
        }
    }
}

/// How often one path differed, and an example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathReport {
    /// The endpoint.
    pub endpoint: String,
    /// The path (`status`, `/headers/<name>`, a JSON Pointer, ...).
    pub path: String,
    /// The kind of the difference.
    pub kind: DiffKind,
    /// Baseline-vs-candidate pairs that differed here.
    pub count: u64,
    /// Baseline-vs-secondary pairs that differed here.
    pub noise: u64,
    /// A recent difference at this path.
    pub sample: Option<Difference>,
}

/// One line: the endpoint, the path, the count and the sample.
///
/// ```
/// use tower_shadow::compare::{DiffKind, Difference};
/// use tower_shadow::health::PathReport;
///
/// let report = PathReport {
///     endpoint: "GET /users/{id}".into(),
///     path: "/name".into(),
///     kind: DiffKind::Value,
///     count: 3,
///     noise: 0,
///     sample: Some(Difference::new("/name", DiffKind::Value, Some("\"Ada\""), Some("\"ada\""))),
/// };
/// assert_eq!(report.to_string(), r#"GET /users/{id} /name ×3, e.g. value /name: "Ada" -> "ada""#);
/// ```
impl fmt::Display for PathReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ×{}", self.endpoint, self.path, self.count)?;
        match &self.sample {
            Some(sample) => write!(f, ", e.g. {sample}"),
            None => Ok(()),
        }
    }
}

/// A custom KPI on both sides, over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KpiSnapshot {
    /// The stable version's values.
    pub baseline: KpiSummary,
    /// The candidate's values.
    pub candidate: KpiSummary,
}

/// Count, mean and maximum of one KPI on one side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KpiSummary {
    /// How many values were reported.
    pub count: u64,
    /// Their mean (0 with none).
    pub mean: f64,
    /// Their maximum (0 with none).
    pub max: f64,
}

impl KpiSnapshot {
    pub(crate) fn of([baseline, candidate]: &[KpiStats; 2]) -> Self {
        let summary = |s: &KpiStats| KpiSummary {
            count: s.count,
            mean: if s.count == 0 {
                0.0
            } else {
                s.sum / s.count as f64
            },
            max: s.max,
        };
        Self {
            baseline: summary(baseline),
            candidate: summary(candidate),
        }
    }
}

/// The latency distribution of each side over the window, as histogram
/// bins: every distinct recorded value (at about 1 % precision) with its
/// count, ascending.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyBins {
    /// The stable version's bins.
    pub baseline: Vec<LatencyBin>,
    /// The candidate's bins.
    pub candidate: Vec<LatencyBin>,
}

/// One histogram bin: how many latencies were about `ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyBin {
    /// The bin's value, in milliseconds.
    pub ms: f64,
    /// How many latencies fell in it.
    pub count: u64,
}

impl LatencyBins {
    pub(crate) fn of(latency: Option<&Latency>) -> Self {
        let bins = |h: &Histogram<u64>| {
            h.iter_recorded()
                .map(|v| LatencyBin {
                    ms: h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                    count: v.count_at_value(),
                })
                .collect()
        };
        latency.map_or_else(Self::default, |l| Self {
            baseline: bins(&l.baseline),
            candidate: bins(&l.candidate),
        })
    }
}

/// Latency quantiles of one side, in milliseconds (about 1 % relative error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// How many latencies were recorded.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl LatencySummary {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// The inputs of a score; see [`HealthSnapshot`] for the formula.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreParts {
    /// `equivalent / pairs`, 1 with no pairs.
    pub equivalence: f64,
    /// Candidate errors beyond the baseline's, per pair.
    pub excess_error_rate: f64,
    /// 1, or less when the candidate's p99 is over the allowance.
    pub latency_factor: f64,
}

impl Default for ScoreParts {
    fn default() -> Self {
        Self {
            equivalence: 1.0,
            excess_error_rate: 0.0,
            latency_factor: 1.0,
        }
    }
}

impl ScoreParts {
    pub(crate) fn of(
        counts: &Counts,
        baseline: &LatencySummary,
        candidate: &LatencySummary,
    ) -> Self {
        if counts.pairs == 0 {
            return Self::default();
        }
        let pairs = counts.pairs as f64;
        let allowed = LATENCY_ALLOWANCE * baseline.p99_ms + LATENCY_SLACK_MS;
        let latency_factor =
            if baseline.count > 0 && candidate.count > 0 && candidate.p99_ms > allowed {
                (allowed / candidate.p99_ms).max(LATENCY_FLOOR)
            } else {
                1.0
            };
        Self {
            equivalence: counts.equivalent.min(counts.pairs) as f64 / pairs,
            excess_error_rate: counts
                .candidate_errors
                .saturating_sub(counts.baseline_errors) as f64
                / pairs,
            latency_factor,
        }
    }

    /// `100 × equivalence × (1 − excess_error_rate) × latency_factor`.
    pub fn score(&self) -> f64 {
        (100.0 * self.equivalence * (1.0 - self.excess_error_rate) * self.latency_factor)
            .clamp(0.0, 100.0)
    }
}

/// Skipped requests by [`SkipReason`](super::SkipReason). A reason missing
/// from a serialized form (written before it existed) reads as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SkippedReasons {
    /// The method is not shadowed.
    pub method: u64,
    /// The request body was over `max_body_bytes`.
    pub oversize: u64,
    /// `max_in_flight` shadows were already running.
    pub overloaded: u64,
    /// The primary's side did not complete.
    pub incomplete: u64,
    /// No Tokio runtime to spawn the shadow on.
    pub no_runtime: u64,
    /// The comparator panicked.
    pub comparator: u64,
    /// A streaming call the layer was told not to shadow.
    pub streaming: u64,
}

impl SkippedReasons {
    pub(crate) fn of(skipped: &[u64; super::SkipReason::COUNT]) -> Self {
        let [method, oversize, overloaded, incomplete, no_runtime, comparator, streaming] =
            *skipped;
        Self {
            method,
            oversize,
            overloaded,
            incomplete,
            no_runtime,
            comparator,
            streaming,
        }
    }
}

impl EndpointSnapshot {
    pub(crate) fn of(name: &str, stats: &EndpointStats, noise: &NoiseThresholds) -> Self {
        let c = &stats.counts;
        let (baseline_latency, candidate_latency) = match &stats.latency {
            Some(Latency {
                baseline,
                candidate,
            }) => (LatencySummary::of(baseline), LatencySummary::of(candidate)),
            None => Default::default(),
        };
        let mut real = Vec::new();
        let mut dismissed = Vec::new();
        for (path, p) in &stats.paths {
            let report = PathReport {
                endpoint: name.to_owned(),
                path: path.clone(),
                kind: p.kind,
                count: p.raw,
                noise: p.noise,
                sample: p.sample.clone(),
            };
            if noise.is_real(p.raw, p.noise, c.pairs, c.noise_pairs) {
                real.push(report);
            } else if p.raw > 0 {
                dismissed.push(report);
            }
        }
        sort_reports(&mut real);
        sort_reports(&mut dismissed);
        real.truncate(TOP_DIFFERENCES);
        let score_parts = ScoreParts::of(c, &baseline_latency, &candidate_latency);
        Self {
            pairs: c.pairs,
            equivalent: c.equivalent.min(c.pairs),
            different: c.pairs - c.equivalent.min(c.pairs),
            baseline_errors: c.baseline_errors,
            candidate_errors: c.candidate_errors,
            noise_pairs: c.noise_pairs,
            baseline_latency,
            candidate_latency,
            top_differences: real,
            noise: dismissed,
            score: score_parts.score(),
            score_parts,
        }
    }
}

pub(crate) fn sort_reports(reports: &mut [PathReport]) {
    reports.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
            .then_with(|| a.path.cmp(&b.path))
    });
}
