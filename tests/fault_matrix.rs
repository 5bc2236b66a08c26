//! Nothing the shadow does changes what the primary returns, or when.
//!
//! Each test runs one shadow fault — an error (from `call` or from
//! `poll_ready`), a 500, a panic (in `poll_ready`, in `call`, inside the
//! future), a hang past the timeout, a service that is never ready, a
//! 50 MiB body, a body that breaks, a body that stalls forever — and
//! checks that the client sees exactly what the same primary returns without
//! the layer (status, version, headers, every body frame, trailers), that it
//! sees it without any delay (paused clock: the primary's run takes zero
//! virtual time, whereas a primary held back by the shadow would let the
//! clock jump to the shadow's sleep or timeout), and that the `Health`
//! counts the fault as what it is.
//!
//! The primary yields to the scheduler while it works and while its body
//! streams, so the shadow's task really runs — and faults — in the middle of
//! the primary's request, not after it.

use bytes::Bytes;
use futures::{stream, StreamExt};
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Ready;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_shadow::shadow::{RequestBody, ShadowLayer};
use tower_shadow::{BoxError, HealthSnapshot};

const SHADOW_TIMEOUT: Duration = Duration::from_secs(1);
/// How many times the primary yields while handling a request and between
/// its body frames, so the shadow's task runs in between.
const YIELDS: usize = 8;
const PAYLOAD: &[u8] = b"the request body, teed to the shadow";

type PrimaryBody = UnsyncBoxBody<Bytes, Infallible>;
type ShadowRequest = Request<RequestBody<Full<Bytes>>>;

async fn yield_a_few_times() {
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
    }
}

/// The primary: its answer depends on the request method, path and body
/// only (not on the correlation header the layer adds). It answers in four
/// frames and trailers, yielding before each.
async fn primary<B>(req: Request<B>) -> Result<Response<PrimaryBody>, Infallible>
where
    B: Body<Data = Bytes>,
    B::Error: Debug,
{
    let (head, body) = req.into_parts();
    let body = body.collect().await.expect("request body").to_bytes();
    yield_a_few_times().await;

    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from(body.len()));
    let frames = vec![
        Frame::data(Bytes::from(format!(
            "{} {}\n",
            head.method,
            head.uri.path()
        ))),
        Frame::data(body),
        Frame::data(Bytes::new()),
        Frame::data(Bytes::from_static(b"\nend")),
        Frame::trailers(trailers),
    ];
    let body = StreamBody::new(stream::iter(frames).then(|frame| async move {
        yield_a_few_times().await;
        Ok::<_, Infallible>(frame)
    }));
    let response = Response::builder()
        .status(StatusCode::CREATED)
        .header(CONTENT_TYPE, "text/plain")
        .header("x-version", "stable")
        .header(SET_COOKIE, "a=1")
        .header(SET_COOKIE, "b=2")
        .body(BodyExt::boxed_unsync(body))
        .expect("valid response");
    Ok(response)
}

/// Everything the client can observe of a response.
#[derive(Debug, PartialEq)]
struct Observed {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    frames: Vec<Bytes>,
    trailers: Option<HeaderMap>,
}

async fn observe<B>(response: Response<B>) -> Observed
where
    B: Body<Data = Bytes>,
    B::Error: Debug,
{
    let (head, body) = response.into_parts();
    let mut body = std::pin::pin!(body);
    let mut frames = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame.expect("the primary's body does not fail").into_data() {
            Ok(data) => frames.push(data),
            Err(frame) => {
                assert!(trailers.is_none(), "trailers arrived twice");
                trailers = Some(frame.into_trailers().expect("data or trailers"));
            }
        }
    }
    Observed {
        status: head.status,
        version: head.version,
        headers: head.headers,
        frames,
        trailers,
    }
}

fn request() -> Request<Full<Bytes>> {
    Request::post("/orders/42?x=1")
        .header(CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from_static(PAYLOAD)))
        .expect("valid request")
}

/// The same primary, without the layer.
async fn without_the_layer() -> Observed {
    let response = service_fn(primary::<Full<Bytes>>)
        .oneshot(request())
        .await
        .expect("the primary does not fail");
    observe(response).await
}

/// The primary behind the layer, shadowing to `shadow`; returns what the
/// client saw and the health once the shadow is done.
async fn with_the_layer<T, TB>(shadow: T) -> (Observed, HealthSnapshot)
where
    T: Service<ShadowRequest, Response = Response<TB>> + Clone + Send + 'static,
    T::Future: Send,
    T::Error: Into<BoxError>,
    TB: Body<Data = Bytes> + Send + 'static,
    TB::Error: Into<BoxError>,
{
    let layer = ShadowLayer::builder(shadow)
        .methods([Method::POST])
        .shadow_timeout(SHADOW_TIMEOUT)
        .build();
    let health = layer.health();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(primary::<RequestBody<Full<Bytes>>>);

    let started = Instant::now();
    let response = service
        .oneshot(request())
        .await
        .expect("the primary does not fail");
    let observed = observe(response).await;
    // The clock is paused and only moves when every task waits on a timer.
    // The primary never does; had it waited on the shadow (its sleep, its
    // timeout), the clock would have jumped.
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "the primary was held back by the shadow"
    );

    tokio::time::timeout(Duration::from_secs(3600), health.idle())
        .await
        .expect("idle() resolves once the shadow is done");
    (observed, health.snapshot())
}

/// What the health should count for one shadow fault.
#[derive(Debug, Default)]
struct Expected {
    equivalent: bool,
    candidate_errors: u64,
    candidate_timeouts: u64,
    candidate_panics: u64,
}

async fn assert_fault<T, TB>(shadow: T, expected: Expected)
where
    T: Service<ShadowRequest, Response = Response<TB>> + Clone + Send + 'static,
    T::Future: Send,
    T::Error: Into<BoxError>,
    TB: Body<Data = Bytes> + Send + 'static,
    TB::Error: Into<BoxError>,
{
    let baseline = without_the_layer().await;
    let (observed, s) = with_the_layer(shadow).await;
    assert_eq!(observed, baseline, "the client saw a different response");
    // Sanity: the baseline is what the primary is written to return.
    assert_eq!(baseline.status, StatusCode::CREATED);
    assert_eq!(
        baseline.frames.concat(),
        [b"POST /orders/42\n", PAYLOAD, b"\nend"].concat()
    );
    assert_eq!(baseline.headers.get_all(SET_COOKIE).iter().count(), 2);
    assert!(baseline.trailers.is_some());

    let want = (
        1,
        u64::from(expected.equivalent),
        u64::from(!expected.equivalent),
        expected.candidate_errors,
        expected.candidate_timeouts,
        expected.candidate_panics,
    );
    let got = (
        s.pairs,
        s.equivalent,
        s.different,
        s.candidate_errors,
        s.candidate_timeouts,
        s.candidate_panics,
    );
    assert_eq!(
        got, want,
        "(pairs, equivalent, different, candidate_errors, candidate_timeouts, candidate_panics) for {expected:?}: {s:?}"
    );
    assert_eq!(
        (s.sampled, s.skipped, s.baseline_errors, s.in_flight),
        (1, 0, 0, 0),
        "{s:?}"
    );
}

fn ok(body: &'static str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(body.as_bytes())))
}

/// A shadow whose `poll_ready` or `call` misbehaves synchronously.
#[derive(Clone, Debug)]
enum Broken {
    ReadyFails,
    PanicsInPollReady,
    PanicsInCall,
    /// `poll_ready` returns `Pending` forever (and never wakes anyone).
    NeverReady {
        polled: Arc<AtomicUsize>,
        called: Arc<AtomicUsize>,
    },
}

impl<B> Service<Request<B>> for Broken {
    type Response = Response<Full<Bytes>>;
    type Error = std::io::Error;
    type Future = Ready<Result<Self::Response, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        match self {
            Self::ReadyFails => Poll::Ready(Err(std::io::Error::other("shadow fault: not ready"))),
            Self::PanicsInPollReady => panic!("shadow fault: panic in poll_ready"),
            Self::PanicsInCall => Poll::Ready(Ok(())),
            Self::NeverReady { polled, .. } => {
                polled.fetch_add(1, Ordering::SeqCst);
                Poll::Pending
            }
        }
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        match self {
            Self::ReadyFails | Self::PanicsInPollReady => unreachable!("never ready"),
            Self::PanicsInCall => panic!("shadow fault: panic in call"),
            Self::NeverReady { called, .. } => {
                called.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Ok(ok("too late")))
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn control_a_healthy_shadow_is_equivalent() {
    // The same code as the primary: the pair must compare equal, which shows
    // the harness can tell "equivalent" from the faults below.
    assert_fault(
        service_fn(primary::<RequestBody<Full<Bytes>>>),
        Expected {
            equivalent: true,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_returns_an_error() {
    let shadow = service_fn(|_: ShadowRequest| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("shadow fault: connection refused"))
    });
    assert_fault(
        shadow,
        Expected {
            candidate_errors: 1,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_returns_500() {
    let shadow = service_fn(|_: ShadowRequest| async {
        let mut response = ok("internal error");
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        Ok::<_, Infallible>(response)
    });
    assert_fault(
        shadow,
        Expected {
            candidate_errors: 1,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_poll_ready_fails() {
    assert_fault(
        Broken::ReadyFails,
        Expected {
            candidate_errors: 1,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_panics_in_poll_ready() {
    assert_fault(
        Broken::PanicsInPollReady,
        Expected {
            candidate_errors: 1,
            candidate_panics: 1,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_panics_synchronously_in_call() {
    assert_fault(
        Broken::PanicsInCall,
        Expected {
            candidate_errors: 1,
            candidate_panics: 1,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_panics_inside_its_future() {
    let shadow = service_fn(|req: ShadowRequest| async move {
        // Read the copy first, so the panic happens mid-exchange.
        let body = req.into_body().collect().await?.to_bytes();
        tokio::task::yield_now().await;
        if !body.is_empty() {
            panic!("shadow fault: panic inside the future");
        }
        Ok::<_, Infallible>(ok("unreachable"))
    });
    assert_fault(
        shadow,
        Expected {
            candidate_errors: 1,
            candidate_panics: 1,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_sleeps_past_the_timeout() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let shadow = {
        let dropped = Arc::clone(&dropped);
        service_fn(move |_: ShadowRequest| {
            let guard = DropCounter(Arc::clone(&dropped));
            async move {
                let _guard = guard;
                tokio::time::sleep(SHADOW_TIMEOUT * 10).await;
                Ok::<_, Infallible>(ok("too late"))
            }
        })
    };
    let started = Instant::now();
    assert_fault(
        shadow,
        Expected {
            candidate_errors: 1,
            candidate_timeouts: 1,
            ..Expected::default()
        },
    )
    .await;
    // The shadow was cut at its timeout (not left to sleep its 10 s), and
    // its future was dropped.
    assert_eq!(started.elapsed(), SHADOW_TIMEOUT);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn shadow_is_never_ready() {
    let polled = Arc::new(AtomicUsize::new(0));
    let called = Arc::new(AtomicUsize::new(0));
    let shadow = Broken::NeverReady {
        polled: Arc::clone(&polled),
        called: Arc::clone(&called),
    };
    let started = Instant::now();
    assert_fault(
        shadow,
        Expected {
            candidate_errors: 1,
            candidate_timeouts: 1,
            ..Expected::default()
        },
    )
    .await;
    assert_eq!(started.elapsed(), SHADOW_TIMEOUT);
    assert!(
        polled.load(Ordering::SeqCst) >= 1,
        "the shadow's readiness was driven"
    );
    assert_eq!(
        called.load(Ordering::SeqCst),
        0,
        "never ready, never called"
    );
}

#[tokio::test(start_paused = true)]
async fn shadow_returns_a_50_mib_body() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 50 * 1024 * 1024 / CHUNK;
    // The default limit on copied bytes.
    const LIMIT: usize = 1024 * 1024;
    let pulled = Arc::new(AtomicUsize::new(0));
    let shadow = {
        let pulled = Arc::clone(&pulled);
        service_fn(move |_: ShadowRequest| {
            let pulled = Arc::clone(&pulled);
            async move {
                // Chunks are made as they are polled, so the count below is
                // how much of the 50 MiB the layer actually read.
                let frames = stream::iter(0..CHUNKS).map(move |_| {
                    pulled.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; CHUNK])))
                });
                Ok::<_, Infallible>(Response::new(StreamBody::new(frames)))
            }
        })
    };
    assert_fault(
        shadow,
        Expected {
            // Not an error: just a different (and truncated) body.
            ..Expected::default()
        },
    )
    .await;
    let pulled = pulled.load(Ordering::SeqCst);
    assert!(
        pulled <= LIMIT / CHUNK + 1,
        "the layer read {pulled} chunks of the shadow's 50 MiB body, past its {LIMIT}-byte limit"
    );
    assert!(pulled >= LIMIT / CHUNK, "the body was read up to the limit");
}

#[tokio::test(start_paused = true)]
async fn shadow_body_breaks_mid_stream() {
    let shadow = service_fn(|_: ShadowRequest| async {
        let frames = stream::iter([
            Ok(Frame::data(Bytes::from_static(b"POST /orders/42\n"))),
            Err(std::io::Error::other("shadow fault: connection reset")),
        ]);
        Ok::<_, Infallible>(Response::new(StreamBody::new(frames)))
    });
    assert_fault(
        shadow,
        Expected {
            candidate_errors: 1,
            ..Expected::default()
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn shadow_body_stalls_forever() {
    let shadow = service_fn(|_: ShadowRequest| async {
        // A head at once, a first frame, then nothing, ever.
        let frames = stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from_static(
            b"POST /orders/42\n",
        )))])
        .chain(stream::pending());
        Ok::<_, Infallible>(Response::new(StreamBody::new(frames)))
    });
    let started = Instant::now();
    assert_fault(
        shadow,
        Expected {
            candidate_errors: 1,
            candidate_timeouts: 1,
            ..Expected::default()
        },
    )
    .await;
    assert_eq!(started.elapsed(), SHADOW_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn shadow_slower_than_the_primary_but_within_the_timeout() {
    let shadow = service_fn(|req: ShadowRequest| async move {
        tokio::time::sleep(SHADOW_TIMEOUT / 2).await;
        primary(req).await
    });
    let started = Instant::now();
    assert_fault(
        shadow,
        Expected {
            equivalent: true,
            ..Expected::default()
        },
    )
    .await;
    // The primary answered at once (checked inside); the pair waited for
    // the slow shadow.
    assert_eq!(started.elapsed(), SHADOW_TIMEOUT / 2);
}

struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
