//! Turning health into action: hold, shift the canary weight, promote, or
//! roll back.
//!
//! A [`RollbackPolicy`] reads a [`HealthSnapshot`] and the current canary
//! weight, and returns a [`Decision`]. Every built-in policy also reports
//! the [`Evidence`] for its last decision — the figures it looked at, each
//! threshold and whether it was crossed — which the rollout writes to its
//! audit log next to the decision, so "why did it roll back?" always has an
//! answer.
//!
//! A closure `FnMut(&HealthSnapshot, f64) -> Decision` is a policy too.
//!
//! ```
//! use tower_shadow::health::HealthSnapshot;
//! use tower_shadow::policy::{Decision, RollbackPolicy};
//!
//! let mut policy = |snapshot: &HealthSnapshot, weight: f64| {
//!     if snapshot.score < 50.0 {
//!         Decision::Rollback { reason: format!("score {:.0} < 50", snapshot.score) }
//!     } else {
//!         Decision::Hold
//!     }
//! };
//! assert_eq!(policy.decide(&HealthSnapshot::default(), 0.1), Decision::Hold);
//! ```

use crate::health::HealthSnapshot;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Decides, from a health snapshot and the current canary weight, what the
/// rollout does next.
pub trait RollbackPolicy: Send + 'static {
    /// The decision for this tick.
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision;

    /// The evidence behind the last [`decide`](Self::decide): the checks
    /// made and their outcome. Empty unless the policy reports it.
    fn evidence(&self) -> Evidence {
        Evidence::default()
    }

    /// Forgets what the policy learned, for a rollout that starts over
    /// (a retry after an abort). Does nothing unless the policy keeps state.
    fn reset(&mut self) {}
}

impl<F> RollbackPolicy for F
where
    F: FnMut(&HealthSnapshot, f64) -> Decision + Send + 'static,
{
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        self(snapshot, canary_weight)
    }
}

impl RollbackPolicy for Box<dyn RollbackPolicy> {
    fn decide(&mut self, snapshot: &HealthSnapshot, canary_weight: f64) -> Decision {
        (**self).decide(snapshot, canary_weight)
    }

    fn evidence(&self) -> Evidence {
        (**self).evidence()
    }

    fn reset(&mut self) {
        (**self).reset()
    }
}

/// What a policy decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// Keep the current weight.
    Hold,
    /// Too little data for a verdict (e.g. fewer pairs than the policy's
    /// minimum): keep the current weight, and say why instead of guessing.
    Inconclusive {
        /// What is missing.
        reason: String,
    },
    /// Move the canary weight (up or down) to `canary_weight`.
    Shift {
        /// The new canary weight, in `0.0..=1.0`.
        canary_weight: f64,
        /// Why.
        reason: String,
    },
    /// Give the canary all traffic: it becomes the live version.
    Promote,
    /// Take all traffic off the canary.
    Rollback {
        /// Why.
        reason: String,
    },
}

impl Decision {
    /// How strongly the decision acts against the canary: rollback 4, a
    /// shift down 3, hold and inconclusive 2, a shift up 1, promote 0.
    /// [`any`] takes the most severe of its policies' decisions, [`all`] the
    /// least.
    pub fn severity(&self, canary_weight: f64) -> u8 {
        match self {
            Self::Rollback { .. } => 4,
            Self::Shift {
                canary_weight: w, ..
            } if *w < canary_weight => 3,
            Self::Hold | Self::Inconclusive { .. } => 2,
            Self::Shift { .. } => 1,
            Self::Promote => 0,
        }
    }

    /// The reason, for decisions that carry one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Inconclusive { reason }
            | Self::Shift { reason, .. }
            | Self::Rollback { reason } => Some(reason),
            Self::Hold | Self::Promote => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hold => f.write_str("hold"),
            Self::Inconclusive { reason } => write!(f, "inconclusive: {reason}"),
            Self::Shift {
                canary_weight,
                reason,
            } => write!(
                f,
                "shift canary to {:.1} %: {reason}",
                canary_weight * 100.0
            ),
            Self::Promote => f.write_str("promote"),
            Self::Rollback { reason } => write!(f, "roll back: {reason}"),
        }
    }
}

/// The checks behind a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Each figure compared with its threshold.
    pub checks: Vec<Check>,
}

impl Evidence {
    /// The checks whose threshold was crossed.
    pub fn crossed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.crossed)
    }

    /// Adds a check.
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, check) in self.checks.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{check}")?;
        }
        Ok(())
    }
}

/// One figure compared with one threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was measured, e.g. `score`, `candidate_error_rate`, `p99_ratio`.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// The threshold it was compared with.
    pub threshold: f64,
    /// Whether the threshold is crossed going up (`value > threshold`) or
    /// down (`value < threshold`).
    pub direction: Direction,
    /// Whether the threshold was crossed.
    pub crossed: bool,
}

impl Check {
    /// A check that `value` is not above `threshold`.
    pub fn at_most(name: impl Into<String>, value: f64, threshold: f64) -> Self {
        Self {
            name: name.into(),
            value,
            threshold,
            direction: Direction::Above,
            crossed: value > threshold,
        }
    }

    /// A check that `value` is not below `threshold`.
    pub fn at_least(name: impl Into<String>, value: f64, threshold: f64) -> Self {
        Self {
            name: name.into(),
            value,
            threshold,
            direction: Direction::Below,
            crossed: value < threshold,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, bad) = match self.direction {
            Direction::Above => ("≤", ">"),
            Direction::Below => ("≥", "<"),
        };
        let op = if self.crossed { bad } else { op };
        let mark = if self.crossed { " CROSSED" } else { "" };
        write!(
            f,
            "{} {:.4} {op} {:.4}{mark}",
            self.name, self.value, self.threshold
        )
    }
}

/// Which way a [`Check`]'s threshold is crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Crossed when the value goes above the threshold.
    Above,
    /// Crossed when the value goes below the threshold.
    Below,
}
