use super::future::ResponseFuture;
use super::layer::StickyKey;
use super::{Version, Weights};
use crate::sample::{thread_unit, unit_point};
use http::{Request, Response};
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::ServiceExt;
use tower_service::Service;

/// Sends each request to the stable service `S` or the canary `C`, by the
/// canary weight, and marks the response with the [`Version`] that served it.
///
/// # Readiness
///
/// `poll_ready` is always ready: which version a request goes to is only
/// known in `call`, and waiting for both would let one version's
/// backpressure hold back the other's traffic. `poll_ready` asks the
/// stable version, which takes most requests, once without waiting: when
/// it is ready, a request routed to it is called directly. Otherwise, and
/// for every canary request, `call` takes a clone of the chosen service and
/// waits for *its* readiness inside the response future, so a saturated
/// canary slows only canary requests and a saturated stable version only
/// stable ones.
pub struct WeightedRouter<S, C> {
    stable: S,
    /// What every clone shares: one reference count per clone, since
    /// servers such as `axum::serve` clone the service for each request.
    shared: Arc<Shared<C>>,
    /// Whether `stable` has been readied by `poll_ready` and not called since.
    stable_ready: bool,
}

/// The canary, the weights and the sticky key, shared by every clone of a
/// router. The canary is cloned out of it only for the requests it takes.
#[derive(Clone)]
struct Shared<C> {
    canary: C,
    weights: Weights,
    sticky: Option<StickyKey>,
}

impl<S, C> WeightedRouter<S, C> {
    /// Routes `weights.canary()` of requests to `canary`, the rest to `stable`.
    pub fn new(stable: S, canary: C, weights: Weights) -> Self {
        Self::from_parts(stable, canary, weights, None)
    }

    pub(crate) fn from_parts(
        stable: S,
        canary: C,
        weights: Weights,
        sticky: Option<StickyKey>,
    ) -> Self {
        Self {
            stable,
            shared: Arc::new(Shared {
                canary,
                weights,
                sticky,
            }),
            stable_ready: false,
        }
    }

    /// A layer that wraps the stable service.
    pub fn layer(canary: C, weights: Weights) -> super::WeightedRouterLayer<C> {
        super::WeightedRouterLayer::new(canary, weights)
    }

    /// The weights this router reads.
    pub fn weights(&self) -> &Weights {
        &self.shared.weights
    }

    /// The stable service.
    pub fn get_ref(&self) -> &S {
        &self.stable
    }

    /// The stable service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stable
    }

    /// The canary service.
    pub fn canary_ref(&self) -> &C {
        &self.shared.canary
    }

    /// Consumes `self`, returning the stable service.
    pub fn into_inner(self) -> S {
        self.stable
    }

    /// Routes by `key` instead of at random (see
    /// [`WeightedRouterLayer::sticky`](super::WeightedRouterLayer::sticky)).
    pub(crate) fn with_sticky(mut self, key: Option<StickyKey>) -> Self
    where
        C: Clone,
    {
        Arc::make_mut(&mut self.shared).sticky = key;
        self
    }

    /// Which version a request goes to, at the current weight. `head` is
    /// needed only for a sticky key: without one, the request is not split.
    pub(crate) fn choose(&self, head: Option<&http::request::Parts>) -> Version {
        let weight = self.shared.weights.canary();
        if weight <= 0.0 {
            return Version::Stable;
        }
        if weight >= 1.0 {
            return Version::Canary;
        }
        let key = self
            .shared
            .sticky
            .as_ref()
            .zip(head)
            .and_then(|(key, head)| key(head));
        let point = match key {
            Some(key) => unit_point(STICKY_SEED, &key),
            None => thread_unit(),
        };
        if point < weight {
            Version::Canary
        } else {
            Version::Stable
        }
    }
}

/// The seed of the sticky hash, fixed so every replica places a key alike.
const STICKY_SEED: u64 = 0x7368_6164_6f77;

impl<S: Clone, C> Clone for WeightedRouter<S, C> {
    fn clone(&self) -> Self {
        Self {
            stable: self.stable.clone(),
            shared: Arc::clone(&self.shared),
            // A clone has its own readiness to drive.
            stable_ready: false,
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for WeightedRouter<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedRouter")
            .field("stable", &self.stable)
            .field("canary", &self.shared.canary)
            .field("weights", &self.shared.weights)
            .field("sticky", &self.shared.sticky.is_some())
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for WeightedRouter<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: Service<Request<ReqBody>, Response = Response<ResBody>, Error = S::Error> + Clone,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, C, Request<ReqBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Never waits: a stable version that is not ready (or fails) is
        // driven on a clone in the response future instead, like the canary.
        if !self.stable_ready {
            self.stable_ready = matches!(self.stable.poll_ready(cx), Poll::Ready(Ok(())));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (version, req) = if self.shared.sticky.is_some() {
            let (head, body) = req.into_parts();
            (self.choose(Some(&head)), Request::from_parts(head, body))
        } else {
            (self.choose(None), req)
        };
        match version {
            Version::Stable if std::mem::take(&mut self.stable_ready) => {
                ResponseFuture::stable(self.stable.call(req))
            }
            Version::Stable => ResponseFuture::stable_later(self.stable.clone().oneshot(req)),
            Version::Canary => ResponseFuture::canary(self.shared.canary.clone().oneshot(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::WeightedRouterLayer;
    use http::HeaderName;
    use std::convert::Infallible;
    use tower::{service_fn, Layer};

    fn head(user: &str) -> http::request::Parts {
        Request::get("/")
            .header("x-user-id", user)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn router(weights: &Weights) -> WeightedRouter<(), ()> {
        WeightedRouterLayer::new((), weights.clone())
            .sticky_header(HeaderName::from_static("x-user-id"))
            .layer(())
    }

    #[test]
    fn sticky_keys_match_the_weight_and_never_move_back() {
        let weights = Weights::new(0.0);
        let router = router(&weights);
        let users: Vec<_> = (0..10_000).map(|i| head(&format!("user-{i}"))).collect();
        let mut on_canary = vec![false; users.len()];
        for step in 1..=10 {
            let weight = f64::from(step) / 10.0;
            weights.set_canary(weight);
            let mut count = 0;
            for (user, was) in users.iter().zip(on_canary.iter_mut()) {
                let now = router.choose(Some(user)) == Version::Canary;
                assert!(
                    now || !*was,
                    "a key moved back to stable at weight {weight}"
                );
                *was = now;
                count += usize::from(now);
            }
            // Binomial: n = 10_000, sd ≤ 50; allow 5 sd.
            let expected = weight * users.len() as f64;
            assert!(
                (count as f64 - expected).abs() <= 250.0,
                "{count} at {weight}"
            );
        }
    }

    #[tokio::test]
    async fn a_canary_that_is_never_ready_does_not_hold_back_stable_traffic() {
        let weights = Weights::new(0.0);
        let stable =
            service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new("stable")) });
        let (canary, mut handle) = tower_test::mock::pair::<Request<()>, Response<&'static str>>();
        handle.allow(0); // never ready
        let canary = tower::util::MapErr::new(canary, |_| -> Infallible { unreachable!() });
        let mut router = WeightedRouter::new(stable, canary, weights.clone());
        for _ in 0..3 {
            let res = router
                .ready()
                .await
                .unwrap()
                .call(Request::new(()))
                .await
                .unwrap();
            assert_eq!(res.extensions().get::<Version>(), Some(&Version::Stable));
            assert_eq!(*res.body(), "stable");
        }
        weights.set_canary(1.0);
        let pending = router.ready().await.unwrap().call(Request::new(()));
        weights.set_canary(0.0);
        // The canary request waits on the canary; stable requests still flow.
        let res = router
            .ready()
            .await
            .unwrap()
            .call(Request::new(()))
            .await
            .unwrap();
        assert_eq!(*res.body(), "stable");
        drop(pending);
    }

    #[tokio::test]
    async fn a_stable_version_that_is_not_ready_does_not_hold_back_canary_traffic() {
        let weights = Weights::new(0.0);
        let (stable, mut handle) = tower_test::mock::pair::<Request<()>, Response<&'static str>>();
        handle.allow(0); // not ready
        let stable = tower::util::MapErr::new(stable, |_| -> Infallible { unreachable!() });
        let canary =
            service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new("canary")) });
        let mut router = WeightedRouter::new(stable, canary, weights.clone());
        let pending = router.ready().await.unwrap().call(Request::new(()));
        weights.set_canary(1.0);
        let res = router
            .ready()
            .await
            .unwrap()
            .call(Request::new(()))
            .await
            .unwrap();
        assert_eq!(res.extensions().get::<Version>(), Some(&Version::Canary));
        // Once the stable version is ready again, its waiting request is served.
        handle.allow(1);
        let stable_answer = tokio::spawn(pending);
        let (_, send) = handle
            .next_request()
            .await
            .expect("the stable request arrives");
        send.send_response(Response::new("stable"));
        let res = stable_answer.await.unwrap().unwrap();
        assert_eq!(res.extensions().get::<Version>(), Some(&Version::Stable));
        assert_eq!(*res.body(), "stable");
    }
}
