//! [`Lookup`]: one iterative Kademlia FIND_NODE, as plain data.
//!
//! In: the target, a [`Goal`], the seed contacts (the local table's closest), then, for
//! each peer it asked, [`Lookup::on_success`] with the contacts that peer returned or
//! [`Lookup::on_failure`], and [`Lookup::on_stalled`] for a peer whose request went
//! unanswered past its first wait. Out: [`Lookup::next_peer`] names the next peer to
//! ask, keeping at most α requests in flight; [`Lookup::is_finished`] turns true when
//! the goal is met, and [`Lookup::result`] gives the closest peers that answered, the
//! hop count and whether the target itself answered ([`Found::Listed`]; the node's
//! FIND_PEER may find it [`Found::Declared`] afterwards, see [`LookupResult::found`]).
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
use std::net::SocketAddr;

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
    /// Whether, and how, the node whose id is the target was found: it answered
    /// ([`Found::Listed`], it is then `closest[0]`), or, for a FIND_PEER
    /// ([`Command::FindNode`](crate::proto::Command::FindNode), a connect's search),
    /// its own signed declaration was read ([`Found::Declared`]). `None`: neither.
    pub found: Option<Found>,
    /// Hops to the closest peer that answered (see the module docs).
    pub hops: u8,
    /// Requests sent.
    pub contacted: u32,
    /// Requests that failed.
    pub failed: u32,
}

/// How a lookup found the node whose id is its target ([`LookupResult::found`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Found {
    /// The node answered the walk, in a session that proved its key: it is listed in
    /// routing tables and reachable at its address, `closest[0]`.
    Listed,
    /// The node did not answer, but the k closest to its id held its own signed
    /// declaration under the topic `Key(id)`: a node behind a NAT, which no routing
    /// table lists, reachable through these relay addresses (and its multicast
    /// mailbox, if it listed one). Only a FIND_PEER reads declarations: a walk alone
    /// finds [`Found::Listed`] or nothing.
    Declared {
        /// The addresses it declared: its mailbox first, if it keeps one, then its
        /// relays.
        relays: Vec<SocketAddr>,
    },
}

impl Found {
    /// The lower-case name used in reports: `listed` or `declared`.
    pub fn name(&self) -> &'static str {
        match self {
            Found::Listed => "listed",
            Found::Declared { .. } => "declared",
        }
    }
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
            found: self.found.then_some(Found::Listed),
            hops: answered.first().map_or(0, |c| c.hop),
            contacted: self.contacted,
            failed: self.failed,
        }
    }
}

#[cfg(test)]
mod tests;
