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
//! ```
//! use bytes::Bytes;
//! use http::{HeaderMap, StatusCode};
//! use tower_shadow::compare::{Comparator, Exact};
//! use tower_shadow::exchange::Exchange;
//!
//! let a = Exchange::new(StatusCode::OK, HeaderMap::new(), Bytes::from_static(b"hello"));
//! let b = Exchange::new(StatusCode::OK, HeaderMap::new(), Bytes::from_static(b"hellO"));
//! let comparison = Exact.compare(&a, &b);
//! assert!(!comparison.is_equivalent());
//! assert_eq!(comparison.differences[0].path, "/body");
//! ```
//!
//! A closure `Fn(&Exchange, &Exchange) -> Comparison` is a comparator too.

mod exact;

pub use self::exact::Exact;

use crate::exchange::Exchange;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Scores a (baseline, candidate) pair of exchanges.
///
/// Implemented for closures `Fn(&Exchange, &Exchange) -> Comparison` and
/// for `Box<dyn Comparator>`. A comparator must not panic; if one does, the
/// layer contains the panic and counts the pair as a candidate error.
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
