//! Every bound on what remote peers can make a node spend, driven past its limit: the
//! breach is refused and counted, and the node still serves an honest peer.
//!
//! The node under test is a bare [`Node`]; remote peers are bare session layers
//! ([`Sessions`]) at addresses of their own, so a test can be many identities on one
//! address, or one identity handshaking again and again.

use std::net::SocketAddr;
use std::time::Duration;

use dswarm::harness::pair::{self, Pair};
use dswarm::harness::UNIX_START;
use dswarm::proto::discovery::network_tag;
use dswarm::proto::node::{Limits, Stats};
use dswarm::proto::rpc::RpcConfig;
use dswarm::proto::session::{SessionConfig, Sessions};
use dswarm::proto::table::IpBlock;
use dswarm::proto::wire::{self, Beacon, Datagram, Message, Request, Response, TxId};
use dswarm::proto::{Config, Identity, Node, NodeId, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const NODE_ADDR: SocketAddr = Pair::NODE_ADDR;

fn node(seed: u64, configure: impl FnOnce(&mut Config)) -> Node {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let identity = Identity::from_rng(&mut rng);
    let mut config = Config {
        port: NODE_ADDR.port(),
        ..Config::default()
    };
    configure(&mut config);
    Node::new(Time::ZERO, UNIX_START, config, identity, rng)
}

/// A remote peer: an identity and a session layer at an address.
struct Remote {
    identity: Identity,
    addr: SocketAddr,
    sessions: Sessions,
    rng: ChaCha8Rng,
    next_tx: u32,
}

impl Remote {
    fn new(seed: u64, addr: SocketAddr) -> Remote {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let identity = Identity::from_rng(&mut rng);
        Remote::with_identity(identity, addr, seed)
    }

    fn with_identity(identity: Identity, addr: SocketAddr, seed: u64) -> Remote {
        let sessions = Sessions::new(
            SessionConfig::default(),
            Config::default().network_key,
            identity.clone(),
        );
        Remote {
            identity,
            addr,
            sessions,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xA5A5),
            next_tx: 0,
        }
    }

    fn id(&self) -> NodeId {
        self.identity.id()
    }

    /// Runs a handshake with `node` to its end; `true` if a session opened.
    fn connect(&mut self, node: &mut Node, now: Time) -> bool {
        let crypto = node.crypto_suite().implementation();
        self.sessions
            .connect(now, crypto, node.id(), NODE_ADDR, &mut self.rng, None);
        for _ in 0..4 {
            while let Some((_, bytes)) = self.sessions.poll_transmit() {
                node.handle_datagram(now, self.addr, &bytes);
            }
            while let Some(transmit) = node.poll_transmit() {
                if transmit.dst != self.addr {
                    continue;
                }
                if let Ok(Datagram::Handshake(h)) = wire::decode(&transmit.payload) {
                    self.sessions
                        .handle_handshake(now, crypto, NODE_ADDR, h, &mut self.rng);
                }
            }
        }
        while node.poll_event().is_some() {}
        while self.sessions.poll_event().is_some() {}
        self.sessions.is_open(&node.id())
    }

    /// Sends `request` in the session; the node's answer, if it sent one.
    fn ask(&mut self, node: &mut Node, now: Time, request: Request) -> Option<Response> {
        self.next_tx += 1;
        let tx = TxId(self.next_tx);
        let answer = pair::ask(
            node,
            &mut self.sessions,
            now,
            self.addr,
            NODE_ADDR,
            tx,
            request,
        );
        while node.poll_event().is_some() {}
        answer
    }

    /// Whether `node` answers a ping from this peer (opening a session first).
    fn is_served(&mut self, node: &mut Node, now: Time) -> bool {
        (self.sessions.is_open(&node.id()) || self.connect(node, now))
            && matches!(
                self.ask(node, now, Request::Ping),
                Some(Response::Pong { .. })
            )
    }

    /// A well-signed, current beacon of this peer.
    fn beacon(&self, node: &Node, now: Time) -> Vec<u8> {
        let crypto = node.crypto_suite().implementation();
        let tag = network_tag(&node.config().network_key);
        let unix_secs = node.unix_secs(now);
        let port = self.addr.port();
        let signed = Beacon::signed_bytes(&self.id(), port, unix_secs, &tag);
        Datagram::Beacon(Beacon {
            id: self.id(),
            port,
            unix_secs,
            network_tag: tag,
            signature: crypto.sign(&self.identity, &signed),
        })
        .to_bytes()
    }
}

fn addr(a: u8, b: u8, c: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, a, b, c], port))
}

fn at(ms: u64) -> Time {
    Time::ZERO + Duration::from_millis(ms)
}

/// Fires the node's timers up to `until`, dropping what it sends.
fn run_timers(node: &mut Node, until: Time) {
    while let Some(due) = node.poll_timeout().filter(|due| *due <= until) {
        node.handle_timeout(due);
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
    }
}

fn honest(node: &mut Node, now: Time) -> bool {
    Remote::new(0xC0FFEE, addr(200, 0, 1, 7000)).is_served(node, now)
}

#[test]
fn requests_over_a_peers_rate_get_no_answer() {
    let limits = Limits::default();
    let mut node = node(1, |_| {});
    let mut flooder = Remote::new(2, addr(1, 0, 1, 7000));
    assert!(flooder.connect(&mut node, at(0)));
    let answered = (0..300)
        .filter(|_| flooder.ask(&mut node, at(10), Request::Ping).is_some())
        .count();
    assert_eq!(answered, limits.requests_per_peer_burst as usize);
    let stats = node.stats();
    assert_eq!(stats.requests_rate_limited, 200);
    assert_eq!(
        stats.requests_received, 100,
        "refused requests are not received"
    );
    // Another peer has its own budget, and the flooder gets its rate back with time.
    assert!(honest(&mut node, at(10)));
    assert!(flooder.ask(&mut node, at(10), Request::Ping).is_none());
    assert!(flooder.ask(&mut node, at(40), Request::Ping).is_some());
    // A steady 50 per second is all answered.
    let answered = (0..100u64)
        .filter(|i| {
            flooder
                .ask(&mut node, at(2000 + i * 20), Request::Ping)
                .is_some()
        })
        .count();
    assert_eq!(answered, 100);
}

/// Identities whose ids fall into the buckets of `node`'s table given, two each.
fn identities_in_buckets(node: &Node, buckets: &[usize], per_bucket: usize) -> Vec<Identity> {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let mut found: Vec<Identity> = Vec::new();
    while found.len() < buckets.len() * per_bucket {
        let identity = Identity::from_rng(&mut rng);
        let Some(bucket) = node.id().bucket_index(&identity.id()) else {
            continue;
        };
        let taken = found
            .iter()
            .filter(|i| node.id().bucket_index(&i.id()) == Some(bucket))
            .count();
        if buckets.contains(&bucket) && taken < per_bucket {
            found.push(identity);
        }
    }
    found
}

#[test]
fn one_address_gets_two_contacts_per_bucket_and_ten_per_table() {
    let mut node = node(3, |_| {});
    let config = node.config().table.clone();
    assert_eq!(
        (
            config.contacts_per_block_per_bucket_max,
            config.contacts_per_block_max
        ),
        (2, 10)
    );
    let sybil_ip = [10, 66, 66, 66];
    let block = IpBlock::of(&SocketAddr::from((sybil_ip, 1)), 32, 64);
    // Three identities in each of the six farthest buckets, all on one IP.
    let identities = identities_in_buckets(&node, &[255, 254, 253, 252, 251, 250], 3);
    for (i, identity) in identities.into_iter().enumerate() {
        let port = 7000 + i as u16;
        let mut sybil =
            Remote::with_identity(identity, SocketAddr::from((sybil_ip, port)), 100 + i as u64);
        // The node serves it (it proved its key), but routes through it only so far.
        assert!(sybil.is_served(&mut node, at(i as u64)), "sybil {i}");
    }
    let held: Vec<_> = node
        .table()
        .iter()
        .filter(|c| IpBlock::of(&c.addr, 32, 64) == block)
        .collect();
    assert_eq!(held.len(), 10, "ten per table");
    for bucket in [255, 254, 253, 252, 251, 250] {
        let n = held
            .iter()
            .filter(|c| node.id().bucket_index(&c.id) == Some(bucket))
            .count();
        assert!(n <= 2, "bucket {bucket} holds {n}");
    }
    // 18 tried, 10 held; the first of the last 8 was refused on its ping.
    assert_eq!(node.stats().contacts_refused_block, 8);
    // Another address is another block.
    let mut other = Remote::new(9, addr(66, 66, 67, 7000));
    assert!(other.is_served(&mut node, at(100)));
    assert!(node.table().get(&other.id()).is_some());
    // A beacon of a further identity on the full block is not even probed.
    let extra = identities_in_buckets(&node, &[255], 4).pop().expect("one");
    let late = Remote::with_identity(extra, SocketAddr::from((sybil_ip, 9999)), 999);
    node.handle_datagram(at(200), late.addr, &late.beacon(&node, at(200)));
    assert_eq!(node.stats().contacts_refused_block, 9);
    assert_eq!(node.stats().requests_sent, 0, "no probe of the sybil");
}

#[test]
fn loopback_addresses_are_not_limited() {
    let mut node = node(4, |_| {});
    for i in 0..30u16 {
        let mut peer = Remote::new(
            300 + u64::from(i),
            SocketAddr::from(([127, 0, 0, 1], 7000 + i)),
        );
        assert!(peer.is_served(&mut node, at(u64::from(i))));
    }
    assert_eq!(node.stats().contacts_refused_block, 0);
    assert!(node.table().len() > 10, "{}", node.table().len());
}

/// `count` strangers on distinct IPs beacon to the node in one instant; none answers
/// the handshake the node starts.
fn beacon_flood(node: &mut Node, count: u16, now: Time) {
    for i in 0..count {
        let stranger = Remote::new(
            1000 + u64::from(i),
            addr(3, (i >> 8) as u8, (i & 0xff) as u8, 7000),
        );
        node.handle_datagram(now, stranger.addr, &stranger.beacon(node, now));
    }
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
}

#[test]
fn probes_of_beacon_senders_are_capped() {
    let mut node = node(5, |config| {
        config.limits.probes_max = 40;
        // So that the table never turns them away first.
        config.table.bucket_capacity = 1000;
    });
    beacon_flood(&mut node, 100, at(0));
    let stats = node.stats();
    assert_eq!(stats.beacons_accepted, 40);
    assert_eq!(stats.probes_refused, 60);
    assert_eq!(stats.sessions.handshakes_started, 40);
    assert!(honest(&mut node, at(1)));
    // Once the probes time out, the next beacons are probed again.
    let later = at(30_000);
    run_timers(&mut node, later);
    beacon_flood(&mut node, 100, later);
    assert_eq!(node.stats().beacons_accepted, 80);
}

#[test]
fn requests_tracked_are_capped() {
    let mut node = node(6, |config| {
        config.rpc = RpcConfig {
            pending_max: 25,
            ..RpcConfig::default()
        };
        config.table.bucket_capacity = 1000;
    });
    beacon_flood(&mut node, 100, at(0));
    let stats: Stats = node.stats();
    assert_eq!(stats.requests_refused_full, 75);
    assert_eq!(stats.sessions.handshakes_started, 25);
    assert!(honest(&mut node, at(1)));
}

#[test]
fn requests_held_for_handshakes_are_capped_in_bytes() {
    let mut ping = Vec::new();
    Message::Request {
        tx: TxId(1),
        request: Request::Ping,
    }
    .encode(&mut ping);
    // Room for ten pings.
    let mut node = node(7, |config| {
        config.limits.waiting_bytes_max = 10 * ping.len();
        config.table.bucket_capacity = 1000;
    });
    beacon_flood(&mut node, 30, at(0));
    let stats = node.stats();
    assert_eq!(stats.sessions.handshakes_started, 30, "every probe dials");
    assert_eq!(stats.requests_not_buffered, 20);
    assert!(honest(&mut node, at(1)));
}

#[test]
fn a_peer_that_handshakes_again_and_again_holds_two_sessions() {
    let mut node = node(8, |_| {});
    let identity = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(88));
    let peer_addr = addr(8, 8, 8, 7000);
    for round in 0..20u64 {
        // A fresh session layer each time: the peer forgot its session, the node did not.
        let mut peer = Remote::with_identity(identity.clone(), peer_addr, round);
        assert!(peer.connect(&mut node, at(round)), "round {round}");
        assert!(peer.is_served(&mut node, at(round)));
    }
    let sessions = node.stats().sessions;
    assert_eq!(sessions.handshakes_completed, 20);
    assert_eq!(sessions.sessions_superseded, 18);
    assert_eq!(node.sessions_open(), 1);
    assert!(honest(&mut node, at(100)));
}

#[test]
fn half_open_handshakes_from_one_source_are_capped() {
    let mut node = node(9, |_| {});
    let flood_addr = addr(9, 9, 9, 7000);
    for i in 0..100u64 {
        // Hellos from fresh identities, never followed up.
        let mut peer = Remote::new(5000 + i, flood_addr);
        let crypto = node.crypto_suite().implementation();
        peer.sessions
            .connect(at(0), crypto, node.id(), NODE_ADDR, &mut peer.rng, None);
        while let Some((_, bytes)) = peer.sessions.poll_transmit() {
            node.handle_datagram(at(0), flood_addr, &bytes);
        }
    }
    while node.poll_transmit().is_some() {}
    let limit = node.config().sessions.half_open_per_source_max as u64;
    assert_eq!(node.stats().sessions.half_open_refused, 100 - limit);
    assert!(honest(&mut node, at(1)));
}
