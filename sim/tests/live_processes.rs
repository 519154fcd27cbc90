//! Two `dswarm node` processes on one host find each other by multicast alone, and
//! stop cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod cli;

use cli::private_group;

struct Process {
    child: Child,
    api: SocketAddr,
    id: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(group: SocketAddr) -> Process {
    start_reading(group, true)
}

/// Starts a node; with `keep_reading` false its stdout is closed after the first
/// line, as when its output is piped into `head -1`.
fn start_reading(group: SocketAddr, keep_reading: bool) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["node", "--quiet", "--multicast-group", &group.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dswarm starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining after the first line (the node's stdout stays open), or
        // close it.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
            if !keep_reading {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the node prints its line");
    // node <id-hex> udp 127.0.0.1:<port> api http://127.0.0.1:<port>
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 6, "{line}");
    assert_eq!(
        (words[0], words[2], words[4]),
        ("node", "udp", "api"),
        "{line}"
    );
    assert_eq!(words[1].len(), 64, "{line}");
    let api = words[5]
        .trim_start_matches("http://")
        .parse()
        .expect("an API address");
    Process {
        child,
        api,
        id: words[1].to_string(),
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("API up");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string())
}

#[test]
fn two_processes_find_each_other_by_multicast() {
    let group = private_group();
    let mut a = start(group);
    let mut b = start_reading(group, false);
    let mut found = false;
    for _ in 0..100 {
        let status = get(a.api, "/api/status");
        let peers = get(a.api, "/api/peers");
        if status.contains("\"peers_verified\":1") && peers.contains(&b.id) {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        found,
        "no verified peer after 10 s: {}",
        get(a.api, "/api/status")
    );
    assert!(get(b.api, "/api/peers").contains(&a.id), "b knows a too");

    // SIGTERM: a clean exit, quickly.
    let pid = a.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut exited = None;
    for _ in 0..20 {
        if let Some(status) = a.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = exited.expect("the node exits within 2 s of SIGTERM");
    assert!(status.success(), "{status:?}");

    // b lost its reader long ago and went on printing discoveries: still a clean exit.
    let pid = b.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut exited = None;
    for _ in 0..20 {
        if let Some(status) = b.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = exited.expect("b exits within 2 s of SIGTERM");
    assert!(
        status.success(),
        "a closed stdout must not crash a node: {status:?}"
    );
}
