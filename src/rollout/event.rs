use super::Stage;
use crate::policy::{Decision, Evidence};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// One entry of the rollout's audit log: what happened, when, why, and on
/// what evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Who acted.
    pub actor: Actor,
    /// The stage before.
    pub from: Stage,
    /// The stage after (the same as `from` when only the weight moved).
    pub to: Stage,
    /// The canary weight before.
    pub weight_before: f64,
    /// The canary weight after.
    pub weight_after: f64,
    /// The decision that was applied.
    pub decision: Decision,
    /// What happened, in words.
    pub message: String,
    /// The policy's checks behind the decision (empty for operators' acts).
    pub evidence: Evidence,
}

/// Who caused an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The rollback policy, on a tick.
    Policy,
    /// An operator, through a manual operation.
    Operator,
    /// The controller itself (rollback validation, for example).
    Controller,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
