//! [`Slab`]: where one node's handshakes and sessions live, by the number it chose.
//!
//! In: a slot to keep under a [`SessionId`], a number to look up or to drop. Out: the
//! slot. What holds: slots sit in chunks of [`CHUNK`] places that are allocated once
//! and never move, the places of dropped slots are reused, and a small map from number
//! to place finds them. A node holds hundreds of sessions for as long as the idle
//! timeout: kept inline in a `BTreeMap`, every slot costs its size over the map's fill
//! factor (about 70% with random keys), and a `Vec` that doubles costs up to twice its
//! size and copies every slot at each doubling; here a slot costs its size, at most one
//! chunk's spare places and the index's 8 bytes, and a slot is never copied.
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
    /// Places of dropped slots, to be reused before the `Vec` grows.
    free: Vec<u32>,
    index: Vec<(SessionId, u32)>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
            index: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Places in use or free: one past the last place.
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
        let place = match self.free.pop() {
            Some(place) => {
                let free = self.slot_mut(place);
                debug_assert!(free.is_none());
                *free = Some(slot);
                place
            }
            None => {
                let place = u32::try_from(self.len()).expect("fewer than 2^32 slots");
                match self.chunks.last_mut() {
                    Some(last) if last.len() < CHUNK => last.push(Some(slot)),
                    _ => {
                        let mut chunk = Vec::with_capacity(CHUNK);
                        chunk.push(Some(slot));
                        self.chunks.push(chunk);
                    }
                }
                place
            }
        };
        self.index.insert(at, (id, place));
        None
    }

    pub(super) fn remove(&mut self, id: &SessionId) -> Option<T> {
        let at = self.find(id).ok()?;
        let (_, place) = self.index.remove(at);
        let slot = self.slot_mut(place).take();
        debug_assert!(slot.is_some(), "an indexed place holds a slot");
        self.free.push(place);
        if place as usize + 1 == self.len() {
            // Give back the free places at the end, this one and any before it.
            while let Some(last) = self.chunks.last_mut() {
                if last.last().is_some_and(Option::is_some) {
                    break;
                }
                last.pop();
                if last.is_empty() {
                    self.chunks.pop();
                }
            }
            let len = self.len() as u32;
            self.free.retain(|&free| free < len);
        }
        slot
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

    #[test]
    fn places_are_reused_and_iteration_goes_in_number_order() {
        let mut slab = Slab::default();
        for n in [5u32, 1, 9, 3] {
            assert!(slab.insert(SessionId(n), n * 10).is_none());
        }
        assert_eq!(slab.insert(SessionId(9), 91), Some(90));
        assert_eq!(slab.remove(&SessionId(1)), Some(10));
        assert_eq!(slab.remove(&SessionId(1)), None);
        assert!(slab.insert(SessionId(7), 70).is_none());
        assert_eq!(slab.len(), 4, "the dropped place was reused");
        assert_eq!(slab.remove(&SessionId(3)), Some(30), "the last place");
        assert_eq!(slab.len(), 3, "a dropped last place is given back");
        let all: Vec<_> = slab.iter().map(|(id, &v)| (id.0, v)).collect();
        assert_eq!(all, [(5, 50), (7, 70), (9, 91)]);
        assert_eq!(slab.get(&SessionId(7)), Some(&70));
        *slab.get_mut(&SessionId(7)).unwrap() += 1;
        assert_eq!(slab.get(&SessionId(7)), Some(&71));
        assert!(!slab.contains_key(&SessionId(3)));
        let place = slab.place(&SessionId(5)).unwrap();
        assert_eq!(slab.at(place), Some(&50));
        slab.remove(&SessionId(9));
        slab.insert(SessionId(2), 20);
        assert_eq!(
            slab.place(&SessionId(5)),
            Some(place),
            "slots stay where they are"
        );
    }

    #[test]
    fn slots_across_chunks_stay_put_and_the_tail_is_given_back() {
        let mut slab = Slab::default();
        let n = 2 * CHUNK as u32 + 5;
        for i in 0..n {
            slab.insert(SessionId(i), i);
        }
        assert_eq!(slab.chunks.len(), 3);
        let place = slab.place(&SessionId(40)).unwrap();
        for i in (0..n).filter(|i| i % 3 == 0) {
            assert_eq!(slab.remove(&SessionId(i)), Some(i));
        }
        assert_eq!(slab.place(&SessionId(40)), Some(place));
        assert_eq!(slab.get(&SessionId(40)), Some(&40));
        for i in n..n + 10 {
            slab.insert(SessionId(i), i);
        }
        assert_eq!(slab.len(), n as usize, "freed places were reused first");
        let all: Vec<u32> = slab.iter().map(|(_, &v)| v).collect();
        let expected: Vec<u32> = (0..n + 10).filter(|i| i % 3 != 0 || *i >= n).collect();
        assert_eq!(all, expected);
        for i in (0..n + 10).rev() {
            slab.remove(&SessionId(i));
        }
        assert_eq!(slab.len(), 0);
        assert!(slab.chunks.is_empty(), "emptied chunks are freed");
    }
}
