//! The detection policies never panic, whatever the snapshot and weight
//! (NaN, infinities, counts at `u64::MAX`, inconsistent counts), and a
//! shift always stays in `0..=1`.

use proptest::prelude::*;
use tower_shadow::health::{HealthSnapshot, KpiSnapshot, KpiSummary, LatencyBin};
use tower_shadow::policy::stats::{mann_whitney, Sample};
use tower_shadow::policy::{
    AdaptivePolicy, Decision, PredictivePolicy, RankPolicy, RollbackPolicy, SequentialPolicy,
};

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-1.0),
        Just(f64::MAX),
        0.0..1000.0f64,
    ]
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(u64::MAX), 0..2000u64]
}

fn bins() -> impl Strategy<Value = Vec<LatencyBin>> {
    prop::collection::vec(
        (float(), count()).prop_map(|(ms, count)| LatencyBin { ms, count }),
        0..20,
    )
}

fn snapshot() -> impl Strategy<Value = HealthSnapshot> {
    (
        (count(), count(), count(), count()),
        (bins(), bins()),
        (float(), float(), float(), float()),
    )
        .prop_map(|((pairs, different, b, c), (lb, lc), (m1, m2, k1, k2))| {
            let mut s = HealthSnapshot::default();
            s.pairs = pairs;
            s.different = different;
            s.baseline_errors = b;
            s.candidate_errors = c;
            s.latency_bins.baseline = lb;
            s.latency_bins.candidate = lc;
            s.baseline_latency.count = pairs;
            s.candidate_latency.count = pairs;
            s.baseline_latency.mean_ms = m1;
            s.candidate_latency.mean_ms = m2;
            s.baseline_latency.p99_ms = m1;
            s.candidate_latency.p99_ms = m2;
            let side = |mean| KpiSummary {
                count: 10,
                mean,
                max: mean,
            };
            s.kpis.insert(
                "k".into(),
                KpiSnapshot {
                    baseline: side(k1),
                    candidate: side(k2),
                },
            );
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn never_panics(snapshots in prop::collection::vec(snapshot(), 1..8), weight in float()) {
        let mut policies: Vec<Box<dyn RollbackPolicy>> = vec![
            Box::new(RankPolicy::new().window_ticks(1)),
            Box::new(SequentialPolicy::new().window_ticks(2)),
            Box::new(AdaptivePolicy::new().window_ticks(1).kpi("k")),
            Box::new(PredictivePolicy::new().threshold("kpi:k", 1.5).threshold("p99_ratio", 2.0)),
        ];
        for s in &snapshots {
            for p in &mut policies {
                let decision = p.decide(s, weight);
                if let Decision::Shift { canary_weight, .. } = decision {
                    prop_assert!((0.0..=1.0).contains(&canary_weight));
                }
                let _ = p.evidence().to_string();
            }
        }
    }

    #[test]
    fn rank_test_is_total(b in prop::collection::vec(float(), 0..30), c in prop::collection::vec(float(), 0..30)) {
        if let Some(t) = mann_whitney(&Sample::from_values(&b), &Sample::from_values(&c), 0.95) {
            prop_assert!((0.0..=1.0).contains(&t.p_greater));
            prop_assert!((0.0..=1.0).contains(&t.cles));
            prop_assert!(t.shift_low <= t.shift && t.shift <= t.shift_high);
        }
    }
}

/// Found by `rank_test_is_total`: differences of ±f64::MAX overflowed a
/// midpoint to infinity, outside the interval.
#[test]
fn rank_test_at_the_extremes() {
    let max = f64::MAX;
    let b = [max, max, max, max, 0.0, 0.0, max, max, 0.0];
    let c = [0.0, max, 0.0, 0.0];
    let t = mann_whitney(&Sample::from_values(&b), &Sample::from_values(&c), 0.95).unwrap();
    assert!(t.shift_low <= t.shift && t.shift <= t.shift_high, "{t:?}");
}
