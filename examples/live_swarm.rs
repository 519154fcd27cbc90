//! A live swarm in one process: four nodes of the live adapter, each with its own UDP
//! socket and HTTP API on 127.0.0.1 (ports the OS chooses), the last three
//! bootstrapping from the first. Once every node lists the three others in its routing
//! table, the example asks node 0's API what a user would ask with `curl`: its status,
//! its peers, a lookup of node 3, a ping of its 3 closest peers and its counters. Then
//! it stops every node and exits.
//!
//!     cargo run --release --example live_swarm
//!
//! The API is the one `dswarm live` and `dswarm node` serve (every route is in
//! docs/live.md). It listens on loopback only and asks for no token: anyone who can
//! open a connection to 127.0.0.1 on this host can use it, and nobody else can.
//!
//! In: nothing (no multicast: the swarm is its bootstrap list, so other swarms on the
//! host do not join it). Out: each node's addresses, then each request and its answer
//! on stdout; exit 0, or 1 with the reason on stderr if a node cannot start, the nodes
//! do not find each other within 15 s, or a request fails.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use dswarm::live::{self, LiveConfig, LiveNode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Nodes in the swarm.
const NODES: usize = 4;
/// How often the example asks each node how many peers it has verified.
const POLL: Duration = Duration::from_millis(250);
/// How many times it asks before it gives up: 15 s in all.
const POLLS: u32 = 60;
/// The longest one request may take (a node's own query timeout is 10 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut nodes: Vec<LiveNode> = Vec::new();
    for i in 0..NODES {
        let mut config = LiveConfig::localhost();
        config.group = None;
        if let Some(first) = nodes.first() {
            config.node.bootstrap = vec![first.udp];
        }
        match live::spawn(config).await {
            Ok(node) => {
                let api = node.api.expect("LiveConfig::localhost runs an API");
                println!("node {i} {} udp {} api http://{api}", node.id, node.udp);
                nodes.push(node);
            }
            Err(error) => {
                eprintln!("error: node {i} cannot start: {error}");
                live::shutdown_all(nodes).await;
                return ExitCode::FAILURE;
            }
        }
    }
    let apis: Vec<SocketAddr> = nodes
        .iter()
        .map(|node| node.api.expect("LiveConfig::localhost runs an API"))
        .collect();
    let last = nodes[NODES - 1].id.to_string();

    let outcome = match wait_for_tables(&apis).await {
        Ok(()) => tour(apis[0], &last).await,
        Err(error) => Err(error),
    };
    println!("\nstopping the {NODES} nodes");
    live::shutdown_all(nodes).await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Asks every node's `/api/status` until each has verified the `NODES - 1` others.
async fn wait_for_tables(apis: &[SocketAddr]) -> Result<(), String> {
    let mut verified = Vec::new();
    for poll in 1..=POLLS {
        verified.clear();
        for &api in apis {
            let status = json(&get(api, "/api/status").await?)?;
            verified.push(status["peers_verified"].as_u64().unwrap_or(0));
        }
        if verified.iter().all(|&v| v as usize >= NODES - 1) {
            println!(
                "\nevery node lists the {} others (poll {poll}, polls {POLL:?} apart)",
                NODES - 1
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    Err(format!(
        "the nodes did not find each other within {:?}: peers verified {verified:?}",
        POLL * POLLS
    ))
}

/// What a user does with `curl` against one node: each request, then its answer.
async fn tour(api: SocketAddr, last: &str) -> Result<(), String> {
    for path in [
        "/api/status".to_string(),
        "/api/peers".to_string(),
        format!("/api/lookup/{last}"),
        "/api/ping".to_string(),
    ] {
        println!("\n$ curl -s http://{api}{path}");
        let answer = json(&get(api, &path).await?)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).expect("a JSON value prints")
        );
    }
    // Every counter, in the Prometheus text format: here only those above 0.
    println!("\n$ curl -s http://{api}/metrics | grep -v '^#' | grep -v ' 0$'");
    let metrics = get(api, "/metrics").await?;
    for line in metrics.lines() {
        if !line.starts_with('#') && !line.ends_with(" 0") {
            println!("{line}");
        }
    }
    Ok(())
}

/// `GET path` from the API at `api`, as `curl` does it: the body of a 200 answer, or
/// an error that says what went wrong. One connection per request (`Connection:
/// close`): the body is all that follows the head, which axum's answers delimit with
/// `Content-Length`, not chunks.
async fn get(api: SocketAddr, path: &str) -> Result<String, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(api).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("GET {path}: no answer within {REQUEST_TIMEOUT:?}"))?
        .map_err(|error| format!("GET {path}: {error}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: not an HTTP answer: {response:?}"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("none");
    if status != "200" {
        return Err(format!("GET {path}: status {status}: {body}"));
    }
    Ok(body.to_string())
}

/// Parses an answer of the API, which is JSON on every route but `/metrics`.
fn json(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|error| format!("not JSON ({error}): {body}"))
}
