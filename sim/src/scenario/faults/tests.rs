//! The fault keys: `network.clock_skew`, `network.nat`, `churn`, and the `crash` and
//! `restart` actions — valid files and every way to get them wrong.

use std::path::Path;
use std::time::Duration;

use super::super::{parse, Action, EngineKind, Metric, Scenario, ScenarioError};

const HEAD: &str = "name = \"faults\"\nnodes = 100\nengine = \"direct\"\nduration = \"600s\"\n";

fn path() -> &'static Path {
    Path::new("scenarios/x.toml")
}

#[track_caller]
fn ok(body: &str) -> Scenario {
    let text = format!("{HEAD}{body}");
    parse(path(), &text).unwrap_or_else(|error| panic!("expected it to parse: {error}\n{text}"))
}

/// Parses HEAD + `body`, expecting an error at `line` (of the whole text) about
/// `key` whose message contains `needle`.
#[track_caller]
fn fails(body: &str, line: usize, key: &str, needle: &str) -> ScenarioError {
    let text = format!("{HEAD}{body}");
    let error = match parse(path(), &text) {
        Ok(scenario) => panic!("expected an error, got {scenario:#?}\n{text}"),
        Err(error) => error,
    };
    assert_eq!(error.line, Some(line), "line of: {error}");
    assert_eq!(error.key.as_deref(), Some(key), "key of: {error}");
    assert!(
        error.message.contains(needle),
        "{error} should mention {needle:?}"
    );
    error
}

#[test]
fn clock_skew_reads_offset_and_drift() {
    let s = ok("[network]\nclock_skew = { offset = \"30s\", drift = 0.001 }\n");
    assert_eq!(s.network.clock_skew.offset_max, Duration::from_secs(30));
    assert_eq!(s.network.clock_skew.drift_max, 0.001);
    let s = ok("[network.clock_skew]\noffset = \"1.5s\"\n");
    assert_eq!(s.network.clock_skew.offset_max, Duration::from_millis(1500));
    assert_eq!(s.network.clock_skew.drift_max, 0.0);
    assert!(ok("").network.clock_skew.is_none());
    // The turmoil engine takes an offset.
    let text = "name = \"t\"\nnodes = 10\nduration = \"60s\"\n[network]\nclock_skew = { offset = \"30s\" }\n";
    assert!(parse(path(), text).is_ok());
}

#[test]
fn clock_skew_mistakes_are_errors_at_their_key() {
    fails(
        "[network]\nclock_skew = { offset = \"2d\" }\n",
        6,
        "network.clock_skew.offset",
        "largest clock offset",
    );
    fails(
        "[network]\nclock_skew = { drift = 0.2 }\n",
        6,
        "network.clock_skew.drift",
        "not a drift from 0 to 0.1",
    );
    fails(
        "[network]\nclock_skew = { drift = -0.001 }\n",
        6,
        "network.clock_skew.drift",
        "not a drift",
    );
    fails(
        "[network]\nclock_skew = { offset = \"0s\" }\n",
        6,
        "network.clock_skew",
        "skews nothing",
    );
    fails(
        "[network]\nclock_skew = { ofset = \"30s\" }\n",
        6,
        "network.clock_skew.ofset",
        "did you mean `offset`?",
    );
    fails(
        "[network]\nclock_skew = \"30s\"\n",
        6,
        "network.clock_skew",
        "expected a table like",
    );
    fails(
        "[network]\nclock_skew = { offset = 30 }\n",
        6,
        "network.clock_skew.offset",
        "write a unit",
    );
    let text =
        "name = \"t\"\nnodes = 10\nduration = \"60s\"\n[network]\nclock_skew = { drift = 0.001 }\n";
    let error = parse(path(), text).unwrap_err();
    assert_eq!(error.line, Some(5));
    assert_eq!(error.key.as_deref(), Some("network.clock_skew.drift"));
    assert!(
        error.message.contains("turmoil engine cannot drift"),
        "{error}"
    );
}

#[test]
fn nat_reads_shares_and_open_takes_the_rest() {
    let s = ok("[network]\nnat = { open = 0.4, consistent = 0.4, random = 0.2 }\n");
    assert_eq!(
        (
            s.network.nat.open,
            s.network.nat.consistent,
            s.network.nat.random
        ),
        (0.4, 0.4, 0.2)
    );
    let s = ok("[network]\nnat = { random = 0.25 }\n");
    assert_eq!(s.network.nat.open, 0.75);
    assert_eq!(s.network.nat.consistent, 0.0);
    assert!(ok("").network.nat.is_none());
}

#[test]
fn nat_mistakes_are_errors_at_their_key() {
    fails(
        "[network]\nnat = { open = 0.5, consistent = 0.4 }\n",
        6,
        "network.nat",
        "add up to 0.9",
    );
    fails(
        "[network]\nnat = { consistent = 0.7, random = 0.4 }\n",
        6,
        "network.nat",
        "more than every node",
    );
    fails(
        "[network]\nnat = { random = 1.5 }\n",
        6,
        "network.nat.random",
        "not a probability",
    );
    fails(
        "[network]\nnat = { symmetric = 0.2 }\n",
        6,
        "network.nat.symmetric",
        "expected one of `open`, `consistent` or `random`",
    );
    fails(
        "[network]\nnat = 0.2\n",
        6,
        "network.nat",
        "expected a table like",
    );
    fails(
        "[network]\nrandom = 0.2\n",
        6,
        "network.random",
        "belongs in `network.nat`",
    );
}

#[test]
fn churn_reads_rates_and_window() {
    let s =
        ok("churn = { leave = \"2%/min\", join = \"2%/min\", from = \"60s\", until = \"300s\" }\n");
    let churn = s.churn.expect("churn");
    assert!((churn.leave - 0.02 / 60.0).abs() < 1e-12);
    assert!((churn.join - 0.02 / 60.0).abs() < 1e-12);
    assert_eq!(churn.from, Duration::from_secs(60));
    assert_eq!(churn.until, Duration::from_secs(300));
    // 2 % of 100 nodes a minute for 4 minutes: 8 each way, spread evenly.
    assert_eq!((churn.leaves(100), churn.joins(100)), (8, 8));
    assert_eq!(churn.moment(0, 8), Duration::from_secs(75));
    assert_eq!(churn.moment(7, 8), Duration::from_secs(285));
    // Defaults: from the end of the join window to the end of the run; a share
    // instead of a percentage; another unit.
    let churn = ok("churn = { leave = \"0.01/10s\" }\n").churn.unwrap();
    assert_eq!(churn.from, Duration::from_secs(2));
    assert_eq!(churn.until, Duration::from_secs(600));
    assert!((churn.leave - 0.001).abs() < 1e-12);
    assert_eq!(churn.join, 0.0);
    let churn = ok("[churn]\njoin = \"1%/m\"\nleave = \"1%/m\"\ngraceful = 0\n")
        .churn
        .unwrap();
    assert!((churn.join - 0.01 / 60.0).abs() < 1e-12);
}

#[test]
fn churn_mistakes_are_errors_at_their_key() {
    fails(
        "churn = { leave = \"2%\" }\n",
        5,
        "churn.leave",
        "is not a rate",
    );
    fails(
        "churn = { leave = \"lots/min\" }\n",
        5,
        "churn.leave",
        "not a share",
    );
    fails(
        "churn = { leave = \"2%/fortnight\" }\n",
        5,
        "churn.leave",
        "2%/fortnight",
    );
    fails(
        "churn = { leave = 0.02 }\n",
        5,
        "churn.leave",
        "a rate like",
    );
    fails(
        "churn = { join = \"200%/s\" }\n",
        5,
        "churn.join",
        "whole swarm a second",
    );
    fails("churn = { from = \"10s\" }\n", 5, "churn", "churns nothing");
    fails(
        "churn = { leave = \"2%/min\", from = \"300s\", until = \"200s\" }\n",
        5,
        "churn.from",
        "is not before until 200s",
    );
    fails(
        "churn = { leave = \"2%/min\", until = \"700s\" }\n",
        5,
        "churn.until",
        "after the end of the run",
    );
    fails(
        "churn = { leave = \"2%/min\", graceful = 1.5 }\n",
        5,
        "churn.graceful",
        "not a probability",
    );
    fails(
        "churn = { join = \"2%/min\", graceful = 0 }\n",
        5,
        "churn.graceful",
        "goes with leave",
    );
    fails(
        "churn = { leave = \"50%/min\" }\n",
        5,
        "churn.leave",
        "but only 97 may",
    );
    fails(
        "churn = { leave = \"0.1%/min\", until = \"60s\" }\n",
        5,
        "churn.leave",
        "less than one node",
    );
    fails(
        "churn = { leave = \"2%/min\", rate = 1 }\n",
        5,
        "churn.rate",
        "unknown key `rate`",
    );
    fails(
        "[network]\nchurn = { leave = \"2%/min\" }\n",
        6,
        "network.churn",
        "is a top-level key",
    );
    // The turmoil engine churns too, goodbyes included.
    let text = "name = \"t\"\nnodes = 100\nduration = \"600s\"\n[churn]\nleave = \"2%/min\"\ngraceful = 0.5\n";
    assert!(parse(path(), text).is_ok());
}

#[test]
fn crash_and_restart_events_parse() {
    let s = ok("[[at]]\ntime = \"60s\"\ncrash = 0.1\n\n[[at]]\ntime = \"120s\"\nrestart = true\nkeep_table = true\n\n[[at]]\ntime = \"200s\"\ncrash = 0.2\n\n[[at]]\ntime = \"260s\"\nrestart = true\n");
    let actions: Vec<&Action> = s.at.iter().map(|at| &at.action).collect();
    assert_eq!(
        actions,
        [
            &Action::Crash { share: 0.1 },
            &Action::Restart { keep_table: true },
            &Action::Crash { share: 0.2 },
            &Action::Restart { keep_table: false },
        ]
    );
}

#[test]
fn crash_and_restart_mistakes_are_errors_at_their_key() {
    fails(
        "[[at]]\ntime = \"60s\"\nrestart = true\n",
        7,
        "at[0].restart",
        "nothing has crashed by 60s",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = 0.1\n[[at]]\ntime = \"30s\"\nrestart = true\n",
        10,
        "at[1].restart",
        "nothing has crashed by 30s",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = 0.1\n[[at]]\ntime = \"90s\"\nrestart = false\n",
        10,
        "at[1].restart",
        "restart = false does nothing",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = 1.0\n",
        7,
        "at[0].crash",
        "not above 0 and below 1",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = 0.001\n",
        7,
        "at[0].crash",
        "less than one node",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = \"10%\"\n",
        7,
        "at[0].crash",
        "a number",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = 0.1\nheal = true\n",
        7,
        "at[0].crash",
        "does one thing",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = 0.1\nkeep_table = true\n",
        8,
        "at[0].keep_table",
        "goes with restart = true",
    );
    fails(
        "[[at]]\ntime = \"60s\"\ncrash = 0.1\none_way = true\n",
        8,
        "at[0].one_way",
        "goes with partition",
    );
    let text = "name = \"t\"\nnodes = 100\nduration = \"600s\"\n[[at]]\ntime = \"60s\"\ncrash = 0.1\n[[at]]\ntime = \"90s\"\nrestart = true\n";
    // Both engines restart.
    assert!(parse(path(), text).is_ok());
}

#[test]
fn engine_override_refuses_what_turmoil_cannot_run() {
    let refuses = |body: &str, key: &str| {
        let error = ok(body).with_engine(EngineKind::Turmoil).unwrap_err();
        assert_eq!(error.key.as_deref(), Some(key), "{error}");
        assert!(error.message.starts_with("--engine turmoil"), "{error}");
    };
    refuses(
        "[network]\nclock_skew = { drift = 0.001 }\n",
        "network.clock_skew.drift",
    );
    for fine in [
        "[network]\nsegments = 2\nmailbox = true\n",
        "churn = { leave = \"2%/min\", graceful = 0.1 }\n",
        "[network]\nclock_skew = { offset = \"30s\" }\n",
        "[[at]]\ntime = \"60s\"\ncrash = 0.1\n[[at]]\ntime = \"90s\"\nrestart = true\n",
        "churn = { leave = \"2%/min\", join = \"2%/min\" }\n",
        "[network]\nnat = { random = 0.2 }\n",
    ] {
        assert!(ok(fine).with_engine(EngineKind::Turmoil).is_ok(), "{fine}");
    }
}

#[test]
fn node_override_rechecks_churn() {
    let s = ok("churn = { leave = \"10%/min\", from = \"60s\", until = \"600s\" }\n");
    assert!(s.clone().with_nodes(1000).is_ok());
    let error = s.with_nodes(10).unwrap_err();
    assert_eq!(error.key.as_deref(), Some("churn"));
    assert!(error.message.contains("--nodes 10"), "{error}");
}

#[test]
fn liveness_and_restart_metrics_are_ratios() {
    let s = ok("[expect]\nlookup_success_after_faults = 0.999\nrestarted_known = \">= 0.99\"\n");
    assert_eq!(s.expect[0].text, ">= 0.999");
    assert_eq!(s.expect[1].value, 0.99);
    fails(
        "[expect]\nlookup_success_after_faults = \"99.9\"\n",
        6,
        "expect.lookup_success_after_faults",
        "is a ratio",
    );
}

#[test]
fn the_connects_workload_and_its_metric_parse() {
    let s = ok("[[workload]]\nfrom = \"60s\"\nconnects = 200\n[expect]\nconnect_success = 0.99\n");
    assert_eq!(s.workload[0].connects, 200);
    assert_eq!(s.expect[0].metric, Metric::ConnectSuccess);
    assert_eq!(s.expect[0].text, ">= 0.99");
    fails(
        "[[workload]]\nfrom = \"60s\"\nconnects = -1\n",
        7,
        "workload[0].connects",
        "negative",
    );
    fails(
        "[[workload]]\nfrom = \"60s\"\nconect = 5\n",
        7,
        "workload[0].conect",
        "did you mean `connects`?",
    );
    fails(
        "[[workload]]\nfrom = \"60s\"\nconnects = 0\n",
        5,
        "workload[0]",
        "`connects` or `streams` above 0",
    );
}

#[test]
fn the_streams_workload_its_sizes_and_its_metric_parse() {
    let s = ok("[[workload]]\nfrom = \"60s\"\nstreams = 20\nstream_bytes = \"256KiB\"\nlisteners = 0.25\n[expect]\nstream_success = 0.99\n");
    let w = &s.workload[0];
    assert_eq!(
        (w.streams, w.stream_bytes, w.listeners),
        (20, 256 * 1024, 0.25)
    );
    assert_eq!(s.expect[0].metric, Metric::StreamSuccess);
    let s = ok("[[workload]]\nfrom = \"60s\"\nstreams = 1\nstream_bytes = 1500\n");
    assert_eq!(
        (s.workload[0].stream_bytes, s.workload[0].listeners),
        (1500, 0.5)
    );
    for (size, bytes) in [("\"1MiB\"", 1 << 20), ("\"64kB\"", 64_000), ("\"10B\"", 10)] {
        let s = ok(&format!(
            "[[workload]]\nfrom = \"60s\"\nstreams = 1\nstream_bytes = {size}\n"
        ));
        assert_eq!(s.workload[0].stream_bytes, bytes, "{size}");
    }
    fails(
        "[[workload]]\nfrom = \"60s\"\nstreams = 1\nstream_bytes = \"100MiB\"\n",
        8,
        "workload[0].stream_bytes",
        "1 byte to 64 MiB",
    );
    fails(
        "[[workload]]\nfrom = \"60s\"\nstreams = 1\nstream_bytes = \"12 parsecs\"\n",
        8,
        "workload[0].stream_bytes",
        "unknown unit",
    );
    fails(
        "[[workload]]\nfrom = \"60s\"\nstreams = 1\nlisteners = 0\n",
        8,
        "workload[0].listeners",
        "above 0",
    );
}

#[test]
fn mailboxes_need_multicast_and_run_on_either_engine() {
    let base = "name = \"m\"\nnodes = 20\nduration = \"60s\"\nengine = \"direct\"\n";
    let ok = parse(
        Path::new("m.toml"),
        &format!("{base}[network]\nsegments = 2\nmailbox = true\n"),
    )
    .expect("a valid mailbox scenario");
    assert!(ok.network.mailbox);
    let no_multicast = parse(
        Path::new("m.toml"),
        &format!("{base}[network]\nsegments = 0\nmailbox = true\n"),
    )
    .unwrap_err();
    assert!(
        no_multicast.to_string().contains("segments above 0"),
        "{no_multicast}"
    );
    // Both engines route through one router, which hands a mailbox's multicast to its
    // listeners only.
    let turmoil = parse(
        Path::new("m.toml"),
        &format!("{base}[network]\nsegments = 2\nmailbox = true\n")
            .replace("\"direct\"", "\"turmoil\""),
    )
    .expect("mailboxes on the turmoil engine");
    assert!(turmoil.network.mailbox);
    let not_bool = parse(
        Path::new("m.toml"),
        &format!("{base}[network]\nmailbox = 1\n"),
    )
    .unwrap_err();
    assert!(
        not_bool.to_string().contains("network.mailbox"),
        "{not_bool}"
    );
}
