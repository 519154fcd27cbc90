//! The live engine as a user meets it: one small scenario — lossy links, a partition
//! and a heal — passes on all three engines; on live it says it is not reproducible
//! and shows what the world did to the real datagrams; crashed live nodes come back
//! and are found; and every scenario key the live engine cannot run is refused with
//! exit 2 and the key's name, before a socket is bound.
//!
//! Live runs take real time and want the cores: they run one at a time (`LIVE`).

mod cli;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cli::dswarm;

use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind};

/// Live runs in this file, one at a time: side by side on two cores they lag.
static LIVE: Mutex<()> = Mutex::new(());

fn small() -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/live-small.toml");
    scenario::load(&path).expect("the small scenario loads")
}

fn options() -> Options {
    Options {
        threads: 2,
        ..Options::default()
    }
}

#[test]
fn the_small_scenario_passes_on_all_three_engines_and_live_says_what_it_is() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let scenario = small().with_engine(engine).unwrap();
        let report = runner::run(&scenario, options()).unwrap().report;
        assert!(report.pass, "{engine}:\n{}", report.summary());
        assert!(report.deterministic && report.trace_hash.is_some());
        assert!(report.live.is_none());
    }
    let _one = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let trace = temp("live-small.jsonl", "");
    let file = std::fs::File::create(&trace).unwrap();
    let options = Options {
        trace_jsonl: Some(Box::new(std::io::BufWriter::new(file))),
        ..options()
    };
    let report = runner::run(&small(), options).unwrap().report;
    let summary = report.summary();
    assert!(report.pass, "{summary}");
    assert_eq!(report.engine, "live");
    // A trace is still written when asked: what happened, in the order it did.
    let lines = std::fs::read_to_string(&trace).unwrap();
    let count = |kind: &str| lines.lines().filter(|l| l.contains(kind)).count();
    assert_eq!(
        lines.lines().count() as u64,
        report.trace_entries,
        "{summary}"
    );
    assert!(
        count("\"deliver\"") > 10_000,
        "datagrams delivered are traced"
    );
    assert!(count("\"drop\"") > 100, "datagrams lost and cut are traced");
    assert!(count("PeerDiscovered") > 100, "node events are traced");
    assert!(!report.deterministic);
    assert_eq!(report.trace_hash, None, "no claim on a trace hash");
    assert!(summary.contains("trace not claimed"), "{summary}");
    assert!(
        report.faults.lost > 0,
        "2 % loss on real datagrams: {summary}"
    );
    assert!(report.faults.partitioned > 0, "the cut held: {summary}");
    assert!(report.messages.delivered > 10_000, "{summary}");
    let live = report.live.expect("live figures");
    assert_eq!(live.workers, 2);
    assert!(live.cpu_s > 0.0, "{live:?}");
    assert!(
        live.multicast == "real" || live.multicast.starts_with("emulated: "),
        "{live:?}"
    );
    assert!(summary.contains("live: 2 workers"), "{summary}");
}

#[test]
fn crashed_live_nodes_restart_and_are_found_again() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/live-small.toml"),
    )
    .unwrap();
    // No partition: a fifth of the swarm crashes at 8 s and comes back at 14 s, and
    // the lookups from 20 s find the swarm whole.
    let text = text
        .replace("partition = [0.5, 0.5]", "crash = 0.2")
        .replace("heal = true", "restart = true")
        .replace("[expect]", "[expect]\nrestarted_known = \">= 0.9\"");
    let scenario = scenario::parse(Path::new("live-crash.toml"), &text).unwrap();
    let _one = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let report = runner::run(&scenario, options()).unwrap().report;
    let summary = report.summary();
    assert!(report.pass, "{summary}");
    assert!(report.churn.crashed >= 9, "a fifth of the swarm: {summary}");
    assert_eq!(report.churn.restarted, report.churn.crashed, "{summary}");
}

/// Liars, droppers and forgers run on real sockets, and the safety oracles still look
/// into every honest node's store (through its driver) and find no forged record.
#[test]
fn liars_droppers_and_forgers_run_live_and_the_oracles_still_see_inside() {
    let text = r#"
name = "live-hostile"
seed = 2
nodes = 60
engine = "live"
duration = "30s"

[network]
latency = { min = "5ms", max = "50ms" }
segments = 2
bootstrap = 3

[hostile]
liars = 0.1
droppers = 0.05
forgers = 0.05
forge_rate = "2/s"

[[workload]]
from = "10s"
over = "8s"
lookups = 100
puts = 40
mutable_puts = 20

[[workload]]
from = "20s"
over = "6s"
gets = 40
mutable_gets = 20

[expect]
honest_lookup_success = ">= 0.95"
forged_stored = "== 0"
unexpected_sessions = "== 0"
"#;
    let scenario = scenario::parse(Path::new("live-hostile.toml"), text).unwrap();
    let _one = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let report = runner::run(&scenario, options()).unwrap().report;
    let summary = report.summary();
    assert!(report.pass, "{summary}");
    assert!(
        report.hostile_activity.forged_writes > 0,
        "forgers wrote: {summary}"
    );
    assert!(report.safety.records_checked, "{summary}");
    assert!(report.safety.records_scanned > 0, "{summary}");
    assert!(report.safety.sessions_checked > 0, "{summary}");
}

/// A file named `name` holding `contents`.
fn temp(name: &str, contents: &str) -> PathBuf {
    let path = cli::temp(name);
    std::fs::write(&path, contents).unwrap();
    path
}

const BASE: &str = "name = \"refused\"\nnodes = 20\nduration = \"10s\"\n";
const LOOKUPS: &str = "[[workload]]\nfrom = \"5s\"\nover = \"2s\"\nlookups = 10\n";

#[test]
fn what_the_live_engine_cannot_run_exits_2_naming_the_key() {
    let cases = [
        (
            "hostile.flooders",
            format!("{BASE}engine = \"live\"\n{LOOKUPS}[hostile]\nflooders = 0.1\n"),
        ),
        (
            "crypto",
            format!("{BASE}engine = \"live\"\ncrypto = \"fast\"\n{LOOKUPS}"),
        ),
        (
            "network.clock_skew.drift",
            format!(
                "{BASE}engine = \"live\"\n[network]\nclock_skew = {{ drift = 0.001 }}\n{LOOKUPS}"
            ),
        ),
        (
            "workload[0].streams",
            format!(
                "{BASE}engine = \"live\"\n[[workload]]\nfrom = \"5s\"\nover = \"2s\"\nstreams = 2\n"
            ),
        ),
    ];
    for (key, body) in &cases {
        let path = temp(&format!("{}.toml", key.replace(['.', '[', ']'], "_")), body);
        let out = dswarm(&["run", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
        assert!(stderr.contains("live engine"), "{key}: {stderr}");
        assert!(!stderr.contains("panicked"), "{key}: {stderr}");
    }
    // The same keys refused when the engine comes from the command line.
    let flooders = temp(
        "flooders-direct.toml",
        &format!("{BASE}engine = \"direct\"\n{LOOKUPS}[hostile]\nflooders = 0.1\n"),
    );
    let out = dswarm(&["run", flooders.to_str().unwrap(), "--engine", "live"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hostile.flooders"), "{stderr}");
}

#[test]
fn live_runs_are_not_replayed_checked_for_determinism_swept_or_shrunk() {
    let path = temp(
        "live.toml",
        &format!("{BASE}engine = \"live\"\n{LOOKUPS}[expect]\nlookup_success = \">= 0.9\"\n"),
    );
    let path = path.to_str().unwrap();
    for (args, says) in [
        (vec!["run", path, "--check-determinism"], "not reproducible"),
        (vec!["sweep", path, "--seeds", "1..3"], "side by side"),
        (vec!["shrink", path, "--seed", "1"], "do not replay"),
    ] {
        let out = dswarm(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
