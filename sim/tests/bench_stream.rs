//! `dswarm bench-stream` end to end with tiny sizes: every phase runs (a stream and
//! TCP on 127.0.0.1, idle streams, direct and relayed connects through the bench's
//! own NATs), the table and the JSON carry every figure, and the command exits 0.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn bench_stream_prints_every_figure_and_exits_0() {
    let json = std::env::temp_dir().join(format!("bench-stream-{}.json", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["bench-stream", "--mib", "1", "--connects", "3"])
        .args(["--idle-streams", "10", "--timeout-secs", "60", "--json"])
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dswarm starts");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(Duration::from_secs(90))
        .expect("bench-stream exits within 90 s")
        .expect("its output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for figure in [
        "| dswarm stream goodput | ",
        "| TCP loopback goodput | ",
        "| dswarm / TCP | ",
        "| connect to first byte, direct | p50 ",
        // Whether each direct connect dialled its handshake is reported, not
        // required: now and then the connector meets a listener first.
        "(3 of 3 fresh listeners; paths: 3 direct; a handshake dialled in ",
        "| connect to first byte, relayed | p50 ",
        "(3 of 3 fresh listeners; paths: 3 relayed;",
        "| memory per idle stream (footprint.streams, 10 streams) | opener ",
        "| memory of the busy stream",
    ] {
        assert!(stdout.contains(figure), "no {figure:?} in\n{stdout}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON file")).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(report["dswarm"]["bytes"], 1 << 20);
    assert_eq!(report["tcp"]["bytes"], 1 << 20);
    assert!(report["dswarm"]["mb_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(report["direct"]["done"], 3);
    assert_eq!(report["relayed"]["done"], 3);
    assert!(report["memory"]["idle_opener_bytes"].as_f64().unwrap() > 0.0);
}
