//! `dswarm bench-flood --hellos-per-second RATE`: a hello flood against a live node,
//! with honest clients handshaking with it all the while; run with cookies off
//! (`--cookie-load never`), then on (the default threshold), in one sitting.
//!
//! In: the rate, how long, how many honest clients, the `dswarm` binary. Out: for each
//! run, the flood's achieved rate, the honest handshakes' success share and times, the
//! flooded node's CPU and counters ([`HelloRun`]), printed side by side.
//!
//! The flooder sends hellos whose network-key HMAC verifies, each with a fresh random
//! ephemeral key and session number, from `senders` UDP sockets in turn (rotating
//! ports), paced to the rate, and never reads what comes back: a source that does not
//! receive, as a spoofing flood is. Each honest client dials the node again and again
//! through its own session layer (a new identity each time, so that every dial is a
//! full handshake that follows cookie replies as a node does), and counts a handshake
//! a success if it completes before the layer gives up (its four hello attempts take
//! 7.5 s). Everything runs on 127.0.0.1 and stops by itself.

// A benchmark of live processes measures wall time and waits on them.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dswarm::proto::crypto::RealCrypto;
use dswarm::proto::node::DEFAULT_NETWORK_KEY;
use dswarm::proto::session::{SessionConfig, SessionEvent, Sessions};
use dswarm::proto::wire::{self, Datagram, MAX_DATAGRAM};
use dswarm::proto::{Identity, NodeId, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use std::process::ExitCode;

use super::{BenchFloodArgs, NodeProcess};

/// The node's counters a run reads before and after.
const COUNTERS: [&str; 8] = [
    "datagrams_received",
    "handshakes_completed",
    "half_open_evicted",
    "half_open_refused",
    "cookies_sent",
    "cookie_hellos",
    "cookies_refused",
    "handshakes_rejected",
];

/// What one hello flood did.
#[derive(Clone, Debug, Default)]
pub struct HelloRun {
    /// Which node was flooded: `cookie load N` (its `--cookie-load`), or `baseline`
    /// (another build's binary, started without the flag).
    pub node: String,
    /// Hellos the flooder sent, and over how long.
    pub hellos_sent: u64,
    /// Seconds the flood lasted.
    pub flood_seconds: f64,
    /// Seconds from the flood's start until the last honest dial ended.
    pub run_seconds: f64,
    /// Honest handshakes dialled during the flood.
    pub honest_dialled: u64,
    /// Of those, the ones that completed.
    pub honest_completed: u64,
    /// Their times to complete, in milliseconds, sorted.
    pub honest_ms: Vec<f64>,
    /// CPU seconds the flooded node spent from the flood's start until the last honest
    /// dial ended (user and system).
    pub node_cpu_seconds: f64,
    /// The counters' growth over the flood, in [`COUNTERS`] order.
    pub counters: Vec<u64>,
}

impl HelloRun {
    /// Hellos sent per second.
    pub fn rate(&self) -> f64 {
        self.hellos_sent as f64 / self.flood_seconds.max(1e-9)
    }

    /// The share of honest handshakes that completed.
    pub fn success(&self) -> f64 {
        self.honest_completed as f64 / (self.honest_dialled.max(1)) as f64
    }

    /// The `q` quantile of the completed handshakes' times, in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.honest_ms.is_empty() {
            return f64::NAN;
        }
        let at = ((self.honest_ms.len() - 1) as f64 * q).round() as usize;
        self.honest_ms[at]
    }

    /// The flooded node's CPU use during the run, in cores.
    pub fn node_cores(&self) -> f64 {
        self.node_cpu_seconds / self.run_seconds.max(1e-9)
    }

    /// A counter's growth over the flood, by name (0 if it was not read).
    pub fn counter(&self, name: &str) -> u64 {
        COUNTERS
            .iter()
            .position(|c| *c == name)
            .and_then(|i| self.counters.get(i).copied())
            .unwrap_or(0)
    }
}

/// The node's [`COUNTERS`]; one its build does not have (a baseline's cookie
/// counters) reads 0.
fn counters(node: &NodeProcess) -> Result<Vec<u64>, String> {
    node.counter(COUNTERS[0])?;
    Ok(COUNTERS
        .iter()
        .map(|n| node.counter(n).unwrap_or(0))
        .collect())
}

/// User and system CPU time of process `pid` so far, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    dswarm_sim::proc::cpu_seconds_of_pid(pid).ok_or_else(|| format!("cannot read /proc/{pid}/stat"))
}

/// Sends hellos to `node` at `rate` a second from `sockets` in turn until `stop`;
/// returns how many went, and over how many seconds.
fn flood(sockets: &[UdpSocket], node: SocketAddr, rate: f64, stop: &AtomicBool) -> (u64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(0x00F1_00D5);
    let started = Instant::now();
    let (mut tried, mut sent) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let owed = (started.elapsed().as_secs_f64() * rate) as u64;
        if tried >= owed {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let batch_end = owed.min(tried + 256);
        while tried < batch_end {
            let hello = super::fresh_hello(&mut rng);
            let socket = &sockets[(tried % sockets.len() as u64) as usize];
            tried += 1;
            // A full send buffer drops it here: count only what left.
            if socket.send_to(&hello, node).is_ok() {
                sent += 1;
            }
        }
    }
    (sent, started.elapsed().as_secs_f64())
}

/// One honest client: dials `server` at `node` with a new identity each time until
/// `stop`; the time of each dial that completed, and how many were dialled.
fn honest(node: SocketAddr, server: NodeId, seed: u64, stop: &AtomicBool) -> (u64, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut times = Vec::new();
    let mut dialled = 0u64;
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return (0, times);
    };
    let epoch = Instant::now();
    let now = || Time::from_micros(epoch.elapsed().as_micros() as u64);
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    while !stop.load(Ordering::Relaxed) {
        let identity = Identity::from_rng(&mut rng);
        let mut sessions = Sessions::new(SessionConfig::default(), DEFAULT_NETWORK_KEY, identity);
        let started = Instant::now();
        sessions.connect(now(), &RealCrypto, server, node, &mut rng, None);
        dialled += 1;
        let done = loop {
            while let Some((dst, bytes)) = sessions.poll_transmit() {
                let _ = socket.send_to(&bytes, dst);
            }
            match sessions.poll_event() {
                Some(SessionEvent::Established { .. }) => break true,
                Some(SessionEvent::Failed { .. }) => break false,
                _ => {}
            }
            let wait = sessions
                .poll_timeout()
                .map_or(Duration::from_millis(50), |t| t.saturating_since(now()))
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            let _ = socket.set_read_timeout(Some(wait));
            match socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    if let Ok(Datagram::Handshake(h)) = wire::decode(&buf[..len]) {
                        sessions.handle_handshake(now(), &RealCrypto, from, h, &mut rng);
                    }
                }
                Err(_) => sessions.handle_timeout(now()),
            }
        };
        if done {
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        // A breath between dials, as a node's are spread out.
        std::thread::sleep(Duration::from_millis(20));
    }
    (dialled, times)
}

/// One run: a node started with `--cookie-load cookie_load` (or, without one, as it
/// is: another build's binary), flooded at `rate` for
/// `seconds` from `senders` sockets while `clients` honest clients dial it.
pub fn run_one(
    bin: &Path,
    cookie_load: Option<&str>,
    rate: f64,
    seconds: f64,
    senders: u16,
    clients: u16,
) -> Result<HelloRun, String> {
    let extra: Vec<String> = match cookie_load {
        Some(load) => vec!["--cookie-load".into(), load.into()],
        None => Vec::new(),
    };
    let node = NodeProcess::start(bin, &extra)?;
    std::thread::sleep(Duration::from_millis(300));
    let sockets = super::senders(senders)?;
    let before = counters(&node)?;
    let cpu_before = cpu_seconds(node.pid())?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let ((sent, flood_seconds), results) = std::thread::scope(|scope| {
        let flooder = scope.spawn(|| flood(&sockets, node.udp, rate, &stop));
        // Let the flood build up before the first honest dial.
        std::thread::sleep(Duration::from_millis(500));
        let honest: Vec<_> = (0..clients)
            .map(|i| {
                let stop = &stop;
                let (udp, id) = (node.udp, node.id);
                scope.spawn(move || honest(udp, id, 1000 + u64::from(i), stop))
            })
            .collect();
        while started.elapsed().as_secs_f64() < seconds {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let sent = flooder.join().unwrap_or((0, 0.0));
        let results: Vec<(u64, Vec<f64>)> = honest
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        (sent, results)
    });
    // The node's CPU and counters cover the dials still running when the flood
    // stopped, a few seconds at most.
    let cpu_after = cpu_seconds(node.pid())?;
    let after = counters(&node)?;
    let mut honest_ms: Vec<f64> = results.iter().flat_map(|(_, t)| t.clone()).collect();
    honest_ms.sort_by(f64::total_cmp);
    Ok(HelloRun {
        node: cookie_load.map_or(format!("baseline {}", bin.display()), |load| {
            format!("cookie load {load}")
        }),
        hellos_sent: sent,
        flood_seconds,
        run_seconds: started.elapsed().as_secs_f64(),
        honest_dialled: results.iter().map(|(d, _)| d).sum(),
        honest_completed: honest_ms.len() as u64,
        honest_ms,
        node_cpu_seconds: cpu_after - cpu_before,
        counters: after.iter().zip(&before).map(|(a, b)| a - b).collect(),
    })
}

/// Prints one run.
pub fn print(run: &HelloRun) {
    println!(
        "{}: {} hellos in {:.1} s ({:.0}/s achieved); node received {} datagrams, used {:.2} s of CPU in {:.1} s ({:.2} cores)",
        run.node,
        run.hellos_sent,
        run.flood_seconds,
        run.rate(),
        run.counter("datagrams_received"),
        run.node_cpu_seconds,
        run.run_seconds,
        run.node_cores(),
    );
    println!(
        "  honest handshakes: {} of {} completed ({:.1} %), median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        run.honest_completed,
        run.honest_dialled,
        100.0 * run.success(),
        run.quantile_ms(0.5),
        run.quantile_ms(0.9),
        run.quantile_ms(1.0),
    );
    let counters: Vec<String> = COUNTERS
        .iter()
        .skip(1)
        .map(|name| format!("{name} {}", run.counter(name)))
        .collect();
    println!("  node counted: {}", counters.join(", "));
}

/// Prints the two runs side by side, with ratios where both are non-zero.
pub fn compare(off: &HelloRun, on: &HelloRun) {
    let ratio = |after: f64, before: f64| {
        if before > 0.0 && after.is_finite() {
            format!("{:.2}x", after / before)
        } else {
            "no ratio".to_string()
        }
    };
    println!(
        "after/before: honest success {:.1} % vs {:.1} % ({}), median time {:.2} vs {:.2} ms, node CPU {:.2} vs {:.2} cores ({})",
        100.0 * on.success(),
        100.0 * off.success(),
        ratio(on.success(), off.success()),
        on.quantile_ms(0.5),
        off.quantile_ms(0.5),
        on.node_cores(),
        off.node_cores(),
        ratio(on.node_cores(), off.node_cores()),
    );
}

/// Runs the hello flood twice, cookies off then on (after the baseline binary, if
/// given): exit 0 if with cookies on at least `min_success` of the honest handshakes
/// completed, 1 if not, 2 if a run could not be made.
pub fn run(bin: &Path, args: &BenchFloodArgs, rate: f64) -> ExitCode {
    let mut runs = Vec::new();
    let mut nodes = vec![(bin, Some("never")), (bin, Some("256"))];
    if let Some(baseline) = &args.baseline_bin {
        nodes.insert(0, (baseline.as_path(), None));
    }
    for (node, cookie_load) in nodes {
        match run_one(
            node,
            cookie_load,
            rate,
            args.seconds,
            args.senders,
            args.honest,
        ) {
            Ok(run) => {
                print(&run);
                runs.push(run);
            }
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let [.., off, on] = &runs[..] else {
        return ExitCode::from(2);
    };
    compare(off, on);
    if on.success() >= args.min_success {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!(
            "FAIL (with cookies on, at least {:.0} % of honest handshakes must complete)",
            100.0 * args.min_success
        );
        ExitCode::from(1)
    }
}
