//! The byte encoding of the messages that reach peers behind NATs and say goodbye:
//! one-way [`Notice`]s (leave, relay, relayed, punch probes) and the punch
//! coordination request and answer. Their shapes live here; the parent module's
//! decoder hands their type bytes over.
//!
//! | type | message | body |
//! |---|---|---|
//! | `0x0A` | [`Request::Punch`] | tx u32, NAT kind u8, reflexive address |
//! | `0x88` | [`Response::Punch`] | tx u32, NAT kind u8, reflexive address |
//! | `0x40` | [`Notice::Bye`] | nothing |
//! | `0x41` | [`Notice::Relay`] | target id 32, datagram length u16, datagram |
//! | `0x42` | [`Notice::Relayed`] | source id 32, observed address or `0`, datagram length u16, datagram |
//! | `0x43` | [`Notice::PunchProbe`] | nonce u64 |
//! | `0x44` | [`Notice::PunchAck`] | nonce u64 |
//! | `0x45` | [`Notice::Unlisted`] | nothing |
//! | `0x46` | [`Notice::PathChallenge`] | token u64 |
//! | `0x47` | [`Notice::PathResponse`] | token u64 |
//!
//! Notices carry no transaction id and get no answer (a path challenge's response is
//! a notice of its own). A relayed datagram is another
//! session's handshake message or sealed frame, opaque to the relay; it is at most
//! [`MAX_RELAYED`] bytes so that the wrapping frame still fits [`MAX_DATAGRAM`].

use std::net::SocketAddr;

use super::{
    put_addr, put_head, DecodeError, Message, NodeId, Reader, Request, Response, TxId,
    MAX_DATAGRAM, SEALED_HEADER_LEN, TAG_LEN,
};
use crate::proto::id::ID_LEN;

/// The largest datagram a [`Notice::Relay`] or [`Notice::Relayed`] carries: what is
/// left of a datagram after the wrapping frame's header, tag, type, id, length and
/// the one byte that says a [`Notice::Relayed`] carries no observed address.
pub const MAX_RELAYED: usize = MAX_DATAGRAM - SEALED_HEADER_LEN - TAG_LEN - 1 - ID_LEN - 2 - 1;

/// Whether a [`Notice::Relayed`] carrying `len` bytes still has room for an observed
/// address of `observed`'s family within [`MAX_DATAGRAM`].
pub fn relayed_has_room(len: usize, observed: &SocketAddr) -> bool {
    let extra = match observed {
        SocketAddr::V4(_) => 4 + 2,
        SocketAddr::V6(_) => 16 + 2,
    };
    len + extra <= MAX_RELAYED
}

pub(super) const MSG_PUNCH: u8 = 0x0A;
pub(super) const MSG_PUNCH_REPLY: u8 = 0x88;
const NOTICE_BYE: u8 = 0x40;
const NOTICE_RELAY: u8 = 0x41;
const NOTICE_RELAYED: u8 = 0x42;
const NOTICE_PUNCH_PROBE: u8 = 0x43;
const NOTICE_PUNCH_ACK: u8 = 0x44;
const NOTICE_UNLISTED: u8 = 0x45;
const NOTICE_PATH_CHALLENGE: u8 = 0x46;
const NOTICE_PATH_RESPONSE: u8 = 0x47;

/// A one-way message inside a session: nothing answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The sender is leaving the swarm: drop it from the routing table now instead of
    /// finding out by timeouts.
    Bye,
    /// The sender has just found that it sits behind a NAT: drop it from the routing
    /// table, where its frames from before it knew put it. The frame's own unlisted
    /// flag does that; the notice is what carries the flag to a peer that would
    /// otherwise hear nothing more from it.
    Unlisted,
    /// Please forward `datagram` to `to`, a peer you have a session with.
    Relay {
        /// Whom to forward to.
        to: NodeId,
        /// The end-to-end datagram (handshake message or sealed frame).
        datagram: Vec<u8>,
    },
    /// A datagram `from` asked the relay to forward to you.
    Relayed {
        /// Who sent it (proved to the relay by their session).
        from: NodeId,
        /// The address the relay's session with `from` runs on: where the relay saw
        /// `from`, validated by that session. The relay vouches for it whenever it
        /// fits ([`relayed_has_room`]), which a handshake message or a small frame
        /// always does; a hole punch aims only at an address vouched for.
        observed: Option<SocketAddr>,
        /// The end-to-end datagram.
        datagram: Vec<u8>,
    },
    /// Sent straight to a peer's reflexive address during a hole punch.
    PunchProbe {
        /// Echoed by the answer.
        nonce: u64,
    },
    /// Answers a [`Notice::PunchProbe`] that arrived straight, to where it came from.
    PunchAck {
        /// The probe's nonce.
        nonce: u64,
    },
    /// Sent to a new address a session's frames came from, before the session moves
    /// there: only a peer that receives at that address can echo `token`. Handled by
    /// the session layer, never seen by the node (see `Sessions`).
    PathChallenge {
        /// Unpredictable to the peer; echoed by [`Notice::PathResponse`].
        token: u64,
    },
    /// Echoes a [`Notice::PathChallenge`]'s token, by whatever path the session sends.
    PathResponse {
        /// The challenge's token.
        token: u64,
    },
}

/// A node's idea of the NAT in front of it, as HyperDHT classifies it from the
/// reflexive addresses peers report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum NatKind {
    /// Not enough reports yet.
    #[default]
    Unknown,
    /// Peers see the node at its own address: reachable by anyone.
    Open,
    /// Peers see one address that is not the node's own: a NAT that keeps one mapping
    /// for every destination. Reachable only after it sent first; punchable.
    Consistent,
    /// Peers see different ports: a NAT that maps every destination anew
    /// (symmetric). Only a relay reaches it from another NAT like it.
    Random,
}

impl NatKind {
    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            NatKind::Unknown => 0,
            NatKind::Open => 1,
            NatKind::Consistent => 2,
            NatKind::Random => 3,
        }
    }

    /// From the wire byte, if it is one.
    pub fn from_byte(byte: u8) -> Option<NatKind> {
        Some(match byte {
            0 => NatKind::Unknown,
            1 => NatKind::Open,
            2 => NatKind::Consistent,
            3 => NatKind::Random,
            _ => return None,
        })
    }

    /// The lower-case name used in reports and events.
    pub fn name(self) -> &'static str {
        match self {
            NatKind::Unknown => "unknown",
            NatKind::Open => "open",
            NatKind::Consistent => "consistent",
            NatKind::Random => "random",
        }
    }
}

/// The path challenge or response `plaintext` holds, if that is what it holds: what
/// the session layer takes for itself before a frame reaches the node.
pub fn path_notice(plaintext: &[u8]) -> Option<Notice> {
    if !matches!(
        plaintext.first(),
        Some(&(NOTICE_PATH_CHALLENGE | NOTICE_PATH_RESPONSE))
    ) {
        return None;
    }
    match super::decode_message(plaintext) {
        Ok(Message::Notice(notice)) => Some(notice),
        _ => None,
    }
}

/// Whether `kind` is a notice's type byte.
pub(super) fn is_notice(kind: u8) -> bool {
    (NOTICE_BYE..=NOTICE_PATH_RESPONSE).contains(&kind)
}

pub(super) fn write_notice(out: &mut Vec<u8>, notice: &Notice) {
    match notice {
        Notice::Bye => out.push(NOTICE_BYE),
        Notice::Unlisted => out.push(NOTICE_UNLISTED),
        Notice::Relay { to, datagram } => {
            out.push(NOTICE_RELAY);
            out.extend_from_slice(to.as_bytes());
            put_relayed(out, datagram);
        }
        Notice::Relayed {
            from,
            observed,
            datagram,
        } => {
            out.push(NOTICE_RELAYED);
            out.extend_from_slice(from.as_bytes());
            debug_assert!(observed.is_none_or(|addr| relayed_has_room(datagram.len(), &addr)));
            match observed {
                Some(addr) if relayed_has_room(datagram.len(), addr) => put_addr(out, addr),
                _ => out.push(NO_ADDRESS),
            }
            put_relayed(out, datagram);
        }
        Notice::PunchProbe { nonce } => {
            out.push(NOTICE_PUNCH_PROBE);
            out.extend_from_slice(&nonce.to_be_bytes());
        }
        Notice::PunchAck { nonce } => {
            out.push(NOTICE_PUNCH_ACK);
            out.extend_from_slice(&nonce.to_be_bytes());
        }
        Notice::PathChallenge { token } => {
            out.push(NOTICE_PATH_CHALLENGE);
            out.extend_from_slice(&token.to_be_bytes());
        }
        Notice::PathResponse { token } => {
            out.push(NOTICE_PATH_RESPONSE);
            out.extend_from_slice(&token.to_be_bytes());
        }
    }
}

/// The family byte that stands for "no address" in a [`Notice::Relayed`].
const NO_ADDRESS: u8 = 0;

fn put_relayed(out: &mut Vec<u8>, datagram: &[u8]) {
    debug_assert!(datagram.len() <= MAX_RELAYED);
    let datagram = &datagram[..datagram.len().min(MAX_RELAYED)];
    out.extend_from_slice(&(datagram.len() as u16).to_be_bytes());
    out.extend_from_slice(datagram);
}

fn read_relayed(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let len = usize::from(r.u16()?);
    if len > MAX_RELAYED {
        return Err(DecodeError::TooLarge {
            field: "relayed datagram",
            len,
        });
    }
    Ok(r.take(len)?.to_vec())
}

pub(super) fn read_notice(r: &mut Reader<'_>, kind: u8) -> Result<Message, DecodeError> {
    let notice = match kind {
        NOTICE_BYE => Notice::Bye,
        NOTICE_UNLISTED => Notice::Unlisted,
        NOTICE_RELAY => Notice::Relay {
            to: NodeId(r.array()?),
            datagram: read_relayed(r)?,
        },
        NOTICE_RELAYED => {
            let from = NodeId(r.array()?);
            let observed = match r.peek_u8()? {
                NO_ADDRESS => {
                    r.u8()?;
                    None
                }
                _ => Some(r.addr()?),
            };
            let datagram = read_relayed(r)?;
            if observed.is_some_and(|addr| !relayed_has_room(datagram.len(), &addr)) {
                return Err(DecodeError::TooLarge {
                    field: "relayed datagram",
                    len: datagram.len(),
                });
            }
            Notice::Relayed {
                from,
                observed,
                datagram,
            }
        }
        NOTICE_PUNCH_PROBE => Notice::PunchProbe { nonce: r.u64()? },
        NOTICE_PUNCH_ACK => Notice::PunchAck { nonce: r.u64()? },
        NOTICE_PATH_CHALLENGE => Notice::PathChallenge { token: r.u64()? },
        NOTICE_PATH_RESPONSE => Notice::PathResponse { token: r.u64()? },
        other => return Err(DecodeError::UnknownMessage(other)),
    };
    Ok(Message::Notice(notice))
}

pub(super) fn write_punch(out: &mut Vec<u8>, kind: u8, tx: TxId, nat: NatKind, addr: &SocketAddr) {
    put_head(out, kind, tx);
    out.push(nat.to_byte());
    put_addr(out, addr);
}

pub(super) fn read_punch(r: &mut Reader<'_>, kind: u8, tx: TxId) -> Result<Message, DecodeError> {
    let byte = r.u8()?;
    let nat = NatKind::from_byte(byte).ok_or(DecodeError::UnknownNatKind(byte))?;
    let reflexive = r.addr()?;
    Ok(if kind == MSG_PUNCH {
        Message::Request {
            tx,
            request: Request::Punch { nat, reflexive },
        }
    } else {
        Message::Response {
            tx,
            response: Response::Punch { nat, reflexive },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::decode_message;
    use super::*;

    fn round_trip(message: Message) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes);
        assert_eq!(decode_message(&bytes), Ok(message));
    }

    #[test]
    fn every_traversal_message_round_trips() {
        let addr: SocketAddr = "100.64.0.7:40001".parse().unwrap();
        round_trip(Message::Notice(Notice::Bye));
        round_trip(Message::Notice(Notice::Unlisted));
        round_trip(Message::Notice(Notice::Relay {
            to: NodeId([7; 32]),
            datagram: vec![0xD5; MAX_RELAYED],
        }));
        round_trip(Message::Notice(Notice::Relayed {
            from: NodeId([9; 32]),
            observed: None,
            datagram: vec![0xD5; MAX_RELAYED],
        }));
        round_trip(Message::Notice(Notice::Relayed {
            from: NodeId([9; 32]),
            observed: Some(addr),
            datagram: vec![1, 2, 3],
        }));
        round_trip(Message::Notice(Notice::Relayed {
            from: NodeId([9; 32]),
            observed: Some("[2001:db8::1]:9".parse().unwrap()),
            datagram: vec![7; MAX_RELAYED - 18],
        }));
        round_trip(Message::Notice(Notice::PunchProbe { nonce: u64::MAX }));
        round_trip(Message::Notice(Notice::PunchAck { nonce: 3 }));
        round_trip(Message::Notice(Notice::PathChallenge { token: 7 }));
        round_trip(Message::Notice(Notice::PathResponse { token: u64::MAX }));
        for nat in [NatKind::Open, NatKind::Consistent, NatKind::Random] {
            round_trip(Message::Request {
                tx: TxId(5),
                request: Request::Punch {
                    nat,
                    reflexive: addr,
                },
            });
            round_trip(Message::Response {
                tx: TxId(6),
                response: Response::Punch {
                    nat,
                    reflexive: addr,
                },
            });
        }
    }

    #[test]
    fn relays_carry_only_handshakes_and_sealed_frames() {
        use super::super::{is_session_datagram, Datagram, Handshake, SessionId};
        let sealed = Datagram::Sealed {
            header: super::super::SealedHeader {
                flags: super::super::FrameFlags {
                    unlisted: true,
                    keep: true,
                },
                receiver: SessionId(1),
                counter: 2,
            },
            ciphertext: vec![0; TAG_LEN],
        };
        let hello = Datagram::Handshake(Handshake::Hello {
            client: SessionId(1),
            msg: [0; 64],
        });
        let who = Datagram::Who {
            network_tag: [0; super::super::NETWORK_TAG_LEN],
        };
        assert!(is_session_datagram(&sealed.to_bytes()));
        assert!(is_session_datagram(&hello.to_bytes()));
        assert!(!is_session_datagram(&who.to_bytes()));
        assert!(!is_session_datagram(&[]));
        assert!(!is_session_datagram(b"GET / HTTP/1.1"));
    }

    #[test]
    fn a_largest_relay_fits_a_sealed_datagram_and_so_does_what_the_relay_forwards() {
        let sealed_len = |notice: Notice| {
            let mut bytes = Vec::new();
            Message::Notice(notice).encode(&mut bytes);
            SEALED_HEADER_LEN + bytes.len() + TAG_LEN
        };
        let relay = sealed_len(Notice::Relay {
            to: NodeId([7; 32]),
            datagram: vec![0; MAX_RELAYED],
        });
        assert_eq!(relay, MAX_DATAGRAM - 1);
        let v4: SocketAddr = "198.51.100.7:41000".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::7]:41000".parse().unwrap();
        for (observed, len) in [
            (None, MAX_RELAYED),
            (Some(v4), MAX_RELAYED - 6),
            (Some(v6), MAX_RELAYED - 18),
        ] {
            assert!(observed.is_none_or(|addr| relayed_has_room(len, &addr)));
            assert!(observed.is_none_or(|addr| !relayed_has_room(len + 1, &addr)));
            let relayed = sealed_len(Notice::Relayed {
                from: NodeId([9; 32]),
                observed,
                datagram: vec![0; len],
            });
            assert_eq!(relayed, MAX_DATAGRAM, "{observed:?}");
        }
    }

    #[test]
    fn oversized_or_truncated_relays_are_errors() {
        let mut bytes = vec![NOTICE_RELAY];
        bytes.extend_from_slice(&[0; 32]);
        bytes.extend_from_slice(&((MAX_RELAYED + 1) as u16).to_be_bytes());
        assert!(matches!(
            decode_message(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        // A relayed datagram too long to come with the address it names.
        let mut bytes = vec![NOTICE_RELAYED];
        bytes.extend_from_slice(&[0; 32]);
        bytes.extend_from_slice(&[4, 198, 51, 100, 7, 0, 9]);
        bytes.extend_from_slice(&(MAX_RELAYED as u16).to_be_bytes());
        bytes.extend_from_slice(&vec![0; MAX_RELAYED]);
        assert!(matches!(
            decode_message(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut bytes = vec![NOTICE_RELAYED];
        bytes.extend_from_slice(&[0; 32]);
        bytes.push(NO_ADDRESS);
        bytes.extend_from_slice(&10u16.to_be_bytes());
        bytes.extend_from_slice(&[0; 9]);
        assert!(matches!(
            decode_message(&bytes),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            decode_message(&[NOTICE_BYE, 0]),
            Err(DecodeError::TrailingBytes(1))
        ));
    }
}
