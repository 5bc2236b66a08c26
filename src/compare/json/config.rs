use super::{pointer, JsonComparator};
use crate::compare::{HeaderRules, Shape, Tolerance};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The crate-wide configuration error; the comparators' say
/// `invalid comparator config`.
///
/// ```
/// use tower_shadow::compare::JsonComparatorConfig;
///
/// let mut config = JsonComparatorConfig::default();
/// config.max_depth = 0;
/// let error = config.build().unwrap_err();
/// assert_eq!(error.to_string(), "invalid comparator config: max_depth: must be 1 to 256, not 0");
/// assert_eq!(error.field(), "max_depth");
/// ```
pub use crate::config::ConfigError;

const SECTION: &str = "comparator";

/// The serde form of a [`JsonComparator`], checked when it is built.
///
/// Every field may be left out of the JSON; the defaults are those of
/// [`JsonComparator::new`]. Unknown fields are errors, so a typo does not
/// silently drop a rule.
///
/// ```
/// use tower_shadow::compare::{JsonComparator, JsonComparatorConfig};
///
/// let config: JsonComparatorConfig = serde_json::from_str(r#"{
///     "ignore": ["/meta/timestamp"],
///     "tolerance": { "/items/*/price": { "relative": 0.01 } },
///     "unordered": ["/tags"],
///     "shape": { "/id": "uuid" },
///     "headers": { "ignore": ["date"] },
///     "max_depth": 64
/// }"#)?;
/// let comparator = JsonComparator::try_from(config)?;
///
/// // `JsonComparator` reads (and writes) the same form directly.
/// let same: JsonComparator = serde_json::from_str(r#"{"ignore": ["/meta/timestamp"]}"#)?;
///
/// // Bad rules are errors, not surprises.
/// let bad = serde_json::from_str::<JsonComparator>(r#"{"ignore": ["meta"]}"#);
/// assert!(bad.unwrap_err().to_string().contains("must be empty or start with `/`"));
/// # let _ = (comparator, same);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct JsonComparatorConfig {
    /// Paths whose values are not compared ([`JsonComparator::ignore`]).
    pub ignore: Vec<String>,
    /// Numeric tolerances by path ([`JsonComparator::tolerance`]).
    pub tolerance: BTreeMap<String, Tolerance>,
    /// Paths of arrays compared as multisets ([`JsonComparator::unordered`]).
    pub unordered: Vec<String>,
    /// Shapes by path ([`JsonComparator::shape`]).
    pub shape: BTreeMap<String, Shape>,
    /// Which headers and trailers are compared ([`JsonComparator::headers`]).
    pub headers: HeaderRules,
    /// Deepest nesting compared as JSON ([`JsonComparator::max_depth`]).
    pub max_depth: usize,
    /// Most differences listed ([`JsonComparator::max_differences`]).
    pub max_differences: usize,
}

impl Default for JsonComparatorConfig {
    fn default() -> Self {
        Self {
            ignore: Vec::new(),
            tolerance: BTreeMap::new(),
            unordered: Vec::new(),
            shape: BTreeMap::new(),
            headers: HeaderRules::all(),
            max_depth: JsonComparator::DEFAULT_MAX_DEPTH,
            max_differences: JsonComparator::DEFAULT_MAX_DIFFERENCES,
        }
    }
}

impl JsonComparatorConfig {
    /// Checks the configuration and builds the comparator.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparatorConfig;
    ///
    /// let mut config = JsonComparatorConfig::default();
    /// config.ignore.push("/meta/timestamp".into());
    /// assert!(config.clone().build().is_ok());
    ///
    /// config.unordered.push("tags".into());
    /// let error = config.build().unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid comparator config: unordered: invalid JSON Pointer \"tags\": \
    ///      must be empty or start with `/`"
    /// );
    /// ```
    pub fn build(self) -> Result<JsonComparator, ConfigError> {
        JsonComparator::try_from(self)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let check = |field: &str, path: &str| {
            pointer::parse(path)
                .map(drop)
                .map_err(|e| ConfigError::invalid(SECTION, field, e))
        };
        for path in &self.ignore {
            check("ignore", path)?;
        }
        for path in self.tolerance.keys() {
            check("tolerance", path)?;
        }
        for path in &self.unordered {
            check("unordered", path)?;
        }
        for path in self.shape.keys() {
            check("shape", path)?;
        }
        if !(1..=JsonComparator::MAX_DEPTH_LIMIT).contains(&self.max_depth) {
            return Err(ConfigError::invalid(
                SECTION,
                "max_depth",
                format_args!(
                    "must be 1 to {}, not {}",
                    JsonComparator::MAX_DEPTH_LIMIT,
                    self.max_depth
                ),
            ));
        }
        if self.max_differences == 0 {
            return Err(ConfigError::invalid(
                SECTION,
                "max_differences",
                "must be 1 or more",
            ));
        }
        Ok(())
    }
}

impl TryFrom<JsonComparatorConfig> for JsonComparator {
    type Error = ConfigError;

    fn try_from(config: JsonComparatorConfig) -> Result<Self, Self::Error> {
        config.validate()?;
        Ok(Self::from_valid(config))
    }
}

impl From<JsonComparator> for JsonComparatorConfig {
    fn from(comparator: JsonComparator) -> Self {
        comparator.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let comparator = JsonComparator::new()
            .ignore("/meta/timestamp")
            .tolerance("/items/*/price", Tolerance::relative(0.01))
            .unordered("/tags")
            .shape("/id", Shape::Uuid)
            .ignore_header("date")
            .max_depth(32);
        let json = serde_json::to_string(&comparator).unwrap();
        assert_eq!(
            json,
            r#"{"ignore":["/meta/timestamp"],"tolerance":{"/items/*/price":{"relative":0.01}},"unordered":["/tags"],"shape":{"/id":"uuid"},"headers":{"ignore":["date"]},"max_depth":32,"max_differences":100}"#
        );
        let back: JsonComparator = serde_json::from_str(&json).unwrap();
        assert_eq!(back.config(), comparator.config());
        let empty: JsonComparator = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.config(), &JsonComparatorConfig::default());
    }

    #[test]
    fn rejects_bad_configs_clearly() {
        let error = |json: &str| {
            serde_json::from_str::<JsonComparator>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(
            error(r#"{"tolerance": {"/a~2": {"absolute": 1}}}"#).contains(
                r#"tolerance: invalid JSON Pointer "/a~2": `~` must be followed by `0` or `1`"#
            )
        );
        assert!(error(r#"{"max_depth": 5000}"#).contains("max_depth: must be 1 to 256, not 5000"));
        assert!(error(r#"{"max_differences": 0}"#).contains("max_differences: must be 1 or more"));
        assert!(error(r#"{"ignored": []}"#).contains("unknown field `ignored`"));
        assert!(error(r#"{"shape": {"/a": "email"}}"#).contains("unknown variant `email`"));
        assert!(error(r#"{"tolerance": {"/a": {"relative": -0.1}}}"#)
            .contains("a tolerance must be 0 or more"));
    }
}
