//! Fault injection: rates match their settings, delays follow their
//! distribution, and on the shadow path the policies catch the faults.

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_shadow::chaos::{Aborted, Delay, FaultLayer};
use tower_shadow::policy::{Decision, RollbackPolicy, Standard};
use tower_shadow::shadow::ShadowLayer;

fn ok_service() -> impl tower::Service<
    Request<()>,
    Response = Response<Empty<Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone {
    tower::service_fn(|_: Request<()>| async { Ok(Response::new(Empty::new())) })
}

/// Whether `count` of `n` is within 4.5 standard deviations of a binomial
/// with rate `p` (a false alarm about once in 150 000 runs; seeded anyway).
fn within_binomial(count: u64, n: u64, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (count as f64 - mean).abs() <= 4.5 * sd
}

#[test]
fn the_bound_of_the_test_can_fail() {
    assert!(within_binomial(500, 10_000, 0.05));
    assert!(!within_binomial(620, 10_000, 0.05));
}

#[tokio::test(start_paused = true)]
async fn injected_rates_match_their_settings() {
    let n = 20_000u64;
    let layer = FaultLayer::new()
        .seed(11)
        .latency(0.1, Delay::fixed(Duration::from_millis(40)))
        .error(StatusCode::SERVICE_UNAVAILABLE, 0.05)
        .error(StatusCode::INTERNAL_SERVER_ERROR, 0.01)
        .abort(0.02);
    let service = layer.layer(ok_service());
    let (mut delayed, mut unavailable, mut internal, mut aborted) = (0, 0, 0, 0);
    for _ in 0..n {
        let started = Instant::now();
        let result = service.clone().oneshot(Request::new(())).await;
        let took = started.elapsed();
        match took {
            d if d == Duration::from_millis(40) => delayed += 1,
            d if d.is_zero() => {}
            d => panic!("unexpected delay {d:?}"),
        }
        match result {
            Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => {
                unavailable += 1
            }
            Ok(response) if response.status() == StatusCode::INTERNAL_SERVER_ERROR => internal += 1,
            Ok(response) => assert_eq!(response.status(), StatusCode::OK),
            Err(error) => {
                assert!(error.is::<Aborted>());
                aborted += 1;
            }
        }
    }
    assert!(within_binomial(delayed, n, 0.1), "delayed {delayed}");
    assert!(within_binomial(unavailable, n, 0.05), "503 {unavailable}");
    assert!(within_binomial(internal, n, 0.01), "500 {internal}");
    assert!(within_binomial(aborted, n, 0.02), "aborted {aborted}");
    let counts = layer.counts();
    assert_eq!(
        (
            counts.requests,
            counts.delayed,
            counts.errors,
            counts.aborted
        ),
        (n, delayed, unavailable + internal, aborted)
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_delays_have_their_mean() {
    let n = 5_000u32;
    let service = FaultLayer::new()
        .seed(3)
        .latency(1.0, Delay::exponential(Duration::from_millis(20)))
        .layer(ok_service());
    let started = Instant::now();
    for _ in 0..n {
        service.clone().oneshot(Request::new(())).await.unwrap();
    }
    let mean_ms = started.elapsed().as_secs_f64() * 1e3 / f64::from(n);
    // The mean of n exponentials has sd 20 / sqrt(n) ≈ 0.28 ms.
    assert!(
        (mean_ms - 20.0).abs() < 4.5 * 20.0 / f64::from(n).sqrt(),
        "mean {mean_ms}"
    );
}

#[tokio::test]
async fn the_same_seed_injects_the_same_faults() {
    let outcomes = |seed| async move {
        let service = FaultLayer::new()
            .seed(seed)
            .error(StatusCode::BAD_GATEWAY, 0.3)
            .layer(ok_service());
        let mut statuses = Vec::new();
        for _ in 0..200 {
            let response = service.clone().oneshot(Request::new(())).await.unwrap();
            statuses.push(response.status().as_u16());
        }
        statuses
    };
    assert_eq!(outcomes(1).await, outcomes(1).await);
    assert_ne!(outcomes(1).await, outcomes(2).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_shadow_path_users_see_nothing_and_the_policy_rolls_back() {
    let app = || Router::new().route("/", get(|| async { "v1" }));
    let faults = FaultLayer::new()
        .seed(8)
        .error(StatusCode::INTERNAL_SERVER_ERROR, 0.05);
    let layer = ShadowLayer::new(faults.layer(app()));
    let health = layer.health();
    let service = app().layer(layer);
    for _ in 0..1000 {
        let request = Request::get("/").body(axum::body::Body::empty()).unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        axum::body::to_bytes(response.into_body(), 64)
            .await
            .unwrap();
    }
    health.idle().await;
    let snapshot = health.snapshot();
    assert_eq!(snapshot.pairs, 1000);
    assert_eq!(snapshot.candidate_errors, faults.counts().errors);
    let decision = Standard::standard().decide(&snapshot, 0.1);
    assert!(
        matches!(decision, Decision::Rollback { .. }),
        "{decision:?}"
    );
}
