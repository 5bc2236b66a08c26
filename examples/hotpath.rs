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
//! candidate answers 500). Paths: `/hello` (13 bytes), `/json` (a small
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
use tower_shadow::shadow::ShadowLayer;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Boxed = BoxCloneService<Request<Body>, Response, Infallible>;

/// The variant's service, and the health to wait on (none for `bare`).
fn variant(name: &str) -> Result<(Boxed, Option<Health>), Error> {
    let (percent, fail) = match name {
        "bare" => return Ok((BoxCloneService::new(app(None, false, false)), None)),
        "full-0" => (0.0, false),
        "full-1" => (1.0, false),
        "full-100" => (100.0, false),
        "fail-100" => (100.0, true),
        other => return Err(format!("unknown variant {other}").into()),
    };
    let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
    let layer = ShadowLayer::builder(app(None, fail, false))
        .methods([Method::GET, Method::POST])
        .sampler(Random::percent(percent).seed(7));
    let stack = rollout.service_with(app(None, false, false), layer);
    let stack = ServiceExt::<Request<Body>>::map_response(stack, IntoResponse::into_response);
    Ok((BoxCloneService::new(stack), Some(rollout.health().clone())))
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
