//! Rehearsal: a candidate tried on synthetic traffic shaped like
//! production, before any live request reaches it.
//!
//! 1. a real axum shop on loopback, with a `CaptureLayer`, serves mixed
//!    traffic (item pages, searches, orders from an app and bulk imports);
//! 2. the captured shapes are clustered into synthetic profiles;
//! 3. a candidate with an injected 5 % error rate (`FaultLayer`) is
//!    rehearsed against the stable version over HTTP: it is flagged per
//!    profile and the rollout rolls it back;
//! 4. stress runs at rising multiples of the live rate give the capacity
//!    hint of a candidate that handles 8 requests at a time.
//!
//! Run with `cargo run --example rehearsal`.

use axum::error_handling::HandleErrorLayer;
use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_shadow::chaos::FaultLayer;
use tower_shadow::policy::{Decision, Standard};
use tower_shadow::rollout::Rollout;
use tower_shadow::router::Weights;
use tower_shadow::synthetic::{
    judge_profiles, CapacityConfig, CaptureLayer, ClusterConfig, Generator,
};

type Error = Box<dyn std::error::Error + Send + Sync>;
type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn shop() -> Router {
    Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move {
                axum::Json(serde_json::json!({"id": id, "price": 10 + id % 7}))
            }),
        )
        .route("/search", get(|| async { axum::Json(serde_json::json!({"hits": []})) }))
        .route(
            "/orders",
            post(|body: Bytes| async move { axum::Json(serde_json::json!({"received": body.len()})) }),
        )
}

async fn serve(app: Router) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// An HTTP client to `addr` as a tower service taking the generator's
/// path-only requests.
fn remote(
    client: &HttpClient,
    addr: SocketAddr,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = http::Response<hyper::body::Incoming>,
    Error = hyper_util::client::legacy::Error,
    Future: Send,
> + Clone
       + Send
       + 'static {
    let client = client.clone();
    tower::service_fn(move |mut request: Request<Full<Bytes>>| {
        let uri = format!("http://{addr}{}", request.uri());
        *request.uri_mut() = uri.parse().expect("a valid URI");
        client.request(request)
    })
}

/// Live traffic: 40 % item pages, 25 % searches, 25 % app orders, 10 % bulk imports.
async fn live_traffic(client: &HttpClient, addr: SocketAddr) -> Result<(), Error> {
    for i in 0..400u32 {
        let request = match i % 20 {
            0..=7 => Request::get(format!("http://{addr}/items/{}", i * 7919 % 10_000))
                .header(
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                )
                .body(Full::default()),
            8..=12 => Request::get(format!(
                "http://{addr}/search?q={}",
                "shoe+".repeat(3 + i as usize % 9)
            ))
            .header("user-agent", "Mozilla/5.0 (Macintosh) Safari/605.1.15")
            .body(Full::default()),
            13..=17 => Request::post(format!("http://{addr}/orders"))
                .header("user-agent", "MyShop/3.2 (iPhone; iOS 17.1) CFNetwork/1474")
                .header("content-type", "application/json")
                .body(Full::from(format!(
                    r#"{{"user":"u-{i}","card":"4111 1111 1111 {i:04}","items":[{}]}}"#,
                    vec!["1"; 1 + i as usize % 5].join(",")
                ))),
            _ => Request::post(format!("http://{addr}/orders"))
                .header("user-agent", "python-requests/2.31.0")
                .header("content-type", "application/json")
                .body(Full::from(format!(
                    r#"{{"import":"{}"}}"#,
                    "x".repeat(30_000 + i as usize)
                ))),
        }?;
        let response = client.request(request).await?;
        assert_eq!(response.status(), StatusCode::OK);
        response.into_body().collect().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    // 1. Capture live traffic.
    let capture = CaptureLayer::builder().seed(1).build()?;
    let captured = capture.captured();
    let live = serve(shop().layer(capture)).await?;
    live_traffic(&client, live).await?;
    let live_rate = captured.rate().unwrap_or(100.0);
    println!(
        "captured {} request shapes, live rate {live_rate:.0}/s",
        captured.len()
    );

    // 2. Cluster them into profiles.
    let clustering = captured.cluster(&ClusterConfig::default());
    println!(
        "\n{} profiles (silhouette {:.2}):",
        clustering.profiles.len(),
        clustering.silhouette.unwrap_or(0.0)
    );
    for profile in &clustering.profiles {
        let t = &profile.template;
        let body = t.body.to_bytes();
        let body = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        println!(
            "  {:>5.1} %  {:<22} {} {}  {body}",
            profile.share * 100.0,
            profile.name,
            t.method,
            t.uri
        );
    }

    // 3. Rehearse a candidate with 5 % injected errors against the stable version.
    let stable = serve(shop()).await?;
    let faults = FaultLayer::new()
        .seed(5)
        .error(StatusCode::INTERNAL_SERVER_ERROR, 0.05);
    // Served by axum, whose services may not fail: an abort would become a 502.
    let candidate = serve(
        shop().layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower_shadow::BoxError| async {
                    StatusCode::BAD_GATEWAY
                }))
                .layer(faults),
        ),
    )
    .await?;
    let generator = Generator::builder(clustering.profiles.clone())
        .rate(1000.0)
        .requests(1500)
        .concurrency(32)
        .build()?;
    let report = generator
        .run(remote(&client, stable), remote(&client, candidate))
        .await;
    println!(
        "\nrehearsal: {} requests at {:.0}/s, candidate errors {} ({:.1} %)",
        report.requests,
        report.rate,
        report.candidate_errors,
        report.error_rate() * 100.0
    );
    let snapshot = generator.health().snapshot();
    let verdicts = judge_profiles(&snapshot, &Standard::standard(), 0.1);
    for (name, verdict) in &verdicts {
        let e = &snapshot.endpoints[name];
        println!(
            "  {name:<22} {:>4} pairs, {:>3} candidate errors, score {:>5.1}: {}",
            e.pairs,
            e.candidate_errors,
            e.score,
            match verdict {
                Decision::Rollback { reason } => format!("FLAGGED, roll back ({reason})"),
                Decision::Shift {
                    canary_weight,
                    reason,
                } if *canary_weight < 0.1 => {
                    format!("FLAGGED, shift down ({reason})")
                }
                other => format!("{other:?}"),
            }
        );
    }
    let rollout = Rollout::builder(generator.health(), Weights::new(0.1)).build();
    let decision = rollout.step();
    println!("rollout: {decision:?} -> stage {:?}", rollout.stage());
    assert!(
        matches!(decision, Decision::Rollback { .. }),
        "the faulty candidate must be caught"
    );

    // 4. Capacity of a candidate that serves 8 requests at a time, 5 ms each.
    let slots = Arc::new(tokio::sync::Semaphore::new(8));
    let limited = serve(shop().route_layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let slots = Arc::clone(&slots);
            async move {
                let _slot = slots.acquire().await.expect("never closed");
                tokio::time::sleep(Duration::from_millis(5)).await;
                next.run(request).await
            }
        },
    )))
    .await?;
    let stress = Generator::builder(clustering.profiles)
        .rate(live_rate.clamp(50.0, 200.0))
        .duration(Duration::from_millis(500))
        .concurrency(64)
        .build()?;
    let mut config = CapacityConfig::default();
    config.multipliers = vec![1.0, 2.0, 4.0, 8.0, 16.0];
    config.max_p99_ms = 25.0;
    let hint = stress.capacity(remote(&client, limited), &config).await;
    println!(
        "\ncapacity (p99 ≤ {} ms, errors ≤ {} %):",
        config.max_p99_ms,
        config.max_error_rate * 100.0
    );
    for step in &hint.steps {
        println!(
            "  ×{:<4} {:>6.0}/s  p99 {:>6.1} ms  errors {:.2} %{}",
            step.stress,
            step.report.rate,
            step.report.candidate_latency.p99_ms,
            step.report.error_rate() * 100.0,
            step.crossed
                .as_deref()
                .map(|c| format!("  <- {c}"))
                .unwrap_or_default()
        );
    }
    match (hint.sustained, hint.crossed_at) {
        (Some(ok), Some(at)) => {
            println!("capacity hint: sustained {ok:.0}/s, thresholds crossed at {at:.0}/s")
        }
        (None, Some(at)) => println!("capacity hint: thresholds crossed already at {at:.0}/s"),
        (Some(ok), None) => println!("capacity hint: more than {ok:.0}/s"),
        (None, None) => println!("capacity hint: none ({:?})", hint.reason),
    }
    Ok(())
}
