//! `dswarm bench-live`: a live swarm of N nodes in one process on 127.0.0.1, measured
//! the way HyperDHT's `createTestnet` figures are: time until every node has verified
//! enough peers, wall and CPU time, peak memory, lookup latency percentiles over
//! lookups of existing ids, RPCs per lookup and the exact-closest rate.
//!
//! Nodes bootstrap from the first node (no multicast: a thousand nodes on one group
//! would each hear every beacon). Linux only for CPU time and peak memory (`/proc`).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use dswarm::live::driver::{Control, Finished, Snapshot};
use dswarm::live::{self, LiveConfig, LiveNode};
use dswarm::proto::node::{Command, QueryOutcome};
use dswarm::proto::Identity;
use dswarm_sim::proc::{cpu_seconds, peak_rss_mib};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::sync::oneshot;

/// Arguments of `dswarm bench-live`.
#[derive(Args, Debug, Clone)]
pub struct BenchLiveArgs {
    /// Nodes in the swarm.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..=20_000))]
    nodes: u32,
    /// Lookups of existing ids, one at a time, after the swarm has formed.
    #[arg(long, default_value_t = 1000)]
    lookups: u32,
    /// Verified peers every node must have before the swarm counts as formed.
    #[arg(long, default_value_t = 20)]
    verified: usize,
    /// Give up forming the swarm after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Keys and lookup targets come from this seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

async fn run_command(node: &LiveNode, command: Command) -> Option<Finished> {
    let (reply, answer) = oneshot::channel();
    node.control
        .send(Control::Run { command, reply })
        .await
        .ok()?;
    answer.await.ok()?.ok()
}

/// Snapshots of every node, asked all at once: asked one after another, a round
/// would take as long as a thousand turns of busy tasks.
async fn snapshots(nodes: &[LiveNode]) -> Vec<Option<Snapshot>> {
    let mut asks = tokio::task::JoinSet::new();
    for (i, node) in nodes.iter().enumerate() {
        let control = node.control.clone();
        asks.spawn(async move {
            let (reply, answer) = oneshot::channel();
            control.send(Control::Snapshot { reply }).await.ok()?;
            Some((i, answer.await.ok()?))
        });
    }
    let mut all: Vec<Option<Snapshot>> = (0..nodes.len()).map(|_| None).collect();
    while let Some(done) = asks.join_next().await {
        if let Ok(Some((i, snapshot))) = done {
            all[i] = Some(snapshot);
        }
    }
    all
}

/// Handshakes dialled by all nodes so far.
async fn dials(nodes: &[LiveNode]) -> u64 {
    snapshots(nodes)
        .await
        .iter()
        .flatten()
        .map(|s| s.stats.sessions.handshakes_started)
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `dswarm bench-live`.
pub fn run(args: &BenchLiveArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(bench(args))
}

#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn wall() -> Instant {
    Instant::now()
}

async fn bench(args: &BenchLiveArgs) -> ExitCode {
    println!(
        "bench-live: {} nodes on 127.0.0.1, bootstrap from the first, {} lookups, seed {}",
        args.nodes, args.lookups, args.seed
    );
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let started = wall();
    let cpu_start = cpu_seconds().unwrap_or(0.0);
    let mut nodes: Vec<LiveNode> = Vec::with_capacity(args.nodes as usize);
    let mut bootstrap: Option<SocketAddr> = None;
    for _ in 0..args.nodes {
        let mut config = LiveConfig::localhost();
        config.identity = Identity::from_rng(&mut rng);
        rng.fill_bytes(&mut config.rng_seed);
        config.api = None;
        config.group = None;
        config.udp = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        config.node.bootstrap = bootstrap.into_iter().collect();
        let node = match live::spawn(config).await {
            Ok(node) => node,
            Err(error) => {
                eprintln!("error: cannot start node {}: {error}", nodes.len());
                return ExitCode::from(2);
            }
        };
        bootstrap.get_or_insert(node.udp);
        nodes.push(node);
    }
    println!(
        "spawned {} nodes in {:.1} s",
        nodes.len(),
        started.elapsed().as_secs_f64()
    );

    // Wait until every node has verified enough peers (the first node's table
    // fills from the others' bootstraps).
    let want = args.verified.min(nodes.len() - 1);
    let deadline = Duration::from_secs(args.timeout_secs);
    let formed = loop {
        let (mut short, mut least) = (0, usize::MAX);
        for snapshot in snapshots(&nodes).await {
            let peers = snapshot.map_or(0, |s| s.peers.len());
            least = least.min(peers);
            short += usize::from(peers < want);
        }
        if short == 0 {
            break started.elapsed();
        }
        if started.elapsed() > deadline {
            println!("FAIL: {short} nodes have fewer than {want} verified peers (least {least}) after {deadline:?}");
            return ExitCode::from(1);
        }
        tracing::debug!(
            elapsed = started.elapsed().as_secs_f64(),
            short,
            least,
            "swarm still forming"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu_formed = cpu_seconds().unwrap_or(0.0) - cpu_start;
    println!(
        "formed: every node verified >= {want} peers after {:.2} s wall, {:.2} s CPU",
        formed.as_secs_f64(),
        cpu_formed
    );

    // Lookups measure a settled swarm, as HyperDHT's testnet is when it returns:
    // every node's bootstrap (and every lookup it started) has ended.
    let settled = loop {
        let busy = snapshots(&nodes)
            .await
            .iter()
            .filter(|s| {
                s.as_ref()
                    .is_none_or(|s| s.stats.lookups_started > s.stats.lookups_finished)
            })
            .count();
        if busy == 0 {
            break started.elapsed();
        }
        if started.elapsed() > deadline {
            println!("FAIL: {busy} nodes still bootstrapping after {deadline:?}");
            return ExitCode::from(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu_settled = cpu_seconds().unwrap_or(0.0) - cpu_start;
    let dials_before = dials(&nodes).await;
    println!(
        "settled: every bootstrap ended after {:.2} s wall, {:.2} s CPU, {dials_before} handshakes dialled",
        settled.as_secs_f64(),
        cpu_settled
    );
    let ids: Vec<_> = nodes.iter().map(|n| n.id).collect();
    let (mut latencies, mut rpcs, mut exact, mut finished) =
        (Vec::new(), Vec::new(), 0usize, 0usize);
    for _ in 0..args.lookups {
        let from = rng.next_u64() as usize % nodes.len();
        let target = ids[rng.next_u64() as usize % ids.len()];
        let Some(result) = run_command(&nodes[from], Command::FindNode(target)).await else {
            continue;
        };
        if let QueryOutcome::Found(found) = result.outcome {
            finished += 1;
            latencies.push(result.elapsed.as_secs_f64() * 1000.0);
            rpcs.push(f64::from(found.contacted));
            let hit = found.closest.first().map(|c| c.id) == Some(target) || ids[from] == target;
            exact += usize::from(hit);
        }
    }
    let dials_during = dials(&nodes).await - dials_before;
    latencies.sort_by(f64::total_cmp);
    let rpcs_mean = rpcs.iter().sum::<f64>() / rpcs.len().max(1) as f64;
    let total_wall = started.elapsed().as_secs_f64();
    let total_cpu = cpu_seconds().unwrap_or(0.0) - cpu_start;
    println!(
        "lookups: {finished}/{} finished, p50 {:.2} ms p99 {:.2} ms, {rpcs_mean:.1} RPCs per lookup, exact closest {:.4}",
        args.lookups,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        exact as f64 / f64::from(args.lookups.max(1)),
    );
    println!(
        "handshakes: {:.1} per lookup",
        dials_during as f64 / f64::from(args.lookups.max(1))
    );
    println!(
        "total: {total_wall:.2} s wall, {total_cpu:.2} s CPU, peak memory {:.0} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    for node in nodes {
        node.shutdown().await;
    }
    ExitCode::SUCCESS
}
