use super::Version;
use http::Response;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower::util::Oneshot;
use tower_service::Service;

pin_project! {
    /// Response future of [`WeightedRouter`](super::WeightedRouter):
    /// the chosen version's call (and its readiness, unless `poll_ready`
    /// drove it).
    pub struct ResponseFuture<S, C, Req>
    where
        S: Service<Req>,
        C: Service<Req>,
    {
        #[pin]
        kind: Kind<S, C, Req>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, C, Req>
    where
        S: Service<Req>,
        C: Service<Req>,
    {
        Stable { #[pin] future: S::Future },
        StableLater { #[pin] future: Oneshot<S, Req> },
        Canary { #[pin] future: Oneshot<C, Req> },
    }
}

impl<S: Service<Req>, C: Service<Req>, Req> ResponseFuture<S, C, Req> {
    pub(crate) fn stable(future: S::Future) -> Self {
        Self {
            kind: Kind::Stable { future },
        }
    }

    pub(crate) fn stable_later(future: Oneshot<S, Req>) -> Self {
        Self {
            kind: Kind::StableLater { future },
        }
    }

    pub(crate) fn canary(future: Oneshot<C, Req>) -> Self {
        Self {
            kind: Kind::Canary { future },
        }
    }
}

impl<S: Service<Req>, C: Service<Req>, Req> fmt::Debug for ResponseFuture<S, C, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = match self.kind {
            Kind::Stable { .. } | Kind::StableLater { .. } => Version::Stable,
            Kind::Canary { .. } => Version::Canary,
        };
        f.debug_struct("ResponseFuture")
            .field("version", &version)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req, B> Future for ResponseFuture<S, C, Req>
where
    S: Service<Req, Response = Response<B>>,
    C: Service<Req, Response = Response<B>, Error = S::Error>,
{
    type Output = Result<Response<B>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (result, version) = match self.project().kind.project() {
            KindProj::Stable { future } => (ready!(future.poll(cx)), Version::Stable),
            KindProj::StableLater { future } => (ready!(future.poll(cx)), Version::Stable),
            KindProj::Canary { future } => (ready!(future.poll(cx)), Version::Canary),
        };
        Poll::Ready(result.map(|mut res| {
            res.extensions_mut().insert(version);
            res
        }))
    }
}
