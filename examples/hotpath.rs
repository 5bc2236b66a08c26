//! The hot paths, in process: one variant of the stack driven for a number
//! of requests on a current-thread runtime, without sockets, so that an
//! instruction counter (`valgrind --tool=callgrind`) sees only the stack.
//! `benches/hotpath.sh` runs every variant at two request counts and prints
//! the instructions each request adds; it is the profile behind the
//! "hot paths" table in `docs/benchmarks.md`.
//!
//! ```sh
//! cargo run --release --example hotpath -- full-1 10000 /json
//! ```
//!
//! Variants: `bare` (the axum `Router` alone), `full-0`, `full-1`,
//! `full-100` (the full stack: `Rollout::service_with` = `WeightedRouter` +
//! `ShadowLayer` + `Standard` comparator + `Health`, sampling 0, 1 or 100 %
//! of requests to a candidate equal to the stable app), `fail-100` (the
//! candidate answers 500), `unwrapped-0`, `unwrapped-1` (the full stack
//! with the bodies of unsampled requests unwrapped back to axum's, as
//! `docs/guide.md` shows). Paths: `/hello` (13 bytes), `/json` (a small
//! document built per request), `/echo` (a POST echoing a 1 KiB body: the
//! request and response tees).

#[path = "common/bench_app.rs"]
mod bench_app;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bench_app::app;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::BodyExt;
use std::convert::Infallible;
use tower::util::BoxCloneService;
use tower::{Service, ServiceExt};
use tower_shadow::health::Health;
use tower_shadow::rollout::Rollout;
use tower_shadow::router::Weights;
use tower_shadow::sample::Random;
use tower_shadow::shadow::{Builder, RequestBody, ResponseBody, ShadowLayer};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Boxed = BoxCloneService<Request<Body>, Response, Infallible>;

/// The variant's service, and the health to wait on (none for `bare`).
fn variant(name: &str) -> Result<(Boxed, Option<Health>), Error> {
    let (unwrapped, percent, fail) = match name {
        "bare" => return Ok((BoxCloneService::new(app(None, false, false)), None)),
        "full-0" => (false, 0.0, false),
        "full-1" => (false, 1.0, false),
        "full-100" => (false, 100.0, false),
        "fail-100" => (false, 100.0, true),
        "unwrapped-0" => (true, 0.0, false),
        "unwrapped-1" => (true, 1.0, false),
        other => return Err(format!("unknown variant {other}").into()),
    };
    let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
    let health = Some(rollout.health().clone());
    let candidate = app(None, fail, false);
    let stable = app(None, false, false);
    if !unwrapped {
        let stack = rollout.service_with(stable, shadowing(candidate, percent));
        let stack = ServiceExt::<Request<Body>>::map_response(stack, IntoResponse::into_response);
        return Ok((BoxCloneService::new(stack), health));
    }
    let layer = shadowing(candidate.map_request(unwrap_request), percent);
    let stack = rollout.service_with(stable.map_request(unwrap_request), layer);
    let stack = ServiceExt::<Request<Body>>::map_response(stack, unwrap_response);
    Ok((BoxCloneService::new(stack), health))
}

/// The layer every variant uses: GET and POST shadowed, a seeded sampler
/// (the same requests sampled in every run).
fn shadowing<C>(candidate: C, percent: f64) -> Builder<C> {
    ShadowLayer::builder(candidate)
        .methods([Method::GET, Method::POST])
        .sampler(Random::percent(percent).seed(7))
}

/// An unsampled request's body, back to axum's own (no box).
fn unwrap_request(req: Request<RequestBody<Body>>) -> Request<Body> {
    req.map(|body| body.try_into_inner().unwrap_or_else(Body::new))
}

/// An unsampled request's response body, back to axum's own (no box).
fn unwrap_response(res: Response<ResponseBody<Body>>) -> Response {
    res.map(|body| body.try_into_inner().unwrap_or_else(Body::new))
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, count, path] = args.as_slice() else {
        return Err("usage: hotpath VARIANT REQUESTS PATH".into());
    };
    let count: usize = count.parse()?;
    let (mut service, health) = variant(name)?;
    let echo = Bytes::from(vec![b'x'; 1024]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        for i in 0..count {
            let request = if path == "/echo" {
                Request::post(path.as_str()).body(Body::from(echo.clone()))?
            } else {
                Request::get(path.as_str()).body(Body::empty())?
            };
            let response = service.ready().await?.call(request).await?;
            response.into_body().collect().await?;
            // Keep the shadows from piling up (a run is a fixed amount of work).
            if let (Some(health), 0) = (&health, i % 64) {
                health.idle().await;
            }
        }
        if let Some(health) = &health {
            health.idle().await;
            let s = health.snapshot();
            eprintln!(
                "{name} {path}: {count} requests, {} pairs, {} different",
                s.pairs, s.different
            );
        }
        Ok(())
    })
}
