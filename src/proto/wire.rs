//! The byte encoding of every datagram dswarm sends.
//!
//! In: a [`Datagram`] to [`Datagram::encode`], or any bytes at all to [`decode`].
//! Out: at most [`MAX_DATAGRAM`] bytes, or a [`DecodeError`] that says what was wrong.
//! [`decode`] never panics and never reads past its input.
//!
//! Every datagram starts with a three-byte header: [`MAGIC`], [`VERSION`] and a kind.
//!
//! | kind | datagram | body |
//! |---|---|---|
//! | `0x01` | [`Beacon`] | id 32, port u16, unix seconds u64, network tag 8, signature 64 |
//! | `0x02` | [`Datagram::Who`]: "send me your beacon" | network tag 8, zero padding to a beacon's length |
//! | `0x11` | [`Handshake::Hello`] (SHS1 msg1) | client session u32, msg1 64 |
//! | `0x12` | [`Handshake::HelloReply`] (msg2) | client session u32, server session u32, msg2 64 |
//! | `0x13` | [`Handshake::Auth`] (msg3) | server session u32, msg3 112, then optionally the client's first sealed frame (a whole sealed datagram) |
//! | `0x14` | [`Handshake::Accept`] (msg4) | client session u32, msg4 80, then optionally the server's first sealed frame (a whole sealed datagram) |
//! | `0x15` | [`Handshake::Cookie`]: a loaded server's answer to a hello, "say it again with this" | client session u32, cookie 16 |
//! | `0x16` | [`Handshake::CookieHello`]: msg1 again, with the cookie beside it | client session u32, msg1 64, cookie 16 |
//! | `0x20` | [`Datagram::Sealed`]: a session frame | receiver session u32, counter u64, AEAD ciphertext of a [`Message`] |
//! | `0x21` | the same, from a sender that asks not to be listed (it sits behind a NAT) | as `0x20` |
//! | `0x24`, `0x25` | `0x20` and `0x21` from a sender that keeps the session (the receiver is in its routing table, or would be taken in): the receiver keeps it too | as `0x20` |
//! | `0x22` | [`Datagram::NoSession`]: "I hold no session `receiver`" | receiver session u32 |
//!
//! Only beacons, `Who` and the handshake travel in the clear; every RPC [`Message`]
//! travels sealed, authenticated together with the frame's header. A `Who` is padded
//! to the size of the beacon it asks for, so it cannot amplify traffic. A cookie reply
//! (`0x15`, 23 bytes) is smaller than the hello (71 bytes) that draws it, for the same
//! reason; the cookie travels beside the SHS1 bytes, never inside them.
//!
//! A [`Message`] is a type byte, a 32-bit transaction id, then its fields; a one-way
//! [`Notice`] has no transaction id (see the `traversal` module). Integers are
//! big-endian; addresses are a family byte (4 or 6), the IP and a port. Trailing bytes
//! are an error, so every datagram has exactly one encoding.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::crypto::TAG_LEN;
use super::id::{Key, NodeId, ID_LEN};
use super::identity::SIGNATURE_LEN;
use super::store::{Announcement, MutableRecord, Refusal, SignedPeer, Token, Unannounce};

mod records;
mod stream;
mod traversal;

pub use records::{MAX_MESSAGE, MAX_PEERS};
pub use stream::{ResetCode, StreamFrame, DATA_HEADER_LEN, MAX_ACK_RANGES, MAX_STREAM_DATA};
pub use traversal::{path_notice, relayed_has_room, NatKind, Notice, MAX_RELAYED};

/// The largest datagram dswarm sends or accepts: fits a 1280-byte IPv6 MTU with room
/// for headers and tunnels.
pub const MAX_DATAGRAM: usize = 1200;
/// First byte of every dswarm datagram.
pub const MAGIC: u8 = 0xD5;
/// The wire version this code speaks.
pub const VERSION: u8 = 1;
/// Most contacts a [`Response::Nodes`] may carry (20 IPv6 contacts fit in a datagram).
pub const MAX_CONTACTS: usize = 20;
/// Length of a beacon's network tag.
pub const NETWORK_TAG_LEN: usize = 8;

const KIND_BEACON: u8 = 0x01;
const KIND_WHO: u8 = 0x02;
const KIND_HELLO: u8 = 0x11;
const KIND_HELLO_REPLY: u8 = 0x12;
const KIND_AUTH: u8 = 0x13;
const KIND_ACCEPT: u8 = 0x14;
const KIND_COOKIE: u8 = 0x15;
const KIND_COOKIE_HELLO: u8 = 0x16;
const KIND_SEALED: u8 = 0x20;
const KIND_SEALED_UNLISTED: u8 = 0x21;
const KIND_SEALED_KEEP: u8 = 0x24;
const KIND_SEALED_UNLISTED_KEEP: u8 = 0x25;
/// In a sealed frame's kind: the sender asks not to be listed.
const SEALED_UNLISTED_BIT: u8 = 0x01;
/// In a sealed frame's kind: the sender keeps the session.
const SEALED_KEEP_BIT: u8 = 0x04;
const KIND_NO_SESSION: u8 = 0x22;

/// Length of an encoded beacon (and of a padded `Who`).
pub const BEACON_LEN: usize = 3 + ID_LEN + 2 + 8 + NETWORK_TAG_LEN + SIGNATURE_LEN;
/// Length of a sealed frame's header: magic, version, kind, receiver session, counter.
pub const SEALED_HEADER_LEN: usize = 3 + 4 + 8;
/// Length of a handshake cookie ([`Handshake::Cookie`]).
pub const COOKIE_LEN: usize = 16;
/// Length of a hello datagram ([`Handshake::Hello`]).
pub const HELLO_DATAGRAM_LEN: usize = 3 + 4 + 64;
/// Length of a cookie reply datagram ([`Handshake::Cookie`]): under a third of the
/// hello that draws it.
pub const COOKIE_DATAGRAM_LEN: usize = 3 + 4 + COOKIE_LEN;

const MSG_PING: u8 = 0x01;
const MSG_FIND_NODE: u8 = 0x02;
const MSG_PONG: u8 = 0x81;
const MSG_NODES: u8 = 0x82;
const MSG_ERROR: u8 = 0xFF;

/// A transaction id: pairs a response with its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId(pub u32);

/// A session's number at one end, chosen by that end; frames carry the receiver's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u32);

/// A datagram, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datagram {
    /// A signed discovery beacon: multicast to a segment, or unicast in answer to
    /// [`Datagram::Who`].
    Beacon(Beacon),
    /// Asks the receiver for its beacon: how a node learns the id behind a bootstrap
    /// address.
    Who {
        /// The asker's network tag; another swarm's nodes stay silent.
        network_tag: [u8; NETWORK_TAG_LEN],
    },
    /// One of the four SHS1 messages.
    Handshake(Handshake),
    /// A session frame: a [`Message`] sealed under the session's keys.
    Sealed {
        /// Its header, authenticated with the frame: its flags, the receiver's
        /// session number and the counter.
        header: SealedHeader,
        /// The sealed message and its tag.
        ciphertext: Vec<u8>,
    },
    /// The answer to a sealed frame for a session the receiver does not hold (it
    /// restarted, or closed the session): the sender dials again instead of waiting
    /// for timeouts. Smaller than any frame that draws it, so it amplifies nothing.
    NoSession {
        /// The session number the frame named.
        receiver: SessionId,
    },
}

/// The SHS1 messages as datagrams, with the session numbers that pair them up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// msg1, client to server.
    Hello {
        /// The client's session number.
        client: SessionId,
        /// SHS1 msg1.
        msg: [u8; 64],
    },
    /// msg2, server to client.
    HelloReply {
        /// The client's session number.
        client: SessionId,
        /// The server's session number.
        server: SessionId,
        /// SHS1 msg2.
        msg: [u8; 64],
    },
    /// msg3, client to server.
    Auth {
        /// The server's session number.
        server: SessionId,
        /// SHS1 msg3.
        msg: [u8; 112],
        /// The client's first frame of the session, sealed with the keys it derived
        /// from msg2: the request the handshake was dialled for, a round trip early.
        /// A whole sealed datagram, so the server opens it like any other.
        early: Option<Vec<u8>>,
    },
    /// msg4, server to client.
    Accept {
        /// The client's session number.
        client: SessionId,
        /// SHS1 msg4.
        msg: [u8; 80],
        /// The server's first frame of the session: the answer to msg3's early
        /// request, in the same datagram as msg4 rather than one of its own. A whole
        /// sealed datagram, so the client opens it like any other.
        early: Option<Vec<u8>>,
    },
    /// A server under load to a hello that brought no valid cookie: "say it again with
    /// this cookie". It holds nothing for the hello: the cookie is a MAC, under a
    /// secret of its own, of the hello's source address, its session number and msg1,
    /// so only a client that receives at that address can send it back.
    Cookie {
        /// The client's session number (the hello's).
        client: SessionId,
        /// The cookie to send back beside msg1.
        cookie: [u8; COOKIE_LEN],
    },
    /// msg1 again, with the cookie a [`Handshake::Cookie`] gave it: the SHS1 bytes are
    /// those of the first hello, the cookie travels beside them.
    CookieHello {
        /// The client's session number.
        client: SessionId,
        /// SHS1 msg1, the same as the hello's.
        msg: [u8; 64],
        /// The cookie, as received.
        cookie: [u8; COOKIE_LEN],
    },
}

/// "I am here": a node's signed announcement on its multicast segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beacon {
    /// The sender's public key.
    pub id: NodeId,
    /// The UDP port the sender serves RPCs on (the IP is the datagram's source).
    pub port: u16,
    /// The sender's wall clock, in seconds since the Unix epoch.
    pub unix_secs: u64,
    /// Derived from the network key: beacons of other swarms are told apart cheaply.
    pub network_tag: [u8; NETWORK_TAG_LEN],
    /// The sender's signature over [`Beacon::signed_bytes`].
    pub signature: [u8; SIGNATURE_LEN],
}

impl Beacon {
    /// The bytes the signature covers: a domain label and every other field.
    pub fn signed_bytes(
        id: &NodeId,
        port: u16,
        unix_secs: u64,
        network_tag: &[u8; NETWORK_TAG_LEN],
    ) -> [u8; 16 + ID_LEN + 2 + 8 + NETWORK_TAG_LEN] {
        let mut out = [0u8; 16 + ID_LEN + 2 + 8 + NETWORK_TAG_LEN];
        let mut w = &mut out[..];
        for part in [
            &b"dswarm-beacon-v1"[..],
            id.as_bytes(),
            &port.to_be_bytes(),
            &unix_secs.to_be_bytes(),
            network_tag,
        ] {
            let (head, tail) = w.split_at_mut(part.len());
            head.copy_from_slice(part);
            w = tail;
        }
        out
    }
}

/// A request or a response, as carried in a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Asks the receiver to do something and answer with the same `tx`.
    Request {
        /// Chosen by the requester.
        tx: TxId,
        /// What is asked.
        request: Request,
    },
    /// Answers the request with the same `tx`.
    Response {
        /// Copied from the request.
        tx: TxId,
        /// The answer.
        response: Response,
    },
    /// One-way: nothing answers it.
    Notice(Notice),
    /// A frame of a reliable stream (see the `stream` module).
    Stream(StreamFrame),
}

/// What a node can ask a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Are you there? Answered with [`Response::Pong`].
    Ping,
    /// Which nodes do you know closest to `target`? Answered with [`Response::Nodes`].
    FindNode {
        /// The point of the id space asked about.
        target: NodeId,
    },
    /// Store an immutable value. Answered with [`Response::Stored`] or
    /// [`Response::Refused`].
    ImmutablePut {
        /// The write token the receiver gave in an earlier [`Response::Nodes`].
        token: Token,
        /// The value.
        value: Vec<u8>,
    },
    /// Which value is stored under `key`? Answered with [`Response::Immutable`].
    ImmutableGet {
        /// SHA-256 of the value.
        key: Key,
    },
    /// Store a signed mutable record.
    MutablePut {
        /// The write token.
        token: Token,
        /// The record.
        record: MutableRecord,
    },
    /// Which mutable record is stored under `key`, with at least `seq`? Answered with
    /// [`Response::Mutable`].
    MutableGet {
        /// SHA-256(public key ‖ salt).
        key: Key,
        /// The lowest `seq` wanted.
        seq: u64,
    },
    /// Store an announcement.
    Announce {
        /// The write token.
        token: Token,
        /// The signed announcement.
        announcement: Announcement,
    },
    /// Drop an announcement.
    Unannounce {
        /// The write token.
        token: Token,
        /// The signed withdrawal.
        unannounce: Unannounce,
    },
    /// Who is announced under `topic`? Answered with [`Response::Peers`].
    GetPeers {
        /// The topic.
        topic: Key,
    },
    /// Let us punch a hole: I send probes to your reflexive address now, you send
    /// yours to mine. Asked over a relayed session; answered with [`Response::Punch`].
    Punch {
        /// The requester's NAT, as it classified it.
        nat: NatKind,
        /// The requester's reflexive address, as peers report it.
        reflexive: SocketAddr,
    },
}

/// What a peer answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Answers [`Request::Ping`], telling the requester the address its datagram came
    /// from (its reflexive address).
    Pong {
        /// The requester's address as the responder saw it.
        observed: SocketAddr,
    },
    /// Answers [`Request::FindNode`]: up to [`MAX_CONTACTS`] contacts, closest first,
    /// and a token for writing to the responder.
    Nodes {
        /// The contacts.
        contacts: Vec<WireContact>,
        /// Good for writes from the requester's id and address for a while.
        token: Token,
    },
    /// A write was accepted.
    Stored,
    /// A write was refused.
    Refused(Refusal),
    /// Answers [`Request::ImmutableGet`].
    Immutable {
        /// The value, if held.
        value: Option<Vec<u8>>,
    },
    /// Answers [`Request::MutableGet`].
    Mutable {
        /// The record, if held with the `seq` asked for.
        record: Option<MutableRecord>,
    },
    /// Answers [`Request::GetPeers`]: the topic's announcements, signed, drawn at
    /// random by the holder; as many as fit one datagram, at most [`MAX_PEERS`].
    Peers {
        /// The announcements, without the topic the request named.
        peers: Vec<SignedPeer>,
    },
    /// Answers [`Request::Punch`]: the responder's side, and it starts probing.
    Punch {
        /// The responder's NAT.
        nat: NatKind,
        /// The responder's reflexive address.
        reflexive: SocketAddr,
    },
    /// The request was understood but refused.
    Error {
        /// Why.
        code: ErrorCode,
    },
}

/// A contact as it travels in [`Response::Nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WireContact {
    /// The node's id.
    pub id: NodeId,
    /// Where it serves RPCs.
    pub addr: SocketAddr,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The responder is over a limit; try later.
    Busy,
    /// A code this version does not know.
    Other(u8),
}

impl ErrorCode {
    fn to_byte(self) -> u8 {
        match self {
            ErrorCode::Busy => 1,
            ErrorCode::Other(code) => code,
        }
    }

    fn from_byte(code: u8) -> ErrorCode {
        match code {
            1 => ErrorCode::Busy,
            code => ErrorCode::Other(code),
        }
    }
}

/// Why bytes are not a valid datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early: `needed` more bytes at offset `at`.
    Truncated {
        /// Offset where the missing field starts.
        at: usize,
        /// Bytes the field needs.
        needed: usize,
    },
    /// Longer than [`MAX_DATAGRAM`].
    TooLong(usize),
    /// The first byte is not [`MAGIC`]: not a dswarm datagram.
    BadMagic(u8),
    /// A wire version this code does not speak.
    UnsupportedVersion(u8),
    /// A datagram kind this code does not know (or does not handle yet).
    UnknownKind(u8),
    /// A message type this code does not know.
    UnknownMessage(u8),
    /// An address family byte other than 4 or 6.
    BadAddressFamily(u8),
    /// A contact list longer than [`MAX_CONTACTS`].
    TooManyContacts(usize),
    /// Bytes left over after a complete datagram.
    TrailingBytes(usize),
    /// Padding that should be zeros is not, from this offset on.
    NonZeroPadding(usize),
    /// A field over its limit: value, salt, relay or peer list.
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A refusal code this version does not know.
    UnknownRefusal(u8),
    /// A NAT kind byte this version does not know.
    UnknownNatKind(u8),
    /// A stream reset code this version does not know.
    UnknownResetCode(u8),
    /// A flags byte with bits this version does not know.
    UnknownFlags(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { at, needed } => {
                write!(f, "truncated: {needed} more bytes needed at offset {at}")
            }
            DecodeError::TooLong(len) => {
                write!(f, "{len} bytes is over the {MAX_DATAGRAM}-byte limit")
            }
            DecodeError::BadMagic(b) => write!(f, "not a dswarm datagram (first byte {b:#04x})"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported wire version {v}"),
            DecodeError::UnknownKind(k) => write!(f, "unknown datagram kind {k:#04x}"),
            DecodeError::UnknownMessage(t) => write!(f, "unknown message type {t:#04x}"),
            DecodeError::BadAddressFamily(a) => write!(f, "bad address family {a}"),
            DecodeError::TooManyContacts(n) => {
                write!(f, "{n} contacts is over the limit of {MAX_CONTACTS}")
            }
            DecodeError::TrailingBytes(n) => write!(f, "{n} trailing bytes"),
            DecodeError::NonZeroPadding(at) => write!(f, "non-zero padding at offset {at}"),
            DecodeError::TooLarge { field, len } => write!(f, "{field} of {len} is over its limit"),
            DecodeError::UnknownRefusal(code) => write!(f, "unknown refusal code {code}"),
            DecodeError::UnknownNatKind(byte) => write!(f, "unknown NAT kind {byte}"),
            DecodeError::UnknownResetCode(byte) => write!(f, "unknown stream reset code {byte}"),
            DecodeError::UnknownFlags(byte) => write!(f, "unknown flags {byte:#04x}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The sealed frame that may follow msg3 or msg4 in the same datagram: `rest`, the
/// bytes after the message, which start at offset `at`. `None` if there are none; an
/// error if they are not a whole sealed datagram's worth.
fn early_frame(rest: &[u8], at: usize) -> Result<Option<Vec<u8>>, DecodeError> {
    if rest.is_empty() {
        return Ok(None);
    }
    let sealed = matches!(
        rest,
        [
            MAGIC,
            VERSION,
            KIND_SEALED | KIND_SEALED_UNLISTED | KIND_SEALED_KEEP | KIND_SEALED_UNLISTED_KEEP,
            ..
        ]
    );
    if !sealed {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    if rest.len() < SEALED_HEADER_LEN + TAG_LEN {
        return Err(DecodeError::Truncated {
            at: at + rest.len(),
            needed: SEALED_HEADER_LEN + TAG_LEN - rest.len(),
        });
    }
    Ok(Some(rest.to_vec()))
}

/// Decodes one datagram. Any input gives `Ok` or `Err`, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Datagram, DecodeError> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLong(bytes.len()));
    }
    let mut r = Reader { bytes, at: 0 };
    let magic = r.u8()?;
    if magic != MAGIC {
        return Err(DecodeError::BadMagic(magic));
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind = r.u8()?;
    let datagram = match kind {
        KIND_BEACON => Datagram::Beacon(Beacon {
            id: NodeId(r.array()?),
            port: r.u16()?,
            unix_secs: r.u64()?,
            network_tag: r.array()?,
            signature: r.array()?,
        }),
        KIND_WHO => {
            let network_tag = r.array()?;
            let at = r.at;
            if r.take(BEACON_LEN - 3 - NETWORK_TAG_LEN)?
                .iter()
                .any(|b| *b != 0)
            {
                return Err(DecodeError::NonZeroPadding(at));
            }
            Datagram::Who { network_tag }
        }
        KIND_HELLO => Datagram::Handshake(Handshake::Hello {
            client: SessionId(r.u32()?),
            msg: r.array()?,
        }),
        KIND_HELLO_REPLY => Datagram::Handshake(Handshake::HelloReply {
            client: SessionId(r.u32()?),
            server: SessionId(r.u32()?),
            msg: r.array()?,
        }),
        KIND_AUTH => {
            let server = SessionId(r.u32()?);
            let msg = r.array()?;
            let early = early_frame(r.rest(), 3 + 4 + 112)?;
            Datagram::Handshake(Handshake::Auth { server, msg, early })
        }
        KIND_ACCEPT => {
            let client = SessionId(r.u32()?);
            let msg = r.array()?;
            let early = early_frame(r.rest(), 3 + 4 + 80)?;
            Datagram::Handshake(Handshake::Accept { client, msg, early })
        }
        KIND_COOKIE => Datagram::Handshake(Handshake::Cookie {
            client: SessionId(r.u32()?),
            cookie: r.array()?,
        }),
        KIND_COOKIE_HELLO => Datagram::Handshake(Handshake::CookieHello {
            client: SessionId(r.u32()?),
            msg: r.array()?,
            cookie: r.array()?,
        }),
        KIND_SEALED | KIND_SEALED_UNLISTED | KIND_SEALED_KEEP | KIND_SEALED_UNLISTED_KEEP => {
            let receiver = SessionId(r.u32()?);
            let counter = r.u64()?;
            let rest = r.rest();
            if rest.len() < TAG_LEN {
                return Err(DecodeError::Truncated {
                    at: SEALED_HEADER_LEN,
                    needed: TAG_LEN,
                });
            }
            Datagram::Sealed {
                header: SealedHeader {
                    flags: FrameFlags {
                        unlisted: kind & SEALED_UNLISTED_BIT != 0,
                        keep: kind & SEALED_KEEP_BIT != 0,
                    },
                    receiver,
                    counter,
                },
                ciphertext: rest.to_vec(),
            }
        }
        KIND_NO_SESSION => Datagram::NoSession {
            receiver: SessionId(r.u32()?),
        },
        kind => return Err(DecodeError::UnknownKind(kind)),
    };
    r.finish()?;
    Ok(datagram)
}

/// Whether `bytes` look like a handshake message or a sealed frame (by their header
/// alone): the only datagrams a relay carries, opaque to it.
pub fn is_session_datagram(bytes: &[u8]) -> bool {
    matches!(
        bytes,
        [
            MAGIC,
            VERSION,
            KIND_HELLO
                | KIND_HELLO_REPLY
                | KIND_AUTH
                | KIND_ACCEPT
                | KIND_COOKIE
                | KIND_COOKIE_HELLO
                | KIND_SEALED
                | KIND_SEALED_UNLISTED
                | KIND_SEALED_KEEP
                | KIND_SEALED_UNLISTED_KEEP,
            ..
        ]
    )
}

/// Decodes the [`Message`] inside an opened session frame. Any input gives `Ok` or
/// `Err`, never a panic.
pub fn decode_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let message = read_message(&mut r)?;
    r.finish()?;
    Ok(message)
}

fn read_message(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    let kind = r.u8()?;
    if traversal::is_notice(kind) {
        return traversal::read_notice(r, kind);
    }
    if stream::is_stream_frame(kind) {
        return stream::read_frame(r, kind);
    }
    let tx = TxId(r.u32()?);
    Ok(match kind {
        MSG_PING => Message::Request {
            tx,
            request: Request::Ping,
        },
        MSG_FIND_NODE => Message::Request {
            tx,
            request: Request::FindNode {
                target: NodeId(r.array()?),
            },
        },
        MSG_PONG => Message::Response {
            tx,
            response: Response::Pong {
                observed: r.addr()?,
            },
        },
        MSG_NODES => {
            let token = r.array()?;
            let count = usize::from(r.u8()?);
            if count > MAX_CONTACTS {
                return Err(DecodeError::TooManyContacts(count));
            }
            let mut contacts = Vec::with_capacity(count);
            for _ in 0..count {
                contacts.push(WireContact {
                    id: NodeId(r.array()?),
                    addr: r.addr()?,
                });
            }
            Message::Response {
                tx,
                response: Response::Nodes { contacts, token },
            }
        }
        MSG_ERROR => Message::Response {
            tx,
            response: Response::Error {
                code: ErrorCode::from_byte(r.u8()?),
            },
        },
        traversal::MSG_PUNCH | traversal::MSG_PUNCH_REPLY => {
            return traversal::read_punch(r, kind, tx)
        }
        other => return records::read(r, other, tx),
    })
}

impl Datagram {
    /// Appends the encoding to `out`.
    ///
    /// The result is at most [`MAX_DATAGRAM`] bytes as long as a contact list holds at
    /// most [`MAX_CONTACTS`] entries, which the node guarantees (checked by
    /// `debug_assert!`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[MAGIC, VERSION]);
        match self {
            Datagram::Beacon(beacon) => {
                out.push(KIND_BEACON);
                out.extend_from_slice(beacon.id.as_bytes());
                out.extend_from_slice(&beacon.port.to_be_bytes());
                out.extend_from_slice(&beacon.unix_secs.to_be_bytes());
                out.extend_from_slice(&beacon.network_tag);
                out.extend_from_slice(&beacon.signature);
            }
            Datagram::Who { network_tag } => {
                out.push(KIND_WHO);
                out.extend_from_slice(network_tag);
                out.resize(start + BEACON_LEN, 0);
            }
            Datagram::NoSession { receiver } => {
                out.push(KIND_NO_SESSION);
                out.extend_from_slice(&receiver.0.to_be_bytes());
            }
            Datagram::Handshake(handshake) => match handshake {
                Handshake::Hello { client, msg } => {
                    out.push(KIND_HELLO);
                    out.extend_from_slice(&client.0.to_be_bytes());
                    out.extend_from_slice(msg);
                }
                Handshake::HelloReply {
                    client,
                    server,
                    msg,
                } => {
                    out.push(KIND_HELLO_REPLY);
                    out.extend_from_slice(&client.0.to_be_bytes());
                    out.extend_from_slice(&server.0.to_be_bytes());
                    out.extend_from_slice(msg);
                }
                Handshake::Auth { server, msg, early } => {
                    out.push(KIND_AUTH);
                    out.extend_from_slice(&server.0.to_be_bytes());
                    out.extend_from_slice(msg);
                    if let Some(early) = early {
                        out.extend_from_slice(early);
                    }
                }
                Handshake::Accept { client, msg, early } => {
                    out.push(KIND_ACCEPT);
                    out.extend_from_slice(&client.0.to_be_bytes());
                    out.extend_from_slice(msg);
                    if let Some(early) = early {
                        out.extend_from_slice(early);
                    }
                }
                Handshake::Cookie { client, cookie } => {
                    out.push(KIND_COOKIE);
                    out.extend_from_slice(&client.0.to_be_bytes());
                    out.extend_from_slice(cookie);
                }
                Handshake::CookieHello {
                    client,
                    msg,
                    cookie,
                } => {
                    out.push(KIND_COOKIE_HELLO);
                    out.extend_from_slice(&client.0.to_be_bytes());
                    out.extend_from_slice(msg);
                    out.extend_from_slice(cookie);
                }
            },
            Datagram::Sealed { header, ciphertext } => {
                out.extend_from_slice(&header.encode()[2..]);
                out.extend_from_slice(ciphertext);
            }
        }
        debug_assert!(out.len() - start <= MAX_DATAGRAM);
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        self.encode(&mut out);
        out
    }
}

impl Message {
    /// Appends the message's encoding (type, tx, fields) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request { tx, request } => match request {
                Request::Ping => put_head(out, MSG_PING, *tx),
                Request::FindNode { target } => {
                    put_head(out, MSG_FIND_NODE, *tx);
                    out.extend_from_slice(target.as_bytes());
                }
                Request::Punch { nat, reflexive } => {
                    traversal::write_punch(out, traversal::MSG_PUNCH, *tx, *nat, reflexive)
                }
                request => records::write_request(out, *tx, request),
            },
            Message::Response { tx, response } => match response {
                Response::Pong { observed } => {
                    put_head(out, MSG_PONG, *tx);
                    put_addr(out, observed);
                }
                Response::Nodes { contacts, token } => {
                    debug_assert!(contacts.len() <= MAX_CONTACTS);
                    let contacts = &contacts[..contacts.len().min(MAX_CONTACTS)];
                    put_head(out, MSG_NODES, *tx);
                    out.extend_from_slice(token);
                    out.push(contacts.len() as u8);
                    for contact in contacts {
                        out.extend_from_slice(contact.id.as_bytes());
                        put_addr(out, &contact.addr);
                    }
                }
                Response::Error { code } => {
                    put_head(out, MSG_ERROR, *tx);
                    out.push(code.to_byte());
                }
                Response::Punch { nat, reflexive } => {
                    traversal::write_punch(out, traversal::MSG_PUNCH_REPLY, *tx, *nat, reflexive)
                }
                response => records::write_response(out, *tx, response),
            },
            Message::Notice(notice) => traversal::write_notice(out, notice),
            Message::Stream(frame) => stream::write_frame(out, frame),
        }
    }

    /// The transaction id; `None` for a notice.
    pub fn tx(&self) -> Option<TxId> {
        match self {
            Message::Request { tx, .. } | Message::Response { tx, .. } => Some(*tx),
            Message::Notice(_) | Message::Stream(_) => None,
        }
    }
}

/// What a sealed frame's sender says of itself in the frame's kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameFlags {
    /// It asks not to be put in routing tables: it sits behind a NAT, so nobody else
    /// could reach it at the address it sends from.
    pub unlisted: bool,
    /// It keeps the session open past the idle timeout of sessions nobody keeps
    /// (see `SessionConfig::kept_idle_timeout`): the receiver is in its routing
    /// table, or would be taken in. The receiver keeps the session too.
    pub keep: bool,
}

/// The header of a sealed frame: what its AEAD authenticates in the clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedHeader {
    /// What the sender says of itself.
    pub flags: FrameFlags,
    /// The receiver's session number.
    pub receiver: SessionId,
    /// The sender's frame counter.
    pub counter: u64,
}

impl SealedHeader {
    /// The header's bytes, as they lead the datagram.
    pub fn encode(&self) -> [u8; SEALED_HEADER_LEN] {
        let mut kind = KIND_SEALED;
        if self.flags.unlisted {
            kind |= SEALED_UNLISTED_BIT;
        }
        if self.flags.keep {
            kind |= SEALED_KEEP_BIT;
        }
        let mut header = [0u8; SEALED_HEADER_LEN];
        header[..3].copy_from_slice(&[MAGIC, VERSION, kind]);
        header[3..7].copy_from_slice(&self.receiver.0.to_be_bytes());
        header[7..].copy_from_slice(&self.counter.to_be_bytes());
        header
    }
}

fn put_head(out: &mut Vec<u8>, kind: u8, tx: TxId) {
    out.push(kind);
    out.extend_from_slice(&tx.0.to_be_bytes());
}

fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(DecodeError::Truncated {
                at: self.at,
                needed: n,
            });
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// The next byte, left unread.
    fn peek_u8(&self) -> Result<u8, DecodeError> {
        Reader { ..*self }.u8()
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn addr(&mut self) -> Result<SocketAddr, DecodeError> {
        let ip = match self.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            family => return Err(DecodeError::BadAddressFamily(family)),
        };
        Ok(SocketAddr::new(ip, self.u16()?))
    }

    fn rest(&mut self) -> &[u8] {
        let rest = &self.bytes[self.at..];
        self.at = self.bytes.len();
        rest
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests;
