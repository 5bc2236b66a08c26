use http::request::Parts;

/// Names the endpoint a request belongs to, so pairs are grouped by it.
///
/// The default, [`RouteTemplate`], is the method and the path with
/// id-looking segments replaced by `{id}` (`GET /items/{id}`), or axum's
/// matched route with the `axum` feature. Replace it with anything that
/// maps a request head to a key: a closure `Fn(&Parts) -> String` is an
/// `EndpointKey`, for example to group by gRPC service rather than method:
///
/// ```
/// use http::request::Parts;
/// use tower_shadow::health::EndpointKey;
///
/// let by_service = |head: &Parts| match head.uri.path().rsplit_once('/') {
///     Some((service, _method)) if !service.is_empty() => service.to_owned(),
///     _ => "(other)".to_owned(),
/// };
/// let (head, ()) = http::Request::post("/users.Users/GetUser").body(()).unwrap().into_parts();
/// assert_eq!(by_service.endpoint(&head), "/users.Users");
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
/// With the `axum` feature, a request that axum has routed carries its
/// route in an `axum::extract::MatchedPath` extension, and
/// that route is the key instead (`GET /users/{id}`, named as the router
/// declares it): this is the case for a [`ShadowLayer`](crate::shadow::ShadowLayer)
/// added with `Router::layer`, `Router::route_layer` or a method router's
/// `layer`. The extension is looked up only for sampled requests.
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
        #[cfg(feature = "axum")]
        if let Some(route) = head.extensions.get::<axum::extract::MatchedPath>() {
            return format!("{} {}", head.method, route.as_str());
        }
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

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn takes_axum_matched_path_when_present() {
        use axum::routing::get;
        use tower::ServiceExt;

        let app: axum::Router = axum::Router::new().route(
            "/users/{id}",
            get(|request: axum::extract::Request| async move {
                RouteTemplate.endpoint(&request.into_parts().0)
            }),
        );
        let request = http::Request::get("/users/ada").body(axum::body::Body::empty());
        let response = app.oneshot(request.unwrap()).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1024).await;
        // `ada` does not look like an id: only the route names it `{id}`.
        assert_eq!(body.unwrap(), "GET /users/{id}");
        assert_eq!(key("/users/ada"), "GET /users/ada");
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
