//! Hostile nodes: who they are, and what they do beyond the protocol.
//!
//! In: the scenario's [`HostileSpec`], the run's seed and the engine, ticked as the
//! run goes. Out: the node configurations and addresses that make liars, droppers,
//! forgers and sybils (the [`Roster`]), and the traffic of replayers, flooders and
//! forgers, sent through the engine from the hostile node's own address (the
//! [`Driver`]).
//!
//! - Which nodes are hostile is a seeded shuffle of the nodes that are not bootstrap
//!   nodes, on a stream of its own: kinds take the shuffled nodes in the order of
//!   [`HostileKind::ALL`], so adding sybils moves no liar.
//! - Liars, droppers and forgers are the core's [`Behaviour`]s: their nodes lie,
//!   stay silent or forge by themselves. Forgers also write forged records at
//!   `forge_rate` (mutable records, announcements and immutable values, in turn).
//! - Replayers run honestly and keep up to [`REPLAY_BUFFER`] handshake messages and
//!   sealed frames they received or sent; at `replay_rate` they re-send one: to the
//!   node it came from or went to, or to a random honest node.
//! - Flooders run honestly, and at `flood_rate` send SHS1 hellos with fresh ephemeral
//!   keys to [`FLOOD_VICTIMS`] honest nodes of their choosing, and ping their three
//!   closest peers: a flood is aimed, or no node would notice it.
//! - Sybils run honestly, `sybil_identities` of them behind each IP address.
//! - Eclipse attackers are the core's `Behaviour::Eclipse`, with identities ground
//!   near the workload's keys and spread over `eclipse_addresses` IP addresses
//!   ([`eclipse`]); [`Roster::aim_eclipse`] grinds them once the keys are known.
//!
//! Every hostile node draws from its own RNG stream of the seed, so a run with hostile
//! nodes replays exactly. Nothing here reads or changes an honest node.

use std::net::SocketAddr;
use std::time::Duration;

use dswarm::harness::{seed_stream, streams, Network, Tapped};
use dswarm::proto::handshake;
use dswarm::proto::node::Behaviour;
use dswarm::proto::wire::{self, Datagram, Handshake, SessionId};
use dswarm::proto::{Command, CryptoSuite, Key, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use serde::Serialize;

pub mod eclipse;

use std::collections::BTreeMap;

use dswarm::proto::id::NodeId;
use dswarm::proto::wire::WireContact;

use self::eclipse::Eclipse;
use crate::engine::Engine;
use crate::scenario::{HostileKind, HostileSpec};

/// The RNG stream that draws the hostile nodes within a run's seed.
use dswarm::harness::streams::ROSTER as STREAM_ROSTER;
/// Datagrams a replayer keeps to replay.
pub const REPLAY_BUFFER: usize = 256;
/// How often hostile nodes act: their rates are spread over ticks this long.
pub const TICK: Duration = Duration::from_millis(10);
/// A flooder's requests ping this many of its closest peers at a time.
const FLOOD_PING_CLOSEST: usize = 3;
/// The honest nodes each flooder sends its hellos to.
pub const FLOOD_VICTIMS: usize = 4;

/// Which nodes are hostile, of which kind; see the module docs.
#[derive(Clone, Debug)]
pub struct Roster {
    kinds: Vec<Option<HostileKind>>,
    /// Sybil nodes by shared address, each group's first node the host.
    sybil_groups: Vec<Vec<usize>>,
    /// The eclipse attackers: their addresses, identities and allies.
    eclipse: Eclipse,
    /// `eclipse_identities` and `eclipse_addresses`, for [`Roster::aim_eclipse`].
    eclipse_shape: (usize, usize),
}

/// How many nodes of each kind a run has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostileCounts {
    /// Nodes that answer FIND_NODE with far and invented contacts.
    pub liars: usize,
    /// Nodes that open sessions and answer nothing.
    pub droppers: usize,
    /// Nodes that forge beacons and records.
    pub forgers: usize,
    /// Nodes that replay what they saw.
    pub replayers: usize,
    /// Nodes that flood handshakes and requests.
    pub flooders: usize,
    /// Identities behind shared addresses.
    pub sybils: usize,
    /// Identities ground near the workload's keys that answer with each other.
    pub eclipsers: usize,
}

impl HostileCounts {
    /// Hostile nodes of every kind.
    pub fn total(&self) -> usize {
        self.liars
            + self.droppers
            + self.forgers
            + self.replayers
            + self.flooders
            + self.sybils
            + self.eclipsers
    }
}

impl Roster {
    /// Draws the hostile nodes of a swarm of `nodes` whose first `bootstrap` nodes
    /// are the bootstrap nodes; see the module docs.
    pub fn new(seed: u64, nodes: usize, bootstrap: usize, spec: &HostileSpec) -> Roster {
        let mut kinds = vec![None; nodes];
        let mut sybil_groups = Vec::new();
        let eclipse_shape = (spec.eclipse_identities, spec.eclipse_addresses);
        if spec.is_empty() {
            return Roster {
                kinds,
                sybil_groups,
                eclipse: Eclipse::default(),
                eclipse_shape,
            };
        }
        let mut rng = seed_stream(seed, STREAM_ROSTER);
        let mut order: Vec<usize> = (bootstrap.min(nodes)..nodes).collect();
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut next = order.into_iter();
        for kind in HostileKind::ALL {
            let chosen: Vec<usize> = next.by_ref().take(spec.count(kind, nodes)).collect();
            for &node in &chosen {
                kinds[node] = Some(kind);
            }
            if kind == HostileKind::Sybil {
                for group in chosen.chunks(spec.sybil_identities.max(1)) {
                    let mut group = group.to_vec();
                    group.sort_unstable();
                    sybil_groups.push(group);
                }
            }
        }
        Roster {
            kinds,
            sybil_groups,
            eclipse: Eclipse::default(),
            eclipse_shape,
        }
    }

    /// Grinds the eclipse attackers' identities near the first of `targets` (the keys
    /// the workload uses, in the order it first does), closer than any of `honest`,
    /// and gives them their addresses; see [`eclipse`].
    pub fn aim_eclipse(&mut self, seed: u64, targets: &[NodeId], honest: &[NodeId]) {
        let (identities, addresses) = self.eclipse_shape;
        let attackers = self.of(HostileKind::Eclipse);
        self.eclipse = Eclipse::aim(seed, &attackers, targets, honest, identities, addresses);
    }

    /// The nodes behind each shared address, host first: sybils' and eclipse
    /// attackers'.
    pub fn host_groups(&self) -> Vec<Vec<usize>> {
        let mut groups = self.sybil_groups.clone();
        groups.extend(self.eclipse.groups.iter().cloned());
        groups
    }

    /// The secret seeds of the eclipse attackers' ground identities, by node.
    pub fn identity_seeds(&self) -> &BTreeMap<usize, [u8; 32]> {
        &self.eclipse.seeds
    }

    /// Every eclipse attacker's id and address: what they answer FIND_NODE with.
    pub fn allies(&self) -> &[WireContact] {
        &self.eclipse.allies
    }

    /// The keys the eclipse attackers took on.
    pub fn eclipsed_keys(&self) -> &[NodeId] {
        &self.eclipse.keys
    }

    /// Node `node`'s kind; `None` for an honest node.
    pub fn kind(&self, node: usize) -> Option<HostileKind> {
        self.kinds[node]
    }

    /// Whether node `node` is honest.
    pub fn is_honest(&self, node: usize) -> bool {
        self.kinds[node].is_none()
    }

    /// Whether each node is honest, by index.
    pub fn honest(&self) -> Vec<bool> {
        self.kinds.iter().map(Option::is_none).collect()
    }

    /// The nodes of `kind`, in index order.
    pub fn of(&self, kind: HostileKind) -> Vec<usize> {
        (0..self.kinds.len())
            .filter(|&node| self.kinds[node] == Some(kind))
            .collect()
    }

    /// The sybil groups: the nodes behind each shared address, host first.
    pub fn sybil_groups(&self) -> &[Vec<usize>] {
        &self.sybil_groups
    }

    /// Whether the run has hostile nodes at all.
    pub fn is_empty(&self) -> bool {
        self.kinds.iter().all(Option::is_none)
    }

    /// How many nodes of each kind.
    pub fn counts(&self) -> HostileCounts {
        let count = |kind| self.kinds.iter().filter(|k| **k == Some(kind)).count();
        HostileCounts {
            liars: count(HostileKind::Liar),
            droppers: count(HostileKind::Dropper),
            forgers: count(HostileKind::Forger),
            replayers: count(HostileKind::Replayer),
            flooders: count(HostileKind::Flooder),
            sybils: count(HostileKind::Sybil),
            eclipsers: count(HostileKind::Eclipse),
        }
    }

    /// The core behaviour node `node` runs with.
    pub fn behaviour(&self, node: usize) -> Behaviour {
        match self.kinds[node] {
            Some(HostileKind::Liar) => Behaviour::Liar,
            Some(HostileKind::Dropper) => Behaviour::Dropper,
            Some(HostileKind::Forger) => Behaviour::Forger,
            Some(HostileKind::Eclipse) => Behaviour::Eclipse,
            _ => Behaviour::Honest,
        }
    }
}

/// What the hostile nodes sent beyond the protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Activity {
    /// SHS1 hellos flooders sent.
    pub flood_hellos: u64,
    /// Requests flooders started (pings of their closest peers).
    pub flood_requests: u64,
    /// Datagrams replayers re-sent.
    pub replays: u64,
    /// Forged record writes forgers started.
    pub forged_writes: u64,
}

/// One hostile node that acts at a rate.
#[derive(Debug)]
struct Actor {
    node: usize,
    rng: ChaCha8Rng,
    /// Actions owed: the rate times the time since, less what was done.
    credit: f64,
    /// A second credit, for a flooder's requests.
    requests: f64,
    /// A replayer's datagrams to replay.
    seen: Vec<Tapped>,
    /// Which kind of write a forger makes next.
    turn: u64,
    /// A flooder's victims.
    victims: Vec<usize>,
}

impl Actor {
    fn new(seed: u64, node: usize) -> Actor {
        Actor {
            node,
            rng: seed_stream(seed, streams::actor(node)),
            credit: 0.0,
            requests: 0.0,
            seen: Vec::new(),
            turn: 0,
            victims: Vec::new(),
        }
    }

    /// Adds `rate` for `elapsed` to `credit`; how many whole actions are owed.
    fn owed(credit: &mut f64, rate: f64, elapsed: Duration) -> u64 {
        *credit += rate * elapsed.as_secs_f64();
        let whole = credit.floor();
        *credit -= whole;
        whole as u64
    }

    fn pick<'a>(&mut self, from: &'a [usize]) -> Option<&'a usize> {
        match from.len() {
            0 => None,
            n => from.get((self.rng.next_u64() % n as u64) as usize),
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }
}

/// Sends what the hostile nodes send beyond the protocol; see the module docs.
pub struct Driver {
    spec: HostileSpec,
    network_key: [u8; 32],
    crypto: CryptoSuite,
    /// Honest nodes: the targets of floods and replays.
    honest: Vec<usize>,
    flooders: Vec<Actor>,
    replayers: Vec<Actor>,
    forgers: Vec<Actor>,
    /// Replayer by node index (`usize::MAX`: none).
    replayer_of: Vec<usize>,
    last: Time,
    tapped: Vec<Tapped>,
    activity: Activity,
}

impl Driver {
    /// The driver of `roster`'s replayers, flooders and forgers, for a swarm on
    /// `network_key` with `crypto`.
    pub fn new(
        seed: u64,
        spec: &HostileSpec,
        roster: &Roster,
        network_key: [u8; 32],
        crypto: CryptoSuite,
    ) -> Driver {
        let actors = |kind| -> Vec<Actor> {
            roster
                .of(kind)
                .into_iter()
                .map(|n| Actor::new(seed, n))
                .collect()
        };
        let honest: Vec<usize> = (0..roster.kinds.len())
            .filter(|&n| roster.is_honest(n))
            .collect();
        let mut flooders = actors(HostileKind::Flooder);
        for actor in &mut flooders {
            for _ in 0..FLOOD_VICTIMS {
                if let Some(&victim) = actor.pick(&honest) {
                    actor.victims.push(victim);
                }
            }
        }
        let replayers = actors(HostileKind::Replayer);
        let mut replayer_of = vec![usize::MAX; roster.kinds.len()];
        for (i, actor) in replayers.iter().enumerate() {
            replayer_of[actor.node] = i;
        }
        Driver {
            spec: spec.clone(),
            network_key,
            crypto,
            honest,
            flooders,
            replayers,
            forgers: actors(HostileKind::Forger),
            replayer_of,
            last: Time::ZERO,
            tapped: Vec::new(),
            activity: Activity::default(),
        }
    }

    /// Whether any hostile node acts at a rate: then the run ticks every [`TICK`].
    pub fn is_active(&self) -> bool {
        !(self.flooders.is_empty() && self.replayers.is_empty() && self.forgers.is_empty())
    }

    /// Starts tapping the replayers' datagrams.
    pub fn begin(&mut self, engine: &mut dyn Engine) {
        for actor in &self.replayers {
            engine.tap(actor.node);
        }
    }

    /// What the hostile nodes sent so far.
    pub fn activity(&self) -> Activity {
        self.activity
    }

    /// Acts for the time since the last call: the engine's clock is now.
    pub fn tick(&mut self, engine: &mut dyn Engine) {
        let now = engine.now();
        let elapsed = now - self.last;
        self.last = now;
        if !self.is_active() {
            return;
        }
        self.keep_tapped(engine);
        self.flood(engine, elapsed);
        self.replay(engine, elapsed);
        self.forge(engine, elapsed);
    }

    /// Files what the replayers received and sent: handshake messages and sealed
    /// frames, up to [`REPLAY_BUFFER`] each, later ones replacing random earlier ones.
    fn keep_tapped(&mut self, engine: &mut dyn Engine) {
        engine.take_tapped(&mut self.tapped);
        for tapped in self.tapped.drain(..) {
            let worth = matches!(
                wire::decode(&tapped.payload),
                Ok(Datagram::Handshake(_) | Datagram::Sealed { .. })
            );
            let Some(&index) = self.replayer_of.get(tapped.node) else {
                continue;
            };
            if !worth || index == usize::MAX {
                continue;
            }
            let actor = &mut self.replayers[index];
            if actor.seen.len() < REPLAY_BUFFER {
                actor.seen.push(tapped);
            } else {
                let slot = (actor.rng.next_u64() % REPLAY_BUFFER as u64) as usize;
                actor.seen[slot] = tapped;
            }
        }
    }

    fn flood(&mut self, engine: &mut dyn Engine, elapsed: Duration) {
        let rate = self.spec.flood_rate;
        let crypto = self.crypto.implementation();
        for actor in &mut self.flooders {
            let victims = std::mem::take(&mut actor.victims);
            for _ in 0..Actor::owed(&mut actor.credit, rate, elapsed) {
                let Some(&target) = actor.pick(&victims) else {
                    break;
                };
                let mut ephemeral = [0u8; 32];
                actor.rng.fill_bytes(&mut ephemeral);
                let public = crypto.x25519_public(&ephemeral);
                let hello = Datagram::Handshake(Handshake::Hello {
                    client: SessionId(actor.rng.next_u32()),
                    msg: handshake::hello(crypto, &self.network_key, &public),
                });
                let dst = engine.world().addr_of(target);
                engine.send_from(actor.node, dst, hello.to_bytes());
                self.activity.flood_hellos += 1;
            }
            actor.victims = victims;
            let pings = rate / FLOOD_PING_CLOSEST as f64;
            for _ in 0..Actor::owed(&mut actor.requests, pings, elapsed) {
                engine.start_detached(actor.node, Command::PingClosest(FLOOD_PING_CLOSEST));
                self.activity.flood_requests += FLOOD_PING_CLOSEST as u64;
            }
        }
    }

    fn replay(&mut self, engine: &mut dyn Engine, elapsed: Duration) {
        let rate = self.spec.replay_rate;
        for actor in &mut self.replayers {
            for _ in 0..Actor::owed(&mut actor.credit, rate, elapsed) {
                if actor.seen.is_empty() {
                    break;
                }
                let pick = (actor.rng.next_u64() % actor.seen.len() as u64) as usize;
                let (sent, src, dst) = {
                    let seen = &actor.seen[pick];
                    (seen.sent, seen.src, seen.dst)
                };
                // Back where it came from (or, for what it sent itself, where it went
                // again), or to a random honest node.
                let counterpart = if sent { dst } else { src };
                let to: SocketAddr = if actor.rng.next_u32() % 2 == 0 {
                    counterpart
                } else {
                    match actor.pick(&self.honest) {
                        Some(&node) => engine.world().addr_of(node),
                        None => counterpart,
                    }
                };
                let payload = actor.seen[pick].payload.clone();
                engine.send_from(actor.node, to, payload);
                self.activity.replays += 1;
            }
        }
    }

    fn forge(&mut self, engine: &mut dyn Engine, elapsed: Duration) {
        let rate = self.spec.forge_rate;
        for actor in &mut self.forgers {
            for _ in 0..Actor::owed(&mut actor.credit, rate, elapsed) {
                // The core's forger corrupts what it writes; the values are its own.
                let salt_len = 1 + (actor.rng.next_u32() % 16) as usize;
                let command = match actor.turn % 3 {
                    0 => Command::MutablePut {
                        salt: actor.bytes(salt_len),
                        value: actor.bytes(32),
                        seq: None,
                    },
                    1 => Command::Announce {
                        topic: Key(actor.bytes(32).try_into().expect("32 bytes")),
                        relays: Vec::new(),
                    },
                    _ => Command::ImmutablePut(actor.bytes(32)),
                };
                actor.turn += 1;
                engine.start_detached(actor.node, command);
                self.activity.forged_writes += 1;
            }
        }
    }
}
