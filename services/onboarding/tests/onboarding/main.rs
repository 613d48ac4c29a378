//! Onboarding's tests, in one binary: the service over real gRPC (`grpc`, `password_reset`) and
//! its store on both backends (`store`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod grpc;
mod password_reset;
mod store;
