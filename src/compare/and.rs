use super::{Comparator, Comparison};
use crate::exchange::Exchange;

/// Runs two comparators and keeps both verdicts: the differences of both
/// (the first's, then the second's not already listed), and the lower
/// score. Made by [`ComparatorExt::and`](super::ComparatorExt::and).
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_shadow::compare::{Comparator, ComparatorExt, Comparison, DiffKind, Difference, Standard};
/// use tower_shadow::exchange::Exchange;
/// use std::time::Duration;
///
/// // The standard comparison, and the candidate may not be more than twice as slow.
/// let latency = |b: &Exchange, c: &Exchange| {
///     if c.latency > b.latency * 2 {
///         let d = Difference::new("latency", DiffKind::Value, Some(format!("{:?}", b.latency)), Some(format!("{:?}", c.latency)));
///         Comparison::different(0.5, vec![d])
///     } else {
///         Comparison::equivalent()
///     }
/// };
/// let comparator = Standard::new().and(latency);
///
/// let fast = Exchange::new(StatusCode::OK, HeaderMap::new(), "ok").with_latency(Duration::from_millis(10));
/// let slow = fast.clone().with_latency(Duration::from_millis(50));
/// let comparison = comparator.compare(&fast, &slow);
/// assert_eq!(comparison.differences[0].path, "latency");
/// assert_eq!(comparison.score, 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct And<A, B> {
    first: A,
    second: B,
}

impl<A, B> And<A, B> {
    /// Both `first` and `second`.
    ///
    /// ```
    /// use tower_shadow::compare::{And, Exact, Standard};
    ///
    /// let both = And::new(Standard::new(), Exact);
    /// # let _ = both;
    /// ```
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

impl<A: Comparator, B: Comparator> Comparator for And<A, B> {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        let first = self.first.compare(baseline, candidate);
        let second = self.second.compare(baseline, candidate);
        let score = first.score.min(second.score);
        let mut differences = first.differences;
        for d in second.differences {
            if !differences.contains(&d) {
                differences.push(d);
            }
        }
        if differences.is_empty() {
            Comparison { score, differences }
        } else {
            Comparison::different(score, differences)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{DiffKind, Difference, Exact};
    use http::{HeaderMap, StatusCode};

    #[test]
    fn merges_differences_and_keeps_the_lower_score() {
        let flag = |b: &Exchange, c: &Exchange| {
            if b.body == c.body {
                Comparison::equivalent()
            } else {
                let d = Difference::new("custom", DiffKind::Value, Some(1), Some(2));
                Comparison::different(0.9, vec![d])
            }
        };
        let both = And::new(And::new(Exact, flag), Exact);
        let a = Exchange::new(StatusCode::OK, HeaderMap::new(), "a");
        let b = Exchange::new(StatusCode::OK, HeaderMap::new(), "b");
        let c = both.compare(&a, &b);
        let paths: Vec<_> = c.differences.iter().map(|d| d.path.as_str()).collect();
        // Exact's /body is listed once though Exact runs twice.
        assert_eq!(paths, ["/body", "custom"]);
        assert_eq!(c.score, 0.0);
        assert!(both.compare(&a, &a.clone()).is_equivalent());
    }
}
