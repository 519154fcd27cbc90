//! Ten live nodes on loopback, real sockets, real time: they find each other by
//! multicast, and their HTTP APIs answer pings, lookups and bad requests.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use dswarm::live::{self, LiveConfig};
use serde_json::Value;

#[path = "support/http.rs"]
mod http;

/// A multicast group of our own (an OS-chosen port), so that concurrent runs and other
/// swarms on the host do not mix.
fn private_group() -> SocketAddr {
    let probe = UdpSocket::bind("127.0.0.1:0").expect("a free port");
    let port = probe.local_addr().unwrap().port();
    let ip = Ipv4Addr::new(
        239,
        255,
        (std::process::id() % 250) as u8 + 1,
        (port % 250) as u8 + 1,
    );
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_find_each_other_and_answer_over_http() {
    let group = private_group();
    let mut nodes = Vec::new();
    for i in 0..10u64 {
        let mut config = LiveConfig::localhost();
        config.group = Some(group);
        config.seed = 1000 + i;
        config.node.discovery.beacon_interval = Duration::from_secs(1);
        nodes.push(live::spawn(config).await.expect("node starts"));
    }

    // Every node verifies at least 5 peers, within a bound.
    // Bounded by rounds, not by a clock read: 100 rounds of 200 ms.
    for round in 0.. {
        let mut verified = Vec::new();
        for node in &nodes {
            let (status, body) = http::get(node.api.unwrap(), "/api/status").await;
            assert_eq!(status, 200, "{body}");
            let json: Value = serde_json::from_str(&body).unwrap();
            verified.push(json["peers_verified"].as_u64().unwrap());
        }
        if verified.iter().all(|&v| v >= 5) {
            break;
        }
        assert!(round < 100, "peers verified after 20 s: {verified:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Ping the 3 closest: three answers with round-trip times.
    let (status, body) = http::get(nodes[0].api.unwrap(), "/api/ping").await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let peers = json["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3, "{body}");
    for peer in peers {
        let rtt = peer["rtt_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("no rtt: {body}"));
        assert!(rtt > 0.0 && rtt < 1000.0, "{rtt}");
    }

    // A lookup of another node's id returns that node first.
    let target = nodes[7].id;
    let (status, body) = http::get(nodes[2].api.unwrap(), &format!("/api/lookup/{target}")).await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["closest"][0]["id"], target.to_string(), "{body}");
    assert_eq!(json["found"], true);

    // Bad requests get a 4xx with a JSON error.
    for (path, expected) in [
        ("/api/lookup/not-hex", 400),
        ("/api/lookup/abcd", 400),
        (&*format!("/api/lookup/{}", "g".repeat(64)), 400),
        ("/api/nothing-here", 404),
    ] {
        let (status, body) = http::get(nodes[1].api.unwrap(), path).await;
        assert_eq!(status, expected, "{path}: {body}");
        let json: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not JSON: {body}"));
        assert!(json["error"].is_string(), "{body}");
    }

    // Metrics in the Prometheus text format.
    let (status, body) = http::get(nodes[3].api.unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("dswarm_handshakes_completed_total "),
        "{body}"
    );

    for node in nodes {
        node.shutdown().await;
    }
}
