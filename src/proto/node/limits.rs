//! [`Limits`]: what a remote peer can make a [`Node`](super::Node) spend, bounded.
//!
//! The node-level bounds live here: the rate of requests one peer may ask of the node
//! ([`RequestRates`], a token bucket per session peer on the node's own clock), the
//! requests buffered while handshakes run ([`Waiting`]), the beacon senders probed
//! at once, the signature checks of unsolicited beacons ([`BeaconChecks`], in all and
//! per address block), and which handed-over contacts may be dialled at all
//! ([`dialable`]). Each breach is refused and counted in [`Stats`](super::Stats).
//!
//! The other bounds belong to the sub-machine they bound:
//!
//! | bound | where | default |
//! |---|---|---|
//! | half-open handshakes, in all and per source host (a hello's HMAC is checked first) | [`SessionConfig::half_open_max`](crate::proto::session::SessionConfig::half_open_max), [`half_open_per_source_max`](crate::proto::session::SessionConfig::half_open_per_source_max) | 1,024 (the oldest gives way to a new hello); 16 |
//! | hole punches for one peer (relayed sessions only) | [`PUNCH_PERIOD`](super::traversal::PUNCH_PERIOD) | one per 30 s |
//! | open sessions (least recently used closed beyond) | [`SessionConfig::sessions_max`](crate::proto::session::SessionConfig::sessions_max) | 4,096 |
//! | sessions per peer | fixed | 2 |
//! | requests tracked, per peer address and in all | [`RpcConfig`](crate::proto::rpc::RpcConfig) | 8 in flight + 32 queued; 4,096 |
//! | contacts per bucket, replacements per bucket | [`TableConfig`](crate::proto::table::TableConfig) | 20; 20 |
//! | contacts per address block, per bucket and per table | [`TableConfig`](crate::proto::table::TableConfig) | 2; 10 |
//! | records held, in all and per writer | [`StoreConfig`](crate::proto::store::StoreConfig) | 65,536; 1,024 |
//!
//! What the node keeps for its own commands (queries, records it publishes) grows with
//! what its application asks, not with what the network sends.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::Node;
use crate::proto::id::NodeId;
use crate::proto::table::IpBlock;
use crate::proto::time::Time;
use crate::proto::wire::Message;

/// The node-level bounds on what remote peers can make a node spend. Every default
/// leaves an honest swarm alone: an honest peer asks a few requests at a time (α = 3
/// per lookup, at most 8 in flight per address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second one session peer may ask, on average. 50 by default: an
    /// honest peer's lookups, refreshes and record fan-outs ask one node a handful.
    /// Requests over the rate get no answer and count as `requests_rate_limited`.
    pub requests_per_peer_rate: u32,
    /// Requests one session peer may ask in a burst above the rate. 100 by default:
    /// a bootstrap's refresh walk asks a bootstrap node a few dozen in a second.
    pub requests_per_peer_burst: u32,
    /// Requests held for one peer while its handshake runs; beyond this they are not
    /// held (`requests_not_buffered`) and time out or go out with a retry. 64 by
    /// default, at most about 75 KiB of the largest requests.
    pub waiting_per_peer_max: usize,
    /// Bytes of requests held while handshakes run, for all peers. 1 MiB by default.
    pub waiting_bytes_max: usize,
    /// Beacon senders probed at once (a ping in a fresh session each). 256 by
    /// default: a new node on a busy segment probes a few dozen at a time. Beacons of
    /// strangers beyond it are not probed (`probes_refused`); their next beacon (5 s
    /// to 80 s later, as the sender's Trickle interval grows) may be.
    pub probes_max: usize,
    /// Relay notices per second one session peer may have this node forward (as a
    /// relay) or take (from a relay), on average. 2,000 by default, about 2 MB/s of
    /// sealed frames: a relayed stream moves its bytes through it, where requests are
    /// a handful. Forwarding sends one datagram for each one received, of about the
    /// same size, so this bounds a relay's work per sender, not an amplification.
    /// Notices over it are dropped (`relay_rate_limited`); a stream's loss recovery
    /// then slows it down.
    pub relay_per_peer_rate: u32,
    /// Relay notices one session peer may send in a burst above the rate. 4,000 by
    /// default.
    pub relay_per_peer_burst: u32,
    /// Signature checks of unsolicited beacons per second, in all (a second's worth
    /// may come at once). 1,000 by default, about 5 % of a core: a new node on a
    /// segment of a thousand checks every stranger's first beacon within a second. Beacons beyond it are
    /// dropped unchecked (`beacons_over_budget`), so forged ones cost a bounded share.
    pub beacon_checks_per_second: u32,
    /// Of those, the most one address block may have (see
    /// [`TableConfig::block_prefix_v4`](crate::proto::table::TableConfig::block_prefix_v4)).
    /// 20 by default: one host beacons once per interval, a few hosts behind one
    /// prefix a few times. Loopback senders (a swarm on one host) have no block.
    pub beacon_checks_per_block: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_peer_rate: 50,
            requests_per_peer_burst: 100,
            relay_per_peer_rate: 2000,
            relay_per_peer_burst: 4000,
            waiting_per_peer_max: 64,
            waiting_bytes_max: 1 << 20,
            probes_max: 256,
            beacon_checks_per_second: 1000,
            beacon_checks_per_block: 20,
        }
    }
}

/// One peer's token bucket, in millionths of a request.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: u64,
    at: Time,
}

impl Bucket {
    /// The level at `now`: what it was at `at` plus the refill at `rate` a second
    /// since, at most `capacity`.
    fn level_at(&self, now: Time, rate: u32, capacity: u64) -> u64 {
        let elapsed = now.saturating_since(self.at).as_micros();
        let refill = elapsed.saturating_mul(u128::from(rate));
        let refill = u64::try_from(refill).unwrap_or(u64::MAX);
        self.level.saturating_add(refill).min(capacity)
    }
}

/// A token bucket per session peer: how many requests each may still ask.
///
/// A bucket that has filled up again says nothing a missing one does not (a peer
/// without one starts full), so the map holds, give or take, the peers that asked
/// within the last refill time (two seconds by default), not every peer with a
/// session: whenever it has doubled since the last sweep, full buckets are dropped.
/// Entries exist only for peers with an open session: the node forgets a peer when
/// its session closes, and when the map reaches `sessions_max` it drops full
/// buckets, then the entries of closed sessions, then the oldest refilled.
#[derive(Debug, Default)]
pub(super) struct RequestRates {
    buckets: BTreeMap<NodeId, Bucket>,
    /// The size at which the map is next swept for full buckets.
    sweep_at: usize,
}

const MICRO: u64 = 1_000_000;

/// The smallest map swept for full buckets: below it, a sweep costs more than the
/// memory it gives back.
const SWEEP_MIN: usize = 32;

impl RequestRates {
    /// Heap bytes of the buckets held.
    pub(super) fn heap_bytes(&self) -> usize {
        crate::proto::footprint::btree::<NodeId, Bucket>(self.buckets.len())
    }

    /// Whether `peer` may ask one more request at `now`; takes its token if so.
    /// `is_open` tells which peers still have a session, `max` how many entries the
    /// map may hold.
    pub(super) fn admit(
        &mut self,
        now: Time,
        peer: NodeId,
        limits: &Limits,
        max: usize,
        is_open: impl Fn(&NodeId) -> bool,
    ) -> bool {
        let (rate, burst) = (
            limits.requests_per_peer_rate,
            limits.requests_per_peer_burst,
        );
        self.admit_at(now, peer, (rate, burst), max, is_open)
    }

    /// [`RequestRates::admit`] at `rate` a second with bursts of `burst`.
    pub(super) fn admit_at(
        &mut self,
        now: Time,
        peer: NodeId,
        (rate, burst): (u32, u32),
        max: usize,
        is_open: impl Fn(&NodeId) -> bool,
    ) -> bool {
        let capacity = u64::from(burst.max(1)) * MICRO;
        let new = !self.buckets.contains_key(&peer);
        if new && self.buckets.len() >= self.sweep_at.min(max.max(1)) {
            // Every sweep halves what it leaves to grow before the next: amortised,
            // a constant per request.
            self.buckets
                .retain(|_, bucket| bucket.level_at(now, rate, capacity) < capacity);
            self.sweep_at = (2 * self.buckets.len()).max(SWEEP_MIN);
        }
        if new && self.buckets.len() >= max.max(1) {
            self.buckets.retain(|p, _| is_open(p));
            if self.buckets.len() >= max.max(1) {
                // Every entry has a session: the oldest refilled goes.
                if let Some(oldest) = self.buckets.iter().min_by_key(|(_, b)| b.at) {
                    let oldest = *oldest.0;
                    self.buckets.remove(&oldest);
                }
            }
        }
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            level: capacity,
            at: now,
        });
        bucket.level = bucket.level_at(now, rate, capacity);
        bucket.at = now;
        if bucket.level < MICRO {
            return false;
        }
        bucket.level -= MICRO;
        true
    }

    /// `peer`'s session closed.
    pub(super) fn forget(&mut self, peer: &NodeId) {
        self.buckets.remove(peer);
    }

    /// Peers tracked.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.buckets.len()
    }
}

/// The most address blocks [`BeaconChecks`] tracks; at the bound, blocks whose
/// budget has refilled are forgotten, and if none has, beacons of new blocks wait.
const BEACON_BLOCKS_MAX: usize = 1024;

/// The budget of signature checks of unsolicited beacons: a token bucket for all,
/// and one per address block ([`Limits::beacon_checks_per_second`],
/// [`Limits::beacon_checks_per_block`]). Loopback senders, which have no block (a
/// swarm on one host is not a Sybil attack on itself), draw on the budget in all only.
#[derive(Debug, Default)]
pub(super) struct BeaconChecks {
    all: Option<Bucket>,
    blocks: BTreeMap<IpBlock, Bucket>,
}

impl BeaconChecks {
    /// Whether a beacon from `block` may have its signature checked at `now`; takes
    /// one check from both budgets if so.
    pub(super) fn admit(&mut self, now: Time, block: Option<IpBlock>, limits: &Limits) -> bool {
        let all_rate = limits.beacon_checks_per_second.max(1);
        let block_rate = limits.beacon_checks_per_block.max(1).min(all_rate);
        let (all_capacity, block_capacity) =
            (u64::from(all_rate) * MICRO, u64::from(block_rate) * MICRO);
        let tracked = block.is_none_or(|block| self.blocks.contains_key(&block));
        if !tracked && self.blocks.len() >= BEACON_BLOCKS_MAX {
            self.blocks
                .retain(|_, b| b.level_at(now, block_rate, block_capacity) < block_capacity);
            if self.blocks.len() >= BEACON_BLOCKS_MAX {
                return false;
            }
        }
        let full = |capacity| Bucket {
            level: capacity,
            at: now,
        };
        let all = self.all.get_or_insert(full(all_capacity));
        let all_level = all.level_at(now, all_rate, all_capacity);
        let mut one = block.map(|block| self.blocks.entry(block).or_insert(full(block_capacity)));
        let block_level = one
            .as_ref()
            .map_or(MICRO, |one| one.level_at(now, block_rate, block_capacity));
        if all_level < MICRO || block_level < MICRO {
            return false;
        }
        if let Some(one) = one.as_mut() {
            **one = Bucket {
                level: block_level - MICRO,
                at: now,
            };
        }
        *all = Bucket {
            level: all_level - MICRO,
            at: now,
        };
        true
    }

    /// Heap bytes of the blocks tracked.
    pub(super) fn heap_bytes(&self) -> usize {
        crate::proto::footprint::btree::<IpBlock, Bucket>(self.blocks.len())
    }
}

/// Whether a contact another node handed over (in an answer, or as a beacon's
/// sender) may be dialled by a node at `own`: not an unspecified, multicast or
/// broadcast address, not port 0, and loopback only when the node itself is on
/// loopback (a swarm on one host). Anything else would make this node send handshakes
/// where no peer can be, or at a third party of the sender's choosing.
pub(super) fn dialable(addr: &SocketAddr, own: Option<SocketAddr>) -> bool {
    let ip = addr.ip();
    let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
    let loopback_elsewhere = ip.is_loopback() && own.is_some_and(|own| !own.ip().is_loopback());
    !(addr.port() == 0
        || ip.is_unspecified()
        || ip.is_multicast()
        || broadcast
        || loopback_elsewhere)
}

/// Requests held for peers whose handshake runs, with their encoded sizes.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    by_peer: BTreeMap<NodeId, Vec<(Message, usize)>>,
    bytes: usize,
}

impl Waiting {
    /// Heap bytes of the requests held, inline.
    pub(super) fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::{btree, vec};
        btree::<NodeId, Vec<(Message, usize)>>(self.by_peer.len())
            + self.by_peer.values().map(vec).sum::<usize>()
    }

    /// Holds `message` (of `len` encoded bytes) for `peer` unless the limits say no;
    /// a retry of a request already held is fine and adds nothing.
    pub(super) fn push(
        &mut self,
        peer: NodeId,
        message: Message,
        len: usize,
        limits: &Limits,
    ) -> bool {
        let held = self.by_peer.get(&peer);
        let retry = |m: &Message| m.tx().is_some() && m.tx() == message.tx();
        if held.is_some_and(|w| w.iter().any(|(m, _)| retry(m))) {
            return true;
        }
        if held.is_some_and(|w| w.len() >= limits.waiting_per_peer_max)
            || self.bytes.saturating_add(len) > limits.waiting_bytes_max
        {
            return false;
        }
        self.bytes += len;
        self.by_peer.entry(peer).or_default().push((message, len));
        true
    }

    /// Everything held for `peer`, in order; it is no longer held.
    /// Whether nothing is held for `peer`.
    pub(super) fn is_empty_for(&self, peer: &NodeId) -> bool {
        !self.by_peer.contains_key(peer)
    }

    pub(super) fn take(&mut self, peer: &NodeId) -> Vec<Message> {
        let held = self.by_peer.remove(peer).unwrap_or_default();
        self.bytes -= held.iter().map(|(_, len)| len).sum::<usize>();
        held.into_iter().map(|(m, _)| m).collect()
    }

    /// Bytes held, for all peers.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Node {
    /// Whether `peer` may ask one more request now (see [`Limits::requests_per_peer_rate`]);
    /// counts the refusal if not.
    pub(super) fn admit_request(&mut self, now: Time, peer: NodeId) -> bool {
        let sessions = &self.sessions;
        let admitted = self.rates.admit(
            now,
            peer,
            &self.config.limits,
            self.config.sessions.sessions_max,
            |p| sessions.is_open(p),
        );
        if !admitted {
            self.stats.requests_rate_limited += 1;
            tracing::debug!(%peer, "request over the peer's rate");
        }
        admitted
    }

    /// Whether `peer` may have one more relay notice forwarded or taken now (see
    /// [`Limits::relay_per_peer_rate`]); counts the refusal if not.
    pub(super) fn admit_relay(&mut self, now: Time, peer: NodeId) -> bool {
        let sessions = &self.sessions;
        let limits = &self.config.limits;
        let admitted = self.relay_rates.admit_at(
            now,
            peer,
            (limits.relay_per_peer_rate, limits.relay_per_peer_burst),
            self.config.sessions.sessions_max,
            |p| sessions.is_open(p),
        );
        if !admitted {
            self.stats.relay_rate_limited += 1;
        }
        admitted
    }

    /// Whether a beacon's sender `id` at `addr` may be probed: fewer than
    /// [`Limits::probes_max`] probes are out and its address block has room in the
    /// table. Counts the refusal if not.
    pub(super) fn may_probe(&mut self, id: &NodeId, addr: &SocketAddr) -> bool {
        if self.probing.len() >= self.config.limits.probes_max {
            self.stats.probes_refused += 1;
            return false;
        }
        if !self.table.block_has_room_for(id, addr) {
            self.stats.contacts_refused_block += 1;
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_beacons_of_one_block_spend_its_budget_and_leave_the_others_theirs() {
        let limits = Limits::default();
        let mut checks = BeaconChecks::default();
        let now = Time::ZERO;
        let block = |last: u8| IpBlock::of(&SocketAddr::from(([10, 0, 0, last], 1)), 32, 64);
        let one_block = (0..1000)
            .filter(|_| checks.admit(now, block(1), &limits))
            .count();
        assert_eq!(one_block, 20, "a burst of one block's worth");
        assert!(
            checks.admit(now, block(2), &limits),
            "another block is untouched"
        );
        // Many blocks at once: the budget in all holds.
        let all = (3..=255)
            .flat_map(|last| (0..20).map(move |_| last))
            .filter(|&last| checks.admit(now, block(last), &limits))
            .count();
        assert_eq!(all + 21, 1000);
        // Loopback has no block: a swarm on one host only meets the budget in all.
        let mut checks = BeaconChecks::default();
        let loopback = IpBlock::of(&SocketAddr::from(([127, 0, 0, 1], 1)), 32, 64);
        let on_one_host = (0..2000)
            .filter(|_| checks.admit(now, loopback, &limits))
            .count();
        assert_eq!(on_one_host, 1000);
        // A second later each has its rate back.
        let later = now + std::time::Duration::from_secs(1);
        assert!(checks.admit(later, block(1), &limits));
    }

    #[test]
    fn contacts_that_point_where_no_peer_can_be_are_not_dialled() {
        let lan: Option<SocketAddr> = Some("10.0.0.1:7000".parse().unwrap());
        let host: Option<SocketAddr> = Some("127.0.0.1:7000".parse().unwrap());
        for refused in [
            "0.0.0.0:7000",
            "[::]:7000",
            "10.0.0.2:0",
            "224.0.0.251:5353",
            "239.255.77.77:17760",
            "[ff02::1]:7000",
            "255.255.255.255:7000",
            "127.0.0.1:7000",
            "[::1]:7000",
        ] {
            let addr: SocketAddr = refused.parse().unwrap();
            assert!(!dialable(&addr, lan), "{addr} from a LAN node");
        }
        for fine in ["10.0.0.2:7000", "192.0.2.7:9", "[2001:db8::1]:7000"] {
            let addr: SocketAddr = fine.parse().unwrap();
            assert!(dialable(&addr, lan), "{addr}");
        }
        // A swarm on one host lives on loopback.
        let peer: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        assert!(dialable(&peer, host));
        assert!(!dialable(&"127.0.0.1:0".parse().unwrap(), host));
    }
    use crate::proto::wire::{Request, TxId};
    use std::time::Duration;

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn a_peer_gets_its_burst_then_the_rate() {
        let limits = Limits::default();
        let mut rates = RequestRates::default();
        let peer = NodeId([1; 32]);
        let admitted = (0..150)
            .filter(|_| rates.admit(at(0), peer, &limits, 10, |_| true))
            .count();
        assert_eq!(admitted, 100, "the burst");
        // 50 per second: one every 20 ms.
        assert!(!rates.admit(at(19), peer, &limits, 10, |_| true));
        assert!(rates.admit(at(20), peer, &limits, 10, |_| true));
        let admitted = (0..100)
            .filter(|_| rates.admit(at(1020), peer, &limits, 10, |_| true))
            .count();
        assert_eq!(admitted, 50, "a second later, a second's worth");
        // Another peer has a bucket of its own.
        assert!(rates.admit(at(1020), NodeId([2; 32]), &limits, 10, |_| true));
    }

    #[test]
    fn the_map_holds_at_most_max_peers() {
        let limits = Limits::default();
        let mut rates = RequestRates::default();
        for i in 0..50u8 {
            rates.admit(at(u64::from(i)), NodeId([i; 32]), &limits, 8, |p| {
                p.0[0] % 2 == 0
            });
            assert!(rates.len() <= 8);
        }
    }

    #[test]
    fn buckets_that_filled_up_again_are_dropped_and_the_rest_kept() {
        let limits = Limits::default();
        let mut rates = RequestRates::default();
        let drained = NodeId([0; 32]);
        let admitted = (0..150)
            .filter(|_| rates.admit(at(0), drained, &limits, 4096, |_| true))
            .count();
        assert_eq!(admitted, 100);
        // A hundred peers ask one request each: their buckets are one short of full,
        // and held.
        for i in 1..=100u8 {
            assert!(rates.admit(at(0), NodeId([i; 32]), &limits, 4096, |_| true));
        }
        assert_eq!(rates.len(), 101);
        // 1.5 s on, every one of them is full again (a request refills in 20 ms); the
        // drained one is not. Newcomers make the map double, and the full ones go.
        for i in 101..=140u8 {
            assert!(rates.admit(at(1500), NodeId([i; 32]), &limits, 4096, |_| true));
        }
        assert!(rates.len() <= 1 + 40, "the drained peer and the newcomers");
        // The drained bucket kept its level: 1.5 s of refill is 75 requests.
        let admitted = (0..100)
            .filter(|_| rates.admit(at(1500), drained, &limits, 4096, |_| true))
            .count();
        assert_eq!(admitted, 75);
        // A dropped peer comes back to a full bucket, as if it had been kept.
        let admitted = (0..150)
            .filter(|_| rates.admit(at(1500), NodeId([1; 32]), &limits, 4096, |_| true))
            .count();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn waiting_is_bounded_per_peer_and_in_bytes() {
        let limits = Limits {
            waiting_per_peer_max: 2,
            waiting_bytes_max: 250,
            ..Limits::default()
        };
        let mut waiting = Waiting::default();
        let message = |tx| Message::Request {
            tx: TxId(tx),
            request: Request::Ping,
        };
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        assert!(waiting.push(a, message(1), 100, &limits));
        assert!(
            waiting.push(a, message(1), 100, &limits),
            "a retry adds nothing"
        );
        assert!(waiting.push(a, message(2), 100, &limits));
        assert!(!waiting.push(a, message(3), 10, &limits), "two per peer");
        assert!(
            !waiting.push(b, message(4), 100, &limits),
            "250 bytes in all"
        );
        assert!(waiting.push(b, message(5), 50, &limits));
        assert_eq!(waiting.bytes(), 250);
        assert_eq!(waiting.take(&a).len(), 2);
        assert_eq!(waiting.bytes(), 50);
        assert!(waiting.take(&a).is_empty());
    }
}
