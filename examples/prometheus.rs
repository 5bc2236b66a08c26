//! Every figure of `tower-shadow` goes through the `metrics` facade; this
//! example exports them with `metrics-exporter-prometheus` and prints what
//! a Prometheus scrape would read. The names and labels are documented in
//! `tower_shadow::health::names`.
//!
//! Run with `cargo run --example prometheus`. In a real service, serve
//! `handle.render()` on a `/metrics` route (or use the exporter's own HTTP
//! listener).

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::ServiceExt;
use tower_shadow::health::Health;
use tower_shadow::rollout::Rollout;
use tower_shadow::router::Weights;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;

    let stable: Router = Router::new().route("/hello", get(|| async { "hello" }));
    let candidate: Router = Router::new().route("/hello", get(|| async { "hello!" }));
    let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
    let app = Router::new().fallback_service(rollout.service(stable, candidate));

    for _ in 0..20 {
        let res = app
            .clone()
            .oneshot(Request::get("/hello").body(Body::empty())?)
            .await?;
        axum::body::to_bytes(res.into_body(), 1024).await?;
        rollout.health().idle().await;
    }
    rollout.step(); // exports the score, the canary weight and the stage

    let scrape = handle.render();
    println!("{scrape}");
    for name in [
        "tower_shadow_pairs_total",
        "tower_shadow_latency_seconds",
        "tower_shadow_canary_weight",
        "tower_shadow_stage",
    ] {
        assert!(scrape.contains(name), "{name} is exported");
    }
    Ok(())
}
