//! `dswarm swarm`: the core's in-process swarm, run from the command line.
//!
//! In: a size, a seed and a network model. Out: the parameters first, a progress line
//! per phase, then lookup success, exact-match rate, recall against a brute-force
//! oracle, hops and latency percentiles, traffic and the trace hash. Exit 1 (with a
//! `reproduce:` line) when lookup success falls below `--expect-success`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::{Command, QueryOutcome, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Arguments of `dswarm swarm`.
#[derive(Args, Debug, Clone)]
pub struct SwarmArgs {
    /// Nodes in the swarm.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    nodes: u32,
    /// FIND_NODE lookups of existing node ids after the swarm has settled.
    #[arg(long, default_value_t = 1000)]
    lookups: u32,
    /// The run's seed: keys, latencies, losses and lookup targets all come from it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Probability that a datagram is lost, 0..1.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    loss: f64,
    /// Multicast segments for beacons (0: no multicast, bootstrap only).
    #[arg(long, default_value_t = 0)]
    segments: u32,
    /// Bootstrap nodes every node knows at start.
    #[arg(long, default_value_t = 3)]
    bootstrap: u32,
    /// Smallest one-way latency, in milliseconds.
    #[arg(long, default_value_t = 5)]
    latency_min_ms: u64,
    /// Largest one-way latency, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_max_ms: u64,
    /// Simulated seconds between the last join and the first lookup.
    #[arg(long, default_value_t = 30)]
    settle_secs: u64,
    /// Fail (exit 1) when the share of lookups that find their target is lower.
    #[arg(long, default_value_t = 0.99, value_parser = probability)]
    expect_success: f64,
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not between 0 and 1"))
    }
}

fn percentile<T: Copy + Ord>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Runs `dswarm swarm`.
pub fn run(args: &SwarmArgs) -> ExitCode {
    if args.latency_max_ms < args.latency_min_ms {
        eprintln!(
            "error: --latency-max-ms ({}) is below --latency-min-ms ({})",
            args.latency_max_ms, args.latency_min_ms
        );
        return ExitCode::from(2);
    }
    let config = SwarmConfig {
        nodes: args.nodes as usize,
        seed: args.seed,
        latency_min: Duration::from_millis(args.latency_min_ms),
        latency_max: Duration::from_millis(args.latency_max_ms),
        loss: args.loss,
        segments: args.segments as usize,
        bootstrap_nodes: (args.bootstrap as usize).min(args.nodes as usize),
        ..SwarmConfig::default()
    };
    println!(
        "seed {} nodes {} lookups {} loss {} segments {} bootstrap {} latency {}..{} ms join {:?} settle {} s",
        config.seed,
        config.nodes,
        args.lookups,
        config.loss,
        config.segments,
        config.bootstrap_nodes,
        args.latency_min_ms,
        args.latency_max_ms,
        config.join_window,
        args.settle_secs,
    );
    let k = config.node.table.bucket_capacity;
    // Wall time is measured for the report only; nothing simulated reads it.
    #[allow(clippy::disallowed_methods)]
    let wall = Instant::now();
    let mut swarm = Swarm::new(config);
    let settled = Time::ZERO + swarm.config().join_window + Duration::from_secs(args.settle_secs);
    swarm.run_until(settled);
    let net = swarm.net_stats();
    println!(
        "joined: {:.1} s wall, {} datagrams, mean table size {:.1}",
        wall.elapsed().as_secs_f64(),
        net.sent,
        swarm.nodes().iter().map(|n| n.table().len()).sum::<usize>() as f64
            / swarm.nodes().len() as f64,
    );

    let ids = swarm.ids();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    rng.set_stream(u64::MAX);
    let mut queries = Vec::with_capacity(args.lookups as usize);
    for _ in 0..args.lookups {
        let from = rng.next_u64() as usize % ids.len();
        let target = ids[rng.next_u64() as usize % ids.len()];
        if let Ok(query) = swarm.start(from, Command::FindNode(target)) {
            queries.push((from, target, Some(query)));
        } else {
            queries.push((from, target, None));
        }
        let next = swarm.now() + Duration::from_millis(10);
        swarm.run_until(next);
    }
    let end = swarm.now() + Duration::from_secs(60);
    swarm.run_until(end);

    let (mut found, mut exact, mut recall_hits, mut recall_total) =
        (0usize, 0usize, 0usize, 0usize);
    let (mut hops, mut latency) = (Vec::new(), Vec::new());
    for (from, target, query) in &queries {
        let Some(finished) = query.and_then(|q| swarm.finished(*from, q)) else {
            continue;
        };
        let QueryOutcome::Found(result) = &finished.outcome else {
            continue;
        };
        found += 1;
        hops.push(result.hops);
        latency.push(finished.elapsed);
        let hit = result.closest.first().map(|c| c.id) == Some(*target) || ids[*from] == *target;
        exact += usize::from(hit);
        let (hits, total) = swarm.recall(*from, target, &result.closest, k);
        recall_hits += hits;
        recall_total += total;
    }
    hops.sort_unstable();
    latency.sort_unstable();
    let issued = queries.len().max(1) as f64;
    let success = exact as f64 / issued;
    let net = swarm.net_stats();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "lookups: issued {} finished {} exact {:.4} recall {:.4} hops p50 {} p95 {} latency p50 {:.1} ms p99 {:.1} ms",
        queries.len(),
        found,
        success,
        recall_hits as f64 / recall_total.max(1) as f64,
        percentile(&hops, 0.5).unwrap_or(0),
        percentile(&hops, 0.95).unwrap_or(0),
        ms(percentile(&latency, 0.5)),
        ms(percentile(&latency, 0.99)),
    );
    println!(
        "messages: sent {} delivered {} dropped {}; simulated {:.1} s in {:.2} s wall; trace {}",
        net.sent,
        net.delivered,
        net.dropped,
        swarm.now().since_epoch().as_secs_f64(),
        wall.elapsed().as_secs_f64(),
        swarm.trace_hash(),
    );
    if success < args.expect_success {
        println!(
            "FAIL: lookup success {success:.4} < {}",
            args.expect_success
        );
        println!(
            "reproduce: dswarm swarm --nodes {} --lookups {} --seed {} --loss {} --segments {} --bootstrap {} \
             --latency-min-ms {} --latency-max-ms {} --settle-secs {} --expect-success {}",
            args.nodes,
            args.lookups,
            args.seed,
            args.loss,
            args.segments,
            args.bootstrap,
            args.latency_min_ms,
            args.latency_max_ms,
            args.settle_secs,
            args.expect_success,
        );
        return ExitCode::from(1);
    }
    println!(
        "PASS: lookup success {success:.4} >= {}",
        args.expect_success
    );
    ExitCode::SUCCESS
}
