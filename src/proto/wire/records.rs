//! The byte encoding of the record messages: immutable and mutable put/get,
//! announce/unannounce and topic peers. Their shapes are in the parent module; this
//! keeps the codec beside them without growing it past reading.
//!
//! Sizes: a value is at most [`MAX_VALUE`] bytes and a salt [`MAX_SALT`], so the
//! largest message, a mutable put, is 1,160 bytes, within [`MAX_MESSAGE`]. A topic
//! answer carries each announcement signed ([`SignedPeer`]: 105 bytes and its relays'
//! addresses), as many as fit one sealed datagram: [`MAX_PEERS`] (11) without relays,
//! 9 with three IPv4 relays each, 7 with three IPv6 relays each ([`peers_that_fit`]).

use super::{
    put_addr, put_head, Announcement, DecodeError, Key, Message, MutableRecord, NodeId, Reader,
    Refusal, Request, Response, SignedPeer, TxId, Unannounce, MAX_DATAGRAM, SEALED_HEADER_LEN,
    TAG_LEN,
};
use crate::proto::identity::SIGNATURE_LEN;
use crate::proto::store::{MAX_RELAYS, MAX_SALT, MAX_VALUE};

/// The largest message a sealed datagram carries.
pub const MAX_MESSAGE: usize = MAX_DATAGRAM - SEALED_HEADER_LEN - TAG_LEN;
/// A [`Response::Peers`] before its entries: type, transaction id, count.
const PEERS_HEAD_LEN: usize = 1 + 4 + 1;
/// A [`SignedPeer`] without relays: public key, unix seconds, relay count, signature.
const SIGNED_PEER_LEN: usize = 32 + 8 + 1 + SIGNATURE_LEN;
/// Most announcements in one [`Response::Peers`]: as many as fit without relays.
pub const MAX_PEERS: usize = (MAX_MESSAGE - PEERS_HEAD_LEN) / SIGNED_PEER_LEN;

const MSG_IMMUTABLE_PUT: u8 = 0x03;
const MSG_IMMUTABLE_GET: u8 = 0x04;
const MSG_MUTABLE_PUT: u8 = 0x05;
const MSG_MUTABLE_GET: u8 = 0x06;
const MSG_ANNOUNCE: u8 = 0x07;
const MSG_UNANNOUNCE: u8 = 0x08;
const MSG_GET_PEERS: u8 = 0x09;
const MSG_STORED: u8 = 0x83;
const MSG_REFUSED: u8 = 0x84;
const MSG_IMMUTABLE: u8 = 0x85;
const MSG_MUTABLE: u8 = 0x86;
const MSG_PEERS: u8 = 0x87;

fn refusal_code(refusal: Refusal) -> u8 {
    match refusal {
        Refusal::BadToken => 1,
        Refusal::TooLarge => 2,
        Refusal::BadSignature => 3,
        Refusal::SeqTooLow => 4,
        Refusal::SeqConflict => 5,
        Refusal::Full => 6,
        Refusal::PeerQuota => 7,
        Refusal::Stale => 8,
        Refusal::Future => 9,
        Refusal::BlockQuota => 10,
    }
}

fn refusal_from(code: u8) -> Result<Refusal, DecodeError> {
    Ok(match code {
        1 => Refusal::BadToken,
        2 => Refusal::TooLarge,
        3 => Refusal::BadSignature,
        4 => Refusal::SeqTooLow,
        5 => Refusal::SeqConflict,
        6 => Refusal::Full,
        7 => Refusal::PeerQuota,
        8 => Refusal::Stale,
        9 => Refusal::Future,
        10 => Refusal::BlockQuota,
        other => return Err(DecodeError::UnknownRefusal(other)),
    })
}

fn put_bytes16(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn read_value(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let len = usize::from(r.u16()?);
    if len > MAX_VALUE {
        return Err(DecodeError::TooLarge {
            field: "value",
            len,
        });
    }
    Ok(r.take(len)?.to_vec())
}

fn put_record(out: &mut Vec<u8>, record: &MutableRecord) {
    out.extend_from_slice(record.public_key.as_bytes());
    out.push(record.salt.len() as u8);
    out.extend_from_slice(&record.salt);
    out.extend_from_slice(&record.seq.to_be_bytes());
    out.extend_from_slice(&record.signature);
    put_bytes16(out, &record.value);
}

fn read_record(r: &mut Reader<'_>) -> Result<MutableRecord, DecodeError> {
    let public_key = NodeId(r.array()?);
    let salt_len = usize::from(r.u8()?);
    if salt_len > MAX_SALT {
        return Err(DecodeError::TooLarge {
            field: "salt",
            len: salt_len,
        });
    }
    let salt = r.take(salt_len)?.to_vec();
    let seq = r.u64()?;
    let signature = r.array()?;
    let value = read_value(r)?;
    Ok(MutableRecord {
        public_key,
        salt,
        seq,
        value,
        signature,
    })
}

fn put_relays(out: &mut Vec<u8>, relays: &[std::net::SocketAddr]) {
    debug_assert!(relays.len() <= MAX_RELAYS);
    let relays = &relays[..relays.len().min(MAX_RELAYS)];
    out.push(relays.len() as u8);
    for relay in relays {
        put_addr(out, relay);
    }
}

fn read_relays(r: &mut Reader<'_>) -> Result<Vec<std::net::SocketAddr>, DecodeError> {
    let n = usize::from(r.u8()?);
    if n > MAX_RELAYS {
        return Err(DecodeError::TooLarge {
            field: "relay list",
            len: n,
        });
    }
    (0..n).map(|_| r.addr()).collect()
}

fn addr_len(addr: &std::net::SocketAddr) -> usize {
    if addr.is_ipv4() {
        7
    } else {
        19
    }
}

/// How many of `peers` fit one [`Response::Peers`] (at most [`MAX_PEERS`]).
pub fn peers_that_fit(peers: &[SignedPeer]) -> usize {
    let mut size = PEERS_HEAD_LEN;
    let mut n = 0;
    for peer in peers.iter().take(MAX_PEERS) {
        let relays = peer.relays.iter().take(MAX_RELAYS);
        size += SIGNED_PEER_LEN + relays.map(addr_len).sum::<usize>();
        if size > MAX_MESSAGE {
            break;
        }
        n += 1;
    }
    n
}

/// Encodes a record request (not `Ping` or `FindNode`).
pub(super) fn write_request(out: &mut Vec<u8>, tx: TxId, request: &Request) {
    match request {
        Request::Ping | Request::FindNode { .. } | Request::Punch { .. } => {
            unreachable!("encoded by the parent")
        }
        Request::ImmutablePut { token, value } => {
            put_head(out, MSG_IMMUTABLE_PUT, tx);
            out.extend_from_slice(token);
            put_bytes16(out, value);
        }
        Request::ImmutableGet { key } => {
            put_head(out, MSG_IMMUTABLE_GET, tx);
            out.extend_from_slice(&key.0);
        }
        Request::MutablePut { token, record } => {
            put_head(out, MSG_MUTABLE_PUT, tx);
            out.extend_from_slice(token);
            put_record(out, record);
        }
        Request::MutableGet { key, seq } => {
            put_head(out, MSG_MUTABLE_GET, tx);
            out.extend_from_slice(&key.0);
            out.extend_from_slice(&seq.to_be_bytes());
        }
        Request::Announce {
            token,
            announcement,
        } => {
            put_head(out, MSG_ANNOUNCE, tx);
            out.extend_from_slice(token);
            out.extend_from_slice(&announcement.topic.0);
            out.extend_from_slice(announcement.public_key.as_bytes());
            out.extend_from_slice(&announcement.unix_secs.to_be_bytes());
            put_relays(out, &announcement.relays);
            out.extend_from_slice(&announcement.signature);
        }
        Request::Unannounce { token, unannounce } => {
            put_head(out, MSG_UNANNOUNCE, tx);
            out.extend_from_slice(token);
            out.extend_from_slice(&unannounce.topic.0);
            out.extend_from_slice(unannounce.public_key.as_bytes());
            out.extend_from_slice(&unannounce.unix_secs.to_be_bytes());
            out.extend_from_slice(&unannounce.signature);
        }
        Request::GetPeers { topic } => {
            put_head(out, MSG_GET_PEERS, tx);
            out.extend_from_slice(&topic.0);
        }
    }
}

/// Encodes a record response (not `Pong`, `Nodes` or `Error`). A peer list is cut to
/// what fits ([`peers_that_fit`]).
pub(super) fn write_response(out: &mut Vec<u8>, tx: TxId, response: &Response) {
    match response {
        Response::Pong { .. }
        | Response::Nodes { .. }
        | Response::Error { .. }
        | Response::Punch { .. } => {
            unreachable!("encoded by the parent")
        }
        Response::Stored => put_head(out, MSG_STORED, tx),
        Response::Refused(refusal) => {
            put_head(out, MSG_REFUSED, tx);
            out.push(refusal_code(*refusal));
        }
        Response::Immutable { value } => {
            put_head(out, MSG_IMMUTABLE, tx);
            match value {
                Some(value) => {
                    out.push(1);
                    put_bytes16(out, value);
                }
                None => out.push(0),
            }
        }
        Response::Mutable { record } => {
            put_head(out, MSG_MUTABLE, tx);
            match record {
                Some(record) => {
                    out.push(1);
                    put_record(out, record);
                }
                None => out.push(0),
            }
        }
        Response::Peers { peers } => {
            put_head(out, MSG_PEERS, tx);
            let n = peers_that_fit(peers);
            out.push(n as u8);
            for peer in &peers[..n] {
                out.extend_from_slice(peer.public_key.as_bytes());
                out.extend_from_slice(&peer.unix_secs.to_be_bytes());
                put_relays(out, &peer.relays);
                out.extend_from_slice(&peer.signature);
            }
        }
    }
}

/// Decodes the record message of type `kind`, whose head has been read.
pub(super) fn read(r: &mut Reader<'_>, kind: u8, tx: TxId) -> Result<Message, DecodeError> {
    let request = |request| Ok(Message::Request { tx, request });
    let response = |response| Ok(Message::Response { tx, response });
    match kind {
        MSG_IMMUTABLE_PUT => request(Request::ImmutablePut {
            token: r.array()?,
            value: read_value(r)?,
        }),
        MSG_IMMUTABLE_GET => request(Request::ImmutableGet {
            key: Key(r.array()?),
        }),
        MSG_MUTABLE_PUT => request(Request::MutablePut {
            token: r.array()?,
            record: read_record(r)?,
        }),
        MSG_MUTABLE_GET => request(Request::MutableGet {
            key: Key(r.array()?),
            seq: r.u64()?,
        }),
        MSG_ANNOUNCE => {
            let token = r.array()?;
            let topic = Key(r.array()?);
            let public_key = NodeId(r.array()?);
            let unix_secs = r.u64()?;
            let relays = read_relays(r)?;
            let signature = r.array()?;
            request(Request::Announce {
                token,
                announcement: Announcement {
                    topic,
                    public_key,
                    relays,
                    unix_secs,
                    signature,
                },
            })
        }
        MSG_UNANNOUNCE => request(Request::Unannounce {
            token: r.array()?,
            unannounce: Unannounce {
                topic: Key(r.array()?),
                public_key: NodeId(r.array()?),
                unix_secs: r.u64()?,
                signature: r.array()?,
            },
        }),
        MSG_GET_PEERS => request(Request::GetPeers {
            topic: Key(r.array()?),
        }),
        MSG_STORED => response(Response::Stored),
        MSG_REFUSED => response(Response::Refused(refusal_from(r.u8()?)?)),
        MSG_IMMUTABLE => {
            let value = match r.u8()? {
                0 => None,
                _ => Some(read_value(r)?),
            };
            response(Response::Immutable { value })
        }
        MSG_MUTABLE => {
            let record = match r.u8()? {
                0 => None,
                _ => Some(read_record(r)?),
            };
            response(Response::Mutable { record })
        }
        MSG_PEERS => {
            let n = usize::from(r.u8()?);
            if n > MAX_PEERS {
                return Err(DecodeError::TooLarge {
                    field: "peer list",
                    len: n,
                });
            }
            let mut peers = Vec::with_capacity(n);
            for _ in 0..n {
                peers.push(SignedPeer {
                    public_key: NodeId(r.array()?),
                    unix_secs: r.u64()?,
                    relays: read_relays(r)?,
                    signature: r.array()?,
                });
            }
            response(Response::Peers { peers })
        }
        other => Err(DecodeError::UnknownMessage(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::decode_message;

    fn round_trip(message: Message) {
        let mut out = Vec::new();
        message.encode(&mut out);
        assert!(out.len() <= MAX_MESSAGE, "{} bytes", out.len());
        assert_eq!(decode_message(&out), Ok(message));
    }

    #[test]
    fn largest_mutable_put_fits_a_sealed_datagram() {
        let record = MutableRecord {
            public_key: NodeId([7; 32]),
            salt: vec![1; MAX_SALT],
            seq: u64::MAX,
            value: vec![2; MAX_VALUE],
            signature: [3; 64],
        };
        round_trip(Message::Request {
            tx: TxId(9),
            request: Request::MutablePut {
                token: [4; 16],
                record: record.clone(),
            },
        });
        round_trip(Message::Response {
            tx: TxId(9),
            response: Response::Mutable {
                record: Some(record),
            },
        });
    }

    #[test]
    fn every_record_message_round_trips() {
        let relays = vec!["10.0.0.1:7000".parse().unwrap(), "[::1]:9".parse().unwrap()];
        let messages = [
            Request::ImmutablePut {
                token: [1; 16],
                value: vec![5; MAX_VALUE],
            },
            Request::ImmutableGet { key: Key([2; 32]) },
            Request::MutableGet {
                key: Key([3; 32]),
                seq: 17,
            },
            Request::Announce {
                token: [1; 16],
                announcement: Announcement {
                    topic: Key([4; 32]),
                    public_key: NodeId([5; 32]),
                    relays: relays.clone(),
                    unix_secs: 1_700_000_000,
                    signature: [6; 64],
                },
            },
            Request::Unannounce {
                token: [1; 16],
                unannounce: Unannounce {
                    topic: Key([4; 32]),
                    public_key: NodeId([5; 32]),
                    unix_secs: 1_700_000_001,
                    signature: [6; 64],
                },
            },
            Request::GetPeers {
                topic: Key([4; 32]),
            },
        ];
        for request in messages {
            round_trip(Message::Request {
                tx: TxId(1),
                request,
            });
        }
        let responses = [
            Response::Stored,
            Response::Refused(Refusal::SeqConflict),
            Response::Immutable { value: None },
            Response::Immutable {
                value: Some(b"hello".to_vec()),
            },
            Response::Mutable { record: None },
            Response::Peers {
                peers: vec![SignedPeer {
                    public_key: NodeId([8; 32]),
                    relays,
                    unix_secs: 1_700_000_002,
                    signature: [9; 64],
                }],
            },
        ];
        for response in responses {
            round_trip(Message::Response {
                tx: TxId(2),
                response,
            });
        }
    }

    fn signed_peers(n: usize, relays: &[std::net::SocketAddr]) -> Vec<SignedPeer> {
        (0..n as u8)
            .map(|i| SignedPeer {
                public_key: NodeId([i; 32]),
                relays: relays.to_vec(),
                unix_secs: u64::from(i),
                signature: [i; 64],
            })
            .collect()
    }

    #[test]
    fn signed_peers_fit_eleven_bare_nine_with_ipv4_relays_seven_with_ipv6() {
        let v4: std::net::SocketAddr = "192.0.2.1:1".parse().unwrap();
        let v6: std::net::SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(MAX_PEERS, 11);
        for (relays, fit) in [(vec![], 11), (vec![v4; 3], 9), (vec![v6; 3], 7)] {
            let peers = signed_peers(20, &relays);
            assert_eq!(peers_that_fit(&peers), fit, "{relays:?}");
            let mut out = Vec::new();
            Message::Response {
                tx: TxId(3),
                response: Response::Peers { peers },
            }
            .encode(&mut out);
            assert!(out.len() <= MAX_MESSAGE, "{} bytes", out.len());
        }
        // Eleven bare ones: 6 + 11 × 105 bytes.
        let mut out = Vec::new();
        let peers = signed_peers(MAX_PEERS, &[]);
        write_response(&mut out, TxId(1), &Response::Peers { peers });
        assert_eq!(out.len(), 1_161);
    }

    #[test]
    fn a_peer_list_is_cut_to_what_fits() {
        let v6: std::net::SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let peers = signed_peers(MAX_PEERS, &[v6; MAX_RELAYS]);
        let n = peers_that_fit(&peers);
        assert!(n < MAX_PEERS && n > 0);
        let mut out = Vec::new();
        Message::Response {
            tx: TxId(3),
            response: Response::Peers {
                peers: peers.clone(),
            },
        }
        .encode(&mut out);
        assert!(out.len() <= MAX_MESSAGE);
        let Ok(Message::Response {
            response: Response::Peers { peers: got },
            ..
        }) = decode_message(&out)
        else {
            panic!("does not decode");
        };
        assert_eq!(got, peers[..n]);
        // Without relays, all fit.
        assert_eq!(peers_that_fit(&signed_peers(MAX_PEERS, &[])), MAX_PEERS);
    }

    #[test]
    fn oversized_fields_and_unknown_refusals_are_errors() {
        let mut out = Vec::new();
        put_head(&mut out, MSG_IMMUTABLE_PUT, TxId(1));
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&((MAX_VALUE + 1) as u16).to_be_bytes());
        out.resize(out.len() + MAX_VALUE + 1, 0);
        assert!(matches!(
            decode_message(&out),
            Err(DecodeError::TooLarge { field: "value", .. })
        ));
        let mut out = Vec::new();
        put_head(&mut out, MSG_REFUSED, TxId(1));
        out.push(200);
        assert_eq!(decode_message(&out), Err(DecodeError::UnknownRefusal(200)));
    }
}
