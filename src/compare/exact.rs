use super::{Comparator, Comparison, DiffKind, Difference};
use crate::exchange::Exchange;

/// Compares errors, status and body bytes exactly; headers are not compared.
///
/// Equivalent (score `1.0`) when both sides failed the same way or both
/// answered the same status with byte-identical bodies; otherwise score
/// `0.0`. When either body was truncated, only the captured prefixes are
/// compared.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use tower_shadow::compare::{Comparator, Exact};
/// use tower_shadow::exchange::Exchange;
///
/// let ok = Exchange::new(StatusCode::OK, HeaderMap::new(), "same");
/// assert!(Exact.compare(&ok, &ok.clone()).is_equivalent());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Exact;

impl Comparator for Exact {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        let mut differences = Vec::new();
        let error_kind = |e: &Exchange| e.error.as_ref().map(|e| e.kind);
        if error_kind(baseline) != error_kind(candidate) {
            differences.push(Difference::new(
                "error",
                DiffKind::Error,
                baseline.error.as_ref(),
                candidate.error.as_ref(),
            ));
        }
        if baseline.status != candidate.status {
            let show = |e: &Exchange| e.status.map(|s| s.as_u16());
            differences.push(Difference::new(
                "status",
                DiffKind::Status,
                show(baseline),
                show(candidate),
            ));
        }
        if baseline.body != candidate.body {
            let show = |e: &Exchange| String::from_utf8_lossy(&e.body).into_owned();
            differences.push(Difference::new(
                "/body",
                DiffKind::Body,
                Some(show(baseline)),
                Some(show(candidate)),
            ));
        }
        if differences.is_empty() {
            Comparison::equivalent()
        } else {
            Comparison::different(0.0, differences)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{ErrorKind, ExchangeError};
    use http::{HeaderMap, StatusCode};

    #[test]
    fn reports_status_body_and_error() {
        let ok = Exchange::new(StatusCode::OK, HeaderMap::new(), "a");
        let other = Exchange::new(StatusCode::CREATED, HeaderMap::new(), "b");
        let failed = Exchange::failed(ExchangeError::new(ErrorKind::Panic, "boom"));

        let c = Exact.compare(&ok, &other);
        let paths: Vec<_> = c.differences.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["status", "/body"]);
        assert_eq!(c.score, 0.0);

        let c = Exact.compare(&ok, &failed);
        assert_eq!(c.differences[0].kind, DiffKind::Error);
        assert_eq!(c.differences[0].baseline, None);
        assert_eq!(
            c.differences[0].candidate.as_deref(),
            Some("panicked: boom")
        );

        assert!(Exact.compare(&failed, &failed.clone()).is_equivalent());
    }
}
