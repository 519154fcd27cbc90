//! NAT traversal end to end: nodes behind open, consistent and random NATs classify
//! themselves, stay out of routing tables when unreachable, find each other by key
//! (a lookup finds an open node listed and one behind a NAT by its declaration) and
//! connect straight, through a hole punch or through a relay; streams ride each of
//! those paths, and a listener's firewall keeps out whom it should; leaving nodes say
//! goodbye.
//!
//! The world here is this file's own: a few dozen nodes, 10 ms links, and NATs as
//! RFC 4787 describes them. `consistent`: one external port for every destination,
//! inbound only from IPs the node sent to in the last 30 s. `random`: a new external
//! port per destination, inbound only from that exact destination. The simulator's
//! world models the same at scale; this keeps the core's tests free of it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use dswarm::proto::lookup::{Found, LookupResult};
use dswarm::proto::node::{ConnectPath, Event};
use dswarm::proto::relay_path::is_relay_path;
use dswarm::proto::stream::{Firewall, Read, StreamError, StreamEvent, StreamId};
use dswarm::proto::wire::{NatKind, ResetCode};
use dswarm::proto::{
    Command, Config, CryptoSuite, Identity, Node, NodeId, QueryId, QueryOutcome, Time,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const LINK: Duration = Duration::from_millis(10);
const FILTER_TIMEOUT: Duration = Duration::from_secs(30);
const PORT: u16 = 7000;
const GROUP: &str = "239.255.77.77:17760";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Nat {
    Open,
    Consistent,
    Random,
}

struct Host {
    node: Node,
    nat: Nat,
    /// Where the node is bound; also its public address when open.
    local: SocketAddr,
    /// The NAT's public IP.
    public: IpAddr,
    /// External port of each destination (one port for all under `consistent`).
    mappings: BTreeMap<SocketAddr, u16>,
    /// When the node last sent to each destination.
    sent: BTreeMap<SocketAddr, Time>,
    next_port: u16,
    timer: Option<Time>,
    up: bool,
}

/// A datagram on its way: source host, destination address, bytes, and the host a
/// multicast copy is for.
type InFlight = (usize, SocketAddr, Vec<u8>, Option<usize>);

struct World {
    hosts: Vec<Host>,
    queue: BTreeMap<(Time, u64), InFlight>,
    /// Multicast to the beacon group is dropped: only mailboxes introduce nodes.
    beacons_off: bool,
    seq: u64,
    now: Time,
    finished: BTreeMap<(usize, QueryId), QueryOutcome>,
    events: Vec<(usize, Event)>,
}

impl World {
    /// `nats[i]` is node i's NAT; node 0 is every node's bootstrap address.
    fn new(nats: &[Nat]) -> World {
        World::build(nats, |_, _| {})
    }

    /// `n` open nodes on one LAN, each listening at the beacon group and at its own
    /// mailbox, with no bootstrap list and beacons switched off: they know nobody.
    fn lan(n: usize) -> World {
        let mut world = World::build(&vec![Nat::Open; n], |_, config| {
            config.bootstrap.clear();
            config.discovery.multicast_group = Some(GROUP.parse().unwrap());
            config.mailbox = true;
        });
        world.beacons_off = true;
        world
    }

    fn build(nats: &[Nat], configure: impl Fn(usize, &mut Config)) -> World {
        let hosts = nats
            .iter()
            .enumerate()
            .map(|(i, &nat)| {
                let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)), PORT);
                let public = match nat {
                    Nat::Open => local.ip(),
                    _ => IpAddr::V4(Ipv4Addr::new(100, 64, 0, i as u8 + 1)),
                };
                let mut rng = ChaCha8Rng::seed_from_u64(i as u64 + 1);
                let identity = Identity::from_rng(&mut rng);
                let mut config = Config {
                    port: PORT,
                    address: Some(local),
                    bootstrap: if i == 0 {
                        Vec::new()
                    } else {
                        vec![SocketAddr::new(
                            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                            PORT,
                        )]
                    },
                    ..Config::default()
                };
                configure(i, &mut config);
                Host {
                    node: Node::with_suite(
                        Time::ZERO,
                        Duration::from_secs(1_700_000_000),
                        config,
                        identity,
                        rng,
                        CryptoSuite::Fast,
                    ),
                    nat,
                    local,
                    public,
                    mappings: BTreeMap::new(),
                    sent: BTreeMap::new(),
                    next_port: 40_000,
                    timer: None,
                    up: true,
                }
            })
            .collect();
        let mut world = World {
            hosts,
            queue: BTreeMap::new(),
            beacons_off: false,
            seq: 0,
            now: Time::ZERO,
            finished: BTreeMap::new(),
            events: Vec::new(),
        };
        for host in &mut world.hosts {
            host.timer = host.node.poll_timeout();
        }
        for i in 1..world.hosts.len() {
            if world.hosts[i].node.config().bootstrap.is_empty() {
                continue;
            }
            let at = Time::ZERO + Duration::from_millis(50 * i as u64);
            world.now = at;
            world.start(i, Command::Bootstrap);
        }
        world.now = Time::ZERO;
        world
    }

    fn id(&self, i: usize) -> NodeId {
        self.hosts[i].node.id()
    }

    fn start(&mut self, i: usize, command: Command) -> QueryId {
        let query = self.hosts[i]
            .node
            .start(self.now, command)
            .expect("command starts");
        self.after(i);
        query
    }

    /// Host `i` sends to `dst`: its NAT maps the destination and opens its filter.
    fn translate(&mut self, i: usize, dst: SocketAddr) {
        let now = self.now;
        let host = &mut self.hosts[i];
        host.sent.insert(dst, now);
        if host.nat == Nat::Random {
            host.mappings.entry(dst).or_insert_with(|| {
                host.next_port += 1;
                host.next_port
            });
        }
    }

    /// Which host a datagram from `src` to `dst` reaches, if its NAT lets it in.
    fn admit(&self, src: SocketAddr, dst: SocketAddr) -> Option<usize> {
        let fresh = |at: &Time| self.now.saturating_since(*at) < FILTER_TIMEOUT;
        self.hosts.iter().position(|h| {
            h.up && h.public == dst.ip()
                && match h.nat {
                    Nat::Open => h.local == dst,
                    Nat::Consistent => {
                        dst.port() == 40_000
                            && h.sent
                                .iter()
                                .any(|(to, at)| to.ip() == src.ip() && fresh(at))
                    }
                    Nat::Random => {
                        h.mappings.get(&src) == Some(&dst.port())
                            && h.sent.get(&src).is_some_and(fresh)
                    }
                }
        })
    }

    fn after(&mut self, i: usize) {
        while let Some(t) = self.hosts[i].node.poll_transmit() {
            if t.dst.ip().is_multicast() {
                // One LAN: every other node listening at the group hears it.
                if self.beacons_off && t.dst == GROUP.parse().unwrap() {
                    continue;
                }
                for j in 0..self.hosts.len() {
                    if j != i && self.hosts[j].node.multicast_groups().contains(&t.dst) {
                        self.seq += 1;
                        let copy = (i, t.dst, t.payload.clone(), Some(j));
                        self.queue.insert((self.now + LINK, self.seq), copy);
                    }
                }
                continue;
            }
            self.translate(i, t.dst);
            self.seq += 1;
            self.queue
                .insert((self.now + LINK, self.seq), (i, t.dst, t.payload, None));
        }
        while let Some(event) = self.hosts[i].node.poll_event() {
            if let Event::QueryFinished { query, outcome, .. } = &event {
                self.finished.insert((i, *query), outcome.clone());
            }
            self.events.push((i, event));
        }
        self.hosts[i].timer = self.hosts[i].node.poll_timeout();
    }

    fn run_until(&mut self, until: Time) {
        loop {
            let next_delivery = self.queue.keys().next().map(|k| k.0);
            let next_timer = self
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.up)
                .filter_map(|(i, h)| h.timer.map(|t| (t, i)))
                .min();
            let next = match (next_delivery, next_timer) {
                (Some(d), Some((t, _))) => d.min(t),
                (Some(d), None) => d,
                (None, Some((t, _))) => t,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = next;
            if next_delivery == Some(next) {
                let (_, (src, dst, payload, to)) = self.queue.pop_first().unwrap();
                if let Some(j) = to {
                    // Multicast stays on the LAN: no NAT in the way.
                    let from = self.hosts[src].local;
                    if self.hosts[j].up {
                        self.hosts[j].node.handle_datagram(self.now, from, &payload);
                        self.after(j);
                    }
                    continue;
                }
                // Mapped when it leaves: the NAT state at send time decides the
                // source; the filter at arrival time decides entry.
                let from = self.seen_from(src, dst);
                if let Some(j) = self.admit(from, dst) {
                    self.hosts[j].node.handle_datagram(self.now, from, &payload);
                    self.after(j);
                }
            } else if let Some((_, i)) = next_timer {
                self.hosts[i].node.handle_timeout(self.now);
                self.after(i);
            }
        }
        self.now = until;
    }

    /// Whether host `j`'s NAT lets host `i` in now.
    fn lets_in(&self, j: usize, i: usize) -> bool {
        let ip = self.hosts[i].public;
        let fresh = |at: &Time| self.now.saturating_since(*at) < FILTER_TIMEOUT;
        self.hosts[j].nat == Nat::Open
            || self.hosts[j]
                .sent
                .iter()
                .any(|(to, at)| to.ip() == ip && fresh(at))
    }

    fn seen_from(&self, src: usize, dst: SocketAddr) -> SocketAddr {
        let host = &self.hosts[src];
        match host.nat {
            Nat::Open => host.local,
            Nat::Consistent => SocketAddr::new(host.public, 40_000),
            Nat::Random => SocketAddr::new(host.public, host.mappings[&dst]),
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs `command` on node `a` for 20 s; its outcome.
    fn command(&mut self, a: usize, command: Command) -> QueryOutcome {
        let query = self.start(a, command.clone());
        self.run_for(Duration::from_secs(20));
        self.finished
            .remove(&(a, query))
            .unwrap_or_else(|| panic!("{command:?} on {a} did not finish"))
    }

    fn connect(&mut self, a: usize, b: usize) -> QueryOutcome {
        self.command(a, Command::Connect(self.id(b)))
    }

    /// Node `a` looks `target` up (`Command::FindNode`).
    fn lookup(&mut self, a: usize, target: NodeId) -> LookupResult {
        match self.command(a, Command::FindNode(target)) {
            QueryOutcome::Found(result) => result,
            other => panic!("lookup of {target:?} from {a}: {other:?}"),
        }
    }
}

fn swarm() -> World {
    // Nodes 0..12 open, 12..20 consistent, 20..26 random.
    let nats: Vec<Nat> = (0..26)
        .map(|i| match i {
            0..12 => Nat::Open,
            12..20 => Nat::Consistent,
            _ => Nat::Random,
        })
        .collect();
    let mut world = World::new(&nats);
    world.run_for(Duration::from_secs(60));
    world
}

#[test]
fn nodes_classify_their_nat_from_what_peers_report() {
    let world = swarm();
    for (i, host) in world.hosts.iter().enumerate() {
        let want = match host.nat {
            Nat::Open => NatKind::Open,
            Nat::Consistent => NatKind::Consistent,
            Nat::Random => NatKind::Random,
        };
        assert_eq!(host.node.nat(), want, "node {i}");
        if host.nat != Nat::Open {
            assert!(!host.node.relays().is_empty(), "node {i} keeps relays");
        }
    }
}

#[test]
fn nodes_behind_nats_stay_out_of_routing_tables() {
    let world = swarm();
    let natted: Vec<NodeId> = (12..26).map(|i| world.id(i)).collect();
    for (i, host) in world.hosts.iter().enumerate() {
        let listed: Vec<_> = host
            .node
            .table()
            .iter()
            .filter(|c| natted.contains(&c.id))
            .collect();
        assert!(listed.is_empty(), "node {i} lists {listed:?}");
        assert!(
            host.node.table().len() >= 8,
            "node {i} knows the open nodes"
        );
    }
}

/// A pair of nodes behind `a` and `b` such that `b`'s NAT would not let `a` in now,
/// so that a connect between them has to find its path; the world runs on until
/// one turns up. Any pair will do when `fresh` is false.
fn pair(world: &mut World, a: Nat, b: Nat, fresh: bool) -> (usize, usize) {
    for _ in 0..120 {
        let n = world.hosts.len();
        let found = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .find(|&(i, j)| {
                i != j
                    && world.hosts[i].nat == a
                    && world.hosts[j].nat == b
                    && !(fresh && world.lets_in(j, i))
            });
        if let Some(pair) = found {
            return pair;
        }
        world.run_for(Duration::from_secs(1));
    }
    panic!("no {a:?} -> {b:?} pair whose NAT is closed in 120 s")
}

#[test]
fn connect_takes_the_path_each_nat_pair_allows() {
    let mut world = swarm();
    let cases = [
        // A listed peer is dialled straight (in a swarm this small, every node
        // behind a NAT already talks to every open one).
        (Nat::Consistent, Nat::Open, ConnectPath::Direct),
        (Nat::Random, Nat::Open, ConnectPath::Direct),
        // The peer behind a NAT punches back towards an open node.
        (Nat::Open, Nat::Consistent, ConnectPath::Punched),
        (Nat::Open, Nat::Random, ConnectPath::Punched),
        (Nat::Consistent, Nat::Consistent, ConnectPath::Punched),
        // A consistent NAT's filter admits the random NAT's new port: its IP is known.
        (Nat::Consistent, Nat::Random, ConnectPath::Punched),
        (Nat::Random, Nat::Consistent, ConnectPath::Punched),
        // Two random NATs have no address to aim at: the relay stays.
        (Nat::Random, Nat::Random, ConnectPath::Relayed),
    ];
    for (nat_a, nat_b, want) in cases {
        let (a, b) = pair(&mut world, nat_a, nat_b, want != ConnectPath::Direct);
        let outcome = world.connect(a, b);
        let peer = world.id(b);
        assert_eq!(
            outcome,
            QueryOutcome::Connected { peer, path: want },
            "{a} ({nat_a:?}) -> {b} ({nat_b:?})"
        );
        assert!(world.hosts[a].node.has_session(&peer));
        assert!(world.hosts[b].node.has_session(&world.id(a)));
    }
    let relayed: u64 = world
        .hosts
        .iter()
        .map(|h| h.node.stats().relay_forwarded)
        .sum();
    assert!(relayed > 0, "some connects went through relays");
    for (i, host) in world.hosts.iter().enumerate() {
        assert_eq!(
            host.node.stats().relay_readable,
            0,
            "relay {i} could read a frame"
        );
    }
}

#[test]
fn a_random_pair_reports_why_the_punch_was_not_tried() {
    let mut world = swarm();
    world.events.clear();
    world.connect(20, 25);
    let peer = world.id(25);
    assert!(world.events.iter().any(|(i, e)| *i == 20
        && *e
            == Event::PunchFailed {
                peer,
                reason: dswarm::proto::node::PunchFailure::BothRandom
            }));
}

#[test]
fn a_lookup_finds_an_open_node_listed_and_one_behind_a_nat_by_its_declaration() {
    let mut world = swarm();
    // Askers open and behind each NAT; targets open (5) and behind each NAT (14, 23).
    for asker in [3, 15, 21] {
        let open = world.lookup(asker, world.id(5));
        assert_eq!(open.found, Some(Found::Listed), "{asker} -> 5: {open:?}");
        assert_eq!(
            open.closest[0].id,
            world.id(5),
            "it answered: it comes first"
        );
        for natted in [14, 23] {
            let result = world.lookup(asker, world.id(natted));
            let relays: Vec<SocketAddr> = world.hosts[natted]
                .node
                .relays()
                .iter()
                .map(|r| r.addr)
                .collect();
            assert!(!relays.is_empty(), "node {natted} keeps relays");
            // No table lists it, so the walk never reached it; its own signed
            // declaration names the relays it keeps.
            assert_eq!(
                result.found,
                Some(Found::Declared { relays }),
                "{asker} -> {natted}: {result:?}"
            );
            assert!(result.closest.iter().all(|c| c.id != world.id(natted)));
        }
        let stats = world.hosts[asker].node.stats();
        assert_eq!(
            (stats.lookups_found_listed, stats.lookups_found_declared),
            (1, 2),
            "node {asker} counts each lookup by how it found its node"
        );
    }
    // A key nobody holds is neither.
    let nowhere = world.lookup(3, NodeId([0x42; 32]));
    assert_eq!(nowhere.found, None, "{nowhere:?}");
}

#[test]
fn a_node_that_is_nowhere_is_not_found() {
    let mut world = swarm();
    let stranger = NodeId([0x42; 32]);
    let query = world.start(3, Command::Connect(stranger));
    world.run_for(Duration::from_secs(20));
    assert_eq!(
        world.finished[&(3, query)],
        QueryOutcome::Failed(dswarm::proto::node::QueryError::NotFound)
    );
}

#[test]
fn a_leaving_node_is_dropped_by_its_peers_at_once() {
    let mut world = swarm();
    let leaver = world.id(7);
    let holders: Vec<usize> = (0..26)
        .filter(|&i| world.hosts[i].node.table().get(&leaver).is_some())
        .collect();
    assert!(!holders.is_empty());
    let now = world.now;
    world.hosts[7].node.leave(now);
    world.after(7);
    world.hosts[7].up = false;
    world.run_for(Duration::from_secs(1));
    for i in holders {
        let node = &world.hosts[i].node;
        if node.has_session(&leaver) {
            panic!("node {i} kept its session with the leaver");
        }
        assert!(
            node.table().get(&leaver).is_none(),
            "node {i} still lists the leaver"
        );
    }
}

#[test]
fn a_node_that_knows_only_a_key_reaches_its_mailbox() {
    let mut world = World::lan(5);
    world.run_for(Duration::from_secs(5));
    assert!(world.hosts.iter().all(|h| h.node.table().is_empty()));
    let mailbox = world.hosts[3].node.mailbox().expect("a mailbox");
    assert!(mailbox.ip().is_multicast());
    assert_ne!(world.hosts[2].node.mailbox(), Some(mailbox));
    let outcome = world.connect(1, 3);
    let peer = world.id(3);
    assert_eq!(
        outcome,
        QueryOutcome::Connected {
            peer,
            path: ConnectPath::Mailbox
        }
    );
    assert!(world.hosts[3].node.has_session(&world.id(1)));
    // Only the mailbox's owner answered: nobody else even started a handshake.
    for i in [0, 2, 4] {
        assert_eq!(
            world.hosts[i].node.stats().sessions.handshakes_completed,
            0,
            "node {i}"
        );
    }
}

/// Moves `data` from host `a` to host `b` over `stream` while the world runs, `b`
/// answering with the count it read; returns what `b` read and what `a` read back.
fn transfer(
    world: &mut World,
    a: usize,
    b: usize,
    stream: StreamId,
    data: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let remote = StreamId {
        peer: world.id(a),
        number: stream.number,
    };
    let (mut written, mut at_b, mut at_a) = (0, Vec::new(), Vec::new());
    let (mut b_done, mut a_done) = (false, false);
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = world.now + Duration::from_secs(60);
    while !(a_done && b_done) && world.now < deadline {
        let now = world.now;
        if written < data.len() {
            written += world.hosts[a]
                .node
                .stream_write(now, stream, &data[written..])
                .expect("the stream takes bytes");
            if written == data.len() {
                world.hosts[a].node.stream_finish(now, stream).unwrap();
            }
            world.after(a);
        }
        while !b_done {
            match world.hosts[b].node.stream_read(now, remote, &mut buf) {
                Ok(Read::Bytes(n)) => at_b.extend_from_slice(&buf[..n]),
                Ok(Read::End) => {
                    let answer = format!("got {}", at_b.len());
                    let node = &mut world.hosts[b].node;
                    node.stream_write(now, remote, answer.as_bytes()).unwrap();
                    node.stream_finish(now, remote).unwrap();
                    b_done = true;
                }
                Ok(Read::Blocked) | Err(_) => break,
            }
        }
        world.after(b);
        if let Ok(Read::Bytes(n)) = world.hosts[a].node.stream_read(now, stream, &mut buf) {
            at_a.extend_from_slice(&buf[..n]);
        }
        a_done = world
            .events
            .iter()
            .any(|(i, e)| *i == a && *e == Event::Stream(StreamEvent::Finished(stream)));
        world.after(a);
        world.run_for(Duration::from_millis(5));
    }
    (at_b, at_a)
}

#[test]
fn a_stream_carries_every_byte_on_each_path_and_across_the_move_from_relay_to_punch() {
    let mut world = swarm();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let cases = [
        (Nat::Consistent, Nat::Open, ConnectPath::Direct),
        (Nat::Open, Nat::Consistent, ConnectPath::Punched),
        (Nat::Random, Nat::Random, ConnectPath::Relayed),
    ];
    for (nat_a, nat_b, want) in cases {
        let (a, b) = pair(&mut world, nat_a, nat_b, want != ConnectPath::Direct);
        let peer = world.id(b);
        world.hosts[b].node.listen(Firewall::Open);
        world.events.clear();
        let query = world.start(a, Command::Connect(peer));
        // The stream opens as soon as a session does: on the punched path that is the
        // relayed session, and the punch moves it while the bytes flow.
        // (A session left from before, to a NAT that no longer lets it in, does not
        // count there.)
        for _ in 0..4000 {
            let addr = world.hosts[a].node.session_addr(&peer);
            let punched = want == ConnectPath::Punched;
            if addr.is_some_and(|addr| !punched || is_relay_path(addr)) {
                break;
            }
            world.run_for(Duration::from_millis(5));
        }
        let first = world.hosts[a].node.session_addr(&peer).expect("a session");
        let before = world.hosts[a].node.stats().streams;
        let now = world.now;
        let stream = world.hosts[a].node.open_stream(now, peer).expect("opens");
        world.after(a);
        let (at_b, at_a) = transfer(&mut world, a, b, stream, &data);
        assert!(
            at_b == data,
            "{want:?}: {} of {} bytes, in order",
            at_b.len(),
            data.len()
        );
        assert_eq!(at_a, format!("got {}", data.len()).into_bytes(), "{want:?}");
        let outcome = world.finished.remove(&(a, query));
        assert_eq!(outcome, Some(QueryOutcome::Connected { peer, path: want }));
        let last = world.hosts[a].node.session_addr(&peer).unwrap();
        if want == ConnectPath::Punched {
            assert!(
                is_relay_path(first) && !is_relay_path(last),
                "{first} then {last}"
            );
        }
        // Both ends print the same handshake hash.
        let hash = world.hosts[a].node.handshake_hash(&peer);
        assert!(hash.is_some());
        assert_eq!(hash, world.hosts[b].node.handshake_hash(&world.id(a)));
        // A relayed stream moves its bytes through the relay's relay budget, not the
        // budget of requests: nothing was dropped for either.
        let limited: u64 = world
            .hosts
            .iter()
            .map(|h| h.node.stats().requests_rate_limited + h.node.stats().relay_rate_limited)
            .sum();
        assert_eq!(limited, 0, "{want:?}");
        let stats = world.hosts[a].node.stats().streams;
        let sent = stats.bytes_sent - before.bytes_sent;
        assert_eq!(sent, data.len() as u64, "{want:?}");
        assert_eq!(stats.finished - before.finished, 1, "{want:?}");
    }
}

#[test]
fn a_firewalled_listener_refuses_a_dialler_at_once_and_sees_none_of_its_bytes() {
    let mut world = swarm();
    let (a, b, c) = (3, 4, 5);
    let allowed = world.id(c);
    world.hosts[b]
        .node
        .listen(Firewall::Allow(std::collections::BTreeSet::from([allowed])));
    let peer = world.id(b);
    world.connect(a, b);
    world.connect(c, b);
    world.events.clear();
    let now = world.now;
    let refused = world.hosts[a].node.open_stream(now, peer).unwrap();
    world.hosts[a]
        .node
        .stream_write(now, refused, b"secret")
        .unwrap();
    world.after(a);
    let welcome = world.hosts[c].node.open_stream(now, peer).unwrap();
    world.hosts[c]
        .node
        .stream_write(now, welcome, b"hello")
        .unwrap();
    world.after(c);
    world.run_for(Duration::from_millis(100));
    let refusal = Event::Stream(StreamEvent::Reset {
        stream: refused,
        error: StreamError::Reset {
            code: ResetCode::Refused,
            by_peer: true,
        },
    });
    assert!(
        world.events.contains(&(a, refusal)),
        "told within a round trip"
    );
    let at_b: Vec<&Event> = world
        .events
        .iter()
        .filter(|(i, _)| *i == b)
        .map(|(_, e)| e)
        .collect();
    let opened_from = |e: &&Event| match e {
        Event::Stream(StreamEvent::Opened { stream, .. }) => Some(stream.peer),
        _ => None,
    };
    let openers: Vec<NodeId> = at_b.iter().filter_map(opened_from).collect();
    assert_eq!(openers, [allowed], "only the allowed key's stream opened");
    assert!(world.hosts[b].node.stats().streams.refused >= 1);
    assert_eq!(world.hosts[b].node.streams().len(), 1);
}
