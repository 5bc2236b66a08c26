use super::{FleetState, HealthStore, Lease, StoreError, StoreFuture, WeightStore};
use crate::health::HealthAggregate;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The in-process fleet store: weights and stage, health and the lease in
/// this process's memory. Clones share it.
///
/// It serves replicas that run in one process (several rollouts' workers,
/// tests), and is the reference the shared stores behave like.
/// [`set_down`](Self::set_down) makes every call fail as unavailable, to
/// rehearse a store outage.
///
/// ```
/// use tower_shadow::fleet::{FleetState, MemoryStore, WeightStore};
/// use tower_shadow::rollout::Stage;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let state = FleetState { stage: Stage::Testing, canary_weight: 0.2, revision: 0 };
/// store.save(state, None).await.unwrap();
/// store.set_down(true);
/// assert!(store.load().await.unwrap_err().is_unavailable());
/// store.set_down(false);
/// assert_eq!(store.load().await.unwrap().unwrap().canary_weight, 0.2);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    down: bool,
    state: Option<FleetState>,
    lease: Option<(String, Instant)>,
    health: BTreeMap<String, (HealthAggregate, Instant)>,
}

impl Inner {
    fn up(&self) -> Result<(), StoreError> {
        if self.down {
            Err(StoreError::unavailable("the memory store is set down"))
        } else {
            Ok(())
        }
    }

    fn holder(&self, now: Instant) -> Option<&str> {
        self.lease
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(holder, _)| holder.as_str())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `down`, every operation fails as unavailable (the data is kept).
    pub fn set_down(&self, down: bool) {
        self.inner.lock().down = down;
    }
}

fn ready<'a, T: Send + 'a>(result: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(result))
}

impl WeightStore for MemoryStore {
    fn load(&self) -> StoreFuture<'_, Option<FleetState>> {
        let inner = self.inner.lock();
        ready(inner.up().map(|()| inner.state))
    }

    fn save<'a>(&'a self, state: FleetState, holder: Option<&'a str>) -> StoreFuture<'a, u64> {
        let mut inner = self.inner.lock();
        let result = inner.up().and_then(|()| {
            if holder.is_some() && inner.holder(Instant::now()) != holder {
                return Err(StoreError::not_holder());
            }
            let stored = inner.state.map_or(0, |s| s.revision);
            if stored > state.revision {
                return Err(StoreError::conflict(stored, state.revision));
            }
            let revision = state.revision + 1;
            inner.state = Some(FleetState { revision, ..state });
            Ok(revision)
        });
        ready(result)
    }
}

impl HealthStore for MemoryStore {
    fn publish<'a>(
        &'a self,
        replica: &'a str,
        aggregate: &'a HealthAggregate,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let mut inner = self.inner.lock();
        let result = inner.up().map(|()| {
            let entry = (aggregate.clone(), Instant::now() + ttl);
            inner.health.insert(replica.to_owned(), entry);
        });
        ready(result)
    }

    fn collect(&self) -> StoreFuture<'_, Vec<(String, HealthAggregate)>> {
        let mut inner = self.inner.lock();
        let result = inner.up().map(|()| {
            let now = Instant::now();
            inner.health.retain(|_, (_, until)| *until > now);
            inner
                .health
                .iter()
                .map(|(id, (aggregate, _))| (id.clone(), aggregate.clone()))
                .collect()
        });
        ready(result)
    }
}

impl Lease for MemoryStore {
    fn acquire<'a>(&'a self, holder: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        let mut inner = self.inner.lock();
        let result = inner.up().map(|()| {
            let now = Instant::now();
            match inner.holder(now) {
                Some(other) if other != holder => false,
                _ => {
                    inner.lease = Some((holder.to_owned(), now + ttl));
                    true
                }
            }
        });
        ready(result)
    }

    fn release<'a>(&'a self, holder: &'a str) -> StoreFuture<'a, ()> {
        let mut inner = self.inner.lock();
        let result = inner.up().map(|()| {
            if inner.holder(Instant::now()) == Some(holder) {
                inner.lease = None;
            }
        });
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Stage;

    #[tokio::test(start_paused = true)]
    async fn leases_and_health_lapse_in_time() {
        let store = MemoryStore::new();
        let ttl = Duration::from_secs(2);
        assert!(store.acquire("a", ttl).await.unwrap());
        store
            .publish("a", &HealthAggregate::default(), ttl)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!store.acquire("b", ttl).await.unwrap());
        assert_eq!(store.collect().await.unwrap().len(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(store.collect().await.unwrap().is_empty());
        assert!(store.acquire("b", ttl).await.unwrap());
    }

    #[tokio::test]
    async fn fenced_saves_need_the_lease() {
        let store = MemoryStore::new();
        let state = FleetState {
            stage: Stage::RolledBack,
            canary_weight: 0.0,
            revision: 0,
        };
        assert!(store
            .save(state, Some("a"))
            .await
            .unwrap_err()
            .is_not_holder());
        store.acquire("a", Duration::from_secs(5)).await.unwrap();
        assert_eq!(store.save(state, Some("a")).await.unwrap(), 1);
    }
}
