//! [`RpcManager`]: request/response bookkeeping.
//!
//! In: requests to send ([`RpcManager::start`]), responses that arrived
//! ([`RpcManager::handle_response`]) and the clock ([`RpcManager::handle_timeout`]).
//! Out: requests to put on the wire ([`RpcManager::poll_send`], first sends and
//! retries alike), completed requests with their round-trip time, requests whose first
//! wait ran out unanswered ([`RpcManager::poll_stalled`], once each: the caller may go
//! on without them while they are resent) and failures ([`RpcManager::poll_failure`])
//! once every retry has timed out.
//!
//! How long a request waits before it is sent again follows the round trips measured
//! so far, as TCP's retransmission timer does (RFC 6298): the smoothed round trip plus
//! four times its variation, between [`RpcConfig::timeout_min`] and
//! [`RpcConfig::timeout`], doubled ([`RpcConfig::backoff`]) for each retry. Only
//! answers to requests sent once are measured (Karn's rule: the answer to a resent one
//! could be to either send). One estimate serves every peer: it costs a node 16 bytes,
//! and the variation term covers the spread between near and far peers.
//!
//! Each request carries a context `C` of the caller's choosing (which query it serves,
//! which peer it checks); the manager hands it back with the outcome. A response counts
//! only if it carries a pending transaction id *and* comes from the address the request
//! went to. At most `in_flight_per_peer_max` requests per peer address are on the wire;
//! more wait in a bounded per-peer queue, and beyond that a request is refused. At most
//! `pending_max` requests are tracked in all: beacons and answers from the network
//! make the node send requests (probes, liveness checks, lookup steps), and this keeps
//! that bounded whatever arrives.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand_core::RngCore;

use super::id::NodeId;
use super::time::Time;
use super::wire::{Request, TxId};

/// Tunables of request tracking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcConfig {
    /// Time to wait for the first answer before any round trip was measured, and the
    /// longest the measured wait may be. 1 s by default.
    pub timeout: Duration,
    /// The shortest wait for a first answer, however short the round trips: 200 ms by
    /// default, so that a peer busy for a moment is not flooded with resends.
    pub timeout_min: Duration,
    /// Resends after the first send; each waits `backoff` times longer. 3 by default:
    /// a request and its answer both cross the network, so at 5 % loss one attempt in
    /// ten fails, and four attempts fail about once in 11,000 (a ping of the 3 closest
    /// about once in 3,700).
    pub retries_max: u8,
    /// Factor by which each retry's timeout grows.
    pub backoff: u32,
    /// Requests on the wire to one peer address at once.
    pub in_flight_per_peer_max: usize,
    /// Requests waiting for a slot to one peer address; beyond this they are refused.
    pub queued_per_peer_max: usize,
    /// Requests tracked at once, to all peers, queued ones included; beyond this they
    /// are refused. 4,096 by default: a node with every bucket refreshing and its
    /// probes and checks out uses a few hundred.
    pub pending_max: usize,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            timeout: Duration::from_millis(1000),
            timeout_min: Duration::from_millis(200),
            retries_max: 3,
            backoff: 2,
            in_flight_per_peer_max: 8,
            queued_per_peer_max: 32,
            pending_max: 4096,
        }
    }
}

/// A request to put on the wire now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    /// Where to.
    pub dst: SocketAddr,
    /// The peer it is for.
    pub peer: NodeId,
    /// Its transaction id (the same on every retry).
    pub tx: TxId,
    /// What to ask.
    pub request: Request,
    /// Whether this is a resend.
    pub retry: bool,
}

/// A request that got its answer.
#[derive(Debug)]
pub struct Completed<C> {
    /// The caller's context.
    pub context: C,
    /// The peer the request was for.
    pub peer: NodeId,
    /// Time from the last send to the answer.
    pub rtt: Duration,
}

/// A request that will get no answer.
#[derive(Debug)]
pub struct Failed<C> {
    /// The caller's context.
    pub context: C,
    /// The peer the request was for.
    pub peer: NodeId,
    /// Why.
    pub reason: RpcFailure,
}

/// A request whose first wait ran out without an answer: it is being resent, and may
/// still be answered or fail later.
#[derive(Debug)]
pub struct Stalled<C> {
    /// The caller's context.
    pub context: C,
    /// The peer the request was for.
    pub peer: NodeId,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcFailure {
    /// No answer after every retry.
    Timeout,
    /// Too many requests already waiting for this peer.
    Throttled,
    /// No session could be opened with the peer.
    Unreachable,
}

#[derive(Debug)]
struct Pending<C> {
    dst: SocketAddr,
    peer: NodeId,
    request: Request,
    context: C,
    /// `None` while queued behind the per-peer limit.
    sent_at: Option<Time>,
    deadline: Time,
    attempts: u8,
    /// Whether its first send had to wait for a handshake: its answer then measures
    /// more than a round trip.
    handshake: bool,
}

/// Tracks every request a node has sent and not yet seen the end of.
#[derive(Debug)]
pub struct RpcManager<C> {
    config: RpcConfig,
    pending: BTreeMap<TxId, Pending<C>>,
    deadlines: BTreeSet<(Time, TxId)>,
    in_flight: BTreeMap<SocketAddr, usize>,
    queued: BTreeMap<SocketAddr, VecDeque<TxId>>,
    sends: VecDeque<Send>,
    stalls: VecDeque<Stalled<C>>,
    failures: VecDeque<Failed<C>>,
    /// Requests refused because `pending_max` were tracked.
    refused_full: u64,
    /// The round trips measured so far; `None` before the first.
    rtt: Option<RttEstimate>,
}

/// A smoothed round-trip time and its mean deviation (RFC 6298).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RttEstimate {
    smoothed: Duration,
    variation: Duration,
}

impl RttEstimate {
    /// The estimate after one more measured round trip, `sample`.
    fn update(estimate: Option<RttEstimate>, sample: Duration) -> RttEstimate {
        match estimate {
            None => RttEstimate {
                smoothed: sample,
                variation: sample / 2,
            },
            Some(RttEstimate {
                smoothed,
                variation,
            }) => RttEstimate {
                variation: (variation * 3 + smoothed.abs_diff(sample)) / 4,
                smoothed: (smoothed * 7 + sample) / 8,
            },
        }
    }
}

impl<C> RpcManager<C> {
    /// Heap bytes of the requests tracked and queued, inline (a request's own heap
    /// data, such as a record's value, is not counted).
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::{btree, deque};
        btree::<TxId, Pending<C>>(self.pending.len())
            + btree::<(Time, TxId), ()>(self.deadlines.len())
            + btree::<SocketAddr, usize>(self.in_flight.len())
            + btree::<SocketAddr, VecDeque<TxId>>(self.queued.len())
            + self.queued.values().map(deque).sum::<usize>()
            + deque(&self.sends)
            + deque(&self.stalls)
            + deque(&self.failures)
    }

    /// No requests yet.
    pub fn new(config: RpcConfig) -> Self {
        RpcManager {
            config,
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            queued: BTreeMap::new(),
            sends: VecDeque::new(),
            stalls: VecDeque::new(),
            failures: VecDeque::new(),
            refused_full: 0,
            rtt: None,
        }
    }

    /// How long a request waits for its first answer: the measured round trip plus
    /// four times its variation, within [`RpcConfig::timeout_min`] and
    /// [`RpcConfig::timeout`]; `timeout` before anything was measured.
    pub fn first_wait(&self) -> Duration {
        let config = &self.config;
        match self.rtt {
            None => config.timeout,
            Some(rtt) => (rtt.smoothed + rtt.variation * 4)
                .clamp(config.timeout_min.min(config.timeout), config.timeout),
        }
    }

    /// Requests refused because `pending_max` requests were tracked already.
    pub fn refused_full(&self) -> u64 {
        self.refused_full
    }

    /// Requests not yet answered or failed (queued ones included).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Starts a request to `dst`. It goes on the wire at once if the peer has a free
    /// slot, or waits for one. `Err` gives the context back when the peer's queue is
    /// full or `pending_max` requests are tracked (nothing was sent).
    pub fn start(
        &mut self,
        now: Time,
        dst: SocketAddr,
        peer: NodeId,
        request: Request,
        context: C,
        rng: &mut impl RngCore,
    ) -> Result<TxId, C> {
        if self.pending.len() >= self.config.pending_max {
            self.refused_full += 1;
            return Err(context);
        }
        let busy =
            self.in_flight.get(&dst).copied().unwrap_or(0) >= self.config.in_flight_per_peer_max;
        if busy {
            let queue = self.queued.entry(dst).or_default();
            if queue.len() >= self.config.queued_per_peer_max {
                return Err(context);
            }
        }
        let tx = loop {
            let tx = TxId(rng.next_u32());
            if !self.pending.contains_key(&tx) {
                break tx;
            }
        };
        self.pending.insert(
            tx,
            Pending {
                dst,
                peer,
                request,
                context,
                sent_at: None,
                deadline: Time::MAX,
                attempts: 0,
                handshake: false,
            },
        );
        if busy {
            self.queued.entry(dst).or_default().push_back(tx);
        } else {
            self.send(now, tx);
        }
        Ok(tx)
    }

    fn send(&mut self, now: Time, tx: TxId) {
        let Some(p) = self.pending.get_mut(&tx) else {
            return;
        };
        if p.sent_at.is_none() {
            *self.in_flight.entry(p.dst).or_default() += 1;
        }
        let attempts = u32::from(p.attempts);
        let wait = self.first_wait() * self.config.backoff.saturating_pow(attempts);
        let Some(p) = self.pending.get_mut(&tx) else {
            return;
        };
        self.deadlines.remove(&(p.deadline, tx));
        p.deadline = now + wait;
        p.sent_at = Some(now);
        self.deadlines.insert((p.deadline, tx));
        self.sends.push_back(Send {
            dst: p.dst,
            peer: p.peer,
            tx,
            request: p.request.clone(),
            retry: p.attempts > 0,
        });
        p.attempts += 1;
    }

    /// A response with `tx` arrived from `from`. `None` if no request of ours matches
    /// (unknown, already answered, or from another address): the caller counts it as
    /// unexpected.
    pub fn handle_response(
        &mut self,
        now: Time,
        from: SocketAddr,
        tx: TxId,
    ) -> Option<Completed<C>> {
        let p = self.pending.get(&tx)?;
        // A request to a multicast mailbox is answered from the owner's own address.
        let from_dst = p.dst == from || p.dst.ip().is_multicast();
        if !from_dst || p.sent_at.is_none() {
            return None;
        }
        let p = self.finish(now, tx)?;
        let rtt = now - p.sent_at.unwrap_or(now);
        if p.attempts == 1 && !p.handshake {
            self.rtt = Some(RttEstimate::update(self.rtt, rtt));
        }
        Some(Completed {
            rtt,
            context: p.context,
            peer: p.peer,
        })
    }

    fn finish(&mut self, now: Time, tx: TxId) -> Option<Pending<C>> {
        let p = self.pending.remove(&tx)?;
        self.deadlines.remove(&(p.deadline, tx));
        if p.sent_at.is_some() {
            // A slot frees up: the next queued request to this peer goes out.
            let next = self.queued.get_mut(&p.dst).and_then(VecDeque::pop_front);
            match next {
                Some(next) => {
                    if let Some(q) = self.pending.get(&next) {
                        debug_assert!(q.sent_at.is_none());
                    }
                    // The slot passes straight to the queued request.
                    if let Some(n) = self.in_flight.get_mut(&p.dst) {
                        *n -= 1;
                    }
                    self.send(now, next);
                }
                None => {
                    if let Some(n) = self.in_flight.get_mut(&p.dst) {
                        *n -= 1;
                        if *n == 0 {
                            self.in_flight.remove(&p.dst);
                        }
                    }
                }
            }
            if self.queued.get(&p.dst).is_some_and(VecDeque::is_empty) {
                self.queued.remove(&p.dst);
            }
        }
        Some(p)
    }

    /// The request `tx`, just sent for the first time, waits for a handshake with its
    /// peer before it goes out (beside the handshake's third message): its answer
    /// takes a round trip more, so it waits one first wait longer, and its answer is
    /// not measured as a round trip. (The handshake retries its own messages, and
    /// fails the peer's requests if it gives up.)
    pub fn awaits_handshake(&mut self, tx: TxId) {
        let Some(p) = self.pending.get_mut(&tx) else {
            return;
        };
        if p.attempts != 1 || p.handshake {
            return;
        }
        p.handshake = true;
        let extra = self.first_wait();
        let Some(p) = self.pending.get_mut(&tx) else {
            return;
        };
        self.deadlines.remove(&(p.deadline, tx));
        p.deadline = p.deadline + extra;
        self.deadlines.insert((p.deadline, tx));
    }

    /// Fails every request to `peer` at once (no session could be opened with it).
    pub fn fail_peer(&mut self, now: Time, peer: &NodeId, reason: RpcFailure) {
        let doomed: Vec<TxId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.peer == *peer)
            .map(|(tx, _)| *tx)
            .collect();
        for tx in doomed {
            if let Some(p) = self.finish(now, tx) {
                self.failures.push_back(Failed {
                    context: p.context,
                    peer: p.peer,
                    reason,
                });
            }
        }
    }

    /// Resends at once every request in flight to `peer` that has a retry left: the
    /// peer said it holds no session for the frames that carried them, so waiting
    /// for their timeout would only add a second of delay. The rest keep their timer.
    pub fn resend_peer(&mut self, now: Time, peer: &NodeId) {
        let lost: Vec<TxId> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.peer == *peer && p.sent_at.is_some() && p.attempts <= self.config.retries_max
            })
            .map(|(tx, _)| *tx)
            .collect();
        for tx in lost {
            self.send(now, tx);
        }
    }

    /// Resends requests whose timeout passed and fails those out of retries. A request
    /// resent for the first time is reported stalled ([`RpcManager::poll_stalled`]).
    pub fn handle_timeout(&mut self, now: Time)
    where
        C: Clone,
    {
        while let Some(&(deadline, tx)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            let Some(p) = self.pending.get(&tx) else {
                self.deadlines.pop_first();
                continue;
            };
            if p.attempts <= self.config.retries_max {
                if p.attempts == 1 {
                    self.stalls.push_back(Stalled {
                        context: p.context.clone(),
                        peer: p.peer,
                    });
                }
                self.send(now, tx);
            } else if let Some(p) = self.finish(now, tx) {
                self.failures.push_back(Failed {
                    context: p.context,
                    peer: p.peer,
                    reason: RpcFailure::Timeout,
                });
            }
        }
    }

    /// The next request to put on the wire. Changes after `start`, `handle_response`
    /// (a queued request gets a slot) and `handle_timeout` (retries).
    pub fn poll_send(&mut self) -> Option<Send> {
        self.sends.pop_front()
    }

    /// The next request whose first wait ran out unanswered (reported once; it goes on
    /// being resent). Changes after `handle_timeout`.
    pub fn poll_stalled(&mut self) -> Option<Stalled<C>> {
        self.stalls.pop_front()
    }

    /// The next request that failed. Changes after `handle_timeout`.
    pub fn poll_failure(&mut self) -> Option<Failed<C>> {
        self.failures.pop_front()
    }

    /// When the next resend or failure is due. Changes after every input.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.deadlines.first().map(|&(t, _)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn peer(i: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], i))
    }

    fn ms(n: u64) -> Time {
        Time::ZERO + Duration::from_millis(n)
    }

    #[test]
    fn the_wait_for_an_answer_follows_the_measured_round_trips() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rpc = RpcManager::new(RpcConfig::default());
        let id = NodeId([1; 32]);
        let mut ask = |rpc: &mut RpcManager<()>, at: u64| {
            let tx = rpc
                .start(ms(at), peer(1), id, Request::Ping, (), &mut rng)
                .unwrap();
            rpc.poll_send().unwrap();
            tx
        };
        assert_eq!(
            rpc.first_wait(),
            Duration::from_secs(1),
            "nothing measured yet"
        );
        // Round trips of 300 ms: the wait settles near them plus their variation.
        for round in 0..20 {
            let at = round * 1000;
            let tx = ask(&mut rpc, at);
            rpc.handle_response(ms(at + 300), peer(1), tx).unwrap();
        }
        let wait = rpc.first_wait();
        assert!(
            wait > Duration::from_millis(300) && wait < Duration::from_millis(400),
            "{wait:?}"
        );
        // Fast ones: never below the floor.
        for round in 20..60 {
            let at = round * 1000;
            let tx = ask(&mut rpc, at);
            rpc.handle_response(ms(at + 10), peer(1), tx).unwrap();
        }
        assert_eq!(rpc.first_wait(), Duration::from_millis(200));
        // The answer to a resent request is not measured (it may answer either send).
        let tx = ask(&mut rpc, 60_000);
        rpc.handle_timeout(ms(60_200));
        assert!(rpc.poll_send().unwrap().retry);
        rpc.handle_response(ms(60_900), peer(1), tx).unwrap();
        assert_eq!(rpc.first_wait(), Duration::from_millis(200));
        // A lost request is resent after the measured wait, then twice that.
        let tx = ask(&mut rpc, 70_000);
        assert_eq!(rpc.poll_timeout(), Some(ms(70_200)));
        rpc.handle_timeout(ms(70_200));
        assert_eq!(rpc.poll_send().map(|s| s.tx), Some(tx));
        assert_eq!(rpc.poll_timeout(), Some(ms(70_600)));
    }

    #[test]
    fn answered_request_reports_its_round_trip() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rpc = RpcManager::new(RpcConfig::default());
        let tx = rpc
            .start(
                ms(0),
                peer(1),
                NodeId([1; 32]),
                Request::Ping,
                "ping",
                &mut rng,
            )
            .unwrap();
        let send = rpc.poll_send().unwrap();
        assert_eq!((send.dst, send.tx, send.retry), (peer(1), tx, false));
        assert!(
            rpc.handle_response(ms(30), peer(2), tx).is_none(),
            "wrong source"
        );
        let done = rpc.handle_response(ms(40), peer(1), tx).unwrap();
        assert_eq!(
            (done.context, done.rtt),
            ("ping", Duration::from_millis(40))
        );
        assert!(
            rpc.handle_response(ms(50), peer(1), tx).is_none(),
            "duplicate"
        );
        assert_eq!(rpc.poll_timeout(), None);
    }

    #[test]
    fn retries_with_backoff_then_fails() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let config = RpcConfig {
            retries_max: 2,
            ..RpcConfig::default()
        };
        let mut rpc = RpcManager::new(config);
        let tx = rpc
            .start(ms(0), peer(1), NodeId([1; 32]), Request::Ping, 7, &mut rng)
            .unwrap();
        assert!(rpc.poll_send().is_some());
        assert_eq!(rpc.poll_timeout(), Some(ms(1000)));
        rpc.handle_timeout(ms(1000));
        let retry = rpc.poll_send().unwrap();
        assert!(retry.retry && retry.tx == tx);
        assert_eq!(rpc.poll_timeout(), Some(ms(3000)), "second wait is doubled");
        rpc.handle_timeout(ms(3000));
        assert!(rpc.poll_send().is_some());
        assert_eq!(rpc.poll_timeout(), Some(ms(7000)));
        rpc.handle_timeout(ms(7000));
        assert!(rpc.poll_send().is_none());
        let failed = rpc.poll_failure().unwrap();
        assert_eq!((failed.context, failed.reason), (7, RpcFailure::Timeout));
        assert_eq!(rpc.pending_len(), 0);
    }

    #[test]
    fn a_request_silent_past_its_first_wait_is_reported_stalled_once() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rpc = RpcManager::new(RpcConfig::default());
        let (one, two) = (NodeId([1; 32]), NodeId([2; 32]));
        let slow = rpc
            .start(ms(0), peer(1), one, Request::Ping, 1, &mut rng)
            .unwrap();
        let quick = rpc
            .start(ms(0), peer(2), two, Request::Ping, 2, &mut rng)
            .unwrap();
        while rpc.poll_send().is_some() {}
        rpc.handle_response(ms(400), peer(2), quick).unwrap();
        rpc.handle_timeout(ms(999));
        assert!(rpc.poll_stalled().is_none(), "within its first wait");
        rpc.handle_timeout(ms(1000));
        let stalled = rpc.poll_stalled().expect("its first wait ran out");
        assert_eq!((stalled.context, stalled.peer), (1, one));
        assert!(rpc.poll_send().unwrap().retry, "and it is resent");
        rpc.handle_timeout(ms(3000));
        assert!(rpc.poll_send().unwrap().retry);
        assert!(rpc.poll_stalled().is_none(), "reported once");
        // Its answer still comes through.
        assert_eq!(
            rpc.handle_response(ms(3100), peer(1), slow)
                .map(|c| c.context),
            Some(1)
        );
    }

    #[test]
    fn a_peer_that_lost_our_session_gets_its_requests_again_at_once() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let config = RpcConfig {
            retries_max: 1,
            ..RpcConfig::default()
        };
        let mut rpc = RpcManager::new(config);
        let (one, two) = (NodeId([1; 32]), NodeId([2; 32]));
        let tx = rpc
            .start(ms(0), peer(1), one, Request::Ping, 1, &mut rng)
            .unwrap();
        rpc.start(ms(0), peer(2), two, Request::Ping, 2, &mut rng)
            .unwrap();
        while rpc.poll_send().is_some() {}
        rpc.resend_peer(ms(100), &one);
        let again = rpc.poll_send().unwrap();
        assert!(again.retry && again.tx == tx && again.peer == one);
        assert!(rpc.poll_send().is_none(), "only the peer that lost it");
        assert_eq!(
            rpc.poll_timeout(),
            Some(ms(1000)),
            "the other request keeps its timer"
        );
        rpc.handle_timeout(ms(1000));
        rpc.poll_send().unwrap();
        rpc.resend_peer(ms(1100), &one);
        assert!(
            rpc.poll_send().is_none(),
            "out of retries: the timer fails it"
        );
        rpc.handle_timeout(ms(2100));
        assert_eq!(rpc.poll_failure().map(|f| f.context), Some(1));
    }

    #[test]
    fn requests_beyond_pending_max_are_refused_and_counted() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let config = RpcConfig {
            pending_max: 3,
            ..RpcConfig::default()
        };
        let mut rpc = RpcManager::new(config);
        for i in 0..3 {
            rpc.start(ms(0), peer(i), NodeId([1; 32]), Request::Ping, i, &mut rng)
                .unwrap();
        }
        let refused = rpc.start(ms(0), peer(9), NodeId([1; 32]), Request::Ping, 9, &mut rng);
        assert_eq!(refused, Err(9));
        assert_eq!(rpc.refused_full(), 1);
        // A finished request makes room.
        let sent = rpc.poll_send().unwrap();
        assert!(rpc.handle_response(ms(5), sent.dst, sent.tx).is_some());
        assert!(rpc
            .start(ms(5), peer(9), NodeId([1; 32]), Request::Ping, 9, &mut rng)
            .is_ok());
    }

    #[test]
    fn per_peer_limit_queues_then_refuses() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let config = RpcConfig {
            in_flight_per_peer_max: 2,
            queued_per_peer_max: 1,
            ..RpcConfig::default()
        };
        let mut rpc = RpcManager::new(config);
        let a = rpc
            .start(ms(0), peer(1), NodeId([1; 32]), Request::Ping, 1, &mut rng)
            .unwrap();
        rpc.start(ms(0), peer(1), NodeId([1; 32]), Request::Ping, 2, &mut rng)
            .unwrap();
        let c = rpc
            .start(ms(0), peer(1), NodeId([1; 32]), Request::Ping, 3, &mut rng)
            .unwrap();
        assert_eq!(
            rpc.start(ms(0), peer(1), NodeId([1; 32]), Request::Ping, 4, &mut rng),
            Err(4)
        );
        // Another peer is not affected.
        rpc.start(ms(0), peer(2), NodeId([2; 32]), Request::Ping, 5, &mut rng)
            .unwrap();
        let sent: Vec<_> = std::iter::from_fn(|| rpc.poll_send()).collect();
        assert_eq!(sent.len(), 3, "two to peer 1, one to peer 2");
        // A queued request is not answerable before it is sent.
        assert!(rpc.handle_response(ms(1), peer(1), c).is_none());
        rpc.handle_response(ms(10), peer(1), a).unwrap();
        let next = rpc.poll_send().unwrap();
        assert_eq!(next.tx, c, "the queued request takes the freed slot");
        assert!(rpc.handle_response(ms(20), peer(1), c).is_some());
    }

    #[test]
    fn failing_a_peer_fails_its_requests_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rpc = RpcManager::new(RpcConfig::default());
        rpc.start(ms(0), peer(1), NodeId([1; 32]), Request::Ping, 1, &mut rng)
            .unwrap();
        rpc.start(ms(0), peer(1), NodeId([1; 32]), Request::Ping, 2, &mut rng)
            .unwrap();
        rpc.start(ms(0), peer(2), NodeId([2; 32]), Request::Ping, 3, &mut rng)
            .unwrap();
        rpc.fail_peer(ms(5), &NodeId([1; 32]), RpcFailure::Unreachable);
        let mut failed: Vec<_> = std::iter::from_fn(|| rpc.poll_failure())
            .map(|f| (f.context, f.reason))
            .collect();
        failed.sort_by_key(|(context, _)| *context);
        assert_eq!(
            failed,
            vec![(1, RpcFailure::Unreachable), (2, RpcFailure::Unreachable)]
        );
        assert_eq!(rpc.pending_len(), 1);
    }
}
