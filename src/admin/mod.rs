//! The control plane: a JSON admin API and a dashboard page, as an axum
//! [`Router`] you mount where you like (feature `admin`).
//!
//! [`Admin`] holds the [`Rollout`]s it controls, each under a name (a
//! *deployment*). Its [`router`](Admin::router) answers:
//!
//! | method and path | what |
//! |---|---|
//! | `GET /deployments` | every deployment: stage, weight, paused, score, pairs |
//! | `GET /deployments/{name}` | one deployment: stage, weight, versions, health summary, last event |
//! | `POST /deployments/{name}/shadow` | start shadowing again after a rollback ([`Rollout::retry`]) |
//! | `POST /deployments/{name}/testing` | `{"weight": 0.1}`: live traffic on the canary ([`Rollout::start_testing`]) |
//! | `POST /deployments/{name}/promote` | all traffic on the candidate ([`Rollout::promote`]) |
//! | `POST /deployments/{name}/pause` | stop consulting the policy ([`Rollout::pause`]) |
//! | `POST /deployments/{name}/resume` | consult it again ([`Rollout::resume`]) |
//! | `POST /deployments/{name}/rollback` | all traffic to stable ([`Rollout::abort`]); `{"version": "v1"}` to a named version ([`Rollout::rollback_to`]) |
//! | `GET /deployments/{name}/metrics` | the whole [`HealthSnapshot`](crate::health::HealthSnapshot) |
//! | `GET /deployments/{name}/differences` | the most frequent differing paths, each with a sample, and the noise |
//! | `GET /deployments/{name}/events` | the audit log, with each decision's evidence |
//! | `GET /deployments/{name}/history` | stage, weight, score, error rates and p99 over time |
//! | `GET` or `POST /deployments/{name}/gate` | 200 when the candidate is healthy, 412 otherwise: for Flagger webhooks and Argo Rollouts web metrics |
//! | `GET /dashboard` (or the prefix itself: `GET /admin`) | the dashboard page |
//!
//! # Security
//!
//! The `POST` endpoints (except the gate, which only reads) change what
//! users are served, so they require `Authorization: Bearer <token>` with
//! the [`token`](Admin::token) given here, compared in constant time: 401
//! without the header, 403 with a wrong token. Without a token the API is
//! read-only: every change is refused. The read endpoints are open; mount
//! the router on an internal port, or behind your own authentication layer,
//! if the figures are sensitive (a difference's sample holds values from
//! responses).
//!
//! # Errors
//!
//! Every error is JSON: `{"error": "what went wrong"}`, plus `"field"`
//! naming the offending field when the input was at fault (400). An unknown
//! deployment is 404, an operation the stage machine refuses (promoting a
//! rolled-back candidate, say) is 409 with the current `stage`.
//!
//! # Health over time
//!
//! Each deployment keeps a bounded ring of samples (stage, weight, score,
//! error rates and p99 on each side): one is taken when the deployment is
//! read or changed through the API, at most once per
//! [`history`](Admin::history) period (default 2 s, 360 samples). The
//! dashboard reads every 2 s, so while it is open the history fills. When
//! it is full it is downsampled (every other sample goes, the period
//! doubles), so it always spans the whole rollout in bounded memory.
//!
//! `docs/admin.md` shows each endpoint's answer and sample Flagger and Argo
//! Rollouts configurations for the gate.
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_shadow::admin::Admin;
//! use tower_shadow::{health::Health, router::Weights, rollout::Rollout};
//!
//! let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
//! let stable: Router = Router::new().route("/", get(|| async { "v1" }));
//! let candidate: Router = Router::new().route("/", get(|| async { "v2" }));
//!
//! let admin = Admin::new()
//!     .token(std::env::var("ADMIN_TOKEN").unwrap_or_default())
//!     .deployment("checkout", rollout.clone());
//! let app: Router = Router::new()
//!     .nest("/admin", admin.router())
//!     .fallback_service(rollout.service(stable, candidate));
//! // axum::serve(listener, app).await; the dashboard is at /admin/dashboard
//! # let _ = app;
//! ```
//!
//! Customised: a stricter gate and a longer history.
//!
//! ```
//! use std::time::Duration;
//! use tower_shadow::admin::{Admin, GateConfig};
//! use tower_shadow::{health::Health, router::Weights, rollout::Rollout};
//!
//! let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
//! let gate: GateConfig = serde_json::from_str(r#"{"min_score": 99, "min_pairs": 500}"#)?;
//! let router = Admin::new()
//!     .token("s3cret")
//!     .gate(gate)
//!     .history(1800, Duration::from_secs(1))
//!     .deployment("checkout", rollout)
//!     .router();
//! # let _: axum::Router = router;
//! # Ok::<(), serde_json::Error>(())
//! ```

mod auth;
mod body;
mod config;
mod dashboard;
mod error;
mod gate;
mod history;
mod routes;

pub use self::config::AdminConfig;
pub use self::gate::GateConfig;

use self::history::History;
use crate::rollout::Rollout;
use axum::Router;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Builds the admin [`Router`]: the deployments it controls, the token for
/// changes, the gate's thresholds and the history's size.
///
/// ```
/// use tower_shadow::admin::Admin;
/// use tower_shadow::{health::Health, router::Weights, rollout::Rollout};
///
/// let checkout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
/// let search = Rollout::builder(Health::new(), Weights::new(0.0)).build();
/// let admin = Admin::new()
///     .token("s3cret")
///     .deployment("checkout", checkout)
///     .deployment("search", search);
/// let app = axum::Router::new().nest("/admin", admin.router());
/// # let _: axum::Router = app;
/// ```
#[derive(Clone, Default)]
pub struct Admin {
    token: Option<Arc<[u8]>>,
    deployments: BTreeMap<String, Rollout>,
    gate: GateConfig,
    history: Option<(usize, Duration)>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("deployments", &self.deployments.keys().collect::<Vec<_>>())
            .field("gate", &self.gate)
            .field("history", &self.history)
            .finish()
    }
}

/// The default history: 360 samples, at most one per 2 s (12 minutes).
const HISTORY: (usize, Duration) = (360, Duration::from_secs(2));

impl Admin {
    /// An admin with no deployment, no token (read-only), the default
    /// [`GateConfig`] and history.
    ///
    /// ```
    /// use tower_shadow::admin::Admin;
    ///
    /// let router: axum::Router = Admin::new().router();
    /// # let _ = router;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The bearer token the `POST` endpoints require. An empty token is no
    /// token: the API stays read-only.
    ///
    /// ```
    /// use tower_shadow::admin::Admin;
    ///
    /// let admin = Admin::new().token("s3cret");
    /// assert!(!format!("{admin:?}").contains("s3cret"));
    /// ```
    pub fn token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.token = (!token.is_empty()).then(|| Arc::from(token.into_bytes()));
        self
    }

    /// Adds a deployment: `rollout` (a clone of the handle that serves
    /// traffic) under `name`, the `{name}` of the paths. A second
    /// deployment with the same name replaces the first.
    ///
    /// ```
    /// use tower_shadow::admin::Admin;
    /// use tower_shadow::{health::Health, router::Weights, rollout::Rollout};
    ///
    /// let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
    /// let admin = Admin::new().deployment("checkout", rollout.clone());
    /// # let _ = admin;
    /// ```
    pub fn deployment(mut self, name: impl Into<String>, rollout: Rollout) -> Self {
        self.deployments.insert(name.into(), rollout);
        self
    }

    /// When the gate answers 200 (see [`GateConfig`]); a request may
    /// override each threshold in its query string.
    ///
    /// ```
    /// use tower_shadow::admin::{Admin, GateConfig};
    ///
    /// let admin = Admin::new().gate(GateConfig { min_score: 99.0, ..GateConfig::default() });
    /// # let _ = admin;
    /// ```
    pub fn gate(mut self, gate: GateConfig) -> Self {
        self.gate = gate;
        self
    }

    /// Keeps up to `capacity` history samples per deployment (at least 1),
    /// taking at most one per `every` (default: 360 samples, 2 s), and
    /// downsampling when full.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::admin::Admin;
    ///
    /// // An hour at one sample every 5 s.
    /// let admin = Admin::new().history(720, Duration::from_secs(5));
    /// # let _ = admin;
    /// ```
    pub fn history(mut self, capacity: usize, every: Duration) -> Self {
        self.history = Some((capacity.max(1), every));
        self
    }

    /// The router: mount it with [`Router::nest`], e.g. under `/admin`.
    ///
    /// ```
    /// use tower_shadow::admin::Admin;
    ///
    /// let app: axum::Router = axum::Router::new().nest("/admin", Admin::new().router());
    /// # let _ = app;
    /// ```
    pub fn router(self) -> Router {
        let (capacity, every) = self.history.unwrap_or(HISTORY);
        let deployments = self
            .deployments
            .into_iter()
            .map(|(name, rollout)| {
                let history = Mutex::new(History::new(capacity, every));
                (name, Arc::new(Deployment { rollout, history }))
            })
            .collect();
        routes::router(Arc::new(Shared {
            token: self.token,
            deployments,
            gate: self.gate,
        }))
    }
}

/// What every handler shares.
struct Shared {
    token: Option<Arc<[u8]>>,
    deployments: BTreeMap<String, Arc<Deployment>>,
    gate: GateConfig,
}

/// One controlled rollout and its history.
struct Deployment {
    rollout: Rollout,
    history: Mutex<History>,
}
