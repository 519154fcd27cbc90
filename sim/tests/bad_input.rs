//! Bad local input to the `dswarm` command: key files and arguments of every
//! subcommand. Each gets a clear message naming what is wrong and exit code 2, at
//! once, before anything binds a socket or runs; never a panic.

// The watchdog reads the wall clock: these are real processes, not a simulation.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `dswarm args`, killing it if it has not exited within 10 s (a node that
/// wrongly accepted its input would run forever).
fn dswarm(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dswarm starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("dswarm {args:?} did not exit on bad input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn temp(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dswarm-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Exit code 2, no panic, and stderr holds every one of `needles`.
fn refused(args: &[&str], needles: &[&str]) {
    let out = dswarm(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
    }
}

#[test]
fn bad_key_files_are_refused_with_the_file_named() {
    let short = temp("short.key", b"abcdef\n");
    let not_hex = temp("not-hex.key", "zz".repeat(32).as_bytes());
    let binary = temp(
        "binary.key",
        &[0xff, 0xfe, 0x00, 0x81, 0x9c, 0x10, 0x00, 0x7f],
    );
    let long = temp("long.key", "ab".repeat(40).as_bytes());
    let empty = temp("empty.key", b"");
    for path in [&short, &not_hex, &binary, &long, &empty] {
        let path = path.to_str().unwrap();
        refused(
            &["node", "--key-file", path, "--no-multicast", "--quiet"],
            &["key file", path],
        );
    }
    let dir = std::env::temp_dir();
    let missing = dir.join("dswarm-no-such-dir/sub/node.key");
    refused(
        &[
            "node",
            "--key-file",
            missing.to_str().unwrap(),
            "--no-multicast",
            "--quiet",
        ],
        &["key file"],
    );
}

#[test]
fn bad_arguments_are_refused_before_anything_runs() {
    let cases: &[(&[&str], &str)] = &[
        (&["live", "--nodes", "abc"], "--nodes"),
        (&["live", "--network-key", "zz"], "network key"),
        (&["live", "--bootstrap", "not-an-address"], "--bootstrap"),
        (&["node", "--api", "127.0.0.1:99999"], "--api"),
        (&["node", "--udp", "nowhere"], "--udp"),
        (
            &["run", "../scenarios/quickstart.toml", "--seed", "many"],
            "--seed",
        ),
        (
            &["run", "../scenarios/quickstart.toml", "--engine", "warp"],
            "--engine",
        ),
        (
            &["sweep", "../scenarios/quickstart.toml", "--seeds", "5..2"],
            "empty",
        ),
        (
            &["sweep", "../scenarios/quickstart.toml", "--seeds", "x"],
            "range",
        ),
        (
            &[
                "sweep",
                "../scenarios/quickstart.toml",
                "--seeds",
                "0..3",
                "--shard",
                "3/2",
            ],
            "shard",
        ),
        (
            &[
                "shrink",
                "../scenarios/quickstart.toml",
                "--seed",
                "1",
                "--budget",
                "0",
            ],
            "--budget",
        ),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        refused(args, &[needle]);
    }
    let not_a_summary = temp("summary.json", b"{ not json");
    refused(
        &["sweep", "merge", not_a_summary.to_str().unwrap()],
        &["not a sweep summary"],
    );
}
