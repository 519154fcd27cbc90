//! [`Node`]: one swarm participant, composing discovery, handshakes and sessions, the
//! routing table, RPC tracking and lookups. The one type a driver talks to.
//!
//! In: datagrams ([`Node::handle_datagram`]), the clock ([`Node::handle_timeout`]) and
//! commands ([`Node::start`]). Out: datagrams to send ([`Node::poll_transmit`]), events
//! ([`Node::poll_event`]) and the next deadline ([`Node::poll_timeout`]).
//!
//! Sub-machines are drained inside the node's own `handle_*` calls: a beacon becomes a
//! handshake, a finished handshake releases the requests waiting for it, an RPC answer
//! becomes a lookup step, a full bucket becomes a liveness ping, a due bucket becomes a
//! refresh lookup. Only what the application cares about comes out as an [`Event`].
//!
//! Every RPC travels inside a session, so every peer in the routing table has proved
//! its key: a contact enters the table only when a sealed frame from it opens.
//!
//! A driver's loop, here for one node alone for three seconds: it bootstraps from an
//! address where nobody answers, so its handshake hellos go out, are retried and time
//! out. `examples/two_nodes.rs` runs the same loop for two nodes and a network:
//!
//! ```
//! # use std::time::Duration;
//! # use dswarm::proto::{node::Config, Command, Identity, Node, Time};
//! # use rand_chacha::ChaCha8Rng;
//! # use rand_core::SeedableRng;
//! let config = Config { bootstrap: vec!["10.0.0.1:7000".parse().unwrap()], ..Config::default() };
//! let rng = ChaCha8Rng::seed_from_u64(1);
//! let mut node = Node::new(Time::ZERO, Duration::ZERO, config, Identity::from_seed([1; 32]), rng);
//! node.start(Time::ZERO, Command::Bootstrap).expect("it has a bootstrap address");
//! let end = Time::ZERO + Duration::from_secs(3);
//! let mut sent = 0;
//! while let Some(now) = node.poll_timeout().filter(|&deadline| deadline < end) {
//!     node.handle_timeout(now); // or handle_datagram(now, from, &bytes), if one came first
//!     while node.poll_transmit().is_some() { sent += 1; } // each one onto the wire
//!     while let Some(event) = node.poll_event() { println!("{now}: {event:?}"); }
//! }
//! assert!(sent > 1, "the hello went out, and again when nobody answered");
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use super::crypto::{Crypto, CryptoSuite};
use super::discovery::{self, BeaconDue, BeaconRejected, Discovery};
use super::id::NodeId;
use super::identity::Identity;
use super::lookup::{Goal, Lookup};
use super::rpc::{RpcFailure, RpcManager};
use super::session::{EarlyMessage, OpenError, SessionEvent, Sessions};
use super::store::Store;
use super::stream::StreamSet;
use super::table::{Contact, InsertOutcome, RoutingTable};
use super::time::Time;
use super::wire::{
    self, Datagram, Message, Request, Response, TxId, WireContact, MAX_CONTACTS, NETWORK_TAG_LEN,
};

mod api;
mod behaviour;
mod connect;
mod footprint;
mod limits;
mod queries;
mod records;
mod streams;
mod traversal;

pub use api::*;
pub use behaviour::Behaviour;
pub use limits::Limits;
pub use traversal::TraversalConfig;

/// Why an RPC was sent: what its answer or failure feeds.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    /// A step of a query.
    Query(QueryId),
    /// Confirms a peer heard in a beacon.
    Probe,
    /// Ping-before-evict of a full bucket's least recently seen contact.
    Check,
    /// Holds a relay's session and this node's NAT mapping to it open.
    Keepalive,
    /// Asks what address the peer sees, to classify the NAT.
    Reflexive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LookupKind {
    /// Bootstrap's self-lookup.
    Bootstrap,
    /// A random lookup into one bucket's range; `parent` is the bootstrap waiting for
    /// it; `from_above` marks the second try that starts from farther buckets.
    Refresh {
        parent: Option<QueryId>,
        from_above: bool,
    },
    /// The first phase of a record command (see `records`).
    Record,
    /// FIND_PEER's walk to a peer's id, for a [`Command::FindNode`] or a connect (see
    /// `records`): the first phase of a read of the topic `Key(id)`, over as soon as
    /// the peer itself answers.
    FindPeer,
}

impl LookupKind {
    /// What ends a lookup of this kind: finding a node, or the k closest, which
    /// bootstrap, refreshes and records need.
    fn goal(self) -> Goal {
        match self {
            LookupKind::FindPeer => Goal::Node,
            LookupKind::Bootstrap | LookupKind::Refresh { .. } | LookupKind::Record => {
                Goal::Closest
            }
        }
    }
}

#[derive(Debug)]
enum Query {
    Ping,
    PingClosest {
        results: Vec<PingResult>,
        pending: usize,
    },
    /// Bootstrap's first phase: `Who` probes and pings of the bootstrap addresses.
    /// `dialed` are the bootstrap nodes whose beacon answered, `answered` those that
    /// also answered the ping: the self-lookup's seeds, whether or not the table had
    /// room for them.
    BootstrapPings {
        pending: usize,
        dialed: Vec<WireContact>,
        answered: Vec<WireContact>,
    },
    /// Bootstrap's last phase: refresh lookups of the buckets beyond the closest
    /// neighbour. `running` are under way; `queued` buckets start as they end.
    BootstrapRefreshes {
        running: usize,
        queued: Vec<usize>,
    },
    Lookup {
        lookup: Lookup,
        kind: LookupKind,
    },
    /// The second phase of a record command.
    Records(Box<records::Fanout>),
    /// A [`Command::Connect`].
    Connect(Box<connect::Connect>),
}

#[derive(Debug)]
struct QueryState {
    started: Time,
    query: Query,
}

/// A `Who` sent to a bootstrap address, waiting for its beacon.
#[derive(Debug)]
struct WhoProbe {
    query: QueryId,
    deadline: Time,
    attempts: u8,
}

/// One swarm participant: discovery, handshakes, sessions, routing table, RPCs,
/// lookups.
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
    crypto: &'static dyn Crypto,
    suite: CryptoSuite,
    network_tag: [u8; NETWORK_TAG_LEN],
    rng: ChaCha8Rng,
    start: Time,
    unix_start: Duration,
    now: Time,
    table: RoutingTable,
    discovery: Discovery,
    sessions: Sessions,
    rpc: RpcManager<Purpose>,
    /// Requests for peers whose handshake is running.
    waiting: limits::Waiting,
    /// How many requests each session peer may still ask.
    rates: limits::RequestRates,
    /// How many relay notices each session peer may still have forwarded or taken.
    relay_rates: limits::RequestRates,
    /// The budget of beacon signature checks.
    beacon_checks: limits::BeaconChecks,
    queries: BTreeMap<QueryId, QueryState>,
    probing: BTreeSet<NodeId>,
    who: BTreeMap<SocketAddr, WhoProbe>,
    /// When bootstrap runs again: set while a bootstrap left the table with fewer
    /// than k peers, cleared when that retry starts.
    rebootstrap: Option<Time>,
    /// The wait before the last retry, kept while it runs so the next one waits
    /// twice as long.
    rebootstrap_wait: Option<Duration>,
    /// When the node looks itself up once more after a bootstrap, for the neighbours
    /// that joined after it (see `finish_bootstrap`).
    second_look: Option<Time>,
    next_query: u64,
    /// Records held for others.
    store: Store,
    /// Record commands in their lookup phase.
    record_ops: BTreeMap<QueryId, records::Pending>,
    /// What this node wrote and writes again.
    published: BTreeMap<records::Published, records::Republish>,
    /// Topics this node withdrew, with the time signed, while that is not past: its
    /// next announcement there is signed later.
    withdrawn: BTreeMap<crate::proto::id::Key, u64>,
    /// Queries the node started for itself (republishing): their end is not reported.
    internal: BTreeSet<QueryId>,
    /// NAT class, relays, hole punches.
    traversal: traversal::Traversal,
    /// Streams, and the listener's firewall.
    streams: StreamSet,
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
            .field("sessions", &self.sessions.open_count())
            .field("queries", &self.queries.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node that starts at `now`, when its wall clock reads `unix_time` since the
    /// Unix epoch. `rng` is the only randomness it will use. It runs the real crypto
    /// suite: the only one that may meet a real network.
    pub fn new(
        now: Time,
        unix_time: Duration,
        config: Config,
        identity: Identity,
        rng: ChaCha8Rng,
    ) -> Node {
        Node::with_suite(now, unix_time, config, identity, rng, CryptoSuite::Real)
    }

    /// [`Node::new`] with the crypto suite `suite`; nodes of one swarm must agree.
    /// [`CryptoSuite::Fast`] is for simulated swarms only. The boundary is in the
    /// types: the live adapter builds its nodes with [`Node::new`], and nothing it is
    /// given ([`Config`] included) can name a suite.
    pub fn with_suite(
        now: Time,
        unix_time: Duration,
        config: Config,
        identity: Identity,
        mut rng: ChaCha8Rng,
        suite: CryptoSuite,
    ) -> Node {
        let id = identity.id();
        let network_tag = discovery::network_tag(&config.network_key);
        let discovery = Discovery::new(now, config.discovery.clone(), network_tag, &mut rng);
        let mut table = RoutingTable::new(now, id, config.table.clone());
        // First refreshes land between one and one and a half intervals from now.
        let half = config.table.refresh_interval / 2;
        table.stagger_refresh(|| discovery::fraction(half, rng.next_u32()));
        let mut token_secret = [0u8; 32];
        rng.fill_bytes(&mut token_secret);
        let prefixes = (config.table.block_prefix_v4, config.table.block_prefix_v6);
        let store = Store::new(config.store.clone(), token_secret, prefixes);
        Node {
            store,
            record_ops: BTreeMap::new(),
            published: BTreeMap::new(),
            withdrawn: BTreeMap::new(),
            internal: BTreeSet::new(),
            traversal: traversal::Traversal::new(
                now,
                config.address,
                prefixes,
                config.sessions.idle_timeout,
            ),
            streams: StreamSet::new(config.streams.clone(), id),
            table,
            rpc: RpcManager::new(config.rpc.clone()),
            sessions: Sessions::new(
                config.sessions.clone(),
                config.network_key,
                identity.clone(),
            ),
            crypto: suite.implementation(),
            suite,
            network_tag,
            identity,
            id,
            config,
            rng,
            start: now,
            unix_start: unix_time,
            now,
            discovery,
            waiting: limits::Waiting::default(),
            rates: limits::RequestRates::default(),
            relay_rates: limits::RequestRates::default(),
            beacon_checks: limits::BeaconChecks::default(),
            queries: BTreeMap::new(),
            probing: BTreeSet::new(),
            who: BTreeMap::new(),
            rebootstrap: None,
            rebootstrap_wait: None,
            second_look: None,
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

    /// The crypto suite it runs (see [`Node::with_suite`]).
    pub fn crypto_suite(&self) -> CryptoSuite {
        self.suite
    }

    /// Its counters.
    pub fn stats(&self) -> Stats {
        Stats {
            sessions: self.sessions.stats(),
            store: self.store.stats(),
            streams: self.streams.stats(),
            requests_refused_full: self.rpc.refused_full(),
            ..self.stats
        }
    }

    /// Its routing table. Every contact in it proved its key in a handshake.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Whether a session with `peer` is open.
    pub fn has_session(&self, peer: &NodeId) -> bool {
        self.sessions.is_open(peer)
    }

    /// Where the session with `peer` sends: the last address it validated.
    pub fn session_addr(&self, peer: &NodeId) -> Option<SocketAddr> {
        self.sessions.addr_of(peer)
    }

    /// The topics this node announces (and keeps announcing), in order: what a clean
    /// shutdown withdraws with [`Command::Unannounce`].
    pub fn announced_topics(&self) -> Vec<crate::proto::id::Key> {
        self.published
            .keys()
            .filter_map(|p| match p {
                records::Published::Topic(topic) => Some(*topic),
                _ => None,
            })
            .collect()
    }

    /// Records held for others, of all kinds.
    pub fn records_held(&self) -> usize {
        self.store.len()
    }

    /// Every record held for others (see [`Store::records`]): read-only, for oracles
    /// that check what a node accepted.
    pub fn stored_records(&self) -> impl Iterator<Item = super::store::StoredRecord<'_>> + '_ {
        self.store.records()
    }

    /// Open sessions.
    pub fn sessions_open(&self) -> usize {
        self.sessions.open_count()
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

    /// When [`Node::handle_timeout`] next has work: a beacon, a handshake
    /// retransmission, a request timeout, a session expiry or a bucket refresh.
    /// Changes after every input.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        [
            self.discovery.poll_timeout(),
            self.rpc.poll_timeout(),
            self.sessions.poll_timeout(),
            self.table.poll_timeout(),
            self.who.values().map(|w| w.deadline).min(),
            self.rebootstrap,
            self.second_look,
            self.store.poll_timeout(),
            self.republish_timeout(),
            self.traversal.poll_timeout(),
            self.streams.poll_timeout(),
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
            Datagram::Who { network_tag } => self.on_who(now, from, network_tag),
            Datagram::Handshake(handshake) => {
                let early = self.sessions.handle_handshake(
                    now,
                    self.crypto,
                    from,
                    handshake,
                    &mut self.rng,
                );
                for early in early {
                    self.on_early(now, from, early);
                }
            }
            Datagram::Sealed { header, ciphertext } => {
                self.on_sealed(now, from, header, &ciphertext)
            }
            Datagram::NoSession { receiver } => {
                if let Some(peer) = self.sessions.on_no_session(from, receiver) {
                    // Requests in flight go again now, through a new handshake (a
                    // node at its session cap closes the least recently used).
                    tracing::debug!(%from, "peer dropped our session");
                    self.rpc.resend_peer(now, &peer);
                }
            }
        }
        self.flush(now);
    }

    /// Does whatever is due at `now`: beacons, retransmissions, request timeouts,
    /// session expiry, refreshes.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        let unix_secs = self.unix_secs(now);
        let port = self.config.port;
        let has_peers = !self.table.is_empty();
        match self.discovery.handle_timeout(
            now,
            self.crypto,
            unix_secs,
            &self.identity,
            port,
            has_peers,
            &mut self.rng,
        ) {
            Some(BeaconDue::Send(beacon)) => {
                if let Some(group) = self.discovery.group() {
                    self.stats.beacons_sent += 1;
                    let beacon = self.config.behaviour.beacon(beacon);
                    self.send(group, &Datagram::Beacon(beacon));
                }
            }
            Some(BeaconDue::Suppressed) => self.stats.beacons_suppressed += 1,
            None => {}
        }
        self.sessions.handle_timeout(now);
        self.rpc.handle_timeout(now);
        self.lookup_stalls(now);
        self.who_timeouts(now);
        if self.rebootstrap.is_some_and(|at| at <= now) {
            // One retry per schedule: the next is set when this one ends. Reported like
            // any bootstrap; a refusal (nobody to ask) ends the retries.
            self.rebootstrap = None;
            if self.start_command(now, Command::Bootstrap).is_err() {
                self.rebootstrap_wait = None;
            }
        }
        if self.second_look.is_some_and(|at| at <= now) {
            self.second_look = None;
            let query = self.next_query_id();
            let kind = LookupKind::Refresh {
                parent: None,
                from_above: false,
            };
            self.start_lookup(now, query, self.id, kind);
        }
        self.store.handle_timeout(now);
        self.republish_due(now);
        self.traversal_timeout(now);
        self.streams.handle_timeout(now);
        while let Some(bucket) = self.table.poll_refresh(now) {
            // A bucket of the neighbourhood: one lookup of the own id refreshes them
            // all, instead of one lookup each.
            let target = match self.table.neighbourhood() {
                Some(last) if bucket <= last => {
                    self.table.mark_neighbourhood_refreshed(now, last);
                    self.id
                }
                _ => self.table.random_id_in_bucket(bucket, &mut self.rng),
            };
            let query = self.next_query_id();
            self.start_lookup(
                now,
                query,
                target,
                LookupKind::Refresh {
                    parent: None,
                    from_above: false,
                },
            );
        }
        self.flush(now);
    }

    /// Starts a command. Its end comes as [`Event::QueryFinished`] with the returned id.
    pub fn start(&mut self, now: Time, command: Command) -> Result<QueryId, CommandError> {
        self.advance(now);
        let query = self.start_command(now, command)?;
        self.flush(now);
        Ok(query)
    }

    // ---- Internals: sending ----

    /// Encodes and queues one datagram.
    fn send(&mut self, dst: SocketAddr, datagram: &Datagram) {
        self.send_bytes(dst, datagram.to_bytes());
    }

    fn send_bytes(&mut self, dst: SocketAddr, payload: Vec<u8>) {
        if crate::proto::relay_path::is_relay_path(dst) {
            self.send_via_relay(dst, payload);
            return;
        }
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        self.transmits.push_back(Transmit { dst, payload });
    }

    /// What this node's frames to `peer` say of it: whether it asks not to be listed,
    /// and whether it keeps the session (`peer` is in its routing table, or would be
    /// taken in), so that the two ends keep or drop it together.
    fn frame_flags(&self, peer: &NodeId) -> wire::FrameFlags {
        wire::FrameFlags {
            unlisted: self.unlisted(),
            keep: self.table.get(peer).is_some() || self.table.has_room_for(self.now, peer),
        }
    }

    /// Seals `message` for `peer`; `false` if no session is open.
    fn send_sealed(&mut self, peer: &NodeId, message: &Message) -> bool {
        let mut plaintext = Vec::with_capacity(64);
        message.encode(&mut plaintext);
        let flags = self.frame_flags(peer);
        match self.sessions.seal(self.crypto, peer, &plaintext, flags) {
            Some((dst, datagram)) => {
                if let Err(datagram) = self.sessions.beside_accept(peer, datagram) {
                    // Handshake datagrams queued before this frame go first: msg4
                    // before an answer that did not fit beside it.
                    while let Some((to, handshake)) = self.sessions.poll_transmit() {
                        self.send_bytes(to, handshake);
                    }
                    self.send_bytes(dst, datagram);
                }
                true
            }
            None => false,
        }
    }

    /// Holds `message` for `peer` until its session opens, and dials it at `addr`.
    /// The first message held for a fresh dial travels beside msg3, sealed with the
    /// keys msg2 makes known: the answer comes a round trip sooner, in one datagram
    /// fewer.
    pub(super) fn hold_and_dial(
        &mut self,
        now: Time,
        peer: NodeId,
        addr: SocketAddr,
        message: Message,
    ) {
        let mut encoded = Vec::with_capacity(64);
        message.encode(&mut encoded);
        let first = self.waiting.is_empty_for(&peer)
            && !self.sessions.is_dialling(&peer)
            && !self.sessions.is_open(&peer);
        let limits = &self.config.limits;
        let held = self.waiting.push(peer, message, encoded.len(), limits);
        if !held {
            // Dialled all the same: a retry finds the session open.
            self.stats.requests_not_buffered += 1;
        }
        let early = (first && held).then(|| (encoded, self.frame_flags(&peer)));
        self.sessions
            .connect(now, self.crypto, peer, addr, &mut self.rng, early);
    }

    /// Drains the sub-machines until nothing moves: requests the RPC manager
    /// released, failures, handshake datagrams and session events.
    fn flush(&mut self, now: Time) {
        loop {
            let mut moved = false;
            while let Some(failed) = self.rpc.poll_failure() {
                moved = true;
                let reason = match failed.reason {
                    RpcFailure::Timeout => {
                        self.stats.requests_timed_out += 1;
                        QueryError::Timeout
                    }
                    RpcFailure::Throttled => QueryError::Refused,
                    RpcFailure::Unreachable => QueryError::Unreachable,
                };
                self.on_rpc_failed(now, failed.context, failed.peer, reason);
            }
            while let Some(send) = self.rpc.poll_send() {
                moved = true;
                self.stats.requests_sent += 1;
                self.stats.requests_retried += u64::from(send.retry);
                let message = Message::Request {
                    tx: send.tx,
                    request: send.request,
                };
                if !self.send_sealed(&send.peer, &message) {
                    if !send.retry {
                        self.rpc.awaits_handshake(send.tx);
                    }
                    self.hold_and_dial(now, send.peer, send.dst, message);
                }
            }
            while let Some((dst, datagram)) = self.sessions.poll_transmit() {
                moved = true;
                self.send_bytes(dst, datagram);
            }
            while let Some(event) = self.sessions.poll_event() {
                moved = true;
                self.on_session_event(now, event);
            }
            moved |= self.flush_streams(now);
            if !moved {
                return;
            }
        }
    }

    fn on_session_event(&mut self, now: Time, event: SessionEvent) {
        match event {
            SessionEvent::Established {
                peer, addr, early, ..
            } => {
                self.events
                    .push_back(Event::PeerVerified { id: peer, addr });
                // The first went beside msg3 already: this session's, or that of a
                // dial to the same peer still under way (both dialled at once).
                let skip = usize::from(self.sessions.withdraw_early(&peer) || early);
                for message in self.waiting.take(&peer).into_iter().skip(skip) {
                    self.send_sealed(&peer, &message);
                }
            }
            SessionEvent::Failed { peer, addr, reason } => {
                self.waiting.take(&peer);
                self.events.push_back(Event::HandshakeFailed {
                    id: peer,
                    addr,
                    reason,
                });
                self.rpc.fail_peer(now, &peer, RpcFailure::Unreachable);
            }
            SessionEvent::Closed { peer } => {
                self.rates.forget(&peer);
                self.relay_rates.forget(&peer);
                self.events.push_back(Event::SessionClosed { id: peer });
            }
        }
    }

    // ---- Internals: receiving ----

    fn on_who(&mut self, now: Time, from: SocketAddr, network_tag: [u8; NETWORK_TAG_LEN]) {
        self.stats.who_received += 1;
        if network_tag != self.network_tag {
            return;
        }
        let unix_secs = self.unix_secs(now);
        let beacon =
            self.discovery
                .beacon(self.crypto, unix_secs, &self.identity, self.config.port);
        let beacon = self.config.behaviour.beacon(beacon);
        self.send(from, &Datagram::Beacon(beacon));
    }

    fn on_beacon(&mut self, now: Time, from: SocketAddr, beacon: &wire::Beacon) {
        // A signature check costs tens of microseconds and a LAN segment beacons all
        // the time: check only beacons that could change something. One that answers
        // a bootstrap probe always could; otherwise, a sender already in the table at
        // that address, or being probed, brings no news, and one whose bucket is full
        // of peers heard from lately could only queue as a replacement (pinging every
        // stranger that beacons would make multicast chatter cost requests forever).
        // Neither is acted on, so neither needs verifying.
        if !limits::dialable(
            &SocketAddr::new(from.ip(), beacon.port),
            self.config.address,
        ) {
            self.stats.contacts_refused += 1;
            return;
        }
        if !self.who.contains_key(&from) && beacon.id != self.id {
            let addr = SocketAddr::new(from.ip(), beacon.port);
            let known = self.table.get(&beacon.id).is_some_and(|c| c.addr == addr);
            if known {
                self.discovery.heard();
            }
            if known || self.probing.contains(&beacon.id) {
                self.stats.beacons_known += 1;
                return;
            }
            if !self.table.has_room_for(now, &beacon.id) {
                self.stats.beacons_not_probed += 1;
                return;
            }
            if !self.may_probe(&beacon.id, &addr) {
                return;
            }
        }
        if !self.who.contains_key(&from) {
            // Unsolicited: its signature check comes out of a budget, so that forged
            // beacons cost this node a bounded share of its time.
            let table = &self.config.table;
            let block = crate::proto::table::IpBlock::of(
                &from,
                table.block_prefix_v4,
                table.block_prefix_v6,
            );
            if !self.beacon_checks.admit(now, block, &self.config.limits) {
                self.stats.beacons_over_budget += 1;
                return;
            }
        }
        let unix_secs = self.unix_secs(now);
        match self
            .discovery
            .handle_beacon(self.crypto, &self.id, unix_secs, from, beacon)
        {
            Ok((id, addr)) => {
                self.stats.beacons_accepted += 1;
                self.discovery.heard();
                if let Some(probe) = self.who.remove(&from) {
                    // The answer to a bootstrap probe: ping it, as part of bootstrap.
                    let purpose = Purpose::Query(probe.query);
                    if self
                        .rpc
                        .start(now, addr, id, Request::Ping, purpose, &mut self.rng)
                        .is_err()
                    {
                        self.on_query_answer(now, probe.query, id, Err(QueryError::Refused));
                    } else {
                        self.bootstrap_dialed(probe.query, WireContact { id, addr });
                    }
                    return;
                }
                // A beacon is signed but proves nothing about reachability: a ping,
                // inside a fresh session, does.
                let started =
                    self.rpc
                        .start(now, addr, id, Request::Ping, Purpose::Probe, &mut self.rng);
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

    /// A sealed frame; `frame` is its header.
    fn on_sealed(
        &mut self,
        now: Time,
        from: SocketAddr,
        frame: wire::SealedHeader,
        ciphertext: &[u8],
    ) {
        let (peer, plaintext) =
            match self
                .sessions
                .open_frame(now, self.crypto, from, frame, ciphertext)
            {
                Ok(opened) => opened,
                Err(OpenError::UnknownSession)
                    if !crate::proto::relay_path::is_relay_path(from) =>
                {
                    // A peer still sealing for a session this node does not hold (it
                    // restarted, or closed the session): tell it, so it dials again now
                    // rather than after its requests time out.
                    self.send(
                        from,
                        &Datagram::NoSession {
                            receiver: frame.receiver,
                        },
                    );
                    return;
                }
                // Counted by the session layer, or a path frame it handled.
                Err(_) => return,
            };
        // A frame from an address the session has not validated counts as coming from
        // the validated one: a spoofed source gets into no table and no token.
        let path = self.sessions.path_of(frame.receiver, from);
        self.on_message(now, path, from, peer, frame.flags.unlisted, &plaintext);
    }

    /// The message that came beside msg3. msg4 goes out first: an answer that
    /// overtook it would find no session at the client.
    pub(super) fn on_early(&mut self, now: Time, from: SocketAddr, early: EarlyMessage) {
        // msg4, if this node is the server, waits in the session queue: the answer
        // rides in its datagram (see `send_sealed`).
        self.on_message(
            now,
            from,
            from,
            early.peer,
            early.unlisted,
            &early.plaintext,
        );
    }

    /// A message `peer` sealed, opened: from a frame, or beside msg3. `from` is the
    /// session's validated address for it, `source` where the datagram came from
    /// (the same, unless the peer seems to have moved and the move is not proven yet).
    fn on_message(
        &mut self,
        now: Time,
        from: SocketAddr,
        source: SocketAddr,
        peer: NodeId,
        unlisted: bool,
        plaintext: &[u8],
    ) {
        // A peer behind a NAT, or one only reached through a relay, is not a contact
        // anybody else could use.
        if unlisted && self.table.remove(&peer).is_some() {
            self.stats.contacts_unlisted += 1;
            // A relay must be reachable by anybody.
            self.relay_failed(now, peer);
        }
        let listed = !unlisted && !crate::proto::relay_path::is_relay_path(from);
        match wire::decode_message(plaintext) {
            Ok(Message::Request { tx, request }) => {
                self.on_request(now, from, source, peer, listed, tx, request)
            }
            Ok(Message::Response { tx, response }) => {
                self.on_response(now, from, peer, listed, tx, response)
            }
            Ok(Message::Notice(notice)) => self.on_notice(now, from, source, peer, notice),
            Ok(Message::Stream(frame)) => self.on_stream_frame(now, peer, frame),
            Err(error) => {
                self.stats.messages_malformed += 1;
                tracing::debug!(%from, %error, "dropping malformed message");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_request(
        &mut self,
        now: Time,
        from: SocketAddr,
        source: SocketAddr,
        peer: NodeId,
        listed: bool,
        tx: TxId,
        request: Request,
    ) {
        if !self.admit_request(now, peer) {
            return;
        }
        self.stats.requests_received += 1;
        if listed {
            self.observe(now, peer, from, Via::Rpc);
        }
        let response = if self.config.behaviour.is_honest() {
            match request {
                // Where the datagram came from, proven or not: a reflexive address.
                Request::Ping => Response::Pong { observed: source },
                Request::Punch { nat, reflexive } => {
                    self.punch_answer(now, from, peer, nat, reflexive)
                }
                Request::FindNode { target } => self.nodes_answer(now, from, peer, target),
                request => self.answer_record_request(now, from, peer, request),
            }
        } else {
            match self.hostile_answer(now, from, peer, request) {
                Some(response) => response,
                None => return,
            }
        };
        self.send_sealed(&peer, &Message::Response { tx, response });
    }

    /// The honest answer to FIND_NODE: the k closest to `target` but the asker, good
    /// ones first ([`RoutingTable::closest_good`]), and a write token for the asker at
    /// `from`.
    fn nodes_answer(
        &mut self,
        now: Time,
        from: SocketAddr,
        peer: NodeId,
        target: NodeId,
    ) -> Response {
        let n = self.config.table.bucket_capacity.min(MAX_CONTACTS);
        let contacts = self
            .table
            .closest_good(now, &target, n, &peer)
            .into_iter()
            .map(|c| WireContact {
                id: c.id,
                addr: c.addr,
            })
            .collect();
        let token = self.store.token(now, &peer, &from);
        Response::Nodes { contacts, token }
    }

    fn on_response(
        &mut self,
        now: Time,
        from: SocketAddr,
        peer: NodeId,
        listed: bool,
        tx: TxId,
        response: Response,
    ) {
        let Some(done) = self.rpc.handle_response(now, from, tx) else {
            self.stats.responses_unexpected += 1;
            return;
        };
        if let Purpose::Probe = done.context {
            self.probing.remove(&done.peer);
        }
        if done.peer != peer {
            // Another proven peer answered at that address: not the one asked.
            self.stats.responses_wrong_peer += 1;
            self.on_rpc_failed(now, done.context, done.peer, QueryError::WrongPeer);
            return;
        }
        self.stats.responses_received += 1;
        let via = match done.context {
            Purpose::Probe => Via::Beacon,
            Purpose::Query(q) if self.is_bootstrap_ping(q) => Via::Bootstrap,
            _ => Via::Rpc,
        };
        if listed {
            self.observe(now, peer, from, via);
        }
        if let Response::Pong { observed } = response {
            self.on_reflexive(now, from, observed);
        }
        let mut response = response;
        if let Response::Nodes { contacts, .. } = &mut response {
            let own = self.config.address;
            let before = contacts.len();
            contacts.retain(|contact| limits::dialable(&contact.addr, own));
            self.stats.contacts_refused += (before - contacts.len()) as u64;
        }
        if let Purpose::Query(query) = done.context {
            self.on_query_answer(now, query, peer, Ok((done.rtt, response)));
        }
    }

    fn on_rpc_failed(&mut self, now: Time, purpose: Purpose, peer: NodeId, reason: QueryError) {
        if let Some(evicted) = self.table.on_failure(&peer) {
            self.on_evicted(now, evicted.evicted.id, evicted.replaced_by);
        }
        match purpose {
            Purpose::Probe => {
                self.probing.remove(&peer);
            }
            Purpose::Check => {
                if let Some(evicted) = self.table.check_failed(&peer) {
                    self.on_evicted(now, evicted.evicted.id, evicted.replaced_by);
                }
            }
            Purpose::Keepalive => self.relay_failed(now, peer),
            Purpose::Reflexive => {}
            Purpose::Query(query) => self.on_query_answer(now, query, peer, Err(reason)),
        }
    }

    fn on_evicted(&mut self, now: Time, id: NodeId, replaced_by: Option<Contact>) {
        if self.table.is_empty() {
            // Alone again: be heard soon, not at the end of a long beacon interval.
            self.discovery.reset(now, &mut self.rng);
        }
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

    /// `id` proved alive (and its key) at `addr`: update the table and act on what it
    /// says.
    fn observe(&mut self, now: Time, id: NodeId, addr: SocketAddr, via: Via) {
        if self.table.is_empty() && self.config.bootstrap.is_empty() && self.rebootstrap.is_none() {
            // The first peer of a node without bootstrap nodes (beacons brought it):
            // look itself up through it, so that its neighbourhood learns it even
            // when its own beacon stays quiet on a busy segment (listen first).
            self.rebootstrap = Some(now);
        }
        let outcome = self.table.insert(now, id, addr);
        if matches!(
            outcome,
            InsertOutcome::Inserted | InsertOutcome::Updated | InsertOutcome::Replaced { .. }
        ) {
            // In the table: its session outlives the checks and refreshes that will
            // ask it again.
            self.sessions.keep(&id);
        }
        match outcome {
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
                    ping.id,
                    Request::Ping,
                    Purpose::Check,
                    &mut self.rng,
                );
                if started.is_err() {
                    // Too busy to check: keep the contact, let a later candidate retry.
                    self.table.abandon_check(&ping.id);
                }
            }
            InsertOutcome::Refused => self.stats.contacts_refused_block += 1,
            InsertOutcome::Updated | InsertOutcome::Queued | InsertOutcome::IsSelf => {}
        }
    }
}
