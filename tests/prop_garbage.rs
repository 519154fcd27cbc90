//! 100,000 random and mutated datagrams against a node in each of its states (fresh,
//! halfway through a handshake, with a session open, with queries running), both as
//! they come off the network and sealed inside a real session, so that the message
//! decoder and every request handler see them too. Checked: no panic, every datagram
//! and every opened frame counted, and the node still answers an honest ping.

use dswarm::harness::pair::Pair;
use dswarm::proto::wire::{
    decode_message, Beacon, Datagram, FrameFlags, Handshake, Message, Response, SealedHeader,
    SessionId, TxId, COOKIE_LEN, MAX_MESSAGE,
};
use dswarm::proto::Identity;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

#[path = "support/requests.rs"]
mod requests;
#[path = "support/seeded.rs"]
mod seeded;

const SEED: u64 = 0x5EED_0009;
/// Cases per state, each a batch of `BATCH` datagrams.
const CASES: u32 = 25;
const BATCH: usize = 1000;

/// Valid datagrams and messages of every kind, to mutate.
fn corpus(pair: &Pair) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let crypto = pair.crypto();
    let identity = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(7));
    let valid_hello = Datagram::Handshake(Handshake::Hello {
        client: SessionId(3),
        msg: dswarm::proto::handshake::ClientHandshake::new(
            crypto,
            pair.node.config().network_key,
            identity.clone(),
            pair.node.id(),
            [9; 32],
        )
        .hello(),
    });
    let datagrams = [
        Datagram::Beacon(Beacon {
            id: identity.id(),
            port: 7000,
            unix_secs: 1_800_000_000,
            network_tag: [1; 8],
            signature: [2; 64],
        }),
        Datagram::Who {
            network_tag: [1; 8],
        },
        Datagram::Handshake(Handshake::Hello {
            client: SessionId(1),
            msg: [3; 64],
        }),
        Datagram::Handshake(Handshake::HelloReply {
            client: SessionId(1),
            server: SessionId(2),
            msg: [4; 64],
        }),
        Datagram::Handshake(Handshake::Auth {
            server: SessionId(2),
            msg: [5; 112],
            early: None,
        }),
        Datagram::Handshake(Handshake::Accept {
            client: SessionId(1),
            msg: [6; 80],
            early: None,
        }),
        // A hello that passes the network key's check, alone and with a cookie.
        valid_hello.clone(),
        match &valid_hello {
            Datagram::Handshake(Handshake::Hello { client, msg }) => {
                Datagram::Handshake(Handshake::CookieHello {
                    client: *client,
                    msg: *msg,
                    cookie: [8; COOKIE_LEN],
                })
            }
            _ => unreachable!("a hello"),
        },
        Datagram::Handshake(Handshake::Cookie {
            client: SessionId(1),
            cookie: [8; COOKIE_LEN],
        }),
        Datagram::Handshake(Handshake::CookieHello {
            client: SessionId(1),
            msg: [3; 64],
            cookie: [8; COOKIE_LEN],
        }),
        Datagram::Sealed {
            header: SealedHeader {
                flags: FrameFlags::default(),
                receiver: SessionId(9),
                counter: 1,
            },
            ciphertext: vec![7; 48],
        },
    ]
    .iter()
    .map(Datagram::to_bytes)
    .collect();
    let requests = requests::every_kind(
        crypto,
        &identity,
        b"value".to_vec(),
        "10.0.0.3:7000".parse().unwrap(),
    );
    let mut messages: Vec<Vec<u8>> = requests
        .into_iter()
        .map(|request| {
            let mut out = Vec::new();
            Message::Request {
                tx: TxId(5),
                request,
            }
            .encode(&mut out);
            out
        })
        .collect();
    let mut out = Vec::new();
    Message::Response {
        tx: TxId(6),
        response: Response::Stored,
    }
    .encode(&mut out);
    messages.push(out);
    (datagrams, messages)
}

fn mutate(original: &[u8], flips: &[(usize, u8)], how: usize, random: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    match how {
        0 => bytes = random.to_vec(),
        1 => bytes.truncate(flips.len() * 7 % (bytes.len() + 1)),
        2 => bytes.extend_from_slice(&random[..random.len().min(64)]),
        _ => {}
    }
    for (at, value) in flips {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] ^= value | 1;
        }
    }
    bytes
}

fn one_state(name: &str, make: impl Fn() -> Pair) {
    let one = (
        any::<bool>(),
        0usize..16,
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        0usize..4,
        proptest::collection::vec(any::<u8>(), 0..1300),
    );
    let batch = proptest::collection::vec(one, BATCH);
    let mut runner = TestRunner::new(seeded::config(
        SEED,
        CASES,
        "proptest-regressions/prop_garbage.txt",
    ));
    let fed = std::cell::Cell::new(0usize);
    runner
        .run(&batch, |inputs| {
            let mut pair = make();
            let (datagrams, messages) = corpus(&pair);
            let before = pair.node.stats();
            let (mut raw, mut sealed, mut notices) = (0u64, 0u64, 0u64);
            for (in_session, pick, flips, how, random) in inputs {
                // Both ends hold the session: a mutated frame may have been a Bye.
                if in_session
                    && pair.peer.is_open(&pair.node.id())
                    && pair.node.has_session(&pair.peer_id)
                {
                    let original = &messages[pick % messages.len()];
                    let plaintext = mutate(original, &flips, how, &random);
                    // A mutation may make a notice (a Bye, a path challenge): the
                    // node acts on it, and no request or response counter moves.
                    let cut = &plaintext[..plaintext.len().min(MAX_MESSAGE)];
                    if matches!(decode_message(cut), Ok(Message::Notice(_))) {
                        notices += 1;
                    }
                    pair.sealed(&plaintext);
                    sealed += 1;
                } else {
                    let original = &datagrams[pick % datagrams.len()];
                    pair.raw(&mutate(original, &flips, how, &random));
                    raw += 1;
                }
            }
            fed.set(fed.get() + BATCH);
            let after = pair.node.stats();
            prop_assert_eq!(
                after.datagrams_received - before.datagrams_received,
                raw + sealed,
                "every datagram counted"
            );
            let opened = after.sessions.frames_opened - before.sessions.frames_opened;
            prop_assert!(
                opened >= sealed,
                "the peer's frames all open: {} of {}",
                opened,
                sealed
            );
            let handled = (after.requests_received - before.requests_received)
                + (after.requests_rate_limited - before.requests_rate_limited)
                + (after.responses_unexpected - before.responses_unexpected)
                + (after.responses_received - before.responses_received)
                + (after.messages_malformed - before.messages_malformed);
            prop_assert_eq!(
                handled + notices,
                opened,
                "every opened frame handled or counted"
            );
            // A thousand datagrams in one instant are far over the peer's request
            // rate: its budget comes back in two seconds.
            pair.advance(std::time::Duration::from_secs(2));
            prop_assert!(pair.answers_ping(), "the node still answers an honest ping");
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}; {}", seeded::reproduce(SEED, "prop_garbage")));
    assert_eq!(fed.get(), CASES as usize * BATCH);
}

#[test]
fn a_fresh_node_takes_any_bytes() {
    one_state("fresh", || Pair::fresh(1));
}

#[test]
fn a_node_halfway_through_a_handshake_takes_any_bytes() {
    one_state("handshaking", || {
        let mut pair = Pair::fresh(2);
        let node = pair.node.id();
        let crypto = pair.crypto();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        pair.peer
            .connect(pair.now, crypto, node, Pair::NODE_ADDR, &mut rng, None);
        pair.exchange(); // hello in, reply out: the node holds a half-open handshake
        pair
    });
}

#[test]
fn a_node_with_a_session_takes_any_bytes_in_and_out_of_it() {
    one_state("connected", || Pair::connected(4));
}

#[test]
fn a_node_under_handshake_load_takes_any_bytes() {
    // Every hello is past the cookie threshold: answered with a cookie, or refused.
    one_state("loaded", || {
        Pair::connected_with(6, |config| config.sessions.cookie_load = 0)
    });
}

#[test]
fn a_node_with_queries_running_takes_any_bytes() {
    one_state("busy", || {
        let mut pair = Pair::connected(5);
        pair.busy();
        pair
    });
}
