//! Noise cancellation: a stable service that puts a fresh timestamp and
//! request id in every answer, a candidate with a real bug at one path on
//! 5 % of requests; with a secondary stable instance, only the real path is
//! reported.

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::Request;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;
use tower_shadow::shadow::ShadowLayer;

fn service(bug: bool) -> Router {
    let ids = Arc::new(AtomicU64::new(rand::random()));
    Router::new().route(
        "/orders/{id}",
        get(move |Path(id): Path<u32>| {
            let request_id = ids.fetch_add(1, Ordering::Relaxed);
            async move {
                let total = if bug && id % 20 == 7 { 101 } else { 100 };
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                axum::Json(serde_json::json!({
                    "id": id,
                    "total": total,
                    "meta": {"request_id": format!("req-{request_id:x}"), "generated_at": at},
                }))
            }
        }),
    )
}

#[tokio::test]
async fn only_the_real_path_is_reported() {
    let layer = ShadowLayer::builder(service(true))
        .secondary(service(false))
        .build();
    let health = layer.health();
    let app = service(false).layer(layer);
    for id in 0..1000u32 {
        let req = Request::get(format!("/orders/{id}"))
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        // A single-threaded test runtime runs the shadows only when the
        // test yields: let them finish, or the in-flight cap skips some.
        health.idle().await;
    }
    let s = health.snapshot();
    assert_eq!(s.pairs, 1000);

    let real: Vec<_> = s
        .top_differences
        .iter()
        .map(|d| (d.path.as_str(), d.count))
        .collect();
    assert_eq!(real, [("/total", 50)], "{s:#?}");
    assert_eq!(s.different, 50);
    let mut noise: Vec<_> = s.noise.iter().map(|d| d.path.as_str()).collect();
    noise.sort_unstable();
    assert_eq!(noise, ["/meta/generated_at", "/meta/request_id"]);
    assert!(s.noise.iter().all(|d| d.count == 1000 && d.noise == 1000));
    let sample = s.top_differences[0].sample.as_ref().unwrap();
    assert_eq!(
        (sample.baseline.as_deref(), sample.candidate.as_deref()),
        (Some("100"), Some("101"))
    );
}

#[tokio::test]
async fn without_a_secondary_the_noise_is_reported_as_differences() {
    let layer = ShadowLayer::new(service(true));
    let health = layer.health();
    let app = service(false).layer(layer);
    for id in 0..100u32 {
        let req = Request::get(format!("/orders/{id}"))
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
    }
    health.idle().await;
    let s = health.snapshot();
    assert_eq!(s.different, 100);
    assert!(s
        .top_differences
        .iter()
        .any(|d| d.path == "/meta/request_id"));
}
