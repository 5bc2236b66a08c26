use super::{Builder, FleetStore, Replica};
use crate::config::{duration, duration_in, ConfigError};
use crate::rollout::Rollout;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SECTION: &str = "replica";
const HOUR: Duration = Duration::from_secs(3600);

/// The serde form of a [`Replica`]'s [`Builder`], checked when it is applied.
///
/// | field | default | allowed |
/// |---|---|---|
/// | `id` | `replica-` and 8 random hexadecimal digits | any name unique in the fleet ([`Builder::id`]) |
/// | `poll` | `"1s"` | `10ms..=1h` ([`Builder::poll`]) |
/// | `lease` | `"10s"` | `3 × poll..=24h` ([`Builder::lease`]) |
/// | `timeout` | `"1s"` | `1ms..=poll` ([`Builder::timeout`]) |
///
/// How often health is published and how long it counts follow the
/// rollout's interval ([`Builder::publish`], [`Builder::health_ttl`]).
///
/// ```
/// use tower_shadow::fleet::{MemoryStore, ReplicaConfig};
/// use tower_shadow::{health::Health, rollout::Rollout, router::Weights};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_shadow::config::ConfigError> {
/// let config: ReplicaConfig =
///     serde_json::from_str(r#"{"id": "checkout-7f9c", "poll": "500ms", "lease": "5s", "timeout": "250ms"}"#)
///         .unwrap();
/// let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
/// let replica = config.builder(rollout, MemoryStore::new())?.spawn();
/// assert_eq!(replica.id(), "checkout-7f9c");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// The replica's id in the store; a random one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How often the replica follows the fleet and renews or seeks the lease.
    #[serde(with = "duration")]
    pub poll: Duration,
    /// How long the controller's lease lasts unless renewed.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// The longest one store call may take.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            id: None,
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
        }
    }
}

impl ReplicaConfig {
    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shadow::fleet::ReplicaConfig;
    ///
    /// let mut config = ReplicaConfig::default();
    /// config.lease = Duration::from_secs(2);
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid replica config: lease: must be in 3s..=24h, not 2s"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        duration_in(SECTION, "poll", self.poll, Duration::from_millis(10), HOUR)?;
        duration_in(SECTION, "lease", self.lease, 3 * self.poll, 24 * HOUR)?;
        duration_in(
            SECTION,
            "timeout",
            self.timeout,
            Duration::from_millis(1),
            self.poll,
        )
    }

    /// Checks the settings and makes a builder for a replica running
    /// `rollout` with `store`, every setting of this config applied.
    pub fn builder<S: FleetStore>(
        &self,
        rollout: Rollout,
        store: S,
    ) -> Result<Builder<S>, ConfigError> {
        self.validate()?;
        let mut builder = Replica::builder(rollout, store)
            .poll(self.poll)
            .lease(self.lease)
            .timeout(self.timeout);
        if let Some(id) = &self.id {
            builder = builder.id(id.clone());
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_unknown_fields() {
        let config = ReplicaConfig::default();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(json, r#"{"poll":"1s","lease":"10s","timeout":"1s"}"#);
        assert_eq!(
            serde_json::from_str::<ReplicaConfig>(&json).unwrap(),
            config
        );
        let err = serde_json::from_str::<ReplicaConfig>(r#"{"pol": "1s"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `pol`"), "{err}");
        let mut slow = config;
        slow.timeout = Duration::from_secs(5);
        assert!(slow.validate().unwrap_err().to_string().contains("timeout"));
    }
}
