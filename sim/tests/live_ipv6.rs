//! Live nodes on IPv6 loopback (`::1`): five find each other by multicast on `lo`
//! (where the machine delivers IPv6 multicast over `lo`; skipped, saying why, where it
//! does not), and five find each other from a bootstrap address alone; `dswarm live
//! --ipv6` forms a swarm either way, saying so when IPv6 multicast is missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use dswarm::live::driver::Control;
use dswarm::live::socket::{self, Interface};
use dswarm::live::{self as live_node, LiveConfig, LiveNode};

const NODES: usize = 5;
/// How long the nodes have to find each other.
const BOUND: Duration = Duration::from_secs(20);

/// Whether this machine has `::1` at all.
fn has_ipv6_loopback() -> bool {
    UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A beacon group of this test's own in `ff12::/16`, on an OS-chosen port: other
/// runs on the host do not hear it.
fn private_group() -> SocketAddr {
    let free = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).expect("a free port");
    let port = free.local_addr().unwrap().port();
    let pid = std::process::id();
    let ip = Ipv6Addr::new(0xff12, 0, 0, 0, 0xd5, (pid >> 16) as u16, pid as u16, port);
    SocketAddr::new(ip.into(), port)
}

fn config(group: Option<SocketAddr>, bootstrap: Vec<SocketAddr>) -> LiveConfig {
    let mut config = LiveConfig::localhost();
    config.udp = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    config.api = None;
    config.group = group;
    config.node.bootstrap = bootstrap;
    config
}

/// Waits until every node has every other in its routing table, at a `[::1]`
/// address; panics with what each knows after [`BOUND`].
async fn all_find_each_other(nodes: &[LiveNode]) -> Duration {
    #[allow(clippy::disallowed_methods)] // a live test's own wall clock
    let start = std::time::Instant::now();
    loop {
        let mut known = Vec::new();
        for node in nodes {
            let (reply, answer) = tokio::sync::oneshot::channel();
            node.control
                .send(Control::Snapshot { reply })
                .await
                .unwrap();
            let snapshot = answer.await.expect("the node answers");
            for peer in &snapshot.peers {
                assert_eq!(
                    peer.addr.ip(),
                    Ipv6Addr::LOCALHOST,
                    "a peer of an IPv6 swarm at {}",
                    peer.addr
                );
            }
            known.push(snapshot.peers.len());
        }
        if known.iter().all(|&k| k == nodes.len() - 1) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < BOUND,
            "after {BOUND:?} the nodes know {known:?} peers of {}",
            nodes.len() - 1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_ipv6_nodes_find_each_other_by_multicast_on_loopback() {
    if !has_ipv6_loopback() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback (cannot bind [::1])");
        return;
    }
    let group = private_group();
    let interface = Interface::V6(socket::loopback_index().expect("lo's index"));
    let from = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    if let Err(error) = socket::probe(from, group, interface).await {
        eprintln!("SKIPPED: IPv6 multicast on `lo` does not work on this machine: {error}");
        return;
    }
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        let node = live_node::spawn(config(Some(group), Vec::new()))
            .await
            .expect("an IPv6 node starts");
        assert!(node.udp.is_ipv6(), "{}", node.udp);
        nodes.push(node);
    }
    let took = all_find_each_other(&nodes).await;
    eprintln!("{NODES} IPv6 nodes found each other by multicast in {took:?}");
    live_node::shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_ipv6_nodes_find_each_other_from_a_bootstrap_address() {
    if !has_ipv6_loopback() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback (cannot bind [::1])");
        return;
    }
    let first = live_node::spawn(config(None, Vec::new()))
        .await
        .expect("an IPv6 node starts");
    let mut nodes = vec![first];
    for _ in 1..NODES {
        let bootstrap = vec![nodes[0].udp];
        let node = live_node::spawn(config(None, bootstrap))
            .await
            .expect("an IPv6 node starts");
        nodes.push(node);
    }
    let took = all_find_each_other(&nodes).await;
    eprintln!("{NODES} IPv6 nodes found each other from a bootstrap address in {took:?}");
    live_node::shutdown_all(nodes).await;
}

/// `dswarm live --ipv6` forms a swarm on `[::1]` whatever the kernel does with IPv6
/// multicast on `lo`: by multicast where it works, else (saying so) with every node
/// bootstrapping from the first.
#[test]
fn dswarm_live_ipv6_forms_a_swarm_on_loopback() {
    if !has_ipv6_loopback() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback (cannot bind [::1])");
        return;
    }
    let group = private_group().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args([
            "live",
            "--ipv6",
            "--nodes",
            "5",
            "--quiet",
            "--multicast-group",
            &group,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dswarm runs");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut apis = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["node", _, "udp", udp, "api", api] = words.as_slice() {
            assert!(udp.starts_with("[::1]:"), "{line}");
            apis.push(api.trim_start_matches("http://").to_owned());
        }
        if line.starts_with("dashboard ") {
            break;
        }
    }
    assert_eq!(apis.len(), 5);
    #[allow(clippy::disallowed_methods)] // a live test's own wall clock
    let deadline = std::time::Instant::now() + BOUND;
    let verified = |api: &str| -> u64 {
        let mut stream = std::net::TcpStream::connect(api).expect("the API answers");
        let request =
            format!("GET /api/status HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or("{}");
        let status: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        status["peers_verified"].as_u64().unwrap_or(0)
    };
    loop {
        let counts: Vec<u64> = apis.iter().map(|api| verified(api)).collect();
        if counts.iter().all(|&n| n >= 4) {
            break;
        }
        #[allow(clippy::disallowed_methods)]
        let late = std::time::Instant::now() > deadline;
        assert!(!late, "verified peers after {BOUND:?}: {counts:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let interface = Interface::V6(socket::loopback_index().expect("lo's index"));
    let from = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    let multicast = rt.block_on(socket::probe(from, private_group(), interface));
    match multicast {
        Ok(()) => assert!(!stderr.contains("warning"), "{stderr}"),
        Err(error) => {
            eprintln!("IPv6 multicast does not work here ({error}): the swarm bootstrapped");
            assert!(stderr.contains("bootstrap from the first"), "{stderr}");
        }
    }
}
