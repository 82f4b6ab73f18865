//! `berth-bench`: drives any OCI registry over HTTP and measures what a registry
//! is judged by. Every loop is bounded in count and time; every target is expected
//! to be on 127.0.0.1.
//!
//! Module map:
//! - [`client`] — the distribution API calls the workloads use (reqwest).
//! - [`workloads`] — each measurement: blob push (monolithic, chunked), blob pull,
//!   manifest HEAD/GET under concurrency, tag listing, whole-image pushes, the
//!   machine's SHA-256 rate, server RSS, cold start.
//! - [`report`] — the [`Report`] (JSON) and its Markdown table, and the side-by-side
//!   comparison of two registries across rounds.

pub mod client;
pub mod report;
pub mod workloads;

pub use report::{compare_markdown, targets_markdown, Report};
pub use workloads::{run, Settings};
