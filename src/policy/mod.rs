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
//! # Built-in policies
//!
//! - [`ThresholdPolicy`]: on the 0–100 score; under a rollback threshold
//!   the canary's weight is cut, under a critical one it is rolled back.
//! - [`ProgressivePolicy`]: raises the canary weight toward a target by a
//!   bounded [`Step`] (at most [`MAX_STEP`], ten points, per interval),
//!   holds while the error rate or the latency is over its hold threshold,
//!   rolls back over its revert threshold, promotes at full traffic.
//! - [`MultiKpiPolicy`]: a warning threshold per KPI — latency, error rate,
//!   mismatch rate and the application's own KPIs — and a rollback when
//!   more than N warn.
//! - [`any`] / [`any_of`] act on the most severe decision of several
//!   policies, [`all`] / [`all_of`] on the least severe
//!   ([`Decision::severity`]).
//! - [`guarded`]: a guard with a veto over a driver; [`Standard`], the
//!   rollout's default, is [`ThresholdPolicy`] guarding a
//!   [`ProgressivePolicy`] to full traffic.
//! - [`MinPairs`]: the minimum sample guard for any policy.
//!
//! # Detection policies
//!
//! Statistical policies that decide faster than a fixed threshold at a
//! stated false-alarm rate (measured in `docs/detection.md`), built on the
//! pure statistics in [`stats`]:
//!
//! - [`RankPolicy`]: a fixed-window canary judge in the manner of Kayenta.
//!   Once per window a [`CanaryJudge`] classifies latency, latency spread
//!   and errors by Mann-Whitney rank tests (tie-corrected, Hodges-Lehmann
//!   shift with its interval, tolerance band, mean-ratio and CLES gates,
//!   critical metrics) as pass, high, low or no data, and scores weighted
//!   groups 0–100 against pass and marginal levels. Empty data is never a
//!   silent pass; sparse metrics are not misread as unchanged.
//! - [`SequentialPolicy`]: always-valid mixture sequential tests (mSPRT)
//!   of the mismatch rate and of the candidate's share of errors; it may
//!   look every tick and still keeps the chance of any false alarm under
//!   its `false_alarm_rate`, the sliding window handled by interleaved
//!   streams of disjoint windows.
//! - [`AdaptivePolicy`]: EWMA and CUSUM control charts on the candidate's
//!   standardized difference from the stable version, limits set from the
//!   in-control false-alarm rate (average run length), not by hand; KPI
//!   limits learned from the stable version's history.
//! - [`PredictivePolicy`]: Holt's linear trend forecast of each figure;
//!   acts when the forecast crosses its threshold within a horizon, before
//!   the threshold is reached, and says which forecast and horizon.
//! - [`Severity`] weighs what these policies find by [`AnomalyKind`] — a
//!   rise in errors outweighs a small latency rise — into hold, shift down
//!   or rollback.
//!
//! Each built-in policy gives no verdict on fewer than `min_pairs` pairs
//! (default [`DEFAULT_MIN_PAIRS`], 100): it decides
//! [`Decision::Inconclusive`] ("12 pairs < 100 needed") instead of
//! guessing. It is also inconclusive on figures it cannot use (a NaN score,
//! a NaN weight where the weight matters) and on invalid settings, never
//! panicking. Each is configured with builder methods or loaded from JSON
//! through serde, with defaults for every field, unknown fields rejected
//! and values checked ([`ConfigError`] names the field and the allowed
//! range).
//!
//! A closure `FnMut(&HealthSnapshot, f64) -> Decision` is a policy too.
//!
//! # Example
//!
//! The defaults: roll back under a score of 80, halve the canary weight
//! under 95.
//!
//! ```
//! use tower_shadow::health::HealthSnapshot;
//! use tower_shadow::policy::{Decision, RollbackPolicy, ThresholdPolicy};
//!
//! let mut policy = ThresholdPolicy::new();
//! let mut snapshot = HealthSnapshot::default();
//! snapshot.pairs = 12;
//! assert_eq!(
//!     policy.decide(&snapshot, 0.2),
//!     Decision::Inconclusive { reason: "12 pairs < 100 needed".into() }
//! );
//!
//! snapshot.pairs = 500;
//! snapshot.score = 72.0;
//! let decision = policy.decide(&snapshot, 0.2);
//! assert_eq!(decision, Decision::Rollback { reason: "score 72.0 < critical 80.0".into() });
//! assert_eq!(
//!     policy.evidence().to_string(),
//!     "pairs 500 ≥ 100; score 72 < 80 CROSSED; score 72 < 95 CROSSED"
//! );
//! ```
//!
//! Customised: a progressive rollout with exponential steps, and two guards
//! loaded from the operator's JSON, one of them on a KPI the application
//! reports.
//!
//! ```
//! use tower_shadow::health::{HealthSnapshot, KpiSnapshot, KpiSummary};
//! use tower_shadow::policy::{any, Decision, MultiKpiPolicy, ProgressivePolicy, RollbackPolicy, Step, ThresholdPolicy};
//!
//! let mut rollout = ProgressivePolicy::new(1.0)
//!     .step(Step::Exponential { first: 0.01, factor: 2.0 })
//!     .hold_error_rate(0.005)
//!     .revert_error_rate(0.02)
//!     .min_pairs(200);
//!
//! let thresholds: ThresholdPolicy = serde_json::from_str(r#"{"rollback_threshold": 97, "critical_threshold": 90}"#)?;
//! let kpis: MultiKpiPolicy = serde_json::from_str(r#"{"kpis": {"db_query_ms": 1.3}, "max_warnings": 0}"#)?;
//! let mut guard = any(thresholds, kpis);
//!
//! let mut snapshot = HealthSnapshot::default();
//! snapshot.pairs = 1000;
//! snapshot.score = 99.0;
//! assert_eq!(guard.decide(&snapshot, 0.04), Decision::Hold);
//! assert!(matches!(rollout.decide(&snapshot, 0.04), Decision::Shift { canary_weight, .. } if canary_weight == 0.08));
//!
//! let side = |mean| KpiSummary { count: 300, mean, max: mean };
//! snapshot.kpis.insert("db_query_ms".into(), KpiSnapshot { baseline: side(10.0), candidate: side(16.0) });
//! assert_eq!(
//!     guard.decide(&snapshot, 0.08),
//!     Decision::Rollback { reason: "1 KPI warns, more than 0 allowed: kpi:db_query_ms 1.6 > 1.3".into() }
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! A policy that holds when all is well (thresholds, KPIs) outranks a
//! shift up in [`any`], so `any(ThresholdPolicy::new(),
//! ProgressivePolicy::new(1.0))` would never move up: run guards and the
//! progressive policy side by side as above, or give the progressive
//! policy the thresholds it should hold on.
//!
//! A closure:
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

mod adaptive;
mod all;
mod any;
mod config;
mod error;
mod figures;
mod guarded;
mod judge;
mod min_pairs;
mod multi_kpi;
mod predictive;
mod progressive;
mod rank;
mod sequential;
mod severity;
mod threshold;

pub mod stats;

pub use self::adaptive::{AdaptiveConfig, AdaptivePolicy};
pub use self::all::{all, all_of, All, AllOf};
pub use self::any::{any, any_of, Any, AnyOf};
pub use self::config::PolicyConfig;
pub use self::error::ConfigError;
pub use self::figures::{DEFAULT_MIN_PAIRS, P99_FLOOR_MS};
pub use self::guarded::{guarded, Guarded, Standard};
pub use self::judge::{
    CanaryJudge, Classification, JudgeConfig, JudgeReport, MetricConfig, MetricDirection,
    MetricResult, Verdict,
};
pub use self::min_pairs::MinPairs;
pub use self::multi_kpi::{MultiKpiConfig, MultiKpiPolicy};
pub use self::predictive::{PredictiveConfig, PredictivePolicy};
pub use self::progressive::{ProgressiveConfig, ProgressivePolicy, Step, MAX_STEP};
pub use self::rank::{RankConfig, RankPolicy};
pub use self::sequential::{SequentialConfig, SequentialPolicy};
pub use self::severity::{Anomaly, AnomalyKind, Severity};
pub use self::threshold::{ThresholdConfig, ThresholdPolicy};

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

/// Several policies' evidence, one after the other (how combinators
/// report their children's checks).
impl FromIterator<Evidence> for Evidence {
    fn from_iter<I: IntoIterator<Item = Evidence>>(iter: I) -> Self {
        Self {
            checks: iter.into_iter().flat_map(|e| e.checks).collect(),
        }
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
            "{} {} {op} {}{mark}",
            self.name,
            short(self.value),
            short(self.threshold)
        )
    }
}

/// A figure with at most four decimals and no trailing zeros: `0.05`, `120`.
fn short(value: f64) -> String {
    let text = format!("{value:.4}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
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
