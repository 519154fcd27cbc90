//! The node's side of streams: listening, opening, reading and writing, and carrying
//! stream frames in the sessions ([`crate::proto::stream`] holds the machines).
//!
//! In: the application's stream calls, stream frames out of sessions, sessions that
//! close. Out: stream frames sealed for their peers, [`Event::Stream`]s.

use super::{Event, Node};
use crate::proto::id::NodeId;
use crate::proto::stream::{Firewall, Read, StreamError, StreamId, StreamInfo};
use crate::proto::time::Time;
use crate::proto::wire::{Message, StreamFrame};

impl Node {
    /// Lets peers open streams to this node, as `firewall` allows; a refused peer is
    /// told so at once. Replaces an earlier firewall.
    pub fn listen(&mut self, firewall: Firewall) {
        self.streams.listen(firewall);
    }

    /// Stops taking new streams; open ones go on.
    pub fn unlisten(&mut self) {
        self.streams.unlisten();
    }

    /// Whether peers may open streams to this node.
    pub fn is_listening(&self) -> bool {
        self.streams.listening().is_some()
    }

    /// Opens a stream to `peer`, which needs an open session (after
    /// [`Command::Connect`](super::Command::Connect) ends `Connected`). Its first
    /// frame goes at once; [`StreamEvent::Reset`](crate::proto::stream::StreamEvent::Reset)
    /// with `Refused` or `NotListening` says the peer would not take it.
    pub fn open_stream(&mut self, now: Time, peer: NodeId) -> Result<StreamId, StreamError> {
        self.advance(now);
        if !self.sessions.is_open(&peer) {
            return Err(StreamError::NoSession);
        }
        let stream = self.streams.open(now, peer)?;
        self.flush(now);
        Ok(stream)
    }

    /// Writes what the stream's buffer takes of `bytes`; a short count means "wait
    /// for `Writable`".
    pub fn stream_write(
        &mut self,
        now: Time,
        stream: StreamId,
        bytes: &[u8],
    ) -> Result<usize, StreamError> {
        self.advance(now);
        let n = self.streams.write(stream, bytes)?;
        self.flush(now);
        Ok(n)
    }

    /// How many bytes [`Node::stream_write`] would take now.
    pub fn stream_room(&mut self, stream: StreamId) -> Result<usize, StreamError> {
        self.streams.room(stream)
    }

    /// Reads what arrived, in order.
    pub fn stream_read(
        &mut self,
        now: Time,
        stream: StreamId,
        buf: &mut [u8],
    ) -> Result<Read, StreamError> {
        self.advance(now);
        let read = self.streams.read(stream, buf)?;
        self.flush(now);
        Ok(read)
    }

    /// Ends this end's direction of the stream after what was written.
    pub fn stream_finish(&mut self, now: Time, stream: StreamId) -> Result<(), StreamError> {
        self.advance(now);
        self.streams.finish(stream)?;
        self.flush(now);
        Ok(())
    }

    /// Gives up on the stream: the peer is told (`Cancelled`).
    pub fn stream_reset(&mut self, now: Time, stream: StreamId) -> Result<(), StreamError> {
        self.advance(now);
        self.streams.reset(stream)?;
        self.flush(now);
        Ok(())
    }

    /// The streams this node holds.
    pub fn streams(&self) -> Vec<StreamInfo> {
        self.streams.streams()
    }

    /// The hash of the session with `peer`, the same at both ends (Omega's
    /// `handshakeHash`): print it at both to check nobody sits between them.
    pub fn handshake_hash(&self, peer: &NodeId) -> Option<[u8; 32]> {
        self.sessions.handshake_hash(peer)
    }

    /// A stream frame `peer` sealed.
    pub(super) fn on_stream_frame(&mut self, now: Time, peer: NodeId, frame: StreamFrame) {
        self.streams.on_frame(now, peer, frame);
    }

    /// Seals the streams' frames and passes their events on; `true` if any moved.
    pub(super) fn flush_streams(&mut self, now: Time) -> bool {
        let mut moved = false;
        while let Some((peer, frame)) = self.streams.poll_frame(now) {
            moved = true;
            // Without a session the frame is lost like any other: the stream's timers
            // resend it, or the session's closing resets the stream.
            self.send_sealed(&peer, &Message::Stream(frame));
        }
        while let Some(event) = self.streams.poll_event() {
            moved = true;
            self.events.push_back(Event::Stream(event));
        }
        moved
    }
}
