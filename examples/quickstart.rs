//! Quickstart: a real axum app on loopback, a stable version serving users
//! and a subtly faulty candidate receiving shadow copies; real HTTP traffic;
//! a summary of what the shadow saw.
//!
//! Run with `cargo run --example quickstart`.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_shadow::shadow::ShadowLayer;

/// A fresh value in every answer, as real services have (timestamps, ids):
/// noise that a naive diff would report on every request.
fn served_at() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The version users depend on.
fn stable() -> Router {
    Router::new().route(
        "/items/{id}",
        get(|Path(id): Path<u32>| async move {
            let price = 10 + id % 7;
            let at = served_at();
            format!(r#"{{"id":{id},"name":"item {id}","price":{price}.00,"served_at":{at}}}"#)
        }),
    )
}

/// The new version: identical, except that one item in twenty gets the
/// wrong price.
fn candidate() -> Router {
    Router::new().route(
        "/items/{id}",
        get(|Path(id): Path<u32>| async move {
            let price = if id % 20 == 13 { 99 } else { 10 + id % 7 };
            let at = served_at();
            format!(r#"{{"id":{id},"name":"item {id}","price":{price}.00,"served_at":{at}}}"#)
        }),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The secondary, a second stable instance, teaches the layer what
    // differs between two runs of the same code: `served_at` is noise.
    let layer = ShadowLayer::builder(candidate())
        .secondary(stable())
        .build();
    let health = layer.health();
    let app = stable().layer(layer);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving the stable version on http://{addr}, shadowing to the candidate");

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let requests = 200;
    let mut served_by_candidate = 0;
    for id in 0..requests {
        let req = Request::get(format!("http://{addr}/items/{id}")).body(Full::default())?;
        let body = client
            .request(req)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        if body.windows(5).any(|w| w == b":99.0") {
            served_by_candidate += 1;
        }
    }
    println!("sent {requests} requests; users saw a candidate answer {served_by_candidate} times");

    health.idle().await;
    let s = health.snapshot();
    println!();
    println!("what the shadow saw");
    println!("  sampled            {}", s.sampled);
    println!("  compared pairs     {}", s.pairs);
    println!("  equivalent         {}", s.equivalent);
    println!("  different          {}", s.different);
    println!("  candidate errors   {}", s.candidate_errors);
    println!("  skipped            {}", s.skipped);
    println!("  score              {:.1} / 100", s.score);
    println!(
        "  latency p50/p99    baseline {:.2}/{:.2} ms, candidate {:.2}/{:.2} ms",
        s.baseline_latency.p50_ms,
        s.baseline_latency.p99_ms,
        s.candidate_latency.p50_ms,
        s.candidate_latency.p99_ms
    );
    println!();
    println!("real differences (most frequent first)");
    for d in &s.top_differences {
        let sample = d
            .sample
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        println!(
            "  {:<22} {:<10} ×{:<4} e.g. {sample}",
            d.endpoint, d.path, d.count
        );
    }
    println!("dismissed as noise");
    for d in &s.noise {
        println!(
            "  {:<22} {:<10} ×{:<4} (stable vs stable: ×{})",
            d.endpoint, d.path, d.count, d.noise
        );
    }
    Ok(())
}
