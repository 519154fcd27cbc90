//! What the tests that drive the `dswarm` binary share: running it from the crate's
//! directory (so `tests/data/…` and `scenarios/…` paths work), reading its output, and
//! a temporary directory of each test file's own.

#![allow(dead_code)] // each test file uses the part it needs

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `dswarm args` to its end.
pub fn dswarm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dswarm runs")
}

/// What it printed on stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What it printed on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path named `name` in a directory of this test file and process.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dswarm-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
