use crate::health::HealthAggregate;
use crate::rollout::Stage;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The future a store's operation returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What every replica of a fleet follows: the rollout's stage and the
/// canary's share of live traffic, at a revision.
///
/// ```
/// use tower_shadow::fleet::FleetState;
/// use tower_shadow::rollout::Stage;
///
/// let state = FleetState { stage: Stage::Testing, canary_weight: 0.1, revision: 7 };
/// let json = serde_json::to_string(&state).unwrap();
/// assert_eq!(json, r#"{"stage":"testing","canary_weight":0.1,"revision":7}"#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetState {
    /// The rollout's stage.
    pub stage: Stage,
    /// The canary's share of live traffic, `0.0..=1.0`.
    pub canary_weight: f64,
    /// Bumped by every save. A writer passes the revision it last saw; the
    /// store refuses the write when it holds a newer one.
    pub revision: u64,
}

/// Where a fleet keeps its weights and stage: one [`FleetState`], saved
/// with a compare-and-set on its revision.
///
/// The in-process default is [`MemoryStore`](super::MemoryStore); the
/// shared one is [`RedisStore`](super::RedisStore) (feature `redis`).
///
/// ```
/// use tower_shadow::fleet::{FleetState, MemoryStore, WeightStore};
/// use tower_shadow::rollout::Stage;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// assert_eq!(store.load().await.unwrap(), None);
/// let state = FleetState { stage: Stage::Testing, canary_weight: 0.1, revision: 0 };
/// assert_eq!(store.save(state, None).await.unwrap(), 1);
/// // A writer that has not seen revision 1 is refused.
/// assert!(store.save(state, None).await.unwrap_err().is_conflict());
/// # }
/// ```
pub trait WeightStore: Send + Sync + 'static {
    /// The fleet's state; `None` when none was saved (or the store lost it).
    fn load(&self) -> StoreFuture<'_, Option<FleetState>>;

    /// Saves `state.stage` and `state.canary_weight` as revision
    /// `state.revision + 1`, `state.revision` being the last revision the
    /// writer saw, and returns the new revision.
    ///
    /// Refused with a conflict ([`StoreError::is_conflict`]) when the store
    /// holds a newer revision, and, when `holder` is given, with
    /// [`StoreError::is_not_holder`] unless `holder` holds the
    /// [`Lease`](super::Lease): a controller that lost its lease cannot
    /// overwrite its successor's decisions.
    fn save<'a>(&'a self, state: FleetState, holder: Option<&'a str>) -> StoreFuture<'a, u64>;
}

/// Where the replicas of a fleet publish their health, for the controller
/// to merge.
///
/// ```
/// use std::time::Duration;
/// use tower_shadow::fleet::{HealthStore, MemoryStore};
/// use tower_shadow::health::{Health, HealthAggregate};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let ttl = Duration::from_secs(3);
/// store.publish("a", &Health::new().aggregate(), ttl).await.unwrap();
/// store.publish("b", &Health::new().aggregate(), ttl).await.unwrap();
/// let all = store.collect().await.unwrap();
/// assert_eq!(all.len(), 2);
/// let fleet: HealthAggregate = all.into_iter().map(|(_, a)| a).collect();
/// assert_eq!(fleet.snapshot().pairs, 0);
/// # }
/// ```
pub trait HealthStore: Send + Sync + 'static {
    /// Publishes `replica`'s aggregate, replacing its previous one; it
    /// lapses after `ttl` unless published again.
    fn publish<'a>(
        &'a self,
        replica: &'a str,
        aggregate: &'a HealthAggregate,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Every replica's aggregate that has not lapsed, by replica id.
    fn collect(&self) -> StoreFuture<'_, Vec<(String, HealthAggregate)>>;
}

impl<T: WeightStore + ?Sized> WeightStore for std::sync::Arc<T> {
    fn load(&self) -> StoreFuture<'_, Option<FleetState>> {
        (**self).load()
    }

    fn save<'a>(&'a self, state: FleetState, holder: Option<&'a str>) -> StoreFuture<'a, u64> {
        (**self).save(state, holder)
    }
}

impl<T: HealthStore + ?Sized> HealthStore for std::sync::Arc<T> {
    fn publish<'a>(
        &'a self,
        replica: &'a str,
        aggregate: &'a HealthAggregate,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        (**self).publish(replica, aggregate, ttl)
    }

    fn collect(&self) -> StoreFuture<'_, Vec<(String, HealthAggregate)>> {
        (**self).collect()
    }
}

/// Why a store operation failed: unreachable (the replica keeps its last
/// state and tries again at its next poll), a conflict, a fenced write
/// without the lease, or unreadable data.
///
/// ```
/// use tower_shadow::fleet::StoreError;
///
/// let error = StoreError::unavailable("connection refused");
/// assert!(error.is_unavailable());
/// assert_eq!(error.to_string(), "fleet store unavailable: connection refused");
/// ```
#[derive(Debug)]
pub struct StoreError {
    kind: ErrorKind,
    source: Option<crate::BoxError>,
}

#[derive(Debug)]
enum ErrorKind {
    Unavailable(String),
    Conflict { stored: u64, seen: u64 },
    NotHolder,
    Invalid(String),
}

impl StoreError {
    /// The store could not be reached or did not answer in time.
    pub fn unavailable(what: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Unavailable(what.into()),
            source: None,
        }
    }

    /// A save on top of revision `seen` while the store holds `stored`.
    pub fn conflict(stored: u64, seen: u64) -> Self {
        Self {
            kind: ErrorKind::Conflict { stored, seen },
            source: None,
        }
    }

    /// A fenced save by a replica that does not hold the lease.
    pub fn not_holder() -> Self {
        Self {
            kind: ErrorKind::NotHolder,
            source: None,
        }
    }

    /// The store holds data this crate cannot read.
    pub fn invalid(what: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Invalid(what.into()),
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<crate::BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Whether the store was unreachable: the replica keeps its last state.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable(_))
    }

    /// Whether a save was refused because the store holds a newer revision.
    pub fn is_conflict(&self) -> bool {
        matches!(self.kind, ErrorKind::Conflict { .. })
    }

    /// Whether a fenced save was refused because the writer does not hold the lease.
    pub fn is_not_holder(&self) -> bool {
        matches!(self.kind, ErrorKind::NotHolder)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Unavailable(what) => write!(f, "fleet store unavailable: {what}"),
            ErrorKind::Conflict { stored, seen } => write!(
                f,
                "the fleet store holds revision {stored}, newer than the {seen} this write was based on"
            ),
            ErrorKind::NotHolder => f.write_str("this replica does not hold the controller lease"),
            ErrorKind::Invalid(what) => write!(f, "unreadable data in the fleet store: {what}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_happened() {
        assert_eq!(
            StoreError::conflict(5, 3).to_string(),
            "the fleet store holds revision 5, newer than the 3 this write was based on"
        );
        let e = StoreError::unavailable("connection refused")
            .with_source(std::io::Error::other("refused"));
        assert!(e.is_unavailable() && !e.is_conflict());
        assert!(std::error::Error::source(&e).is_some());
        assert!(StoreError::not_holder().is_not_holder());
    }
}
