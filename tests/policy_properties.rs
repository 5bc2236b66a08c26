//! Property tests of the built-in rollback policies: whatever the snapshot
//! (NaN and infinite figures included), the weight and the settings,
//!
//! - every `Shift` moves the canary weight to a finite value in `0..=1`;
//! - a progressive policy only moves up, by at most `MAX_STEP` (0.10) per
//!   decision, never past its target, and promotes only from within a step
//!   of full traffic;
//! - a threshold policy only shifts down;
//! - fewer pairs than the minimum is always `Inconclusive`, with a crossed
//!   `pairs` check, and invalid settings are always `Inconclusive`;
//! - the evidence holds finite figures only, so it survives the JSON audit
//!   log, and so do the decisions;
//! - `any` / `all` return the most / least severe of their policies'
//!   decisions, the first on a tie, with their evidence in order.

use proptest::prelude::*;
use tower_shadow::health::{HealthSnapshot, KpiSnapshot, KpiSummary};
use tower_shadow::policy::{
    all, any, Decision, Evidence, MinPairs, MultiKpiConfig, MultiKpiPolicy, ProgressiveConfig,
    ProgressivePolicy, RollbackPolicy, Step, ThresholdConfig, ThresholdPolicy, MAX_STEP,
};

/// Rounding slack for sums of weights.
const EPS: f64 = 1e-12;

/// Any figure a snapshot might carry, plausible or not.
fn figure() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => 0.0..200.0f64,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => -100.0..0.0f64,
        1 => proptest::num::f64::ANY,
    ]
}

/// Canary weights: mostly valid, some out of range or NaN.
fn weight() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => 0.0..=1.0f64,
        1 => Just(0.0),
        1 => Just(1.0),
        1 => Just(f64::NAN),
        1 => -2.0..3.0f64,
        1 => Just(f64::INFINITY),
    ]
}

fn kpi_summary() -> impl Strategy<Value = KpiSummary> {
    (0u64..3, figure()).prop_map(|(count, mean)| KpiSummary {
        count,
        mean,
        max: mean,
    })
}

fn snapshot() -> impl Strategy<Value = HealthSnapshot> {
    let counts = (0u64..2000).prop_flat_map(|pairs| {
        (
            Just(pairs),
            0..=pairs,
            0..=pairs + 10,
            0..=pairs + 10,
            0..=pairs + 10,
        )
    });
    let latency = (0u64..3, figure(), 0u64..3, figure());
    let kpis = proptest::collection::btree_map(
        prop_oneof![Just("db_ms".to_owned()), Just("cache".to_owned())],
        (kpi_summary(), kpi_summary()).prop_map(|(baseline, candidate)| KpiSnapshot {
            baseline,
            candidate,
        }),
        0..=2,
    );
    (counts, latency, kpis, figure()).prop_map(
        |(
            (pairs, different, baseline_errors, candidate_errors, timeouts),
            (b_count, b_p99, c_count, c_p99),
            kpis,
            score,
        )| {
            let mut s = HealthSnapshot::default();
            s.pairs = pairs;
            s.different = different;
            s.equivalent = pairs - different;
            s.baseline_errors = baseline_errors;
            s.candidate_errors = candidate_errors;
            s.candidate_timeouts = timeouts.min(candidate_errors);
            s.baseline_latency.count = b_count;
            s.baseline_latency.p99_ms = b_p99;
            s.candidate_latency.count = c_count;
            s.candidate_latency.p99_ms = c_p99;
            s.kpis = kpis;
            s.score = score;
            s
        },
    )
}

/// A setting: mostly in a sensible range, sometimes anything.
fn setting(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    prop_oneof![8 => lo..=hi, 1 => figure()]
}

fn min_pairs() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(100u64), 0u64..2500]
}

fn threshold_config() -> impl Strategy<Value = ThresholdConfig> {
    (
        setting(0.0, 100.0),
        setting(0.0, 100.0),
        setting(0.0, 0.99),
        min_pairs(),
    )
        .prop_map(|(a, b, step_down, min_pairs)| {
            let mut c = ThresholdConfig::default();
            // Mostly in the valid order.
            c.rollback_threshold = a.max(b);
            c.critical_threshold = a.min(b);
            if a.is_nan() || b.is_nan() {
                c.rollback_threshold = a;
                c.critical_threshold = b;
            }
            c.step_down = step_down;
            c.min_pairs = min_pairs;
            c
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        setting(0.001, MAX_STEP).prop_map(Step::Linear),
        (setting(0.001, MAX_STEP), setting(1.01, 10.0))
            .prop_map(|(first, factor)| Step::Exponential { first, factor }),
        setting(0.001, MAX_STEP).prop_map(|max| Step::ByScore { max }),
    ]
}

/// Steps big enough to reach any target within a few thousand decisions.
fn valid_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0.001..=MAX_STEP).prop_map(Step::Linear),
        (0.001..=MAX_STEP, 1.01..10.0f64)
            .prop_map(|(first, factor)| Step::Exponential { first, factor }),
        (0.001..=MAX_STEP).prop_map(|max| Step::ByScore { max }),
    ]
}

fn progressive_config() -> impl Strategy<Value = ProgressiveConfig> {
    (
        prop_oneof![3 => setting(0.01, 1.0), 1 => Just(1.0)],
        step(),
        (setting(0.0, 0.2), setting(0.0, 0.2)),
        (setting(0.5, 3.0), setting(0.5, 3.0)),
        min_pairs(),
    )
        .prop_map(|(target, step, (e1, e2), (l1, l2), min_pairs)| {
            let mut c = ProgressiveConfig::default();
            c.target = target;
            c.step = step;
            c.hold_error_rate = e1.min(e2);
            c.revert_error_rate = e1.max(e2);
            c.hold_p99_ratio = l1.min(l2);
            c.revert_p99_ratio = l1.max(l2);
            c.min_pairs = min_pairs;
            c
        })
}

fn multi_kpi_config() -> impl Strategy<Value = MultiKpiConfig> {
    (
        proptest::option::of(setting(0.5, 3.0)),
        proptest::option::of(setting(0.0, 0.2)),
        proptest::option::of(setting(0.0, 0.2)),
        proptest::collection::btree_map(
            prop_oneof![
                Just("db_ms".to_owned()),
                Just("missing".to_owned()),
                Just(String::new())
            ],
            setting(0.5, 3.0),
            0..=2,
        ),
        0usize..4,
        min_pairs(),
    )
        .prop_map(
            |(latency, errors, mismatch, kpis, max_warnings, min_pairs)| {
                let mut c = MultiKpiConfig::default();
                c.latency_p99_ratio = latency;
                c.error_rate = errors;
                c.mismatch_rate = mismatch;
                c.kpis = kpis;
                c.max_warnings = max_warnings;
                c.min_pairs = min_pairs;
                c
            },
        )
}

/// Builds a policy from a config, keeping invalid values (the builders do
/// not check), so invalid settings are exercised too.
fn progressive(c: &ProgressiveConfig) -> ProgressivePolicy {
    ProgressivePolicy::new(c.target)
        .step(c.step)
        .hold_error_rate(c.hold_error_rate)
        .revert_error_rate(c.revert_error_rate)
        .hold_p99_ratio(c.hold_p99_ratio)
        .revert_p99_ratio(c.revert_p99_ratio)
        .min_pairs(c.min_pairs)
}

fn threshold(c: &ThresholdConfig) -> ThresholdPolicy {
    ThresholdPolicy::new()
        .rollback_threshold(c.rollback_threshold)
        .critical_threshold(c.critical_threshold)
        .step_down(c.step_down)
        .min_pairs(c.min_pairs)
}

fn multi_kpi(c: &MultiKpiConfig) -> MultiKpiPolicy {
    let mut p = MultiKpiPolicy::empty()
        .max_warnings(c.max_warnings)
        .min_pairs(c.min_pairs);
    if let Some(x) = c.latency_p99_ratio {
        p = p.latency_p99_ratio(x);
    }
    if let Some(x) = c.error_rate {
        p = p.error_rate(x);
    }
    if let Some(x) = c.mismatch_rate {
        p = p.mismatch_rate(x);
    }
    for (name, &x) in &c.kpis {
        p = p.kpi(name.clone(), x);
    }
    p
}

fn clamp(w: f64) -> f64 {
    w.clamp(0.0, 1.0)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// What holds for every decision of every policy.
fn check_common(decision: &Decision, evidence: &Evidence) -> Result<(), TestCaseError> {
    if let Decision::Shift { canary_weight, .. } = decision {
        prop_assert!(
            canary_weight.is_finite() && (0.0..=1.0).contains(canary_weight),
            "shift to {canary_weight}"
        );
    }
    if let Some(reason) = decision.reason() {
        prop_assert!(!reason.is_empty());
    }
    for check in &evidence.checks {
        prop_assert!(
            check.value.is_finite() && check.threshold.is_finite(),
            "non-finite figure in {check}"
        );
    }
    // The audit log is JSON: everything must come back (figures to within
    // serde_json's float parsing).
    let json = serde_json::to_string(evidence).unwrap();
    let back: Evidence = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(back.checks.len(), evidence.checks.len());
    for (a, b) in back.checks.iter().zip(&evidence.checks) {
        prop_assert_eq!(
            (&a.name, a.direction, a.crossed),
            (&b.name, b.direction, b.crossed)
        );
        prop_assert!(close(a.value, b.value) && close(a.threshold, b.threshold));
    }
    let json = serde_json::to_string(decision).unwrap();
    let back: Decision = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(back.reason(), decision.reason());
    prop_assert_eq!(
        std::mem::discriminant(&back),
        std::mem::discriminant(decision)
    );
    Ok(())
}

/// Under the minimum: inconclusive, the `pairs` check crossed and first.
fn check_guard(
    snapshot: &HealthSnapshot,
    min_pairs: u64,
    valid: bool,
    decision: &Decision,
    evidence: &Evidence,
) -> Result<(), TestCaseError> {
    if !valid {
        prop_assert!(
            matches!(decision, Decision::Inconclusive { reason } if reason.starts_with("invalid policy config: ")),
            "invalid settings gave {decision:?}"
        );
        return Ok(());
    }
    if snapshot.pairs < min_pairs {
        prop_assert_eq!(
            decision,
            &Decision::Inconclusive {
                reason: format!("{} pairs < {min_pairs} needed", snapshot.pairs)
            }
        );
        prop_assert_eq!(evidence.checks.len(), 1);
        prop_assert!(evidence.checks[0].name == "pairs" && evidence.checks[0].crossed);
    } else {
        prop_assert!(evidence.checks[0].name == "pairs" && !evidence.checks[0].crossed);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn progressive_steps_are_bounded(
        config in progressive_config(),
        snapshot in snapshot(),
        w in weight(),
    ) {
        let mut policy = progressive(&config);
        let valid = config.validate().is_ok();
        let decision = policy.decide(&snapshot, w);
        let evidence = policy.evidence();
        check_common(&decision, &evidence)?;
        check_guard(&snapshot, config.min_pairs, valid, &decision, &evidence)?;
        match &decision {
            Decision::Shift { canary_weight, .. } => {
                let step = canary_weight - clamp(w);
                prop_assert!(step > 0.0, "shifted down from {w} to {canary_weight}");
                prop_assert!(step <= MAX_STEP + EPS, "step {step} from {w}");
                prop_assert!(*canary_weight <= config.target + EPS);
                let step_check = evidence.checks.last().unwrap();
                prop_assert!(step_check.name == "step" && !step_check.crossed);
            }
            Decision::Promote => {
                prop_assert!(1.0 - clamp(w) <= MAX_STEP + EPS, "promoted from {w}");
                prop_assert!(config.target >= 1.0);
            }
            _ => {}
        }
        if w.is_nan() {
            let moved = matches!(decision, Decision::Shift { .. } | Decision::Promote);
            prop_assert!(!moved, "moved on a NaN weight: {:?}", decision);
        }
    }

    #[test]
    fn progressive_reaches_its_target_in_bounded_steps(
        target in prop_oneof![0.01..=1.0f64, Just(1.0)],
        step in valid_step(),
        min_pairs in min_pairs(),
        start in 0.0..=1.0f64,
    ) {
        let mut config = ProgressiveConfig::default();
        config.target = target;
        config.step = step;
        config.min_pairs = min_pairs;
        prop_assert!(config.validate().is_ok());
        let mut policy = progressive(&config);
        let mut healthy = HealthSnapshot::default();
        healthy.pairs = config.min_pairs.max(1);
        healthy.equivalent = healthy.pairs;
        healthy.score = 100.0;
        let mut w = start;
        for _ in 0..10_000 {
            match policy.decide(&healthy, w) {
                Decision::Shift { canary_weight, .. } => {
                    prop_assert!(canary_weight > w && canary_weight - w <= MAX_STEP + EPS);
                    w = canary_weight;
                }
                Decision::Promote => {
                    prop_assert!(1.0 - w <= MAX_STEP + EPS);
                    return Ok(());
                }
                Decision::Hold => {
                    prop_assert!(w >= config.target - EPS, "held at {w} below {}", config.target);
                    return Ok(());
                }
                other => prop_assert!(false, "{other:?} on a healthy snapshot"),
            }
        }
        prop_assert!(false, "still at {w} after 10 000 steps");
    }

    #[test]
    fn threshold_only_shifts_down(
        config in threshold_config(),
        snapshot in snapshot(),
        w in weight(),
    ) {
        let mut policy = threshold(&config);
        let valid = config.validate().is_ok();
        let decision = policy.decide(&snapshot, w);
        let evidence = policy.evidence();
        check_common(&decision, &evidence)?;
        check_guard(&snapshot, config.min_pairs, valid, &decision, &evidence)?;
        let score = snapshot.score.clamp(0.0, 100.0);
        match &decision {
            Decision::Shift { canary_weight, .. } => {
                prop_assert!(*canary_weight < clamp(w));
                prop_assert!(score < config.rollback_threshold);
                prop_assert!(score >= config.critical_threshold);
            }
            Decision::Rollback { .. } => prop_assert!(score < config.critical_threshold),
            Decision::Promote => prop_assert!(false, "a threshold policy never promotes"),
            _ => {}
        }
    }

    #[test]
    fn multi_kpi_rolls_back_on_more_than_max_warnings(
        config in multi_kpi_config(),
        snapshot in snapshot(),
        w in weight(),
    ) {
        let mut policy = multi_kpi(&config);
        let valid = config.validate().is_ok();
        let decision = policy.decide(&snapshot, w);
        let evidence = policy.evidence();
        check_common(&decision, &evidence)?;
        check_guard(&snapshot, config.min_pairs, valid, &decision, &evidence)?;
        if valid && snapshot.pairs >= config.min_pairs {
            let warnings = evidence.crossed().count();
            let expected_rollback = warnings > config.max_warnings;
            prop_assert_eq!(matches!(decision, Decision::Rollback { .. }), expected_rollback);
            if !expected_rollback {
                prop_assert_eq!(&decision, &Decision::Hold);
            }
        }
    }

    #[test]
    fn min_pairs_guards_any_policy(
        min in min_pairs(),
        snapshot in snapshot(),
        w in weight(),
    ) {
        let mut policy = MinPairs::new(min, |_: &HealthSnapshot, _: f64| Decision::Promote);
        let decision = policy.decide(&snapshot, w);
        let evidence = policy.evidence();
        check_common(&decision, &evidence)?;
        check_guard(&snapshot, min, true, &decision, &evidence)?;
        if snapshot.pairs >= min {
            prop_assert_eq!(decision, Decision::Promote);
        }
    }

    #[test]
    fn combinators_pick_by_severity(
        t in threshold_config(),
        p in progressive_config(),
        m in multi_kpi_config(),
        snapshot in snapshot(),
        w in weight(),
    ) {
        let (t, p, m) = (threshold(&t), progressive(&p), multi_kpi(&m));
        let decisions = [
            t.clone().decide(&snapshot, w),
            p.clone().decide(&snapshot, w),
            m.clone().decide(&snapshot, w),
        ];
        let severity = |d: &Decision| d.severity(w);

        let mut either = any(any(t.clone(), p.clone()), m.clone());
        let decision = either.decide(&snapshot, w);
        check_common(&decision, &either.evidence())?;
        let most = decisions.iter().map(severity).max().unwrap();
        let first_most = decisions.iter().find(|d| severity(d) == most).unwrap();
        prop_assert_eq!(&decision, first_most);

        let mut both = all(all(t.clone(), p.clone()), m.clone());
        let decision = both.decide(&snapshot, w);
        check_common(&decision, &both.evidence())?;
        let least = decisions.iter().map(severity).min().unwrap();
        let first_least = decisions.iter().find(|d| severity(d) == least).unwrap();
        prop_assert_eq!(&decision, first_least);

        // Evidence: the children's, in order.
        let mut t2 = t.clone();
        let mut p2 = p.clone();
        let mut m2 = m.clone();
        t2.decide(&snapshot, w);
        p2.decide(&snapshot, w);
        m2.decide(&snapshot, w);
        let mut expected = t2.evidence().checks;
        expected.extend(p2.evidence().checks);
        expected.extend(m2.evidence().checks);
        prop_assert_eq!(both.evidence().checks, expected);
    }
}
