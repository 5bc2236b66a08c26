use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The share of traffic the canary gets, in `0.0..=1.0`, shared by every
/// clone: the rollout writes it, the [`WeightedRouter`](super::WeightedRouter)
/// reads it on every request with one atomic load.
///
/// ```
/// use tower_shadow::router::Weights;
///
/// let weights = Weights::new(0.1);
/// let reader = weights.clone();
/// weights.set_canary(0.25);
/// assert_eq!(reader.canary(), 0.25);
/// assert_eq!(reader.stable(), 0.75);
/// weights.set_canary(7.0); // clamped
/// assert_eq!(reader.canary(), 1.0);
/// ```
#[derive(Clone)]
pub struct Weights {
    canary: Arc<AtomicU64>,
}

/// Clamps a weight to `0.0..=1.0`, `NaN` to `0.0`.
pub(crate) fn clamp_weight(weight: f64) -> f64 {
    if weight.is_nan() {
        0.0
    } else {
        weight.clamp(0.0, 1.0)
    }
}

impl Weights {
    /// Starts with `canary` of the traffic on the canary (clamped to
    /// `0.0..=1.0`; `NaN` counts as `0.0`).
    pub fn new(canary: f64) -> Self {
        Self {
            canary: Arc::new(AtomicU64::new(clamp_weight(canary).to_bits())),
        }
    }

    /// The canary's share.
    pub fn canary(&self) -> f64 {
        f64::from_bits(self.canary.load(Ordering::Relaxed))
    }

    /// The stable version's share: `1 − canary`.
    pub fn stable(&self) -> f64 {
        1.0 - self.canary()
    }

    /// Sets the canary's share for every clone (clamped like [`Weights::new`]).
    pub fn set_canary(&self, canary: f64) {
        self.canary
            .store(clamp_weight(canary).to_bits(), Ordering::Relaxed);
    }
}

impl Default for Weights {
    /// All traffic on the stable version.
    fn default() -> Self {
        Self::new(0.0)
    }
}

impl fmt::Debug for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Weights")
            .field("canary", &self.canary())
            .finish()
    }
}
