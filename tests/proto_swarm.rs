//! A 1,000-node swarm on the in-process harness: bootstrap from 3 seed nodes, then
//! 1,000 FIND_NODE lookups of existing ids, checked against a global brute-force
//! oracle of the k closest.

use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::{Command, QueryOutcome, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const SEED: u64 = 20261123;

fn percentile(sorted: &[u8], p: f64) -> u8 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn thousand_nodes_find_each_other_exactly() {
    let config = SwarmConfig {
        nodes: 1000,
        seed: SEED,
        ..SwarmConfig::default()
    };
    let k = config.node.table.bucket_capacity;
    let mut swarm = Swarm::new(config);
    swarm.run_until(Time::ZERO + Duration::from_secs(30));

    let ids = swarm.ids();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut queries = Vec::new();
    for _ in 0..1000 {
        let from = (rng.next_u32() as usize) % ids.len();
        let target = ids[(rng.next_u32() as usize) % ids.len()];
        let query = swarm
            .start(from, Command::FindNode(target))
            .expect("bootstrapped nodes know peers");
        queries.push((from, target, query));
        let next = swarm.now() + Duration::from_millis(10);
        swarm.run_until(next);
    }
    let end = swarm.now() + Duration::from_secs(30);
    swarm.run_until(end);

    let (mut exact, mut recall_hits, mut recall_total) = (0usize, 0usize, 0usize);
    let mut hops = Vec::new();
    for (from, target, query) in &queries {
        let finished = swarm.finished(*from, *query).unwrap_or_else(|| {
            panic!("lookup of {target:?} from node {from} never finished; reproduce: seed {SEED}")
        });
        let QueryOutcome::Found(result) = &finished.outcome else {
            panic!("lookup failed: {:?}", finished.outcome);
        };
        hops.push(result.hops);
        // Looking up one's own id finds the others around it, never oneself.
        let hit = result.closest.first().map(|c| c.id) == Some(*target) || ids[*from] == *target;
        exact += usize::from(hit);
        let (hits, total) = swarm.recall(*from, target, &result.closest, k);
        recall_hits += hits;
        recall_total += total;
    }
    hops.sort_unstable();
    let hops_mean = hops.iter().map(|&h| f64::from(h)).sum::<f64>() / hops.len() as f64;
    let exact_rate = exact as f64 / queries.len() as f64;
    let recall = recall_hits as f64 / recall_total as f64;
    let net = swarm.net_stats();
    println!(
        "1000 nodes, 1000 lookups: exact {exact_rate:.4}, recall {recall:.4}, hops mean {hops_mean:.2} p50 {} p95 {} max {}, \
         datagrams sent {} delivered {} dropped {}, trace {}",
        percentile(&hops, 0.50),
        percentile(&hops, 0.95),
        hops.last().unwrap(),
        net.sent,
        net.delivered,
        net.dropped,
        &swarm.trace_hash()[..16],
    );
    assert!(
        exact_rate >= 0.999,
        "exact {exact_rate}; reproduce: seed {SEED}"
    );
    assert!(recall >= 0.99, "recall {recall}; reproduce: seed {SEED}");
}
