use super::{Comparator, JsonComparator, JsonComparatorConfig, Standard};
use crate::config::ConfigError;
use serde::{Deserialize, Serialize};

/// Which comparator a configuration file chooses, and its serde form.
///
/// - `"standard"` (the default): [`Standard`], status, `content-type`,
///   `grpc-status` and the body, JSON-aware;
/// - `{"json": {..}}`: a [`JsonComparator`] with per-path rules, written as
///   a [`JsonComparatorConfig`].
///
/// ```
/// use tower_shadow::compare::ComparatorConfig;
///
/// let standard: ComparatorConfig = serde_json::from_str(r#""standard""#)?;
/// assert_eq!(standard, ComparatorConfig::default());
///
/// let json: ComparatorConfig = serde_json::from_str(
///     r#"{"json": {"ignore": ["/meta/timestamp"], "unordered": ["/tags"]}}"#,
/// )?;
/// let comparator = json.build()?;
/// # let _ = comparator;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ComparatorConfig {
    /// [`Standard::new`].
    #[default]
    Standard,
    /// A [`JsonComparator`] built from its config.
    Json(JsonComparatorConfig),
}

impl ComparatorConfig {
    /// Checks the settings, naming the first faulty field.
    ///
    /// ```
    /// use tower_shadow::compare::ComparatorConfig;
    ///
    /// let config: ComparatorConfig = serde_json::from_str(r#"{"json": {"ignore": ["meta"]}}"#)?;
    /// assert_eq!(config.validate().unwrap_err().field(), "json.ignore");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Standard => Ok(()),
            Self::Json(config) => config.clone().build().map(drop).map_err(|e| e.at("json")),
        }
    }

    /// Checks the settings and builds the comparator.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use tower_shadow::compare::{Comparator, ComparatorConfig};
    /// use tower_shadow::exchange::Exchange;
    ///
    /// let comparator = ComparatorConfig::Standard.build()?;
    /// let ok = Exchange::new(StatusCode::OK, HeaderMap::new(), "{}");
    /// assert!(comparator.compare(&ok, &ok).is_equivalent());
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn build(&self) -> Result<Box<dyn Comparator>, ConfigError> {
        Ok(match self {
            Self::Standard => Box::new(Standard::new()),
            Self::Json(config) => {
                Box::new(JsonComparator::try_from(config.clone()).map_err(|e| e.at("json"))?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_nested_field() {
        let json = JsonComparatorConfig {
            max_differences: 0,
            ..JsonComparatorConfig::default()
        };
        let error = ComparatorConfig::Json(json).build().map(drop).unwrap_err();
        assert_eq!(error.field(), "json.max_differences");
        assert_eq!(
            error.to_string(),
            "invalid comparator config: json.max_differences: must be 1 or more"
        );
    }
}
