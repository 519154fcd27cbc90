//! [`Buckets`]: the contents of a table's 256 buckets, stored only for buckets that
//! were ever used.
//!
//! Bucket `i` holds ids whose highest bit differing from the local id is bit `i`, so
//! in a swarm of N nodes only the ~log2(N) highest indices ever hold anything. An
//! unused bucket costs one bit here instead of a bucket's ~88 bytes: at 100,000 nodes
//! of 256 buckets that was 2 GB of empty vectors. (Refresh deadlines are kept by the
//! table for every bucket, used or not.)
//!
//! In: the index of the bucket to read ([`Buckets::get`]) or change
//! ([`Buckets::get_mut`], [`Buckets::get_or_store`]). Out: the bucket; an unused one
//! reads as empty. Once stored, a bucket stays stored.

use super::{Contact, NodeId, BUCKETS};

/// One k-bucket's contacts, replacement candidates and liveness check.
#[derive(Clone, Debug, Default)]
pub(super) struct Bucket {
    /// Least recently seen first.
    pub(super) contacts: Vec<Contact>,
    /// Most recently seen last.
    pub(super) replacements: Vec<Contact>,
    /// The contact a liveness check is running for.
    pub(super) checking: Option<NodeId>,
}

impl Bucket {
    /// Adds `contact` as the most recently seen, the bucket holding fewer than
    /// `capacity` contacts.
    pub(super) fn push_contact(&mut self, contact: Contact, capacity: usize) {
        push_capped(&mut self.contacts, contact, capacity);
    }

    /// Keeps `contact` as the newest candidate, dropping the oldest past `capacity`.
    pub(super) fn keep_replacement(&mut self, contact: Contact, capacity: usize) {
        if capacity == 0 {
            return;
        }
        if self.replacements.len() >= capacity {
            self.replacements.remove(0);
        }
        push_capped(&mut self.replacements, contact, capacity);
    }
}

/// Pushes onto a `Vec` that never holds more than `cap`: it grows by doubling, as a
/// `Vec` does, but never past `cap`, so a full k-bucket of 20 costs 20 places, not a
/// doubling `Vec`'s 32. Buckets and their replacement caches were about a fifth of
/// a node's memory, a third of that spare places.
fn push_capped(list: &mut Vec<Contact>, contact: Contact, cap: usize) {
    if list.len() == list.capacity() {
        let want = (list.len() * 2).max(4).min(cap).max(list.len() + 1);
        list.reserve_exact(want - list.len());
    }
    list.push(contact);
    debug_assert!(
        list.len() <= cap,
        "a bucket never holds more than its capacity"
    );
}

/// What every unused bucket reads as.
static EMPTY: Bucket = Bucket {
    contacts: Vec::new(),
    replacements: Vec::new(),
    checking: None,
};

/// Buckets 0..[`BUCKETS`], only the used ones in memory.
#[derive(Clone, Debug, Default)]
pub(super) struct Buckets {
    /// Bit `i` (of word `i / 64`) set when bucket `i` is stored.
    stored: [u64; BUCKETS / 64],
    /// The stored buckets, lowest index first; bucket `i` sits after as many as
    /// `stored` has bits below `i`.
    slots: Vec<Bucket>,
}

impl Buckets {
    /// Heap bytes of the stored buckets and their contact lists.
    pub(super) fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::vec;
        let lists: usize = self
            .slots
            .iter()
            .map(|bucket| vec(&bucket.contacts) + vec(&bucket.replacements))
            .sum();
        vec(&self.slots) + lists
    }

    /// Bucket `index` (empty if never used or out of range).
    pub(super) fn get(&self, index: usize) -> &Bucket {
        self.slot(index).map_or(&EMPTY, |slot| &self.slots[slot])
    }

    /// Bucket `index` to change, if it was ever used: an unused one holds nothing to
    /// change.
    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut Bucket> {
        self.slot(index).map(|slot| &mut self.slots[slot])
    }

    /// Bucket `index` (< [`BUCKETS`]) to change, stored from now on if it was not.
    pub(super) fn get_or_store(&mut self, index: usize) -> &mut Bucket {
        let slot = self.slots_below(index);
        if self.slot(index).is_none() {
            self.stored[index / 64] |= 1 << (index % 64);
            // Exactly one more: tables gain a bucket only a few dozen times.
            self.slots.reserve_exact(1);
            self.slots.insert(slot, Bucket::default());
        }
        &mut self.slots[slot]
    }

    /// The stored buckets, lowest index first (the unused ones hold nothing).
    pub(super) fn iter(&self) -> impl Iterator<Item = &Bucket> + '_ {
        self.slots.iter()
    }

    /// Where bucket `index` sits in `slots`, if stored.
    fn slot(&self, index: usize) -> Option<usize> {
        let is_stored = index < BUCKETS && self.stored[index / 64] >> (index % 64) & 1 == 1;
        is_stored.then(|| self.slots_below(index))
    }

    /// How many buckets below `index` (< [`BUCKETS`]) are stored.
    fn slots_below(&self, index: usize) -> usize {
        let (word, bit) = (index / 64, index % 64);
        let whole: u32 = self.stored[..word].iter().map(|w| w.count_ones()).sum();
        let part = (self.stored[word] & ((1u64 << bit) - 1)).count_ones();
        (whole + part) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::time::Time;

    fn contact(n: u8) -> Contact {
        Contact {
            id: NodeId([n; 32]),
            addr: ([10, 0, 0, n], 7000).into(),
            last_seen: Time::ZERO,
            failures: 0,
        }
    }

    #[test]
    fn full_buckets_and_caches_hold_no_spare_places() {
        let mut bucket = Bucket::default();
        for n in 0..20 {
            bucket.push_contact(contact(n), 20);
        }
        assert_eq!(
            bucket.contacts.capacity(),
            20,
            "a doubling Vec would hold 32"
        );
        for n in 0..45 {
            bucket.keep_replacement(contact(n), 20);
        }
        assert_eq!(bucket.replacements.len(), 20);
        assert_eq!(bucket.replacements.capacity(), 20);
        assert_eq!(
            bucket.replacements[0].id,
            NodeId([25; 32]),
            "the oldest went"
        );
        let mut none = Bucket::default();
        none.keep_replacement(contact(1), 0);
        assert!(none.replacements.is_empty());
    }
}
