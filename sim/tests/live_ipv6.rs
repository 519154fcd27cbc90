//! Live nodes on IPv6 loopback (`::1`): five find each other by multicast on `lo`
//! (where the machine delivers IPv6 multicast over `lo`; skipped, saying why, where it
//! does not), and five find each other from a bootstrap address alone; `dswarm live
//! --ipv6` says clearly when IPv6 multicast is missing.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::process::Command;
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

#[test]
fn live_ipv6_starts_or_says_why_it_cannot() {
    if !has_ipv6_loopback() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback (cannot bind [::1])");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let interface = Interface::V6(socket::loopback_index().expect("lo's index"));
    let from = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
    let works = rt
        .block_on(socket::probe(from, private_group(), interface))
        .is_ok();
    if works {
        // Where multicast works, the command starts and prints its nodes on [::1]:
        // the multicast test above covers the swarm.
        eprintln!("SKIPPED: IPv6 multicast works here; the refusal cannot be shown");
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["live", "--ipv6", "--nodes", "2", "--quiet"])
        .output()
        .expect("dswarm runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("IPv6 multicast does not work here") && stderr.contains("--no-multicast"),
        "{stderr}"
    );
}
