//! An axum app with the shadow layer, and no glue code: the layer on the
//! whole `Router`, endpoints named by axum's matched route
//! (`GET /users/{id}`), one real server on loopback and a real client.
//!
//! Run with `cargo run --example axum_app --features axum`.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_shadow::shadow::ShadowLayer;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Version 2 capitalises one user's name.
fn users(version: u8) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(move |Path(id): Path<String>| async move {
                let name = if version == 2 && id == "grace" {
                    "Grace".to_owned()
                } else {
                    id.clone()
                };
                axum::Json(serde_json::json!({ "id": id, "name": name }))
            }),
        )
        .route("/health", get(|| async { "ok" }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let layer = ShadowLayer::new(users(2));
    let health = layer.health();
    let app = users(1).layer(layer);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for path in ["/users/ada", "/users/grace", "/users/alan", "/health"] {
        let response = client.get(format!("http://{addr}{path}").parse()?).await?;
        let body = response.into_body().collect().await?.to_bytes();
        println!("GET {path} -> {}", String::from_utf8_lossy(&body));
    }

    health.idle().await;
    let snapshot = health.snapshot();
    println!(
        "\npairs {}, different {}",
        snapshot.pairs, snapshot.different
    );
    for (endpoint, e) in &snapshot.endpoints {
        println!("  {endpoint}: {} pairs, {} different", e.pairs, e.different);
    }
    for difference in &snapshot.top_differences {
        println!("  {difference}");
    }
    assert_eq!(snapshot.endpoints.len(), 2, "keyed by route: {snapshot:?}");
    assert_eq!(snapshot.different, 1);
    Ok(())
}
