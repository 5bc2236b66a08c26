use super::{pairs_to_headers, Record};
use crate::compare::{Comparator, Comparison};
use crate::exchange::{ErrorKind, Exchange, ExchangeError};
use crate::mask::Masker;
use crate::shadow::RequestBody;
use crate::BoxError;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use tokio::time::Instant;
use tower::ServiceExt;
use tower_service::Service;

/// Why a line of a records file could not be read.
#[derive(Debug)]
pub struct ReadError {
    line: usize,
    source: BoxError,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "records line {}: {}", self.line, self.source)
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Reads a JSON-lines file written by [`FileRecorder`](super::FileRecorder).
/// Bad lines are errors that name the line; reading goes on after them.
pub fn read(path: impl AsRef<Path>) -> io::Result<impl Iterator<Item = Result<Record, ReadError>>> {
    let lines = BufReader::new(std::fs::File::open(path)?).lines();
    Ok(lines.enumerate().filter_map(|(i, line)| {
        let line = match line {
            Ok(line) if line.trim().is_empty() => return None,
            Ok(line) => line,
            Err(e) => {
                return Some(Err(ReadError {
                    line: i + 1,
                    source: e.into(),
                }))
            }
        };
        Some(serde_json::from_str(&line).map_err(|e| ReadError {
            line: i + 1,
            source: e.into(),
        }))
    }))
}

/// A record replayed: the candidate's new answer compared with the
/// recorded baseline.
#[derive(Debug)]
#[non_exhaustive]
pub struct Replayed {
    /// The record.
    pub record: Record,
    /// The candidate's answer now.
    pub candidate: Exchange,
    /// The recorded baseline against the new answer.
    pub comparison: Comparison,
}

/// Sends each recorded request to `candidate` again, one at a time, masks
/// its answer with `masker` (the recording layer's, so it lines up with the
/// masked baseline), and compares it with the recorded baseline. Bodies are
/// read whole (a replay is not bounded by the layer's body limit).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_shadow::compare::Standard;
/// use tower_shadow::mask::Masker;
/// use tower_shadow::record::{replay, Record};
///
/// let records: Vec<Record> = Vec::new(); // e.g. from `read("pairs.jsonl")`
/// let candidate = tower::service_fn(|_: http::Request<tower_shadow::shadow::RequestBody<http_body_util::Full<bytes::Bytes>>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("{}"))))
/// });
/// let replayed = replay(records, candidate, &Standard::new(), &Masker::new()).await;
/// assert!(replayed.is_empty());
/// # }
/// ```
pub async fn replay<S, B, C>(
    records: impl IntoIterator<Item = Record>,
    candidate: S,
    comparator: &C,
    masker: &Masker,
) -> Vec<Replayed>
where
    S: Service<Request<RequestBody<Full<Bytes>>>, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
    C: Comparator + ?Sized,
{
    let mut out = Vec::new();
    for record in records {
        let mut request = Request::new(RequestBody::full(record.request.body.to_bytes()));
        *request.method_mut() =
            Method::from_bytes(record.request.method.as_bytes()).unwrap_or(Method::GET);
        let uri: Option<http::Uri> = record.request.uri.parse().ok();
        if let Some(uri) = &uri {
            *request.uri_mut() = uri.clone();
        }
        *request.headers_mut() = pairs_to_headers(&record.request.headers);
        let started = Instant::now();
        let candidate_exchange = match candidate.clone().oneshot(request).await {
            Ok(response) => {
                let latency = started.elapsed();
                let (head, body) = response.into_parts();
                match body.collect().await {
                    Ok(body) => Exchange::new(head.status, head.headers, body.to_bytes()),
                    Err(e) => Exchange::failed(ExchangeError::new(ErrorKind::Body, e.into())),
                }
                .with_latency(latency)
            }
            Err(e) => Exchange::failed(ExchangeError::new(ErrorKind::Service, e.into())),
        };
        let mut candidate_exchange = candidate_exchange;
        masker.mask_exchange(&mut candidate_exchange);
        // As the layer does, for comparators that depend on the call.
        candidate_exchange.uri.clone_from(&uri);
        let mut baseline = record.baseline.to_exchange();
        baseline.uri = uri;
        let comparison = comparator.compare(&baseline, &candidate_exchange);
        out.push(Replayed {
            record,
            candidate: candidate_exchange,
            comparison,
        });
    }
    out
}
