//! Outcome reporting's domain: a report's life as a state machine, its versions, its periods,
//! its figures, and the programme's aggregate figures with small-group suppression. Pure: no
//! I/O.

use crate::error::ReportsError;

mod aggregation;
mod due;
mod figures;
mod periods;
mod report;

pub use aggregation::*;
pub use due::*;
pub use figures::*;
pub use periods::*;
pub use report::*;

#[cfg(test)]
mod tests;
