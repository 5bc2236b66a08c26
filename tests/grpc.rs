//! A real gRPC service, generated from `tests/grpc-fixture/proto/users.proto`
//! by tonic-prost-build, served by tonic on a loopback socket with the layer
//! added by `Server::builder().layer(..)`, and called by the generated tonic
//! client. The candidate is version 2 of the fixture's `Directory`; the
//! comparator is `GrpcComparator` with the service's descriptors
//! (feature `grpc`).
#![cfg(feature = "grpc")]

use futures::stream::StreamExt;
use grpc_fixture::users_client::UsersClient;
use grpc_fixture::users_server::UsersServer;
use grpc_fixture::{Directory, GetUserRequest, ListUsersRequest, User};
use http::Method;
use std::net::SocketAddr;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::Code;
use tower_shadow::compare::GrpcComparator;
use tower_shadow::health::Health;
use tower_shadow::shadow::{Builder, ShadowLayer};
use tower_shadow::HealthSnapshot;

fn comparator() -> GrpcComparator {
    GrpcComparator::from_file_descriptor_set(grpc_fixture::FILE_DESCRIPTOR_SET).unwrap()
}

/// The layer for a gRPC server: every call is a POST.
fn layer() -> Builder<UsersServer<Directory>> {
    ShadowLayer::builder(UsersServer::new(Directory { version: 2 }))
        .methods([Method::POST])
        .comparator(comparator())
}

/// Serves the stable directory behind `layer` and connects a client.
async fn serve(layer: ShadowLayer<UsersServer<Directory>>) -> UsersClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(layer)
        .add_service(UsersServer::new(Directory { version: 1 }))
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(async move { server.await.unwrap() });
    UsersClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

/// Lists `limit` users, as the client sees them.
async fn list(client: &mut UsersClient<Channel>, limit: u32) -> Vec<User> {
    let stream = client.list_users(ListUsersRequest { limit }).await.unwrap();
    stream.into_inner().map(|u| u.unwrap()).collect().await
}

fn differences(s: &HealthSnapshot) -> Vec<(&str, &str)> {
    let mut all: Vec<_> = s
        .top_differences
        .iter()
        .map(|d| (d.endpoint.as_str(), d.path.as_str()))
        .collect();
    all.sort_unstable();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_differ_by_field_name_and_by_grpc_status() {
    let layer = layer().build();
    let health = layer.health();
    let mut client = serve(layer).await;

    for id in 1..=3 {
        let user = client.get_user(GetUserRequest { id }).await.unwrap();
        assert_eq!(
            user.into_inner().email,
            format!("{id}@example.com"),
            "stable answers"
        );
    }
    let missing = client.get_user(GetUserRequest { id: 0 }).await.unwrap_err();
    assert_eq!(
        missing.code(),
        Code::NotFound,
        "the primary's status reaches the client"
    );

    health.idle().await;
    let s = health.snapshot();
    assert_eq!((s.pairs, s.equivalent, s.different), (4, 2, 2), "{s:?}");
    let endpoint = "POST /users.Users/GetUser";
    assert_eq!(
        differences(&s),
        [
            (endpoint, "/0"),                     // user 3: no message from the candidate...
            (endpoint, "/0/email"),               // user 2: one field, by name
            (endpoint, "/trailers/grpc-message"), // ...and its NOT_FOUND status
            (endpoint, "/trailers/grpc-status"),
        ],
        "{s:?}"
    );
    let email = s.top_differences.iter().find(|d| d.path == "/0/email");
    let sample = email.unwrap().sample.as_ref().unwrap();
    assert_eq!(sample.baseline.as_deref(), Some("\"2@example.com\""));
    assert_eq!(sample.candidate.as_deref(), Some("\"two@new.example\""));
    let status = s
        .top_differences
        .iter()
        .find(|d| d.path == "/trailers/grpc-status");
    let sample = status.unwrap().sample.as_ref().unwrap();
    assert_eq!(
        (sample.baseline.as_deref(), sample.candidate.as_deref()),
        (Some("0"), Some("5"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_is_shadowed_and_compared_message_by_message() {
    let layer = layer().build();
    let health = layer.health();
    let mut client = serve(layer).await;

    let users = list(&mut client, 4).await;
    let ids: Vec<u64> = users.iter().map(|u| u.id).collect();
    assert_eq!(ids, [1, 2, 3, 4], "the client gets the stable stream");

    health.idle().await;
    let s = health.snapshot();
    assert_eq!((s.pairs, s.different), (1, 1), "{s:?}");
    // The candidate streams users 1, 2 and 4: message 1 is user 2 with its
    // new email, message 2 is user 4 where stable has user 3, and the
    // fourth message is missing.
    let endpoint = "POST /users.Users/ListUsers";
    assert_eq!(
        differences(&s),
        [
            (endpoint, "/1/email"),
            (endpoint, "/2/address/city"),
            (endpoint, "/2/email"),
            (endpoint, "/2/id"),
            (endpoint, "/2/name"),
            (endpoint, "/3"),
        ],
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_calls_can_be_skipped_with_a_reason() {
    let streaming = comparator().streaming_methods();
    assert_eq!(streaming, ["/users.Users/ListUsers"]);
    let health = Health::new();
    let layer = layer()
        .skip_streaming(streaming)
        .health(health.clone())
        .build();
    let mut client = serve(layer).await;

    let users = list(&mut client, 2).await;
    assert_eq!(users.len(), 2);
    client.get_user(GetUserRequest { id: 1 }).await.unwrap();

    health.idle().await;
    let s = health.snapshot();
    assert_eq!(s.skipped_reasons.streaming, 1, "{s:?}");
    assert_eq!(
        (s.sampled, s.skipped, s.pairs, s.different),
        (2, 1, 1, 0),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_descriptors_fields_are_named_by_number() {
    let layer = layer().comparator(GrpcComparator::new()).build();
    let health = layer.health();
    let mut client = serve(layer).await;

    client.get_user(GetUserRequest { id: 2 }).await.unwrap();
    health.idle().await;
    let s = health.snapshot();
    // `email` is field 3 of `users.User`.
    assert_eq!(
        differences(&s),
        [("POST /users.Users/GetUser", "/0/3")],
        "{s:?}"
    );
}
