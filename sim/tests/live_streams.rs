//! Streams between `dswarm node` processes on 127.0.0.1: the Omega README's demo
//! (`listen` in one shell, `connect KEY` in another, stdin and stdout joined through
//! the stream), the listener's firewall, and `POST /api/stream/{id}` against an echo
//! listener.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A node process, killed when dropped.
struct Process {
    child: Child,
    id: String,
    udp: String,
    api: SocketAddr,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the node's line (`node <id> udp <addr> api <url>`) from `from`.
fn node_line(from: impl Read + Send + 'static) -> (String, String, SocketAddr) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the node prints its line");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (words[0], words[2], words[4]),
        ("node", "udp", "api"),
        "{line}"
    );
    let api = words[5].trim_start_matches("http://").parse().unwrap();
    (words[1].to_string(), words[3].to_string(), api)
}

/// `dswarm node --no-multicast [args…]`: its line comes on stderr in pipe modes.
fn node(args: &[&str], stdin: Stdio, stdout: Stdio) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["node", "--no-multicast"])
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("dswarm starts");
    let (id, udp, api) = node_line(child.stderr.take().unwrap());
    Process {
        child,
        id,
        udp,
        api,
    }
}

/// Runs `dswarm node --bootstrap UDP connect ID` with `input` on stdin; its output.
fn connect(udp: &str, id: &str, input: Vec<u8>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["node", "--no-multicast", "--bootstrap", udp, "connect", id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dswarm starts");
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("connect exits within 30 s")
        .expect("its output")
}

#[test]
fn two_shells_talk_through_listen_and_connect() {
    let mut listener = node(&["listen"], Stdio::piped(), Stdio::piped());
    let mut to_listener = listener.child.stdin.take().unwrap();
    to_listener.write_all(b"hello from the listener\n").unwrap();
    drop(to_listener);
    let mut from_listener = listener.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_listener.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });

    let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let output = connect(&listener.udp, &listener.id, input.clone());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(output.stdout, b"hello from the listener\n", "{stderr}");
    assert!(
        stderr.contains(&format!("connected to {} direct", listener.id)),
        "{stderr}"
    );
    assert!(stderr.contains("handshake "), "{stderr}");

    // The listener's stdout carries the bytes and nothing else. (The connector's
    // end was acknowledged when the bytes reached the listener's node; copying them
    // out may take a moment longer.)
    let mut got = Vec::new();
    while got.len() < input.len() {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(chunk) => got.extend(chunk),
            Err(_) => break,
        }
    }
    assert!(
        got == input,
        "{} of {} bytes, in order",
        got.len(),
        input.len()
    );
}

#[test]
fn a_key_the_firewall_does_not_allow_is_refused_at_once() {
    let other = "11".repeat(32);
    let listener = node(
        &["listen", "--allow", &other],
        Stdio::null(),
        Stdio::piped(),
    );
    let output = connect(&listener.udp, &listener.id, b"let me in".to_vec());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("Refused"), "{stderr}");
    assert!(output.stdout.is_empty());
}

fn get(api: SocketAddr, path: &str) -> (String, Vec<u8>) {
    request(api, "GET", path, b"")
}

fn post(api: SocketAddr, path: &str, body: &[u8]) -> (String, Vec<u8>) {
    request(api, "POST", path, body)
}

fn request(api: SocketAddr, method: &str, path: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&api, Duration::from_secs(5)).expect("API up");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("a response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    (head, response[split + 4..].to_vec())
}

#[test]
fn post_api_stream_answers_with_what_the_peer_sent_back() {
    let echo = node(&["listen", "--echo"], Stdio::null(), Stdio::null());
    let caller = node(
        &["--bootstrap", &echo.udp, "listen", "--echo"],
        Stdio::null(),
        Stdio::null(),
    );
    // The API answers 503 while the node knows nobody: wait for the bootstrap.
    for _ in 0..100 {
        let (_, status) = get(caller.api, "/api/status");
        if !String::from_utf8_lossy(&status).contains("\"peers_verified\":0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 7) as u8).collect();
    let (head, answer) = post(caller.api, &format!("/api/stream/{}", echo.id), &body);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("x-dswarm-path: direct"), "{head}");
    assert!(
        answer == body,
        "{} bytes back of {}",
        answer.len(),
        body.len()
    );
    let (head, _) = post(caller.api, "/api/stream/xyz", b"");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}
