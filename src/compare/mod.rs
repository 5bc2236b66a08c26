//! Scoring a pair of answers: does the candidate answer like the baseline?
//!
//! A [`Comparator`] receives the baseline's and the candidate's
//! [`Exchange`] for the same request and returns a [`Comparison`]: a score
//! (`1.0` when the two are equivalent) and the [`Difference`]s that explain
//! it, each naming where it is (`status`, `/headers/content-type`,
//! `/items/3/price`, ...), its kind and both values.
//!
//! Comparison runs on the shadow's background task, never on the primary's
//! path.
//!
//! - [`Standard`]: status, `content-type`, `grpc-status` and the body, as
//!   JSON when both sides are JSON, as bytes otherwise.
//! - [`JsonComparator`]: the same with every header and per-path rules —
//!   [`ignore`](JsonComparator::ignore),
//!   [`tolerance`](JsonComparator::tolerance) ([`Tolerance`]),
//!   [`unordered`](JsonComparator::unordered),
//!   [`shape`](JsonComparator::shape) ([`Shape`]) and [`HeaderRules`];
//!   loadable from JSON ([`JsonComparatorConfig`]).
//! - [`Exact`]: status and body bytes.
//! - A closure `Fn(&Exchange, &Exchange) -> Comparison`.
//! - [`And`] and [`Or`] ([`ComparatorExt::and`], [`ComparatorExt::or`])
//!   combine comparators.
//!
//! # Example
//!
//! The default, [`Standard`]:
//!
//! ```
//! use http::{header::CONTENT_TYPE, HeaderMap, HeaderValue, StatusCode};
//! use tower_shadow::compare::{Comparator, Standard};
//! use tower_shadow::exchange::Exchange;
//!
//! let json = |body: &'static str| {
//!     let mut headers = HeaderMap::new();
//!     headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
//!     Exchange::new(StatusCode::OK, headers, body)
//! };
//! let standard = Standard::new();
//! let comparison = standard.compare(
//!     &json(r#"{"items": [{"price": 1.50}], "total": 1.5}"#),
//!     &json(r#"{"total": 1.5, "items": [{"price": 1.55}]}"#),
//! );
//! assert_eq!(comparison.differences.len(), 1);
//! assert_eq!(comparison.differences[0].path, "/items/0/price");
//! assert!(comparison.score > 0.8);
//! ```
//!
//! Customised: rules for what may differ, and a check of our own on top.
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use tower_shadow::compare::{
//!     Comparator, ComparatorExt, Comparison, DiffKind, Difference, JsonComparator, Shape, Tolerance,
//! };
//! use tower_shadow::exchange::Exchange;
//!
//! let rules = JsonComparator::new()
//!     .ignore("/meta/timestamp")
//!     .tolerance("/items/*/price", Tolerance::relative(0.01))
//!     .unordered("/tags")
//!     .shape("/id", Shape::Uuid)
//!     .ignore_header("date");
//! let no_5xx = |_: &Exchange, candidate: &Exchange| match candidate.status {
//!     Some(s) if s.is_server_error() => Comparison::different(
//!         0.0,
//!         vec![Difference::new("status", DiffKind::Status, None::<u16>, Some(s.as_u16()))],
//!     ),
//!     _ => Comparison::equivalent(),
//! };
//! let comparator = rules.and(no_5xx);
//!
//! let a = Exchange::new(StatusCode::OK, HeaderMap::new(), r#"{"tags": ["x", "y"], "meta": {"timestamp": 1}}"#);
//! let b = Exchange::new(StatusCode::OK, HeaderMap::new(), r#"{"tags": ["y", "x"], "meta": {"timestamp": 2}}"#);
//! assert!(comparator.compare(&a, &b).is_equivalent());
//! ```

mod and;
mod config;
mod exact;
mod headers;
pub(crate) mod json;
mod or;
mod shape;
mod standard;
mod tolerance;

pub use self::and::And;
pub use self::config::ComparatorConfig;
pub use self::exact::Exact;
pub use self::headers::HeaderRules;
pub use self::json::{ConfigError, JsonComparator, JsonComparatorConfig};
pub use self::or::Or;
pub use self::shape::Shape;
pub use self::standard::Standard;
pub use self::tolerance::Tolerance;

use crate::exchange::Exchange;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Scores a (baseline, candidate) pair of exchanges.
///
/// Implemented for closures `Fn(&Exchange, &Exchange) -> Comparison`, for
/// `Box<dyn Comparator>` and for `Arc<C>` (`C` any comparator, `dyn
/// Comparator` included). A generic `Box<C>` impl is not possible: a boxed
/// closure is itself a closure, so it would overlap the closure impl. A
/// comparator must not panic; if one does, the layer contains the panic and
/// counts the pair as a candidate error.
///
/// ```
/// use std::sync::Arc;
/// use http::{HeaderMap, StatusCode};
/// use tower_shadow::compare::{Comparator, Comparison, Standard};
/// use tower_shadow::exchange::Exchange;
///
/// fn check(c: impl Comparator) -> bool {
///     let ok = Exchange::new(StatusCode::OK, HeaderMap::new(), "");
///     c.compare(&ok, &ok.clone()).is_equivalent()
/// }
/// assert!(check(|_: &Exchange, _: &Exchange| Comparison::equivalent()));
/// assert!(check(Arc::new(Standard::new())));
/// let shared: Arc<dyn Comparator> = Arc::new(Standard::new());
/// assert!(check(shared.clone()));
/// let boxed: Box<dyn Comparator> = Box::new(Standard::new());
/// assert!(check(boxed));
/// ```
pub trait Comparator: Send + Sync + 'static {
    /// Compares the candidate's answer against the baseline's.
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison;
}

impl<F> Comparator for F
where
    F: Fn(&Exchange, &Exchange) -> Comparison + Send + Sync + 'static,
{
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        self(baseline, candidate)
    }
}

impl Comparator for Box<dyn Comparator> {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        (**self).compare(baseline, candidate)
    }
}

impl<C: Comparator + ?Sized> Comparator for Arc<C> {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        (**self).compare(baseline, candidate)
    }
}

/// Combinators for every [`Comparator`].
///
/// ```
/// use tower_shadow::compare::{ComparatorExt, Exact, JsonComparator, Standard};
///
/// let strict = Standard::new().and(Exact);
/// let lenient = Exact.or(JsonComparator::new().ignore("/meta"));
/// # let _ = (strict, lenient);
/// ```
pub trait ComparatorExt: Comparator + Sized {
    /// Both comparators: all their differences, the lower score ([`And`]).
    ///
    /// ```
    /// use tower_shadow::compare::{ComparatorExt, Exact, Standard};
    ///
    /// let both = Standard::new().and(Exact);
    /// # let _ = both;
    /// ```
    fn and<C: Comparator>(self, other: C) -> And<Self, C> {
        And::new(self, other)
    }

    /// Either comparator: equivalent if either says so ([`Or`]).
    ///
    /// ```
    /// use tower_shadow::compare::{ComparatorExt, Exact, Standard};
    ///
    /// let either = Exact.or(Standard::new());
    /// # let _ = either;
    /// ```
    fn or<C: Comparator>(self, other: C) -> Or<Self, C> {
        Or::new(self, other)
    }
}

impl<T: Comparator> ComparatorExt for T {}

/// The outcome of comparing a pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// How alike the two answers are: `1.0` equivalent, `0.0` nothing alike.
    pub score: f64,
    /// What differs, most significant first.
    pub differences: Vec<Difference>,
}

impl Comparison {
    /// Two equivalent answers.
    pub fn equivalent() -> Self {
        Self {
            score: 1.0,
            differences: Vec::new(),
        }
    }

    /// Two answers that differ as `differences` say, scored `score`
    /// (clamped to `0.0..=1.0`, `NaN` as `0.0`).
    pub fn different(score: f64, differences: Vec<Difference>) -> Self {
        let score = if score.is_nan() {
            0.0
        } else {
            score.clamp(0.0, 1.0)
        };
        Self { score, differences }
    }

    /// Whether nothing differs.
    pub fn is_equivalent(&self) -> bool {
        self.differences.is_empty()
    }
}

/// One thing that differs between the baseline and the candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// Where: `status`, `/headers/<name>`, `/body`, or a JSON Pointer into the body.
    pub path: String,
    /// What kind of difference.
    pub kind: DiffKind,
    /// The baseline's value there, shortened; `None` when it has none.
    pub baseline: Option<String>,
    /// The candidate's value there, shortened; `None` when it has none.
    pub candidate: Option<String>,
}

impl Difference {
    /// Longest value kept in a difference, in bytes.
    pub const MAX_VALUE: usize = 256;

    /// A difference of `kind` at `path`; values longer than
    /// [`Difference::MAX_VALUE`] are shortened with a trailing `…`.
    pub fn new(
        path: impl Into<String>,
        kind: DiffKind,
        baseline: Option<impl fmt::Display>,
        candidate: Option<impl fmt::Display>,
    ) -> Self {
        Self {
            path: path.into(),
            kind,
            baseline: baseline.map(|v| shorten(v.to_string())),
            candidate: candidate.map(|v| shorten(v.to_string())),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let none = "(none)";
        write!(
            f,
            "{} {}: {} -> {}",
            self.kind,
            self.path,
            self.baseline.as_deref().unwrap_or(none),
            self.candidate.as_deref().unwrap_or(none)
        )
    }
}

pub(crate) fn shorten(mut value: String) -> String {
    if value.len() > Difference::MAX_VALUE {
        let mut end = Difference::MAX_VALUE;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
        value.push('…');
    }
    value
}

/// The kind of a [`Difference`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiffKind {
    /// The status codes differ.
    Status,
    /// A compared header differs, or is on one side only.
    Header,
    /// The candidate lacks a value the baseline has.
    Missing,
    /// The candidate has a value the baseline lacks.
    Added,
    /// The values differ.
    Value,
    /// The values have different JSON types.
    Type,
    /// The bodies differ as a whole (not JSON, or not comparable as JSON).
    Body,
    /// One side failed (error, timeout, panic) and the other did not, or
    /// they failed differently.
    Error,
}

impl fmt::Display for DiffKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Status => "status",
            Self::Header => "header",
            Self::Missing => "missing",
            Self::Added => "added",
            Self::Value => "value",
            Self::Type => "type",
            Self::Body => "body",
            Self::Error => "error",
        })
    }
}
