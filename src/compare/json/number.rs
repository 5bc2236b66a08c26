//! JSON numbers compared by value, exactly, from their text.
//!
//! A number is read as sign × digits × 10^exponent; leading and trailing
//! zeros of the digits are dropped (moving the exponent), so `1.0`, `1.00`,
//! `1e0` and `10e-1` are one value, and `12345678901234567890123` differs
//! from `12345678901234567890124` — no rounding through `f64`. Only a
//! tolerance compares through `f64`, as it is approximate anyway.

use std::hash::Hasher;

/// A number's value: `neg`, the significant digits (`digits[lead..len -
/// trail]` of the integer and fraction digits run together) and the
/// exponent of the last significant digit.
struct Decimal<'a> {
    neg: bool,
    int: &'a [u8],
    frac: &'a [u8],
    lead: usize,
    count: usize,
    exp: i128,
}

/// Exponents written with more digits than this are compared as text.
const MAX_EXP_DIGITS: usize = 30;

impl<'a> Decimal<'a> {
    /// `None` for an exponent too long to hold, compared as text instead.
    fn new(text: &'a str) -> Option<Self> {
        let b = text.as_bytes();
        let (neg, b) = match b.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, b),
        };
        let mantissa_end = b.iter().position(|c| matches!(c, b'e' | b'E'));
        let (mantissa, exp_text) = match mantissa_end {
            Some(i) => (&b[..i], &b[i + 1..]),
            None => (b, &b""[..]),
        };
        let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, &b""[..]),
        };
        let exp = parse_exp(exp_text)?;
        let total = int.len() + frac.len();
        let digit = |i: usize| {
            if i < int.len() {
                int[i]
            } else {
                frac[i - int.len()]
            }
        };
        let lead = (0..total).take_while(|&i| digit(i) == b'0').count();
        let trail = (lead..total)
            .rev()
            .take_while(|&i| digit(i) == b'0')
            .count();
        let count = total - lead - trail;
        Some(Self {
            neg,
            int,
            frac,
            lead,
            count,
            exp: exp - frac.len() as i128 + trail as i128,
        })
    }

    fn digit(&self, i: usize) -> u8 {
        let i = self.lead + i;
        if i < self.int.len() {
            self.int[i]
        } else {
            self.frac[i - self.int.len()]
        }
    }

    fn is_zero(&self) -> bool {
        self.count == 0
    }
}

fn parse_exp(text: &[u8]) -> Option<i128> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let start = digits.iter().take_while(|&&c| c == b'0').count();
    let digits = &digits[start..];
    if digits.len() > MAX_EXP_DIGITS {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i128, |acc, &c| acc * 10 + i128::from(c - b'0'));
    Some(if neg { -value } else { value })
}

/// Whether two valid JSON number texts have the same value.
pub(crate) fn equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (Decimal::new(a), Decimal::new(b)) {
        (Some(x), Some(y)) => {
            if x.is_zero() || y.is_zero() {
                return x.is_zero() && y.is_zero();
            }
            x.neg == y.neg
                && x.exp == y.exp
                && x.count == y.count
                && (0..x.count).all(|i| x.digit(i) == y.digit(i))
        }
        _ => false,
    }
}

/// Hashes a number so that [`equal`] numbers hash alike.
pub(crate) fn hash(text: &str, h: &mut impl Hasher) {
    match Decimal::new(text) {
        Some(d) if d.is_zero() => h.write_u8(0),
        Some(d) => {
            h.write_u8(if d.neg { 1 } else { 2 });
            for i in 0..d.count {
                h.write_u8(d.digit(i));
            }
            h.write_i128(d.exp);
        }
        None => h.write(text.as_bytes()),
    }
}

/// Whether the number is an integer (`1`, `1.0`, `1e3`; not `1.5`).
pub(crate) fn is_integer(text: &str) -> bool {
    match Decimal::new(text) {
        Some(d) => d.is_zero() || d.exp >= 0,
        // An exponent of 31+ digits: integral unless hugely negative.
        None => !text.contains("e-") && !text.contains("E-"),
    }
}

/// The nearest `f64` (infinite when out of range).
pub(crate) fn to_f64(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn h(text: &str) -> u64 {
        let mut hasher = DefaultHasher::new();
        hash(text, &mut hasher);
        hasher.finish()
    }

    #[test]
    fn same_value_different_text() {
        for group in [
            &[
                "1", "1.0", "1.00", "1e0", "10e-1", "0.1e1", "1E+0", "100e-2",
            ][..],
            &["0", "-0", "0.0", "0e10", "-0.000e-5"],
            &["-12.5", "-1.25e1", "-125e-1", "-0.125E2"],
            &["1e400", "10e399", "1.0e400"],
            &["120", "1.2e2", "12e1", "1200e-1"],
        ] {
            for a in group {
                for b in group {
                    assert!(equal(a, b), "{a} == {b}");
                    assert_eq!(h(a), h(b), "hash {a} {b}");
                }
            }
        }
    }

    #[test]
    fn different_values_without_precision_loss() {
        for (a, b) in [
            ("12345678901234567890123", "12345678901234567890124"),
            ("0.1", "0.10000000000000001"),
            ("1", "-1"),
            ("1e400", "1e401"),
            ("10", "1"),
            ("1.5", "15"),
            ("9007199254740993", "9007199254740992"),
        ] {
            assert!(!equal(a, b), "{a} != {b}");
            assert!(!equal(b, a), "{b} != {a}");
        }
    }

    #[test]
    fn absurd_exponents_fall_back_to_text() {
        let huge = format!("1e{}", "9".repeat(40));
        assert!(equal(&huge, &huge));
        assert!(!equal(&huge, "1"));
        assert!(is_integer(&huge));
        assert_eq!(h(&huge), h(&huge));
        let exp = parse_exp(format!("-{}", "0".repeat(100)).as_bytes());
        assert_eq!(exp, Some(0));
    }

    #[test]
    fn integers_and_floats() {
        assert!(is_integer("3") && is_integer("3.0") && is_integer("3e2") && is_integer("-0.0"));
        assert!(!is_integer("3.5") && !is_integer("35e-1"));
        assert_eq!(to_f64("1.5e3"), 1500.0);
        assert_eq!(to_f64("1e999"), f64::INFINITY);
    }
}
