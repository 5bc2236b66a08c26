//! The bearer token the changing endpoints require, compared in constant time.

use super::error::ApiError;
use super::Shared;
use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{header, StatusCode};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Proof that the request carried the admin token; a handler that takes it
/// runs only for authorised requests.
#[derive(Debug)]
pub(super) struct Authorized;

impl FromRequestParts<Arc<Shared>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| bearer(value.as_bytes()))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this endpoint requires `Authorization: Bearer <token>`",
                )
            })?;
        match &shared.token {
            Some(token) if matches(token, given) => Ok(Self),
            Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "invalid token")),
            None => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "no admin token is configured: the API is read-only",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is
/// case-insensitive, RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Whether `given` is `token`, in time independent of where they differ
/// (only the length may show).
fn matches(token: &[u8], given: &[u8]) -> bool {
    token.ct_eq(given).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_values() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn compares_whole_tokens() {
        assert!(matches(b"s3cret", b"s3cret"));
        assert!(!matches(b"s3cret", b"s3cre"));
        assert!(!matches(b"s3cret", b"s3cret!"));
        assert!(!matches(b"s3cret", b"S3cret"));
    }
}
