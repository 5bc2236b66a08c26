//! The dashboard: one self-contained page (inline CSS and JavaScript, no
//! external asset) that reads the JSON endpoints every 2 s.

use axum::response::IntoResponse;
use http::{header, HeaderValue};

const PAGE: &str = include_str!("dashboard.html");

/// Nothing but this page's own inline code and the API next to it.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(super) async fn page() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for external in ["http://", "https://", "//cdn", "src=\"", "<link"] {
            let hits: Vec<&str> = PAGE
                .lines()
                .filter(|l| l.contains(external) && !l.contains("http://www.w3.org/2000/svg"))
                .collect();
            assert!(hits.is_empty(), "{external}: {hits:?}");
        }
    }
}
