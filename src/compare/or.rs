use super::{Comparator, Comparison};
use crate::exchange::Exchange;

/// Accepts a pair when either comparator does: the first's verdict when it
/// finds the pair equivalent, else the second's when it does, else the
/// verdict with the higher score (the first's on a tie). The second runs
/// only when the first finds a difference. Made by
/// [`ComparatorExt::or`](super::ComparatorExt::or).
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_shadow::compare::{Comparator, ComparatorExt, Comparison, Standard};
/// use tower_shadow::exchange::Exchange;
///
/// // Two 5xx answers count as the same, whatever their bodies.
/// let both_failed = |b: &Exchange, c: &Exchange| {
///     if b.is_failure() && c.is_failure() {
///         Comparison::equivalent()
///     } else {
///         Comparison::different(0.0, Vec::new())
///     }
/// };
/// let comparator = Standard::new().or(both_failed);
/// let a = Exchange::new(StatusCode::BAD_GATEWAY, HeaderMap::new(), "upstream a");
/// let b = Exchange::new(StatusCode::BAD_GATEWAY, HeaderMap::new(), "upstream b");
/// assert!(comparator.compare(&a, &b).is_equivalent());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Or<A, B> {
    first: A,
    second: B,
}

impl<A, B> Or<A, B> {
    /// Either `first` or `second`.
    ///
    /// ```
    /// use tower_shadow::compare::{Exact, Or, Standard};
    ///
    /// let either = Or::new(Exact, Standard::new());
    /// # let _ = either;
    /// ```
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

impl<A: Comparator, B: Comparator> Comparator for Or<A, B> {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        let first = self.first.compare(baseline, candidate);
        if first.is_equivalent() {
            return first;
        }
        let second = self.second.compare(baseline, candidate);
        if second.is_equivalent() || second.score > first.score {
            second
        } else {
            first
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{DiffKind, Difference, Exact, Standard};
    use http::{HeaderMap, StatusCode};

    #[test]
    fn either_may_accept() {
        let a = Exchange::new(StatusCode::OK, HeaderMap::new(), "[1.0]");
        let b = Exchange::new(StatusCode::OK, HeaderMap::new(), "[1]");
        assert!(!Exact.compare(&a, &b).is_equivalent());
        assert!(Or::new(Exact, Standard::new())
            .compare(&a, &b)
            .is_equivalent());

        let never = |_: &Exchange, _: &Exchange| {
            let d = Difference::new("x", DiffKind::Value, Some(1), Some(2));
            Comparison::different(0.5, vec![d])
        };
        let c = Exchange::new(StatusCode::OK, HeaderMap::new(), "[2]");
        // Exact scores 0.0, the closure 0.5: the better verdict is kept.
        let r = Or::new(Exact, never).compare(&a, &c);
        assert_eq!((r.score, r.differences[0].path.as_str()), (0.5, "x"));
        let r = Or::new(never, Exact).compare(&a, &c);
        assert_eq!(r.differences[0].path, "x");
    }
}
