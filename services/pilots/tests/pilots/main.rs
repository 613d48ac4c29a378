//! The pilot registry's tests, in one binary: the service over real gRPC with a real onboarding
//! service behind it (`grpc`) and its store on both backends (`store`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc;
mod store;
