//! `dswarm live` and `dswarm node`: real swarms on real sockets.
//!
//! `live` starts N nodes in this process, each with its own UDP socket and HTTP API on
//! 127.0.0.1, finding each other by loopback multicast (and bootstrap addresses when
//! given). `node` starts one node per process, its identity optionally kept in a key
//! file. Both print one line per node, `node <id-hex> udp <addr> api http://<addr>`,
//! then `dashboard http://<addr>/`, the page of the first node's API that watches every
//! node of the process; they log discoveries and verifications, and shut down cleanly
//! on Ctrl-C or SIGTERM.
//!
//! IPv6: `live --ipv6` puts the nodes on `[::1]`, and `node --udp [::1]:PORT` one node;
//! their beacons go to an `ff12::` group on `lo` ([`live::socket::DEFAULT_GROUP_V6`])
//! and mailboxes to groups in `ff1e::/16`. Before starting such nodes with multicast,
//! a probe checks that IPv6 multicast works on `lo`. Where it does not, `live` says so
//! and has every node bootstrap from the first instead; `node` stops with exit code 2
//! and the probe's error (give it `--no-multicast --bootstrap`). The HTTP API stays on
//! 127.0.0.1.

use std::fs;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use dswarm::live::file::{self, Existing};
use dswarm::live::owned::OwnedFile;
use dswarm::live::{self, driver::Control, LiveConfig, LiveNode};
use dswarm::proto::id::parse_hex32;
use dswarm::proto::node::{Event, DEFAULT_NETWORK_KEY};
use dswarm::proto::Identity;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Options both commands share.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The swarm's 32-byte network key, as 64 hex digits (default: the open swarm's).
    #[arg(long, value_parser = network_key)]
    network_key: Option<[u8; 32]>,
    /// Addresses to bootstrap from (repeat for several).
    #[arg(long)]
    bootstrap: Vec<SocketAddr>,
    /// The multicast group beacons go to (default: 239.255.77.77:17760, or
    /// [ff12::7777]:17760 for nodes on IPv6). Of the nodes' family.
    #[arg(long)]
    multicast_group: Option<SocketAddr>,
    /// Multicast TTL: 0 keeps beacons on this host, 1 reaches the LAN.
    #[arg(long, default_value_t = 0)]
    multicast_ttl: u32,
    /// Turn multicast off (bootstrap addresses only).
    #[arg(long)]
    no_multicast: bool,
    /// Listen at a multicast mailbox derived from the key (mp2p), declare it, and
    /// try peers' mailboxes first on connect. Needs multicast.
    #[arg(long, conflicts_with = "no_multicast")]
    mailbox: bool,
    /// No periodic summaries.
    #[arg(long)]
    quiet: bool,
    /// Half-open handshakes held from which a hello must bring a cookie (a number,
    /// or `never`; default: a quarter of the half-open cap).
    #[arg(long, value_parser = cookie_load)]
    cookie_load: Option<usize>,
}

/// Arguments of `dswarm live`.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Nodes to start in this process.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    nodes: u32,
    /// Derive every node's identity from this seed, for ids that are the same every
    /// run (default: from the OS). Ephemeral handshake keys always come from the OS.
    #[arg(long)]
    seed: Option<u64>,
    /// Put the nodes on [::1] (IPv6 loopback), beaconing to an ff12:: group on `lo`.
    #[arg(long)]
    ipv6: bool,
    #[command(flatten)]
    common: Common,
}

/// Arguments of `dswarm node`.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// Where the HTTP API listens (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    api: SocketAddr,
    /// Where the UDP socket binds.
    #[arg(long, default_value = "127.0.0.1:0")]
    udp: SocketAddr,
    /// Keep the identity here: read it if the file exists, else create it (mode 0600).
    /// What the node publishes is kept beside it, in `<key file>.records.json`, and
    /// published again at the next start.
    #[arg(long)]
    key_file: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Besides serving: listen for streams, or connect one to a peer; stdout then
    /// carries only stream bytes.
    #[command(subcommand)]
    pipe: Option<crate::pipe::Pipe>,
}

/// Prints a line to stdout; a closed stdout (a reader that went away) must not take
/// the swarm down with it, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stdout(), $($arg)*);
    }};
}

fn network_key(s: &str) -> Result<[u8; 32], String> {
    parse_hex32(s).map_err(|e| format!("network key: {e}"))
}

fn cookie_load(s: &str) -> Result<usize, String> {
    match s {
        "never" => Ok(usize::MAX),
        n => n
            .parse()
            .map_err(|e| format!("cookie load: {e} (a number, or `never`)")),
    }
}

/// A node bound to `udp`, as `common` says.
fn base_config(common: &Common, udp: SocketAddr) -> LiveConfig {
    let mut config = LiveConfig::localhost();
    config.udp = udp;
    if let Some(load) = common.cookie_load {
        config.node.sessions.cookie_load = load;
    }
    config.node.network_key = common.network_key.unwrap_or(DEFAULT_NETWORK_KEY);
    config.node.bootstrap = common.bootstrap.clone();
    config.group = (!common.no_multicast).then(|| {
        common
            .multicast_group
            .unwrap_or(live::socket::default_group(udp))
    });
    config.multicast_ttl = common.multicast_ttl;
    config.node.mailbox = common.mailbox;
    config
}

/// Reads a key file (64 hex digits of seed), or creates one: the node's identity.
///
/// A key file others may read is refused (on Unix: any group or other permission
/// bit). A new one is written whole or not at all: to a temporary file beside it (mode
/// 0600), flushed to disk, then linked into place, which fails rather than replace a
/// key file that appeared meanwhile. A full disk leaves no empty key file behind to
/// block the next start.
fn load_or_create_key(path: &Path) -> Result<Identity, String> {
    let error = |e: &dyn std::fmt::Display| format!("key file {}: {e}", path.display());
    match fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(path)
                    .map_err(|e| error(&e))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(error(&format!(
                        "others may read it (mode {:o}); make it private: chmod 600 {}",
                        mode & 0o777,
                        path.display()
                    )));
                }
            }
            let seed = parse_hex32(text.trim()).map_err(|e| error(&e))?;
            Ok(Identity::from_seed(seed))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let identity = Identity::from_os();
            let hex: String = identity.seed().iter().map(|b| format!("{b:02x}")).collect();
            file::write_whole(path, format!("{hex}\n").as_bytes(), Existing::Keep)
                .map_err(|e| error(&e))?;
            Ok(identity)
        }
        Err(e) => Err(error(&e)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::from(2)
        })
}

/// Runs `dswarm live`.
pub fn run_live(args: &LiveArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        if let Some(seed) = args.seed {
            say!("seed {seed}");
        }
        let mut configs = live_configs(args);
        // Where the kernel carries no IPv6 multicast over `lo`, the swarm still forms:
        // every node bootstraps from the first instead.
        let chain = match ipv6_multicast_error(&configs[0]).await {
            Some(error) => {
                eprintln!(
                    "warning: IPv6 multicast does not work here ({error}; Linux may have no \
                     IPv6 multicast route on `lo`): the nodes bootstrap from the first one \
                     instead"
                );
                configs.iter_mut().for_each(|config| config.group = None);
                true
            }
            None => false,
        };
        let mut nodes: Vec<LiveNode> = Vec::new();
        for mut config in configs {
            if let (true, Some(first)) = (chain, nodes.first()) {
                config.node.bootstrap.push(first.udp);
            }
            match live::spawn(config).await {
                Ok(node) => nodes.push(node),
                Err(error) => {
                    eprintln!("error: cannot start a node: {error}");
                    return ExitCode::from(2);
                }
            }
        }
        serve(nodes, args.common.quiet).await
    })
}

/// The nodes `dswarm live` starts. `--seed` makes their ids reproducible; each node's
/// RNG (its ephemeral handshake keys, and so its nonces) stays the operating system's,
/// so a swarm restarted with the same seed never reuses one.
fn live_configs(args: &LiveArgs) -> Vec<LiveConfig> {
    let mut seeds = args.seed.map(ChaCha8Rng::seed_from_u64);
    let udp = match args.ipv6 {
        true => SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
        false => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    };
    // One roster for the process: each node's dashboard watches them all.
    let roster = live::http::Roster::default();
    (0..args.nodes)
        .map(|_| {
            let mut config = base_config(&args.common, udp);
            config.roster = roster.clone();
            if let Some(rng) = &mut seeds {
                config.identity = Identity::from_rng(rng);
            }
            config
        })
        .collect()
}

/// Runs `dswarm node`.
pub fn run_node(args: &NodeArgs) -> ExitCode {
    let mut config = base_config(&args.common, args.udp);
    config.api = Some(args.api);
    if !args.api.ip().is_loopback() {
        eprintln!("error: --api must be a loopback address, not {}", args.api);
        return ExitCode::from(2);
    }
    if let Some(path) = &args.key_file {
        config.records = Some(OwnedFile::beside(path));
        match load_or_create_key(path) {
            Ok(identity) => config.identity = identity,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async {
        if let Some(code) = check_ipv6(&config).await {
            return code;
        }
        match live::spawn(config).await {
            Ok(node) => match args.pipe.clone() {
                Some(pipe) => crate::pipe::run(node, pipe, shutdown_signal()).await,
                None => serve(vec![node], args.common.quiet).await,
            },
            Err(error) => {
                eprintln!("error: cannot start the node: {error}");
                ExitCode::from(2)
            }
        }
    })
}

/// For a node on IPv6 with multicast: why IPv6 multicast does not work here
/// ([`live::socket::probe`]), or `None` when it does (or the node has none to use).
async fn ipv6_multicast_error(config: &LiveConfig) -> Option<io::Error> {
    let group = config.group.filter(|_| config.udp.is_ipv6())?;
    let probed = match live::socket::Interface::for_udp(config.udp) {
        Ok(interface) => live::socket::probe(config.udp, group, interface).await,
        Err(error) => Err(error),
    };
    probed.err()
}

/// For `dswarm node` on IPv6 with multicast: `Some(2)`, said on stderr, where IPv6
/// multicast does not work here. Without multicast, binding `[::1]` is the only
/// check, and `spawn` makes it.
async fn check_ipv6(config: &LiveConfig) -> Option<ExitCode> {
    let error = ipv6_multicast_error(config).await?;
    eprintln!(
        "error: IPv6 multicast does not work here: {error}\n\
         (Linux may have no IPv6 multicast route on `lo`, or deliver none over it; \
         run with --no-multicast and --bootstrap [::1]:PORT instead)"
    );
    Some(ExitCode::from(2))
}

/// Prints the nodes, logs their events and summaries, and waits for Ctrl-C or SIGTERM.
async fn serve(mut nodes: Vec<LiveNode>, quiet: bool) -> ExitCode {
    for node in &nodes {
        match node.api {
            Some(api) => say!("node {} udp {} api http://{api}", node.id, node.udp),
            None => say!("node {} udp {}", node.id, node.udp),
        }
    }
    if let Some(api) = nodes.first().and_then(|node| node.api) {
        let watched = match nodes.len() {
            1 => "the node".to_owned(),
            n => format!("all {n} nodes"),
        };
        say!("dashboard http://{api}/ (watches {watched} live; open it in a browser)");
    }
    let _ = io::stdout().flush();
    let mut summary = tokio::time::interval(Duration::from_secs(5));
    summary.tick().await;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut code = ExitCode::SUCCESS;
    loop {
        // A node whose driver ended (a panic, a socket that failed) would leave its API
        // answering 503 for good: stop everything, and say so in the exit code.
        if let Some(node) = nodes.iter().find(|node| node.has_stopped()) {
            eprintln!(
                "error: node {} stopped running (its driver panicked or its socket failed); \
                 stopping every node",
                node.id
            );
            code = ExitCode::FAILURE;
            break;
        }
        let mut events = Vec::new();
        for (i, node) in nodes.iter_mut().enumerate() {
            while let Ok(event) = node.events.try_recv() {
                events.push((i, event));
            }
        }
        for (i, event) in events {
            let id = nodes[i].id;
            match event {
                Event::PeerDiscovered {
                    id: peer,
                    addr,
                    via,
                } => {
                    say!("{:?} discovered {peer:?} at {addr} via {via:?}", id);
                }
                Event::PeerVerified { id: peer, addr } => {
                    say!("{id:?} verified {peer:?} at {addr}")
                }
                Event::HandshakeFailed {
                    id: peer,
                    addr,
                    reason,
                } => {
                    say!("{id:?} handshake with {peer:?} at {addr} failed: {reason:?}");
                }
                Event::PeerEvicted { id: peer, .. } => say!("{id:?} evicted {peer:?}"),
                Event::NatClassified { kind, reflexive } => {
                    say!("{id:?} NAT {} (seen at {reflexive:?})", kind.name())
                }
                Event::PunchFailed { peer, reason } => {
                    say!("{id:?} punch to {peer:?} failed: {reason:?}")
                }
                Event::Stream(event) => say!("{id:?} stream {event:?}"),
                Event::SessionClosed { id: peer } => {
                    say!("{id:?} closed its session with {peer:?}")
                }
                Event::RecordStored { kind, key, writer } => {
                    say!("{id:?} stored {kind:?} {key:?} for {writer:?}")
                }
                Event::QueryFinished { .. } | Event::TopicPeers { .. } => {}
            }
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = summary.tick() => if !quiet {
                for node in &nodes {
                    print_summary(node).await;
                }
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    say!("shutting down {} node(s)", nodes.len());
    // All at once: one after another, each node that announced would wait out its
    // grace period on peers already gone, and ten of them would take ten seconds.
    dswarm::live::shutdown_all(nodes).await;
    code
}

async fn print_summary(node: &LiveNode) {
    let (reply, answer) = tokio::sync::oneshot::channel();
    if node
        .control
        .send(Control::Snapshot { reply })
        .await
        .is_err()
    {
        return;
    }
    if let Ok(s) = answer.await {
        let closest = s.peers.first().map_or("none".to_string(), |c| {
            format!(
                "{:?} (bucket {})",
                c.id,
                s.id.bucket_index(&c.id).unwrap_or(0)
            )
        });
        say!(
            "{:?}: peers known {} verified {} sessions {} closest {closest}",
            s.id,
            s.peers.len(),
            s.peers.len(),
            s.sessions
        );
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dswarm::live::{driver::Control, LiveConfig};

    #[test]
    fn a_seeded_swarm_has_the_same_ids_and_fresh_ephemeral_keys() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            live: LiveArgs,
        }
        let args = <Command as clap::Parser>::parse_from(["live", "--nodes", "3", "--seed", "7"]);
        let (first, again) = (live_configs(&args.live), live_configs(&args.live));
        for (a, b) in first.iter().zip(&again) {
            assert_eq!(a.identity.id(), b.identity.id());
            assert_ne!(a.rng_seed, b.rng_seed, "ephemeral keys must not repeat");
        }
    }

    #[test]
    fn a_key_file_is_created_private_and_whole_and_never_replaced() {
        let dir = std::env::temp_dir().join(format!("dswarm-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.key");
        let first = load_or_create_key(&path).expect("creates it");
        let again = load_or_create_key(&path).expect("reads it back");
        assert_eq!(first.id(), again.id());
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["node.key"], "no temporary file is left behind");
        // Creating it again refuses to replace it.
        assert!(file::write_whole(&path, b"00\n", Existing::Keep).is_err());
        assert_eq!(load_or_create_key(&path).unwrap().id(), first.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let refused = load_or_create_key(&path).map(|i| i.id()).unwrap_err();
            assert!(
                refused.contains("others may read it (mode 644)"),
                "{refused}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A node whose driver ends on its own (here: told to stop behind `serve`'s back,
    /// as a panic would end it) makes `serve` stop and fail, instead of serving a dead
    /// API until someone presses Ctrl-C.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_whose_driver_stops_makes_the_process_fail() {
        let mut config = LiveConfig::localhost();
        config.group = None;
        let node = dswarm::live::spawn(config).await.expect("node starts");
        node.control
            .send(Control::Shutdown)
            .await
            .expect("driver runs");
        let code = tokio::time::timeout(Duration::from_secs(10), serve(vec![node], true))
            .await
            .expect("serve returns by itself");
        assert_eq!(code, ExitCode::FAILURE);
    }
}
