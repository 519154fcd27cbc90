//! Stock `turmoil::Sim` (0.7) under the ping load of `dswarm bench-sim`, for
//! `benches/compare/sim.sh`.
//!
//! N hosts, each a turmoil host (its own tokio runtime) with one UDP socket. Every host
//! sends, once a simulated second (with a seeded phase, so that not all send in one
//! tick), a 16-byte PING to a random other host, and answers every PING with a PONG.
//! Latency: turmoil's own model with min 5 ms and max 50 ms, which draws
//! `min + (max - min) × Exp(5)`, cut at max, from the sim's seeded RNG. Nothing joins:
//! every host knows every address from the start.
//!
//! The simulation is stepped here, `--tick-ms` of simulated time per step (turmoil's
//! default is 1 ms), for `--seconds`; `--timeout` stops it early and reports how far
//! it got. Output: one line for people on stderr and one JSON line on stdout with wall
//! and CPU seconds, pings sent, pongs received, events (datagrams received by a host's
//! socket) per wall second, peak RSS (VmHWM).
//!
//! ```text
//! cargo run --release -- --hosts 100 [--seconds 10] [--tick-ms 1] [--seed 1] [--timeout 600]
//! ```

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use turmoil::net::UdpSocket;

const PORT: u16 = 9000;
const PING: u8 = 1;
const PONG: u8 = 2;

/// What the hosts did, summed.
#[derive(Default)]
struct Counts {
    pings_sent: Cell<u64>,
    pings_received: Cell<u64>,
    pongs_received: Cell<u64>,
}

impl Counts {
    fn add(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }
}

struct Args {
    hosts: usize,
    seconds: u64,
    tick_ms: u64,
    seed: u64,
    timeout: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        hosts: 100,
        seconds: 10,
        tick_ms: 1,
        seed: 1,
        timeout: 600,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str, min: u64, max: u64| -> Result<u64, String> {
            let text = it.next().ok_or(format!("{name} needs a value"))?;
            let value: u64 = text
                .parse()
                .map_err(|_| format!("{name} {text:?}: expected a whole number"))?;
            if !(min..=max).contains(&value) {
                return Err(format!("{name} {value}: expected {min} to {max}"));
            }
            Ok(value)
        };
        match flag.as_str() {
            "--hosts" => args.hosts = value("--hosts", 2, 60_000)? as usize,
            "--seconds" => args.seconds = value("--seconds", 1, 3_600)?,
            "--tick-ms" => args.tick_ms = value("--tick-ms", 1, 1_000)?,
            "--seed" => args.seed = value("--seed", 0, u64::MAX)?,
            "--timeout" => args.timeout = value("--timeout", 1, 86_400)?,
            "-h" | "--help" => {
                return Err(
                    "usage: turmoil-sim [--hosts N] [--seconds S] [--tick-ms T] [--seed N] [--timeout SECS]"
                        .to_owned(),
                )
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(args)
}

/// Host `i`'s address: 10.x.y.z, assigned here (turmoil's own allocation hands out
/// 192.168.0.0/16 in order, which would do as well).
fn addr_of(i: usize) -> IpAddr {
    let n = i as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

async fn host(i: usize, hosts: usize, seed: u64, counts: Rc<Counts>) -> turmoil::Result {
    let socket = UdpSocket::bind((IpAddr::from(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let phase = Duration::from_micros(rng.random_range(0..1_000_000));
    let mut next_ping = tokio::time::Instant::now() + phase;
    let mut seq: u64 = 0;
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            biased;
            received = socket.recv_from(&mut buf) => {
                let (len, from) = received?;
                match buf[..len].first() {
                    Some(&PING) => {
                        Counts::add(&counts.pings_received);
                        buf[0] = PONG;
                        socket.send_to(&buf[..len], from).await?;
                    }
                    Some(&PONG) => Counts::add(&counts.pongs_received),
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(next_ping) => {
                next_ping += Duration::from_secs(1);
                let mut to = rng.random_range(0..hosts - 1);
                if to >= i {
                    to += 1; // anyone but itself
                }
                seq += 1;
                let mut ping = [0u8; 16];
                ping[0] = PING;
                ping[8..].copy_from_slice(&seq.to_le_bytes());
                socket.send_to(&ping, SocketAddr::new(addr_of(to), PORT)).await?;
                Counts::add(&counts.pings_sent);
            }
        }
    }
}

/// User and system CPU seconds of this process (Linux).
fn cpu_seconds() -> f64 {
    let read = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    };
    read().unwrap_or(0.0)
}

/// Peak resident memory (VmHWM), MiB (Linux).
fn peak_rss_mib() -> f64 {
    let read = || -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    read().unwrap_or(0.0)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let baseline_mib = peak_rss_mib();
    let wall = Instant::now();
    let cpu = cpu_seconds();
    let duration = Duration::from_secs(args.seconds);
    let mut sim = turmoil::Builder::new()
        .simulation_duration(duration + Duration::from_secs(1))
        .tick_duration(Duration::from_millis(args.tick_ms))
        .min_message_latency(Duration::from_millis(5))
        .max_message_latency(Duration::from_millis(50))
        .rng_seed(args.seed)
        .build();
    let counts = Rc::new(Counts::default());
    for i in 0..args.hosts {
        let counts = Rc::clone(&counts);
        let (hosts, seed) = (args.hosts, args.seed);
        sim.host(addr_of(i), move || host(i, hosts, seed, Rc::clone(&counts)));
    }
    let built_seconds = wall.elapsed().as_secs_f64();
    let deadline = wall + Duration::from_secs(args.timeout);
    let mut finished = true;
    let mut error = None;
    let mut steps: u64 = 0;
    while sim.elapsed() < duration {
        if let Err(e) = sim.step() {
            error = Some(e.to_string());
            finished = false;
            break;
        }
        steps += 1;
        if steps % 16 == 0 && Instant::now() >= deadline {
            finished = false;
            error = Some(format!("stopped after {} s wall", args.timeout));
            break;
        }
    }
    let sim_seconds = sim.elapsed().as_secs_f64();
    let wall_seconds = wall.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds() - cpu;
    let peak_mib = peak_rss_mib();
    let events = counts.pings_received.get() + counts.pongs_received.get();
    let per_wall = |x: f64| x / wall_seconds.max(1e-9);
    eprintln!(
        "turmoil::Sim {} hosts, {} ms tick: simulated {sim_seconds:.1} s in {wall_seconds:.2} s wall \
         ({:.3} sim-s/s, {built_seconds:.2} s building), cpu {cpu_seconds:.2} s; pings sent {} received {}, \
         pongs received {}; {events} events ({:.0}/s); peak RSS {peak_mib:.1} MiB{}",
        args.hosts,
        args.tick_ms,
        per_wall(sim_seconds),
        counts.pings_sent.get(),
        counts.pings_received.get(),
        counts.pongs_received.get(),
        per_wall(events as f64),
        error.as_ref().map_or(String::new(), |e| format!("; NOT FINISHED: {e}")),
    );
    println!(
        "{{\"tool\":\"turmoil::Sim\",\"turmoil\":\"0.7.2\",\"hosts\":{},\"tick_ms\":{},\"seed\":{},\
         \"finished\":{finished},\"error\":{},\"sim_seconds\":{sim_seconds},\"wall_seconds\":{wall_seconds},\
         \"build_seconds\":{built_seconds},\"cpu_seconds\":{cpu_seconds},\"speed\":{},\"steps\":{steps},\
         \"pings_sent\":{},\"pings_received\":{},\"pongs_received\":{},\"events\":{events},\
         \"events_per_second\":{},\"peak_rss_mib\":{peak_mib},\"rss_per_node_kib\":{},\"timeout_seconds\":{}}}",
        args.hosts,
        args.tick_ms,
        args.seed,
        error.as_ref().map_or("null".to_owned(), |e| format!("{e:?}")),
        per_wall(sim_seconds),
        counts.pings_sent.get(),
        counts.pings_received.get(),
        counts.pongs_received.get(),
        per_wall(events as f64),
        (peak_mib - baseline_mib) * 1024.0 / args.hosts as f64,
        args.timeout,
    );
    if finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
