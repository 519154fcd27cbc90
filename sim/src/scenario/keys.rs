//! Every key a scenario file may use, table by table: the one list the checks, the
//! "did you mean" and "belongs in" hints, `shrink` and `sweep` read.
//!
//! Nothing goes in; constants come out. This module depends on nothing else in the
//! crate but the metric names, so any scenario module may use it.

use crate::metric::Metric;

/// The top level's keys.
pub const TOP_KEYS: &[&str] = &[
    "name",
    "seed",
    "nodes",
    "engine",
    "crypto",
    "duration",
    "network_key",
    "network",
    "at",
    "workload",
    "hostile",
    "churn",
    "expect",
];

/// `[network]`'s keys.
pub const NETWORK_KEYS: &[&str] = &[
    "latency",
    "loss",
    "duplicate",
    "reorder",
    "reorder_delay",
    "segments",
    "bootstrap",
    "join_window",
    "clock_skew",
    "nat",
    "mailbox",
];

/// `network.latency`'s keys, when it is a table.
pub const LATENCY_KEYS: &[&str] = &["min", "max"];

/// An `[[at]]` entry's keys.
pub const AT_KEYS: &[&str] = &[
    "time",
    "partition",
    "one_way",
    "heal",
    "leave",
    "crash",
    "restart",
    "keep_table",
];

/// A `[[workload]]` entry's keys.
pub const WORKLOAD_KEYS: &[&str] = &[
    "from",
    "over",
    "lookups",
    "ping_closest",
    "pings",
    "puts",
    "gets",
    "mutable_puts",
    "mutable_gets",
    "announces",
    "topic_lookups",
    "connects",
];

/// `[hostile]`'s keys.
pub const HOSTILE_KEYS: &[&str] = &[
    "liars",
    "droppers",
    "forgers",
    "replayers",
    "flooders",
    "sybils",
    "flood_rate",
    "replay_rate",
    "forge_rate",
    "sybil_identities",
];

/// `network.clock_skew`'s keys.
pub const CLOCK_SKEW_KEYS: &[&str] = &["offset", "drift"];

/// `network.nat`'s keys.
pub const NAT_KEYS: &[&str] = &["open", "consistent", "random"];

/// `churn`'s keys.
pub const CHURN_KEYS: &[&str] = &["leave", "join", "graceful", "from", "until"];

/// The metric names an `[expect]` key may use; anything else is an error.
pub const METRICS: &[&str] = Metric::NAMES;
