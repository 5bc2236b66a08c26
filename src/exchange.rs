//! One side of a shadowed request: what a version answered, and how.
//!
//! The shadow layer captures an [`Exchange`] on each side of a sampled
//! request, the primary's (teed while it streams to the client) and the
//! shadow's (collected in the background), and hands the pair to a
//! [`Comparator`](crate::compare::Comparator).
//!
//! ```
//! use bytes::Bytes;
//! use http::{HeaderMap, StatusCode};
//! use std::time::Duration;
//! use tower_shadow::exchange::Exchange;
//!
//! let exchange = Exchange::new(StatusCode::OK, HeaderMap::new(), Bytes::from_static(b"{}"))
//!     .with_latency(Duration::from_millis(12));
//! assert_eq!(exchange.status, Some(StatusCode::OK));
//! assert!(!exchange.truncated);
//! assert!(exchange.error.is_none());
//! ```

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Uri};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What one version answered to one request.
///
/// `body` holds at most the layer's `max_body_bytes`; when the real body was
/// longer, `truncated` is set and `body` is its prefix. When the version
/// failed (a service error, a timeout, a panic, a body that broke while
/// streaming), `error` says how, and `status` is `None` unless a response
/// head had already arrived.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Exchange {
    /// The response status, `None` when no response head arrived.
    pub status: Option<StatusCode>,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body, or its first `max_body_bytes` when `truncated`.
    pub body: Bytes,
    /// The trailers, when the body ended with some (gRPC puts its status there).
    pub trailers: Option<HeaderMap>,
    /// Time from the call to the response head.
    pub latency: Duration,
    /// Why this side failed, if it did.
    pub error: Option<ExchangeError>,
    /// Whether `body` is only a prefix of the real body.
    pub truncated: bool,
    /// The URI of the request this answers, when known. The shadow layer
    /// sets it on both sides before comparing; a comparator that depends
    /// on the call reads it, as
    /// `compare::GrpcComparator` reads the gRPC
    /// method from its path (feature `grpc`).
    pub uri: Option<Uri>,
}

impl Exchange {
    /// An exchange that answered `status` with `headers` and `body`.
    pub fn new(status: StatusCode, headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        Self {
            status: Some(status),
            headers,
            body: body.into(),
            ..Self::default()
        }
    }

    /// An exchange that failed with `error` before any response head arrived.
    pub fn failed(error: ExchangeError) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }

    /// Sets the latency.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the trailers.
    #[must_use]
    pub fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.trailers = Some(trailers);
        self
    }

    /// Sets the URI of the request this answers.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode, Uri};
    /// use tower_shadow::exchange::Exchange;
    ///
    /// let exchange = Exchange::new(StatusCode::OK, HeaderMap::new(), "")
    ///     .with_uri(Uri::from_static("/users.Users/GetUser"));
    /// assert_eq!(exchange.uri.unwrap().path(), "/users.Users/GetUser");
    /// ```
    #[must_use]
    pub fn with_uri(mut self, uri: Uri) -> Self {
        self.uri = Some(uri);
        self
    }

    /// Marks the body as a truncated prefix.
    #[must_use]
    pub fn with_truncated(mut self, truncated: bool) -> Self {
        self.truncated = truncated;
        self
    }

    /// Sets the error.
    #[must_use]
    pub fn with_error(mut self, error: ExchangeError) -> Self {
        self.error = Some(error);
        self
    }

    /// Whether this side failed: an error, or a 5xx status.
    pub fn is_failure(&self) -> bool {
        self.error.is_some() || self.status.is_some_and(|s| s.is_server_error())
    }
}

/// How one side of a pair failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeError {
    /// What kind of failure it was.
    pub kind: ErrorKind,
    /// The error's message, shortened.
    pub message: String,
}

impl ExchangeError {
    /// Longest message kept, in bytes; longer messages are cut on a char boundary.
    const MAX_MESSAGE: usize = 512;

    /// A failure of `kind` described by `message`.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        let mut message = message.to_string();
        if message.len() > Self::MAX_MESSAGE {
            let mut end = Self::MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        Self { kind, message }
    }
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ExchangeError {}

/// The kind of an [`ExchangeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The service returned an error instead of a response.
    Service,
    /// The response body failed while streaming.
    Body,
    /// The shadow did not answer within the layer's `shadow_timeout`.
    Timeout,
    /// The shadow panicked; the panic was contained.
    Panic,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "service error",
            Self::Body => "body error",
            Self::Timeout => "timed out",
            Self::Panic => "panicked",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let error = ExchangeError::new(ErrorKind::Service, "é".repeat(600));
        assert!(error.message.len() <= ExchangeError::MAX_MESSAGE + '…'.len_utf8());
        assert!(error.message.ends_with('…'));
    }

    #[test]
    fn failure_means_error_or_5xx() {
        let ok = Exchange::new(StatusCode::OK, HeaderMap::new(), "");
        let bad = Exchange::new(StatusCode::BAD_GATEWAY, HeaderMap::new(), "");
        let failed = Exchange::failed(ExchangeError::new(ErrorKind::Timeout, "5s"));
        assert!(!ok.is_failure());
        assert!(bad.is_failure());
        assert!(failed.is_failure());
        assert_eq!(failed.status, None);
    }
}
