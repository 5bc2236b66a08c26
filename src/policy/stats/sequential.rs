//! Always-valid tests for rates: a mixture sequential probability ratio
//! test (mSPRT) on Bernoulli trials.

use serde::{Deserialize, Serialize};

/// The odds ratios of the alternatives a [`MixtureSprt`] mixes by default,
/// with equal weights: from a small rise (1.5×) to a severe one (30×).
pub const DEFAULT_ODDS_RATIOS: [f64; 6] = [1.5, 2.0, 3.0, 5.0, 10.0, 30.0];

/// A one-sided mixture SPRT for a Bernoulli rate: `H0: p ≤ p0` against
/// `p > p0`.
///
/// The test statistic is the mixture likelihood ratio
///
/// ```text
/// Λ(s, n) = Σᵢ wᵢ · (pᵢ / p0)^s · ((1 − pᵢ) / (1 − p0))^(n − s)
/// ```
///
/// over alternatives `pᵢ > p0` (by default the odds of `p0` times each of
/// [`DEFAULT_ODDS_RATIOS`], equal weights), for `s` successes in `n`
/// trials. Under `H0` each factor, and so `Λ`, is a nonnegative
/// supermartingale with mean at most 1, so by Ville's inequality
/// `P(Λ ever reaches 1/α) ≤ α`: the test may be checked after every trial,
/// or at any times chosen as the data come in, and its false-alarm rate
/// stays at most `α` (Robbins 1970; the always-valid p-value
/// `min(1, 1/max Λ)` of Johari et al. 2017).
///
/// ```
/// use tower_shadow::policy::stats::MixtureSprt;
///
/// let test = MixtureSprt::new(0.01).unwrap();
/// // 1 % of 1000 pairs differ: no evidence against p ≤ 1 %.
/// assert!(test.p_value(10, 1000) > 0.5);
/// // 4 %: rejected at α = 0.001.
/// assert!(test.p_value(40, 1000) < 0.001);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixtureSprt {
    p0: f64,
    alternatives: Vec<f64>,
}

impl MixtureSprt {
    /// The test of `p ≤ p0` with the default alternatives; `None` unless
    /// `0 < p0 < 1`.
    ///
    /// ```
    /// use tower_shadow::policy::stats::MixtureSprt;
    ///
    /// assert!(MixtureSprt::new(0.5).is_some());
    /// assert!(MixtureSprt::new(0.0).is_none());
    /// assert!(MixtureSprt::new(f64::NAN).is_none());
    /// ```
    pub fn new(p0: f64) -> Option<Self> {
        Self::with_odds_ratios(p0, &DEFAULT_ODDS_RATIOS)
    }

    /// The test of `p ≤ p0` mixing, with equal weights, the alternatives
    /// whose odds are those of `p0` times each ratio. `None` unless
    /// `0 < p0 < 1` and every ratio is finite and above 1.
    ///
    /// ```
    /// use tower_shadow::policy::stats::MixtureSprt;
    ///
    /// let test = MixtureSprt::with_odds_ratios(0.5, &[3.0]).unwrap();
    /// assert_eq!(test.alternatives(), &[0.75]);
    /// assert!(MixtureSprt::with_odds_ratios(0.5, &[1.0]).is_none());
    /// ```
    pub fn with_odds_ratios(p0: f64, ratios: &[f64]) -> Option<Self> {
        if !(p0 > 0.0 && p0 < 1.0)
            || ratios.is_empty()
            || ratios.iter().any(|r| !(r.is_finite() && *r > 1.0))
        {
            return None;
        }
        let odds0 = p0 / (1.0 - p0);
        let alternatives = ratios
            .iter()
            .map(|r| {
                let odds = odds0 * r;
                odds / (1.0 + odds)
            })
            .filter(|p| *p > p0 && *p < 1.0)
            .collect::<Vec<_>>();
        (!alternatives.is_empty()).then_some(Self { p0, alternatives })
    }

    /// The null rate `p0`.
    ///
    /// ```
    /// use tower_shadow::policy::stats::MixtureSprt;
    ///
    /// assert_eq!(MixtureSprt::new(0.02).unwrap().p0(), 0.02);
    /// ```
    pub fn p0(&self) -> f64 {
        self.p0
    }

    /// The alternative rates mixed, with equal weights.
    ///
    /// ```
    /// use tower_shadow::policy::stats::MixtureSprt;
    ///
    /// assert_eq!(MixtureSprt::new(0.5).unwrap().alternatives().len(), 6);
    /// ```
    pub fn alternatives(&self) -> &[f64] {
        &self.alternatives
    }

    /// `ln Λ` for `successes` in `trials` (successes beyond trials count as
    /// trials).
    ///
    /// ```
    /// use tower_shadow::policy::stats::MixtureSprt;
    ///
    /// let test = MixtureSprt::with_odds_ratios(0.5, &[3.0]).unwrap();
    /// // One success: Λ = 0.75 / 0.5.
    /// assert!((test.log_e_value(1, 1) - 1.5f64.ln()).abs() < 1e-12);
    /// assert_eq!(test.log_e_value(0, 0), 0.0);
    /// ```
    pub fn log_e_value(&self, successes: u64, trials: u64) -> f64 {
        let s = successes.min(trials) as f64;
        let f = (trials as f64) - s;
        let terms: Vec<f64> = self
            .alternatives
            .iter()
            .map(|&p| s * (p / self.p0).ln() + f * ((1.0 - p) / (1.0 - self.p0)).ln())
            .collect();
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
        max + (sum / terms.len() as f64).ln()
    }

    /// `min(1, 1/Λ)`: the p-value of this one look. Kept as a running
    /// minimum over looks (as [`SequentialTest`] does) it is always valid.
    ///
    /// ```
    /// use tower_shadow::policy::stats::MixtureSprt;
    ///
    /// let test = MixtureSprt::new(0.01).unwrap();
    /// assert_eq!(test.p_value(0, 100), 1.0);
    /// ```
    pub fn p_value(&self, successes: u64, trials: u64) -> f64 {
        (-self.log_e_value(successes, trials)).exp().min(1.0)
    }
}

/// A [`MixtureSprt`] with its cumulative counts and its always-valid
/// p-value (the running minimum of `1/Λ`).
///
/// ```
/// use tower_shadow::policy::stats::{MixtureSprt, SequentialTest};
///
/// let mut test = SequentialTest::new(MixtureSprt::new(0.01).unwrap());
/// for _ in 0..10 {
///     test.add(4, 100); // 4 % per batch of 100
/// }
/// assert_eq!(test.counts(), (40, 1000));
/// assert!(test.rejects(0.01));
/// test.add(0, 100_000); // later good news cannot undo a rejection
/// assert!(test.rejects(0.01));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequentialTest {
    test: MixtureSprt,
    successes: u64,
    trials: u64,
    p_value: f64,
}

impl SequentialTest {
    /// A test with no data yet (p-value 1).
    ///
    /// ```
    /// use tower_shadow::policy::stats::{MixtureSprt, SequentialTest};
    ///
    /// let test = SequentialTest::new(MixtureSprt::new(0.1).unwrap());
    /// assert_eq!(test.p_value(), 1.0);
    /// ```
    pub fn new(test: MixtureSprt) -> Self {
        Self {
            test,
            successes: 0,
            trials: 0,
            p_value: 1.0,
        }
    }

    /// Adds a batch of `successes` in `trials` and looks.
    ///
    /// ```
    /// use tower_shadow::policy::stats::{MixtureSprt, SequentialTest};
    ///
    /// let mut test = SequentialTest::new(MixtureSprt::new(0.1).unwrap());
    /// test.add(5, 10);
    /// assert!(test.p_value() < 1.0);
    /// ```
    pub fn add(&mut self, successes: u64, trials: u64) {
        self.trials = self.trials.saturating_add(trials);
        self.successes = self
            .successes
            .saturating_add(successes.min(trials))
            .min(self.trials);
        self.p_value = self
            .p_value
            .min(self.test.p_value(self.successes, self.trials));
    }

    /// `(successes, trials)` so far.
    ///
    /// ```
    /// use tower_shadow::policy::stats::{MixtureSprt, SequentialTest};
    ///
    /// let mut test = SequentialTest::new(MixtureSprt::new(0.1).unwrap());
    /// test.add(9, 3);
    /// assert_eq!(test.counts(), (3, 3));
    /// ```
    pub fn counts(&self) -> (u64, u64) {
        (self.successes, self.trials)
    }

    /// The always-valid p-value: the smallest `1/Λ` seen.
    ///
    /// ```
    /// use tower_shadow::policy::stats::{MixtureSprt, SequentialTest};
    ///
    /// let mut test = SequentialTest::new(MixtureSprt::new(0.5).unwrap());
    /// test.add(10, 10);
    /// let p = test.p_value();
    /// test.add(0, 10);
    /// assert_eq!(test.p_value(), p);
    /// ```
    pub fn p_value(&self) -> f64 {
        self.p_value
    }

    /// Whether `H0` is rejected at `alpha`.
    ///
    /// ```
    /// use tower_shadow::policy::stats::{MixtureSprt, SequentialTest};
    ///
    /// assert!(!SequentialTest::new(MixtureSprt::new(0.5).unwrap()).rejects(0.05));
    /// ```
    pub fn rejects(&self, alpha: f64) -> bool {
        self.p_value <= alpha
    }

    /// The test's null and alternatives.
    ///
    /// ```
    /// use tower_shadow::policy::stats::{MixtureSprt, SequentialTest};
    ///
    /// let test = SequentialTest::new(MixtureSprt::new(0.5).unwrap());
    /// assert_eq!(test.test().p0(), 0.5);
    /// ```
    pub fn test(&self) -> &MixtureSprt {
        &self.test
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn log_e_value_matches_scipy() {
        let test = MixtureSprt::new(0.01).unwrap();
        // python3 -c "import numpy as np; from scipy.stats import binom; from scipy.special import logsumexp; p0=0.01; o=p0/(1-p0); ps=[o*r/(1+o*r) for r in (1.5,2,3,5,10,30)]; print(repr(logsumexp([binom.logpmf(30,1000,p)-binom.logpmf(30,1000,p0) for p in ps], b=1/6)))"
        // 11.475801632108604
        assert!((test.log_e_value(30, 1000) - 11.475801632108604).abs() < 1e-9);
        let coin = MixtureSprt::new(0.5).unwrap();
        // python3 -c "import numpy as np; from scipy.stats import binom; from scipy.special import logsumexp; p0=0.5; ps=[r/(1+r) for r in (1.5,2,3,5,10,30)]; print(repr(logsumexp([binom.logpmf(12,14,p)-binom.logpmf(12,14,p0) for p in ps], b=1/6)))"
        // 3.269978373087141
        assert!((coin.log_e_value(12, 14) - 3.269978373087141).abs() < 1e-9);
    }

    #[test]
    fn false_alarms_stay_under_alpha_however_often_it_looks() {
        // 400 null streams of 3000 Bernoulli(1 %) trials, looked at after
        // every trial: the rate of ever rejecting at α = 5 % stays under it.
        let mut rng = StdRng::seed_from_u64(7);
        let mut alarms = 0;
        for _ in 0..400 {
            let mut test = SequentialTest::new(MixtureSprt::new(0.01).unwrap());
            for _ in 0..3000 {
                test.add(u64::from(rng.random_bool(0.01)), 1);
                if test.rejects(0.05) {
                    alarms += 1;
                    break;
                }
            }
        }
        assert!(alarms <= 20, "{alarms} false alarms in 400");
    }

    #[test]
    fn refuses_bad_settings() {
        assert!(MixtureSprt::new(1.0).is_none());
        assert!(MixtureSprt::with_odds_ratios(0.5, &[]).is_none());
        assert!(MixtureSprt::with_odds_ratios(0.5, &[f64::NAN]).is_none());
        let test = MixtureSprt::new(0.3).unwrap();
        assert!(test.alternatives().iter().all(|&p| p > 0.3 && p < 1.0));
        assert_eq!(test.p_value(5, 2), test.p_value(2, 2));
    }
}
