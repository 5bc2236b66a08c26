//! The shadow's side of a pair, on its own task: wait for the request body
//! copy, call the shadow, wait for the primary's answer, compare, record.

use super::body::{bodyless, Capture, RequestBody};
use super::layer::Slot;
use super::service::copy_head;
use crate::exchange::{ErrorKind, Exchange, ExchangeError};
use crate::health::{Pending, SkipReason};
use crate::record::{Record, RecordedBody, RecordedExchange, RecordedRequest};
use crate::BoxError;
use bytes::Bytes;
use futures::FutureExt;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::{timeout, Instant};
use tower::ServiceExt;
use tower_service::Service;
use tracing::Instrument;

/// Everything the shadow's task needs; made in `Shadow::call`.
pub(crate) struct Fork<T> {
    pub(crate) roles: Roles,
    pub(crate) shadow: T,
    pub(crate) secondary: Option<T>,
    pub(crate) endpoint: String,
    pub(crate) request: http::request::Parts,
    pub(crate) body: oneshot::Receiver<Result<Bytes, SkipReason>>,
    pub(crate) primary: oneshot::Receiver<Exchange>,
    pub(crate) pending: Pending,
    pub(crate) slot: Slot,
}

impl<T> Fork<T> {
    pub(crate) async fn run<B, TB>(self, id: HeaderValue)
    where
        T: Service<Request<RequestBody<B>>, Response = Response<TB>> + Send + 'static,
        T::Future: Send,
        T::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        TB: Body<Data = Bytes> + Send + 'static,
        TB::Error: Into<BoxError>,
    {
        let span = tracing::debug_span!(
            "shadow",
            // Borrowed, not copied: this runs for every sampled request,
            // whether or not anything records the span.
            correlation_id = id.to_str().unwrap_or("(not visible ASCII)"),
            method = %self.request.method,
            uri = %self.request.uri,
        );
        // Boxed: the comparison's future is large (it holds the shadow's
        // own future and three exchanges), and the task `Shadow::call`
        // spawns is moved on the primary's path; this keeps it small.
        Box::pin(self.compare(id)).instrument(span).await;
    }

    async fn compare<B, TB>(self, id: HeaderValue)
    where
        T: Service<Request<RequestBody<B>>, Response = Response<TB>>,
        T::Error: Into<BoxError>,
        B: Body<Data = Bytes>,
        TB: Body<Data = Bytes>,
        TB::Error: Into<BoxError>,
    {
        let Fork {
            roles,
            shadow,
            secondary,
            endpoint,
            request,
            body,
            primary,
            pending: _pending,
            slot,
        } = self;
        let config = slot.config();
        let health = &config.health;
        let wait = config.shadow_timeout;

        let body = match timeout(wait, body).await {
            Ok(Ok(Ok(body))) => body,
            Ok(Ok(Err(reason))) => return health.record_skip(reason),
            Ok(Err(_)) | Err(_) => return health.record_skip(SkipReason::Incomplete),
        };
        let limit = config.max_body_bytes;
        let body = match roles {
            Roles::PrimaryIsStable => config.masker.mask_body(&body),
            Roles::PrimaryIsCandidate => body,
        };
        // What the recorder keeps of the request, masked, taken before the
        // head moves into the call.
        let recorded_request = config.recorder.as_ref().map(|_| {
            let mut headers = request.headers.clone();
            config.masker.mask_headers(&mut headers);
            RecordedRequest {
                method: request.method.to_string(),
                uri: request.uri.to_string(),
                headers: crate::record::headers_to_pairs(&headers),
                body: RecordedBody::new(&config.masker.mask_body(&body)),
            }
        });
        let uri = request.uri.clone();
        let (mut candidate, mut secondary) = match secondary {
            None => {
                let request = Request::from_parts(request, RequestBody::full(body));
                (call(shadow, request, limit, wait).await, None)
            }
            Some(secondary) => {
                let twin =
                    Request::from_parts(copy_head(&request), RequestBody::full(body.clone()));
                let request = Request::from_parts(request, RequestBody::full(body));
                let (candidate, secondary) = futures::join!(
                    call(shadow, request, limit, wait),
                    call(secondary, twin, limit, wait)
                );
                (candidate, Some(secondary))
            }
        };

        let Ok(Ok(mut primary)) = timeout(wait, primary).await else {
            tracing::debug!("the primary's side did not complete; pair skipped");
            return health.record_skip(SkipReason::Incomplete);
        };
        // Set here, off the primary's path, for comparators that depend on the call.
        for exchange in [Some(&mut primary), Some(&mut candidate), secondary.as_mut()]
            .into_iter()
            .flatten()
        {
            exchange.uri = Some(uri.clone());
        }
        // Pairs are always (stable, candidate), whichever served the user.
        let (baseline, candidate) = match roles {
            Roles::PrimaryIsStable => (primary, candidate),
            Roles::PrimaryIsCandidate => (candidate, primary),
        };
        let compare = |a: &Exchange, b: &Exchange| {
            std::panic::catch_unwind(AssertUnwindSafe(|| config.comparator.compare(a, b)))
        };
        let noise = secondary.map(|secondary| compare(&baseline, &secondary));
        match (compare(&baseline, &candidate), noise.transpose()) {
            (Ok(comparison), Ok(noise)) => {
                if let Some(noise) = &noise {
                    health.record_noise(&endpoint, noise);
                }
                if !comparison.is_equivalent() {
                    tracing::debug!(differences = comparison.differences.len(), "answers differ");
                }
                health.record_pair(&endpoint, &baseline, &candidate, &comparison);
                if let (Some(recorder), Some(request)) = (&config.recorder, recorded_request) {
                    let masked = |exchange: &Exchange| {
                        let mut exchange = exchange.clone();
                        config.masker.mask_exchange(&mut exchange);
                        RecordedExchange::from(&exchange)
                    };
                    let record = Record {
                        at_ms: crate::rollout::now_ms(),
                        correlation_id: String::from_utf8_lossy(id.as_bytes()).into_owned(),
                        endpoint,
                        request,
                        baseline: masked(&baseline),
                        candidate: masked(&candidate),
                        comparison,
                    };
                    let recorded =
                        std::panic::catch_unwind(AssertUnwindSafe(|| recorder.record(&record)));
                    if recorded.is_err() {
                        tracing::error!("the recorder panicked");
                    }
                }
            }
            (Err(panic), _) | (_, Err(panic)) => {
                tracing::error!(panic = panic_message(&*panic), "the comparator panicked");
                health.record_skip(SkipReason::Comparator);
            }
        }
    }
}

/// Which version the primary is: the stable one (the usual case, the
/// shadow is the candidate), or the candidate, when a router sent the user
/// to the canary and the copy goes to the stable version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Roles {
    PrimaryIsStable,
    PrimaryIsCandidate,
}

/// Calls the shadow and collects its answer, containing errors, panics and
/// hangs: whatever happens, an [`Exchange`] comes back within `wait`.
pub(crate) async fn call<T, B, TB>(
    shadow: T,
    request: Request<B>,
    limit: usize,
    wait: Duration,
) -> Exchange
where
    T: Service<Request<B>, Response = Response<TB>>,
    T::Error: Into<BoxError>,
    TB: Body<Data = Bytes>,
    TB::Error: Into<BoxError>,
{
    let started = Instant::now();
    let method = request.method().clone();
    let exchange = async move {
        let service_error = |e: T::Error| ExchangeError::new(ErrorKind::Service, e.into());
        let mut shadow = shadow;
        let ready = shadow.ready().await.map_err(service_error)?;
        // Latency runs from the call, as on the primary's side, whose
        // readiness wait happens before the layer sees the request.
        let called = Instant::now();
        let response = ready.call(request).await.map_err(service_error)?;
        let latency = called.elapsed();
        let (head, body) = response.into_parts();
        let mut exchange =
            Exchange::new(head.status, head.headers, Bytes::new()).with_latency(latency);
        if bodyless(&method, head.status) {
            return Ok(exchange);
        }
        let mut capture = Capture::new(limit);
        let mut body = std::pin::pin!(body);
        while !capture.truncated {
            match body.frame().await {
                None => break,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => capture.push(&data),
                    Err(frame) => exchange.trailers = frame.into_trailers().ok(),
                },
                Some(Err(e)) => {
                    exchange.error = Some(ExchangeError::new(ErrorKind::Body, e.into()));
                    break;
                }
            }
        }
        exchange.truncated = capture.truncated;
        exchange.body = capture.into_bytes();
        Ok::<_, ExchangeError>(exchange)
    };
    match timeout(wait, AssertUnwindSafe(exchange).catch_unwind()).await {
        Ok(Ok(Ok(exchange))) => exchange,
        Ok(Ok(Err(error))) => Exchange::failed(error).with_latency(started.elapsed()),
        Ok(Err(panic)) => {
            let error = ExchangeError::new(ErrorKind::Panic, panic_message(&*panic));
            Exchange::failed(error).with_latency(started.elapsed())
        }
        Err(_) => {
            let error =
                ExchangeError::new(ErrorKind::Timeout, format!("no answer within {wait:?}"));
            Exchange::failed(error).with_latency(wait)
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}
