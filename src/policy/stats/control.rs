//! Control charts on standardized figures: EWMA and CUSUM, with limits set
//! from the in-control false-alarm rate, not by hand.

use super::normal::{normal_cdf, normal_quantile};
use serde::{Deserialize, Serialize};

/// The in-control average run length (looks between false alarms) of a
/// two-sided EWMA chart on standard normal data with smoothing `lambda` and
/// limits `± l·√(λ/(2−λ))` (the asymptotic standard deviation), by the
/// Markov-chain method of Brook and Evans (1972) with 81 states. NaN for
/// settings out of range.
///
/// ```
/// use tower_shadow::policy::stats::ewma_arl;
///
/// // Lucas and Saccucci (1990), Table 3; Montgomery, "Introduction to
/// // Statistical Quality Control", Table 9.11: λ = 0.1, L = 2.814 gives
/// // an in-control ARL of about 500.
/// assert!((ewma_arl(0.1, 2.814) / 500.0 - 1.0).abs() < 0.02);
/// ```
pub fn ewma_arl(lambda: f64, l: f64) -> f64 {
    if !(lambda > 0.0 && lambda <= 1.0 && l > 0.0 && l.is_finite()) {
        return f64::NAN;
    }
    const M: usize = 81;
    let h = l * (lambda / (2.0 - lambda)).sqrt();
    let w = 2.0 * h / M as f64;
    let centre = |i: usize| -h + (i as f64 + 0.5) * w;
    // (I − P) a = 1, row-major.
    let mut a = vec![0.0f64; M * M];
    let mut rhs = vec![1.0f64; M];
    for i in 0..M {
        let from = (1.0 - lambda) * centre(i);
        for j in 0..M {
            let hi = normal_cdf((centre(j) + w / 2.0 - from) / lambda);
            let lo = normal_cdf((centre(j) - w / 2.0 - from) / lambda);
            a[i * M + j] = f64::from(u8::from(i == j)) - (hi - lo);
        }
    }
    solve(&mut a, &mut rhs, M);
    rhs[M / 2]
}

/// Gaussian elimination with partial pivoting; the solution replaces `b`.
fn solve(a: &mut [f64], b: &mut [f64], m: usize) {
    for col in 0..m {
        let pivot = (col..m)
            .max_by(|&x, &y| a[x * m + col].abs().total_cmp(&a[y * m + col].abs()))
            .unwrap_or(col);
        if pivot != col {
            for k in 0..m {
                a.swap(col * m + k, pivot * m + k);
            }
            b.swap(col, pivot);
        }
        let d = a[col * m + col];
        if d == 0.0 {
            continue;
        }
        for row in col + 1..m {
            let f = a[row * m + col] / d;
            if f != 0.0 {
                for k in col..m {
                    a[row * m + k] -= f * a[col * m + k];
                }
                b[row] -= f * b[col];
            }
        }
    }
    for col in (0..m).rev() {
        let mut s = b[col];
        for k in col + 1..m {
            s -= a[col * m + k] * b[k];
        }
        let d = a[col * m + col];
        b[col] = if d == 0.0 { f64::INFINITY } else { s / d };
    }
}

/// The EWMA limit multiple `L` giving an in-control ARL of `arl0` looks
/// with smoothing `lambda` ([`ewma_arl`] solved by bisection). NaN for
/// settings out of range (`arl0` must be above 1 and within reach of
/// `L ≤ 7`, about 1e10 looks).
///
/// ```
/// use tower_shadow::policy::stats::ewma_limit;
///
/// // Montgomery, Table 9.11: λ = 0.2 needs L = 2.962 for ARL 500.
/// assert!((ewma_limit(0.2, 500.0) - 2.962).abs() < 0.02);
/// ```
pub fn ewma_limit(lambda: f64, arl0: f64) -> f64 {
    if !(arl0 > 1.0 && arl0.is_finite()) {
        return f64::NAN;
    }
    // Beyond L = 7 (an ARL of about 1e10) the chain's solution loses
    // precision; no useful design needs more.
    bisect(|l| ewma_arl(lambda, l), arl0, 0.1, 7.0)
}

/// The in-control ARL of a one-sided upper CUSUM on standard normal data,
/// `S = max(0, S + z − k)` signalling at `S > h`, by Siegmund's
/// approximation. NaN for settings out of range.
///
/// ```
/// use tower_shadow::policy::stats::cusum_arl;
///
/// // Montgomery, Table 9.3: the two-sided CUSUM with k = 0.5, h = 5 has
/// // ARL 465, so each one-sided half about 930.
/// assert!((cusum_arl(0.5, 5.0) / 930.0 - 1.0).abs() < 0.02);
/// ```
pub fn cusum_arl(k: f64, h: f64) -> f64 {
    if !(k > 0.0 && k.is_finite() && h >= 0.0 && h.is_finite()) {
        return f64::NAN;
    }
    let delta = -k;
    let b = h + 1.166;
    ((-2.0 * delta * b).exp() + 2.0 * delta * b - 1.0) / (2.0 * delta * delta)
}

/// The CUSUM decision interval `h` giving an in-control ARL of `arl0`
/// looks with reference value `k` ([`cusum_arl`] solved by bisection).
///
/// ```
/// use tower_shadow::policy::stats::cusum_limit;
///
/// // Montgomery, Table 9.3: k = 0.5, h = 4 gives a two-sided ARL of 168.
/// assert!((cusum_limit(0.5, 2.0 * 168.0) - 4.0).abs() < 0.05);
/// ```
pub fn cusum_limit(k: f64, arl0: f64) -> f64 {
    if !(arl0 > 1.0 && arl0.is_finite()) {
        return f64::NAN;
    }
    bisect(|h| cusum_arl(k, h), arl0, 0.0, 200.0)
}

/// The `x` in `lo..hi` where the increasing `f` reaches `target`.
fn bisect(f: impl Fn(f64) -> f64, target: f64, mut lo: f64, mut hi: f64) -> f64 {
    if !(f(lo) <= target && f(hi) >= target) {
        return f64::NAN;
    }
    while hi - lo > 1e-5 {
        let mid = (lo + hi) / 2.0;
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// An exponentially weighted moving average chart on a standardized figure
/// (in control: mean 0, standard deviation 1), signalling when the average
/// rises over its upper limit.
///
/// The limit is set from the in-control ARL (see [`ewma_limit`]): the
/// two-sided design is used and only the upper side signals, so the
/// in-control false alarms are at most half the design's.
///
/// ```
/// use tower_shadow::policy::stats::Ewma;
///
/// let mut chart = Ewma::new(0.2, 1000.0).unwrap();
/// assert!(!chart.update(0.5));
/// let alarms = (0..20).filter(|_| chart.update(2.0)).count();
/// assert!(alarms > 0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    lambda: f64,
    limit: f64,
    value: f64,
}

impl Ewma {
    /// A chart with smoothing `lambda` (in `0..=1`) and in-control ARL
    /// `arl0` (above 1); `None` when either is out of range.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Ewma;
    ///
    /// assert!(Ewma::new(0.1, 500.0).is_some());
    /// assert!(Ewma::new(0.0, 500.0).is_none());
    /// ```
    pub fn new(lambda: f64, arl0: f64) -> Option<Self> {
        let l = ewma_limit(lambda, arl0);
        l.is_finite().then(|| Self {
            lambda,
            limit: l * (lambda / (2.0 - lambda)).sqrt(),
            value: 0.0,
        })
    }

    /// Adds a standardized observation; whether the chart signals. A NaN
    /// is ignored.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Ewma;
    ///
    /// let mut chart = Ewma::new(0.5, 100.0).unwrap();
    /// assert!(!chart.update(f64::NAN));
    /// assert_eq!(chart.value(), 0.0);
    /// ```
    pub fn update(&mut self, z: f64) -> bool {
        if !z.is_nan() {
            self.value = self.lambda * z.clamp(-1e6, 1e6) + (1.0 - self.lambda) * self.value;
        }
        self.value > self.limit
    }

    /// The moving average.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Ewma;
    ///
    /// let mut chart = Ewma::new(0.5, 100.0).unwrap();
    /// chart.update(2.0);
    /// assert_eq!(chart.value(), 1.0);
    /// ```
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The upper control limit.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Ewma;
    ///
    /// assert!(Ewma::new(0.2, 500.0).unwrap().limit() > 0.9);
    /// ```
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Back to the in-control start.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Ewma;
    ///
    /// let mut chart = Ewma::new(0.5, 100.0).unwrap();
    /// chart.update(3.0);
    /// chart.reset();
    /// assert_eq!(chart.value(), 0.0);
    /// ```
    pub fn reset(&mut self) {
        self.value = 0.0;
    }
}

/// A one-sided upper CUSUM on a standardized figure:
/// `S = max(0, S + z − k)`, signalling when `S > h`, with `h` set from the
/// in-control ARL (see [`cusum_limit`]).
///
/// ```
/// use tower_shadow::policy::stats::Cusum;
///
/// let mut chart = Cusum::new(0.5, 1000.0).unwrap();
/// assert!(!chart.update(1.0));
/// let first = (1..30).find(|_| chart.update(1.5));
/// assert!(first.is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cusum {
    k: f64,
    h: f64,
    sum: f64,
}

impl Cusum {
    /// A chart with reference `k` (half the shift to detect, in standard
    /// deviations; above 0) and in-control ARL `arl0` (above 1).
    ///
    /// ```
    /// use tower_shadow::policy::stats::Cusum;
    ///
    /// assert!(Cusum::new(0.5, 500.0).is_some());
    /// assert!(Cusum::new(-1.0, 500.0).is_none());
    /// ```
    pub fn new(k: f64, arl0: f64) -> Option<Self> {
        let h = cusum_limit(k, arl0);
        h.is_finite().then_some(Self { k, h, sum: 0.0 })
    }

    /// Adds a standardized observation; whether the chart signals. A NaN
    /// is ignored.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Cusum;
    ///
    /// let mut chart = Cusum::new(0.5, 500.0).unwrap();
    /// chart.update(-4.0);
    /// assert_eq!(chart.value(), 0.0);
    /// ```
    pub fn update(&mut self, z: f64) -> bool {
        if !z.is_nan() {
            self.sum = (self.sum + z.clamp(-1e6, 1e6) - self.k).max(0.0);
        }
        self.sum > self.h
    }

    /// The cumulative sum `S`.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Cusum;
    ///
    /// let mut chart = Cusum::new(0.5, 500.0).unwrap();
    /// chart.update(2.0);
    /// assert_eq!(chart.value(), 1.5);
    /// ```
    pub fn value(&self) -> f64 {
        self.sum
    }

    /// The decision interval `h`.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Cusum;
    ///
    /// assert!(Cusum::new(0.5, 930.0).unwrap().limit() > 4.9);
    /// ```
    pub fn limit(&self) -> f64 {
        self.h
    }

    /// Back to `S = 0`.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Cusum;
    ///
    /// let mut chart = Cusum::new(0.5, 500.0).unwrap();
    /// chart.update(3.0);
    /// chart.reset();
    /// assert_eq!(chart.value(), 0.0);
    /// ```
    pub fn reset(&mut self) {
        self.sum = 0.0;
    }
}

/// The normal score of `c` candidate events among `k` events when each is
/// the candidate's with probability `theta` under control: `Φ⁻¹` of one
/// minus the mid-p upper tail `P(C > c) + ½ P(C = c)`, `C ~ Bin(k, θ)`.
/// Discrete counts become a figure with mean about 0 and standard
/// deviation at most about 1, fit for a control chart; 0 with no events.
///
/// ```
/// use tower_shadow::policy::stats::count_score;
///
/// assert_eq!(count_score(0, 0, 0.5), 0.0);
/// // python3 -c "from scipy.stats import binom, norm; print(norm.isf(binom.sf(8,10,0.5)+binom.pmf(8,10,0.5)/2))"
/// assert!((count_score(8, 10, 0.5) - 1.8423108917410795).abs() < 1e-9);
/// ```
pub fn count_score(c: u64, k: u64, theta: f64) -> f64 {
    if k == 0 || !(theta > 0.0 && theta < 1.0) {
        return 0.0;
    }
    let c = c.min(k);
    let (kf, cf) = (k as f64, c as f64);
    if k > 20_000 {
        let sd = (kf * theta * (1.0 - theta)).sqrt();
        return (cf - kf * theta) / sd;
    }
    // log pmf by recurrence, then the tails by log-sum-exp.
    let ln_odds = (theta / (1.0 - theta)).ln();
    let mut ln_pmf = Vec::with_capacity(k as usize + 1);
    let mut current = kf * (1.0 - theta).ln();
    for i in 0..=k {
        ln_pmf.push(current);
        current += ((kf - i as f64) / (i as f64 + 1.0)).ln() + ln_odds;
    }
    let max = ln_pmf.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = ln_pmf.iter().map(|l| (l - max).exp()).sum();
    let above: f64 = ln_pmf[c as usize + 1..]
        .iter()
        .map(|l| (l - max).exp())
        .sum();
    let at = (ln_pmf[c as usize] - max).exp();
    let tail = ((above + at / 2.0) / total).clamp(1e-300, 1.0);
    -normal_quantile(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ewma_arl_matches_published_tables() {
        // Montgomery, "Introduction to Statistical Quality Control" (6th ed.),
        // Table 9.11 (from Lucas and Saccucci 1990): each pair gives an
        // in-control ARL of about 500.
        for (lambda, l) in [(0.05, 2.615), (0.1, 2.814), (0.2, 2.962), (0.4, 3.054)] {
            let arl = ewma_arl(lambda, l);
            assert!((arl / 500.0 - 1.0).abs() < 0.03, "λ {lambda}: {arl}");
        }
        // λ = 1 is a Shewhart chart: ARL = 1 / P(|Z| > 3) = 370.4.
        // python3 -c "from scipy.stats import norm; print(1/(2*norm.sf(3)))"
        assert!((ewma_arl(1.0, 3.0) / 370.398 - 1.0).abs() < 0.01);
        assert!(ewma_arl(0.0, 3.0).is_nan());
        assert!(ewma_limit(0.2, 0.5).is_nan());
    }

    #[test]
    fn cusum_arl_matches_published_tables() {
        // Montgomery, Table 9.3 (two-sided, k = 0.5): h = 4 → 168, h = 5 →
        // 465; one side is twice that.
        assert!((cusum_arl(0.5, 4.0) / 336.0 - 1.0).abs() < 0.02);
        assert!((cusum_arl(0.5, 5.0) / 930.0 - 1.0).abs() < 0.02);
        assert!(cusum_arl(0.0, 5.0).is_nan());
        assert!(cusum_limit(0.5, f64::INFINITY).is_nan());
    }

    #[test]
    fn simulated_run_lengths_agree() {
        // 300 in-control runs each: the mean run length is near the design.
        let mut rng = StdRng::seed_from_u64(3);
        let mut normal = || {
            let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut ewma_total = 0u64;
        let mut cusum_total = 0u64;
        let ewma = Ewma::new(0.2, 200.0).unwrap();
        let cusum = Cusum::new(0.5, 200.0).unwrap();
        for _ in 0..300 {
            let mut e = ewma.clone();
            // Two-sided design, one side signals: about twice the ARL.
            let mut n = 0;
            while n < 100_000 {
                n += 1;
                if e.update(normal()) {
                    break;
                }
            }
            ewma_total += n;
            let mut c = cusum.clone();
            let mut n = 0;
            while n < 100_000 {
                n += 1;
                if c.update(normal()) {
                    break;
                }
            }
            cusum_total += n;
        }
        let ewma_mean = ewma_total as f64 / 300.0;
        let cusum_mean = cusum_total as f64 / 300.0;
        assert!((300.0..600.0).contains(&ewma_mean), "{ewma_mean}");
        assert!((160.0..250.0).contains(&cusum_mean), "{cusum_mean}");
    }

    #[test]
    fn count_scores_match_scipy() {
        // python3 -c "from scipy.stats import binom, norm; f=lambda c,k,t: norm.isf(binom.sf(c,k,t)+binom.pmf(c,k,t)/2); print(f(0,1,0.5), f(3,3,0.5), f(40,100,0.5))"
        // -0.6744897501960817 1.5341205443525463 -1.9949891161840678
        assert!((count_score(0, 1, 0.5) + 0.6744897501960817).abs() < 1e-9);
        assert!((count_score(3, 3, 0.5) - 1.5341205443525463).abs() < 1e-9);
        assert!((count_score(40, 100, 0.5) + 1.9949891161840678).abs() < 1e-9);
        assert!(count_score(5, 3, f64::NAN) == 0.0);
    }
}
