//! Shadow, compare, canary and roll back a new version of a service, in
//! process, as tower middleware.
//!
//! `tower-shadow` lets a service try a new version — new code or new
//! configuration — on live traffic before any user depends on it:
//!
//! - [`shadow`]: a sampled copy of each request goes to the candidate in the
//!   background; the client only ever sees the primary's answer, unchanged
//!   and undelayed.
//! - [`compare`]: the two answers are compared.
//! - [`health`]: the verdicts add up in a shared [`Health`].
//! - [`sample`]: which requests are shadowed.
//! - [`record`]: every compared pair kept, in memory or in JSON-lines files, and replayed.
//! - [`mask`]: secrets and personal data kept out of the copy and the records.
//! - [`router`]: live traffic split between stable and canary by [`Weights`].
//! - [`policy`]: what to do about the health: hold, shift, promote, roll back.
//! - [`rollout`]: the controller that applies those decisions, stage by stage.
//! - [`config`]: the whole stack from one JSON document, every field checked.
//! - [`fleet`]: one rollout decision for many replicas, through a shared store (Redis) or Prometheus.
//! - [`synthetic`]: production-shaped synthetic traffic to rehearse a candidate, and capacity hints.
//! - [`chaos`]: injected latency, errors and aborts, to check the policies catch them.
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_shadow::shadow::ShadowLayer;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let stable = Router::new().route("/", get(|| async { "v1" }));
//! let candidate = Router::new().route("/", get(|| async { "v2" }));
//!
//! let layer = ShadowLayer::new(candidate);
//! let health = layer.health();
//! let app = stable.layer(layer);
//!
//! // Serve `app` as usual (axum::serve); here, one request in-process.
//! use tower::ServiceExt;
//! let response = app
//!     .oneshot(http::Request::get("/").body(axum::body::Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
//! assert_eq!(body, "v1"); // the user gets the stable answer
//!
//! health.idle().await; // the shadow has answered and been compared
//! let snapshot = health.snapshot();
//! assert_eq!((snapshot.pairs, snapshot.different), (1, 1));
//! # }
//! ```
//!
//! # Feature flags
//!
//! - `admin`: the `admin` module, the control plane: a JSON admin API, a promotion gate and a dashboard, as an axum router (implies `axum`).
//! - `axum`: endpoint keys from axum's `MatchedPath` (`GET /users/{id}`), see
//!   [`RouteTemplate`](health::RouteTemplate).
//! - `grpc`: `compare::GrpcComparator`, gRPC answers compared message by
//!   message, field by field by name from protobuf descriptors.
//! - `redis`: `fleet::RedisStore`, a fleet's shared state on Redis.
//! - `prometheus`: `fleet::PrometheusSource` and `fleet::PrometheusPolicy`, judging a fleet from the Prometheus HTTP API.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

#[cfg(feature = "admin")]
pub mod admin;
pub mod chaos;
pub mod compare;
pub mod config;
pub mod exchange;
pub mod fleet;
pub mod health;
pub mod mask;
pub mod policy;
pub mod record;
pub mod rollout;
pub mod router;
pub mod sample;
pub mod shadow;
pub mod synthetic;

/// The boxed error type used where services' errors are erased.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub use crate::compare::{Comparator, Comparison, DiffKind, Difference};
pub use crate::exchange::Exchange;
pub use crate::health::{Health, HealthSnapshot};
pub use crate::policy::{Decision, RollbackPolicy};
pub use crate::rollout::{Rollout, Stage};
pub use crate::router::{WeightedRouter, WeightedRouterLayer, Weights};
pub use crate::sample::Sampler;
pub use crate::shadow::{Shadow, ShadowLayer};
