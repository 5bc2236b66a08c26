//! The `users.Users` gRPC service generated from `proto/users.proto`, and
//! [`Directory`], an implementation of it in two versions, for
//! tower-shadow's tests and examples. It is built with `protoc`, so the
//! library itself never needs it.

#![allow(missing_docs)]

use futures::stream::{self, BoxStream, StreamExt};
use tonic::{Request, Response, Status};

tonic::include_proto!("users");

/// The encoded `FileDescriptorSet` of `proto/users.proto`, as a
/// `prost_reflect::DescriptorPool` reads it.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/users.bin"));

/// The users service. Users 1 and up exist, user 0 does not (NOT_FOUND).
/// Version 2, the candidate, has three changes: user 2's email, user 3
/// missing (NOT_FOUND), and user 4's city.
#[derive(Clone, Copy, Debug)]
pub struct Directory {
    pub version: u8,
}

impl Directory {
    pub fn user(&self, id: u64) -> Result<User, Status> {
        let v2 = self.version == 2;
        if id == 0 || (v2 && id == 3) {
            return Err(Status::not_found(format!("no user {id}")));
        }
        Ok(User {
            id,
            name: format!("user {id}"),
            email: match (v2, id) {
                (true, 2) => "two@new.example".into(),
                _ => format!("{id}@example.com"),
            },
            roles: vec!["reader".into()],
            address: Some(Address {
                city: if v2 && id == 4 { "Lyon" } else { "Paris" }.into(),
            }),
        })
    }
}

#[tonic::async_trait]
impl users_server::Users for Directory {
    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        self.user(request.into_inner().id).map(Response::new)
    }

    type ListUsersStream = BoxStream<'static, Result<User, Status>>;

    /// Users 1 to `limit`, leaving out those that do not exist.
    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<Self::ListUsersStream>, Status> {
        let this = *self;
        let limit = u64::from(request.into_inner().limit);
        let users = (1..=limit)
            .map(move |id| this.user(id))
            .filter(Result::is_ok);
        Ok(Response::new(stream::iter(users).boxed()))
    }
}

/// The `prost` the messages implement `Message` from, to encode them.
pub use prost;
