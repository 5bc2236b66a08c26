//! Send a copy of live requests to a new version, without the user ever
//! depending on it.
//!
//! [`ShadowLayer`] wraps the *primary* service, which keeps serving every
//! client. For each request the [`Sampler`](crate::sample::Sampler) picks,
//! a copy goes to the *shadow* service on a spawned task, and the two
//! answers meet in a [`Comparator`](crate::compare::Comparator) whose
//! verdicts add up in a [`Health`](crate::health::Health).
//!
//! # What the primary sees
//!
//! Nothing the shadow does — an error, a 500, a panic, a hang, a slow or
//! huge answer, never becoming ready — changes what the primary receives or
//! returns, or when:
//!
//! - the primary's readiness is its own; the shadow's is driven inside the
//!   spawned task;
//! - the request body reaches the primary frame by frame as the client sent
//!   it; the copy is taken as the primary reads it (up to
//!   [`max_body_bytes`](Builder::max_body_bytes); a larger body is simply not
//!   shadowed), so the primary never waits for a buffer to fill;
//! - the response streams back frame by frame; it is copied as it passes
//!   (*teed*) up to the same limit, and the comparison runs on the shadow's
//!   task once both sides are in;
//! - at most [`max_in_flight`](Builder::max_in_flight) shadows run at once;
//!   over that a request is not shadowed, never queued;
//! - each shadow is bounded by [`shadow_timeout`](Builder::shadow_timeout),
//!   and a panic in it is contained and counted as a candidate error.
//!
//! The only change to the primary's request is the correlation id header
//! (`x-shadow-correlation-id` by default), added to sampled requests that do
//! not carry one, so both sides' logs can be joined. The copy carries the
//! same id and a marker header (`x-shadow: 1`).
//!
//! # Safe methods only, by default
//!
//! Only GET, HEAD and OPTIONS requests are shadowed unless
//! [`Builder::methods`] says otherwise: a shadowed POST runs twice, and so
//! do its side effects (a second order, a second email). Opt other methods
//! in only when the shadow's writes go somewhere harmless.
//!
//! # Example
//!
//! With the defaults: every GET, HEAD and OPTIONS request is shadowed.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_shadow::shadow::ShadowLayer;
//!
//! let candidate = Router::new().route("/hello", get(|| async { "hello from v2" }));
//! let layer = ShadowLayer::new(candidate);
//! let health = layer.health();
//! let app: Router = Router::new()
//!     .route("/hello", get(|| async { "hello from v1" }))
//!     .layer(layer);
//! # let _ = (app, health);
//! ```
//!
//! Customised: 5 % of users, a tighter body
//! limit and timeout, and a `Health` shared with other layers.
//!
//! ```
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use tower_shadow::{health::Health, sample::ByKey, shadow::ShadowLayer};
//!
//! let health = Health::new();
//! let candidate = Router::new().route("/items", get(|| async { "[]" }));
//! let layer = ShadowLayer::builder(candidate)
//!     .sampler(ByKey::user(5.0))
//!     .max_body_bytes(64 * 1024)
//!     .max_in_flight(64)
//!     .shadow_timeout(Duration::from_millis(500))
//!     .health(health.clone())
//!     .build();
//! let app: Router = Router::new().route("/items", get(|| async { "[]" })).layer(layer);
//! # let _ = app;
//! ```
//!
//! # When a pair is complete
//!
//! A pair is compared once the shadow has answered and the primary's
//! response body has been read to the end (or dropped). [`Health::idle`]
//! resolves when every pair started so far is done, which is what tests
//! should wait on.
//!
//! [`Health::idle`]: crate::health::Health::idle

mod body;
mod config;
mod fork;
mod future;
mod layer;
mod service;

pub use self::body::{RequestBody, ResponseBody};
pub use self::config::{MarkerConfig, SamplerConfig, ShadowConfig};
pub(crate) use self::fork::call;
pub use self::future::ResponseFuture;
pub use self::layer::{Builder, ShadowLayer, CORRELATION_HEADER, MARKER_HEADER};
pub use self::service::Shadow;
