use super::{Comparator, Comparison, HeaderRules, JsonComparator};
use crate::exchange::Exchange;

/// The default comparator: status, `content-type` and `grpc-status`, and
/// the body — as JSON when both sides are JSON, as bytes otherwise.
///
/// It is a [`JsonComparator`] without per-path rules whose header rules
/// are [`HeaderRules::only(["content-type", "grpc-status"])`](HeaderRules::only)
/// (headers such as `date` or `x-request-id` differ on every pair); see
/// [`JsonComparator`] for how bodies, errors and the score work. For
/// per-path rules, start from [`Standard::into_json`] or
/// [`JsonComparator::new`].
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_shadow::compare::{Comparator, HeaderRules, Standard};
/// use tower_shadow::exchange::Exchange;
///
/// let ok = |body: &'static str| Exchange::new(StatusCode::OK, HeaderMap::new(), body);
/// let standard = Standard::new();
/// assert!(standard.compare(&ok(r#"{"a": 1.0}"#), &ok(r#"{"a":1}"#)).is_equivalent());
/// assert!(!standard.compare(&ok("plain"), &ok("Plain")).is_equivalent());
///
/// // Customised: compare cache-control too, and nest no deeper than 32.
/// let standard = Standard::new()
///     .headers(HeaderRules::only(["content-type", "cache-control"]))
///     .max_depth(32);
/// # let _ = standard;
/// ```
#[derive(Clone, Debug)]
pub struct Standard {
    inner: JsonComparator,
}

impl Standard {
    /// The headers compared by default.
    pub const HEADERS: [&'static str; 2] = ["content-type", "grpc-status"];

    /// Status, `content-type`, `grpc-status` and body.
    ///
    /// ```
    /// use tower_shadow::compare::Standard;
    ///
    /// let standard = Standard::new();
    /// # let _ = standard;
    /// ```
    pub fn new() -> Self {
        Self {
            inner: JsonComparator::new().headers(HeaderRules::only(Self::HEADERS)),
        }
    }

    /// Replaces the header rules.
    ///
    /// ```
    /// use tower_shadow::compare::{HeaderRules, Standard};
    ///
    /// let standard = Standard::new().headers(HeaderRules::all().ignore("date"));
    /// # let _ = standard;
    /// ```
    #[must_use]
    pub fn headers(self, rules: HeaderRules) -> Self {
        Self {
            inner: self.inner.headers(rules),
        }
    }

    /// Bodies nested deeper are not compared as JSON (default 128; see
    /// [`JsonComparator::max_depth`]).
    ///
    /// ```
    /// use tower_shadow::compare::Standard;
    ///
    /// let standard = Standard::new().max_depth(16);
    /// # let _ = standard;
    /// ```
    #[must_use]
    pub fn max_depth(self, depth: usize) -> Self {
        Self {
            inner: self.inner.max_depth(depth),
        }
    }

    /// Lists at most `max` differences per pair (default 100; see
    /// [`JsonComparator::max_differences`]).
    ///
    /// ```
    /// use tower_shadow::compare::Standard;
    ///
    /// let standard = Standard::new().max_differences(10);
    /// # let _ = standard;
    /// ```
    #[must_use]
    pub fn max_differences(self, max: usize) -> Self {
        Self {
            inner: self.inner.max_differences(max),
        }
    }

    /// The same comparator as a [`JsonComparator`], to add per-path rules.
    ///
    /// ```
    /// use tower_shadow::compare::Standard;
    ///
    /// let comparator = Standard::new().into_json().ignore("/meta/timestamp");
    /// # let _ = comparator;
    /// ```
    pub fn into_json(self) -> JsonComparator {
        self.inner
    }
}

impl Default for Standard {
    fn default() -> Self {
        Self::new()
    }
}

impl Comparator for Standard {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        self.inner.compare(baseline, candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::DiffKind;
    use http::{header, HeaderMap, HeaderValue, StatusCode};

    fn with(headers: &[(&'static str, &'static str)], body: &'static str) -> Exchange {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_static(v));
        }
        Exchange::new(StatusCode::OK, map, body)
    }

    #[test]
    fn compares_content_type_but_not_noise() {
        let a = with(
            &[("content-type", "application/json"), ("date", "a")],
            "[1]",
        );
        let b = with(
            &[("content-type", "application/json"), ("date", "b")],
            "[1.0]",
        );
        assert!(Standard::new().compare(&a, &b).is_equivalent());
        let c = with(&[("content-type", "text/plain")], "[1]");
        let r = Standard::new().compare(&a, &c);
        assert_eq!(r.differences.len(), 1);
        assert_eq!(r.differences[0].path, "/headers/content-type");
        assert_eq!(r.differences[0].kind, DiffKind::Header);
    }

    #[test]
    fn binary_bodies_compare_as_bytes() {
        let a = Exchange::new(StatusCode::OK, HeaderMap::new(), vec![0u8, 1, 2, 0xff]);
        let b = Exchange::new(StatusCode::OK, HeaderMap::new(), vec![0u8, 1, 3, 0xff]);
        let r = Standard::new().compare(&a, &b);
        assert_eq!(
            r.differences[0].candidate.as_deref(),
            Some("binary, 4 bytes, differs from byte 2")
        );
        assert!(Standard::new().compare(&a, &a.clone()).is_equivalent());
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        assert!(Standard::new()
            .headers(HeaderRules::none())
            .compare(&a, &Exchange::new(StatusCode::OK, h, vec![0u8, 1, 2, 0xff]))
            .is_equivalent());
    }
}
