//! Property tests of the wire codec ([`dswarm::proto::wire`]).
//!
//! Two layers: datagrams ([`Datagram`]: beacon, `Who`, the four handshake messages and
//! sealed frames, through [`decode`]) and the RPC messages sealed inside frames
//! ([`Message`]: every request and response, contact lists of 0..=`MAX_CONTACTS` mixed
//! IPv4/IPv6 contacts, every error code, through [`decode_message`]).
//!
//! 1. Everything the strategies build encodes within the size limit (a message once
//!    sealed: header, message, tag) and decodes back to itself.
//! 2. Decoding arbitrary bytes, and valid encodings with one byte flipped, cut off,
//!    inserted, removed or appended, never panics.
//! 3. The encoding is canonical: whenever bytes decode, encoding the result gives
//!    exactly those bytes back (this found `Who` accepting non-zero padding).
//! 4. A topic answer (`Response::Peers`) of any signed announcements fits a sealed
//!    frame and decodes to as many of them, whole, as fit.
//!
//! The runs use a fixed seed; `PROPTEST_RNG_SEED=N` picks another and
//! `PROPTEST_CASES=N` changes the number of cases. Failures are kept in
//! `proptest-regressions/prop_wire.txt` and replayed first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use dswarm::proto::crypto::TAG_LEN;
use dswarm::proto::store::{SignedPeer, MAX_RELAYS};
use dswarm::proto::wire::MAX_PEERS;
use dswarm::proto::wire::{
    decode, decode_message, relayed_has_room, Beacon, Datagram, DecodeError, ErrorCode, FrameFlags,
    Handshake, Message, NatKind, Notice, Request, ResetCode, Response, SealedHeader, SessionId,
    StreamFrame, TxId, WireContact, BEACON_LEN, COOKIE_LEN, MAGIC, MAX_ACK_RANGES, MAX_CONTACTS,
    MAX_DATAGRAM, MAX_RELAYED, MAX_STREAM_DATA, NETWORK_TAG_LEN, SEALED_HEADER_LEN, VERSION,
};
use dswarm::proto::NodeId;
use proptest::prelude::*;

/// The seed of every run unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x5EED_0001;

/// Every datagram kind byte `decode` knows.
const KINDS: [u8; 7] = [0x01, 0x02, 0x11, 0x12, 0x13, 0x14, 0x20];
/// Every message type byte `decode_message` knows.
const MESSAGE_TYPES: [u8; 5] = [0x01, 0x02, 0x81, 0x82, 0xFF];

#[path = "support/seeded.rs"]
mod seeded;

fn config(cases: u32) -> ProptestConfig {
    seeded::config(SEED, cases, "proptest-regressions/prop_wire.txt")
}

/// How to rerun a failure, for assertion messages.
fn reproduce() -> String {
    seeded::reproduce(SEED, "prop_wire")
}

// ---------------------------------------------------------------------------------------
// Strategies: messages
// ---------------------------------------------------------------------------------------

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 32]>().prop_map(NodeId)
}

/// IPv4 or IPv6 with any port. The wire carries neither flow info nor scope id, so
/// IPv6 addresses are built with both zero, as decoding returns them.
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

fn nat_kind() -> impl Strategy<Value = NatKind> {
    prop_oneof![
        Just(NatKind::Unknown),
        Just(NatKind::Open),
        Just(NatKind::Consistent),
        Just(NatKind::Random),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        node_id().prop_map(|target| Request::FindNode { target }),
        (nat_kind(), socket_addr()).prop_map(|(nat, reflexive)| Request::Punch { nat, reflexive }),
    ]
}

fn notice() -> impl Strategy<Value = Notice> {
    let datagram = prop_oneof![
        Just(Vec::new()),
        Just(vec![0xD5; MAX_RELAYED]),
        prop::collection::vec(any::<u8>(), 0..=MAX_RELAYED),
    ];
    prop_oneof![
        Just(Notice::Bye),
        (node_id(), datagram.clone()).prop_map(|(to, datagram)| Notice::Relay { to, datagram }),
        (node_id(), proptest::option::of(socket_addr()), datagram).prop_map(
            |(from, observed, datagram)| Notice::Relayed {
                from,
                // The relay vouches for the address only where it fits.
                observed: observed.filter(|addr| relayed_has_room(datagram.len(), addr)),
                datagram,
            }
        ),
        any::<u64>().prop_map(|nonce| Notice::PunchProbe { nonce }),
        any::<u64>().prop_map(|nonce| Notice::PunchAck { nonce }),
    ]
}

fn stream_frame() -> impl Strategy<Value = StreamFrame> {
    let reason = prop::sample::select(vec![
        ResetCode::Refused,
        ResetCode::NotListening,
        ResetCode::Cancelled,
        ResetCode::TimedOut,
        ResetCode::Violation,
        ResetCode::TooMany,
        ResetCode::Unknown,
    ]);
    prop_oneof![
        (
            any::<u32>(),
            any::<u64>(),
            any::<(bool, bool)>(),
            prop::collection::vec(any::<u8>(), 0..=MAX_STREAM_DATA),
        )
            .prop_map(|(stream, offset, (end, open), bytes)| StreamFrame::Data {
                stream,
                offset,
                end,
                open,
                bytes,
            }),
        (
            any::<u32>(),
            any::<(u64, u64, bool)>(),
            prop::collection::vec(any::<(u64, u64)>(), 0..=MAX_ACK_RANGES),
        )
            .prop_map(
                |(stream, (received, limit, end), ranges)| StreamFrame::Ack {
                    stream,
                    received,
                    end,
                    limit,
                    ranges,
                }
            ),
        (any::<u32>(), reason).prop_map(|(stream, reason)| StreamFrame::Reset { stream, reason }),
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
        .prop_map(|contacts| Response::Nodes {
            contacts,
            token: [0x5A; 16],
        }),
        error_code().prop_map(|code| Response::Error { code }),
        (nat_kind(), socket_addr()).prop_map(|(nat, reflexive)| Response::Punch { nat, reflexive }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let tx = any::<u32>().prop_map(TxId);
    prop_oneof![
        (tx.clone(), request()).prop_map(|(tx, request)| Message::Request { tx, request }),
        (tx, response()).prop_map(|(tx, response)| Message::Response { tx, response }),
        notice().prop_map(Message::Notice),
        stream_frame().prop_map(Message::Stream),
    ]
}

fn message_bytes(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Strategies: datagrams
// ---------------------------------------------------------------------------------------

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

fn handshake() -> impl Strategy<Value = Handshake> {
    let session = any::<u32>().prop_map(SessionId);
    prop_oneof![
        (session.clone(), any::<[u8; 64]>())
            .prop_map(|(client, msg)| Handshake::Hello { client, msg }),
        (session.clone(), any::<[u8; COOKIE_LEN]>())
            .prop_map(|(client, cookie)| Handshake::Cookie { client, cookie }),
        (
            session.clone(),
            any::<[u8; 64]>(),
            any::<[u8; COOKIE_LEN]>()
        )
            .prop_map(|(client, msg, cookie)| Handshake::CookieHello {
                client,
                msg,
                cookie
            }),
        (session.clone(), session.clone(), any::<[u8; 64]>()).prop_map(|(client, server, msg)| {
            Handshake::HelloReply {
                client,
                server,
                msg,
            }
        }),
        (session.clone(), any::<[u8; 112]>()).prop_map(|(server, msg)| Handshake::Auth {
            server,
            msg,
            early: None,
        }),
        // msg3 with the client's first frame beside it, up to a full datagram.
        (session.clone(), any::<[u8; 112]>(), sealed()).prop_map(|(server, msg, frame)| {
            let mut early = frame.to_bytes();
            early.truncate(MAX_DATAGRAM - 3 - 4 - 112);
            let early = match wire_fits(&early) {
                true => Some(early),
                false => None,
            };
            Handshake::Auth { server, msg, early }
        }),
        (session.clone(), any::<[u8; 80]>()).prop_map(|(client, msg)| Handshake::Accept {
            client,
            msg,
            early: None
        }),
        // msg4 with the server's first frame beside it, up to a full datagram.
        (session, any::<[u8; 80]>(), sealed()).prop_map(|(client, msg, frame)| {
            let mut early = frame.to_bytes();
            early.truncate(MAX_DATAGRAM - 3 - 4 - 80);
            let early = match wire_fits(&early) {
                true => Some(early),
                false => None,
            };
            Handshake::Accept { client, msg, early }
        }),
    ]
}

/// Whether `bytes` is a whole sealed frame (header and at least a tag).
fn wire_fits(bytes: &[u8]) -> bool {
    bytes.len() >= SEALED_HEADER_LEN + TAG_LEN
}

/// A sealed frame: opaque ciphertext from a bare tag up to the size limit, or the
/// size of a real sealed message.
fn sealed() -> impl Strategy<Value = Datagram> {
    let ciphertext = prop_oneof![
        prop::collection::vec(any::<u8>(), TAG_LEN..=MAX_DATAGRAM - SEALED_HEADER_LEN),
        Just(vec![0xA5; TAG_LEN]),
        Just(vec![0x5A; MAX_DATAGRAM - SEALED_HEADER_LEN]),
        message().prop_map(|m| {
            let mut bytes = message_bytes(&m);
            bytes.extend_from_slice(&[0xEE; TAG_LEN]);
            bytes
        }),
    ];
    (
        any::<(bool, bool)>(),
        any::<u32>(),
        any::<u64>(),
        ciphertext,
    )
        .prop_map(
            |((unlisted, keep), receiver, counter, ciphertext)| Datagram::Sealed {
                header: SealedHeader {
                    flags: FrameFlags { unlisted, keep },
                    receiver: SessionId(receiver),
                    counter,
                },
                ciphertext,
            },
        )
}

fn datagram() -> impl Strategy<Value = Datagram> {
    prop_oneof![
        1 => beacon().prop_map(Datagram::Beacon),
        1 => any::<[u8; NETWORK_TAG_LEN]>().prop_map(|network_tag| Datagram::Who { network_tag }),
        2 => handshake().prop_map(Datagram::Handshake),
        2 => sealed(),
        1 => any::<u32>().prop_map(|r| Datagram::NoSession { receiver: SessionId(r) }),
    ]
}

// ---------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------

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

/// Applies `mutation` to non-empty `bytes` (every encoding is at least five bytes).
fn apply(mutation: &Mutation, bytes: &mut Vec<u8>) {
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

/// Bytes that start like something the decoder knows (a datagram header with a known
/// kind, or a known message type), so that random tails reach the field decoders
/// instead of stopping at the first byte.
fn plausible_datagram() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(&KINDS[..]),
        prop::collection::vec(any::<u8>(), 0..1400),
    )
        .prop_map(|(kind, tail)| {
            let mut bytes = vec![MAGIC, VERSION, kind];
            bytes.extend(tail);
            bytes
        })
}

fn plausible_message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(&MESSAGE_TYPES[..]),
        prop::collection::vec(any::<u8>(), 0..1200),
    )
        .prop_map(|(kind, tail)| {
            let mut bytes = vec![kind];
            bytes.extend(tail);
            bytes
        })
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/// Decodes `bytes` as a datagram (which must not panic) and, if they were accepted,
/// checks that they are the canonical encoding of what they decode to.
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

/// The same for a message.
fn check_decode_message(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(message) = decode_message(bytes) {
        prop_assert_eq!(
            message_bytes(&message),
            bytes.to_vec(),
            "accepted message bytes are not canonical: {:?}; {}",
            message,
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
        match &datagram {
            Datagram::Beacon(_) | Datagram::Who { .. } => prop_assert_eq!(bytes.len(), BEACON_LEN),
            Datagram::Sealed { header, ciphertext } => {
                prop_assert_eq!(&bytes[..SEALED_HEADER_LEN], &header.encode()[..]);
                prop_assert_eq!(&bytes[SEALED_HEADER_LEN..], &ciphertext[..]);
            }
            Datagram::Handshake(_) => {}
            Datagram::NoSession { .. } => prop_assert_eq!(bytes.len(), 7),
        }

        // `encode` appends: what was in the buffer stays, and the rest is `to_bytes`.
        let mut out = vec![0xAB; 7];
        datagram.encode(&mut out);
        prop_assert_eq!(&out[..7], &[0xAB; 7][..]);
        prop_assert_eq!(&out[7..], &bytes[..]);
    }

    #[test]
    fn every_message_round_trips_and_fits_a_sealed_frame(message in message()) {
        let bytes = message_bytes(&message);
        prop_assert!(
            SEALED_HEADER_LEN + bytes.len() + TAG_LEN <= MAX_DATAGRAM,
            "{} bytes do not fit a frame: {:?}; {}", bytes.len(), message, reproduce()
        );
        prop_assert_eq!(decode_message(&bytes), Ok(message.clone()), "{}", reproduce());
        prop_assert_eq!(message.tx(), match &message {
            Message::Request { tx, .. } | Message::Response { tx, .. } => Some(*tx),
            Message::Notice(_) | Message::Stream(_) => None,
        });
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
        check_decode(&bytes)?;
        check_decode_message(&bytes)?;
        if bytes.len() > MAX_DATAGRAM {
            prop_assert_eq!(decode(&bytes), Err(DecodeError::TooLong(bytes.len())));
        }
    }

    #[test]
    fn decode_never_panics_on_plausible_headers(
        datagram in plausible_datagram(),
        message in plausible_message(),
    ) {
        check_decode(&datagram)?;
        check_decode_message(&message)?;
    }

    #[test]
    fn decode_of_a_mutated_datagram_never_panics_and_stays_canonical(
        datagram in datagram(),
        mutation in mutation(),
    ) {
        let mut bytes = datagram.to_bytes();
        apply(&mutation, &mut bytes);
        check_decode(&bytes)?;

        // Fixed-size kinds are read field by field and must consume the input exactly,
        // so a strict prefix lacks a field and anything appended is left over. (A sealed
        // frame's ciphertext takes whatever follows its header, and so does the frame
        // beside msg3 or msg4.)
        let variable = matches!(
            datagram,
            Datagram::Sealed { .. }
                | Datagram::Handshake(Handshake::Auth { early: Some(_), .. })
                | Datagram::Handshake(Handshake::Accept { early: Some(_), .. })
        );
        if !variable {
            match &mutation {
                Mutation::Truncate { .. } => prop_assert!(
                    matches!(decode(&bytes), Err(DecodeError::Truncated { .. })),
                    "prefix of {} bytes: {:?}; {}", bytes.len(), decode(&bytes), reproduce()
                ),
                Mutation::Extend { tail } => prop_assert_eq!(
                    decode(&bytes),
                    Err(DecodeError::TrailingBytes(tail.len())),
                    "{}", reproduce()
                ),
                _ => {}
            }
        }
    }

    #[test]
    fn decode_of_a_mutated_message_never_panics_and_stays_canonical(
        message in message(),
        mutation in mutation(),
    ) {
        let mut bytes = message_bytes(&message);
        apply(&mutation, &mut bytes);
        check_decode_message(&bytes)?;
        match &mutation {
            Mutation::Truncate { .. } => prop_assert!(
                matches!(decode_message(&bytes), Err(DecodeError::Truncated { .. })),
                "prefix of {} bytes: {:?}; {}", bytes.len(), decode_message(&bytes), reproduce()
            ),
            Mutation::Extend { tail } => prop_assert_eq!(
                decode_message(&bytes),
                Err(DecodeError::TrailingBytes(tail.len())),
                "{}", reproduce()
            ),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixed cases next to the properties
// ---------------------------------------------------------------------------------------

fn answer(response: Response) -> Message {
    Message::Response {
        tx: TxId(0x0102_0304),
        response,
    }
}

#[test]
fn error_code_one_is_busy() {
    let other = message_bytes(&answer(Response::Error {
        code: ErrorCode::Other(1),
    }));
    let busy = answer(Response::Error {
        code: ErrorCode::Busy,
    });
    // Two values, one encoding: the byte decides, and it decodes as `Busy`.
    assert_eq!(other, message_bytes(&busy));
    assert_eq!(decode_message(&other), Ok(busy));
}

#[test]
fn the_largest_message_is_twenty_ipv6_contacts_and_fits_a_frame() {
    let contact = WireContact {
        id: NodeId([0xFF; 32]),
        addr: "[2001:db8::1]:65535".parse().unwrap(),
    };
    let largest = answer(Response::Nodes {
        contacts: vec![contact; MAX_CONTACTS],
        token: [0xFF; 16],
    });
    let bytes = message_bytes(&largest);
    // Type 1, tx 4, token 16, count 1, then id 32 + family 1 + ip 16 + port 2 per contact.
    assert_eq!(
        bytes.len(),
        1 + 4 + 16 + 1 + MAX_CONTACTS * (32 + 1 + 16 + 2)
    );
    assert!(SEALED_HEADER_LEN + bytes.len() + TAG_LEN <= MAX_DATAGRAM);
    assert_eq!(decode_message(&bytes), Ok(largest));
}

#[test]
fn a_sealed_frame_needs_at_least_a_tag() {
    let header = SealedHeader {
        flags: FrameFlags::default(),
        receiver: SessionId(7),
        counter: 9,
    }
    .encode();
    for len in 0..TAG_LEN {
        let mut bytes = header.to_vec();
        bytes.extend(std::iter::repeat_n(0, len));
        assert!(decode(&bytes).is_err(), "{len} bytes of ciphertext");
    }
    let mut bytes = header.to_vec();
    bytes.extend([0; TAG_LEN]);
    assert!(decode(&bytes).is_ok());
}

/// The module docs say a `Who` is "zero padding to a beacon's length" and that "every
/// datagram has exactly one encoding": a `Who` with any non-zero padding byte must not
/// decode (it once did, and encoded back with zeros).
#[test]
fn who_padding_must_be_zero() {
    let who = Datagram::Who {
        network_tag: [0; NETWORK_TAG_LEN],
    };
    let mut bytes = who.to_bytes();
    assert_eq!(bytes.len(), BEACON_LEN);
    *bytes.last_mut().unwrap() = 1;
    assert!(
        decode(&bytes).is_err(),
        "{:02x?} decodes to {:?}",
        bytes,
        decode(&bytes)
    );
}

fn signed_peer() -> impl Strategy<Value = SignedPeer> {
    (
        node_id(),
        prop::collection::vec(socket_addr(), 0..=MAX_RELAYS),
        any::<u64>(),
        any::<[u8; 64]>(),
    )
        .prop_map(|(public_key, relays, unix_secs, signature)| SignedPeer {
            public_key,
            relays,
            unix_secs,
            signature,
        })
}

proptest! {
    #![proptest_config(config(256))]

    /// A topic answer of any signed announcements, more than fit included, encodes
    /// within a sealed frame and decodes to a prefix of them: every one whole, its
    /// signature with it, as many as fit and at most `MAX_PEERS`.
    #[test]
    fn a_topic_answer_fits_a_frame_and_decodes_to_a_prefix(
        peers in prop::collection::vec(signed_peer(), 0..=2 * MAX_PEERS),
        tx in any::<u32>(),
    ) {
        let message = Message::Response { tx: TxId(tx), response: Response::Peers { peers: peers.clone() } };
        let bytes = message_bytes(&message);
        prop_assert!(SEALED_HEADER_LEN + bytes.len() + TAG_LEN <= MAX_DATAGRAM, "{} bytes; {}", bytes.len(), reproduce());
        let Ok(Message::Response { response: Response::Peers { peers: got }, .. }) = decode_message(&bytes) else {
            return Err(TestCaseError::fail(format!("does not decode; {}", reproduce())));
        };
        prop_assert!(got.len() <= MAX_PEERS);
        prop_assert_eq!(&got[..], &peers[..got.len()], "{}", reproduce());
        // Cut only for room: one more would not have fitted.
        if got.len() < peers.len().min(MAX_PEERS) {
            let mut more = got.clone();
            more.push(peers[got.len()].clone());
            let longer = Message::Response { tx: TxId(tx), response: Response::Peers { peers: more } };
            let mut out = Vec::new();
            longer.encode(&mut out);
            prop_assert_eq!(decode_message(&out), decode_message(&bytes), "{}", reproduce());
        }
    }
}
