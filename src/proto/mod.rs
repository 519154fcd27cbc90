//! The sans-IO protocol core: bytes and time go in; datagrams, deadlines and events
//! come out.
//!
//! Nothing here opens a socket, reads a clock, draws OS randomness, spawns a task or
//! sleeps. The driver (the simulator or [`crate::live`]) owns the socket and the clock;
//! [`node::Node`] owns the protocol.
//!
//! | module | state machine or data |
//! |---|---|
//! | [`time`] | [`Time`]: a node's monotonic clock, passed in |
//! | [`id`] | [`NodeId`], [`Key`], XOR [`Distance`] |
//! | [`identity`] | ed25519 keypair, signing, `verify_strict` |
//! | [`wire`] | every datagram and its byte encoding |
//! | [`table`] | k-bucket routing table |
//! | [`discovery`] | signed multicast beacons |
//! | [`crypto`] | the crypto seam: [`crypto::Crypto`], the real suite and a fast one for simulation |
//! | [`handshake`] | SHS1 client and server state machines |
//! | [`session`] | SHS1 over datagrams, sealed sessions, replay windows |
//! | [`boxstream`] | box-stream framing, for the reference implementation over TCP |
//! | [`counters`] | the one list of counters, and the macro that declares them |
//! | [`rpc`] | transaction ids, timeouts, retries, per-peer limits |
//! | [`lookup`] | one iterative FIND_NODE, to a node or to the k closest |
//! | [`store`] | records held for others: immutable, mutable, announcements; write tokens |
//! | [`nat`] | NAT classification from the addresses peers report |
//! | [`relay_path`] | stand-in addresses for sessions through a relay |
//! | [`footprint`] | what a node holds in memory, part by part |
//! | [`node`] | [`Node`]: all of the above behind one `handle_*`/`poll_*` API |

pub mod boxstream;
pub mod counters;
pub mod crypto;
pub mod discovery;
pub mod footprint;
pub mod handshake;
pub mod id;
pub mod identity;
pub mod lookup;
pub mod nat;
pub mod node;
pub mod relay_path;
pub mod rpc;
pub mod session;
pub mod store;
pub mod stream;
pub mod table;
pub mod time;
pub mod wire;

pub use crypto::CryptoSuite;
pub use id::{Distance, Key, NodeId};
pub use identity::Identity;
pub use node::{
    Command, CommandError, Config, Event, Node, QueryId, QueryOutcome, Stats, Transmit,
};
pub use time::Time;
