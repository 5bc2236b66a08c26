//! What the layer adds to the primary's path: a bare `service_fn` against
//! the same service behind `ShadowLayer` at 0 % and at 100 % sampling, with
//! a 1 KiB request body echoed back, in one run.
//!
//! Each iteration times one request on the primary's path (the call and
//! reading the response body to its end); at 100 % the shadow's own work
//! (its task, the shadow service, the comparison) runs after the timed
//! region, when `Health::idle` lets it.
//!
//! The `capture` group does the same for `synthetic::CaptureLayer`: with a
//! full sample that keeps (almost) no new request, the steady state, and
//! with every request kept (a 1 µs half-life makes each new request
//! outrank the sample).
//!
//! `cargo bench --bench overhead`

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tower::{Layer, Service, ServiceExt};
use tower_shadow::health::Health;
use tower_shadow::sample::Random;
use tower_shadow::shadow::ShadowLayer;
use tower_shadow::synthetic::CaptureLayer;

async fn echo<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let body = req.into_body().collect().await.unwrap().to_bytes();
    Ok(Response::new(Full::new(body)))
}

fn request(body: &Bytes) -> Request<Full<Bytes>> {
    Request::post("/echo")
        .header("content-length", body.len())
        .body(Full::new(body.clone()))
        .unwrap()
}

/// Times `iters` requests through `service`, waiting for `health` (if any)
/// outside the timed region.
async fn run<S, B>(mut service: S, body: &Bytes, health: Option<&Health>, iters: u64) -> Duration
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let req = request(body);
        let started = Instant::now();
        let res = service.ready().await.unwrap().call(req).await.unwrap();
        let out = res.into_body().collect().await.unwrap().to_bytes();
        total += started.elapsed();
        assert_eq!(out.len(), body.len());
        if let Some(health) = health {
            health.idle().await;
        }
    }
    total
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn overhead(c: &mut Criterion) {
    let rt = runtime();
    let body = Bytes::from(vec![b'x'; 1024]);
    let layer = |percent: f64| {
        ShadowLayer::builder(tower::service_fn(echo))
            .sampler(Random::percent(percent))
            .methods([Method::POST])
            .build()
    };

    let mut group = c.benchmark_group("overhead");
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| run(tower::service_fn(echo), &body, None, iters))
    });
    let off = layer(0.0);
    group.bench_function("layer 0%", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| run(off.layer(tower::service_fn(echo)), &body, None, iters))
    });
    let on = layer(100.0);
    let health = on.health();
    group.bench_function("layer 100%", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            run(
                on.layer(tower::service_fn(echo)),
                &body,
                Some(&health),
                iters,
            )
        })
    });
    group.finish();

    let s = health.snapshot();
    assert_eq!(
        s.pairs, s.sampled,
        "every sampled request was compared: {s:?}"
    );
}

fn capture(c: &mut Criterion) {
    let rt = runtime();
    let body = Bytes::from(vec![b'x'; 1024]);
    let mut group = c.benchmark_group("capture");
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| run(tower::service_fn(echo), &body, None, iters))
    });
    group.bench_function("not kept", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let layer = CaptureLayer::builder().max_samples(1).build().unwrap();
            // With the sample full after n requests, the next is kept with
            // a probability of about 1/n: start past the first thousand.
            let (head, ()) = Request::get("/").body(()).unwrap().into_parts();
            for _ in 0..1000 {
                layer.captured().record(&head, b"");
            }
            run(layer.layer(tower::service_fn(echo)), &body, None, iters)
        })
    });
    group.bench_function("kept", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let layer = CaptureLayer::builder()
                .half_life(Duration::from_micros(1))
                .max_samples(256)
                .build()
                .unwrap();
            run(layer.layer(tower::service_fn(echo)), &body, None, iters)
        })
    });
    group.finish();
}

criterion_group!(benches, overhead, capture);
criterion_main!(benches);
