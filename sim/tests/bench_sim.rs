//! `dswarm bench-sim` times the join and the ping phase inside one run: both phases
//! come back with figures, and their datagrams add up to the whole run's. The
//! runner's marks it uses only read: a marked run is the run without marks.

use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind};
use serde_json::Value;

#[test]
fn marks_leave_the_run_as_it_was() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let mut scenario = scenario::load(Path::new("tests/data/tiny.toml")).unwrap();
        scenario.engine = engine;
        let plain = runner::run(&scenario, Options::default()).unwrap();
        assert!(plain.marks.is_empty());
        let called = Rc::new(Cell::new(0));
        let on_mark = {
            let called = Rc::clone(&called);
            move |_: &runner::Mark| called.set(called.get() + 1)
        };
        let marked = runner::run(
            &scenario,
            Options {
                // Out of order, between slices, at a workload's start (6 s), at the
                // end (12 s), and past it (never reached).
                marks: [6_000, 0, 2_500, 12_000, 7_250, 30_000]
                    .map(Duration::from_millis)
                    .to_vec(),
                on_mark: Some(Box::new(on_mark)),
                ..Options::default()
            },
        )
        .unwrap();
        let (a, b) = (&plain.report, &marked.report);
        assert_eq!(
            a.trace_hash, b.trace_hash,
            "{engine}: marks changed the run"
        );
        assert_eq!(a.messages.delivered, b.messages.delivered);
        let at: Vec<u128> = marked.marks.iter().map(|m| m.at.as_millis()).collect();
        assert_eq!(at, [0, 2_500, 6_000, 7_250, 12_000], "{engine}");
        assert_eq!(called.get(), 5);
        for (mark, next) in marked.marks.iter().zip(&marked.marks[1..]) {
            assert!(
                mark.sim_seconds >= mark.at.as_secs_f64(),
                "{engine}: {mark:?}"
            );
            assert!(
                mark.sim_seconds < mark.at.as_secs_f64() + 1.0,
                "{engine}: {mark:?}"
            );
            assert!(mark.wall_seconds <= next.wall_seconds);
            assert!(mark.messages.delivered <= next.messages.delivered);
        }
        // A workload's start and the end are timeline moments: read exactly there.
        assert_eq!(marked.marks[2].sim_seconds, 6.0, "{engine}");
        assert_eq!(marked.marks[4].sim_seconds, 12.0, "{engine}");
        assert_eq!(marked.marks[4].messages.delivered, b.messages.delivered);
    }
}

fn f64_of(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

fn u64_of(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

#[test]
fn one_run_reports_the_join_and_the_ping_phase_apart() {
    let out = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["bench-sim", "--engine", "direct", "--nodes", "200"])
        .args(["--seconds", "2", "--seed", "1", "--json"])
        .output()
        .expect("dswarm runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reproduce: dswarm bench-sim --nodes 200 --seconds 2 --seed 1 --json\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let run: Value = serde_json::from_str(line).unwrap();
    assert_eq!(run["finished"], true, "{run}");
    let (join, ping, total) = (&run["join"], &run["ping"], &run["total"]);

    // 200 nodes join within the shortest window (2 s) and settle 2 s; 2 s of pings.
    assert_eq!(f64_of(join, "sim_seconds"), 4.0);
    assert_eq!(f64_of(ping, "sim_seconds"), 2.0);
    assert_eq!(f64_of(total, "sim_seconds"), 6.0);
    for phase in [join, ping] {
        assert!(f64_of(phase, "wall_seconds") > 0.0, "{phase}");
        // CPU time comes in ticks of 10 ms: the short ping phase may take none.
        assert!(f64_of(phase, "cpu_seconds") >= 0.0, "{phase}");
        assert!(u64_of(phase, "delivered") > 0, "{phase}");
        assert!(f64_of(phase, "peak_rss_mib") > 0.0, "{phase}");
    }
    assert!(f64_of(join, "cpu_seconds") > 0.0, "{join}");
    assert!(f64_of(&run, "speed") > 0.0, "{run}");
    assert!(f64_of(&run, "events_per_second") > 0.0, "{run}");
    assert!(f64_of(&run, "rss_per_node_kib") > 0.0, "{run}");

    // One run: the ping phase's datagrams are the run's less the join's.
    for key in ["delivered", "sent"] {
        assert_eq!(
            u64_of(ping, key),
            u64_of(total, key) - u64_of(join, key),
            "{key}: {run}"
        );
    }
    // Every node pings once a simulated second; nearly all are answered.
    assert_eq!(u64_of(join, "pings_issued"), 0);
    assert_eq!(u64_of(ping, "pings_issued"), 400);
    assert!(u64_of(ping, "pings_answered") >= 360, "{ping}");
    // The walls add up too, less building the report at the end.
    assert!(
        f64_of(join, "wall_seconds") + f64_of(ping, "wall_seconds")
            <= f64_of(total, "wall_seconds"),
        "{run}"
    );
}
