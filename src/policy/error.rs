//! The policies' side of the crate-wide [`ConfigError`]: their errors say
//! `invalid policy config`.

pub use crate::config::ConfigError;
use std::fmt;

impl ConfigError {
    /// An error in a policy's settings.
    pub(super) fn new(field: impl fmt::Display, rule: impl fmt::Display) -> Self {
        Self::invalid("policy", field, rule)
    }
}

/// Checks that `value` is in `lo..=hi`.
pub(super) fn in_range(field: &str, value: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    crate::config::in_range("policy", field, value, lo, hi)
}

/// Checks that `value` is finite and above `lo`.
pub(super) fn above(field: &str, value: f64, lo: f64) -> Result<(), ConfigError> {
    if value > lo && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format_args!("must be a finite number above {lo}, not {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_range_and_value() {
        assert_eq!(
            in_range("x", f64::NAN, 0.0, 1.0).unwrap_err().to_string(),
            "invalid policy config: x: must be in 0..=1, not NaN"
        );
        assert_eq!(
            above("y", f64::INFINITY, 0.0).unwrap_err().to_string(),
            "invalid policy config: y: must be a finite number above 0, not inf"
        );
        assert!(in_range("x", 1.0, 0.0, 1.0).is_ok());
        assert!(above("y", 0.5, 0.0).is_ok());
        let error: Box<dyn std::error::Error> = Box::new(ConfigError::new("z", "bad"));
        assert!(error.source().is_none());
    }
}
