//! A live node's secrets never reach its log: two nodes on loopback, one bootstrapping
//! from the other (a handshake, sealed requests), logged at the finest level, and no
//! trace of either node's key seed or RNG seed in what they logged.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dswarm::live::{self, LiveConfig};
use dswarm::proto::Identity;

#[path = "support/http.rs"]
mod http;

/// Everything the nodes log, at every level.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The ways a secret could be written: hex either case, and Rust's `{:?}` of bytes.
fn spellings(secret: &[u8; 32]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let debug = format!("{:?}", &secret[..8]);
    vec![
        hex[..16].to_string(),
        hex[..16].to_uppercase(),
        debug.trim_end_matches(']').to_string(),
    ]
}

// One thread: the subscriber set below is the default of this thread only, and every
// task of the nodes runs on it.
#[tokio::test(flavor = "current_thread")]
async fn a_node_logs_neither_its_key_nor_its_rng_seed() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let mut secrets = Vec::new();
    let mut nodes = Vec::new();
    let mut bootstrap = Vec::new();
    for i in 0..2u8 {
        let key_seed = [0xa0 + i; 32];
        let rng_seed = [0x5a + i; 32];
        let mut config = LiveConfig::localhost();
        config.identity = Identity::from_seed(key_seed);
        config.rng_seed = rng_seed;
        config.group = None;
        config.udp = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        config.node.bootstrap = bootstrap.clone();
        let node = live::spawn(config).await.expect("node starts");
        bootstrap = vec![node.udp];
        secrets.extend([key_seed, rng_seed]);
        nodes.push(node);
    }

    // The second node has proved the first one's key: 50 rounds of 100 ms at most.
    let api = nodes[1].api.expect("an API");
    let mut sessions = 0;
    for _ in 0..50 {
        let (status, body) = http::get(api, "/api/status").await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        sessions = json["sessions"].as_u64().unwrap_or(0);
        if sessions > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sessions > 0, "the nodes never opened a session");
    live::shutdown_all(nodes).await;

    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(text.contains("node starting"), "nothing logged: {text}");
    for secret in &secrets {
        for spelling in spellings(secret) {
            assert!(
                !text.contains(&spelling),
                "the log holds a secret ({spelling}):\n{text}"
            );
        }
    }
}
