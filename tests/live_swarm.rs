//! Ten live nodes on loopback, real sockets, real time: they find each other by
//! multicast, and their HTTP APIs answer pings, lookups, record writes and reads,
//! announcements and bad requests; a node that stops withdraws its announcements.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use dswarm::live::{self, LiveConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/http.rs"]
mod http;

/// Sends `method path` with `body` to `addr`: the status code and the body, bounded in
/// time like `http::get`.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let host = format!("Host: {addr}\r\n");
    request_with(addr, method, path, &host, body).await
}

/// Like [`request`], with `headers` (each ending in CRLF) instead of `Host`.
async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .expect("the API accepts connections");
        let head = format!(
            "{method} {path} HTTP/1.1\r\n{headers}Content-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("head sent");
        stream.write_all(body).await.expect("body sent");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .expect("response read");
        String::from_utf8_lossy(&response).into_owned()
    };
    let response = tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} hung"));
    let status: u16 = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// Sends a request that must succeed, and parses its JSON answer.
async fn ok(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Value {
    let (status, text) = request(addr, method, path, body).await;
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The public keys a topic lookup from `addr` finds.
async fn announced(addr: SocketAddr, topic: &str) -> Vec<String> {
    let json = ok(addr, "GET", &format!("/api/topic/{topic}"), b"").await;
    assert_eq!(json["topic"], topic, "{json}");
    json["peers"]
        .as_array()
        .unwrap_or_else(|| panic!("no peers: {json}"))
        .iter()
        .map(|p| p["public_key"].as_str().unwrap().to_string())
        .collect()
}

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
    for _ in 0..10 {
        let mut config = LiveConfig::localhost();
        config.group = Some(group);
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
    assert_eq!(json["found_as"], "listed", "it answered: {body}");
    assert_eq!(json["relays"], serde_json::json!([]), "{body}");

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

    // Metrics in the Prometheus text format: every counter of the one list, each with
    // its help and type, and the node has completed handshakes by now.
    let (status, body) = http::get(nodes[3].api.unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    for counter in dswarm::proto::Stats::list() {
        let name = format!("dswarm_{}_total", counter.name);
        let help = format!("# HELP {name} {}\n", counter.help());
        let kind = format!("# TYPE {name} counter\n{name} ");
        assert!(
            body.contains(&help) && body.contains(&kind),
            "{name} missing: {body}"
        );
    }
    let completed = body
        .lines()
        .find_map(|line| line.strip_prefix("dswarm_handshakes_completed_total "))
        .and_then(|value| value.parse::<u64>().ok());
    assert!(completed.is_some_and(|n| n > 0), "{body}");

    // An immutable value written on one node reads back, byte for byte, on another.
    let value = "an immutable value, written once: ünïcödé".as_bytes();
    let put = ok(nodes[0].api.unwrap(), "PUT", "/api/immutable", value).await;
    let key = put["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key: {put}"))
        .to_string();
    assert_eq!(key.len(), 64, "{put}");
    assert!(put["stored"].as_u64().unwrap() >= 3, "{put}");
    let got = ok(
        nodes[6].api.unwrap(),
        "GET",
        &format!("/api/immutable/{key}"),
        b"",
    )
    .await;
    assert_eq!(got["key"], key.as_str());
    assert_eq!(got["value"].as_str().unwrap().as_bytes(), value, "{got}");
    assert_eq!(got["value_hex"], hex(value), "{got}");
    // Bytes that are not UTF-8 come back as hex only.
    let binary = [0xff, 0x00, 0xfe, 0x80, 0x01];
    let put = ok(nodes[1].api.unwrap(), "PUT", "/api/immutable", &binary).await;
    let binary_key = put["key"].as_str().unwrap().to_string();
    let got = ok(
        nodes[9].api.unwrap(),
        "GET",
        &format!("/api/immutable/{binary_key}"),
        b"",
    )
    .await;
    assert_eq!(got["value"], Value::Null, "{got}");
    assert_eq!(got["value_hex"], hex(&binary), "{got}");
    // A key nobody wrote is a 404.
    let (status, body) = http::get(
        nodes[2].api.unwrap(),
        &format!("/api/immutable/{}", "ab".repeat(32)),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "not found"
    );

    // A mutable record, signed by node 3, read from node 5 by node 3's key and salt;
    // written again, `latest=true` sees the higher seq.
    let owner = nodes[3].id.to_string();
    let first = ok(
        nodes[3].api.unwrap(),
        "PUT",
        "/api/mutable/profile",
        b"version one",
    )
    .await;
    assert_eq!(first["public_key"], owner.as_str(), "{first}");
    assert_eq!(first["salt"], "profile", "{first}");
    assert!(first["stored"].as_u64().unwrap() >= 3, "{first}");
    let seq_one = first["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq: {first}"));
    let path = format!("/api/mutable/{owner}/profile");
    let got = ok(nodes[5].api.unwrap(), "GET", &path, b"").await;
    assert_eq!(got["public_key"], owner.as_str(), "{got}");
    assert_eq!(got["value"], "version one", "{got}");
    assert_eq!(got["seq"], seq_one, "{got}");
    assert_eq!(got["signature"].as_str().unwrap().len(), 128, "{got}");
    let second = ok(
        nodes[3].api.unwrap(),
        "PUT",
        "/api/mutable/profile",
        b"version two",
    )
    .await;
    let seq_two = second["seq"].as_u64().unwrap();
    assert!(seq_two > seq_one, "{first} then {second}");
    let got = ok(
        nodes[5].api.unwrap(),
        "GET",
        &format!("{path}?latest=true"),
        b"",
    )
    .await;
    assert_eq!(got["value"], "version two", "{got}");
    assert_eq!(got["seq"], seq_two, "{got}");
    // An explicit seq is kept, and a reader can insist on at least some seq.
    let third = ok(
        nodes[3].api.unwrap(),
        "PUT",
        &format!("/api/mutable/profile?seq={}", seq_two + 10),
        b"version three",
    )
    .await;
    assert_eq!(third["seq"], seq_two + 10, "{third}");
    let got = ok(
        nodes[8].api.unwrap(),
        "GET",
        &format!("{path}?seq={}", seq_two + 10),
        b"",
    )
    .await;
    assert_eq!(got["value"], "version three", "{got}");
    // Another salt of the same owner holds nothing.
    let (status, body) = http::get(
        nodes[8].api.unwrap(),
        &format!("/api/mutable/{owner}/other"),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // Node 4 announces itself under a topic; node 8 finds it there, relays and all.
    let topic = "7e".repeat(32);
    let announce = ok(
        nodes[4].api.unwrap(),
        "POST",
        &format!("/api/announce/{topic}"),
        br#"{"relays": ["127.0.0.1:4000"]}"#,
    )
    .await;
    assert_eq!(announce["topic"], topic.as_str(), "{announce}");
    assert!(announce["stored"].as_u64().unwrap() >= 3, "{announce}");
    let json = ok(
        nodes[8].api.unwrap(),
        "GET",
        &format!("/api/topic/{topic}"),
        b"",
    )
    .await;
    let peers = json["peers"].as_array().unwrap();
    let four = nodes[4].id.to_string();
    let found = peers
        .iter()
        .find(|p| p["public_key"] == four.as_str())
        .unwrap_or_else(|| panic!("node 4 not under the topic: {json}"));
    assert_eq!(
        found["relays"],
        serde_json::json!(["127.0.0.1:4000"]),
        "{json}"
    );
    // Node 6 announces and withdraws (no body: no relays); it is gone from the topic.
    let six = nodes[6].id.to_string();
    ok(
        nodes[6].api.unwrap(),
        "POST",
        &format!("/api/announce/{topic}"),
        b"",
    )
    .await;
    assert!(announced(nodes[2].api.unwrap(), &topic)
        .await
        .contains(&six));
    ok(
        nodes[6].api.unwrap(),
        "DELETE",
        &format!("/api/announce/{topic}"),
        b"",
    )
    .await;
    let peers = announced(nodes[2].api.unwrap(), &topic).await;
    assert!(!peers.contains(&six) && peers.contains(&four), "{peers:?}");

    // Bad record requests get a 4xx with a JSON error.
    let long_salt = "s".repeat(33);
    let cases: [(&str, String, Vec<u8>, u16); 11] = [
        ("GET", "/api/immutable/not-hex".into(), vec![], 400),
        (
            "GET",
            format!("/api/immutable/{}", "g".repeat(64)),
            vec![],
            400,
        ),
        ("PUT", "/api/immutable".into(), vec![b'x'; 1001], 413),
        (
            "PUT",
            format!("/api/mutable/{long_salt}"),
            b"v".to_vec(),
            400,
        ),
        ("PUT", "/api/mutable/salt".into(), vec![b'x'; 1001], 413),
        (
            "PUT",
            "/api/mutable/salt?seq=minus-one".into(),
            b"v".to_vec(),
            400,
        ),
        (
            "GET",
            format!("/api/mutable/{owner}/{long_salt}"),
            vec![],
            400,
        ),
        (
            "GET",
            format!("/api/mutable/{}/salt", "0".repeat(63)),
            vec![],
            400,
        ),
        (
            "POST",
            format!("/api/announce/{topic}"),
            b"{not json".to_vec(),
            400,
        ),
        (
            "POST",
            format!("/api/announce/{topic}"),
            br#"{"relays": ["1.1.1.1:1", "1.1.1.1:2", "1.1.1.1:3", "1.1.1.1:4"]}"#.to_vec(),
            400,
        ),
        ("DELETE", "/api/immutable".into(), vec![], 405),
    ];
    for (method, path, body, expected) in cases {
        let (status, text) = request(nodes[7].api.unwrap(), method, &path, &body).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert!(json["error"].is_string(), "{method} {path}: {text}");
    }

    // The store's counters are in the metrics: nodes hold what was written.
    let (_, body) = http::get(nodes[3].api.unwrap(), "/metrics").await;
    assert!(body.contains("dswarm_store_stored_total "), "{body}");
    assert!(body.contains("dswarm_records_rejected_total 0"), "{body}");

    // A node that stops cleanly withdraws its announcements, within 2 s.
    let announcer = nodes.remove(4);
    tokio::time::timeout(Duration::from_millis(1900), announcer.shutdown())
        .await
        .expect("a clean stop takes less than 2 s");
    let peers = announced(nodes[7].api.unwrap(), &topic).await;
    assert!(
        !peers.contains(&four),
        "still announced after stopping: {peers:?}"
    );

    live::shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_knows_only_a_key_reaches_it_at_its_mailbox() {
    let group = private_group();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut config = LiveConfig::localhost();
        config.group = Some(group);
        config.node.mailbox = true;
        // Beacons an hour apart: only the mailbox can introduce the two.
        config.node.discovery.beacon_interval = Duration::from_secs(3600);
        nodes.push(live::spawn(config).await.expect("node starts"));
    }
    let (asker, owner) = (nodes[0].api.unwrap(), nodes[1].api.unwrap());
    let status = ok(asker, "GET", "/api/status", b"").await;
    assert_eq!(status["peers_known"], 0, "{status}");
    let mailbox = ok(owner, "GET", "/api/status", b"").await["mailbox"].clone();
    assert!(
        mailbox.as_str().is_some_and(|m| m.starts_with("239.193.")),
        "{mailbox}"
    );

    let json = ok(asker, "GET", &format!("/api/connect/{}", nodes[1].id), b"").await;
    assert_eq!(json["path"], "mailbox", "{json}");
    let status = ok(owner, "GET", "/api/status", b"").await;
    assert_eq!(status["sessions"], 1, "{status}");

    // A key nobody holds: nobody answers at its mailbox, and nobody knows it.
    let (code, body) = request(
        asker,
        "GET",
        &format!("/api/connect/{}", "ab".repeat(32)),
        b"",
    )
    .await;
    assert!(code == 404 || code == 504, "{code} {body}");
    live::shutdown_all(nodes).await;
}

/// What a web page can make a browser send to 127.0.0.1 is refused on every route,
/// the GETs that act included, while `curl`'s requests pass; connections are capped,
/// and one that sends no request is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_web_pages_and_foreign_hosts_but_not_curl() {
    let mut config = LiveConfig::localhost();
    config.group = None;
    let node = live::spawn(config).await.expect("node starts");
    let api = node.api.unwrap();
    let own = format!("Host: {api}\r\n");
    let localhost = format!("Host: localhost:{}\r\n", api.port());

    // What curl sends: its target as Host, no Origin, no Sec-Fetch-Site.
    for host in [&own, &localhost] {
        let (code, body) = request_with(api, "GET", "/api/status", host, b"").await;
        assert_eq!(code, 200, "{host:?}: {body}");
    }
    let same_origin = format!("{own}Origin: http://{api}\r\nSec-Fetch-Site: same-origin\r\n");
    let (code, body) = request_with(api, "GET", "/api/status", &same_origin, b"").await;
    assert_eq!(code, 200, "{body}");

    // DNS rebinding: the page's own name as Host.
    let rebound = format!("Host: attacker.example:{}\r\n", api.port());
    let (code, body) = request_with(api, "GET", "/api/status", &rebound, b"").await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("is not this API"), "{body}");

    // A cross-origin form post, and GETs that make the node act, from another site.
    let topic = "ab".repeat(32);
    let foreign = [
        format!("{own}Origin: http://attacker.example\r\n"),
        format!("{own}Origin: null\r\n"),
        format!("{own}Sec-Fetch-Site: cross-site\r\n"),
        format!("{own}Sec-Fetch-Site: same-site\r\n"),
    ];
    for headers in &foreign {
        for (method, path) in [
            ("POST", format!("/api/announce/{topic}")),
            ("GET", "/api/ping".to_owned()),
            ("GET", format!("/api/lookup/{topic}")),
            ("GET", "/no/such/route".to_owned()),
        ] {
            let (code, body) = request_with(api, method, &path, headers, b"").await;
            assert_eq!(code, 403, "{method} {path} with {headers:?}: {body}");
        }
    }
    let (_, metrics) = request(api, "GET", "/metrics", b"").await;
    assert!(
        metrics.contains("dswarm_api_refused_total{why=\"host\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dswarm_api_refused_total{why=\"cross_site\"} 16\n"),
        "{metrics}"
    );

    // Every connection the API takes, held open without a request: the next request
    // waits for a free one, and the held ones are closed within the header timeout.
    let mut held = Vec::new();
    for _ in 0..live::http::CONNECTIONS {
        held.push(TcpStream::connect(api).await.expect("connects"));
    }
    let waiting = tokio::time::timeout(
        Duration::from_secs(1),
        request(api, "GET", "/api/status", b""),
    )
    .await;
    assert!(waiting.is_err(), "a connection past the cap was served");
    let deadline = live::http::HEADER_TIMEOUT + Duration::from_secs(3);
    for mut stream in held {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(deadline, stream.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "an idle connection outlived the header timeout"
        );
    }
    let (code, body) = request(api, "GET", "/api/status", b"").await;
    assert_eq!(code, 200, "{body}");
    live::shutdown_all(vec![node]).await;
}

/// A counter of a node's `/metrics`.
async fn metric(api: SocketAddr, name: &str) -> u64 {
    let (status, body) = http::get(api, "/metrics").await;
    assert_eq!(status, 200);
    let prefix = format!("dswarm_{name}_total ");
    body.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_publishes_again_what_it_kept_beside_its_key() {
    let dir = std::env::temp_dir().join(format!("dswarm-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let records = live::owned::OwnedFile::beside(&dir.join("node.key"));

    let mut config = LiveConfig::localhost();
    config.group = None;
    let holder = live::spawn(config).await.expect("holder starts");
    let identity = dswarm::proto::Identity::from_seed([5; 32]);
    let owner_config = || {
        let mut config = LiveConfig::localhost();
        config.group = None;
        config.identity = identity.clone();
        config.node.bootstrap = vec![holder.udp];
        config.records = Some(records.clone());
        config
    };
    let owner = live::spawn(owner_config()).await.expect("owner starts");
    for round in 0.. {
        let (_, body) = http::get(owner.api.unwrap(), "/api/status").await;
        let json: Value = serde_json::from_str(&body).unwrap();
        if json["peers_verified"].as_u64() >= Some(1) {
            break;
        }
        assert!(round < 50, "no peer after 10 s: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let value = b"kept across a restart";
    let put = ok(owner.api.unwrap(), "PUT", "/api/immutable", value).await;
    assert_eq!(put["stored"], 1, "{put}");
    let kept = std::fs::read_to_string(&records).expect("the records file is written");
    assert!(kept.contains(&hex(value)), "{kept}");
    owner.shutdown().await;

    // The next life reads the file and writes the value again once it has a peer.
    let before = metric(holder.api.unwrap(), "store_stored").await;
    let owner = live::spawn(owner_config())
        .await
        .expect("owner starts again");
    for round in 0.. {
        if metric(holder.api.unwrap(), "store_stored").await > before {
            break;
        }
        assert!(round < 50, "not written again after 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(std::fs::read_to_string(&records).unwrap(), kept);
    live::shutdown_all(vec![owner, holder]).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
