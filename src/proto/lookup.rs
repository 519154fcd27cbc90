//! [`Lookup`]: one iterative Kademlia FIND_NODE, as plain data.
//!
//! In: the seed contacts (the local table's closest), then, for each peer it asked,
//! [`Lookup::on_success`] with the contacts that peer returned or
//! [`Lookup::on_failure`]. Out: [`Lookup::next_peer`] names the next peer to ask, keeping at
//! most α requests in flight; [`Lookup::is_finished`] turns true once each of the k
//! closest peers seen has answered or failed, and [`Lookup::result`] gives them.
//!
//! Hops: seeds are at hop 0, and a contact first learned from a peer at hop h is at
//! hop h + 1. A lookup's hop count is the hop of the closest peer that answered: the
//! length of the chain of answers that led to it.

use std::collections::BTreeMap;

use super::id::{Distance, NodeId};
use super::wire::WireContact;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotContacted,
    Waiting,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    contact: WireContact,
    state: State,
    hop: u8,
}

/// The result of a finished lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupResult {
    /// The point looked up.
    pub target: NodeId,
    /// Up to k peers that answered, closest first.
    pub closest: Vec<WireContact>,
    /// Hops to the closest peer that answered (see the module docs).
    pub hops: u8,
    /// Requests sent.
    pub contacted: u32,
    /// Requests that failed.
    pub failed: u32,
}

/// One iterative lookup for `target`.
#[derive(Clone, Debug)]
pub struct Lookup {
    target: NodeId,
    local: NodeId,
    k: usize,
    alpha: usize,
    candidates: BTreeMap<Distance, Candidate>,
    in_flight: usize,
    contacted: u32,
    failed: u32,
    refilled: bool,
}

impl Lookup {
    /// A lookup for `target` by `local`, starting from `seeds`.
    pub fn new(
        target: NodeId,
        local: NodeId,
        k: usize,
        alpha: usize,
        seeds: impl IntoIterator<Item = WireContact>,
    ) -> Lookup {
        let mut lookup = Lookup {
            target,
            local,
            k: k.max(1),
            alpha: alpha.max(1),
            candidates: BTreeMap::new(),
            in_flight: 0,
            contacted: 0,
            failed: 0,
            refilled: false,
        };
        for seed in seeds {
            lookup.add(seed, 0);
        }
        lookup
    }

    /// The point looked up.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Adds `contact` unless it is the local node or already a candidate; returns
    /// whether it was new.
    fn add(&mut self, contact: WireContact, hop: u8) -> bool {
        if contact.id == self.local {
            return false;
        }
        let entry = self.candidates.entry(contact.id.distance(&self.target));
        let new = matches!(entry, std::collections::btree_map::Entry::Vacant(_));
        entry.or_insert(Candidate {
            contact,
            state: State::NotContacted,
            hop,
        });
        new
    }

    /// More seeds, once per lookup, for a lookup whose candidates ran out before k of
    /// them answered (its first seeds had gone silent). Returns how many were new; 0
    /// on a second call, so that a lookup cut off by a partition does not walk the
    /// whole table one timeout at a time.
    pub fn add_seeds(&mut self, seeds: impl IntoIterator<Item = WireContact>) -> usize {
        if std::mem::replace(&mut self.refilled, true) {
            return 0;
        }
        seeds.into_iter().filter(|s| self.add(*s, 0)).count()
    }

    /// Requests that failed so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// The next peer to ask, marked as asked; `None` when α requests are in flight or
    /// no peer among the k closest is left to ask.
    pub fn next_peer(&mut self) -> Option<WireContact> {
        if self.in_flight >= self.alpha {
            return None;
        }
        let mut window = 0;
        for candidate in self.candidates.values_mut() {
            if window >= self.k {
                return None;
            }
            match candidate.state {
                State::Failed => continue,
                State::Succeeded | State::Waiting => window += 1,
                State::NotContacted => {
                    candidate.state = State::Waiting;
                    self.in_flight += 1;
                    self.contacted += 1;
                    return Some(candidate.contact);
                }
            }
        }
        None
    }

    fn waiting(&mut self, id: &NodeId) -> Option<&mut Candidate> {
        let candidate = self.candidates.get_mut(&id.distance(&self.target))?;
        (candidate.state == State::Waiting).then_some(candidate)
    }

    /// `id` answered with `closer`. Ignored unless `id` was asked and has not answered.
    pub fn on_success(&mut self, id: &NodeId, closer: &[WireContact]) {
        let Some(candidate) = self.waiting(id) else {
            return;
        };
        candidate.state = State::Succeeded;
        let hop = candidate.hop.saturating_add(1);
        self.in_flight -= 1;
        for contact in closer {
            self.add(*contact, hop);
        }
    }

    /// Asking `id` failed. Ignored unless `id` was asked and has not answered.
    pub fn on_failure(&mut self, id: &NodeId) {
        let Some(candidate) = self.waiting(id) else {
            return;
        };
        candidate.state = State::Failed;
        self.in_flight -= 1;
        self.failed += 1;
    }

    /// Whether the lookup is over: nothing in flight and nobody among the k closest
    /// left to ask.
    pub fn is_finished(&self) -> bool {
        if self.in_flight > 0 {
            return false;
        }
        !self
            .candidates
            .values()
            .filter(|c| c.state != State::Failed)
            .take(self.k)
            .any(|c| c.state == State::NotContacted)
    }

    /// The outcome so far: the k closest that answered.
    pub fn result(&self) -> LookupResult {
        let answered: Vec<&Candidate> = self
            .candidates
            .values()
            .filter(|c| c.state == State::Succeeded)
            .take(self.k)
            .collect();
        LookupResult {
            target: self.target,
            closest: answered.iter().map(|c| c.contact).collect(),
            hops: answered.first().map_or(0, |c| c.hop),
            contacted: self.contacted,
            failed: self.failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn contact(last: u8) -> WireContact {
        let mut id = [0u8; 32];
        id[31] = last;
        WireContact {
            id: NodeId(id),
            addr: SocketAddr::from(([10, 0, 0, last], 7000)),
        }
    }

    #[test]
    fn keeps_alpha_in_flight_and_ends_when_the_k_closest_answered() {
        let local = contact(0xF0).id;
        let target = contact(0).id;
        let seeds = [contact(0x40), contact(0x41), contact(0x42), contact(0x43)];
        let mut lookup = Lookup::new(target, local, 2, 3, seeds);
        let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
        assert_eq!(asked.len(), 2, "only the k = 2 closest are worth asking");
        assert_eq!(asked, vec![contact(0x40), contact(0x41)]);
        // 0x40 knows closer nodes: they join the window and are asked next.
        lookup.on_success(&contact(0x40).id, &[contact(0x01), contact(0x02)]);
        assert_eq!(lookup.next_peer(), Some(contact(0x01)));
        assert_eq!(lookup.next_peer(), Some(contact(0x02)));
        assert_eq!(lookup.next_peer(), None, "alpha = 3 requests in flight");
        lookup.on_failure(&contact(0x41).id);
        lookup.on_success(&contact(0x01).id, &[]);
        assert!(!lookup.is_finished(), "0x02 has not answered");
        assert_eq!(
            lookup.next_peer(),
            None,
            "nobody else is among the k closest"
        );
        lookup.on_success(&contact(0x02).id, &[contact(0x01)]);
        assert!(lookup.is_finished());
        let result = lookup.result();
        assert_eq!(result.closest, vec![contact(0x01), contact(0x02)]);
        assert_eq!(result.hops, 1);
        assert_eq!((result.contacted, result.failed), (4, 1));
    }

    #[test]
    fn alpha_bounds_requests_in_flight() {
        let seeds = (1..=10).map(contact);
        let mut lookup = Lookup::new(contact(0).id, contact(0xFF).id, 20, 3, seeds);
        let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
        assert_eq!(asked.len(), 3);
        assert_eq!(lookup.in_flight(), 3);
        lookup.on_failure(&asked[0].id);
        assert!(lookup.next_peer().is_some());
    }

    #[test]
    fn answers_from_strangers_and_the_local_id_are_ignored() {
        let local = contact(0x05).id;
        let mut lookup = Lookup::new(contact(0).id, local, 20, 3, [contact(0x10)]);
        lookup.on_success(&contact(0x11).id, &[contact(0x01)]);
        assert_eq!(lookup.next_peer(), Some(contact(0x10)));
        lookup.on_success(&contact(0x10).id, &[contact(0x05)]);
        assert!(lookup.is_finished(), "its own id is never a candidate");
        assert!(Lookup::new(contact(0).id, local, 20, 3, []).is_finished());
    }
}
