//! The bodies the layer hands on: each forwards every frame unchanged and,
//! for a sampled request, copies what passes (up to the limit) for the shadow.

use crate::exchange::{ErrorKind, Exchange, ExchangeError};
use crate::health::SkipReason;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;

/// Whether a response to `method` with `status` has no body by definition
/// (HEAD, 1xx, 204, 304): servers write only its head and drop the body
/// unpolled, so its side of the pair is complete at the head.
pub(crate) fn bodyless(method: &Method, status: StatusCode) -> bool {
    method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Bytes copied from a body as it passes, up to a limit.
#[derive(Debug)]
pub(crate) struct Capture {
    first: Option<Bytes>,
    rest: BytesMut,
    len: usize,
    limit: usize,
    pub(crate) truncated: bool,
}

impl Capture {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            first: None,
            rest: BytesMut::new(),
            len: 0,
            limit,
            truncated: false,
        }
    }

    /// Copies `data`, or as much of it as fits; sets `truncated` past the limit.
    pub(crate) fn push(&mut self, data: &Bytes) {
        if self.truncated || data.is_empty() {
            return;
        }
        let room = self.limit - self.len;
        let take = data.len().min(room);
        // A body that arrives in one chunk (the common case) is kept by
        // reference, without copying.
        match self.first.take() {
            None if self.len == 0 => self.first = Some(data.slice(..take)),
            first => {
                if let Some(first) = first {
                    self.rest.extend_from_slice(&first);
                }
                self.rest.extend_from_slice(&data[..take]);
            }
        }
        self.len += take;
        self.truncated = take < data.len();
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        match self.first {
            Some(first) => first,
            None => self.rest.freeze(),
        }
    }
}

pin_project! {
    /// The request body the wrapped services receive.
    ///
    /// For the primary it is the client's body, forwarded frame by frame
    /// unchanged; for a sampled request it also copies the bytes for the
    /// shadow as the primary reads them, so the primary never waits for the
    /// copy. For the shadow it is the buffered copy.
    pub struct RequestBody<B> {
        #[pin]
        kind: Kind<B>,
        tee: Option<Box<RequestTee>>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Stream { #[pin] body: B },
        Full { data: Option<Bytes> },
    }
}

/// Where the copy of a request body goes: to the shadow's task.
pub(crate) type BodyCopy = oneshot::Sender<Result<Bytes, SkipReason>>;

#[derive(Debug)]
struct RequestTee {
    capture: Capture,
    to_shadow: BodyCopy,
}

impl RequestTee {
    fn finish(self) {
        let _ = self.to_shadow.send(Ok(self.capture.into_bytes()));
    }
}

impl<B: Body> RequestBody<B> {
    /// The client's body, forwarded untouched.
    pub(crate) fn passthrough(body: B) -> Self {
        Self {
            kind: Kind::Stream { body },
            tee: None,
        }
    }

    /// The client's body, copied up to `limit` bytes into `to_shadow`.
    pub(crate) fn teed(body: B, limit: usize, to_shadow: BodyCopy) -> Self {
        if body.is_end_stream() {
            let _ = to_shadow.send(Ok(Bytes::new()));
            return Self::passthrough(body);
        }
        Self {
            kind: Kind::Stream { body },
            tee: Some(Box::new(RequestTee {
                capture: Capture::new(limit),
                to_shadow,
            })),
        }
    }

    /// The client's body itself, when this one only forwards it: the
    /// request was not sampled, so nothing is copied from it. Otherwise
    /// (a sampled request's tee, or a shadow's buffered copy) `self`, back.
    ///
    /// A service that needs one body type can unwrap the common case
    /// instead of boxing every body. With axum, whose `Router` boxes any
    /// body that is not its own:
    ///
    /// ```
    /// use axum::body::Body;
    /// use tower_shadow::shadow::RequestBody;
    ///
    /// fn into_axum(body: RequestBody<Body>) -> Body {
    ///     body.try_into_inner().unwrap_or_else(Body::new)
    /// }
    /// ```
    pub fn try_into_inner(self) -> Result<B, Self> {
        match self {
            Self {
                kind: Kind::Stream { body },
                tee: None,
            } => Ok(body),
            this => Err(this),
        }
    }

    /// A buffered copy, as sent to the shadow.
    pub(crate) fn full(data: Bytes) -> Self {
        Self {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
            tee: None,
        }
    }
}

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("teed", &self.tee.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let mut body = match this.kind.project() {
            KindProj::Full { data } => return Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Stream { body } => body,
        };
        let frame = ready!(body.as_mut().poll_frame(cx));
        if let Some(tee) = this.tee {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        tee.capture.push(data);
                        if tee.capture.truncated {
                            let tee = this.tee.take().expect("tee is present");
                            let _ = tee.to_shadow.send(Err(SkipReason::Oversize));
                        } else if body.is_end_stream() {
                            // The reader may stop here, trusting an exact size
                            // hint, without ever polling for the end.
                            this.tee.take().expect("tee is present").finish();
                        }
                    }
                }
                None => this.tee.take().expect("tee is present").finish(),
                // A broken body cannot be replayed; dropping the tee skips the shadow.
                Some(Err(_)) => *this.tee = None,
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stream { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stream { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// Where the primary's side of a pair goes: to the shadow's task.
pub(crate) type PrimarySide = oneshot::Sender<Exchange>;

/// The primary's response head and a capture of its body, on their way to
/// the shadow's task.
#[derive(Debug)]
pub(crate) struct ResponseTee {
    status: StatusCode,
    headers: HeaderMap,
    latency: Duration,
    capture: Capture,
    trailers: Option<HeaderMap>,
    to_shadow: PrimarySide,
}

impl ResponseTee {
    pub(crate) fn new(
        status: StatusCode,
        headers: HeaderMap,
        latency: Duration,
        limit: usize,
        to_shadow: PrimarySide,
    ) -> Self {
        Self {
            status,
            headers,
            latency,
            capture: Capture::new(limit),
            trailers: None,
            to_shadow,
        }
    }

    pub(crate) fn finish(self, error: Option<ExchangeError>) {
        let exchange = Exchange {
            status: Some(self.status),
            headers: self.headers,
            truncated: self.capture.truncated,
            body: self.capture.into_bytes(),
            trailers: self.trailers,
            latency: self.latency,
            error,
            uri: None,
        };
        let _ = self.to_shadow.send(exchange);
    }
}

pin_project! {
    /// The response body the client receives: the primary's, forwarded
    /// frame by frame unchanged.
    ///
    /// For a sampled request it also copies the bytes (up to the limit) for
    /// the comparison; when the body ends, breaks or passes the limit, the
    /// copy goes to the shadow's task. Dropped before its end, the body
    /// leaves the pair incomplete and it is not compared. The comparison itself
    /// never runs here.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        tee: Option<Box<ResponseTee>>,
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, tee: Option<Box<ResponseTee>>) -> Self {
        match tee {
            Some(tee) if inner.is_end_stream() => {
                tee.finish(None);
                Self { inner, tee: None }
            }
            tee => Self { inner, tee },
        }
    }
}

impl<B> ResponseBody<B> {
    /// The primary's body itself, when this one only forwards it: the
    /// request was not sampled, or the copy is already complete. Otherwise
    /// `self`, back.
    ///
    /// Serving the layer with a server that wants one body type (such as
    /// `axum::serve`), unwrap the common case instead of boxing every body:
    ///
    /// ```
    /// use axum::body::Body;
    /// use tower_shadow::shadow::ResponseBody;
    ///
    /// fn into_axum(body: ResponseBody<Body>) -> Body {
    ///     body.try_into_inner().unwrap_or_else(Body::new)
    /// }
    /// ```
    pub fn try_into_inner(self) -> Result<B, Self> {
        match self.tee {
            None => Ok(self.inner),
            Some(_) => Err(self),
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("teed", &self.tee.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(tee) = this.tee {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        tee.capture.push(data);
                        if tee.capture.truncated || this.inner.is_end_stream() {
                            this.tee.take().expect("tee is present").finish(None);
                        }
                    } else if let Some(trailers) = frame.trailers_ref() {
                        // Trailers end a body: servers stop polling after them.
                        tee.trailers = Some(trailers.clone());
                        this.tee.take().expect("tee is present").finish(None);
                    }
                }
                Some(Err(e)) => {
                    let error = ExchangeError::new(ErrorKind::Body, e);
                    this.tee.take().expect("tee is present").finish(Some(error));
                }
                None => this.tee.take().expect("tee is present").finish(None),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn the_response_tee_finishes_on_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let frames = vec![
            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b"answer"))),
            Ok(Frame::trailers(trailers.clone())),
        ];
        let (tx, mut rx) = oneshot::channel();
        let tee = ResponseTee::new(StatusCode::OK, HeaderMap::new(), Duration::ZERO, 64, tx);
        let body = StreamBody::new(futures::stream::iter(frames));
        let mut body = ResponseBody::new(body, Some(Box::new(tee)));
        assert!(body.frame().await.unwrap().unwrap().is_data());
        assert!(rx.try_recv().is_err(), "not done before its trailers");
        assert!(body.frame().await.unwrap().unwrap().is_trailers());
        // A server stops here, dropping the body without polling for its end.
        drop(body);
        let exchange = rx.try_recv().expect("the pair is complete");
        assert_eq!(exchange.body, "answer");
        assert_eq!(exchange.trailers, Some(trailers));
    }

    #[tokio::test]
    async fn only_a_body_that_copies_nothing_unwraps() {
        let client = || http_body_util::Full::new(Bytes::from_static(b"data"));
        let body = RequestBody::passthrough(client()).try_into_inner();
        let inner = body.expect("an unsampled request's body unwraps");
        assert_eq!(inner.collect().await.unwrap().to_bytes(), "data");

        let (tx, mut rx) = oneshot::channel();
        let teed = RequestBody::teed(client(), 64, tx).try_into_inner();
        let teed = teed.expect_err("a teed body stays wrapped");
        assert_eq!(teed.collect().await.unwrap().to_bytes(), "data");
        assert_eq!(rx.try_recv().unwrap().unwrap(), "data", "still copied");

        let copy = RequestBody::<http_body_util::Full<Bytes>>::full(Bytes::from_static(b"x"));
        assert!(
            copy.try_into_inner().is_err(),
            "a shadow's copy has no inner body"
        );

        let plain = ResponseBody::new(client(), None).try_into_inner();
        assert!(plain.is_ok());
        let (tx, mut rx) = oneshot::channel();
        let tee = ResponseTee::new(StatusCode::OK, HeaderMap::new(), Duration::ZERO, 64, tx);
        let teed = ResponseBody::new(client(), Some(Box::new(tee))).try_into_inner();
        let teed = teed.expect_err("a teed response stays wrapped");
        assert_eq!(teed.collect().await.unwrap().to_bytes(), "data");
        assert_eq!(rx.try_recv().unwrap().body, "data");
        let (tx, mut rx) = oneshot::channel();
        let tee = ResponseTee::new(StatusCode::OK, HeaderMap::new(), Duration::ZERO, 64, tx);
        let empty = http_body_util::Empty::<Bytes>::new();
        let done = ResponseBody::new(empty, Some(Box::new(tee))).try_into_inner();
        assert!(done.is_ok(), "an empty body's copy is complete at once");
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn capture_keeps_a_single_chunk_without_copying() {
        let data = Bytes::from_static(b"hello");
        let mut capture = Capture::new(10);
        capture.push(&data);
        let out = capture.into_bytes();
        assert_eq!(out, data);
        assert_eq!(out.as_ptr(), data.as_ptr());
    }

    #[test]
    fn capture_truncates_at_the_limit() {
        let mut capture = Capture::new(5);
        capture.push(&Bytes::from_static(b"abc"));
        capture.push(&Bytes::from_static(b"defg"));
        assert!(capture.truncated);
        capture.push(&Bytes::from_static(b"more"));
        assert_eq!(capture.into_bytes(), "abcde");

        let mut exact = Capture::new(3);
        exact.push(&Bytes::from_static(b"abc"));
        assert!(!exact.truncated);
        exact.push(&Bytes::from_static(b""));
        assert!(!exact.truncated);
        exact.push(&Bytes::from_static(b"d"));
        assert!(exact.truncated);
        assert_eq!(exact.into_bytes(), "abc");
    }
}
