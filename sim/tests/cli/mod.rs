//! What the tests that drive the `dswarm` binary share: running it from the crate's
//! directory (so `tests/data/…` and `scenarios/…` paths work), reading its output, a
//! temporary directory of each test file's own, a multicast group of each test's own,
//! and a headless browser when the machine has one.

#![allow(dead_code)] // each test file uses the part it needs

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
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

/// A multicast group of the calling test's own (from a free port of this host), so
/// that other swarms on the host, tests running beside it included, stay out.
pub fn private_group() -> SocketAddr {
    let probe = UdpSocket::bind("127.0.0.1:0").expect("a free port");
    let port = probe.local_addr().unwrap().port();
    let ip = Ipv4Addr::new(
        239,
        255,
        (std::process::id() % 250) as u8 + 1,
        (port % 250) as u8 + 2,
    );
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

/// A Chromium to run headless, if the machine has one.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}
