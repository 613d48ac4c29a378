//! `axv-testkit`: what every test of the platform starts from, so no test crate copies it.
//!
//! - [`Stack`]: the services a test names (and those they call) started as `axv up` starts
//!   them, each a real gRPC server on a free loopback port, with their in-process handles.
//! - [`db`]: throwaway databases, Postgres ones copied from a template migrated once, and
//!   [`on_both_backends!`] to run a test on SQLite and on Postgres.
//! - [`fixtures`]: business numbers, callers, authenticated requests, [`assert_refused`].
//! - [`files`]: a PDF and an Office file made in code, for upload tests.
//! - [`processes`]: real servers started as child processes (SMTP, S3) on free ports.
//! - Firms with companies in one line ([`Stack::firm`]) and vouchers in one more
//!   ([`Stack::voucher`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod db;
pub mod files;
pub mod firms;
pub mod fixtures;
pub mod processes;
pub mod sacct;
pub mod stack;
pub mod vouchers;

pub use axv_platform::testing::TestDb;
pub use firms::Firm;
pub use fixtures::{PASSWORD, assert_refused, authed, business_number, caller};
pub use stack::Stack;
