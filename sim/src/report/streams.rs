//! The `streams` workload's figures in the report.

use std::collections::BTreeMap;

use serde::Serialize;

/// The `streams` workload's figures: transfers of `stream_bytes` from a random honest
/// node to a random listening one, every byte checked.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Streams {
    /// Transfers the workloads issued.
    pub issued: u64,
    /// Transfers whose stream opened (their `Connect` found the listener).
    pub opened: u64,
    /// Transfers that finished: every byte delivered and checked, both ends closed.
    pub completed: u64,
    /// Transfers the listener refused (it did not listen, or its firewall).
    pub refused: u64,
    /// Transfers that failed otherwise: the `Connect` failed, or the stream was reset.
    pub failed: u64,
    /// Transfers still under way at the end of the run.
    pub unfinished: u64,
    /// Bytes the completed transfers carried.
    pub bytes: u64,
    /// Goodput of a completed transfer, from its stream's opening to its end, in
    /// megabits a second: median and 5th percentile.
    pub goodput_mbps_p50: Option<f64>,
    /// See `goodput_mbps_p50`.
    pub goodput_mbps_p5: Option<f64>,
    /// Time from a transfer's `Connect` to its stream's end, in milliseconds: median
    /// and 99th percentile.
    pub completion_ms_p50: Option<f64>,
    /// See `completion_ms_p50`.
    pub completion_ms_p99: Option<f64>,
    /// The same by the path the `Connect` took (`direct`, `punched`, `relayed`,
    /// `mailbox`).
    pub by_path: BTreeMap<String, StreamPath>,
    /// Why transfers failed: the `Connect`'s failure, or the stream's reset.
    pub failed_by: BTreeMap<String, u64>,
}

/// The figures of the transfers that took one path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StreamPath {
    /// Transfers whose stream opened on this path.
    pub opened: u64,
    /// Of those, transfers that finished.
    pub completed: u64,
    /// Median goodput in megabits a second.
    pub goodput_mbps_p50: Option<f64>,
    /// Median time from `Connect` to the end, in milliseconds.
    pub completion_ms_p50: Option<f64>,
}

impl Streams {
    /// Finished transfers over those issued (1 when none were).
    pub fn success(&self) -> f64 {
        match self.issued {
            0 => 1.0,
            issued => self.completed as f64 / issued as f64,
        }
    }
}
