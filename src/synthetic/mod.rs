//! Rehearsing a candidate with synthetic traffic shaped like production,
//! before live traffic reaches it.
//!
//! 1. **Capture**: a [`CaptureLayer`] on the live service keeps a bounded
//!    sample of request shapes ([`RequestShape`]: route, query and body
//!    sizes, header names, user agent family, and a masked copy of the
//!    request), weighted toward recent traffic by an exponential decay, and
//!    the decayed request rate ([`Captured::rate`]).
//! 2. **Cluster**: [`cluster`] groups the shapes with k-means++ (seeded;
//!    the number of groups by silhouette unless [`ClusterConfig`] sets it)
//!    into [`SyntheticProfile`]s, each with its share of the traffic and a
//!    representative request.
//! 3. **Rehearse**: a [`Generator`] replays the profiles at the baseline
//!    rate × a stress multiplier against the stable version and the
//!    candidate, compares the answers and records them in a
//!    [`Health`](crate::health::Health) under each profile's name; any
//!    policy judges the rehearsal, and [`judge_profiles`] each profile.
//! 4. **Check**: [`Transactions`] run scripted checks of critical paths
//!    against the candidate on an interval, counted in its health.
//! 5. **Size**: [`Generator::capacity`] raises the stress until the
//!    candidate's latency or errors cross a threshold: the [`CapacityHint`].
//!
//! Together with [`chaos`](crate::chaos) — a candidate with injected
//! faults — a rehearsal shows whether the policies catch what they should.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use tower_shadow::policy::{Decision, RollbackPolicy, Standard};
//! use tower_shadow::synthetic::{CaptureLayer, ClusterConfig, Generator};
//!
//! // 1. Capture live traffic.
//! let capture = CaptureLayer::new();
//! let captured = capture.captured();
//! let live = Router::new().route("/items/{id}", get(|| async { "item" })).layer(capture);
//! for i in 0..20 {
//!     let request = http::Request::get(format!("/items/{i}")).body(axum::body::Body::empty()).unwrap();
//!     live.clone().oneshot(request).await.unwrap();
//! }
//!
//! // 2. Cluster it.
//! let profiles = captured.cluster(&ClusterConfig::default()).profiles;
//! assert_eq!(profiles[0].name, "GET /items/{id}");
//!
//! // 3. Rehearse a candidate that answers differently.
//! let stable = Router::new().route("/items/{id}", get(|| async { "item" }));
//! let candidate = Router::new().route("/items/{id}", get(|| async { "broken" }));
//! let generator = Generator::builder(profiles).rate(1000.0).requests(200).build().unwrap();
//! generator.run(stable, candidate).await;
//! let decision = Standard::standard().decide(&generator.health().snapshot(), 0.0);
//! assert!(matches!(decision, Decision::Rollback { .. }));
//! # }
//! ```

mod capacity;
mod capture;
mod cluster;
mod generator;
mod profile;
mod shape;
mod transaction;

pub use self::capacity::{CapacityConfig, CapacityHint, StressStep};
pub use self::capture::{
    Capture, CaptureBody, CaptureBuilder, CaptureConfig, CaptureLayer, Captured,
};
pub use self::cluster::{cluster, ClusterConfig, Clustering};
pub use self::generator::{
    Generator, GeneratorBuilder, GeneratorConfig, ProfileReport, RunReport, Target,
};
pub use self::profile::{judge_profiles, SyntheticProfile};
pub use self::shape::RequestShape;
pub use self::transaction::{
    Transaction, TransactionOutcome, Transactions, TransactionsConfig, TransactionsHandle,
};
