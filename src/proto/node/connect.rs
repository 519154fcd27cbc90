//! [`Command::Connect`](super::Command::Connect): find a peer by its key and open a session by whatever path
//! its NAT and this node's allow.
//!
//! In: the command, FIND_PEER's outcome (see `records`), the pings' and the punch
//! request's answers. Out: [`QueryOutcome::Connected`] with the path taken, or a
//! failure.
//!
//! The steps, each tried when the one before fails:
//!
//! 1. a ping in the open session, or to the peer's table address (a session can
//!    outlive the NAT mapping under it, so it is checked, and closed if dead);
//! 2. the peer's multicast mailbox, derived from its key, when this node uses
//!    mailboxes;
//! 3. FIND_PEER, as [`Command::FindNode`](super::Command::FindNode) runs it: the walk
//!    to the peer's id ends as soon as the peer itself answers, and the peer is
//!    pinged straight ([`Found::Listed`]); a peer that never answers leaves the walk
//!    to end at the k closest, whose topic records under `Key(id)` hold its signed
//!    declaration, listing its mailbox and relays ([`Found::Declared`]);
//! 4. a ping through each declared relay in turn, which opens an end-to-end session
//!    relayed on a stand-in address; then the punch (see `traversal`).

use std::net::SocketAddr;

use super::traversal::punchable;
use super::{
    CommandError, ConnectPath, Event, Node, PunchFailure, Purpose, Query, QueryError, QueryId,
    QueryOutcome,
};
use crate::proto::discovery::mailbox_group;
use crate::proto::id::NodeId;
use crate::proto::lookup::Found;
use crate::proto::relay_path;
use crate::proto::time::Time;
use crate::proto::wire::{Request, Response, WireContact};

/// A [`Command::Connect`](super::Command::Connect) under way.
#[derive(Debug)]
pub(super) struct Connect {
    peer: NodeId,
    step: Step,
    /// The relay addresses the peer announced, and the next one to try.
    relays: Vec<SocketAddr>,
    next_relay: usize,
    /// The closest nodes FIND_PEER's walk found: where relay ids come from.
    closest: Vec<WireContact>,
    /// Whether FIND_PEER ran already.
    found: bool,
    /// Whether the peer's mailbox was tried.
    mailbox_tried: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A ping straight to the peer.
    Direct,
    /// FIND_PEER runs as an internal query.
    Finding,
    /// A ping to the peer through a relay (which opens the relayed session).
    Relaying,
    /// A ping whose handshake goes to the peer's mailbox.
    Mailbox,
    /// The punch request is out, or probes are.
    Punching,
}

impl Node {
    pub(super) fn start_connect(
        &mut self,
        now: Time,
        peer: NodeId,
    ) -> Result<QueryId, CommandError> {
        if peer == self.id {
            return Err(CommandError::UnknownPeer(peer));
        }
        let reachable = !self.table.is_empty()
            || self.sessions.is_open(&peer)
            || self.peer_mailbox(&peer).is_some();
        if !reachable {
            return Err(CommandError::NoPeers);
        }
        let query = self.next_query_id();
        let connect = Connect {
            peer,
            step: Step::Direct,
            relays: Vec::new(),
            next_relay: 0,
            closest: Vec::new(),
            found: false,
            mailbox_tried: false,
        };
        self.insert_query(now, query, Query::Connect(Box::new(connect)));
        // An open session may have outlived the NAT mapping under it: a ping in it
        // shows whether it still carries.
        if let Some(addr) = self.sessions.addr_of(&peer) {
            self.connect_ping(now, query, addr);
        } else if let Some(contact) = self.table.get(&peer).copied() {
            self.connect_ping(now, query, contact.addr);
        } else if let Some(mailbox) = self.peer_mailbox(&peer) {
            self.connect_mailbox(now, query, mailbox);
        } else {
            self.find_peer(now, query);
        }
        Ok(query)
    }

    fn connect_state(&mut self, query: QueryId) -> Option<&mut Connect> {
        match &mut self.queries.get_mut(&query)?.query {
            Query::Connect(connect) => Some(connect),
            _ => None,
        }
    }

    /// `peer`'s mailbox, when this node uses mailboxes and has a beacon group.
    fn peer_mailbox(&self, peer: &NodeId) -> Option<SocketAddr> {
        let group = self.discovery.group()?;
        self.config.mailbox.then(|| mailbox_group(peer, group))
    }

    fn connect_mailbox(&mut self, now: Time, query: QueryId, mailbox: SocketAddr) {
        if let Some(connect) = self.connect_state(query) {
            connect.mailbox_tried = true;
        }
        self.connect_ping(now, query, mailbox);
    }

    fn connect_ping(&mut self, now: Time, query: QueryId, addr: SocketAddr) {
        let Some(connect) = self.connect_state(query) else {
            return;
        };
        connect.step = if relay_path::is_relay_path(addr) {
            Step::Relaying
        } else if addr.ip().is_multicast() {
            Step::Mailbox
        } else {
            Step::Direct
        };
        let peer = connect.peer;
        // A dial still running on the path tried before would hold this one back.
        self.sessions.abandon_dial(&peer);
        let purpose = Purpose::Query(query);
        if self
            .rpc
            .start(now, addr, peer, Request::Ping, purpose, &mut self.rng)
            .is_err()
        {
            self.finish_query(now, query, QueryOutcome::Failed(QueryError::Refused));
        }
    }

    fn find_peer(&mut self, now: Time, query: QueryId) {
        let Some(connect) = self.connect_state(query) else {
            return;
        };
        connect.step = Step::Finding;
        connect.found = true;
        let peer = connect.peer;
        match self.start_find_peer(now, peer) {
            Ok(child) => {
                self.internal.insert(child);
                self.traversal.finding.insert(child, query);
            }
            Err(_) => self.finish_query(now, query, QueryOutcome::Failed(QueryError::NoPeers)),
        }
    }

    /// An internal query ended; `true` if it was a FIND_PEER, now handled.
    pub(super) fn find_peer_done(
        &mut self,
        now: Time,
        child: QueryId,
        outcome: &QueryOutcome,
    ) -> bool {
        let Some(parent) = self.traversal.finding.remove(&child) else {
            return false;
        };
        let Some(connect) = self.connect_state(parent) else {
            return true;
        };
        let QueryOutcome::Found(result) = outcome else {
            self.try_next_relay(now, parent);
            return true;
        };
        // The closest it found: where relay ids come from.
        connect.closest = result.closest.clone();
        match (&result.found, result.closest.first()) {
            (Some(Found::Listed), Some(listed)) => {
                let addr = listed.addr;
                self.connect_ping(now, parent, addr);
            }
            (found, _) => {
                if let Some(Found::Declared { relays }) = found {
                    connect.relays = relays.clone();
                }
                self.try_next_relay(now, parent);
            }
        }
        true
    }

    fn try_next_relay(&mut self, now: Time, query: QueryId) {
        loop {
            let Some(connect) = self.connect_state(query) else {
                return;
            };
            let Some(&relay_addr) = connect.relays.get(connect.next_relay) else {
                let reason = if connect.relays.is_empty() {
                    QueryError::NotFound
                } else {
                    QueryError::Unreachable
                };
                self.finish_query(now, query, QueryOutcome::Failed(reason));
                return;
            };
            connect.next_relay += 1;
            let peer = connect.peer;
            if relay_addr.ip().is_multicast() {
                // A declared mailbox: worth a try once, if this node can multicast.
                if !connect.mailbox_tried && self.discovery.group().is_some() {
                    self.connect_mailbox(now, query, relay_addr);
                    return;
                }
                continue;
            }
            let relay = connect
                .closest
                .iter()
                .find(|c| c.addr == relay_addr)
                .map(|c| c.id)
                .or_else(|| {
                    self.table
                        .iter()
                        .find(|c| c.addr == relay_addr)
                        .map(|c| c.id)
                });
            let Some(relay) = relay else {
                continue;
            };
            if relay == self.id || relay == peer {
                continue;
            }
            let sessions = &self.sessions;
            let path = self.traversal.paths.addr(now, relay, peer, |addr, peer| {
                sessions.addr_of(peer) == Some(addr)
            });
            self.traversal.relay_addrs.insert(relay, relay_addr);
            self.connect_ping(now, query, path);
            return;
        }
    }

    /// An answer (or failure) of a connect's RPC.
    pub(super) fn on_connect_answer(
        &mut self,
        now: Time,
        query: QueryId,
        answer: Result<Response, QueryError>,
    ) {
        let Some(connect) = self.connect_state(query) else {
            return;
        };
        let (step, found, peer) = (connect.step, connect.found, connect.peer);
        match (step, answer) {
            (Step::Direct, Ok(Response::Pong { .. })) => {
                self.finish_connect(now, query, ConnectPath::Direct)
            }
            (Step::Direct, _) => {
                // The session under the ping is dead (its NAT mapping expired, say):
                // close it, so that the next try dials on the path it is given.
                if self
                    .sessions
                    .addr_of(&peer)
                    .is_some_and(|addr| !relay_path::is_relay_path(addr))
                {
                    self.sessions.close_peer(&peer);
                }
                if found {
                    self.try_next_relay(now, query);
                } else {
                    self.find_peer(now, query);
                }
            }
            (Step::Relaying, Ok(Response::Pong { .. })) => {
                let Some(reflexive) = self.reflexive_addr() else {
                    self.events.push_back(Event::PunchFailed {
                        peer,
                        reason: PunchFailure::NoReflexiveAddress,
                    });
                    self.finish_connect(now, query, ConnectPath::Relayed);
                    return;
                };
                let Some(path) = self.sessions.addr_of(&peer) else {
                    self.try_next_relay(now, query);
                    return;
                };
                if let Some(connect) = self.connect_state(query) {
                    connect.step = Step::Punching;
                }
                let request = Request::Punch {
                    nat: self.nat(),
                    reflexive,
                };
                let purpose = Purpose::Query(query);
                if self
                    .rpc
                    .start(now, path, peer, request, purpose, &mut self.rng)
                    .is_err()
                {
                    self.finish_connect(now, query, ConnectPath::Relayed);
                }
            }
            (Step::Relaying, _) => self.try_next_relay(now, query),
            (Step::Mailbox, Ok(Response::Pong { .. })) => {
                self.finish_connect(now, query, ConnectPath::Mailbox)
            }
            (Step::Mailbox, _) => {
                // Nobody answered at the mailbox: give its dial up now, or FIND_PEER's
                // own requests to the peer would wait behind it.
                self.sessions.abandon_dial(&peer);
                if found {
                    self.try_next_relay(now, query);
                } else {
                    self.find_peer(now, query);
                }
            }
            (Step::Punching, Ok(Response::Punch { nat, reflexive })) => {
                let sessions = &self.sessions;
                let direct = [sessions.addr_of(&peer), sessions.moving_to(&peer)]
                    .into_iter()
                    .flatten()
                    .any(|addr| !relay_path::is_relay_path(addr));
                if direct {
                    // The peer's probes, sent as it answered, beat the answer here (the
                    // session moves onto their path once that path answers a challenge).
                    self.stats.punches_succeeded += 1;
                    self.finish_connect(now, query, ConnectPath::Punched);
                } else if !punchable(self.nat(), nat) {
                    self.events.push_back(Event::PunchFailed {
                        peer,
                        reason: PunchFailure::BothRandom,
                    });
                    self.finish_connect(now, query, ConnectPath::Relayed);
                } else if self.sessions.addr_of(&peer).is_some_and(|path| {
                    self.traversal
                        .punch_target(path, reflexive, self.config.address)
                }) {
                    self.start_punch(now, peer, reflexive, Some(query));
                } else {
                    self.stats.punches_refused += 1;
                    self.events.push_back(Event::PunchFailed {
                        peer,
                        reason: PunchFailure::Unvouched,
                    });
                    self.finish_connect(now, query, ConnectPath::Relayed);
                }
            }
            (Step::Punching, _) => {
                self.events.push_back(Event::PunchFailed {
                    peer,
                    reason: PunchFailure::NoAnswer,
                });
                self.finish_connect(now, query, ConnectPath::Relayed);
            }
            (Step::Finding, _) => {}
        }
    }

    pub(super) fn finish_connect(&mut self, now: Time, query: QueryId, path: ConnectPath) {
        let Some(connect) = self.connect_state(query) else {
            return;
        };
        let peer = connect.peer;
        match path {
            ConnectPath::Direct => self.stats.connects_direct += 1,
            ConnectPath::Punched => self.stats.connects_punched += 1,
            ConnectPath::Relayed => self.stats.connects_relayed += 1,
            ConnectPath::Mailbox => self.stats.connects_mailbox += 1,
        }
        self.finish_query(now, query, QueryOutcome::Connected { peer, path });
    }
}
