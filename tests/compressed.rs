//! Compressed answers are compared by their content: both versions behind
//! tower-http's `CompressionLayer`, served over loopback, a client that
//! accepts gzip.

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_http::compression::CompressionLayer;
use tower_shadow::shadow::ShadowLayer;

/// A JSON answer large enough to be compressed; `price` is the field the
/// candidate gets wrong.
fn app(price: u32) -> Router {
    let body = move || async move {
        let items: Vec<_> = (0..100)
            .map(|i| serde_json::json!({ "id": i, "name": format!("item {i}"), "price": price }))
            .collect();
        axum::Json(serde_json::json!({ "items": items }))
    };
    Router::new()
        .route("/items", get(body))
        .layer(CompressionLayer::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_answers_are_compared_value_by_value() {
    let layer = ShadowLayer::builder(app(11)).build();
    let health = layer.health();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app(10).layer(layer);
    tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    let req = Request::get(format!("http://{addr}/items"))
        .header(ACCEPT_ENCODING, "gzip")
        .body(Full::default())
        .unwrap();
    let res = client.request(req).await.unwrap();
    // The client gets the stable answer, still compressed.
    assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");
    let compressed = res.into_body().collect().await.unwrap().to_bytes();
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .unwrap();
    assert!(plain.contains(r#""price":10"#));

    health.idle().await;
    let s = health.snapshot();
    assert_eq!((s.pairs, s.different), (1, 1), "{s:?}");
    let paths: Vec<_> = s.top_differences.iter().map(|d| d.path.as_str()).collect();
    // Compared decoded, value by value: the wrong field, not `/body`.
    assert!(!paths.is_empty());
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with("/items/") && p.ends_with("/price")),
        "{paths:?}"
    );
}
