//! The byte encoding of stream frames: data, acknowledgements and resets of the
//! reliable streams that run inside a session (see [`crate::proto::stream`]). Their
//! shapes live here; the parent module's decoder hands their type bytes over.
//!
//! | type | frame | body |
//! |---|---|---|
//! | `0x50` | [`StreamFrame::Data`] | stream u32, flags u8 (1 end, 2 open), offset u64, length u16, bytes |
//! | `0x51` | [`StreamFrame::Ack`] | stream u32, flags u8 (1 end received), received u64, limit u64, count u8 (≤ [`MAX_ACK_RANGES`]), count × (from u64, to u64) |
//! | `0x52` | [`StreamFrame::Reset`] | stream u32, reason u8 |
//!
//! Like notices, stream frames carry no transaction id and get no answer of their
//! own: the stream state machines acknowledge data with `Ack` frames.

use super::{DecodeError, Message, Reader, MAX_RELAYED, SEALED_HEADER_LEN, TAG_LEN};

/// The most ranges one acknowledgement carries.
pub const MAX_ACK_RANGES: usize = 16;

/// Bytes of a data frame before its payload: type, stream, flags, offset, length.
pub const DATA_HEADER_LEN: usize = 1 + 4 + 1 + 8 + 2;

/// The most payload bytes one data frame carries: what fits a sealed frame that a
/// relay can still forward, so a stream's segments never depend on its path.
pub const MAX_STREAM_DATA: usize = MAX_RELAYED - SEALED_HEADER_LEN - TAG_LEN - DATA_HEADER_LEN;

const FRAME_DATA: u8 = 0x50;
const FRAME_ACK: u8 = 0x51;
const FRAME_RESET: u8 = 0x52;

const FLAG_END: u8 = 1;
const FLAG_OPEN: u8 = 2;

/// A frame of one stream; `stream` numbers it within the session's two ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamFrame {
    /// Bytes of the stream from `offset` on.
    Data {
        /// The stream.
        stream: u32,
        /// Where `bytes` start.
        offset: u64,
        /// The stream ends after these bytes.
        end: bool,
        /// The sender opened the stream and has not heard back yet: a receiver that
        /// does not know the stream takes this as the request to open it.
        open: bool,
        /// At most [`MAX_STREAM_DATA`]; none for a probe or a bare end.
        bytes: Vec<u8>,
    },
    /// What the sender of the frame has received of the stream.
    Ack {
        /// The stream.
        stream: u32,
        /// Every byte before this offset arrived.
        received: u64,
        /// The end arrived too, at `received`.
        end: bool,
        /// The peer may send bytes before this offset.
        limit: u64,
        /// Ranges `[from, to)` held beyond `received`, lowest first.
        ranges: Vec<(u64, u64)>,
    },
    /// The stream is over, abnormally, for `reason`.
    Reset {
        /// The stream.
        stream: u32,
        /// Why.
        reason: ResetCode,
    },
}

impl StreamFrame {
    /// The stream the frame belongs to.
    pub fn stream(&self) -> u32 {
        match self {
            StreamFrame::Data { stream, .. }
            | StreamFrame::Ack { stream, .. }
            | StreamFrame::Reset { stream, .. } => *stream,
        }
    }
}

/// Why a stream was reset, as the wire says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ResetCode {
    /// The receiver's firewall refused the dialler.
    Refused,
    /// The receiver does not listen.
    NotListening,
    /// The application at the other end gave up on the stream.
    Cancelled,
    /// The other end heard nothing for its idle timeout.
    TimedOut,
    /// The other end received something that breaks the stream's rules.
    Violation,
    /// The other end holds as many streams as it allows.
    TooMany,
    /// The other end holds no such stream (any more).
    Unknown,
}

impl ResetCode {
    const ALL: [ResetCode; 7] = [
        ResetCode::Refused,
        ResetCode::NotListening,
        ResetCode::Cancelled,
        ResetCode::TimedOut,
        ResetCode::Violation,
        ResetCode::TooMany,
        ResetCode::Unknown,
    ];

    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        ResetCode::ALL.iter().position(|c| *c == self).unwrap_or(0) as u8 + 1
    }

    /// The code of a wire byte; `None` for a byte this version does not know.
    pub fn from_byte(byte: u8) -> Option<ResetCode> {
        ResetCode::ALL
            .get(usize::from(byte).checked_sub(1)?)
            .copied()
    }
}

/// Whether `kind` is a stream frame's type byte.
pub(super) fn is_stream_frame(kind: u8) -> bool {
    (FRAME_DATA..=FRAME_RESET).contains(&kind)
}

pub(super) fn write_frame(out: &mut Vec<u8>, frame: &StreamFrame) {
    match frame {
        StreamFrame::Data {
            stream,
            offset,
            end,
            open,
            bytes,
        } => {
            debug_assert!(bytes.len() <= MAX_STREAM_DATA);
            let bytes = &bytes[..bytes.len().min(MAX_STREAM_DATA)];
            out.push(FRAME_DATA);
            out.extend_from_slice(&stream.to_be_bytes());
            out.push((u8::from(*end) * FLAG_END) | (u8::from(*open) * FLAG_OPEN));
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        StreamFrame::Ack {
            stream,
            received,
            end,
            limit,
            ranges,
        } => {
            debug_assert!(ranges.len() <= MAX_ACK_RANGES);
            let ranges = &ranges[..ranges.len().min(MAX_ACK_RANGES)];
            out.push(FRAME_ACK);
            out.extend_from_slice(&stream.to_be_bytes());
            out.push(u8::from(*end) * FLAG_END);
            out.extend_from_slice(&received.to_be_bytes());
            out.extend_from_slice(&limit.to_be_bytes());
            out.push(ranges.len() as u8);
            for (from, to) in ranges {
                out.extend_from_slice(&from.to_be_bytes());
                out.extend_from_slice(&to.to_be_bytes());
            }
        }
        StreamFrame::Reset { stream, reason } => {
            out.push(FRAME_RESET);
            out.extend_from_slice(&stream.to_be_bytes());
            out.push(reason.to_byte());
        }
    }
}

/// A flags byte with no bits but `known` set: one encoding per frame.
fn flags(r: &mut Reader<'_>, known: u8) -> Result<u8, DecodeError> {
    match r.u8()? {
        flags if flags & !known == 0 => Ok(flags),
        flags => Err(DecodeError::UnknownFlags(flags)),
    }
}

pub(super) fn read_frame(r: &mut Reader<'_>, kind: u8) -> Result<Message, DecodeError> {
    let stream = r.u32()?;
    let frame = match kind {
        FRAME_DATA => {
            let flags = flags(r, FLAG_END | FLAG_OPEN)?;
            let offset = r.u64()?;
            let len = usize::from(r.u16()?);
            if len > MAX_STREAM_DATA {
                return Err(DecodeError::TooLarge {
                    field: "stream data",
                    len,
                });
            }
            StreamFrame::Data {
                stream,
                offset,
                end: flags & FLAG_END != 0,
                open: flags & FLAG_OPEN != 0,
                bytes: r.take(len)?.to_vec(),
            }
        }
        FRAME_ACK => {
            let end = flags(r, FLAG_END)? & FLAG_END != 0;
            let received = r.u64()?;
            let limit = r.u64()?;
            let count = usize::from(r.u8()?);
            if count > MAX_ACK_RANGES {
                return Err(DecodeError::TooLarge {
                    field: "acknowledged ranges",
                    len: count,
                });
            }
            let ranges = (0..count)
                .map(|_| Ok((r.u64()?, r.u64()?)))
                .collect::<Result<_, DecodeError>>()?;
            StreamFrame::Ack {
                stream,
                received,
                end,
                limit,
                ranges,
            }
        }
        _ => {
            let byte = r.u8()?;
            let reason = ResetCode::from_byte(byte).ok_or(DecodeError::UnknownResetCode(byte))?;
            StreamFrame::Reset { stream, reason }
        }
    };
    Ok(Message::Stream(frame))
}

#[cfg(test)]
mod tests {
    use super::super::decode_message;
    use super::*;

    fn round_trip(frame: StreamFrame) -> usize {
        let mut bytes = Vec::new();
        let message = Message::Stream(frame);
        message.encode(&mut bytes);
        assert_eq!(decode_message(&bytes), Ok(message));
        bytes.len()
    }

    #[test]
    fn every_stream_frame_round_trips_and_the_largest_still_crosses_a_relay() {
        let len = round_trip(StreamFrame::Data {
            stream: 7,
            offset: u64::MAX - 5,
            end: true,
            open: true,
            bytes: vec![9; MAX_STREAM_DATA],
        });
        assert_eq!(SEALED_HEADER_LEN + len + TAG_LEN, MAX_RELAYED);
        round_trip(StreamFrame::Data {
            stream: 0,
            offset: 0,
            end: false,
            open: false,
            bytes: Vec::new(),
        });
        round_trip(StreamFrame::Ack {
            stream: 1,
            received: 10,
            end: false,
            limit: 1 << 20,
            ranges: (0..MAX_ACK_RANGES as u64)
                .map(|i| (i * 20, i * 20 + 5))
                .collect(),
        });
        for reason in ResetCode::ALL {
            assert_eq!(ResetCode::from_byte(reason.to_byte()), Some(reason));
            round_trip(StreamFrame::Reset { stream: 3, reason });
        }
        assert_eq!(ResetCode::from_byte(0), None);
        assert_eq!(ResetCode::from_byte(8), None);
    }

    #[test]
    fn oversized_frames_are_errors() {
        let mut bytes = vec![FRAME_DATA, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&((MAX_STREAM_DATA + 1) as u16).to_be_bytes());
        assert!(matches!(
            decode_message(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut bytes = vec![FRAME_ACK, 0, 0, 0, 1, 0];
        bytes.extend_from_slice(&[0; 16]);
        bytes.push(MAX_ACK_RANGES as u8 + 1);
        assert!(matches!(
            decode_message(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(
            decode_message(&[FRAME_RESET, 0, 0, 0, 1, 99]),
            Err(DecodeError::UnknownResetCode(99))
        );
        assert_eq!(
            decode_message(&[FRAME_DATA, 0, 0, 0, 1, 4]),
            Err(DecodeError::UnknownFlags(4))
        );
    }
}
