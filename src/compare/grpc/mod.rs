//! gRPC answers compared message by message, field by field (feature `grpc`).

mod frame;
mod wire;

use super::{Comparator, Comparison, HeaderRules, JsonComparator, Standard};
use crate::exchange::Exchange;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use prost_reflect::{DescriptorError, DescriptorPool, DynamicMessage, MessageDescriptor};
use prost_reflect::{SerializeOptions, ServiceDescriptor};
use serde_json::Value;

/// Compares two gRPC answers: `grpc-status` and `grpc-message`, and each
/// response message field by field, naming the fields.
///
/// The bodies are split into gRPC's length-prefixed messages; message `i`
/// of the baseline is compared with message `i` of the candidate (one for
/// a unary call, one per streamed message otherwise). A difference's path
/// is the message's index, then the field names: `/0/name`,
/// `/2/address/city`, `/0/roles/1`; `grpc-status` and `grpc-message`
/// (from the trailers, or the headers of a trailers-only answer) are at
/// `/trailers/grpc-status` and `/trailers/grpc-message`.
///
/// The fields are named from protobuf descriptors: the layer sets the
/// request's URI on each [`Exchange`], whose path (`/users.Users/GetUser`)
/// names the method, and the method's output type decodes the messages.
/// Without descriptors, or for a method they do not know, fields are named
/// by number (`/0/2`), read without a schema. Fields the descriptor does
/// not know (added by a newer schema) are not compared; fields at their
/// default value count as absent, as in proto3.
///
/// A compressed message is not decompressed: such bodies are compared as
/// bytes. An answer that is not gRPC (no `application/grpc` content type
/// on either side) is compared by [`Standard`].
///
/// ```
/// use http::{HeaderMap, HeaderValue, StatusCode, Uri};
/// use tower_shadow::compare::{Comparator, GrpcComparator};
/// use tower_shadow::exchange::Exchange;
/// # use prost_reflect::prost::Message;
/// # use prost_reflect::prost_types::{field_descriptor_proto::Type, *};
/// # use prost_reflect::{DescriptorPool, DynamicMessage, Value};
/// # let field = |name: &str, number| FieldDescriptorProto {
/// #     name: Some(name.into()), number: Some(number), r#type: Some(Type::String as i32), ..Default::default()
/// # };
/// # let file = FileDescriptorProto {
/// #     name: Some("users.proto".into()), package: Some("users".into()), syntax: Some("proto3".into()),
/// #     message_type: vec![DescriptorProto {
/// #         name: Some("User".into()), field: vec![field("name", 2), field("email", 3)], ..Default::default()
/// #     }],
/// #     service: vec![ServiceDescriptorProto {
/// #         name: Some("Users".into()),
/// #         method: vec![MethodDescriptorProto {
/// #             name: Some("GetUser".into()), input_type: Some(".users.User".into()),
/// #             output_type: Some(".users.User".into()), ..Default::default()
/// #         }],
/// #         ..Default::default()
/// #     }],
/// #     ..Default::default()
/// # };
/// # let pool = DescriptorPool::from_file_descriptor_set(FileDescriptorSet { file: vec![file] }).unwrap();
/// # let user = |name: &str, email: &str| {
/// #     let mut user = DynamicMessage::new(pool.get_message_by_name("users.User").unwrap());
/// #     user.set_field_by_name("name", Value::String(name.into()));
/// #     user.set_field_by_name("email", Value::String(email.into()));
/// #     let message = user.encode_to_vec();
/// #     let mut framed = vec![0];
/// #     framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
/// #     framed.extend(message);
/// #     framed
/// # };
/// // `pool`: the service's descriptors, e.g. a `FileDescriptorSet` written by
/// // tonic-prost-build's `file_descriptor_set_path` and read with
/// // `GrpcComparator::from_file_descriptor_set`.
/// let comparator = GrpcComparator::with_descriptors(pool.clone());
///
/// // `user(name, email)`: a framed `users.User` message.
/// let answer = |body: Vec<u8>, status: &'static str| {
///     let mut headers = HeaderMap::new();
///     headers.insert("content-type", HeaderValue::from_static("application/grpc"));
///     let mut trailers = HeaderMap::new();
///     trailers.insert("grpc-status", HeaderValue::from_static(status));
///     Exchange::new(StatusCode::OK, headers, body)
///         .with_trailers(trailers)
///         .with_uri(Uri::from_static("/users.Users/GetUser"))
/// };
/// let baseline = answer(user("Ada", "ada@example.com"), "0");
/// let candidate = answer(user("Ada", "ada@example.org"), "0");
/// let comparison = comparator.compare(&baseline, &candidate);
/// assert_eq!(comparison.differences.len(), 1);
/// assert_eq!(comparison.differences[0].path, "/0/email");
///
/// let failed = answer(Vec::new(), "5"); // NOT_FOUND
/// let comparison = comparator.compare(&baseline, &failed);
/// assert_eq!(comparison.differences[0].path, "/trailers/grpc-status");
/// ```
#[derive(Clone, Debug)]
pub struct GrpcComparator {
    descriptors: Option<DescriptorPool>,
    messages: JsonComparator,
    other: Standard,
}

impl GrpcComparator {
    /// The status fields compared by default.
    pub const STATUS: [&'static str; 2] = ["grpc-status", "grpc-message"];

    /// Compares without descriptors: fields are named by number.
    ///
    /// ```
    /// use tower_shadow::compare::GrpcComparator;
    ///
    /// let comparator = GrpcComparator::new();
    /// # let _ = comparator;
    /// ```
    pub fn new() -> Self {
        Self {
            descriptors: None,
            messages: JsonComparator::new().headers(HeaderRules::only(Self::STATUS)),
            other: Standard::new(),
        }
    }

    /// Compares with the descriptors in `pool`: fields are named.
    ///
    /// ```
    /// use prost_reflect::DescriptorPool;
    /// use tower_shadow::compare::GrpcComparator;
    ///
    /// let comparator = GrpcComparator::with_descriptors(DescriptorPool::new());
    /// # let _ = comparator;
    /// ```
    pub fn with_descriptors(pool: DescriptorPool) -> Self {
        Self {
            descriptors: Some(pool),
            ..Self::new()
        }
    }

    /// Compares with the descriptors of an encoded `FileDescriptorSet`, as
    /// `protoc --descriptor_set_out` or tonic-prost-build's
    /// `file_descriptor_set_path` write it (with the imports it needs).
    ///
    /// ```
    /// use tower_shadow::compare::GrpcComparator;
    ///
    /// assert!(GrpcComparator::from_file_descriptor_set(&[]).is_ok()); // an empty set
    /// assert!(GrpcComparator::from_file_descriptor_set(b"not protobuf").is_err());
    /// ```
    pub fn from_file_descriptor_set(bytes: &[u8]) -> Result<Self, DescriptorError> {
        DescriptorPool::decode(bytes).map(Self::with_descriptors)
    }

    /// The rules for the decoded messages and the status fields, as a
    /// [`JsonComparator`] (default: no path rules, comparing
    /// [`STATUS`](Self::STATUS)). Its paths are those of the differences:
    /// `/0/updated_at`, `/*/price` for every message of a stream.
    ///
    /// ```
    /// use tower_shadow::compare::{GrpcComparator, HeaderRules, JsonComparator, Tolerance};
    ///
    /// let comparator = GrpcComparator::new().messages(
    ///     JsonComparator::new()
    ///         .headers(HeaderRules::only(["grpc-status"])) // not grpc-message
    ///         .ignore("/*/updated_at")
    ///         .tolerance("/*/price", Tolerance::relative(0.01)),
    /// );
    /// # let _ = comparator;
    /// ```
    #[must_use]
    pub fn messages(mut self, rules: JsonComparator) -> Self {
        self.messages = rules;
        self
    }

    /// The request paths (`/package.Service/Method`) of every method in the
    /// descriptors that streams requests, responses or both, for
    /// [`skip_streaming`](crate::shadow::Builder::skip_streaming).
    ///
    /// ```
    /// use tower_shadow::compare::GrpcComparator;
    ///
    /// assert!(GrpcComparator::new().streaming_methods().is_empty());
    /// ```
    pub fn streaming_methods(&self) -> Vec<String> {
        let Some(pool) = &self.descriptors else {
            return Vec::new();
        };
        pool.services()
            .flat_map(|service| service.methods().collect::<Vec<_>>())
            .filter(|m| m.is_client_streaming() || m.is_server_streaming())
            .map(|m| format!("/{}/{}", m.parent_service().full_name(), m.name()))
            .collect()
    }

    /// The output type of the method the exchange answers, if known.
    fn output(&self, exchange: &Exchange) -> Option<MessageDescriptor> {
        let pool = self.descriptors.as_ref()?;
        let path = exchange.uri.as_ref()?.path();
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        let service: ServiceDescriptor = pool.get_service_by_name(service)?;
        let method = service.methods().find(|m| m.name() == method)?;
        Some(method.output())
    }

    /// The exchange as the JSON comparator sees it: the status fields as
    /// trailers, and the messages as a JSON array (or the raw body when it
    /// cannot be split into messages, or need not be: `split` is false).
    fn view(&self, exchange: &Exchange, split: bool) -> Exchange {
        let mut status = HeaderMap::new();
        for name in Self::STATUS {
            let sent = exchange.trailers.as_ref().and_then(|t| t.get(name));
            if let Some(value) = sent.or_else(|| exchange.headers.get(name)) {
                status.insert(name, percent_decoded(value));
            }
        }
        let messages = split
            .then(|| frame::messages(&exchange.body, exchange.truncated).ok())
            .flatten();
        let body = match messages {
            Some(messages) => {
                let output = self.output(exchange);
                let mut json = Vec::with_capacity(2 * exchange.body.len() + 2);
                json.push(b'[');
                for (i, message) in messages.iter().enumerate() {
                    if i > 0 {
                        json.push(b',');
                    }
                    write_json(&mut json, output.as_ref(), message);
                }
                json.push(b']');
                Bytes::from(json)
            }
            None => exchange.body.clone(),
        };
        Exchange {
            status: exchange.status,
            headers: HeaderMap::new(),
            body,
            trailers: Some(status),
            latency: exchange.latency,
            error: exchange.error.clone(),
            truncated: exchange.truncated,
            uri: exchange.uri.clone(),
        }
    }
}

impl Default for GrpcComparator {
    fn default() -> Self {
        Self::new()
    }
}

impl Comparator for GrpcComparator {
    fn compare(&self, baseline: &Exchange, candidate: &Exchange) -> Comparison {
        if !is_grpc(baseline) && !is_grpc(candidate) {
            return self.other.compare(baseline, candidate);
        }
        // Byte-identical bodies hold the same messages: not decoded, they
        // take the JSON comparator's fast path for equal bodies.
        let decode = baseline.body != candidate.body || baseline.truncated != candidate.truncated;
        self.messages
            .compare(&self.view(baseline, decode), &self.view(candidate, decode))
    }
}

/// Appends a message as JSON: by field name with its descriptor, by field
/// number without one (or when it does not decode), as base64 bytes when
/// it is not a protobuf message at all.
fn write_json(out: &mut Vec<u8>, output: Option<&MessageDescriptor>, message: &Bytes) {
    const OPTIONS: SerializeOptions = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false);
    let start = out.len();
    if let Some(decoded) =
        output.and_then(|o| DynamicMessage::decode(o.clone(), message.clone()).ok())
    {
        // Written straight into the body, without a `Value` in between.
        let written =
            decoded.serialize_with_options(&mut serde_json::Serializer::new(&mut *out), &OPTIONS);
        if written.is_ok() {
            return;
        }
        out.truncate(start);
    }
    let value = wire::message(message).unwrap_or_else(|| {
        use base64::Engine;
        Value::from(base64::engine::general_purpose::STANDARD.encode(message))
    });
    serde_json::to_writer(out, &value).expect("a JSON value writes to a Vec");
}

/// `grpc-message` is percent-encoded on the wire; differences show it
/// decoded, unless decoding would not make a valid header value.
fn percent_decoded(value: &HeaderValue) -> HeaderValue {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| value.clone())
}

fn is_grpc(exchange: &Exchange) -> bool {
    exchange
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

#[cfg(test)]
mod tests {
    use super::frame::frame;
    use super::*;
    use crate::compare::DiffKind;
    use http::{StatusCode, Uri};

    fn grpc(body: Vec<u8>, trailers: &[(&'static str, &'static str)]) -> Exchange {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        let mut map = HeaderMap::new();
        for (k, v) in trailers {
            map.insert(*k, HeaderValue::from_static(v));
        }
        Exchange::new(StatusCode::OK, headers, body)
            .with_trailers(map)
            .with_uri(Uri::from_static("/users.Users/GetUser"))
    }

    #[test]
    fn without_descriptors_fields_go_by_number() {
        // 1: 7, 2: "Ada" against 1: 7, 2: "Bob", over two streamed messages.
        let ada = [0x08, 7, 0x12, 3, b'A', b'd', b'a'];
        let bob = [0x08, 7, 0x12, 3, b'B', b'o', b'b'];
        let mut stream = frame(&ada);
        stream.extend(frame(&ada));
        let mut other = frame(&ada);
        other.extend(frame(&bob));
        let ok = [("grpc-status", "0")];
        let c = GrpcComparator::new().compare(&grpc(stream.clone(), &ok), &grpc(other, &ok));
        assert_eq!(c.differences.len(), 1);
        assert_eq!(c.differences[0].path, "/1/2");
        assert_eq!(c.differences[0].candidate.as_deref(), Some("\"Bob\""));
        assert!(GrpcComparator::new()
            .compare(&grpc(stream.clone(), &ok), &grpc(stream, &ok))
            .is_equivalent());
    }

    #[test]
    fn status_from_trailers_or_headers() {
        let ok = grpc(frame(&[0x08, 1]), &[("grpc-status", "0")]);
        // A trailers-only answer carries the status in its headers.
        let mut failed = grpc(Vec::new(), &[]);
        failed
            .headers
            .insert("grpc-status", HeaderValue::from_static("5"));
        failed
            .headers
            .insert("grpc-message", HeaderValue::from_static("no such user"));
        let c = GrpcComparator::new().compare(&ok, &failed);
        let paths: Vec<_> = c
            .differences
            .iter()
            .map(|d| (&d.path[..], d.kind))
            .collect();
        assert_eq!(
            paths,
            [
                ("/trailers/grpc-status", DiffKind::Header),
                ("/trailers/grpc-message", DiffKind::Header),
                ("/0", DiffKind::Missing),
            ]
        );
        let quiet = GrpcComparator::new()
            .messages(JsonComparator::new().headers(HeaderRules::only(["grpc-status"])));
        let c = quiet.compare(&ok, &failed);
        assert!(c
            .differences
            .iter()
            .all(|d| d.path != "/trailers/grpc-message"));
    }

    #[test]
    fn grpc_message_is_shown_decoded() {
        let show = |raw: &'static str| percent_decoded(&HeaderValue::from_static(raw));
        assert_eq!(show("no%20user%203"), "no user 3");
        assert_eq!(
            show("caf%C3%A9"),
            HeaderValue::from_bytes("café".as_bytes()).unwrap()
        );
        assert_eq!(show("100%"), "100%");
        assert_eq!(show("%zz%+1%4"), "%zz%+1%4");
        assert_eq!(show("bad%0Aline"), "bad%0Aline", "no control characters");
    }

    #[test]
    fn unframed_or_compressed_bodies_compare_as_bytes() {
        let mut compressed = frame(b"zz");
        compressed[0] = 1;
        let mut other = compressed.clone();
        *other.last_mut().unwrap() = b'y';
        let c = GrpcComparator::new().compare(&grpc(compressed.clone(), &[]), &grpc(other, &[]));
        assert_eq!(c.differences[0].path, "/body");
        assert!(GrpcComparator::new()
            .compare(&grpc(compressed.clone(), &[]), &grpc(compressed, &[]))
            .is_equivalent());
    }

    #[test]
    fn answers_that_are_not_grpc_go_to_standard() {
        let json = |body: &'static str| Exchange::new(StatusCode::OK, HeaderMap::new(), body);
        let c = GrpcComparator::new().compare(&json(r#"{"a": 1}"#), &json(r#"{"a": 2}"#));
        assert_eq!(c.differences[0].path, "/a");
    }
}
