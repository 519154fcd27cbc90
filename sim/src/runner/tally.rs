//! What the workload commands came to: each command as issued, checked when it ends
//! against the global oracle of acknowledged writes and the true ids.
//!
//! In: the timeline's steps as they fall due (resolved against the nodes still in the
//! swarm, the oracle and, for contact pings, the asker's routing table), then the
//! commands' ends. Out: the report's `lookups`, `pings`, `contact_pings`, `records`
//! and `topics`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dswarm::proto::lookup::Found;
use dswarm::proto::node::{ConnectPath, QueryError};
use dswarm::proto::{Command, Key, NodeId, QueryOutcome, Time};

use super::{salt_of, value_of, Members, Step};
use crate::engine::Done;
use crate::report::{
    percentile, AfterFaults, ConnectCounts, Connects, ContactPings, Lookups, Pings, Records, Topics,
};
use crate::scenario::NatKind;

/// What a started command was, by tag: what its end is checked against.
#[derive(Clone, Debug, Default)]
enum Issued {
    /// A world event, a step that found nothing to do, or a command not started.
    #[default]
    Nothing,
    Lookup {
        target: usize,
        /// Started once faults had stopped and settled: counted for the liveness check.
        settled: bool,
    },
    Ping,
    ContactPing,
    Put {
        value: Vec<u8>,
    },
    Get {
        key: Key,
    },
    MutablePut {
        owner: usize,
        salt: Vec<u8>,
        value: Vec<u8>,
    },
    /// Expects `seq` at least: the highest acknowledged when the get started.
    MutableGet {
        owner: usize,
        salt: Vec<u8>,
        seq: u64,
    },
    Announce {
        node: usize,
        topic: Key,
    },
    /// Expects every one of `announcers` still in the swarm when it ends.
    TopicLookup {
        announcers: Vec<usize>,
    },
    /// A connect between nodes behind these NATs: `"asker->target"`.
    Connect {
        pair: String,
    },
}

/// A mutable record as acknowledged: every version written, by `seq`.
#[derive(Default)]
struct MutableTruth {
    versions: BTreeMap<u64, Vec<u8>>,
}

impl MutableTruth {
    fn latest(&self) -> u64 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }
}

/// The global oracle of records: every write some node acknowledged (stored by at
/// least one holder). Maps are ordered and lists keep acknowledgement order, so the
/// picks made from them are deterministic.
#[derive(Default)]
struct Oracle {
    immutable: BTreeMap<Key, Vec<u8>>,
    immutable_keys: Vec<Key>,
    mutable: BTreeMap<(usize, Vec<u8>), MutableTruth>,
    mutable_records: Vec<(usize, Vec<u8>)>,
    /// Acknowledged announcers by topic.
    topics: BTreeMap<Key, BTreeSet<usize>>,
}

/// What the workload commands came to.
pub(super) struct Tally {
    /// What each started command was, by tag.
    issued: Vec<Issued>,
    pub(super) lookups_started: u64,
    pub(super) lookups_done: u64,
    /// Lookups that found their target, by how: `listed`, `declared`.
    lookups_listed: u64,
    lookups_declared: u64,
    pub(super) hops: Vec<u32>,
    pub(super) latency: Vec<Duration>,
    pings_started: u64,
    pings_ok: u64,
    rtts: Vec<Duration>,
    contact_pings: ContactPings,
    contact_rtts: Vec<Duration>,
    oracle: Oracle,
    records: Records,
    get_latency: Vec<Duration>,
    topics: Topics,
    recall_sum: f64,
    /// Lookups started from this moment on count for the liveness check.
    settled: Time,
    after_faults: AfterFaults,
    /// Each node's NAT, for the connects' pairs.
    nat: Vec<NatKind>,
    connects: Connects,
}

impl Tally {
    /// The tally of a timeline whose faults have stopped and settled by `settled`, in
    /// a world whose nodes sit behind `nat`.
    pub(super) fn new(steps: &[(Time, Step)], settled: Time, nat: Vec<NatKind>) -> Tally {
        let count = |f: fn(&Step) -> bool| steps.iter().filter(|(_, s)| f(s)).count() as u64;
        Tally {
            issued: vec![Issued::Nothing; steps.len()],
            lookups_started: count(|s| matches!(s, Step::Lookup { .. })),
            lookups_done: 0,
            lookups_listed: 0,
            lookups_declared: 0,
            hops: Vec::new(),
            latency: Vec::new(),
            pings_started: count(|s| matches!(s, Step::Ping { .. })),
            pings_ok: 0,
            rtts: Vec::new(),
            contact_pings: ContactPings {
                issued: count(|s| matches!(s, Step::ContactPing { .. })),
                ..ContactPings::default()
            },
            contact_rtts: Vec::new(),
            oracle: Oracle::default(),
            records: Records::default(),
            get_latency: Vec::new(),
            topics: Topics::default(),
            recall_sum: 0.0,
            settled,
            after_faults: AfterFaults {
                from_seconds: settled.since_epoch().as_secs_f64(),
                ..AfterFaults::default()
            },
            nat,
            connects: Connects::default(),
        }
    }

    /// The command workload step `step` (tag `tag`) issues now (`now`), and on which node;
    /// `None` when it finds nothing to do (a get before any put was acknowledged, a
    /// contact ping from a node whose table is empty). `contact(node, pick)` is the
    /// `pick`th contact of `node`'s routing table now, modulo its size.
    pub(super) fn issue(
        &mut self,
        tag: usize,
        now: Time,
        step: &Step,
        members: &Members,
        ids: &[NodeId],
        contact: &dyn Fn(usize, u64) -> Option<NodeId>,
    ) -> Option<(usize, Command)> {
        let oracle = &self.oracle;
        let (node, command, issued) = match step {
            Step::World(_)
            | Step::ChurnLeave { .. }
            | Step::ChurnJoin { .. }
            | Step::Stream { .. } => return None,
            Step::Lookup { asker, target } => {
                let (asker, target) = members.pair(*asker, *target);
                let command = Command::FindNode(ids[target]);
                let settled = now >= self.settled;
                self.after_faults.issued += u64::from(settled);
                (asker, command, Issued::Lookup { target, settled })
            }
            Step::Ping { node } => (members.pick(*node), Command::PingClosest(3), Issued::Ping),
            Step::Connect { asker, target } => {
                let (asker, target) = members.pair(*asker, *target);
                let pair = format!(
                    "{}->{}",
                    self.nat[asker].as_str(),
                    self.nat[target].as_str()
                );
                self.connect_counts(&pair, |k| k.attempts += 1);
                (
                    asker,
                    Command::Connect(ids[target]),
                    Issued::Connect { pair },
                )
            }
            Step::ContactPing { node, pick } => {
                let node = members.pick(*node);
                let Some(peer) = contact(node, *pick) else {
                    self.contact_pings.not_started += 1;
                    return None;
                };
                (node, Command::Ping(peer), Issued::ContactPing)
            }
            Step::Put { origin, value } => {
                let value = value_of(*value);
                self.records.put_issued += 1;
                let command = Command::ImmutablePut(value.clone());
                (members.pick(*origin), command, Issued::Put { value })
            }
            Step::Get { origin, pick } => {
                let keys = &oracle.immutable_keys;
                if keys.is_empty() {
                    self.records.get_skipped += 1;
                    return None;
                }
                let key = keys[(pick % keys.len() as u64) as usize];
                self.records.get += 1;
                let command = Command::ImmutableGet(key);
                (members.pick(*origin), command, Issued::Get { key })
            }
            Step::MutablePut {
                origin,
                repeat,
                salt,
                value,
            } => {
                // A new version of a record whose writer is still here, or a new record.
                let writers: Vec<&(usize, Vec<u8>)> = match repeat {
                    Some(_) => oracle
                        .mutable_records
                        .iter()
                        .filter(|(owner, _)| !members.departed[*owner])
                        .collect(),
                    None => Vec::new(),
                };
                let (owner, salt) = match (repeat, writers.is_empty()) {
                    (Some(pick), false) => writers[(pick % writers.len() as u64) as usize].clone(),
                    _ => (members.pick(*origin), salt_of(*salt)),
                };
                let value = value_of(*value);
                self.records.put_issued += 1;
                let command = Command::MutablePut {
                    salt: salt.clone(),
                    value: value.clone(),
                    seq: None,
                };
                let issued = Issued::MutablePut { owner, salt, value };
                (owner, command, issued)
            }
            Step::MutableGet { origin, pick } => {
                let records = &oracle.mutable_records;
                if records.is_empty() {
                    self.records.get_skipped += 1;
                    return None;
                }
                let (owner, salt) = records[(pick % records.len() as u64) as usize].clone();
                let seq = oracle.mutable[&(owner, salt.clone())].latest();
                self.records.get += 1;
                self.records.mutable_get += 1;
                let command = Command::MutableGet {
                    public_key: ids[owner],
                    salt: salt.clone(),
                    seq: 0,
                    latest: true,
                };
                let issued = Issued::MutableGet { owner, salt, seq };
                (members.pick(*origin), command, issued)
            }
            Step::Announce { origin, topic } => {
                let node = members.pick(*origin);
                self.topics.announce_issued += 1;
                let command = Command::Announce {
                    topic: *topic,
                    relays: Vec::new(),
                };
                let issued = Issued::Announce {
                    node,
                    topic: *topic,
                };
                (node, command, issued)
            }
            Step::TopicLookup { origin, pick } => {
                let live = |announcers: &BTreeSet<usize>| -> Vec<usize> {
                    announcers
                        .iter()
                        .copied()
                        .filter(|&node| !members.departed[node])
                        .collect()
                };
                let topics: Vec<(&Key, Vec<usize>)> = oracle
                    .topics
                    .iter()
                    .map(|(topic, announcers)| (topic, live(announcers)))
                    .filter(|(_, announcers)| !announcers.is_empty())
                    .collect();
                if topics.is_empty() {
                    self.topics.lookup_skipped += 1;
                    return None;
                }
                let (topic, announcers) = &topics[(pick % topics.len() as u64) as usize];
                self.topics.lookups += 1;
                let command = Command::TopicLookup(**topic);
                let issued = Issued::TopicLookup {
                    announcers: announcers.clone(),
                };
                (members.pick(*origin), command, issued)
            }
        };
        self.issued[tag] = issued;
        Some((node, command))
    }

    pub(super) fn record(&mut self, done: &[Done], ids: &[NodeId], departed: &[bool]) {
        for d in done {
            let issued = std::mem::take(&mut self.issued[d.tag as usize]);
            let outcome = d.result.as_ref().ok().map(|(_, outcome)| outcome);
            let elapsed = d.result.as_ref().ok().map(|(elapsed, _)| *elapsed);
            match issued {
                Issued::Nothing => {}
                Issued::Lookup { target, settled } => {
                    self.lookups_done += 1;
                    if let (Some(QueryOutcome::Found(result)), Some(elapsed)) = (outcome, elapsed) {
                        self.hops.push(u32::from(result.hops));
                        self.latency.push(elapsed);
                        // Listed: the target answered, and is the closest. Declared:
                        // the node checked its signature under the target's key.
                        let first = result.closest.first().map(|c| c.id);
                        let found = match &result.found {
                            Some(Found::Listed) if first == Some(ids[target]) => {
                                Some(&mut self.lookups_listed)
                            }
                            Some(Found::Declared { .. }) if result.target == ids[target] => {
                                Some(&mut self.lookups_declared)
                            }
                            _ => None,
                        };
                        if let Some(count) = found {
                            *count += 1;
                            self.after_faults.succeeded += u64::from(settled);
                        }
                    }
                }
                Issued::Ping => {
                    if let Some(QueryOutcome::PingedClosest(results)) = outcome {
                        let answered: Vec<Duration> =
                            results.iter().filter_map(|r| r.rtt).collect();
                        if !results.is_empty() && answered.len() == results.len() {
                            self.pings_ok += 1;
                        }
                        self.rtts.extend(answered);
                    }
                }
                Issued::ContactPing => match (outcome, &d.result) {
                    (Some(QueryOutcome::Pong { rtt, .. }), _) => {
                        self.contact_pings.answered += 1;
                        self.contact_rtts.push(*rtt);
                    }
                    // Refused before anything was sent: the contact left the table
                    // between the draw and the start, or too many requests wait.
                    (_, Err(_)) => self.contact_pings.not_started += 1,
                    _ => self.contact_pings.failed += 1,
                },
                Issued::Put { value } => match outcome {
                    Some(QueryOutcome::Stored(stored)) if stored.stored > 0 => {
                        self.records.put += 1;
                        if self.oracle.immutable.insert(stored.key, value).is_none() {
                            self.oracle.immutable_keys.push(stored.key);
                        }
                    }
                    _ => self.records.put_failed += 1,
                },
                Issued::MutablePut { owner, salt, value } => match outcome {
                    Some(QueryOutcome::Stored(stored)) if stored.stored > 0 => {
                        self.records.put += 1;
                        self.records.mutable_put += 1;
                        let seq = stored.seq.expect("a mutable write reports its seq");
                        let record = (owner, salt);
                        if !self.oracle.mutable.contains_key(&record) {
                            self.oracle.mutable_records.push(record.clone());
                        }
                        let truth = self.oracle.mutable.entry(record).or_default();
                        truth.versions.insert(seq, value);
                    }
                    // Stored by nobody: refused everywhere (a newer version got there
                    // first: `SeqTooLow`), unanswered, or not started.
                    _ => self.records.put_failed += 1,
                },
                Issued::Get { key } => {
                    self.get_latency.extend(elapsed);
                    match outcome {
                        Some(QueryOutcome::Immutable(Some(value))) => {
                            if self.oracle.immutable.get(&key) == Some(value) {
                                self.records.get_ok += 1;
                            } else {
                                self.records.get_wrong += 1;
                            }
                        }
                        _ => self.records.get_missing += 1,
                    }
                }
                Issued::MutableGet { owner, salt, seq } => {
                    self.get_latency.extend(elapsed);
                    match outcome {
                        Some(QueryOutcome::Mutable(Some(record))) => {
                            let truth = self.oracle.mutable.get(&(owner, salt));
                            // A version still being written (not acknowledged yet)
                            // may be newer than the oracle knows: only a known one
                            // is checked byte for byte.
                            let known = truth.and_then(|t| t.versions.get(&record.seq));
                            let genuine = record.public_key == ids[owner]
                                && known.is_none_or(|value| *value == record.value);
                            if !genuine {
                                self.records.get_wrong += 1;
                            } else if record.seq < seq {
                                self.records.get_stale += 1;
                            } else {
                                self.records.get_ok += 1;
                                self.records.mutable_latest += 1;
                            }
                        }
                        _ => self.records.get_missing += 1,
                    }
                }
                Issued::Connect { pair } => {
                    let ended = match &d.result {
                        Ok((_, QueryOutcome::Connected { path, .. })) => Ok(*path),
                        Ok((_, QueryOutcome::Failed(error))) => Err(reason(*error)),
                        Ok(_) => Err("unexpected_outcome"),
                        Err(_) => Err("not_started"),
                    };
                    match ended {
                        Ok(path) => self.connect_counts(&pair, |k| match path {
                            ConnectPath::Direct => k.direct += 1,
                            ConnectPath::Punched => k.punched += 1,
                            ConnectPath::Relayed => k.relayed += 1,
                            ConnectPath::Mailbox => k.mailbox += 1,
                        }),
                        Err(why) => {
                            self.connect_counts(&pair, |k| k.failed += 1);
                            *self.connects.failed_by.entry(why.to_owned()).or_default() += 1;
                        }
                    }
                }
                Issued::Announce { node, topic } => match outcome {
                    Some(QueryOutcome::Stored(stored)) if stored.stored > 0 => {
                        self.topics.announced += 1;
                        self.oracle.topics.entry(topic).or_default().insert(node);
                    }
                    _ => self.topics.announce_failed += 1,
                },
                Issued::TopicLookup { announcers } => {
                    let found: BTreeSet<NodeId> = match outcome {
                        Some(QueryOutcome::Peers(peers)) => {
                            peers.iter().map(|p| p.public_key).collect()
                        }
                        _ => BTreeSet::new(),
                    };
                    let live: Vec<usize> = announcers
                        .into_iter()
                        .filter(|&node| !departed[node])
                        .collect();
                    let hits = live.iter().filter(|&&n| found.contains(&ids[n])).count();
                    // Everyone it expected left meanwhile: nothing was missed.
                    let recall = if live.is_empty() {
                        1.0
                    } else {
                        hits as f64 / live.len() as f64
                    };
                    self.recall_sum += recall;
                    self.topics.lookups_done += 1;
                    if hits == live.len() {
                        self.topics.lookup_complete += 1;
                    }
                }
            }
        }
    }

    pub(super) fn lookups(&mut self) -> Lookups {
        self.hops.sort_unstable();
        self.latency.sort_unstable();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let found = self.lookups_listed + self.lookups_declared;
        Lookups {
            issued: self.lookups_started,
            succeeded: found,
            listed: self.lookups_listed,
            declared: self.lookups_declared,
            failed: self.lookups_done - found,
            unfinished: self.lookups_started - self.lookups_done,
            hops_p50: percentile(&self.hops, 0.5),
            hops_p95: percentile(&self.hops, 0.95),
            latency_ms_p50: ms(percentile(&self.latency, 0.5)),
            latency_ms_p99: ms(percentile(&self.latency, 0.99)),
        }
    }

    /// Applies `f` to the overall connect counts and to those of NAT pair `pair`.
    fn connect_counts(&mut self, pair: &str, f: impl Fn(&mut ConnectCounts)) {
        f(&mut self.connects.total);
        f(self.connects.by_nat.entry(pair.to_owned()).or_default());
    }

    /// The connects' figures; those still running are unfinished.
    pub(super) fn connects(&mut self) -> Connects {
        let unfinished = |k: &mut ConnectCounts| {
            k.unfinished = k.attempts - k.connected() - k.failed;
        };
        unfinished(&mut self.connects.total);
        self.connects.by_nat.values_mut().for_each(unfinished);
        self.connects.clone()
    }

    /// The lookups of the liveness check: those started once faults had settled.
    pub(super) fn after_faults(&self) -> AfterFaults {
        self.after_faults
    }

    pub(super) fn pings(&mut self) -> Pings {
        self.rtts.sort_unstable();
        Pings {
            issued: self.pings_started,
            succeeded: self.pings_ok,
            rtt_ms_p50: percentile(&self.rtts, 0.5).map(|d| d.as_secs_f64() * 1000.0),
        }
    }

    pub(super) fn contact_pings(&mut self) -> ContactPings {
        self.contact_rtts.sort_unstable();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let p = &mut self.contact_pings;
        p.unfinished = p.issued - p.answered - p.failed - p.not_started;
        p.rtt_ms_p50 = ms(percentile(&self.contact_rtts, 0.5));
        p.rtt_ms_p99 = ms(percentile(&self.contact_rtts, 0.99));
        *p
    }

    pub(super) fn records(&mut self) -> Records {
        self.get_latency.sort_unstable();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let r = &mut self.records;
        r.get_unfinished = r.get - r.get_ok - r.get_stale - r.get_missing - r.get_wrong;
        r.get_latency_ms_p50 = ms(percentile(&self.get_latency, 0.5));
        r.get_latency_ms_p99 = ms(percentile(&self.get_latency, 0.99));
        r.clone()
    }

    pub(super) fn topics(&mut self) -> Topics {
        let t = &mut self.topics;
        // Unfinished lookups count as recall 0.
        t.recall_mean = (t.lookups > 0).then(|| self.recall_sum / t.lookups as f64);
        t.clone()
    }
}

/// A failed query's reason, as the report names it.
fn reason(error: QueryError) -> &'static str {
    match error {
        QueryError::Timeout => "timeout",
        QueryError::WrongPeer => "wrong_peer",
        QueryError::NoPeers => "no_peers",
        QueryError::Unreachable => "unreachable",
        QueryError::Refused => "refused",
        QueryError::NotFound => "not_found",
        _ => "other",
    }
}
