//! The safety oracles every run checks, hostile nodes or not.
//!
//! In: the nodes' true ids and addresses, which nodes are honest, the record writes
//! the workloads issued on honest nodes, and, as the run goes, the sessions nodes open
//! and the records they hold. Out: a [`SafetyReport`] — what was checked and every
//! violation, each a sentence naming the node and what is wrong. A violation fails the
//! run whatever its expectations say.
//!
//! 1. **No honest node stores or accepts a forged record.** Every record an honest
//!    node holds for others is checked, every [`SCAN_EVERY`] of simulated time and at
//!    the end: an immutable value must hash to its key; a mutable record or
//!    announcement must carry a valid signature, and if its owner is an honest node,
//!    that node must have written it (the same salt and value; the same topic). Every
//!    peer a workload's topic lookup on an honest node returned is checked too: its key
//!    must be a node's, and if that node is honest, it must have announced the topic
//!    with those relays (a node's declaration of its own relays, under its own id, is
//!    the core's, and its relays are not checked).
//! 2. **No honest node opens a session with a key other than the one expected.**
//!    Every session an honest node opens (both roles) must have proved the key of
//!    the node that really lives at the address the handshake ran with.
//! 3. **No relay reads what it carries.** A relay forwards sealed bytes it holds no
//!    key for: the core's `Stats::relay_readable`, summed over the nodes at the end,
//!    must be 0.
//!
//! Records already found good are remembered by digest, so a record replicated on 20
//! holders and held for the whole run is verified once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use std::net::SocketAddr;

use dswarm::harness::Network;
use dswarm::proto::crypto::Crypto;
use dswarm::proto::store::{immutable_key, Announcement, MutableRecord, PeerRecord, StoredRecord};
use dswarm::proto::{Command, Key, NodeId, QueryOutcome, Time};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::engine::{Done, Engine, Verified};

/// How often the honest nodes' stores are scanned (simulated time).
pub const SCAN_EVERY: Duration = Duration::from_secs(10);
/// Violations described in the report; the counts go on.
const DESCRIBED_MAX: usize = 10;

/// What the safety oracles checked and found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SafetyReport {
    /// Whether the engine let the oracle look into the stores (the turmoil engine
    /// does not: then `forged_stored` means nothing).
    pub records_checked: bool,
    /// Scans of every honest store.
    pub scans: u64,
    /// Records looked at, over all scans.
    pub records_scanned: u64,
    /// Distinct (honest node, record) pairs that were forged, stored or returned by a
    /// topic lookup: must be 0.
    pub forged_stored: u64,
    /// Peers the workloads' topic lookups on honest nodes returned, all checked.
    pub topic_peers_checked: u64,
    /// Sessions honest nodes opened, all checked.
    pub sessions_checked: u64,
    /// Of those, sessions with another key than the node's at that address: must be 0.
    pub unexpected_sessions: u64,
    /// Frames honest relays carried that one of their own sessions could open (the
    /// core's `Stats::relay_readable`, summed at the end): must be 0, a relay sees
    /// only ciphertext.
    pub relay_readable: u64,
    /// Bytes the `streams` workload's listeners read that were not what the opener
    /// wrote (a wrong, missing, repeated or shifted byte): must be 0.
    pub stream_bytes_corrupt: u64,
    /// The first violations, described.
    pub violations: Vec<String>,
}

impl SafetyReport {
    /// Whether nothing was violated.
    pub fn holds(&self) -> bool {
        self.forged_stored == 0
            && self.unexpected_sessions == 0
            && self.relay_readable == 0
            && self.stream_bytes_corrupt == 0
    }

    /// Checks what the stream transfers' listeners read: `corrupt` wrong bytes, the
    /// first described by `first`.
    pub fn check_streams(&mut self, corrupt: u64, first: Option<String>) {
        if corrupt == 0 {
            return;
        }
        self.stream_bytes_corrupt += corrupt;
        if let (Some(first), true) = (first, self.violations.len() < DESCRIBED_MAX) {
            self.violations
                .push(format!("{first} ({corrupt} wrong bytes in all)"));
        }
    }

    /// Checks what honest node `node` relayed: `readable` frames it could have opened.
    pub fn check_relay(&mut self, node: usize, readable: u64) {
        if readable == 0 {
            return;
        }
        self.relay_readable += readable;
        if self.violations.len() < DESCRIBED_MAX {
            self.violations.push(format!(
                "node {node} (honest) relayed {readable} frames one of its own sessions could open"
            ));
        }
    }
}

/// A mutable write as the oracle keeps it: (salt, value).
type SaltValue = (Vec<u8>, Vec<u8>);

/// The oracles of one run; see the module docs.
pub struct Safety {
    ids: Vec<NodeId>,
    index: BTreeMap<NodeId, usize>,
    honest: Vec<bool>,
    crypto: &'static dyn Crypto,
    /// Every mutable write an honest owner was asked to make.
    writes: BTreeMap<NodeId, BTreeSet<SaltValue>>,
    /// Every announcement honest nodes were asked to make: its relays by (announcer,
    /// topic).
    announced: BTreeMap<(NodeId, Key), BTreeSet<Vec<SocketAddr>>>,
    /// Topic lookups started on honest nodes, by tag: (node, topic).
    topic_lookups: BTreeMap<u64, (usize, Key)>,
    /// Digests of signed records found good.
    good: BTreeSet<[u8; 32]>,
    /// (node, digest) of forged records found, each counted once.
    forged: BTreeSet<(usize, [u8; 32])>,
    next_scan: Time,
    verified: Vec<Verified>,
    report: SafetyReport,
}

impl Safety {
    /// The oracles of a swarm whose node `i` has id `ids[i]` and is honest if
    /// `honest[i]`, running `crypto`.
    pub fn new(ids: Vec<NodeId>, honest: Vec<bool>, crypto: &'static dyn Crypto) -> Safety {
        let index = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        Safety {
            ids,
            index,
            honest,
            crypto,
            writes: BTreeMap::new(),
            announced: BTreeMap::new(),
            topic_lookups: BTreeMap::new(),
            good: BTreeSet::new(),
            forged: BTreeSet::new(),
            next_scan: Time::ZERO + SCAN_EVERY,
            verified: Vec::new(),
            report: SafetyReport::default(),
        }
    }

    /// Starts watching the sessions the engine's nodes open.
    pub fn begin(&mut self, engine: &mut dyn Engine) {
        engine.watch_sessions();
    }

    /// Notes a command the workload started on node `node`: what honest owners write
    /// is what their records may hold.
    pub fn note_command(&mut self, node: usize, command: &Command) {
        if !self.honest[node] {
            return;
        }
        let id = self.ids[node];
        match command {
            Command::MutablePut { salt, value, .. } => {
                let writes = self.writes.entry(id).or_default();
                writes.insert((salt.clone(), value.clone()));
            }
            Command::Announce { topic, relays } => {
                let relays_of = self.announced.entry((id, *topic)).or_default();
                relays_of.insert(relays.clone());
            }
            _ => {}
        }
    }

    /// Notes a command the workload started on node `node` under `tag` (see
    /// [`Safety::note_command`]); the peers a topic lookup returns are checked when it
    /// finishes ([`Safety::check_finished`]).
    pub fn note_started(&mut self, tag: u64, node: usize, command: &Command) {
        self.note_command(node, command);
        if let Command::TopicLookup(topic) = command {
            if self.honest[node] {
                self.topic_lookups.insert(tag, (node, *topic));
            }
        }
    }

    /// Checks the peers of the topic lookups among `done`.
    pub fn check_finished(&mut self, done: &[Done]) {
        for d in done {
            let Some((node, topic)) = self.topic_lookups.remove(&d.tag) else {
                continue;
            };
            if let Ok((_, QueryOutcome::Peers(peers))) = &d.result {
                self.check_topic_peers(node, topic, peers);
            }
        }
    }

    /// Checks the peers a topic lookup of `topic` on node `node` returned.
    pub fn check_topic_peers(&mut self, node: usize, topic: Key, peers: &[PeerRecord]) {
        if !self.honest[node] {
            return;
        }
        for peer in peers {
            self.report.topic_peers_checked += 1;
            let what = || {
                format!(
                    "a topic lookup returned {} under topic {topic} with relays {:?}",
                    self.owner(&peer.public_key),
                    peer.relays
                )
            };
            let problem = match self.index.get(&peer.public_key) {
                None => Some(format!("{}, an announcement nobody could sign", what())),
                Some(&owner) if self.honest[owner] => {
                    let own_declaration = topic.0 == *peer.public_key.as_bytes();
                    let made = self
                        .announced
                        .get(&(peer.public_key, topic))
                        .is_some_and(|relays| relays.contains(&peer.relays));
                    (!own_declaration && !made).then(|| format!("{} it never made", what()))
                }
                // A hostile node may announce itself as it likes.
                Some(_) => None,
            };
            if let Some(problem) = problem {
                let digest = digest(&[
                    b"topic peer",
                    &topic.0,
                    peer.public_key.as_bytes(),
                    format!("{:?}", peer.relays).as_bytes(),
                ]);
                if self.forged.insert((node, digest)) {
                    self.report.forged_stored += 1;
                    self.describe(format!(
                        "node {node} (honest) accepted a forged announcement: {problem}"
                    ));
                }
            }
        }
    }

    /// Checks the sessions opened since the last call and, when due, every honest
    /// store.
    pub fn tick(&mut self, engine: &mut dyn Engine) {
        self.check_sessions(engine);
        if engine.now() >= self.next_scan {
            self.next_scan = engine.now() + SCAN_EVERY;
            self.scan(engine);
        }
    }

    /// What the oracles found so far.
    pub fn report(&self) -> &SafetyReport {
        &self.report
    }

    /// The last checks, at the end of the run; the report.
    pub fn finish(mut self, engine: &mut dyn Engine) -> SafetyReport {
        self.check_sessions(engine);
        self.scan(engine);
        self.report
    }

    fn check_sessions(&mut self, engine: &mut dyn Engine) {
        engine.drain_verified(&mut self.verified);
        let nodes = self.ids.len();
        let mut verified = std::mem::take(&mut self.verified);
        for v in verified.drain(..) {
            let there = engine.world().index_of(v.addr, nodes);
            self.check_session(v, there);
        }
        self.verified = verified;
    }

    /// Checks one session: `there` is the node that lives at its address, if any.
    pub fn check_session(&mut self, verified: Verified, there: Option<usize>) {
        if !self.honest[verified.node] {
            return;
        }
        self.report.sessions_checked += 1;
        if there.is_some_and(|node| self.ids[node] == verified.peer) {
            return;
        }
        // A session through a relay has a stand-in address, not a real one: nobody
        // lives there, and the handshake proved the key end to end through the relay.
        if dswarm::proto::relay_path::is_relay_path(verified.addr)
            && self.index.contains_key(&verified.peer)
        {
            return;
        }
        self.report.unexpected_sessions += 1;
        let who = match there {
            Some(node) => format!("node {node} with key {}", self.ids[node]),
            None => "no node".to_owned(),
        };
        let proved = match self.index.get(&verified.peer) {
            Some(node) => format!("the key of node {node}"),
            None => "a key no node has".to_owned(),
        };
        self.describe(format!(
            "node {} (honest) opened a session at {:?} with {} ({proved}), but {who} lives at {}",
            verified.node, verified.at, verified.peer, verified.addr
        ));
    }

    fn scan(&mut self, engine: &mut dyn Engine) {
        let mut found = Vec::new();
        let honest = &self.honest;
        let checked = engine.scan_stores(&mut |node, record| {
            if honest[node] {
                found.push((node, record));
            }
        });
        if !checked {
            return;
        }
        self.report.records_checked = true;
        self.report.scans += 1;
        for (node, record) in found {
            self.check_record(node, &record);
        }
    }

    /// Checks one record node `node` holds (if it is honest: a hostile node's store
    /// is its own business).
    pub fn check_record(&mut self, node: usize, record: &Owned) {
        if !self.honest[node] {
            return;
        }
        self.report.records_checked = true;
        self.report.records_scanned += 1;
        let (digest, problem) = match record {
            Owned::Immutable { key, value } => {
                let digest = digest(&[b"immutable", &key.0, value]);
                let problem = (immutable_key(value) != *key)
                    .then(|| format!("an immutable value under {key} that does not hash to it"));
                (digest, problem)
            }
            Owned::Mutable(record) => {
                let digest = digest(&[
                    b"mutable",
                    record.public_key.as_bytes(),
                    &[record.salt.len() as u8],
                    &record.salt,
                    &record.seq.to_be_bytes(),
                    &record.value,
                    &record.signature,
                ]);
                if self.good.contains(&digest) {
                    return;
                }
                (digest, self.mutable_problem(record))
            }
            Owned::Announcement(announcement) => {
                let digest = digest(&[
                    b"announcement",
                    &announcement.topic.0,
                    announcement.public_key.as_bytes(),
                    &announcement.unix_secs.to_be_bytes(),
                    format!("{:?}", announcement.relays).as_bytes(),
                    &announcement.signature,
                ]);
                if self.good.contains(&digest) {
                    return;
                }
                (digest, self.announcement_problem(announcement))
            }
        };
        match problem {
            None => {
                if !matches!(record, Owned::Immutable { .. }) {
                    self.good.insert(digest);
                }
            }
            Some(problem) => {
                if self.forged.insert((node, digest)) {
                    self.report.forged_stored += 1;
                    self.describe(format!(
                        "node {node} (honest) stores a forged record: {problem}"
                    ));
                }
            }
        }
    }

    fn owner(&self, id: &NodeId) -> String {
        match self.index.get(id) {
            Some(&node) if self.honest[node] => format!("honest node {node}"),
            Some(&node) => format!("hostile node {node}"),
            None => format!("{id}, no node"),
        }
    }

    fn mutable_problem(&self, record: &MutableRecord) -> Option<String> {
        let what = || {
            format!(
                "a mutable record of {} (seq {}, salt of {} bytes)",
                self.owner(&record.public_key),
                record.seq,
                record.salt.len()
            )
        };
        if !record.verify(self.crypto) {
            return Some(format!("{} whose signature does not verify", what()));
        }
        let honest_owner = self
            .index
            .get(&record.public_key)
            .is_some_and(|&node| self.honest[node]);
        let written = self
            .writes
            .get(&record.public_key)
            .is_some_and(|w| w.contains(&(record.salt.clone(), record.value.clone())));
        (honest_owner && !written).then(|| format!("{} its owner never wrote", what()))
    }

    fn announcement_problem(&self, announcement: &Announcement) -> Option<String> {
        let what = || {
            format!(
                "an announcement of {} under topic {}",
                self.owner(&announcement.public_key),
                announcement.topic
            )
        };
        if !announcement.verify(self.crypto) {
            return Some(format!("{} whose signature does not verify", what()));
        }
        let honest_owner = self
            .index
            .get(&announcement.public_key)
            .is_some_and(|&node| self.honest[node]);
        // A node behind a NAT declares its relays under its own id (`Key(id)`): the
        // core's own announcement, made without being asked.
        let own_declaration = announcement.topic.0 == *announcement.public_key.as_bytes();
        let made = own_declaration
            || self
                .announced
                .contains_key(&(announcement.public_key, announcement.topic));
        (honest_owner && !made).then(|| format!("{} it never made", what()))
    }

    fn describe(&mut self, violation: String) {
        tracing::error!("safety: {violation}");
        if self.report.violations.len() < DESCRIBED_MAX {
            self.report.violations.push(violation);
        }
    }
}

/// A record as a store held it, copied out of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    /// An immutable value under a key.
    Immutable {
        /// The key it was held under.
        key: Key,
        /// The value.
        value: Vec<u8>,
    },
    /// A mutable record.
    Mutable(MutableRecord),
    /// An announcement.
    Announcement(Announcement),
}

impl Owned {
    /// A copy of `record`.
    pub fn of(record: StoredRecord<'_>) -> Owned {
        match record {
            StoredRecord::Immutable { key, value, .. } => Owned::Immutable {
                key: *key,
                value: value.to_vec(),
            },
            StoredRecord::Mutable { record, .. } => Owned::Mutable(record.clone()),
            StoredRecord::Announcement { announcement, .. } => {
                Owned::Announcement(announcement.clone())
            }
        }
    }
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}
