//! The application-facing types of [`Node`](super::Node): its configuration, commands,
//! events and counters.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Behaviour, Limits, TraversalConfig};
use crate::proto::counters::counters;
use crate::proto::discovery::DiscoveryConfig;
use crate::proto::id::{Key, NodeId};
use crate::proto::lookup::LookupResult;
use crate::proto::rpc::RpcConfig;
use crate::proto::session::{HandshakeFailure, SessionConfig, SessionStats};
use crate::proto::store::{MutableRecord, PeerRecord, Refusal, StoreConfig, StoreStats};
use crate::proto::stream::{StreamConfig, StreamEvent, StreamStats};
use crate::proto::table::TableConfig;
use crate::proto::wire::{NatKind, WireContact};

/// The network key of the open swarm. A private swarm picks its own 32 bytes.
pub const DEFAULT_NETWORK_KEY: [u8; 32] = *b"dswarm-open-swarm-network-key-v1";

/// Everything a node can be tuned by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The swarm's pre-shared key (SHS1's network key): nodes with another key ignore
    /// each other's beacons and cannot complete a handshake.
    pub network_key: [u8; 32],
    /// The UDP port this node serves on, announced in beacons.
    pub port: u16,
    /// The address the node's socket is bound to, when the driver knows it: what
    /// tells "no NAT" from "a NAT that keeps one mapping" when peers report the
    /// address they see. `None`: the node never classifies itself as open or behind a
    /// NAT, and stays listed.
    pub address: Option<SocketAddr>,
    /// Addresses to ask for peers on [`Command::Bootstrap`], for networks without
    /// multicast.
    pub bootstrap: Vec<SocketAddr>,
    /// Routing table tunables.
    pub table: TableConfig,
    /// Request tracking tunables.
    pub rpc: RpcConfig,
    /// Beacon tunables.
    pub discovery: DiscoveryConfig,
    /// Handshake and session tunables.
    pub sessions: SessionConfig,
    /// Whoever answers none of this many `Who` probes of a bootstrap address, each
    /// after `who_timeout`, is given up.
    pub who_retries_max: u8,
    /// Wait for the beacon that answers a `Who`.
    pub who_timeout: Duration,
    /// Requests a lookup keeps in flight (Kademlia's α).
    pub lookup_parallelism: usize,
    /// A lookup keeps one candidate per address block (the table's
    /// [`TableConfig::block_prefix_v4`] and [`TableConfig::block_prefix_v6`]): the first
    /// it hears of, or a closer one not asked yet. Many identities behind one address
    /// then take one place among the k closest, not all of them, and cannot eclipse a
    /// key. On by default; loopback addresses have no block and are never limited.
    pub lookup_one_per_block: bool,
    /// Disjoint paths each lookup walks (S/Kademlia; rust-libp2p's
    /// `disjoint_query_paths`): each peer serves one path at most, each path keeps α
    /// requests in flight, and record reads ask (writes store at) every path's k
    /// closest. 1 (the default): one path, as Kademlia has it; at most 255.
    pub lookup_disjoint_paths: usize,
    /// Record store tunables: lifetimes, limits, token rotation.
    pub store: StoreConfig,
    /// For test-beds: makes this node misbehave the way hostile peers do.
    /// [`Behaviour::Honest`] (the default) follows the protocol.
    pub behaviour: Behaviour,
    /// For test-beds: the contacts a [`Behaviour::Eclipse`] node answers FIND_NODE
    /// with (its fellow attackers). Empty by default, and unused by any other
    /// behaviour.
    pub allies: Vec<WireContact>,
    /// Bounds on what remote peers can make the node spend (the others are in the
    /// sub-configurations; [`Limits`] lists them all).
    pub limits: Limits,
    /// NAT traversal tunables: relays, keepalives, hole punching.
    pub traversal: TraversalConfig,
    /// Listen at this node's multicast mailbox ([`mailbox_group`]) and declare it,
    /// signed, under the node's own id; and try a peer's mailbox first on
    /// [`Command::Connect`]. Needs a beacon group (the mailbox uses its port). Off by
    /// default.
    ///
    /// [`mailbox_group`]: crate::proto::discovery::mailbox_group
    pub mailbox: bool,
    /// Stream tunables: windows, buffers, timeouts, limits.
    pub streams: StreamConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network_key: DEFAULT_NETWORK_KEY,
            port: 17761,
            address: None,
            bootstrap: Vec::new(),
            table: TableConfig::default(),
            rpc: RpcConfig::default(),
            discovery: DiscoveryConfig::default(),
            sessions: SessionConfig::default(),
            who_retries_max: 2,
            who_timeout: Duration::from_millis(1000),
            lookup_parallelism: 3,
            lookup_one_per_block: true,
            lookup_disjoint_paths: 1,
            store: StoreConfig::default(),
            behaviour: Behaviour::Honest,
            allies: Vec::new(),
            limits: Limits::default(),
            traversal: TraversalConfig::default(),
            mailbox: false,
            streams: StreamConfig::default(),
        }
    }
}

/// A datagram for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// A peer's address, or the multicast group for beacons.
    pub dst: SocketAddr,
    /// The encoded datagram, at most [`crate::proto::wire::MAX_DATAGRAM`] bytes.
    pub payload: Vec<u8>,
}

/// Names one command's work until its [`Event::QueryFinished`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct QueryId(pub u64);

/// Work an application asks of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Ping one peer of the routing table.
    Ping(NodeId),
    /// Ping the `n` peers closest to this node (what `GET /api/ping` does, n = 3).
    PingClosest(usize),
    /// Find the node with this id (FIND_PEER, as [`Command::Connect`] does): an
    /// iterative lookup over as soon as that node answers (it has then proved its key:
    /// found [`Listed`](crate::proto::lookup::Found::Listed)); else, once the k closest
    /// seen have answered, a read of the topic `Key(id)` there for the node's own
    /// signed declaration of relays and mailbox (a node behind a NAT, which no routing
    /// table lists: found [`Declared`](crate::proto::lookup::Found::Declared)). Ends
    /// with [`QueryOutcome::Found`];
    /// [`LookupResult::found`] says whether and how.
    FindNode(NodeId),
    /// Ask the bootstrap addresses for peers, then look up this node's own id.
    Bootstrap,
    /// Store a value (at most [`MAX_VALUE`](crate::proto::store::MAX_VALUE) bytes) at the k nodes closest to its key,
    /// SHA-256(value), and keep it there while this node runs. Ends with
    /// [`QueryOutcome::Stored`].
    ImmutablePut(Vec<u8>),
    /// Fetch the value stored under a key, checking its hash. Ends with
    /// [`QueryOutcome::Immutable`].
    ImmutableGet(Key),
    /// Sign a record with this node's key and store it under
    /// SHA-256(public key ‖ salt). `seq` defaults to one more than the last this node
    /// wrote for that salt, and at least the node's clock in Unix seconds, so a
    /// restarted node still goes up. Ends with [`QueryOutcome::Stored`].
    MutablePut {
        /// Up to [`MAX_SALT`](crate::proto::store::MAX_SALT) bytes.
        salt: Vec<u8>,
        /// Up to [`MAX_VALUE`](crate::proto::store::MAX_VALUE) bytes.
        value: Vec<u8>,
        /// The version; see above for the default.
        seq: Option<u64>,
    },
    /// Fetch the mutable record of `public_key` and `salt` with at least `seq`; with
    /// `latest`, ask all of the k closest and keep the highest `seq` (HyperDHT's
    /// `mutableGet` options). Ends with [`QueryOutcome::Mutable`].
    MutableGet {
        /// The owner.
        public_key: NodeId,
        /// The salt.
        salt: Vec<u8>,
        /// Lowest acceptable `seq`.
        seq: u64,
        /// Keep asking for a higher `seq` instead of stopping at the first match.
        latest: bool,
    },
    /// Announce this node under a topic, reachable through up to [`MAX_RELAYS`](crate::proto::store::MAX_RELAYS)
    /// relay addresses, and refresh the announcement while the node runs. Ends with
    /// [`QueryOutcome::Stored`].
    Announce {
        /// The topic.
        topic: Key,
        /// Relay addresses.
        relays: Vec<SocketAddr>,
    },
    /// Withdraw this node's announcement under a topic. Ends with
    /// [`QueryOutcome::Stored`] (how many holders accepted the withdrawal).
    Unannounce(Key),
    /// Find the peers announced under a topic. Peers stream out as
    /// [`Event::TopicPeers`] while the query runs; it ends with
    /// [`QueryOutcome::Peers`], all of them.
    TopicLookup(Key),
    /// Find a peer by its key (FIND_PEER, over as soon as the peer answers) and open a
    /// session with it: straight if it is listed, else through one of the relays it announced, then by a hole punch
    /// if both NATs allow. Ends with [`QueryOutcome::Connected`] and the path taken.
    Connect(NodeId),
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
    /// A value, salt or relay list over its limit.
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownPeer(id) => write!(f, "peer {id} is not in the routing table"),
            CommandError::NoPeers => write!(f, "no peers known and no bootstrap address"),
            CommandError::Throttled => write!(f, "too many requests waiting for that peer"),
            CommandError::TooLarge { what, len, max } => {
                write!(f, "{what} of {len} is over the limit of {max}")
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// How a peer first came to the node's attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Via {
    /// A multicast beacon, confirmed by a ping.
    Beacon,
    /// It answered a bootstrap ping.
    Bootstrap,
    /// It sent us a request or answered one.
    Rpc,
}

/// The kinds of records a node holds for others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An immutable value.
    Immutable,
    /// A mutable record.
    Mutable,
    /// An announcement under a topic.
    Announcement,
}

/// Something the application may want to know.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
    /// A handshake proved a peer's key: a session with it is open.
    PeerVerified {
        /// The proven id.
        id: NodeId,
        /// Its address.
        addr: SocketAddr,
    },
    /// A session closed: the peer said goodbye, went idle, or made room for another.
    SessionClosed {
        /// The peer.
        id: NodeId,
    },
    /// This node stored a record a peer wrote to it.
    RecordStored {
        /// What kind of record.
        kind: RecordKind,
        /// The key it is held under: an immutable value's hash, a mutable record's
        /// key, an announcement's topic.
        key: Key,
        /// The proven peer that wrote it.
        writer: NodeId,
    },
    /// A handshake this node dialled failed.
    HandshakeFailed {
        /// The id dialled.
        id: NodeId,
        /// The address dialled.
        addr: SocketAddr,
        /// Why.
        reason: HandshakeFailure,
    },
    /// A peer left the routing table after failing to answer.
    PeerEvicted {
        /// Its id.
        id: NodeId,
        /// The peer that took its place, if any.
        replaced_by: Option<NodeId>,
    },
    /// Peers found so far by a [`Command::TopicLookup`] (each reported once).
    TopicPeers {
        /// The lookup.
        query: QueryId,
        /// The peers this answer brought.
        peers: Vec<PeerRecord>,
    },
    /// The node classified its NAT anew from what peers report.
    NatClassified {
        /// The class.
        kind: NatKind,
        /// The address peers see.
        reflexive: Option<SocketAddr>,
    },
    /// A hole punch failed; the connection stays relayed.
    PunchFailed {
        /// The peer.
        peer: NodeId,
        /// Why.
        reason: PunchFailure,
    },
    /// A command's work is over.
    QueryFinished {
        /// The id [`Node::start`](crate::proto::Node::start) returned.
        query: QueryId,
        /// Time from the command to this event.
        elapsed: Duration,
        /// What came of it.
        outcome: QueryOutcome,
    },
    /// A stream opened, has bytes, can take bytes, finished or was reset.
    Stream(StreamEvent),
}

/// What came of a command.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
    /// [`Command::FindNode`] finished: whether and how the node was found
    /// ([`LookupResult::found`]: it answered, or its declaration was read), the
    /// closest that answered and the hops taken.
    Found(LookupResult),
    /// [`Command::Bootstrap`] finished with this many peers in the table.
    Bootstrapped {
        /// Routing table size afterwards.
        peers: usize,
    },
    /// A write ([`Command::ImmutablePut`], [`Command::MutablePut`],
    /// [`Command::Announce`], [`Command::Unannounce`]) has been answered by the k
    /// closest nodes it found.
    Stored(StoreResult),
    /// [`Command::ImmutableGet`]: the value, if a holder had it (hash checked).
    Immutable(#[serde(serialize_with = "crate::proto::id::serialize_hex_opt")] Option<Vec<u8>>),
    /// [`Command::MutableGet`]: the record, if a holder had one with the `seq` asked
    /// for (signature checked).
    Mutable(Option<MutableRecord>),
    /// [`Command::TopicLookup`]: every peer found, ordered by key.
    Peers(Vec<PeerRecord>),
    /// [`Command::Connect`]: a session with the peer is open, by this path.
    Connected {
        /// The peer.
        peer: NodeId,
        /// How its datagrams travel now.
        path: ConnectPath,
    },
    /// The command's work failed.
    Failed(QueryError),
}

/// How a write went.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoreResult {
    /// The record's key (the topic, for announcements).
    pub key: Key,
    /// The `seq` written, for mutable records.
    pub seq: Option<u64>,
    /// Nodes that accepted it.
    pub stored: usize,
    /// Nodes that refused it, and why.
    pub refused: Vec<(NodeId, Refusal)>,
    /// Nodes asked that did not answer.
    pub unanswered: usize,
}

/// One answer (or silence) of [`Command::PingClosest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PingResult {
    /// The peer pinged.
    pub peer: NodeId,
    /// Its round-trip time, `None` if it did not answer.
    pub rtt: Option<Duration>,
}

/// Why a command's work failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum QueryError {
    /// No answer after every retry.
    Timeout,
    /// Another node answered at the peer's address.
    WrongPeer,
    /// Bootstrap found nobody.
    NoPeers,
    /// No session could be opened with the peer.
    Unreachable,
    /// The peer answered with an error or with the wrong kind of message.
    Refused,
    /// [`Command::Connect`]: the peer is neither listed nor announced.
    NotFound,
}

/// How a [`Command::Connect`] reached its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ConnectPath {
    /// Straight to its address.
    Direct,
    /// Straight, through a hole punched in both NATs.
    Punched,
    /// Through a relay both have sessions with.
    Relayed,
    /// Straight, after a handshake sent to the peer's multicast mailbox.
    Mailbox,
}

impl ConnectPath {
    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ConnectPath::Direct => "direct",
            ConnectPath::Punched => "punched",
            ConnectPath::Relayed => "relayed",
            ConnectPath::Mailbox => "mailbox",
        }
    }
}

/// Why a hole punch did not open a direct path (the connection stays relayed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PunchFailure {
    /// Both NATs map every destination anew: no address to aim at.
    BothRandom,
    /// This node knows no reflexive address of its own to give.
    NoReflexiveAddress,
    /// The peer did not answer the punch request.
    NoAnswer,
    /// The peer named an address its relay did not vouch for, or one no peer could
    /// be at: no probes went there.
    Unvouched,
    /// Probes went out for the whole punch window and none arrived.
    Timeout,
}

counters! {
    /// Counters of everything a node did.
    pub struct Stats, named "" {
        /// Datagrams handed to the driver.
        Activity datagrams_sent,
        /// Bytes handed to the driver.
        Activity bytes_sent,
        /// Datagrams received.
        Activity datagrams_received,
        /// Bytes received.
        Activity bytes_received,
        /// Received datagrams that did not decode.
        Breach datagrams_malformed,
        /// Beacons sent.
        Activity beacons_sent,
        /// Beacons skipped because the segment was heard enough (Trickle suppression).
        Activity beacons_suppressed,
        /// Beacons accepted.
        Activity beacons_accepted,
        /// Our own beacons, looped back.
        Activity beacons_own,
        /// Beacons of another swarm.
        Activity beacons_foreign,
        /// Beacons with a timestamp out of bounds.
        Breach beacons_stale,
        /// Beacons whose signature did not verify.
        Breach beacons_forged,
        /// Unsolicited beacons dropped unchecked: the budget of signature checks, in
        /// all or for the sender's address block, was spent.
        Breach beacons_over_budget,
        /// Contacts in answers, and beacon senders, at addresses no peer can be at: an
        /// unspecified, multicast or broadcast address, port 0, or loopback outside a
        /// swarm on one host. Not dialled.
        Breach contacts_refused,
        /// Beacons of unknown peers not probed because their bucket is full of live
        /// contacts.
        Activity beacons_not_probed,
        /// Beacons of peers already in the table at that address, or being probed: no
        /// news, so not even verified.
        Activity beacons_known,
        /// Requests received in sessions (and answered).
        Activity requests_received,
        /// Requests sent, retries included.
        Activity requests_sent,
        /// Resends after a timeout.
        Activity requests_retried,
        /// Requests that got no answer after every retry.
        Breach requests_timed_out,
        /// Requests refused locally by the per-peer limit.
        Activity requests_throttled,
        /// Requests refused locally because [`RpcConfig::pending_max`] requests were
        /// tracked already.
        Activity requests_refused_full,
        /// Requests of a peer over its rate ([`Limits::requests_per_peer_rate`]): not
        /// answered, not counted in `requests_received`.
        Breach requests_rate_limited,
        /// Requests not held while their peer's handshake ran, over
        /// [`Limits::waiting_per_peer_max`] or [`Limits::waiting_bytes_max`].
        Breach requests_not_buffered,
        /// Beacon senders not probed because [`Limits::probes_max`] probes were out.
        Breach probes_refused,
        /// Contacts refused by the routing table's address block limits
        /// ([`TableConfig::contacts_per_block_max`](crate::proto::table::TableConfig::contacts_per_block_max)),
        /// and beacon senders not probed for that reason.
        Breach contacts_refused_block,
        /// Responses that matched a request of ours.
        Activity responses_received,
        /// Responses that matched nothing (late, duplicated, or from another address).
        Breach responses_unexpected,
        /// Responses from another id than the one asked.
        Breach responses_wrong_peer,
        /// Lookups started (user, bootstrap and refresh).
        Activity lookups_started,
        /// Lookups finished.
        Activity lookups_finished,
        /// FIND_PEERs ([`Command::FindNode`], a connect's search) that found their node
        /// listed: it answered the walk.
        Activity lookups_found_listed,
        /// FIND_PEERs that found their node declared: it did not answer (behind a NAT,
        /// it is in no routing table), but its own signed declaration was read.
        Activity lookups_found_declared,
        /// Peers a lookup asked that were still silent when their request's first wait
        /// ran out: the lookup asked another peer in their place instead of waiting
        /// through every retry (hostile peers that stay silent, or a lost datagram).
        Activity lookup_stalls,
        /// Candidates finished lookups skipped because a candidate of the same address
        /// block was asked already, or was closer: the one-candidate-per-block rule
        /// that keeps identities ground behind one address from eclipsing a key.
        Activity lookup_block_skips,
        /// Answers from such stalled peers that came while their lookup still ran, and
        /// counted.
        Activity lookup_stalls_answered,
        /// `Who` probes sent to bootstrap addresses.
        Activity who_sent,
        /// `Who` probes received (and answered, when the network tag matched).
        Activity who_received,
        /// Sealed frames that opened but held no valid message.
        Breach messages_malformed,
        /// Record answers that failed their check: a value not matching its key, a
        /// mutable record with a bad signature, another key or a lower `seq`.
        Breach records_rejected,
        /// Announcements in topic answers whose signature does not verify under the
        /// topic asked for: dropped, the rest of the answer kept.
        Breach announcements_forged,
        /// Announcements in topic answers signed too long ago or too far ahead of this
        /// node's clock: dropped, the rest of the answer kept.
        Breach announcements_stale,
        /// Contacts dropped from the table because their frames asked not to be listed.
        Activity contacts_unlisted,
        /// Goodbyes sent ([`Node::leave`](crate::proto::Node::leave), once per call).
        Activity byes_sent,
        /// Goodbyes received.
        Activity byes_received,
        /// Datagrams this node forwarded as a relay.
        Activity relay_forwarded,
        /// Relay requests refused: unknown target, over the sender's rate, or nested.
        Breach relay_refused,
        /// Relay notices dropped because their sender went over
        /// [`Limits::relay_per_peer_rate`](super::Limits::relay_per_peer_rate).
        Breach relay_rate_limited,
        /// Datagrams too large to send through a relay.
        Activity relay_too_large,
        /// Relay paths dropped after going unused, with no session on them, for the
        /// sessions' idle timeout.
        Activity relay_paths_expired,
        /// Frames this node relayed that one of its own sessions could open: a relay
        /// that could read what it carries. Always 0; the simulator checks it.
        Activity relay_readable,
        /// Hole punches that opened a direct path.
        Activity punches_succeeded,
        /// Hole punches that ran out of time.
        Activity punches_failed,
        /// Punch requests refused: not over a relayed session, a second one from a peer
        /// within 30 s, or toward an address no peer can be at.
        Breach punches_refused,
        /// Connects that ended on a direct path: the peer answered at its address.
        Activity connects_direct,
        /// Connects that ended on a direct path a hole punch opened.
        Activity connects_punched,
        /// Connects that ended relayed.
        Activity connects_relayed,
        /// Connects whose handshake went to the peer's multicast mailbox.
        Activity connects_mailbox,
    }
    nested {
        /// The handshake and session layer's counters.
        sessions: SessionStats,
        /// The record store's counters.
        store: StoreStats,
        /// The streams' counters.
        streams: StreamStats,
    }
}
