//! A node is no amplifier: whatever a peer with a session sends from a spoofed source
//! address — every request, notice and garbage, in any order, with the node fresh or
//! busy with queries — the node sends that address at most three times the bytes it
//! received from it, and the session and the routing table stay where the peer really
//! is. The peer stored a large value at the node first, so that a small get could
//! fetch it from afar. (Handshake hellos and stray datagrams from the same address are
//! mixed in: a node answers them where they came from, within the same bound, under
//! handshake load too, where hellos get cookie replies.)

use std::net::SocketAddr;
use std::time::Duration;

use dswarm::harness::pair::{ask, Pair};
use dswarm::proto::session::AMPLIFICATION_LIMIT;
use dswarm::proto::wire::{
    Datagram, FrameFlags, Handshake, Message, Notice, Request, Response, SessionId, TxId,
    COOKIE_LEN,
};
use dswarm::proto::{Identity, Key, NodeId};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

#[path = "support/requests.rs"]
mod requests;
#[path = "support/seeded.rs"]
mod seeded;

const SEED: u64 = 0x5EED_000A;

/// The addresses the peer claims as its source: victims that never sent anything.
const VICTIMS: [&str; 2] = ["10.9.0.1:53", "10.9.0.2:7000"];

/// One thing the peer does.
#[derive(Clone, Debug)]
enum Step {
    /// Seals message `pick` of the menu (or `garbage` as its plaintext) and sends it
    /// with source `victim` (or its own address when `None`).
    Sealed {
        pick: usize,
        garbage: Vec<u8>,
        victim: Option<usize>,
    },
    /// A handshake hello from a victim's address, as a flood would send, with a
    /// cookie made up beside it or not.
    Hello {
        victim: usize,
        seed: u8,
        cookie: Option<[u8; COOKIE_LEN]>,
    },
    /// Random bytes from a victim's address.
    Stray { victim: usize, bytes: Vec<u8> },
    /// Time passes (timers fire: retries, challenges, table checks).
    Wait { millis: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    let victim = prop_oneof![3 => (0..VICTIMS.len()).prop_map(Some), 1 => Just(None)];
    prop_oneof![
        6 => (0..64usize, proptest::collection::vec(any::<u8>(), 0..900), victim)
            .prop_map(|(pick, garbage, victim)| Step::Sealed { pick, garbage, victim }),
        1 => (0..VICTIMS.len(), any::<u8>(), any::<Option<[u8; COOKIE_LEN]>>())
            .prop_map(|(victim, seed, cookie)| Step::Hello { victim, seed, cookie }),
        1 => (0..VICTIMS.len(), proptest::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(victim, bytes)| Step::Stray { victim, bytes }),
        1 => (0..3000u64).prop_map(|millis| Step::Wait { millis }),
    ]
}

/// The value the peer stores at the node first (from its own address, with a write
/// token it was given), so that a small get is answered with a large value: the
/// greatest amplification a record store offers.
const VALUE: [u8; 900] = [0xAB; 900];

/// Stores [`VALUE`] at the node, as the peer, honestly.
fn store_value(pair: &mut Pair) {
    let node_addr = Pair::NODE_ADDR;
    let (now, peer) = (pair.now, Pair::PEER_ADDR);
    let asked = ask(
        &mut pair.node,
        &mut pair.peer,
        now,
        peer,
        node_addr,
        TxId(900),
        Request::FindNode {
            target: NodeId([1; 32]),
        },
    );
    let Some(Response::Nodes { token, .. }) = asked else {
        panic!("FIND_NODE answered with a token: {asked:?}");
    };
    let put = Request::ImmutablePut {
        token,
        value: VALUE.to_vec(),
    };
    let stored = ask(
        &mut pair.node,
        &mut pair.peer,
        now,
        peer,
        node_addr,
        TxId(901),
        put,
    );
    assert_eq!(stored, Some(Response::Stored), "the value is stored");
}

/// Every request and notice a peer can send, one of each kind or more.
fn menu(pair: &Pair) -> Vec<Message> {
    let crypto = pair.crypto();
    let identity = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(3));
    let victim: SocketAddr = VICTIMS[0].parse().unwrap();
    let mut requests = requests::every_kind(crypto, &identity, vec![1; 800], victim);
    requests.push(Request::ImmutableGet {
        key: Key::of(&VALUE),
    });
    let notices = [
        Notice::PunchProbe { nonce: 1 },
        Notice::PunchAck { nonce: 1 },
        Notice::PathChallenge { token: 5 },
        Notice::PathResponse { token: 5 },
        Notice::Relay {
            to: NodeId([9; 32]),
            datagram: vec![0; 100],
        },
        Notice::Unlisted,
    ];
    let mut menu: Vec<Message> = requests
        .into_iter()
        .enumerate()
        .map(|(tx, request)| Message::Request {
            tx: TxId(tx as u32),
            request,
        })
        .collect();
    menu.extend(notices.into_iter().map(Message::Notice));
    menu
}

fn hello(pair: &Pair, seed: u8, cookie: Option<[u8; COOKIE_LEN]>) -> Vec<u8> {
    // A hello as a flooder would make it: the right network key, a fresh ephemeral.
    let network_key = pair.node.config().network_key;
    let client = dswarm::proto::handshake::ClientHandshake::new(
        pair.crypto(),
        network_key,
        Identity::from_seed([seed; 32]),
        pair.node.id(),
        [seed; 32],
    );
    let (client, msg) = (SessionId(u32::from(seed)), client.hello());
    match cookie {
        None => Datagram::Handshake(Handshake::Hello { client, msg }),
        Some(cookie) => Datagram::Handshake(Handshake::CookieHello {
            client,
            msg,
            cookie,
        }),
    }
    .to_bytes()
}

fn run(steps: &[Step], busy: bool, loaded: bool, seed: u64) -> Result<(), TestCaseError> {
    // Loaded: every hello is past the cookie threshold.
    let mut pair = Pair::connected_with(seed, |config| {
        if loaded {
            config.sessions.cookie_load = 0;
        }
    });
    store_value(&mut pair);
    if busy {
        pair.busy();
    }
    let menu = menu(&pair);
    let victims: Vec<SocketAddr> = VICTIMS.iter().map(|v| v.parse().unwrap()).collect();
    let mut received = [0u64; VICTIMS.len()];
    let mut sent = [0u64; VICTIMS.len()];
    let node_id = pair.node.id();
    let crypto = pair.crypto();
    for step in steps {
        let (from, bytes) = match step {
            Step::Sealed {
                pick,
                garbage,
                victim,
            } => {
                let plaintext = match menu.get(*pick) {
                    Some(message) => {
                        let mut out = Vec::new();
                        message.encode(&mut out);
                        out
                    }
                    None => garbage.clone(),
                };
                let plaintext = &plaintext[..plaintext.len().min(dswarm::proto::wire::MAX_MESSAGE)];
                let Some((_, frame)) =
                    pair.peer
                        .seal(crypto, &node_id, plaintext, FrameFlags::default())
                else {
                    continue;
                };
                let from = victim.map_or(Pair::PEER_ADDR, |v| victims[v]);
                (from, frame)
            }
            Step::Hello {
                victim,
                seed,
                cookie,
            } => (victims[*victim], hello(&pair, *seed, *cookie)),
            Step::Stray { victim, bytes } => (victims[*victim], bytes.clone()),
            Step::Wait { millis } => {
                pair.now = pair.now + Duration::from_millis(*millis);
                pair.node.handle_timeout(pair.now);
                (Pair::PEER_ADDR, Vec::new())
            }
        };
        if let Some(v) = victims.iter().position(|&a| a == from) {
            received[v] += bytes.len() as u64;
        }
        if !bytes.is_empty() {
            pair.node.handle_datagram(pair.now, from, &bytes);
        }
        while let Some(transmit) = pair.node.poll_transmit() {
            if let Some(v) = victims.iter().position(|&a| a == transmit.dst) {
                sent[v] += transmit.payload.len() as u64;
            }
        }
        while pair.node.poll_event().is_some() {}
        for v in 0..victims.len() {
            prop_assert!(
                sent[v] <= AMPLIFICATION_LIMIT * received[v],
                "{} got {} bytes for {} from it, after {step:?}",
                victims[v],
                sent[v],
                received[v]
            );
        }
    }
    let peer = pair.peer_id;
    prop_assert_eq!(
        pair.node.session_addr(&peer).unwrap_or(Pair::PEER_ADDR),
        Pair::PEER_ADDR,
        "the session stays where the peer is"
    );
    for contact in pair.node.table().iter() {
        prop_assert!(
            !victims.contains(&contact.addr),
            "a victim's address got into the routing table: {contact:?}"
        );
    }
    Ok(())
}

#[test]
fn a_spoofed_source_never_gets_more_than_three_times_what_it_sent() {
    let mut runner = TestRunner::new(seeded::config(
        SEED,
        64,
        "proptest-regressions/prop_amplification.txt",
    ));
    let case = (
        proptest::collection::vec(step(), 1..120),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    );
    let result = runner.run(&case, |(steps, busy, loaded, seed)| {
        run(&steps, busy, loaded, seed % 16)
    });
    if let Err(failure) = result {
        panic!(
            "{failure}\n{}",
            seeded::reproduce(SEED, "prop_amplification")
        );
    }
}
