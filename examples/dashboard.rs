//! The admin dashboard on live data: two deployments behind one server, with
//! traffic generated in the background.
//!
//! - `checkout`: a candidate with a small difference from the start (one
//!   item in 100 is shown in the wrong currency) that turns bad after a
//!   while (`--bug-after`, default 20 s: wrong prices, 5xx errors, slower
//!   answers). Watch it walk up from shadow, degrade, and roll back.
//! - `search`: a healthy candidate that walks from shadow to live.
//!
//! ```text
//! cargo run --example dashboard --features admin
//! cargo run --example dashboard --features admin -- --port 0 --exit-after 60
//! ```
//!
//! Then open the printed URL. The admin API's changes take the token in
//! `ADMIN_TOKEN` (default `demo-token`), e.g.
//! `curl -X POST -H 'Authorization: Bearer demo-token' http://127.0.0.1:3000/admin/deployments/checkout/shadow`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_shadow::admin::Admin;
use tower_shadow::health::Health;
use tower_shadow::rollout::Rollout;
use tower_shadow::router::Weights;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    port: u16,
    exit_after: Option<Duration>,
    bug_after: Duration,
}

fn options() -> Result<Options, Error> {
    let mut options = Options {
        port: 3000,
        exit_after: None,
        bug_after: Duration::from_secs(20),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => options.port = value()?.parse()?,
            "--exit-after" => options.exit_after = Some(Duration::from_secs(value()?.parse()?)),
            "--bug-after" => options.bug_after = Duration::from_secs(value()?.parse()?),
            "-h" | "--help" => {
                println!("usage: dashboard [--port N (3000; 0: any)] [--exit-after SECS] [--bug-after SECS (20)]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`; try --help").into()),
        }
    }
    Ok(options)
}

/// What a version of the item service gets wrong.
#[derive(Clone, Copy)]
enum Flaw {
    None,
    /// One item in 100 in the wrong currency; after `since`, also wrong
    /// prices, server errors and slower answers.
    Checkout {
        since: Instant,
    },
}

fn items(flaw: Flaw) -> Router {
    Router::new().route(
        "/items/{id}",
        get(move |Path(id): Path<u32>| async move {
            let (mut currency, mut price) = ("EUR", 10 + id % 7);
            if let Flaw::Checkout { since } = flaw {
                if id % 100 == 7 {
                    currency = "USD";
                }
                if since.elapsed() > Duration::ZERO {
                    if id % 3 == 1 {
                        price += 90;
                    }
                    if id % 30 == 11 {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "pricing backend timeout")
                            .into_response();
                    }
                    tokio::time::sleep(Duration::from_millis(3 + u64::from(id % 5))).await;
                }
            }
            axum::Json(serde_json::json!({
                "id": id,
                "name": format!("item {id}"),
                "price": price,
                "currency": currency,
            }))
            .into_response()
        }),
    )
}

fn rollout(stable: &str, candidate: &str) -> Rollout {
    let health = Health::builder()
        .window(Duration::from_secs(30))
        .buckets(15)
        .build();
    Rollout::builder(health, Weights::new(0.0))
        .interval(Duration::from_secs(1))
        .stable_version(
            stable,
            serde_json::json!({"image": format!("items:{stable}")}),
        )
        .candidate_version(
            candidate,
            serde_json::json!({"image": format!("items:{candidate}")}),
        )
        .version("v1.0", serde_json::json!({"image": "items:v1.0"}))
        .build()
}

/// Sends requests to `prefix` on `addr` until the process ends.
async fn traffic(client: Arc<Client<HttpConnector, Full<Bytes>>>, addr: SocketAddr, prefix: &str) {
    let mut ticks = tokio::time::interval(Duration::from_millis(8));
    loop {
        ticks.tick().await;
        let id = rand::random::<u32>() % 1000;
        let Ok(request) =
            Request::get(format!("http://{addr}{prefix}/items/{id}")).body(Full::default())
        else {
            continue;
        };
        let client = client.clone();
        tokio::spawn(async move {
            if let Ok(response) = client.request(request).await {
                let _ = response.into_body().collect().await;
            }
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let options = options()?;
    let token = std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "demo-token".into());

    let checkout = rollout("v2.3", "v2.4");
    let search = rollout("v7", "v8");
    let bug = Flaw::Checkout {
        since: Instant::now() + options.bug_after,
    };
    let app = Router::new()
        .nest(
            "/admin",
            Admin::new()
                .token(token.clone())
                .history(600, Duration::from_secs(1))
                .deployment("checkout", checkout.clone())
                .deployment("search", search.clone())
                .router(),
        )
        .nest_service("/checkout", checkout.service(items(Flaw::None), items(bug)))
        .nest_service(
            "/search",
            search.service(items(Flaw::None), items(Flaw::None)),
        );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let _ticking = (checkout.spawn(), search.spawn());
    let client = Arc::new(Client::builder(TokioExecutor::new()).build_http());
    tokio::spawn(traffic(client.clone(), addr, "/checkout"));
    tokio::spawn(traffic(client, addr, "/search"));

    println!("dashboard: http://{addr}/admin/dashboard");
    println!("API:       http://{addr}/admin/deployments (changes: Authorization: Bearer {token})");
    println!(
        "checkout's candidate turns bad after {} s",
        options.bug_after.as_secs()
    );
    std::io::stdout().flush()?;

    let run = async {
        match options.exit_after {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = run => println!("exiting after {} s", options.exit_after.unwrap_or_default().as_secs()),
        _ = tokio::signal::ctrl_c() => println!("interrupted"),
        result = server => result??,
    }
    for (name, rollout) in [("checkout", &checkout), ("search", &search)] {
        println!(
            "{name}: stage {}, canary weight {:.0} %, score {:.1}",
            rollout.stage(),
            rollout.weights().canary() * 100.0,
            rollout.health().snapshot().score
        );
    }
    Ok(())
}
