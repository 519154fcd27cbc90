//! `dswarm bench-flood`: floods a live node (a separate `dswarm node` process on
//! 127.0.0.1) with garbage datagrams and bogus handshake starts, and measures what it
//! costs the node: peak memory growth, what it counted, and whether an honest node that
//! knows only the flooded one can still look up and ping through it afterwards.
//!
//! The run:
//!
//! 1. starts the flooded node `A` and an honest node `B` that bootstraps from `A` only
//!    (no multicast for either: nothing else on the host joins in);
//! 2. waits until `B` has `A` in its table, then takes `A`'s baseline memory (VmHWM);
//! 3. sends `datagrams` datagrams from `senders` UDP sockets: half random bytes, half
//!    real datagrams of every kind (signed beacons, `Who`s, SHS1 messages, sealed
//!    frames) with bytes flipped, cut or appended, some untouched;
//! 4. sends `handshakes` well-formed SHS1 first messages with fresh random ephemeral
//!    keys, answers half of the replies with a wrong third message and leaves the rest
//!    hanging;
//! 5. waits for `A` to drain its socket, reads its counters (`GET /metrics`) and memory
//!    (VmHWM: peak; VmRSS: now), and has `B` look `A` up and ping it over HTTP.
//!
//! With `--hellos-per-second RATE` it floods hellos with a valid HMAC instead, while
//! honest clients handshake with the node, once with cookies off and once on (the
//! `hellos` module).
//!
//! Both processes are killed when the run ends, however it ends. Linux only (`/proc`).
//! The figures of one run on a 2-core machine are in the closing note.

// A benchmark of live processes measures wall time and waits on them.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dswarm::proto::crypto::RealCrypto;
use dswarm::proto::discovery::network_tag;
use dswarm::proto::handshake;
use dswarm::proto::node::DEFAULT_NETWORK_KEY;
use dswarm::proto::wire::{
    Beacon, Datagram, FrameFlags, Handshake, SealedHeader, SessionId, MAX_DATAGRAM,
};
use dswarm::proto::{CryptoSuite, Identity, NodeId};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

#[path = "bench_flood/hellos.rs"]
pub mod hellos;

/// Arguments of `dswarm bench-flood`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchFloodArgs {
    /// Garbage datagrams to send (random and mutated real ones).
    #[arg(long, default_value_t = 1_000_000)]
    pub datagrams: u64,
    /// Bogus handshake starts to send.
    #[arg(long, default_value_t = 10_000)]
    pub handshakes: u64,
    /// UDP sockets (source addresses) the flood comes from: 128 of them hold more
    /// half-open handshakes (16 each) than a node keeps (1,024).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub senders: u16,
    /// Seed of the garbage.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Send as fast as the sockets take it. By default the flood is paced so that the
    /// node's receive buffer does not overflow and the node handles every datagram.
    #[arg(long)]
    pub unpaced: bool,
    /// Fail (exit 1) if the node's peak memory grows by this many MiB or more.
    #[arg(long, default_value_t = 20.0)]
    pub max_growth_mib: f64,
    /// Instead of the garbage flood: hellos with a valid network-key HMAC at this
    /// rate, from `senders` rotating sockets, while honest clients handshake with the
    /// node; run with cookies off, then on (see the `hellos` module).
    #[arg(long)]
    pub hellos_per_second: Option<f64>,
    /// How long each hello flood lasts, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Honest clients handshaking with the node during a hello flood.
    #[arg(long, default_value_t = 4)]
    pub honest: u16,
    /// Fail (exit 1) if, with cookies on, fewer honest handshakes than this share
    /// complete during the hello flood.
    #[arg(long, default_value_t = 0.9)]
    pub min_success: f64,
    /// Also flood this `dswarm` binary (another build, started without
    /// `--cookie-load`) first, as a baseline for the hello flood.
    #[arg(long)]
    pub baseline_bin: Option<PathBuf>,
}

/// What one flood did and cost.
#[derive(Clone, Debug)]
pub struct FloodReport {
    /// Garbage datagrams sent.
    pub datagrams_sent: u64,
    /// Handshake starts sent, and wrong third messages sent after them.
    pub handshakes_sent: u64,
    /// Wrong third messages sent in answer to the node's replies.
    pub auths_sent: u64,
    /// Wall time of the sending.
    pub send_seconds: f64,
    /// `Who`s sent to pace the flood (counted by the node too).
    pub pace_probes: u64,
    /// Datagrams the node counted during the flood (`datagrams_received`).
    pub counted: u64,
    /// Of those, what did not decode (`datagrams_malformed`).
    pub malformed: u64,
    /// Hellos refused for too many half-open handshakes from their source
    /// (`half_open_refused`).
    pub half_open_refused: u64,
    /// Half-open handshakes dropped, oldest first, for newer hellos
    /// (`half_open_evicted`).
    pub half_open_evicted: u64,
    /// Handshake messages that failed a check (`handshakes_rejected`).
    pub handshakes_rejected: u64,
    /// Handshake messages that matched nothing (`handshake_unmatched`).
    pub handshake_unmatched: u64,
    /// Beacons whose signature did not verify (`beacons_forged`).
    pub beacons_forged: u64,
    /// Frames for no session (`frames_unknown_session`).
    pub frames_unknown_session: u64,
    /// The node's VmHWM once settled, before the flood, in MiB.
    pub rss_before_mib: f64,
    /// Its VmHWM after the flood.
    pub rss_peak_mib: f64,
    /// Its VmRSS after the flood.
    pub rss_after_mib: f64,
    /// The honest node's lookup of the flooded node: found it, and how long it took.
    pub lookup: Result<f64, String>,
    /// The honest node's ping of its closest (the flooded node): its round trip.
    pub ping: Result<f64, String>,
    /// A third honest node started right after the flood, bootstrapping from the
    /// flooded node alone: seconds until the two have a session.
    pub join: Result<f64, String>,
}

impl Default for FloodReport {
    fn default() -> Self {
        FloodReport {
            datagrams_sent: 0,
            handshakes_sent: 0,
            auths_sent: 0,
            send_seconds: 0.0,
            pace_probes: 0,
            counted: 0,
            malformed: 0,
            half_open_refused: 0,
            half_open_evicted: 0,
            handshakes_rejected: 0,
            handshake_unmatched: 0,
            beacons_forged: 0,
            frames_unknown_session: 0,
            rss_before_mib: 0.0,
            rss_peak_mib: 0.0,
            rss_after_mib: 0.0,
            lookup: Err("not run".into()),
            ping: Err("not run".into()),
            join: Err("not run".into()),
        }
    }
}

impl FloodReport {
    /// Peak memory growth over the baseline, in MiB.
    pub fn growth_mib(&self) -> f64 {
        self.rss_peak_mib - self.rss_before_mib
    }

    /// Datagrams sent per second.
    pub fn send_rate(&self) -> f64 {
        (self.datagrams_sent + self.handshakes_sent + self.auths_sent) as f64
            / self.send_seconds.max(1e-9)
    }
}

/// A `dswarm node` process, killed when dropped (even while a panic unwinds).
pub struct NodeProcess {
    child: Child,
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub udp: SocketAddr,
    /// Its HTTP API.
    pub api: SocketAddr,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    /// Starts `bin node --quiet --no-multicast` with `extra` arguments and reads the
    /// line it prints: `node <id> udp <addr> api http://<addr>`.
    pub fn start(bin: &Path, extra: &[String]) -> Result<NodeProcess, String> {
        let mut child = Command::new(bin)
            .args(["node", "--quiet", "--no-multicast"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining: a node whose stdout fills up would block.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut process = NodeProcess {
            child,
            id: NodeId([0; 32]),
            udp: SocketAddr::from(([127, 0, 0, 1], 0)),
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| "the node printed no line within 20 s".to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let [_, id, _, udp, _, api] = words[..] else {
            return Err(format!("unexpected first line: {line}"));
        };
        process.id = id.parse().map_err(|e| format!("id in `{line}`: {e}"))?;
        process.udp = udp.parse().map_err(|e| format!("udp in `{line}`: {e}"))?;
        process.api = api
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| format!("api in `{line}`: {e}"))?;
        Ok(process)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET path` on its API: status code and body.
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(self.api, path)
    }

    /// One counter of `GET /metrics` (without the `dswarm_` prefix and `_total`).
    pub fn counter(&self, name: &str) -> Result<u64, String> {
        let (_, body) = self.get("/metrics")?;
        let key = format!("dswarm_{name}_total ");
        body.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("no counter {name} in /metrics"))
    }

    /// A line of `/proc/PID/status` (`VmHWM`, `VmRSS`), in MiB.
    pub fn memory_mib(&self, field: &str) -> Result<f64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .map_err(|e| format!("/proc/{}/status: {e}", self.pid()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .ok_or_else(|| format!("no {field} in /proc status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("bad line: {line}"))?;
        Ok(kib / 1024.0)
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: no status line"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    Ok((status, body))
}

/// A number field of a flat JSON text, found by name (enough for the API's answers).
fn json_number(body: &str, field: &str) -> Option<f64> {
    let at = body.find(&format!("\"{field}\":"))? + field.len() + 3;
    let rest = &body[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Real datagrams of every kind, to send mutated.
fn corpus(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let crypto = CryptoSuite::Real.implementation();
    let tag = network_tag(&DEFAULT_NETWORK_KEY);
    let unix_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = Vec::new();
    for _ in 0..16 {
        let identity = Identity::from_rng(rng);
        let port = 1024 + (rng.next_u32() % 60_000) as u16;
        let signed = Beacon::signed_bytes(&identity.id(), port, unix_secs, &tag);
        out.push(
            Datagram::Beacon(Beacon {
                id: identity.id(),
                port,
                unix_secs,
                network_tag: tag,
                signature: crypto.sign(&identity, &signed),
            })
            .to_bytes(),
        );
    }
    out.push(Datagram::Who { network_tag: tag }.to_bytes());
    let mut ephemeral = [0u8; 32];
    rng.fill_bytes(&mut ephemeral);
    out.push(
        Datagram::Handshake(Handshake::Hello {
            client: SessionId(rng.next_u32()),
            msg: handshake::hello(&RealCrypto, &DEFAULT_NETWORK_KEY, &ephemeral),
        })
        .to_bytes(),
    );
    let mut bytes = |n: usize| {
        let mut b = vec![0u8; n];
        rng.fill_bytes(&mut b);
        b
    };
    let msg64: [u8; 64] = bytes(64).try_into().expect("64 bytes");
    let msg112: [u8; 112] = bytes(112).try_into().expect("112 bytes");
    let msg80: [u8; 80] = bytes(80).try_into().expect("80 bytes");
    let ciphertext = bytes(200);
    out.push(
        Datagram::Handshake(Handshake::HelloReply {
            client: SessionId(1),
            server: SessionId(2),
            msg: msg64,
        })
        .to_bytes(),
    );
    out.push(
        Datagram::Handshake(Handshake::Auth {
            server: SessionId(3),
            msg: msg112,
            early: None,
        })
        .to_bytes(),
    );
    out.push(
        Datagram::Handshake(Handshake::Accept {
            client: SessionId(4),
            msg: msg80,
            early: None,
        })
        .to_bytes(),
    );
    out.push(
        Datagram::Sealed {
            header: SealedHeader {
                flags: FrameFlags::default(),
                receiver: SessionId(5),
                counter: 1,
            },
            ciphertext,
        }
        .to_bytes(),
    );
    out
}

/// One garbage datagram: random bytes, or a corpus datagram flipped, cut or extended
/// (one in eight left whole).
fn garbage(rng: &mut ChaCha8Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    let r = rng.next_u32();
    if r % 2 == 0 {
        let len = (rng.next_u32() as usize) % (MAX_DATAGRAM + 1);
        out.resize(len, 0);
        rng.fill_bytes(out);
        return;
    }
    out.extend_from_slice(&corpus[(rng.next_u32() as usize) % corpus.len()]);
    match (r >> 1) % 8 {
        0 => {}
        1 => {
            let cut = (rng.next_u32() as usize) % (out.len() + 1);
            out.truncate(cut);
        }
        2 => {
            let extra = (rng.next_u32() as usize) % 64;
            for _ in 0..extra {
                out.push(rng.next_u32() as u8);
            }
        }
        _ => {
            let flips = 1 + rng.next_u32() % 4;
            for _ in 0..flips {
                if out.is_empty() {
                    break;
                }
                let at = (rng.next_u32() as usize) % out.len();
                out[at] ^= 1 << (rng.next_u32() % 8);
            }
        }
    }
}

/// Garbage datagrams between two pacing `Who`s.
const PACE_EVERY: u64 = 256;
/// Pacing `Who`s unanswered before the sender waits: about 512 datagrams queued at
/// the node, well within its receive buffer.
const PACE_WINDOW: u64 = 2;

/// Paces a flood without reading the node's counters: a `Who` every [`PACE_EVERY`]
/// datagrams, and a wait whenever more than [`PACE_WINDOW`] are unanswered. The node
/// answers each `Who` with a beacon after it has handled everything queued before it
/// (one socket, first in first out), so an answer says how far it has got.
struct Pacer {
    socket: UdpSocket,
    node: SocketAddr,
    who: Vec<u8>,
    sent: u64,
    answered: u64,
    off: bool,
}

impl Pacer {
    fn new(node: SocketAddr, off: bool) -> Result<Pacer, String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let who = Datagram::Who {
            network_tag: network_tag(&DEFAULT_NETWORK_KEY),
        }
        .to_bytes();
        Ok(Pacer {
            socket,
            node,
            who,
            sent: 0,
            answered: 0,
            off,
        })
    }

    fn step(&mut self) {
        if self.off {
            return;
        }
        if self.socket.send_to(&self.who, self.node).is_ok() {
            self.sent += 1;
        }
        let mut buf = [0u8; MAX_DATAGRAM + 1];
        while self.sent - self.answered > PACE_WINDOW {
            match self.socket.recv_from(&mut buf) {
                Ok(_) => self.answered += 1,
                // A `Who` lost in an overflowing buffer: go on rather than wait forever.
                Err(_) => self.answered = self.sent - PACE_WINDOW,
            }
        }
    }
}

/// Polls `counter` of `node` until it stops moving (the node has drained its socket),
/// for at most `limit`.
fn settle(node: &NodeProcess, counter: &str, limit: Duration) -> Result<u64, String> {
    let start = Instant::now();
    let mut last = node.counter(counter)?;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = node.counter(counter)?;
        if now == last || start.elapsed() > limit {
            return Ok(now);
        }
        last = now;
    }
}

/// Runs one flood with `bin` as the `dswarm` binary; see the module docs.
pub fn flood(bin: &Path, args: &BenchFloodArgs) -> Result<FloodReport, String> {
    let a = NodeProcess::start(bin, &[])?;
    let b = NodeProcess::start(bin, &["--bootstrap".into(), a.udp.to_string()])?;
    // B bootstraps from A alone: wait until each has the other.
    let start = Instant::now();
    let a_hex = a.id.to_string();
    loop {
        let (_, peers) = b.get("/api/peers")?;
        if peers.contains(&a_hex) {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!("B did not find A within 20 s: {peers}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let A settle (B's bootstrap, the runtime's threads) before the baseline.
    std::thread::sleep(Duration::from_millis(500));
    let mut report = FloodReport {
        rss_before_mib: a.memory_mib("VmHWM:")?,
        ..FloodReport::default()
    };
    let before = |name: &str| a.counter(name);
    let received0 = before("datagrams_received")?;
    let names = [
        "datagrams_malformed",
        "half_open_refused",
        "half_open_evicted",
        "handshakes_rejected",
        "handshake_unmatched",
        "beacons_forged",
        "frames_unknown_session",
    ];
    let base: Vec<u64> = names.iter().map(|n| before(n)).collect::<Result<_, _>>()?;

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let corpus = corpus(&mut rng);
    let sockets = senders(args.senders)?;
    let mut pacer = Pacer::new(a.udp, args.unpaced)?;
    let sent_at = Instant::now();
    let mut buf = Vec::with_capacity(MAX_DATAGRAM + 64);
    for i in 0..args.datagrams {
        garbage(&mut rng, &corpus, &mut buf);
        let socket = &sockets[(i % sockets.len() as u64) as usize];
        // A full send buffer drops the datagram here rather than at the node: count
        // only what left.
        if socket.send_to(&buf, a.udp).is_ok() {
            report.datagrams_sent += 1;
        }
        if i % 4096 == 0 {
            drain(&sockets);
        }
        if i % PACE_EVERY == PACE_EVERY - 1 {
            pacer.step();
        }
    }
    report.send_seconds = sent_at.elapsed().as_secs_f64();
    report.pace_probes = pacer.sent;
    // Let the node drain the garbage, so that the handshake starts reach it.
    drain(&sockets);
    settle(&a, "datagrams_received", Duration::from_secs(30))?;

    // Handshake starts in rounds of one per sender; half of the replies that come
    // back within a moment get a third message of random bytes.
    let handshakes_at = Instant::now();
    let mut reply = vec![0u8; MAX_DATAGRAM + 1];
    let mut sent = 0;
    while sent < args.handshakes {
        for socket in &sockets {
            if sent == args.handshakes {
                break;
            }
            sent += 1;
            let hello = fresh_hello(&mut rng);
            if socket.send_to(&hello, a.udp).is_ok() {
                report.handshakes_sent += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
        for socket in &sockets {
            while let Ok((len, _)) = socket.recv_from(&mut reply) {
                let Ok(Datagram::Handshake(Handshake::HelloReply { server, .. })) =
                    dswarm::proto::wire::decode(&reply[..len])
                else {
                    continue;
                };
                if rng.next_u32() % 2 == 0 {
                    continue;
                }
                let mut msg = [0u8; 112];
                rng.fill_bytes(&mut msg);
                let auth = Datagram::Handshake(Handshake::Auth {
                    server,
                    msg,
                    early: None,
                })
                .to_bytes();
                if socket.send_to(&auth, a.udp).is_ok() {
                    report.auths_sent += 1;
                }
            }
        }
    }
    report.send_seconds += handshakes_at.elapsed().as_secs_f64();
    drain(&sockets);

    let received = settle(&a, "datagrams_received", Duration::from_secs(30))?;
    report.counted = received - received0;
    let after: Vec<u64> = names
        .iter()
        .map(|n| a.counter(n))
        .collect::<Result<_, _>>()?;
    let delta: Vec<u64> = after.iter().zip(&base).map(|(a, b)| a - b).collect();
    report.malformed = delta[0];
    report.half_open_refused = delta[1];
    report.half_open_evicted = delta[2];
    report.handshakes_rejected = delta[3];
    report.handshake_unmatched = delta[4];
    report.beacons_forged = delta[5];
    report.frames_unknown_session = delta[6];
    report.rss_peak_mib = a.memory_mib("VmHWM:")?;
    report.rss_after_mib = a.memory_mib("VmRSS:")?;

    // The honest node, which knows A only, looks A up and pings it.
    report.lookup = match b.get(&format!("/api/lookup/{a_hex}"))? {
        (200, body) if body.contains("\"found\":true") => {
            Ok(json_number(&body, "elapsed_ms").unwrap_or(f64::NAN))
        }
        (status, body) => Err(format!("{status} {body}")),
    };
    report.ping = match b.get("/api/ping")? {
        (200, body) if body.contains(&a_hex) => match json_number(&body, "rtt_ms") {
            Some(rtt) => Ok(rtt),
            None => Err(format!("A did not answer: {body}")),
        },
        (status, body) => Err(format!("{status} {body}")),
    };
    // A newcomer, while the flood's half-open handshakes still fill the node's table.
    let joined_at = Instant::now();
    let c = NodeProcess::start(bin, &["--bootstrap".into(), a.udp.to_string()])?;
    report.join = loop {
        let (_, peers) = c.get("/api/peers")?;
        if peers.contains(&a_hex) {
            break Ok(joined_at.elapsed().as_secs_f64());
        }
        if joined_at.elapsed() > Duration::from_secs(20) {
            break Err("no session with the flooded node within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(report)
}

/// Reads and drops whatever the node sent back (beacons answering `Who`s, handshake
/// replies), so the senders' receive buffers never matter.
fn drain(sockets: &[UdpSocket]) {
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    for socket in sockets {
        while socket.recv_from(&mut buf).is_ok() {}
    }
}

/// The report, one figure per line.
pub fn print(report: &FloodReport) {
    println!(
        "sent: {} garbage datagrams, {} handshake starts, {} wrong third messages, {} pacing Whos in {:.2} s ({:.0} datagrams/s)",
        report.datagrams_sent,
        report.handshakes_sent,
        report.auths_sent,
        report.pace_probes,
        report.send_seconds,
        report.send_rate()
    );
    println!(
        "node counted: {} datagrams received ({} malformed); {} forged beacons, {} frames for no session, \
         {} half-open refused, {} half-open evicted, {} handshake messages rejected, {} unmatched",
        report.counted,
        report.malformed,
        report.beacons_forged,
        report.frames_unknown_session,
        report.half_open_refused,
        report.half_open_evicted,
        report.handshakes_rejected,
        report.handshake_unmatched
    );
    println!(
        "node memory: VmHWM before {:.1} MiB, peak {:.1} MiB (growth {:.1} MiB), VmRSS after {:.1} MiB",
        report.rss_before_mib,
        report.rss_peak_mib,
        report.growth_mib(),
        report.rss_after_mib
    );
    match &report.lookup {
        Ok(ms) => println!("honest lookup through the node: found it in {ms:.3} ms"),
        Err(e) => println!("honest lookup through the node: FAILED: {e}"),
    }
    match &report.ping {
        Ok(ms) => println!("honest ping of the node: answered in {ms:.3} ms"),
        Err(e) => println!("honest ping of the node: FAILED: {e}"),
    }
    match &report.join {
        Ok(secs) => {
            println!("a new node bootstrapping from the node right after: joined in {secs:.3} s")
        }
        Err(e) => println!("a new node bootstrapping from the node right after: FAILED: {e}"),
    }
}

/// Runs `dswarm bench-flood`: exit 0 if memory stayed within the bound and the honest
/// lookup and ping succeeded, 1 if not, 2 if the run could not be made.
pub fn run(args: &BenchFloodArgs) -> ExitCode {
    let bin: PathBuf = match std::env::current_exe() {
        Ok(bin) => bin,
        Err(e) => {
            eprintln!("error: cannot find the dswarm binary: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(rate) = args.hellos_per_second {
        return hellos::run(&bin, args, rate);
    }
    match flood(&bin, args) {
        Ok(report) => {
            print(&report);
            let ok = report.growth_mib() < args.max_growth_mib
                && report.lookup.is_ok()
                && report.ping.is_ok()
                && report.join.is_ok();
            if ok {
                println!("PASS");
                ExitCode::SUCCESS
            } else {
                println!(
                    "FAIL (peak memory growth must stay under {} MiB and the honest node must get through)",
                    args.max_growth_mib
                );
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// A well-formed SHS1 hello under the open swarm's network key, with a fresh ephemeral
/// key and session number: 32 random bytes are as good as a real key until the server
/// does the Diffie-Hellman, and cost the flooder nothing.
fn fresh_hello(rng: &mut impl RngCore) -> Vec<u8> {
    let mut ephemeral = [0u8; 32];
    rng.fill_bytes(&mut ephemeral);
    Datagram::Handshake(Handshake::Hello {
        client: SessionId(rng.next_u32()),
        msg: handshake::hello(&RealCrypto, &DEFAULT_NETWORK_KEY, &ephemeral),
    })
    .to_bytes()
}

/// `n` non-blocking UDP sockets on 127.0.0.1, each on a port of its own: the flood's
/// rotating sources.
fn senders(n: u16) -> Result<Vec<UdpSocket>, String> {
    (0..n)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .collect::<std::io::Result<_>>()
        .map_err(|e| format!("cannot bind a sender: {e}"))
}
