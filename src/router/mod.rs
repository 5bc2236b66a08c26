//! Split live traffic between the stable version and a canary, by a weight
//! the rollout moves.
//!
//! [`WeightedRouterLayer`] wraps the stable service; each request goes to
//! the canary with probability [`Weights::canary`], read lock-free on every
//! request, so a rollout (or an operator) shifting the weight takes effect
//! at once. With a sticky key a user stays on one version, and raising the
//! weight only moves users from stable to canary. Every response carries
//! the [`Version`] that served it as an extension.
//!
//! A [`Balancer`] sets weights from measured performance instead: each
//! backend's share follows its smoothed score, with a floor so none starves.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, routing::get, Router};
//! use tower::ServiceExt;
//! use tower_shadow::router::{Version, WeightedRouterLayer, Weights};
//!
//! let weights = Weights::new(0.0);
//! let canary = Router::new().route("/", get(|| async { "v2" }));
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "v1" }))
//!     .layer(WeightedRouterLayer::new(canary, weights.clone()));
//!
//! let request = || http::Request::get("/").body(Body::empty()).unwrap();
//! let res = app.clone().oneshot(request()).await.unwrap();
//! assert_eq!(res.extensions().get::<Version>(), Some(&Version::Stable));
//!
//! weights.set_canary(1.0);
//! let res = app.oneshot(request()).await.unwrap();
//! assert_eq!(res.extensions().get::<Version>(), Some(&Version::Canary));
//! # }
//! ```

mod balance;
mod config;
mod future;
mod layer;
mod service;
mod weights;

pub use self::balance::{BalanceBuilder, BalanceConfig, Balancer};
pub use self::config::RouterConfig;
pub use self::future::ResponseFuture;
pub use self::layer::WeightedRouterLayer;
pub use self::service::WeightedRouter;
pub(crate) use self::weights::clamp_weight;
pub use self::weights::Weights;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which version served a request; set as a response extension by
/// [`WeightedRouter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    /// The stable version.
    Stable,
    /// The canary (candidate) version.
    Canary,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stable => "stable",
            Self::Canary => "canary",
        })
    }
}
