//! The shipped scenarios, run as a user would, where they fit in a test's time.

use std::path::Path;

use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, CryptoKind, EngineKind};

/// Regression: with nodes on 8 multicast segments, a node used to look itself up
/// among its own segment only (its beacons arrive before bootstrap's answers), so the
/// segments became islands joined only through the bootstrap nodes and 29 % of
/// lookups at 1,000 nodes missed their target.
///
/// An island node knows nobody beyond its segment; here every node must know at least
/// ten peers there when the lookups start. This used to be checked as "every table
/// holds at least 100 contacts", a proxy that the join's refresh of every far bucket
/// met and a join that fills only the neighbourhood does not (tables of 80 to 130 at
/// 60 s, most of them segment peers that beacons brought). Measured at seed 7: at
/// least 19 peers beyond the segment with the lighter join, 47 with the full one.
#[test]
fn multicast_segments_do_not_become_islands() {
    use std::time::Duration;

    use dswarm::proto::Time;
    use dswarm_sim::engine::{direct::Direct, Engine};
    use dswarm_sim::world::World;

    let scenario = scenario::load(Path::new("../scenarios/bootstrap-multicast.toml")).unwrap();
    let mut scenario = scenario.with_nodes(1000).unwrap();
    scenario.engine = EngineKind::Direct;
    scenario.crypto = CryptoKind::Fast;
    let report = runner::run(&scenario, Options::default()).unwrap().report;
    println!("{}", report.summary());
    assert_eq!(report.lookups.issued, 1000);
    assert_eq!(
        report.lookups.succeeded, 1000,
        "every lookup finds its target"
    );
    assert!(report.pass);

    // The same swarm at the time its lookups start.
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let segments = scenario.network.segments;
    let segment: Vec<usize> = (0..scenario.nodes)
        .map(|i| world.host(i) % segments)
        .collect();
    let mut engine = Direct::new(runner::swarm_config(&scenario), world);
    engine.run_until(Time::ZERO + Duration::from_secs(60));
    let ids = engine.swarm().ids();
    let node_of: std::collections::BTreeMap<_, _> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for (i, node) in engine.swarm().nodes().iter().enumerate() {
        let (mut own, mut beyond) = (0, 0);
        for contact in node.table().iter() {
            if segment[node_of[&contact.id]] == segment[i] {
                own += 1;
            } else {
                beyond += 1;
            }
        }
        assert!(
            beyond >= 10,
            "node {i} knows {own} peers on its segment and only {beyond} beyond it"
        );
    }
}

/// Regression: a node whose segment's beacons had filled the bucket of a bootstrap
/// node could not keep that bootstrap node in its table, so its self-lookup started
/// from its segment alone. With 8 segments at 2,000 nodes, 85 nodes of one segment
/// ended up knowing only each other (some held none of their 20 true closest), and
/// lookups of random keys ended at 20 nodes none of which was among the true closest:
/// 2 % of record gets missed. Bootstrap now seeds its self-lookup with every
/// bootstrap node that answered, whether or not the table had room for it.
#[test]
fn lookups_of_random_keys_converge_across_segments() {
    use std::time::Duration;

    use dswarm::proto::{Command, NodeId, QueryOutcome, Time};
    use dswarm_sim::engine::{direct::Direct, Engine};
    use dswarm_sim::world::World;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    let mut scenario = scenario::load(Path::new("../scenarios/bootstrap-multicast.toml")).unwrap();
    scenario.seed = 1;
    scenario.crypto = CryptoKind::Fast;
    let world = World::new(scenario.seed, scenario.nodes, &scenario.network);
    let mut engine = Direct::new(runner::swarm_config(&scenario), world);
    engine.run_until(Time::ZERO + Duration::from_secs(30));

    let ids = engine.swarm().ids();
    let mut worst = (20, 0);
    for (i, node) in engine.swarm().nodes().iter().enumerate() {
        let mut others: Vec<NodeId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
        others.sort_unstable_by_key(|id| id.distance(&ids[i]));
        let held = others[..20]
            .iter()
            .filter(|id| node.table().get(id).is_some())
            .count();
        worst = worst.min((held, i));
    }
    assert!(
        worst.0 >= 18,
        "node {} holds only {} of its 20 closest",
        worst.1,
        worst.0
    );

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut targets = Vec::new();
    for tag in 0..500 {
        let mut target = [0u8; 32];
        rng.fill_bytes(&mut target);
        let node = (rng.next_u64() % ids.len() as u64) as usize;
        engine.start(node, Command::FindNode(NodeId(target)), tag);
        targets.push((node, NodeId(target)));
    }
    let until = engine.now() + Duration::from_secs(10);
    engine.run_until(until);
    let mut done = Vec::new();
    engine.drain_finished(&mut done);
    assert_eq!(done.len(), 500);
    let (mut hits, mut of, mut disjoint) = (0, 0, 0);
    for d in &done {
        let (node, target) = targets[d.tag as usize];
        let Ok((_, QueryOutcome::Found(result))) = &d.result else {
            panic!("lookup {} failed: {:?}", d.tag, d.result);
        };
        let (h, o) = engine.swarm().recall(node, &target, &result.closest, 20);
        hits += h;
        of += o;
        disjoint += usize::from(h == 0);
    }
    let recall = hits as f64 / of as f64;
    println!("recall of the 20 closest over 500 random keys: {recall:.4}, disjoint {disjoint}");
    assert_eq!(disjoint, 0, "a lookup ended among none of the true closest");
    assert!(recall >= 0.99, "recall {recall:.4}");
}

/// Issue 25: a lookup of a node behind a NAT used to fail (no routing table lists
/// it, so no walk ends at it), and nat-mix's lookups found exactly its open nodes.
/// Lookups now find such a node as Connect does, by its own signed declaration: the
/// scenario's expectations hold at 500 nodes, and the report tells the two kinds
/// apart.
#[test]
fn nat_mix_finds_nodes_behind_nats_by_their_declaration() {
    let scenario = scenario::load(Path::new("../scenarios/nat-mix.toml")).unwrap();
    let mut scenario = scenario.with_nodes(500).unwrap();
    let workload = &mut scenario.workload[0];
    (workload.lookups, workload.connects) = (500, 300);
    let report = runner::run(&scenario, Options::default()).unwrap().report;
    let why = format!("reproduce: dswarm run scenarios/nat-mix.toml --nodes 500 (with 500 lookups and 300 connects)\n{}", report.summary());
    let lookups = report.lookups;
    assert_eq!(lookups.issued, 500, "{why}");
    assert_eq!(
        lookups.succeeded,
        lookups.listed + lookups.declared,
        "{why}"
    );
    // 40 % of the nodes are open: they answer; the rest are found declared.
    let share = |n: u64| n as f64 / lookups.issued as f64;
    assert!((0.3..0.5).contains(&share(lookups.listed)), "{why}");
    assert!((0.5..0.7).contains(&share(lookups.declared)), "{why}");
    let protocol = &report.protocol;
    assert!(
        protocol.lookups_found_declared >= lookups.declared,
        "the nodes count what the tally saw, and connects' searches too: {why}"
    );
    assert!(report.pass, "{why}");
}

/// Issue 25: `scenarios/streams.toml` as shipped (500 nodes behind a NAT mix, 2 %
/// loss, 1 % reordering, 200 transfers of 256 KiB): every transfer finishes on every
/// path, and the listeners checked every byte against what the openers wrote.
#[test]
fn streams_carry_every_byte_across_the_nat_mix_on_every_path() {
    let scenario = scenario::load(Path::new("../scenarios/streams.toml")).unwrap();
    let report = runner::run(&scenario, Options::default()).unwrap().report;
    let why = format!(
        "reproduce: dswarm run scenarios/streams.toml\n{}",
        report.summary()
    );
    let streams = &report.streams;
    assert_eq!(streams.issued, 200, "{why}");
    assert_eq!(streams.completed, 200, "{why}");
    assert_eq!(streams.bytes, 200 * 256 * 1024, "{why}");
    assert_eq!(report.safety.stream_bytes_corrupt, 0, "{why}");
    for path in ["direct", "punched", "relayed"] {
        let taken = streams.by_path.get(path).map_or(0, |p| p.completed);
        assert!(taken > 0, "no transfer went {path}: {why}");
    }
    assert!(streams.goodput_mbps_p50.is_some_and(|g| g > 0.0), "{why}");
    assert!(report.pass, "{why}");
}

/// The turmoil engine does not run streams: a clear error at the key, not a panic.
#[test]
fn the_turmoil_engine_refuses_streams_at_the_key() {
    let scenario = scenario::load(Path::new("../scenarios/streams.toml")).unwrap();
    let error = scenario.with_engine(EngineKind::Turmoil).unwrap_err();
    assert_eq!(error.key.as_deref(), Some("workload[0].streams"), "{error}");
    assert!(error.message.contains("does not run streams"), "{error}");
}
