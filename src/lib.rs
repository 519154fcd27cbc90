//! dswarm: a deterministic simulation test-bed for peer-to-peer DHT swarms.
//!
//! This crate is the protocol and its live adapter:
//!
//! - [`proto`]: the sans-IO core (discovery, SHS1 handshakes, sealed sessions, routing
//!   table, RPC, lookups) behind one type, [`proto::Node`]. No sockets, clocks or OS
//!   randomness: the same code runs in the simulator and on real sockets, and one seed
//!   gives one run.
//! - [`harness`]: many nodes on one thread or several over a seeded network model,
//!   with time jumping to the next event, and the run's trace hash (the same at any
//!   thread count). Tests, benches and the
//!   simulator's direct engine use it; the simulator brings its own world model.
//! - `live` (feature `live`, on by default): the driver loop shared with the
//!   simulator, loopback multicast sockets, and each node's HTTP API.
//!
//! The `dswarm` command and the scenario runner live in the `dswarm-sim` package.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod harness;
#[cfg(feature = "live")]
pub mod live;
pub mod proto;
