use crate::mask::{Masker, REDACTED};
use crate::record::{headers_to_pairs, RecordedBody, RecordedRequest};
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The shape of one live request, as the [`CaptureLayer`](super::CaptureLayer)
/// keeps it: the features clustering works on, and a masked copy of the
/// request to replay as a template.
///
/// Values are masked twice: first by the capture's [`Masker`] (redacted or
/// pseudonymized headers and JSON paths), then every remaining value keeps
/// only its shape — digits become `1`, letters `x`, punctuation stays — in
/// the path's id segments, the query values, the header values (but for
/// `content-type`, `accept` and the user agent's family; connection and
/// framing headers such as `host` and `content-length` are left out of the
/// template, though counted in `header_names`) and the JSON
/// body's strings and numbers. Object keys, array lengths, booleans and
/// nulls are kept.
///
/// ```
/// use tower_shadow::synthetic::RequestShape;
/// use tower_shadow::mask::Masker;
///
/// let (head, ()) = http::Request::post("/users/42/orders?coupon=SAVE10")
///     .header("content-type", "application/json")
///     .header("user-agent", "curl/8.5.0")
///     .body(()).unwrap().into_parts();
/// let body = br#"{"item":"Blue mug","qty":3,"gift":true}"#;
/// let shape = RequestShape::of(&head, "POST /users/{id}/orders".into(), body, body.len(), &Masker::new());
/// assert_eq!(shape.request.uri, "/users/11/orders?coupon=xxxx11");
/// assert_eq!(shape.user_agent, "curl");
/// assert_eq!(shape.request.body.to_bytes(), r#"{"gift":true,"item":"xxxx xxx","qty":1}"#);
/// assert_eq!((shape.query_bytes, shape.body_bytes), (13, 39));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestShape {
    /// The endpoint key ([`RouteTemplate`](crate::health::RouteTemplate) by
    /// default), method included.
    pub route: String,
    /// The query's length in bytes.
    pub query_bytes: usize,
    /// The body's length in bytes (all of it, even when only a prefix is kept).
    pub body_bytes: usize,
    /// The header names, lowercase, sorted, without repeats.
    pub header_names: Vec<String>,
    /// The user agent's family: `browser`, `bot`, `curl`, `python`, `go`,
    /// `java`, `node`, `mobile`, `other`, or `none`.
    pub user_agent: String,
    /// The masked request: method, URI, headers and body (the body's prefix
    /// when it was longer than the capture keeps).
    pub request: RecordedRequest,
}

impl RequestShape {
    /// The shape of a request with head `head`, endpoint key `route`, and
    /// a body of `body_bytes` bytes of which `body` is the kept prefix.
    pub fn of(
        head: &Parts,
        route: String,
        body: &[u8],
        body_bytes: usize,
        masker: &Masker,
    ) -> Self {
        let mut headers = head.headers.clone();
        masker.mask_headers(&mut headers);
        let user_agent = head
            .headers
            .get(USER_AGENT)
            .map(|v| family(&String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or("none");
        let mut header_names: Vec<String> = headers.keys().map(|n| n.as_str().to_owned()).collect();
        header_names.sort();
        header_names.dedup();
        let headers = headers_to_pairs(&headers)
            .into_iter()
            .filter(|(name, _)| !CONNECTION_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                let value = if name == USER_AGENT.as_str() {
                    format!("{user_agent}/synthetic")
                } else if name == CONTENT_TYPE.as_str() || name == ACCEPT.as_str() || masked(&value)
                {
                    value
                } else {
                    shape_of(&value)
                };
                (name, value)
            })
            .collect();
        let query = head.uri.query().unwrap_or("");
        let mut uri = mask_path(head.uri.path());
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&mask_query(query));
        }
        Self {
            route,
            query_bytes: query.len(),
            body_bytes,
            header_names,
            user_agent: user_agent.to_owned(),
            request: RecordedRequest {
                method: head.method.as_str().to_owned(),
                uri,
                headers,
                body: RecordedBody::new(&mask_body(body, masker)),
            },
        }
    }
}

/// Headers of the connection or of this body's framing, not of the request:
/// the client replaying a template sets its own (a kept `content-length`
/// would not match a body cut to `max_body_bytes`).
const CONNECTION_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
];

/// Whether the masker already replaced this value.
fn masked(value: &str) -> bool {
    value == REDACTED || value.starts_with("pseudo-")
}

/// The shape of a value: digits become `1`, other letters `x`, the rest stays.
fn shape_of(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '0'..='9' => '1',
            c if c.is_alphanumeric() => 'x',
            c => c,
        })
        .collect()
}

/// Id-looking path segments keep only their shape (the rest is the route).
fn mask_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.bytes().any(|b| b.is_ascii_digit()) {
                shape_of(segment)
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Query names stay, values keep only their shape.
fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => format!("{name}={}", shape_of(value)),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The masker's masking, then the shape of every remaining value.
fn mask_body(body: &[u8], masker: &Masker) -> Vec<u8> {
    if body.is_empty() {
        return Vec::new();
    }
    let masked = masker.mask_json(body);
    let body = masked.as_deref().unwrap_or(body);
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            shape_json(&mut value);
            serde_json::to_vec(&value).expect("a Value serializes")
        }
        Err(_) => match std::str::from_utf8(body) {
            Ok(text) => shape_of(text).into_bytes(),
            Err(_) => vec![b'x'; body.len()],
        },
    }
}

fn shape_json(value: &mut Value) {
    match value {
        Value::String(s) if !masked(s) => *s = shape_of(s),
        Value::Number(n) => {
            let shaped = shape_of(&n.to_string());
            *value = serde_json::from_str(&shaped).unwrap_or(Value::from(1));
        }
        Value::Array(items) => items.iter_mut().for_each(shape_json),
        Value::Object(map) => map.values_mut().for_each(shape_json),
        _ => {}
    }
}

/// The family of a user agent string.
fn family(agent: &str) -> &'static str {
    let a = agent.to_ascii_lowercase();
    let has = |needle: &str| a.contains(needle);
    if has("bot") || has("crawler") || has("spider") {
        "bot"
    } else if has("curl") || has("wget") {
        "curl"
    } else if has("python") {
        "python"
    } else if has("go-http-client") {
        "go"
    } else if has("java") || has("okhttp") {
        "java"
    } else if has("node") || has("axios") {
        "node"
    } else if has("android") || has("iphone") || has("cfnetwork") {
        "mobile"
    } else if a.starts_with("mozilla/") {
        "browser"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(
            family("Mozilla/5.0 (X11; Linux x86_64) Firefox/120"),
            "browser"
        );
        assert_eq!(family("Mozilla/5.0 (compatible; Googlebot/2.1)"), "bot");
        assert_eq!(family("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"), "mobile");
        assert_eq!(family("python-requests/2.31"), "python");
        assert_eq!(family("Go-http-client/1.1"), "go");
        assert_eq!(family("whatever"), "other");
    }

    #[test]
    fn secrets_leave_only_their_shape() {
        let masker = Masker::new().key(b"k").pseudonymize_path("/user");
        let (head, ()) = http::Request::post("/a/9f86d081884c7d65?token=abc123&flag")
            .header("authorization", "Bearer s3cret")
            .header("x-api-key", "K-77")
            .body(())
            .unwrap()
            .into_parts();
        let body = br#"{"user":"ann","card":"4111-1111","n":[12.5,-3]}"#;
        let shape = RequestShape::of(&head, "POST /a/{id}".into(), body, 999, &masker);
        assert_eq!(shape.request.uri, "/a/1x11x111111x1x11?token=xxx111&flag");
        let headers: Vec<_> = shape
            .request
            .headers
            .iter()
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(headers, ["[redacted]", "x-11"]);
        let text = String::from_utf8(shape.request.body.to_bytes().to_vec()).unwrap();
        assert!(text.contains(r#""card":"1111-1111""#), "{text}");
        assert!(text.contains(r#""n":[11.1,-1]"#), "{text}");
        assert!(text.contains(r#""user":"pseudo-"#), "{text}");
        assert_eq!(shape.body_bytes, 999);
        assert_eq!(shape.header_names, ["authorization", "x-api-key"]);
        assert_eq!(mask_body(&[0xff, 0xfe], &masker), b"xx");
    }
}
