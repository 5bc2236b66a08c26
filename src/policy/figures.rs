//! The figures the built-in policies read from a snapshot, and how they
//! write them into evidence and reasons.

use super::{Check, Decision, Direction, Evidence};
use crate::health::{HealthSnapshot, KpiSnapshot, LATENCY_SLACK_MS};

/// The fewest pairs the built-in policies decide on unless told otherwise.
///
/// ```
/// use tower_shadow::policy::{ThresholdPolicy, DEFAULT_MIN_PAIRS};
///
/// assert_eq!(DEFAULT_MIN_PAIRS, 100);
/// assert_eq!(ThresholdPolicy::new().config().min_pairs, DEFAULT_MIN_PAIRS);
/// ```
pub const DEFAULT_MIN_PAIRS: u64 = 100;

/// The smallest baseline p99 a latency ratio divides by, in milliseconds.
///
/// `p99_ratio = candidate p99 / max(baseline p99, P99_FLOOR_MS)`, so a
/// sub-millisecond baseline does not turn jitter into a large ratio. It is
/// the score's slack, [`LATENCY_SLACK_MS`].
///
/// ```
/// use tower_shadow::policy::P99_FLOOR_MS;
///
/// assert_eq!(P99_FLOOR_MS, 5.0);
/// ```
pub const P99_FLOOR_MS: f64 = LATENCY_SLACK_MS;

/// The minimum sample guard: `Some(Inconclusive)` under `min` pairs. Adds
/// the `pairs` check to `evidence` either way.
pub(super) fn guard(
    snapshot: &HealthSnapshot,
    min: u64,
    evidence: &mut Evidence,
) -> Option<Decision> {
    let crossed = snapshot.pairs < min;
    evidence.push(Check {
        crossed,
        ..Check::at_least("pairs", snapshot.pairs as f64, min as f64)
    });
    crossed.then(|| Decision::Inconclusive {
        reason: format!("{} pairs < {min} needed", snapshot.pairs),
    })
}

/// The canary weight clamped to `0..=1`, or an inconclusive decision when
/// it is NaN.
pub(super) fn weight(canary_weight: f64) -> Result<f64, Decision> {
    if canary_weight.is_nan() {
        Err(Decision::Inconclusive {
            reason: "the canary weight is NaN, not in 0..=1".into(),
        })
    } else {
        Ok(canary_weight.clamp(0.0, 1.0))
    }
}

fn rate(count: u64, pairs: u64) -> f64 {
    if pairs == 0 {
        0.0
    } else {
        count as f64 / pairs as f64
    }
}

/// Candidate errors beyond the baseline's, per pair: failures the stable
/// version shares (a downstream outage) are not the candidate's fault.
pub(super) fn excess_error_rate(snapshot: &HealthSnapshot) -> f64 {
    rate(
        snapshot
            .candidate_errors
            .saturating_sub(snapshot.baseline_errors),
        snapshot.pairs,
    )
}

/// Pairs with a real difference, per pair.
pub(super) fn mismatch_rate(snapshot: &HealthSnapshot) -> f64 {
    rate(snapshot.different, snapshot.pairs)
}

/// `candidate p99 / max(baseline p99, P99_FLOOR_MS)`, or why it cannot be
/// computed.
pub(super) fn p99_ratio(snapshot: &HealthSnapshot) -> Result<f64, &'static str> {
    let (b, c) = (&snapshot.baseline_latency, &snapshot.candidate_latency);
    if b.count == 0 {
        return Err("no baseline latencies");
    }
    if c.count == 0 {
        return Err("no candidate latencies");
    }
    let valid = |ms: f64| ms.is_finite() && ms >= 0.0;
    if !valid(b.p99_ms) || !valid(c.p99_ms) {
        return Err("a p99 is not a finite, non-negative number");
    }
    Ok(c.p99_ms / b.p99_ms.max(P99_FLOOR_MS))
}

/// `candidate mean / baseline mean` of a custom KPI, or why it cannot be
/// computed.
pub(super) fn kpi_ratio(kpi: Option<&KpiSnapshot>) -> Result<f64, &'static str> {
    let Some(kpi) = kpi else {
        return Err("no values");
    };
    if kpi.baseline.count == 0 {
        return Err("no baseline values");
    }
    if kpi.candidate.count == 0 {
        return Err("no candidate values");
    }
    let (b, c) = (kpi.baseline.mean, kpi.candidate.mean);
    if !b.is_finite() || !c.is_finite() {
        return Err("a mean is not a finite number");
    }
    if b <= 0.0 {
        return Err("baseline mean is not above 0");
    }
    let ratio = c / b;
    if ratio.is_finite() {
        Ok(ratio)
    } else {
        Err("the ratio is not a finite number")
    }
}

/// A check that was not made, recorded so the evidence says so: never
/// crossed, its value 0 and its name saying why.
pub(super) fn not_counted(name: &str, why: &str, threshold: f64) -> Check {
    Check {
        crossed: false,
        ..Check::at_most(format!("{name} (not counted: {why})"), 0.0, threshold)
    }
}

/// A figure for a reason: at most four decimals, at least one.
pub(super) fn num(x: f64) -> String {
    let s = format!("{x:.4}");
    match s.split_once('.') {
        Some((int, frac)) => {
            let frac = frac.trim_end_matches('0');
            let frac = if frac.is_empty() { "0" } else { frac };
            format!("{int}.{frac}")
        }
        None => s,
    }
}

/// A crossed check for a reason, e.g. `score 72.0 < critical 80.0`.
pub(super) fn describe(check: &Check, label: &str) -> String {
    let op = match (check.direction, check.crossed) {
        (Direction::Above, true) => ">",
        (Direction::Above, false) => "≤",
        (Direction::Below, true) => "<",
        (Direction::Below, false) => "≥",
    };
    let label = if label.is_empty() {
        String::new()
    } else {
        format!("{label} ")
    };
    format!(
        "{} {} {op} {label}{}",
        check.name,
        num(check.value),
        num(check.threshold)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::KpiSummary;

    #[test]
    fn formats_figures_for_people() {
        assert_eq!(num(72.0), "72.0");
        assert_eq!(num(0.0125), "0.0125");
        assert_eq!(num(1.0 / 3.0), "0.3333");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(
            describe(&Check::at_least("score", 72.0, 80.0), "critical"),
            "score 72.0 < critical 80.0"
        );
        assert_eq!(
            describe(&Check::at_most("p99_ratio", 1.0, 2.0), ""),
            "p99_ratio 1.0 ≤ 2.0"
        );
    }

    #[test]
    fn guards_the_sample_size() {
        let mut s = HealthSnapshot {
            pairs: 12,
            ..Default::default()
        };
        let mut evidence = Evidence::default();
        assert_eq!(
            guard(&s, 100, &mut evidence),
            Some(Decision::Inconclusive {
                reason: "12 pairs < 100 needed".into()
            })
        );
        assert!(evidence.checks[0].crossed);
        s.pairs = 100;
        assert_eq!(guard(&s, 100, &mut evidence), None);
        assert!(!evidence.checks[1].crossed);
        // Precision of u64 beyond f64's does not flip the verdict.
        s.pairs = u64::MAX - 1;
        assert!(guard(&s, u64::MAX, &mut Evidence::default()).is_some());
    }

    #[test]
    fn reads_rates_and_ratios_safely() {
        let mut s = HealthSnapshot::default();
        assert_eq!(excess_error_rate(&s), 0.0);
        assert_eq!(mismatch_rate(&s), 0.0);
        s.pairs = 200;
        s.baseline_errors = 4;
        s.candidate_errors = 10;
        s.different = 20;
        assert_eq!(excess_error_rate(&s), 0.03);
        assert_eq!(mismatch_rate(&s), 0.1);
        s.baseline_errors = 50;
        assert_eq!(excess_error_rate(&s), 0.0);

        assert_eq!(p99_ratio(&s), Err("no baseline latencies"));
        s.baseline_latency.count = 10;
        assert_eq!(p99_ratio(&s), Err("no candidate latencies"));
        s.candidate_latency.count = 10;
        s.baseline_latency.p99_ms = 20.0;
        s.candidate_latency.p99_ms = 30.0;
        assert_eq!(p99_ratio(&s), Ok(1.5));
        s.baseline_latency.p99_ms = 0.0;
        assert_eq!(p99_ratio(&s), Ok(6.0));
        s.candidate_latency.p99_ms = f64::NAN;
        assert!(p99_ratio(&s).is_err());

        let kpi = |b: (u64, f64), c: (u64, f64)| KpiSnapshot {
            baseline: KpiSummary {
                count: b.0,
                mean: b.1,
                max: b.1,
            },
            candidate: KpiSummary {
                count: c.0,
                mean: c.1,
                max: c.1,
            },
        };
        assert_eq!(kpi_ratio(None), Err("no values"));
        assert_eq!(
            kpi_ratio(Some(&kpi((0, 0.0), (3, 1.0)))),
            Err("no baseline values")
        );
        assert_eq!(
            kpi_ratio(Some(&kpi((3, 1.0), (0, 0.0)))),
            Err("no candidate values")
        );
        assert_eq!(
            kpi_ratio(Some(&kpi((3, 0.0), (3, 1.0)))),
            Err("baseline mean is not above 0")
        );
        assert!(kpi_ratio(Some(&kpi((3, f64::NAN), (3, 1.0)))).is_err());
        assert!(kpi_ratio(Some(&kpi((3, 1e-308), (3, 1e308)))).is_err());
        assert_eq!(kpi_ratio(Some(&kpi((3, 8.0), (3, 12.0)))), Ok(1.5));
    }

    #[test]
    fn clamps_weights_and_refuses_nan() {
        assert_eq!(weight(1.5), Ok(1.0));
        assert_eq!(weight(-0.5), Ok(0.0));
        assert_eq!(weight(f64::INFINITY), Ok(1.0));
        assert!(matches!(
            weight(f64::NAN),
            Err(Decision::Inconclusive { .. })
        ));
    }
}
