//! `dswarm compare` as a user drives it: two engines on one scenario, the side-by-side
//! table, the JSON report's checks, and clear errors (exit 2) on a bad `[compare]`
//! table or an unknown engine.

mod cli;

use cli::{dswarm, stderr, stdout, temp};

#[test]
fn direct_and_turmoil_agree_and_the_report_holds_the_checks() {
    let report = temp("compare.json");
    let out = dswarm(&[
        "compare",
        "tests/data/compare-small.toml",
        "--engines",
        "direct,turmoil",
        "--report",
        report.to_str().unwrap(),
        "--quiet",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("direct: PASS"), "{text}");
    assert!(text.contains("turmoil: PASS"), "{text}");
    let header = text
        .lines()
        .find(|line| line.starts_with("figure"))
        .unwrap_or_else(|| panic!("a table header in\n{text}"));
    for column in ["direct", "turmoil (reference)", "Δ", "tolerance", "verdict"] {
        assert!(header.contains(column), "{header}");
    }
    for row in [
        "lookup success",
        "hops p50",
        "hops p95",
        "latency p50 (ms)",
        "latency p99 (ms)",
        "latency distribution (KS)",
        "datagrams per lookup (all traffic)",
        "handshakes completed",
    ] {
        assert!(
            text.lines().any(|line| line.starts_with(row)),
            "no {row} row in\n{text}"
        );
    }
    assert!(!text.contains("get success"), "no records, no record rows");
    assert_eq!(text.lines().last(), Some("AGREE"), "{text}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["engines"], serde_json::json!(["direct", "turmoil"]));
    assert_eq!(json["reference"], "turmoil");
    assert_eq!(json["agree"], true);
    let reports = json["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["engine"], "direct");
    assert_eq!(reports[1]["engine"], "turmoil");
    let checks = json["checks"].as_array().unwrap();
    let figures: Vec<&str> = checks
        .iter()
        .map(|c| c["figure"].as_str().unwrap())
        .collect();
    assert_eq!(
        figures,
        ["lookup_success", "lookup_hops_p95", "lookup_latency_ms"]
    );
    for check in checks {
        assert_eq!(check["engine"], "direct", "{check}");
        assert_eq!(check["reference"], "turmoil", "{check}");
        assert_eq!(check["verdict"], "agree", "{check}");
        for key in [
            "sim",
            "reference_value",
            "tolerance",
            "statistic",
            "samples",
        ] {
            assert!(!check[key].is_null(), "{key} in {check}");
        }
    }
    let latency = &checks[2];
    assert!(latency["critical"].as_f64().unwrap() > 0.0, "{latency}");
    assert!(
        latency["statistic"].as_f64().unwrap() <= latency["tolerance"].as_f64().unwrap(),
        "{latency}"
    );
}

#[test]
fn an_unknown_compare_key_exits_2_with_did_you_mean() {
    let file = temp("bad-compare.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\nnodes = 12\nduration = \"12s\"\n\n[compare]\nsucess = 0.02\n",
    )
    .unwrap();
    let out = dswarm(&[
        "compare",
        file.to_str().unwrap(),
        "--engines",
        "direct,turmoil",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad-compare.toml:6"), "{err}");
    assert!(err.contains("`compare.sucess`"), "{err}");
    assert!(err.contains("did you mean `success`?"), "{err}");
    assert!(out.stdout.is_empty(), "nothing runs on bad input");
}

#[test]
fn an_unknown_engine_exits_2_before_anything_runs() {
    let out = dswarm(&[
        "compare",
        "tests/data/compare-small.toml",
        "--engines",
        "direct,bogus",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown engine \"bogus\""), "{err}");
    assert!(out.stdout.is_empty(), "nothing runs on bad input");
    let out = dswarm(&[
        "compare",
        "tests/data/compare-small.toml",
        "--engines",
        "direct",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs two or more"));
}

#[test]
fn an_engine_that_refuses_the_scenario_exits_2_naming_the_key() {
    let file = temp("streams.toml");
    std::fs::write(
        &file,
        "name = \"streams\"\nnodes = 12\nduration = \"12s\"\nengine = \"direct\"\n\n\
         [[workload]]\nfrom = \"5s\"\nover = \"5s\"\nstreams = 2\n",
    )
    .unwrap();
    let out = dswarm(&[
        "compare",
        file.to_str().unwrap(),
        "--engines",
        "direct,turmoil",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`workload[0].streams`"), "{err}");
    assert!(out.stdout.is_empty(), "nothing runs on bad input");
}

/// Sub-millisecond links: the turmoil engine's 1 ms steps double every lookup's
/// latency, the KS test sees it (exit 1, with a reproduce line), and a `latency_d`
/// floor above the gap lets it pass.
#[test]
fn the_ks_test_sees_the_turmoil_engines_millisecond_steps() {
    let report = temp("sub-ms.json");
    let out = dswarm(&[
        "compare",
        "tests/data/compare-sub-ms.toml",
        "--engines",
        "direct,turmoil",
        "--report",
        report.to_str().unwrap(),
        "--quiet",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("DISAGREE: lookup_latency_ms of direct against turmoil"),
        "{text}"
    );
    assert_eq!(
        text.lines().last(),
        Some("reproduce: dswarm compare tests/data/compare-sub-ms.toml --engines direct,turmoil --seed 3"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["agree"], false);
    let latency = &json["checks"][2];
    assert_eq!(latency["figure"], "lookup_latency_ms");
    assert_eq!(latency["verdict"], "disagree", "{latency}");
    let d = latency["statistic"].as_f64().unwrap();
    assert!(d > latency["critical"].as_f64().unwrap(), "{latency}");

    let floored = temp("sub-ms-floor.toml");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/compare-sub-ms.toml"),
    )
    .unwrap();
    std::fs::write(&floored, format!("{text}\n[compare]\nlatency_d = 0.95\n")).unwrap();
    let out = dswarm(&[
        "compare",
        floored.to_str().unwrap(),
        "--engines",
        "direct,turmoil",
        "--quiet",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("(floor; critical"), "{text}");
}

/// The issue's own check: the simulator against real sockets on the small scenario of
/// lossy links, a partition and a heal (about 30 s of wall time).
#[test]
fn the_direct_engine_agrees_with_the_live_one_on_the_small_scenario() {
    let report = temp("live.json");
    let out = dswarm(&[
        "compare",
        "tests/data/live-small.toml",
        "--report",
        report.to_str().unwrap(),
        "--quiet",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("live: 50 nodes: about 30 s of wall time"),
        "{text}"
    );
    assert!(text.contains("live (reference)"), "{text}");
    assert!(text.contains("AGREE"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["engines"], serde_json::json!(["direct", "live"]));
    assert_eq!(json["reference"], "live");
    let live = &json["reports"][1];
    assert_eq!(live["deterministic"], false);
    assert!(live["trace_hash"].is_null());
    assert!(live["live"]["cpu_s"].as_f64().unwrap() > 0.0);
}
