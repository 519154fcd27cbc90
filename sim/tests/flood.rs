//! A live node (a `dswarm node` process on 127.0.0.1) takes 1,000,000 garbage
//! datagrams and 10,000 bogus handshake starts: its peak memory grows by less than
//! 20 MiB, it counts what it got, and an honest node that knows only it still looks it
//! up, pings it, and a new one joins through it. The same run as `dswarm bench-flood`
//! (whose module this includes), on the test build's binary.
//!
//! And honest handshakes still complete while valid-HMAC hellos arrive at 20,000 a
//! second from rotating ports: `dswarm bench-flood --hellos-per-second 20000`, cookies
//! on, shortened.

use std::path::Path;
use std::time::Instant;

#[allow(dead_code)] // the command's printing and exit codes are not used here
#[path = "../src/bench_flood.rs"]
mod bench_flood;

use bench_flood::BenchFloodArgs;

#[test]
fn a_flooded_node_stays_small_and_still_serves_honest_peers() {
    let args = BenchFloodArgs {
        datagrams: 1_000_000,
        handshakes: 10_000,
        senders: 128,
        seed: 1,
        unpaced: false,
        max_growth_mib: 20.0,
        hellos_per_second: None,
        seconds: 10.0,
        honest: 4,
        min_success: 0.9,
        baseline_bin: None,
    };
    #[allow(clippy::disallowed_methods)] // the test reports its wall time
    let started = Instant::now();
    let report = bench_flood::flood(Path::new(env!("CARGO_BIN_EXE_dswarm")), &args)
        .unwrap_or_else(|e| panic!("the flood could not run: {e}"));
    bench_flood::print(&report);
    println!("whole run: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(report.datagrams_sent, args.datagrams);
    assert_eq!(report.handshakes_sent, args.handshakes);
    // Paced: the node handles (nearly) every datagram, not just what its receive
    // buffer had room for.
    assert!(
        report.counted >= 990_000,
        "the node counted only {} datagrams",
        report.counted
    );
    assert!(
        report.growth_mib() < args.max_growth_mib,
        "peak memory grew by {:.1} MiB",
        report.growth_mib()
    );
    assert!(report.lookup.is_ok(), "honest lookup: {:?}", report.lookup);
    assert!(report.ping.is_ok(), "honest ping: {:?}", report.ping);
    assert!(report.join.is_ok(), "a new node joining: {:?}", report.join);
}

#[test]
fn honest_handshakes_complete_while_hellos_arrive_at_20000_a_second() {
    let bin = Path::new(env!("CARGO_BIN_EXE_dswarm"));
    let run = bench_flood::hellos::run_one(bin, Some("256"), 20_000.0, 4.0, 128, 2)
        .unwrap_or_else(|e| panic!("the hello flood could not run: {e}"));
    bench_flood::hellos::print(&run);
    assert!(run.honest_dialled >= 4, "{} dials", run.honest_dialled);
    assert!(
        run.success() >= 0.9,
        "{} of {} honest handshakes completed",
        run.honest_completed,
        run.honest_dialled
    );
    assert!(
        run.counter("cookies_sent") > 0,
        "the node was under load and sent cookies"
    );
}
