use std::fmt;

/// Why a configuration was rejected: which field, the allowed range, and
/// the value given.
///
/// Returned by the `validate` and `build` methods of the policy configs, by
/// `TryFrom<..Config>`, and (as a serde error) when a policy is loaded from
/// JSON; the configs of [`synthetic`](crate::synthetic),
/// [`chaos`](crate::chaos) and the [`Balancer`](crate::router::Balancer)
/// return it too, naming their own kind of config.
///
/// ```
/// use tower_shadow::policy::ThresholdPolicy;
///
/// let error = ThresholdPolicy::new().critical_threshold(120.0).validate().unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "invalid policy config: critical_threshold: must be in 0..=100, not 120"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub(super) fn new(field: impl fmt::Display, rule: impl fmt::Display) -> Self {
        Self::of("policy", field, rule)
    }

    /// An error in a config of kind `config` (`"fault"`, `"generator"`, ..).
    pub(crate) fn of(config: &str, field: impl fmt::Display, rule: impl fmt::Display) -> Self {
        Self(format!("{config} config: {field}: {rule}"))
    }

    /// Checks that `value` is in `lo..=hi`, in a config of kind `config`.
    pub(crate) fn check_range(
        config: &str,
        field: &str,
        value: f64,
        lo: f64,
        hi: f64,
    ) -> Result<(), Self> {
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(Self::of(
                config,
                field,
                format_args!("must be in {lo}..={hi}, not {value}"),
            ))
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Checks that `value` is in `lo..=hi`.
pub(super) fn in_range(field: &str, value: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    ConfigError::check_range("policy", field, value, lo, hi)
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
