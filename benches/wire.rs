//! Wire codec benches: encode and decode of each kind of datagram, and of each RPC
//! message as it travels inside a sealed frame (plaintext codec only: sealing and
//! opening are the session's cost, not the codec's).
//!
//! Encoding appends to a reused buffer, as a driver does; decoding reads a prepared
//! encoding. The inputs are fixed.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dswarm::proto::crypto::TAG_LEN;
use dswarm::proto::wire::{
    decode, decode_message, Beacon, Datagram, ErrorCode, FrameFlags, Handshake, Message, Request,
    Response, SealedHeader, SessionId, TxId, WireContact, MAX_CONTACTS,
};
use dswarm::proto::NodeId;

fn id(n: u8) -> NodeId {
    NodeId(std::array::from_fn(|i| {
        n.wrapping_mul(31).wrapping_add(i as u8)
    }))
}

fn request(request: Request) -> Message {
    Message::Request {
        tx: TxId(0xDEAD_BEEF),
        request,
    }
}

fn response(response: Response) -> Message {
    Message::Response {
        tx: TxId(0xDEAD_BEEF),
        response,
    }
}

fn nodes(v6: bool) -> Message {
    let contacts = (0..MAX_CONTACTS)
        .map(|i| {
            let addr: SocketAddr = if v6 {
                SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 1], 7000))
            } else {
                SocketAddr::from(([10, 0, 0, i as u8 + 1], 7000))
            };
            WireContact {
                id: id(i as u8 + 10),
                addr,
            }
        })
        .collect();
    response(Response::Nodes {
        contacts,
        token: [7; 16],
    })
}

fn message_bytes(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out);
    out
}

/// Every RPC message, named.
fn messages() -> Vec<(&'static str, Message)> {
    vec![
        ("ping", request(Request::Ping)),
        ("find_node", request(Request::FindNode { target: id(4) })),
        (
            "pong",
            response(Response::Pong {
                observed: "10.1.2.3:7000".parse().unwrap(),
            }),
        ),
        ("nodes20_v4", nodes(false)),
        ("nodes20_v6", nodes(true)),
        (
            "error",
            response(Response::Error {
                code: ErrorCode::Busy,
            }),
        ),
    ]
}

/// Every datagram kind, named; the sealed frame is as long as a sealed `nodes20_v4`.
fn datagrams() -> Vec<(&'static str, Datagram)> {
    let mut ciphertext = message_bytes(&nodes(false));
    ciphertext.extend_from_slice(&[0xEE; TAG_LEN]);
    vec![
        (
            "beacon",
            Datagram::Beacon(Beacon {
                id: id(3),
                port: 17761,
                unix_secs: 1_800_000_000,
                network_tag: [7; 8],
                signature: [9; 64],
            }),
        ),
        (
            "who",
            Datagram::Who {
                network_tag: [7; 8],
            },
        ),
        (
            "hello",
            Datagram::Handshake(Handshake::Hello {
                client: SessionId(5),
                msg: [1; 64],
            }),
        ),
        (
            "auth",
            Datagram::Handshake(Handshake::Auth {
                server: SessionId(6),
                msg: [2; 112],
                early: None,
            }),
        ),
        (
            "sealed_nodes20_v4",
            Datagram::Sealed {
                header: SealedHeader {
                    flags: FrameFlags::default(),
                    receiver: SessionId(6),
                    counter: 1 << 40,
                },
                ciphertext,
            },
        ),
    ]
}

fn wire(c: &mut Criterion) {
    let mut buf = Vec::with_capacity(2048);
    for (name, datagram) in datagrams() {
        let bytes = datagram.to_bytes();
        assert_eq!(decode(&bytes).as_ref(), Ok(&datagram));
        eprintln!("wire: datagram {name} is {} bytes", bytes.len());
        c.bench_function(&format!("wire/encode/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                black_box(&datagram).encode(&mut buf);
                black_box(buf.len())
            });
        });
        c.bench_function(&format!("wire/decode/{name}"), |b| {
            b.iter(|| black_box(decode(black_box(&bytes))));
        });
    }
    for (name, message) in messages() {
        let bytes = message_bytes(&message);
        assert_eq!(decode_message(&bytes).as_ref(), Ok(&message));
        eprintln!("wire: message {name} is {} bytes", bytes.len());
        c.bench_function(&format!("wire/encode/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                black_box(&message).encode(&mut buf);
                black_box(buf.len())
            });
        });
        c.bench_function(&format!("wire/decode/{name}"), |b| {
            b.iter(|| black_box(decode_message(black_box(&bytes))));
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = wire
}
criterion_main!(benches);
