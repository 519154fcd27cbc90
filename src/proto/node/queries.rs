//! The work behind each [`Command`]: pings, lookups and the phases of bootstrap, as
//! steps that RPC answers and failures drive.

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    Command, CommandError, Event, LookupKind, Node, PingResult, Purpose, Query, QueryError,
    QueryId, QueryOutcome, QueryState, WhoProbe,
};
use crate::proto::id::NodeId;
use crate::proto::lookup::{Goal, Lookup};
use crate::proto::table::BUCKETS;
use crate::proto::time::Time;
use crate::proto::wire::{Datagram, Request, Response, WireContact};

/// Bootstrap refresh lookups that run at once.
const BOOTSTRAP_REFRESHES_IN_FLIGHT: usize = 1;

/// The first wait before bootstrap runs again.
const REBOOTSTRAP_FIRST: Duration = Duration::from_secs(5);
/// How long after a bootstrap the node looks itself up a second time.
const SECOND_LOOK: Duration = Duration::from_secs(10);
/// The longest wait between two bootstraps.
const REBOOTSTRAP_MAX: Duration = Duration::from_secs(300);

impl Node {
    pub(super) fn start_command(
        &mut self,
        now: Time,
        command: Command,
    ) -> Result<QueryId, CommandError> {
        match command {
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
                        peer,
                        Request::Ping,
                        Purpose::Query(query),
                        &mut self.rng,
                    )
                    .map_err(|_| CommandError::Throttled)?;
                self.insert_query(now, query, Query::Ping);
                Ok(query)
            }
            Command::PingClosest(n) => {
                let closest = self.table.closest(&self.id, n);
                if closest.is_empty() {
                    return Err(CommandError::NoPeers);
                }
                let query = self.next_query_id();
                let mut results = Vec::with_capacity(closest.len());
                for contact in closest {
                    let purpose = Purpose::Query(query);
                    let started = self.rpc.start(
                        now,
                        contact.addr,
                        contact.id,
                        Request::Ping,
                        purpose,
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
                Ok(query)
            }
            Command::FindNode(target) => self.start_find_peer(now, target),
            command @ (Command::ImmutablePut(_)
            | Command::ImmutableGet(_)
            | Command::MutablePut { .. }
            | Command::MutableGet { .. }
            | Command::Announce { .. }
            | Command::Unannounce(_)
            | Command::TopicLookup(_)) => self.start_record_command(now, command),
            Command::Connect(peer) => self.start_connect(now, peer),
            Command::Bootstrap => {
                if self.config.bootstrap.is_empty() && self.table.is_empty() {
                    return Err(CommandError::NoPeers);
                }
                let query = self.next_query_id();
                // Ask each bootstrap address who it is; its beacon names the key to
                // dial, and a ping in the session that opens confirms it. Once each:
                // an address listed twice answers once, and the query counts answers.
                let mut addrs: Vec<SocketAddr> = Vec::new();
                for &addr in &self.config.bootstrap {
                    if !self.who.contains_key(&addr) && !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                for &addr in &addrs {
                    self.send_who(now, addr, query, 1);
                }
                if addrs.is_empty() {
                    self.start_lookup(now, query, self.id, LookupKind::Bootstrap);
                } else {
                    let pending = addrs.len();
                    let state = Query::BootstrapPings {
                        pending,
                        dialed: Vec::new(),
                        answered: Vec::new(),
                    };
                    self.insert_query(now, query, state);
                }
                Ok(query)
            }
        }
    }

    fn send_who(&mut self, now: Time, addr: SocketAddr, query: QueryId, attempts: u8) {
        self.stats.who_sent += 1;
        let who = Datagram::Who {
            network_tag: self.network_tag,
        };
        self.send(addr, &who);
        let wait = self.config.who_timeout * (1u32 << (attempts - 1).min(16));
        self.who.insert(
            addr,
            WhoProbe {
                query,
                deadline: now + wait,
                attempts,
            },
        );
    }

    /// Resends `Who` probes whose beacon did not come, and gives up on those out of
    /// retries.
    pub(super) fn who_timeouts(&mut self, now: Time) {
        let due: Vec<_> = self
            .who
            .iter()
            .filter(|(_, probe)| probe.deadline <= now)
            .map(|(addr, probe)| (*addr, probe.query, probe.attempts))
            .collect();
        for (addr, query, attempts) in due {
            self.who.remove(&addr);
            if attempts <= self.config.who_retries_max {
                self.send_who(now, addr, query, attempts + 1);
            } else {
                self.bootstrap_step_done(now, query);
            }
        }
    }

    pub(super) fn is_bootstrap_ping(&self, query: QueryId) -> bool {
        matches!(
            self.queries.get(&query),
            Some(QueryState {
                query: Query::BootstrapPings { .. },
                ..
            })
        )
    }

    pub(super) fn next_query_id(&mut self) -> QueryId {
        self.next_query += 1;
        QueryId(self.next_query)
    }

    pub(super) fn insert_query(&mut self, now: Time, query: QueryId, kind: Query) {
        self.queries.insert(
            query,
            QueryState {
                started: now,
                query: kind,
            },
        );
    }

    pub(super) fn finish_query(&mut self, now: Time, query: QueryId, outcome: QueryOutcome) {
        self.record_ops.remove(&query);
        if self.internal.remove(&query) {
            self.queries.remove(&query);
            self.find_peer_done(now, query, &outcome);
            return;
        }
        if let Some(state) = self.queries.remove(&query) {
            self.events.push_back(Event::QueryFinished {
                query,
                elapsed: now - state.started,
                outcome,
            });
        }
    }

    /// One step of a query got its answer (`Ok`) or will get none (`Err`).
    pub(super) fn on_query_answer(
        &mut self,
        now: Time,
        query: QueryId,
        peer: NodeId,
        answer: Result<(Duration, Response), QueryError>,
    ) {
        let Some(state) = self.queries.get_mut(&query) else {
            return;
        };
        match &mut state.query {
            Query::Ping => {
                let outcome = match answer {
                    Ok((rtt, Response::Pong { .. })) => QueryOutcome::Pong { peer, rtt },
                    Ok(_) => QueryOutcome::Failed(QueryError::Refused),
                    Err(reason) => QueryOutcome::Failed(reason),
                };
                self.finish_query(now, query, outcome);
            }
            Query::PingClosest { results, pending } => {
                if let Some(result) = results
                    .iter_mut()
                    .find(|r| r.peer == peer && r.rtt.is_none())
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
            Query::BootstrapPings {
                dialed, answered, ..
            } => {
                if let Ok((_, Response::Pong { .. })) = answer {
                    if let Some(at) = dialed.iter().position(|c| c.id == peer) {
                        answered.push(dialed.swap_remove(at));
                    }
                }
                self.bootstrap_step_done(now, query)
            }
            // Its refresh lookups carry their own query ids.
            Query::BootstrapRefreshes { .. } => {}
            Query::Records(_) => self.on_fanout_answer(now, query, peer, answer),
            Query::Connect(_) => {
                self.on_connect_answer(now, query, answer.map(|(_, response)| response))
            }
            Query::Lookup { lookup, .. } => {
                match answer {
                    Ok((_, Response::Nodes { contacts, token })) => {
                        let late = lookup.is_stalled(&peer);
                        lookup.on_success(&peer, &contacts);
                        self.stats.lookup_stalls_answered += u64::from(late);
                        self.note_token(query, peer, token);
                    }
                    _ => lookup.on_failure(&peer),
                }
                self.drive_lookup(now, query);
            }
        }
    }

    /// Tells each lookup which of its peers stalled: requests whose first wait ran out
    /// unanswered. The lookup asks others in their place (see [`Lookup::on_stalled`]);
    /// the requests go on being resent, and an answer still counts.
    pub(super) fn lookup_stalls(&mut self, now: Time) {
        while let Some(stalled) = self.rpc.poll_stalled() {
            let Purpose::Query(query) = stalled.context else {
                continue;
            };
            let Some(QueryState {
                query: Query::Lookup { lookup, .. },
                ..
            }) = self.queries.get_mut(&query)
            else {
                continue;
            };
            if lookup.on_stalled(&stalled.peer) {
                self.stats.lookup_stalls += 1;
                self.drive_lookup(now, query);
            }
        }
    }

    /// The bootstrap node at `contact` answered `query`'s `Who`, and is being pinged.
    pub(super) fn bootstrap_dialed(&mut self, query: QueryId, contact: WireContact) {
        if let Some(QueryState {
            query: Query::BootstrapPings { dialed, .. },
            ..
        }) = self.queries.get_mut(&query)
        {
            dialed.push(contact);
        }
    }

    /// One bootstrap address answered its ping, or was given up.
    fn bootstrap_step_done(&mut self, now: Time, query: QueryId) {
        let Some(QueryState {
            query: Query::BootstrapPings {
                pending, answered, ..
            },
            ..
        }) = self.queries.get_mut(&query)
        else {
            return;
        };
        *pending -= 1;
        if *pending > 0 {
            return;
        }
        let answered = std::mem::take(answered);
        if self.table.is_empty() && answered.is_empty() {
            self.finish_bootstrap(now, query);
        } else {
            // Same query id and start time: the self-lookup is bootstrap's second half.
            self.start_lookup_from(now, query, self.id, LookupKind::Bootstrap, answered);
        }
    }

    /// The seeds of bootstrap's self-lookup: the bootstrap nodes alone, those that
    /// answered this bootstrap's pings (a full bucket may have had no room for them)
    /// and those in the table. A node that already knows its LAN segment from beacons would
    /// otherwise look itself up among its segment only, converge on the closest ids of
    /// that segment and never learn its neighbours elsewhere: the swarm splits into
    /// islands joined only through the bootstrap nodes. The bootstrap nodes' answers
    /// come from the whole swarm.
    fn bootstrap_seeds(
        &self,
        kind: LookupKind,
        mut answered: Vec<WireContact>,
    ) -> Option<Vec<WireContact>> {
        if kind != LookupKind::Bootstrap {
            return None;
        }
        let in_table = self
            .table
            .iter()
            .filter(|c| self.config.bootstrap.contains(&c.addr))
            .map(|c| WireContact {
                id: c.id,
                addr: c.addr,
            });
        for contact in in_table {
            if !answered.iter().any(|a| a.id == contact.id) {
                answered.push(contact);
            }
        }
        (!answered.is_empty()).then_some(answered)
    }

    pub(super) fn start_lookup(
        &mut self,
        now: Time,
        query: QueryId,
        target: NodeId,
        kind: LookupKind,
    ) {
        self.start_lookup_from(now, query, target, kind, Vec::new());
    }

    /// [`Node::start_lookup`], with the bootstrap nodes that answered this bootstrap
    /// as extra seeds for a [`LookupKind::Bootstrap`].
    fn start_lookup_from(
        &mut self,
        now: Time,
        query: QueryId,
        target: NodeId,
        kind: LookupKind,
        answered: Vec<WireContact>,
    ) {
        let k = self.config.table.bucket_capacity;
        let seeds: Vec<WireContact> = if let LookupKind::Refresh {
            from_above: true, ..
        } = kind
        {
            // Only contacts of farther buckets: their own tables cover the target's
            // range from above (see `refresh_done`).
            let bucket = self.id.bucket_index(&target);
            let mut above: Vec<_> = self
                .table
                .iter()
                .filter(|c| self.id.bucket_index(&c.id) > bucket)
                .map(|c| WireContact {
                    id: c.id,
                    addr: c.addr,
                })
                .collect();
            above.sort_unstable_by_key(|c| c.id.distance(&target));
            above.truncate(k);
            above
        } else if let Some(seeds) = self.bootstrap_seeds(kind, answered) {
            seeds
        } else {
            self.table
                .closest(&target, k)
                .into_iter()
                .map(|c| WireContact {
                    id: c.id,
                    addr: c.addr,
                })
                .collect()
        };
        let alpha = self.config.lookup_parallelism;
        // A periodic refresh of a full bucket beyond the neighbourhood ends once the
        // alpha closest have answered, not the k closest: the bucket has no room for
        // whoever the lookup finds, and what it is still for (the nodes there hear of
        // this one, a few contacts are checked) takes one round, not the k strangers
        // near a random id, each a handshake. On benches/compare/scale-2k.toml: 12%
        // fewer datagrams and 9% fewer handshakes, every lookup still found. Skipping
        // these refreshes altogether failed 76 of its 20,000 lookups.
        let light = matches!(
            kind,
            LookupKind::Refresh {
                parent: None,
                from_above: false
            }
        ) && target != self.id
            && self
                .id
                .bucket_index(&target)
                .is_some_and(|bucket| self.table.bucket_len(bucket) >= k);
        // So is a bootstrap's refresh of an empty bucket beyond the neighbourhood: it is
        // there to find one contact in that range, not its k closest. The first minute
        // of scale-2k: 117,647 handshakes to 78,866 (tables at 60 s: mean 101 to 71
        // peers, fewest 42 to 36; after the hour the same, every lookup found).
        let bucket = self.id.bucket_index(&target);
        let join_far = matches!(
            kind,
            LookupKind::Refresh {
                parent: Some(_),
                from_above: false
            }
        ) && bucket
            .is_some_and(|b| self.table.neighbourhood().is_some_and(|n| b > n));
        let k = if light || join_far { alpha } else { k };
        let table = &self.config.table;
        let blocks = self
            .config
            .lookup_one_per_block
            .then_some((table.block_prefix_v4, table.block_prefix_v6));
        let lookup = Lookup::new(target, self.id, k, alpha, kind.goal(), blocks, seeds)
            .disjoint(self.config.lookup_disjoint_paths);
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
            let purpose = Purpose::Query(query);
            let started = self.rpc.start(
                now,
                contact.addr,
                contact.id,
                request,
                purpose,
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
        let k = self.config.table.bucket_capacity;
        let found_early = lookup.goal() == Goal::Node && lookup.found();
        let silent = lookup.silent();
        if !found_early && silent > 0 && lookup.result().closest.len() < k {
            // The seeds went silent (nodes that left, not evicted yet; stalled ones
            // count, as they are no longer waited for) before k answered: the table's
            // next closest may still be there.
            let more = self.table.closest(&target, k + silent);
            let seeds = more.into_iter().map(|c| WireContact {
                id: c.id,
                addr: c.addr,
            });
            if lookup.add_seeds(seeds) > 0 {
                self.drive_lookup(now, query);
                return;
            }
        }
        let (result, kind) = (lookup.result(), *kind);
        self.stats.lookups_finished += 1;
        self.stats.lookup_block_skips += u64::from(lookup.skipped());
        self.table.mark_refreshed(now, &target);
        match kind {
            // The peer answered in a session: its declaration is not needed.
            LookupKind::FindPeer if found_early => self.find_peer_found(now, query, result),
            LookupKind::Record | LookupKind::FindPeer => self.start_fanout(now, query, result),
            LookupKind::Bootstrap => self.refresh_beyond_closest(now, query),
            LookupKind::Refresh { parent, from_above } => {
                self.queries.remove(&query);
                if !from_above && self.refresh_missed(&result.target, &result.closest) {
                    let retry = self.next_query_id();
                    let kind = LookupKind::Refresh {
                        parent,
                        from_above: true,
                    };
                    self.start_lookup(now, retry, target, kind);
                    return;
                }
                let Some(parent) = parent else {
                    return;
                };
                if let Some(QueryState {
                    query: Query::BootstrapRefreshes { running, .. },
                    ..
                }) = self.queries.get_mut(&parent)
                {
                    *running -= 1;
                    self.next_bootstrap_refreshes(now, parent);
                }
            }
        }
    }

    /// Whether a refresh of `target`'s bucket found nobody in that bucket although
    /// farther buckets hold contacts.
    ///
    /// Nodes that join together can split the routing state: every node of one
    /// subtree may know nobody in its sibling subtree. A lookup from inside can never
    /// leave that subtree, because its own members are closer to any target in the
    /// sibling than anybody who knows the sibling. Contacts in farther buckets see
    /// both subtrees from above, so a second lookup that starts from them alone
    /// crosses the gap, and its requests teach the sibling about this node.
    fn refresh_missed(&self, target: &NodeId, found: &[WireContact]) -> bool {
        let Some(bucket) = self.id.bucket_index(target) else {
            return false;
        };
        let hit = found
            .iter()
            .any(|c| self.id.bucket_index(&c.id) == Some(bucket));
        let above = self
            .table
            .iter()
            .any(|c| self.id.bucket_index(&c.id) > Some(bucket));
        !hit && above
    }

    /// After the self-lookup, bootstrap refreshes the buckets further away than the
    /// closest neighbour (the Kademlia paper's join): the bucket of the k-th closest
    /// contact ([`RoutingTable::neighbourhood`]), and a farther one only if it is still
    /// empty when its turn comes. Nearer buckets are skipped: the self-lookup ended
    /// with the k closest, so it met every node in their ranges (10,000 nodes, first
    /// 400 s: 8.2 M datagrams to 6.4 M, same tables). The neighbourhood is where this
    /// node's records live and where lookups of its id end, so it must know every
    /// peer there; farther away, a lookup needs one contact in each bucket whose range
    /// holds nodes. Without the refresh, nodes that joined together can stay unknown
    /// to a whole region of the id space.
    ///
    /// The paper fills every such bucket. Measured on 2,000 nodes joining within 20 s
    /// (`benches/compare/scale-2k.toml`, seed 10): filling only the neighbourhood takes
    /// the first 100 simulated seconds from 1.9 M datagrams to 1.1 M and the hour from
    /// 6.9 M to 5.6 M, with all 20,000 lookups still found. The far buckets fill from
    /// the traffic that reaches this node (every peer that asks it something proves its
    /// key and is a candidate) and from the periodic refresh. Refreshing only empty
    /// buckets (0.8 M in 100 s) left nodes holding 15 of their 20 closest; refreshing
    /// none lost lookups (19,998 of 20,000).
    ///
    /// [`RoutingTable::neighbourhood`]: crate::proto::table::RoutingTable::neighbourhood
    fn refresh_beyond_closest(&mut self, now: Time, query: QueryId) {
        let Some(closest) = self.table.closest(&self.id, 1).first().map(|c| c.id) else {
            self.finish_bootstrap(now, query);
            return;
        };
        let nearest_bucket = self
            .id
            .bucket_index(&closest)
            .expect("the table never holds itself");
        // Nearest first: the neighbourhood matters most to lookups for this node.
        let mut queued: Vec<usize> = (nearest_bucket + 1..BUCKETS).collect();
        queued.reverse();
        if let Some(state) = self.queries.get_mut(&query) {
            state.query = Query::BootstrapRefreshes { running: 0, queued };
        }
        self.next_bootstrap_refreshes(now, query);
    }

    /// Starts queued bootstrap refreshes up to [`BOOTSTRAP_REFRESHES_IN_FLIGHT`], or
    /// ends the bootstrap when none is left.
    ///
    /// A few at a time, not all at once: each refresh dials about k strangers, and a
    /// whole swarm joining together would otherwise spend its CPU on the far buckets'
    /// handshakes while some nodes still wait for their self-lookup's.
    fn next_bootstrap_refreshes(&mut self, now: Time, query: QueryId) {
        loop {
            let Some(QueryState {
                query: Query::BootstrapRefreshes { running, queued },
                ..
            }) = self.queries.get_mut(&query)
            else {
                return;
            };
            if *running >= BOOTSTRAP_REFRESHES_IN_FLIGHT {
                return;
            }
            let Some(bucket) = queued.pop() else {
                if *running == 0 {
                    self.finish_bootstrap(now, query);
                }
                return;
            };
            let neighbourhood = self.table.neighbourhood();
            if neighbourhood.is_some_and(|n| bucket < n) {
                // Nearer than the k-th closest: the self-lookup that just ended found
                // every node in this range (a node that joined since is the second
                // look's to find).
                continue;
            }
            let far = neighbourhood.is_some_and(|n| bucket > n);
            if far && self.table.bucket_len(bucket) > 0 {
                // Earlier lookups of this bootstrap (or peers that asked us) left a
                // contact there: lookups through this range already work.
                continue;
            }
            *running += 1;
            let target = self.table.random_id_in_bucket(bucket, &mut self.rng);
            let child = self.next_query_id();
            self.start_lookup(
                now,
                child,
                target,
                LookupKind::Refresh {
                    parent: Some(query),
                    from_above: false,
                },
            );
        }
    }

    /// Ends a bootstrap. One that leaves fewer than k peers (lost datagrams, a busy
    /// bootstrap node, a swarm still forming) runs again after 5 s, then 10 s, 20 s…
    /// up to 5 minutes, until the table holds k peers.
    ///
    /// One that succeeds looks the node up once more [`SECOND_LOOK`] later. Nodes
    /// that join together miss each other: a neighbour that joined after this node's
    /// self-lookup learns of it only if its own lookup passes by, and a node that
    /// listened first on a busy segment sent no beacon for it to hear. Measured with
    /// 2,000 nodes on 8 segments joining within 10 s: without it, a node held only 17
    /// of its 20 closest 30 s in.
    fn finish_bootstrap(&mut self, now: Time, query: QueryId) {
        let peers = self.table.len();
        if peers > 0 && self.rebootstrap_wait.is_none() {
            self.second_look = Some(now + SECOND_LOOK);
        }
        if peers < self.config.table.bucket_capacity && !self.config.bootstrap.is_empty() {
            let wait = self
                .rebootstrap_wait
                .map_or(REBOOTSTRAP_FIRST, |wait| (wait * 2).min(REBOOTSTRAP_MAX));
            self.rebootstrap = Some(now + wait);
            self.rebootstrap_wait = Some(wait);
        } else {
            self.rebootstrap = None;
            self.rebootstrap_wait = None;
        }
        let outcome = if peers == 0 {
            QueryOutcome::Failed(QueryError::NoPeers)
        } else {
            QueryOutcome::Bootstrapped { peers }
        };
        self.finish_query(now, query, outcome);
    }
}
