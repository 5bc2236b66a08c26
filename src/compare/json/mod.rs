//! The JSON-aware comparator and its per-path rules.

mod config;
mod decode;
mod envelope;
pub(crate) mod number;
pub(crate) mod parse;
pub(crate) mod pointer;
mod rules;
mod walk;

pub use self::config::{ConfigError, JsonComparatorConfig};

use self::envelope::Settings;
use self::rules::{Rule, Rules};
use super::{Comparator, Comparison, HeaderRules, Shape, Tolerance};
use crate::exchange::Exchange;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Compares errors, status, headers, trailers and bodies, reading JSON
/// bodies as JSON, with rules for the parts that may differ.
///
/// # What is compared
///
/// - **Errors**: if either side failed ([`Exchange::error`]), the pair is
///   equivalent when both failed the same way ([`ErrorKind`]), and
///   different (`error`, score `0.0`) otherwise; nothing else is compared.
/// - **Status**: at path `status`.
/// - **Headers and trailers**: those the [`HeaderRules`] select (by default
///   every header but the framing ones, `content-length` included), at
///   `/headers/<name>` and `/trailers/<name>`.
/// - **Body**: byte-identical bodies are equal without being parsed.
///   Otherwise, when both sides are JSON (a content type of
///   `application/json`, `text/json` or `*/*+json`, or a body starting
///   with `{` or `[`), the two documents are compared value by value,
///   under the rules below. Numbers are compared by value, exactly, from
///   their text: `1.0`, `1.00` and `1e0` are equal, `12345678901234567890123`
///   and `12345678901234567890124` are not. Object members match by name,
///   in any order; arrays by index. Strings compare by their unescaped
///   value.
/// - Bodies with a `gzip`, `x-gzip` or `deflate` `Content-Encoding` are
///   decoded first (up to 8 MiB decoded), so compressed answers are
///   compared value by value; a differing `Content-Encoding` header is
///   still reported.
/// - A body that cannot be compared as JSON is reported whole, as one
///   [`DiffKind::Body`](super::DiffKind::Body) difference at `/body` whose
///   values say why: a body in another coding (`br`, `zstd`: not decoded),
///   one that does not decode or decodes past 8 MiB (the values give the
///   coding, the size and the reason), a truncated body (`max_body_bytes`
///   reached), a body that is not JSON (not UTF-8, invalid JSON: with the
///   byte offset and the reason), JSON nested deeper than
///   [`max_depth`](Self::max_depth), or a body that is not JSON on one side
///   or both (then compared as bytes, each value showing the body from
///   a little before its first difference). No input panics or overflows
///   the stack: parsing is iterative and the walk stops at `max_depth`.
///
/// # Rules
///
/// Paths are JSON Pointers (RFC 6901: `/items/0/price`, with `~1` for `/`
/// and `~0` for `~`, `""` for the whole body) into the body, where a token
/// `*` matches any member or element, and a number matches an array index
/// or a member of that name.
///
/// - [`ignore`](Self::ignore): not compared at all, present or not;
/// - [`tolerance`](Self::tolerance): numbers within a [`Tolerance`] are equal;
/// - [`unordered`](Self::unordered): an array compared as a multiset;
/// - [`shape`](Self::shape): values that both have a [`Shape`] are equal.
///
/// Where several rules match one path, `ignore` wins; a tolerance and a
/// shape each excuse what they can; between two tolerances (or shapes), the
/// more specific path wins (a literal token beats `*`, from the left), and
/// for the same path the last one given. An invalid pointer (not empty and
/// not starting with `/`, or a `~` not followed by `0` or `1`) is logged
/// with `tracing::warn!` and its rule is dropped, so it never matches; the
/// serde form ([`JsonComparatorConfig`]) rejects it instead.
///
/// # Differences
///
/// Each [`Difference`](super::Difference) names the exact path
/// (`/items/3/price`, `""` for the root value), its kind (`value`, `type`,
/// `missing`, `added`, ...) and both values as compact JSON, shortened. In
/// an unordered array, elements without an equivalent on the other side
/// are paired in order and compared at the baseline's index; unpaired ones
/// are `missing` at the baseline's index or `added` at the candidate's. At
/// most [`max_differences`](Self::max_differences) are listed.
///
/// # Score
///
/// `score = 1 − differing / units`, where the status, each compared header
/// or trailer that either side sends, and the body are one unit each; a
/// differing status or header counts `1`; the body counts the share of its
/// JSON leaves (scalars and empty containers, on either side, outside
/// ignored paths) that differ, or `1` when it differs and is not compared
/// as JSON. A value present on one side only counts all its leaves. A pair
/// that failed differently scores `0.0`; an equivalent pair `1.0`.
///
/// # Example
///
/// ```
/// use http::{header::CONTENT_TYPE, HeaderMap, HeaderValue, StatusCode};
/// use tower_shadow::compare::{Comparator, DiffKind, JsonComparator, Tolerance};
/// use tower_shadow::exchange::Exchange;
///
/// let comparator = JsonComparator::new()
///     .ignore("/meta/timestamp")
///     .tolerance("/items/*/price", Tolerance::relative(0.01))
///     .unordered("/tags")
///     .ignore_header("date");
///
/// let json = |body: &'static str| {
///     let mut headers = HeaderMap::new();
///     headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
///     Exchange::new(StatusCode::OK, headers, body)
/// };
/// let baseline = json(r#"{"meta": {"timestamp": 1}, "items": [{"price": 10.0}], "tags": ["a", "b"]}"#);
/// let close = json(r#"{"meta": {"timestamp": 2}, "items": [{"price": 10.05}], "tags": ["b", "a"]}"#);
/// assert!(comparator.compare(&baseline, &close).is_equivalent());
///
/// let off = json(r#"{"meta": {"timestamp": 3}, "items": [{"price": 12}], "tags": ["a", "b"]}"#);
/// let comparison = comparator.compare(&baseline, &off);
/// let difference = &comparison.differences[0];
/// assert_eq!(difference.path, "/items/0/price");
/// assert_eq!(difference.kind, DiffKind::Value);
/// assert_eq!(difference.baseline.as_deref(), Some("10.0"));
/// assert_eq!(difference.candidate.as_deref(), Some("12"));
/// ```
///
/// [`ErrorKind`]: crate::exchange::ErrorKind
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "JsonComparatorConfig", into = "JsonComparatorConfig")]
pub struct JsonComparator {
    config: JsonComparatorConfig,
    rules: Rules,
}

impl JsonComparator {
    /// The default [`max_depth`](Self::max_depth).
    pub const DEFAULT_MAX_DEPTH: usize = 128;
    /// The largest [`max_depth`](Self::max_depth) allowed.
    pub const MAX_DEPTH_LIMIT: usize = 256;
    /// The default [`max_differences`](Self::max_differences).
    pub const DEFAULT_MAX_DIFFERENCES: usize = 100;

    /// No rules; every header but the framing ones; nesting up to 128.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new();
    /// # let _ = comparator;
    /// ```
    pub fn new() -> Self {
        Self::from_valid(JsonComparatorConfig::default())
    }

    /// Compiles a configuration already validated.
    fn from_valid(config: JsonComparatorConfig) -> Self {
        let mut rules = Rules::default();
        let mut add = |path: &str, rule| {
            if let Ok(tokens) = pointer::parse(path) {
                rules.add(&tokens, rule);
            }
        };
        for path in &config.ignore {
            add(path, Rule::Ignore);
        }
        for (path, tolerance) in &config.tolerance {
            add(path, Rule::Tolerance(*tolerance));
        }
        for path in &config.unordered {
            add(path, Rule::Unordered);
        }
        for (path, shape) in &config.shape {
            add(path, Rule::Shape(*shape));
        }
        Self { config, rules }
    }

    /// Adds `rule` at `path` unless `path` is not a valid pointer.
    fn rule(mut self, path: &str, rule: Rule) -> Self {
        let tokens = match pointer::parse(path) {
            Ok(tokens) => tokens,
            Err(error) => {
                tracing::warn!(%error, "comparator rule dropped: it would never match");
                return self;
            }
        };
        self.rules.add(&tokens, rule);
        let path = path.to_owned();
        match rule {
            Rule::Ignore => self.config.ignore.push(path),
            Rule::Unordered => self.config.unordered.push(path),
            Rule::Tolerance(t) => {
                self.config.tolerance.insert(path, t);
            }
            Rule::Shape(s) => {
                self.config.shape.insert(path, s);
            }
        }
        self
    }

    /// Does not compare the value at `path` (nor whether it is there).
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new().ignore("/meta/timestamp").ignore("/items/*/etag");
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn ignore(self, path: &str) -> Self {
        self.rule(path, Rule::Ignore)
    }

    /// Numbers at `path` within `tolerance` are equal.
    ///
    /// ```
    /// use tower_shadow::compare::{JsonComparator, Tolerance};
    ///
    /// let comparator = JsonComparator::new()
    ///     .tolerance("/items/*/price", Tolerance::relative(0.01))
    ///     .tolerance("/latency_ms", Tolerance::absolute(5.0));
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn tolerance(self, path: &str, tolerance: Tolerance) -> Self {
        self.rule(path, Rule::Tolerance(tolerance))
    }

    /// The array at `path` is compared as a multiset: same elements (under
    /// the rules below it), each as many times, in any order.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new().unordered("/tags").unordered("/items/*/sizes");
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn unordered(self, path: &str) -> Self {
        self.rule(path, Rule::Unordered)
    }

    /// Values at `path` are equal when both have `shape` (or are equal).
    ///
    /// ```
    /// use tower_shadow::compare::{JsonComparator, Shape};
    ///
    /// let comparator = JsonComparator::new().shape("/request_id", Shape::Uuid);
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn shape(self, path: &str, shape: Shape) -> Self {
        self.rule(path, Rule::Shape(shape))
    }

    /// Does not compare the header (or trailer) `name`.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new().ignore_header("date").ignore_header("x-request-id");
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn ignore_header(mut self, name: &str) -> Self {
        self.config.headers = self.config.headers.ignore(name);
        self
    }

    /// Compares only the headers (and trailers) named.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new().only_headers(["content-type", "cache-control"]);
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn only_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.config.headers = HeaderRules::only(names);
        self
    }

    /// Replaces the header rules.
    ///
    /// ```
    /// use tower_shadow::compare::{HeaderRules, JsonComparator};
    ///
    /// let comparator = JsonComparator::new().headers(HeaderRules::none());
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn headers(mut self, rules: HeaderRules) -> Self {
        self.config.headers = rules;
        self
    }

    /// Bodies nested deeper than `depth` are not compared as JSON (default
    /// 128; `1` allows one level of object or array). Values outside
    /// `1..=256` are brought into it, with a `tracing::warn!`.
    ///
    /// Parsing is iterative; the comparison recurses once or twice per
    /// level, up to about 2 KiB of stack a level in a debug build (less in
    /// release), so even 256 levels stay well within the 2 MiB stack of a
    /// Tokio worker thread.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new().max_depth(32);
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        let clamped = depth.clamp(1, Self::MAX_DEPTH_LIMIT);
        if clamped != depth {
            tracing::warn!(depth, clamped, "comparator max_depth out of range");
        }
        self.config.max_depth = clamped;
        self
    }

    /// Lists at most `max` differences per pair (default 100; at least 1);
    /// the score still counts them all.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new().max_differences(10);
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn max_differences(mut self, max: usize) -> Self {
        self.config.max_differences = max.max(1);
        self
    }

    /// The configuration, in its serde form.
    ///
    /// ```
    /// use tower_shadow::compare::JsonComparator;
    ///
    /// let comparator = JsonComparator::new().ignore("/a").ignore("oops");
    /// assert_eq!(comparator.config().ignore, ["/a"]);
    /// ```
    pub fn config(&self) -> &JsonComparatorConfig {
        &self.config
    }
}

impl Default for JsonComparator {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for JsonComparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonComparator").field(&self.config).finish()
    }
}

impl Comparator for JsonComparator {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        let settings = Settings {
            rules: &self.rules,
            headers: &self.config.headers,
            max_depth: self.config.max_depth,
            max_differences: self.config.max_differences,
        };
        envelope::compare(&settings, baseline, candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::DiffKind;
    use http::{header, HeaderMap, HeaderValue, StatusCode};

    fn json(body: &str) -> Exchange {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::DATE,
            HeaderValue::from_static("Mon, 01 Jan 2024 00:00:00 GMT"),
        );
        Exchange::new(StatusCode::OK, headers, body.to_owned())
    }

    #[test]
    fn the_public_contract() {
        let comparator = JsonComparator::new()
            .ignore("/meta/timestamp")
            .tolerance("/items/*/price", Tolerance::relative(0.01))
            .unordered("/tags")
            .ignore_header("date");
        let a = json(r#"{"meta":{"timestamp":"x"},"items":[{"price":100}],"tags":[1,2]}"#);
        let mut b = json(r#"{"meta":{"timestamp":"y"},"items":[{"price":100.9}],"tags":[2,1]}"#);
        b.headers.insert(
            header::DATE,
            HeaderValue::from_static("Tue, 02 Jan 2024 00:00:00 GMT"),
        );
        assert!(comparator.compare(&a, &b).is_equivalent());
        // Without ignore_header("date"), the date differs.
        let c = JsonComparator::new().compare(&a, &b);
        assert!(c.differences.iter().any(|d| d.path == "/headers/date"));
    }

    #[test]
    fn bad_pointers_are_dropped() {
        let comparator = JsonComparator::new()
            .ignore("meta")
            .tolerance("/a~", Tolerance::absolute(1.0));
        assert!(comparator.config().ignore.is_empty());
        assert!(comparator.config().tolerance.is_empty());
        let c = comparator.compare(&json(r#"{"meta":1}"#), &json(r#"{"meta":2}"#));
        assert_eq!(c.differences[0].path, "/meta");
    }

    #[test]
    fn settings_are_clamped() {
        let c = JsonComparator::new().max_depth(0).max_differences(0);
        assert_eq!((c.config().max_depth, c.config().max_differences), (1, 1));
        assert_eq!(
            JsonComparator::new().max_depth(1 << 20).config().max_depth,
            256
        );
        let c = JsonComparator::new().max_depth(1);
        assert!(c.compare(&json("[1]"), &json("[1.0]")).is_equivalent());
        let nested = c.compare(&json("[[1]]"), &json("[[1.0]]"));
        assert_eq!(nested.differences[0].kind, DiffKind::Body);
    }

    #[test]
    fn deepest_allowed_nesting_does_not_overflow() {
        // On a thread with half the stack of a Tokio worker, in a debug build.
        std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(|| {
                let n = JsonComparator::MAX_DEPTH_LIMIT;
                let arrays = |leaf: &str| format!("{}{leaf}{}", "[".repeat(n), "]".repeat(n));
                let objects =
                    |leaf: &str| format!("{}{leaf}{}", r#"{"a":"#.repeat(n), "}".repeat(n));
                let c = JsonComparator::new().max_depth(n);
                let r = c.compare(&json(&arrays("1")), &json(&arrays("2")));
                assert_eq!(r.differences[0].path, "/0".repeat(n));
                let r = c.compare(&json(&objects("1")), &json(&objects("2")));
                assert_eq!(r.differences[0].path, "/a".repeat(n));
                // Hashing and probing recurse too.
                let c = c.unordered("");
                let r = c.compare(&json(&arrays("1")), &json(&arrays("2")));
                assert_eq!(r.differences[0].path, "/0".repeat(n));
                let one_more = format!("[{}]", arrays("1"));
                let r = c.compare(&json(&arrays("1")), &json(&one_more));
                assert_eq!(r.differences[0].kind, DiffKind::Body);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
