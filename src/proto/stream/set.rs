//! Every stream of one node: the listener and its firewall, stream numbers, limits,
//! and the events the application sees.
//!
//! In: stream frames from peers (already opened by their session), the application's
//! calls, the clock, and word that a peer's session closed. Out: frames to seal for
//! each peer ([`StreamSet::poll_frame`]) and [`StreamEvent`]s.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use super::{Read, Stream, StreamConfig, StreamError, StreamId};
use crate::proto::counters::counters;
use crate::proto::time::Time;
use crate::proto::wire::{ResetCode, StreamFrame};
use crate::proto::NodeId;

/// Which peers may open streams to a listening node. Checked before anything of
/// theirs is kept.
#[derive(Clone, Default)]
pub enum Firewall {
    /// Anybody.
    #[default]
    Open,
    /// Only these keys.
    Allow(BTreeSet<NodeId>),
    /// Anybody but these keys.
    Deny(BTreeSet<NodeId>),
    /// Whoever the predicate allows.
    Rule(Arc<dyn Fn(&NodeId) -> bool + Send + Sync>),
}

impl Firewall {
    /// Whether `peer` may open a stream.
    pub fn allows(&self, peer: &NodeId) -> bool {
        match self {
            Firewall::Open => true,
            Firewall::Allow(keys) => keys.contains(peer),
            Firewall::Deny(keys) => !keys.contains(peer),
            Firewall::Rule(rule) => rule(peer),
        }
    }
}

impl fmt::Debug for Firewall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Firewall::Open => f.write_str("Open"),
            Firewall::Allow(keys) => f.debug_tuple("Allow").field(&keys.len()).finish(),
            Firewall::Deny(keys) => f.debug_tuple("Deny").field(&keys.len()).finish(),
            Firewall::Rule(_) => f.write_str("Rule"),
        }
    }
}

/// What happened to a stream.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum StreamEvent {
    /// A stream opened: by this end ([`StreamSet::open`]) or, accepted by the
    /// firewall, by the peer.
    Opened {
        /// The stream.
        stream: StreamId,
        /// The peer opened it.
        incoming: bool,
    },
    /// Bytes, or the end, can be read.
    Readable(StreamId),
    /// A write that was cut short can go on.
    Writable(StreamId),
    /// Both directions ended and every byte was acknowledged and read.
    Finished(StreamId),
    /// The stream ended before it finished.
    Reset {
        /// The stream.
        stream: StreamId,
        /// Why.
        error: StreamError,
    },
}

/// One stream as [`StreamSet::streams`] shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StreamInfo {
    /// The stream.
    pub stream: StreamId,
    /// The peer opened it.
    pub incoming: bool,
    /// Bytes the application wrote.
    pub sent: u64,
    /// Bytes the application read.
    pub received: u64,
    /// Bytes held in its buffers.
    pub buffered: usize,
    /// Its congestion window in bytes.
    pub window: u64,
    /// Its smoothed round trip in milliseconds, once measured.
    pub srtt_ms: Option<f64>,
}

counters! {
    /// Counters of streams.
    pub struct StreamStats, named "stream_" {
        /// Streams this node opened.
        Activity opened,
        /// Streams peers opened that the firewall let in.
        Activity accepted,
        /// Frames that asked to open a stream and were refused: by the firewall,
        /// because this node does not listen, or over the limits. (Each of a
        /// stream's frames asks until the refusal reaches its opener.)
        Activity refused,
        /// Streams that finished cleanly.
        Activity finished,
        /// Streams reset, by either end, or because the peer said goodbye.
        Activity reset,
        /// Streams reset because the peer went silent for the idle timeout.
        Activity timed_out,
        /// Bytes the application wrote that were acknowledged.
        Activity bytes_sent,
        /// Bytes the application read.
        Activity bytes_received,
        /// Bytes sent again after a loss.
        Activity bytes_resent,
        /// Retransmission timeouts.
        Activity retransmit_timeouts,
        /// Bytes that arrived twice or beyond the window.
        Activity bytes_wasted,
        /// Frames for streams this node does not hold.
        Breach frames_unknown,
        /// Frames that broke a stream's rules (an end that moved, an acknowledgement
        /// of bytes never sent): the stream was reset.
        Breach violations,
    }
}

/// One stream and what its application was told.
#[derive(Debug)]
struct Entry {
    stream: Stream,
    /// A write was cut short: say when it can go on.
    write_blocked: bool,
    /// The application was told it can read, and has not read everything since.
    told_readable: bool,
    /// Acknowledged bytes already counted in `bytes_sent`.
    acked_counted: u64,
}

/// Every stream of a node; see the module docs.
#[derive(Debug)]
pub struct StreamSet {
    config: StreamConfig,
    local: NodeId,
    listening: Option<Firewall>,
    streams: BTreeMap<StreamId, Entry>,
    /// Streams that may have frames to send.
    dirty: BTreeSet<StreamId>,
    next_number: u32,
    frames: VecDeque<(NodeId, StreamFrame)>,
    events: VecDeque<StreamEvent>,
    stats: StreamStats,
}

impl StreamSet {
    /// The streams of node `local`.
    pub fn new(config: StreamConfig, local: NodeId) -> StreamSet {
        StreamSet {
            config,
            local,
            listening: None,
            streams: BTreeMap::new(),
            dirty: BTreeSet::new(),
            next_number: 0,
            frames: VecDeque::new(),
            events: VecDeque::new(),
            stats: StreamStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Peers may open streams, as `firewall` allows.
    pub fn listen(&mut self, firewall: Firewall) {
        self.listening = Some(firewall);
    }

    /// Peers may no longer open streams; open ones go on.
    pub fn unlisten(&mut self) {
        self.listening = None;
    }

    /// The firewall, while listening.
    pub fn listening(&self) -> Option<&Firewall> {
        self.listening.as_ref()
    }

    /// Whether this end opens stream `number` with `peer`: the end with the higher id
    /// opens odd numbers.
    fn opens(&self, peer: &NodeId, number: u32) -> bool {
        (number & 1 == 1) == (self.local > *peer)
    }

    /// How many streams run with `peer`.
    fn with_peer(&self, peer: &NodeId) -> usize {
        let first = StreamId {
            peer: *peer,
            number: 0,
        };
        self.streams
            .range(first..)
            .take_while(|(id, _)| id.peer == *peer)
            .count()
    }

    /// Whether a new stream with `peer` fits the limits, making room if need be: a
    /// finished stream only lingers to acknowledge late retransmissions, so the
    /// oldest one (of `peer`'s, when those are what is full) gives way to a new one.
    fn make_room(&mut self, peer: &NodeId) -> bool {
        let peer_full = self.with_peer(peer) >= self.config.per_peer_max;
        if !peer_full && self.streams.len() < self.config.max {
            return true;
        }
        let lingering = self
            .streams
            .iter()
            .filter(|(id, e)| e.stream.over == Some(Ok(())) && (!peer_full || id.peer == *peer))
            .min_by_key(|(id, e)| (e.stream.opened_at, **id))
            .map(|(id, _)| *id);
        match lingering {
            Some(id) => {
                self.streams.remove(&id);
                self.dirty.remove(&id);
                true
            }
            None => false,
        }
    }

    /// Opens a stream to `peer`; the caller checked that a session is open. Its first
    /// frame goes at once.
    pub fn open(&mut self, now: Time, peer: NodeId) -> Result<StreamId, StreamError> {
        if !self.make_room(&peer) {
            return Err(StreamError::TooMany);
        }
        let number = (self.next_number << 1) | u32::from(self.local > peer);
        self.next_number = self.next_number.wrapping_add(1);
        let stream = StreamId { peer, number };
        self.insert(now, stream, true);
        self.stats.opened += 1;
        Ok(stream)
    }

    fn insert(&mut self, now: Time, stream: StreamId, outgoing: bool) {
        let entry = Entry {
            stream: Stream::new(now, outgoing, &self.config),
            write_blocked: false,
            told_readable: false,
            acked_counted: 0,
        };
        self.streams.insert(stream, entry);
        self.dirty.insert(stream);
        self.events.push_back(StreamEvent::Opened {
            stream,
            incoming: !outgoing,
        });
    }

    /// A frame `peer` sent.
    pub fn on_frame(&mut self, now: Time, peer: NodeId, frame: StreamFrame) {
        let stream = StreamId {
            peer,
            number: frame.stream(),
        };
        if !self.streams.contains_key(&stream) {
            let StreamFrame::Data { open: true, .. } = frame else {
                // Nothing to say to a reset; anything else gets "no such stream".
                self.stats.frames_unknown += 1;
                if !matches!(frame, StreamFrame::Reset { .. }) {
                    self.send_reset(stream, ResetCode::Unknown);
                }
                return;
            };
            if let Err(code) = self.admit(&stream) {
                self.stats.refused += 1;
                self.send_reset(stream, code);
                return;
            }
            self.stats.accepted += 1;
            self.insert(now, stream, false);
        }
        let Some(entry) = self.streams.get_mut(&stream) else {
            return;
        };
        let readable = entry.stream.on_frame(now, frame);
        if readable && !entry.told_readable {
            entry.told_readable = true;
            self.events.push_back(StreamEvent::Readable(stream));
        }
        self.dirty.insert(stream);
    }

    /// Whether a peer's new stream is let in: listening, the firewall, the limits.
    fn admit(&mut self, stream: &StreamId) -> Result<(), ResetCode> {
        let Some(firewall) = &self.listening else {
            return Err(ResetCode::NotListening);
        };
        if self.opens(&stream.peer, stream.number) {
            // A number this end would have chosen: not the peer's to open.
            return Err(ResetCode::Unknown);
        }
        if !firewall.allows(&stream.peer) {
            return Err(ResetCode::Refused);
        }
        if !self.make_room(&stream.peer) {
            return Err(ResetCode::TooMany);
        }
        Ok(())
    }

    fn send_reset(&mut self, stream: StreamId, reason: ResetCode) {
        self.frames.push_back((
            stream.peer,
            StreamFrame::Reset {
                stream: stream.number,
                reason,
            },
        ));
    }

    fn entry(&mut self, stream: StreamId) -> Result<&mut Entry, StreamError> {
        let entry = self.streams.get_mut(&stream).ok_or(StreamError::Unknown)?;
        match entry.stream.over {
            Some(Err(error)) => Err(error),
            _ => Ok(entry),
        }
    }

    /// Writes as much of `bytes` as the stream's buffer takes; a short count means
    /// "wait for [`StreamEvent::Writable`]".
    pub fn write(&mut self, stream: StreamId, bytes: &[u8]) -> Result<usize, StreamError> {
        let entry = self.entry(stream)?;
        let n = entry.stream.send.write(bytes);
        entry.stream.sent_bytes += n as u64;
        entry.write_blocked = n < bytes.len();
        self.dirty.insert(stream);
        Ok(n)
    }

    /// How many bytes a write would take now.
    pub fn room(&mut self, stream: StreamId) -> Result<usize, StreamError> {
        Ok(self.entry(stream)?.stream.send.room())
    }

    /// Reads what arrived in order.
    pub fn read(&mut self, stream: StreamId, buf: &mut [u8]) -> Result<Read, StreamError> {
        if self
            .streams
            .get(&stream)
            .is_some_and(|entry| entry.stream.over == Some(Ok(())))
        {
            // A finished stream still reads its end.
            return Ok(Read::End);
        }
        let entry = self.entry(stream)?;
        let read = entry.stream.recv.read(buf);
        if let Read::Bytes(n) = read {
            entry.stream.received_bytes += n as u64;
        }
        if !entry.stream.recv.readable() {
            entry.told_readable = false;
        }
        if let Read::Bytes(n) = read {
            self.stats.bytes_received += n as u64;
        }
        self.dirty.insert(stream);
        Ok(read)
    }

    /// Ends this end's direction after what was written.
    pub fn finish(&mut self, stream: StreamId) -> Result<(), StreamError> {
        self.entry(stream)?.stream.send.finish();
        self.dirty.insert(stream);
        Ok(())
    }

    /// Gives up on the stream: the peer gets a reset, nothing more is sent or read.
    pub fn reset(&mut self, stream: StreamId) -> Result<(), StreamError> {
        self.entry(stream)?.stream.fail(ResetCode::Cancelled);
        self.dirty.insert(stream);
        Ok(())
    }

    /// `peer` left: its streams are reset, but for those where everything was
    /// delivered both ways and only the application's reads are left, which it may
    /// still read to the end.
    pub fn peer_gone(&mut self, peer: &NodeId) {
        let first = StreamId {
            peer: *peer,
            number: 0,
        };
        let gone: Vec<StreamId> = self
            .streams
            .range(first..)
            .take_while(|(id, _)| id.peer == *peer)
            .map(|(id, _)| *id)
            .collect();
        for stream in gone {
            if self
                .streams
                .get(&stream)
                .is_some_and(|entry| entry.stream.over.is_none() && entry.stream.delivered())
            {
                continue;
            }
            if let Some(entry) = self.streams.remove(&stream) {
                if entry.stream.over.is_none() {
                    self.stats.reset += 1;
                    self.events.push_back(StreamEvent::Reset {
                        stream,
                        error: StreamError::PeerLeft,
                    });
                }
            }
            self.dirty.remove(&stream);
        }
    }

    /// The next frame to seal for a peer.
    pub fn poll_frame(&mut self, now: Time) -> Option<(NodeId, StreamFrame)> {
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Some(frame);
            }
            let stream = self.dirty.pop_first()?;
            self.settle(now, stream);
        }
    }

    /// Drains one stream's frames into the queue and reports what changed.
    fn settle(&mut self, now: Time, stream: StreamId) {
        let Some(entry) = self.streams.get_mut(&stream) else {
            return;
        };
        let resent_before = entry.stream.send.resent_bytes;
        while let Some(mut frame) = entry.stream.poll_frame(now) {
            set_number(&mut frame, stream.number);
            self.frames.push_back((stream.peer, frame));
        }
        let s = &mut entry.stream;
        let acked = s.sent_bytes - s.send.buffered() as u64;
        self.stats.bytes_sent += acked - std::mem::replace(&mut entry.acked_counted, acked);
        self.stats.bytes_resent += s.send.resent_bytes - resent_before;
        self.stats.bytes_wasted += std::mem::take(&mut s.recv.wasted);
        if entry.write_blocked && s.send.room() > 0 && s.over.is_none() {
            entry.write_blocked = false;
            self.events.push_back(StreamEvent::Writable(stream));
        }
        if s.over.is_none() && s.finished() {
            s.over = Some(Ok(()));
            self.stats.finished += 1;
            self.events.push_back(StreamEvent::Finished(stream));
        }
        if let Some(Err(error)) = s.over {
            self.stats.reset += 1;
            if matches!(
                error,
                StreamError::Reset {
                    code: ResetCode::TimedOut,
                    by_peer: false
                }
            ) {
                self.stats.timed_out += 1;
            }
            if matches!(
                error,
                StreamError::Reset {
                    code: ResetCode::Violation,
                    by_peer: false
                }
            ) {
                self.stats.violations += 1;
            }
            self.streams.remove(&stream);
            self.events.push_back(StreamEvent::Reset { stream, error });
        }
    }

    /// When [`StreamSet::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.streams
            .values()
            .filter_map(|e| e.stream.poll_timeout(&self.config))
            .min()
    }

    /// Timers of every stream: retransmissions, probes, idle resets, and finished
    /// streams whose linger is over.
    pub fn handle_timeout(&mut self, now: Time) {
        let due: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, e)| {
                e.stream
                    .poll_timeout(&self.config)
                    .is_some_and(|at| at <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for stream in due {
            let Some(entry) = self.streams.get_mut(&stream) else {
                continue;
            };
            let timeouts = entry.stream.send.timeouts;
            if entry.stream.handle_timeout(now, &self.config) {
                self.streams.remove(&stream);
                continue;
            }
            self.stats.retransmit_timeouts += entry.stream.send.timeouts - timeouts;
            self.dirty.insert(stream);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// Every stream held, finished ones lingering included.
    pub fn streams(&self) -> Vec<StreamInfo> {
        self.streams
            .iter()
            .map(|(id, e)| StreamInfo {
                stream: *id,
                incoming: !e.stream.outgoing,
                sent: e.stream.sent_bytes,
                received: e.stream.received_bytes,
                buffered: e.stream.send.buffered() + e.stream.recv.buffered(),
                window: e.stream.send.window(),
                srtt_ms: e.stream.send.rtt.srtt().map(|d| d.as_secs_f64() * 1e3),
            })
            .collect()
    }

    /// How many streams are held.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Heap bytes: each stream's state and buffers (see [`crate::proto::footprint`]).
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::btree;
        btree::<StreamId, Entry>(self.streams.len())
            + self
                .streams
                .values()
                .map(|e| e.stream.send.heap_bytes() + e.stream.recv.heap_bytes())
                .sum::<usize>()
    }

    /// When `stream` opened, for completion times.
    pub fn opened_at(&self, stream: StreamId) -> Option<Time> {
        self.streams.get(&stream).map(|e| e.stream.opened_at)
    }
}

fn set_number(frame: &mut StreamFrame, number: u32) {
    match frame {
        StreamFrame::Data { stream, .. }
        | StreamFrame::Ack { stream, .. }
        | StreamFrame::Reset { stream, .. } => *stream = number,
    }
}
