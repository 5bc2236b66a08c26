//! Every error of the admin API, as JSON: `{"error": .., "field": ..}`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

/// An error answer: a status and a JSON body naming what went wrong.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                field: None,
                stage: None,
            },
        }
    }

    /// 400: the input was malformed at `field`.
    pub(super) fn field(field: impl Into<String>, error: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, error);
        e.body.field = Some(field.into());
        e
    }

    /// 404: no deployment by that name.
    pub(super) fn unknown(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("no deployment named `{name}`"),
        )
    }

    /// 409: the stage machine refused the move; `stage` is where it is.
    pub(super) fn conflict(error: impl ToString, stage: &str) -> Self {
        let mut e = Self::new(StatusCode::CONFLICT, error.to_string());
        e.body.stage = Some(stage.to_owned());
        e
    }

    #[cfg(test)]
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tower-shadow admin\""),
            );
        }
        response
    }
}

/// The router's fallback: no such endpoint.
pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The router's answer to a known path with the wrong method.
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
