//! Reliable byte streams inside sealed sessions: what `listen` and `connect` carry.
//!
//! In: stream frames a peer sealed ([`StreamFrame`]), the application's opens,
//! writes, reads, ends and resets, and the clock. Out: frames to seal for each peer,
//! and [`StreamEvent`]s (opened, readable, writable, finished, reset).
//!
//! A stream is ordered, reliable, flow-controlled bytes in both directions. It rides
//! whichever session the node has with the peer, on whatever path that session takes
//! (direct, relayed, punched): frames are addressed to the peer, not to an address,
//! so a session that moves from a relay to a punched path carries its streams along.
//! Several streams share one session; each numbers itself by a `u32` whose low bit
//! says which end opened it (the end with the higher id opens odd numbers), so both
//! ends can open streams without asking each other.
//!
//! **Opening.** The opener's data frames carry an `open` flag until the peer answers.
//! A node that does not know the stream checks the flag, its listener and its
//! [`Firewall`] *before* it keeps anything: a refused opener gets a
//! [`ResetCode::Refused`] (or `NotListening`, `TooMany`) at once, never a timeout, and
//! no byte of its reaches the application.
//!
//! **Reliability** ([`send`], [`recv`], [`recovery`]): byte offsets, cumulative and
//! selective acknowledgements (every second in-order segment, or within
//! [`ACK_DELAY`]; at once for anything out of order), loss found by three
//! segments acknowledged beyond (RFC 6675) or by the retransmission timer (RFC 6298),
//! NewReno congestion control (RFC 5681, 6582, initial window of RFC 6928). The
//! receiver holds at most [`StreamConfig::window`] bytes and advertises the offset
//! the sender may reach, so a slow reader stops the sender; the sender holds at most
//! [`StreamConfig::send_buffer`] unacknowledged bytes, so a writer faster than the
//! path is told to wait ([`StreamEvent::Writable`] says when to go on).
//!
//! **Ends.** A stream is finished when both ends ended their direction and each saw
//! the other's end acknowledged and read; it lingers for the idle timeout to
//! acknowledge a late retransmission, then goes. It is reset when either end gives up
//! ([`ResetCode::Cancelled`]), breaks the rules (`Violation`), or hears nothing for
//! [`StreamConfig::idle_timeout`] (`TimedOut`) although it probes a quiet peer every
//! [`StreamConfig::keepalive`]; and when the session with the peer closes.
//!
//! The reliability layer is the protocol's own rather than a crate's: the sans-IO
//! transports that exist (quinn-proto, smoltcp) bring their own handshake, packet
//! protection or IP framing, where a stream here needs only ordering, loss recovery
//! and flow control on top of a session that already authenticates and encrypts.

pub mod recovery;
pub mod recv;
pub mod send;
mod set;

use std::time::Duration;

pub use recv::Read;
pub use set::{Firewall, StreamEvent, StreamInfo, StreamSet, StreamStats};

use self::recv::RecvHalf;
use self::send::SendHalf;
use super::time::Time;
use super::wire::{ResetCode, StreamFrame, MAX_STREAM_DATA};
use super::NodeId;

/// How long an acknowledgement of one in-order segment may wait for a second one
/// (RFC 5681 §4.2 allows 500 ms; QUIC's default is 25 ms, which is ours).
pub const ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(25);

/// What a sender may send before the receiver's first acknowledgement says how much
/// it takes: every receiver's window is at least this.
pub const INITIAL_LIMIT: u64 = 64 * 1024;

/// Tunables of streams: what each may hold, and when a quiet peer is given up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Bytes one stream's receiver holds at most (arrived, not read yet). At least
    /// [`INITIAL_LIMIT`]; 256 KiB by default.
    pub window: u64,
    /// Bytes one stream's sender holds at most (written, not acknowledged yet).
    /// 256 KiB by default.
    pub send_buffer: u64,
    /// A stream that hears nothing from its peer for this long is reset
    /// (`TimedOut`). 20 s by default.
    pub idle_timeout: Duration,
    /// A stream that heard nothing for this long probes its peer. 5 s by default.
    pub keepalive: Duration,
    /// Streams with one peer at most (both directions). 16 by default.
    pub per_peer_max: usize,
    /// Streams in all at most. 256 by default.
    pub max: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            window: 256 * 1024,
            send_buffer: 256 * 1024,
            idle_timeout: Duration::from_secs(20),
            keepalive: Duration::from_secs(5),
            per_peer_max: 16,
            max: 256,
        }
    }
}

/// A stream, as the application names it: the peer and the stream's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct StreamId {
    /// The other end.
    pub peer: NodeId,
    /// The number within the two ends' session (low bit: which end opened it).
    pub number: u32,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.peer, self.number)
    }
}

/// Why a stream ended before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum StreamError {
    /// A reset: from the peer (its frame said so) or from this end.
    Reset {
        /// The reason.
        code: ResetCode,
        /// Whether the peer sent it.
        by_peer: bool,
    },
    /// The session with the peer closed: it left, or went silent for the session's
    /// idle timeout.
    PeerLeft,
    /// No such stream (it ended, or never was).
    Unknown,
    /// No session with the peer to open a stream in: connect first.
    NoSession,
    /// As many streams as the configuration allows are open, with the peer or in
    /// all.
    TooMany,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Reset {
                code,
                by_peer: true,
            } => write!(f, "reset by the peer: {code:?}"),
            StreamError::Reset { code, .. } => write!(f, "reset here: {code:?}"),
            StreamError::PeerLeft => f.write_str("the session with the peer closed"),
            StreamError::Unknown => f.write_str("no such stream"),
            StreamError::NoSession => f.write_str("no session with the peer: connect first"),
            StreamError::TooMany => f.write_str("too many streams open"),
        }
    }
}

impl std::error::Error for StreamError {}

/// One stream's two halves and its timers. Frames carry no stream number here; the
/// [`StreamSet`] adds it.
#[derive(Debug)]
struct Stream {
    send: SendHalf,
    recv: RecvHalf,
    /// This end opened it: its frames say `open` until the peer answers.
    outgoing: bool,
    /// The peer answered at least once.
    heard: bool,
    last_heard: Time,
    last_probe: Time,
    /// A probe is owed: an empty data frame the peer must acknowledge.
    probe: bool,
    /// A reset to send (this end's).
    reset_out: Option<ResetCode>,
    /// When a held acknowledgement goes anyway ([`ACK_DELAY`]).
    ack_at: Option<Time>,
    /// The stream is over: reset, or finished.
    over: Option<Result<(), StreamError>>,
    /// Bytes the application wrote and read, for reports.
    sent_bytes: u64,
    received_bytes: u64,
    opened_at: Time,
}

impl Stream {
    fn new(now: Time, outgoing: bool, config: &StreamConfig) -> Stream {
        let window = config.window.max(INITIAL_LIMIT);
        Stream {
            send: SendHalf::new(
                MAX_STREAM_DATA as u64,
                config.send_buffer,
                INITIAL_LIMIT,
                // A quarter of the idle timeout: a lossy path gets several tries
                // before the stream gives up on the peer.
                recovery::RttEstimator::with_max(config.idle_timeout / 4),
            ),
            recv: RecvHalf::new(window),
            outgoing,
            heard: !outgoing,
            last_heard: now,
            last_probe: now,
            // The opener says so at once, data or not.
            probe: outgoing,
            reset_out: None,
            ack_at: None,
            over: None,
            sent_bytes: 0,
            received_bytes: 0,
            opened_at: now,
        }
    }

    /// A frame from the peer. Returns whether bytes (or the end) became readable.
    fn on_frame(&mut self, now: Time, frame: StreamFrame) -> bool {
        if self.over.is_some() && !matches!(self.over, Some(Ok(()))) {
            return false;
        }
        self.last_heard = now;
        self.heard = true;
        match frame {
            StreamFrame::Data {
                offset, end, bytes, ..
            } => match self.recv.on_segment(offset, &bytes, end) {
                Ok(readable) => {
                    if self.recv.held() {
                        self.ack_at.get_or_insert(now + ACK_DELAY);
                    }
                    readable
                }
                Err(_) => {
                    self.fail(ResetCode::Violation);
                    false
                }
            },
            StreamFrame::Ack {
                received,
                end,
                limit,
                ranges,
                ..
            } => {
                if self
                    .send
                    .on_ack(now, received, end, limit, &ranges)
                    .is_err()
                {
                    self.fail(ResetCode::Violation);
                }
                false
            }
            StreamFrame::Reset { reason, .. } => {
                self.over = Some(Err(StreamError::Reset {
                    code: reason,
                    by_peer: true,
                }));
                false
            }
        }
    }

    /// Ends the stream from this end, telling the peer.
    fn fail(&mut self, code: ResetCode) {
        if self.over.is_none() || self.over == Some(Ok(())) {
            self.reset_out = Some(code);
            self.over = Some(Err(StreamError::Reset {
                code,
                by_peer: false,
            }));
        }
    }

    /// The next frame to send.
    fn poll_frame(&mut self, now: Time) -> Option<StreamFrame> {
        if let Some(reason) = self.reset_out.take() {
            return Some(StreamFrame::Reset { stream: 0, reason });
        }
        if matches!(self.over, Some(Err(_))) {
            return None;
        }
        if self.recv.ack_due() {
            self.ack_at = None;
            let (received, end, limit, ranges) = self.recv.ack();
            return Some(StreamFrame::Ack {
                stream: 0,
                received,
                end,
                limit,
                ranges,
            });
        }
        let open = self.outgoing && !self.heard;
        if let Some((offset, bytes, end)) = self.send.poll_segment(now) {
            self.probe = false;
            return Some(StreamFrame::Data {
                stream: 0,
                offset,
                end,
                open,
                bytes,
            });
        }
        if std::mem::take(&mut self.probe) {
            self.last_probe = now;
            return Some(StreamFrame::Data {
                stream: 0,
                offset: self.send.next_offset(),
                end: false,
                open,
                bytes: Vec::new(),
            });
        }
        None
    }

    /// Whether the stream finished cleanly: both directions ended, acknowledged and
    /// read.
    fn finished(&self) -> bool {
        self.send.done() && self.recv.done()
    }

    /// When the next probe goes, while nothing in flight would bring an answer.
    fn probe_at(&self, config: &StreamConfig) -> Option<Time> {
        if self.over.is_some() || self.send.outstanding() {
            return None;
        }
        let waiting = (self.outgoing && !self.heard) || self.send.blocked();
        let quiet = self.last_heard.max(self.last_probe);
        Some(match waiting {
            true => self.last_probe + self.send.rtt.rto(),
            false => quiet + config.keepalive,
        })
    }

    /// Whether nothing more is owed either way: every byte and both ends went and
    /// were acknowledged, only the application's reads are left.
    fn delivered(&self) -> bool {
        self.send.done() && self.recv.complete()
    }

    fn poll_timeout(&self, config: &StreamConfig) -> Option<Time> {
        let idle = self.last_heard + config.idle_timeout;
        let timers = match self.over {
            Some(Ok(())) => Some(idle),
            Some(Err(_)) => None,
            // Waiting for the application alone: no peer to wait for.
            None if self.delivered() => None,
            None => [self.send.poll_timeout(), self.probe_at(config), Some(idle)]
                .into_iter()
                .flatten()
                .min(),
        };
        match self.over {
            Some(Err(_)) => None,
            _ => [timers, self.ack_at].into_iter().flatten().min(),
        }
    }

    /// Timers: retransmission, probe, idle. Returns whether a lingering finished
    /// stream may go.
    fn handle_timeout(&mut self, now: Time, config: &StreamConfig) -> bool {
        if self.ack_at.is_some_and(|at| at <= now) {
            self.ack_at = None;
            self.recv.release_held();
        }
        let idle = now >= self.last_heard + config.idle_timeout;
        match self.over {
            Some(Ok(())) => return idle,
            Some(Err(_)) => return false,
            None if self.delivered() => return false,
            None => {}
        }
        if idle {
            self.fail(ResetCode::TimedOut);
            return false;
        }
        self.send.handle_timeout(now);
        if self.probe_at(config).is_some_and(|at| at <= now) {
            self.probe = true;
        }
        false
    }
}

#[cfg(test)]
mod tests;
