//! [`Node`]: one swarm participant, composing discovery, the routing table, RPC
//! tracking and lookups. The one type a driver talks to.
//!
//! In: datagrams ([`Node::handle_datagram`]), the clock ([`Node::handle_timeout`]) and
//! commands ([`Node::start`]). Out: datagrams to send ([`Node::poll_transmit`]), events
//! ([`Node::poll_event`]) and the next deadline ([`Node::poll_timeout`]).
//!
//! Sub-machines are drained inside the node's own `handle_*` calls: an RPC answer
//! becomes a lookup step, a full bucket becomes a liveness ping, a due bucket becomes a
//! refresh lookup. Only what the application cares about comes out as an [`Event`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::discovery::{self, BeaconRejected, Discovery, DiscoveryConfig};
use super::id::NodeId;
use super::identity::Identity;
use super::lookup::{Lookup, LookupResult};
use super::rpc::{RpcConfig, RpcFailure, RpcManager};
use super::table::{Contact, InsertOutcome, RoutingTable, TableConfig};
use super::time::Time;
use super::wire::{self, Datagram, Message, Request, Response, TxId, WireContact, MAX_CONTACTS};

/// The network key of the open swarm. A private swarm picks its own 32 bytes.
pub const DEFAULT_NETWORK_KEY: [u8; 32] = *b"dswarm-open-swarm-network-key-v1";

/// Everything a node can be tuned by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The swarm's pre-shared key; nodes with another key ignore each other's beacons.
    pub network_key: [u8; 32],
    /// The UDP port this node serves on, announced in beacons.
    pub port: u16,
    /// Addresses to ask for peers on [`Command::Bootstrap`], for networks without
    /// multicast.
    pub bootstrap: Vec<SocketAddr>,
    /// Routing table tunables.
    pub table: TableConfig,
    /// Request tracking tunables.
    pub rpc: RpcConfig,
    /// Beacon tunables.
    pub discovery: DiscoveryConfig,
    /// Requests a lookup keeps in flight (Kademlia's α).
    pub lookup_parallelism: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network_key: DEFAULT_NETWORK_KEY,
            port: 17761,
            bootstrap: Vec::new(),
            table: TableConfig::default(),
            rpc: RpcConfig::default(),
            discovery: DiscoveryConfig::default(),
            lookup_parallelism: 3,
        }
    }
}

/// A datagram for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// A peer's address, or the multicast group for beacons.
    pub dst: SocketAddr,
    /// The encoded datagram, at most [`wire::MAX_DATAGRAM`] bytes.
    pub payload: Vec<u8>,
}

/// Names one command's work until its [`Event::QueryFinished`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u64);

/// Work an application asks of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Ping one peer of the routing table.
    Ping(NodeId),
    /// Ping the `n` peers closest to this node (what `GET /api/ping` does, n = 3).
    PingClosest(usize),
    /// Iterative lookup of the k nodes closest to a target.
    FindNode(NodeId),
    /// Ask the bootstrap addresses for peers, then look up this node's own id.
    Bootstrap,
}

/// Why a command could not start. Nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The peer is not in the routing table.
    UnknownPeer(NodeId),
    /// The routing table is empty and there is nobody to ask.
    NoPeers,
    /// Too many requests already wait for that peer.
    Throttled,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownPeer(id) => write!(f, "peer {id} is not in the routing table"),
            CommandError::NoPeers => write!(f, "no peers known and no bootstrap address"),
            CommandError::Throttled => write!(f, "too many requests waiting for that peer"),
        }
    }
}

impl std::error::Error for CommandError {}

/// How a peer first came to the node's attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A multicast beacon, confirmed by a ping.
    Beacon,
    /// It answered a bootstrap ping.
    Bootstrap,
    /// It sent us a request or answered one.
    Rpc,
}

/// Something the application may want to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A peer entered the routing table.
    PeerDiscovered {
        /// Its id.
        id: NodeId,
        /// Its address.
        addr: SocketAddr,
        /// How it was found.
        via: Via,
    },
    /// A peer left the routing table after failing to answer.
    PeerEvicted {
        /// Its id.
        id: NodeId,
        /// The peer that took its place, if any.
        replaced_by: Option<NodeId>,
    },
    /// A command's work is over.
    QueryFinished {
        /// The id [`Node::start`] returned.
        query: QueryId,
        /// Time from the command to this event.
        elapsed: Duration,
        /// What came of it.
        outcome: QueryOutcome,
    },
}

/// What came of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    /// [`Command::Ping`] answered.
    Pong {
        /// Who answered.
        peer: NodeId,
        /// Round-trip time of the answered attempt.
        rtt: Duration,
    },
    /// [`Command::PingClosest`]: one entry per peer pinged, closest first.
    PingedClosest(Vec<PingResult>),
    /// [`Command::FindNode`] finished.
    Found(LookupResult),
    /// [`Command::Bootstrap`] finished with this many peers in the table.
    Bootstrapped {
        /// Routing table size afterwards.
        peers: usize,
    },
    /// The command's work failed.
    Failed(QueryError),
}

/// One answer (or silence) of [`Command::PingClosest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingResult {
    /// The peer pinged.
    pub peer: NodeId,
    /// Its round-trip time, `None` if it did not answer.
    pub rtt: Option<Duration>,
}

/// Why a command's work failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// No answer after every retry.
    Timeout,
    /// Another node answered at the peer's address.
    WrongPeer,
    /// Bootstrap found nobody.
    NoPeers,
    /// The peer answered with an error or with the wrong kind of message.
    Refused,
}

/// Counters of everything a node did. Every datagram received lands in exactly one of
/// `datagrams_malformed`, `beacons_*`, `requests_received` or `responses_*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to the driver.
    pub datagrams_sent: u64,
    /// Bytes handed to the driver.
    pub bytes_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Received datagrams that did not decode.
    pub datagrams_malformed: u64,
    /// Beacons sent.
    pub beacons_sent: u64,
    /// Beacons accepted.
    pub beacons_accepted: u64,
    /// Our own beacons, looped back.
    pub beacons_own: u64,
    /// Beacons of another swarm.
    pub beacons_foreign: u64,
    /// Beacons with a timestamp out of bounds.
    pub beacons_stale: u64,
    /// Beacons whose signature did not verify.
    pub beacons_forged: u64,
    /// Requests received (and answered).
    pub requests_received: u64,
    /// Requests sent, retries included.
    pub requests_sent: u64,
    /// Resends after a timeout.
    pub requests_retried: u64,
    /// Requests that got no answer after every retry.
    pub requests_timed_out: u64,
    /// Requests refused locally by the per-peer limit.
    pub requests_throttled: u64,
    /// Responses that matched a request of ours.
    pub responses_received: u64,
    /// Responses that matched nothing (late, duplicated, or from another address).
    pub responses_unexpected: u64,
    /// Responses from another id than the one asked.
    pub responses_wrong_peer: u64,
    /// Lookups started (user, bootstrap and refresh).
    pub lookups_started: u64,
    /// Lookups finished.
    pub lookups_finished: u64,
}

/// Why an RPC was sent: what its answer or failure feeds.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    /// A step of a query.
    Query(QueryId),
    /// Confirms a peer heard in a beacon.
    Probe,
    /// Ping-before-evict of a full bucket's least recently seen contact.
    Check,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LookupKind {
    User,
    /// Bootstrap's self-lookup.
    Bootstrap,
    /// A random lookup into one bucket's range; `parent` is the bootstrap waiting for it.
    Refresh {
        parent: Option<QueryId>,
    },
}

#[derive(Debug)]
enum Query {
    Ping,
    PingClosest {
        results: Vec<PingResult>,
        pending: usize,
    },
    BootstrapPings {
        pending: usize,
    },
    /// Bootstrap's last phase: refresh lookups of the buckets beyond the closest
    /// neighbour are running.
    BootstrapRefreshes {
        pending: usize,
    },
    Lookup {
        lookup: Lookup,
        kind: LookupKind,
    },
}

#[derive(Debug)]
struct QueryState {
    started: Time,
    query: Query,
}

/// One swarm participant: discovery, routing table, RPCs, lookups.
///
/// `Node` performs no I/O and reads no clock. Drive it like this:
///
/// 1. Give it one input: [`Node::handle_datagram`], [`Node::handle_timeout`] or
///    [`Node::start`].
/// 2. Drain [`Node::poll_transmit`] until `None` and send each datagram.
/// 3. Drain [`Node::poll_event`] until `None`.
/// 4. Arm one timer for [`Node::poll_timeout`]; when it fires, call
///    [`Node::handle_timeout`] with the current time (not the deadline).
///
/// `now` never decreases between calls (checked by `debug_assert!`). `handle_timeout`
/// may be called early or twice; a call with nothing due does nothing.
pub struct Node {
    identity: Identity,
    id: NodeId,
    config: Config,
    rng: ChaCha8Rng,
    start: Time,
    unix_start: Duration,
    now: Time,
    table: RoutingTable,
    discovery: Discovery,
    rpc: RpcManager<Purpose>,
    queries: BTreeMap<QueryId, QueryState>,
    probing: BTreeSet<NodeId>,
    next_query: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("now", &self.now)
            .field("peers", &self.table.len())
            .field("queries", &self.queries.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node that starts at `now`, when its wall clock reads `unix_time` since the
    /// Unix epoch. `rng` is the only randomness it will use.
    pub fn new(
        now: Time,
        unix_time: Duration,
        config: Config,
        identity: Identity,
        mut rng: ChaCha8Rng,
    ) -> Node {
        let id = identity.id();
        let tag = discovery::network_tag(&config.network_key);
        let discovery = Discovery::new(now, config.discovery.clone(), tag, &mut rng);
        Node {
            table: RoutingTable::new(now, id, config.table.clone()),
            rpc: RpcManager::new(config.rpc.clone()),
            identity,
            id,
            config,
            rng,
            start: now,
            unix_start: unix_time,
            now,
            discovery,
            queries: BTreeMap::new(),
            probing: BTreeSet::new(),
            next_query: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    // ---- Queries: no side effects ----

    /// This node's id (its public key).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Its counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Its routing table.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Commands still running.
    pub fn queries_running(&self) -> usize {
        self.queries.len()
    }

    /// Its wall clock at `now`, in seconds since the Unix epoch.
    pub fn unix_secs(&self, now: Time) -> u64 {
        (self.unix_start + (now - self.start)).as_secs()
    }

    // ---- Outputs ----

    /// The next datagram to send. Changes after every input.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event. Changes after every input.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] next has work: a beacon, a retry or request
    /// timeout, or a bucket refresh. Changes after every input.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        [
            self.discovery.poll_timeout(),
            self.rpc.poll_timeout(),
            self.table.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- Inputs ----

    fn advance(&mut self, now: Time) {
        debug_assert!(
            now >= self.now,
            "time went backwards: {now:?} < {:?}",
            self.now
        );
        self.now = self.now.max(now);
    }

    /// Feeds one datagram from `from`. Any bytes are fine: what does not decode or
    /// check out is counted and dropped.
    pub fn handle_datagram(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        self.advance(now);
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += bytes.len() as u64;
        let datagram = match wire::decode(bytes) {
            Ok(datagram) => datagram,
            Err(error) => {
                // Garbage from the network is an input, not a failure of this call.
                self.stats.datagrams_malformed += 1;
                tracing::debug!(%from, %error, "dropping malformed datagram");
                return;
            }
        };
        match datagram {
            Datagram::Beacon(beacon) => self.on_beacon(now, from, &beacon),
            Datagram::Plain { sender, message } => match message {
                Message::Request { tx, request } => self.on_request(now, from, sender, tx, request),
                Message::Response { tx, response } => {
                    self.on_response(now, from, sender, tx, response)
                }
            },
        }
        self.flush();
    }

    /// Does whatever is due at `now`: beacons, retries, request timeouts, refreshes.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        let unix_secs = self.unix_secs(now);
        if let Some(beacon) = self.discovery.handle_timeout(
            now,
            unix_secs,
            &self.identity,
            self.config.port,
            &mut self.rng,
        ) {
            if let Some(group) = self.discovery.group() {
                self.stats.beacons_sent += 1;
                self.send(group, &Datagram::Beacon(beacon));
            }
        }
        self.rpc.handle_timeout(now);
        while let Some(failed) = self.rpc.poll_failure() {
            self.stats.requests_timed_out += 1;
            let reason = match failed.reason {
                RpcFailure::Timeout => QueryError::Timeout,
                RpcFailure::Throttled => QueryError::Refused,
            };
            self.on_rpc_failed(now, failed.context, failed.peer, reason);
        }
        while let Some(bucket) = self.table.poll_refresh(now) {
            let target = self.table.random_id_in_bucket(bucket, &mut self.rng);
            let query = self.next_query_id();
            self.start_lookup(now, query, target, LookupKind::Refresh { parent: None });
        }
        self.flush();
    }

    /// Starts a command. Its end comes as [`Event::QueryFinished`] with the returned id.
    pub fn start(&mut self, now: Time, command: Command) -> Result<QueryId, CommandError> {
        self.advance(now);
        let query = match command {
            Command::Ping(peer) => {
                let contact = *self
                    .table
                    .get(&peer)
                    .ok_or(CommandError::UnknownPeer(peer))?;
                let query = self.next_query_id();
                self.rpc
                    .start(
                        now,
                        contact.addr,
                        Some(peer),
                        Request::Ping,
                        Purpose::Query(query),
                        &mut self.rng,
                    )
                    .map_err(|_| CommandError::Throttled)?;
                self.insert_query(now, query, Query::Ping);
                query
            }
            Command::PingClosest(n) => {
                let closest = self.table.closest(&self.id, n);
                if closest.is_empty() {
                    return Err(CommandError::NoPeers);
                }
                let query = self.next_query_id();
                let mut results = Vec::with_capacity(closest.len());
                for contact in closest {
                    let started = self.rpc.start(
                        now,
                        contact.addr,
                        Some(contact.id),
                        Request::Ping,
                        Purpose::Query(query),
                        &mut self.rng,
                    );
                    if started.is_ok() {
                        results.push(PingResult {
                            peer: contact.id,
                            rtt: None,
                        });
                    }
                }
                let pending = results.len();
                if pending == 0 {
                    return Err(CommandError::Throttled);
                }
                self.insert_query(now, query, Query::PingClosest { results, pending });
                query
            }
            Command::FindNode(target) => {
                if self.table.is_empty() {
                    return Err(CommandError::NoPeers);
                }
                let query = self.next_query_id();
                self.start_lookup(now, query, target, LookupKind::User);
                query
            }
            Command::Bootstrap => {
                if self.config.bootstrap.is_empty() && self.table.is_empty() {
                    return Err(CommandError::NoPeers);
                }
                let query = self.next_query_id();
                let mut pending = 0;
                for addr in self.config.bootstrap.clone() {
                    let started = self.rpc.start(
                        now,
                        addr,
                        None,
                        Request::Ping,
                        Purpose::Query(query),
                        &mut self.rng,
                    );
                    pending += usize::from(started.is_ok());
                }
                if pending == 0 {
                    self.start_lookup(now, query, self.id, LookupKind::Bootstrap);
                } else {
                    self.insert_query(now, query, Query::BootstrapPings { pending });
                }
                query
            }
        };
        self.flush();
        Ok(query)
    }

    // ---- Internals ----

    fn next_query_id(&mut self) -> QueryId {
        self.next_query += 1;
        QueryId(self.next_query)
    }

    fn insert_query(&mut self, now: Time, query: QueryId, kind: Query) {
        self.queries.insert(
            query,
            QueryState {
                started: now,
                query: kind,
            },
        );
    }

    fn finish_query(&mut self, now: Time, query: QueryId, outcome: QueryOutcome) {
        if let Some(state) = self.queries.remove(&query) {
            self.events.push_back(Event::QueryFinished {
                query,
                elapsed: now - state.started,
                outcome,
            });
        }
    }

    /// Encodes and queues one datagram.
    fn send(&mut self, dst: SocketAddr, datagram: &Datagram) {
        let payload = datagram.to_bytes();
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        self.transmits.push_back(Transmit { dst, payload });
    }

    fn send_message(&mut self, dst: SocketAddr, message: Message) {
        let datagram = Datagram::Plain {
            sender: self.id,
            message,
        };
        self.send(dst, &datagram);
    }

    /// Puts the requests the RPC manager released on the wire.
    fn flush(&mut self) {
        while let Some(send) = self.rpc.poll_send() {
            self.stats.requests_sent += 1;
            self.stats.requests_retried += u64::from(send.retry);
            let message = Message::Request {
                tx: send.tx,
                request: send.request,
            };
            self.send_message(send.dst, message);
        }
    }

    fn on_beacon(&mut self, now: Time, from: SocketAddr, beacon: &wire::Beacon) {
        let unix_secs = self.unix_secs(now);
        match self
            .discovery
            .handle_beacon(&self.id, unix_secs, from, beacon)
        {
            Ok((id, addr)) => {
                self.stats.beacons_accepted += 1;
                let known = self.table.get(&id).is_some_and(|c| c.addr == addr);
                if known || self.probing.contains(&id) {
                    return;
                }
                // A beacon is signed but says nothing about reachability: ping first.
                let started = self.rpc.start(
                    now,
                    addr,
                    Some(id),
                    Request::Ping,
                    Purpose::Probe,
                    &mut self.rng,
                );
                if started.is_ok() {
                    self.probing.insert(id);
                }
            }
            Err(reason) => {
                let counter = match reason {
                    BeaconRejected::Own => &mut self.stats.beacons_own,
                    BeaconRejected::ForeignNetwork => &mut self.stats.beacons_foreign,
                    BeaconRejected::Stale => &mut self.stats.beacons_stale,
                    BeaconRejected::Forged => &mut self.stats.beacons_forged,
                };
                *counter += 1;
                tracing::debug!(%from, ?reason, "dropping beacon");
            }
        }
    }

    fn on_request(
        &mut self,
        now: Time,
        from: SocketAddr,
        sender: NodeId,
        tx: TxId,
        request: Request,
    ) {
        self.stats.requests_received += 1;
        self.observe(now, sender, from, Via::Rpc);
        let response = match request {
            Request::Ping => Response::Pong { observed: from },
            Request::FindNode { target } => {
                let n = self.config.table.bucket_capacity.min(MAX_CONTACTS);
                let contacts = self
                    .table
                    .closest(&target, n + 1)
                    .into_iter()
                    .filter(|c| c.id != sender)
                    .take(n)
                    .map(|c| WireContact {
                        id: c.id,
                        addr: c.addr,
                    })
                    .collect();
                Response::Nodes { contacts }
            }
        };
        self.send_message(from, Message::Response { tx, response });
    }

    fn on_response(
        &mut self,
        now: Time,
        from: SocketAddr,
        sender: NodeId,
        tx: TxId,
        response: Response,
    ) {
        let Some(done) = self.rpc.handle_response(now, from, tx) else {
            self.stats.responses_unexpected += 1;
            return;
        };
        if let Purpose::Probe = done.context {
            if let Some(peer) = done.peer {
                self.probing.remove(&peer);
            }
        }
        if done.peer.is_some_and(|expected| expected != sender) {
            self.stats.responses_wrong_peer += 1;
            self.on_rpc_failed(now, done.context, done.peer, QueryError::WrongPeer);
            return;
        }
        self.stats.responses_received += 1;
        let via = match done.context {
            Purpose::Probe => Via::Beacon,
            Purpose::Query(q)
                if matches!(
                    self.queries.get(&q),
                    Some(QueryState {
                        query: Query::BootstrapPings { .. },
                        ..
                    })
                ) =>
            {
                Via::Bootstrap
            }
            _ => Via::Rpc,
        };
        self.observe(now, sender, from, via);
        if let Purpose::Query(query) = done.context {
            self.on_query_answer(now, query, Some(sender), Ok((done.rtt, response)));
        }
    }

    fn on_rpc_failed(
        &mut self,
        now: Time,
        purpose: Purpose,
        peer: Option<NodeId>,
        reason: QueryError,
    ) {
        if let Some(peer) = peer {
            if let Some(evicted) = self.table.on_failure(&peer) {
                self.on_evicted(evicted.evicted.id, evicted.replaced_by);
            }
        }
        match purpose {
            Purpose::Probe => {
                if let Some(peer) = peer {
                    self.probing.remove(&peer);
                }
            }
            Purpose::Check => {
                if let Some(evicted) = peer.and_then(|peer| self.table.check_failed(&peer)) {
                    self.on_evicted(evicted.evicted.id, evicted.replaced_by);
                }
            }
            Purpose::Query(query) => self.on_query_answer(now, query, peer, Err(reason)),
        }
    }

    fn on_evicted(&mut self, id: NodeId, replaced_by: Option<Contact>) {
        self.events.push_back(Event::PeerEvicted {
            id,
            replaced_by: replaced_by.map(|c| c.id),
        });
        if let Some(c) = replaced_by {
            self.events.push_back(Event::PeerDiscovered {
                id: c.id,
                addr: c.addr,
                via: Via::Rpc,
            });
        }
    }

    /// `id` proved alive at `addr`: update the table and act on what it says.
    fn observe(&mut self, now: Time, id: NodeId, addr: SocketAddr, via: Via) {
        match self.table.insert(now, id, addr) {
            InsertOutcome::Inserted => {
                self.events
                    .push_back(Event::PeerDiscovered { id, addr, via })
            }
            InsertOutcome::Replaced { evicted } => {
                self.events.push_back(Event::PeerEvicted {
                    id: evicted.id,
                    replaced_by: Some(id),
                });
                self.events
                    .push_back(Event::PeerDiscovered { id, addr, via });
            }
            InsertOutcome::Pending { ping } => {
                let started = self.rpc.start(
                    now,
                    ping.addr,
                    Some(ping.id),
                    Request::Ping,
                    Purpose::Check,
                    &mut self.rng,
                );
                if started.is_err() {
                    // Too busy to check: keep the contact, let a later candidate retry.
                    self.table.abandon_check(&ping.id);
                }
            }
            InsertOutcome::Updated | InsertOutcome::Queued | InsertOutcome::IsSelf => {}
        }
    }

    /// One step of a query got its answer (`Ok`) or will get none (`Err`).
    fn on_query_answer(
        &mut self,
        now: Time,
        query: QueryId,
        peer: Option<NodeId>,
        answer: Result<(Duration, Response), QueryError>,
    ) {
        let Some(state) = self.queries.get_mut(&query) else {
            return;
        };
        match &mut state.query {
            Query::Ping => {
                let outcome = match (answer, peer) {
                    (Ok((rtt, Response::Pong { .. })), Some(peer)) => {
                        QueryOutcome::Pong { peer, rtt }
                    }
                    (Ok(_), _) => QueryOutcome::Failed(QueryError::Refused),
                    (Err(reason), _) => QueryOutcome::Failed(reason),
                };
                self.finish_query(now, query, outcome);
            }
            Query::PingClosest { results, pending } => {
                if let Some(result) = results
                    .iter_mut()
                    .find(|r| Some(r.peer) == peer && r.rtt.is_none())
                {
                    if let Ok((rtt, Response::Pong { .. })) = answer {
                        result.rtt = Some(rtt);
                    }
                }
                *pending -= 1;
                if *pending == 0 {
                    let results = std::mem::take(results);
                    self.finish_query(now, query, QueryOutcome::PingedClosest(results));
                }
            }
            Query::BootstrapPings { pending } => {
                *pending -= 1;
                if *pending == 0 {
                    if self.table.is_empty() {
                        self.finish_query(now, query, QueryOutcome::Failed(QueryError::NoPeers));
                    } else {
                        // Same query id and start time: the self-lookup is bootstrap's second half.
                        self.start_lookup(now, query, self.id, LookupKind::Bootstrap);
                    }
                }
            }
            // Its refresh lookups carry their own query ids.
            Query::BootstrapRefreshes { .. } => {}
            Query::Lookup { lookup, .. } => {
                let Some(peer) = peer else {
                    return;
                };
                match answer {
                    Ok((_, Response::Nodes { contacts })) => lookup.on_success(&peer, &contacts),
                    _ => lookup.on_failure(&peer),
                }
                self.drive_lookup(now, query);
            }
        }
    }

    /// After the self-lookup, bootstrap refreshes every bucket further away than the
    /// closest neighbour (the Kademlia paper's join): that fills the far buckets and
    /// puts this node into the tables of the nodes in those ranges. Without it, nodes
    /// that joined together can stay unknown to a whole region of the id space.
    fn refresh_beyond_closest(&mut self, now: Time, query: QueryId) {
        let Some(closest) = self.table.closest(&self.id, 1).first().map(|c| c.id) else {
            self.finish_bootstrap(now, query);
            return;
        };
        let nearest_bucket = self
            .id
            .bucket_index(&closest)
            .expect("the table never holds itself");
        let buckets = nearest_bucket + 1..super::table::BUCKETS;
        if let Some(state) = self.queries.get_mut(&query) {
            state.query = Query::BootstrapRefreshes {
                pending: buckets.len(),
            };
        }
        if buckets.is_empty() {
            self.finish_bootstrap(now, query);
            return;
        }
        for bucket in buckets {
            let target = self.table.random_id_in_bucket(bucket, &mut self.rng);
            let child = self.next_query_id();
            self.start_lookup(
                now,
                child,
                target,
                LookupKind::Refresh {
                    parent: Some(query),
                },
            );
        }
    }

    fn finish_bootstrap(&mut self, now: Time, query: QueryId) {
        let peers = self.table.len();
        let outcome = if peers == 0 {
            QueryOutcome::Failed(QueryError::NoPeers)
        } else {
            QueryOutcome::Bootstrapped { peers }
        };
        self.finish_query(now, query, outcome);
    }

    fn start_lookup(&mut self, now: Time, query: QueryId, target: NodeId, kind: LookupKind) {
        let k = self.config.table.bucket_capacity;
        let seeds = self
            .table
            .closest(&target, k)
            .into_iter()
            .map(|c| WireContact {
                id: c.id,
                addr: c.addr,
            });
        let lookup = Lookup::new(target, self.id, k, self.config.lookup_parallelism, seeds);
        self.stats.lookups_started += 1;
        self.queries
            .entry(query)
            .or_insert(QueryState {
                started: now,
                query: Query::Ping,
            })
            .query = Query::Lookup { lookup, kind };
        self.drive_lookup(now, query);
    }

    fn drive_lookup(&mut self, now: Time, query: QueryId) {
        let Some(QueryState {
            query: Query::Lookup { lookup, kind },
            ..
        }) = self.queries.get_mut(&query)
        else {
            return;
        };
        let target = lookup.target();
        while let Some(contact) = lookup.next_peer() {
            let request = Request::FindNode { target };
            let started = self.rpc.start(
                now,
                contact.addr,
                Some(contact.id),
                request,
                Purpose::Query(query),
                &mut self.rng,
            );
            if started.is_err() {
                self.stats.requests_throttled += 1;
                lookup.on_failure(&contact.id);
            }
        }
        if !lookup.is_finished() {
            return;
        }
        let (result, kind) = (lookup.result(), *kind);
        self.stats.lookups_finished += 1;
        self.table.mark_refreshed(now, &target);
        match kind {
            LookupKind::User => self.finish_query(now, query, QueryOutcome::Found(result)),
            LookupKind::Bootstrap => self.refresh_beyond_closest(now, query),
            LookupKind::Refresh { parent } => {
                self.queries.remove(&query);
                let Some(parent) = parent else {
                    return;
                };
                if let Some(QueryState {
                    query: Query::BootstrapRefreshes { pending },
                    ..
                }) = self.queries.get_mut(&parent)
                {
                    *pending -= 1;
                    if *pending == 0 {
                        self.finish_bootstrap(now, parent);
                    }
                }
            }
        }
    }
}
