//! The Prometheus input against a local stub of the Prometheus HTTP API
//! (axum on loopback, answering `/api/v1/query` with the API's JSON).
#![cfg(feature = "prometheus")]

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tower_shadow::fleet::{PrometheusPolicy, PrometheusSource};
use tower_shadow::health::{Health, HealthSnapshot};
use tower_shadow::policy::{Decision, RollbackPolicy, ThresholdPolicy};
use tower_shadow::rollout::{Rollout, Stage};
use tower_shadow::router::Weights;

/// The queries the stub received.
type Seen = Arc<Mutex<Vec<String>>>;

fn vector(samples: &[(&[(&str, &str)], &str)]) -> Value {
    let result: Vec<Value> = samples
        .iter()
        .map(|(labels, value)| {
            let metric: HashMap<_, _> = labels.iter().copied().collect();
            json!({ "metric": metric, "value": [1_763_000_000.5, value] })
        })
        .collect();
    json!({ "status": "success", "data": { "resultType": "vector", "result": result } })
}

/// What a Prometheus scraping three replicas of a faulty canary would answer.
fn answer(query: &str) -> (StatusCode, Value) {
    if query.contains("broken") {
        let error = json!({ "status": "error", "errorType": "bad_data", "error": "1:42: parse error: unexpected identifier \"broken\"" });
        return (StatusCode::BAD_REQUEST, error);
    }
    let side = |b: &'static str, c: &'static str| {
        vector(&[(&[("side", "baseline")], b), (&[("side", "candidate")], c)])
    };
    let body = if query.contains("tower_shadow_pairs_total") {
        vector(&[
            (&[("outcome", "equivalent")], "899.6"),
            (&[("outcome", "different")], "100.2"),
        ])
    } else if query.contains("tower_shadow_errors_total") {
        side("5", "60")
    } else if query.contains("tower_shadow_sampled_total") {
        vector(&[(&[], "1000")])
    } else if query.contains("tower_shadow_skipped_total") {
        vector(&[(&[("reason", "overloaded")], "7")])
    } else if query.contains("_count") {
        side("1000", "1000")
    } else if query.contains("_sum") {
        side("10", "30")
    } else if query.starts_with("histogram_quantile(0.5,") {
        side("0.008", "0.025")
    } else if query.starts_with("histogram_quantile(0.9,") {
        side("0.015", "NaN")
    } else if query.starts_with("histogram_quantile(0.99,") {
        side("0.02", "0.06")
    } else if query.starts_with("topk(") {
        vector(&[(
            &[("endpoint", "GET /items/{id}"), ("path", "/price")],
            "100",
        )])
    } else {
        vector(&[])
    };
    (StatusCode::OK, body)
}

async fn stub() -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/api/v1/query",
            get(
                |State(seen): State<Seen>, Query(params): Query<HashMap<String, String>>| async move {
                    let query = params.get("query").cloned().unwrap_or_default();
                    seen.lock().unwrap().push(query.clone());
                    let (status, body) = answer(&query);
                    (status, Json(body))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn source(addr: SocketAddr, selector: &str) -> PrometheusSource {
    PrometheusSource::new(&format!("http://{addr}"))
        .unwrap()
        .selector(selector)
}

#[tokio::test]
async fn the_fleet_snapshot_is_built_from_promql() {
    let (addr, seen) = stub().await;
    let source = source(addr, r#"job="checkout", track=~"stable|canary""#);
    let s = source.snapshot().await.unwrap();
    assert_eq!((s.pairs, s.equivalent, s.different), (1000, 900, 100));
    assert_eq!((s.baseline_errors, s.candidate_errors), (5, 60));
    assert_eq!(
        (s.sampled, s.skipped, s.skipped_reasons.overloaded),
        (1000, 7, 7)
    );
    assert_eq!(s.baseline_latency.count, 1000);
    assert_eq!(s.baseline_latency.mean_ms, 10.0);
    assert_eq!(s.candidate_latency.mean_ms, 30.0);
    assert_eq!(
        (s.baseline_latency.p50_ms, s.candidate_latency.p99_ms),
        (8.0, 60.0)
    );
    assert_eq!(s.candidate_latency.p90_ms, 0.0, "NaN is no data");
    assert_eq!(s.top_differences[0].path, "/price");
    assert_eq!(s.top_differences[0].count, 100);
    // 100 × 0.9 × (1 − 55/1000) × max(0.5, (1.25 × 20 + 5) / 60)
    assert!((s.score - 42.525).abs() < 1e-9, "{}", s.score);

    // Every query went out whole, selector included, through the URL encoding.
    let seen = seen.lock().unwrap().clone();
    let expected: Vec<String> = source.queries().into_iter().map(|(_, q)| q).collect();
    let mut sorted = seen.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted);
    assert!(seen
        .iter()
        .all(|q| q.contains(r#"{job="checkout", track=~"stable|canary"}[300s]"#)));
}

#[tokio::test]
async fn a_rollout_judged_from_prometheus_alone_rolls_back() {
    let (addr, _) = stub().await;
    let policy = PrometheusPolicy::new(source(addr, r#"job="checkout""#), ThresholdPolicy::new());
    policy.refresh().await.unwrap();
    let weights = Weights::new(0.0);
    // The local health is empty: the decision rests on the fleet's figures.
    let rollout = Rollout::builder(Health::new(), weights.clone())
        .policy(policy)
        .build();
    rollout.start_testing(0.2).unwrap();
    let decision = rollout.step();
    assert_eq!(
        decision,
        Decision::Rollback {
            reason: "score 42.525 < critical 80.0".into()
        }
    );
    assert_eq!(
        (rollout.stage(), weights.canary()),
        (Stage::RolledBack, 0.0)
    );
    let event = rollout.events().pop().unwrap();
    assert!(event.evidence.crossed().count() > 0, "{}", event.evidence);
}

#[tokio::test]
async fn errors_and_outages_are_inconclusive_and_say_why() {
    let (addr, _) = stub().await;
    let mut policy = PrometheusPolicy::new(source(addr, "broken"), ThresholdPolicy::new());
    let local = HealthSnapshot::default();
    assert_eq!(
        policy.decide(&local, 0.1),
        Decision::Inconclusive {
            reason: "no answer from Prometheus yet".into()
        }
    );
    let err = policy.refresh().await.unwrap_err();
    assert!(err.to_string().contains("bad_data"), "{err}");
    let Decision::Inconclusive { reason } = policy.decide(&local, 0.1) else {
        panic!("an error must not decide");
    };
    assert!(reason.contains("parse error"), "{reason}");

    // Nothing listens on the port of a dropped listener.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut policy = PrometheusPolicy::new(source(closed, ""), ThresholdPolicy::new());
    assert!(policy.refresh().await.is_err());
    let Decision::Inconclusive { reason } = policy.decide(&local, 0.1) else {
        panic!("an outage must not decide");
    };
    assert!(reason.contains("cannot reach"), "{reason}");
}

#[tokio::test]
async fn ticks_refresh_in_the_background_and_stale_answers_do_not_decide() {
    let (addr, seen) = stub().await;
    let mut policy =
        PrometheusPolicy::new(source(addr, r#"job="checkout""#), ThresholdPolicy::new());
    let local = HealthSnapshot::default();
    // The first tick has nothing to go on, and asks Prometheus meanwhile.
    assert!(matches!(
        policy.decide(&local, 0.1),
        Decision::Inconclusive { .. }
    ));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let decision = loop {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let decision = policy.decide(&local, 0.1);
        if !matches!(decision, Decision::Inconclusive { .. }) {
            break decision;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer in time: {decision:?}"
        );
    };
    assert!(
        matches!(decision, Decision::Rollback { .. }),
        "{decision:?}"
    );
    assert!(
        seen.lock().unwrap().len() >= 10,
        "the ten queries were asked"
    );

    let mut policy =
        PrometheusPolicy::new(source(addr, r#"job="checkout""#), ThresholdPolicy::new())
            .max_age(std::time::Duration::ZERO);
    policy.refresh().await.unwrap();
    let Decision::Inconclusive { reason } = policy.decide(&local, 0.1) else {
        panic!("a stale answer must not decide");
    };
    assert!(
        reason.starts_with("the last answer from Prometheus is"),
        "{reason}"
    );
}
