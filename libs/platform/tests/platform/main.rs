//! The shared plumbing's tests, in one binary: the audit trail's hash chain on both databases
//! (`audit`), the outbox, event bus and key-value primitives
//! against real backends (`backends`), balanced gRPC channels (`grpc_balance`), and TLS to
//! Postgres and Redis (`tls`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod backends;
mod grpc_balance;
mod tls;
