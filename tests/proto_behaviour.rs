//! Hostile nodes on the in-process harness ([`Behaviour`]): honest lookups still find
//! the true closest among liars, honest holders refuse and count a forger's records and
//! readers reject its forged answers (topic answers announcement by announcement), a
//! dropper's peers see their requests time out, and lookups go on past silent peers.
//! Every swarm names its seed.

use std::time::Duration;

use dswarm::harness::pair::{ask, Pair};
use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::node::{Behaviour, QueryError, Stats};
use dswarm::proto::store::{immutable_key, mutable_key, Refusal};
use dswarm::proto::{Command, Config, Key, NodeId, QueryOutcome, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const LIMIT: Duration = Duration::from_secs(30);

#[path = "support/requests.rs"]
mod requests;

fn secs(s: u64) -> Time {
    Time::ZERO + Duration::from_secs(s)
}

fn outcome(swarm: &mut Swarm, node: usize, command: Command) -> QueryOutcome {
    swarm
        .run_command(node, command, LIMIT)
        .expect("finishes within its limit")
        .outcome
}

fn honest_sum(swarm: &Swarm, count: impl Fn(&Stats) -> u64) -> u64 {
    swarm
        .nodes()
        .iter()
        .filter(|n| n.config().behaviour.is_honest())
        .map(|n| count(&n.stats()))
        .sum()
}

/// One node in ten lies (none of the three bootstrap nodes).
fn liars(index: usize, config: &mut Config) {
    if index % 10 == 7 {
        config.behaviour = Behaviour::Liar;
    }
}

#[test]
fn honest_lookups_find_the_true_closest_among_liars() {
    const SEED: u64 = 9001;
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 200,
        seed: SEED,
        configure: Some(liars),
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(30));
    let ids = swarm.ids();
    let honest: Vec<usize> = (0..ids.len())
        .filter(|&i| swarm.nodes()[i].config().behaviour.is_honest())
        .collect();
    assert_eq!(honest.len(), 180);

    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut queries = Vec::new();
    for _ in 0..300 {
        let from = honest[rng.next_u32() as usize % honest.len()];
        let mut target = from;
        while target == from {
            target = honest[rng.next_u32() as usize % honest.len()];
        }
        let query = swarm
            .start(from, Command::FindNode(ids[target]))
            .expect("bootstrapped nodes know peers");
        queries.push((from, ids[target], query));
        let next = swarm.now() + Duration::from_millis(10);
        swarm.run_until(next);
    }
    let end = swarm.now() + Duration::from_secs(30);
    swarm.run_until(end);

    let mut exact = 0;
    for (from, target, query) in &queries {
        let finished = swarm
            .finished(*from, *query)
            .unwrap_or_else(|| panic!("lookup from {from} never finished; reproduce: seed {SEED}"));
        let QueryOutcome::Found(result) = &finished.outcome else {
            panic!(
                "lookup failed: {:?}; reproduce: seed {SEED}",
                finished.outcome
            );
        };
        if result.closest.first().map(|c| c.id) == Some(*target) {
            exact += 1;
        }
    }
    let rate = f64::from(exact) / queries.len() as f64;
    // The liars did lie: their invented contacts sit at real nodes' addresses, which
    // cannot prove the invented keys.
    let rejected = honest_sum(&swarm, |s| s.sessions.handshakes_rejected);
    let timed_out = honest_sum(&swarm, |s| s.sessions.handshakes_timed_out);
    println!(
        "exact {rate:.4}, invented contacts dialled: {rejected} rejected, {timed_out} timed out"
    );
    assert!(rejected > 0 && timed_out > 0, "the liars invented nothing");
    assert!(rate >= 0.99, "exact {rate}; reproduce: seed {SEED}");
}

/// Node 7 forges.
fn forger(index: usize, config: &mut Config) {
    if index == 7 {
        config.behaviour = Behaviour::Forger;
    }
}

const FORGER: usize = 7;

/// The first value of the form `prefix-N` whose key is closer to `id` than to any
/// other node's: the forger is the first holder every reader asks.
fn value_near(ids: &[NodeId], id: NodeId, prefix: &str) -> Vec<u8> {
    (0..)
        .map(|n| format!("{prefix}-{n}").into_bytes())
        .find(|value| {
            let key = NodeId::from_key(immutable_key(value));
            ids.iter()
                .all(|other| *other == id || id.distance(&key) < other.distance(&key))
        })
        .expect("some value lands next to any id")
}

#[test]
fn a_forgers_writes_are_refused_and_its_answers_rejected() {
    const SEED: u64 = 9002;
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 60,
        seed: SEED,
        configure: Some(forger),
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(20));
    let ids = swarm.ids();
    let forger_id = ids[FORGER];

    // Its mutable records and announcements carry bad signatures: every holder
    // refuses them, and counts the refusal.
    let put = Command::MutablePut {
        salt: b"s".to_vec(),
        value: b"forged".to_vec(),
        seq: Some(1),
    };
    let QueryOutcome::Stored(result) = outcome(&mut swarm, FORGER, put) else {
        panic!("a write ends with a store result");
    };
    assert_eq!(result.stored, 0, "{result:?}; reproduce: seed {SEED}");
    assert_eq!(result.refused.len(), 20, "{result:?}");
    assert!(result
        .refused
        .iter()
        .all(|(_, r)| *r == Refusal::BadSignature));
    let topic = Key::of(b"topic");
    let announce = Command::Announce {
        topic,
        relays: Vec::new(),
    };
    let QueryOutcome::Stored(result) = outcome(&mut swarm, FORGER, announce) else {
        panic!("a write ends with a store result");
    };
    assert_eq!(result.stored, 0, "{result:?}");
    assert!(result
        .refused
        .iter()
        .all(|(_, r)| *r == Refusal::BadSignature));
    assert_eq!(honest_sum(&swarm, |s| s.store.refused_signature), 40);
    assert_eq!(honest_sum(&swarm, |s| s.store.stored), 0);

    // Its immutable value arrives with a byte flipped: stored, if at all, under the
    // key of what arrived, never under the key the forger claims to write.
    let value = b"an immutable value".to_vec();
    let QueryOutcome::Stored(result) =
        outcome(&mut swarm, FORGER, Command::ImmutablePut(value.clone()))
    else {
        panic!("a write ends with a store result");
    };
    // Nobody holds that key, and the forger answers the read with a value of its own
    // making: the reader rejects it.
    let before = swarm.nodes()[30].stats().records_rejected;
    let got = outcome(&mut swarm, 30, Command::ImmutableGet(result.key));
    assert_eq!(got, QueryOutcome::Immutable(None));
    assert_eq!(swarm.nodes()[30].stats().records_rejected, before + 1);

    // Reads of honest records the forger holds (it is the closest holder, asked
    // first): the readers get the true records from the other holders. A read that
    // asks every holder (`latest`) also rejects and counts the forger's answer.
    let value = value_near(&ids, forger_id, "near");
    let key = immutable_key(&value);
    let QueryOutcome::Stored(result) =
        outcome(&mut swarm, 20, Command::ImmutablePut(value.clone()))
    else {
        panic!("a write ends with a store result");
    };
    assert_eq!(result.stored, 20, "{result:?}; reproduce: seed {SEED}");
    let got = outcome(&mut swarm, 30, Command::ImmutableGet(key));
    assert_eq!(got, QueryOutcome::Immutable(Some(value)));

    let owner = ids[21];
    let salt = (0u32..)
        .map(|n| n.to_be_bytes().to_vec())
        .find(|salt| {
            let key = NodeId::from_key(mutable_key(&owner, salt));
            ids.iter()
                .all(|other| *other == forger_id || forger_id.distance(&key) < other.distance(&key))
        })
        .expect("some salt lands next to any id");
    let put = Command::MutablePut {
        salt: salt.clone(),
        value: b"true".to_vec(),
        seq: Some(3),
    };
    let QueryOutcome::Stored(result) = outcome(&mut swarm, 21, put) else {
        panic!("a write ends with a store result");
    };
    assert_eq!(result.stored, 20, "{result:?}; reproduce: seed {SEED}");
    let before = swarm.nodes()[32].stats().records_rejected;
    let get = Command::MutableGet {
        public_key: owner,
        salt,
        seq: 0,
        latest: true,
    };
    let QueryOutcome::Mutable(Some(record)) = outcome(&mut swarm, 32, get) else {
        panic!("the true record is found; reproduce: seed {SEED}");
    };
    assert_eq!((record.seq, record.value.as_slice()), (3, &b"true"[..]));
    assert_eq!(swarm.nodes()[32].stats().records_rejected, before + 1);
}

#[test]
fn a_forgers_topic_answers_are_dropped_and_counted() {
    const SEED: u64 = 9005;
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 60,
        seed: SEED,
        configure: Some(forger),
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(20));
    let ids = swarm.ids();
    // A topic next to the forger: it holds the announcements, and every topic lookup
    // asks it.
    let topic = Key::of(&value_near(&ids, ids[FORGER], "topic"));
    let announcers = [3, 11, 25];
    for &node in &announcers {
        let announce = Command::Announce {
            topic,
            relays: Vec::new(),
        };
        let QueryOutcome::Stored(result) = outcome(&mut swarm, node, announce) else {
            panic!("a write ends with a store result");
        };
        assert_eq!(result.stored, 20, "{result:?}; reproduce: seed {SEED}");
    }
    let asker = 40;
    let before = swarm.nodes()[asker].stats();
    let QueryOutcome::Peers(peers) = outcome(&mut swarm, asker, Command::TopicLookup(topic)) else {
        panic!("a topic lookup ends with peers");
    };
    let mut want: Vec<NodeId> = announcers.iter().map(|&n| ids[n]).collect();
    want.sort();
    let found: Vec<NodeId> = peers.iter().map(|p| p.public_key).collect();
    assert_eq!(found, want, "reproduce: seed {SEED}");
    // The forger's answer: an invented announcer and the three it holds with their
    // signatures corrupted (forged), and its own, signed long ago (stale).
    let after = swarm.nodes()[asker].stats();
    assert_eq!(
        after.announcements_forged - before.announcements_forged,
        4,
        "reproduce: seed {SEED}"
    );
    assert_eq!(after.announcements_stale - before.announcements_stale, 1);
    assert_eq!(honest_sum(&swarm, |s| s.announcements_forged), 4);
}

#[test]
fn a_forgers_beacons_are_refused_and_counted() {
    const SEED: u64 = 9003;
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 12,
        seed: SEED,
        segments: 1,
        bootstrap_nodes: 0,
        configure: Some(forger),
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(30));
    let forged = honest_sum(&swarm, |s| s.beacons_forged);
    assert!(forged > 0, "reproduce: seed {SEED}");
    assert_eq!(swarm.nodes()[FORGER].stats().beacons_forged, 0);
    // The honest nodes found each other by their beacons all the same.
    for (i, node) in swarm.nodes().iter().enumerate() {
        if i != FORGER {
            assert!(node.table().len() >= 10, "node {i}: {}", node.table().len());
        }
    }
}

/// Node 9 drops.
fn dropper(index: usize, config: &mut Config) {
    if index == 9 {
        config.behaviour = Behaviour::Dropper;
    }
}

#[test]
fn a_droppers_peers_see_timeouts() {
    const SEED: u64 = 9004;
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 30,
        seed: SEED,
        configure: Some(dropper),
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(20));
    let dropper_id = swarm.nodes()[9].id();
    // The dropper bootstrapped through node 0: its requests put it in node 0's table.
    assert!(swarm.nodes()[0].table().get(&dropper_id).is_some());
    let timed_out = swarm.nodes()[0].stats().requests_timed_out;
    let got = outcome(&mut swarm, 0, Command::Ping(dropper_id));
    assert_eq!(
        got,
        QueryOutcome::Failed(QueryError::Timeout),
        "reproduce: seed {SEED}"
    );
    assert!(
        swarm.nodes()[0].has_session(&dropper_id),
        "the session opened"
    );
    // The ping's timeout is counted (node 0's own lookups, running meanwhile, may ask
    // the dropper too).
    assert!(swarm.nodes()[0].stats().requests_timed_out > timed_out);
    // It answered nothing, to anybody, while it ran its own lookups.
    let dropper_stats = swarm.nodes()[9].stats();
    assert!(dropper_stats.requests_received > 0);
    assert!(dropper_stats.responses_received > 0);
    // Honest lookups go on around it.
    let target = swarm.nodes()[17].id();
    let QueryOutcome::Found(result) = outcome(&mut swarm, 3, Command::FindNode(target)) else {
        panic!("the lookup ends with a result; reproduce: seed {SEED}");
    };
    assert_eq!(result.closest.first().map(|c| c.id), Some(target));
}

/// One node in ten lies and one in twenty drops (none of the three bootstrap nodes).
fn liars_and_droppers(index: usize, config: &mut Config) {
    config.behaviour = match index % 20 {
        7 | 17 => Behaviour::Liar,
        9 => Behaviour::Dropper,
        _ => Behaviour::Honest,
    };
}

/// The median time of 60 immutable puts from nodes honest in [`liars_and_droppers`],
/// in a swarm of 200 that `configure` may make partly hostile. A put's first phase is a
/// lookup of the k closest to its key.
fn median_put(seed: u64, configure: Option<fn(usize, &mut Config)>) -> Duration {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 200,
        seed,
        configure,
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(30));
    let honest: Vec<usize> = (3..200).filter(|i| !matches!(i % 20, 7 | 9 | 17)).collect();
    let mut puts = Vec::new();
    for i in 0..60 {
        let from = honest[i * 7 % honest.len()];
        let value = format!("value {i}").into_bytes();
        let query = swarm
            .start(from, Command::ImmutablePut(value))
            .expect("bootstrapped nodes know peers");
        puts.push((from, query));
        let next = swarm.now() + Duration::from_millis(50);
        swarm.run_until(next);
    }
    let end = swarm.now() + Duration::from_secs(30);
    swarm.run_until(end);
    let mut times: Vec<Duration> = puts
        .iter()
        .map(|(from, query)| {
            let finished = swarm
                .finished(*from, *query)
                .unwrap_or_else(|| panic!("a put never finished; reproduce: seed {seed}"));
            assert!(
                matches!(&finished.outcome, QueryOutcome::Stored(r) if r.stored > 0),
                "{:?}; reproduce: seed {seed}",
                finished.outcome
            );
            finished.elapsed
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// A dropper never answers, and a contact a liar invented at a real node's address
/// never finishes its handshake. Lookups that waited for them through every retry made
/// the median put 4.8 times as long here as in the same swarm without hostile nodes
/// (3.99 s against 0.83 s). Asking another peer once one is silent past its request's
/// first wait brings that to 1.53 times (1.25 s against 0.82 s), with one node in
/// seven hostile; on `scenarios/hostile.toml`'s 2,000 nodes it is 1.16 times. The
/// bound is 2: well clear of the first figure, and not at the edge of the second.
#[test]
fn silent_peers_do_not_hold_up_lookups_of_the_k_closest() {
    const SEED: u64 = 9005;
    let honest = median_put(SEED, None);
    let hostile = median_put(SEED, Some(liars_and_droppers));
    println!("median put: {honest:?} without hostile nodes, {hostile:?} among them");
    assert!(
        hostile.as_secs_f64() <= 2.0 * honest.as_secs_f64(),
        "median put {hostile:?} among hostile nodes, {honest:?} without; reproduce: seed {SEED}"
    );
}

/// A hostile node of every kind takes every kind of request, punches included, and
/// answers or ignores it: a test-bed's hostile node that panics ends the run.
#[test]
fn hostile_nodes_take_every_request_without_panicking() {
    let behaviours = [
        Behaviour::Liar,
        Behaviour::Dropper,
        Behaviour::Forger,
        Behaviour::Eclipse,
    ];
    for (seed, behaviour) in (1..).zip(behaviours) {
        let mut pair = Pair::connected_with(seed, |config| config.behaviour = behaviour);
        let identity = dswarm::proto::Identity::from_seed([seed as u8; 32]);
        let reflexive = "203.0.113.9:40000".parse().unwrap();
        let crypto = pair.crypto();
        let requests = requests::every_kind(crypto, &identity, b"v".to_vec(), reflexive);
        for (tx, request) in (1..).zip(requests) {
            let now = pair.now;
            let kind = format!("{request:?}");
            let answer = ask(
                &mut pair.node,
                &mut pair.peer,
                now,
                Pair::PEER_ADDR,
                Pair::NODE_ADDR,
                dswarm::proto::wire::TxId(tx),
                request,
            );
            if behaviour == Behaviour::Dropper {
                assert_eq!(answer, None, "{behaviour:?} answered {kind}");
            }
        }
    }
}
