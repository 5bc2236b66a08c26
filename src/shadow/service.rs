use super::body::{RequestBody, ResponseBody};
use super::fork::{Fork, Roles};
use super::future::{ResponseFuture, Side};
use super::layer::{Config, ShadowLayer};
use crate::health::SkipReason;
use crate::BoxError;
use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower_service::Service;

/// Middleware that sends a copy of sampled requests to a shadow service.
///
/// `S` is the primary: it serves the client, and nothing about the shadow
/// changes what it receives or returns. `T` is the shadow: it gets a copy
/// in a spawned task, and its answer is only compared. Both receive
/// [`RequestBody`], so one service type can play either part.
///
/// See the [module docs](super) for the flow and the guarantees.
pub struct Shadow<S, T> {
    inner: S,
    /// One reference count per clone: servers such as `axum::serve` clone
    /// the service for each request.
    parts: Arc<Parts<T>>,
}

/// What every clone of a [`Shadow`] (and its [`ShadowLayer`]) shares.
pub(crate) struct Parts<T> {
    pub(crate) shadow: T,
    pub(crate) secondary: Option<T>,
    pub(crate) roles: Roles,
    pub(crate) config: Arc<Config>,
}

impl<S, T> Shadow<S, T> {
    /// Wraps `inner`, shadowing to `shadow` with the default settings.
    pub fn new(inner: S, shadow: T) -> Self {
        Self::from_parts(inner, ShadowLayer::new(shadow).into_parts())
    }

    pub(crate) fn from_parts(inner: S, parts: Arc<Parts<T>>) -> Self {
        Self { inner, parts }
    }

    /// A layer wrapping services in `Shadow`, with the default settings.
    pub fn layer(shadow: T) -> ShadowLayer<T> {
        ShadowLayer::new(shadow)
    }

    /// The [`Health`](crate::health::Health) this service records into.
    pub fn health(&self) -> crate::health::Health {
        self.parts.config.health.clone()
    }

    /// The primary service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The primary service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The shadow service.
    pub fn shadow_ref(&self) -> &T {
        &self.parts.shadow
    }

    /// Consumes `self`, returning the primary service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, T> Clone for Shadow<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            parts: Arc::clone(&self.parts),
        }
    }
}

impl<S: fmt::Debug, T: fmt::Debug> fmt::Debug for Shadow<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shadow")
            .field("inner", &self.inner)
            .field("shadow", &self.parts.shadow)
            .field("config", &self.parts.config)
            .finish()
    }
}

impl<S, T, ReqBody, ResBody, ShadowBody> Service<Request<ReqBody>> for Shadow<S, T>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: fmt::Display,
    T: Service<Request<RequestBody<ReqBody>>, Response = Response<ShadowBody>>
        + Clone
        + Send
        + 'static,
    T::Future: Send,
    T::Error: Into<BoxError>,
    ShadowBody: Body<Data = Bytes> + Send + 'static,
    ShadowBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    /// Readiness is the primary's alone: the shadow's is driven in its own
    /// task, so a shadow that is never ready cannot hold the primary back.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (head, body) = req.into_parts();
        // A request that is itself a shadow copy is not shadowed again, so
        // two services using the layer never multiply traffic.
        let config = &self.parts.config;
        if !config.sampler.sample(&head) || head.headers.contains_key(&config.marker.0) {
            let req = Request::from_parts(head, RequestBody::passthrough(body));
            return ResponseFuture::new(self.inner.call(req), None);
        }
        self.call_sampled(head, body)
    }
}

impl<S, T> Shadow<S, T> {
    /// The sampled path, kept out of `call` so the unsampled path stays
    /// small: its frame holds no more than the request it forwards.
    #[inline(never)]
    fn call_sampled<ReqBody, ResBody, ShadowBody>(
        &mut self,
        mut head: http::request::Parts,
        body: ReqBody,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
        S::Error: fmt::Display,
        ReqBody: Body<Data = Bytes> + Send + 'static,
        ResBody: Body<Data = Bytes>,
        ResBody::Error: fmt::Display,
        T: Service<Request<RequestBody<ReqBody>>, Response = Response<ShadowBody>>
            + Clone
            + Send
            + 'static,
        T::Future: Send,
        T::Error: Into<BoxError>,
        ShadowBody: Body<Data = Bytes> + Send + 'static,
        ShadowBody::Error: Into<BoxError>,
    {
        let parts = &*self.parts;
        let config = &parts.config;
        config.health.record_sampled();
        let slot = match admit(config, &head) {
            Ok(slot) => slot,
            Err(reason) => {
                config.health.record_skip(reason);
                let req = Request::from_parts(head, RequestBody::passthrough(body));
                return ResponseFuture::new(self.inner.call(req), None);
            }
        };

        let id = match head.headers.get(&config.correlation_header) {
            Some(id) => id.clone(),
            None => {
                let id = correlation_id();
                head.headers
                    .insert(config.correlation_header.clone(), id.clone());
                id
            }
        };
        let mut copy = copy_head(&head);
        copy.headers
            .insert(config.marker.0.clone(), config.marker.1.clone());
        if parts.roles == Roles::PrimaryIsStable {
            // The copy goes to the candidate: keep secrets out of it.
            config.masker.mask_headers(&mut copy.headers);
        }

        let (body_tx, body_rx) = oneshot::channel();
        let (primary_tx, primary_rx) = oneshot::channel();
        let body = RequestBody::teed(body, config.max_body_bytes, body_tx);
        let fork = Fork {
            roles: parts.roles,
            shadow: parts.shadow.clone(),
            secondary: parts.secondary.clone(),
            endpoint: config.endpoint.endpoint(&head),
            request: copy,
            body: body_rx,
            primary: primary_rx,
            pending: config.health.start_pending(),
            slot,
        };
        tokio::spawn(fork.run(id));

        let side = Side {
            method: head.method.clone(),
            started: Instant::now(),
            limit: config.max_body_bytes,
            to_shadow: primary_tx,
        };
        let req = Request::from_parts(head, body);
        ResponseFuture::new(self.inner.call(req), Some(Box::new(side)))
    }
}

/// Whether a sampled request may be shadowed, and a running-shadow slot if so.
fn admit(
    config: &Arc<Config>,
    head: &http::request::Parts,
) -> Result<super::layer::Slot, SkipReason> {
    if !config.methods.contains(&head.method) {
        return Err(SkipReason::Method);
    }
    if !config.streaming.is_empty() && config.streaming.contains(head.uri.path()) {
        return Err(SkipReason::Streaming);
    }
    let declared = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > config.max_body_bytes as u64) {
        return Err(SkipReason::Oversize);
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(SkipReason::NoRuntime);
    }
    config.try_slot().ok_or(SkipReason::Overloaded)
}

/// A new correlation id: 128 random bits in 32 lowercase hex digits.
fn correlation_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = rand::random::<u128>();
    let mut digits = [0u8; 32];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[(bits >> (124 - 4 * i) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&digits).expect("hex digits are a valid header value")
}

/// A copy of a request head: method, URI, version and headers. Extensions
/// are not copied; they are not `Clone`.
pub(crate) fn copy_head(head: &http::request::Parts) -> http::request::Parts {
    let mut copy = Request::new(());
    *copy.method_mut() = head.method.clone();
    *copy.uri_mut() = head.uri.clone();
    *copy.version_mut() = head.version;
    *copy.headers_mut() = head.headers.clone();
    copy.into_parts().0
}
