//! The whole stack from one configuration file: `examples/config.json`
//! (or the file named on the command line) is loaded and checked, then
//! shapes a real axum app on loopback — sampling by user, masking, JSON
//! comparison rules, sticky routing, the rollout's policy.
//!
//! The candidate differs from stable only where the file says it may: a
//! fresh `served_at` (ignored), prices within 1 % (tolerated) and the order
//! of `tags` (unordered). So the rollout walks it to live.
//!
//! Run with `cargo run --example config [path/to/config.json]`.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use tower_shadow::config::Config;
use tower_shadow::rollout::Stage;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The item service; `candidate` is the new version.
fn items(candidate: bool) -> Router {
    Router::new().route(
        "/items/{id}",
        get(move |Path(id): Path<u32>| async move {
            let price = f64::from(10 + id % 7);
            let (price, tags) = if candidate {
                (price * 1.005, ["sale", "new"])
            } else {
                (price, ["new", "sale"])
            };
            let served_at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            axum::Json(serde_json::json!({
                "items": [{"id": id, "price": price}], "tags": tags, "served_at": served_at
            }))
        }),
    )
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config.json").to_owned());
    let config = Config::from_json(&std::fs::read_to_string(&path)?)?;
    println!("loaded {path}");

    // A mistake is caught on load, naming the field and what is allowed.
    let typo = Config::from_json(r#"{"shadow": {"sampler": {"random": {"percent": 150}}}}"#);
    if let Err(error) = typo {
        println!("a bad file is refused: {error}");
    }

    let rollout = config.rollout()?;
    let app =
        Router::new().fallback_service(config.service(&rollout, items(false), items(true))?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut sent = 0;
    for tick in 0..30 {
        for n in 0..40u32 {
            let request = Request::get(format!("http://{addr}/items/{n}"))
                .header("x-user-id", format!("user-{}", (tick * 40 + n) % 97))
                .body(Full::default())?;
            client.request(request).await?.into_body().collect().await?;
            sent += 1;
        }
        rollout.health().idle().await;
        rollout.step(); // `rollout.spawn()` ticks every `rollout.interval` instead
        if matches!(rollout.stage(), Stage::Live | Stage::RolledBack) {
            break;
        }
    }

    let s = rollout.health().snapshot();
    // The sampler shadows half of the users (by `x-user-id`).
    println!(
        "{sent} requests, {} pairs compared, {} different, score {:.1}",
        s.pairs, s.different, s.score
    );
    for event in rollout.events() {
        println!(
            "  {:>8} → {:<8} weight {:>5.1} % → {:>5.1} %",
            event.from.as_str(),
            event.to.as_str(),
            event.weight_before * 100.0,
            event.weight_after * 100.0,
        );
    }
    println!(
        "stage {}, canary weight {:.0} %",
        rollout.stage(),
        rollout.weights().canary() * 100.0
    );
    if rollout.stage() != Stage::Live {
        return Err(format!(
            "expected the candidate to go live, it is {}",
            rollout.stage()
        )
        .into());
    }
    Ok(())
}
