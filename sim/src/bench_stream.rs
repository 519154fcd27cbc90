//! `dswarm bench-stream`: what a dswarm stream costs and how fast it goes, measured
//! in one process on 127.0.0.1 beside plain TCP, with live nodes (real crypto, real
//! UDP sockets, the live driver).
//!
//! In: `--mib N` (bytes to move), `--chunk` (write size), `--window-kib` (the
//! transfer's stream window and send buffer), `--connects K`, `--idle-streams M`. Out: a table on stdout (and with `--json FILE` the same
//! figures as JSON); exit 0 when every phase finished, 1 when one failed or timed
//! out, 2 when the runtime or a socket could not start.
//!
//! The phases, one after the other:
//!
//! 1. **Goodput.** Node A opens a stream to node B (A bootstrapped from B, so the
//!    session is open) and writes N MiB in `--chunk` writes, then finishes; B reads
//!    as fast as it can. Timed from the first write to the last byte read; the
//!    bytes are checked in order (a rolling fold compared with the sender's). The
//!    process's CPU time (`/proc/self/stat`, both nodes and the sink together)
//!    is read around it. Every 100 ms a snapshot of each node samples
//!    `Node::footprint().streams`: the busy stream's memory at both ends.
//! 2. **TCP.** The same bytes, chunks, reads and check on a tokio `TcpStream` over
//!    127.0.0.1, in the same runtime: the baseline.
//! 3. **Idle streams.** A opens M streams to B and writes nothing; once B accepted
//!    them all and A heard back, the difference in `footprint().streams` at each end,
//!    divided by M.
//! 4. **Connect to first byte, direct.** A connector behind a symmetric NAT (see
//!    `nat`) that is unlisted (so that no node learns of it) and K fresh open
//!    listeners, started after it: for each listener, the time from sending
//!    `Command::Connect(listener)` to the listener reading the first byte of a
//!    stream the connector opened and wrote one byte into. The connector has never
//!    talked to the listener: the figure holds FIND_PEER's walk, the SHS1 handshake,
//!    the ping that ends the connect, the stream's open and its first segment.
//!    Every connect's path and the handshakes dialled during it are checked.
//! 5. **Connect to first byte, relayed.** The same connector and K fresh listeners
//!    that sit behind symmetric NATs too: two `random` NATs cannot punch, so the
//!    connect goes through a relay the listener announced (FIND_PEER's walk, a
//!    relayed handshake, a ping, the punch request that finds both NATs random) and
//!    the first byte rides the relay.
//!
//! A NAT on loopback is this module's own: every node behind one sends and receives
//! on real sockets of 127.0.0.1, one per destination, and gets only what comes from
//! a destination it sent to (`bench_stream/nat.rs`). Linux only for CPU time.

// A benchmark measures wall time.
#![allow(clippy::disallowed_methods)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dswarm::live::driver::{self, Control, Finished, Snapshot};
use dswarm::live::stream::LiveStream;
use dswarm::live::{self, LiveConfig, LiveNode};
use dswarm::proto::node::{Command, ConnectPath, QueryOutcome};
use dswarm::proto::stream::{Firewall, StreamConfig};
use dswarm::proto::wire::NatKind;
use dswarm::proto::{Node, NodeId, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use dswarm_sim::proc::cpu_seconds;

#[path = "bench_stream/nat.rs"]
pub mod nat;

/// Arguments of `dswarm bench-stream`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchStreamArgs {
    /// MiB to move through the stream, and through TCP.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub mib: u64,
    /// Bytes per write (the same on both).
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1..=(16 << 20)))]
    pub chunk: u64,
    /// Connects measured, direct and relayed each, each to a fresh listener.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub connects: u32,
    /// Idle streams opened for the memory figure.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=250))]
    pub idle_streams: u64,
    /// The stream's receive window and send buffer at both ends of the transfer, in
    /// KiB (`StreamConfig::window` and `send_buffer`; the default is theirs).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(64..=65536))]
    pub window_kib: u64,
    /// Leave out the relayed connects (they need 2 s for the NATs to be classified).
    #[arg(long)]
    pub no_relayed: bool,
    /// Write the figures here as JSON too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

/// One bulk transfer.
#[derive(Clone, Debug, Serialize)]
pub struct Transfer {
    /// Bytes moved.
    pub bytes: u64,
    /// From the first write to the last byte read.
    pub seconds: f64,
    /// Millions of bytes a second.
    pub mb_per_s: f64,
    /// CPU seconds of the whole process meanwhile (user + system).
    pub cpu_seconds: Option<f64>,
}

/// Connect-to-first-byte over several connects.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Connects {
    /// Connects tried.
    pub tried: u32,
    /// Connects whose first byte arrived.
    pub done: u32,
    /// Paths taken, by name, in the order of the connects.
    pub paths: Vec<String>,
    /// Handshakes the connector dialled during each connect.
    pub handshakes: Vec<u64>,
    /// Connect command alone (until `Connected`), p50 and p99, ms.
    pub connected_p50_ms: f64,
    /// See `connected_p50_ms`.
    pub connected_p99_ms: f64,
    /// Connect command to the first byte read at the listener, p50, ms.
    pub first_byte_p50_ms: f64,
    /// The same, p99.
    pub first_byte_p99_ms: f64,
    /// Every connect-to-first-byte time, ms, in order.
    pub first_byte_ms: Vec<f64>,
    /// Failures, with why.
    pub failures: Vec<String>,
}

/// What a stream holds in memory, from `footprint().streams`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    /// Idle streams opened.
    pub idle_streams: u64,
    /// Bytes per idle stream at the end that opened them.
    pub idle_opener_bytes: f64,
    /// Bytes per idle stream at the end that accepted them.
    pub idle_acceptor_bytes: f64,
    /// The busy stream's bytes at the sender: the highest sample, and the mean.
    pub busy_sender_peak_bytes: u64,
    /// See `busy_sender_peak_bytes`.
    pub busy_sender_mean_bytes: f64,
    /// The busy stream's bytes at the receiver: the highest sample, and the mean.
    pub busy_receiver_peak_bytes: u64,
    /// See `busy_receiver_peak_bytes`.
    pub busy_receiver_mean_bytes: f64,
    /// Samples taken during the transfer.
    pub busy_samples: u32,
    /// After the transfer, the finished stream while it lingers (sender, receiver).
    pub lingering_sender_bytes: u64,
    /// See `lingering_sender_bytes`.
    pub lingering_receiver_bytes: u64,
}

/// Every figure of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Bytes per write.
    pub chunk: u64,
    /// The transfer's stream window and send buffer, bytes.
    pub window: u64,
    /// The stream's goodput.
    pub dswarm: Transfer,
    /// Plain TCP's.
    pub tcp: Transfer,
    /// dswarm over TCP.
    pub ratio: f64,
    /// Segments the sender sent again, and retransmission timeouts, during the
    /// transfer (from the node's counters).
    pub resent_bytes: u64,
    /// See `resent_bytes`.
    pub retransmit_timeouts: u64,
    /// Bytes that arrived twice or beyond the window.
    pub wasted_bytes: u64,
    /// The sender's smoothed round trip and congestion window at the end, if known.
    pub srtt_ms: Option<f64>,
    /// See `srtt_ms`.
    pub cwnd_bytes: Option<u64>,
    /// Connects straight to open listeners.
    pub direct: Connects,
    /// Connects through relays, both ends behind symmetric NATs.
    pub relayed: Option<Connects>,
    /// Datagrams the connector's NAT dropped (from addresses it had not sent to).
    pub nat_filtered: u64,
    /// Memory.
    pub memory: Memory,
    /// Cores the OS reports.
    pub cores: usize,
}

fn wall() -> Instant {
    Instant::now()
}

/// Runs `dswarm bench-stream`.
pub fn run(args: &BenchStreamArgs) -> ExitCode {
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
    let limit = Duration::from_secs(args.timeout_secs);
    let code = rt.block_on(async {
        match tokio::time::timeout(limit, bench(args)).await {
            Ok(code) => code,
            Err(_) => {
                println!("FAIL: bench-stream took longer than {limit:?}");
                ExitCode::from(1)
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}

/// A node the bench drives: its id, its address, its control channel.
#[derive(Clone, Debug)]
struct Handle {
    id: NodeId,
    udp: SocketAddr,
    control: mpsc::Sender<Control>,
}

/// Every node started, to stop them at the end.
#[derive(Default)]
struct Nodes {
    live: Vec<LiveNode>,
    natted: Vec<(mpsc::Sender<Control>, JoinHandle<std::io::Result<()>>)>,
    /// The outside-address counters of the NATs, for the report.
    filtered: Vec<Arc<AtomicU64>>,
    /// Sockets held for the addresses of nodes behind NATs (see `spawn_natted`).
    inside: Vec<std::net::UdpSocket>,
}

impl Nodes {
    /// An open node on 127.0.0.1 (the live adapter's own `spawn`), bootstrapping
    /// from `bootstrap`; its events are drained.
    async fn spawn_open(
        &mut self,
        bootstrap: Option<SocketAddr>,
        streams: StreamConfig,
    ) -> Result<Handle, String> {
        let mut config = LiveConfig::localhost();
        config.api = None;
        config.group = None;
        config.node.bootstrap = bootstrap.into_iter().collect();
        config.node.streams = streams;
        let mut node = live::spawn(config)
            .await
            .map_err(|e| format!("cannot start a node: {e}"))?;
        let (_, none) = mpsc::unbounded_channel();
        let mut events = std::mem::replace(&mut node.events, none);
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let handle = Handle {
            id: node.id,
            udp: node.udp,
            control: node.control.clone(),
        };
        self.live.push(node);
        Ok(handle)
    }

    /// A node behind its own symmetric NAT, bootstrapping from `bootstrap`: the live
    /// driver on a [`nat::SymmetricNat`] instead of a socket. Its own address (what
    /// it compares peers' reports with) is a socket held open and never used, as a
    /// host's address behind its router.
    async fn spawn_natted(&mut self, bootstrap: SocketAddr) -> Result<Handle, String> {
        let inside = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| Ok((s.local_addr()?, s)))
            .map_err(|e| format!("cannot bind: {e}"))?;
        let (inside_addr, inside_socket) = inside;
        let template = LiveConfig::localhost();
        let mut config = template.node;
        config.port = inside_addr.port();
        config.address = Some(inside_addr);
        config.bootstrap = vec![bootstrap];
        config.discovery.multicast_group = None;
        let unix_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let id = template.identity.id();
        let node = Node::new(
            Time::ZERO,
            unix_time,
            config,
            template.identity,
            ChaCha8Rng::from_seed(template.rng_seed),
        );
        let nat = nat::SymmetricNat::new();
        self.filtered.push(nat.filtered.clone());
        let (control, control_rx) = mpsc::channel(64);
        let (events_tx, mut events) = mpsc::unbounded_channel();
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let epoch = tokio::time::Instant::now();
        let driver = tokio::spawn(driver::run(
            nat,
            None::<tokio::net::UdpSocket>,
            node,
            epoch,
            control_rx,
            events_tx,
        ));
        let handle = Handle {
            id,
            udp: inside_addr,
            control: control.clone(),
        };
        self.natted.push((control, driver));
        self.inside.push(inside_socket);
        let _ = run_command(&handle, Command::Bootstrap).await;
        Ok(handle)
    }

    async fn shutdown(self) {
        let mut stopping: Vec<JoinHandle<()>> = self
            .live
            .into_iter()
            .map(|node| tokio::spawn(node.shutdown()))
            .collect();
        for (control, driver) in self.natted {
            stopping.push(tokio::spawn(async move {
                let _ = control.send(Control::Shutdown).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), driver).await;
            }));
        }
        for stop in stopping {
            let _ = stop.await;
        }
    }
}

async fn run_command(node: &Handle, command: Command) -> Result<Finished, String> {
    let (reply, answer) = oneshot::channel();
    node.control
        .send(Control::Run { command, reply })
        .await
        .map_err(|_| "the node stopped".to_string())?;
    match answer.await {
        Ok(Ok(finished)) => Ok(finished),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("the node stopped".into()),
    }
}

async fn snapshot(node: &Handle) -> Option<Snapshot> {
    let (reply, answer) = oneshot::channel();
    node.control.send(Control::Snapshot { reply }).await.ok()?;
    answer.await.ok()
}

/// Takes streams from anyone.
async fn listen(node: &Handle) -> mpsc::UnboundedReceiver<LiveStream> {
    dswarm::live::stream::listen(&node.control, Firewall::Open).await
}

/// Opens a stream to `peer`.
async fn open(node: &Handle, peer: NodeId) -> Result<LiveStream, String> {
    dswarm::live::stream::open(&node.control, peer)
        .await
        .map_err(|e| e.to_string())
}

/// Waits until `ready` holds of the node's snapshot, polling every 50 ms.
async fn wait_for(
    node: &Handle,
    what: &str,
    limit: Duration,
    ready: impl Fn(&Snapshot) -> bool,
) -> Result<(), String> {
    let started = wall();
    loop {
        if snapshot(node).await.is_some_and(|s| ready(&s)) {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(format!("{what}: not after {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node whose table holds someone and whose lookups all ended.
fn settled(s: &Snapshot) -> bool {
    !s.peers.is_empty() && s.stats.lookups_started == s.stats.lookups_finished
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The bytes every transfer sends: byte `i` of the stream is `i % 251`. A slice of
/// `pattern(len + 251)` starting at `offset % 251` is the stream from `offset`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len + 251).map(|i| (i % 251) as u8).collect()
}

/// An order-sensitive fold of bytes, to check that what arrived is what went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fold(u64);

impl Fold {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(5) ^ u64::from(b);
        }
    }
}

fn expected_fold(total: u64) -> Fold {
    let block = pattern(0);
    let mut fold = Fold::default();
    let mut left = total;
    while left > 0 {
        let n = left.min(251);
        fold.add(&block[..n as usize]);
        left -= n;
    }
    fold
}

fn cpu() -> Option<f64> {
    cpu_seconds()
}

fn transfer(bytes: u64, seconds: f64, cpu_before: Option<f64>) -> Transfer {
    Transfer {
        bytes,
        seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
        cpu_seconds: cpu_before.and_then(|before| Some(cpu()? - before)),
    }
}

async fn bench(args: &BenchStreamArgs) -> ExitCode {
    let bytes = args.mib << 20;
    let chunk = args.chunk as usize;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "bench-stream: 127.0.0.1, one process, {} MiB in {}-byte writes, stream window {} KiB, {} connects each way, {} idle streams; {cores} cores",
        args.mib, chunk, args.window_kib, args.connects, args.idle_streams
    );
    let mut nodes = Nodes::default();
    let result = phases(args, bytes, chunk, cores, &mut nodes).await;
    nodes.shutdown().await;
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            println!("FAIL: {error}");
            return ExitCode::from(1);
        }
    };
    print_report(args, &report);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json + "\n") {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let relayed_ok = report.relayed.as_ref().is_none_or(|r| r.done == r.tried);
    match report.direct.done == report.direct.tried && relayed_ok {
        true => ExitCode::SUCCESS,
        false => {
            println!("FAIL: some connects did not deliver their first byte");
            ExitCode::from(1)
        }
    }
}

async fn phases(
    args: &BenchStreamArgs,
    bytes: u64,
    chunk: usize,
    cores: usize,
    nodes: &mut Nodes,
) -> Result<Report, String> {
    // The pair: B listens, A bootstraps from B (the session opens), then connects.
    let streams = StreamConfig {
        // Room for the idle streams, all with one peer.
        per_peer_max: 256,
        window: args.window_kib << 10,
        send_buffer: args.window_kib << 10,
        ..StreamConfig::default()
    };
    let b = nodes.spawn_open(None, streams.clone()).await?;
    let a = nodes.spawn_open(Some(b.udp), streams).await?;
    wait_for(&a, "A's bootstrap", Duration::from_secs(20), settled).await?;
    let mut accepted = listen(&b).await;
    match run_command(&a, Command::Connect(b.id)).await?.outcome {
        QueryOutcome::Connected { .. } => {}
        outcome => return Err(format!("A could not connect to B: {outcome:?}")),
    }

    // 1. Goodput through the stream.
    let before = snapshot(&a).await.ok_or("A stopped")?;
    let (dswarm, busy) = stream_goodput(&a, &b, &mut accepted, bytes, chunk).await?;
    let after = snapshot(&a).await.ok_or("A stopped")?;
    let receiver = snapshot(&b).await.ok_or("B stopped")?;
    let sent_stream = after.streams.iter().find(|s| !s.incoming);
    let (srtt_ms, cwnd_bytes) = (
        sent_stream.and_then(|s| s.srtt_ms),
        sent_stream.map(|s| s.window),
    );
    let (s0, s1) = (&before.stats.streams, &after.stats.streams);
    let resent_bytes = s1.bytes_resent - s0.bytes_resent;
    let retransmit_timeouts = s1.retransmit_timeouts - s0.retransmit_timeouts;
    let wasted_bytes = receiver.stats.streams.bytes_wasted;
    let mut memory = busy;
    memory.lingering_sender_bytes = after.footprint.streams as u64;
    memory.lingering_receiver_bytes = receiver.footprint.streams as u64;

    // 2. TCP.
    let tcp = tcp_goodput(bytes, chunk).await?;

    // 3. Idle streams.
    idle_streams(&a, &b, &mut accepted, args.idle_streams, &mut memory).await?;

    // 4 and 5. Connects.
    let (direct, relayed, nat_filtered) = connects(args, nodes).await?;

    Ok(Report {
        chunk: chunk as u64,
        window: args.window_kib << 10,
        ratio: dswarm.mb_per_s / tcp.mb_per_s,
        dswarm,
        tcp,
        resent_bytes,
        retransmit_timeouts,
        wasted_bytes,
        srtt_ms,
        cwnd_bytes,
        direct,
        relayed,
        nat_filtered,
        memory,
        cores,
    })
}

/// Phase 1: `bytes` from A to B through one stream, and its memory meanwhile.
async fn stream_goodput(
    a: &Handle,
    b: &Handle,
    accepted: &mut mpsc::UnboundedReceiver<LiveStream>,
    bytes: u64,
    chunk: usize,
) -> Result<(Transfer, Memory), String> {
    let expected = expected_fold(bytes);
    let stream = open(a, b.id).await?;
    let data = pattern(chunk);
    let cpu_before = cpu();
    let started = wall();
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(data.len() as u64 - 251) as usize;
            let from = (sent % 251) as usize;
            stream
                .write(data[from..from + n].to_vec())
                .await
                .map_err(|e| format!("write: {e}"))?;
            sent += n as u64;
        }
        stream.finish().await;
        Ok::<(), String>(())
    });
    // Samples of both ends' stream memory while the bytes move.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut sender, mut receiver) = (Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let (Some(sa), Some(sb)) = (snapshot(&a).await, snapshot(&b).await) {
                    sender.push(sa.footprint.streams as u64);
                    receiver.push(sb.footprint.streams as u64);
                }
            }
            (sender, receiver)
        })
    };
    let incoming = tokio::time::timeout(Duration::from_secs(10), accepted.recv())
        .await
        .map_err(|_| "B accepted no stream within 10 s".to_string())?
        .ok_or("B stopped listening")?;
    let mut got = 0u64;
    let mut fold = Fold::default();
    loop {
        match incoming.read().await {
            Ok(Some(part)) => {
                got += part.len() as u64;
                fold.add(&part);
            }
            Ok(None) => break,
            Err(e) => return Err(format!("read after {got} bytes: {e}")),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let result = transfer(got, seconds, cpu_before);
    stop.store(true, Ordering::Relaxed);
    writer
        .await
        .map_err(|e| format!("the writer panicked: {e}"))??;
    if got != bytes || fold != expected {
        return Err(format!(
            "the stream delivered {got} of {bytes} bytes{}",
            if fold == expected {
                ""
            } else {
                ", not in order"
            }
        ));
    }
    let (sender, receiver) = sampler.await.unwrap_or_default();
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    let memory = Memory {
        busy_sender_peak_bytes: sender.iter().copied().max().unwrap_or(0),
        busy_sender_mean_bytes: mean(&sender),
        busy_receiver_peak_bytes: receiver.iter().copied().max().unwrap_or(0),
        busy_receiver_mean_bytes: mean(&receiver),
        busy_samples: sender.len() as u32,
        ..Memory::default()
    };
    Ok((result, memory))
}

/// Phase 2: the same bytes over a loopback TCP connection.
async fn tcp_goodput(bytes: u64, chunk: usize) -> Result<Transfer, String> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| format!("TCP bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let expected = expected_fold(bytes);
    let data = pattern(chunk);
    let mut client = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("TCP connect: {e}"))?;
    let (mut server, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let cpu_before = cpu();
    let started = wall();
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(data.len() as u64 - 251) as usize;
            let from = (sent % 251) as usize;
            client
                .write_all(&data[from..from + n])
                .await
                .map_err(|e| format!("TCP write: {e}"))?;
            sent += n as u64;
        }
        client.shutdown().await.map_err(|e| e.to_string())
    });
    let mut buf = vec![0u8; dswarm::live::stream::READ_CHUNK];
    let (mut got, mut fold) = (0u64, Fold::default());
    loop {
        let n = server
            .read(&mut buf)
            .await
            .map_err(|e| format!("TCP read: {e}"))?;
        if n == 0 {
            break;
        }
        got += n as u64;
        fold.add(&buf[..n]);
    }
    let result = transfer(got, started.elapsed().as_secs_f64(), cpu_before);
    writer.await.map_err(|e| e.to_string())??;
    if got != bytes || fold != expected {
        return Err(format!("TCP delivered {got} of {bytes} bytes"));
    }
    Ok(result)
}

/// Phase 3: `n` streams that carry nothing, and what they hold at both ends.
async fn idle_streams(
    a: &Handle,
    b: &Handle,
    accepted: &mut mpsc::UnboundedReceiver<LiveStream>,
    n: u64,
    memory: &mut Memory,
) -> Result<(), String> {
    let (a0, b0) = (
        snapshot(a).await.ok_or("A stopped")?,
        snapshot(b).await.ok_or("B stopped")?,
    );
    let mut opened = Vec::new();
    for _ in 0..n {
        opened.push(open(a, b.id).await?);
    }
    let mut taken = Vec::new();
    while (taken.len() as u64) < n {
        let stream = tokio::time::timeout(Duration::from_secs(10), accepted.recv())
            .await
            .map_err(|_| format!("B accepted {} of {n} idle streams", taken.len()))?
            .ok_or("B stopped listening")?;
        taken.push(stream);
    }
    // B acknowledges each opening frame at once: let the answers reach A.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (a1, b1) = (
        snapshot(a).await.ok_or("A stopped")?,
        snapshot(b).await.ok_or("B stopped")?,
    );
    let per = |after: usize, before: usize| (after as f64 - before as f64) / n as f64;
    memory.idle_streams = n;
    memory.idle_opener_bytes = per(a1.footprint.streams, a0.footprint.streams);
    memory.idle_acceptor_bytes = per(b1.footprint.streams, b0.footprint.streams);
    for stream in opened {
        stream.reset().await;
    }
    Ok(())
}

/// Phases 4 and 5: connect-to-first-byte, direct and relayed. Returns them and what
/// the connector's NAT dropped.
async fn connects(
    args: &BenchStreamArgs,
    nodes: &mut Nodes,
) -> Result<(Connects, Option<Connects>, u64), String> {
    let limit = Duration::from_secs(30);
    // Three open nodes to bootstrap from, to relay, and to tell the NATs apart.
    let seed = nodes.spawn_open(None, StreamConfig::default()).await?;
    let mut open_nodes = vec![seed.clone()];
    for _ in 0..2 {
        open_nodes.push(
            nodes
                .spawn_open(Some(seed.udp), StreamConfig::default())
                .await?,
        );
    }
    // The connector, behind a NAT: unlisted, so no node that starts later meets it.
    let connector = nodes.spawn_natted(seed.udp).await?;
    let connector_nat = nodes.filtered.last().cloned();
    for node in &open_nodes {
        wait_for(node, "an open node's bootstrap", limit, settled).await?;
    }
    wait_for(&connector, "the connector's NAT", limit, |s| {
        s.nat == NatKind::Random && settled(s)
    })
    .await?;
    // The relayed listeners, started at once: each needs 2 s before it classifies
    // its NAT, and none can be reached but through a relay, so none meets the
    // connector before its connect.
    let k = args.connects as usize;
    let mut relayed_targets = Vec::new();
    if !args.no_relayed {
        for _ in 0..k {
            let node = nodes.spawn_natted(seed.udp).await?;
            let accepted = listen(&node).await;
            relayed_targets.push((node, accepted));
        }
    }
    // The direct listeners, each started just before its connect: an open listener
    // that has been up for a while may have met the connector already (the
    // connector verifies the contacts it hears of), and its connect would then be a
    // ping in an open session. `handshakes` in the report says whether one was.
    let mut direct = Connects::default();
    let mut connected = Vec::new();
    for _ in 0..k {
        let node = nodes
            .spawn_open(Some(seed.udp), StreamConfig::default())
            .await?;
        let accepted = listen(&node).await;
        wait_for(&node, "a direct listener's bootstrap", limit, settled).await?;
        let mut target = [(node, accepted)];
        record(&connector, &mut target, &mut direct, &mut connected).await;
    }
    summarise(&mut direct, connected);
    for (node, _) in &relayed_targets {
        // Classified, its relays chosen and their announcement stored.
        wait_for(node, "a relayed listener's NAT", limit, |s| {
            s.nat == NatKind::Random && settled(s)
        })
        .await?;
    }
    let relayed = match relayed_targets.is_empty() {
        true => None,
        false => {
            // The announcement's store requests follow its walk: let them land.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (mut relayed, mut connected) = (Connects::default(), Vec::new());
            record(
                &connector,
                &mut relayed_targets,
                &mut relayed,
                &mut connected,
            )
            .await;
            summarise(&mut relayed, connected);
            Some(relayed)
        }
    };
    let filtered = connector_nat.map_or(0, |f| f.load(Ordering::Relaxed));
    Ok((direct, relayed, filtered))
}

/// Connects to each target in turn, opens a stream, writes one byte; times each to
/// the byte read at the target, into `out` (and the connect alone into `connected`).
async fn record(
    connector: &Handle,
    targets: &mut [(Handle, mpsc::UnboundedReceiver<LiveStream>)],
    out: &mut Connects,
    connected: &mut Vec<f64>,
) {
    for (target, accepted) in targets.iter_mut() {
        out.tried += 1;
        match connect_once(connector, target, accepted).await {
            Ok((path, connect_ms, first_ms, handshakes)) => {
                out.done += 1;
                out.paths.push(path.name().to_string());
                out.handshakes.push(handshakes);
                connected.push(connect_ms);
                out.first_byte_ms.push(first_ms);
            }
            Err(error) => out.failures.push(error),
        }
    }
}

/// Fills in the percentiles.
fn summarise(out: &mut Connects, mut connected: Vec<f64>) {
    let mut sorted = out.first_byte_ms.clone();
    sorted.sort_by(f64::total_cmp);
    connected.sort_by(f64::total_cmp);
    out.first_byte_p50_ms = percentile(&sorted, 0.5);
    out.first_byte_p99_ms = percentile(&sorted, 0.99);
    out.connected_p50_ms = percentile(&connected, 0.5);
    out.connected_p99_ms = percentile(&connected, 0.99);
}

async fn connect_once(
    connector: &Handle,
    target: &Handle,
    accepted: &mut mpsc::UnboundedReceiver<LiveStream>,
) -> Result<(ConnectPath, f64, f64, u64), String> {
    let dialled = |s: &Snapshot| s.stats.sessions.handshakes_started;
    let before = snapshot(connector).await.ok_or("the connector stopped")?;
    let started = wall();
    let finished = tokio::time::timeout(
        Duration::from_secs(20),
        run_command(connector, Command::Connect(target.id)),
    )
    .await
    .map_err(|_| "connect: no outcome in 20 s".to_string())??;
    let connect_ms = started.elapsed().as_secs_f64() * 1e3;
    let path = match finished.outcome {
        QueryOutcome::Connected { path, .. } => path,
        outcome => return Err(format!("connect: {outcome:?}")),
    };
    let stream = open(connector, target.id).await?;
    stream
        .write(vec![0x42])
        .await
        .map_err(|e| format!("write: {e}"))?;
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        let incoming = accepted.recv().await.ok_or("the listener stopped")?;
        match incoming.read().await {
            Ok(Some(bytes)) if bytes == [0x42] => Ok(()),
            other => Err(format!("the first read gave {other:?}")),
        }
    })
    .await
    .map_err(|_| "no first byte in 10 s".to_string())?;
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    first?;
    stream.reset().await;
    let after = snapshot(connector).await.ok_or("the connector stopped")?;
    Ok((
        path,
        connect_ms,
        first_ms,
        dialled(&after) - dialled(&before),
    ))
}

fn print_report(args: &BenchStreamArgs, r: &Report) {
    let cores_used = |t: &Transfer| {
        t.cpu_seconds.map_or("CPU unknown".to_string(), |cpu| {
            format!("{cpu:.2} s CPU, {:.2} cores", cpu / t.seconds)
        })
    };
    let mib = args.mib;
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| dswarm stream goodput | {:.1} MB/s ({mib} MiB in {:.2} s; {}) |",
        r.dswarm.mb_per_s,
        r.dswarm.seconds,
        cores_used(&r.dswarm)
    );
    println!(
        "| TCP loopback goodput | {:.1} MB/s ({mib} MiB in {:.2} s; {}) |",
        r.tcp.mb_per_s,
        r.tcp.seconds,
        cores_used(&r.tcp)
    );
    println!("| dswarm / TCP | {:.3}x |", r.ratio);
    println!(
        "| stream sender at the end | srtt {} ms, cwnd {} bytes; {} bytes resent, {} timeouts; receiver wasted {} bytes |",
        r.srtt_ms.map_or("-".into(), |v| format!("{v:.2}")),
        r.cwnd_bytes.map_or("-".into(), |v| v.to_string()),
        r.resent_bytes,
        r.retransmit_timeouts,
        r.wasted_bytes
    );
    let connects = |label: &str, c: &Connects| {
        let mut paths: Vec<(String, usize)> = Vec::new();
        for p in &c.paths {
            match paths.iter_mut().find(|(name, _)| name == p) {
                Some((_, n)) => *n += 1,
                None => paths.push((p.clone(), 1)),
            }
        }
        let paths: Vec<String> = paths.iter().map(|(p, n)| format!("{n} {p}")).collect();
        let dialled = c.handshakes.iter().filter(|&&h| h > 0).count();
        println!(
            "| connect to first byte, {label} | p50 {:.2} ms p99 {:.2} ms ({} of {} fresh listeners; paths: {}; a handshake dialled in {dialled}; Connect alone p50 {:.2} ms p99 {:.2} ms) |",
            c.first_byte_p50_ms,
            c.first_byte_p99_ms,
            c.done,
            c.tried,
            paths.join(", "),
            c.connected_p50_ms,
            c.connected_p99_ms,
        );
        for failure in &c.failures {
            println!("| {label} failure | {failure} |");
        }
    };
    connects("direct", &r.direct);
    match &r.relayed {
        Some(relayed) => connects("relayed", relayed),
        None => println!("| connect to first byte, relayed | not measured (--no-relayed) |"),
    }
    let m = &r.memory;
    println!(
        "| memory per idle stream (footprint.streams, {} streams) | opener {:.0} B, acceptor {:.0} B |",
        m.idle_streams, m.idle_opener_bytes, m.idle_acceptor_bytes
    );
    println!(
        "| memory of the busy stream (peak / mean of {} samples) | sender {:.1} / {:.1} KiB, receiver {:.1} / {:.1} KiB |",
        m.busy_samples,
        m.busy_sender_peak_bytes as f64 / 1024.0,
        m.busy_sender_mean_bytes / 1024.0,
        m.busy_receiver_peak_bytes as f64 / 1024.0,
        m.busy_receiver_mean_bytes / 1024.0
    );
    println!(
        "| memory of the finished stream while it lingers | sender {:.1} KiB, receiver {:.1} KiB |",
        m.lingering_sender_bytes as f64 / 1024.0,
        m.lingering_receiver_bytes as f64 / 1024.0
    );
    println!(
        "note: the connector sits behind a symmetric NAT of this process (real sockets); it dropped {} datagrams from addresses it had not sent to",
        r.nat_filtered
    );
}
