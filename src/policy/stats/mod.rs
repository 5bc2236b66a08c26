//! The statistics behind the detection policies, as pure functions and
//! small state machines on plain numbers, usable without a snapshot.
//!
//! - [`rank`](mann_whitney): the Mann-Whitney U test on weighted
//!   [`Sample`]s (raw values or histogram bins), with tie correction, the
//!   Hodges-Lehmann shift and its confidence interval; a spread test ranks
//!   [`Sample::deviations`]. Used by [`CanaryJudge`](super::CanaryJudge).
//! - [`MixtureSprt`] / [`SequentialTest`]: always-valid tests of a
//!   Bernoulli rate, checkable after every observation. Used by
//!   [`SequentialPolicy`](super::SequentialPolicy).
//! - [`Ewma`] / [`Cusum`]: control charts whose limits come from the
//!   in-control average run length ([`ewma_limit`], [`cusum_limit`]), and
//!   [`count_score`] to chart counts. Used by
//!   [`AdaptivePolicy`](super::AdaptivePolicy).
//! - [`Holt`]: Holt's linear trend forecast with a prediction interval.
//!   Used by [`PredictivePolicy`](super::PredictivePolicy).
//! - [`normal_cdf`], [`normal_sf`], [`normal_quantile`]: the standard
//!   normal distribution.
//!
//! Each function's tests compare it with reference values from SciPy,
//! statsmodels or published tables; the command or table is next to each.
//!
//! # Example
//!
//! ```
//! use tower_shadow::policy::stats::{mann_whitney, MixtureSprt, Sample};
//!
//! // Binned latencies: did the candidate get slower?
//! let baseline = Sample::from_bins([(10.0, 50), (12.0, 40), (20.0, 10)]);
//! let candidate = Sample::from_bins([(12.0, 50), (14.0, 40), (24.0, 10)]);
//! let test = mann_whitney(&baseline, &candidate, 0.99).unwrap();
//! assert!(test.p_greater < 1e-6);
//! assert_eq!(test.shift, 2.0);
//!
//! // 45 of 1000 pairs differ: more than 1 %, whenever we look.
//! assert!(MixtureSprt::new(0.01).unwrap().p_value(45, 1000) < 1e-4);
//! ```

mod control;
mod forecast;
mod normal;
mod rank;
mod sequential;

pub use self::control::{count_score, cusum_arl, cusum_limit, ewma_arl, ewma_limit, Cusum, Ewma};
pub use self::forecast::Holt;
pub use self::normal::{normal_cdf, normal_quantile, normal_sf};
pub use self::rank::{mann_whitney, RankTest, Sample};
pub use self::sequential::{MixtureSprt, SequentialTest, DEFAULT_ODDS_RATIOS};
