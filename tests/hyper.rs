//! The layer around a plain hyper 1.x service: a tower service adapted with
//! hyper-util's `TowerToHyperService`, served by hyper-util's automatic
//! HTTP/1.1 + HTTP/2 connection builder on a loopback socket, called by
//! hyper's own HTTP/1.1 and HTTP/2 clients. The response ends with
//! trailers, which must reach the client unchanged and be compared.

use bytes::Bytes;
use futures::stream;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::net::SocketAddr;
use tower::ServiceBuilder;
use tower_shadow::compare::JsonComparator;
use tower_shadow::shadow::{RequestBody, ShadowLayer};
use tower_shadow::Health;

type Frames = stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

/// A handler answering two chunks and a `x-checksum` trailer naming `version`.
async fn handler(
    version: &'static str,
    _request: Request<RequestBody<Incoming>>,
) -> Result<Response<StreamBody<Frames>>, Infallible> {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static(version));
    let frames = vec![
        Ok(Frame::data(Bytes::from_static(b"hello, "))),
        Ok(Frame::data(Bytes::from_static(b"world"))),
        Ok(Frame::trailers(trailers)),
    ];
    let response = Response::builder()
        // HTTP/1.1 sends only the trailers its head declares.
        .header("trailer", "x-checksum")
        .body(StreamBody::new(stream::iter(frames)));
    Ok(response.unwrap())
}

/// Serves the stable handler, shadowed to the candidate, on both protocols.
async fn serve(health: Health) -> SocketAddr {
    let candidate = tower::service_fn(|req| handler("v2", req));
    let layer = ShadowLayer::builder(candidate)
        .comparator(JsonComparator::new())
        .health(health)
        .build();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req| handler("v1", req));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

fn get(addr: SocketAddr) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}/greeting"))
        // HTTP/1.1 sends trailers only to a client that accepts them.
        .header("te", "trailers")
        .body(Empty::new())
        .unwrap()
}

/// The client gets the stable body and trailer over `version`, and the
/// trailers of both sides were compared.
async fn check(response: Response<Incoming>, version: http::Version, health: &Health) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), version);
    let collected = response.into_body().collect().await.unwrap();
    let checksum = collected
        .trailers()
        .and_then(|t| t.get("x-checksum").cloned());
    assert_eq!(checksum, Some(HeaderValue::from_static("v1")));
    assert_eq!(collected.to_bytes(), "hello, world");

    health.idle().await;
    let s = health.snapshot();
    assert_eq!((s.pairs, s.different), (1, 1), "{s:?}");
    let top = &s.top_differences[0];
    assert_eq!(top.path, "/trailers/x-checksum", "{s:?}");
    let sample = top.sample.as_ref().unwrap();
    assert_eq!(
        (sample.baseline.as_deref(), sample.candidate.as_deref()),
        (Some("v1"), Some("v2"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_keeps_the_primarys_trailers() {
    let health = Health::new();
    let addr = serve(health.clone()).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);

    let response = sender.send_request(get(addr)).await.unwrap();
    check(response, http::Version::HTTP_11, &health).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_keeps_the_primarys_trailers() {
    let health = Health::new();
    let addr = serve(health.clone()).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);

    let response = sender.send_request(get(addr)).await.unwrap();
    check(response, http::Version::HTTP_2, &health).await;
}
