//! A plain hyper 1.x server with the shadow layer: a tower service adapted
//! with hyper-util's `TowerToHyperService`, served over HTTP/1.1 and HTTP/2
//! by hyper-util's automatic connection builder, its trailers reaching the
//! client unchanged and compared with the candidate's.
//!
//! Run with `cargo run --example hyper_app`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use tower::ServiceBuilder;
use tower_shadow::compare::JsonComparator;
use tower_shadow::shadow::{RequestBody, ShadowLayer};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// Answers a report and a `x-rows` trailer; version 2 counts one row more.
async fn report(
    version: u8,
    _: Request<RequestBody<Incoming>>,
) -> Result<Response<Body>, Infallible> {
    let mut trailers = HeaderMap::new();
    trailers.insert(
        "x-rows",
        HeaderValue::from(if version == 2 { 4 } else { 3 }),
    );
    let frames = vec![
        Ok(Frame::data(Bytes::from_static(b"a,b,c\n"))),
        Ok(Frame::trailers(trailers)),
    ];
    let response = Response::builder()
        .header("trailer", "x-rows") // HTTP/1.1 sends only declared trailers
        .body(StreamBody::new(futures::stream::iter(frames)));
    Ok(response.expect("a valid response"))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let candidate = tower::service_fn(|req| report(2, req));
    let layer = ShadowLayer::builder(candidate)
        .comparator(JsonComparator::new())
        .build();
    let health = layer.health();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req| report(1, req));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                builder.serve_connection(TokioIo::new(tcp), service).await
            });
        }
    });

    for http2 in [false, true] {
        let tcp = TokioIo::new(tokio::net::TcpStream::connect(addr).await?);
        let request = Request::get(format!("http://{addr}/report"))
            .header("te", "trailers")
            .body(Empty::<Bytes>::new())?;
        let response = if http2 {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), tcp).await?;
            tokio::spawn(connection);
            sender.send_request(request).await?
        } else {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(tcp).await?;
            tokio::spawn(connection);
            sender.send_request(request).await?
        };
        let version = response.version();
        let collected = response.into_body().collect().await?;
        let rows = collected.trailers().and_then(|t| t.get("x-rows").cloned());
        println!(
            "{version:?}: body {:?}, trailer x-rows {rows:?}",
            collected.to_bytes()
        );
    }

    health.idle().await;
    let snapshot = health.snapshot();
    println!(
        "\npairs {}, different {}",
        snapshot.pairs, snapshot.different
    );
    for difference in &snapshot.top_differences {
        println!("  {difference}");
    }
    assert_eq!((snapshot.pairs, snapshot.different), (2, 2));
    Ok(())
}
