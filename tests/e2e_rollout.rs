//! End to end over loopback: the whole stack — router, shadow to the other
//! version, health, the standard policy, the rollout — around two axum apps,
//! driven by a real HTTP client, one `step()` per batch of traffic.

use axum::extract::Path;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use tower_shadow::health::Health;
use tower_shadow::rollout::{Rollout, Stage};
use tower_shadow::router::Weights;

fn app(version: &'static str, bug: bool) -> Router {
    Router::new().route(
        "/items/{id}",
        get(move |Path(id): Path<u32>| async move {
            // The bug: one item in twenty has the wrong price.
            let price = if bug && id % 20 == 13 { 99 } else { 10 };
            (
                [("x-served-by", version)],
                format!(r#"{{"id":{id},"price":{price}}}"#),
            )
                .into_response()
        }),
    )
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends `n` requests; returns how many the candidate served.
async fn traffic(client: &Client<HttpConnector, Full<Bytes>>, addr: SocketAddr, n: u32) -> usize {
    let mut by_candidate = 0;
    for id in 0..n {
        let req = Request::get(format!("http://{addr}/items/{id}"))
            .body(Full::default())
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert!(res.status().is_success());
        by_candidate += usize::from(res.headers()["x-served-by"] == "v2");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(format!(r#"{{"id":{id},"#).as_bytes()));
    }
    by_candidate
}

async fn setup(candidate_bug: bool) -> (Rollout, Weights, SocketAddr) {
    let weights = Weights::new(0.0);
    let rollout = Rollout::builder(Health::new(), weights.clone()).build();
    let service = rollout.service(app("v1", false), app("v2", candidate_bug));
    let addr = serve(Router::new().fallback_service(service)).await;
    (rollout, weights, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_candidate_is_promoted_on_its_own() {
    let (rollout, weights, addr) = setup(false).await;
    let client = Client::builder(TokioExecutor::new()).build_http();

    // Shadow stage: copies only, no user sees the candidate.
    assert_eq!(traffic(&client, addr, 120).await, 0);
    let mut ticks = 0;
    let mut served_by_candidate = 0;
    while rollout.stage() != Stage::Live && ticks < 40 {
        rollout.health().idle().await;
        rollout.step();
        ticks += 1;
        served_by_candidate += traffic(&client, addr, 120).await;
    }
    assert_eq!(rollout.stage(), Stage::Live, "{:#?}", rollout.events());
    assert_eq!(weights.canary(), 1.0);
    assert!(served_by_candidate > 0);
    // Walked up in steps of at most ten points.
    for event in rollout.events() {
        assert!(
            event.weight_after - event.weight_before <= 0.1 + 1e-9,
            "{event:?}"
        );
    }
    // Now every user gets the candidate, shadowed to stable.
    assert_eq!(traffic(&client, addr, 50).await, 50);
    rollout.health().idle().await;
    assert_eq!(rollout.health().snapshot().different, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_with_a_bug_on_5_percent_of_requests_is_rolled_back_on_its_own() {
    let (rollout, weights, addr) = setup(true).await;
    let client = Client::builder(TokioExecutor::new()).build_http();

    let mut ticks = 0;
    let mut served_by_candidate_in_shadow = 0;
    while rollout.stage() != Stage::RolledBack && ticks < 10 {
        let in_shadow = rollout.stage() == Stage::Shadow;
        let served = traffic(&client, addr, 120).await;
        if in_shadow {
            served_by_candidate_in_shadow += served;
        }
        rollout.health().idle().await;
        rollout.step();
        ticks += 1;
    }
    assert_eq!(
        served_by_candidate_in_shadow, 0,
        "no user sees the candidate in Shadow"
    );
    assert_eq!(
        rollout.stage(),
        Stage::RolledBack,
        "{:#?}",
        rollout.events()
    );
    assert_eq!(weights.canary(), 0.0);
    let rollback = rollout.events().pop().unwrap();
    assert!(rollback.message.contains("score"), "{}", rollback.message);
    assert!(rollback.evidence.crossed().count() > 0);
    assert_eq!(
        traffic(&client, addr, 40).await,
        0,
        "users are back on stable"
    );
}
