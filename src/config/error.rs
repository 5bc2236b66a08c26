use http::HeaderName;
use std::fmt;
use std::time::Duration;

/// Why a configuration was rejected: which field, and the rule it broke
/// (for a number, the allowed range and the value given).
///
/// The one error of every configuration form in the crate: the policies'
/// configs, the comparators', [`ShadowConfig`](crate::shadow::ShadowConfig),
/// [`RolloutConfig`](crate::rollout::RolloutConfig), the whole
/// [`Config`](super::Config), ... Its message names the part configured,
/// the field (a dotted path from the document's root when the whole
/// [`Config`](super::Config) is loaded) and the rule.
///
/// ```
/// use tower_shadow::config::Config;
///
/// let error = Config::from_json(r#"{"shadow": {"max_in_flight": 100000}}"#).unwrap_err();
/// assert_eq!(error.field(), "shadow.max_in_flight");
/// assert_eq!(error.rule(), "must be in 0..=65536, not 100000");
/// assert_eq!(
///     error.to_string(),
///     "invalid shadow config: shadow.max_in_flight: must be in 0..=65536, not 100000"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    section: &'static str,
    field: String,
    rule: String,
}

impl ConfigError {
    /// An error in `section` (`"policy"`, `"shadow"`, ...; empty for the
    /// document as a whole) at `field`.
    pub(crate) fn invalid(
        section: &'static str,
        field: impl fmt::Display,
        rule: impl fmt::Display,
    ) -> Self {
        Self {
            section,
            field: field.to_string(),
            rule: rule.to_string(),
        }
    }

    /// The same error, its field seen from one level up: `field` becomes
    /// `prefix.field`.
    pub(crate) fn at(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }

    /// The faulty field: its name, or its dotted path within the document
    /// (`rollout.policy.threshold.rollback_threshold`); empty when the
    /// document as a whole is at fault (e.g. it is not JSON).
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdPolicy;
    ///
    /// let error = ThresholdPolicy::new().step_down(2.0).validate().unwrap_err();
    /// assert_eq!(error.field(), "step_down");
    /// ```
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rule the field broke, e.g. `must be in 0..=100, not 120`.
    ///
    /// ```
    /// use tower_shadow::policy::ThresholdPolicy;
    ///
    /// let error = ThresholdPolicy::new().critical_threshold(120.0).validate().unwrap_err();
    /// assert_eq!(error.rule(), "must be in 0..=100, not 120");
    /// ```
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.section, self.field.as_str()) {
            ("", "") => write!(f, "invalid config: {}", self.rule),
            ("", field) => write!(f, "invalid config: {field}: {}", self.rule),
            (section, "") => write!(f, "invalid {section} config: {}", self.rule),
            (section, field) => write!(f, "invalid {section} config: {field}: {}", self.rule),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Checks that a value is in `lo..=hi` (a NaN never is), naming the range
/// and the value when it is not.
pub(crate) fn in_range<T: PartialOrd + fmt::Display>(
    section: &'static str,
    field: &str,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), ConfigError> {
    if lo <= value && value <= hi {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            section,
            field,
            format_args!("must be in {lo}..={hi}, not {value}"),
        ))
    }
}

/// Checks that a duration is in `lo..=hi`, writing them as configs do.
pub(crate) fn duration_in(
    section: &'static str,
    field: &str,
    value: Duration,
    lo: Duration,
    hi: Duration,
) -> Result<(), ConfigError> {
    use super::duration::Humane;
    in_range(section, field, Humane(value), Humane(lo), Humane(hi))
}

/// Parses a header name, naming the field when it is not one.
pub(crate) fn header_name(
    section: &'static str,
    field: &str,
    name: &str,
) -> Result<HeaderName, ConfigError> {
    HeaderName::try_from(name).map_err(|_| {
        ConfigError::invalid(
            section,
            field,
            format_args!("must be a header name (letters, digits, `-`), not {name:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_section_field_and_rule() {
        let error = ConfigError::invalid("shadow", "max_in_flight", "must be in 0..=1, not 2");
        assert_eq!(
            error.to_string(),
            "invalid shadow config: max_in_flight: must be in 0..=1, not 2"
        );
        let nested = error.clone().at("shadow");
        assert_eq!(nested.field(), "shadow.max_in_flight");
        assert_eq!(nested.rule(), error.rule());
        assert_eq!(
            ConfigError::invalid("", "", "not JSON").to_string(),
            "invalid config: not JSON"
        );
        assert_eq!(
            ConfigError::invalid("", "a", "bad").to_string(),
            "invalid config: a: bad"
        );
        assert_eq!(
            ConfigError::invalid("mask", "", "bad")
                .at("masker")
                .to_string(),
            "invalid mask config: masker: bad"
        );
    }

    #[test]
    fn checks_ranges() {
        assert!(in_range("s", "x", 1.0, 0.0, 1.0).is_ok());
        assert_eq!(
            in_range("s", "x", f64::NAN, 0.0, 1.0).unwrap_err().rule(),
            "must be in 0..=1, not NaN"
        );
        assert!(in_range("s", "n", 3, 1, 3).is_ok());
        assert_eq!(
            in_range("s", "n", 0, 1, 3).unwrap_err().rule(),
            "must be in 1..=3, not 0"
        );
        let ms = Duration::from_millis;
        assert!(duration_in("s", "d", ms(5), ms(1), ms(10)).is_ok());
        assert_eq!(
            duration_in("s", "d", ms(0), ms(1), Duration::from_secs(3600))
                .unwrap_err()
                .rule(),
            "must be in 1ms..=1h, not 0ms"
        );
        assert!(header_name("s", "h", "x-ok").is_ok());
        assert!(header_name("s", "h", "not ok")
            .unwrap_err()
            .rule()
            .contains("\"not ok\""));
    }
}
