//! Keeping what the shadows saw: every compared pair, masked.
//!
//! A [`Recorder`] receives a [`Record`] for each compared pair — the
//! request, both answers and the comparison, already masked by the layer's
//! [`Masker`](crate::mask::Masker). Two recorders ship:
//!
//! - [`Memory`]: a bounded ring that keeps the most recent differing pairs
//!   (and, if asked, equivalent ones) for an API or a dashboard;
//! - [`FileRecorder`]: JSON lines on disk, written by a background thread
//!   from a bounded queue (a full queue drops the record and counts it,
//!   never blocks), rotated by size, flushed on [`close`](FileRecorder::close).
//!
//! A recorded file can be replayed against a candidate with [`replay`]:
//! each recorded request is sent again and the new answer compared with the
//! recorded baseline.
//!
//! ```
//! use tower_shadow::record::{Memory, Recorder};
//! use tower_shadow::shadow::ShadowLayer;
//! # let candidate = tower::service_fn(|_: http::Request<tower_shadow::shadow::RequestBody<axum::body::Body>>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
//! # });
//! let differences = Memory::new(100);
//! let layer = ShadowLayer::builder(candidate).recorder(differences.clone()).build();
//! // ... later: the last 100 differing pairs
//! for record in differences.records() {
//!     println!("{} {}: {:?}", record.endpoint, record.request.uri, record.comparison.differences);
//! }
//! # let _ = layer;
//! ```

mod config;
mod file;
mod memory;
mod replay;

pub use self::config::FileRecorderConfig;
pub use self::file::{FileRecorder, Opening};
pub use self::memory::Memory;
pub use self::replay::{read, replay, ReadError, Replayed};

use crate::compare::Comparison;
use crate::exchange::{Exchange, ExchangeError};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Keeps records of compared pairs. Must not block: it runs on the
/// shadow's task.
///
/// Implemented for closures `Fn(&Record)` and for `Arc<R>`.
pub trait Recorder: Send + Sync + 'static {
    /// Keeps (or not) one record.
    fn record(&self, record: &Record);
}

impl<F> Recorder for F
where
    F: Fn(&Record) + Send + Sync + 'static,
{
    fn record(&self, record: &Record) {
        self(record)
    }
}

impl<R: Recorder + ?Sized> Recorder for Arc<R> {
    fn record(&self, record: &Record) {
        (**self).record(record)
    }
}

/// One compared pair, as recorded: masked, serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// When the pair was compared, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The correlation id shared by the request and its copy.
    pub correlation_id: String,
    /// The endpoint the pair belongs to.
    pub endpoint: String,
    /// The request, as the candidate received it.
    pub request: RecordedRequest,
    /// The stable version's answer.
    pub baseline: RecordedExchange,
    /// The candidate's answer.
    pub candidate: RecordedExchange,
    /// The comparison.
    pub comparison: Comparison,
}

/// A recorded request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The URI.
    pub uri: String,
    /// The headers, in order; repeated names repeat.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: RecordedBody,
}

/// A recorded answer: an [`Exchange`] in serializable form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedExchange {
    /// The status, if a response head arrived.
    pub status: Option<u16>,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body (a prefix when `truncated`).
    pub body: RecordedBody,
    /// Latency to the response head, in milliseconds.
    pub latency_ms: f64,
    /// How it failed, if it did.
    pub error: Option<ExchangeError>,
    /// Whether the body is a prefix.
    pub truncated: bool,
}

/// A body: text when it is UTF-8, base64 otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedBody {
    /// A UTF-8 body.
    Text(String),
    /// Any other body, base64-encoded.
    Base64(String),
}

impl RecordedBody {
    /// Records `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::Text(text.to_owned()),
            Err(_) => Self::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// The bytes back (an invalid base64 body gives no bytes).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Self::Text(text) => Bytes::from(text.clone()),
            Self::Base64(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(Bytes::from)
                .unwrap_or_default(),
        }
    }
}

pub(crate) fn headers_to_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub(crate) fn pairs_to_headers(pairs: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

impl From<&Exchange> for RecordedExchange {
    fn from(e: &Exchange) -> Self {
        Self {
            status: e.status.map(|s| s.as_u16()),
            headers: headers_to_pairs(&e.headers),
            body: RecordedBody::new(&e.body),
            latency_ms: e.latency.as_secs_f64() * 1000.0,
            error: e.error.clone(),
            truncated: e.truncated,
        }
    }
}

impl RecordedExchange {
    /// The exchange back, for comparing again.
    pub fn to_exchange(&self) -> Exchange {
        let mut exchange = Exchange {
            status: self.status.and_then(|s| StatusCode::from_u16(s).ok()),
            headers: pairs_to_headers(&self.headers),
            body: self.body.to_bytes(),
            truncated: self.truncated,
            error: self.error.clone(),
            ..Exchange::default()
        };
        if self.latency_ms.is_finite() && self.latency_ms >= 0.0 {
            exchange.latency = Duration::from_secs_f64(self.latency_ms / 1000.0);
        }
        exchange
    }
}
