//! Keeping secrets and personal data out of the shadow and the records.
//!
//! A [`Masker`] redacts or pseudonymizes headers and JSON body fields. The
//! shadow layer applies it to the copy it sends to the candidate, and
//! recorders apply it to everything they keep: request, both answers.
//!
//! By default `Authorization`, `Cookie` and `Set-Cookie` are redacted.
//! *Pseudonyms* are keyed (HMAC-SHA-256 under a key of yours) and
//! consistent: the same value always gets the same pseudonym, so a user id
//! replaced in the copy is replaced the same way in both answers, and
//! comparisons still line up. Without the key a pseudonym cannot be turned
//! back into the value; give every replica the same key so they agree.
//!
//! ```
//! use bytes::Bytes;
//! use http::{HeaderMap, HeaderValue};
//! use tower_shadow::mask::Masker;
//!
//! let masker = Masker::new()
//!     .key(b"a secret shared by the replicas")
//!     .pseudonymize_header("x-user-id")
//!     .redact_path("/card/number")
//!     .pseudonymize_path("/users/*/email");
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
//! headers.insert("x-user-id", HeaderValue::from_static("u-42"));
//! masker.mask_headers(&mut headers);
//! assert_eq!(headers["authorization"], "[redacted]");
//! assert!(headers["x-user-id"].to_str().unwrap().starts_with("pseudo-"));
//!
//! let body = Bytes::from_static(br#"{"card":{"number":"4111"},"users":[{"email":"a@b.c"}]}"#);
//! let masked = masker.mask_json(&body).unwrap();
//! let text = std::str::from_utf8(&masked).unwrap();
//! assert!(!text.contains("4111") && !text.contains("a@b.c"));
//! ```

use crate::compare::json::pointer::{self, Token};
use crate::exchange::Exchange;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE, SET_COOKIE};
use http::HeaderMap;
use serde_json::Value;
use sha2::Sha256;
use std::fmt;

/// What becomes of a masked value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Replaced by `[redacted]`.
    Redact,
    /// Replaced by `pseudo-` and 16 hex digits of its keyed hash.
    Pseudonymize,
}

/// The text that replaces redacted values.
pub const REDACTED: &str = "[redacted]";

/// Redacts or pseudonymizes headers and JSON fields. See the [module docs](self).
#[derive(Clone)]
pub struct Masker {
    headers: Vec<(HeaderName, Action)>,
    paths: Vec<(Vec<Token>, Action)>,
    key: Vec<u8>,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("headers", &self.headers)
            .field("paths", &self.paths.len())
            .finish_non_exhaustive()
    }
}

impl Default for Masker {
    fn default() -> Self {
        Self::new()
    }
}

impl Masker {
    /// Redacts `Authorization`, `Cookie` and `Set-Cookie`; pseudonyms are
    /// keyed with a random key (set one with [`Masker::key`] so replicas agree).
    pub fn new() -> Self {
        Self {
            headers: [AUTHORIZATION, COOKIE, SET_COOKIE]
                .into_iter()
                .map(|name| (name, Action::Redact))
                .collect(),
            ..Self::none()
        }
    }

    /// Masks nothing.
    pub fn none() -> Self {
        Self {
            headers: Vec::new(),
            paths: Vec::new(),
            key: rand::random::<[u8; 32]>().to_vec(),
        }
    }

    /// The key of the pseudonyms.
    #[must_use]
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = key.as_ref().to_vec();
        self
    }

    fn header(mut self, name: impl AsRef<str>, action: Option<Action>) -> Self {
        let Ok(name) = HeaderName::try_from(name.as_ref()) else {
            tracing::warn!(
                name = name.as_ref(),
                "invalid header name for Masker; ignored"
            );
            return self;
        };
        self.headers.retain(|(n, _)| *n != name);
        if let Some(action) = action {
            self.headers.push((name, action));
        }
        self
    }

    /// Redacts header `name`.
    #[must_use]
    pub fn redact_header(self, name: impl AsRef<str>) -> Self {
        self.header(name, Some(Action::Redact))
    }

    /// Pseudonymizes header `name`.
    #[must_use]
    pub fn pseudonymize_header(self, name: impl AsRef<str>) -> Self {
        self.header(name, Some(Action::Pseudonymize))
    }

    /// Leaves header `name` as it is (e.g. `authorization`, when the
    /// candidate must authenticate the copy).
    #[must_use]
    pub fn keep_header(self, name: impl AsRef<str>) -> Self {
        self.header(name, None)
    }

    fn path(mut self, path: &str, action: Action) -> Self {
        match pointer::parse(path) {
            Ok(tokens) => self.paths.push((tokens, action)),
            Err(e) => tracing::warn!(error = %e, "invalid JSON Pointer for Masker; ignored"),
        }
        self
    }

    /// Redacts the JSON values at `path` (a JSON Pointer; `*` matches any
    /// member or element).
    #[must_use]
    pub fn redact_path(self, path: &str) -> Self {
        self.path(path, Action::Redact)
    }

    /// Pseudonymizes the JSON values at `path`.
    #[must_use]
    pub fn pseudonymize_path(self, path: &str) -> Self {
        self.path(path, Action::Pseudonymize)
    }

    /// Whether the masker changes anything at all.
    pub fn is_noop(&self) -> bool {
        self.headers.is_empty() && self.paths.is_empty()
    }

    /// The pseudonym of `value`: `pseudo-` and 16 hex digits of its
    /// HMAC-SHA-256 under the key.
    pub fn pseudonym(&self, value: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(23);
        out.push_str("pseudo-");
        for byte in &digest[..8] {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    fn replace(&self, action: Action, value: &[u8]) -> String {
        match action {
            Action::Redact => REDACTED.to_owned(),
            Action::Pseudonymize => self.pseudonym(value),
        }
    }

    /// Masks the headers in place.
    pub fn mask_headers(&self, headers: &mut HeaderMap) {
        for (name, action) in &self.headers {
            if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
                let masked: Vec<HeaderValue> = entry
                    .iter()
                    .map(|v| {
                        HeaderValue::try_from(self.replace(*action, v.as_bytes()))
                            .expect("redactions and pseudonyms are valid header values")
                    })
                    .collect();
                let mut masked = masked.into_iter();
                if let Some(first) = masked.next() {
                    entry.insert(first);
                }
                for value in masked {
                    entry.append(value);
                }
            }
        }
    }

    /// Masks the configured paths of a JSON body. `None` when there is
    /// nothing to mask or the body is not JSON (then it is left as is; see
    /// [`Masker::mask_body`] for what happens to non-JSON bodies).
    pub fn mask_json(&self, body: &[u8]) -> Option<Bytes> {
        if self.paths.is_empty() {
            return None;
        }
        let mut value: Value = serde_json::from_slice(body).ok()?;
        let mut changed = false;
        for (path, action) in &self.paths {
            self.mask_at(&mut value, path, *action, &mut changed);
        }
        changed.then(|| Bytes::from(serde_json::to_vec(&value).expect("a Value serializes")))
    }

    fn mask_at(&self, value: &mut Value, path: &[Token], action: Action, changed: &mut bool) {
        let Some((first, rest)) = path.split_first() else {
            let original = match &*value {
                Value::String(s) => s.as_bytes().to_vec(),
                other => other.to_string().into_bytes(),
            };
            *value = Value::String(self.replace(action, &original));
            *changed = true;
            return;
        };
        match (first, value) {
            (Token::Any, Value::Object(map)) => {
                for child in map.values_mut() {
                    self.mask_at(child, rest, action, changed);
                }
            }
            (Token::Any, Value::Array(items)) => {
                for child in items {
                    self.mask_at(child, rest, action, changed);
                }
            }
            (Token::Key(key), Value::Object(map)) => {
                if let Some(child) = map.get_mut(&**key) {
                    self.mask_at(child, rest, action, changed);
                }
            }
            (Token::Key(key), Value::Array(items)) => {
                if let Some(child) = pointer::as_index(key).and_then(|i| items.get_mut(i)) {
                    self.mask_at(child, rest, action, changed);
                }
            }
            _ => {}
        }
    }

    /// Masks a body: the configured JSON paths of a JSON body. A body that
    /// is not JSON (or is compressed) cannot be searched for those paths, so
    /// when paths are configured it is replaced by `[redacted]` rather than
    /// kept with its secrets; without paths it is kept.
    pub fn mask_body(&self, body: &Bytes) -> Bytes {
        if self.paths.is_empty() || body.is_empty() {
            return body.clone();
        }
        match self.mask_json(body) {
            Some(masked) => masked,
            None if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => body.clone(),
            None => Bytes::from_static(REDACTED.as_bytes()),
        }
    }

    /// Masks an exchange's headers, trailers and body, in place.
    pub fn mask_exchange(&self, exchange: &mut Exchange) {
        self.mask_headers(&mut exchange.headers);
        if let Some(trailers) = &mut exchange.trailers {
            self.mask_headers(trailers);
        }
        exchange.body = self.mask_body(&exchange.body);
    }
}

/// The serde form of a [`Masker`], checked when it is built.
///
/// Every field may be left out; unknown fields are errors. `defaults`
/// (default `true`) starts from [`Masker::new`] (`Authorization`, `Cookie`
/// and `Set-Cookie` redacted), `false` from [`Masker::none`]; the lists
/// are then applied in order: redact, pseudonymize, keep.
///
/// `key` is the pseudonyms' key: give every replica the same one, from
/// your secret store rather than a file in version control (it is never
/// printed by `Debug`). Without it a random key is used.
///
/// ```
/// use tower_shadow::mask::{Masker, MaskerConfig};
///
/// let config: MaskerConfig = serde_json::from_str(r#"{
///     "key": "a secret shared by the replicas",
///     "pseudonymize_headers": ["x-user-id"],
///     "keep_headers": ["authorization"],
///     "redact_paths": ["/card/number"]
/// }"#)?;
/// let masker: Masker = config.build()?;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("authorization", "Bearer t".parse()?);
/// masker.mask_headers(&mut headers);
/// assert_eq!(headers["authorization"], "Bearer t"); // kept for the candidate
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MaskerConfig {
    /// Start from [`Masker::new`] (`true`, the default) or [`Masker::none`].
    pub defaults: bool,
    /// The pseudonyms' key, at least [`MaskerConfig::MIN_KEY_BYTES`] bytes;
    /// default: a random key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Headers to redact.
    pub redact_headers: Vec<String>,
    /// Headers to pseudonymize.
    pub pseudonymize_headers: Vec<String>,
    /// Headers to leave as they are, even when `defaults` would redact them.
    pub keep_headers: Vec<String>,
    /// JSON Pointers (`*` for any member or element) of values to redact.
    pub redact_paths: Vec<String>,
    /// JSON Pointers of values to pseudonymize.
    pub pseudonymize_paths: Vec<String>,
}

impl Default for MaskerConfig {
    fn default() -> Self {
        Self {
            defaults: true,
            key: None,
            redact_headers: Vec::new(),
            pseudonymize_headers: Vec::new(),
            keep_headers: Vec::new(),
            redact_paths: Vec::new(),
            pseudonymize_paths: Vec::new(),
        }
    }
}

impl fmt::Debug for MaskerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskerConfig")
            .field("defaults", &self.defaults)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("redact_headers", &self.redact_headers)
            .field("pseudonymize_headers", &self.pseudonymize_headers)
            .field("keep_headers", &self.keep_headers)
            .field("redact_paths", &self.redact_paths)
            .field("pseudonymize_paths", &self.pseudonymize_paths)
            .finish()
    }
}

impl MaskerConfig {
    /// The shortest pseudonym key accepted: 16 bytes.
    pub const MIN_KEY_BYTES: usize = 16;

    /// Checks every header name, JSON Pointer and the key's length.
    ///
    /// ```
    /// use tower_shadow::mask::MaskerConfig;
    ///
    /// let mut config = MaskerConfig::default();
    /// config.key = Some("short".into());
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid mask config: key: must be 16 or more bytes long, not 5"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        use crate::config::{header_name, ConfigError};
        if let Some(key) = &self.key {
            if key.len() < Self::MIN_KEY_BYTES {
                return Err(ConfigError::invalid(
                    "mask",
                    "key",
                    format_args!(
                        "must be {} or more bytes long, not {}",
                        Self::MIN_KEY_BYTES,
                        key.len()
                    ),
                ));
            }
        }
        for (field, names) in [
            ("redact_headers", &self.redact_headers),
            ("pseudonymize_headers", &self.pseudonymize_headers),
            ("keep_headers", &self.keep_headers),
        ] {
            for name in names {
                header_name("mask", field, name)?;
            }
        }
        for (field, paths) in [
            ("redact_paths", &self.redact_paths),
            ("pseudonymize_paths", &self.pseudonymize_paths),
        ] {
            for path in paths {
                pointer::parse(path).map_err(|e| ConfigError::invalid("mask", field, e))?;
            }
        }
        Ok(())
    }

    /// Checks the settings and builds the masker.
    ///
    /// ```
    /// use tower_shadow::mask::MaskerConfig;
    ///
    /// let mut config = MaskerConfig::default();
    /// config.defaults = false;
    /// assert!(config.build()?.is_noop());
    /// config.redact_paths.push("card".into());
    /// assert_eq!(config.build().unwrap_err().field(), "redact_paths");
    /// # Ok::<(), tower_shadow::config::ConfigError>(())
    /// ```
    pub fn build(&self) -> Result<Masker, crate::config::ConfigError> {
        self.validate()?;
        let mut masker = if self.defaults {
            Masker::new()
        } else {
            Masker::none()
        };
        if let Some(key) = &self.key {
            masker = masker.key(key);
        }
        for name in &self.redact_headers {
            masker = masker.redact_header(name);
        }
        for name in &self.pseudonymize_headers {
            masker = masker.pseudonymize_header(name);
        }
        for name in &self.keep_headers {
            masker = masker.keep_header(name);
        }
        for path in &self.redact_paths {
            masker = masker.redact_path(path);
        }
        for path in &self.pseudonymize_paths {
            masker = masker.pseudonymize_path(path);
        }
        Ok(masker)
    }
}

impl TryFrom<MaskerConfig> for Masker {
    type Error = crate::config::ConfigError;

    fn try_from(config: MaskerConfig) -> Result<Self, Self::Error> {
        config.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_consistent() {
        let a = Masker::new().key(b"k1");
        let b = Masker::new().key(b"k2");
        assert_eq!(a.pseudonym(b"u-1"), a.pseudonym(b"u-1"));
        assert_ne!(a.pseudonym(b"u-1"), a.pseudonym(b"u-2"));
        assert_ne!(a.pseudonym(b"u-1"), b.pseudonym(b"u-1"));
        // HMAC-SHA-256("k1", "u-1"), computed independently:
        // python3 -c "import hmac,hashlib;print(hmac.new(b'k1',b'u-1',hashlib.sha256).hexdigest()[:16])"
        assert_eq!(a.pseudonym(b"u-1"), "pseudo-".to_owned() + PINNED);
    }

    const PINNED: &str = "23b0abcb202de089";

    #[test]
    fn every_value_of_a_masked_header_is_masked() {
        let masker = Masker::new().keep_header("cookie");
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(SET_COOKIE, HeaderValue::from_static("b=2"));
        headers.append(COOKIE, HeaderValue::from_static("c=3"));
        masker.mask_headers(&mut headers);
        let values: Vec<_> = headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(values, [REDACTED, REDACTED]);
        assert_eq!(headers[COOKIE], "c=3");
    }

    #[test]
    fn json_paths_with_wildcards_and_non_json_bodies() {
        let masker = Masker::none()
            .key(b"k")
            .redact_path("/a/*/secret")
            .pseudonymize_path("/id");
        let body = Bytes::from_static(br#"{"a":[{"secret":1},{"secret":"x","keep":2}],"id":7}"#);
        let masked: Value = serde_json::from_slice(&masker.mask_body(&body)).unwrap();
        assert_eq!(masked["a"][0]["secret"], REDACTED);
        assert_eq!(masked["a"][1]["secret"], REDACTED);
        assert_eq!(masked["a"][1]["keep"], 2);
        assert_eq!(masked["id"], masker.pseudonym(b"7"));
        assert_eq!(
            masker.mask_body(&Bytes::from_static(b"\x1f\x8b binary")),
            REDACTED
        );
        assert_eq!(masker.mask_body(&Bytes::from_static(b"[1]")), "[1]");
        assert_eq!(
            Masker::new().mask_body(&Bytes::from_static(b"plain")),
            "plain"
        );
    }

    #[test]
    fn bad_names_and_pointers_are_ignored() {
        let masker = Masker::none()
            .redact_header("bad header")
            .redact_path("no-slash");
        assert!(masker.is_noop());
    }
}
