//! [`Lookup`]: one iterative Kademlia FIND_NODE, as plain data.
//!
//! In: the target, a [`Goal`], the seed contacts (the local table's closest), then, for
//! each peer it asked, [`Lookup::on_success`] with the contacts that peer returned or
//! [`Lookup::on_failure`], and [`Lookup::on_stalled`] for a peer whose request went
//! unanswered past its first wait. Out: [`Lookup::next_peer`] names the next peer to
//! ask, keeping at most α requests in flight; [`Lookup::is_finished`] turns true when
//! the goal is met, and [`Lookup::result`] gives the closest peers that answered, the
//! hop count and whether the target itself answered.
//!
//! Two goals, on purpose:
//!
//! - [`Goal::Node`] (a user's FIND_NODE, FIND_PEER): over as soon as the node whose id is
//!   the target answers, as go-libp2p's FindPeer is. Its answer came in a session, so it
//!   has proved its key; nobody else can answer for it. Requests still in flight then no
//!   longer matter. A target that never answers (absent, or gone) ends the lookup as
//!   [`Goal::Closest`] does, reported not found.
//! - [`Goal::Closest`] (bootstrap, bucket refresh, record puts and gets, announce and topic
//!   lookups): over once each of the k closest peers seen has answered or failed, and
//!   nothing is in flight (stalled peers skipped, see below). Records live on the k
//!   closest, so these need all of them.
//!
//! Stalled peers, as rust-libp2p's queries have them: a peer still silent when its
//! request's first wait ran out (the caller says when: the RPC layer's measured wait)
//! no longer holds one of the α places, nor a place among the k closest, so the lookup
//! asks the next candidate instead of waiting through every retry. A stalled peer is
//! not failed: if it answers while the lookup runs, its answer counts. A lookup does
//! not wait for stalled peers to end, with one exception: a [`Goal::Node`] lookup whose
//! target itself is stalled waits for it, since only the target can meet that goal and
//! a lost datagram is the likely reason. Silent peers are what hostile ones are
//! (droppers answer nothing; contacts a liar invented at a real node's address never
//! finish their handshake), and on a lossy network a resend usually answers soon after.
//!
//! One candidate per address block (the eclipse defence, on unless the caller turns it
//! off with [`Lookup::new`]'s `blocks`): many identities behind one address (or one
//! IPv6 prefix) can be ground near any key, and once they are "the k closest" a lookup
//! would ask only them and they answer only with each other. So a lookup keeps at most
//! one candidate of each [`IpBlock`] (cut with the prefix lengths the routing table
//! uses for its own per-block limits): the first of a block it hears of, replaced by
//! a closer one of the same block as long as it has not been asked; any other is
//! skipped and counted ([`Lookup::skipped`]). A block thus costs one request at a
//! time, and the k closest window holds k different blocks. A candidate that fails or
//! stalls frees its block for the next one heard of: otherwise a liar could invent ids
//! at honest nodes' addresses and keep those nodes out of every lookup it answers. Candidates without a block
//! (loopback) are never limited, nor is the node whose id is the target, which only
//! it can be.
//!
//! Disjoint paths ([`Lookup::disjoint`], off unless the caller asks; S/Kademlia's, and
//! rust-libp2p's `disjoint_query_paths`): the seeds are dealt, closest first, to d
//! paths in turn; a contact learned from a peer joins that peer's path unless another
//! path knows it already, so each peer serves one path at most. Each path keeps α
//! requests in flight and its own k closest window, and the lookup is over once every
//! path is. The result holds each path's k closest that answered, so a record read
//! asks, and a write stores at, every path's closest: a read succeeds if any path led
//! to the value. Cost: up to d times the requests.
//!
//! Hops: seeds are at hop 0, and a contact first learned from a peer at hop h is at
//! hop h + 1. A lookup's hop count is the hop of the closest peer that answered: the
//! length of the chain of answers that led to it.

use std::collections::BTreeMap;

use super::id::{Distance, NodeId};
use super::table::IpBlock;
use super::wire::WireContact;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotContacted,
    Waiting,
    /// Asked, silent past its first wait, and no longer waited for (see the module
    /// docs); its request still runs.
    Stalled,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    contact: WireContact,
    state: State,
    hop: u8,
    /// The disjoint path it belongs to (0 without disjoint paths).
    path: u8,
}

/// What ends a [`Lookup`] (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Find the node whose id is the target: over as soon as it answers; if it never
    /// does, over as [`Goal::Closest`] is, and not found.
    Node,
    /// Find the k nodes closest to the target: over once each of the k closest seen has
    /// answered or failed (stalled ones skipped).
    Closest,
}

/// The result of a finished lookup.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LookupResult {
    /// The point looked up.
    pub target: NodeId,
    /// Up to k peers that answered (k on each disjoint path), closest first. A
    /// [`Goal::Node`] lookup that found its target holds those that had answered by
    /// then, the target first.
    pub closest: Vec<WireContact>,
    /// Whether the node whose id is the target answered (it is then `closest[0]`).
    pub found: bool,
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
    goal: Goal,
    /// Whether the target itself answered.
    found: bool,
    candidates: BTreeMap<Distance, Candidate>,
    in_flight: usize,
    /// Requests in flight and waited for, by path.
    path_in_flight: Vec<usize>,
    /// The path [`Lookup::next_peer`] looks at first.
    turn: usize,
    contacted: u32,
    failed: u32,
    refilled: bool,
    /// The IPv4 and IPv6 prefix lengths of the one-candidate-per-block rule; `None`:
    /// no rule.
    blocks: Option<(u8, u8)>,
    /// The candidate each block holds, by its distance.
    held: BTreeMap<IpBlock, Distance>,
    /// Candidates skipped for a block that held one already.
    skipped: u32,
}

impl Lookup {
    /// Heap bytes of its candidates.
    pub fn heap_bytes(&self) -> usize {
        crate::proto::footprint::btree::<Distance, Candidate>(self.candidates.len())
            + crate::proto::footprint::btree::<IpBlock, Distance>(self.held.len())
    }

    /// A lookup for `target` by `local`, starting from `seeds`, that ends on `goal`;
    /// with `blocks` (the IPv4 and IPv6 prefix lengths of an address block), one
    /// candidate per block (see the module docs).
    pub fn new(
        target: NodeId,
        local: NodeId,
        k: usize,
        alpha: usize,
        goal: Goal,
        blocks: Option<(u8, u8)>,
        seeds: impl IntoIterator<Item = WireContact>,
    ) -> Lookup {
        let mut lookup = Lookup {
            target,
            local,
            k: k.max(1),
            alpha: alpha.max(1),
            goal,
            found: false,
            candidates: BTreeMap::new(),
            in_flight: 0,
            path_in_flight: vec![0],
            turn: 0,
            contacted: 0,
            failed: 0,
            refilled: false,
            blocks,
            held: BTreeMap::new(),
            skipped: 0,
        };
        for seed in seeds {
            lookup.add(seed, 0, 0);
        }
        lookup
    }

    /// The same lookup over `paths` disjoint paths (see the module docs; 1: one path,
    /// as without), its seeds dealt to them closest first.
    pub fn disjoint(mut self, paths: usize) -> Lookup {
        let paths = paths.clamp(1, usize::from(u8::MAX));
        self.path_in_flight = vec![0; paths];
        for (i, candidate) in self.candidates.values_mut().enumerate() {
            // Below u8::MAX: paths is.
            candidate.path = (i % paths) as u8;
        }
        self
    }

    /// How many disjoint paths it walks.
    fn paths(&self) -> usize {
        self.path_in_flight.len()
    }

    /// The point looked up.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// What ends it.
    pub fn goal(&self) -> Goal {
        self.goal
    }

    /// Whether the node whose id is the target answered.
    pub fn found(&self) -> bool {
        self.found
    }

    /// Whether a [`Goal::Node`] lookup met its goal: nothing more to ask.
    fn found_its_node(&self) -> bool {
        self.goal == Goal::Node && self.found
    }

    /// Requests in flight and still waited for (stalled ones not counted).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Candidates skipped because their address block held one already (see the
    /// module docs).
    pub fn skipped(&self) -> u32 {
        self.skipped
    }

    /// Adds `contact` unless it is the local node, already a candidate, or of a block
    /// that holds another candidate (see the module docs); returns whether it was new.
    fn add(&mut self, contact: WireContact, hop: u8, path: u8) -> bool {
        if contact.id == self.local {
            return false;
        }
        let distance = contact.id.distance(&self.target);
        if self.candidates.contains_key(&distance) || !self.block_admits(&contact, distance) {
            return false;
        }
        self.candidates.insert(
            distance,
            Candidate {
                contact,
                state: State::NotContacted,
                hop,
                path,
            },
        );
        true
    }

    /// Whether the one-candidate-per-block rule lets `contact`, at `distance`, in; if
    /// it replaces a farther candidate of its block not asked yet, that one goes.
    fn block_admits(&mut self, contact: &WireContact, distance: Distance) -> bool {
        let Some((v4, v6)) = self.blocks else {
            return true;
        };
        if contact.id == self.target {
            return true;
        }
        let Some(block) = IpBlock::of(&contact.addr, v4, v6) else {
            return true;
        };
        let Some(&held) = self.held.get(&block) else {
            self.held.insert(block, distance);
            return true;
        };
        let replaceable = distance < held
            && self
                .candidates
                .get(&held)
                .is_some_and(|c| c.state == State::NotContacted);
        self.skipped += 1;
        if replaceable {
            self.candidates.remove(&held);
            self.held.insert(block, distance);
        }
        replaceable
    }

    /// More seeds, once per lookup, for a lookup whose candidates ran out before k of
    /// them answered (its first seeds had gone silent). Returns how many were new; 0
    /// on a second call, so that a lookup cut off by a partition does not walk the
    /// whole table one timeout at a time.
    pub fn add_seeds(&mut self, seeds: impl IntoIterator<Item = WireContact>) -> usize {
        if std::mem::replace(&mut self.refilled, true) {
            return 0;
        }
        let paths = self.paths();
        let mut added = 0;
        for seed in seeds {
            // Below u8::MAX: paths is.
            if self.add(seed, 0, (added % paths) as u8) {
                added += 1;
            }
        }
        added
    }

    /// Requests that failed so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// Peers that failed or are stalled now: those a finished lookup did not hear
    /// from, and so how many more seeds it may need (see [`Lookup::add_seeds`]).
    pub fn silent(&self) -> usize {
        let stalled = self
            .candidates
            .values()
            .filter(|c| c.state == State::Stalled)
            .count();
        self.failed as usize + stalled
    }

    /// The next peer to ask, marked as asked; `None` when α requests are in flight on
    /// every path, no peer among any path's k closest is left to ask, or a
    /// [`Goal::Node`] lookup found its target. Paths take turns.
    pub fn next_peer(&mut self) -> Option<WireContact> {
        if self.found_its_node() {
            return None;
        }
        let paths = self.paths();
        for step in 0..paths {
            let path = (self.turn + step) % paths;
            if self.path_in_flight[path] >= self.alpha {
                continue;
            }
            if let Some(contact) = self.next_on(path) {
                self.turn = (path + 1) % paths;
                return Some(contact);
            }
        }
        None
    }

    /// The next peer of `path` to ask, marked as asked.
    fn next_on(&mut self, path: usize) -> Option<WireContact> {
        let mut window = 0;
        let on_path = self
            .candidates
            .values_mut()
            .filter(|c| usize::from(c.path) == path);
        for candidate in on_path {
            if window >= self.k {
                return None;
            }
            match candidate.state {
                State::Failed | State::Stalled => continue,
                State::Succeeded | State::Waiting => window += 1,
                State::NotContacted => {
                    // The only way into `Waiting`, and no state leads back: a lookup
                    // asks each peer once at most.
                    candidate.state = State::Waiting;
                    self.in_flight += 1;
                    self.path_in_flight[path] += 1;
                    self.contacted += 1;
                    return Some(candidate.contact);
                }
            }
        }
        None
    }

    /// The candidate `id`, if it was asked and has not answered or failed (stalled
    /// ones included); it leaves the α in flight unless it had stalled.
    fn answering(&mut self, id: &NodeId) -> Option<&mut Candidate> {
        let candidate = self.candidates.get_mut(&id.distance(&self.target))?;
        match candidate.state {
            State::Waiting => {
                self.in_flight -= 1;
                self.path_in_flight[usize::from(candidate.path)] -= 1;
            }
            State::Stalled => {}
            _ => return None,
        }
        Some(candidate)
    }

    /// `id` answered with `closer`. Ignored unless `id` was asked and has not answered;
    /// a stalled peer's answer counts.
    pub fn on_success(&mut self, id: &NodeId, closer: &[WireContact]) {
        let Some(candidate) = self.answering(id) else {
            return;
        };
        candidate.state = State::Succeeded;
        let (hop, path) = (candidate.hop.saturating_add(1), candidate.path);
        self.found |= *id == self.target;
        for contact in closer {
            self.add(*contact, hop, path);
        }
    }

    /// Asking `id` failed. Ignored unless `id` was asked and has not answered.
    pub fn on_failure(&mut self, id: &NodeId) {
        let Some(candidate) = self.answering(id) else {
            return;
        };
        candidate.state = State::Failed;
        let addr = candidate.contact.addr;
        self.failed += 1;
        self.release_block(&addr, id);
    }

    /// The candidate `id` at `addr` failed or stalled: its block may take another
    /// candidate (see the module docs).
    fn release_block(&mut self, addr: &std::net::SocketAddr, id: &NodeId) {
        let Some((v4, v6)) = self.blocks else {
            return;
        };
        let Some(block) = IpBlock::of(addr, v4, v6) else {
            return;
        };
        if self.held.get(&block) == Some(&id.distance(&self.target)) {
            self.held.remove(&block);
        }
    }

    /// Whether `id` was asked, stalled, and has not answered or failed since.
    pub fn is_stalled(&self, id: &NodeId) -> bool {
        self.candidates
            .get(&id.distance(&self.target))
            .is_some_and(|c| c.state == State::Stalled)
    }

    /// `id` has not answered within its request's first wait: it stops holding one of
    /// the α places and a place among the k closest, and the lookup asks another peer
    /// (see the module docs). Ignored unless `id` was asked and is still waited for;
    /// returns whether it was.
    pub fn on_stalled(&mut self, id: &NodeId) -> bool {
        let Some(candidate) = self.candidates.get_mut(&id.distance(&self.target)) else {
            return false;
        };
        if candidate.state != State::Waiting {
            return false;
        }
        candidate.state = State::Stalled;
        self.in_flight -= 1;
        self.path_in_flight[usize::from(candidate.path)] -= 1;
        let addr = candidate.contact.addr;
        self.release_block(&addr, id);
        true
    }

    /// Whether the lookup is over: a [`Goal::Node`] lookup's target answered (requests
    /// may still be in flight: their answers no longer matter), or nothing is in flight
    /// and nobody among the k closest is left to ask. Stalled peers are not waited for,
    /// except a [`Goal::Node`] lookup's stalled target.
    pub fn is_finished(&self) -> bool {
        if self.found_its_node() {
            return true;
        }
        if self.in_flight > 0 || self.target_stalled() {
            return false;
        }
        !(0..self.paths()).any(|path| {
            self.candidates
                .values()
                .filter(|c| usize::from(c.path) == path)
                .filter(|c| !matches!(c.state, State::Failed | State::Stalled))
                .take(self.k)
                .any(|c| c.state == State::NotContacted)
        })
    }

    /// Whether a [`Goal::Node`] lookup's target was asked and is stalled.
    fn target_stalled(&self) -> bool {
        self.goal == Goal::Node && self.is_stalled(&self.target)
    }

    /// The outcome so far: the k closest that answered (on each disjoint path), and
    /// whether the target did.
    pub fn result(&self) -> LookupResult {
        let mut taken = vec![0; self.paths()];
        let answered: Vec<&Candidate> = self
            .candidates
            .values()
            .filter(|c| c.state == State::Succeeded)
            .filter(|c| {
                let taken = &mut taken[usize::from(c.path)];
                *taken += 1;
                *taken <= self.k
            })
            .collect();
        LookupResult {
            target: self.target,
            closest: answered.iter().map(|c| c.contact).collect(),
            found: self.found,
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

    /// The table's default prefix lengths: one block per IPv4 address.
    const BLOCKS: Option<(u8, u8)> = Some((32, 64));

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
        let mut lookup = Lookup::new(target, local, 2, 3, Goal::Closest, BLOCKS, seeds);
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
        let mut lookup = Lookup::new(
            contact(0).id,
            contact(0xFF).id,
            20,
            3,
            Goal::Closest,
            BLOCKS,
            seeds,
        );
        let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
        assert_eq!(asked.len(), 3);
        assert_eq!(lookup.in_flight(), 3);
        lookup.on_failure(&asked[0].id);
        assert!(lookup.next_peer().is_some());
    }

    #[test]
    fn answers_from_strangers_and_the_local_id_are_ignored() {
        let local = contact(0x05).id;
        let mut lookup = Lookup::new(
            contact(0).id,
            local,
            20,
            3,
            Goal::Closest,
            BLOCKS,
            [contact(0x10)],
        );
        lookup.on_success(&contact(0x11).id, &[contact(0x01)]);
        assert_eq!(lookup.next_peer(), Some(contact(0x10)));
        lookup.on_success(&contact(0x10).id, &[contact(0x05)]);
        assert!(lookup.is_finished(), "its own id is never a candidate");
        assert!(Lookup::new(contact(0).id, local, 20, 3, Goal::Closest, BLOCKS, []).is_finished());
    }

    /// A made-up swarm of the nodes `contact(n)` for `n` in `ids`: node n answers with
    /// the nodes n/2 to n/2 + 3, so that a walk toward `contact(0)` halves its distance
    /// each hop, and the nodes below 16, the neighbourhood of node 0, know node 0 too.
    /// Answers come back in the order asked.
    fn walk(lookup: &mut Lookup, ids: std::ops::RangeInclusive<u8>) -> LookupResult {
        let mut asked = std::collections::VecDeque::new();
        while !lookup.is_finished() {
            asked.extend(std::iter::from_fn(|| lookup.next_peer()));
            let peer: WireContact = asked.pop_front().expect("a request in flight");
            let n = peer.id.0[31];
            if ids.contains(&n) {
                let neighbour = (n < 16).then_some(0);
                let known: Vec<_> = (n / 2..=n / 2 + 3)
                    .chain(neighbour)
                    .filter(|m| *m != n && ids.contains(m))
                    .map(contact)
                    .collect();
                lookup.on_success(&peer.id, &known);
            } else {
                lookup.on_failure(&peer.id);
            }
        }
        lookup.result()
    }

    #[test]
    fn finding_a_node_stops_as_soon_as_it_answers() {
        let (local, target) = (contact(0xFF).id, contact(0).id);
        let seeds = || (120..=127).map(contact);
        let mut find = Lookup::new(target, local, 8, 3, Goal::Node, BLOCKS, seeds());
        let mut closest = Lookup::new(target, local, 8, 3, Goal::Closest, BLOCKS, seeds());
        let found = walk(&mut find, 0..=127);
        let walked = walk(&mut closest, 0..=127);

        assert!(found.found && walked.found);
        assert_eq!(found.closest[0], contact(0), "the target comes first");
        assert_eq!(
            found.hops, walked.hops,
            "the same chain of answers led to it"
        );
        assert!(
            found.contacted < walked.contacted,
            "finding the node asked {} peers, the k closest {}",
            found.contacted,
            walked.contacted
        );
        assert!(find.in_flight() > 0, "it did not wait for the others");
        assert_eq!(find.next_peer(), None, "and asks nobody more");
        // The k closest lookup went on until the 8 closest had answered.
        let ids: Vec<_> = walked.closest.iter().map(|c| c.id.0[31]).collect();
        assert_eq!(ids, (0..8).collect::<Vec<_>>());
        assert_eq!(closest.in_flight(), 0);
    }

    #[test]
    fn finding_an_absent_node_walks_to_the_k_closest_and_reports_not_found() {
        let (local, target) = (contact(0xFF).id, contact(0).id);
        let seeds = || (120..=127).map(contact);
        let mut find = Lookup::new(target, local, 8, 3, Goal::Node, BLOCKS, seeds());
        let mut closest = Lookup::new(target, local, 8, 3, Goal::Closest, BLOCKS, seeds());
        let absent = walk(&mut find, 1..=127);
        let walked = walk(&mut closest, 1..=127);

        assert!(!absent.found);
        assert_eq!(absent, walked, "the same walk, the same answer");
        let ids: Vec<_> = absent.closest.iter().map(|c| c.id.0[31]).collect();
        assert_eq!(ids, (1..9).collect::<Vec<_>>());
    }

    #[test]
    fn a_target_that_fails_is_not_found() {
        let (local, target) = (contact(0xFF).id, contact(0).id);
        let mut find = Lookup::new(
            target,
            local,
            2,
            3,
            Goal::Node,
            BLOCKS,
            [contact(0), contact(1)],
        );
        assert_eq!(find.next_peer(), Some(contact(0)));
        assert_eq!(find.next_peer(), Some(contact(1)));
        find.on_failure(&contact(0).id);
        assert!(!find.is_finished());
        find.on_success(&contact(1).id, &[contact(0)]);
        assert!(find.is_finished());
        let result = find.result();
        assert!(!result.found);
        assert_eq!(result.closest, vec![contact(1)]);
    }

    #[test]
    fn a_stalled_peer_gives_up_its_place_and_its_late_answer_still_counts() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        let seeds = [contact(0x40), contact(0x41), contact(0x42)];
        let mut lookup = Lookup::new(target, local, 2, 1, Goal::Closest, BLOCKS, seeds);
        assert_eq!(lookup.next_peer(), Some(contact(0x40)));
        assert_eq!(lookup.next_peer(), None, "alpha = 1");
        assert!(lookup.on_stalled(&contact(0x40).id));
        assert!(!lookup.on_stalled(&contact(0x40).id), "stalled once");
        assert!(lookup.is_stalled(&contact(0x40).id));
        // Its place in flight and among the k = 2 closest goes to the next peers.
        assert_eq!(lookup.next_peer(), Some(contact(0x41)));
        lookup.on_success(&contact(0x41).id, &[]);
        assert_eq!(lookup.next_peer(), Some(contact(0x42)));
        // The stalled peer answers after all, with a closer node: both count.
        lookup.on_success(&contact(0x40).id, &[contact(0x01)]);
        assert!(!lookup.is_stalled(&contact(0x40).id));
        assert_eq!(lookup.in_flight(), 1, "0x42 alone is in flight");
        assert_eq!(lookup.next_peer(), None);
        lookup.on_success(&contact(0x42).id, &[]);
        assert_eq!(lookup.next_peer(), Some(contact(0x01)));
        lookup.on_success(&contact(0x01).id, &[]);
        assert!(lookup.is_finished());
        assert_eq!(lookup.result().closest, vec![contact(0x01), contact(0x40)]);
    }

    #[test]
    fn a_lookup_of_the_k_closest_does_not_wait_for_stalled_peers() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        let seeds = [contact(0x40), contact(0x41), contact(0x42)];
        let mut lookup = Lookup::new(target, local, 2, 3, Goal::Closest, BLOCKS, seeds);
        let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
        assert_eq!(asked, vec![contact(0x40), contact(0x41)]);
        lookup.on_stalled(&contact(0x40).id);
        assert_eq!(lookup.next_peer(), Some(contact(0x42)));
        lookup.on_success(&contact(0x41).id, &[]);
        assert!(!lookup.is_finished(), "0x42 is waited for");
        lookup.on_success(&contact(0x42).id, &[]);
        assert!(
            lookup.is_finished(),
            "0x40's request still runs; not waited for"
        );
        let result = lookup.result();
        assert_eq!(result.closest, vec![contact(0x41), contact(0x42)]);
        assert_eq!((result.contacted, result.failed), (3, 0));
        assert_eq!(lookup.silent(), 1, "0x40 counts among the silent");
        // A stalled peer that then fails is counted failed, and silent once.
        lookup.on_failure(&contact(0x40).id);
        assert_eq!(lookup.result().failed, 1);
        assert_eq!(lookup.silent(), 1);
    }

    #[test]
    fn a_lookup_whose_seeds_all_stall_ends_empty_and_asks_for_as_many_more() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        let mut lookup = Lookup::new(
            target,
            local,
            2,
            2,
            Goal::Closest,
            BLOCKS,
            [contact(1), contact(2)],
        );
        while lookup.next_peer().is_some() {}
        lookup.on_stalled(&contact(1).id);
        lookup.on_stalled(&contact(2).id);
        assert!(lookup.is_finished() && lookup.result().closest.is_empty());
        // Nodes that left before the table evicted them: the caller seeds again with
        // the table's k + silent closest, and the walk goes on.
        assert_eq!(lookup.silent(), 2);
        assert_eq!(lookup.add_seeds([contact(1), contact(2), contact(3)]), 1);
        assert_eq!(lookup.next_peer(), Some(contact(3)));
        lookup.on_success(&contact(3).id, &[]);
        assert!(lookup.is_finished());
        assert_eq!(lookup.result().closest, vec![contact(3)]);
    }

    #[test]
    fn a_lookup_for_a_node_waits_for_its_stalled_target() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        let seeds = || [contact(0), contact(1)];
        let mut find = Lookup::new(target, local, 2, 3, Goal::Node, BLOCKS, seeds());
        assert_eq!(find.next_peer(), Some(contact(0)));
        assert_eq!(find.next_peer(), Some(contact(1)));
        find.on_stalled(&contact(0).id);
        find.on_success(&contact(1).id, &[contact(0)]);
        assert!(!find.is_finished(), "only the target can meet the goal");
        find.on_success(&contact(0).id, &[]);
        assert!(find.is_finished() && find.found());

        // A target that stalls, then fails: not found.
        let mut find = Lookup::new(target, local, 2, 3, Goal::Node, BLOCKS, seeds());
        while find.next_peer().is_some() {}
        find.on_stalled(&contact(0).id);
        find.on_success(&contact(1).id, &[]);
        assert!(!find.is_finished());
        find.on_failure(&contact(0).id);
        assert!(find.is_finished() && !find.found());
    }

    /// Node `last`'s id behind the one address 10.9.9.9, each on its own port.
    fn sybil(last: u8) -> WireContact {
        let addr = SocketAddr::from(([10, 9, 9, 9], 7000 + u16::from(last)));
        WireContact {
            id: contact(last).id,
            addr,
        }
    }

    #[test]
    fn identities_behind_one_address_take_one_place_among_the_k_closest() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        let honest = [0x40, 0x41, 0x42, 0x43].map(contact);
        let sybils: Vec<_> = (1..=8).map(sybil).collect();
        // Sybils answer with each other, closer than anybody honest; honest nodes
        // answer with the honest nodes.
        let run = |blocks| {
            let seeds = [sybil(0x08), honest[0]];
            let mut lookup = Lookup::new(target, local, 4, 1, Goal::Closest, blocks, seeds);
            while let Some(peer) = lookup.next_peer() {
                let answer = if peer.addr.ip() == sybil(0).addr.ip() {
                    &sybils[..]
                } else {
                    &honest[..]
                };
                lookup.on_success(&peer.id, answer);
            }
            assert!(lookup.is_finished());
            (lookup.result().closest, lookup.skipped())
        };
        let (eclipsed, skipped) = run(None);
        assert_eq!(eclipsed, (1..=4).map(sybil).collect::<Vec<_>>());
        assert_eq!(skipped, 0);
        let (closest, skipped) = run(BLOCKS);
        assert_eq!(
            closest,
            vec![sybil(0x08), honest[0], honest[1], honest[2]],
            "one place for the block, the rest for honest nodes"
        );
        assert_eq!(skipped, 7, "0x01 to 0x07: their block was asked already");
    }

    #[test]
    fn a_closer_candidate_of_a_block_replaces_one_not_asked_yet() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        let seeds = [sybil(0x08), sybil(0x02), sybil(0x04)];
        let mut lookup = Lookup::new(target, local, 4, 3, Goal::Closest, BLOCKS, seeds);
        assert_eq!(
            lookup.skipped(),
            2,
            "0x08 gave way to 0x02; 0x04 is farther"
        );
        assert_eq!(lookup.next_peer(), Some(sybil(0x02)));
        assert_eq!(lookup.next_peer(), None, "nobody else of the block");
        // The target itself is never limited, and loopback has no block.
        let loopback = |last: u8| WireContact {
            id: contact(last).id,
            addr: SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(last))),
        };
        lookup.on_success(
            &sybil(0x02).id,
            &[sybil(0x00), loopback(0x05), loopback(0x06)],
        );
        let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
        assert_eq!(asked, vec![sybil(0x00), loopback(0x05), loopback(0x06)]);
        assert_eq!(lookup.skipped(), 2);
    }

    #[test]
    fn disjoint_paths_keep_a_path_that_never_met_an_attacker() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        // Attackers each at an address of their own: no block rule stops them.
        let attacker = |last: u8| WireContact {
            id: contact(last).id,
            addr: SocketAddr::from(([10, 9, 9, last], 7000)),
        };
        let attackers: Vec<_> = (1..=8).map(attacker).collect();
        let honest = [0x40, 0x41, 0x42, 0x43].map(contact);
        let run = |paths| {
            let seeds = [attacker(0x08), honest[0]];
            let mut lookup =
                Lookup::new(target, local, 4, 1, Goal::Closest, BLOCKS, seeds).disjoint(paths);
            let mut asked = Vec::new();
            while let Some(peer) = lookup.next_peer() {
                asked.push(peer);
                let answer = if attackers.contains(&peer) {
                    &attackers[..]
                } else {
                    &honest[..]
                };
                lookup.on_success(&peer.id, answer);
            }
            assert!(lookup.is_finished());
            (lookup.result().closest, asked.len())
        };
        let (one, asked_one) = run(1);
        assert_eq!(one, attackers[..4].to_vec(), "one path: eclipsed");
        let (two, asked_two) = run(2);
        assert_eq!(
            two,
            [&attackers[..4], &honest[..]].concat(),
            "the honest path's k closest are in the result"
        );
        assert!(
            asked_two > asked_one,
            "{asked_two} requests, {asked_one} on one path"
        );
    }

    #[test]
    fn a_block_whose_candidate_failed_takes_another() {
        let (local, target) = (contact(0xF0).id, contact(0).id);
        // An id invented at an honest node's address, closer than the node itself.
        let invented = WireContact {
            id: contact(0x02).id,
            addr: contact(0x40).addr,
        };
        let seeds = [contact(0x30)];
        let mut lookup = Lookup::new(target, local, 4, 1, Goal::Closest, BLOCKS, seeds);
        assert_eq!(lookup.next_peer(), Some(contact(0x30)));
        lookup.on_success(&contact(0x30).id, &[invented]);
        assert_eq!(lookup.next_peer(), Some(invented));
        lookup.on_success(&invented.id, &[]);
        // Asked and answered: the real node of that address is skipped...
        let mut lookup2 = lookup.clone();
        lookup2.add_seeds([contact(0x40)]);
        assert_eq!(lookup2.skipped(), 1);
        // ...but had the invented id failed, the block would take the real node.
        let mut lookup = Lookup::new(target, local, 4, 1, Goal::Closest, BLOCKS, seeds);
        lookup.next_peer();
        lookup.on_success(&contact(0x30).id, &[invented]);
        assert_eq!(lookup.next_peer(), Some(invented));
        lookup.on_stalled(&invented.id);
        lookup.add_seeds([contact(0x40)]);
        assert_eq!(lookup.next_peer(), Some(contact(0x40)));
        assert_eq!(lookup.skipped(), 0);
    }
}
