//! The outcomes service's tests, in one binary: reports over real gRPC (`reports`), the
//! programme's figures and due reports (`stats`), and the store on both backends (`store`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reports;
mod stats;
mod store;
mod support;
