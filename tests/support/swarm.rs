//! Swarm scenarios shared by the harness tests: a batch of lookups checked against the
//! global oracle, and a forged-key beacon run once per crypto suite.

// Each test file that includes this module uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::discovery::network_tag;
use dswarm::proto::lookup::Found;
use dswarm::proto::wire::{Beacon, Datagram};
use dswarm::proto::{Command, CryptoSuite, Event, Identity, NodeId, QueryOutcome, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// What came of [`run_lookups`].
#[derive(Debug)]
pub struct LookupTally {
    /// How many lookups of existing ids ran.
    pub lookups: usize,
    /// The lookups whose closest contact was not their target (a node looking up its
    /// own id finds the others around it, never itself, and is not counted here):
    /// `(asker, target, closest found)`.
    pub misses: Vec<(usize, NodeId, Option<NodeId>)>,
    /// Of the oracle's k closest to each random point, summed over the lookups of
    /// random points: how many the lookup found, and how many there were. (A lookup of
    /// an existing id ends as soon as that node answers: it does not gather the k
    /// closest.)
    pub recall_hits: usize,
    pub recall_total: usize,
    /// Every lookup's hop count (of an existing id), sorted.
    pub hops: Vec<u8>,
}

impl LookupTally {
    /// The lookups whose closest contact was their target (or that looked up their
    /// asker's own id).
    pub fn exact(&self) -> usize {
        self.lookups - self.misses.len()
    }
}

/// Starts `count` FIND_NODE lookups, each of a random existing id from a random node
/// (drawn from `seed`), and beside each one a lookup of a random point (an id nobody
/// holds, which walks to the k closest), 10 ms apart; runs 30 s more; then checks that
/// every lookup finished and found something, and tallies them against the swarm's
/// oracle: whether the lookups of existing ids found their node, how many of the k
/// closest the lookups of random points found. Panics name `seed` to reproduce.
pub fn run_lookups(swarm: &mut Swarm, count: usize, seed: u64) -> LookupTally {
    let ids = swarm.ids();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut queries, mut points) = (Vec::new(), Vec::new());
    for _ in 0..count {
        let from = (rng.next_u32() as usize) % ids.len();
        let target = ids[(rng.next_u32() as usize) % ids.len()];
        let query = swarm
            .start(from, Command::FindNode(target))
            .expect("bootstrapped nodes know peers");
        queries.push((from, target, query));
        let from = (rng.next_u32() as usize) % ids.len();
        let mut point = [0u8; 32];
        rng.fill_bytes(&mut point);
        let point = NodeId(point);
        let query = swarm
            .start(from, Command::FindNode(point))
            .expect("bootstrapped nodes know peers");
        points.push((from, point, query));
        let next = swarm.now() + Duration::from_millis(10);
        swarm.run_until(next);
    }
    let end = swarm.now() + Duration::from_secs(30);
    swarm.run_until(end);
    let result = |from: usize, target: &NodeId, query| {
        let finished = swarm.finished(from, query).unwrap_or_else(|| {
            panic!("lookup of {target:?} from node {from} never finished; reproduce: seed {seed}")
        });
        let QueryOutcome::Found(result) = &finished.outcome else {
            panic!(
                "lookup failed: {:?}; reproduce: seed {seed}",
                finished.outcome
            );
        };
        result.clone()
    };

    let mut tally = LookupTally {
        lookups: queries.len(),
        misses: Vec::new(),
        recall_hits: 0,
        recall_total: 0,
        hops: Vec::new(),
    };
    for (from, target, query) in &queries {
        let result = result(*from, target, *query);
        tally.hops.push(result.hops);
        let closest = result.closest.first().map(|c| c.id);
        let listed = result.found == Some(Found::Listed);
        assert_eq!(listed, closest == Some(*target), "found means first");
        if !listed && ids[*from] != *target {
            tally.misses.push((*from, *target, closest));
        }
    }
    for (from, point, query) in &points {
        let result = result(*from, point, *query);
        assert_eq!(result.found, None, "nobody holds {point:?}");
        let k = swarm.nodes()[*from].config().table.bucket_capacity;
        let (hits, total) = swarm.recall(*from, point, &result.closest, k);
        tally.recall_hits += hits;
        tally.recall_total += total;
    }
    tally.hops.sort_unstable();
    tally
}

/// A well-signed beacon of an identity no node holds, sent from node 5's address in a
/// 10-node, one-segment swarm of `suite` nodes: node 2 dials that key at node 5, node 5
/// cannot prove it, and the identity never enters node 2's table.
pub fn a_beacon_claiming_another_key_at_a_peers_address_never_enters_the_table(
    suite: CryptoSuite,
    seed: u64,
) {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 10,
        seed,
        segments: 1,
        bootstrap_nodes: 0,
        crypto: suite,
        ..SwarmConfig::default()
    });
    swarm.record_events();
    swarm.run_until(Time::ZERO + Duration::from_secs(8));
    let ghost = Identity::from_seed([0x99; 32]);
    let tag = network_tag(&swarm.nodes()[2].config().network_key);
    let unix_secs = swarm.nodes()[2].unix_secs(swarm.now());
    let signed = Beacon::signed_bytes(&ghost.id(), 7000, unix_secs, &tag);
    let beacon = Datagram::Beacon(Beacon {
        id: ghost.id(),
        port: 7000,
        unix_secs,
        network_tag: tag,
        signature: suite.implementation().sign(&ghost, &signed),
    });
    swarm.inject(swarm.addr(5), 2, beacon.to_bytes());
    swarm.run_until(Time::ZERO + Duration::from_secs(30));
    assert!(swarm.nodes()[2].table().get(&ghost.id()).is_none());
    assert!(!swarm.nodes()[2].has_session(&ghost.id()));
    let failed = swarm.events().iter().any(|(_, n, e)| {
        *n == 2 && matches!(e, Event::HandshakeFailed { id, .. } if *id == ghost.id())
    });
    assert!(failed, "the failed dial is reported");
    assert!(
        swarm.nodes()[5].stats().sessions.handshakes_rejected >= 1,
        "node 5 refused msg3"
    );
}

/// Beacons multicast by the nodes whose index has the other parity than `node`'s: in
/// swarms split into even and odd halves (two network keys, two crypto suites), what
/// `node` heard from the half it must not trust.
pub fn beacons_of_the_other_half(swarm: &Swarm, node: usize) -> u64 {
    swarm
        .nodes()
        .iter()
        .skip(1 - node % 2)
        .step_by(2)
        .map(|n| n.stats().beacons_sent)
        .sum()
}
