use super::{FleetState, HealthStore, Lease, StoreError, StoreFuture, WeightStore};
use crate::health::HealthAggregate;
use crate::rollout::{Actor, Applied, Rollout, Stage};
use std::fmt;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Everything a [`Replica`] needs from a store: weights and stage, health,
/// and the lease. Implemented for every type that has the three, so a
/// store chosen at run time can be an `Arc<dyn FleetStore>`:
///
/// ```
/// use std::sync::Arc;
/// use tower_shadow::fleet::{FleetStore, MemoryStore};
///
/// let store: Arc<dyn FleetStore> = Arc::new(MemoryStore::new());
/// fn needs_a_store(_: impl FleetStore) {}
/// needs_a_store(store);
/// ```
pub trait FleetStore: WeightStore + HealthStore + Lease {}

impl<T: WeightStore + HealthStore + Lease> FleetStore for T {}

/// One replica's membership in a fleet: it publishes its health, follows
/// the fleet's weights and stage, and, while it holds the lease, is the
/// fleet's controller.
///
/// Made by [`Replica::builder`]; runs on a spawned task until
/// [`stop`](Self::stop)ped or dropped. Nothing it does is on the request
/// path: requests read the local [`Weights`](crate::router::Weights) as
/// always, and when the store is unreachable they keep being served on the
/// last weights the replica saw.
///
/// ```
/// use std::time::Duration;
/// use tower_shadow::fleet::{MemoryStore, Replica};
/// use tower_shadow::{health::Health, rollout::Rollout, router::Weights};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new(); // or a RedisStore shared by every replica
/// let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
/// let replica = Replica::builder(rollout.clone(), store)
///     .id("checkout-7f9c")
///     .poll(Duration::from_millis(500))
///     .spawn();
/// // The first poll takes the free lease: this replica controls the fleet.
/// let mut status = replica.watch();
/// status.wait_for(|s| s.controller).await.unwrap();
/// replica.stop().await; // gives the lease up for the next replica
/// # }
/// ```
#[derive(Debug)]
pub struct Replica {
    id: String,
    status: watch::Receiver<ReplicaStatus>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// What a [`Replica`] last knew, updated after each poll.
///
/// ```
/// use tower_shadow::fleet::ReplicaStatus;
///
/// let fresh = ReplicaStatus::default(); // before the first poll
/// assert!(!fresh.controller && fresh.revision == 0 && fresh.polls == 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaStatus {
    /// Whether this replica holds the lease and decides for the fleet.
    pub controller: bool,
    /// The revision of the fleet state it last followed or wrote (0: none yet).
    pub revision: u64,
    /// Polls completed.
    pub polls: u64,
    /// Whether the store answered every call of the last poll.
    pub store_reachable: bool,
}

/// Configures a [`Replica`]. Made by [`Replica::builder`].
pub struct Builder<S> {
    rollout: Rollout,
    store: S,
    id: String,
    poll: Duration,
    lease: Duration,
    publish: Option<Duration>,
    health_ttl: Option<Duration>,
    timeout: Option<Duration>,
}

impl<S> fmt::Debug for Builder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("id", &self.id)
            .field("poll", &self.poll)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// A replica running `rollout` as a member of the fleet that shares `store`.
    ///
    /// | setting | default |
    /// |---|---|
    /// | [`id`](Builder::id) | `replica-` and 8 random hexadecimal digits |
    /// | [`poll`](Builder::poll) | 1 s: how soon a replica sees the fleet's changes |
    /// | [`lease`](Builder::lease) | 10 s: how soon another replica takes over from a dead controller |
    /// | [`publish`](Builder::publish) | the rollout's interval: how often the replica publishes its health |
    /// | [`health_ttl`](Builder::health_ttl) | 3 publications |
    /// | [`timeout`](Builder::timeout) | one poll, at most 2 s |
    ///
    /// The controller consults the rollout's policy every rollout
    /// [`interval`](crate::rollout::Builder::interval) on the fleet's merged
    /// health; do not also [`spawn`](Rollout::spawn) the rollout.
    pub fn builder<S: FleetStore>(rollout: Rollout, store: S) -> Builder<S> {
        Builder {
            rollout,
            store,
            id: format!("replica-{:08x}", rand::random::<u32>()),
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(10),
            publish: None,
            health_ttl: None,
            timeout: None,
        }
    }

    /// This replica's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the replica last knew.
    pub fn status(&self) -> ReplicaStatus {
        *self.status.borrow()
    }

    /// Its status as it changes (after each poll), to wait on:
    /// `replica.watch().wait_for(|s| s.controller).await`.
    pub fn watch(&self) -> watch::Receiver<ReplicaStatus> {
        self.status.clone()
    }

    /// Stops the replica and waits until it has; a controller gives its
    /// lease up, so another replica takes over at its next poll.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops the replica at once, the way a crash would: a controller keeps
    /// its lease until it lapses.
    pub fn abort(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl<S: FleetStore> Builder<S> {
    /// The replica's id in the store, unique in the fleet (a pod name).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// How often the replica publishes its health, reads the fleet's state
    /// and renews or contends for the lease (default 1 s; at least 10 ms).
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(10));
        self
    }

    /// How long the controller's lease lasts unless renewed (default 10 s;
    /// at least three polls, so one slow poll does not lose it).
    pub fn lease(mut self, ttl: Duration) -> Self {
        self.lease = ttl;
        self
    }

    /// How often the replica publishes its health (default: the rollout's
    /// interval, at which the controller decides; at least one poll). A
    /// busy window is a few hundred kilobytes of JSON.
    pub fn publish(mut self, every: Duration) -> Self {
        self.publish = Some(every);
        self
    }

    /// How long a published health aggregate counts after its replica
    /// stops publishing (default three publications).
    pub fn health_ttl(mut self, ttl: Duration) -> Self {
        self.health_ttl = Some(ttl);
        self
    }

    /// The longest one store call may take before it counts as failed
    /// (default one poll, at most 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Starts the replica on a spawned task.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(self) -> Replica {
        let (status_tx, status) = watch::channel(ReplicaStatus::default());
        let (stop, stopped) = oneshot::channel();
        let poll = self.poll;
        let publish = self.publish.unwrap_or(self.rollout.interval()).max(poll);
        let worker = Worker {
            lease: self.lease.max(3 * poll),
            publish,
            next_publish: Instant::now(),
            health_ttl: self.health_ttl.unwrap_or(3 * publish).max(publish),
            timeout: self
                .timeout
                .unwrap_or_else(|| poll.min(Duration::from_secs(2)))
                .max(Duration::from_millis(1)),
            poll,
            id: self.id.clone(),
            store: self.store,
            next_decision: Instant::now(),
            rollout: self.rollout,
            status: status_tx,
            known: None,
            pending: None,
            lease_until: None,
            reachable: true,
        };
        Replica {
            id: self.id,
            status,
            stop: Some(stop),
            task: Some(tokio::spawn(worker.run(stopped))),
        }
    }
}

/// A local change waiting to be written to the store.
#[derive(Clone, Copy, Debug)]
struct Pending {
    stage: Stage,
    weight: f64,
    /// A policy's decision, written only while holding the lease; an
    /// operator's act is written whoever holds it.
    fenced: bool,
}

struct Worker<S> {
    id: String,
    store: S,
    rollout: Rollout,
    poll: Duration,
    lease: Duration,
    publish: Duration,
    next_publish: Instant,
    health_ttl: Duration,
    timeout: Duration,
    status: watch::Sender<ReplicaStatus>,
    /// The fleet state last followed or written.
    known: Option<FleetState>,
    pending: Option<Pending>,
    /// While this replica holds the lease: until when, by its own clock,
    /// counted from before the last renewal was sent.
    lease_until: Option<Instant>,
    next_decision: Instant,
    reachable: bool,
}

impl<S: FleetStore> Worker<S> {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut applied = self.rollout.applied();
        let mut ticks = tokio::time::interval(self.poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                changed = applied.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.take_change(&mut applied);
                    self.flush().await;
                }
                _ = ticks.tick() => self.poll(&mut applied).await,
            }
        }
        if self.leading() {
            let _ = self.call(self.store.release(&self.id)).await;
        }
        self.status.send_modify(|s| s.controller = false);
    }

    /// One store call, failed as unavailable when it takes too long.
    async fn call<T>(&self, call: StoreFuture<'_, T>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::unavailable(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }

    fn leading(&self) -> bool {
        self.lease_until.is_some_and(|until| Instant::now() < until)
    }

    /// Queues a local change for the store; the fleet's own changes, which
    /// this replica followed, are not written back.
    fn take_change(&mut self, applied: &mut watch::Receiver<Applied>) {
        let change = *applied.borrow_and_update();
        let known = self.known.map(|k| (k.stage, k.canary_weight));
        if change.actor == Actor::Controller || known == Some((change.stage, change.weight)) {
            return;
        }
        self.pending = Some(Pending {
            stage: change.stage,
            weight: change.weight,
            fenced: change.actor == Actor::Policy,
        });
    }

    async fn poll(&mut self, applied: &mut watch::Receiver<Applied>) {
        let mut reachable = true;
        if applied.has_changed().unwrap_or(false) {
            self.take_change(applied);
        }
        if Instant::now() >= self.next_publish {
            self.next_publish = Instant::now() + self.publish;
            let aggregate = self.rollout.health().aggregate();
            let published = self
                .call(self.store.publish(&self.id, &aggregate, self.health_ttl))
                .await;
            reachable &= self.check(published).is_some();
        }
        let loaded = self.call(self.store.load()).await;
        match self.check(loaded) {
            Some(Some(state)) => self.adopt(state),
            Some(None) => self.republish(),
            None => reachable = false,
        }
        reachable &= self.flush().await;
        reachable &= self.contend().await;
        if self.leading() && Instant::now() >= self.next_decision {
            reachable &= self.decide(applied).await;
        }
        if reachable != self.reachable {
            if reachable {
                tracing::info!(replica = %self.id, "fleet store reachable again");
            } else {
                tracing::warn!(replica = %self.id, "fleet store unreachable: serving on the last known weights");
            }
            self.reachable = reachable;
        }
        let (controller, revision) = (self.leading(), self.known.map_or(0, |k| k.revision));
        self.status.send_modify(|s| {
            s.controller = controller;
            s.revision = revision;
            s.polls += 1;
            s.store_reachable = reachable;
        });
    }

    fn check<T>(&self, result: Result<T, StoreError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::debug!(replica = %self.id, %error, "fleet store call failed");
                None
            }
        }
    }

    /// Follows the state in the store when it is not the one this replica
    /// knows. A lower revision than the known one means the store lost its
    /// data and someone wrote anew: that is the fleet's state now.
    fn adopt(&mut self, state: FleetState) {
        if self.known.map(|k| k.revision) == Some(state.revision) {
            return;
        }
        if self.pending.take().is_some() {
            tracing::warn!(replica = %self.id, revision = state.revision,
                "a newer fleet state supersedes a local change not yet written");
        }
        self.follow(state);
    }

    fn follow(&mut self, state: FleetState) {
        self.known = Some(state);
        self.rollout
            .follow(state.stage, state.canary_weight, state.revision);
    }

    /// The store holds no state (it lost its data): the controller writes
    /// the last one back, so the fleet resumes where it was.
    fn republish(&mut self) {
        if let (true, Some(known), None) = (self.leading(), self.known, self.pending) {
            self.pending = Some(Pending {
                stage: known.stage,
                weight: known.canary_weight,
                fenced: true,
            });
        }
    }

    /// Writes the pending change, if any; `false` when the store was unreachable.
    async fn flush(&mut self) -> bool {
        let Some(pending) = self.pending else {
            return true;
        };
        let state = FleetState {
            stage: pending.stage,
            canary_weight: pending.weight,
            revision: self.known.map_or(0, |k| k.revision),
        };
        let holder = pending.fenced.then_some(self.id.as_str());
        let saved = self.call(self.store.save(state, holder)).await;
        match saved {
            Ok(revision) => {
                self.known = Some(FleetState { revision, ..state });
                self.pending = None;
                true
            }
            // Kept and written at a later poll: an operator's act is not lost.
            Err(error) if error.is_unavailable() => false,
            Err(error) => {
                tracing::warn!(replica = %self.id, %error, "local change refused; following the fleet");
                self.pending = None;
                let loaded = self.call(self.store.load()).await;
                if let Some(Some(state)) = self.check(loaded) {
                    self.follow(state);
                }
                true
            }
        }
    }

    /// Renews the lease, or takes it when free; `false` when unreachable.
    async fn contend(&mut self) -> bool {
        let sent = Instant::now();
        let acquired = self.call(self.store.acquire(&self.id, self.lease)).await;
        match acquired {
            Ok(true) => {
                if !self.leading() {
                    tracing::info!(replica = %self.id, "took control of the fleet");
                    self.rollout.reset_policy();
                    self.next_decision = Instant::now() + self.rollout.interval();
                }
                self.lease_until = Some(sent + self.lease);
                true
            }
            Ok(false) => {
                if self.leading() {
                    tracing::warn!(replica = %self.id, "lost control of the fleet");
                }
                self.lease_until = None;
                true
            }
            // Still the controller until the lease lapses by this clock.
            Err(_) => false,
        }
    }

    /// The controller's tick: the fleet's merged health, the policy's
    /// decision, the change written. `false` when the store was unreachable.
    async fn decide(&mut self, applied: &mut watch::Receiver<Applied>) -> bool {
        self.next_decision = Instant::now() + self.rollout.interval();
        let collected = self.call(self.store.collect()).await;
        let Some(parts) = self.check(collected) else {
            tracing::warn!(replica = %self.id, "no fleet health: no decision this tick");
            return false;
        };
        let fleet: HealthAggregate = parts.into_iter().map(|(_, a)| a).collect();
        self.rollout.step_with(&fleet.snapshot());
        if applied.has_changed().unwrap_or(false) {
            self.take_change(applied);
            return self.flush().await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::MemoryStore;
    use crate::health::{Health, HealthSnapshot};
    use crate::policy::Decision;
    use crate::router::Weights;

    fn member(store: &MemoryStore, id: &str, weight: f64) -> (Replica, Rollout, Weights) {
        let weights = Weights::new(0.0);
        let rollout = Rollout::builder(Health::new(), weights.clone())
            .policy(move |_: &HealthSnapshot, w: f64| {
                if w < weight {
                    Decision::Shift {
                        canary_weight: weight,
                        reason: "up".into(),
                    }
                } else {
                    Decision::Hold
                }
            })
            .interval(Duration::from_secs(1))
            .build();
        let replica = Replica::builder(rollout.clone(), store.clone())
            .id(id)
            .poll(Duration::from_secs(1))
            .lease(Duration::from_secs(5))
            .spawn();
        (replica, rollout, weights)
    }

    async fn until(replica: &Replica, ready: impl FnMut(&ReplicaStatus) -> bool) {
        replica.watch().wait_for(ready).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_keeps_the_weights_and_an_operator_act_waits_for_the_store() {
        let store = MemoryStore::new();
        let (a, _, _) = member(&store, "a", 0.4);
        until(&a, |s| s.controller && s.revision == 1).await;
        let (b, b_rollout, b_weights) = member(&store, "b", 0.4);
        until(&b, |s| s.revision == 1).await;
        assert_eq!(b_weights.canary(), 0.4);

        store.set_down(true);
        until(&b, |s| !s.store_reachable).await;
        b_rollout.abort().unwrap(); // locally at once; the fleet once the store is back
        let polls = b.status().polls;
        until(&b, |s| s.polls > polls + 3).await;
        assert_eq!(b.status().revision, 1);
        assert_eq!(b_weights.canary(), 0.0);

        store.set_down(false);
        until(&a, |s| s.revision == 2).await;
        let state = store.load().await.unwrap().unwrap();
        assert_eq!((state.stage, state.canary_weight), (Stage::RolledBack, 0.0));
        a.stop().await;
        // The lease was given up: b takes control at its next poll.
        until(&b, |s| s.controller).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_decision_without_the_lease_is_refused_and_the_fleet_followed() {
        let store = MemoryStore::new();
        let (a, _, a_weights) = member(&store, "a", 0.2);
        until(&a, |s| s.controller && s.revision == 1).await;
        // Another process's replica holds the lease from now on.
        store.set_down(true);
        let polls = a.status().polls;
        until(&a, |s| s.polls > polls + 6 && !s.controller).await;
        store.set_down(false);
        assert!(store
            .acquire("elsewhere", Duration::from_secs(3600))
            .await
            .unwrap());
        let (b, b_rollout, b_weights) = member(&store, "b", 0.6);
        until(&b, |s| s.revision == 1 && !s.controller).await;
        assert_eq!(b_weights.canary(), 0.2);
        // A policy decision on a replica without the lease is refused, and
        // the replica goes back to the fleet's state.
        assert!(matches!(b_rollout.step(), Decision::Shift { .. }));
        assert_eq!(b_weights.canary(), 0.6);
        let polls = b.status().polls;
        until(&b, |s| s.polls > polls + 1).await;
        assert_eq!(b_weights.canary(), 0.2);
        assert_eq!(store.load().await.unwrap().unwrap().revision, 1);
        assert_eq!(a_weights.canary(), 0.2);
    }
}
