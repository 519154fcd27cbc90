//! `dswarm node … listen` and `dswarm node … connect KEY`: a stream between two
//! shells, as the Omega DHT's README demo has it (`server.listen(keyPair)` on one
//! computer, `connect(publicKey)` on another, each piping stdin to the socket and the
//! socket to stdout).
//!
//! In: a running live node, stdin, the peer's key or the firewall's keys. Out: stream
//! bytes on stdout — and nothing else there: the node's line, the path taken, the
//! handshake hash and every log go to stderr.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use dswarm::live::driver::{Control, Finished};
use dswarm::live::stream::LiveStream;
use dswarm::live::LiveNode;
use dswarm::proto::node::{Command, CommandError, Event, QueryOutcome};
use dswarm::proto::stream::{Firewall, StreamEvent, StreamId};
use dswarm::proto::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

/// How often, and how long apart, `connect` tries while the node's table is still
/// empty (bootstrap under way): 20 s in all.
const FIND_TRIES: u32 = 80;
const FIND_GAP: Duration = Duration::from_millis(250);
/// How long `connect` waits, once both directions are done, for the peer to
/// acknowledge the end.
const LINGER: Duration = Duration::from_secs(5);

/// What a `dswarm node` does besides serving: nothing, or one end of a stream.
#[derive(Subcommand, Debug, Clone)]
pub enum Pipe {
    /// Take streams from peers: stdin goes into the first one accepted, and every
    /// accepted stream is copied to stdout. Logs go to stderr.
    Listen {
        /// Take streams only from this key (repeat for several); default: anyone.
        #[arg(long, value_name = "KEY")]
        allow: Vec<NodeId>,
        /// Send every stream back what it sends (for tests and `POST /api/stream`),
        /// instead of copying it to stdout.
        #[arg(long)]
        echo: bool,
    },
    /// Find the peer by its key, open a stream, copy stdin into it and it to stdout;
    /// end our direction at the end of input, and exit 0 once both directions are
    /// done. The path taken and the handshake hash go to stderr.
    Connect {
        /// The peer's key (64 hex digits).
        key: NodeId,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `pipe` on `node` until it is done (connect) or a signal (listen).
pub async fn run(
    mut node: LiveNode,
    pipe: Pipe,
    shutdown: impl std::future::Future<Output = ()>,
) -> ExitCode {
    match node.api {
        Some(api) => eprintln!("node {} udp {} api http://{api}", node.id, node.udp),
        None => eprintln!("node {} udp {}", node.id, node.udp),
    }
    // The node's events are drained here, or they would pile up: only the ends of
    // streams matter to the pipe.
    let (_, none) = tokio::sync::mpsc::unbounded_channel();
    let mut events = std::mem::replace(&mut node.events, none);
    let (finished_tx, finished) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Event::Stream(StreamEvent::Finished(stream)) = event {
                let _ = finished_tx.send(stream);
            }
        }
    });
    let code = match pipe {
        Pipe::Listen { allow, echo } => listen(&node, allow, echo, shutdown).await,
        Pipe::Connect { key } => connect(&node, key, finished).await,
    };
    node.shutdown().await;
    code
}

async fn listen(
    node: &LiveNode,
    allow: Vec<NodeId>,
    echo: bool,
    shutdown: impl std::future::Future<Output = ()>,
) -> ExitCode {
    let firewall = match allow.is_empty() {
        true => Firewall::Open,
        false => Firewall::Allow(allow.into_iter().collect::<BTreeSet<_>>()),
    };
    let mut accepted = node.listen(firewall).await;
    let stdout = Arc::new(Mutex::new(tokio::io::stdout()));
    let mut stdin_taken = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return ExitCode::SUCCESS,
            stream = accepted.recv() => {
                let Some(stream) = stream else { return ExitCode::FAILURE };
                eprintln!(
                    "stream {} from {} (handshake {})",
                    stream.id.number,
                    stream.id.peer,
                    hex(&stream.handshake_hash)
                );
                if echo {
                    tokio::spawn(echo_back(stream));
                    continue;
                }
                if !std::mem::replace(&mut stdin_taken, true) {
                    tokio::spawn(copy_stdin(stream.clone()));
                }
                tokio::spawn(copy_to_stdout(stream, stdout.clone()));
            }
        }
    }
}

/// Sends a stream back what it sends, then ends.
async fn echo_back(stream: LiveStream) {
    while let Ok(Some(bytes)) = stream.read().await {
        if stream.write(bytes).await.is_err() {
            return;
        }
    }
    stream.finish().await;
}

/// Copies stdin into `stream`, then ends it. Returns whether everything went.
async fn copy_stdin(stream: LiveStream) -> bool {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if let Err(error) = stream.write(buf[..n].to_vec()).await {
                    eprintln!("stream {}: {error}", stream.id.number);
                    return false;
                }
            }
            Err(error) => {
                eprintln!("error: reading stdin: {error}");
                stream.reset().await;
                return false;
            }
        }
    }
    stream.finish().await;
    true
}

/// Copies `stream` to stdout until the peer ends it. Returns whether it ended cleanly.
async fn copy_to_stdout(stream: LiveStream, stdout: Arc<Mutex<tokio::io::Stdout>>) -> bool {
    loop {
        match stream.read().await {
            Ok(Some(bytes)) => {
                let mut out = stdout.lock().await;
                if out.write_all(&bytes).await.is_err() || out.flush().await.is_err() {
                    // Nobody reads stdout any more: stop taking the peer's bytes.
                    stream.reset().await;
                    return false;
                }
            }
            Ok(None) => return true,
            Err(error) => {
                eprintln!(
                    "stream {} from {}: {error}",
                    stream.id.number, stream.id.peer
                );
                return false;
            }
        }
    }
}

/// Runs `Connect` until it finishes, trying again while the node knows nobody yet.
async fn find(node: &LiveNode, key: NodeId) -> Result<Finished, String> {
    for _ in 0..FIND_TRIES {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let run = Control::Run {
            command: Command::Connect(key),
            reply,
        };
        if node.control.send(run).await.is_err() {
            return Err("the node stopped".into());
        }
        match answer.await {
            Ok(Ok(finished)) => return Ok(finished),
            Ok(Err(CommandError::NoPeers)) => tokio::time::sleep(FIND_GAP).await,
            Ok(Err(error)) => return Err(error.to_string()),
            Err(_) => return Err("the node stopped".into()),
        }
    }
    Err("no peers to ask: give a --bootstrap address, or wait for multicast".into())
}

async fn connect(
    node: &LiveNode,
    key: NodeId,
    mut ended: tokio::sync::mpsc::UnboundedReceiver<StreamId>,
) -> ExitCode {
    let finished = match find(node, key).await {
        Ok(finished) => finished,
        Err(error) => {
            eprintln!("error: connect {key}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let path = match finished.outcome {
        QueryOutcome::Connected { path, .. } => path,
        outcome => {
            eprintln!("error: connect {key}: {outcome:?}");
            return ExitCode::FAILURE;
        }
    };
    let stream = match node.open_stream(key).await {
        Ok(stream) => stream,
        Err(error) => {
            eprintln!("error: opening a stream to {key}: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "connected to {key} {} in {} ms (handshake {})",
        path.name(),
        finished.elapsed.as_millis(),
        hex(&stream.handshake_hash)
    );
    let stdout = Arc::new(Mutex::new(tokio::io::stdout()));
    let reading = tokio::spawn(copy_to_stdout(stream.clone(), stdout));
    let writing = tokio::spawn(copy_stdin(stream.clone()));
    let (read, written) = (reading.await, writing.await);
    if !(matches!(read, Ok(true)) && matches!(written, Ok(true))) {
        return ExitCode::FAILURE;
    }
    // Both directions are done here once the peer acknowledged our end.
    let acknowledged = tokio::time::timeout(LINGER, async {
        while let Some(done) = ended.recv().await {
            if done == stream.id {
                return true;
            }
        }
        false
    });
    match acknowledged.await {
        Ok(true) => ExitCode::SUCCESS,
        _ => {
            eprintln!("error: the peer did not acknowledge the end of our bytes");
            ExitCode::FAILURE
        }
    }
}
