//! [`Behaviour`]: for test-beds, makes a [`Node`] misbehave the way hostile peers do.
//!
//! An honest node (the default) never reaches this module's hostile paths: its
//! answers, its RNG draws and its trace are those of a node without this hook. A
//! hostile node runs the whole honest protocol (handshakes, beacons, its own lookups,
//! its own writes) and lies only where its kind says:
//!
//! - [`Behaviour::Liar`] answers FIND_NODE with far and invented contacts and claims
//!   to hold no record;
//! - [`Behaviour::Dropper`] opens sessions and never answers a request in them;
//! - [`Behaviour::Forger`] signs its beacons and records badly and answers record
//!   reads with records that fail their check, topic reads with announcements that
//!   do not verify or are out of date;
//! - [`Behaviour::Eclipse`] answers FIND_NODE with its allies
//!   ([`Config::allies`](super::Config::allies)) closest to the target, accepts record
//!   writes and drops them, and answers every read as if it held nothing.
//!
//! Everything a hostile node invents comes from its own seeded RNG, so a run with
//! hostile nodes is as reproducible as one without.

use std::net::SocketAddr;

use rand_core::RngCore;

use super::Node;
use crate::proto::id::{Key, NodeId};
use crate::proto::identity::SIGNATURE_LEN;
use crate::proto::store::{Announcement, MutableRecord, Now, SignedPeer};
use crate::proto::time::Time;
use crate::proto::wire::{Beacon, Request, Response, WireContact, MAX_CONTACTS, MAX_PEERS};

/// For test-beds: makes this node misbehave the way hostile peers do.
///
/// Set it in [`Config::behaviour`](super::Config::behaviour) to put hostile nodes into
/// a simulated swarm; anything but [`Behaviour::Honest`] is useless outside a test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behaviour {
    /// Follows the protocol.
    #[default]
    Honest,
    /// Answers FIND_NODE with the contacts of its table farthest from the target and
    /// with invented contacts (random ids from its seeded RNG, at the addresses of
    /// real contacts), never with the true closest; answers every record read as if
    /// it held nothing.
    Liar,
    /// Completes handshakes, so sessions open, but never answers a request inside a
    /// session. It still beacons and runs its own commands.
    Dropper,
    /// Beacons with a corrupted signature; writes forged records to the k closest of
    /// their keys, as an honest writer would (an immutable value with a byte flipped,
    /// mutable records and announcements with a corrupted signature); answers record
    /// reads with forged records (a value that does not hash to its key, a mutable
    /// record with a bad signature) and topic reads with forged announcements (its own,
    /// signed but two lifetimes old; one of an invented key with a random signature;
    /// the ones it holds with their signatures corrupted).
    Forger,
    /// One of many identities ground near chosen keys, from a few addresses: answers
    /// FIND_NODE with the contacts of its [`Config::allies`](super::Config::allies)
    /// closest to the target (never an honest node: poisoned answers), answers every
    /// record write `Stored` and keeps nothing, and every record and topic read as if
    /// it held nothing. Once such identities are the k closest a lookup sees, the
    /// key's writes are lost and its reads fail.
    Eclipse,
}

impl Behaviour {
    /// Whether this is [`Behaviour::Honest`].
    pub fn is_honest(self) -> bool {
        self == Behaviour::Honest
    }

    /// A short lowercase name: `honest`, `liar`, `dropper`, `forger`, `eclipse`.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Honest => "honest",
            Behaviour::Liar => "liar",
            Behaviour::Dropper => "dropper",
            Behaviour::Forger => "forger",
            Behaviour::Eclipse => "eclipse",
        }
    }

    /// A beacon about to be sent: a forger corrupts its signature.
    pub(super) fn beacon(self, mut beacon: Beacon) -> Beacon {
        if self == Behaviour::Forger {
            beacon.signature[0] ^= 0x01;
        }
        beacon
    }

    /// A record write about to be sent: a forger corrupts it. Reads pass unchanged.
    pub(super) fn write(self, mut request: Request) -> Request {
        if self != Behaviour::Forger {
            return request;
        }
        match &mut request {
            Request::ImmutablePut { value, .. } => flip_value(value),
            Request::MutablePut { record, .. } => record.signature[0] ^= 0x01,
            Request::Announce { announcement, .. } => announcement.signature[0] ^= 0x01,
            Request::Unannounce { unannounce, .. } => unannounce.signature[0] ^= 0x01,
            _ => {}
        }
        request
    }
}

/// An eclipse node's answer to anything but a ping or FIND_NODE: writes accepted (and
/// dropped), reads empty, hole punches ignored.
fn eclipse_answer(request: Request) -> Option<Response> {
    match request {
        Request::ImmutablePut { .. }
        | Request::MutablePut { .. }
        | Request::Announce { .. }
        | Request::Unannounce { .. } => Some(Response::Stored),
        Request::ImmutableGet { .. } => Some(Response::Immutable { value: None }),
        Request::MutableGet { .. } => Some(Response::Mutable { record: None }),
        Request::GetPeers { .. } => Some(Response::Peers { peers: Vec::new() }),
        Request::Ping | Request::FindNode { .. } | Request::Punch { .. } => None,
    }
}

/// Changes a value so that it no longer hashes to its key.
fn flip_value(value: &mut Vec<u8>) {
    match value.first_mut() {
        Some(byte) => *byte ^= 0x01,
        None => value.push(0x01),
    }
}

impl Node {
    /// What a hostile node answers to `request` of `peer` (which sent it from `from`);
    /// `None` to send nothing. Only called when the node is not honest.
    pub(super) fn hostile_answer(
        &mut self,
        now: Time,
        from: SocketAddr,
        peer: NodeId,
        request: Request,
    ) -> Option<Response> {
        let behaviour = self.config.behaviour;
        debug_assert!(!behaviour.is_honest());
        match (behaviour, request) {
            (Behaviour::Honest, _) | (Behaviour::Dropper, _) => None,
            (_, Request::Ping) => Some(Response::Pong { observed: from }),
            (Behaviour::Liar, Request::FindNode { target }) => {
                let contacts = self.lie_contacts(&peer, &target);
                let token = self.store.token(now, &peer, &from);
                Some(Response::Nodes { contacts, token })
            }
            (Behaviour::Eclipse, Request::FindNode { target }) => {
                let contacts = self.ally_contacts(&peer, &target);
                let token = self.store.token(now, &peer, &from);
                Some(Response::Nodes { contacts, token })
            }
            (Behaviour::Eclipse, request) => eclipse_answer(request),
            (_, Request::FindNode { target }) => Some(self.nodes_answer(now, from, peer, target)),
            // Liars and forgers punch as honest nodes do: their lies are elsewhere.
            (_, Request::Punch { nat, reflexive }) => {
                Some(self.punch_answer(now, from, peer, nat, reflexive))
            }
            (Behaviour::Liar, Request::ImmutableGet { .. }) => {
                Some(Response::Immutable { value: None })
            }
            (Behaviour::Liar, Request::MutableGet { .. }) => {
                Some(Response::Mutable { record: None })
            }
            (Behaviour::Liar, Request::GetPeers { .. }) => {
                Some(Response::Peers { peers: Vec::new() })
            }
            (Behaviour::Forger, Request::ImmutableGet { key }) => {
                let value = self.forged_value(&key);
                Some(Response::Immutable { value: Some(value) })
            }
            (Behaviour::Forger, Request::MutableGet { key, seq }) => {
                let record = self.forged_record(&key, seq);
                Some(Response::Mutable {
                    record: Some(record),
                })
            }
            (Behaviour::Forger, Request::GetPeers { topic }) => Some(Response::Peers {
                peers: self.forged_peers(now, &topic),
            }),
            (_, request) => Some(self.answer_record_request(now, from, peer, request)),
        }
    }

    /// An eclipse node's FIND_NODE answer: its allies closest to `target`, but itself
    /// and the asker, as many as an honest answer holds.
    fn ally_contacts(&self, peer: &NodeId, target: &NodeId) -> Vec<WireContact> {
        let n = self.config.table.bucket_capacity.min(MAX_CONTACTS);
        let mut allies: Vec<WireContact> = self
            .config
            .allies
            .iter()
            .filter(|c| c.id != *peer && c.id != self.id)
            .copied()
            .collect();
        allies.sort_unstable_by_key(|c| c.id.distance(target));
        allies.truncate(n);
        allies
    }

    /// A liar's FIND_NODE answer: the contacts farthest from `target` that are not
    /// among the true closest, then invented ones, as many as an honest answer holds.
    fn lie_contacts(&mut self, peer: &NodeId, target: &NodeId) -> Vec<WireContact> {
        let n = self.config.table.bucket_capacity.min(MAX_CONTACTS);
        let closest: Vec<NodeId> = self
            .table
            .closest(target, n + 1)
            .into_iter()
            .map(|c| c.id)
            .collect();
        let mut far: Vec<WireContact> = self
            .table
            .iter()
            .filter(|c| c.id != *peer && !closest.contains(&c.id))
            .map(|c| WireContact {
                id: c.id,
                addr: c.addr,
            })
            .collect();
        far.sort_unstable_by_key(|c| std::cmp::Reverse(c.id.distance(target)));
        far.truncate(n / 2);
        let addrs: Vec<SocketAddr> = self.table.iter().map(|c| c.addr).collect();
        let mut contacts = far;
        while contacts.len() < n && !addrs.is_empty() {
            let mut id = [0u8; 32];
            self.rng.fill_bytes(&mut id);
            let addr = addrs[self.rng.next_u32() as usize % addrs.len()];
            contacts.push(WireContact {
                id: NodeId(id),
                addr,
            });
        }
        contacts
    }

    /// A forger's answer to an immutable read: the value held with a byte flipped, or
    /// random bytes; either way not what `key` hashes.
    fn forged_value(&mut self, key: &Key) -> Vec<u8> {
        match self.store.get_immutable(key) {
            Some(value) => {
                let mut value = value.to_vec();
                flip_value(&mut value);
                value
            }
            None => {
                let mut value = vec![0u8; 32];
                self.rng.fill_bytes(&mut value);
                value
            }
        }
    }

    /// A forger's answer to a topic read: its own announcement under `topic`, signed
    /// but two lifetimes old; one of an invented key whose signature is random bytes;
    /// then the announcements it holds there, their signatures corrupted.
    fn forged_peers(&mut self, now: Time, topic: &Key) -> Vec<SignedPeer> {
        let unix_secs = self.unix_secs(now);
        let old = unix_secs.saturating_sub(2 * self.config.store.ttl.as_secs());
        let own = Announcement::sign(self.crypto, &self.identity, *topic, old, Vec::new());
        let mut public_key = [0u8; 32];
        self.rng.fill_bytes(&mut public_key);
        let mut signature = [0u8; SIGNATURE_LEN];
        self.rng.fill_bytes(&mut signature);
        let invented = SignedPeer {
            public_key: NodeId(public_key),
            relays: Vec::new(),
            unix_secs,
            signature,
        };
        let at = Now {
            time: now,
            unix_secs,
        };
        let mut held = self.store.peers(at, topic, MAX_PEERS, &mut self.rng);
        for peer in &mut held {
            peer.signature[0] ^= 0x01;
        }
        [own.signed_peer(), invented]
            .into_iter()
            .chain(held)
            .collect()
    }

    /// A forger's answer to a mutable read: the record held with its signature
    /// corrupted, or an invented record whose signature is random bytes.
    fn forged_record(&mut self, key: &Key, seq: u64) -> MutableRecord {
        if let Some(held) = self.store.get_mutable(key, seq) {
            let mut record = held.clone();
            record.signature[0] ^= 0x01;
            return record;
        }
        let mut public_key = [0u8; 32];
        self.rng.fill_bytes(&mut public_key);
        let mut value = vec![0u8; 32];
        self.rng.fill_bytes(&mut value);
        let mut signature = [0u8; SIGNATURE_LEN];
        self.rng.fill_bytes(&mut signature);
        MutableRecord {
            public_key: NodeId(public_key),
            salt: Vec::new(),
            seq,
            value,
            signature,
        }
    }
}
