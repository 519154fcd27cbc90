//! [`Sessions`]: SHS1 handshakes over datagrams and the sealed sessions they open.
//!
//! In: requests to reach a peer ([`Sessions::connect`]), handshake datagrams
//! ([`Sessions::handle_handshake`]), sealed frames (`Sessions::open`), plaintext to
//! seal ([`Sessions::seal`]) and the clock. Out: handshake datagrams to send (first
//! sends, retransmissions and answers to duplicates), [`SessionEvent`]s (established,
//! failed with a reason, expired) and opened plaintext with the peer it came from.
//!
//! What holds:
//! - A session exists only after a handshake proved the peer's long-term key; a
//!   client that dials key `B` gets a session with `B` or none at all.
//! - Handshake messages are retransmitted on timeout (doubling each time) and
//!   duplicates are answered idempotently with the same bytes, so lost, duplicated
//!   and reordered datagrams are fine.
//! - Half-open server handshakes are bounded in total and per source host (an IPv4
//!   address, an IPv6 /64; on loopback, per address and port). Beyond the per-source
//!   bound a hello is dropped and counted; at the total bound the oldest half-open
//!   handshake makes room for it (also counted).
//! - From `cookie_load` half-open handshakes on, a hello is answered with a stateless
//!   cookie reply, and only a hello that brings the cookie back (its source receives)
//!   costs a key and a half-open handshake; the dialling side follows cookie replies by
//!   itself (the `hello` module).
//! - Every frame is sealed with ChaCha20-Poly1305 under per-direction keys derived from
//!   the handshake, with an explicit 64-bit counter as nonce and a 128-frame sliding
//!   replay window: replays and frames too old for the window are refused.
//! - Sessions expire after `lifetime` or after `idle_timeout` without a frame, and are
//!   established again on the next send.
//! - A session moves to a new address only once that address proved it receives: an
//!   authenticated frame from elsewhere (a NAT rebinding, a punched hole, or a peer
//!   spoofing a victim's address) starts a path challenge to it, and the session moves
//!   when the challenge's token comes back ([`Notice::PathChallenge`]). Until then the
//!   new address gets at most [`AMPLIFICATION_LIMIT`] times the bytes received from
//!   it; what would exceed that goes to the validated address instead.
//! - A peer has at most two open sessions: the newest, which carries what is sent, and
//!   the one before it, for frames still in flight. A third handshake closes the
//!   oldest, so a peer that handshakes again and again holds two slots, not one per
//!   handshake until they idle out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::counters::counters;
use super::crypto::Crypto;
use super::handshake::{ClientHandshake, HandshakeError, ServerHandshake, SessionKeys};
use super::id::NodeId;
use super::identity::Identity;
use super::relay_path;
use super::table::IpBlock;
use super::time::Time;
use super::wire::{
    self, Datagram, FrameFlags, Handshake, Message, Notice, SealedHeader, SessionId, MAX_DATAGRAM,
    SEALED_HEADER_LEN,
};
use hello::CookieSecrets;
pub use hello::COOKIE_PERIOD;
use path::Probe;
pub use path::AMPLIFICATION_LIMIT;
use slab::Slab;

/// The length of a msg4 datagram alone: magic, version, kind, session number, msg4.
const ACCEPT_DATAGRAM_LEN: usize = 3 + 4 + 80;

/// Tunables of handshakes and sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Wait before the first retransmission of a handshake message.
    pub handshake_timeout: Duration,
    /// Retransmissions before a handshake fails.
    pub handshake_retries_max: u8,
    /// Half-open server handshakes held at once.
    pub half_open_max: usize,
    /// Half-open server handshakes held from which a hello must bring a cookie: it is
    /// answered with a cookie reply, and only the hello sent again with the cookie costs
    /// a key and a half-open handshake. `usize::MAX`: never.
    pub cookie_load: usize,
    /// Half-open server handshakes held for one source host: an IPv4 address or an
    /// IPv6 /64, whatever its ports (a source on loopback, a swarm on one host, counts
    /// by IP and port).
    pub half_open_per_source_max: usize,
    /// A session is re-established after this long.
    pub lifetime: Duration,
    /// A session that neither side keeps is closed after no frame was received for
    /// this long.
    pub idle_timeout: Duration,
    /// A session that either side keeps (its frames say so: the peer is in the
    /// sender's routing table, or would be taken in) is closed after no frame was
    /// received for this long. Longer than the table's liveness checks and refresh
    /// interval, so that they ride the session instead of dialling a handshake.
    pub kept_idle_timeout: Duration,
    /// Open sessions held at once; the least recently used goes first beyond it.
    pub sessions_max: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            handshake_timeout: Duration::from_millis(500),
            handshake_retries_max: 3,
            half_open_max: 1024,
            cookie_load: 256,
            half_open_per_source_max: 16,
            lifetime: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(300),
            kept_idle_timeout: Duration::from_secs(3600),
            sessions_max: 4096,
        }
    }
}

/// Why a handshake ended without a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum HandshakeFailure {
    /// No answer after every retransmission.
    Timeout,
    /// A message failed a check.
    Rejected(HandshakeError),
}

/// What happened to sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// A handshake finished: `peer` proved its key.
    Established {
        /// The proven peer.
        peer: NodeId,
        /// Its address.
        addr: SocketAddr,
        /// Whether this node dialled.
        initiator: bool,
        /// Whether the dial's first message already went out beside msg3 (the
        /// caller must not send it again).
        early: bool,
    },
    /// A handshake this node dialled failed.
    Failed {
        /// The peer dialled.
        peer: NodeId,
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: HandshakeFailure,
    },
    /// A session was closed (lifetime, idleness, or room for another).
    Closed {
        /// Its peer.
        peer: NodeId,
    },
}

/// The most a first message may hold to travel beside msg3: msg3's datagram, the
/// sealed frame around it and a relay's wrapping still fit one datagram.
pub const EARLY_MAX: usize = 900;

/// A first message that came beside msg3, opened once msg3 proved the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlyMessage {
    /// The client, proven.
    pub peer: NodeId,
    /// Whether its frame asked not to be listed.
    pub unlisted: bool,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

/// Why a sealed frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// No session with that number at all.
    UnknownSession,
    /// That number is a handshake still running here: a frame that overtook msg4.
    NotYetOpen,
    /// The same, kept to be opened when msg4 arrives (see `SessionStats::frames_held`).
    Held,
    /// Counter already seen, or too old for the replay window.
    Replay,
    /// It did not authenticate.
    Decrypt,
    /// A path challenge or its response: authentic, and handled by the session layer
    /// itself (answered, or the path validated); nothing for the caller.
    Path,
}

counters! {
    /// Counters of the handshake and session layer.
    pub struct SessionStats, named "" {
        /// Handshakes this node dialled.
        Activity handshakes_started,
        /// Handshakes completed (both roles).
        Activity handshakes_completed,
        /// Dialled handshakes that got no answer.
        Breach handshakes_timed_out,
        /// Of those, the ones whose msg2 came but msg4 never did: a node answers at the
        /// address but does not hold the key dialled (a contact invented at a live
        /// address, most likely), or every msg3 or msg4 was lost.
        Breach handshakes_unproven,
        /// Handshake messages that failed a check (wrong network key, wrong server key,
        /// tampering, weak keys, bad signatures).
        Breach handshakes_rejected,
        /// Hellos dropped because too many handshakes from their source were half open.
        Breach half_open_refused,
        /// Half-open handshakes dropped, oldest first, to make room for a new hello when
        /// `half_open_max` were held.
        Breach half_open_evicted,
        /// Handshake datagrams that matched no handshake (late duplicates, strangers).
        Breach handshake_unmatched,
        /// Cookie replies sent: hellos that came while `cookie_load` handshakes were
        /// half open without a valid cookie (refused: no key made, nothing kept).
        Activity cookies_sent,
        /// Hellos that brought a valid cookie while `cookie_load` handshakes were half
        /// open, and were answered.
        Activity cookie_hellos,
        /// Of the hellos refused under load, those whose cookie was forged, stale, or
        /// minted for another address or hello.
        Breach cookies_refused,
        /// Cookie replies to this node's dials: its hello went again with the cookie.
        Activity cookies_followed,
        /// Frames opened.
        Activity frames_opened,
        /// First messages that came beside msg3 or msg4 and opened (a round trip, or a
        /// datagram, saved each).
        Activity early_opened,
        /// First frames sent beside msg4, in its datagram ([`Sessions::beside_accept`]).
        Activity early_answers,
        /// Frames refused as replays.
        Breach frames_replayed,
        /// Frames that did not authenticate.
        Breach frames_undecryptable,
        /// Frames for no open session.
        Breach frames_unknown_session,
        /// Frames that overtook msg4, kept and opened when it came.
        Activity frames_held,
        /// Sessions closed because the peer said it no longer holds them.
        Activity sessions_reset,
        /// Sessions closed by lifetime, idleness or the session limit.
        Activity sessions_closed,
        /// Sessions closed because their peer opened two newer ones (counted in
        /// `sessions_closed` too).
        Breach sessions_superseded,
        /// Path challenges sent to a new address a session's frames came from.
        Activity path_challenges,
        /// Sessions moved to a new address after it echoed a path challenge.
        Activity paths_validated,
        /// Frames for an address not validated yet that would have exceeded
        /// [`AMPLIFICATION_LIMIT`] times the bytes received from it, sent by the
        /// validated path instead (or, if only that address would do, not sent).
        Breach path_sends_limited,
        /// Path responses whose token matched no challenge sent.
        Breach path_responses_unmatched,
    }
}

/// A 128-frame sliding window over the counters received (RFC 6479's idea with one
/// shifted 128-bit map): bit `i` is counter `highest - i`. A session carries a few
/// RPC frames a second, so 128 frames of reordering is ample (IPsec's default is
/// 64), and the window costs 24 bytes a session instead of 136. The map is kept as
/// two `u64`s: a `u128` field would align the whole session to 16 bytes and pad it.
#[derive(Clone, Debug, Default)]
struct ReplayWindow {
    highest: u64,
    bits: [u64; 2],
}

impl ReplayWindow {
    const SIZE: u64 = 128;

    /// Whether `counter` is new and inside the window (does not record it).
    fn check(&self, counter: u64) -> bool {
        if counter > self.highest {
            return true;
        }
        let age = self.highest - counter;
        age < Self::SIZE && self.bits() >> age & 1 == 0
    }

    fn bits(&self) -> u128 {
        u128::from(self.bits[0]) | u128::from(self.bits[1]) << 64
    }

    fn set_bits(&mut self, bits: u128) {
        // Truncation meant: the low and the high half.
        self.bits = [bits as u64, (bits >> 64) as u64];
    }

    /// Records `counter`, which [`ReplayWindow::check`] accepted.
    fn record(&mut self, counter: u64) {
        let mut bits = self.bits();
        if counter > self.highest {
            let shift = counter - self.highest;
            bits = if shift >= Self::SIZE {
                0
            } else {
                bits << shift
            };
            self.highest = counter;
        }
        debug_assert!(
            self.highest >= counter,
            "the highest counter seen only grows"
        );
        self.set_bits(bits | 1 << (self.highest - counter));
    }
}

#[derive(Debug)]
struct Open {
    peer: NodeId,
    addr: SocketAddr,
    remote: SessionId,
    send_key: [u8; 32],
    recv_key: [u8; 32],
    sent: u64,
    window: ReplayWindow,
    expires: Time,
    last_received: Time,
    /// Where this session sits in `Sessions::deadlines`: its expiry as of the last
    /// time it was scheduled. Frames move the true expiry (`last_received` +
    /// `idle_timeout`) later without touching the set; the entry, when it comes due,
    /// is put back at the true expiry if that is still ahead.
    scheduled: Time,
    /// The server keeps msg3 and its answer, to answer a duplicate msg3 (lost msg4),
    /// until the client's first frame shows that msg4 arrived.
    accept: Option<Box<([u8; 112], Vec<u8>)>>,
    /// The session with the same peer that this one superseded, if still open.
    previous: Option<SessionId>,
    /// This node keeps the session: its last frame said so, or the node marked the
    /// peer ([`Sessions::keep`]).
    keep_here: bool,
    /// The peer keeps the session: its last frame said so.
    keep_there: bool,
}

impl Open {
    /// When the session closes unless a frame comes first.
    fn expiry(&self, config: &SessionConfig) -> Time {
        let idle = if self.keep_here || self.keep_there {
            config.kept_idle_timeout
        } else {
            config.idle_timeout
        };
        self.expires.min(self.last_received + idle)
    }
}

/// A frame that arrived before its session opened: where from, its header and its
/// ciphertext.
#[derive(Debug)]
struct Overtaken {
    from: SocketAddr,
    frame: SealedHeader,
    ciphertext: Vec<u8>,
}

/// Resends of msg3 before a dial fails (at most `handshake_retries_max`). msg2 proved
/// that a node answers at the address, so a msg3 left unanswered most likely went to a
/// node that does not hold the key dialled: a contact a liar invented at a real node's
/// address, which no resend can complete. Loss is tolerated all the same: at 5 % loss
/// each way, an honest server's msg3 and msg4 both arrive in nine attempts of ten, so
/// three attempts all fail about once in 1,000 dials. (Four would fail once in 11,000,
/// but hold every dial of an invented contact for 15 waits instead of 7.)
const MSG3_RETRIES_MAX: u8 = 2;

/// The shortest wait for msg4 before msg3 is resent, however short the round trip that
/// msg1 and msg2 measured (as `RpcConfig::timeout_min` is for requests).
const MSG3_WAIT_MIN: Duration = Duration::from_millis(200);

/// A handshake this node dialled.
#[derive(Debug)]
struct Dial {
    handshake: ClientHandshake,
    addr: SocketAddr,
    /// The first message to seal beside msg3, with its frame's flags; taken when
    /// msg2 arrives.
    early: Option<(Vec<u8>, FrameFlags)>,
    /// Whether it went out (the open session then starts at counter 2).
    early_sent: bool,
    /// A frame of this session that overtook msg4 (the answer to the early
    /// message, most likely): opened once msg4 opens the session.
    overtaken: Option<Overtaken>,
    /// The datagram to retransmit: msg1 (with the server's cookie once it sent one),
    /// then msg3.
    last: Vec<u8>,
    /// Cookie replies followed at once.
    cookies: u8,
    server: Option<SessionId>,
    attempts: u8,
    deadline: Time,
    /// When msg1 first went out: msg2's arrival measures a round trip from it.
    dialled: Time,
    /// The wait before `last` is first resent, doubled for each later resend:
    /// `handshake_timeout` for msg1; for msg3, three times the round trip msg1 and
    /// msg2 took (RFC 6298's first timeout), within [`MSG3_WAIT_MIN`] and
    /// `handshake_timeout`.
    wait: Duration,
}

/// A handshake a hello started here.
#[derive(Debug)]
struct HalfOpen {
    handshake: ServerHandshake,
    addr: SocketAddr,
    client: SessionId,
    /// msg2, to answer a duplicate msg1.
    reply: Vec<u8>,
    deadline: Time,
}

/// Nearly every slot is `Open`, so it is the one kept inline: a handshake lasts a
/// round trip or two, a session up to the idle timeout.
#[derive(Debug)]
enum Slot {
    Client(Box<Dial>),
    Server(Box<HalfOpen>),
    Open(Open),
}

impl Slot {
    fn deadline(&self) -> Time {
        match self {
            Slot::Client(dial) => dial.deadline,
            Slot::Server(half_open) => half_open.deadline,
            Slot::Open(open) => open.scheduled,
        }
    }
}

/// Derives a datagram key from a box-stream key: the two never share a key.
fn datagram_key(box_stream_key: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"dswarm-datagram-key-v1")
        .chain_update(box_stream_key)
        .finalize()
        .into()
}

/// One entry of `Sessions::by_peer`. The first 8 bytes of the peer's id order the
/// entries, so that a search reads this array and not the slots; the id in the
/// slot at `place` settles ties.
#[derive(Clone, Copy, Debug)]
struct ByPeer {
    prefix: u64,
    place: u32,
    id: SessionId,
}

/// Whom half-open handshakes are counted against: a host (an IPv4 address, an IPv6
/// /64) whatever the port, so that rotating ports buys a flood nothing; a source on
/// loopback, where a whole test swarm shares one address, by IP and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Source {
    Host(IpBlock),
    Port(SocketAddr),
}

impl Source {
    pub(crate) fn of(addr: SocketAddr) -> Source {
        match IpBlock::of(&addr, 32, 64) {
            Some(host) => Source::Host(host),
            None => Source::Port(addr),
        }
    }
}

/// The first 8 bytes of `peer`, which order it among ids.
fn prefix_of(peer: &NodeId) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&peer.0[..8]);
    u64::from_be_bytes(first)
}

/// Every handshake and session of one node.
#[derive(Debug)]
pub struct Sessions {
    config: SessionConfig,
    network_key: [u8; 32],
    identity: Identity,
    local: NodeId,
    slots: Slab<Slot>,
    /// The open session each peer is reached by (the newest), sorted by peer (16
    /// bytes a peer where a map keyed by `NodeId` takes about 60).
    by_peer: Vec<ByPeer>,
    /// Dialled handshakes in progress, by peer.
    dialling: BTreeMap<NodeId, SessionId>,
    /// Half-open server handshakes by (source, client's number), for duplicates.
    half_open: BTreeMap<(SocketAddr, SessionId), SessionId>,
    half_open_by_source: BTreeMap<Source, usize>,
    /// Open sessions whose frames came from an address not validated yet, by number.
    probes: BTreeMap<SessionId, Probe>,
    /// Keys path challenge tokens: derived from the identity's secret, so that no peer
    /// can predict a token it did not receive.
    path_key: [u8; 32],
    /// The secrets cookies are minted under, drawn when first needed.
    cookies: CookieSecrets,
    deadlines: BTreeSet<(Time, SessionId)>,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<SessionEvent>,
    stats: SessionStats,
}

impl Sessions {
    /// No sessions yet.
    pub fn new(config: SessionConfig, network_key: [u8; 32], identity: Identity) -> Sessions {
        let path_key = Sha256::new()
            .chain_update(b"dswarm-path-token-v1")
            .chain_update(identity.seed())
            .finalize()
            .into();
        Sessions {
            local: identity.id(),
            probes: BTreeMap::new(),
            path_key,
            cookies: CookieSecrets::default(),
            config,
            network_key,
            identity,
            slots: Slab::default(),
            by_peer: Vec::new(),
            dialling: BTreeMap::new(),
            half_open: BTreeMap::new(),
            half_open_by_source: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: SessionStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Whether a session with `peer` is open.
    pub fn is_open(&self, peer: &NodeId) -> bool {
        self.find_peer(peer).is_ok()
    }

    /// Open sessions.
    pub fn open_count(&self) -> usize {
        self.by_peer.len()
    }

    /// The peers with an open session, in id order.
    pub fn open_peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.by_peer.iter().map(|entry| *self.peer_at(entry.place))
    }

    /// The peer of the open session at `place` in `slots`.
    fn peer_at(&self, place: u32) -> &NodeId {
        match self.slots.at(place) {
            Some(Slot::Open(open)) => &open.peer,
            _ => unreachable!("by_peer names open sessions only"),
        }
    }

    /// Where `peer` is, or would go, in `by_peer`.
    fn find_peer(&self, peer: &NodeId) -> Result<usize, usize> {
        let prefix = prefix_of(peer);
        self.by_peer.binary_search_by(|entry| {
            entry
                .prefix
                .cmp(&prefix)
                .then_with(|| self.peer_at(entry.place).cmp(peer))
        })
    }

    /// The number of `peer`'s newest open session.
    fn newest(&self, peer: &NodeId) -> Option<SessionId> {
        let at = self.find_peer(peer).ok()?;
        Some(self.by_peer[at].id)
    }

    /// A hash both ends of `peer`'s newest open session compute alike, and nobody
    /// else can: SHA-256 over the session's two datagram keys, in byte order. The
    /// application can print it at both ends to check it talks to whom it thinks
    /// (Omega's `handshakeHash`); it reveals nothing of the keys.
    pub fn handshake_hash(&self, peer: &NodeId) -> Option<[u8; 32]> {
        let Some(Slot::Open(open)) = self.slots.get(&self.newest(peer)?) else {
            return None;
        };
        let (low, high) = match open.send_key <= open.recv_key {
            true => (&open.send_key, &open.recv_key),
            false => (&open.recv_key, &open.send_key),
        };
        Some(
            Sha256::new()
                .chain_update(b"dswarm-handshake-hash-v1")
                .chain_update(low)
                .chain_update(high)
                .finalize()
                .into(),
        )
    }

    /// Where `peer`'s open session sends to, if one is open.
    pub fn addr_of(&self, peer: &NodeId) -> Option<SocketAddr> {
        match self.slots.get(&self.newest(peer)?) {
            Some(Slot::Open(open)) => Some(open.addr),
            _ => None,
        }
    }

    /// Closes `peer`'s open session (it said goodbye).
    pub fn close_peer(&mut self, peer: &NodeId) {
        if let Some(id) = self.newest(peer) {
            self.close(id);
        }
    }

    /// How long a client retransmits msg3 at most: the server's answer to a
    /// duplicate is kept that long.
    fn accept_kept(&self) -> Duration {
        let attempts = u32::from(self.config.handshake_retries_max) + 1;
        self.config.handshake_timeout * ((1u32 << attempts.min(16)) - 1)
    }

    /// `from` says it holds no session `receiver`: the open session whose frames go
    /// to that number at that address is dead (the peer restarted or dropped it).
    /// Closes it, so that the next message dials again; the peer if one was closed.
    /// Only the peer's address and its 32-bit session number, both in every frame we
    /// send, name a session, so an off-path sender must guess the number.
    pub fn on_no_session(&mut self, from: SocketAddr, receiver: SessionId) -> Option<NodeId> {
        let (id, peer) = self.slots.iter().find_map(|(id, slot)| match slot {
            Slot::Open(open) if open.remote == receiver && open.addr == from => {
                Some((id, open.peer))
            }
            _ => None,
        })?;
        self.stats.sessions_reset += 1;
        self.close(id);
        Some(peer)
    }

    /// Whether a dial of `peer` is under way.
    pub fn is_dialling(&self, peer: &NodeId) -> bool {
        self.dialling.contains_key(peer)
    }

    /// Handshakes in progress (dialled and half-open).
    pub fn handshaking(&self) -> usize {
        self.dialling.len() + self.half_open.len()
    }

    fn new_id(&self, rng: &mut impl RngCore) -> SessionId {
        loop {
            let id = SessionId(rng.next_u32());
            if !self.slots.contains_key(&id) {
                return id;
            }
        }
    }

    fn set_slot(&mut self, id: SessionId, slot: Slot) {
        if let Some(old) = self.slots.get(&id) {
            self.deadlines.remove(&(old.deadline(), id));
        }
        self.deadlines.insert((slot.deadline(), id));
        self.slots.insert(id, slot);
    }

    fn take_slot(&mut self, id: SessionId) -> Option<Slot> {
        let slot = self.remove_slot(id)?;
        self.deadlines.remove(&(slot.deadline(), id));
        Some(slot)
    }

    /// Drops slot `id` from the slab; a slot that moved into its place keeps its
    /// entry in `by_peer` pointing at it.
    fn remove_slot(&mut self, id: SessionId) -> Option<Slot> {
        let (slot, moved) = self.slots.remove(&id)?;
        if let Some(moved) = moved {
            if let Some(entry) = self.by_peer.iter_mut().find(|e| e.place == moved.from) {
                entry.place = moved.to;
            }
        }
        Some(slot)
    }

    /// A session with `peer` opened, and the caller sends what it held for `peer`
    /// over it: the dial to `peer` still under way, if any, drops the early message
    /// it has not sent. Returns whether that dial did send it beside msg3 already, so
    /// that the caller does not send it twice. (Both peers dialled each other, and the
    /// other's handshake finished first.)
    pub fn withdraw_early(&mut self, peer: &NodeId) -> bool {
        let Some(id) = self.dialling.get(peer) else {
            return false;
        };
        match self.slots.get_mut(id) {
            Some(Slot::Client(dial)) => {
                dial.early = None;
                dial.early_sent
            }
            _ => false,
        }
    }

    /// Dials `peer` at `addr` unless a session is open or a dial is under way.
    /// `early` is a first message (at most [`EARLY_MAX`] bytes, with its frame's
    /// flags) to seal beside msg3, a round trip before the session is proven open.
    pub fn connect(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        peer: NodeId,
        addr: SocketAddr,
        rng: &mut impl RngCore,
        early: Option<(Vec<u8>, FrameFlags)>,
    ) {
        if peer == self.local || self.is_open(&peer) || self.dialling.contains_key(&peer) {
            return;
        }
        let mut ephemeral = [0u8; 32];
        rng.fill_bytes(&mut ephemeral);
        let handshake = ClientHandshake::new(
            crypto,
            self.network_key,
            self.identity.clone(),
            peer,
            ephemeral,
        );
        let id = self.new_id(rng);
        let hello = Datagram::Handshake(Handshake::Hello {
            client: id,
            msg: handshake.hello(),
        })
        .to_bytes();
        self.transmits.push_back((addr, hello.clone()));
        self.stats.handshakes_started += 1;
        self.dialling.insert(peer, id);
        let deadline = now + self.config.handshake_timeout;
        self.set_slot(
            id,
            Slot::Client(Box::new(Dial {
                handshake,
                addr,
                early: early.filter(|(plaintext, _)| plaintext.len() <= EARLY_MAX),
                early_sent: false,
                overtaken: None,
                last: hello,
                cookies: 0,
                server: None,
                attempts: 1,
                deadline,
                dialled: now,
                wait: self.config.handshake_timeout,
            })),
        );
    }

    /// Feeds one handshake datagram from `from`. Gives the messages of the session it
    /// opened that arrived with it, in the order they were sealed: the frame beside
    /// msg3 or msg4, then (msg4 only) a frame that overtook msg4 and was held.
    pub fn handle_handshake(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        message: Handshake,
        rng: &mut impl RngCore,
    ) -> Vec<EarlyMessage> {
        match message {
            Handshake::Hello { client, msg } => {
                self.on_hello(now, crypto, from, client, &msg, None, rng)
            }
            Handshake::CookieHello {
                client,
                msg,
                cookie,
            } => self.on_hello(now, crypto, from, client, &msg, Some(&cookie), rng),
            Handshake::Cookie { client, cookie } => self.on_cookie(from, client, cookie),
            Handshake::HelloReply {
                client,
                server,
                msg,
            } => self.on_hello_reply(now, crypto, from, client, server, &msg),
            Handshake::Auth { server, msg, early } => {
                let early = self.on_auth(now, crypto, from, server, &msg, early.as_deref());
                return early.into_iter().collect();
            }
            Handshake::Accept { client, msg, early } => {
                return self.on_accept(now, crypto, from, client, &msg, early.as_deref());
            }
        }
        Vec::new()
    }

    fn on_hello_reply(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        client: SessionId,
        server: SessionId,
        msg2: &[u8; 64],
    ) {
        let Some(Slot::Client(dial)) = self.slots.get_mut(&client) else {
            self.stats.handshake_unmatched += 1;
            return;
        };
        if dial.addr != from {
            if !(dial.addr.ip().is_multicast() && dial.server.is_none()) {
                self.stats.handshake_unmatched += 1;
                return;
            }
            // A dial to a multicast mailbox: whoever listens there answers from its
            // own address, and msg4 proves whether it holds the key dialled.
            dial.addr = from;
        }
        if let Some(known) = dial.server {
            // msg3 went out already: a duplicate msg2 means msg3 may have been lost.
            if known == server {
                self.transmits.push_back((from, dial.last.clone()));
            } else {
                self.stats.handshake_unmatched += 1;
            }
            return;
        }
        match dial.handshake.handle_hello(crypto, msg2) {
            Ok(msg3) => {
                let Some(Slot::Client(mut dial)) = self.take_slot(client) else {
                    unreachable!("the slot was just matched");
                };
                // The first message, sealed with the keys msg2 made known, as counter 1
                // of the session the server opens on msg3.
                let early = dial.early.take().and_then(|(plaintext, flags)| {
                    let keys = dial.handshake.early_keys()?;
                    let key = datagram_key(&keys.encrypt_key);
                    let header = SealedHeader {
                        flags,
                        receiver: server,
                        counter: 1,
                    }
                    .encode();
                    let sealed = crypto.aead_seal(&key, 1, &header, &plaintext);
                    Some([&header[..], &sealed].concat())
                });
                dial.early_sent = early.is_some();
                let auth = Datagram::Handshake(Handshake::Auth {
                    server,
                    msg: msg3,
                    early,
                })
                .to_bytes();
                self.transmits.push_back((from, auth.clone()));
                dial.overtaken = None;
                dial.last = auth;
                dial.server = Some(server);
                dial.attempts = 1;
                let timeout = self.config.handshake_timeout;
                dial.wait = ((now - dial.dialled) * 3).clamp(MSG3_WAIT_MIN.min(timeout), timeout);
                dial.deadline = now + dial.wait;
                self.set_slot(client, Slot::Client(dial));
            }
            Err(error) => self.fail_dial(client, HandshakeFailure::Rejected(error)),
        }
    }

    fn on_auth(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        server: SessionId,
        msg3: &[u8; 112],
        early: Option<&[u8]>,
    ) -> Option<EarlyMessage> {
        match self.slots.get_mut(&server) {
            Some(Slot::Server(half_open)) if half_open.addr == from => {}
            Some(Slot::Open(Open {
                accept: Some(accept),
                addr,
                ..
            })) if *addr == from && accept.0 == *msg3 => {
                // msg4 was lost: answer the duplicate with the same bytes. Its early
                // frame, if any, was opened the first time.
                self.transmits.push_back((from, accept.1.clone()));
                return None;
            }
            _ => {
                self.stats.handshake_unmatched += 1;
                return None;
            }
        }
        let Some(Slot::Server(mut half_open)) = self.take_slot(server) else {
            unreachable!("the slot was just matched");
        };
        let (addr, client) = (half_open.addr, half_open.client);
        self.forget_half_open(addr, client);
        match half_open.handshake.handle_auth(crypto, msg3) {
            Ok((msg4, keys)) => {
                let accept = Datagram::Handshake(Handshake::Accept {
                    client,
                    msg: msg4,
                    early: None,
                })
                .to_bytes();
                debug_assert_eq!(accept.len(), ACCEPT_DATAGRAM_LEN);
                self.transmits.push_back((from, accept.clone()));
                self.open(
                    now,
                    server,
                    client,
                    addr,
                    &keys,
                    Some(Box::new((*msg3, accept))),
                    false,
                    false,
                );
                self.open_early(now, crypto, from, server, early?)
            }
            Err(error) => {
                self.stats.handshakes_rejected += 1;
                tracing::debug!(%from, %error, "refusing msg3");
                None
            }
        }
    }

    /// Opens the frame that came beside msg3 or msg4 in the session `local` just
    /// opened.
    fn open_early(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        local: SessionId,
        early: &[u8],
    ) -> Option<EarlyMessage> {
        let Ok(Datagram::Sealed { header, ciphertext }) = wire::decode(early) else {
            return None;
        };
        if header.receiver != local {
            self.stats.frames_unknown_session += 1;
            return None;
        }
        let opened = self.open_inner(now, crypto, from, header, &ciphertext, true);
        match opened {
            Ok((peer, plaintext)) => {
                self.stats.frames_opened += 1;
                self.stats.early_opened += 1;
                Some(EarlyMessage {
                    peer,
                    unlisted: header.flags.unlisted,
                    plaintext,
                })
            }
            Err(_) => {
                self.stats.frames_undecryptable += 1;
                None
            }
        }
    }

    fn on_accept(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        client: SessionId,
        msg4: &[u8; 80],
        early: Option<&[u8]>,
    ) -> Vec<EarlyMessage> {
        let matched = matches!(
            self.slots.get(&client),
            Some(Slot::Client(dial)) if dial.addr == from && dial.server.is_some()
        );
        if !matched {
            self.stats.handshake_unmatched += 1;
            return Vec::new();
        }
        let Some(Slot::Client(mut dial)) = self.take_slot(client) else {
            unreachable!("the slot was just matched");
        };
        let Dial {
            ref mut handshake,
            addr,
            server,
            early_sent,
            ref mut overtaken,
            ..
        } = *dial;
        let peer = handshake.server();
        self.dialling.remove(&peer);
        match handshake.handle_accept(crypto, msg4) {
            Ok(keys) => {
                debug_assert_eq!(keys.peer, peer, "SHS1 proves the dialled key");
                let server = server.expect("matched with a server number");
                self.open(now, client, server, addr, &keys, None, true, early_sent);
                // The frame beside msg4 was sealed first, then any that overtook it.
                let mut opened = Vec::new();
                if let Some(early) = early {
                    opened.extend(self.open_early(now, crypto, from, client, early));
                }
                if let Some(o) = overtaken.take() {
                    let frame = self.open_frame(now, crypto, o.from, o.frame, &o.ciphertext);
                    if let Ok((peer, plaintext)) = frame {
                        opened.push(EarlyMessage {
                            peer,
                            unlisted: o.frame.flags.unlisted,
                            plaintext,
                        });
                    }
                }
                opened
            }
            Err(error) => {
                self.stats.handshakes_rejected += 1;
                self.events.push_back(SessionEvent::Failed {
                    peer,
                    addr,
                    reason: HandshakeFailure::Rejected(error),
                });
                Vec::new()
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        now: Time,
        local: SessionId,
        remote: SessionId,
        addr: SocketAddr,
        keys: &SessionKeys,
        accept: Option<Box<([u8; 112], Vec<u8>)>>,
        initiator: bool,
        early: bool,
    ) {
        self.stats.handshakes_completed += 1;
        let peer = keys.peer;
        if self.by_peer.len() >= self.config.sessions_max && !self.is_open(&peer) {
            self.close_least_recent();
        }
        // The current session stays for frames in flight; the one it superseded goes.
        let previous = self.newest(&peer);
        let stale = previous.and_then(|current| match self.slots.get_mut(&current) {
            Some(Slot::Open(open)) => open.previous.take(),
            _ => None,
        });
        if let Some(stale) = stale {
            if matches!(self.slots.get(&stale), Some(Slot::Open(o)) if o.peer == peer) {
                self.stats.sessions_superseded += 1;
                self.close(stale);
            }
        }
        // A server keeps msg3's answer only while the client may still send msg3
        // again: its session comes due then, to let the answer go.
        let idle = now + self.config.lifetime.min(self.config.idle_timeout);
        let scheduled = match accept {
            Some(_) => idle.min(now + self.accept_kept()),
            None => idle,
        };
        let open = Open {
            peer,
            addr,
            remote,
            send_key: datagram_key(&keys.encrypt_key),
            recv_key: datagram_key(&keys.decrypt_key),
            sent: u64::from(early),
            window: ReplayWindow::default(),
            expires: now + self.config.lifetime,
            last_received: now,
            scheduled,
            accept,
            previous,
            keep_here: false,
            keep_there: false,
        };
        self.set_slot(local, Slot::Open(open));
        // The newest session carries what is sent from now on; an older one stays
        // open for frames already in flight until it expires.
        let place = self.slots.place(&local).expect("just set");
        let entry = ByPeer {
            prefix: prefix_of(&peer),
            place,
            id: local,
        };
        match self.find_peer(&peer) {
            Ok(at) => self.by_peer[at] = entry,
            Err(at) => self.by_peer.insert(at, entry),
        }
        self.events.push_back(SessionEvent::Established {
            peer,
            addr,
            initiator,
            early,
        });
    }

    fn close_least_recent(&mut self) {
        let oldest = self
            .slots
            .iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Open(open) => Some((open.last_received, id)),
                _ => None,
            })
            .min();
        if let Some((_, id)) = oldest {
            self.close(id);
        }
    }

    fn close(&mut self, id: SessionId) {
        // Out of `by_peer` before the slot goes: its order reads the slot's peer.
        let newest = match self.slots.get(&id) {
            Some(Slot::Open(open)) => self
                .find_peer(&open.peer)
                .ok()
                .filter(|&at| self.by_peer[at].id == id),
            _ => None,
        };
        if let Some(at) = newest {
            self.by_peer.remove(at);
        }
        self.probes.remove(&id);
        if let Some(Slot::Open(open)) = self.take_slot(id) {
            self.stats.sessions_closed += 1;
            if newest.is_some() {
                self.events
                    .push_back(SessionEvent::Closed { peer: open.peer });
            }
        }
    }

    /// Gives up the dial of `peer` under way, if any, without a failure event: the
    /// caller dials it again on another path.
    pub fn abandon_dial(&mut self, peer: &NodeId) {
        if let Some(id) = self.dialling.remove(peer) {
            self.take_slot(id);
        }
    }

    fn fail_dial(&mut self, id: SessionId, reason: HandshakeFailure) {
        if let Some(Slot::Client(dial)) = self.take_slot(id) {
            let (peer, addr) = (dial.handshake.server(), dial.addr);
            self.dialling.remove(&peer);
            match reason {
                HandshakeFailure::Timeout => self.stats.handshakes_timed_out += 1,
                HandshakeFailure::Rejected(_) => self.stats.handshakes_rejected += 1,
            }
            self.events
                .push_back(SessionEvent::Failed { peer, addr, reason });
        }
    }

    /// Seals `plaintext` for `peer`: the datagram and where to send it, or `None` if no
    /// session is open (the caller connects and sends later).
    ///
    /// `flags` say whether this node asks not to be put in routing tables and
    /// whether it keeps the session (see [`wire::Datagram::Sealed`]); the session
    /// is kept here from now on as they say.
    pub fn seal(
        &mut self,
        crypto: &dyn Crypto,
        peer: &NodeId,
        plaintext: &[u8],
        flags: FrameFlags,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        let id = self.newest(peer)?;
        let (addr, datagram) = self.seal_in(crypto, id, plaintext, Some(flags))?;
        let dst = self.destination(id, addr, None, datagram.len())?;
        Some((dst, datagram))
    }

    /// Seals `plaintext` for `peer` to go to `dst`, which must be where its session
    /// sends or an address under validation that may still be sent to (what
    /// arrived from there answered there, as a punch probe's ack); `None` otherwise.
    pub fn seal_to(
        &mut self,
        crypto: &dyn Crypto,
        peer: &NodeId,
        dst: SocketAddr,
        plaintext: &[u8],
        flags: FrameFlags,
    ) -> Option<Vec<u8>> {
        let id = self.newest(peer)?;
        let (addr, datagram) = self.seal_in(crypto, id, plaintext, Some(flags))?;
        self.destination(id, addr, Some(dst), datagram.len())?;
        Some(datagram)
    }

    /// Seals a punch probe for `peer`, for the caller to send to the address it
    /// punches towards; the punch's own rules bound where and how often.
    pub fn seal_probe(
        &mut self,
        crypto: &dyn Crypto,
        peer: &NodeId,
        plaintext: &[u8],
        flags: FrameFlags,
    ) -> Option<Vec<u8>> {
        let id = self.newest(peer)?;
        self.seal_in(crypto, id, plaintext, Some(flags))
            .map(|(_, datagram)| datagram)
    }

    /// Seals `plaintext` in open session `id`: its validated address and the
    /// datagram. `flags` are the node's, and keep the session here as they say; a
    /// path frame (`None`) carries none and changes nothing.
    fn seal_in(
        &mut self,
        crypto: &dyn Crypto,
        id: SessionId,
        plaintext: &[u8],
        flags: Option<FrameFlags>,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        let Some(Slot::Open(open)) = self.slots.get_mut(&id) else {
            return None;
        };
        // The send counter only grows (an overflow panics in debug builds): no
        // (key, counter) nonce is ever used twice.
        open.sent += 1;
        let given_up = flags.is_some_and(|flags| open.keep_here && !flags.keep);
        if let Some(flags) = flags {
            open.keep_here = flags.keep;
        }
        let header = SealedHeader {
            flags: flags.unwrap_or_default(),
            receiver: open.remote,
            counter: open.sent,
        }
        .encode();
        let sealed = crypto.aead_seal(&open.send_key, open.sent, &header, plaintext);
        let mut datagram = Vec::with_capacity(SEALED_HEADER_LEN + sealed.len());
        datagram.extend_from_slice(&header);
        datagram.extend_from_slice(&sealed);
        debug_assert!(datagram.len() <= MAX_DATAGRAM);
        let addr = open.addr;
        if given_up {
            self.bring_forward(id);
        }
        Some((addr, datagram))
    }

    /// Session `id` may now close sooner than its entry in `deadlines` says (a flag
    /// that kept it was cleared): moves the entry up. (Frames only ever move the
    /// true expiry later, and a late entry is put back when it comes due.)
    fn bring_forward(&mut self, id: SessionId) {
        let Some(Slot::Open(open)) = self.slots.get_mut(&id) else {
            return;
        };
        let expiry = open.expiry(&self.config);
        if expiry < open.scheduled {
            self.deadlines.remove(&(open.scheduled, id));
            open.scheduled = expiry;
            self.deadlines.insert((expiry, id));
        }
    }

    /// Puts `frame`, sealed in `peer`'s newest session by [`Sessions::seal`], in the
    /// same datagram as that session's msg4 if msg4 still waits to be sent: the answer
    /// to msg3's early request then costs no datagram of its own (a duplicate msg3 gets
    /// both again). Gives the frame back if msg4 went out already, already carries a
    /// frame, or the two would not fit in one datagram.
    pub fn beside_accept(&mut self, peer: &NodeId, frame: Vec<u8>) -> Result<(), Vec<u8>> {
        let Some(id) = self.newest(peer) else {
            return Err(frame);
        };
        let Some(Slot::Open(open)) = self.slots.get_mut(&id) else {
            return Err(frame);
        };
        let Some(accept) = open.accept.as_mut() else {
            return Err(frame);
        };
        // Through a relay, the datagram travels inside another and must stay small.
        if accept.1.len() != ACCEPT_DATAGRAM_LEN
            || accept.1.len() + frame.len() > MAX_DATAGRAM
            || relay_path::is_relay_path(open.addr)
        {
            return Err(frame);
        }
        let queued = self
            .transmits
            .iter_mut()
            .rev()
            .find(|(dst, bytes)| *dst == open.addr && *bytes == accept.1);
        let Some((_, queued)) = queued else {
            return Err(frame);
        };
        accept.1.extend_from_slice(&frame);
        queued.clone_from(&accept.1);
        self.stats.early_answers += 1;
        Ok(())
    }

    /// Marks `peer`'s newest session as kept here (the node took the peer into its
    /// routing table), until a frame this node seals says otherwise.
    pub fn keep(&mut self, peer: &NodeId) {
        let Some(id) = self.newest(peer) else {
            return;
        };
        if let Some(Slot::Open(open)) = self.slots.get_mut(&id) {
            open.keep_here = true;
        }
    }

    /// Opens a sealed frame from `from`: the peer it proves and the plaintext.
    /// `frame` is the frame's header as it arrived.
    pub fn open_frame(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        frame: SealedHeader,
        ciphertext: &[u8],
    ) -> Result<(NodeId, Vec<u8>), OpenError> {
        let result = self.open_inner(now, crypto, from, frame, ciphertext, false);
        match result {
            Ok(_) => self.stats.frames_opened += 1,
            Err(OpenError::UnknownSession | OpenError::NotYetOpen) => {
                self.stats.frames_unknown_session += 1
            }
            Err(OpenError::Held) => self.stats.frames_held += 1,
            Err(OpenError::Path) => self.stats.frames_opened += 1,
            Err(OpenError::Replay) => self.stats.frames_replayed += 1,
            Err(OpenError::Decrypt) => self.stats.frames_undecryptable += 1,
        }
        result
    }

    fn open_inner(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        frame: SealedHeader,
        ciphertext: &[u8],
        early: bool,
    ) -> Result<(NodeId, Vec<u8>), OpenError> {
        let SealedHeader {
            receiver, counter, ..
        } = frame;
        let open = match self.slots.get_mut(&receiver) {
            Some(Slot::Open(open)) => open,
            Some(Slot::Client(dial))
                if !early && dial.server.is_some() && dial.overtaken.is_none() =>
            {
                // Kept, unread, for when msg4 opens the session; one at most.
                dial.overtaken = Some(Overtaken {
                    from,
                    frame,
                    ciphertext: ciphertext.to_vec(),
                });
                return Err(OpenError::Held);
            }
            Some(_) => return Err(OpenError::NotYetOpen),
            None => return Err(OpenError::UnknownSession),
        };
        if !open.window.check(counter) {
            return Err(OpenError::Replay);
        }
        let header = frame.encode();
        let plaintext = crypto
            .aead_open(&open.recv_key, counter, &header, ciphertext)
            .ok_or(OpenError::Decrypt)?;
        open.window.record(counter);
        // A frame from the client after msg3 shows that msg4 arrived: no duplicate
        // msg3 needs answering. (The early frame comes with msg3 itself.)
        if !early {
            open.accept = None;
        }
        open.last_received = now;
        let path = wire::path_notice(&plaintext);
        // A path frame's flags are the session layer's, not the node's.
        let given_up = path.is_none() && open.keep_there && !frame.flags.keep;
        if path.is_none() {
            open.keep_there = frame.flags.keep;
        }
        let (peer, addr) = (open.peer, open.addr);
        if given_up {
            self.bring_forward(receiver);
        }
        let len = SEALED_HEADER_LEN + ciphertext.len();
        self.on_frame_from(now, crypto, receiver, addr, from, counter, len);
        match path {
            Some(Notice::PathChallenge { token }) => {
                let echo = Message::Notice(Notice::PathResponse { token });
                self.seal_path_frame(crypto, receiver, &echo, None);
                Err(OpenError::Path)
            }
            Some(Notice::PathResponse { token }) => {
                self.on_path_response(receiver, token);
                Err(OpenError::Path)
            }
            _ => Ok((peer, plaintext)),
        }
    }

    /// Whether any session of this node could open the sealed frame `bytes`, without
    /// touching replay windows or counters: how a relay checks that what it forwards
    /// is opaque to it (it never should be able to).
    pub fn could_open(&self, crypto: &dyn Crypto, bytes: &[u8]) -> bool {
        let Ok(Datagram::Sealed { header, ciphertext }) = wire::decode(bytes) else {
            return false;
        };
        let Some(Slot::Open(open)) = self.slots.get(&header.receiver) else {
            return false;
        };
        crypto
            .aead_open(
                &open.recv_key,
                header.counter,
                &header.encode(),
                &ciphertext,
            )
            .is_some()
    }

    /// Retransmits handshake messages, fails dials out of retries, drops stale
    /// half-open handshakes and closes expired sessions.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            match self.slots.get_mut(&id) {
                Some(Slot::Client(dial)) => {
                    let retries = match dial.server {
                        Some(_) => MSG3_RETRIES_MAX.min(self.config.handshake_retries_max),
                        None => self.config.handshake_retries_max,
                    };
                    if dial.attempts > retries {
                        if dial.server.is_some() {
                            self.stats.handshakes_unproven += 1;
                        }
                        self.fail_dial(id, HandshakeFailure::Timeout);
                        continue;
                    }
                    self.transmits.push_back((dial.addr, dial.last.clone()));
                    dial.deadline = now + dial.wait * (1u32 << dial.attempts.min(16));
                    dial.attempts += 1;
                    self.deadlines.insert((dial.deadline, id));
                }
                Some(Slot::Server(half_open)) => {
                    let (addr, client) = (half_open.addr, half_open.client);
                    self.remove_slot(id);
                    self.forget_half_open(addr, client);
                }
                Some(Slot::Open(open)) => {
                    // Past the client's last msg3 retransmission: msg4 arrived, or
                    // the client gave up.
                    open.accept = None;
                    let expiry = open.expiry(&self.config);
                    if expiry > now {
                        // Heard from since it was scheduled: not idle after all.
                        open.scheduled = expiry;
                        self.deadlines.insert((expiry, id));
                    } else {
                        self.close(id);
                    }
                }
                None => {}
            }
        }
    }

    /// The next handshake datagram to send. Changes after every input.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event. Changes after every input.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The next retransmission, half-open expiry or session expiry.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.deadlines.first().map(|&(t, _)| t)
    }
}

mod footprint;
mod hello;
mod path;
mod slab;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod sealing_tests;
