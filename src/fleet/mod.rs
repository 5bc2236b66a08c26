//! One rollout decision for many replicas.
//!
//! A service runs as many replicas, each with its own layers, its own
//! [`Health`](crate::health::Health) and its own
//! [`Weights`](crate::router::Weights). A fleet takes one decision and
//! every replica follows it:
//!
//! - each replica publishes its health window as a
//!   [`HealthAggregate`](crate::health::HealthAggregate) to a
//!   [`HealthStore`], where it lapses unless renewed;
//! - one replica at a time holds the [`Lease`] and is the controller: it
//!   merges the fleet's aggregates into one snapshot, asks the rollout's
//!   policy, and saves the stage and weight to the [`WeightStore`];
//! - every replica polls the store and moves its local weights and stage to
//!   the fleet's, within one poll interval.
//!
//! A [`Replica`] does all of this on a spawned task, off the request path.
//! When the store is unreachable, replicas keep serving on the last weights
//! they saw (fail static): no request fails and no weight flips for want of
//! the store; the controller makes no decision without the fleet's health.
//! When the store returns they resume, and if it lost its data the
//! controller writes the last state back.
//!
//! Stores: [`MemoryStore`] in process (the default, and for tests), and
//! `RedisStore` with the `redis` feature. A fleet judged from Prometheus
//! alone uses `PrometheusPolicy` (feature `prometheus`) instead. The
//! topologies and their failure modes are in `docs/fleet.md`.
//!
//! # Example
//!
//! Three replicas in one process share a [`MemoryStore`]; across
//! processes they would share a `RedisStore`.
//!
//! ```
//! use std::time::Duration;
//! use tower_shadow::fleet::{MemoryStore, Replica};
//! use tower_shadow::health::{Health, HealthSnapshot};
//! use tower_shadow::policy::Decision;
//! use tower_shadow::rollout::{Rollout, Stage};
//! use tower_shadow::router::Weights;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = MemoryStore::new();
//! let mut replicas = Vec::new();
//! for id in ["a", "b", "c"] {
//!     let weights = Weights::new(0.0);
//!     let rollout = Rollout::builder(Health::new(), weights.clone())
//!         .policy(|_: &HealthSnapshot, _: f64| Decision::Shift {
//!             canary_weight: 0.1,
//!             reason: "fleet looks healthy".into(),
//!         })
//!         .interval(Duration::from_millis(20))
//!         .build();
//!     let replica = Replica::builder(rollout, store.clone())
//!         .id(id)
//!         .poll(Duration::from_millis(10))
//!         .spawn();
//!     replicas.push((replica, weights));
//! }
//! // Whichever replica leads decides; every replica follows.
//! for (replica, weights) in &replicas {
//!     replica.watch().wait_for(|s| s.revision >= 1).await.unwrap();
//!     assert_eq!(weights.canary(), 0.1);
//! }
//! let controllers = replicas.iter().filter(|(r, _)| r.status().controller).count();
//! assert_eq!(controllers, 1);
//! # }
//! ```

mod config;
mod lease;
mod memory;
#[cfg(feature = "prometheus")]
mod prometheus;
#[cfg(feature = "redis")]
mod redis;
mod replica;
mod store;

pub use self::config::ReplicaConfig;
pub use self::lease::Lease;
pub use self::memory::MemoryStore;
#[cfg(feature = "prometheus")]
pub use self::prometheus::{PrometheusError, PrometheusPolicy, PrometheusSource};
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
pub use self::replica::{Builder, FleetStore, Replica, ReplicaStatus};
pub use self::store::{FleetState, HealthStore, StoreError, StoreFuture, WeightStore};
