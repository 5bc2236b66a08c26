//! End to end: an axum `Router` wrapped in the layer, served by hyper on a
//! loopback socket, driven by a real HTTP client.

use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use tower_shadow::sample::ByKey;
use tower_shadow::shadow::ShadowLayer;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn stable() -> Router {
    Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { format!("{{\"id\":{id},\"price\":10}}") }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
}

fn candidate() -> Router {
    Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move {
                // A bug on one item in ten.
                let price = if id % 10 == 3 { 11 } else { 10 };
                format!("{{\"id\":{id},\"price\":{price}}}")
            }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_get_the_stable_answer_and_the_health_sees_the_bug() {
    let layer = ShadowLayer::builder(candidate())
        .methods([Method::GET, Method::POST])
        .build();
    let health = layer.health();
    let addr = serve(stable().layer(layer)).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    for id in 0..50u32 {
        let req = Request::get(format!("http://{addr}/items/{id}"))
            .body(Full::default())
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("{{\"id\":{id},\"price\":10}}"));
    }
    let upload = Bytes::from(vec![7u8; 100_000]);
    let req = Request::post(format!("http://{addr}/echo"))
        .body(Full::new(upload.clone()))
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), upload);

    health.idle().await;
    let s = health.snapshot();
    assert_eq!(s.sampled, 51);
    assert_eq!(s.pairs, 51, "{s:?}");
    assert_eq!(s.different, 5, "ids 3, 13, 23, 33 and 43 differ: {s:?}");
    assert_eq!(s.candidate_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_on_one_route_with_a_keyed_sampler() {
    let layer = ShadowLayer::builder(candidate())
        .sampler(ByKey::user(100.0))
        .build();
    let health = layer.health();
    let app = Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { format!("{{\"id\":{id},\"price\":10}}") })
                .layer(layer),
        )
        .route("/other", get(|| async { "untouched" }));
    let addr = serve(app).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    for (path, user) in [
        ("/items/3", Some("u1")),
        ("/items/4", None),
        ("/other", Some("u2")),
    ] {
        let mut req = Request::get(format!("http://{addr}{path}"));
        if let Some(user) = user {
            req = req.header("x-user-id", user);
        }
        let res = client
            .request(req.body(Full::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.into_body().collect().await.unwrap();
    }
    health.idle().await;
    let s = health.snapshot();
    // Only /items/3 carried a user id on the shadowed route.
    assert_eq!((s.sampled, s.pairs, s.different), (1, 1, 1), "{s:?}");
}
