//! Every random stream of a run, in one place.
//!
//! In: nothing. Out: the stream numbers that [`seed_stream`](super::seed_stream)
//! takes, for the core's harness and for the simulator (`dswarm-sim`) alike, and
//! [`ALL`], the table of every stream and range with its owner.
//!
//! A run draws everything from one seed: each concern reads a ChaCha8 stream of that
//! seed of its own, so switching one concern on, or drawing more from it, moves no
//! other draw. Two concerns must therefore never share a number, and ranges (one
//! stream per node, per restarted life, per hostile actor) must not reach into each
//! other: the test below checks [`ALL`] for overlaps at the largest sizes the
//! simulator allows. A number, once a run has drawn from it, is part of every trace
//! hash that depends on it: change it and those runs change.
//!
//! The layout: node streams from 0; the core harness's own from 2^40; the
//! simulator's from 2^41; hostile actors and the
//! later lives of restarted nodes from 2^42; swarm testing (a sweep's own draws,
//! outside any run) far above. A new concern takes a free number in its block and a
//! line in [`ALL`].

/// Bits of a node index: node indices are below `2^24` (the addresses
/// [`addr_of`](super::addr_of) hands out stop there).
pub const NODE_BITS: u32 = 24;
/// The most nodes a run may have, joiners and hostile nodes included.
pub const NODES_MAX: u64 = 1 << NODE_BITS;
/// The most lives a node may have, its first included (restarts: `crash`, `restart`).
pub const LIVES_MAX: u64 = 1 << 16;

/// Node `i`'s identity and first life draw from stream `i`: streams
/// `0..`[`NODES_MAX`] (see [`node`]).
pub const NODE: u64 = 0;

/// The core harness's [`UniformNetwork`](super::UniformNetwork): loss and latency,
/// keyed by datagram ([`keyed`](super::keyed)).
pub const NET: u64 = 1 << 40;
/// When each node sends its first bootstrap (the join window).
pub const JOIN: u64 = (1 << 40) + 1;
/// Node clocks: offset and drift, each node at a fixed place in the stream.
pub const CLOCK: u64 = (1 << 40) + 2;

/// The simulator's world: random loss, keyed by datagram ([`keyed`](super::keyed):
/// each datagram reads its own block of the stream, named by its sender and the
/// sender's sequence number, so its fate does not depend on the order datagrams are
/// asked about).
pub const LOSS: u64 = (1 << 41) + 1;
/// The simulator's world: which datagrams are duplicated, keyed by datagram.
pub const DUPLICATE: u64 = (1 << 41) + 2;
/// The simulator's world: which datagrams are delayed out of order, and how long,
/// keyed by datagram.
pub const REORDER: u64 = (1 << 41) + 3;
/// The simulator's world: the shuffle that draws partition groups.
pub const PARTITION: u64 = (1 << 41) + 4;
/// The simulator's NAT: which nodes sit behind which kind of NAT.
pub const NAT_KIND: u64 = (1 << 41) + 5;
/// The simulator's NAT: the public ports of new mappings.
pub const NAT_PORT: u64 = (1 << 41) + 6;
/// The simulator's world: the shuffle that draws which nodes have IPv6 addresses
/// (`network.ipv6`).
pub const IPV6: u64 = (1 << 41) + 7;
/// The simulator's workloads: askers, targets, values, salts and topics.
pub const WORKLOAD: u64 = (1 << 41) + 16;
/// The order in which `leave` events take nodes.
pub const LEAVE: u64 = (1 << 41) + 17;
/// Churn's picks: which node leaves, and whether it says goodbye.
pub const CHURN: u64 = (1 << 41) + 18;
/// Which nodes a `crash` event takes.
pub const CRASH: u64 = (1 << 41) + 19;
/// Which nodes are hostile, of which kind. (Once `(1 << 41) + 18`, churn's number:
/// rosters and churn picks read the same draws.)
pub const ROSTER: u64 = (1 << 41) + 20;
/// The identities eclipse attackers grind near their target keys.
pub const ECLIPSE: u64 = (1 << 41) + 21;
/// Which honest nodes listen for the `streams` workload's transfers.
pub const LISTENERS: u64 = (1 << 41) + 22;

/// Hostile node `i` draws what it sends from stream `ACTOR + i`: a range of
/// [`NODES_MAX`] streams (see [`actor`]).
pub const ACTOR: u64 = 1 << 42;
/// Node `i`'s `k`-th life (k ≥ 1, after a restart) draws from stream
/// `LIVES + ((k - 1) << NODE_BITS) + i`: a range of `(LIVES_MAX - 1) × NODES_MAX`
/// streams (see [`life`]), right after the actors'.
pub const LIVES: u64 = ACTOR + NODES_MAX;

/// Swarm testing: the fault families a sweep's `--swarm` switches on for a seed
/// (drawn outside the run, before it starts).
pub const SWARM: u64 = 0x5357_4152_4d00_0001;

/// Every stream and range above: (name, first stream, streams), at the largest sizes
/// the simulator allows.
pub const ALL: &[(&str, u64, u64)] = &[
    ("NODE", NODE, NODES_MAX),
    ("NET", NET, 1),
    ("JOIN", JOIN, 1),
    ("CLOCK", CLOCK, 1),
    ("LOSS", LOSS, 1),
    ("DUPLICATE", DUPLICATE, 1),
    ("REORDER", REORDER, 1),
    ("PARTITION", PARTITION, 1),
    ("NAT_KIND", NAT_KIND, 1),
    ("NAT_PORT", NAT_PORT, 1),
    ("IPV6", IPV6, 1),
    ("WORKLOAD", WORKLOAD, 1),
    ("LEAVE", LEAVE, 1),
    ("CHURN", CHURN, 1),
    ("CRASH", CRASH, 1),
    ("ROSTER", ROSTER, 1),
    ("ECLIPSE", ECLIPSE, 1),
    ("LISTENERS", LISTENERS, 1),
    ("ACTOR", ACTOR, NODES_MAX),
    ("LIVES", LIVES, (LIVES_MAX - 1) * NODES_MAX),
    ("SWARM", SWARM, 1),
];

/// The stream of node `index`'s identity and first life.
pub fn node(index: usize) -> u64 {
    assert!((index as u64) < NODES_MAX, "fewer than 2^24 nodes");
    NODE + index as u64
}

/// The stream of node `index`'s `life`-th life (1: its first restart).
pub fn life(index: usize, life: u64) -> u64 {
    assert!((index as u64) < NODES_MAX, "fewer than 2^24 nodes");
    assert!(
        (1..LIVES_MAX).contains(&life),
        "fewer than 2^16 lives per node"
    );
    LIVES + ((life - 1) << NODE_BITS) + index as u64
}

/// The stream of hostile node `index`.
pub fn actor(index: usize) -> u64 {
    assert!((index as u64) < NODES_MAX, "fewer than 2^24 nodes");
    ACTOR + index as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_streams_or_ranges_overlap() {
        for (i, &(a, a_start, a_len)) in ALL.iter().enumerate() {
            assert!(a_len > 0, "{a} is empty");
            let a_end = a_start.checked_add(a_len).expect("no range wraps");
            for &(b, b_start, b_len) in &ALL[i + 1..] {
                assert_ne!(a, b, "{a} is listed twice");
                let b_end = b_start + b_len;
                assert!(
                    a_end <= b_start || b_end <= a_start,
                    "{a} {a_start}..{a_end} overlaps {b} {b_start}..{b_end}"
                );
            }
        }
    }

    #[test]
    fn the_helpers_stay_in_their_ranges() {
        let within = |name: &str, stream: u64| {
            let &(_, start, len) = ALL.iter().find(|(n, _, _)| *n == name).unwrap();
            assert!((start..start + len).contains(&stream), "{name}: {stream}");
        };
        let last = (NODES_MAX - 1) as usize;
        for index in [0, 1, last] {
            within("NODE", node(index));
            within("ACTOR", actor(index));
            for k in [1, 2, LIVES_MAX - 1] {
                within("LIVES", life(index, k));
            }
        }
        // The numbers runs have always drawn from (their traces depend on them).
        assert_eq!(life(7, 1), (1 << 42) + (1 << 24) + 7);
        assert_eq!(life(7, 3), (1 << 42) + (3 << 24) + 7);
        assert_eq!(actor(7), (1 << 42) + 7);
    }

    #[test]
    #[should_panic(expected = "lives per node")]
    fn a_life_past_the_last_is_refused() {
        life(0, LIVES_MAX);
    }
}
