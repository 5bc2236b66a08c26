//! The `users.Users` gRPC service generated from `proto/users.proto`, for
//! tower-shadow's tests and examples; built with `protoc`, so the library
//! itself never needs it.

#![allow(missing_docs)]

tonic::include_proto!("users");

/// The encoded `FileDescriptorSet` of `proto/users.proto`, as a
/// `prost_reflect::DescriptorPool` reads it.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/users.bin"));
