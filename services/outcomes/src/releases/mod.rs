//! Releases of the public figures. Anonymous callers, dashboards and the public CSV are
//! answered from the latest release, never from live data, so a verification cannot be read
//! off the public figures the moment it happens. A release is published on the calendar (the
//! 45th day after each quarter by default) or early by a manager; between releases a cell
//! changes only when at least three companies' figures in it changed (held revisions).
//!
//! - `rules` (pure): the basis a release answers from, the held-revision rule, the disclosure
//!   check and the calendar.
//! - `store`: the releases' table.
//! - `service`: gathering the live rows, publishing, and the calendar job.

pub mod rules;
pub mod service;
pub mod store;
