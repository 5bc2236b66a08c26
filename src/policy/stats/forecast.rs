//! Holt's linear trend method: a level and a trend, smoothed, forecast
//! ahead with a prediction interval.

use serde::{Deserialize, Serialize};

/// Holt's linear exponential smoothing of a series:
///
/// ```text
/// level  ℓₜ = α·yₜ + (1 − α)·(ℓₜ₋₁ + bₜ₋₁)
/// trend  bₜ = β·(ℓₜ − ℓₜ₋₁) + (1 − β)·bₜ₋₁
/// forecast ŷₜ₊ₕ = ℓₜ + h·bₜ
/// ```
///
/// started from the first two observations (`ℓ₂ = y₂`, `b₂ = y₂ − y₁`:
/// statsmodels' `initialization_method="known"` with `initial_level = y₁`,
/// `initial_trend = y₂ − y₁`, fitted from `y₂` on). The one-step errors
/// from the third observation on give `σ`, and the `h`-step forecast's standard deviation
/// is `σ·√(1 + Σⱼ₌₁..ₕ₋₁ α²(1 + jβ)²)` (Hyndman and Athanasopoulos,
/// "Forecasting: Principles and Practice", ETS(A,A,N)).
///
/// ```
/// use tower_shadow::policy::stats::Holt;
///
/// let mut holt = Holt::new(0.5, 0.3).unwrap();
/// for y in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0] {
///     holt.update(y);
/// }
/// // A straight line is forecast along itself.
/// assert_eq!(holt.forecast(2.0), Some(10.0));
/// assert_eq!(holt.trend(), 1.0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holt {
    alpha: f64,
    beta: f64,
    level: Option<f64>,
    trend: f64,
    observations: u64,
    sse: f64,
}

impl Holt {
    /// Smoothing `alpha` for the level and `beta` for the trend, each in
    /// `0..=1` (0 excluded for `alpha`); `None` otherwise.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// assert!(Holt::new(0.3, 0.1).is_some());
    /// assert!(Holt::new(0.0, 0.1).is_none());
    /// assert!(Holt::new(0.3, f64::NAN).is_none());
    /// ```
    pub fn new(alpha: f64, beta: f64) -> Option<Self> {
        (alpha > 0.0 && alpha <= 1.0 && (0.0..=1.0).contains(&beta)).then_some(Self {
            alpha,
            beta,
            level: None,
            trend: 0.0,
            observations: 0,
            sse: 0.0,
        })
    }

    /// Adds the next observation. Values that are not finite are ignored.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// let mut holt = Holt::new(0.5, 0.5).unwrap();
    /// holt.update(f64::NAN);
    /// assert_eq!(holt.observations(), 0);
    /// holt.update(3.0);
    /// assert_eq!(holt.level(), Some(3.0));
    /// ```
    pub fn update(&mut self, y: f64) {
        if !y.is_finite() {
            return;
        }
        self.observations += 1;
        let Some(level) = self.level else {
            self.level = Some(y);
            return;
        };
        if self.observations == 2 {
            self.trend = y - level;
            self.level = Some(y);
            return;
        }
        let predicted = level + self.trend;
        self.sse += (y - predicted) * (y - predicted);
        let next = self.alpha * y + (1.0 - self.alpha) * predicted;
        self.trend = self.beta * (next - level) + (1.0 - self.beta) * self.trend;
        self.level = Some(next);
    }

    /// The forecast `h` steps ahead, `None` before the first observation.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// assert_eq!(Holt::new(0.5, 0.5).unwrap().forecast(1.0), None);
    /// ```
    pub fn forecast(&self, h: f64) -> Option<f64> {
        self.level.map(|l| l + h * self.trend)
    }

    /// The standard deviation of the one-step errors so far
    /// (`√(SSE / (n − 2))`, from the third observation on), `None` under
    /// three observations.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// let mut holt = Holt::new(0.5, 0.5).unwrap();
    /// holt.update(1.0);
    /// holt.update(2.0);
    /// assert_eq!(holt.residual_sd(), None);
    /// holt.update(3.0);
    /// assert_eq!(holt.residual_sd(), Some(0.0));
    /// ```
    pub fn residual_sd(&self) -> Option<f64> {
        (self.observations >= 3).then(|| (self.sse / (self.observations - 2) as f64).sqrt())
    }

    /// The standard deviation of the forecast `h` steps ahead (`h ≥ 1`).
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// let mut holt = Holt::new(0.5, 0.2).unwrap();
    /// for y in [1.0, 3.0, 2.0, 4.0] {
    ///     holt.update(y);
    /// }
    /// assert!(holt.forecast_sd(3.0).unwrap() > holt.forecast_sd(1.0).unwrap());
    /// ```
    pub fn forecast_sd(&self, h: f64) -> Option<f64> {
        let sigma = self.residual_sd()?;
        let steps = h.max(1.0).floor() as u64;
        let spread: f64 = (1..steps)
            .map(|j| {
                let c = self.alpha * (1.0 + j as f64 * self.beta);
                c * c
            })
            .sum();
        Some(sigma * (1.0 + spread).sqrt())
    }

    /// The current level, `None` before the first observation.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// assert_eq!(Holt::new(0.5, 0.5).unwrap().level(), None);
    /// ```
    pub fn level(&self) -> Option<f64> {
        self.level
    }

    /// The current trend, per step.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// assert_eq!(Holt::new(0.5, 0.5).unwrap().trend(), 0.0);
    /// ```
    pub fn trend(&self) -> f64 {
        self.trend
    }

    /// How many observations were added.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// let mut holt = Holt::new(0.5, 0.5).unwrap();
    /// holt.update(1.0);
    /// assert_eq!(holt.observations(), 1);
    /// ```
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// Forgets the series.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Holt;
    ///
    /// let mut holt = Holt::new(0.5, 0.5).unwrap();
    /// holt.update(1.0);
    /// holt.reset();
    /// assert_eq!(holt.level(), None);
    /// ```
    pub fn reset(&mut self) {
        *self = Self {
            level: None,
            trend: 0.0,
            observations: 0,
            sse: 0.0,
            ..*self
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_statsmodels() {
        // python3 -c "from statsmodels.tsa.holtwinters import Holt; import numpy as np; y=np.array([10,12,13,15,16,19,20,22,25,26.]); m=Holt(y[1:], initialization_method='known', initial_level=y[0], initial_trend=y[1]-y[0]).fit(smoothing_level=0.5, smoothing_trend=0.3, optimized=False); print(repr(m.level[-1]), repr(m.trend[-1]), list(m.forecast(3)), repr(m.sse))"
        // 26.143039774609374 1.8958414527734375 [28.038881227382813, 29.93472268015625, 31.830564132929688] 4.7290378450570465
        let mut holt = Holt::new(0.5, 0.3).unwrap();
        for y in [10.0, 12.0, 13.0, 15.0, 16.0, 19.0, 20.0, 22.0, 25.0, 26.0] {
            holt.update(y);
        }
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        close(holt.level().unwrap(), 26.143039774609374);
        close(holt.trend(), 1.8958414527734375);
        close(holt.forecast(1.0).unwrap(), 28.038881227382813);
        close(holt.forecast(3.0).unwrap(), 31.830564132929688);
        close(
            holt.residual_sd().unwrap(),
            (4.7290378450570465f64 / 8.0).sqrt(),
        );
        // h = 2: σ·√(1 + α²(1 + β)²)
        close(
            holt.forecast_sd(2.0).unwrap(),
            holt.residual_sd().unwrap() * (1.0f64 + 0.25 * 1.69).sqrt(),
        );
    }
}
