//! [`Slab`]: where one node's handshakes and sessions live, by the number it chose.
//!
//! In: a slot to keep under a [`SessionId`], a number to look up or to drop. Out: the
//! slot. What holds: slots sit in one `Vec` that grows by a sixteenth at a time and reuses
//! the places of dropped slots, and a small map from number to place finds them. A
//! node holds hundreds of sessions for as long as the idle timeout: kept inline in a
//! `BTreeMap`, every slot costs its size over the map's fill factor (about 70% with
//! random keys), and a `Vec` that doubles costs up to twice its size; here a slot
//! costs its size, a few percent of spare places and the index's 8 bytes.
//!
//! The index is a sorted `Vec` of (number, place): a search reads one small array
//! (a few kilobytes at the session cap) where a B-tree's reads a node per level, and
//! an insert or removal moves at most that much, once per handshake.

use super::SessionId;

/// Slots by session number; iteration goes in number order, as a `BTreeMap`'s does.
#[derive(Debug)]
pub(super) struct Slab<T> {
    places: Vec<Option<T>>,
    /// Places of dropped slots, to be reused before the `Vec` grows.
    free: Vec<u32>,
    index: Vec<(SessionId, u32)>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            places: Vec::new(),
            free: Vec::new(),
            index: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Where `id` is, or would go, in `index`.
    fn find(&self, id: &SessionId) -> Result<usize, usize> {
        self.index.binary_search_by(|(number, _)| number.cmp(id))
    }

    pub(super) fn contains_key(&self, id: &SessionId) -> bool {
        self.find(id).is_ok()
    }

    pub(super) fn get(&self, id: &SessionId) -> Option<&T> {
        let place = self.place(id)?;
        self.places[place as usize].as_ref()
    }

    /// Where the slot numbered `id` sits: the same place until it is removed.
    pub(super) fn place(&self, id: &SessionId) -> Option<u32> {
        let at = self.find(id).ok()?;
        Some(self.index[at].1)
    }

    /// The slot at `place`, found with [`Slab::place`].
    pub(super) fn at(&self, place: u32) -> Option<&T> {
        self.places.get(place as usize)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: &SessionId) -> Option<&mut T> {
        let place = self.place(id)?;
        self.places[place as usize].as_mut()
    }

    /// Keeps `slot` under `id`; the slot it replaces, if any.
    pub(super) fn insert(&mut self, id: SessionId, slot: T) -> Option<T> {
        let at = match self.find(&id) {
            Ok(at) => return self.places[self.index[at].1 as usize].replace(slot),
            Err(at) => at,
        };
        let place = match self.free.pop() {
            Some(place) => {
                debug_assert!(self.places[place as usize].is_none());
                self.places[place as usize] = Some(slot);
                place
            }
            None => {
                if self.places.len() == self.places.capacity() {
                    // A sixteenth more at a time: a few percent spare instead of a
                    // doubling `Vec`'s quarter on average (half at worst), for a copy
                    // of the whole every sixteenth growth, cheap beside the handshake
                    // that adds a slot.
                    self.places.reserve_exact(self.places.len() / 16 + 8);
                }
                self.places.push(Some(slot));
                u32::try_from(self.places.len() - 1).expect("fewer than 2^32 slots")
            }
        };
        self.index.insert(at, (id, place));
        None
    }

    pub(super) fn remove(&mut self, id: &SessionId) -> Option<T> {
        let at = self.find(id).ok()?;
        let (_, place) = self.index.remove(at);
        let slot = self.places[place as usize].take();
        debug_assert!(slot.is_some(), "an indexed place holds a slot");
        if place as usize + 1 == self.places.len() {
            self.places.pop();
        } else {
            self.free.push(place);
        }
        slot
    }

    /// Every slot with its number, in number order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (SessionId, &T)> + '_ {
        self.index.iter().map(|&(id, place)| {
            let slot = self.places[place as usize]
                .as_ref()
                .expect("an indexed place holds a slot");
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
        assert_eq!(slab.places.len(), 4, "the dropped place was reused");
        assert_eq!(slab.remove(&SessionId(3)), Some(30), "the last place");
        assert_eq!(slab.places.len(), 3, "a dropped last place is given back");
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
}
