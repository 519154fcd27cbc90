//! One FIND_NODE lookup in a bootstrapped 10,000-node swarm on the in-process harness.
//!
//! The swarm is built once (fixed seed, every node joins within the join window, then
//! 30 simulated seconds settle it); its wall time and network counters are printed.
//! Each iteration then looks up an existing node's id from another node, both drawn
//! from a fixed-seed RNG, and steps the whole swarm until that lookup finishes: the
//! figure is wall time per lookup, including everything else the swarm does meanwhile.
//!
//! One change from the default node configuration: bucket refresh every 24 h instead
//! of every 600 s. The nodes all joined within two seconds, so with the default every
//! one of them refreshes all its buckets at about t = 600 s, which the bench reaches
//! after some 1,300 lookups (each takes about half a simulated second). That burst
//! costs as much wall time as the whole bootstrap and would land inside whichever
//! sample happened to run then.
//!
//! `DSWARM_BENCH_NODES=N` runs the same bench on `N` nodes (the bench id names the
//! size), for a quicker look than the 10,000-node build allows.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use dswarm::harness::{Finished, Swarm, SwarmConfig};
use dswarm::proto::{Command, QueryOutcome, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const SEED: u64 = 0xBE7C_0003;
/// Swarm size; `DSWARM_BENCH_NODES=N` picks another (the 10,000-node build is slow).
const NODES: usize = 10_000;
/// Simulated time after the join window for every bootstrap to finish.
const SETTLE: Duration = Duration::from_secs(30);
/// Longer than the simulated time the bench covers; see the module docs.
const REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Simulated time one lookup may take.
const LOOKUP_LIMIT: Duration = Duration::from_secs(30);

fn nodes() -> usize {
    std::env::var("DSWARM_BENCH_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n >= 2)
        .unwrap_or(NODES)
}

fn build() -> Swarm {
    let nodes = nodes();
    let mut config = SwarmConfig {
        nodes,
        seed: SEED,
        ..SwarmConfig::default()
    };
    config.node.table.refresh_interval = REFRESH_INTERVAL;
    let settled = Time::ZERO + config.join_window + SETTLE;
    // Wall time of the build, for the report: benches measure wall time.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut swarm = Swarm::new(config);
    swarm.run_until(settled);
    let wall = started.elapsed();

    let mut sizes: Vec<usize> = swarm.nodes().iter().map(|n| n.table().len()).collect();
    sizes.sort_unstable();
    let net = swarm.net_stats();
    eprintln!(
        "lookup: built {nodes} nodes (seed {SEED}) to {:?} simulated in {wall:.2?} wall; \
         table sizes min {} median {} max {}; datagrams sent {} delivered {} dropped {}",
        swarm.now(),
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1],
        net.sent,
        net.delivered,
        net.dropped,
    );
    assert!(sizes[0] > 0, "a node never bootstrapped; seed {SEED}");
    swarm
}

fn lookup(c: &mut Criterion) {
    // Built on first use, so that a filter that skips this bench skips the build too.
    let mut swarm: Option<Swarm> = None;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let (mut lookups, mut exact, mut hops) = (0u64, 0u64, 0u64);

    c.bench_function(&format!("lookup/find_node_{}", nodes()), |b| {
        let swarm = swarm.get_or_insert_with(build);
        let ids = swarm.ids();
        let nodes = ids.len();
        b.iter(|| {
            let from = rng.next_u32() as usize % nodes;
            let mut to = rng.next_u32() as usize % nodes;
            if to == from {
                to = (to + 1) % nodes;
            }
            let target = ids[to];
            let finished = swarm.run_command(from, Command::FindNode(target), LOOKUP_LIMIT);
            let Some(Finished {
                outcome: QueryOutcome::Found(result),
                ..
            }) = finished
            else {
                panic!(
                    "lookup of node {to} from node {from} did not finish with Found: \
                     {finished:?}; seed {SEED}"
                );
            };
            lookups += 1;
            exact += u64::from(result.closest.first().map(|c| c.id) == Some(target));
            hops += u64::from(result.hops);
            black_box(result)
        });
    });

    if let Some(swarm) = &swarm {
        let net = swarm.net_stats();
        eprintln!(
            "lookup: {lookups} lookups, simulated clock now {:?}; {exact} returned the target \
             first ({:.1}%), mean hops {:.2}; datagrams sent {} delivered {} dropped {}",
            swarm.now(),
            100.0 * exact as f64 / lookups.max(1) as f64,
            hops as f64 / lookups.max(1) as f64,
            net.sent,
            net.delivered,
            net.dropped,
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = lookup
}
criterion_main!(benches);
