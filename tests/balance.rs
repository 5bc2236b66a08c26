//! Performance-based balancing: weights converge toward the better backend,
//! follow a change, and never drop under the floor.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tower_shadow::router::{Balancer, Weights};

/// A backend's score from its latency: requests per second one connection
/// could carry.
fn score(latency_ms: f64) -> f64 {
    1000.0 / latency_ms
}

#[test]
fn weights_converge_toward_the_better_backend_and_respect_the_floor() {
    let balancer = Balancer::builder(2)
        .smoothing(0.2)
        .floor(0.05)
        .build()
        .unwrap();
    let weights = Weights::new(0.5);
    let mut rng = StdRng::seed_from_u64(7);
    let mut stable_share = Vec::new();
    for _ in 0..200 {
        // Stable about 10 ms, canary about 40 ms, with seeded jitter.
        balancer.record(0, score(10.0 + rng.random_range(-1.0..1.0)));
        balancer.record(1, score(40.0 + rng.random_range(-4.0..4.0)));
        balancer.apply(&weights);
        let w = balancer.weights();
        assert!(w.iter().all(|&x| x >= 0.05 - 1e-12), "{w:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((weights.canary() - w[1]).abs() < 1e-12);
        stable_share.push(w[0]);
    }
    // Scores 100 and 25: 0.05 + 0.9 × 0.8 = 0.77.
    let last = *stable_share.last().unwrap();
    assert!((last - 0.77).abs() < 0.01, "stable share {last}");
    assert!(stable_share[0] > 0.5);
}

#[test]
fn a_failing_backend_keeps_its_floor_and_recovers() {
    let balancer = Balancer::builder(3)
        .smoothing(0.5)
        .floor(0.1)
        .build()
        .unwrap();
    for _ in 0..50 {
        balancer.record(0, 100.0);
        balancer.record(1, 100.0);
        balancer.record(2, 0.0); // failing: no throughput at all
    }
    let w = balancer.weights();
    assert!((w[2] - 0.1).abs() < 1e-9, "{w:?}");
    assert!((w[0] - 0.45).abs() < 1e-9, "{w:?}");

    // It recovers and is the fastest now: its share rises step by step.
    let mut previous = w[2];
    for _ in 0..30 {
        balancer.record(0, 100.0);
        balancer.record(1, 100.0);
        balancer.record(2, 200.0);
        let now = balancer.weights()[2];
        assert!(now >= previous);
        previous = now;
    }
    assert!((previous - (0.1 + 0.7 * 0.5)).abs() < 1e-6, "{previous}");
}

#[test]
fn picks_follow_the_weights() {
    let balancer = Balancer::builder(2)
        .smoothing(1.0)
        .floor(0.0)
        .build()
        .unwrap();
    balancer.record(0, 3.0);
    balancer.record(1, 1.0);
    let mut rng = StdRng::seed_from_u64(1);
    let n = 40_000;
    let zeros = (0..n).filter(|_| balancer.pick(rng.random()) == 0).count();
    let share = zeros as f64 / n as f64;
    // Binomial sd ≈ 0.0022.
    assert!((share - 0.75).abs() < 0.01, "{share}");
}
