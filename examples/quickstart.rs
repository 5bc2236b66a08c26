//! Quickstart: real axum apps on loopback, a stable version and a subtly
//! faulty candidate, real HTTP traffic, and what `tower-shadow` makes of it:
//!
//! 1. shadowing: users only ever get the stable answer; the candidate's
//!    answers are compared field by field, noise (a timestamp) is learned
//!    from a second stable instance and dismissed, the real bug is shown;
//! 2. a rollout of a healthy candidate: from shadow to live, on its own;
//! 3. a rollout of the faulty candidate: rolled back on its own, with the
//!    reason and the evidence.
//!
//! Run with `cargo run --example quickstart`.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use tower_shadow::health::Health;
use tower_shadow::rollout::Rollout;
use tower_shadow::router::Weights;
use tower_shadow::shadow::ShadowLayer;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A fresh value in every answer, as real services have (timestamps, ids):
/// noise that a naive diff would report on every request.
fn served_at() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The item service. With `bug`, one item in twenty gets the wrong price.
fn items(bug: bool) -> Router {
    Router::new().route(
        "/items/{id}",
        get(move |Path(id): Path<u32>| async move {
            let price = if bug && id % 20 == 13 {
                99
            } else {
                10 + id % 7
            };
            let at = served_at();
            axum::Json(serde_json::json!({
                "id": id, "name": format!("item {id}"), "price": price, "served_at": at
            }))
        }),
    )
}

async fn serve(app: Router) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Sends `n` requests; returns how many of the answers users got had the bug.
async fn traffic(
    client: &Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    n: u32,
) -> Result<usize, Error> {
    let mut wrong = 0;
    for id in 0..n {
        let req = Request::get(format!("http://{addr}/items/{id}")).body(Full::default())?;
        let body = client
            .request(req)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        let item: serde_json::Value = serde_json::from_slice(&body)?;
        wrong += usize::from(item["price"] == 99);
    }
    Ok(wrong)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    println!("== 1. shadowing a faulty candidate");
    // The secondary, a second stable instance, teaches the layer what
    // differs between two runs of the same code: `served_at` is noise.
    let layer = ShadowLayer::builder(items(true))
        .secondary(items(false))
        .build();
    let health = layer.health();
    let addr = serve(items(false).layer(layer)).await?;
    let wrong = traffic(&client, addr, 200).await?;
    health.idle().await;
    let s = health.snapshot();
    println!("users got a wrong price {wrong} times out of 200");
    println!(
        "compared {} pairs: {} equivalent, {} different, {} candidate errors; score {:.1}",
        s.pairs, s.equivalent, s.different, s.candidate_errors, s.score
    );
    println!(
        "latency p50/p99: stable {:.2}/{:.2} ms, candidate {:.2}/{:.2} ms",
        s.baseline_latency.p50_ms,
        s.baseline_latency.p99_ms,
        s.candidate_latency.p50_ms,
        s.candidate_latency.p99_ms
    );
    println!("real differences:");
    for d in &s.top_differences {
        let sample = d
            .sample
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        println!("  {} {} ×{}  e.g. {sample}", d.endpoint, d.path, d.count);
    }
    println!("dismissed as noise:");
    for d in &s.noise {
        println!(
            "  {} {} ×{} (stable vs stable ×{})",
            d.endpoint, d.path, d.count, d.noise
        );
    }

    for (title, bug) in [
        ("a healthy candidate", false),
        ("the faulty candidate", true),
    ] {
        println!();
        println!("== {}. a rollout of {title}", if bug { 3 } else { 2 });
        let weights = Weights::new(0.0);
        let rollout = Rollout::builder(Health::new(), weights.clone()).build();
        // As in 1., a second stable instance teaches what is noise.
        let shadowing = ShadowLayer::builder(items(bug)).secondary(items(false));
        let app = Router::new().fallback_service(rollout.service_with(items(false), shadowing));
        let addr = serve(app).await?;
        let mut wrong = 0;
        for _ in 0..40 {
            wrong += traffic(&client, addr, 120).await?;
            rollout.health().idle().await;
            rollout.step(); // `rollout.spawn()` ticks on an interval instead
            if matches!(rollout.stage().as_str(), "live" | "rolled_back") {
                break;
            }
        }
        for event in rollout.events() {
            // Steps within a stage only move the weight; say why at stage changes.
            let why = if event.from == event.to {
                ""
            } else {
                event.message.as_str()
            };
            println!(
                "  {:>11} → {:<11} weight {:>5.1} % → {:>5.1} %  {why}",
                event.from.as_str(),
                event.to.as_str(),
                event.weight_before * 100.0,
                event.weight_after * 100.0,
            );
        }
        if let Some(last) = rollout
            .events()
            .last()
            .filter(|e| e.to.as_str() == "rolled_back")
        {
            let crossed: Vec<String> = last.evidence.crossed().map(ToString::to_string).collect();
            println!("  crossed: {}", crossed.join("; "));
            let s = rollout.health().snapshot();
            if let Some(d) = s.top_differences.first() {
                let sample = d
                    .sample
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                println!("  top difference: {} ×{}, e.g. {sample}", d.path, d.count);
            }
        }
        println!(
            "  stage {}, canary weight {:.0} %; users got a wrong price {wrong} times",
            rollout.stage(),
            weights.canary() * 100.0
        );
    }
    Ok(())
}
