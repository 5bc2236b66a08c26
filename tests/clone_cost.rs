//! Servers such as `axum::serve` clone the whole service for every request.
//! A clone of the stack must not clone the services it only sometimes calls:
//! the shadow is cloned for sampled requests, the canary for the requests
//! routed to it, and nothing else is copied per clone.

use http::{Request, Response};
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Service, ServiceExt};
use tower_shadow::health::Health;
use tower_shadow::rollout::Rollout;
use tower_shadow::router::Weights;
use tower_shadow::sample::Random;
use tower_shadow::shadow::{RequestBody, ShadowLayer};

/// A service that counts how often it is cloned.
struct Counted {
    clones: Arc<AtomicUsize>,
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::Relaxed);
        Self {
            clones: Arc::clone(&self.clones),
        }
    }
}

impl<B> Service<Request<RequestBody<B>>> for Counted {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<RequestBody<B>>) -> Self::Future {
        ready(Ok(Response::new("answer".to_owned())))
    }
}

fn counted() -> (Counted, Arc<AtomicUsize>) {
    let clones = Arc::new(AtomicUsize::new(0));
    let service = Counted {
        clones: Arc::clone(&clones),
    };
    (service, clones)
}

#[tokio::test]
async fn a_clone_per_request_clones_only_the_version_that_serves_it() {
    let (stable, stable_clones) = counted();
    let (candidate, candidate_clones) = counted();
    let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
    // Nothing sampled: the shadow is never needed.
    let stack = rollout.service_with(
        stable,
        ShadowLayer::builder(candidate).sampler(Random::percent(0.0)),
    );
    let (stable_before, candidate_before) = (
        stable_clones.load(Ordering::Relaxed),
        candidate_clones.load(Ordering::Relaxed),
    );

    for _ in 0..100 {
        let res = stack
            .clone()
            .oneshot(Request::new(String::new()))
            .await
            .unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "answer");
    }
    assert_eq!(
        stable_clones.load(Ordering::Relaxed) - stable_before,
        100,
        "one stable clone per request, as the server makes one stack clone"
    );
    assert_eq!(
        candidate_clones.load(Ordering::Relaxed),
        candidate_before,
        "the candidate is neither routed to nor shadowed: never cloned"
    );

    rollout.weights().set_canary(1.0);
    for _ in 0..10 {
        stack
            .clone()
            .oneshot(Request::new(String::new()))
            .await
            .unwrap();
    }
    assert_eq!(
        candidate_clones.load(Ordering::Relaxed) - candidate_before,
        10,
        "one candidate clone per canary request"
    );
}
