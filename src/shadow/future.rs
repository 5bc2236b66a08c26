use super::body::{bodyless, PrimarySide, ResponseBody, ResponseTee};
use crate::exchange::{ErrorKind, Exchange, ExchangeError};
use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::time::Instant;

pin_project! {
    /// Response future of [`Shadow`](super::Shadow): the primary's future,
    /// whose response body is wrapped in a [`ResponseBody`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        side: Option<Box<Side>>,
    }
}

/// What the primary's side of a sampled request needs to report itself.
#[derive(Debug)]
pub(crate) struct Side {
    pub(crate) method: http::Method,
    pub(crate) started: Instant,
    pub(crate) limit: usize,
    pub(crate) to_shadow: PrimarySide,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, side: Option<Box<Side>>) -> Self {
        Self { inner, side }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("sampled", &self.side.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    E: fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(side) = this.side.take() else {
            return Poll::Ready(result.map(|res| res.map(|body| ResponseBody::new(body, None))));
        };
        let latency = side.started.elapsed();
        Poll::Ready(match result {
            Ok(res) => {
                let tee = ResponseTee::new(
                    res.status(),
                    res.headers().clone(),
                    latency,
                    side.limit,
                    side.to_shadow,
                );
                if bodyless(&side.method, res.status()) {
                    tee.finish(None);
                    return Poll::Ready(Ok(res.map(|body| ResponseBody::new(body, None))));
                }
                Ok(res.map(|body| ResponseBody::new(body, Some(Box::new(tee)))))
            }
            Err(e) => {
                let error = ExchangeError::new(ErrorKind::Service, &e);
                let _ = side
                    .to_shadow
                    .send(Exchange::failed(error).with_latency(latency));
                Err(e)
            }
        })
    }
}
