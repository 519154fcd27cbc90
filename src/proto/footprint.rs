//! [`Footprint`]: what one node holds in memory, part by part.
//!
//! In: a node's structures, each part read by its own `heap_bytes` (or, for sessions,
//! `footprint`). Out: bytes by part, which the simulator sums over a swarm and reports
//! (`memory` in the report).
//!
//! The figures are an estimate from each container's capacity and the size of what it
//! holds, not an allocator's count:
//! - a `Vec` or `VecDeque` counts its capacity times its element's size;
//! - a `BTreeMap` or `BTreeSet` counts nodes of 11 entries filled to two thirds, each
//!   with its 16-byte header, and an edge array for one node in six ([`btree`]);
//! - boxed and nested data (a boxed handshake, a retransmission's bytes, a contact
//!   list) is added where a part holds it.
//!
//! What the allocator adds on top (size classes, page rounding) is not counted, nor is
//! the process's own memory, so a swarm's resident size is larger than the sum.

use std::collections::VecDeque;
use std::mem::size_of;

/// Bytes one node holds, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The `Node` value itself: every field held inline, configuration included.
    pub inline: usize,
    /// Open sessions: their slots in the session slab, the by-peer index, deadlines.
    pub sessions: usize,
    /// How many sessions are open (a count, not bytes).
    pub sessions_open: usize,
    /// Handshakes under way, both roles, with the bytes kept to retransmit.
    pub handshakes: usize,
    /// The routing table: buckets, replacement caches, refresh times, address blocks.
    pub table: usize,
    /// Request rates per session peer, and requests waiting for a handshake.
    pub limits: usize,
    /// Requests in flight or queued, and their deadlines.
    pub rpc: usize,
    /// Lookups and other commands under way, with their candidates.
    pub queries: usize,
    /// Records held for others.
    pub store: usize,
    /// NAT traversal: relays, punches, address reports.
    pub traversal: usize,
    /// Streams: their state, and the bytes their buffers hold.
    pub streams: usize,
    /// Datagrams and events the driver has not taken yet.
    pub queued: usize,
}

impl Footprint {
    /// Every part by name, with its bytes (`sessions_open`, a count, is not a part).
    pub fn parts(&self) -> [(&'static str, usize); 11] {
        [
            ("inline", self.inline),
            ("sessions", self.sessions),
            ("handshakes", self.handshakes),
            ("table", self.table),
            ("limits", self.limits),
            ("rpc", self.rpc),
            ("queries", self.queries),
            ("store", self.store),
            ("traversal", self.traversal),
            ("streams", self.streams),
            ("queued", self.queued),
        ]
    }

    /// Every part's bytes together.
    pub fn total(&self) -> usize {
        self.parts().iter().map(|(_, bytes)| bytes).sum()
    }

    /// Adds `other`'s figures to these, part by part (to sum a swarm).
    pub fn add(&mut self, other: &Footprint) {
        self.inline += other.inline;
        self.sessions += other.sessions;
        self.sessions_open += other.sessions_open;
        self.handshakes += other.handshakes;
        self.table += other.table;
        self.limits += other.limits;
        self.rpc += other.rpc;
        self.queries += other.queries;
        self.store += other.store;
        self.streams += other.streams;
        self.traversal += other.traversal;
        self.queued += other.queued;
    }
}

/// A `Vec`'s heap bytes: its capacity, not its length.
pub(crate) fn vec<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
}

/// A `VecDeque`'s heap bytes: its capacity.
pub(crate) fn deque<T>(v: &VecDeque<T>) -> usize {
    v.capacity() * size_of::<T>()
}

/// The heap bytes of a `BTreeMap<K, V>` (or, with `V = ()`, a `BTreeSet<K>`) of `len`
/// entries. The standard library's nodes hold up to 11 entries behind a 16-byte
/// header (parent pointer, index, length); trees grown by inserts run about two
/// thirds full, so 7 entries a node; about one node in six is internal and carries 12
/// edge pointers besides.
pub(crate) fn btree<K, V>(len: usize) -> usize {
    const CAPACITY: usize = 11;
    const FILLED: usize = 7;
    if len == 0 {
        return 0;
    }
    let nodes = len.div_ceil(FILLED);
    let node = 16 + CAPACITY * (size_of::<K>() + size_of::<V>());
    let edges = nodes.div_ceil(6) * 12 * size_of::<usize>();
    nodes * node + edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_map_costs_nothing_and_a_full_one_about_one_and_a_half_slots_an_entry() {
        assert_eq!(btree::<u64, u64>(0), 0);
        let per_entry = btree::<u64, u64>(7_000) as f64 / 7_000.0;
        // 16 bytes a slot over a 7-in-11 fill, plus headers and edges.
        assert!((25.0..32.0).contains(&per_entry), "{per_entry}");
    }

    #[test]
    fn a_vec_counts_its_capacity() {
        let mut v: Vec<u32> = Vec::with_capacity(10);
        v.push(1);
        assert_eq!(vec(&v), 40);
    }
}
