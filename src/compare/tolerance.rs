use serde::{Deserialize, Serialize};
use std::fmt;

/// How far apart two numbers may be and still count as equal.
///
/// - [`Tolerance::absolute(x)`](Tolerance::absolute): `|a − b| ≤ x`;
/// - [`Tolerance::relative(r)`](Tolerance::relative): `|a − b| ≤ r × max(|a|, |b|)`.
///
/// Numbers equal in value are always equal (compared exactly, from their
/// text); a tolerance compares through `f64`, so numbers beyond `f64`'s
/// range (which become infinite) are only ever equal when exactly so.
///
/// In a serde config a tolerance is `{"absolute": 0.5}` or
/// `{"relative": 0.01}`; a negative or missing bound is an error.
///
/// ```
/// use tower_shadow::compare::{JsonComparator, Tolerance};
///
/// let price = Tolerance::relative(0.01);
/// assert!(price.accepts(100.0, 100.9));
/// assert!(!price.accepts(100.0, 102.0));
/// assert!(Tolerance::absolute(0.5).accepts(-1.0, -1.5));
///
/// let comparator = JsonComparator::new().tolerance("/items/*/price", price);
/// # let _ = comparator;
/// ```
#[derive(Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Repr", into = "Repr")]
pub struct Tolerance {
    kind: Kind,
    bound: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Absolute,
    Relative,
}

impl Tolerance {
    /// Numbers at most `x` apart are equal.
    ///
    /// A negative or NaN `x` is logged with `tracing::warn!` and taken as
    /// `0` (exact).
    ///
    /// ```
    /// use tower_shadow::compare::Tolerance;
    ///
    /// assert!(Tolerance::absolute(0.01).accepts(0.10, 0.105));
    /// ```
    pub fn absolute(x: f64) -> Self {
        Self::checked(Kind::Absolute, x)
    }

    /// Numbers whose difference is at most `r` times the larger magnitude
    /// are equal (`0.01`: one percent).
    ///
    /// A negative or NaN `r` is logged with `tracing::warn!` and taken as
    /// `0` (exact).
    ///
    /// ```
    /// use tower_shadow::compare::Tolerance;
    ///
    /// assert!(Tolerance::relative(0.01).accepts(1000.0, 1009.0));
    /// ```
    pub fn relative(r: f64) -> Self {
        Self::checked(Kind::Relative, r)
    }

    fn checked(kind: Kind, bound: f64) -> Self {
        match Self::new(kind, bound) {
            Ok(tolerance) => tolerance,
            Err(error) => {
                tracing::warn!(%error, "tolerance taken as 0 (exact)");
                Self { kind, bound: 0.0 }
            }
        }
    }

    fn new(kind: Kind, bound: f64) -> Result<Self, ToleranceError> {
        if bound.is_nan() || bound < 0.0 {
            return Err(ToleranceError { bound });
        }
        Ok(Self { kind, bound })
    }

    /// Whether `baseline` and `candidate` are within the tolerance.
    ///
    /// ```
    /// use tower_shadow::compare::Tolerance;
    ///
    /// assert!(!Tolerance::absolute(1.0).accepts(0.0, f64::NAN));
    /// ```
    pub fn accepts(&self, baseline: f64, candidate: f64) -> bool {
        if baseline == candidate {
            return true;
        }
        let difference = (baseline - candidate).abs();
        let allowed = match self.kind {
            Kind::Absolute => self.bound,
            Kind::Relative => self.bound * baseline.abs().max(candidate.abs()),
        };
        // NaN and infinite differences are never within.
        difference.is_finite() && difference <= allowed
    }
}

impl fmt::Debug for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Absolute => write!(f, "Tolerance::absolute({})", self.bound),
            Kind::Relative => write!(f, "Tolerance::relative({})", self.bound),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Repr {
    Absolute(f64),
    Relative(f64),
}

impl From<Tolerance> for Repr {
    fn from(t: Tolerance) -> Self {
        match t.kind {
            Kind::Absolute => Repr::Absolute(t.bound),
            Kind::Relative => Repr::Relative(t.bound),
        }
    }
}

impl TryFrom<Repr> for Tolerance {
    type Error = ToleranceError;

    fn try_from(repr: Repr) -> Result<Self, Self::Error> {
        match repr {
            Repr::Absolute(x) => Self::new(Kind::Absolute, x),
            Repr::Relative(r) => Self::new(Kind::Relative, r),
        }
    }
}

#[derive(Debug)]
struct ToleranceError {
    bound: f64,
}

impl fmt::Display for ToleranceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a tolerance must be 0 or more, not {}", self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative() {
        let abs = Tolerance::absolute(0.5);
        assert!(abs.accepts(1.0, 1.5) && abs.accepts(1.5, 1.0));
        assert!(!abs.accepts(1.0, 1.51));
        let rel = Tolerance::relative(0.1);
        assert!(rel.accepts(100.0, 109.0) && rel.accepts(109.0, 100.0));
        assert!(!rel.accepts(100.0, 112.0));
        assert!(rel.accepts(0.0, 0.0) && !rel.accepts(0.0, 1e-300));
        assert!(!abs.accepts(f64::INFINITY, 1.0));
        assert!(abs.accepts(f64::INFINITY, f64::INFINITY));
        assert!(!abs.accepts(f64::NAN, f64::NAN));
    }

    #[test]
    fn bad_bounds_mean_exact() {
        let t = Tolerance::absolute(-1.0);
        assert!(t.accepts(1.0, 1.0) && !t.accepts(1.0, 1.0 + 1e-9));
        assert!(!Tolerance::relative(f64::NAN).accepts(1.0, 1.0 + 1e-9));
    }

    #[test]
    fn serde_form() {
        let t: Tolerance = serde_json::from_str(r#"{"relative": 0.01}"#).unwrap();
        assert_eq!(t, Tolerance::relative(0.01));
        assert_eq!(
            serde_json::to_string(&Tolerance::absolute(2.5)).unwrap(),
            r#"{"absolute":2.5}"#
        );
        let e = serde_json::from_str::<Tolerance>(r#"{"absolute": -1}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("a tolerance must be 0 or more, not -1"),
            "{e}"
        );
        assert!(serde_json::from_str::<Tolerance>(r#"{"percent": 1}"#).is_err());
        assert!(serde_json::from_str::<Tolerance>(r#"0.5"#).is_err());
        assert_eq!(format!("{t:?}"), "Tolerance::relative(0.01)");
    }
}
