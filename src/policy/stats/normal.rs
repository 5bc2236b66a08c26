//! The standard normal distribution, to double precision.

/// `P(Z ≤ x)` for a standard normal `Z`, to about 1e-15 absolute and 1e-8
/// relative in the tails (Hart's algorithm as
/// given by West, "Better approximations to cumulative normal functions").
/// NaN gives NaN.
///
/// ```
/// use tower_shadow::policy::stats::normal_cdf;
///
/// // python3 -c "from scipy.stats import norm; print(norm.cdf(1.96))"
/// assert!((normal_cdf(1.96) - 0.9750021048517795).abs() < 1e-14);
/// assert_eq!(normal_cdf(0.0), 0.5);
/// ```
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let tail = upper_tail(x.abs());
    if x > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// `P(Z > x)`, the upper tail, accurate far into it (no `1 − cdf`
/// cancellation).
///
/// ```
/// use tower_shadow::policy::stats::normal_sf;
///
/// // python3 -c "from scipy.stats import norm; print(norm.sf(8.0))"
/// assert!((normal_sf(8.0) / 6.22096057427174e-16 - 1.0).abs() < 1e-8);
/// ```
pub fn normal_sf(x: f64) -> f64 {
    normal_cdf(-x)
}

fn upper_tail(x: f64) -> f64 {
    if x > 37.0 {
        return 0.0;
    }
    let e = (-x * x / 2.0).exp();
    if x < 7.071_067_811_865_47 {
        let mut n = 3.526_249_659_989_11e-2 * x + 0.700_383_064_443_688;
        n = n * x + 6.373_962_203_531_65;
        n = n * x + 33.912_866_078_383;
        n = n * x + 112.079_291_497_871;
        n = n * x + 221.213_596_169_931;
        n = n * x + 220.206_867_912_376;
        let mut d = 8.838_834_764_831_84e-2 * x + 1.755_667_163_182_64;
        d = d * x + 16.064_177_579_207;
        d = d * x + 86.780_732_202_946_1;
        d = d * x + 296.564_248_779_674;
        d = d * x + 637.333_633_378_831;
        d = d * x + 793.826_512_519_948;
        d = d * x + 440.413_735_824_752;
        e * n / d
    } else {
        let mut b = x + 0.65;
        b = x + 4.0 / b;
        b = x + 3.0 / b;
        b = x + 2.0 / b;
        b = x + 1.0 / b;
        e / b / 2.506_628_274_631
    }
}

/// The `p`-quantile of the standard normal: `x` with `P(Z ≤ x) = p`.
/// `p` outside `0..=1` or NaN gives NaN; 0 and 1 give ∓∞.
///
/// Acklam's rational approximation, refined by one Halley step on
/// [`normal_cdf`].
///
/// ```
/// use tower_shadow::policy::stats::normal_quantile;
///
/// // python3 -c "from scipy.stats import norm; print(norm.ppf(0.975))"
/// assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-12);
/// assert!(normal_quantile(1.5).is_nan());
/// ```
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        let q = (-2.0 * q.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < LOW {
        tail(p)
    } else if p > 1.0 - LOW {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step: the approximation is good to 1e-9, the step takes it
    // to the precision of `normal_cdf`. `cdf(x) − p` is computed from the
    // upper tail for x > 0 to avoid cancellation.
    let e = if x > 0.0 {
        (1.0 - p) - normal_sf(x)
    } else {
        normal_cdf(x) - p
    };
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy() {
        // python3 -c "from scipy.stats import norm; print(repr(norm.cdf(-3.0)), repr(norm.cdf(0.5)), repr(norm.sf(5.0)), repr(norm.cdf(-10)))"
        // 0.0013498980316300933 0.6914624612740131 2.866515718791933e-07 7.61985302416047e-24
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 1e-8;
        assert!(close(normal_cdf(-3.0), 0.0013498980316300933));
        assert!(close(normal_cdf(0.5), 0.6914624612740131));
        assert!(close(normal_sf(5.0), 2.866515718791933e-07));
        assert!(close(normal_cdf(-10.0), 7.61985302416047e-24));
        assert_eq!(normal_cdf(f64::INFINITY), 1.0);
        assert_eq!(normal_cdf(f64::NEG_INFINITY), 0.0);
        assert!(normal_cdf(f64::NAN).is_nan());

        // python3 -c "from scipy.stats import norm; print(repr(norm.ppf(1e-10)), repr(norm.ppf(0.01)), repr(norm.ppf(0.3)), repr(norm.ppf(0.999)))"
        // -6.361340902404056 -2.3263478740408408 -0.5244005127080409 3.090232306167813
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
        assert!(near(normal_quantile(1e-10), -6.361340902404056));
        assert!(near(normal_quantile(0.01), -2.3263478740408408));
        assert!(near(normal_quantile(0.3), -0.5244005127080409));
        assert!(near(normal_quantile(0.999), 3.090232306167813));
        assert_eq!(normal_quantile(0.5), 0.0);
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert!(normal_quantile(f64::NAN).is_nan());
    }
}
