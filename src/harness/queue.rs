//! A part's event queue: what happens next, in an order no partitioning decides.
//!
//! In: events pushed with the simulated time they are due, the node they happen to
//! (`dest`), the node whose action caused them (`src`) and that node's own sequence
//! number for it. Out: the earliest first, ties broken by (dest, src, seq).
//!
//! Every part of a [`Swarm`](super::Swarm) keeps one such queue for the nodes it owns.
//! Since the key is the same whichever part holds the event, each node sees its inputs
//! in the same order at any thread count, and a part pops its events sorted by (time,
//! node): what its trace entries are merged by.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::proto::Time;

use super::What;

/// Where an event stands among those due at the same time: the node it happens to,
/// the node that caused it, and that node's sequence number for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Order {
    pub(super) dest: u32,
    pub(super) src: u32,
    pub(super) seq: u64,
}

/// The event queue: a min-heap of (time, packed order and slab slot) over a slab of
/// what happens. Small keys keep the heap's sift, which touches log2(pending) of them
/// per pop, in cache at 100,000 nodes.
#[derive(Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Reverse<(Time, u128)>>,
    slab: Vec<Option<What>>,
    free: Vec<u32>,
}

/// Bits of a packed key for the slab slot, the sequence number, and each node index.
const SLOT_BITS: u32 = 32;
const SEQ_BITS: u32 = 48;
const NODE_BITS: u32 = 24;

impl Queue {
    pub(super) fn push(&mut self, at: Time, order: Order, what: What) {
        assert!(
            order.dest < 1 << NODE_BITS && order.src < 1 << NODE_BITS,
            "fewer than 2^24 nodes"
        );
        assert!(order.seq < 1 << SEQ_BITS, "fewer than 2^48 events a node");
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(what);
                slot
            }
            None => {
                self.slab.push(Some(what));
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        let key = u128::from(order.dest) << (SLOT_BITS + SEQ_BITS + NODE_BITS)
            | u128::from(order.src) << (SLOT_BITS + SEQ_BITS)
            | u128::from(order.seq) << SLOT_BITS
            | u128::from(slot);
        self.heap.push(Reverse((at, key)));
    }

    pub(super) fn peek_at(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest event if it is due before `end`.
    pub(super) fn pop_before(&mut self, end: Time) -> Option<(Time, What)> {
        if self.peek_at()? >= end {
            return None;
        }
        let Reverse((at, key)) = self.heap.pop()?;
        let slot = (key & ((1 << SLOT_BITS) - 1)) as u32;
        let what = self.slab[slot as usize]
            .take()
            .expect("a queued slot holds its event");
        self.free.push(slot);
        Some((at, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(node: usize) -> What {
        What::Timer { node }
    }

    fn node_of(what: What) -> usize {
        match what {
            What::Timer { node } => node,
            _ => unreachable!(),
        }
    }

    #[test]
    fn events_come_out_by_time_then_destination_then_source_and_sequence() {
        let mut q = Queue::default();
        let t = |ms| Time::ZERO + std::time::Duration::from_millis(ms);
        let o = |dest, src, seq| Order { dest, src, seq };
        q.push(t(2), o(0, 0, 0), timer(1));
        q.push(t(1), o(5, 9, 3), timer(2));
        q.push(t(1), o(5, 2, 7), timer(3));
        q.push(t(1), o(4, 9, 9), timer(4));
        q.push(t(1), o(5, 2, 6), timer(5));
        let mut out = Vec::new();
        while let Some((_, what)) = q.pop_before(t(3)) {
            out.push(node_of(what));
        }
        assert_eq!(out, [4, 5, 3, 2, 1]);
        assert!(q.peek_at().is_none());
    }

    #[test]
    fn nothing_due_at_or_after_the_end_comes_out() {
        let mut q = Queue::default();
        let at = Time::ZERO + std::time::Duration::from_millis(5);
        q.push(
            at,
            Order {
                dest: 0,
                src: 0,
                seq: 0,
            },
            timer(0),
        );
        assert!(q.pop_before(at).is_none());
        assert!(q
            .pop_before(at + std::time::Duration::from_micros(1))
            .is_some());
    }
}
