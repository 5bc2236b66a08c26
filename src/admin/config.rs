use super::{Admin, GateConfig};
use crate::config::{duration, duration_in, in_range, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SECTION: &str = "admin";

/// The serde form of an [`Admin`]'s settings, checked when it is applied.
///
/// | field | default | allowed |
/// |---|---|---|
/// | `gate` | `{"min_score": 95, "min_pairs": 100}` | `min_score` in `0..=100` ([`Admin::gate`]) |
/// | `history_capacity` | 360 | `1..=100000` ([`Admin::history`]) |
/// | `history_every` | `"2s"` | `1ms..=1h` ([`Admin::history`]) |
///
/// The token and the deployments are not data: add them to the `Admin`
/// this returns (the token from your secret store).
///
/// ```
/// use tower_shadow::admin::AdminConfig;
///
/// let config: AdminConfig = serde_json::from_str(r#"{"gate": {"min_score": 99}, "history_every": "5s"}"#)?;
/// let admin = config.admin()?.token("s3cret");
/// # let _ = admin;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminConfig {
    /// When the promotion gate answers 200.
    pub gate: GateConfig,
    /// How many history samples are kept per deployment.
    pub history_capacity: usize,
    /// At most one history sample per this long.
    #[serde(with = "duration")]
    pub history_every: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            gate: GateConfig::default(),
            history_capacity: super::HISTORY.0,
            history_every: super::HISTORY.1,
        }
    }
}

impl AdminConfig {
    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::admin::AdminConfig;
    ///
    /// let mut config = AdminConfig::default();
    /// config.gate.min_score = 101.0;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid admin config: gate.min_score: must be in 0..=100, not 101"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        in_range(SECTION, "gate.min_score", self.gate.min_score, 0.0, 100.0)?;
        in_range(
            SECTION,
            "history_capacity",
            self.history_capacity as u64,
            1,
            100_000,
        )?;
        duration_in(
            SECTION,
            "history_every",
            self.history_every,
            Duration::from_millis(1),
            Duration::from_secs(3600),
        )
    }

    /// Checks the settings and makes an [`Admin`] with them.
    ///
    /// ```
    /// use tower_shadow::admin::AdminConfig;
    ///
    /// let router: axum::Router = AdminConfig::default().admin()?.router();
    /// # let _ = router;
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn admin(&self) -> Result<Admin, ConfigError> {
        self.validate()?;
        Ok(Admin::new()
            .gate(self.gate)
            .history(self.history_capacity, self.history_every))
    }
}
