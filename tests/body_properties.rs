//! Property tests: whatever the body sizes, chunkings, sampling and limit,
//! the bytes pass through the layer unchanged, and the shadow gets an exact
//! copy or nothing.
//!
//! For each case a client sends a POST (opted in with `.methods`) whose body
//! is cut into random frames (empty ones included), either as a stream or
//! as one `Full` frame, with or without a `Content-Length`. The primary
//! echoes it back cut into its own random frames. Readers either read to
//! the end or stop as soon as `is_end_stream()` says so, as hyper does.
//!
//! Asserted:
//! - the primary receives exactly the frames the client sent;
//! - the client receives exactly the frames the primary sent;
//! - sampled and within `max_body_bytes`: the shadow received exactly the
//!   same bytes, and the pair (the shadow echoes too) is equivalent;
//! - sampled and over the limit: the shadow was not called, and the skip is
//!   counted as `oversize`;
//! - not sampled: nothing is counted and the shadow is not called.

use bytes::Bytes;
use futures::stream;
use http::{Method, Request, Response};
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use parking_lot::Mutex;
use proptest::collection::vec;
use proptest::prelude::*;
use rand::{RngCore, SeedableRng};
use std::convert::Infallible;
use std::sync::Arc;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_shadow::sample::Random;
use tower_shadow::shadow::{RequestBody, ShadowLayer};

type TestBody = UnsyncBoxBody<Bytes, Infallible>;

/// How a body is put on the wire.
#[derive(Clone, Debug)]
enum Shape {
    /// One `Full` frame (exact size hint, `is_end_stream` after it).
    Full,
    /// A stream of frames cut at these sizes, the rest in a last frame
    /// (unknown size, the end only known from `None`).
    Frames(Vec<usize>),
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        1 => Just(Shape::Full),
        // Small, empty and large frames; mostly a few dozen.
        4 => vec(prop_oneof![Just(0usize), 1usize..64, 1usize..65_536], 0..40).prop_map(Shape::Frames),
    ]
}

/// Cuts `data` into the frames of `shape`.
fn frames(data: &Bytes, shape: &Shape) -> Vec<Bytes> {
    match shape {
        // `Full` yields nothing at all for an empty body.
        Shape::Full if data.is_empty() => Vec::new(),
        Shape::Full => vec![data.clone()],
        Shape::Frames(sizes) => {
            let mut rest = data.clone();
            let mut out = Vec::new();
            for &size in sizes {
                out.push(rest.split_to(size.min(rest.len())));
            }
            if !rest.is_empty() {
                out.push(rest);
            }
            out
        }
    }
}

fn body_of(data: &Bytes, shape: &Shape) -> TestBody {
    match shape {
        Shape::Full => BodyExt::boxed_unsync(Full::new(data.clone())),
        Shape::Frames(_) => {
            let frames = frames(data, shape).into_iter().map(|b| Ok(Frame::data(b)));
            BodyExt::boxed_unsync(StreamBody::new(stream::iter(frames)))
        }
    }
}

/// Reads a body's data frames; stops at `None`, or as soon as
/// `is_end_stream()` is true when `trust_end` (as hyper does with a known
/// length).
async fn read_frames<B>(body: B, trust_end: bool) -> Vec<Bytes>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    if trust_end && body.is_end_stream() {
        return out;
    }
    while let Some(frame) = body.frame().await {
        out.push(
            frame
                .expect("bodies do not fail")
                .into_data()
                .expect("data frames only"),
        );
        if trust_end && body.is_end_stream() {
            break;
        }
    }
    out
}

/// Where `max_body_bytes` sits relative to the body's size.
#[derive(Clone, Copy, Debug)]
enum Limit {
    Below(usize),
    Exact,
    Above(usize),
}

fn limit() -> impl Strategy<Value = Limit> {
    prop_oneof![
        (1usize..100_000).prop_map(Limit::Below),
        Just(Limit::Exact),
        (1usize..100_000).prop_map(Limit::Above),
    ]
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => Just(0usize),
        1 => 1usize..64,
        6 => 0usize..300 * 1024,
    ]
}

#[derive(Clone, Debug)]
struct Case {
    size: usize,
    seed: u64,
    client: Shape,
    primary: Shape,
    sampled: bool,
    limit: Limit,
    content_length: bool,
    primary_trusts_end: bool,
    client_trusts_end: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        size(),
        any::<u64>(),
        shape(),
        shape(),
        any::<bool>(),
        limit(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(size, seed, client, primary, sampled, limit, content_length, pte, cte)| Case {
                size,
                seed,
                client,
                primary,
                sampled,
                limit,
                content_length,
                primary_trusts_end: pte,
                client_trusts_end: cte,
            },
        )
}

#[derive(Default)]
struct Seen {
    primary_frames: Option<Vec<Bytes>>,
    primary_sent: Option<Vec<Bytes>>,
    shadow_calls: usize,
    shadow_bytes: Option<Bytes>,
}

fn run(case: Case) -> Result<(), TestCaseError> {
    let mut data = vec![0u8; case.size];
    rand::rngs::StdRng::seed_from_u64(case.seed).fill_bytes(&mut data);
    let data = Bytes::from(data);
    let max_body_bytes = match case.limit {
        Limit::Below(d) => case.size.saturating_sub(d.min(case.size.max(1))),
        Limit::Exact => case.size,
        Limit::Above(d) => case.size + d,
    };
    // With an empty body "below" is impossible: the limit is 0 = the size.
    let over = case.size > max_body_bytes;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let primary = {
        let seen = Arc::clone(&seen);
        let case = case.clone();
        service_fn(move |req: Request<RequestBody<TestBody>>| {
            let seen = Arc::clone(&seen);
            let case = case.clone();
            async move {
                let received = read_frames(req.into_body(), case.primary_trusts_end).await;
                let echo = frames(&Bytes::from(received.concat()), &case.primary);
                let body = body_of(&Bytes::from(received.concat()), &case.primary);
                let mut seen = seen.lock();
                seen.primary_frames = Some(received);
                seen.primary_sent = Some(echo);
                Ok::<_, Infallible>(Response::new(body))
            }
        })
    };
    let shadow = {
        let seen = Arc::clone(&seen);
        service_fn(move |req: Request<RequestBody<TestBody>>| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().shadow_calls += 1;
                let bytes = req.into_body().collect().await?.to_bytes();
                seen.lock().shadow_bytes = Some(bytes.clone());
                Ok::<_, Infallible>(Response::new(Full::new(bytes)))
            }
        })
    };
    let layer = ShadowLayer::builder(shadow)
        .sampler(Random::percent(if case.sampled { 100.0 } else { 0.0 }))
        .methods([Method::POST])
        .max_body_bytes(max_body_bytes)
        .build();
    let health = layer.health();
    let service = ServiceBuilder::new().layer(layer).service(primary);

    let mut request = Request::post("/echo");
    if case.content_length {
        request = request.header(http::header::CONTENT_LENGTH, case.size);
    }
    let request = request
        .body(body_of(&data, &case.client))
        .expect("valid request");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client_received = runtime.block_on(async {
        let response = service.oneshot(request).await.expect("infallible");
        let received = read_frames(response.into_body(), case.client_trusts_end).await;
        tokio::time::timeout(std::time::Duration::from_secs(60), health.idle())
            .await
            .expect("idle() resolves");
        received
    });

    let seen = seen.lock();
    let s = health.snapshot();
    let client_frames = frames(&data, &case.client);
    // A reader trusting `is_end_stream` stops before a trailing empty frame
    // only with `Full`, which has none; so the frame lists are comparable.
    prop_assert_eq!(
        seen.primary_frames.as_ref().expect("the primary ran"),
        &client_frames,
        "the primary received other frames than the client sent"
    );
    prop_assert_eq!(
        &client_received,
        seen.primary_sent.as_ref().expect("the primary ran"),
        "the client received other frames than the primary sent"
    );
    prop_assert_eq!(Bytes::from(client_received.concat()), data.clone());
    prop_assert_eq!(s.in_flight, 0);

    if !case.sampled {
        prop_assert_eq!(seen.shadow_calls, 0);
        prop_assert_eq!((s.sampled, s.skipped, s.pairs), (0, 0, 0), "{:?}", s);
    } else if over {
        prop_assert_eq!(seen.shadow_calls, 0, "an oversize body was shadowed");
        prop_assert_eq!(s.sampled, 1);
        prop_assert_eq!(s.skipped_reasons.oversize, 1, "{:?}", s);
        prop_assert_eq!((s.skipped, s.pairs), (1, 0), "{:?}", s);
    } else {
        prop_assert_eq!(seen.shadow_calls, 1);
        prop_assert_eq!(
            seen.shadow_bytes
                .as_ref()
                .expect("the shadow read its body"),
            &data,
            "the shadow received other bytes than the client sent"
        );
        prop_assert_eq!(
            (s.sampled, s.skipped, s.pairs, s.equivalent),
            (1, 0, 1, 1),
            "{:?}",
            s
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // The same cases in every run; a failure prints its minimal case.
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_b0d1),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn bytes_pass_through_and_the_shadow_gets_an_exact_copy_or_nothing(case in case()) {
        run(case)?;
    }
}

/// A few hand-picked edges, run every time whatever proptest draws.
#[test]
fn edge_cases() {
    let cases = [
        (0, Limit::Exact, Shape::Frames(vec![])),
        (0, Limit::Exact, Shape::Frames(vec![0, 0, 0])),
        (0, Limit::Exact, Shape::Full),
        (1, Limit::Below(1), Shape::Frames(vec![0, 1])),
        (1, Limit::Exact, Shape::Full),
        (10, Limit::Exact, Shape::Frames(vec![5, 5, 0])),
        (10, Limit::Below(1), Shape::Frames(vec![9, 0, 1])),
        (10, Limit::Above(1), Shape::Frames(vec![10, 0])),
        (300 * 1024, Limit::Exact, Shape::Frames(vec![1; 100])),
    ];
    for (size, limit, client) in cases {
        for (content_length, trust) in [(false, false), (true, true)] {
            let case = Case {
                size,
                seed: size as u64,
                client: client.clone(),
                primary: Shape::Frames(vec![3, 0, 7]),
                sampled: true,
                limit,
                content_length,
                primary_trusts_end: trust,
                client_trusts_end: trust,
            };
            run(case.clone()).unwrap_or_else(|e| panic!("{case:?}: {e}"));
        }
    }
}
