//! `dswarm run` as a user drives it: exit codes, the report's keys, the trace file,
//! the `reproduce:` line that replays a failure exactly, and clear errors.

use std::process::{Command, Output};

mod cli;

use cli::{dswarm, stdout, temp};

fn trace_line(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("trace "))
        .expect("a trace line")
        .to_string()
}

#[test]
fn a_passing_run_exits_0_and_writes_the_report_and_trace() {
    let report = temp("tiny.json");
    let trace = temp("tiny.jsonl");
    let out = dswarm(&[
        "run",
        "tests/data/tiny.toml",
        "--report",
        report.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("scenario tiny"),
        "parameters first: {text}"
    );
    assert!(text.contains("seed 4 nodes 12 engine direct"), "{text}");
    assert_eq!(text.lines().last(), Some("PASS"));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for key in [
        "scenario",
        "seed",
        "nodes",
        "sim_seconds",
        "wall_seconds",
        "trace_hash",
        "messages",
        "lookups",
        "expectations",
        "pass",
    ] {
        assert!(json.get(key).is_some(), "report key {key}: {json}");
    }
    for key in ["sent", "delivered", "dropped"] {
        assert!(json["messages"][key].as_u64().unwrap() > 0 || key == "dropped");
    }
    for key in [
        "issued",
        "succeeded",
        "hops_p50",
        "hops_p95",
        "latency_ms_p50",
        "latency_ms_p99",
    ] {
        assert!(json["lookups"].get(key).is_some(), "lookups.{key}");
    }
    assert_eq!(json["seed"], 4);
    assert_eq!(json["pass"], true);
    assert_eq!(json["sim_seconds"], 12.0);
    assert_eq!(json["trace_hash"].as_str().unwrap(), trace_line(&text));
    let verdict = &json["expectations"][0];
    assert_eq!(verdict["name"], "lookup_success");
    assert_eq!(verdict["expected"], ">= 0.9");
    assert_eq!(verdict["pass"], true);

    let lines = std::fs::read_to_string(&trace).unwrap();
    let mut count = 0;
    for line in lines.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        assert!(entry["t_us"].is_u64() && entry["kind"].is_string());
        count += 1;
    }
    assert_eq!(Some(count), json["trace_entries"].as_u64());
}

#[test]
fn a_failing_expectation_exits_1_and_its_reproduce_line_replays_the_run() {
    let out = dswarm(&["run", "tests/data/tiny-fails.toml", "--seed", "9"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL lookup_hops_p95 < 0"), "{text}");
    let reproduce = text.lines().last().unwrap();
    assert_eq!(
        reproduce,
        "reproduce: dswarm run tests/data/tiny-fails.toml --seed 9"
    );

    let args: Vec<&str> = reproduce["reproduce: dswarm ".len()..].split(' ').collect();
    let again = dswarm(&args);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(trace_line(&text), trace_line(&stdout(&again)));
}

#[test]
fn overrides_show_in_the_reproduce_line() {
    let out = dswarm(&[
        "run",
        "tests/data/tiny-fails.toml",
        "--nodes",
        "10",
        "--engine",
        "direct",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("seed 4 nodes 10 engine direct"), "{text}");
    assert_eq!(
        text.lines().last(),
        Some(
            "reproduce: dswarm run tests/data/tiny-fails.toml --seed 4 --nodes 10 --engine direct"
        )
    );
}

#[test]
fn log_lines_carry_the_simulated_time_and_the_node() {
    for engine in ["direct", "turmoil"] {
        let out = Command::new(env!("CARGO_BIN_EXE_dswarm"))
            .args(["run", "tests/data/tiny.toml", "--quiet", "--engine", engine])
            .env("RUST_LOG", "dswarm::trace=debug")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.contains("PeerVerified"))
            .unwrap_or_else(|| panic!("{engine}: a logged event: {err}"));
        // `t=0.130000s n1 DEBUG dswarm::trace: PeerVerified { … }`
        let mut words = line.split_whitespace();
        let time = words.next().unwrap();
        let node = words.next().unwrap();
        assert!(time.starts_with("t=") && time.ends_with('s'), "{line}");
        assert!(
            node.starts_with('n') && node[1..].parse::<usize>().is_ok(),
            "{line}"
        );
        assert!(!line.contains('\u{1b}'), "no colours into a pipe: {line}");
    }
}

#[test]
fn check_determinism_runs_twice_and_agrees() {
    let out = dswarm(&["run", "tests/data/tiny.toml", "--check-determinism"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("determinism: both runs have trace"), "{text}");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let out = dswarm(&["run", "tests/data/bad-key.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("tests/data/bad-key.toml:7"),
        "file and line: {err}"
    );
    assert!(err.contains("lattency"), "the key: {err}");

    let out = dswarm(&["run", "tests/data/no-such-file.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file.toml"));

    let out = dswarm(&["run", "tests/data/tiny.toml", "--engine", "warp"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dswarm(&["run", "tests/data/tiny.toml", "--nodes", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dswarm(&["run", "tests/data/tiny.toml", "--nodes", "1"]);
    assert!(out.stdout.is_empty(), "nothing runs on bad arguments");
    let out = dswarm(&[
        "run",
        "tests/data/tiny.toml",
        "--report",
        "/nonexistent-dir/report.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "nothing runs when the report cannot be written"
    );
}

#[test]
fn a_chrome_trace_has_a_track_per_node_spans_for_commands_and_arrows_for_datagrams() {
    let trace = temp("tiny-chrome.json");
    let out = dswarm(&[
        "run",
        "tests/data/tiny.toml",
        "--quiet",
        "--trace",
        trace.to_str().unwrap(),
        "--trace-format",
        "chrome",
        "--trace-nodes",
        "0,3",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).expect("valid JSON");
    let events = doc["traceEvents"].as_array().expect("a trace-event list");
    let tracks: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert_eq!(tracks, ["node 0", "node 3"]);
    let count = |ph: &str| events.iter().filter(|e| e["ph"] == ph).count();
    assert!(
        count("s") > 100,
        "datagram arrows start on the sender's track"
    );
    assert!(count("f") > 0 && count("f") <= count("s"));
    // Every event concerns node 0 or 3: on their tracks, or the ends of arrows to or
    // from them.
    let ours = |v: Option<u64>| v == Some(0) || v == Some(3);
    for e in events.iter().filter(|e| e["ph"] == "X" || e["ph"] == "i") {
        let (tid, from, to) = (
            e["tid"].as_u64(),
            e["args"]["from"].as_u64(),
            e["args"]["to"].as_u64(),
        );
        assert!(ours(tid) || ours(from) || ours(to), "{e}");
    }
    let spans = events
        .iter()
        .filter(|e| e["cat"] == "query" && e["dur"].as_u64().unwrap_or(0) > 1)
        .count();
    assert!(spans >= 1, "a finished command shows as a span");

    let out = dswarm(&["run", "tests/data/tiny.toml", "--trace-nodes", "12"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("node 12 is not in a swarm of 12"));
}

#[test]
fn a_filtered_jsonl_trace_holds_only_what_concerns_the_nodes_asked() {
    let trace = temp("tiny-node2.jsonl");
    let out = dswarm(&[
        "run",
        "tests/data/tiny.toml",
        "--quiet",
        "--trace",
        trace.to_str().unwrap(),
        "--trace-nodes",
        "2",
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.lines().count() > 10);
    for line in text.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let to_node_2 = entry["dst"].as_str() == Some("10.0.0.3:7000");
        assert!(entry["node"] == 2 || to_node_2, "{line}");
    }
}

/// `dswarm ARGS` with the debug builds' test hook `DSWARM_TEST_PANIC_AT` set: the
/// runner panics on purpose once the run reaches that simulated second.
fn panicking(at: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(args)
        .env("DSWARM_TEST_PANIC_AT", at)
        .env_remove("RUST_BACKTRACE")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dswarm runs")
}

#[test]
fn a_panic_in_the_run_exits_1_with_the_report_so_far_and_a_reproduce_line() {
    if !cfg!(debug_assertions) {
        return; // the test hook is off in release builds
    }
    let report = temp("panicked.json");
    let args = [
        "run",
        "tests/data/tiny.toml",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
    ];
    let out = panicking("8", &args);
    let text = stdout(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}\n{err}");
    assert!(
        text.contains(
            "PANIC the test-bed panicked at 8.000 simulated seconds: DSWARM_TEST_PANIC_AT"
        ),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "FAIL",
            "reproduce: dswarm run tests/data/tiny.toml --seed 4"
        ],
        "{text}"
    );
    // One line on stderr, no backtrace.
    assert!(
        err.contains("the test-bed panicked: DSWARM_TEST_PANIC_AT"),
        "{err}"
    );
    assert!(
        !err.contains("backtrace") && !err.contains("panicked at"),
        "{err}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["pass"], false);
    let panic = json["panic"].as_str().expect("the report's `panic`");
    assert!(
        panic.starts_with("DSWARM_TEST_PANIC_AT: a deliberate panic at 8s simulated at "),
        "what and where: {panic}"
    );
    assert!(panic.contains("runner.rs:"), "{panic}");
    // What the run had come to: 8 of 12 simulated seconds, the workload's lookups
    // (from 6 s) issued.
    assert_eq!(json["sim_seconds"], 8.0);
    assert_eq!(json["seed"], 4);
    assert_eq!(json["lookups"]["issued"], 10);
    assert_eq!(json["trace_hash"].as_str().unwrap(), trace_line(&text));

    // The reproduce line replays it: the same crash, the same trace so far.
    let again = panicking("8", &args);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(trace_line(&stdout(&again)), trace_line(&text));

    // A run that does not panic says so in the report.
    let fine = temp("fine.json");
    let out = dswarm(&[
        "run",
        "tests/data/tiny.toml",
        "--quiet",
        "--report",
        fine.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fine).unwrap()).unwrap();
    assert!(json["panic"].is_null(), "{json}");
}
