//! The rollout controller: from shadow to live, or back, on its own.
//!
//! A [`Rollout`] reads a [`Health`](crate::health::Health), asks a
//! [`RollbackPolicy`](crate::policy::RollbackPolicy) on each tick, and
//! applies the [`Decision`](crate::policy::Decision): it moves the canary
//! [`Weights`](crate::router::Weights) the router reads and the [`Stage`]
//! machine, records every change with its evidence in an audit log of
//! [`Event`]s, and sends alerts to [`AlertSink`]s.
//!
//! - [`Rollout::step`] runs one tick, deterministically: tests drive a
//!   rollout with it alone. [`Rollout::spawn`] ticks on an interval until
//!   the handle is stopped.
//! - Operators act with [`promote`](Rollout::promote),
//!   [`pause`](Rollout::pause), [`resume`](Rollout::resume),
//!   [`abort`](Rollout::abort), [`retry`](Rollout::retry) and
//!   [`rollback_to`](Rollout::rollback_to) a named version; a move the stage
//!   machine does not allow is refused with a [`RolloutError`].
//! - After a rollback the stable version is watched for a validation period
//!   before the rollback counts as validated.
//!
//! ```
//! use tower_shadow::health::{Health, HealthSnapshot};
//! use tower_shadow::policy::Decision;
//! use tower_shadow::router::Weights;
//! use tower_shadow::rollout::{Rollout, Stage};
//!
//! let weights = Weights::new(0.0);
//! // A policy that walks the canary up 10 points per tick while the score is high.
//! let policy = |s: &HealthSnapshot, w: f64| {
//!     if s.score < 90.0 {
//!         Decision::Rollback { reason: format!("score {:.0}", s.score) }
//!     } else if w >= 1.0 {
//!         Decision::Promote
//!     } else {
//!         Decision::Shift { canary_weight: w + 0.1, reason: "healthy".into() }
//!     }
//! };
//! let rollout = Rollout::builder(Health::new(), weights.clone()).policy(policy).build();
//! assert_eq!(rollout.stage(), Stage::Shadow);
//!
//! rollout.step(); // healthy: 10 % of live traffic
//! assert_eq!((rollout.stage(), weights.canary()), (Stage::Testing, 0.1));
//!
//! rollout.abort().unwrap();
//! assert_eq!((rollout.stage(), weights.canary()), (Stage::RolledBack, 0.0));
//! assert!(rollout.promote().is_err()); // rolled back: retry first
//! rollout.retry().unwrap();
//! assert_eq!(rollout.stage(), Stage::Shadow);
//! ```

mod alert;
mod config;
mod controller;
mod event;
mod stage;

pub use self::alert::{AlertSink, TracingAlerts};
pub use self::config::{AdaptiveShadowing, RolloutConfig};
pub(crate) use self::controller::Applied;
pub use self::controller::{Builder, Rollout, RolloutError, RolloutHandle, VersionInfo};
pub(crate) use self::event::now_ms;
pub use self::event::{Actor, Event};
pub use self::stage::Stage;
