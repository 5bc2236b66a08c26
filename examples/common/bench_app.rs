//! The application both benchmark harnesses serve (`examples/load.rs` over
//! sockets, `examples/hotpath.rs` in process), kept in one place so that
//! their figures are about the same work.

use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use std::time::Duration;

/// The application: a hello-world (`GET /hello`, 13 bytes), a small JSON
/// document built per request (`GET /json`) and an echo of the request
/// body (`POST /echo`). `delay` and `fail` make the slow and the failing
/// candidates; `stuck` one that never answers.
pub fn app(delay: Option<Duration>, fail: bool, stuck: bool) -> Router {
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    // What every handler does before it answers.
    let wait = move || async move {
        if stuck {
            std::future::pending::<()>().await;
        }
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
    };
    let hello = move || async move {
        wait().await;
        (status, if fail { "boom" } else { "Hello, World!" })
    };
    let json = move || async move {
        wait().await;
        let body = serde_json::json!({
            "id": 42,
            "name": "item 42",
            "price": 10.5,
            "tags": ["a", "b", "c"],
            "stock": { "warehouse": "north", "count": 17 },
        });
        (status, axum::Json(body))
    };
    let echo = move |body: Bytes| async move {
        wait().await;
        (status, body)
    };
    Router::new()
        .route("/hello", get(hello))
        .route("/json", get(json))
        .route("/echo", post(echo))
}
