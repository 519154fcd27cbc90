//! [`Discovery`]: signed multicast beacons.
//!
//! In: the clock ([`Discovery::handle_timeout`]) and beacons that arrived
//! ([`Discovery::handle_beacon`]). Out: a signed [`Beacon`] for the segment's multicast
//! group, and for each beacon received either the peer it announces or the reason it
//! was dropped.
//!
//! Beacons follow Trickle (RFC 6206): the first comes at a seeded moment of the first
//! `beacon_interval` (so that a thousand nodes started together do not beacon in the
//! same instant), and each interval after a beacon is twice the last, ±10 %, up to
//! `beacon_interval_max`. A segment that knows itself costs little: every beacon
//! reaches every member, so at a fixed interval a segment of n nodes would cost n²
//! deliveries per interval forever. A newcomer still beacons fast at first, and the
//! members that hear it dial it; [`Discovery::reset`] starts over at the short
//! interval when the node has lost its peers.
//!
//! Doubling alone still leaves every member beaconing to every other: n² deliveries
//! per long interval, 1.5 M per 80 s on a segment of 1,250. So beacons are also
//! suppressed as in Trickle: a node that has peers and has heard `beacon_redundancy`
//! beacons of its swarm ([`Discovery::heard`]) since its last beacon time skips its
//! own, and the segment carries about `beacon_redundancy` beacons per interval
//! whatever its size.
//!
//! The first beacon too (listen first): a node that started with peers (bootstrap
//! nodes) or found some by dialling the beacons it heard, on a segment that carried
//! `beacon_redundancy` beacons since it started, stays quiet. Every node of a busy
//! segment announcing itself once is still n² deliveries: 12.5 M in the first seconds
//! of 10,000 nodes on 8 segments. The quiet newcomer is known to the beaconers it
//! dialled and, through its self-lookup, to its neighbourhood; the node starts that
//! self-lookup itself when beacons bring its first peer and it has no bootstrap
//! nodes. A node without peers always beacons. Valid beacons from many identities
//! can keep a newcomer quiet, but not cut it off: it still dials them and looks
//! itself up.
//!
//! A beacon is accepted only if it carries this swarm's network tag, is its sender's
//! valid signature, is not the node's own, and its timestamp is within
//! `beacon_max_age` of the receiver's wall clock (either way, to tolerate skew).
//! Networks without multicast use the node's bootstrap list instead.

use std::net::SocketAddr;
use std::time::Duration;

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::crypto::Crypto;
use super::id::NodeId;
use super::identity::Identity;
use super::time::Time;
use super::wire::{Beacon, NETWORK_TAG_LEN};

/// Tunables of discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Where beacons go; `None` turns beaconing off (bootstrap lists only).
    pub multicast_group: Option<SocketAddr>,
    /// Mean time to the first beacon, and between the first two (Trickle's Imin).
    pub beacon_interval: Duration,
    /// The longest mean time between two beacons (Trickle's Imax): intervals double
    /// from `beacon_interval` up to this.
    pub beacon_interval_max: Duration,
    /// Beacons whose timestamp is further than this from the local wall clock are
    /// stale (replays, or clocks too far apart).
    pub beacon_max_age: Duration,
    /// Trickle's redundancy constant k: a node with peers skips a beacon once it has
    /// heard this many since its last beacon time. 0 never skips.
    pub beacon_redundancy: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            multicast_group: None,
            beacon_interval: Duration::from_secs(5),
            beacon_interval_max: Duration::from_secs(80),
            beacon_max_age: Duration::from_secs(60),
            beacon_redundancy: 3,
        }
    }
}

/// Why a beacon was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeaconRejected {
    /// Our own beacon, looped back.
    Own,
    /// Another swarm's network tag.
    ForeignNetwork,
    /// Timestamp too far from our wall clock.
    Stale,
    /// The signature does not verify for the claimed id.
    Forged,
}

/// The network tag of a network key: public, and cheap to compare.
pub fn network_tag(network_key: &[u8; 32]) -> [u8; NETWORK_TAG_LEN] {
    let digest = Sha256::new()
        .chain_update(b"dswarm-network-tag-v1")
        .chain_update(network_key)
        .finalize();
    let mut tag = [0u8; NETWORK_TAG_LEN];
    tag.copy_from_slice(&digest[..NETWORK_TAG_LEN]);
    tag
}

/// Beacon timing and checks for one node.
#[derive(Clone, Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    network_tag: [u8; NETWORK_TAG_LEN],
    next_beacon: Option<Time>,
    /// The interval after the next beacon, before jitter.
    interval: Duration,
    /// The last beacon signed: answering a flood of `Who`s within one second costs
    /// one signature, not one each.
    signed: Option<Beacon>,
    /// Beacons of this swarm heard since the start or the last beacon time
    /// (Trickle's counter c).
    heard: u32,
}

/// What a due beacon time brings: a beacon to send, or a beacon skipped because the
/// segment is already heard enough.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BeaconDue {
    /// Send this to the group.
    Send(Beacon),
    /// Skipped: `beacon_redundancy` beacons were heard since the last beacon time.
    Suppressed,
}

impl Discovery {
    /// Starts beaconing (if a group is configured) at a random moment of the first
    /// interval.
    pub fn new(
        now: Time,
        config: DiscoveryConfig,
        network_tag: [u8; NETWORK_TAG_LEN],
        rng: &mut impl RngCore,
    ) -> Discovery {
        let next_beacon = config
            .multicast_group
            .map(|_| now + fraction(config.beacon_interval, rng.next_u32()));
        Discovery {
            interval: config.beacon_interval,
            config,
            network_tag,
            next_beacon,
            signed: None,
            heard: 0,
        }
    }

    /// Back to the short interval: the next beacon within `beacon_interval` (at a
    /// seeded moment of it), unless one is due sooner. For a node that has lost every
    /// peer and must be heard again.
    pub fn reset(&mut self, now: Time, rng: &mut impl RngCore) {
        let Some(due) = self.next_beacon else {
            return;
        };
        self.interval = self.config.beacon_interval;
        self.heard = 0;
        let soon = now + fraction(self.config.beacon_interval, rng.next_u32());
        self.next_beacon = Some(due.min(soon));
    }

    /// The multicast group beacons go to.
    pub fn group(&self) -> Option<SocketAddr> {
        self.config.multicast_group
    }
}

/// The multicast mailbox of the node with key `id` (mp2p's self-chosen address), in
/// the family of the beacon group `beacons` and on its port: a group derived from the
/// key in the organisation-local scope 239.193.0.0/16 for IPv4, or in the transient
/// global scope ff1e::/16 for IPv6 (as mp2p: the group's low 112 bits from the key).
/// Anyone who knows the key can send a handshake there; two keys may share a group
/// (IPv4 has only 2^16), and the handshake tells their owners apart.
///
/// The family follows the beacon group because a node listens for both on sockets of
/// one family: a node of the other family derives the other group, and reaches this
/// one's mailbox only where it speaks this node's family.
pub fn mailbox_group(id: &NodeId, beacons: SocketAddr) -> SocketAddr {
    let digest = Sha256::new()
        .chain_update(b"dswarm-mailbox-v1")
        .chain_update(id.as_bytes())
        .finalize();
    let ip: std::net::IpAddr = match beacons {
        SocketAddr::V4(_) => std::net::Ipv4Addr::new(239, 193, digest[0], digest[1]).into(),
        SocketAddr::V6(_) => {
            let mut octets = [0u8; 16];
            octets[..2].copy_from_slice(&[0xff, 0x1e]);
            octets[2..].copy_from_slice(&digest[..14]);
            std::net::Ipv6Addr::from(octets).into()
        }
    };
    SocketAddr::new(ip, beacons.port())
}

impl Discovery {
    /// When the next beacon is due. Changes after `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.next_beacon
    }

    /// Counts a beacon of this swarm from another node: one whose sender is known at
    /// its address, or whose signature was checked. (Unchecked strangers do not count,
    /// or anyone could silence a segment by spraying beacons.)
    pub fn heard(&mut self) {
        self.heard = self.heard.saturating_add(1);
    }

    /// What is due at `now`: a beacon signed by `identity` with the wall clock
    /// `unix_secs`, or its suppression when `has_peers` and the segment was heard
    /// enough; schedules the next beacon time either way.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_timeout(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        unix_secs: u64,
        identity: &Identity,
        port: u16,
        has_peers: bool,
        rng: &mut impl RngCore,
    ) -> Option<BeaconDue> {
        let due = self.next_beacon?;
        if now < due {
            return None;
        }
        // 90 %..110 % of the interval, which then doubles up to the maximum.
        let interval = self.interval;
        let jitter = fraction(interval / 5, rng.next_u32());
        self.next_beacon = Some(now + interval - interval / 10 + jitter);
        self.interval = (interval * 2)
            .min(self.config.beacon_interval_max)
            .max(self.config.beacon_interval);
        let heard = std::mem::take(&mut self.heard);
        let redundancy = self.config.beacon_redundancy;
        if has_peers && redundancy > 0 && heard >= redundancy {
            return Some(BeaconDue::Suppressed);
        }
        Some(BeaconDue::Send(
            self.beacon(crypto, unix_secs, identity, port),
        ))
    }

    /// A signed beacon for now, outside the schedule: the answer to a `Who`.
    pub fn beacon(
        &mut self,
        crypto: &dyn Crypto,
        unix_secs: u64,
        identity: &Identity,
        port: u16,
    ) -> Beacon {
        if let Some(beacon) = &self.signed {
            if beacon.unix_secs == unix_secs && beacon.port == port && beacon.id == identity.id() {
                return beacon.clone();
            }
        }
        let id = identity.id();
        let signed = Beacon::signed_bytes(&id, port, unix_secs, &self.network_tag);
        let beacon = Beacon {
            id,
            port,
            unix_secs,
            network_tag: self.network_tag,
            signature: crypto.sign(identity, &signed),
        };
        self.signed = Some(beacon.clone());
        beacon
    }

    /// Checks a beacon that arrived from `from`; the peer's id and service address if
    /// it is accepted.
    pub fn handle_beacon(
        &self,
        crypto: &dyn Crypto,
        local: &NodeId,
        unix_secs: u64,
        from: SocketAddr,
        beacon: &Beacon,
    ) -> Result<(NodeId, SocketAddr), BeaconRejected> {
        if beacon.id == *local {
            return Err(BeaconRejected::Own);
        }
        if beacon.network_tag != self.network_tag {
            return Err(BeaconRejected::ForeignNetwork);
        }
        if unix_secs.abs_diff(beacon.unix_secs) > self.config.beacon_max_age.as_secs() {
            return Err(BeaconRejected::Stale);
        }
        let signed = Beacon::signed_bytes(
            &beacon.id,
            beacon.port,
            beacon.unix_secs,
            &beacon.network_tag,
        );
        if !crypto.verify(&beacon.id, &signed, &beacon.signature) {
            return Err(BeaconRejected::Forged);
        }
        Ok((beacon.id, SocketAddr::new(from.ip(), beacon.port)))
    }
}

/// `span` scaled by `r / 2^32`: a uniform draw from `[0, span)`.
pub(crate) fn fraction(span: Duration, r: u32) -> Duration {
    let micros = u64::try_from(span.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(((u128::from(micros) * u128::from(r)) >> 32) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::crypto::RealCrypto;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    const NOW: u64 = 1_790_000_000;

    fn setup() -> (Discovery, Identity, ChaCha8Rng) {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let config = DiscoveryConfig {
            multicast_group: Some("239.255.77.77:17760".parse().unwrap()),
            ..DiscoveryConfig::default()
        };
        let discovery = Discovery::new(Time::ZERO, config, network_tag(&[1; 32]), &mut rng);
        (discovery, Identity::from_seed([2; 32]), rng)
    }

    #[test]
    fn a_mailbox_is_in_the_beacon_groups_family_and_derived_from_the_key() {
        let id = Identity::from_seed([2; 32]).id();
        let other = Identity::from_seed([3; 32]).id();
        let v4 = mailbox_group(&id, "239.255.77.77:17760".parse().unwrap());
        // The IPv4 derivation is what it always was: existing runs do not move.
        let digest = Sha256::new()
            .chain_update(b"dswarm-mailbox-v1")
            .chain_update(id.as_bytes())
            .finalize();
        assert_eq!(
            v4,
            SocketAddr::from(([239, 193, digest[0], digest[1]], 17760))
        );
        let beacons_v6: SocketAddr = "[ff12::7777]:17760".parse().unwrap();
        let v6 = mailbox_group(&id, beacons_v6);
        let SocketAddr::V6(group) = v6 else {
            panic!("{v6} is not IPv6")
        };
        assert_eq!(group.port(), 17760);
        assert_eq!(group.ip().segments()[0], 0xff1e, "{v6}: ff1e::/16");
        assert!(group.ip().is_multicast());
        assert_eq!(
            &group.ip().octets()[2..],
            &digest[..14],
            "low bits from the key"
        );
        assert_eq!(
            mailbox_group(&id, beacons_v6),
            v6,
            "the same key, the same group"
        );
        assert_ne!(mailbox_group(&other, beacons_v6), v6);
    }

    fn beacon_at(
        discovery: &mut Discovery,
        identity: &Identity,
        rng: &mut ChaCha8Rng,
        unix: u64,
    ) -> Beacon {
        let due = discovery.poll_timeout().unwrap();
        match discovery.handle_timeout(due, &RealCrypto, unix, identity, 7000, false, rng) {
            Some(BeaconDue::Send(beacon)) => beacon,
            other => panic!("expected a beacon, got {other:?}"),
        }
    }

    #[test]
    fn beacon_intervals_double_up_to_the_maximum() {
        let (mut discovery, identity, mut rng) = setup();
        let first = discovery.poll_timeout().unwrap();
        assert!(
            first < Time::ZERO + Duration::from_secs(5),
            "phase within one interval"
        );
        let early = first - Duration::from_micros(1);
        if early < first {
            assert!(discovery
                .handle_timeout(early, &RealCrypto, NOW, &identity, 7000, false, &mut rng)
                .is_none());
        }
        let mut at = first;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            discovery
                .handle_timeout(at, &RealCrypto, NOW, &identity, 7000, false, &mut rng)
                .unwrap();
            let next = discovery.poll_timeout().unwrap();
            gaps.push(next - at);
            at = next;
        }
        // 5, 10, 20, 40, then 80 s for good, each within ±10 %.
        for (gap, mean) in gaps.iter().zip([5, 10, 20, 40, 80, 80, 80, 80]) {
            let mean = Duration::from_secs(mean);
            assert!(
                *gap >= mean * 9 / 10 && *gap < mean * 11 / 10,
                "{gap:?} for {mean:?}"
            );
        }
    }

    #[test]
    fn reset_brings_the_next_beacon_within_the_short_interval() {
        let (mut discovery, identity, mut rng) = setup();
        let mut at = discovery.poll_timeout().unwrap();
        for _ in 0..6 {
            discovery.handle_timeout(at, &RealCrypto, NOW, &identity, 7000, false, &mut rng);
            at = discovery.poll_timeout().unwrap();
        }
        let now = at - Duration::from_secs(60);
        discovery.reset(now, &mut rng);
        let next = discovery.poll_timeout().unwrap();
        assert!(next < now + Duration::from_secs(5), "{:?}", next - now);
        discovery.handle_timeout(next, &RealCrypto, NOW, &identity, 7000, false, &mut rng);
        let gap = discovery.poll_timeout().unwrap() - next;
        assert!(gap < Duration::from_millis(5500), "then 5 s again: {gap:?}");
    }

    /// Counts `heard` beacons, then runs the beacon time due.
    fn next_due(
        discovery: &mut Discovery,
        identity: &Identity,
        rng: &mut ChaCha8Rng,
        heard: u32,
        has_peers: bool,
    ) -> BeaconDue {
        for _ in 0..heard {
            discovery.heard();
        }
        let at = discovery.poll_timeout().unwrap();
        discovery
            .handle_timeout(at, &RealCrypto, NOW, identity, 7000, has_peers, rng)
            .unwrap()
    }

    #[test]
    fn a_node_with_peers_skips_its_beacon_once_the_segment_was_heard_enough() {
        let (mut discovery, identity, mut rng) = setup();
        let due = |d: &mut Discovery, rng: &mut ChaCha8Rng, heard, has_peers| {
            next_due(d, &identity, rng, heard, has_peers)
        };
        // (beacons heard before the beacon time, has peers, sent?):
        let steps = [
            (9, true, false),  // listen first: a busy segment hears of it otherwise
            (2, true, true),   // fewer than k heard
            (3, true, false),  // k heard: skipped
            (0, true, true),   // the count starts over at every beacon time
            (50, false, true), // a node without peers is always heard
        ];
        for (heard, has_peers, sent) in steps {
            let got = due(&mut discovery, &mut rng, heard, has_peers);
            assert_eq!(
                matches!(got, BeaconDue::Send(_)),
                sent,
                "{heard} heard, peers {has_peers}: {got:?}"
            );
        }
        // Skipped or sent, the interval still doubles: 5, 10, 20, 40, 80, 80 s.
        let before = discovery.poll_timeout().unwrap();
        assert_eq!(
            due(&mut discovery, &mut rng, 9, true),
            BeaconDue::Suppressed
        );
        let gap = discovery.poll_timeout().unwrap() - before;
        assert!(gap >= Duration::from_secs(72), "{gap:?}");
        // After a reset (all peers lost) the next beacon comes within the short
        // interval, and goes out unless peers and k beacons were heard by then.
        discovery.reset(before, &mut rng);
        assert!(discovery.poll_timeout().unwrap() - before < Duration::from_secs(5));
        assert!(matches!(
            due(&mut discovery, &mut rng, 0, true),
            BeaconDue::Send(_)
        ));
    }

    #[test]
    fn accepts_a_good_beacon_at_the_source_ip_and_service_port() {
        let (mut discovery, identity, mut rng) = setup();
        let beacon = beacon_at(&mut discovery, &identity, &mut rng, NOW);
        let from: SocketAddr = "10.0.0.9:40000".parse().unwrap();
        let local = NodeId([7; 32]);
        assert_eq!(
            discovery.handle_beacon(&RealCrypto, &local, NOW + 3, from, &beacon),
            Ok((identity.id(), "10.0.0.9:7000".parse().unwrap()))
        );
    }

    #[test]
    fn drops_own_foreign_stale_and_forged_beacons() {
        let (mut discovery, identity, mut rng) = setup();
        let from: SocketAddr = "10.0.0.9:7000".parse().unwrap();
        let local = NodeId([7; 32]);
        let beacon = beacon_at(&mut discovery, &identity, &mut rng, NOW);
        assert_eq!(
            discovery.handle_beacon(&RealCrypto, &identity.id(), NOW, from, &beacon),
            Err(BeaconRejected::Own)
        );
        assert_eq!(
            discovery.handle_beacon(&RealCrypto, &local, NOW + 61, from, &beacon),
            Err(BeaconRejected::Stale)
        );
        assert_eq!(
            discovery.handle_beacon(&RealCrypto, &local, NOW - 61, from, &beacon),
            Err(BeaconRejected::Stale)
        );

        let mut foreign = beacon.clone();
        foreign.network_tag = network_tag(&[9; 32]);
        assert_eq!(
            discovery.handle_beacon(&RealCrypto, &local, NOW, from, &foreign),
            Err(BeaconRejected::ForeignNetwork)
        );

        let mut moved = beacon.clone();
        moved.port = 7001; // the signature covers the port
        assert_eq!(
            discovery.handle_beacon(&RealCrypto, &local, NOW, from, &moved),
            Err(BeaconRejected::Forged)
        );
        let mut impostor = beacon;
        impostor.id = NodeId([7; 32]);
        assert_eq!(
            discovery.handle_beacon(&RealCrypto, &NodeId([8; 32]), NOW, from, &impostor),
            Err(BeaconRejected::Forged)
        );
    }

    #[test]
    fn answers_within_one_second_reuse_one_signature() {
        let (mut discovery, identity, _) = setup();
        let a = discovery.beacon(&RealCrypto, NOW, &identity, 7000);
        assert_eq!(discovery.beacon(&RealCrypto, NOW, &identity, 7000), a);
        let b = discovery.beacon(&RealCrypto, NOW + 1, &identity, 7000);
        assert_ne!(a.signature, b.signature, "a new second, a new signature");
        let local = NodeId([7; 32]);
        let from: SocketAddr = "10.0.0.9:7000".parse().unwrap();
        assert!(discovery
            .handle_beacon(&RealCrypto, &local, NOW + 1, from, &b)
            .is_ok());
    }

    #[test]
    fn no_group_means_no_beacons() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let discovery = Discovery::new(Time::ZERO, DiscoveryConfig::default(), [0; 8], &mut rng);
        assert_eq!(discovery.poll_timeout(), None);
    }
}
