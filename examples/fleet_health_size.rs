//! How big a replica's published health is, and what building it costs:
//! a busy window (32 endpoints, latencies spread over a second, one pair in
//! ten differing at one of 100 paths) exported, serialized, parsed and
//! merged back into a snapshot.
//!
//! `cargo run --release --example fleet_health_size`

use http::{HeaderMap, StatusCode};
use std::time::{Duration, Instant};
use tower_shadow::compare::{Comparison, DiffKind, Difference};
use tower_shadow::exchange::Exchange;
use tower_shadow::health::{Health, HealthAggregate};

fn main() {
    let health = Health::new();
    // xorshift with a fixed seed: the same window on every run.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..200_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let latency = Duration::from_micros(1_000 + x % 1_000_000);
        let side = Exchange::new(StatusCode::OK, HeaderMap::new(), "x").with_latency(latency);
        let comparison = if i % 10 == 0 {
            let path = format!("/items/{}", x % 100);
            Comparison::different(
                0.0,
                vec![Difference::new(path, DiffKind::Value, Some("1"), Some("2"))],
            )
        } else {
            Comparison::equivalent()
        };
        health.record_pair(&format!("GET /e{}", i % 32), &side, &side, &comparison);
    }
    let started = Instant::now();
    let json = serde_json::to_string(&health.aggregate()).expect("serializable");
    let built = started.elapsed();
    let started = Instant::now();
    let parsed: HealthAggregate = serde_json::from_str(&json).expect("parsable");
    let read = started.elapsed();
    let started = Instant::now();
    let snapshot = parsed.snapshot();
    let scored = started.elapsed();
    assert_eq!(snapshot.pairs, 200_000);
    println!(
        "aggregate: {} bytes of JSON; export + serialize {built:?}, parse {read:?}, snapshot {scored:?}",
        json.len()
    );
}
