//! The names under which figures go to the [`metrics`] facade.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `tower_shadow_sampled_total` | counter | | requests the sampler picked |
//! | `tower_shadow_skipped_total` | counter | `reason` | picked but not shadowed or not compared ([`SkipReason`](super::SkipReason)) |
//! | `tower_shadow_pairs_total` | counter | `outcome` = `equivalent` \| `different` | compared pairs |
//! | `tower_shadow_differences_total` | counter | `endpoint`, `path` | real differences, by endpoint and path |
//! | `tower_shadow_errors_total` | counter | `side` = `baseline` \| `candidate` | failed sides of compared pairs (errors, timeouts, panics, 5xx) |
//! | `tower_shadow_latency_seconds` | histogram | `side` | time to the response head, per side |
//! | `tower_shadow_kpi` | histogram | `kpi`, `side` | custom KPIs reported with `Health::record_kpi` |
//! | `tower_shadow_score` | gauge | | the health score, 0–100 |
//! | `tower_shadow_in_flight` | gauge | | shadows running now |
//! | `tower_shadow_canary_weight` | gauge | | the canary's share of live traffic, 0–1 |
//! | `tower_shadow_stage` | gauge | | the rollout stage: 0 shadow, 1 testing, 2 degraded, 3 live, 4 rolled back, 5 removing |

/// Counter: requests the sampler picked.
pub const SAMPLED: &str = "tower_shadow_sampled_total";
/// Counter: picked requests that were not shadowed or not compared, by `reason`.
pub const SKIPPED: &str = "tower_shadow_skipped_total";
/// Counter: compared pairs, by `outcome`.
pub const PAIRS: &str = "tower_shadow_pairs_total";
/// Counter: real differences, by `endpoint` and `path`.
pub const DIFFERENCES: &str = "tower_shadow_differences_total";
/// Counter: failed sides of compared pairs, by `side`.
pub const ERRORS: &str = "tower_shadow_errors_total";
/// Histogram: seconds to the response head, by `side`.
pub const LATENCY: &str = "tower_shadow_latency_seconds";
/// Histogram: custom KPI values, by `kpi` and `side`.
pub const KPI: &str = "tower_shadow_kpi";
/// Gauge: the health score, 0–100.
pub const SCORE: &str = "tower_shadow_score";
/// Gauge: shadows running now.
pub const IN_FLIGHT: &str = "tower_shadow_in_flight";
/// Gauge: the canary's share of live traffic, 0–1.
pub const CANARY_WEIGHT: &str = "tower_shadow_canary_weight";
/// Gauge: the rollout stage (0 shadow, 1 testing, 2 degraded, 3 live, 4 rolled back, 5 removing).
pub const STAGE: &str = "tower_shadow_stage";
