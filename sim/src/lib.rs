//! The dswarm test-bed: scenario files, a seeded world model and the two engines that
//! drive the protocol core through it.
//!
//! - [`scenario`]: scenario files (TOML) in, a validated [`scenario::Scenario`] out, or
//!   an error naming the file, line and key.
//! - [`world`]: the seeded network model — latency per link, loss, duplication,
//!   reordering, multicast segments, partitions — that decides every datagram's fate.
//! - [`engine`]: the **direct** engine (an event queue calling the node's `handle_*`
//!   methods) and the **turmoil** engine (every node runs the live driver loop on a
//!   `turmoil-net` socket under paused tokio time).
//! - [`runner`]: one scenario run on one engine: timeline, workloads, report.
//! - [`hostile`]: hostile nodes — who they are, and the traffic they add.
//! - [`safety`]: the oracles every run checks: no forged record stored, no session
//!   with an unexpected key.
//! - [`report`]: the JSON report, expectations checked, and the human summary.
//! - [`chrome`]: a run's trace as Chrome/Perfetto trace-event JSON.
//! - [`compare`]: one scenario on several engines, side by side, checked against a
//!   reference run within the `[compare]` tolerances.
//! - [`html`]: the one-file HTML report with inline SVG charts.
//! - [`shrink`]: a smaller scenario that fails the same way.
//! - [`sweep`]: many seeds of one scenario on worker threads, shards, swarm testing.

pub mod chrome;
pub mod compare;
pub mod engine;
pub mod hostile;
pub mod html;
pub mod metric;
pub mod proc;
pub mod report;
pub mod runner;
pub mod safety;
pub mod scenario;
pub mod shrink;
pub mod sweep;
pub mod world;
