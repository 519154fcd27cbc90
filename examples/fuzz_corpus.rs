//! Writes the fuzzers' seed corpus from real traffic: every datagram one node of a
//! 20-node simulated swarm receives in its first 20 seconds (beacons, the four
//! handshake messages, sealed frames), and every kind of message a session carries.
//!
//!     cargo run --example fuzz_corpus      # fills fuzz/corpus/<target>/

use std::path::Path;
use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::crypto::CryptoSuite;
use dswarm::proto::store::{Announcement, MutableRecord, Unannounce};
use dswarm::proto::wire::{Message, Request, Response, TxId, WireContact};
use dswarm::proto::{Command, Identity, Key, NodeId, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create the corpus directory");
    std::fs::write(dir.join(name), bytes).expect("write a corpus file");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 20,
        seed: 3,
        segments: 1,
        ..SwarmConfig::default()
    });
    swarm.capture(3);
    swarm.run_until(Time::ZERO + Duration::from_secs(10));
    let _ = swarm.run_command(
        3,
        Command::ImmutablePut(b"corpus".to_vec()),
        Duration::from_secs(10),
    );
    swarm.run_until(Time::ZERO + Duration::from_secs(20));
    let captured = swarm.captured().to_vec();
    for (i, (_, bytes)) in captured.iter().enumerate().step_by(7).take(300) {
        write(
            &root.join("wire_decode"),
            &format!("captured-{i:04}"),
            bytes,
        );
        let mut raw = vec![0u8];
        raw.extend_from_slice(bytes);
        write(&root.join("node_datagram"), &format!("raw-{i:04}"), &raw);
    }

    let crypto = CryptoSuite::Real.implementation();
    let identity = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(9));
    let topic = Key::of(b"topic");
    let requests = vec![
        Request::Ping,
        Request::FindNode {
            target: NodeId([1; 32]),
        },
        Request::ImmutablePut {
            token: [2; 16],
            value: b"hello".to_vec(),
        },
        Request::ImmutableGet { key: topic },
        Request::MutablePut {
            token: [2; 16],
            record: MutableRecord::sign(crypto, &identity, b"salt".to_vec(), 4, b"v".to_vec()),
        },
        Request::MutableGet { key: topic, seq: 1 },
        Request::Announce {
            token: [2; 16],
            announcement: Announcement::sign(crypto, &identity, topic, 5, vec![]),
        },
        Request::Unannounce {
            token: [2; 16],
            unannounce: Unannounce::sign(crypto, &identity, topic, 6),
        },
        Request::GetPeers { topic },
    ];
    let responses = vec![
        Response::Stored,
        Response::Nodes {
            contacts: vec![WireContact {
                id: NodeId([3; 32]),
                addr: "10.0.0.9:7000".parse().unwrap(),
            }],
            token: [4; 16],
        },
        Response::Immutable {
            value: Some(b"hello".to_vec()),
        },
    ];
    let messages = requests
        .into_iter()
        .map(|request| Message::Request {
            tx: TxId(1),
            request,
        })
        .chain(responses.into_iter().map(|response| Message::Response {
            tx: TxId(2),
            response,
        }));
    for (i, message) in messages.enumerate() {
        let mut sealed = vec![1u8];
        message.encode(&mut sealed);
        write(
            &root.join("node_datagram"),
            &format!("message-{i:02}"),
            &sealed,
        );
        write(
            &root.join("wire_decode"),
            &format!("message-{i:02}"),
            &sealed[1..],
        );
    }
    for mode in 0..4u8 {
        write(
            &root.join("handshake"),
            &format!("mode-{mode}"),
            &[mode; 113],
        );
    }
    println!("corpus written under {}", root.display());
}
