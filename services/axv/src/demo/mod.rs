//! Demo data for `axv up --demo` and `axv seed --demo`: realistic firms of Gwangju across the
//! nine strategic industries, in every application state. Idempotent: what exists is kept.

pub const FIRM_EMAIL: &str = "firm@demo.axv.kr";
pub const MANAGER_EMAIL: &str = "pm@demo.axv.kr";
pub const ADMIN_EMAIL: &str = "admin@demo.axv.kr";
pub const OPERATOR_EMAIL: &str = "ops@demo.axv.kr";
/// Where `axv up --demo` writes [`sample_sacct`], in the data directory.
pub const SAMPLE_SACCT_FILE: &str = "demo-sacct-h100.txt";
/// Printed by `axv up --demo`; demo data is for local use only.
pub const DEMO_PASSWORD: &str = "gwangju-demo-2026";

mod companies;
pub mod outcomes;
mod pilots;
mod vouchers;

#[cfg(test)]
use companies::{COMPANIES, path_to};
pub use companies::{Cast, cast, seed};
#[cfg(test)]
use pilots::PILOTS;
pub use pilots::seed_pilots;
pub use vouchers::{H100_POOL_NAME, sample_sacct, seed_vouchers};

#[cfg(test)]
mod tests;
