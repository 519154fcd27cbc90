//! What a node keeps for others: immutable values, signed mutable records and topic
//! announcements, with the write tokens that guard them and the limits that bound them.
//!
//! In: store and fetch requests of proven peers (the node has already opened their
//! session, so `peer` is a proven key and `from` the address its frame came from), and
//! the time. Out: a [`Refusal`] or the stored record, and counters ([`StoreStats`]).
//!
//! - **Immutable**: key = SHA-256(value); stored as given, answered as stored; the
//!   reader checks the hash again ([`immutable_key`]).
//! - **Mutable**: key = SHA-256(public key ‖ salt); the record carries `seq`, the value
//!   and an ed25519 signature over (salt, seq, value) ([`MutableRecord`]). Stored only
//!   if the signature verifies and `seq` is not lower than the one held; the same `seq`
//!   with another value is refused.
//! - **Announcements** under a 32-byte topic: a signed (public key, relay addresses,
//!   time) record ([`Announcement`]). It lives [`StoreConfig::ttl`] from its signed
//!   time: a holder refuses one signed longer ago, or more than
//!   [`StoreConfig::clock_skew`] ahead of its own wall clock, and drops it when its
//!   lifetime is over. A signed [`Unannounce`] at least as new removes it and leaves a
//!   tombstone: replays of announcements no newer than the withdrawal are refused until
//!   their lifetime is over, when the tombstone goes too. Tombstones count against the
//!   same limits as records.
//! - **Topic answers** ([`Store::peers`]): up to `n` announcements of a topic drawn at
//!   random (from the node's seeded RNG), each with its signature ([`SignedPeer`]), so
//!   that the asker checks them itself ([`StoreConfig::check_time`] with the asker's
//!   allowance) and the k holders of a busy topic answer with different ones.
//!
//! Every write carries a token the writer got from this node in an earlier answer
//! ([`Tokens`]): HMAC of the writer's id and address under a secret that rotates, so a
//! spoofed source cannot store. Every record expires after [`StoreConfig::ttl`] unless
//! written again; owners refresh what they wrote (see the node's republishing).
//!
//! Maps are `BTreeMap`s: what a node answers never depends on hash order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::counters::counters;
use super::crypto::Crypto;
use super::id::{Key, NodeId};
use super::identity::{Identity, SIGNATURE_LEN};
use super::time::Time;
use quota::{Owner, Quotas};

/// Largest value of an immutable or mutable record, in bytes.
pub const MAX_VALUE: usize = 1000;
/// Longest salt of a mutable record, in bytes.
pub const MAX_SALT: usize = 32;
/// Most relay addresses in an announcement.
pub const MAX_RELAYS: usize = 3;
/// Length of a write token.
pub const TOKEN_LEN: usize = 16;

/// A write token: proof that the writer received an answer from this node at the
/// address it writes from.
pub type Token = [u8; TOKEN_LEN];

/// The key of an immutable value: SHA-256 of the value.
pub fn immutable_key(value: &[u8]) -> Key {
    Key::of(value)
}

/// The key of a mutable record: SHA-256(public key ‖ salt).
pub fn mutable_key(public_key: &NodeId, salt: &[u8]) -> Key {
    let mut hash = Sha256::new();
    hash.update(public_key.as_bytes());
    hash.update(salt);
    Key(hash.finalize().into())
}

/// A mutable record, signed by its owner.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct MutableRecord {
    /// The owner's key, which signed it.
    pub public_key: NodeId,
    /// Up to [`MAX_SALT`] bytes: one key pair owns many records, one per salt.
    #[serde(serialize_with = "crate::proto::id::serialize_hex")]
    pub salt: Vec<u8>,
    /// Version: a holder keeps the highest.
    pub seq: u64,
    /// Up to [`MAX_VALUE`] bytes.
    #[serde(serialize_with = "crate::proto::id::serialize_hex")]
    pub value: Vec<u8>,
    /// ed25519 over [`MutableRecord::signed_bytes`].
    #[serde(serialize_with = "crate::proto::id::serialize_hex")]
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for MutableRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutableRecord")
            .field("public_key", &self.public_key)
            .field("salt_len", &self.salt.len())
            .field("seq", &self.seq)
            .field("value_len", &self.value.len())
            .finish()
    }
}

impl MutableRecord {
    /// What the owner signs: a domain tag, then salt (length-prefixed), seq, value.
    pub fn signed_bytes(salt: &[u8], seq: u64, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + salt.len() + value.len());
        out.extend_from_slice(b"dswarm-mutable-v1");
        out.push(salt.len() as u8);
        out.extend_from_slice(salt);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(value);
        out
    }

    /// Signs a record with `identity`.
    pub fn sign(
        crypto: &dyn Crypto,
        identity: &Identity,
        salt: Vec<u8>,
        seq: u64,
        value: Vec<u8>,
    ) -> MutableRecord {
        let signature = crypto.sign(identity, &Self::signed_bytes(&salt, seq, &value));
        MutableRecord {
            public_key: identity.id(),
            salt,
            seq,
            value,
            signature,
        }
    }

    /// Its key.
    pub fn key(&self) -> Key {
        mutable_key(&self.public_key, &self.salt)
    }

    /// Whether sizes are within limits and the signature verifies.
    pub fn verify(&self, crypto: &dyn Crypto) -> bool {
        self.salt.len() <= MAX_SALT
            && self.value.len() <= MAX_VALUE
            && crypto.verify(
                &self.public_key,
                &Self::signed_bytes(&self.salt, self.seq, &self.value),
                &self.signature,
            )
    }
}

/// A peer's announcement under a topic: "find me here", signed by the peer.
#[derive(Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The topic.
    pub topic: Key,
    /// The announcing peer's key, which signed it.
    pub public_key: NodeId,
    /// Up to [`MAX_RELAYS`] addresses through which it can be reached.
    pub relays: Vec<SocketAddr>,
    /// When it was made, in Unix seconds of the announcer's clock: it lives
    /// [`StoreConfig::ttl`] from then, and an unannounce at least this new withdraws it.
    pub unix_secs: u64,
    /// ed25519 over [`Announcement::signed_bytes`].
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announcement")
            .field("topic", &self.topic)
            .field("public_key", &self.public_key)
            .field("relays", &self.relays)
            .field("unix_secs", &self.unix_secs)
            .finish()
    }
}

fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out.push(6);
            out.extend_from_slice(&a.ip().octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

impl Announcement {
    /// What the announcer signs.
    pub fn signed_bytes(topic: &Key, unix_secs: u64, relays: &[SocketAddr]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 19 * relays.len());
        out.extend_from_slice(b"dswarm-announce-v1");
        out.extend_from_slice(&topic.0);
        out.extend_from_slice(&unix_secs.to_be_bytes());
        out.push(relays.len() as u8);
        for relay in relays {
            put_addr(&mut out, relay);
        }
        out
    }

    /// Signs an announcement with `identity`.
    pub fn sign(
        crypto: &dyn Crypto,
        identity: &Identity,
        topic: Key,
        unix_secs: u64,
        relays: Vec<SocketAddr>,
    ) -> Announcement {
        let signature = crypto.sign(identity, &Self::signed_bytes(&topic, unix_secs, &relays));
        Announcement {
            topic,
            public_key: identity.id(),
            relays,
            unix_secs,
            signature,
        }
    }

    /// Whether it is within limits and the signature verifies.
    pub fn verify(&self, crypto: &dyn Crypto) -> bool {
        self.relays.len() <= MAX_RELAYS
            && crypto.verify(
                &self.public_key,
                &Self::signed_bytes(&self.topic, self.unix_secs, &self.relays),
                &self.signature,
            )
    }

    /// What a topic lookup returns of it.
    pub fn peer(&self) -> PeerRecord {
        PeerRecord {
            public_key: self.public_key,
            relays: self.relays.clone(),
        }
    }

    /// It as a topic answer carries it: without the topic.
    pub fn signed_peer(&self) -> SignedPeer {
        SignedPeer {
            public_key: self.public_key,
            relays: self.relays.clone(),
            unix_secs: self.unix_secs,
            signature: self.signature,
        }
    }
}

/// An announcement as a topic answer ([`Response::Peers`](crate::proto::wire::Response))
/// carries it: everything but the topic, which the asker named and the signature
/// covers. The asker checks it as [`SignedPeer::under`] the topic it asked for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SignedPeer {
    /// The announcing peer's key, which signed it.
    pub public_key: NodeId,
    /// Up to [`MAX_RELAYS`] relay addresses.
    pub relays: Vec<SocketAddr>,
    /// When it was made (the announcer's clock), in Unix seconds.
    pub unix_secs: u64,
    /// ed25519 over [`Announcement::signed_bytes`] of the topic.
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedPeer {
    /// The announcement it is under `topic`: it verifies only if `topic` is the one
    /// its announcer signed.
    pub fn under(self, topic: Key) -> Announcement {
        Announcement {
            topic,
            public_key: self.public_key,
            relays: self.relays,
            unix_secs: self.unix_secs,
            signature: self.signature,
        }
    }
}

/// A signed request to drop an announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unannounce {
    /// The topic.
    pub topic: Key,
    /// The announcer, which signed this.
    pub public_key: NodeId,
    /// When it was made (the announcer's clock), in Unix seconds: it removes
    /// announcements no newer, and refuses them until their lifetime is over.
    pub unix_secs: u64,
    /// ed25519 over [`Unannounce::signed_bytes`].
    pub signature: [u8; SIGNATURE_LEN],
}

impl Unannounce {
    /// What the announcer signs.
    pub fn signed_bytes(topic: &Key, unix_secs: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(60);
        out.extend_from_slice(b"dswarm-unannounce-v1");
        out.extend_from_slice(&topic.0);
        out.extend_from_slice(&unix_secs.to_be_bytes());
        out
    }

    /// Signs an unannounce with `identity`.
    pub fn sign(crypto: &dyn Crypto, identity: &Identity, topic: Key, unix_secs: u64) -> Self {
        let signature = crypto.sign(identity, &Self::signed_bytes(&topic, unix_secs));
        Unannounce {
            topic,
            public_key: identity.id(),
            unix_secs,
            signature,
        }
    }

    /// Whether the signature verifies.
    pub fn verify(&self, crypto: &dyn Crypto) -> bool {
        crypto.verify(
            &self.public_key,
            &Self::signed_bytes(&self.topic, self.unix_secs),
            &self.signature,
        )
    }
}

/// A peer found under a topic: who, and through which relays.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct PeerRecord {
    /// The announcing peer.
    pub public_key: NodeId,
    /// Its relay addresses, up to [`MAX_RELAYS`].
    pub relays: Vec<SocketAddr>,
}

/// Why a write was refused. Travels as the error code of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Refusal {
    /// The token is missing, forged, or from another address or too long ago.
    BadToken,
    /// Value, salt or relay list over its limit.
    TooLarge,
    /// The signature does not verify.
    BadSignature,
    /// `seq` is lower than the one held.
    SeqTooLow,
    /// Same `seq` as the one held, another value.
    SeqConflict,
    /// The node holds as many records as it will.
    Full,
    /// The writer holds as many records here as one peer may.
    PeerQuota,
    /// The writers of the writer's address block hold as many records here as one
    /// block may ([`StoreConfig::max_per_block`]).
    BlockQuota,
    /// Signed too long ago (an announcement's lifetime, [`StoreConfig::ttl`], is
    /// over), or older than the announcement held, or no newer than a withdrawal held.
    Stale,
    /// Signed further ahead of the holder's clock than [`StoreConfig::clock_skew`].
    Future,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::BadToken => "missing or invalid write token",
            Refusal::TooLarge => "over the size limit",
            Refusal::BadSignature => "signature does not verify",
            Refusal::SeqTooLow => "seq lower than the one held",
            Refusal::SeqConflict => "same seq with another value",
            Refusal::Full => "store full",
            Refusal::PeerQuota => "too many records from this peer",
            Refusal::BlockQuota => "too many records from this peer's address block",
            Refusal::Stale => "signed too long ago, or older than the record held",
            Refusal::Future => "signed too far ahead of the holder's clock",
        })
    }
}

/// Store tunables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// How long a record lives unless written again (HyperDHT: 20 minutes).
    pub ttl: Duration,
    /// How often an owner writes its records again; below `ttl`.
    pub republish: Duration,
    /// How long a token secret is current; the previous one is still accepted.
    pub token_rotation: Duration,
    /// Most records (of all kinds) held.
    pub max_records: usize,
    /// Most records held for one writer.
    pub max_per_peer: usize,
    /// Most records held for the writers of one address block (the routing table's
    /// blocks; loopback writers have none): one operator's many identities on one
    /// address share it.
    pub max_per_block: usize,
    /// How far apart two nodes' wall clocks may be. A holder accepts announcements and
    /// withdrawals signed up to this far ahead of its clock; an asker also accepts
    /// announcements this much older than their lifetime, for a holder whose clock is
    /// behind its own.
    pub clock_skew: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            ttl: Duration::from_secs(20 * 60),
            republish: Duration::from_secs(10 * 60),
            token_rotation: Duration::from_secs(5 * 60),
            max_records: 65_536,
            max_per_peer: 1024,
            max_per_block: 4096,
            clock_skew: Duration::from_secs(120),
        }
    }
}

impl StoreConfig {
    /// Whether a time signed at `signed` (Unix seconds) is acceptable at wall time
    /// `unix_secs`, for something that lives `lifetime` from then: not more than
    /// [`Self::clock_skew`] ahead ([`Refusal::Future`]), and not `lifetime` old or older
    /// ([`Refusal::Stale`]). A holder judges with `ttl`, an asker with `ttl +
    /// clock_skew`.
    pub fn check_time(
        &self,
        signed: u64,
        unix_secs: u64,
        lifetime: Duration,
    ) -> Result<(), Refusal> {
        if signed > unix_secs.saturating_add(self.clock_skew.as_secs()) {
            return Err(Refusal::Future);
        }
        if lifetime_left(signed, unix_secs, lifetime).is_zero() {
            return Err(Refusal::Stale);
        }
        Ok(())
    }
}

/// What is left at wall time `unix_secs` of a lifetime of `lifetime` from `signed`.
fn lifetime_left(signed: u64, unix_secs: u64, lifetime: Duration) -> Duration {
    (Duration::from_secs(signed) + lifetime).saturating_sub(Duration::from_secs(unix_secs))
}

/// A holder's clocks at one moment: the monotonic one that orders expiries, and its
/// wall clock, which judges signed times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The node's monotonic time.
    pub time: Time,
    /// Its wall clock, in seconds since the Unix epoch.
    pub unix_secs: u64,
}

counters! {
    /// Counters of the store.
    pub struct StoreStats, named "store_" {
        /// Writes accepted (new records and refreshes).
        Activity stored,
        /// Records dropped at expiry.
        Activity expired,
        /// Reads answered with a record.
        Activity hits,
        /// Reads of records not held.
        Activity misses,
        /// Writes refused for a bad or missing token.
        Breach refused_token,
        /// Writes refused as too large.
        Breach refused_size,
        /// Writes refused for a bad signature.
        Breach refused_signature,
        /// Mutable writes refused for a lower or conflicting `seq`.
        Breach refused_seq,
        /// Announcements and withdrawals refused for their signed time: too old, too
        /// far ahead, older than the announcement held, or replays of an announcement
        /// withdrawn (a tombstone).
        Breach refused_stale,
        /// Writes refused because the store or the writer's quota was full.
        Breach refused_full,
        /// Writes refused because the writers of the writer's address block held their
        /// quota.
        Breach refused_block,
    }
}

/// Write tokens: HMAC-SHA-256(secret of the period, writer id ‖ address), truncated.
#[derive(Clone)]
pub struct Tokens {
    secret: [u8; 32],
    rotation: Duration,
}

impl Tokens {
    /// Tokens under `secret` (from the node's seeded RNG), rotating every `rotation`.
    pub fn new(secret: [u8; 32], rotation: Duration) -> Tokens {
        Tokens {
            secret,
            rotation: rotation.max(Duration::from_secs(1)),
        }
    }

    fn period(&self, now: Time) -> u64 {
        now.as_micros() / self.rotation.as_micros().max(1) as u64
    }

    fn token_in(&self, period: u64, peer: &NodeId, addr: &SocketAddr) -> Token {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC takes a key of any length");
        mac.update(&period.to_be_bytes());
        mac.update(peer.as_bytes());
        let mut addr_bytes = Vec::with_capacity(19);
        put_addr(&mut addr_bytes, addr);
        mac.update(&addr_bytes);
        let full = mac.finalize().into_bytes();
        let mut token = [0u8; TOKEN_LEN];
        token.copy_from_slice(&full[..TOKEN_LEN]);
        token
    }

    /// The token to give `peer` at `addr` now.
    pub fn issue(&self, now: Time, peer: &NodeId, addr: &SocketAddr) -> Token {
        self.token_in(self.period(now), peer, addr)
    }

    /// Whether `token` was issued to `peer` at `addr` in this period or the last.
    pub fn check(&self, now: Time, peer: &NodeId, addr: &SocketAddr, token: &Token) -> bool {
        let period = self.period(now);
        let current = self.token_in(period, peer, addr);
        let previous = period.checked_sub(1).map(|p| self.token_in(p, peer, addr));
        // Not secret-dependent timing worth guarding: tokens only gate storage.
        current == *token || previous.as_ref() == Some(token)
    }
}

/// Which record an expiry entry or a quota count refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Immutable(Key),
    Mutable(Key),
    Announcement(Key, NodeId),
    Tombstone(Key, NodeId),
}

#[derive(Debug)]
struct Held<T> {
    record: T,
    /// The proven peer that wrote it, and its block: what it counts against.
    owner: Owner,
    expires: Time,
}

/// One record a [`Store`] holds, as [`Store::records`] shows it.
#[derive(Clone, Copy, Debug)]
pub enum StoredRecord<'a> {
    /// An immutable value under its key.
    Immutable {
        /// The key it is held under.
        key: &'a Key,
        /// The value.
        value: &'a [u8],
        /// The proven peer that wrote it.
        writer: &'a NodeId,
    },
    /// A mutable record (its key is [`MutableRecord::key`]).
    Mutable {
        /// The record.
        record: &'a MutableRecord,
        /// The proven peer that wrote it (not necessarily its owner).
        writer: &'a NodeId,
    },
    /// An announcement under its topic.
    Announcement {
        /// The announcement.
        announcement: &'a Announcement,
        /// The proven peer that wrote it.
        writer: &'a NodeId,
    },
}

/// The records a node holds for others.
pub struct Store {
    config: StoreConfig,
    tokens: Tokens,
    immutable: BTreeMap<Key, Held<Vec<u8>>>,
    mutable: BTreeMap<Key, Held<MutableRecord>>,
    /// Announcements, each with its place in `listed`.
    topics: BTreeMap<(Key, NodeId), (Held<Announcement>, usize)>,
    /// Each topic's announcers, in no order: what [`Store::peers`] draws from.
    listed: BTreeMap<Key, Vec<NodeId>>,
    /// Withdrawals: the time of the last unannounce of each (topic, announcer).
    tombstones: BTreeMap<(Key, NodeId), Held<u64>>,
    expiries: BTreeSet<(Time, Slot)>,
    quotas: Quotas,
    stats: StoreStats,
}

impl Store {
    /// Heap bytes of the records held, their expiries and writer counts (see
    /// [`crate::proto::footprint`]).
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::{btree, vec};
        let values: usize = self
            .immutable
            .values()
            .map(|held| vec(&held.record))
            .sum::<usize>()
            + self
                .mutable
                .values()
                .map(|held| vec(&held.record.salt) + vec(&held.record.value))
                .sum::<usize>()
            + self
                .topics
                .values()
                .map(|(held, _)| vec(&held.record.relays))
                .sum::<usize>()
            + self.listed.values().map(vec).sum::<usize>();
        values
            + btree::<Key, Held<Vec<u8>>>(self.immutable.len())
            + btree::<Key, Held<MutableRecord>>(self.mutable.len())
            + btree::<(Key, NodeId), (Held<Announcement>, usize)>(self.topics.len())
            + btree::<Key, Vec<NodeId>>(self.listed.len())
            + btree::<(Key, NodeId), Held<u64>>(self.tombstones.len())
            + btree::<(Time, Slot), ()>(self.expiries.len())
            + self.quotas.heap_bytes()
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("immutable", &self.immutable.len())
            .field("mutable", &self.mutable.len())
            .field("announcements", &self.topics.len())
            .field("tombstones", &self.tombstones.len())
            .finish()
    }
}

impl Store {
    /// An empty store; `secret` keys its tokens, and `prefixes` (IPv4, IPv6) cut
    /// writers' addresses into blocks, as the routing table does
    /// ([`TableConfig::block_prefix_v4`](super::table::TableConfig::block_prefix_v4)).
    pub fn new(config: StoreConfig, secret: [u8; 32], prefixes: (u8, u8)) -> Store {
        let tokens = Tokens::new(secret, config.token_rotation);
        Store {
            config,
            tokens,
            immutable: BTreeMap::new(),
            mutable: BTreeMap::new(),
            topics: BTreeMap::new(),
            listed: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            expiries: BTreeSet::new(),
            quotas: Quotas::new(prefixes),
            stats: StoreStats::default(),
        }
    }

    /// Its tunables.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Its counters.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// Records held, of all kinds (not tombstones).
    pub fn len(&self) -> usize {
        self.immutable.len() + self.mutable.len() + self.topics.len()
    }

    /// Withdrawals held (see the module docs).
    pub fn tombstones(&self) -> usize {
        self.tombstones.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record held, immutable values first, then mutable records, then
    /// announcements, each in key order. Read-only: for oracles that check what a node
    /// accepted (a test-bed's "no forged record is ever stored").
    pub fn records(&self) -> impl Iterator<Item = StoredRecord<'_>> + '_ {
        let immutable = self
            .immutable
            .iter()
            .map(|(key, held)| StoredRecord::Immutable {
                key,
                value: &held.record,
                writer: &held.owner.writer,
            });
        let mutable = self.mutable.values().map(|held| StoredRecord::Mutable {
            record: &held.record,
            writer: &held.owner.writer,
        });
        let topics = self
            .topics
            .values()
            .map(|(held, _)| StoredRecord::Announcement {
                announcement: &held.record,
                writer: &held.owner.writer,
            });
        immutable.chain(mutable).chain(topics)
    }

    /// The token to hand `peer`, which asked from `addr`.
    pub fn token(&self, now: Time, peer: &NodeId, addr: &SocketAddr) -> Token {
        self.tokens.issue(now, peer, addr)
    }

    /// When the next record expires.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.expiries.first().map(|(at, _)| *at)
    }

    /// Drops what has expired by `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(&(at, slot)) = self.expiries.first() {
            if at > now {
                break;
            }
            self.expiries.pop_first();
            let owner = match slot {
                Slot::Immutable(key) => self.immutable.remove(&key).map(|h| h.owner),
                Slot::Mutable(key) => self.mutable.remove(&key).map(|h| h.owner),
                Slot::Announcement(topic, peer) => self.unlist(&(topic, peer)),
                Slot::Tombstone(topic, peer) => {
                    if let Some(held) = self.tombstones.remove(&(topic, peer)) {
                        self.quotas.sub(&held.owner);
                    }
                    continue;
                }
            };
            if let Some(owner) = owner {
                self.stats.expired += 1;
                self.quotas.sub(&owner);
            }
        }
    }

    /// Takes the announcement of `slot_key` out of `topics` and `listed`; its owner.
    /// Its expiry entry and its owner's count are the caller's.
    fn unlist(&mut self, slot_key: &(Key, NodeId)) -> Option<Owner> {
        let (held, index) = self.topics.remove(slot_key)?;
        let topic = slot_key.0;
        if let Some(listed) = self.listed.get_mut(&topic) {
            listed.swap_remove(index);
            match listed.get(index) {
                Some(&moved) => {
                    if let Some((_, at)) = self.topics.get_mut(&(topic, moved)) {
                        *at = index;
                    }
                }
                None if listed.is_empty() => {
                    self.listed.remove(&topic);
                }
                None => {}
            }
        }
        Some(held.owner)
    }

    /// Counts `refusal`, and gives it back.
    fn refused(&mut self, refusal: Refusal) -> Refusal {
        let counter = match refusal {
            Refusal::BadToken => &mut self.stats.refused_token,
            Refusal::TooLarge => &mut self.stats.refused_size,
            Refusal::BadSignature => &mut self.stats.refused_signature,
            Refusal::SeqTooLow | Refusal::SeqConflict => &mut self.stats.refused_seq,
            Refusal::Stale | Refusal::Future => &mut self.stats.refused_stale,
            Refusal::Full | Refusal::PeerQuota => &mut self.stats.refused_full,
            Refusal::BlockQuota => &mut self.stats.refused_block,
        };
        *counter += 1;
        refusal
    }

    fn refuse(&mut self, refusal: Refusal) -> Result<(), Refusal> {
        Err(self.refused(refusal))
    }

    /// Checks the token, then room for one more record of `writer` at `from` if
    /// `new`; the owner the record would count against.
    fn admit(
        &mut self,
        now: Time,
        writer: &NodeId,
        from: &SocketAddr,
        token: &Token,
        new: bool,
    ) -> Result<Owner, Refusal> {
        if !self.tokens.check(now, writer, from, token) {
            return Err(self.refused(Refusal::BadToken));
        }
        let owner = self.quotas.owner(writer, from);
        if new {
            if self.len() + self.tombstones.len() >= self.config.max_records {
                return Err(self.refused(Refusal::Full));
            }
            if let Err(refusal) = self.quotas.check(&owner, &self.config) {
                return Err(self.refused(refusal));
            }
        }
        Ok(owner)
    }

    /// Sets `slot`'s expiry to `expires`, replacing `old`.
    fn reschedule(&mut self, slot: Slot, old: Option<Time>, expires: Time) -> Time {
        if let Some(old) = old {
            self.expiries.remove(&(old, slot));
        }
        self.expiries.insert((expires, slot));
        expires
    }

    /// Refuses, and counts, what was signed at `signed` if it is out of its time at
    /// `now` (see [`StoreConfig::check_time`]).
    fn judge_time(&mut self, now: Now, signed: u64) -> Result<(), Refusal> {
        match self
            .config
            .check_time(signed, now.unix_secs, self.config.ttl)
        {
            Ok(()) => Ok(()),
            Err(refusal) => self.refuse(refusal),
        }
    }

    /// When what was signed at `signed` ends its lifetime ([`StoreConfig::ttl`] from
    /// then), by the monotonic clock.
    fn end_of_life(&self, now: Now, signed: u64) -> Time {
        now.time + lifetime_left(signed, now.unix_secs, self.config.ttl)
    }

    /// An immutable write from `writer` at `from`.
    pub fn put_immutable(
        &mut self,
        now: Time,
        writer: &NodeId,
        from: &SocketAddr,
        token: &Token,
        value: Vec<u8>,
    ) -> Result<(), Refusal> {
        if value.len() > MAX_VALUE {
            return self.refuse(Refusal::TooLarge);
        }
        let key = immutable_key(&value);
        let old = self.immutable.get(&key).map(|h| h.expires);
        let owner = self.admit(now, writer, from, token, old.is_none())?;
        let expires = self.reschedule(Slot::Immutable(key), old, now + self.config.ttl);
        match self.immutable.get_mut(&key) {
            Some(held) => held.expires = expires,
            None => {
                self.quotas.add(&owner);
                self.immutable.insert(
                    key,
                    Held {
                        record: value,
                        owner,
                        expires,
                    },
                );
            }
        }
        self.stats.stored += 1;
        Ok(())
    }

    /// The immutable value under `key`, if held.
    pub fn get_immutable(&mut self, key: &Key) -> Option<&[u8]> {
        match self.immutable.get(key) {
            Some(held) => {
                self.stats.hits += 1;
                Some(&held.record)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// A mutable write from `writer` at `from`.
    pub fn put_mutable(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        writer: &NodeId,
        from: &SocketAddr,
        token: &Token,
        record: MutableRecord,
    ) -> Result<(), Refusal> {
        if record.value.len() > MAX_VALUE || record.salt.len() > MAX_SALT {
            return self.refuse(Refusal::TooLarge);
        }
        let key = record.key();
        let held = self.mutable.get(&key).map(|h| (h.record.seq, h.expires));
        if let Some((seq, _)) = held {
            if record.seq < seq {
                return self.refuse(Refusal::SeqTooLow);
            }
            if record.seq == seq && self.mutable[&key].record != record {
                return self.refuse(Refusal::SeqConflict);
            }
        }
        let owner = self.admit(now, writer, from, token, held.is_none())?;
        if !record.verify(crypto) {
            return self.refuse(Refusal::BadSignature);
        }
        let expires = self.reschedule(
            Slot::Mutable(key),
            held.map(|(_, e)| e),
            now + self.config.ttl,
        );
        match self.mutable.get_mut(&key) {
            Some(held) => {
                held.record = record;
                held.expires = expires;
            }
            None => {
                self.quotas.add(&owner);
                self.mutable.insert(
                    key,
                    Held {
                        record,
                        owner,
                        expires,
                    },
                );
            }
        }
        self.stats.stored += 1;
        Ok(())
    }

    /// The mutable record under `key` if held with at least `seq`.
    pub fn get_mutable(&mut self, key: &Key, seq: u64) -> Option<&MutableRecord> {
        match self.mutable.get(key) {
            Some(held) if held.record.seq >= seq => {
                self.stats.hits += 1;
                Some(&held.record)
            }
            _ => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// An announcement from `writer` at `from`, judged by the holder's clocks `now`.
    pub fn announce(
        &mut self,
        now: Now,
        crypto: &dyn Crypto,
        writer: &NodeId,
        from: &SocketAddr,
        token: &Token,
        announcement: Announcement,
    ) -> Result<(), Refusal> {
        if announcement.relays.len() > MAX_RELAYS {
            return self.refuse(Refusal::TooLarge);
        }
        let signed = announcement.unix_secs;
        self.judge_time(now, signed)?;
        let slot_key = (announcement.topic, announcement.public_key);
        let held = self
            .topics
            .get(&slot_key)
            .map(|(h, _)| (h.record.unix_secs, h.expires));
        let withdrawn = self.tombstones.get(&slot_key).map(|h| h.record);
        if held.is_some_and(|(held, _)| signed < held) || withdrawn.is_some_and(|w| signed <= w) {
            return self.refuse(Refusal::Stale);
        }
        let new = held.is_none() && withdrawn.is_none();
        let owner = self.admit(now.time, writer, from, token, new)?;
        if !announcement.verify(crypto) {
            return self.refuse(Refusal::BadSignature);
        }
        // Newer than the withdrawal: the tombstone has done its work.
        self.drop_tombstone(&slot_key);
        let slot = Slot::Announcement(slot_key.0, slot_key.1);
        let expires = self.end_of_life(now, signed);
        let expires = self.reschedule(slot, held.map(|(_, e)| e), expires);
        match self.topics.get_mut(&slot_key) {
            Some((held, _)) => {
                held.record = announcement;
                held.expires = expires;
            }
            None => {
                self.quotas.add(&owner);
                let listed = self.listed.entry(slot_key.0).or_default();
                listed.push(slot_key.1);
                let index = listed.len() - 1;
                let held = Held {
                    record: announcement,
                    owner,
                    expires,
                };
                self.topics.insert(slot_key, (held, index));
            }
        }
        self.stats.stored += 1;
        Ok(())
    }

    fn drop_tombstone(&mut self, slot_key: &(Key, NodeId)) {
        if let Some(held) = self.tombstones.remove(slot_key) {
            let slot = Slot::Tombstone(slot_key.0, slot_key.1);
            self.expiries.remove(&(held.expires, slot));
            self.quotas.sub(&held.owner);
        }
    }

    /// Withdraws an announcement, if the unannounce is signed by its announcer and at
    /// least as new, and keeps a tombstone of it until announcements that old are
    /// stale (see the module docs).
    pub fn unannounce(
        &mut self,
        now: Now,
        crypto: &dyn Crypto,
        writer: &NodeId,
        from: &SocketAddr,
        token: &Token,
        unannounce: &Unannounce,
    ) -> Result<(), Refusal> {
        let slot_key = (unannounce.topic, unannounce.public_key);
        let held = self.topics.get(&slot_key).map(|(h, _)| h.record.unix_secs);
        let withdrawn = self.tombstones.get(&slot_key).map(|h| h.record);
        let new = held.is_none() && withdrawn.is_none();
        let owner = self.admit(now.time, writer, from, token, new)?;
        if !unannounce.verify(crypto) {
            return self.refuse(Refusal::BadSignature);
        }
        let signed = unannounce.unix_secs;
        // A withdrawal as old as an announcement's lifetime withdraws nothing alive.
        self.judge_time(now, signed)?;
        if held.is_some_and(|held| signed < held) || withdrawn.is_some_and(|w| signed < w) {
            return self.refuse(Refusal::Stale);
        }
        if let Some(expires) = self.topics.get(&slot_key).map(|(h, _)| h.expires) {
            self.expiries
                .remove(&(expires, Slot::Announcement(slot_key.0, slot_key.1)));
            if let Some(held_owner) = self.unlist(&slot_key) {
                self.quotas.sub(&held_owner);
            }
        }
        self.drop_tombstone(&slot_key);
        let slot = Slot::Tombstone(slot_key.0, slot_key.1);
        let expires = self.end_of_life(now, signed);
        self.reschedule(slot, None, expires);
        self.quotas.add(&owner);
        let tombstone = Held {
            record: signed,
            owner,
            expires,
        };
        self.tombstones.insert(slot_key, tombstone);
        Ok(())
    }

    /// Up to `n` announcements under `topic` still alive at `now`, drawn at random by
    /// `rng` in a random order, each as a topic answer carries it.
    pub fn peers(
        &mut self,
        now: Now,
        topic: &Key,
        n: usize,
        rng: &mut impl RngCore,
    ) -> Vec<SignedPeer> {
        let listed = self.listed.get(topic).map_or(&[][..], Vec::as_slice);
        let peers: Vec<SignedPeer> = draw(rng, listed.len(), n)
            .into_iter()
            .filter_map(|i| self.topics.get(&(*topic, listed[i])))
            .map(|(held, _)| &held.record)
            .filter(|a| {
                let ttl = self.config.ttl;
                self.config
                    .check_time(a.unix_secs, now.unix_secs, ttl)
                    .is_ok()
            })
            .map(Announcement::signed_peer)
            .collect();
        if peers.is_empty() {
            self.stats.misses += 1;
        } else {
            self.stats.hits += 1;
        }
        peers
    }
}

/// `n` distinct indices below `len` (all of them if fewer), drawn at random by `rng` and
/// in a random order: Floyd's sampling, then a shuffle. No draw when `len` is 0 or 1.
fn draw(rng: &mut impl RngCore, len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    if len <= 1 {
        return (0..n).collect();
    }
    let mut below = |bound: usize| (rng.next_u64() % bound as u64) as usize;
    let mut picked: Vec<usize> = Vec::with_capacity(n);
    for j in len - n..len {
        let t = below(j + 1);
        picked.push(if picked.contains(&t) { j } else { t });
    }
    for i in (1..n).rev() {
        picked.swap(i, below(i + 1));
    }
    picked
}

mod quota;

#[cfg(test)]
mod tests;
