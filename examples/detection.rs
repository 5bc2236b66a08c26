//! Detection benchmark: how fast each policy catches a bad candidate, and
//! how often it raises a false alarm on a good one.
//!
//! ```text
//! cargo run --release --example detection            # full: 1000 A/A runs, 200 per scenario
//! cargo run --release --example detection -- --quick # CI size: 300 A/A runs, 60 per scenario
//! ```
//!
//! (`DETECTION_QUICK=1` also selects the quick mode.) Every run is seeded,
//! so the table is the same on every machine.
//!
//! The simulation mirrors what the rollout sees: 200 pairs per 10 s tick,
//! a `Health`-like sliding window of 6 one-tick buckets (60 s), latency
//! histograms with 1 % bins (about `Health`'s 2 significant figures, so
//! binned latencies tie as they do there), and one decision per
//! tick at a canary weight of 0.5, for 40 ticks (8000 pairs). A detection
//! is the first rollback or shift down; on A/A runs that is a false alarm.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use tower_shadow::health::{HealthSnapshot, LatencyBin, LatencySummary};
use tower_shadow::policy::stats::normal_sf;
use tower_shadow::policy::{
    AdaptivePolicy, Decision, PredictivePolicy, RankPolicy, RollbackPolicy, SequentialPolicy,
    ThresholdPolicy,
};

/// Pairs compared per tick.
pub const PAIRS_PER_TICK: u64 = 200;
/// Ticks per sliding window (60 s window / 10 s interval).
pub const WINDOW_TICKS: usize = 6;
/// Ticks per run.
pub const TICKS: u32 = 40;
const MEDIAN_MS: f64 = 50.0;
const SIGMA: f64 = 0.5;

/// What the candidate does differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Nothing: both sides alike (1 % mismatches, 0.1 % errors each).
    AA,
    /// Mismatches 1 % → 3 %.
    Mismatch,
    /// Candidate errors 0.1 % → 1 %.
    Errors,
    /// Candidate latency +20 %.
    Latency,
    /// Candidate latency drifting from +0 % to +100 % over the run.
    Drift,
    /// Variance of log-latency doubled, same median.
    Variance,
    /// Errors only on the candidate: 0 % → 0.3 %, the baseline has none.
    SparseErrors,
}

impl Scenario {
    /// All scenarios, A/A first.
    pub const ALL: [Scenario; 7] = [
        Scenario::AA,
        Scenario::Mismatch,
        Scenario::Errors,
        Scenario::Latency,
        Scenario::Drift,
        Scenario::Variance,
        Scenario::SparseErrors,
    ];

    /// The table's label.
    pub fn label(self) -> &'static str {
        match self {
            Scenario::AA => "A/A (noise only)",
            Scenario::Mismatch => "mismatch 1 % → 3 %",
            Scenario::Errors => "errors 0.1 % → 1 %",
            Scenario::Latency => "latency +20 %",
            Scenario::Drift => "slow drift (latency +0 → +100 % over the run)",
            Scenario::Variance => "variance ×2, same median",
            Scenario::SparseErrors => "sparse errors (0 → 0.3 %, baseline none)",
        }
    }
}

struct Params {
    mismatch: f64,
    baseline_errors: f64,
    candidate_errors: f64,
    scale: f64,
    sigma: f64,
}

fn params(scenario: Scenario, tick: u32) -> Params {
    let mut p = Params {
        mismatch: 0.01,
        baseline_errors: 0.001,
        candidate_errors: 0.001,
        scale: 1.0,
        sigma: SIGMA,
    };
    match scenario {
        Scenario::AA => {}
        Scenario::Mismatch => p.mismatch = 0.03,
        Scenario::Errors => p.candidate_errors = 0.01,
        Scenario::Latency => p.scale = 1.2,
        Scenario::Drift => p.scale = 1.0 + f64::from(tick) / f64::from(TICKS),
        Scenario::Variance => p.sigma = SIGMA * std::f64::consts::SQRT_2,
        Scenario::SparseErrors => {
            p.baseline_errors = 0.0;
            p.candidate_errors = 0.003;
        }
    }
    p
}

/// Two independent standard normals by Box-Muller, from one 64-bit draw
/// (32 bits per uniform: |z| up to 6.6, plenty here).
fn normals(rng: &mut StdRng) -> (f64, f64) {
    let bits: u64 = rng.random();
    let unit = |b: u64| (b as f64 + 0.5) / 4_294_967_296.0;
    let (u, v) = (unit(bits >> 32), unit(bits & 0xffff_ffff));
    let r = (-2.0 * u.ln()).sqrt();
    let (sin, cos) = (std::f64::consts::TAU * v).sin_cos();
    (r * cos, r * sin)
}

/// Bins per latency range: consecutive bins are 1 % apart, about the
/// precision of `Health`'s histograms (2 significant figures).
const BINS: usize = 1900;

/// A log-binned latency histogram (1 % bins from 1 µs to about 160 s),
/// cheaper than `hdrhistogram` so the CI run stays fast in debug builds.
#[derive(Clone)]
struct LogHistogram {
    counts: Vec<u32>,
    count: u64,
    sum_ms: f64,
}

impl LogHistogram {
    fn new() -> Self {
        Self {
            counts: vec![0; BINS],
            count: 0,
            sum_ms: 0.0,
        }
    }

    fn bin_ms(i: usize) -> f64 {
        1.01f64.powi(i as i32) / 1000.0
    }

    fn record(&mut self, ms: f64) {
        let i = ((ms * 1000.0).max(1.0).ln() / 1.01f64.ln()).round() as usize;
        let i = i.min(BINS - 1);
        self.counts[i] += 1;
        self.count += 1;
        self.sum_ms += Self::bin_ms(i);
    }

    /// Adds (`sign` 1) or removes (`sign` −1) another histogram's counts.
    fn add(&mut self, other: &Self, sign: i64) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = (i64::from(*a) + sign * i64::from(*b)) as u32;
        }
        self.count = (self.count as i64 + sign * other.count as i64) as u64;
        self.sum_ms += sign as f64 * other.sum_ms;
    }

    fn quantile(&self, q: f64) -> f64 {
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Self::bin_ms(i);
            }
        }
        0.0
    }

    fn summary(&self) -> LatencySummary {
        let mut s = LatencySummary::default();
        if self.count == 0 {
            return s;
        }
        s.count = self.count;
        s.mean_ms = self.sum_ms / self.count as f64;
        s.p50_ms = self.quantile(0.5);
        s.p90_ms = self.quantile(0.9);
        s.p99_ms = self.quantile(0.99);
        s.max_ms = self.quantile(1.0);
        s
    }

    /// Bins as `Health` reports them: each recorded value with its count.
    fn bins(&self) -> Vec<LatencyBin> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| LatencyBin {
                ms: Self::bin_ms(i),
                count: u64::from(c),
            })
            .collect()
    }
}

struct Bucket {
    pairs: u64,
    different: u64,
    baseline_errors: u64,
    candidate_errors: u64,
    baseline: LogHistogram,
    candidate: LogHistogram,
}

impl Bucket {
    fn fill(rng: &mut StdRng, p: &Params) -> Self {
        let mut b = Bucket {
            pairs: PAIRS_PER_TICK,
            different: 0,
            baseline_errors: 0,
            candidate_errors: 0,
            baseline: LogHistogram::new(),
            candidate: LogHistogram::new(),
        };
        // Three Bernoulli draws from one 64-bit number, 21 bits each
        // (rates to within 5e-7).
        const SCALE: f64 = (1u64 << 21) as f64;
        let cut = |rate: f64| (rate * SCALE) as u64;
        let (m, be, ce) = (
            cut(p.mismatch),
            cut(p.baseline_errors),
            cut(p.candidate_errors),
        );
        for _ in 0..PAIRS_PER_TICK {
            let bits: u64 = rng.random();
            let field = |i: u32| (bits >> (21 * i)) & ((1 << 21) - 1);
            b.different += u64::from(field(0) < m);
            b.baseline_errors += u64::from(field(1) < be);
            b.candidate_errors += u64::from(field(2) < ce);
            let (zb, zc) = normals(rng);
            let base = MEDIAN_MS * (SIGMA * zb).exp();
            let cand = MEDIAN_MS * p.scale * (p.sigma * zc).exp();
            b.baseline.record(base);
            b.candidate.record(cand);
        }
        b
    }
}

/// The window's snapshot, with the score by its documented formula;
/// `hb` and `hc` are the window's merged histograms.
fn snapshot(window: &[Bucket], hb: &LogHistogram, hc: &LogHistogram) -> HealthSnapshot {
    let mut s = HealthSnapshot::default();
    for b in window {
        s.pairs += b.pairs;
        s.different += b.different;
        s.baseline_errors += b.baseline_errors;
        s.candidate_errors += b.candidate_errors;
    }
    s.equivalent = s.pairs - s.different;
    s.baseline_latency = hb.summary();
    s.candidate_latency = hc.summary();
    s.latency_bins.baseline = hb.bins();
    s.latency_bins.candidate = hc.bins();
    let pairs = s.pairs.max(1) as f64;
    let allowed = 1.25 * s.baseline_latency.p99_ms + 5.0;
    let latency_factor = if s.candidate_latency.p99_ms > allowed {
        (allowed / s.candidate_latency.p99_ms).max(0.5)
    } else {
        1.0
    };
    s.score = 100.0
        * (s.equivalent as f64 / pairs)
        * (1.0 - s.candidate_errors.saturating_sub(s.baseline_errors) as f64 / pairs)
        * latency_factor;
    s
}

/// The snapshots of one run, one per tick.
pub fn simulate(scenario: Scenario, seed: u64) -> Vec<HealthSnapshot> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut window: Vec<Bucket> = Vec::with_capacity(WINDOW_TICKS);
    // The window's histograms, kept by adding the new bucket and
    // subtracting the one that leaves.
    let (mut hb, mut hc) = (LogHistogram::new(), LogHistogram::new());
    (1..=TICKS)
        .map(|tick| {
            if window.len() == WINDOW_TICKS {
                let old = window.remove(0);
                hb.add(&old.baseline, -1);
                hc.add(&old.candidate, -1);
            }
            let bucket = Bucket::fill(&mut rng, &params(scenario, tick));
            hb.add(&bucket.baseline, 1);
            hc.add(&bucket.candidate, 1);
            window.push(bucket);
            snapshot(&window, &hb, &hc)
        })
        .collect()
}

/// A classic fixed-window judge of the rates, for comparison: once per
/// window, a one-sided z-test of the mismatch rate against 1 % and of the
/// candidate's share of failures against ½, each at
/// `0.01 / (10 looks × 2 tests)`.
fn fixed_window_rates() -> Box<dyn RollbackPolicy> {
    let mut tick = 0usize;
    let alpha = 0.01 / 20.0;
    Box::new(move |s: &HealthSnapshot, _w: f64| {
        tick += 1;
        if !tick.is_multiple_of(WINDOW_TICKS) || s.pairs == 0 {
            return Decision::Hold;
        }
        let n = s.pairs as f64;
        let z = (s.different as f64 - 0.01 * n - 0.5) / (0.01 * 0.99 * n).sqrt();
        let k = (s.baseline_errors + s.candidate_errors) as f64;
        let ze = if k > 0.0 {
            (s.candidate_errors as f64 - k / 2.0 - 0.5) / (k / 4.0).sqrt()
        } else {
            0.0
        };
        if normal_sf(z) < alpha || normal_sf(ze) < alpha {
            Decision::Rollback {
                reason: "fixed-window rate test".into(),
            }
        } else {
            Decision::Hold
        }
    })
}

/// Makes a fresh policy for each run.
pub type Factory = Box<dyn Fn() -> Box<dyn RollbackPolicy>>;

/// The policies compared: a name and a factory.
pub fn policies() -> Vec<(&'static str, Factory)> {
    // Control limits are computed once, on the first decision; later runs
    // clone the prepared policy.
    let mut adaptive = AdaptivePolicy::new();
    adaptive.decide(&HealthSnapshot::default(), 0.5);
    adaptive.reset();
    vec![
        (
            "ThresholdPolicy (score, default)",
            Box::new(|| Box::new(ThresholdPolicy::new()) as Box<dyn RollbackPolicy>),
        ),
        ("fixed-window rate z-tests", Box::new(fixed_window_rates)),
        (
            "RankPolicy (Kayenta-style, per window)",
            Box::new(|| Box::new(RankPolicy::new())),
        ),
        (
            "SequentialPolicy (mSPRT)",
            Box::new(|| Box::new(SequentialPolicy::new())),
        ),
        (
            "AdaptivePolicy (EWMA + CUSUM)",
            Box::new(move || Box::new(adaptive.clone())),
        ),
        (
            "PredictivePolicy (Holt)",
            Box::new(|| Box::new(PredictivePolicy::new())),
        ),
    ]
}

/// The first tick (1-based) at which the policy acts against the canary.
fn detect(policy: &mut dyn RollbackPolicy, snapshots: &[HealthSnapshot]) -> Option<u32> {
    snapshots.iter().zip(1..).find_map(|(s, tick)| {
        let decision = policy.decide(s, 0.5);
        (decision.severity(0.5) >= 3).then_some(tick)
    })
}

/// Runs per scenario.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// A/A runs (the false-alarm rate's sample).
    pub aa_runs: u32,
    /// Runs of each other scenario.
    pub runs: u32,
}

impl Mode {
    /// The full benchmark.
    pub const FULL: Mode = Mode {
        aa_runs: 1000,
        runs: 200,
    };
    /// The CI size.
    pub const QUICK: Mode = Mode {
        aa_runs: 300,
        runs: 60,
    };
}

/// One cell of the table.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Runs.
    pub runs: u32,
    /// Runs in which the policy acted.
    pub detected: u32,
    /// The median pairs before acting, `None` when it acted in at most
    /// half the runs.
    pub median_pairs: Option<u64>,
}

/// Runs `scenarios` × all policies; `cells[s][p]`.
pub fn run(mode: Mode, scenarios: &[Scenario]) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let policies = policies();
    let names = policies.iter().map(|(n, _)| *n).collect();
    let cells = scenarios
        .iter()
        .enumerate()
        .map(|(si, &scenario)| {
            let runs = if scenario == Scenario::AA {
                mode.aa_runs
            } else {
                mode.runs
            };
            let mut ticks: Vec<Vec<Option<u32>>> = vec![Vec::new(); policies.len()];
            for r in 0..runs {
                let seed = 0x5eed_0000 + (si as u64) * 1_000_000 + u64::from(r);
                let snapshots = simulate(scenario, seed);
                for (pi, (_, make)) in policies.iter().enumerate() {
                    let mut policy = make();
                    ticks[pi].push(detect(policy.as_mut(), &snapshots));
                }
            }
            ticks
                .into_iter()
                .map(|mut t| {
                    let detected = t.iter().flatten().count() as u32;
                    t.sort_by_key(|x| x.unwrap_or(u32::MAX));
                    let median = t[(t.len() - 1) / 2];
                    Cell {
                        runs,
                        detected,
                        median_pairs: median.map(|tick| u64::from(tick) * PAIRS_PER_TICK),
                    }
                })
                .collect()
        })
        .collect();
    (names, cells)
}

/// The Markdown table.
pub fn table(names: &[&str], scenarios: &[Scenario], cells: &[Vec<Cell>]) -> String {
    let mut out = String::from("| scenario |");
    for n in names {
        let _ = write!(out, " {n} |");
    }
    out.push_str("\n|---|");
    for _ in names {
        out.push_str("---|");
    }
    out.push('\n');
    for (s, row) in scenarios.iter().zip(cells) {
        let _ = write!(out, "| {} |", s.label());
        for c in row {
            let pct = 100.0 * f64::from(c.detected) / f64::from(c.runs.max(1));
            if *s == Scenario::AA {
                let _ = write!(
                    out,
                    " {pct:.1} % false alarms ({}/{}) |",
                    c.detected, c.runs
                );
            } else {
                match c.median_pairs {
                    Some(p) => {
                        let _ = write!(out, " {p} pairs ({pct:.0} % caught) |");
                    }
                    None => {
                        let _ = write!(out, " — ({pct:.0} % caught) |");
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

#[allow(dead_code)]
fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("DETECTION_QUICK").is_ok_and(|v| v == "1");
    let mode = if quick { Mode::QUICK } else { Mode::FULL };
    let started = std::time::Instant::now();
    let (names, cells) = run(mode, &Scenario::ALL);
    println!(
        "{} A/A runs, {} runs per other scenario, {} ticks of {} pairs, window {} ticks ({:.1} s)\n",
        mode.aa_runs,
        mode.runs,
        TICKS,
        PAIRS_PER_TICK,
        WINDOW_TICKS,
        started.elapsed().as_secs_f64()
    );
    println!("{}", table(&names, &Scenario::ALL, &cells));
}
