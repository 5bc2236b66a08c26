use super::{Builder, ShadowLayer, CORRELATION_HEADER, MARKER_HEADER};
use crate::compare::ComparatorConfig;
use crate::config::{duration, duration_in, header_name, in_range, ConfigError};
use crate::mask::MaskerConfig;
use crate::sample::{Always, ByKey, Random, RateLimited, Sampler};
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SECTION: &str = "shadow";

/// The serde form of a [`ShadowLayer`]'s [`Builder`], checked when it is
/// applied.
///
/// Every field may be left out; the defaults are those of
/// [`ShadowLayer::builder`]. Unknown fields are errors. What is not data —
/// the shadow service, a [`Recorder`](crate::record::Recorder), a shared
/// [`Health`](crate::health::Health), a secondary — is added to the
/// builder this returns.
///
/// | field | default | allowed |
/// |---|---|---|
/// | `sampler` | `"always"` | a [`SamplerConfig`] |
/// | `methods` | `["GET", "HEAD", "OPTIONS"]` | method names in capitals |
/// | `max_body_bytes` | 1048576 (1 MiB) | `0..=`[`MAX_BODY_BYTES`](Self::MAX_BODY_BYTES) |
/// | `max_in_flight` | 256 | `0..=`[`MAX_IN_FLIGHT`](Self::MAX_IN_FLIGHT) |
/// | `shadow_timeout` | `"5s"` | `1ms..=1h`, whole milliseconds or `"250ms"`, `"5s"`, `"2m"`, `"1h"` |
/// | `correlation_header` | `x-shadow-correlation-id` | a header name |
/// | `marker` | `{"name": "x-shadow", "value": "1"}` | a header name and value |
/// | `masker` | `Authorization`, `Cookie`, `Set-Cookie` redacted | a [`MaskerConfig`] |
/// | `comparator` | `"standard"` | a [`ComparatorConfig`] |
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_shadow::shadow::ShadowConfig;
///
/// let config: ShadowConfig = serde_json::from_str(r#"{
///     "sampler": {"by_key": {"header": "x-user-id", "percent": 5}},
///     "max_body_bytes": 65536,
///     "shadow_timeout": "500ms",
///     "comparator": {"json": {"ignore": ["/meta/timestamp"]}}
/// }"#)?;
/// let candidate: Router = Router::new().route("/items", get(|| async { "[]" }));
/// let layer = config.builder(candidate)?.build();
/// let app: Router = Router::new().route("/items", get(|| async { "[]" })).layer(layer);
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ShadowConfig {
    /// Which requests are shadowed ([`Builder::sampler`]).
    pub sampler: SamplerConfig,
    /// The methods that may be shadowed ([`Builder::methods`]).
    pub methods: Vec<String>,
    /// The most bytes copied from a body ([`Builder::max_body_bytes`]).
    pub max_body_bytes: usize,
    /// The most shadows running at once ([`Builder::max_in_flight`]).
    pub max_in_flight: usize,
    /// How long a shadow may take ([`Builder::shadow_timeout`]).
    #[serde(with = "duration")]
    pub shadow_timeout: Duration,
    /// The correlation id's header ([`Builder::correlation_header`]).
    pub correlation_header: String,
    /// The header set on the copy only ([`Builder::marker`]).
    pub marker: MarkerConfig,
    /// What is masked in the copy and in records ([`Builder::masker`]).
    pub masker: MaskerConfig,
    /// How the two answers are compared ([`Builder::comparator`]).
    pub comparator: ComparatorConfig,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            sampler: SamplerConfig::Always,
            methods: ["GET", "HEAD", "OPTIONS"].map(String::from).to_vec(),
            max_body_bytes: 1024 * 1024,
            max_in_flight: 256,
            shadow_timeout: Duration::from_secs(5),
            correlation_header: CORRELATION_HEADER.into(),
            marker: MarkerConfig::default(),
            masker: MaskerConfig::default(),
            comparator: ComparatorConfig::default(),
        }
    }
}

/// The header that marks the copy as a shadow: its name and value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MarkerConfig {
    /// The header's name; default `x-shadow`.
    pub name: String,
    /// Its value; default `1`.
    pub value: String,
}

impl Default for MarkerConfig {
    fn default() -> Self {
        Self {
            name: MARKER_HEADER.into(),
            value: "1".into(),
        }
    }
}

impl ShadowConfig {
    /// The largest `max_body_bytes` accepted: 256 MiB, as every in-flight
    /// shadow may hold that much twice.
    pub const MAX_BODY_BYTES: usize = 256 << 20;
    /// The largest `max_in_flight` accepted.
    pub const MAX_IN_FLIGHT: usize = 65_536;

    /// Checks every field, naming the first that is out of range.
    ///
    /// ```
    /// use tower_shadow::shadow::ShadowConfig;
    ///
    /// let mut config = ShadowConfig::default();
    /// config.methods.push("post".into());
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid shadow config: methods: must be HTTP method names in capitals, such as POST, not \"post\""
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.sampler.validate().map_err(|e| e.at("sampler"))?;
        for method in &self.methods {
            method_of(method)?;
        }
        in_range(
            SECTION,
            "max_body_bytes",
            self.max_body_bytes as u64,
            0,
            Self::MAX_BODY_BYTES as u64,
        )?;
        in_range(
            SECTION,
            "max_in_flight",
            self.max_in_flight as u64,
            0,
            Self::MAX_IN_FLIGHT as u64,
        )?;
        duration_in(
            SECTION,
            "shadow_timeout",
            self.shadow_timeout,
            Duration::from_millis(1),
            Duration::from_secs(3600),
        )?;
        header_name(SECTION, "correlation_header", &self.correlation_header)?;
        header_name(SECTION, "marker.name", &self.marker.name)?;
        marker_value(&self.marker.value)?;
        self.masker.validate().map_err(|e| e.at("masker"))?;
        self.comparator.validate().map_err(|e| e.at("comparator"))
    }

    /// Checks the settings and makes a builder for a layer shadowing to
    /// `shadow`, with every setting of this config applied; add what is not
    /// data (a recorder, a shared health, a secondary) and build it.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_shadow::{health::Health, shadow::ShadowConfig};
    ///
    /// let health = Health::new();
    /// let candidate: Router = Router::new().route("/", get(|| async { "v2" }));
    /// let layer = ShadowConfig::default().builder(candidate)?.health(health.clone()).build();
    /// # let _ = layer;
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn builder<T>(&self, shadow: T) -> Result<Builder<T>, ConfigError> {
        self.validate()?;
        let err = |e: ConfigError| e.at(SECTION);
        let methods = self
            .methods
            .iter()
            .map(|m| method_of(m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ShadowLayer::builder(shadow)
            .sampler(self.sampler.build().map_err(err)?)
            .methods(methods)
            .max_body_bytes(self.max_body_bytes)
            .max_in_flight(self.max_in_flight)
            .shadow_timeout(self.shadow_timeout)
            .correlation_header(header_name(
                SECTION,
                "correlation_header",
                &self.correlation_header,
            )?)
            .marker(
                header_name(SECTION, "marker.name", &self.marker.name)?,
                marker_value(&self.marker.value)?,
            )
            .masker(self.masker.build()?)
            .comparator(self.comparator.build()?))
    }
}

fn method_of(name: &str) -> Result<Method, ConfigError> {
    let capitals = !name.is_empty() && !name.bytes().any(|b| b.is_ascii_lowercase());
    match Method::from_bytes(name.as_bytes()) {
        Ok(method) if capitals => Ok(method),
        _ => Err(ConfigError::invalid(
            SECTION,
            "methods",
            format_args!(
                "must be HTTP method names in capitals, such as {}, not {name:?}",
                name.to_ascii_uppercase()
            ),
        )),
    }
}

fn marker_value(value: &str) -> Result<HeaderValue, ConfigError> {
    HeaderValue::try_from(value).map_err(|_| {
        ConfigError::invalid(
            SECTION,
            "marker.value",
            format_args!("must be visible ASCII, not {value:?}"),
        )
    })
}

/// Which requests are shadowed, as a configuration file chooses: one of the
/// crate's [samplers](crate::sample), and its serde form.
///
/// | JSON | sampler |
/// |---|---|
/// | `"always"` (the default) | [`Always`] |
/// | `{"random": {"percent": 5}}`, optional `"seed"` | [`Random::percent`] |
/// | `{"by_key": {"header": "x-user-id", "percent": 5}}` | [`ByKey::header`] |
/// | `{"by_key": {"cookie": "session", "percent": 5}}` | [`ByKey::cookie`] |
/// | `{"rate_limited": {"per_second": 10, "inner": ..}}` | [`RateLimited::new`] over `inner` (default `"always"`) |
///
/// `by_key` takes exactly one of `header` and `cookie`, and optionally
/// `seed` (default 0) and `when_missing` (default `false`). Percentages
/// are in `0..=100`; `per_second` is above 0.
///
/// ```
/// use tower_shadow::shadow::SamplerConfig;
/// use tower_shadow::sample::Sampler;
///
/// let config: SamplerConfig = serde_json::from_str(
///     r#"{"rate_limited": {"per_second": 50, "inner": {"random": {"percent": 10, "seed": 7}}}}"#,
/// )?;
/// let sampler = config.build()?;
/// let (head, ()) = http::Request::get("/").body(()).unwrap().into_parts();
/// let _ = sampler.sample(&head);
///
/// let bad: SamplerConfig = serde_json::from_str(r#"{"random": {"percent": 120}}"#)?;
/// assert_eq!(bad.validate().unwrap_err().rule(), "must be in 0..=100, not 120");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SamplerConfig {
    /// Every request.
    #[default]
    Always,
    /// A random share of requests.
    Random {
        /// The share, in `0..=100`.
        percent: f64,
        /// A seed, for reproducible decisions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
    },
    /// A stable share of keys (users, tenants, regions).
    ByKey {
        /// The header holding the key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        /// The cookie holding the key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cookie: Option<String>,
        /// The share of keys, in `0..=100`.
        percent: f64,
        /// The hash seed (default 0).
        #[serde(default)]
        seed: u64,
        /// The decision for requests without the key (default `false`).
        #[serde(default)]
        when_missing: bool,
    },
    /// At most `per_second` of `inner`'s picks each second.
    RateLimited {
        /// The rate, above 0.
        per_second: f64,
        /// The sampler asked first (default `"always"`).
        #[serde(default)]
        inner: Box<SamplerConfig>,
    },
}

impl SamplerConfig {
    /// Checks the settings, naming the first faulty field.
    ///
    /// ```
    /// use tower_shadow::shadow::SamplerConfig;
    ///
    /// let config: SamplerConfig = serde_json::from_str(r#"{"by_key": {"percent": 5}}"#)?;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid sampler config: by_key: must name exactly one of `header` and `cookie`"
    /// );
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        const SAMPLER: &str = "sampler";
        match self {
            Self::Always => Ok(()),
            Self::Random { percent, .. } => {
                in_range(SAMPLER, "random.percent", *percent, 0.0, 100.0)
            }
            Self::ByKey {
                header,
                cookie,
                percent,
                ..
            } => {
                match (header, cookie) {
                    (Some(name), None) => {
                        header_name(SAMPLER, "by_key.header", name)?;
                    }
                    (None, Some(name)) if !name.is_empty() => {}
                    (None, Some(_)) => {
                        return Err(ConfigError::invalid(
                            SAMPLER,
                            "by_key.cookie",
                            "must not be empty",
                        ))
                    }
                    _ => {
                        return Err(ConfigError::invalid(
                            SAMPLER,
                            "by_key",
                            "must name exactly one of `header` and `cookie`",
                        ))
                    }
                }
                in_range(SAMPLER, "by_key.percent", *percent, 0.0, 100.0)
            }
            Self::RateLimited { per_second, inner } => {
                if !(per_second.is_finite() && *per_second > 0.0) {
                    return Err(ConfigError::invalid(
                        SAMPLER,
                        "rate_limited.per_second",
                        format_args!("must be a finite number above 0, not {per_second}"),
                    ));
                }
                inner.validate().map_err(|e| e.at("rate_limited.inner"))
            }
        }
    }

    /// Checks the settings and builds the sampler.
    ///
    /// ```
    /// use tower_shadow::sample::Sampler;
    /// use tower_shadow::shadow::SamplerConfig;
    ///
    /// let sampler = SamplerConfig::Always.build()?;
    /// let (head, ()) = http::Request::get("/").body(()).unwrap().into_parts();
    /// assert!(sampler.sample(&head));
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn build(&self) -> Result<Box<dyn Sampler>, ConfigError> {
        self.validate()?;
        Ok(self.build_valid())
    }

    fn build_valid(&self) -> Box<dyn Sampler> {
        match self {
            Self::Always => Box::new(Always),
            Self::Random { percent, seed } => {
                let random = Random::percent(*percent);
                Box::new(match seed {
                    Some(seed) => random.seed(*seed),
                    None => random,
                })
            }
            Self::ByKey {
                header,
                cookie,
                percent,
                seed,
                when_missing,
            } => {
                let by_key = match (header, cookie) {
                    (Some(header), _) => ByKey::header(header, *percent),
                    (None, cookie) => ByKey::cookie(cookie.clone().unwrap_or_default(), *percent),
                };
                Box::new(by_key.seed(*seed).when_missing(*when_missing))
            }
            Self::RateLimited { per_second, inner } => {
                Box::new(RateLimited::new(inner.build_valid(), *per_second))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_builders() {
        let from_config = ShadowConfig::default().builder(()).unwrap();
        assert_eq!(
            format!("{from_config:?}"),
            format!("{:?}", ShadowLayer::builder(()))
        );
    }

    #[test]
    fn samplers_decide_as_configured() {
        let head = |user: &str| {
            http::Request::get("/")
                .header("x-user-id", user)
                .header("cookie", format!("session={user}"))
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let none = |config: SamplerConfig| {
            let sampler = config.build().unwrap();
            (0..50).all(|i| !sampler.sample(&head(&i.to_string())))
        };
        let all = |config: SamplerConfig| {
            let sampler = config.build().unwrap();
            (0..50).all(|i| sampler.sample(&head(&i.to_string())))
        };
        assert!(all(SamplerConfig::Always));
        let random = |percent| SamplerConfig::Random {
            percent,
            seed: Some(1),
        };
        assert!(none(random(0.0)) && all(random(100.0)));
        let by_key = |header: Option<&str>, cookie: Option<&str>, percent| SamplerConfig::ByKey {
            header: header.map(String::from),
            cookie: cookie.map(String::from),
            percent,
            seed: 0,
            when_missing: false,
        };
        assert!(all(by_key(Some("x-user-id"), None, 100.0)));
        assert!(all(by_key(None, Some("session"), 100.0)));
        assert!(none(by_key(None, Some("session"), 0.0)));
        assert!(none(by_key(Some("x-other"), None, 100.0)));
        let limited = SamplerConfig::RateLimited {
            per_second: 3.0,
            inner: Box::new(SamplerConfig::Always),
        };
        let sampler = limited.build().unwrap();
        let taken = (0..50).filter(|_| sampler.sample(&head("u"))).count();
        assert!((3..=4).contains(&taken), "{taken}");
    }
}
