//! SHS1 and box-stream against the reference implementation: npm `secret-handshake`
//! 1.1.21 (pinned in `tests/interop/package-lock.json`), driven by
//! `tests/interop/peer.js` over TCP on 127.0.0.1 with OS-chosen ports.
//!
//! Needs `node` and `npm` on PATH. The pinned packages are installed on first use
//! (`npm ci --prefix tests/interop`, from the lockfile); if that fails the tests fail
//! and say why. `DSWARM_SKIP_INTEROP=1` skips them on purpose.
//! Every socket read has a timeout and peer.js exits by itself after 10 s, so nothing
//! hangs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use dswarm::proto::boxstream::{Decoder, Encoder, Header, HEADER_LEN};
use dswarm::proto::crypto::RealCrypto;
use dswarm::proto::handshake::{
    ClientHandshake, ServerHandshake, SessionKeys, ACCEPT_LEN, AUTH_LEN, HELLO_LEN,
};
use dswarm::proto::{Identity, NodeId};
use sha2::{Digest, Sha256};

/// Socket read/write timeout: far above what a loopback handshake takes.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server test waits for the JS client to connect: polls × interval.
const ACCEPT_POLLS: u32 = 200;
const ACCEPT_POLL_INTERVAL: Duration = Duration::from_millis(25);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Installs the pinned npm packages unless they are there; one test at a time.
fn install_once(test: &str, dir: &Path) {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let module = dir.join("node_modules/secret-handshake/package.json");
    if module.is_file() {
        return;
    }
    println!("{test}: installing the pinned reference packages (npm ci --prefix tests/interop)");
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .status();
    match status {
        Ok(status) if status.success() && module.is_file() => {}
        Ok(status) => panic!(
            "{test}: `npm ci --prefix tests/interop` failed ({status}); \
             set DSWARM_SKIP_INTEROP=1 to skip the interoperability tests"
        ),
        Err(e) => panic!(
            "{test}: cannot run `npm` ({e}): install Node.js and npm \
             (or set DSWARM_SKIP_INTEROP=1 to skip the interoperability tests)"
        ),
    }
}

/// The path of peer.js, or `None` when `DSWARM_SKIP_INTEROP=1`. Panics with what to
/// do when node or the npm packages are missing.
fn peer_script(test: &str) -> Option<PathBuf> {
    if std::env::var("DSWARM_SKIP_INTEROP").as_deref() == Ok("1") {
        println!("{test}: skipped (DSWARM_SKIP_INTEROP=1)");
        return None;
    }
    let dir = interop_dir();
    install_once(test, &dir);
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "{test}: `node --version` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "{test}: cannot run `node` ({e}): install Node.js and put it on PATH \
             (or set DSWARM_SKIP_INTEROP=1 to skip the interoperability tests)"
        ),
    }
    Some(dir.join("peer.js"))
}

#[path = "support/hex.rs"]
mod hex;
use hex::{from_hex, to_hex};

/// A fixed 32-byte input named by `label` (the tests are deterministic on our side;
/// the reference draws its own ephemeral key).
fn bytes32(label: &str) -> [u8; 32] {
    Sha256::digest(format!("dswarm shs1 interop|{label}")).into()
}

/// The node process: killed if a test fails before it exits.
struct Peer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
}

impl Peer {
    fn spawn(script: &Path, args: &[String]) -> Peer {
        let mut child = Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(interop_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning node {}: {e}", script.display()));
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut stderr: ChildStderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Peer {
            child,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// The next stdout line, which must start with `key `; its rest. Blocks until
    /// peer.js prints it or exits (after 10 s at most).
    fn expect_line(&mut self, key: &str) -> String {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .expect("reading peer.js stdout");
        if n == 0 {
            let (status, stderr) = self.finish();
            panic!("peer.js exited ({status}) before printing `{key}`; stderr:\n{stderr}");
        }
        match line
            .trim_end()
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(' '))
        {
            Some(rest) => rest.to_string(),
            None if line.trim_end() == key => String::new(),
            None => panic!("peer.js printed {line:?}, expected `{key} ...`"),
        }
    }

    /// Waits for the exit (bounded by peer.js's own timeout); its status and stderr.
    fn finish(&mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().expect("waiting for peer.js");
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (status, stderr)
    }

    /// Fails the test with `why` and what peer.js said: gives it a moment to exit by
    /// itself (our socket is closed by then), else kills it.
    fn fail(&mut self, why: &str) -> ! {
        for _ in 0..ACCEPT_POLLS / 2 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(ACCEPT_POLL_INTERVAL);
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let (status, stderr) = self.finish();
        let mut stdout = String::new();
        let _ = self.stdout.read_to_string(&mut stdout);
        panic!("{why}\npeer.js exited ({status}); stdout:\n{stdout}stderr:\n{stderr}");
    }

    /// What the reference reported after its box-stream exchange, checked.
    fn expect_report(&mut self, peer: &NodeId, received: &[u8]) {
        let reported_peer = self.expect_line("peer");
        let reported_received = self.expect_line("received");
        let _ = self.expect_line("done");
        let (status, stderr) = self.finish();
        assert!(
            status.success(),
            "peer.js failed ({status}); stderr:\n{stderr}"
        );
        assert_eq!(
            reported_peer,
            to_hex(peer.as_bytes()),
            "the id the reference proved"
        );
        assert_eq!(
            reported_received,
            to_hex(received),
            "what the reference received"
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_exact(stream: &mut TcpStream, len: usize, what: &str) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    stream
        .read_exact(&mut buf)
        .map_err(|e| format!("reading {what} ({len} bytes) from the reference: {e}"))?;
    Ok(buf)
}

fn write_all(stream: &mut TcpStream, bytes: &[u8], what: &str) -> Result<(), String> {
    stream
        .write_all(bytes)
        .map_err(|e| format!("sending {what}: {e}"))
}

fn configure(stream: &TcpStream) {
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("write timeout");
    stream.set_nodelay(true).expect("nodelay");
}

/// After the handshake: sends `send` and a goodbye, reads one message and the
/// reference's goodbye; the message received.
fn exchange(stream: &mut TcpStream, keys: &SessionKeys, send: &[u8]) -> Result<Vec<u8>, String> {
    let crypto = RealCrypto;
    let mut encoder = Encoder::new(keys.encrypt_key, keys.encrypt_nonce);
    let mut out = Vec::new();
    encoder.encrypt(&crypto, send, &mut out);
    out.extend_from_slice(&encoder.goodbye(&crypto));
    write_all(stream, &out, "box-stream frames")?;
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| format!("shutting down our write half: {e}"))?;

    let mut decoder = Decoder::new(keys.decrypt_key, keys.decrypt_nonce);
    let header = read_exact(stream, HEADER_LEN, "box-stream header")?;
    let (len, tag) = match decoder.decrypt_header(&crypto, &header) {
        Ok(Header::Body { len, tag }) => (len, tag),
        Ok(Header::Goodbye) => return Err("the reference said goodbye before its message".into()),
        Err(e) => return Err(format!("the reference's header: {e}")),
    };
    let body = read_exact(stream, len, "box-stream body")?;
    let received = decoder
        .decrypt_body(&crypto, &tag, &body)
        .map_err(|e| format!("the reference's body: {e}"))?;
    let goodbye = read_exact(stream, HEADER_LEN, "box-stream goodbye")?;
    match decoder.decrypt_header(&crypto, &goodbye) {
        Ok(Header::Goodbye) => Ok(received),
        other => Err(format!("expected the reference's goodbye, got {other:?}")),
    }
}

/// Our client's side of one connection: the handshake, then one message each way.
fn client_session(
    stream: &mut TcpStream,
    handshake: &mut ClientHandshake,
    send: &[u8],
) -> Result<(SessionKeys, Vec<u8>), String> {
    let crypto = RealCrypto;
    write_all(stream, &handshake.hello(), "msg1")?;
    let msg2 = read_exact(stream, HELLO_LEN, "msg2")?;
    let msg3 = handshake
        .handle_hello(&crypto, &msg2)
        .map_err(|e| format!("our client refused msg2: {e}"))?;
    write_all(stream, &msg3, "msg3")?;
    let msg4 = read_exact(stream, ACCEPT_LEN, "msg4")?;
    let keys = handshake
        .handle_accept(&crypto, &msg4)
        .map_err(|e| format!("our client refused msg4: {e}"))?;
    let received = exchange(stream, &keys, send)?;
    Ok((keys, received))
}

/// Our server's side of one connection.
fn server_session(
    stream: &mut TcpStream,
    handshake: &mut ServerHandshake,
    send: &[u8],
) -> Result<(SessionKeys, Vec<u8>), String> {
    let crypto = RealCrypto;
    let msg1 = read_exact(stream, HELLO_LEN, "msg1")?;
    let msg2 = handshake
        .handle_hello(&crypto, &msg1)
        .map_err(|e| format!("our server refused msg1: {e}"))?;
    write_all(stream, &msg2, "msg2")?;
    let msg3 = read_exact(stream, AUTH_LEN, "msg3")?;
    let (msg4, keys) = handshake
        .handle_auth(&crypto, &msg3)
        .map_err(|e| format!("our server refused msg3: {e}"))?;
    write_all(stream, &msg4, "msg4")?;
    let received = exchange(stream, &keys, send)?;
    Ok((keys, received))
}

#[test]
fn our_client_against_the_reference_server() {
    let Some(script) = peer_script("our_client_against_the_reference_server") else {
        return;
    };
    let network_key = bytes32("network key");
    let server_seed = bytes32("js server seed");
    let client = Identity::from_seed(bytes32("rust client seed"));
    let to_server = b"dswarm client -> secret-handshake server".to_vec();
    let to_client = b"secret-handshake server -> dswarm client".to_vec();

    let mut peer = Peer::spawn(
        &script,
        &[
            "server".into(),
            to_hex(&network_key),
            to_hex(&server_seed),
            to_hex(&to_client),
        ],
    );
    let port: u16 = peer.expect_line("port").parse().expect("a port number");
    let pubkey = peer.expect_line("pubkey");
    let pubkey_hex = pubkey.split(' ').nth(1).expect("pubkey <base64> <hex>");
    let server_id = NodeId(from_hex(pubkey_hex).try_into().expect("a 32-byte key"));
    assert_eq!(
        server_id,
        Identity::from_seed(server_seed).id(),
        "the server's key"
    );

    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting to peer.js");
    configure(&stream);
    let mut handshake = ClientHandshake::new(
        &RealCrypto,
        network_key,
        client.clone(),
        server_id,
        bytes32("rust client ephemeral"),
    );
    let (keys, received) = match client_session(&mut stream, &mut handshake, &to_server) {
        Ok(done) => done,
        Err(why) => {
            drop(stream);
            peer.fail(&why)
        }
    };
    assert_eq!(keys.peer, server_id, "the server we proved");
    assert_eq!(received, to_client, "what we received from the reference");
    peer.expect_report(&client.id(), &to_server);
}

#[test]
fn our_server_against_the_reference_client() {
    let Some(script) = peer_script("our_server_against_the_reference_client") else {
        return;
    };
    let network_key = bytes32("network key 2");
    let server = Identity::from_seed(bytes32("rust server seed"));
    let client_seed = bytes32("js client seed");
    let client_id = Identity::from_seed(client_seed).id();
    let to_server = b"secret-handshake client -> dswarm server".to_vec();
    let to_client = b"dswarm server -> secret-handshake client".to_vec();

    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let mut peer = Peer::spawn(
        &script,
        &[
            "client".into(),
            port.to_string(),
            to_hex(server.id().as_bytes()),
            to_hex(&network_key),
            to_hex(&client_seed),
            to_hex(&to_server),
        ],
    );

    // Bounded wait for the connection, noticing if peer.js dies first.
    let mut accepted = None;
    for _ in 0..ACCEPT_POLLS {
        match listener.accept() {
            Ok((stream, _)) => {
                accepted = Some(stream);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => peer.fail(&format!("accepting the reference client: {e}")),
        }
        if let Ok(Some(_)) = peer.child.try_wait() {
            peer.fail("peer.js exited before connecting");
        }
        std::thread::sleep(ACCEPT_POLL_INTERVAL);
    }
    let Some(mut stream) = accepted else {
        peer.fail("the reference client did not connect within 5 s")
    };
    stream.set_nonblocking(false).expect("blocking stream");
    configure(&stream);

    let mut handshake = ServerHandshake::new(
        &RealCrypto,
        network_key,
        server.clone(),
        bytes32("rust server ephemeral"),
    );
    let (keys, received) = match server_session(&mut stream, &mut handshake, &to_client) {
        Ok(done) => done,
        Err(why) => {
            drop(stream);
            peer.fail(&why)
        }
    };
    assert_eq!(keys.peer, client_id, "the client we proved");
    assert_eq!(received, to_server, "what we received from the reference");
    peer.expect_report(&server.id(), &to_client);
}
