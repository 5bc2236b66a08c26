use http::request::Parts;

/// Names the endpoint a request belongs to, so pairs are grouped by it.
///
/// The default, [`RouteTemplate`], is the method and the path with
/// id-looking segments replaced by `{id}` (`GET /items/{id}`). Replace it
/// with anything that maps a request head to a key: a closure
/// `Fn(&Parts) -> String` is an `EndpointKey`, so with axum the route
/// template is one line:
///
/// ```
/// # #[derive(Clone)] struct MatchedPath(String);
/// # impl MatchedPath { fn as_str(&self) -> &str { &self.0 } }
/// use http::request::Parts;
/// use tower_shadow::health::EndpointKey;
///
/// // With axum: `use axum::extract::MatchedPath;`, layer added with `Router::layer`.
/// let by_route = |head: &Parts| match head.extensions.get::<MatchedPath>() {
///     Some(route) => format!("{} {}", head.method, route.as_str()),
///     None => format!("{} (unmatched)", head.method),
/// };
/// let (head, ()) = http::Request::get("/items/7").body(()).unwrap().into_parts();
/// assert_eq!(by_route.endpoint(&head), "GET (unmatched)");
/// ```
pub trait EndpointKey: Send + Sync + 'static {
    /// The endpoint of the request with this head.
    fn endpoint(&self, head: &Parts) -> String;
}

impl<F> EndpointKey for F
where
    F: Fn(&Parts) -> String + Send + Sync + 'static,
{
    fn endpoint(&self, head: &Parts) -> String {
        self(head)
    }
}

/// The default [`EndpointKey`]: method and path, with segments that look
/// like ids (all digits, UUIDs, long hexadecimal strings) written `{id}`.
///
/// ```
/// use tower_shadow::health::{EndpointKey, RouteTemplate};
///
/// let (head, ()) = http::Request::get("/users/42/orders/9f1c2e3d4b5a69788796a5b4?x=1")
///     .body(()).unwrap().into_parts();
/// assert_eq!(RouteTemplate.endpoint(&head), "GET /users/{id}/orders/{id}");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteTemplate;

impl EndpointKey for RouteTemplate {
    fn endpoint(&self, head: &Parts) -> String {
        let path = head.uri.path();
        let mut key = String::with_capacity(head.method.as_str().len() + 1 + path.len());
        key.push_str(head.method.as_str());
        key.push(' ');
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                key.push('/');
            }
            key.push_str(if looks_like_id(segment) {
                "{id}"
            } else {
                segment
            });
        }
        key
    }
}

fn looks_like_id(segment: &str) -> bool {
    let b = segment.as_bytes();
    let digits = !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    let hex = b.len() >= 16 && b.iter().all(|c| c.is_ascii_hexdigit() || *c == b'-');
    digits || hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> String {
        let (head, ()) = http::Request::get(path).body(()).unwrap().into_parts();
        RouteTemplate.endpoint(&head)
    }

    #[test]
    fn templates_ids_and_keeps_words() {
        assert_eq!(key("/"), "GET /");
        assert_eq!(key("/items"), "GET /items");
        assert_eq!(key("/items/123"), "GET /items/{id}");
        assert_eq!(
            key("/u/550e8400-e29b-41d4-a716-446655440000/cafe"),
            "GET /u/{id}/cafe"
        );
    }
}
