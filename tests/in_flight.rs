//! `max_in_flight` bounds the shadows, never the primary.
//!
//! 10,000 requests at once against a shadow that never answers: every client
//! gets its own, correct answer; at most `N` shadows ever run at once; the
//! other `10_000 - N` are skipped as `overloaded` (never queued); the number
//! of pending shadows never exceeds `N`; and memory stays bounded.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Barrier};
use tokio::time::Instant;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_shadow::health::Health;
use tower_shadow::shadow::{RequestBody, ShadowLayer};

const REQUESTS: usize = 10_000;
const N: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(10);

type ShadowRequest = Request<RequestBody<Full<Bytes>>>;

/// Counts the shadows called, running now, and the most ever running at once.
#[derive(Clone, Default)]
struct Gauge {
    calls: Arc<AtomicUsize>,
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Gauge {
    fn enter(&self) -> Running {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        Running(self.clone())
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// One running shadow; it stops counting when its future is dropped.
struct Running(Gauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resident memory of this process, in KiB (Linux only; 0 elsewhere).
fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn request(i: usize) -> Request<Full<Bytes>> {
    Request::get(format!("/items/{i}"))
        .body(Full::default())
        .expect("valid request")
}

fn answer(path: &str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from(format!("primary {path}"))))
}

/// Records the largest `in_flight` the health ever reported.
fn watch_in_flight(health: &Health, most: &AtomicUsize) {
    let in_flight = health.snapshot().in_flight as usize;
    most.fetch_max(in_flight, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_requests_against_a_stuck_shadow() {
    let rss_before = vm_rss_kib();
    let gauge = Gauge::default();
    let shadow = {
        let gauge = gauge.clone();
        service_fn(move |_: ShadowRequest| {
            let running = gauge.enter();
            async move {
                let _running = running;
                let never: Infallible = std::future::pending().await;
                match never {}
                #[allow(unreachable_code)]
                Ok::<Response<Full<Bytes>>, Infallible>(Response::default())
            }
        })
    };
    // The clock is paused, so the timeout only passes once every request is
    // done and the runtime has nothing left but the timers. (Shorter than
    // the health's sliding window, so nothing counted falls out of it.)
    let layer = ShadowLayer::builder(shadow)
        .max_in_flight(N)
        .shadow_timeout(TIMEOUT)
        .build();
    let health = layer.health();

    // Every primary call waits at the barrier until all 10,000 have
    // arrived, so they really are all in flight at once, with the shadows'
    // tasks running (and getting stuck) in between.
    let barrier = Arc::new(Barrier::new(REQUESTS));
    let most_in_flight = Arc::new(AtomicUsize::new(0));
    let primary_calls = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new().layer(layer).service_fn({
        let barrier = Arc::clone(&barrier);
        let health = health.clone();
        let most_in_flight = Arc::clone(&most_in_flight);
        let primary_calls = Arc::clone(&primary_calls);
        move |req: ShadowRequest| {
            let barrier = Arc::clone(&barrier);
            let health = health.clone();
            let most_in_flight = Arc::clone(&most_in_flight);
            let first_wave = primary_calls.fetch_add(1, Ordering::SeqCst) < REQUESTS;
            async move {
                watch_in_flight(&health, &most_in_flight);
                if first_wave {
                    barrier.wait().await;
                }
                watch_in_flight(&health, &most_in_flight);
                Ok::<_, Infallible>(answer(req.uri().path()))
            }
        }
    });

    let started = Instant::now();
    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let response = service.oneshot(request(i)).await.expect("infallible");
                assert_eq!(response.status(), StatusCode::OK);
                let body = response.into_body().collect().await.expect("body");
                assert_eq!(body.to_bytes(), format!("primary /items/{i}"));
            })
        })
        .collect();
    for client in clients {
        client
            .await
            .expect("every client got its own, correct answer");
    }
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "the primaries waited for the stuck shadows"
    );
    assert_eq!(primary_calls.load(Ordering::SeqCst), REQUESTS);

    let s = health.snapshot();
    assert_eq!(s.sampled, REQUESTS as u64);
    assert_eq!(s.skipped_reasons.overloaded, (REQUESTS - N) as u64, "{s:?}");
    assert_eq!(s.skipped, (REQUESTS - N) as u64, "{s:?}");
    assert_eq!(
        s.in_flight, N as u64,
        "the N admitted shadows are still stuck"
    );
    assert_eq!(gauge.now(), N, "the N admitted shadows are running");
    assert_eq!(gauge.max(), N, "at most N shadows ever ran at once");
    assert!(
        most_in_flight.load(Ordering::SeqCst) <= N,
        "the health saw {} shadows in flight",
        most_in_flight.load(Ordering::SeqCst)
    );

    tokio::time::timeout(Duration::from_secs(3600), health.idle())
        .await
        .expect("idle() resolves once the stuck shadows time out");
    assert_eq!(started.elapsed(), TIMEOUT);
    let s = health.snapshot();
    assert_eq!(
        (s.pairs, s.candidate_timeouts, s.in_flight),
        (N as u64, N as u64, 0),
        "{s:?}"
    );
    assert_eq!(gauge.now(), 0, "every stuck shadow's future was dropped");

    // The slots were given back: the next request is shadowed again.
    let response = service
        .clone()
        .oneshot(request(0))
        .await
        .expect("infallible");
    response.into_body().collect().await.expect("body");
    assert_eq!(
        health.snapshot().skipped_reasons.overloaded,
        (REQUESTS - N) as u64
    );
    assert_eq!(health.snapshot().in_flight, 1);
    health.idle().await;
    assert_eq!(gauge.calls(), N + 1);
    assert_eq!(health.snapshot().pairs, N as u64 + 1);

    // 10,000 requests should cost a few MiB at most; leaking one request,
    // body or task per skipped shadow would show here. Generous on purpose.
    let rss_after = vm_rss_kib();
    let grown_mib = rss_after.saturating_sub(rss_before) / 1024;
    assert!(
        grown_mib < 128,
        "resident memory grew by {grown_mib} MiB over {REQUESTS} requests"
    );
}

/// The same, on a multi-threaded runtime: admissions race on real threads.
/// The shadows are held by a gate instead of a timeout and released at the
/// end, when they answer like the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn admissions_race_on_threads_and_never_exceed_the_cap() {
    let gauge = Gauge::default();
    let (release, gate) = watch::channel(false);
    let shadow = {
        let gauge = gauge.clone();
        service_fn(move |req: ShadowRequest| {
            let running = gauge.enter();
            let mut gate = gate.clone();
            async move {
                let _running = running;
                gate.wait_for(|open| *open).await.expect("the gate stays");
                Ok::<_, Infallible>(answer(req.uri().path()))
            }
        })
    };
    let layer = ShadowLayer::builder(shadow)
        .max_in_flight(N)
        .shadow_timeout(Duration::from_secs(600))
        .build();
    let health = layer.health();
    let most_in_flight = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new().layer(layer).service_fn({
        let health = health.clone();
        let most_in_flight = Arc::clone(&most_in_flight);
        move |req: ShadowRequest| {
            watch_in_flight(&health, &most_in_flight);
            let path = req.uri().path().to_owned();
            async move {
                tokio::task::yield_now().await;
                Ok::<_, Infallible>(answer(&path))
            }
        }
    });

    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let response = service.oneshot(request(i)).await.expect("infallible");
                let body = response.into_body().collect().await.expect("body");
                assert_eq!(body.to_bytes(), format!("primary /items/{i}"));
            })
        })
        .collect();
    for client in clients {
        client
            .await
            .expect("every client got its own, correct answer");
    }

    let s = health.snapshot();
    assert_eq!(s.sampled, REQUESTS as u64);
    assert_eq!(s.skipped_reasons.overloaded, (REQUESTS - N) as u64, "{s:?}");
    assert_eq!(s.in_flight, N as u64, "{s:?}");
    assert!(gauge.max() <= N, "{} shadows ran at once", gauge.max());
    assert!(most_in_flight.load(Ordering::SeqCst) <= N);

    release.send(true).expect("shadows are listening");
    tokio::time::timeout(Duration::from_secs(60), health.idle())
        .await
        .expect("idle() resolves once the shadows are released");
    let s = health.snapshot();
    assert_eq!(
        (s.pairs, s.equivalent, s.in_flight),
        (N as u64, N as u64, 0),
        "{s:?}"
    );
    assert_eq!(gauge.calls(), N, "exactly N shadows were called");
    assert!(gauge.max() <= N);
    assert_eq!(gauge.now(), 0);
}
