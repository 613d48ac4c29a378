//! Plumbing every AX Valley service shares, so that no two services write it twice:
//! configuration, the database and migrations, Redis-or-in-process primitives (cache, rate
//! limits, idempotency, token revocations), the transactional outbox and the event bus, the gRPC
//! server bootstrap (health, reflection, tracing, metrics, auth, graceful shutdown) and the one
//! error catalogue shared by gRPC and GraphQL, and the audit trail every service keeps.

pub mod audit;
pub mod business_number;
pub mod calendar;
pub mod columns;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod grpc;
pub mod ids;
pub mod kv;
pub mod net;
pub mod outbox;
pub mod pagination;
pub mod redis_client;
pub mod shutdown;
pub mod string_enum;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;

pub use error::ErrorCode;
