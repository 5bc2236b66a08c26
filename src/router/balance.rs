use super::Weights;
use crate::policy::ConfigError;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Performance-based balancing: traffic shares over N backends that follow
/// each backend's measured performance score.
///
/// Each backend's scores are smoothed by an exponentially weighted moving
/// average (EWMA, `smoothing` the weight of the newest score), and the
/// weights are
///
/// ```text
/// weight_i = floor + (1 − N × floor) × smoothed_i / Σ smoothed
/// ```
///
/// so they add up to 1, follow `score / total`, and never fall under
/// `floor`: a slow backend still gets some traffic, and its recovery shows.
/// Before any score (or when every score is 0) the weights are equal.
///
/// A score is any non-negative figure where more is better: the
/// [`HealthSnapshot::score`](crate::health::HealthSnapshot::score) of the
/// version, or a throughput per latency such as `(1 − error rate) / p99`.
/// Clones share the state, so a measuring task and the routing read one
/// balancer. With two backends, [`apply`](Balancer::apply) writes the
/// second one's weight to the [`Weights`] a
/// [`WeightedRouter`](super::WeightedRouter) reads.
///
/// ```
/// use tower_shadow::router::{Balancer, Weights};
///
/// let balancer = Balancer::new(2); // stable, canary
/// let weights = Weights::new(0.5);
/// for _ in 0..20 {
///     balancer.record(0, 100.0); // stable: fast
///     balancer.record(1, 25.0); // canary: four times slower
///     balancer.apply(&weights);
/// }
/// let w = balancer.weights();
/// // 0.05 + 0.9 × 100 / 125: the floor, plus its share of the rest
/// assert!((w[0] - 0.77).abs() < 1e-9, "{w:?}");
/// assert!((weights.canary() - w[1]).abs() < 1e-12);
/// ```
///
/// Customised, or loaded from JSON:
///
/// ```
/// use tower_shadow::router::Balancer;
///
/// let balancer = Balancer::builder(3).smoothing(0.5).floor(0.1).build()?;
/// balancer.record(0, 10.0);
/// balancer.record(1, 0.0);
/// balancer.record(2, 0.0);
/// let w = balancer.weights();
/// assert!((w[0] - 0.8).abs() < 1e-9 && (w[2] - 0.1).abs() < 1e-9, "{w:?}");
///
/// let loaded: Balancer = serde_json::from_str(r#"{"backends": 4, "floor": 0.05}"#)?;
/// assert_eq!(loaded.config().floor, 0.05);
/// let bad = serde_json::from_str::<Balancer>(r#"{"backends": 4, "floor": 0.3}"#);
/// assert!(bad.unwrap_err().to_string().contains("floor: must be in 0..=0.25, not 0.3"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "BalanceConfig", into = "BalanceConfig")]
pub struct Balancer {
    config: BalanceConfig,
    smoothed: Arc<Mutex<Vec<Option<f64>>>>,
}

/// The settings of a [`Balancer`], and its serde form.
///
/// ```
/// use tower_shadow::router::BalanceConfig;
///
/// let mut config = BalanceConfig::default();
/// config.backends = 0;
/// assert_eq!(
///     config.validate().unwrap_err().to_string(),
///     "invalid balance config: backends: must be in 1..=1024, not 0"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct BalanceConfig {
    /// How many backends, `1..=1024`; default 2.
    pub backends: usize,
    /// The weight of the newest score in the moving average, in `0..=1`
    /// (1: no smoothing); default 0.2.
    pub smoothing: f64,
    /// The least weight of any backend, in `0..=1/backends`; default 0.05.
    pub floor: f64,
}

impl Default for BalanceConfig {
    fn default() -> Self {
        Self {
            backends: 2,
            smoothing: 0.2,
            floor: 0.05,
        }
    }
}

/// The most backends a balancer spreads traffic over.
const MAX_BACKENDS: usize = 1024;

impl BalanceConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_BACKENDS).contains(&self.backends) {
            return Err(ConfigError::invalid(
                "balance",
                "backends",
                format_args!("must be in 1..={MAX_BACKENDS}, not {}", self.backends),
            ));
        }
        crate::config::in_range("balance", "smoothing", self.smoothing, 0.0, 1.0)?;
        if self.smoothing == 0.0 {
            return Err(ConfigError::invalid(
                "balance",
                "smoothing",
                "must be above 0, or no score would ever count",
            ));
        }
        let most = 1.0 / self.backends as f64;
        crate::config::in_range("balance", "floor", self.floor, 0.0, most)
    }

    /// Checks the settings and builds the balancer.
    pub fn build(self) -> Result<Balancer, ConfigError> {
        Balancer::try_from(self)
    }
}

impl TryFrom<BalanceConfig> for Balancer {
    type Error = ConfigError;

    fn try_from(config: BalanceConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self {
            smoothed: Arc::new(Mutex::new(vec![None; config.backends])),
            config,
        })
    }
}

impl From<Balancer> for BalanceConfig {
    fn from(balancer: Balancer) -> Self {
        balancer.config
    }
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("config", &self.config)
            .field("weights", &self.weights())
            .finish()
    }
}

/// Configures a [`Balancer`]. Made by [`Balancer::builder`].
#[derive(Clone, Debug)]
pub struct BalanceBuilder {
    config: BalanceConfig,
}

impl BalanceBuilder {
    /// The weight of the newest score in the moving average, in `0..=1`
    /// (above 0); default 0.2.
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.config.smoothing = smoothing;
        self
    }

    /// The least weight of any backend, in `0..=1/backends`; default 0.05.
    pub fn floor(mut self, floor: f64) -> Self {
        self.config.floor = floor;
        self
    }

    /// Checks the settings and builds the balancer.
    pub fn build(self) -> Result<Balancer, ConfigError> {
        self.config.build()
    }
}

impl Balancer {
    /// A balancer over `backends` backends (1 to 1024; out of range,
    /// clamped) with the default smoothing (0.2) and floor (0.05, or
    /// `1/backends` when that is less).
    ///
    /// ```
    /// use tower_shadow::router::Balancer;
    ///
    /// assert_eq!(Balancer::new(4).weights(), vec![0.25; 4]);
    /// ```
    pub fn new(backends: usize) -> Self {
        let backends = backends.clamp(1, MAX_BACKENDS);
        let config = BalanceConfig {
            backends,
            floor: BalanceConfig::default().floor.min(1.0 / backends as f64),
            ..BalanceConfig::default()
        };
        config.build().expect("the defaults are in range")
    }

    /// A builder for the smoothing and the floor.
    ///
    /// ```
    /// use tower_shadow::router::Balancer;
    ///
    /// let balancer = Balancer::builder(2).smoothing(1.0).floor(0.1).build()?;
    /// assert_eq!(balancer.config().floor, 0.1);
    /// assert!(Balancer::builder(2).floor(0.6).build().is_err()); // 2 × 0.6 > 1
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn builder(backends: usize) -> BalanceBuilder {
        BalanceBuilder {
            config: BalanceConfig {
                backends,
                ..BalanceConfig::default()
            },
        }
    }

    /// The settings.
    pub fn config(&self) -> &BalanceConfig {
        &self.config
    }

    /// Records a performance score of backend `index` (more is better).
    /// Scores that are negative, not finite, or for an unknown backend are
    /// ignored.
    ///
    /// ```
    /// use tower_shadow::router::Balancer;
    ///
    /// let balancer = Balancer::builder(2).smoothing(0.5).floor(0.0).build()?;
    /// balancer.record(0, 10.0); // the first score is taken as is
    /// balancer.record(0, 30.0); // then averaged: 0.5 × 30 + 0.5 × 10
    /// balancer.record(1, 20.0);
    /// assert_eq!(balancer.weights(), vec![0.5, 0.5]);
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn record(&self, index: usize, score: f64) {
        if !(score.is_finite() && score >= 0.0) {
            return;
        }
        let alpha = self.config.smoothing;
        if let Some(slot) = self.smoothed.lock().get_mut(index) {
            *slot = Some(match *slot {
                None => score,
                Some(previous) => alpha * score + (1.0 - alpha) * previous,
            });
        }
    }

    /// The current weights, one per backend, adding up to 1, each at least
    /// the floor.
    ///
    /// A backend with no score yet counts with the mean of the others, so a
    /// new backend starts with an average share.
    ///
    /// ```
    /// use tower_shadow::router::Balancer;
    ///
    /// let balancer = Balancer::builder(3).floor(0.0).build()?;
    /// balancer.record(0, 2.0);
    /// balancer.record(1, 4.0);
    /// assert_eq!(balancer.weights(), vec![2.0 / 9.0, 4.0 / 9.0, 3.0 / 9.0]);
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn weights(&self) -> Vec<f64> {
        let smoothed = self.smoothed.lock().clone();
        let n = smoothed.len();
        let known: Vec<f64> = smoothed.iter().flatten().copied().collect();
        let mean = if known.is_empty() {
            1.0
        } else {
            known.iter().sum::<f64>() / known.len() as f64
        };
        let scores: Vec<f64> = smoothed.iter().map(|s| s.unwrap_or(mean)).collect();
        let total: f64 = scores.iter().sum();
        if total <= 0.0 {
            return vec![1.0 / n as f64; n];
        }
        let floor = self.config.floor;
        let spread = 1.0 - n as f64 * floor;
        scores.iter().map(|s| floor + spread * s / total).collect()
    }

    /// Picks a backend for a draw `u` uniform in `0..1`, with the current
    /// weights (a `u` outside `0..1` is clamped).
    ///
    /// ```
    /// use tower_shadow::router::Balancer;
    ///
    /// let balancer = Balancer::new(2);
    /// assert_eq!((balancer.pick(0.2), balancer.pick(0.7)), (0, 1));
    /// ```
    pub fn pick(&self, u: f64) -> usize {
        let weights = self.weights();
        let mut edge = 0.0;
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        for (i, w) in weights.iter().enumerate() {
            edge += w;
            if u < edge {
                return i;
            }
        }
        weights.len() - 1
    }

    /// With two backends (stable first, canary second), sets the canary
    /// weight of `weights` to the canary's share; with another number of
    /// backends, the share of backend 1 (0 with a single backend).
    ///
    /// ```
    /// use tower_shadow::router::{Balancer, Weights};
    ///
    /// let balancer = Balancer::builder(2).floor(0.0).build()?;
    /// balancer.record(0, 1.0);
    /// balancer.record(1, 3.0);
    /// let weights = Weights::new(0.0);
    /// balancer.apply(&weights);
    /// assert_eq!(weights.canary(), 0.75);
    /// # Ok::<(), tower_shadow::policy::ConfigError>(())
    /// ```
    pub fn apply(&self, weights: &Weights) {
        weights.set_canary(self.weights().get(1).copied().unwrap_or(0.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_backends_start_at_the_mean_and_bad_scores_are_ignored() {
        let balancer = Balancer::builder(3)
            .smoothing(1.0)
            .floor(0.0)
            .build()
            .unwrap();
        balancer.record(0, 30.0);
        balancer.record(1, 10.0);
        balancer.record(1, f64::NAN);
        balancer.record(2, -1.0);
        balancer.record(9, 5.0);
        assert_eq!(balancer.weights(), vec![0.5, 1.0 / 6.0, 1.0 / 3.0]);
    }

    #[test]
    fn all_zero_scores_share_equally() {
        let balancer = Balancer::new(2);
        balancer.record(0, 0.0);
        balancer.record(1, 0.0);
        assert_eq!(balancer.weights(), vec![0.5, 0.5]);
    }
}
