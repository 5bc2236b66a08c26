//! Request bodies: optional JSON objects, checked field by field so that an
//! error names the field.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

/// A request body: absent (empty), or a JSON object.
///
/// The content type is not checked, so `curl -d '{"weight": 0.1}'` works;
/// whatever it is, the body must parse as JSON. axum's own rejections
/// (a body over the size limit, a broken stream) keep their status and get
/// the API's JSON error shape.
#[derive(Debug)]
pub(super) struct JsonBody(pub(super) Option<Fields>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            ApiError::new(status, rejection.body_text())
        })?;
        if bytes.trim_ascii().is_empty() {
            return Ok(Self(None));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(Some(Fields(map)))),
            Ok(other) => Err(ApiError::field(
                "body",
                format!("expected a JSON object, found {}", kind(&other)),
            )),
            Err(e) => Err(ApiError::field("body", format!("invalid JSON: {e}"))),
        }
    }
}

/// The fields of a JSON object, taken one by one; what is left over is
/// refused by [`finish`](Fields::finish).
#[derive(Debug)]
pub(super) struct Fields(Map<String, Value>);

impl Fields {
    /// An optional number; `null` counts as absent.
    pub(super) fn number(&mut self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(ApiError::field(
                name,
                format!("expected a number, found {}", kind(&other)),
            )),
        }
    }

    /// An optional string; `null` counts as absent.
    pub(super) fn string(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::field(
                name,
                format!("expected a string, found {}", kind(&other)),
            )),
        }
    }

    /// An optional object; `null` counts as absent.
    pub(super) fn object(&mut self, name: &str) -> Result<Option<Fields>, ApiError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields(map))),
            Some(other) => Err(ApiError::field(
                name,
                format!("expected an object, found {}", kind(&other)),
            )),
        }
    }

    /// Refuses the first field not taken; `prefix` is the path of this
    /// object (`""` at the top).
    pub(super) fn finish(self, prefix: &str, known: &[&str]) -> Result<(), ApiError> {
        match self.0.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::field(
                format!("{prefix}{name}"),
                format!("unknown field, expected one of: {}", known.join(", ")),
            )),
        }
    }

    /// The remaining fields, as a JSON object.
    pub(super) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// What a JSON value is, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
