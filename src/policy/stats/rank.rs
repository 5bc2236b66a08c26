//! The Mann-Whitney U test (Wilcoxon rank-sum) on weighted samples, with
//! tie correction, the Hodges-Lehmann shift and its confidence interval.

use super::normal::{normal_quantile, normal_sf};
use serde::{Deserialize, Serialize};

/// A sample as sorted distinct values with their counts: raw values
/// ([`from_values`](Self::from_values)) or histogram bins
/// ([`from_bins`](Self::from_bins)) alike.
///
/// Values that are not finite (NaN, ±∞) and empty bins are left out and
/// counted in [`dropped`](Self::dropped), so a NaN can never decide a test.
///
/// ```
/// use tower_shadow::policy::stats::Sample;
///
/// let sample = Sample::from_values(&[3.0, 1.0, 3.0, f64::NAN]);
/// assert_eq!(sample.len(), 3);
/// assert_eq!(sample.dropped(), 1);
/// assert_eq!(sample.values(), &[(1.0, 1), (3.0, 2)]);
/// assert_eq!(sample.median(), Some(3.0));
///
/// let bins = Sample::from_bins([(10.0, 5), (20.0, 5)]);
/// assert_eq!(bins.mean(), Some(15.0));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    values: Vec<(f64, u64)>,
    len: u64,
    dropped: u64,
}

impl Sample {
    /// A sample of raw values.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert_eq!(Sample::from_values(&[2.0, 2.0]).values(), &[(2.0, 2)]);
    /// ```
    pub fn from_values(values: &[f64]) -> Self {
        Self::from_bins(values.iter().map(|&v| (v, 1)))
    }

    /// A sample of `(value, count)` bins, in any order; equal values merge.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// let sample = Sample::from_bins([(5.0, 2), (1.0, 0), (5.0, 1)]);
    /// assert_eq!(sample.values(), &[(5.0, 3)]);
    /// assert_eq!(sample.len(), 3);
    /// ```
    pub fn from_bins(bins: impl IntoIterator<Item = (f64, u64)>) -> Self {
        let mut dropped = 0u64;
        let mut values: Vec<(f64, u64)> = bins
            .into_iter()
            .filter(|&(v, count)| {
                if !v.is_finite() {
                    dropped = dropped.saturating_add(count);
                }
                v.is_finite() && count > 0
            })
            .map(|(v, count)| (if v == 0.0 { 0.0 } else { v }, count))
            .collect();
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, u64)> = Vec::with_capacity(values.len());
        for (v, count) in values {
            match merged.last_mut() {
                Some(last) if last.0 == v => last.1 = last.1.saturating_add(count),
                _ => merged.push((v, count)),
            }
        }
        let len = merged.iter().fold(0u64, |n, &(_, c)| n.saturating_add(c));
        Self {
            values: merged,
            len,
            dropped,
        }
    }

    /// The distinct values, ascending, with their counts.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert!(Sample::default().values().is_empty());
    /// ```
    pub fn values(&self) -> &[(f64, u64)] {
        &self.values
    }

    /// How many values (the sum of the counts).
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert_eq!(Sample::from_bins([(1.0, 7)]).len(), 7);
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the sample holds no value.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert!(Sample::from_values(&[f64::NAN]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Values left out because they were not finite.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert_eq!(Sample::from_values(&[f64::INFINITY, 1.0]).dropped(), 1);
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether every value is the same (and there is at least one).
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert!(Sample::from_values(&[0.0, 0.0]).is_constant());
    /// assert!(!Sample::from_values(&[0.0, 1.0]).is_constant());
    /// ```
    pub fn is_constant(&self) -> bool {
        self.values.len() == 1
    }

    /// The mean, `None` when empty.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert_eq!(Sample::from_values(&[1.0, 2.0, 6.0]).mean(), Some(3.0));
    /// ```
    pub fn mean(&self) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        let n = self.len as f64;
        Some(self.values.iter().map(|&(v, c)| v * (c as f64 / n)).sum())
    }

    /// The sample variance (`n − 1` in the denominator), `None` under two
    /// values.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// // python3 -c "import numpy as np; print(np.var([1, 2, 6], ddof=1))"
    /// assert_eq!(Sample::from_values(&[1.0, 2.0, 6.0]).variance(), Some(7.0));
    /// ```
    pub fn variance(&self) -> Option<f64> {
        let mean = self.mean()?;
        if self.len < 2 {
            return None;
        }
        let ss: f64 = self
            .values
            .iter()
            .map(|&(v, c)| (v - mean) * (v - mean) * c as f64)
            .sum();
        Some(ss / (self.len - 1) as f64)
    }

    /// The median (the mean of the two middle values for an even count),
    /// `None` when empty.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// assert_eq!(Sample::from_values(&[4.0, 1.0, 2.0, 3.0]).median(), Some(2.5));
    /// ```
    pub fn median(&self) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        let lo = self.nth((self.len - 1) / 2);
        let hi = self.nth(self.len / 2);
        Some(midpoint(lo, hi))
    }

    /// The value of 0-based rank `k` (`k < len`).
    fn nth(&self, k: u64) -> f64 {
        let mut seen = 0u64;
        for &(v, c) in &self.values {
            seen = seen.saturating_add(c);
            if k < seen {
                return v;
            }
        }
        self.values.last().map_or(f64::NAN, |&(v, _)| v)
    }

    /// Absolute deviations from the median: the sample a spread test ranks
    /// (a rank form of the Brown-Forsythe test). A wider candidate has
    /// larger deviations, even when its median is unchanged.
    ///
    /// ```
    /// use tower_shadow::policy::stats::Sample;
    ///
    /// let deviations = Sample::from_values(&[1.0, 2.0, 4.0]).deviations();
    /// assert_eq!(deviations.values(), &[(0.0, 1), (1.0, 1), (2.0, 1)]);
    /// ```
    pub fn deviations(&self) -> Sample {
        match self.median() {
            Some(median) => {
                Sample::from_bins(self.values.iter().map(|&(v, c)| ((v - median).abs(), c)))
            }
            None => Sample::default(),
        }
    }
}

/// The outcome of a Mann-Whitney U test of `candidate` against `baseline`,
/// from [`mann_whitney`].
///
/// Shifts are `candidate − baseline`: positive when the candidate is
/// higher (slower, more errors).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RankTest {
    /// Values on the baseline side.
    pub n_baseline: u64,
    /// Values on the candidate side.
    pub n_candidate: u64,
    /// The candidate's U: pairs (baseline, candidate) with the candidate
    /// higher, ties counting one half (SciPy's `mannwhitneyu(candidate,
    /// baseline).statistic`).
    pub u: f64,
    /// The standard deviation of U under the null, corrected for ties.
    pub sigma: f64,
    /// One-sided p-value for "the candidate is higher", with continuity
    /// correction (SciPy `alternative="greater"`, `method="asymptotic"`).
    pub p_greater: f64,
    /// One-sided p-value for "the candidate is lower".
    pub p_less: f64,
    /// Two-sided p-value (SciPy `alternative="two-sided"`).
    pub p_two_sided: f64,
    /// The common-language effect size, `U / (n_baseline × n_candidate)`:
    /// the chance that a random candidate value exceeds a random baseline
    /// value, ties counting one half. 0.5 is no effect.
    pub cles: f64,
    /// The Hodges-Lehmann estimate of the shift: the median of all
    /// `candidate − baseline` differences.
    pub shift: f64,
    /// The lower end of the shift's confidence interval.
    pub shift_low: f64,
    /// The upper end of the shift's confidence interval.
    pub shift_high: f64,
    /// The confidence level of `shift_low..=shift_high`.
    pub confidence: f64,
}

/// The Mann-Whitney U test of `candidate` against `baseline` (normal
/// approximation with tie correction and continuity correction), the
/// Hodges-Lehmann shift estimate and its distribution-free confidence
/// interval at `confidence` (order statistics of the pairwise differences,
/// Lehmann's normal approximation of the rank, with the tie-corrected
/// variance). `None` when a side is empty or `confidence` is not in `0..1`.
///
/// Runs in `O((b + c) log(range))` for `b` and `c` distinct values, so a
/// latency histogram of a few hundred bins is tested in microseconds.
/// Pairwise differences equal to 1e-12 relative count as one value.
///
/// ```
/// use tower_shadow::policy::stats::{mann_whitney, Sample};
///
/// let baseline = Sample::from_values(&[1.0, 2.0, 3.0, 4.0, 5.0]);
/// let candidate = Sample::from_values(&[3.0, 4.0, 5.0, 6.0, 7.0]);
/// let test = mann_whitney(&baseline, &candidate, 0.95).unwrap();
/// // python3 -c "from scipy.stats import mannwhitneyu as m; print(m([3,4,5,6,7],[1,2,3,4,5],method='asymptotic',alternative='greater'))"
/// assert_eq!(test.u, 20.5);
/// assert!((test.p_greater - 0.056923149003329024).abs() < 1e-12);
/// assert_eq!(test.shift, 2.0);
/// ```
pub fn mann_whitney(baseline: &Sample, candidate: &Sample, confidence: f64) -> Option<RankTest> {
    if baseline.is_empty() || candidate.is_empty() || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let (n1, n2) = (baseline.len as f64, candidate.len as f64);
    let n = n1 + n2;

    // Merge the two sorted samples; each tie group gets its mid-rank.
    let (b, c) = (&baseline.values, &candidate.values);
    let (mut i, mut j) = (0, 0);
    let mut rank = 0.0f64;
    let mut candidate_ranks = 0.0f64;
    let mut ties = 0.0f64;
    while i < b.len() || j < c.len() {
        let v = match (b.get(i), c.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        let mut in_b = 0.0;
        let mut in_c = 0.0;
        if b.get(i).is_some_and(|x| x.0 == v) {
            in_b = b[i].1 as f64;
            i += 1;
        }
        if c.get(j).is_some_and(|y| y.0 == v) {
            in_c = c[j].1 as f64;
            j += 1;
        }
        let t = in_b + in_c;
        let mid = rank + (t + 1.0) / 2.0;
        candidate_ranks += in_c * mid;
        ties += t * t * t - t;
        rank += t;
    }
    let u = candidate_ranks - n2 * (n2 + 1.0) / 2.0;
    let mu = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    let sigma = if variance > 0.0 && n > 1.0 {
        variance.sqrt()
    } else {
        0.0
    };
    let p = |z: f64| {
        if sigma > 0.0 {
            normal_sf(z / sigma)
        } else {
            1.0
        }
    };
    let p_greater = p(u - mu - 0.5).min(1.0);
    let p_less = p(mu - u - 0.5).min(1.0);
    let p_two_sided = (2.0 * p((u - mu).abs() - 0.5)).min(1.0);

    let pairs = n1 * n2;
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let k = (pairs / 2.0 - z * sigma).floor().max(1.0);
    let median_low = ((pairs + 1.0) / 2.0).floor();
    let median_high = ((pairs + 2.0) / 2.0).floor();
    let shift = {
        let lo = kth_difference(b, c, median_low);
        // With ties the two middle differences are usually one value.
        let hi = if median_high == median_low || count_at_most(b, c, lo) >= median_high {
            lo
        } else {
            kth_difference(b, c, median_high)
        };
        midpoint(lo, hi)
    };
    Some(RankTest {
        n_baseline: baseline.len,
        n_candidate: candidate.len,
        u,
        sigma,
        p_greater,
        p_less,
        p_two_sided,
        cles: u / pairs,
        shift,
        shift_low: kth_difference(b, c, k),
        shift_high: kth_difference(b, c, pairs + 1.0 - k),
        confidence,
    })
}

/// How many differences `y − x` (candidate minus baseline) are `≤ d`.
fn count_at_most(b: &[(f64, u64)], c: &[(f64, u64)], d: f64) -> f64 {
    // For a fixed y, y − x ≤ d holds from some x on; that x only moves right
    // as y grows.
    let mut from = 0usize;
    let mut above = b.iter().map(|&(_, w)| w as f64).sum::<f64>();
    let mut count = 0.0;
    for &(y, wy) in c {
        while from < b.len() && y - b[from].0 > d {
            above -= b[from].1 as f64;
            from += 1;
        }
        count += wy as f64 * above;
    }
    count
}

/// The largest difference `y − x` that is `≤ d` (−∞ when there is none).
fn largest_at_most(b: &[(f64, u64)], c: &[(f64, u64)], d: f64) -> f64 {
    let mut best = f64::NEG_INFINITY;
    let mut from = 0usize;
    for &(y, _) in c {
        while from < b.len() && y - b[from].0 > d {
            from += 1;
        }
        if let Some(&(x, _)) = b.get(from) {
            best = best.max(y - x);
        }
    }
    best
}

/// The point halfway between `lo` and `hi`, without overflowing when they
/// are far apart (`-f64::MAX` and `f64::MAX`).
fn midpoint(lo: f64, hi: f64) -> f64 {
    let half_gap = (hi - lo) / 2.0;
    if half_gap.is_finite() {
        lo + half_gap
    } else {
        lo / 2.0 + hi / 2.0
    }
}

/// The `k`-th smallest (1-based) of the weighted differences `y − x`.
fn kth_difference(b: &[(f64, u64)], c: &[(f64, u64)], k: f64) -> f64 {
    let (Some(bf), Some(bl), Some(cf), Some(cl)) = (b.first(), b.last(), c.first(), c.last())
    else {
        return f64::NAN;
    };
    let mut lo = cf.0 - bl.0;
    let mut hi = cl.0 - bf.0;
    if count_at_most(b, c, lo) >= k {
        return lo;
    }
    // Invariant: fewer than k differences ≤ lo, at least k ≤ hi. Stop
    // when the two are equal to 1e-12 relative: differences closer than
    // that count as one.
    for _ in 0..2100 {
        let mid = midpoint(lo, hi);
        if mid <= lo || mid >= hi || hi - lo <= 1e-12 * lo.abs().max(hi.abs()) {
            break;
        }
        if count_at_most(b, c, mid) >= k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    largest_at_most(b, c, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(b: &[f64], c: &[f64], confidence: f64) -> RankTest {
        mann_whitney(&Sample::from_values(b), &Sample::from_values(c), confidence).unwrap()
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol * b.abs().max(1e-300), "{a} vs {b}");
    }

    #[test]
    fn samples_merge_and_summarise() {
        let s = Sample::from_bins([(2.0, 1), (f64::NAN, 3), (1.0, 2), (-0.0, 1)]);
        assert_eq!(s.values(), &[(0.0, 1), (1.0, 2), (2.0, 1)]);
        assert_eq!(s.dropped(), 3);
        assert_eq!(s.len(), 4);
        assert_eq!(s.median(), Some(1.0));
        assert_eq!(Sample::default().mean(), None);
        assert_eq!(Sample::default().median(), None);
        assert_eq!(Sample::from_values(&[1.0]).variance(), None);
        assert!(Sample::default().deviations().is_empty());
    }

    #[test]
    fn matches_scipy_without_ties() {
        let b = [
            19.0, 22.0, 16.0, 29.0, 24.0, 20.0, 11.0, 17.0, 12.0, 21.0, 15.0,
        ];
        let c = [23.0, 25.0, 31.0, 27.0, 33.0, 18.0, 28.0, 26.0, 30.0];
        // python3 -c "from scipy.stats import mannwhitneyu as m; c=[23,25,31,27,33,18,28,26,30]; b=[19,22,16,29,24,20,11,17,12,21,15]; print(*(m(c,b,method='asymptotic',alternative=a) for a in ('greater','less','two-sided')))"
        // statistic=87.0 pvalue=0.0024691778393221143 ... pvalue=0.9980553366989484 ... pvalue=0.004938355678644229
        let t = test(&b, &c, 0.95);
        assert_eq!(t.u, 87.0);
        close(t.p_greater, 0.0024691778393221143, 1e-10);
        close(t.p_less, 0.9980553366989484, 1e-10);
        close(t.p_two_sided, 0.004938355678644229, 1e-10);
        close(t.cles, 87.0 / 99.0, 1e-12);
        // python3 -c "import numpy as np; from scipy.stats import norm; c=np.array([23,25,31,27,33,18,28,26,30.]); b=np.array([19,22,16,29,24,20,11,17,12,21,15.]); d=np.sort(np.subtract.outer(c,b).ravel()); n1,n2=len(b),len(c); k=int(np.floor(n1*n2/2-norm.ppf(0.975)*np.sqrt(n1*n2*(n1+n2+1)/12))); print(np.median(d), k, d[k-1], d[n1*n2-k])"
        // 8.0 23 3.0 13.0
        assert_eq!(t.shift, 8.0);
        assert_eq!((t.shift_low, t.shift_high), (3.0, 13.0));
    }

    #[test]
    fn matches_scipy_with_heavy_ties() {
        // Binned latencies: few distinct values, many ties.
        let b = Sample::from_bins([(10.0, 40), (11.0, 30), (12.0, 20), (15.0, 10)]);
        let c = Sample::from_bins([(10.0, 25), (11.0, 30), (12.0, 25), (15.0, 15), (20.0, 5)]);
        // python3 -c "import numpy as np; from scipy.stats import mannwhitneyu as m; b=np.repeat([10,11,12,15],[40,30,20,10]); c=np.repeat([10,11,12,15,20],[25,30,25,15,5]); print(*(m(c,b,method='asymptotic',alternative=a) for a in ('greater','two-sided')))"
        // statistic=6075.0 pvalue=0.0031735619447569564 statistic=6075.0 pvalue=0.006347123889513913
        let t = mann_whitney(&b, &c, 0.9).unwrap();
        assert_eq!(t.u, 6075.0);
        close(t.p_greater, 0.0031735619447569564, 1e-10);
        close(t.p_two_sided, 0.006347123889513913, 1e-10);
        // python3 -c "import numpy as np; from scipy.stats import norm; from scipy.stats import tiecorrect, rankdata; b=np.repeat([10,11,12,15],[40,30,20,10]); c=np.repeat([10,11,12,15,20],[25,30,25,15,5]); d=np.sort(np.subtract.outer(c,b).ravel()); n1,n2=len(b),len(c); s=np.sqrt(n1*n2/12*((n1+n2+1)*tiecorrect(rankdata(np.r_[b,c])))); k=int(np.floor(n1*n2/2-norm.ppf(0.95)*s)); print(np.median(d), d[k-1], d[n1*n2-k])"
        // 0.0 0 1
        assert_eq!(t.shift, 0.0);
        assert_eq!((t.shift_low, t.shift_high), (0.0, 1.0));
    }

    #[test]
    fn spread_test_matches_scipy() {
        // Same median (10), wider candidate.
        let b = [8.0, 9.0, 9.5, 10.0, 10.0, 10.5, 11.0, 12.0];
        let c = [5.0, 7.0, 9.0, 10.0, 10.0, 11.0, 13.0, 15.0];
        // python3 -c "import numpy as np; from scipy.stats import mannwhitneyu as m; b=np.array([8,9,9.5,10,10,10.5,11,12]); c=np.array([5,7,9,10,10,11,13,15.]); print(m(abs(c-np.median(c)),abs(b-np.median(b)),method='asymptotic',alternative='greater'))"
        // statistic=44.0 pvalue=0.10941673046439981
        let t = mann_whitney(
            &Sample::from_values(&b).deviations(),
            &Sample::from_values(&c).deviations(),
            0.95,
        )
        .unwrap();
        assert_eq!(t.u, 44.0);
        close(t.p_greater, 0.10941673046439981, 1e-10);
    }

    #[test]
    fn refuses_empty_sides_and_bad_confidence() {
        let one = Sample::from_values(&[1.0]);
        assert!(mann_whitney(&Sample::default(), &one, 0.95).is_none());
        assert!(mann_whitney(&one, &Sample::default(), 0.95).is_none());
        assert!(mann_whitney(&one, &one, f64::NAN).is_none());
        assert!(mann_whitney(&one, &one, 1.0).is_none());
        // All values equal: no variance, no evidence either way.
        let t = mann_whitney(&one, &one, 0.95).unwrap();
        assert_eq!((t.p_greater, t.p_less, t.p_two_sided), (1.0, 1.0, 1.0));
        assert_eq!(t.shift, 0.0);
    }
}
