//! [`Node::footprint`]: what one node holds in memory, part by part (see
//! [`crate::proto::footprint`] for how the bytes are estimated).

use std::mem::size_of;
use std::net::SocketAddr;

use super::{records, Node, Query, QueryId, QueryState, WhoProbe};
use crate::proto::footprint::{btree, deque, vec, Footprint};
use crate::proto::id::NodeId;

impl Node {
    /// What this node holds now, by part: sessions, handshakes, routing table,
    /// limits, RPCs, queries, records, traversal, streams and undelivered output.
    pub fn footprint(&self) -> Footprint {
        let sessions = self.sessions.footprint();
        Footprint {
            inline: size_of::<Node>(),
            sessions: sessions.open,
            sessions_open: self.sessions.open_count(),
            handshakes: sessions.handshakes,
            table: self.table.heap_bytes(),
            limits: self.rates.heap_bytes()
                + self.relay_rates.heap_bytes()
                + self.waiting.heap_bytes()
                + self.beacon_checks.heap_bytes(),
            rpc: self.rpc.heap_bytes(),
            queries: self.queries_bytes(),
            store: self.store.heap_bytes(),
            traversal: self.traversal.heap_bytes(),
            streams: self.streams.heap_bytes(),
            queued: sessions.queued
                + deque(&self.transmits)
                + self
                    .transmits
                    .iter()
                    .map(|t| vec(&t.payload))
                    .sum::<usize>()
                + deque(&self.events),
        }
    }

    /// Commands under way, with their lookups' candidates, and the maps around them.
    fn queries_bytes(&self) -> usize {
        let inner: usize = self
            .queries
            .values()
            .map(|state| match &state.query {
                Query::Ping => 0,
                Query::PingClosest { results, .. } => vec(results),
                Query::BootstrapPings {
                    dialed, answered, ..
                } => vec(dialed) + vec(answered),
                Query::BootstrapRefreshes { queued, .. } => vec(queued),
                Query::Lookup { lookup, .. } => lookup.heap_bytes(),
                Query::Records(fanout) => size_of::<records::Fanout>() + fanout.heap_bytes(),
                Query::Connect(_) => size_of::<super::connect::Connect>(),
            })
            .sum();
        inner
            + btree::<QueryId, QueryState>(self.queries.len())
            + btree::<NodeId, ()>(self.probing.len())
            + btree::<SocketAddr, WhoProbe>(self.who.len())
            + btree::<QueryId, records::Pending>(self.record_ops.len())
            + btree::<records::Published, records::Republish>(self.published.len())
            + btree::<crate::proto::id::Key, u64>(self.withdrawn.len())
            + btree::<QueryId, ()>(self.internal.len())
    }
}
