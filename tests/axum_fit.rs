//! The layer in an axum app, with no glue code: on a whole `Router`, on one
//! route (`route_layer` and a method router's `layer`), and endpoints keyed
//! by axum's `MatchedPath` (feature `axum`). Served over loopback, driven by
//! a real HTTP client.
#![cfg(feature = "axum")]

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use tower_shadow::shadow::ShadowLayer;
use tower_shadow::HealthSnapshot;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// GETs each path and checks the client got the stable answer.
async fn get_all(addr: SocketAddr, paths: &[&str]) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for path in paths {
        let req = Request::get(format!("http://{addr}{path}"))
            .body(Full::default())
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(b"v1"), "{path}: {body:?}");
    }
}

/// Users by name (not an id-looking segment: only the route can name it)
/// and a health check; version 2 changes one user's answer.
fn app(version: u8) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(move |Path(id): Path<String>| async move {
                let changed = version == 2 && id == "bob";
                format!("v{} {id}", if changed { 2 } else { 1 })
            }),
        )
        .route("/health", get(|| async { "v1 ok" }))
}

fn endpoints(s: &HealthSnapshot) -> Vec<(&str, u64, u64)> {
    s.endpoints
        .iter()
        .map(|(name, e)| (name.as_str(), e.pairs, e.different))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_whole_router_endpoints_are_axum_routes() {
    let layer = ShadowLayer::new(app(2));
    let health = layer.health();
    let addr = serve(app(1).layer(layer)).await;

    get_all(addr, &["/users/ada", "/users/bob", "/users/cy", "/health"]).await;
    health.idle().await;
    let s = health.snapshot();
    assert_eq!((s.pairs, s.different), (4, 1), "{s:?}");
    assert_eq!(
        endpoints(&s),
        [("GET /health", 1, 0), ("GET /users/{id}", 3, 1)],
        "keyed by route, not by path: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_single_route_with_route_layer_or_a_method_router_layer() {
    // `route_layer`: only the routes added before it.
    let layer = ShadowLayer::new(app(2));
    let by_route_layer = layer.health();
    let routed = Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { format!("v1 {id}") }),
        )
        .route_layer(layer)
        .route("/health", get(|| async { "v1 ok" }));

    // A method router's `layer`: only that route.
    let layer = ShadowLayer::new(app(2));
    let by_method_router = layer.health();
    let method_routed = Router::new()
        .route("/health", get(|| async { "v1 ok" }))
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { format!("v1 {id}") }).layer(layer),
        );

    for (app, health) in [(routed, by_route_layer), (method_routed, by_method_router)] {
        let addr = serve(app).await;
        get_all(addr, &["/users/bob", "/users/ada", "/health", "/health"]).await;
        health.idle().await;
        let s = health.snapshot();
        assert_eq!((s.sampled, s.pairs, s.different), (2, 2, 1), "{s:?}");
        assert_eq!(endpoints(&s), [("GET /users/{id}", 2, 1)], "{s:?}");
        let top = &s.top_differences[0];
        assert_eq!(
            (top.endpoint.as_str(), top.path.as_str()),
            ("GET /users/{id}", "/body")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_routers_key_by_the_full_route() {
    let layer = ShadowLayer::new(Router::new().nest("/api", app(2)));
    let health = layer.health();
    let addr = serve(Router::new().nest("/api", app(1)).layer(layer)).await;

    get_all(addr, &["/api/users/bob"]).await;
    health.idle().await;
    let s = health.snapshot();
    assert_eq!(endpoints(&s), [("GET /api/users/{id}", 1, 1)], "{s:?}");
}

/// The stack served without boxing the bodies of unsampled requests: each
/// side unwraps `RequestBody` back to axum's `Body`, and the server unwraps
/// `ResponseBody`, as `docs/guide.md` shows. Sampled requests keep their
/// tees (boxed) and are still compared; the client sees the stable answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwrapped_bodies_still_shadow_what_is_sampled() {
    use axum::body::Body;
    use tower::ServiceExt;
    use tower_shadow::health::Health;
    use tower_shadow::rollout::Rollout;
    use tower_shadow::router::Weights;
    use tower_shadow::sample::ByKey;
    use tower_shadow::shadow::{RequestBody, ResponseBody};

    fn unwrap(req: Request<RequestBody<Body>>) -> Request<Body> {
        req.map(|body| body.try_into_inner().unwrap_or_else(Body::new))
    }
    let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
    // Only requests with `x-sample` are shadowed.
    let sampler = ByKey::header(http::HeaderName::from_static("x-sample"), 100.0);
    let layer = ShadowLayer::builder(app(2).map_request(unwrap)).sampler(sampler);
    let stack = rollout
        .service_with(app(1).map_request(unwrap), layer)
        .map_response(|res: http::Response<ResponseBody<Body>>| {
            res.map(|body| body.try_into_inner().unwrap_or_else(Body::new))
        });
    let addr = serve(Router::new().fallback_service(stack)).await;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for (path, sampled) in [
        ("/users/bob", true),
        ("/users/ada", false),
        ("/users/bob", false),
    ] {
        let mut req = Request::get(format!("http://{addr}{path}"));
        if sampled {
            req = req.header("x-sample", "yes");
        }
        let res = client
            .request(req.body(Full::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(b"v1"), "{path}: {body:?}");
    }
    rollout.health().idle().await;
    let s = rollout.health().snapshot();
    assert_eq!((s.sampled, s.pairs, s.different), (1, 1, 1), "{s:?}");
}
