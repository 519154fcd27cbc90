//! Record workloads end to end: every workload key runs, the oracle's figures add up
//! in the report, `leave` takes the right share of the nodes off the network, records
//! workloads replay bit for bit, and bad record keys are file:line:key errors with
//! exit code 2.
//!
//! Every run here names its scenario and seed; a failure replays with
//! `dswarm run tests/data/records-small.toml --seed N [--engine E]`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use dswarm::harness::Kind;
use dswarm::proto::Time;
use dswarm_sim::metric::Metric;
use dswarm_sim::report::Report;
use dswarm_sim::runner::{self, Options};
use dswarm_sim::scenario::{self, EngineKind, Scenario};

const SMALL: &str = "tests/data/records-small.toml";

fn small(engine: EngineKind) -> Scenario {
    let mut scenario = scenario::load(Path::new(SMALL)).unwrap();
    scenario.engine = engine;
    scenario
}

fn run(scenario: &Scenario) -> Report {
    runner::run(scenario, Options::default()).unwrap().report
}

/// The figures of `records-small.toml`: 60 writes, 50 gets, 16 announcements and 10
/// topic lookups, 8 of 40 nodes gone before the reads.
fn check_small(report: &Report, engine: EngineKind) {
    let context = format!(
        "{engine}: reproduce: dswarm run {SMALL} --seed {} --engine {engine}\n{}",
        report.seed,
        report.summary()
    );
    let r = &report.records;
    assert_eq!(r.put_issued, 30 + 20 + 10, "{context}");
    // A mutable write a newer version overtook everywhere is refused (SeqTooLow):
    // the only way a write may fail on this quiet network.
    assert_eq!(r.put + r.put_failed, r.put_issued, "{context}");
    assert!(r.put >= r.put_issued - 3, "{context}");
    assert_eq!(
        r.put - r.mutable_put,
        30,
        "every immutable put is stored: {context}"
    );
    assert_eq!(
        (r.get, r.mutable_get, r.get_skipped),
        (50, 20, 0),
        "{context}"
    );
    assert_eq!(
        r.get_ok + r.get_stale + r.get_missing + r.get_wrong + r.get_unfinished,
        r.get,
        "{context}"
    );
    assert_eq!(r.get_wrong, 0, "{context}");
    assert!(r.get_ok >= 49, "{context}");
    assert!(r.mutable_latest >= 19, "{context}");
    assert!(r.get_latency_ms_p50.is_some_and(|ms| ms > 0.0), "{context}");

    let t = &report.topics;
    assert_eq!((t.announce_issued, t.announced), (16, 16), "{context}");
    assert_eq!(
        (t.lookups, t.lookups_done, t.lookup_skipped),
        (10, 10, 0),
        "{context}"
    );
    assert!(t.lookup_complete >= 9, "{context}");
    assert!(t.recall_mean.is_some_and(|r| r >= 0.95), "{context}");

    assert_eq!(report.departed, 8, "0.2 of 40 nodes: {context}");
    for (metric, value) in [
        (Metric::GetSuccess, r.get_ok as f64 / 50.0),
        (Metric::MutableLatest, r.mutable_latest as f64 / 20.0),
        (Metric::TopicRecall, t.recall_mean.unwrap()),
    ] {
        assert_eq!(report.metric(metric), Some(value), "{metric:?}: {context}");
    }
    assert!(report.pass, "{context}");
}

#[test]
fn every_record_workload_runs_and_is_checked_against_the_oracle_on_direct() {
    let report = run(&small(EngineKind::Direct));
    check_small(&report, EngineKind::Direct);
    let json = serde_json::to_value(&report).unwrap();
    for key in ["put", "get_ok", "get_stale", "get_missing"] {
        assert!(json["records"][key].is_u64(), "records.{key}: {json}");
    }
    for key in ["announced", "lookup_complete"] {
        assert!(json["topics"][key].is_u64(), "topics.{key}: {json}");
    }
    let summary = report.summary();
    assert!(summary.contains("\nrecords: put "), "{summary}");
    assert!(
        summary.contains("\ntopics: announced 16 of 16"),
        "{summary}"
    );
}

#[test]
fn every_record_workload_runs_and_is_checked_against_the_oracle_on_turmoil() {
    let report = run(&small(EngineKind::Turmoil));
    check_small(&report, EngineKind::Turmoil);
}

/// After a `leave`, exactly the departed nodes fall silent, datagrams to them are
/// dropped as "down", and nobody else stops.
fn leave_silences_the_share(engine: EngineKind) {
    let mut scenario = small(engine);
    let leave_at = Time::ZERO + std::time::Duration::from_secs(18);
    let options = Options {
        keep_records: true,
        ..Options::default()
    };
    let traced = runner::run(&scenario, options).unwrap();
    let records = &traced.records;
    let n = scenario.nodes;
    let senders = |from: Time, to: Time| -> BTreeSet<usize> {
        records
            .iter()
            .filter(|r| matches!(r.kind, Kind::Deliver | Kind::Drop))
            .filter(|r| r.sent >= from && r.sent < to)
            .map(|r| r.node)
            .collect()
    };
    let before = senders(Time::ZERO, leave_at);
    assert_eq!(before.len(), n, "{engine}: everyone talks before the leave");
    let after = senders(
        leave_at + std::time::Duration::from_millis(1),
        Time::from_micros(u64::MAX),
    );
    let down: BTreeSet<usize> = records
        .iter()
        .filter(|r| r.kind == Kind::Down)
        .map(|r| r.node)
        .collect();
    assert_eq!(after.len(), n - 8, "{engine}: 8 of 40 fall silent");
    assert!(down.len() <= 8 && !down.is_empty(), "{engine}: {down:?}");
    assert!(
        down.is_disjoint(&after),
        "{engine}: a node that left still sends"
    );
    assert_eq!(traced.report.departed, 8);

    // Two leaves take their shares of the scenario's nodes, one after the other.
    scenario.at.push(scenario::At {
        time: std::time::Duration::from_secs(19),
        action: scenario::Action::Leave { share: 0.25 },
    });
    scenario.at.sort_by_key(|at| at.time);
    let report = run(&scenario);
    assert_eq!(report.departed, 8 + 10, "{engine}");
}

#[test]
fn leave_takes_the_right_share_off_the_network_on_direct() {
    leave_silences_the_share(EngineKind::Direct);
}

#[test]
fn leave_takes_the_right_share_off_the_network_on_turmoil() {
    leave_silences_the_share(EngineKind::Turmoil);
}

#[test]
fn records_workloads_replay_bit_for_bit() {
    for engine in [EngineKind::Direct, EngineKind::Turmoil] {
        let mut scenario = small(engine);
        let mut hashes = BTreeSet::new();
        for seed in [3, 11] {
            scenario.seed = seed;
            let first = run(&scenario);
            let second = run(&scenario);
            assert_eq!(
                first.trace_hash, second.trace_hash,
                "{engine} seed {seed}: two runs differ; reproduce: dswarm run {SMALL} --seed {seed} --engine {engine}"
            );
            assert_eq!(first.records.get_ok, second.records.get_ok);
            assert_eq!(first.topics.recall_mean, second.topics.recall_mean);
            hashes.insert(first.trace_hash);
        }
        assert_eq!(hashes.len(), 2, "{engine}: each seed its own run");
    }
}

/// `dswarm run` on `text`, written to a file of its own: (exit code, stderr).
fn run_text(name: &str, text: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("dswarm-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .arg("run")
        .arg(&path)
        .output()
        .expect("dswarm runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_record_keys_are_file_line_key_errors_with_exit_code_2() {
    let base = std::fs::read_to_string(SMALL).unwrap();
    let cases: [(&str, &str, &str, &str); 6] = [
        ("puts = 30", "puts = -1", "workload[0].puts", "negative"),
        (
            "leave = 0.2",
            "leave = \"all\"",
            "at[0].leave",
            "expected a number",
        ),
        (
            "leave = 0.2",
            "leave = 1.5",
            "at[0].leave",
            "not above 0 and below 1",
        ),
        (
            "leave = 0.2",
            "leave = 0.01",
            "at[0].leave",
            "less than one node",
        ),
        (
            "leave = 0.2",
            "heal = true\nleave = 0.2",
            "at[0].leave",
            "does one thing",
        ),
        (
            "gets = 30",
            "getz = 30",
            "workload[1].getz",
            "did you mean `gets`?",
        ),
    ];
    for (i, (from, to, key, message)) in cases.into_iter().enumerate() {
        assert!(base.contains(from));
        let text = base.replacen(from, to, 1);
        let line = text
            .lines()
            .position(|l| l.starts_with(to.lines().last().unwrap()))
            .unwrap()
            + 1;
        let name = format!("bad-{i}.toml");
        let (code, err) = run_text(&name, &text);
        assert_eq!(code, Some(2), "{to}: {err}");
        assert!(
            err.contains(&format!("{name}:{line}: `{key}`")),
            "{to}: {err}"
        );
        assert!(err.contains(message), "{to}: {err}");
    }
    // Two leaves that would leave fewer than 2 nodes.
    let text = base.replacen(
        "leave = 0.2",
        "leave = 0.5\n\n[[at]]\ntime = \"19s\"\nleave = 0.49",
        1,
    );
    let (code, err) = run_text("bad-leaves.toml", &text);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("at least 2 of the 40 nodes must stay"),
        "{err}"
    );
}
