//! A tonic gRPC server with the shadow layer, added with
//! `Server::builder().layer(..)`: every call goes to the stable service,
//! a copy to the candidate, and `GrpcComparator` compares the answers field
//! by field, by name, from the service's protobuf descriptors. The service
//! is generated from `tests/grpc-fixture/proto/users.proto`; `Directory`
//! implements it, version 2 with three changes (user 2's email, user 3
//! missing, user 4's city).
//!
//! Run with `cargo run --example tonic_app --features grpc`.

use futures::stream::StreamExt;
use grpc_fixture::users_client::UsersClient;
use grpc_fixture::users_server::UsersServer;
use grpc_fixture::{Directory, GetUserRequest, ListUsersRequest};
use http::Method;
use tonic::transport::server::TcpIncoming;
use tower_shadow::compare::GrpcComparator;
use tower_shadow::shadow::ShadowLayer;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let comparator = GrpcComparator::from_file_descriptor_set(grpc_fixture::FILE_DESCRIPTOR_SET)?;
    let layer = ShadowLayer::builder(UsersServer::new(Directory { version: 2 }))
        .methods([Method::POST]) // every gRPC call is a POST; these only read
        .comparator(comparator)
        .build();
    let health = layer.health();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tonic::transport::Server::builder()
        .layer(layer)
        .add_service(UsersServer::new(Directory { version: 1 }))
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);

    let mut client = UsersClient::connect(format!("http://{addr}")).await?;
    for id in 1..=4 {
        let user = client.get_user(GetUserRequest { id }).await?.into_inner();
        println!(
            "GetUser({id}) -> {} in {}",
            user.name,
            user.address.unwrap_or_default().city
        );
    }
    let missing = client.get_user(GetUserRequest { id: 0 }).await.unwrap_err();
    println!("GetUser(0) -> {:?}: {}", missing.code(), missing.message());
    let mut users = client
        .list_users(ListUsersRequest { limit: 4 })
        .await?
        .into_inner();
    while let Some(user) = users.next().await {
        println!("ListUsers -> {}", user?.name);
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
    assert_eq!((snapshot.pairs, snapshot.different), (6, 4));
    Ok(())
}
