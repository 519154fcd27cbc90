//! [`Slab`]: where one node's handshakes and sessions live, by the number it chose.
//!
//! In: a slot to keep under a [`SessionId`], a number to look up or to drop. Out: the
//! slot, and when a drop moved another slot, from which place to which ([`Moved`]).
//! What holds: slots sit in chunks of [`CHUNK`] places that are allocated once and
//! never grow, the places in use are always the first `len` (a drop moves the last
//! slot into the hole), and a small map from number to place finds them. A node
//! holds hundreds of sessions for as long as the idle timeout: kept inline in a
//! `BTreeMap`, every slot costs its size over the map's fill factor (about 70% with
//! random keys), and a `Vec` that doubles costs up to twice its size and copies
//! every slot at each doubling; here a slot costs its size, at most one chunk's
//! spare places and the index's 8 bytes, and a drop copies one slot. (With free
//! places reused in place instead, the slots that outlive a join's burst of
//! handshakes held its places: on a 2,000-node hour a node kept 190 places for 144
//! slots, 9.5 KB of 208-byte places for nothing.)
//!
//! The index is a sorted `Vec` of (number, place): a search reads one small array
//! (a few kilobytes at the session cap) where a B-tree's reads a node per level, and
//! an insert or removal moves at most that much, once per handshake.

use super::SessionId;

/// Places per chunk: a chunk of open sessions is a few kilobytes.
const CHUNK: usize = 32;

/// Slots by session number; iteration goes in number order, as a `BTreeMap`'s does.
#[derive(Debug)]
pub(super) struct Slab<T> {
    /// Chunks of `CHUNK` places each; only the last may be shorter. Place `p` is
    /// `chunks[p / CHUNK][p % CHUNK]`.
    chunks: Vec<Vec<Option<T>>>,
    index: Vec<(SessionId, u32)>,
}

/// A drop moved the last slot from place `from` into the dropped one's, `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Moved {
    pub(super) from: u32,
    pub(super) to: u32,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            index: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Places in use: one past the last place.
    fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    fn slot(&self, place: u32) -> Option<&Option<T>> {
        let place = place as usize;
        self.chunks.get(place / CHUNK)?.get(place % CHUNK)
    }

    fn slot_mut(&mut self, place: u32) -> &mut Option<T> {
        let place = place as usize;
        &mut self.chunks[place / CHUNK][place % CHUNK]
    }

    /// Where `id` is, or would go, in `index`.
    fn find(&self, id: &SessionId) -> Result<usize, usize> {
        self.index.binary_search_by(|(number, _)| number.cmp(id))
    }

    pub(super) fn contains_key(&self, id: &SessionId) -> bool {
        self.find(id).is_ok()
    }

    pub(super) fn get(&self, id: &SessionId) -> Option<&T> {
        let place = self.place(id)?;
        self.at(place)
    }

    /// Where the slot numbered `id` sits: the same place until it is removed.
    pub(super) fn place(&self, id: &SessionId) -> Option<u32> {
        let at = self.find(id).ok()?;
        Some(self.index[at].1)
    }

    /// The slot at `place`, found with [`Slab::place`].
    pub(super) fn at(&self, place: u32) -> Option<&T> {
        self.slot(place)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: &SessionId) -> Option<&mut T> {
        let place = self.place(id)?;
        self.slot_mut(place).as_mut()
    }

    /// Keeps `slot` under `id`; the slot it replaces, if any.
    pub(super) fn insert(&mut self, id: SessionId, slot: T) -> Option<T> {
        let at = match self.find(&id) {
            Ok(at) => return self.slot_mut(self.index[at].1).replace(slot),
            Err(at) => at,
        };
        let place = u32::try_from(self.len()).expect("fewer than 2^32 slots");
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(Some(slot)),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(Some(slot));
                self.chunks.push(chunk);
            }
        }
        self.index.insert(at, (id, place));
        None
    }

    /// Drops the slot numbered `id` and returns it, with the move that filled its
    /// place, if another slot had to move.
    pub(super) fn remove(&mut self, id: &SessionId) -> Option<(T, Option<Moved>)> {
        let at = self.find(id).ok()?;
        let (_, place) = self.index.remove(at);
        let last = self.pop_last();
        let from = u32::try_from(self.len()).expect("fewer than 2^32 slots");
        if from == place {
            return Some((last.expect("an indexed place holds a slot"), None));
        }
        let slot = std::mem::replace(self.slot_mut(place), last);
        let entry = self
            .index
            .iter_mut()
            .find(|(_, p)| *p == from)
            .expect("the last place is indexed");
        entry.1 = place;
        let slot = slot.expect("an indexed place holds a slot");
        Some((slot, Some(Moved { from, to: place })))
    }

    /// Takes the last place off, giving back its chunk once empty.
    fn pop_last(&mut self) -> Option<T> {
        let chunk = self.chunks.last_mut()?;
        let slot = chunk.pop().flatten();
        if chunk.is_empty() {
            self.chunks.pop();
        }
        slot
    }

    /// Heap bytes of the chunks (every place, used or free), the free list and the
    /// index; what a slot holds behind a pointer is its owner's to count.
    pub(super) fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::vec;
        vec(&self.chunks) + self.chunks.iter().map(vec).sum::<usize>() + vec(&self.index)
    }

    /// Every slot with its number, in number order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (SessionId, &T)> + '_ {
        self.index.iter().map(|&(id, place)| {
            let slot = self.at(place).expect("an indexed place holds a slot");
            (id, slot)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every indexed slot is at its place, and the places in use are `0..len`.
    fn check(slab: &Slab<u32>) {
        let mut places: Vec<u32> = slab.index.iter().map(|&(_, p)| p).collect();
        places.sort_unstable();
        assert_eq!(places, (0..slab.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn a_drop_moves_the_last_slot_into_its_place_and_iteration_goes_in_number_order() {
        let mut slab = Slab::default();
        for n in [5u32, 1, 9, 3] {
            assert!(slab.insert(SessionId(n), n * 10).is_none());
        }
        assert_eq!(slab.insert(SessionId(9), 91), Some(90));
        let (five, three) = (slab.place(&SessionId(5)), slab.place(&SessionId(3)));
        let one = slab.place(&SessionId(1)).unwrap();
        let moved = Moved {
            from: three.unwrap(),
            to: one,
        };
        assert_eq!(slab.remove(&SessionId(1)), Some((10, Some(moved))));
        assert_eq!(slab.place(&SessionId(3)), Some(one), "the last slot moved");
        assert_eq!(slab.place(&SessionId(5)), five, "the others stay");
        assert_eq!(slab.remove(&SessionId(1)), None);
        check(&slab);
        assert!(slab.insert(SessionId(7), 70).is_none());
        assert_eq!(slab.len(), 4);
        assert_eq!(
            slab.remove(&SessionId(7)),
            Some((70, None)),
            "the last place"
        );
        assert_eq!(slab.len(), 3, "a dropped last place is given back");
        let all: Vec<_> = slab.iter().map(|(id, &v)| (id.0, v)).collect();
        assert_eq!(all, [(3, 30), (5, 50), (9, 91)]);
        *slab.get_mut(&SessionId(3)).unwrap() += 1;
        assert_eq!(slab.get(&SessionId(3)), Some(&31));
        assert!(!slab.contains_key(&SessionId(7)));
        check(&slab);
    }

    #[test]
    fn chunks_are_given_back_as_the_slots_drop() {
        let mut slab = Slab::default();
        let n = 2 * CHUNK as u32 + 5;
        for i in 0..n {
            slab.insert(SessionId(i), i);
        }
        assert_eq!(slab.chunks.len(), 3);
        for i in (0..n).filter(|i| i % 3 == 0) {
            assert_eq!(slab.remove(&SessionId(i)).map(|(v, _)| v), Some(i));
        }
        check(&slab);
        assert_eq!(slab.get(&SessionId(40)), Some(&40));
        for i in n..n + 10 {
            slab.insert(SessionId(i), i);
        }
        let all: Vec<u32> = slab.iter().map(|(_, &v)| v).collect();
        let expected: Vec<u32> = (0..n + 10).filter(|i| i % 3 != 0 || *i >= n).collect();
        assert_eq!(all, expected);
        check(&slab);
        for i in (0..n + 10).rev() {
            slab.remove(&SessionId(i));
        }
        assert_eq!(slab.len(), 0);
        assert!(slab.chunks.is_empty(), "emptied chunks are freed");
    }

    /// A join's burst of handshakes, then sessions coming and going at a lower level:
    /// the burst's chunks are given back.
    #[test]
    fn after_a_burst_the_places_shrink_to_the_slots_held() {
        let mut slab = Slab::default();
        let burst = 6 * CHUNK as u32;
        for i in 0..burst {
            slab.insert(SessionId(i), i);
        }
        for i in (0..burst).filter(|i| i % 3 != 0) {
            slab.remove(&SessionId(i));
        }
        let held = (burst / 3) as usize;
        assert_eq!(slab.len(), held);
        assert_eq!(slab.chunks.len(), held.div_ceil(CHUNK));
        check(&slab);
    }
}
