//! Reaching peers behind NATs, and leaving politely.
//!
//! In: the reflexive addresses peers report in their pongs, relay and punch notices,
//! [`Command::Connect`], the clock. Out: the node's NAT class ([`Event::NatClassified`]),
//! relayed datagrams, punch probes, and each connect's path
//! ([`QueryOutcome::Connected`]).
//!
//! - **Classification** ([`crate::proto::nat`]): from three or more peers' reports. A
//!   node behind a NAT (`consistent` or `random`) marks its frames *unlisted*, so
//!   nobody puts an address into a routing table that nobody else could reach; it
//!   picks up to [`TraversalConfig::relays`] of its closest contacts as relays, pings
//!   them every [`TraversalConfig::keepalive`] to hold its NAT mapping and their
//!   session open, and announces them under its own id (the topic `Key(id)`), signed.
//! - **FIND_PEER** (`records`; [`Command::FindNode`] and a connect's search) reads
//!   that topic: a walk to the peer's id that ends when the peer answers (it is
//!   listed), and otherwise fetches its signed declaration from the k closest (it is
//!   declared).
//! - **Relay**: a node forwards a [`Notice::Relay`] only to a peer it has a session
//!   with, as a [`Notice::Relayed`] naming the sender; both count against the
//!   sender's relay rate ([`Limits::relay_per_peer_rate`](super::Limits)). What it forwards is the two
//!   ends' own handshake and session frames: the relay sees ciphertext and two ids.
//!   Each end runs that session on a stand-in address ([`crate::proto::relay_path`]).
//! - **Hole punch**: over the relayed session, [`Request::Punch`] swaps NAT classes
//!   and reflexive addresses; then both ends send [`Notice::PunchProbe`]s sealed in
//!   that session straight to each other's reflexive address for
//!   [`TraversalConfig::punch_window`]. The first probe or ack that arrives straight
//!   moves the session onto the direct path (sessions follow authenticated frames).
//!   Two `random` NATs cannot punch, so they do not try.
//! - **Mailbox** (mp2p): a node with [`Config::mailbox`](super::Config::mailbox)
//!   listens at a multicast group derived from its key
//!   ([`mailbox_group`]) and lists it first in its signed declaration; a connect
//!   sends its handshake there (straight from the key when the asker uses mailboxes
//!   too, or when the declaration lists one) and the owner answers from its own
//!   address.
//! - **Leave**: [`Node::leave`] sends a [`Notice::Bye`] in every session; a peer that
//!   gets one drops the sender from its table and closes the session.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Command, ConnectPath, Event, Node, PunchFailure, Purpose, QueryId};
use crate::proto::discovery::mailbox_group;
use crate::proto::id::{Key, NodeId};
use crate::proto::nat::NatObserver;
use crate::proto::relay_path::{self, RelayPaths};
use crate::proto::time::Time;
use crate::proto::wire::{
    self, Datagram, Message, NatKind, Notice, Request, Response, WireContact, MAX_RELAYED,
};

/// Tunables of NAT traversal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraversalConfig {
    /// Relays a node behind a NAT keeps and announces (at most 3). 2 by default.
    pub relays: usize,
    /// How often a node behind a NAT pings its relays: shorter than the NATs' mapping
    /// timeouts. 15 s by default.
    pub keepalive: Duration,
    /// How long a hole punch sends probes before the connection stays relayed.
    /// 2 s by default.
    pub punch_window: Duration,
    /// The gap between two punch probes. 100 ms by default.
    pub punch_interval: Duration,
}

impl Default for TraversalConfig {
    fn default() -> Self {
        TraversalConfig {
            relays: 2,
            keepalive: Duration::from_secs(15),
            punch_window: Duration::from_secs(2),
            punch_interval: Duration::from_millis(100),
        }
    }
}

/// When a node with a known own address first asks peers what they see.
const CLASSIFY_FIRST: Duration = Duration::from_secs(2);
/// How often it asks again while its NAT stays unknown.
const CLASSIFY_EVERY: Duration = Duration::from_secs(10);

/// How often one peer may have this node punch toward it: a punch sends probes to an
/// address the peer names for a whole window, so it is rationed.
pub(super) const PUNCH_PERIOD: Duration = Duration::from_secs(30);

/// A hole punch: probes to `target` until `deadline`.
#[derive(Debug)]
struct Punch {
    target: SocketAddr,
    nonce: u64,
    next: Time,
    deadline: Time,
    /// The connect waiting on it (the side that asked).
    query: Option<QueryId>,
}

/// The traversal state of one node; see the module docs.
#[derive(Debug)]
pub(super) struct Traversal {
    nat: NatObserver,
    pub(super) paths: RelayPaths,
    /// Each relay path's relay address.
    pub(super) relay_addrs: BTreeMap<NodeId, SocketAddr>,
    /// The relays this node (behind a NAT) keeps, and when it next pings them.
    relays: Vec<WireContact>,
    keepalive_at: Option<Time>,
    /// When the node next asks peers for its reflexive address, while its NAT is
    /// unknown and its own address known.
    classify_at: Option<Time>,
    punches: BTreeMap<NodeId, Punch>,
    /// When each peer last had this node punch for it, for [`PUNCH_PERIOD`].
    punched_for: BTreeMap<NodeId, Time>,
    /// FIND_PEER queries by the connect waiting for them.
    pub(super) finding: BTreeMap<QueryId, QueryId>,
    /// The addresses last declared under the own id (relays, mailbox).
    declared: Vec<SocketAddr>,
}

impl Traversal {
    /// Heap bytes of relays, paths, punches and address reports.
    pub(super) fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::{btree, vec};
        self.nat.heap_bytes()
            + self.paths.heap_bytes()
            + btree::<NodeId, SocketAddr>(self.relay_addrs.len())
            + vec(&self.relays)
            + btree::<NodeId, Punch>(self.punches.len())
            + btree::<NodeId, Time>(self.punched_for.len())
            + btree::<QueryId, QueryId>(self.finding.len())
            + vec(&self.declared)
    }

    /// `idle`: how long a relay path no session runs on is kept unused (the sessions'
    /// idle timeout).
    pub(super) fn new(
        now: Time,
        local: Option<SocketAddr>,
        prefixes: (u8, u8),
        idle: Duration,
    ) -> Traversal {
        Traversal {
            classify_at: local.map(|_| now + CLASSIFY_FIRST),
            nat: NatObserver::new(local, prefixes),
            paths: RelayPaths::new(relay_path::PATHS_MAX, idle),
            relay_addrs: BTreeMap::new(),
            relays: Vec::new(),
            keepalive_at: None,
            punches: BTreeMap::new(),
            punched_for: BTreeMap::new(),
            finding: BTreeMap::new(),
            declared: Vec::new(),
        }
    }

    /// Whether a punch over relay path `path` may aim at `target`, the address the
    /// peer names: only where a peer could be (`own` is this node's address, for
    /// loopback swarms), and only at the IP address the path's relay vouched for in
    /// what it forwarded. The port may differ: a NAT that maps each destination anew
    /// shows the relay another port than the peer learned from others.
    pub(super) fn punch_target(
        &self,
        path: SocketAddr,
        target: SocketAddr,
        own: Option<SocketAddr>,
    ) -> bool {
        let vouched = self.paths.observed(path);
        super::limits::dialable(&target, own) && vouched.is_some_and(|at| at.ip() == target.ip())
    }

    pub(super) fn poll_timeout(&self) -> Option<Time> {
        let punches = self.punches.values().map(|p| p.next.min(p.deadline)).min();
        let sweep = self.paths.poll_timeout();
        [self.keepalive_at, self.classify_at, punches, sweep]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Node {
    /// This node's NAT, as classified from what peers report.
    pub fn nat(&self) -> NatKind {
        self.traversal.nat.kind()
    }

    /// The address peers see this node at, once one reported it.
    pub fn reflexive_addr(&self) -> Option<SocketAddr> {
        self.traversal.nat.reflexive()
    }

    /// This node's multicast mailbox, if it keeps one.
    pub fn mailbox(&self) -> Option<SocketAddr> {
        let group = self.discovery.group()?;
        self.config.mailbox.then(|| mailbox_group(&self.id, group))
    }

    /// The multicast groups the driver must deliver to this node: the beacon group
    /// and the mailbox, where configured.
    pub fn multicast_groups(&self) -> Vec<SocketAddr> {
        self.discovery
            .group()
            .into_iter()
            .chain(self.mailbox())
            .collect()
    }

    /// The relays this node keeps (behind a NAT only).
    pub fn relays(&self) -> Vec<WireContact> {
        self.traversal.relays.clone()
    }

    /// Says goodbye to every peer with an open session: they drop this node from
    /// their tables now rather than after timeouts. Drain [`Node::poll_transmit`]
    /// after it, then stop driving the node.
    pub fn leave(&mut self, now: Time) {
        self.advance(now);
        let peers: Vec<NodeId> = self.sessions.open_peers().collect();
        for peer in peers {
            self.send_sealed(&peer, &Message::Notice(Notice::Bye));
        }
        self.stats.byes_sent += 1;
    }

    /// Whether this node's frames ask not to be listed: it sits behind a NAT.
    pub(super) fn unlisted(&self) -> bool {
        matches!(self.nat(), NatKind::Consistent | NatKind::Random)
    }

    // ---- Classification and relays ----

    /// A peer at `from` saw this node at `observed`.
    pub(super) fn on_reflexive(&mut self, now: Time, from: SocketAddr, observed: SocketAddr) {
        if relay_path::is_relay_path(from) {
            return;
        }
        let was_unlisted = self.unlisted();
        let Some(kind) = self.traversal.nat.report(from, observed) else {
            return;
        };
        self.events.push_back(Event::NatClassified {
            kind,
            reflexive: self.traversal.nat.reflexive(),
        });
        if self.unlisted() {
            if !was_unlisted {
                // The peers that heard this node before it knew have listed it.
                let peers: Vec<NodeId> = self.sessions.open_peers().collect();
                for peer in peers {
                    self.send_sealed(&peer, &Message::Notice(Notice::Unlisted));
                }
            }
            self.choose_relays(now);
        } else {
            self.traversal.relays.clear();
            self.traversal.keepalive_at = None;
        }
    }

    /// Picks the closest contacts as relays and announces them under the own id.
    fn choose_relays(&mut self, now: Time) {
        let n = self
            .config
            .traversal
            .relays
            .min(crate::proto::store::MAX_RELAYS);
        let relays: Vec<WireContact> = self
            .table
            .closest(&self.id, n)
            .into_iter()
            .map(|c| WireContact {
                id: c.id,
                addr: c.addr,
            })
            .collect();
        if relays.is_empty() || relays == self.traversal.relays {
            return;
        }
        self.traversal.relays = relays;
        self.traversal.keepalive_at = Some(now + self.config.traversal.keepalive);
        self.declare(now);
    }

    /// Announces, signed under the own id, how to reach this node: its mailbox first,
    /// then its relays. Nothing to declare, or nothing new: nothing sent.
    fn declare(&mut self, now: Time) {
        let addrs: Vec<SocketAddr> = self
            .mailbox()
            .into_iter()
            .chain(self.traversal.relays.iter().map(|r| r.addr))
            .take(crate::proto::store::MAX_RELAYS)
            .collect();
        if addrs.is_empty() || addrs == self.traversal.declared || self.table.is_empty() {
            return;
        }
        self.traversal.declared = addrs.clone();
        let announce = Command::Announce {
            topic: Key(*self.id.as_bytes()),
            relays: addrs,
        };
        if let Ok(query) = self.start_record_command(now, announce) {
            self.internal.insert(query);
        }
    }

    /// Pings the relays when due, asks peers for the reflexive address while the NAT
    /// is unknown, and runs punch probes.
    pub(super) fn traversal_timeout(&mut self, now: Time) {
        let sessions = &self.sessions;
        let expired = self
            .traversal
            .paths
            .handle_timeout(now, |addr, peer| sessions.addr_of(peer) == Some(addr));
        self.stats.relay_paths_expired += expired as u64;
        if self.traversal.declared.is_empty() && self.mailbox().is_some() {
            self.declare(now);
        }
        if self.traversal.classify_at.is_some_and(|at| at <= now) {
            self.traversal.classify_at =
                (self.nat() == NatKind::Unknown).then(|| now + CLASSIFY_EVERY);
            if self.traversal.classify_at.is_some() {
                self.ask_reflexive(now);
            }
        }
        if self.traversal.keepalive_at.is_some_and(|at| at <= now) {
            self.traversal.keepalive_at = Some(now + self.config.traversal.keepalive);
            // Relays that left the table (unlisted, evicted) are replaced first.
            let gone: Vec<NodeId> = self
                .traversal
                .relays
                .iter()
                .filter(|r| self.table.get(&r.id).is_none())
                .map(|r| r.id)
                .collect();
            for relay in gone {
                self.relay_failed(now, relay);
            }
            for relay in self.traversal.relays.clone() {
                let _ = self.rpc.start(
                    now,
                    relay.addr,
                    relay.id,
                    Request::Ping,
                    Purpose::Keepalive,
                    &mut self.rng,
                );
            }
        }
        let due: Vec<NodeId> = self
            .traversal
            .punches
            .iter()
            .filter(|(_, p)| p.next <= now || p.deadline <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let Some(punch) = self.traversal.punches.get_mut(&peer) else {
                continue;
            };
            if punch.deadline <= now {
                let query = punch.query;
                self.traversal.punches.remove(&peer);
                self.stats.punches_failed += 1;
                self.events.push_back(Event::PunchFailed {
                    peer,
                    reason: PunchFailure::Timeout,
                });
                if let Some(query) = query {
                    self.finish_connect(now, query, ConnectPath::Relayed);
                }
                continue;
            }
            punch.next = now + self.config.traversal.punch_interval;
            let (target, nonce) = (punch.target, punch.nonce);
            self.send_straight(&peer, target, Notice::PunchProbe { nonce });
        }
    }

    /// Pings as many contacts as classification needs.
    fn ask_reflexive(&mut self, now: Time) {
        let n = crate::proto::nat::REPORTS_NEEDED;
        for contact in self.table.closest(&self.id, n) {
            let _ = self.rpc.start(
                now,
                contact.addr,
                contact.id,
                Request::Ping,
                Purpose::Reflexive,
                &mut self.rng,
            );
        }
    }

    /// A keepalive to a relay went unanswered: choose again.
    pub(super) fn relay_failed(&mut self, now: Time, relay: NodeId) {
        if self.traversal.relays.iter().any(|r| r.id == relay) {
            self.traversal.relays.retain(|r| r.id != relay);
            let kept = std::mem::take(&mut self.traversal.relays);
            self.choose_relays(now);
            if self.traversal.relays.is_empty() {
                self.traversal.relays = kept;
            }
        }
    }

    // ---- Sending through relays and straight ----

    /// Seals a punch probe or ack in `peer`'s session but sends it to `dst`, not to
    /// the session's address: how punches go straight while the session is relayed.
    /// A probe's target is bounded by the punch's own rules (see
    /// [`Node::punch_answer`]); an ack goes where its probe came from, within what the
    /// session may send an address it has not validated (see
    /// [`Sessions::seal_to`](crate::proto::session::Sessions::seal_to)).
    fn send_straight(&mut self, peer: &NodeId, dst: SocketAddr, notice: Notice) {
        let probe = matches!(notice, Notice::PunchProbe { .. });
        let mut plaintext = Vec::with_capacity(16);
        Message::Notice(notice).encode(&mut plaintext);
        let flags = self.frame_flags(peer);
        let (crypto, sessions) = (self.crypto, &mut self.sessions);
        let sealed = if probe {
            sessions.seal_probe(crypto, peer, &plaintext, flags)
        } else {
            sessions.seal_to(crypto, peer, dst, &plaintext, flags)
        };
        if let Some(datagram) = sealed {
            self.send_bytes(dst, datagram);
        }
    }

    /// Sends `message` to `peer` in its session, or dials `addr` and holds it.
    fn send_or_dial(&mut self, now: Time, peer: NodeId, addr: SocketAddr, message: Message) {
        if self.send_sealed(&peer, &message) {
            return;
        }
        self.hold_and_dial(now, peer, addr, message);
    }

    /// A datagram for a relay path: wrapped in a relay notice to the path's relay.
    pub(super) fn send_via_relay(&mut self, path: SocketAddr, datagram: Vec<u8>) {
        let Some((relay, peer)) = self.traversal.paths.pair(path) else {
            return;
        };
        let Some(&relay_addr) = self.traversal.relay_addrs.get(&relay) else {
            return;
        };
        if datagram.len() > MAX_RELAYED {
            self.stats.relay_too_large += 1;
            return;
        }
        let notice = Message::Notice(Notice::Relay { to: peer, datagram });
        let now = self.now;
        self.send_or_dial(now, relay, relay_addr, notice);
    }

    // ---- Receiving notices ----

    /// `from` is the session's validated address for `peer`, `source` the address
    /// the notice's datagram came from.
    pub(super) fn on_notice(
        &mut self,
        now: Time,
        from: SocketAddr,
        source: SocketAddr,
        peer: NodeId,
        notice: Notice,
    ) {
        let relayed = relay_path::is_relay_path(from);
        let came_relayed = relay_path::is_relay_path(source);
        match notice {
            Notice::Bye => {
                self.stats.byes_received += 1;
                if self.table.remove(&peer).is_some() {
                    self.events.push_back(Event::PeerEvicted {
                        id: peer,
                        replaced_by: None,
                    });
                }
                self.sessions.close_peer(&peer);
                self.streams.peer_gone(&peer);
                self.rpc
                    .fail_peer(now, &peer, crate::proto::rpc::RpcFailure::Unreachable);
            }
            Notice::Relay { to, datagram } if !relayed => {
                // Only the two ends' handshake and sealed frames: nothing a relay
                // could read, and no beacon or probe bounced off it.
                let opaque = wire::is_session_datagram(&datagram);
                if !opaque || to == self.id || to == peer || !self.admit_relay(now, peer) {
                    self.stats.relay_refused += 1;
                    return;
                }
                if self.sessions.could_open(self.crypto, &datagram) {
                    // Never expected: the two ends' keys come from a handshake this
                    // node took no part in. Counted for the simulator's safety check.
                    self.stats.relay_readable += 1;
                }
                // `from` is the session's validated address: where this node sees the
                // sender, which it vouches for so a punch can aim there.
                let observed =
                    Some(from).filter(|addr| wire::relayed_has_room(datagram.len(), addr));
                let relayed = Message::Notice(Notice::Relayed {
                    from: peer,
                    observed,
                    datagram,
                });
                if self.send_sealed(&to, &relayed) {
                    self.stats.relay_forwarded += 1;
                } else {
                    self.stats.relay_refused += 1;
                }
            }
            Notice::Relayed {
                from: sender,
                observed,
                datagram,
            } if !relayed => {
                if !self.admit_relay(now, peer) {
                    return;
                }
                let sessions = &self.sessions;
                let path = self.traversal.paths.addr(now, peer, sender, |addr, peer| {
                    sessions.addr_of(peer) == Some(addr)
                });
                if let Some(observed) = observed {
                    self.traversal.paths.vouch(path, observed);
                }
                self.traversal.relay_addrs.insert(peer, from);
                self.on_relayed_datagram(now, path, &datagram);
            }
            Notice::PunchProbe { nonce } => {
                if came_relayed {
                    return;
                }
                self.send_straight(&peer, source, Notice::PunchAck { nonce });
                self.punched(now, peer);
            }
            Notice::PunchAck { .. } => {
                if !came_relayed {
                    self.punched(now, peer);
                }
            }
            // The session layer takes these for itself.
            Notice::PathChallenge { .. } | Notice::PathResponse { .. } => {}
            // Its unlisted flag already took the sender out of the table.
            Notice::Unlisted => {}
            Notice::Relay { .. } | Notice::Relayed { .. } => {
                // Relays of relays: refused, so that nesting cannot multiply traffic.
                self.stats.relay_refused += 1;
            }
        }
    }

    /// An end-to-end datagram that came through a relay, as if from `path`.
    fn on_relayed_datagram(&mut self, now: Time, path: SocketAddr, bytes: &[u8]) {
        match wire::decode(bytes) {
            Ok(Datagram::Handshake(handshake)) => {
                let early = self.sessions.handle_handshake(
                    now,
                    self.crypto,
                    path,
                    handshake,
                    &mut self.rng,
                );
                for early in early {
                    self.on_early(now, path, early);
                }
            }
            Ok(Datagram::Sealed { header, ciphertext }) => {
                self.on_sealed(now, path, header, &ciphertext)
            }
            Ok(_) | Err(_) => self.stats.datagrams_malformed += 1,
        }
    }

    /// A probe or ack arrived straight from `peer`: the session moved onto the
    /// direct path.
    fn punched(&mut self, now: Time, peer: NodeId) {
        let Some(punch) = self.traversal.punches.remove(&peer) else {
            return;
        };
        self.stats.punches_succeeded += 1;
        if let Some(query) = punch.query {
            self.finish_connect(now, query, ConnectPath::Punched);
        }
    }

    /// The answer to a punch request that came from `from`: swap addresses and start
    /// probing, unless two `random` NATs meet.
    ///
    /// Probing sends datagrams for a whole window to the address the peer names, so a
    /// node punches only for a peer it reaches through a relay (what a punch is for),
    /// at most once per [`PUNCH_PERIOD`] for each, and only toward an address a peer
    /// could be at and that the relay vouched for ([`Node::punch_target`]). Anything
    /// else is refused and counted (`punches_refused`); the answer still goes, and
    /// the peer stays relayed.
    pub(super) fn punch_answer(
        &mut self,
        now: Time,
        from: SocketAddr,
        peer: NodeId,
        nat: NatKind,
        reflexive: SocketAddr,
    ) -> Response {
        let own = self.nat();
        let answer = Response::Punch {
            nat: own,
            reflexive: self.reflexive_addr().unwrap_or(reflexive),
        };
        if !(punchable(own, nat) && self.reflexive_addr().is_some()) {
            return answer;
        }
        let aim = self
            .traversal
            .punch_target(from, reflexive, self.config.address);
        let punched = &mut self.traversal.punched_for;
        punched.retain(|_, at| now < *at + PUNCH_PERIOD);
        let allowed = relay_path::is_relay_path(from) && !punched.contains_key(&peer) && aim;
        if allowed {
            punched.insert(peer, now);
            self.start_punch(now, peer, reflexive, None);
        } else {
            self.stats.punches_refused += 1;
        }
        answer
    }

    pub(super) fn start_punch(
        &mut self,
        now: Time,
        peer: NodeId,
        target: SocketAddr,
        query: Option<QueryId>,
    ) {
        let nonce = rand_core::RngCore::next_u64(&mut self.rng);
        self.traversal.punches.insert(
            peer,
            Punch {
                target,
                nonce,
                next: now,
                deadline: now + self.config.traversal.punch_window,
                query,
            },
        );
        self.traversal_timeout(now);
    }
}

/// Whether two NATs can punch: anything but two that map every destination anew.
pub(super) fn punchable(a: NatKind, b: NatKind) -> bool {
    !(a == NatKind::Random && b == NatKind::Random)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::proto::node::Config;
    use crate::proto::Identity;

    /// A node at 10.0.0.1:7000 whose peers see it at 100.64.0.1:40000: behind a
    /// consistent NAT, its reflexive address known.
    fn node_behind_a_nat() -> Node {
        let config = Config {
            address: Some(SocketAddr::from(([10, 0, 0, 1], 7000))),
            ..Config::default()
        };
        let rng = ChaCha8Rng::seed_from_u64(1);
        let mut node = Node::new(
            Time::ZERO,
            Duration::ZERO,
            config,
            Identity::from_seed([1; 32]),
            rng,
        );
        let observed = SocketAddr::from(([100, 64, 0, 1], 40000));
        for last in 2..5 {
            node.on_reflexive(
                Time::ZERO,
                SocketAddr::from(([10, 0, 0, last], 7000)),
                observed,
            );
        }
        assert_eq!(node.nat(), NatKind::Consistent);
        node
    }

    #[test]
    fn a_punch_is_for_a_relayed_peer_once_a_period_toward_an_address_a_peer_can_be_at() {
        let mut node = node_behind_a_nat();
        let (peer, other) = (NodeId([2; 32]), NodeId([3; 32]));
        let relayed = node
            .traversal
            .paths
            .addr(Time::ZERO, NodeId([9; 32]), peer, |_, _| true);
        let direct = SocketAddr::from(([10, 0, 0, 2], 7000));
        let victim = SocketAddr::from(([192, 0, 2, 80], 53));
        node.traversal.paths.vouch(relayed, victim);
        let now = Time::ZERO + Duration::from_secs(1);
        let punch = |node: &mut Node, now, from, peer, target| {
            node.punch_answer(now, from, peer, NatKind::Consistent, target);
            node.traversal.punches.remove(&peer).is_some()
        };
        // Over a direct session, a punch is never needed: refused.
        assert!(!punch(&mut node, now, direct, peer, victim));
        // Toward loopback or multicast: refused.
        let loopback = SocketAddr::from(([127, 0, 0, 1], 7000));
        assert!(!punch(&mut node, now, relayed, peer, loopback));
        assert!(!punch(
            &mut node,
            now,
            relayed,
            peer,
            "224.0.0.1:7000".parse().unwrap()
        ));
        // A relayed peer: once, then not again within the period.
        assert!(punch(&mut node, now, relayed, peer, victim));
        assert!(!punch(
            &mut node,
            now + Duration::from_secs(1),
            relayed,
            peer,
            victim
        ));
        let other_path = node
            .traversal
            .paths
            .addr(Time::ZERO, NodeId([9; 32]), other, |_, _| true);
        node.traversal.paths.vouch(other_path, victim);
        assert!(punch(&mut node, now, other_path, other, victim));
        assert!(punch(&mut node, now + PUNCH_PERIOD, relayed, peer, victim));
        assert_eq!(node.stats().punches_refused, 4);
    }

    #[test]
    fn a_punch_aims_only_at_the_ip_address_the_relay_vouched_for() {
        let mut node = node_behind_a_nat();
        let relay = NodeId([9; 32]);
        let seen = SocketAddr::from(([198, 51, 100, 7], 41000));
        let victim = SocketAddr::from(([192, 0, 2, 80], 53));
        let now = Time::ZERO + Duration::from_secs(1);
        let mut punch = |peer: u8, vouched: Option<SocketAddr>, target| {
            let peer = NodeId([peer; 32]);
            let path = node.traversal.paths.addr(now, relay, peer, |_, _| true);
            if let Some(vouched) = vouched {
                node.traversal.paths.vouch(path, vouched);
            }
            node.punch_answer(now, path, peer, NatKind::Consistent, target);
            node.traversal.punches.remove(&peer).is_some()
        };
        // The relay forwarded nothing that said where it sees the peer: refused.
        assert!(!punch(2, None, seen));
        // The peer names another host than the one the relay sees it at: refused,
        // whichever port.
        assert!(!punch(3, Some(seen), victim));
        assert!(!punch(
            4,
            Some(seen),
            SocketAddr::new(victim.ip(), seen.port())
        ));
        // The host the relay sees it at, on the port the relay sees or another (a NAT
        // that maps each destination anew): a punch.
        assert!(punch(5, Some(seen), seen));
        assert!(punch(6, Some(seen), SocketAddr::new(seen.ip(), 40001)));
        assert_eq!(node.stats().punches_refused, 3);
    }
}
