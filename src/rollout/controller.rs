use super::alert::Sinks;
use super::event::now_ms;
use super::{Actor, AlertSink, Event, Stage, TracingAlerts};
use crate::health::{names, Health, HealthSnapshot};
use crate::policy::{Decision, Evidence, RollbackPolicy};
use crate::router::{WeightedRouter, Weights};
use crate::sample::Adaptive;
use crate::shadow::{Shadow, ShadowLayer};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The rollout controller: applies a policy's decisions to the canary
/// weight and the stage, keeps the audit log, and sends alerts.
///
/// A cheap-to-clone handle: clones share one rollout, so one clone can
/// tick in the background while another takes operators' commands.
#[derive(Clone)]
pub struct Rollout {
    inner: Arc<Inner>,
}

struct Inner {
    health: Health,
    weights: Weights,
    policy: Mutex<Box<dyn RollbackPolicy>>,
    alerts: Sinks,
    interval: Duration,
    validation: Duration,
    testing_weight: f64,
    adaptive: Option<AdaptiveShadowing>,
    max_events: usize,
    state: Mutex<State>,
    applied: watch::Sender<Applied>,
}

/// The stage and weight after the last applied change, and who made it:
/// what a fleet [`Replica`](crate::fleet::Replica) writes to its store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Applied {
    pub(crate) stage: Stage,
    pub(crate) weight: f64,
    pub(crate) actor: Actor,
}

#[derive(Debug)]
struct AdaptiveShadowing {
    sampler: Adaptive,
    min: f64,
    max: f64,
}

#[derive(Debug)]
struct State {
    stage: Stage,
    paused: bool,
    events: VecDeque<Event>,
    versions: BTreeMap<String, serde_json::Value>,
    stable_version: Option<String>,
    candidate_version: Option<String>,
    validating_until: Option<Instant>,
}

/// A named version (code or configuration) the rollout knows, so a
/// rollback can target it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Its name, e.g. `v1.4.2` or `pricing-config-2026-11-20`.
    pub name: String,
    /// Whatever describes it: an image tag, a configuration document, ...
    pub config: serde_json::Value,
}

/// Why a manual operation was refused.
#[derive(Debug)]
pub struct RolloutError {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Transition { from: Stage, to: Stage },
    UnknownVersion(String),
    Paused(bool),
}

impl RolloutError {
    fn transition(from: Stage, to: Stage) -> Self {
        Self {
            kind: ErrorKind::Transition { from, to },
        }
    }
}

impl fmt::Display for RolloutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Transition { from, to } => {
                write!(f, "cannot move the rollout from stage `{from}` to `{to}`")
            }
            ErrorKind::UnknownVersion(name) => write!(f, "no version named `{name}` is registered"),
            ErrorKind::Paused(true) => f.write_str("the rollout is already paused"),
            ErrorKind::Paused(false) => f.write_str("the rollout is not paused"),
        }
    }
}

impl std::error::Error for RolloutError {}

/// Configures a [`Rollout`]. Made by [`Rollout::builder`].
pub struct Builder {
    health: Health,
    weights: Weights,
    policy: Box<dyn RollbackPolicy>,
    alerts: Vec<Box<dyn AlertSink>>,
    interval: Duration,
    validation: Duration,
    testing_weight: f64,
    adaptive: Option<AdaptiveShadowing>,
    max_events: usize,
    versions: Vec<(VersionInfo, Option<bool>)>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("interval", &self.interval)
            .field("validation", &self.validation)
            .field("testing_weight", &self.testing_weight)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// The policy consulted on each tick (default:
    /// [`Standard`](crate::policy::Standard)).
    pub fn policy(mut self, policy: impl RollbackPolicy) -> Self {
        self.policy = Box::new(policy);
        self
    }

    /// How often [`Rollout::spawn`] ticks (default 10 s; at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Adds an alert sink (the default, [`TracingAlerts`], is used when none is added).
    pub fn alerts(mut self, sink: impl AlertSink) -> Self {
        self.alerts.push(Box::new(sink));
        self
    }

    /// How long the stable version is watched after a rollback before the
    /// rollback counts as validated (default 60 s).
    pub fn validation(mut self, period: Duration) -> Self {
        self.validation = period;
        self
    }

    /// The canary weight when a healthy verdict (a promotion) moves the
    /// candidate from `Shadow` to `Testing` without naming a weight
    /// (default 0.05; clamped to `0.0..=1.0`).
    pub fn testing_weight(mut self, weight: f64) -> Self {
        self.testing_weight = crate::router::clamp_weight(weight);
        self
    }

    /// Adaptive shadowing: on each tick, the sampler's percentage doubles
    /// (up to `max`) when the window shows differences or errors, and
    /// halves (down to `min`) while the candidate is steady.
    pub fn adaptive(mut self, sampler: Adaptive, min: f64, max: f64) -> Self {
        let (min, max) = (min.clamp(0.0, 100.0), max.clamp(0.0, 100.0));
        self.adaptive = Some(AdaptiveShadowing {
            sampler,
            min: min.min(max),
            max: max.max(min),
        });
        self
    }

    /// The most events kept in the audit log (default 1000; the oldest go first).
    pub fn max_events(mut self, max: usize) -> Self {
        self.max_events = max.max(1);
        self
    }

    /// Registers the stable version's name and description.
    pub fn stable_version(mut self, name: impl Into<String>, config: serde_json::Value) -> Self {
        let info = VersionInfo {
            name: name.into(),
            config,
        };
        self.versions.push((info, Some(true)));
        self
    }

    /// Registers the candidate's name and description.
    pub fn candidate_version(mut self, name: impl Into<String>, config: serde_json::Value) -> Self {
        let info = VersionInfo {
            name: name.into(),
            config,
        };
        self.versions.push((info, Some(false)));
        self
    }

    /// Registers another known version, a possible rollback target.
    pub fn version(mut self, name: impl Into<String>, config: serde_json::Value) -> Self {
        let info = VersionInfo {
            name: name.into(),
            config,
        };
        self.versions.push((info, None));
        self
    }

    /// Builds the rollout, in stage `Shadow` with the canary weight at 0.
    pub fn build(self) -> Rollout {
        let mut state = State {
            stage: Stage::Shadow,
            paused: false,
            events: VecDeque::new(),
            versions: BTreeMap::new(),
            stable_version: None,
            candidate_version: None,
            validating_until: None,
        };
        for (info, role) in self.versions {
            match role {
                Some(true) => state.stable_version = Some(info.name.clone()),
                Some(false) => state.candidate_version = Some(info.name.clone()),
                None => {}
            }
            state.versions.insert(info.name, info.config);
        }
        let alerts = if self.alerts.is_empty() {
            vec![Box::new(TracingAlerts) as Box<dyn AlertSink>]
        } else {
            self.alerts
        };
        self.weights.set_canary(0.0);
        let rollout = Rollout {
            inner: Arc::new(Inner {
                health: self.health,
                weights: self.weights,
                policy: Mutex::new(self.policy),
                alerts: Sinks(alerts),
                interval: self.interval,
                validation: self.validation,
                testing_weight: self.testing_weight,
                adaptive: self.adaptive,
                max_events: self.max_events,
                state: Mutex::new(state),
                applied: watch::Sender::new(Applied {
                    stage: Stage::Shadow,
                    weight: 0.0,
                    actor: Actor::Controller,
                }),
            }),
        };
        rollout.export(Stage::Shadow, 0.0);
        rollout
    }
}

/// What one tick or operation changed, applied under the state lock.
struct Change {
    to: Stage,
    weight: f64,
    decision: Decision,
    message: String,
    actor: Actor,
    evidence: Evidence,
    alert: bool,
}

impl Rollout {
    /// A rollout reading `health` and writing `weights`.
    ///
    /// | setting | default |
    /// |---|---|
    /// | [`policy`](Builder::policy) | [`Standard`](crate::policy::Standard): thresholds guarding a progressive walk to full traffic |
    /// | [`interval`](Builder::interval) | 10 s |
    /// | [`alerts`](Builder::alerts) | [`TracingAlerts`] |
    /// | [`validation`](Builder::validation) | 60 s |
    /// | [`testing_weight`](Builder::testing_weight) | 0.05 |
    /// | [`max_events`](Builder::max_events) | 1000 |
    pub fn builder(health: Health, weights: Weights) -> Builder {
        Builder {
            health,
            weights,
            policy: Box::new(crate::policy::Standard::standard()),
            alerts: Vec::new(),
            interval: Duration::from_secs(10),
            validation: Duration::from_secs(60),
            testing_weight: 0.05,
            adaptive: None,
            max_events: 1000,
            versions: Vec::new(),
        }
    }

    /// The whole stack as one service: live traffic split between `stable`
    /// and `candidate` by this rollout's weights, each request shadowed to
    /// the version that did not serve it, every pair recorded as (stable,
    /// candidate) in this rollout's health. With adaptive shadowing, the
    /// adaptive sampler decides which requests are shadowed.
    ///
    /// In stage `Shadow` the weight is 0: every user gets the stable answer
    /// and the candidate only sees copies.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_shadow::{health::Health, router::Weights, rollout::Rollout};
    ///
    /// let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
    /// let stable: Router = Router::new().route("/", get(|| async { "v1" }));
    /// let candidate: Router = Router::new().route("/", get(|| async { "v2" }));
    /// let service = rollout.service(stable, candidate);
    /// # let _ = service;
    /// ```
    pub fn service<S, C>(
        &self,
        stable: S,
        candidate: C,
    ) -> WeightedRouter<Shadow<S, C>, Shadow<C, S>>
    where
        S: Clone,
        C: Clone,
    {
        self.service_with(stable, ShadowLayer::builder(candidate))
    }

    /// Like [`service`](Self::service), with the shadowing configured by
    /// `layer` (comparator, limits, endpoint key, ...). Its health is
    /// replaced by this rollout's, and with adaptive shadowing its sampler
    /// by the adaptive one.
    pub fn service_with<S, C>(
        &self,
        stable: S,
        layer: crate::shadow::Builder<C>,
    ) -> WeightedRouter<Shadow<S, C>, Shadow<C, S>>
    where
        S: Clone,
        C: Clone,
    {
        let mut layer = layer.health(self.inner.health.clone());
        if let Some(adaptive) = &self.inner.adaptive {
            layer = layer.sampler(adaptive.sampler.clone());
        }
        layer.build().route(stable, self.inner.weights.clone())
    }

    /// The health this rollout reads.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// The weights this rollout writes.
    pub fn weights(&self) -> &Weights {
        &self.inner.weights
    }

    /// The current stage.
    pub fn stage(&self) -> Stage {
        self.inner.state.lock().stage
    }

    /// Whether ticks are paused.
    pub fn is_paused(&self) -> bool {
        self.inner.state.lock().paused
    }

    /// The audit log, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.inner.state.lock().events.iter().cloned().collect()
    }

    /// The registered versions.
    pub fn versions(&self) -> Vec<VersionInfo> {
        let state = self.inner.state.lock();
        state
            .versions
            .iter()
            .map(|(name, config)| VersionInfo {
                name: name.clone(),
                config: config.clone(),
            })
            .collect()
    }

    /// The name of the version serving as stable (after `rollback_to`, the
    /// one rolled back to).
    pub fn stable_version(&self) -> Option<String> {
        self.inner.state.lock().stable_version.clone()
    }

    /// Registers a known version, a possible rollback target.
    pub fn register_version(&self, name: impl Into<String>, config: serde_json::Value) {
        self.inner.state.lock().versions.insert(name.into(), config);
    }

    /// One tick: take a snapshot, ask the policy, apply its decision.
    ///
    /// Deterministic for a given snapshot and policy: tests drive a rollout
    /// through `step` alone. Paused, live-and-healthy, or removing, the
    /// policy is not asked and the tick holds.
    pub fn step(&self) -> Decision {
        let snapshot = self.inner.health.snapshot();
        self.step_with(&snapshot)
    }

    /// [`step`](Self::step) with a given snapshot instead of the health's.
    pub fn step_with(&self, snapshot: &HealthSnapshot) -> Decision {
        self.adapt_shadowing(snapshot);
        let weight = self.inner.weights.canary();
        let (stage, paused) = {
            let state = self.inner.state.lock();
            (state.stage, state.paused)
        };
        if stage == Stage::RolledBack {
            self.validate_rollback(snapshot);
            return Decision::Hold;
        }
        if paused || stage == Stage::Removing {
            return Decision::Hold;
        }
        let (decision, evidence) = {
            let mut policy = self.inner.policy.lock();
            let decision = policy.decide(snapshot, weight);
            (decision, policy.evidence())
        };
        let change = self.plan(stage, weight, decision.clone(), evidence);
        if let Some(change) = change {
            self.apply(stage, weight, change);
        }
        decision
    }

    /// What `decision` does in `stage`; `None` when nothing changes.
    fn plan(
        &self,
        stage: Stage,
        weight: f64,
        decision: Decision,
        evidence: Evidence,
    ) -> Option<Change> {
        let change = |to, weight, message: String, alert| Change {
            to,
            weight,
            decision: decision.clone(),
            message,
            actor: Actor::Policy,
            evidence: evidence.clone(),
            alert,
        };
        match (&decision, stage) {
            (Decision::Rollback { reason }, _) => Some(change(
                Stage::RolledBack,
                0.0,
                format!("rolled back: {reason}"),
                true,
            )),
            (Decision::Hold | Decision::Inconclusive { .. }, _) | (_, Stage::Live) => None,
            (Decision::Promote, Stage::Shadow) => Some(change(
                Stage::Testing,
                self.inner.testing_weight,
                "healthy in shadow: testing with live traffic".into(),
                false,
            )),
            (Decision::Promote, _) => {
                Some(change(Stage::Live, 1.0, "promoted to live".into(), true))
            }
            (
                Decision::Shift {
                    canary_weight,
                    reason,
                },
                _,
            ) => {
                let to_weight = crate::router::clamp_weight(*canary_weight);
                let to = match stage {
                    Stage::Shadow if to_weight > 0.0 => Stage::Testing,
                    Stage::Shadow => return None,
                    _ if to_weight < weight => Stage::Degraded,
                    Stage::Degraded if to_weight > weight => Stage::Testing,
                    other => other,
                };
                let alert = to == Stage::Degraded && stage != Stage::Degraded;
                let message = format!(
                    "canary weight {:.1} % → {:.1} %: {reason}",
                    weight * 100.0,
                    to_weight * 100.0
                );
                Some(change(to, to_weight, message, alert))
            }
        }
    }

    /// Applies a change: weight, stage, event, alert.
    fn apply(&self, from: Stage, weight_before: f64, change: Change) -> Event {
        let event = Event {
            at_ms: now_ms(),
            actor: change.actor,
            from,
            to: change.to,
            weight_before,
            weight_after: change.weight,
            decision: change.decision,
            message: change.message,
            evidence: change.evidence,
        };
        {
            let mut state = self.inner.state.lock();
            self.inner.weights.set_canary(change.weight);
            state.stage = change.to;
            if change.to == Stage::RolledBack && from != Stage::RolledBack {
                state.validating_until = Some(Instant::now() + self.inner.validation);
            }
            state.events.push_back(event.clone());
            while state.events.len() > self.inner.max_events {
                state.events.pop_front();
            }
            self.inner.applied.send_replace(Applied {
                stage: change.to,
                weight: change.weight,
                actor: change.actor,
            });
        }
        self.export(change.to, change.weight);
        tracing::info!(from = %from, to = %change.to, weight = change.weight, "{}", event.message);
        if change.alert {
            for sink in &self.inner.alerts.0 {
                sink.alert(&event);
            }
        }
        event
    }

    /// Follows the fleet: moves to the stage and weight a fleet store holds
    /// (another replica's decision), logged as the controller's event, with
    /// no alert (the deciding replica alerted).
    pub(crate) fn follow(&self, stage: Stage, weight: f64, revision: u64) {
        let (from, before) = (self.stage(), self.inner.weights.canary());
        if from == stage && before == crate::router::clamp_weight(weight) {
            return;
        }
        self.apply(
            from,
            before,
            Change {
                to: stage,
                weight: crate::router::clamp_weight(weight),
                decision: Decision::Hold,
                message: format!(
                    "followed the fleet (revision {revision}): {stage} at {:.1} %",
                    weight * 100.0
                ),
                actor: Actor::Controller,
                evidence: Evidence::default(),
                alert: false,
            },
        );
    }

    /// Every change applied from now on, for a fleet replica to write out.
    pub(crate) fn applied(&self) -> watch::Receiver<Applied> {
        self.inner.applied.subscribe()
    }

    /// How often the policy is consulted.
    pub(crate) fn interval(&self) -> Duration {
        self.inner.interval
    }

    /// Forgets the policy's history: a replica taking control starts its
    /// judgement afresh.
    pub(crate) fn reset_policy(&self) {
        self.inner.policy.lock().reset();
    }

    fn export(&self, stage: Stage, weight: f64) {
        metrics::gauge!(names::CANARY_WEIGHT).set(weight);
        metrics::gauge!(names::STAGE).set(stage.code());
    }

    /// After a rollback the stable version is watched for the validation
    /// period; then the rollback is validated, or an alert says the stable
    /// version is failing too.
    fn validate_rollback(&self, snapshot: &HealthSnapshot) {
        let due = {
            let state = self.inner.state.lock();
            state
                .validating_until
                .is_some_and(|until| Instant::now() >= until)
        };
        if !due {
            return;
        }
        self.inner.state.lock().validating_until = None;
        let rate = if snapshot.pairs == 0 {
            0.0
        } else {
            snapshot.baseline_errors as f64 / snapshot.pairs as f64
        };
        let mut evidence = Evidence::default();
        let check = crate::policy::Check::at_most("baseline_error_rate", rate, 0.05);
        let healthy = !check.crossed;
        evidence.push(check);
        let message = if healthy {
            "rollback validated: the restored version is healthy".to_owned()
        } else {
            format!(
                "rollback validation failed: the restored version fails too ({:.1} % errors)",
                rate * 100.0
            )
        };
        self.apply(
            Stage::RolledBack,
            self.inner.weights.canary(),
            Change {
                to: Stage::RolledBack,
                weight: 0.0,
                decision: Decision::Hold,
                message,
                actor: Actor::Controller,
                evidence,
                alert: !healthy,
            },
        );
    }

    fn adapt_shadowing(&self, snapshot: &HealthSnapshot) {
        let Some(adaptive) = &self.inner.adaptive else {
            return;
        };
        let percent = adaptive.sampler.percent();
        let anomalies =
            snapshot.different > 0 || snapshot.candidate_errors > snapshot.baseline_errors;
        let next = if anomalies {
            (percent * 2.0).max(adaptive.min.max(1.0)).min(adaptive.max)
        } else if snapshot.pairs > 0 {
            (percent / 2.0).max(adaptive.min)
        } else {
            percent
        };
        if next != percent {
            adaptive.sampler.set_percent(next);
        }
    }

    /// An operator's move to `to` at `weight`, checked against the stage machine.
    fn operate(
        &self,
        to: Stage,
        weight: f64,
        decision: Decision,
        message: String,
    ) -> Result<Event, RolloutError> {
        let from = self.stage();
        if !from.can_move_to(to) {
            return Err(RolloutError::transition(from, to));
        }
        let alert = matches!(to, Stage::RolledBack | Stage::Live);
        Ok(self.apply(
            from,
            self.inner.weights.canary(),
            Change {
                to,
                weight,
                decision,
                message,
                actor: Actor::Operator,
                evidence: Evidence::default(),
                alert,
            },
        ))
    }

    /// Moves from `Shadow` (or `Degraded`) to `Testing` with `weight` of
    /// live traffic on the canary.
    pub fn start_testing(&self, weight: f64) -> Result<Event, RolloutError> {
        let weight = crate::router::clamp_weight(weight);
        let reason = "testing started by an operator".to_owned();
        let decision = Decision::Shift {
            canary_weight: weight,
            reason: reason.clone(),
        };
        self.operate(Stage::Testing, weight, decision, reason)
    }

    /// Promotes the candidate to `Live`: all traffic on it.
    pub fn promote(&self) -> Result<Event, RolloutError> {
        self.operate(
            Stage::Live,
            1.0,
            Decision::Promote,
            "promoted by an operator".into(),
        )
    }

    /// Rolls back: all traffic to stable, stage `RolledBack`.
    pub fn abort(&self) -> Result<Event, RolloutError> {
        let reason = "aborted by an operator".to_owned();
        self.operate(
            Stage::RolledBack,
            0.0,
            Decision::Rollback {
                reason: reason.clone(),
            },
            reason,
        )
    }

    /// Rolls back to the registered version `name`, which becomes the
    /// stable version.
    pub fn rollback_to(&self, name: &str) -> Result<Event, RolloutError> {
        if !self.inner.state.lock().versions.contains_key(name) {
            return Err(RolloutError {
                kind: ErrorKind::UnknownVersion(name.to_owned()),
            });
        }
        let reason = format!("rolled back to `{name}` by an operator");
        let event = self.operate(
            Stage::RolledBack,
            0.0,
            Decision::Rollback {
                reason: reason.clone(),
            },
            reason,
        )?;
        self.inner.state.lock().stable_version = Some(name.to_owned());
        Ok(event)
    }

    /// After a rollback, starts over in `Shadow`: weight 0, the policy reset.
    pub fn retry(&self) -> Result<Event, RolloutError> {
        let event = self.operate(
            Stage::Shadow,
            0.0,
            Decision::Hold,
            "retry: back to shadow".into(),
        )?;
        self.inner.policy.lock().reset();
        self.inner.state.lock().validating_until = None;
        Ok(event)
    }

    /// Marks the candidate as being removed; nothing more happens.
    pub fn remove(&self) -> Result<Event, RolloutError> {
        self.operate(
            Stage::Removing,
            0.0,
            Decision::Hold,
            "removing the candidate".into(),
        )
    }

    /// Replaces the policy (e.g. new thresholds from an operator), from the
    /// next tick on; stage and weight stay as they are. Logged as an
    /// operator's event.
    pub fn set_policy(&self, policy: impl RollbackPolicy) -> Event {
        *self.inner.policy.lock() = Box::new(policy);
        let stage = self.stage();
        let weight = self.inner.weights.canary();
        self.apply(
            stage,
            weight,
            Change {
                to: stage,
                weight,
                decision: Decision::Hold,
                message: "policy replaced by an operator".into(),
                actor: Actor::Operator,
                evidence: Evidence::default(),
                alert: false,
            },
        )
    }

    /// Stops consulting the policy; the weight stays where it is.
    pub fn pause(&self) -> Result<(), RolloutError> {
        self.set_paused(true)
    }

    /// Consults the policy again from the next tick.
    pub fn resume(&self) -> Result<(), RolloutError> {
        self.set_paused(false)
    }

    fn set_paused(&self, paused: bool) -> Result<(), RolloutError> {
        let mut state = self.inner.state.lock();
        if state.paused == paused {
            return Err(RolloutError {
                kind: ErrorKind::Paused(paused),
            });
        }
        state.paused = paused;
        let stage = state.stage;
        let weight = self.inner.weights.canary();
        state.events.push_back(Event {
            at_ms: now_ms(),
            actor: Actor::Operator,
            from: stage,
            to: stage,
            weight_before: weight,
            weight_after: weight,
            decision: Decision::Hold,
            message: if paused { "paused" } else { "resumed" }.to_owned(),
            evidence: Evidence::default(),
        });
        Ok(())
    }

    /// Ticks [`step`](Self::step) every interval on a spawned task until the
    /// returned handle is stopped or dropped.
    pub fn spawn(&self) -> RolloutHandle {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let rollout = self.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(rollout.inner.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {
                        rollout.step();
                    }
                }
            }
        });
        RolloutHandle {
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl fmt::Debug for Rollout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("Rollout")
            .field("stage", &state.stage)
            .field("paused", &state.paused)
            .field("weights", &self.inner.weights)
            .field("events", &state.events.len())
            .finish_non_exhaustive()
    }
}

/// The background ticking of a [`Rollout`]; stops when dropped.
#[derive(Debug)]
pub struct RolloutHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RolloutHandle {
    /// Stops ticking and waits until the task has ended.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RolloutHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Check;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A policy that returns the decisions it is given, in order, then holds.
    fn scripted(decisions: Vec<Decision>) -> impl RollbackPolicy {
        let mut decisions = decisions.into_iter();
        move |_: &HealthSnapshot, _: f64| decisions.next().unwrap_or(Decision::Hold)
    }

    fn shift(weight: f64) -> Decision {
        Decision::Shift {
            canary_weight: weight,
            reason: "test".into(),
        }
    }

    fn rollback() -> Decision {
        Decision::Rollback {
            reason: "score 40 < 80".into(),
        }
    }

    fn rollout(decisions: Vec<Decision>) -> (Rollout, Weights) {
        let weights = Weights::new(0.0);
        let rollout = Rollout::builder(Health::new(), weights.clone())
            .policy(scripted(decisions))
            .build();
        (rollout, weights)
    }

    #[test]
    fn a_healthy_candidate_walks_from_shadow_to_live() {
        let (rollout, weights) = rollout(vec![shift(0.1), shift(0.5), Decision::Promote]);
        rollout.step();
        assert_eq!((rollout.stage(), weights.canary()), (Stage::Testing, 0.1));
        rollout.step();
        assert_eq!((rollout.stage(), weights.canary()), (Stage::Testing, 0.5));
        rollout.step();
        assert_eq!((rollout.stage(), weights.canary()), (Stage::Live, 1.0));
        let stages: Vec<_> = rollout.events().iter().map(|e| (e.from, e.to)).collect();
        assert_eq!(
            stages,
            [
                (Stage::Shadow, Stage::Testing),
                (Stage::Testing, Stage::Testing),
                (Stage::Testing, Stage::Live)
            ]
        );
    }

    #[test]
    fn a_promotion_in_shadow_starts_testing_at_the_testing_weight() {
        let (rollout, weights) = rollout(vec![Decision::Promote]);
        rollout.step();
        assert_eq!((rollout.stage(), weights.canary()), (Stage::Testing, 0.05));
    }

    #[test]
    fn shifting_down_degrades_and_recovering_resumes_testing() {
        let (rollout, weights) = rollout(vec![shift(0.4), shift(0.2), shift(0.1), shift(0.3)]);
        rollout.step();
        rollout.step();
        assert_eq!((rollout.stage(), weights.canary()), (Stage::Degraded, 0.2));
        rollout.step();
        assert_eq!((rollout.stage(), weights.canary()), (Stage::Degraded, 0.1));
        rollout.step();
        assert_eq!((rollout.stage(), weights.canary()), (Stage::Testing, 0.3));
    }

    #[test]
    fn rollbacks_alert_carry_evidence_and_zero_the_weight() {
        struct Explained;
        impl RollbackPolicy for Explained {
            fn decide(&mut self, _: &HealthSnapshot, _: f64) -> Decision {
                rollback()
            }
            fn evidence(&self) -> Evidence {
                Evidence {
                    checks: vec![Check::at_least("score", 40.0, 80.0)],
                }
            }
        }
        let alerts = Arc::new(AtomicUsize::new(0));
        let weights = Weights::new(0.0);
        let rollout = Rollout::builder(Health::new(), weights.clone())
            .policy(Explained)
            .alerts({
                let alerts = alerts.clone();
                move |_: &Event| {
                    alerts.fetch_add(1, Ordering::SeqCst);
                }
            })
            .build();
        rollout.start_testing(0.3).unwrap();
        assert_eq!(rollout.step(), rollback());
        assert_eq!(
            (rollout.stage(), weights.canary()),
            (Stage::RolledBack, 0.0)
        );
        assert_eq!(alerts.load(Ordering::SeqCst), 1);
        let last = rollout.events().pop().unwrap();
        assert_eq!(last.actor, Actor::Policy);
        assert!(last.message.contains("score 40 < 80"));
        assert_eq!(last.evidence.crossed().count(), 1);
        assert_eq!(last.evidence.to_string(), "score 40 < 80 CROSSED");
    }

    #[test]
    fn invalid_manual_moves_are_refused() {
        let (rollout, _) = rollout(vec![]);
        let err = rollout.retry().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move the rollout from stage `shadow` to `shadow`"
        );
        assert!(rollout.remove().is_err());
        rollout.promote().unwrap();
        assert!(rollout.start_testing(0.5).is_err());
        assert!(rollout.promote().is_err());
        rollout.abort().unwrap();
        assert!(rollout.abort().is_err());
        assert_eq!(
            rollout.rollback_to("v0").unwrap_err().to_string(),
            "no version named `v0` is registered"
        );
        rollout.retry().unwrap();
        assert_eq!(rollout.stage(), Stage::Shadow);
        assert!(rollout.resume().is_err());
        rollout.pause().unwrap();
        assert!(rollout.pause().is_err());
    }

    #[test]
    fn a_replaced_policy_decides_from_the_next_tick() {
        let (rollout, weights) = rollout(vec![shift(0.5)]);
        let event = rollout.set_policy(scripted(vec![shift(0.2)]));
        assert_eq!(
            (event.actor, event.from, event.to),
            (Actor::Operator, Stage::Shadow, Stage::Shadow)
        );
        rollout.step();
        assert_eq!(weights.canary(), 0.2);
    }

    #[test]
    fn paused_rollouts_do_not_ask_the_policy() {
        let (rollout, weights) = rollout(vec![shift(0.5), shift(0.7)]);
        rollout.pause().unwrap();
        assert_eq!(rollout.step(), Decision::Hold);
        assert_eq!(weights.canary(), 0.0);
        rollout.resume().unwrap();
        assert_eq!(rollout.step(), shift(0.5));
        assert_eq!(weights.canary(), 0.5);
    }

    #[test]
    fn rollback_to_a_named_version() {
        let weights = Weights::new(0.0);
        let rollout = Rollout::builder(Health::new(), weights.clone())
            .stable_version("v2", serde_json::json!({"image": "app:2"}))
            .candidate_version("v3", serde_json::json!({"image": "app:3"}))
            .version("v1", serde_json::json!({"image": "app:1"}))
            .build();
        rollout.start_testing(0.2).unwrap();
        rollout.rollback_to("v1").unwrap();
        assert_eq!(rollout.stable_version().as_deref(), Some("v1"));
        assert_eq!(weights.canary(), 0.0);
        assert_eq!(rollout.versions().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn rollbacks_are_validated_after_the_period() {
        let (rollout, _) = rollout(vec![rollback()]);
        rollout.step();
        let events = rollout.events().len();
        rollout.step();
        assert_eq!(rollout.events().len(), events, "still validating");
        tokio::time::advance(Duration::from_secs(61)).await;
        rollout.step();
        let last = rollout.events().pop().unwrap();
        assert_eq!(last.actor, Actor::Controller);
        assert!(
            last.message.starts_with("rollback validated"),
            "{}",
            last.message
        );
    }

    #[test]
    fn adaptive_shadowing_rises_on_anomalies_and_falls_when_steady() {
        let sampler = Adaptive::new(5.0);
        let rollout = Rollout::builder(Health::new(), Weights::new(0.0))
            .adaptive(sampler.clone(), 1.0, 50.0)
            .build();
        let mut s = HealthSnapshot {
            pairs: 100,
            different: 3,
            ..HealthSnapshot::default()
        };
        rollout.step_with(&s);
        assert_eq!(sampler.percent(), 10.0);
        for _ in 0..5 {
            rollout.step_with(&s);
        }
        assert_eq!(sampler.percent(), 50.0);
        s.different = 0;
        rollout.step_with(&s);
        assert_eq!(sampler.percent(), 25.0);
        for _ in 0..10 {
            rollout.step_with(&s);
        }
        assert_eq!(sampler.percent(), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn spawn_ticks_on_the_interval_and_stops() {
        let (rollout, weights) = rollout(vec![shift(0.1), shift(0.2), shift(0.3)]);
        let rollout = Rollout {
            inner: Arc::clone(&rollout.inner),
        };
        let handle = rollout.spawn();
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(weights.canary(), 0.2, "two ticks of 10 s");
        handle.stop().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(weights.canary(), 0.2, "no tick after stop");
    }
}
