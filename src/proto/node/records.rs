//! The record commands of [`Node`]: immutable and mutable put/get, announce,
//! unannounce and topic lookup, FIND_PEER, and the answers to other nodes' record
//! requests.
//!
//! In: the commands, the lookup's answers and the fan-out's. Out: each command's
//! [`QueryOutcome`]; for FIND_PEER, [`QueryOutcome::Found`] with how the peer was
//! found ([`Found`]), to the application ([`Command::FindNode`]) or to the connect
//! that asked (see `connect`).
//!
//! A record command runs in two phases under one query id:
//!
//! 1. an iterative lookup of the record's key (a FIND_NODE walk that ends once the k
//!    closest have answered), whose answers also carry each responder's write token;
//! 2. a fan-out to the k closest nodes that answered: a write goes to all of them at
//!    once with their tokens; a read asks them closest first, α at a time, and stops at
//!    the first valid answer (immutable, or mutable without `latest`) or asks them all
//!    (mutable `latest`, topic lookups, which stream the peers found as they come).
//!
//! FIND_PEER, the one way a node finds another by its key, is a read of the topic
//! `Key(id)` whose walk is over as soon as the peer itself answers: the peer is then
//! [`Found::Listed`] and no fan-out follows. A peer that never answers (one behind a
//! NAT is in no routing table, so no walk reaches it) leaves the walk to end at the k
//! closest, and the fan-out reads its own signed declaration of relays and mailbox
//! there: [`Found::Declared`]. Announcements of others under that topic do not count.
//!
//! Answers are checked before they count: an immutable value must hash to its key, a
//! mutable record must be signed by its key's owner and have the `seq` asked for, and
//! every announcement of a topic answer must be signed by its announcer under the topic
//! asked for (else `announcements_forged`) and alive by this node's clock, allowing
//! for the holder's clock being behind (`StoreConfig::check_time` with `ttl +
//! clock_skew`; else `announcements_stale`). What fails is dropped, and the rest of
//! the answer still counts.
//!
//! What this node wrote itself it writes again every [`StoreConfig::republish`]
//! (`crate::proto::store::StoreConfig`) while it runs, so the records outlive their
//! holders' churn and their expiry; those repeats report nothing. An announcement is
//! signed anew each time, with the current time: holders judge its age by that. A
//! withdrawal is signed no older than the announcement it withdraws, and the next
//! announcement under that topic later than the withdrawal, so holders never take one
//! for a replay of the other.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

use super::{
    Command, CommandError, Event, LookupKind, Node, Purpose, Query, QueryError, QueryId,
    QueryOutcome, RecordKind, StoreResult,
};
use crate::proto::id::{Key, NodeId};
use crate::proto::lookup::{Found, LookupResult};
use crate::proto::store::{
    immutable_key, mutable_key, Announcement, MutableRecord, Now, PeerRecord, Refusal, SignedPeer,
    Token, Unannounce, MAX_RELAYS, MAX_SALT, MAX_VALUE,
};
use crate::proto::time::Time;
use crate::proto::wire::{Request, Response, WireContact, MAX_PEERS};
use std::time::Duration;

/// What a record command does once it knows the k closest nodes.
#[derive(Clone, Debug)]
pub(super) enum RecordOp {
    ImmutablePut(Vec<u8>),
    ImmutableGet(Key),
    MutablePut(MutableRecord),
    MutableGet {
        key: Key,
        seq: u64,
        latest: bool,
    },
    Announce(Announcement),
    Unannounce(Unannounce),
    TopicLookup(Key),
    /// FIND_PEER's read of the topic `Key(id)` of this peer (see the module docs).
    FindPeer(NodeId),
}

impl RecordOp {
    /// The point of the id space it is about.
    fn key(&self) -> Key {
        match self {
            RecordOp::ImmutablePut(value) => immutable_key(value),
            RecordOp::ImmutableGet(key) | RecordOp::TopicLookup(key) => *key,
            RecordOp::MutablePut(record) => record.key(),
            RecordOp::MutableGet { key, .. } => *key,
            RecordOp::Announce(a) => a.topic,
            RecordOp::Unannounce(u) => u.topic,
            RecordOp::FindPeer(peer) => Key(*peer.as_bytes()),
        }
    }

    fn is_write(&self) -> bool {
        matches!(
            self,
            RecordOp::ImmutablePut(_)
                | RecordOp::MutablePut(_)
                | RecordOp::Announce(_)
                | RecordOp::Unannounce(_)
        )
    }

    fn request(&self, token: Token) -> Request {
        match self {
            RecordOp::ImmutablePut(value) => Request::ImmutablePut {
                token,
                value: value.clone(),
            },
            RecordOp::ImmutableGet(key) => Request::ImmutableGet { key: *key },
            RecordOp::MutablePut(record) => Request::MutablePut {
                token,
                record: record.clone(),
            },
            RecordOp::MutableGet { key, seq, .. } => Request::MutableGet {
                key: *key,
                seq: *seq,
            },
            RecordOp::Announce(announcement) => Request::Announce {
                token,
                announcement: announcement.clone(),
            },
            RecordOp::Unannounce(unannounce) => Request::Unannounce {
                token,
                unannounce: unannounce.clone(),
            },
            RecordOp::TopicLookup(_) | RecordOp::FindPeer(_) => {
                Request::GetPeers { topic: self.key() }
            }
        }
    }
}

/// A record command in its lookup phase: the tokens seen so far.
#[derive(Debug)]
pub(super) struct Pending {
    op: RecordOp,
    tokens: std::collections::BTreeMap<NodeId, Token>,
}

/// A record command in its fan-out phase.
#[derive(Debug)]
pub(super) struct Fanout {
    op: RecordOp,
    /// Not asked yet, closest first, with their tokens.
    queue: VecDeque<(WireContact, Token)>,
    in_flight: usize,
    stored: usize,
    refused: Vec<(NodeId, Refusal)>,
    unanswered: usize,
    value: Option<Vec<u8>>,
    record: Option<MutableRecord>,
    /// Each announcer's newest announcement found, by its signed time: holders that
    /// missed a later write still answer with an earlier one.
    peers: BTreeMap<NodeId, (u64, PeerRecord)>,
    /// The announcements of topic answers that checked out: checked once each.
    checked: BTreeSet<SignedPeer>,
    done: bool,
    /// FIND_PEER's walk, which its outcome reports.
    walk: Option<Box<LookupResult>>,
}

impl Fanout {
    /// Heap bytes of its queue, refusals, value and peer records, inline.
    pub(super) fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::{btree, deque, vec};
        use std::mem::size_of;
        deque(&self.queue)
            + vec(&self.refused)
            + self.value.as_ref().map_or(0, vec)
            + btree::<NodeId, (u64, PeerRecord)>(self.peers.len())
            + btree::<SignedPeer, ()>(self.checked.len())
            + self
                .walk
                .as_ref()
                .map_or(0, |walk| size_of::<LookupResult>() + vec(&walk.closest))
    }
}

/// What this node wrote and keeps writing again.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Published {
    Immutable(Key),
    Mutable(Vec<u8>),
    Topic(Key),
}

#[derive(Debug)]
pub(super) struct Republish {
    next: Time,
    op: RecordOp,
}

fn too_large(what: &'static str, len: usize, max: usize) -> Result<(), CommandError> {
    if len > max {
        Err(CommandError::TooLarge { what, len, max })
    } else {
        Ok(())
    }
}

impl Node {
    /// Turns a record command into its op (signing what needs signing) and starts it.
    pub(super) fn start_record_command(
        &mut self,
        now: Time,
        command: Command,
    ) -> Result<QueryId, CommandError> {
        let (op, publish) = self.record_op(now, command)?;
        if self.table.is_empty() {
            return Err(CommandError::NoPeers);
        }
        if let Some(published) = publish {
            let next = now + self.config.store.republish;
            let op = op.clone();
            self.published.insert(published, Republish { next, op });
        }
        Ok(self.start_record_op(now, op, LookupKind::Record))
    }

    /// What this node published and keeps writing again: the commands that publish
    /// it anew, in a stable order (values by key, mutable records by salt, topics by
    /// key). Its own declaration of relays and mailbox is not among them: the node
    /// makes it again by itself. An application that keeps these across a restart
    /// hands them to the next life with [`Node::restore`].
    pub fn owned(&self) -> Vec<Command> {
        self.published
            .iter()
            .filter(|(published, _)| **published != Published::Topic(Key(*self.id.as_bytes())))
            .filter_map(|(_, republish)| match &republish.op {
                RecordOp::ImmutablePut(value) => Some(Command::ImmutablePut(value.clone())),
                RecordOp::MutablePut(record) => Some(Command::MutablePut {
                    salt: record.salt.clone(),
                    value: record.value.clone(),
                    seq: Some(record.seq),
                }),
                RecordOp::Announce(announcement) => Some(Command::Announce {
                    topic: announcement.topic,
                    relays: announcement.relays.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Takes up what a former life of this node published ([`Node::owned`]): each is
    /// signed as its command would be and written again as soon as the node has peers,
    /// then every republish interval. Nothing is reported. A command that is not a
    /// put or an announcement, or that is too large, is refused and the rest kept;
    /// returns how many were taken up.
    pub fn restore(&mut self, now: Time, owned: Vec<Command>) -> usize {
        self.advance(now);
        let mut taken = 0;
        for command in owned {
            let publishes = matches!(
                command,
                Command::ImmutablePut(_) | Command::MutablePut { .. } | Command::Announce { .. }
            );
            if !publishes {
                continue;
            }
            if let Ok((op, Some(published))) = self.record_op(now, command) {
                self.published
                    .insert(published, Republish { next: now, op });
                taken += 1;
            }
        }
        taken
    }

    /// A record command's op, signed where it needs signing, and what it publishes.
    fn record_op(
        &mut self,
        now: Time,
        command: Command,
    ) -> Result<(RecordOp, Option<Published>), CommandError> {
        let unix_secs = self.unix_secs(now);
        Ok(match command {
            Command::ImmutablePut(value) => {
                too_large("value", value.len(), MAX_VALUE)?;
                let key = immutable_key(&value);
                let op = RecordOp::ImmutablePut(value);
                (op, Some(Published::Immutable(key)))
            }
            Command::ImmutableGet(key) => (RecordOp::ImmutableGet(key), None),
            Command::MutablePut { salt, value, seq } => {
                too_large("salt", salt.len(), MAX_SALT)?;
                too_large("value", value.len(), MAX_VALUE)?;
                let published = Published::Mutable(salt.clone());
                let seq = seq.unwrap_or_else(|| {
                    let last = match self.published.get(&published) {
                        Some(Republish {
                            op: RecordOp::MutablePut(record),
                            ..
                        }) => record.seq.saturating_add(1),
                        _ => 0,
                    };
                    last.max(unix_secs)
                });
                let record = MutableRecord::sign(self.crypto, &self.identity, salt, seq, value);
                (RecordOp::MutablePut(record), Some(published))
            }
            Command::MutableGet {
                public_key,
                salt,
                seq,
                latest,
            } => {
                too_large("salt", salt.len(), MAX_SALT)?;
                let key = mutable_key(&public_key, &salt);
                (RecordOp::MutableGet { key, seq, latest }, None)
            }
            Command::Announce { topic, relays } => {
                too_large("relay list", relays.len(), MAX_RELAYS)?;
                // Later than a withdrawal of this second, which holders keep.
                self.withdrawn
                    .retain(|_, withdrawn| *withdrawn >= unix_secs);
                let unix_secs = match self.withdrawn.get(&topic) {
                    Some(withdrawn) => unix_secs.max(withdrawn.saturating_add(1)),
                    None => unix_secs,
                };
                // Later than another announcement of this topic signed this second:
                // holders keep the newest by signed time, and the writes of two
                // announcements in one second may land in either order.
                let unix_secs = match self.published.get(&Published::Topic(topic)) {
                    Some(Republish {
                        op: RecordOp::Announce(last),
                        ..
                    }) if last.relays != relays => unix_secs.max(last.unix_secs.saturating_add(1)),
                    Some(Republish {
                        op: RecordOp::Announce(last),
                        ..
                    }) => unix_secs.max(last.unix_secs),
                    _ => unix_secs,
                };
                let announcement =
                    Announcement::sign(self.crypto, &self.identity, topic, unix_secs, relays);
                (
                    RecordOp::Announce(announcement),
                    Some(Published::Topic(topic)),
                )
            }
            Command::Unannounce(topic) => {
                // No older than the announcement it withdraws.
                let announced = match self.published.remove(&Published::Topic(topic)) {
                    Some(Republish {
                        op: RecordOp::Announce(announcement),
                        ..
                    }) => announcement.unix_secs,
                    _ => 0,
                };
                let unix_secs = unix_secs.max(announced);
                self.withdrawn
                    .retain(|_, withdrawn| *withdrawn >= unix_secs);
                self.withdrawn.insert(topic, unix_secs);
                let unannounce = Unannounce::sign(self.crypto, &self.identity, topic, unix_secs);
                (RecordOp::Unannounce(unannounce), None)
            }
            Command::TopicLookup(topic) => (RecordOp::TopicLookup(topic), None),
            other => unreachable!("not a record command: {other:?}"),
        })
    }

    /// FIND_PEER of `peer` (see the module docs): [`Command::FindNode`], and the search
    /// of a connect. Ends with [`QueryOutcome::Found`] ([`Node::find_peer_found`]).
    pub(super) fn start_find_peer(
        &mut self,
        now: Time,
        peer: NodeId,
    ) -> Result<QueryId, CommandError> {
        if self.table.is_empty() {
            return Err(CommandError::NoPeers);
        }
        let op = RecordOp::FindPeer(peer);
        Ok(self.start_record_op(now, op, LookupKind::FindPeer))
    }

    /// A FIND_PEER ended, `result.found` saying whether and how it found its peer:
    /// counted, and handed to whoever asked.
    pub(super) fn find_peer_found(&mut self, now: Time, query: QueryId, result: LookupResult) {
        match result.found {
            Some(Found::Listed) => self.stats.lookups_found_listed += 1,
            Some(Found::Declared { .. }) => self.stats.lookups_found_declared += 1,
            None => {}
        }
        self.finish_query(now, query, QueryOutcome::Found(result));
    }

    fn start_record_op(&mut self, now: Time, op: RecordOp, kind: LookupKind) -> QueryId {
        let query = self.next_query_id();
        let target = NodeId::from_key(op.key());
        self.record_ops.insert(
            query,
            Pending {
                op,
                tokens: Default::default(),
            },
        );
        self.start_lookup(now, query, target, kind);
        query
    }

    /// When the next owned record is due to be written again; none while the node has
    /// no peers to write to (it is written once it has).
    pub(super) fn republish_timeout(&self) -> Option<Time> {
        if self.table.is_empty() {
            return None;
        }
        self.published.values().map(|r| r.next).min()
    }

    /// Writes again what is due, without reporting it; announcements signed anew, at
    /// the current time.
    pub(super) fn republish_due(&mut self, now: Time) {
        if self.table.is_empty() {
            return;
        }
        let every = self.config.store.republish;
        let (crypto, identity) = (self.crypto, &self.identity);
        let unix_secs = self.unix_secs(now);
        let due: Vec<RecordOp> = self
            .published
            .values_mut()
            .filter(|r| r.next <= now)
            .map(|r| {
                r.next = now + every;
                if let RecordOp::Announce(old) = &r.op {
                    let unix_secs = unix_secs.max(old.unix_secs);
                    let relays = old.relays.clone();
                    let renewed =
                        Announcement::sign(crypto, identity, old.topic, unix_secs, relays);
                    r.op = RecordOp::Announce(renewed);
                }
                r.op.clone()
            })
            .collect();
        for op in due {
            let query = self.start_record_op(now, op, LookupKind::Record);
            self.internal.insert(query);
        }
    }

    /// A lookup answer of a record command: keep the responder's token.
    pub(super) fn note_token(&mut self, query: QueryId, peer: NodeId, token: Token) {
        if let Some(pending) = self.record_ops.get_mut(&query) {
            pending.tokens.insert(peer, token);
        }
    }

    /// The lookup phase ended: start the fan-out to the k closest that answered.
    pub(super) fn start_fanout(&mut self, now: Time, query: QueryId, result: LookupResult) {
        let Some(Pending { op, tokens }) = self.record_ops.remove(&query) else {
            return;
        };
        let queue = result
            .closest
            .iter()
            .filter_map(|c| tokens.get(&c.id).map(|t| (*c, *t)))
            .collect();
        let walk = matches!(op, RecordOp::FindPeer(_)).then(|| Box::new(result));
        let fanout = Fanout {
            op,
            queue,
            in_flight: 0,
            stored: 0,
            refused: Vec::new(),
            unanswered: 0,
            value: None,
            record: None,
            peers: BTreeMap::new(),
            checked: BTreeSet::new(),
            done: false,
            walk,
        };
        if let Some(state) = self.queries.get_mut(&query) {
            state.query = Query::Records(Box::new(fanout));
        }
        self.drive_fanout(now, query);
    }

    fn drive_fanout(&mut self, now: Time, query: QueryId) {
        let Some(state) = self.queries.get_mut(&query) else {
            return;
        };
        let Query::Records(fanout) = &mut state.query else {
            return;
        };
        let behaviour = self.config.behaviour;
        let width = if fanout.op.is_write() {
            usize::MAX
        } else {
            self.config.lookup_parallelism.max(1)
        };
        while !fanout.done && fanout.in_flight < width {
            let Some((contact, token)) = fanout.queue.pop_front() else {
                break;
            };
            let request = behaviour.write(fanout.op.request(token));
            let purpose = Purpose::Query(query);
            let started = self.rpc.start(
                now,
                contact.addr,
                contact.id,
                request,
                purpose,
                &mut self.rng,
            );
            match started {
                Ok(_) => fanout.in_flight += 1,
                Err(_) => {
                    self.stats.requests_throttled += 1;
                    fanout.unanswered += 1;
                }
            }
        }
        // Done early or not, answers still in flight find no query and are dropped.
        if fanout.in_flight > 0 && !fanout.done {
            return;
        }
        let Some(state) = self.queries.get_mut(&query) else {
            return;
        };
        let Query::Records(fanout) = &mut state.query else {
            return;
        };
        if let (RecordOp::FindPeer(peer), Some(walk)) = (&fanout.op, fanout.walk.take()) {
            // Its own declaration, not another's under its topic.
            let declared = fanout
                .peers
                .remove(peer)
                .map(|(_, record)| Found::Declared {
                    relays: record.relays,
                });
            let result = LookupResult {
                found: declared,
                ..*walk
            };
            self.find_peer_found(now, query, result);
            return;
        }
        let outcome = match &fanout.op {
            RecordOp::ImmutableGet(_) => QueryOutcome::Immutable(fanout.value.take()),
            RecordOp::MutableGet { .. } => QueryOutcome::Mutable(fanout.record.take()),
            RecordOp::TopicLookup(_) | RecordOp::FindPeer(_) => {
                let peers = std::mem::take(&mut fanout.peers);
                QueryOutcome::Peers(peers.into_values().map(|(_, peer)| peer).collect())
            }
            op => QueryOutcome::Stored(StoreResult {
                key: op.key(),
                seq: match op {
                    RecordOp::MutablePut(record) => Some(record.seq),
                    _ => None,
                },
                stored: fanout.stored,
                refused: std::mem::take(&mut fanout.refused),
                unanswered: fanout.unanswered,
            }),
        };
        self.finish_query(now, query, outcome);
    }

    /// One fan-out answer (or its failure).
    pub(super) fn on_fanout_answer(
        &mut self,
        now: Time,
        query: QueryId,
        peer: NodeId,
        answer: Result<(Duration, Response), QueryError>,
    ) {
        let crypto = self.crypto;
        let internal = self.internal.contains(&query);
        let unix_secs = self.unix_secs(now);
        let store = &self.config.store;
        let Some(state) = self.queries.get_mut(&query) else {
            return;
        };
        let Query::Records(fanout) = &mut state.query else {
            return;
        };
        fanout.in_flight = fanout.in_flight.saturating_sub(1);
        let mut streamed = Vec::new();
        let mut rejected = false;
        let (mut forged, mut stale) = (0, 0);
        match (answer, &fanout.op) {
            (Err(_), _) => fanout.unanswered += 1,
            (Ok((_, Response::Stored)), op) if op.is_write() => fanout.stored += 1,
            (Ok((_, Response::Refused(refusal))), op) if op.is_write() => {
                fanout.refused.push((peer, refusal));
            }
            (Ok((_, Response::Immutable { value })), RecordOp::ImmutableGet(key)) => match value {
                Some(value) if immutable_key(&value) == *key => {
                    fanout.value = Some(value);
                    fanout.done = true;
                }
                Some(_) => rejected = true,
                None => {}
            },
            (Ok((_, Response::Mutable { record })), RecordOp::MutableGet { key, seq, latest }) => {
                match record {
                    Some(record)
                        if record.key() == *key && record.seq >= *seq && record.verify(crypto) =>
                    {
                        let newer = fanout.record.as_ref().is_none_or(|r| record.seq > r.seq);
                        if newer {
                            fanout.record = Some(record);
                        }
                        fanout.done = !latest;
                    }
                    Some(_) => rejected = true,
                    None => {}
                }
            }
            (
                Ok((_, Response::Peers { peers })),
                op @ (RecordOp::TopicLookup(_) | RecordOp::FindPeer(_)),
            ) => {
                let topic = &op.key();
                // The holder's clock may be behind this one's by the skew allowed.
                let lifetime = store.ttl + store.clock_skew;
                for signed in peers.into_iter().take(MAX_PEERS) {
                    if fanout.checked.contains(&signed) {
                        continue;
                    }
                    if store
                        .check_time(signed.unix_secs, unix_secs, lifetime)
                        .is_err()
                    {
                        stale += 1;
                        continue;
                    }
                    let announcement = signed.clone().under(*topic);
                    if !announcement.verify(crypto) {
                        forged += 1;
                        continue;
                    }
                    let signed_at = signed.unix_secs;
                    fanout.checked.insert(signed);
                    let peer = announcement.peer();
                    let newer = match fanout.peers.get(&peer.public_key) {
                        Some((held, _)) => signed_at > *held,
                        None => true,
                    };
                    if newer {
                        fanout
                            .peers
                            .insert(peer.public_key, (signed_at, peer.clone()));
                        streamed.push(peer);
                    }
                }
            }
            (Ok(_), _) => fanout.unanswered += 1,
        }
        if rejected {
            self.stats.records_rejected += 1;
        }
        self.stats.announcements_forged += forged;
        self.stats.announcements_stale += stale;
        // Only a topic lookup streams what it finds; FIND_PEER reports its peer at the end.
        let streams = !internal && matches!(fanout.op, RecordOp::TopicLookup(_));
        if !streamed.is_empty() && streams {
            self.events.push_back(Event::TopicPeers {
                query,
                peers: streamed,
            });
        }
        self.drive_fanout(now, query);
    }

    /// Tells the application of a record stored for `writer`.
    fn note_stored(
        &mut self,
        result: &Result<(), Refusal>,
        kind: RecordKind,
        key: Key,
        writer: NodeId,
    ) {
        if result.is_ok() {
            self.events
                .push_back(Event::RecordStored { kind, key, writer });
        }
    }

    /// Answers a record request of `peer`, which sent it from `from`.
    pub(super) fn answer_record_request(
        &mut self,
        now: Time,
        from: SocketAddr,
        peer: NodeId,
        request: Request,
    ) -> Response {
        let crypto = self.crypto;
        let at = Now {
            time: now,
            unix_secs: self.unix_secs(now),
        };
        let stored = |result: Result<(), Refusal>| match result {
            Ok(()) => Response::Stored,
            Err(refusal) => Response::Refused(refusal),
        };
        match request {
            Request::Ping | Request::FindNode { .. } | Request::Punch { .. } => {
                unreachable!("answered by the node")
            }
            Request::ImmutablePut { token, value } => {
                let key = immutable_key(&value);
                let result = self.store.put_immutable(now, &peer, &from, &token, value);
                self.note_stored(&result, RecordKind::Immutable, key, peer);
                stored(result)
            }
            Request::ImmutableGet { key } => Response::Immutable {
                value: self.store.get_immutable(&key).map(<[u8]>::to_vec),
            },
            Request::MutablePut { token, record } => {
                let key = record.key();
                let result = self
                    .store
                    .put_mutable(now, crypto, &peer, &from, &token, record);
                self.note_stored(&result, RecordKind::Mutable, key, peer);
                stored(result)
            }
            Request::MutableGet { key, seq } => Response::Mutable {
                record: self.store.get_mutable(&key, seq).cloned(),
            },
            Request::Announce {
                token,
                announcement,
            } => {
                let key = announcement.topic;
                let result = self
                    .store
                    .announce(at, crypto, &peer, &from, &token, announcement);
                self.note_stored(&result, RecordKind::Announcement, key, peer);
                stored(result)
            }
            Request::Unannounce { token, unannounce } => {
                stored(
                    self.store
                        .unannounce(at, crypto, &peer, &from, &token, &unannounce),
                )
            }
            Request::GetPeers { topic } => Response::Peers {
                peers: self.store.peers(at, &topic, MAX_PEERS, &mut self.rng),
            },
        }
    }
}
