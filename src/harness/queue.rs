//! The [`Swarm`](super::Swarm)'s event queue: what happens next, in (time, sequence)
//! order.
//!
//! In: events pushed with the simulated time they are due. Out: the earliest first;
//! two events due at the same time come out in the order they went in.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::proto::Time;

use super::What;

/// The event queue: a min-heap of 16-byte keys over a slab of what happens. Keys are
/// (time, sequence number and slab slot): small keys keep the heap's sift, which
/// touches log2(pending) of them per pop, in cache at 100,000 nodes.
#[derive(Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Reverse<(Time, u64)>>,
    slab: Vec<Option<What>>,
    free: Vec<u32>,
    seq: u64,
}

impl Queue {
    /// Bits of a key's second half that hold the slab slot; the rest is the sequence
    /// number, so keys order by (time, sequence).
    const SLOT_BITS: u32 = 24;

    pub(super) fn push(&mut self, at: Time, what: What) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(what);
                slot
            }
            None => {
                self.slab.push(Some(what));
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^24 pending events")
            }
        };
        assert!(
            slot < 1 << Self::SLOT_BITS,
            "fewer than 2^24 pending events"
        );
        self.seq += 1;
        self.heap
            .push(Reverse((at, self.seq << Self::SLOT_BITS | u64::from(slot))));
    }

    pub(super) fn peek_at(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    pub(super) fn pop(&mut self) -> Option<(Time, What)> {
        let Reverse((at, key)) = self.heap.pop()?;
        let slot = (key & ((1 << Self::SLOT_BITS) - 1)) as u32;
        let what = self.slab[slot as usize]
            .take()
            .expect("a queued slot holds its event");
        self.free.push(slot);
        Some((at, what))
    }
}
