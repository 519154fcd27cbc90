//! Property tests of the wire codec ([`dswarm::proto::wire`]).
//!
//! 1. Every datagram the strategy can build (every kind, every request and response,
//!    contact lists of 0..=`MAX_CONTACTS` mixed IPv4/IPv6 contacts) encodes to at most
//!    `MAX_DATAGRAM` bytes and decodes back to itself.
//! 2. `decode` of arbitrary bytes, and of valid encodings with one byte flipped, cut
//!    off, inserted, removed or appended, never panics.
//! 3. The encoding is canonical: whenever `decode` accepts bytes, encoding the result
//!    gives exactly those bytes back.
//!
//! The runs use a fixed seed; `PROPTEST_RNG_SEED=N` picks another. Failures are kept in
//! `proptest-regressions/prop_wire.txt` and replayed first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use dswarm::proto::wire::{
    decode, Beacon, Datagram, DecodeError, ErrorCode, Message, Request, Response, TxId,
    WireContact, KINDS_RESERVED, MAGIC, MAX_CONTACTS, MAX_DATAGRAM, NETWORK_TAG_LEN, VERSION,
};
use dswarm::proto::NodeId;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};

/// The seed of every run unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x5EED_0001;

fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match default.rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        fixed => fixed,
    };
    ProptestConfig {
        cases,
        rng_seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/prop_wire.txt",
        ))),
        ..default
    }
}

/// How to rerun a failure, for assertion messages.
fn reproduce() -> String {
    let seed = match ProptestConfig::default().rng_seed {
        RngSeed::Random => SEED,
        RngSeed::Fixed(seed) => seed,
    };
    format!("reproduce: PROPTEST_RNG_SEED={seed} cargo test --test prop_wire")
}

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 32]>().prop_map(NodeId)
}

/// IPv4 or IPv6 with any port. The wire carries neither flow info nor scope id, so
/// IPv6 addresses are built with both zero, as `decode` returns them.
fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

/// Every code but `Other(1)`, which is `Busy`'s byte and decodes as `Busy`
/// (see `error_code_one_is_busy`).
fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::Busy),
        any::<u8>()
            .prop_filter("Other(1) is Busy on the wire", |code| *code != 1)
            .prop_map(ErrorCode::Other),
    ]
}

fn wire_contact() -> impl Strategy<Value = WireContact> {
    (node_id(), socket_addr()).prop_map(|(id, addr)| WireContact { id, addr })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        node_id().prop_map(|target| Request::FindNode { target }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        socket_addr().prop_map(|observed| Response::Pong { observed }),
        // Empty and full lists are the edges; weight them up next to the rest.
        prop_oneof![
            1 => Just(Vec::new()),
            2 => prop::collection::vec(wire_contact(), MAX_CONTACTS),
            4 => prop::collection::vec(wire_contact(), 0..=MAX_CONTACTS),
        ]
        .prop_map(|contacts| Response::Nodes { contacts }),
        error_code().prop_map(|code| Response::Error { code }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let tx = any::<u32>().prop_map(TxId);
    prop_oneof![
        (tx.clone(), request()).prop_map(|(tx, request)| Message::Request { tx, request }),
        (tx, response()).prop_map(|(tx, response)| Message::Response { tx, response }),
    ]
}

fn beacon() -> impl Strategy<Value = Beacon> {
    (
        node_id(),
        any::<u16>(),
        any::<u64>(),
        any::<[u8; NETWORK_TAG_LEN]>(),
        any::<[u8; 64]>(),
    )
        .prop_map(|(id, port, unix_secs, network_tag, signature)| Beacon {
            id,
            port,
            unix_secs,
            network_tag,
            signature,
        })
}

fn datagram() -> impl Strategy<Value = Datagram> {
    prop_oneof![
        1 => beacon().prop_map(Datagram::Beacon),
        4 => (node_id(), message()).prop_map(|(sender, message)| Datagram::Plain { sender, message }),
    ]
}

/// One change to a valid encoding.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR the byte at `at % len` with a non-zero mask.
    Flip { at: usize, mask: u8 },
    /// Keep only the first `len % original_len` bytes.
    Truncate { len: usize },
    /// Append these bytes.
    Extend { tail: Vec<u8> },
    /// Insert `byte` before position `at % (len + 1)`.
    Insert { at: usize, byte: u8 },
    /// Remove the byte at `at % len`.
    Remove { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        2 => prop::collection::vec(any::<u8>(), 1..64).prop_map(|tail| Mutation::Extend { tail }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        1 => any::<usize>().prop_map(|at| Mutation::Remove { at }),
    ]
}

fn apply(mutation: &Mutation, bytes: &mut Vec<u8>) {
    // Every valid encoding has a three-byte header, so `bytes` is never empty.
    let len = bytes.len();
    match mutation {
        Mutation::Flip { at, mask } => bytes[at % len] ^= mask,
        Mutation::Truncate { len: keep } => bytes.truncate(keep % len),
        Mutation::Extend { tail } => bytes.extend_from_slice(tail),
        Mutation::Insert { at, byte } => bytes.insert(at % (len + 1), *byte),
        Mutation::Remove { at } => {
            bytes.remove(at % len);
        }
    }
}

/// Bytes that start like a dswarm datagram (a known or reserved kind), so that random
/// tails reach the body decoders instead of stopping at the magic byte.
fn plausible_bytes() -> impl Strategy<Value = Vec<u8>> {
    let kinds: Vec<u8> = [0x01, 0x30].into_iter().chain(KINDS_RESERVED).collect();
    (
        prop::sample::select(kinds),
        prop::collection::vec(any::<u8>(), 0..1400),
    )
        .prop_map(|(kind, tail)| {
            let mut bytes = vec![MAGIC, VERSION, kind];
            bytes.extend(tail);
            bytes
        })
}

/// Decodes `bytes` (which must not panic) and, if they were accepted, checks that they
/// are the canonical encoding of what they decode to.
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(datagram) = decode(bytes) {
        prop_assert!(
            bytes.len() <= MAX_DATAGRAM,
            "accepted {} bytes",
            bytes.len()
        );
        prop_assert_eq!(
            datagram.to_bytes(),
            bytes.to_vec(),
            "accepted bytes are not canonical: {:?}; {}",
            datagram,
            reproduce()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn every_datagram_round_trips_within_the_size_limit(datagram in datagram()) {
        let bytes = datagram.to_bytes();
        prop_assert!(
            bytes.len() <= MAX_DATAGRAM,
            "{} bytes over the limit: {:?}; {}", bytes.len(), datagram, reproduce()
        );
        prop_assert_eq!(decode(&bytes), Ok(datagram.clone()), "{}", reproduce());

        // `encode` appends: what was in the buffer stays, and the rest is `to_bytes`.
        let mut out = vec![0xAB; 7];
        datagram.encode(&mut out);
        prop_assert_eq!(&out[..7], &[0xAB; 7][..]);
        prop_assert_eq!(&out[7..], &bytes[..]);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
        check_decode(&bytes)?;
        if bytes.len() > MAX_DATAGRAM {
            prop_assert_eq!(decode(&bytes), Err(DecodeError::TooLong(bytes.len())));
        }
    }

    #[test]
    fn decode_never_panics_on_plausible_headers(bytes in plausible_bytes()) {
        check_decode(&bytes)?;
    }

    #[test]
    fn decode_of_a_mutated_encoding_never_panics_and_stays_canonical(
        datagram in datagram(),
        mutation in mutation(),
    ) {
        let valid = datagram.to_bytes();
        let mut bytes = valid.clone();
        apply(&mutation, &mut bytes);
        check_decode(&bytes)?;

        // Decoding reads fields in a fixed order and must consume the input exactly, so
        // a strict prefix of a valid encoding lacks a field and anything appended is left
        // over.
        match &mutation {
            Mutation::Truncate { .. } => {
                prop_assert!(
                    matches!(decode(&bytes), Err(DecodeError::Truncated { .. })),
                    "prefix of {} bytes: {:?}; {}", bytes.len(), decode(&bytes), reproduce()
                );
            }
            Mutation::Extend { tail } => {
                let want = if bytes.len() > MAX_DATAGRAM {
                    DecodeError::TooLong(bytes.len())
                } else {
                    DecodeError::TrailingBytes(tail.len())
                };
                prop_assert_eq!(decode(&bytes), Err(want), "{}", reproduce());
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixed cases next to the properties
// ---------------------------------------------------------------------------------------

fn plain(response: Response) -> Datagram {
    Datagram::Plain {
        sender: NodeId([7; 32]),
        message: Message::Response {
            tx: TxId(0x0102_0304),
            response,
        },
    }
}

#[test]
fn error_code_one_is_busy() {
    let other = plain(Response::Error {
        code: ErrorCode::Other(1),
    });
    let busy = plain(Response::Error {
        code: ErrorCode::Busy,
    });
    // Two values, one encoding: the byte decides, and it decodes as `Busy`.
    assert_eq!(other.to_bytes(), busy.to_bytes());
    assert_eq!(decode(&other.to_bytes()), Ok(busy));
}

#[test]
fn the_largest_datagram_is_twenty_ipv6_contacts() {
    let contact = WireContact {
        id: NodeId([0xFF; 32]),
        addr: "[2001:db8::1]:65535".parse().unwrap(),
    };
    let largest = plain(Response::Nodes {
        contacts: vec![contact; MAX_CONTACTS],
    });
    let bytes = largest.to_bytes();
    // Header 3, sender 32, type 1, tx 4, count 1, then id 32 + family 1 + ip 16 + port 2.
    assert_eq!(
        bytes.len(),
        3 + 32 + 1 + 4 + 1 + MAX_CONTACTS * (32 + 1 + 16 + 2)
    );
    assert!(bytes.len() <= MAX_DATAGRAM);
    assert_eq!(decode(&bytes), Ok(largest));
}
