use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a candidate is in its rollout.
///
/// ```text
///            ┌────────── promote ───────────┐
/// Shadow ──► Testing ◄──► Degraded          ▼
///   │          │  └────── promote ──────► Live
///   │          │             │               │
///   └──────────┴─────────────┴──► RolledBack ◄┘
///                                  │   │
///                 retry: Shadow ◄──┘   └──► Removing
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// The candidate only receives copies; no user sees its answers.
    Shadow,
    /// The candidate serves real traffic at the canary weight, with its
    /// health enforced.
    Testing,
    /// The candidate is live: it has all the traffic.
    Live,
    /// The candidate's traffic was reduced because its health dropped.
    Degraded,
    /// The candidate's traffic was taken back: weight 0.
    RolledBack,
    /// The candidate is being removed; nothing more happens.
    Removing,
}

impl Stage {
    /// Whether a manual or automatic move from `self` to `to` is allowed.
    pub fn can_move_to(self, to: Stage) -> bool {
        use Stage::*;
        matches!(
            (self, to),
            (Shadow, Testing | Live | RolledBack)
                | (Testing, Degraded | Live | RolledBack)
                | (Degraded, Testing | Live | RolledBack)
                | (Live, RolledBack | Removing)
                | (RolledBack, Shadow | Removing)
        )
    }

    /// The stage's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shadow => "shadow",
            Self::Testing => "testing",
            Self::Live => "live",
            Self::Degraded => "degraded",
            Self::RolledBack => "rolled_back",
            Self::Removing => "removing",
        }
    }

    /// The figure exported as the `tower_shadow_stage` gauge.
    pub(crate) fn code(self) -> f64 {
        match self {
            Self::Shadow => 0.0,
            Self::Testing => 1.0,
            Self::Degraded => 2.0,
            Self::Live => 3.0,
            Self::RolledBack => 4.0,
            Self::Removing => 5.0,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
