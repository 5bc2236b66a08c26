//! The promotion gate: 200 when the candidate is healthy, 412 otherwise,
//! with a JSON body that says why.

use super::error::ApiError;
use crate::health::HealthSnapshot;
use crate::policy::DEFAULT_MIN_PAIRS;
use crate::rollout::{Rollout, Stage};
use serde::{Deserialize, Serialize};

/// When the gate (`/deployments/{name}/gate`) calls a candidate healthy:
/// not rolled back or being removed, at least `min_pairs` compared pairs in
/// the health window, and a score of at least `min_score`.
///
/// A request may override either threshold in its query string
/// (`?min_score=99&min_pairs=500`), so each Flagger webhook or Argo
/// Rollouts metric can ask for its own bar. Loaded from JSON with serde;
/// every field may be left out.
///
/// ```
/// use tower_shadow::admin::GateConfig;
///
/// let gate = GateConfig::default();
/// assert_eq!((gate.min_score, gate.min_pairs), (95.0, 100));
///
/// let strict: GateConfig = serde_json::from_str(r#"{"min_score": 99}"#)?;
/// assert_eq!((strict.min_score, strict.min_pairs), (99.0, 100));
/// assert!(serde_json::from_str::<GateConfig>(r#"{"min_scor": 99}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// The lowest healthy score, in `0..=100`; default 95 (the default
    /// [`ThresholdPolicy`](crate::policy::ThresholdPolicy)'s rollback
    /// threshold). A score that is not a number never passes.
    pub min_score: f64,
    /// The fewest pairs for a verdict; default
    /// [`DEFAULT_MIN_PAIRS`](crate::policy::DEFAULT_MIN_PAIRS): too little
    /// evidence is not health.
    pub min_pairs: u64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            min_score: 95.0,
            min_pairs: DEFAULT_MIN_PAIRS,
        }
    }
}

/// The gate's answer.
#[derive(Debug, Serialize)]
pub(super) struct Verdict {
    pub(super) deployment: String,
    pub(super) healthy: bool,
    pub(super) stage: Stage,
    pub(super) weight: f64,
    pub(super) score: f64,
    pub(super) pairs: u64,
    pub(super) thresholds: GateConfig,
    pub(super) reason: String,
}

/// The gate's options from a query string: thresholds and `always_ok`.
#[derive(Debug)]
pub(super) struct GateQuery {
    pub(super) thresholds: GateConfig,
    /// Answer 200 whatever the verdict (Argo Rollouts counts a non-2xx
    /// answer as a measurement error, not a failure).
    pub(super) always_ok: bool,
}

impl GateQuery {
    /// Parses `min_score`, `min_pairs` and `always_ok` over `defaults`.
    pub(super) fn parse(query: Option<&str>, defaults: GateConfig) -> Result<Self, ApiError> {
        let mut parsed = Self {
            thresholds: defaults,
            always_ok: false,
        };
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty());
        for pair in pairs {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "min_score" => {
                    parsed.thresholds.min_score = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| (0.0..=100.0).contains(s))
                        .ok_or_else(|| {
                            ApiError::field(
                                "min_score",
                                format!("expected a number in 0..=100, not `{value}`"),
                            )
                        })?;
                }
                "min_pairs" => {
                    parsed.thresholds.min_pairs = value.parse().map_err(|_| {
                        ApiError::field(
                            "min_pairs",
                            format!("expected a whole number, not `{value}`"),
                        )
                    })?;
                }
                "always_ok" => {
                    parsed.always_ok = match value {
                        "" | "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(ApiError::field(
                                "always_ok",
                                format!("expected true or false, not `{value}`"),
                            ))
                        }
                    };
                }
                _ => {
                    return Err(ApiError::field(
                        name,
                        "unknown query parameter, expected one of: min_score, min_pairs, always_ok",
                    ))
                }
            }
        }
        Ok(parsed)
    }
}

/// Judges `rollout`'s candidate on `snapshot` against `thresholds`.
pub(super) fn judge(
    name: &str,
    rollout: &Rollout,
    snapshot: &HealthSnapshot,
    thresholds: GateConfig,
) -> Verdict {
    let stage = rollout.stage();
    let score = snapshot.score;
    let (healthy, reason) = match stage {
        Stage::RolledBack => (false, "the candidate was rolled back".to_owned()),
        Stage::Removing => (false, "the candidate is being removed".to_owned()),
        _ if snapshot.pairs < thresholds.min_pairs => (
            false,
            format!(
                "{} pairs < {} needed for a verdict",
                snapshot.pairs, thresholds.min_pairs
            ),
        ),
        _ if !score.is_finite()
            || score < thresholds.min_score
            || thresholds.min_score.is_nan() =>
        {
            (
                false,
                format!("score {score:.1} < {}", thresholds.min_score),
            )
        }
        _ => (
            true,
            format!(
                "score {score:.1} ≥ {} on {} pairs",
                thresholds.min_score, snapshot.pairs
            ),
        ),
    };
    Verdict {
        deployment: name.to_owned(),
        healthy,
        stage,
        weight: rollout.weights().canary(),
        score,
        pairs: snapshot.pairs,
        thresholds,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use crate::router::Weights;
    use http::StatusCode;

    fn snapshot(pairs: u64, score: f64) -> HealthSnapshot {
        HealthSnapshot {
            pairs,
            score,
            ..HealthSnapshot::default()
        }
    }

    #[test]
    fn judges_pairs_score_and_stage() {
        let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
        let gate = GateConfig::default();
        let v = judge("a", &rollout, &snapshot(12, 100.0), gate);
        assert!(!v.healthy);
        assert_eq!(v.reason, "12 pairs < 100 needed for a verdict");
        let v = judge("a", &rollout, &snapshot(500, 90.0), gate);
        assert_eq!((v.healthy, v.reason.as_str()), (false, "score 90.0 < 95"));
        assert!(!judge("a", &rollout, &snapshot(500, f64::NAN), gate).healthy);
        let v = judge("a", &rollout, &snapshot(500, 99.0), gate);
        assert_eq!(
            (v.healthy, v.reason.as_str()),
            (true, "score 99.0 ≥ 95 on 500 pairs")
        );
        rollout.abort().unwrap();
        let v = judge("a", &rollout, &snapshot(500, 99.0), gate);
        assert_eq!(
            (v.healthy, v.reason.as_str()),
            (false, "the candidate was rolled back")
        );
    }

    #[test]
    fn parses_queries() {
        let q = GateQuery::parse(
            Some("min_score=99&min_pairs=5&always_ok"),
            GateConfig::default(),
        )
        .unwrap();
        assert_eq!((q.thresholds.min_score, q.thresholds.min_pairs), (99.0, 5));
        assert!(q.always_ok);
        let q = GateQuery::parse(None, GateConfig::default()).unwrap();
        assert!(!q.always_ok);
        for bad in [
            "min_score=101",
            "min_score=x",
            "min_pairs=-1",
            "always_ok=yes",
            "x=1",
        ] {
            let e = GateQuery::parse(Some(bad), GateConfig::default()).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
