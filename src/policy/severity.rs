use super::error::{above, in_range, ConfigError};
use super::figures::{num, weight};
use super::Decision;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of misbehaviour an [`Anomaly`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnomalyKind {
    /// The candidate fails (errors, 5xx) more than the baseline.
    ErrorRate,
    /// More pairs differ than allowed.
    Mismatch,
    /// The candidate is slower.
    Latency,
    /// The candidate's latency is more spread out (a wider tail).
    Spread,
    /// A custom KPI moved the wrong way.
    Kpi,
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ErrorRate => "error rate",
            Self::Mismatch => "mismatch",
            Self::Latency => "latency",
            Self::Spread => "spread",
            Self::Kpi => "kpi",
        })
    }
}

/// One thing a policy found wrong this tick, and why.
///
/// ```
/// use tower_shadow::policy::{Anomaly, AnomalyKind};
///
/// let anomaly = Anomaly::new(AnomalyKind::Latency, "mean latency ratio 1.3");
/// assert_eq!(anomaly.kind, AnomalyKind::Latency);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Anomaly {
    /// Its kind, which sets its weight.
    pub kind: AnomalyKind,
    /// What was seen, for the decision's reason.
    pub reason: String,
}

impl Anomaly {
    /// An anomaly of `kind`.
    ///
    /// ```
    /// use tower_shadow::policy::{Anomaly, AnomalyKind};
    ///
    /// assert_eq!(Anomaly::new(AnomalyKind::Kpi, "x").reason, "x");
    /// ```
    pub fn new(kind: AnomalyKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

/// How much each kind of anomaly weighs, and what a total weight does:
/// at least `rollback_at` rolls back, at least `shift_at` shifts the
/// canary weight down by `step_down`, less holds.
///
/// The defaults weigh a rise in errors or mismatches 1 (a rollback on its
/// own) and a latency, spread or KPI anomaly 0.5 (a shift down on its own,
/// a rollback with a second one): a rise in 5xx outweighs a small latency
/// rise. Used by [`SequentialPolicy`](super::SequentialPolicy),
/// [`AdaptivePolicy`](super::AdaptivePolicy) and
/// [`PredictivePolicy`](super::PredictivePolicy); loaded from JSON with
/// defaults for every field.
///
/// ```
/// use tower_shadow::policy::{Anomaly, AnomalyKind, Decision, Severity};
///
/// let severity = Severity::default();
/// let slow = Anomaly::new(AnomalyKind::Latency, "latency up 20 %");
/// assert!(matches!(
///     severity.decide(&[slow.clone()], 0.4),
///     Some(Decision::Shift { canary_weight, .. }) if canary_weight == 0.2
/// ));
/// let failing = Anomaly::new(AnomalyKind::ErrorRate, "5xx up");
/// assert_eq!(
///     severity.decide(&[failing], 0.4),
///     Some(Decision::Rollback { reason: "5xx up (severity 1.0 ≥ 1.0)".into() })
/// );
/// assert_eq!(severity.decide(&[], 0.4), None);
///
/// let lenient: Severity = serde_json::from_str(r#"{"error_rate": 0.6}"#)?;
/// assert!(matches!(lenient.decide(&[Anomaly::new(AnomalyKind::ErrorRate, "x")], 0.4), Some(Decision::Shift { .. })));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Severity {
    /// The weight of an [`AnomalyKind::ErrorRate`]; default 1.
    pub error_rate: f64,
    /// The weight of an [`AnomalyKind::Mismatch`]; default 1.
    pub mismatch: f64,
    /// The weight of an [`AnomalyKind::Latency`]; default 0.5.
    pub latency: f64,
    /// The weight of an [`AnomalyKind::Spread`]; default 0.5.
    pub spread: f64,
    /// The weight of an [`AnomalyKind::Kpi`]; default 0.5.
    pub kpi: f64,
    /// A total weight from which to roll back; default 1.
    pub rollback_at: f64,
    /// A total weight from which to shift the canary down; default 0.5,
    /// at most `rollback_at`.
    pub shift_at: f64,
    /// The factor (`0..1`) a shift down multiplies the weight by; default 0.5.
    pub step_down: f64,
}

impl Default for Severity {
    fn default() -> Self {
        Self {
            error_rate: 1.0,
            mismatch: 1.0,
            latency: 0.5,
            spread: 0.5,
            kpi: 0.5,
            rollback_at: 1.0,
            shift_at: 0.5,
            step_down: 0.5,
        }
    }
}

impl Severity {
    /// The weight of `kind`.
    ///
    /// ```
    /// use tower_shadow::policy::{AnomalyKind, Severity};
    ///
    /// assert_eq!(Severity::default().weight(AnomalyKind::Spread), 0.5);
    /// ```
    pub fn weight(&self, kind: AnomalyKind) -> f64 {
        match kind {
            AnomalyKind::ErrorRate => self.error_rate,
            AnomalyKind::Mismatch => self.mismatch,
            AnomalyKind::Latency => self.latency,
            AnomalyKind::Spread => self.spread,
            AnomalyKind::Kpi => self.kpi,
        }
    }

    /// Checks every field, naming the first out of range.
    ///
    /// ```
    /// use tower_shadow::policy::Severity;
    ///
    /// let mut severity = Severity::default();
    /// severity.shift_at = 2.0;
    /// assert_eq!(
    ///     severity.validate().unwrap_err().to_string(),
    ///     "invalid policy config: severity.shift_at: must be in 0..=1, not 2"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("severity.error_rate", self.error_rate),
            ("severity.mismatch", self.mismatch),
            ("severity.latency", self.latency),
            ("severity.spread", self.spread),
            ("severity.kpi", self.kpi),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(ConfigError::new(
                    field,
                    format_args!("must be a finite number ≥ 0, not {value}"),
                ));
            }
        }
        above("severity.rollback_at", self.rollback_at, 0.0)?;
        in_range("severity.shift_at", self.shift_at, 0.0, self.rollback_at)?;
        if !(0.0..1.0).contains(&self.step_down) {
            return Err(ConfigError::new(
                "severity.step_down",
                format_args!("must be in 0..1 (1 excluded), not {}", self.step_down),
            ));
        }
        Ok(())
    }

    /// The decision for this tick's anomalies, or `None` when their total
    /// weight is under `shift_at` (the policy then holds or says why not).
    /// A shift at weight 0 (nothing left to take off the canary) holds; a
    /// NaN weight where a shift needs it is inconclusive.
    ///
    /// ```
    /// use tower_shadow::policy::{Anomaly, AnomalyKind, Decision, Severity};
    ///
    /// let slow = Anomaly::new(AnomalyKind::Latency, "slow");
    /// assert_eq!(Severity::default().decide(&[slow], 0.0), Some(Decision::Hold));
    /// ```
    pub fn decide(&self, anomalies: &[Anomaly], canary_weight: f64) -> Option<Decision> {
        let total: f64 = anomalies.iter().map(|a| self.weight(a.kind)).sum();
        if anomalies.is_empty() || total < self.shift_at {
            return None;
        }
        let reasons = anomalies
            .iter()
            .map(|a| a.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        if total >= self.rollback_at {
            return Some(Decision::Rollback {
                reason: format!(
                    "{reasons} (severity {} ≥ {})",
                    num(total),
                    num(self.rollback_at)
                ),
            });
        }
        let current = match weight(canary_weight) {
            Ok(w) => w,
            Err(inconclusive) => return Some(inconclusive),
        };
        let lowered = current * self.step_down;
        Some(if lowered < current {
            Decision::Shift {
                canary_weight: lowered,
                reason: format!(
                    "{reasons} (severity {} ≥ {})",
                    num(total),
                    num(self.shift_at)
                ),
            }
        } else {
            Decision::Hold
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighs_kinds_and_sums() {
        let s = Severity::default();
        let a = |kind| Anomaly::new(kind, "x");
        assert!(matches!(
            s.decide(&[a(AnomalyKind::Latency), a(AnomalyKind::Spread)], 0.5),
            Some(Decision::Rollback { .. })
        ));
        assert!(matches!(
            s.decide(&[a(AnomalyKind::Kpi)], f64::NAN),
            Some(Decision::Inconclusive { .. })
        ));
        let quiet = Severity {
            latency: 0.1,
            ..Severity::default()
        };
        assert_eq!(quiet.decide(&[a(AnomalyKind::Latency)], 0.5), None);
        assert_eq!(AnomalyKind::ErrorRate.to_string(), "error rate");
    }

    #[test]
    fn validates() {
        let bad = |s: Severity| s.validate().unwrap_err().to_string();
        assert!(bad(Severity {
            latency: f64::NAN,
            ..Default::default()
        })
        .contains("severity.latency"));
        assert!(bad(Severity {
            rollback_at: 0.0,
            ..Default::default()
        })
        .contains("severity.rollback_at"));
        assert!(bad(Severity {
            step_down: 1.0,
            ..Default::default()
        })
        .contains("severity.step_down"));
        assert!(Severity::default().validate().is_ok());
        let json = serde_json::to_string(&Severity::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<Severity>(&json).unwrap(),
            Severity::default()
        );
        assert!(serde_json::from_str::<Severity>(r#"{"errors": 1}"#).is_err());
    }
}
