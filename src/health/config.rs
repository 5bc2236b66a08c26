use super::{Health, NoiseThresholds};
use crate::config::{duration, duration_in, in_range, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SECTION: &str = "health";

/// The serde form of a [`Health`]'s [builder](super::Builder), checked when
/// it is built.
///
/// | field | default | allowed |
/// |---|---|---|
/// | `window` | `"60s"` | `1ms..=24h` |
/// | `buckets` | 12 | `1..=1024` |
/// | `max_endpoints` | 32 | `1..=`[`MAX_ENDPOINTS`](Self::MAX_ENDPOINTS) |
/// | `max_paths` | 64 | `1..=`[`MAX_PATHS`](Self::MAX_PATHS) |
/// | `noise` | `{"relative": 0.2, "absolute": 0.0003}` | each in `0..=1` ([`NoiseThresholds`]) |
///
/// ```
/// use tower_shadow::health::HealthConfig;
///
/// let config: HealthConfig = serde_json::from_str(r#"{"window": "2m", "buckets": 24}"#)?;
/// let health = config.build()?;
/// # let _ = health;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HealthConfig {
    /// The sliding window's length ([`Builder::window`](super::Builder::window)).
    #[serde(with = "duration")]
    pub window: Duration,
    /// How many buckets the window moves by ([`Builder::buckets`](super::Builder::buckets)).
    pub buckets: usize,
    /// The most endpoints kept apart ([`Builder::max_endpoints`](super::Builder::max_endpoints)).
    pub max_endpoints: usize,
    /// The most differing paths kept per endpoint and bucket
    /// ([`Builder::max_paths`](super::Builder::max_paths)).
    pub max_paths: usize,
    /// When a differing path is real rather than noise ([`Builder::noise`](super::Builder::noise)).
    pub noise: NoiseThresholds,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            buckets: 12,
            max_endpoints: 32,
            max_paths: 64,
            noise: NoiseThresholds::default(),
        }
    }
}

impl HealthConfig {
    /// The largest `max_endpoints` accepted.
    pub const MAX_ENDPOINTS: usize = 4096;
    /// The largest `max_paths` accepted.
    pub const MAX_PATHS: usize = 4096;

    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::health::HealthConfig;
    ///
    /// let mut config = HealthConfig::default();
    /// config.buckets = 0;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid health config: buckets: must be in 1..=1024, not 0"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        duration_in(
            SECTION,
            "window",
            self.window,
            Duration::from_millis(1),
            Duration::from_secs(24 * 3600),
        )?;
        in_range(SECTION, "buckets", self.buckets as u64, 1, 1024)?;
        in_range(
            SECTION,
            "max_endpoints",
            self.max_endpoints as u64,
            1,
            Self::MAX_ENDPOINTS as u64,
        )?;
        in_range(
            SECTION,
            "max_paths",
            self.max_paths as u64,
            1,
            Self::MAX_PATHS as u64,
        )?;
        in_range(SECTION, "noise.relative", self.noise.relative, 0.0, 1.0)?;
        in_range(SECTION, "noise.absolute", self.noise.absolute, 0.0, 1.0)
    }

    /// Checks the settings and builds the `Health`.
    ///
    /// ```
    /// use tower_shadow::health::HealthConfig;
    ///
    /// let health = HealthConfig::default().build()?;
    /// assert_eq!(health.snapshot().pairs, 0);
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn build(&self) -> Result<Health, ConfigError> {
        self.validate()?;
        Ok(Health::builder()
            .window(self.window)
            .buckets(self.buckets)
            .max_endpoints(self.max_endpoints)
            .max_paths(self.max_paths)
            .noise(self.noise)
            .build())
    }
}

impl TryFrom<HealthConfig> for Health {
    type Error = ConfigError;

    fn try_from(config: HealthConfig) -> Result<Self, Self::Error> {
        config.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_builders() {
        let from_config = HealthConfig::default().build().unwrap();
        assert_eq!(format!("{from_config:?}"), format!("{:?}", Health::new()));
    }
}
