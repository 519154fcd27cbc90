//! The receiving half of a stream: puts segments back in order, holds at most a
//! window of bytes, and says what to acknowledge.
//!
//! In: data segments (offset, bytes, end flag) in any order, any number of times, and
//! the application's reads. Out: the bytes in order, once each, then the end; and the
//! acknowledgement to send (contiguous offset, the ranges held beyond it, the window's
//! limit).
//!
//! Everything held lies in `[read, read + window)`: what arrives beyond is dropped
//! (a sender that respects the advertised limit never sends it), so a slow reader
//! stops the sender instead of growing the buffer.

use std::collections::{BTreeMap, VecDeque};

/// The most ranges beyond the contiguous offset one acknowledgement reports.
pub const MAX_ACK_RANGES: usize = 16;

/// A segment that breaks the stream's rules: the stream is reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Two different ends, or bytes past the end.
    EndMoved,
}

/// What [`RecvHalf::read`] gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// This many bytes were copied.
    Bytes(usize),
    /// Nothing to read yet.
    Blocked,
    /// Every byte was read and the peer finished.
    End,
}

/// The receiving half; see the module docs.
#[derive(Debug)]
pub struct RecvHalf {
    window: u64,
    /// Offset of the first byte not yet read.
    read: u64,
    /// Bytes from `read` on, in order, not yet read.
    ready: VecDeque<u8>,
    /// Segments beyond the contiguous ones, by offset; none overlap or touch.
    ahead: BTreeMap<u64, Vec<u8>>,
    /// Where the peer said the stream ends.
    end: Option<u64>,
    /// The limit last advertised.
    advertised: u64,
    /// Whether an acknowledgement is owed.
    ack_due: bool,
    /// Segments that arrived in order since the last acknowledgement, which may
    /// wait for a second one or for the delayed-ack timer.
    held: u32,
    /// Bytes that arrived beyond the limit or a second time.
    pub(super) wasted: u64,
}

impl RecvHalf {
    /// A half that holds at most `window` bytes.
    pub fn new(window: u64) -> RecvHalf {
        RecvHalf {
            window,
            read: 0,
            ready: VecDeque::new(),
            ahead: BTreeMap::new(),
            end: None,
            advertised: window,
            ack_due: false,
            held: 0,
            wasted: 0,
        }
    }

    /// The contiguous offset: every byte before it arrived.
    pub fn received(&self) -> u64 {
        self.read + self.ready.len() as u64
    }

    /// The highest offset the sender may send up to (exclusive).
    pub fn limit(&self) -> u64 {
        self.read + self.window
    }

    /// Whether the end arrived and every byte before it did too.
    pub fn complete(&self) -> bool {
        self.end == Some(self.received())
    }

    /// Whether the application read everything up to the end.
    pub fn done(&self) -> bool {
        self.end == Some(self.read)
    }

    /// Whether a read would give something (bytes or the end).
    pub fn readable(&self) -> bool {
        !self.ready.is_empty() || self.done()
    }

    /// Heap bytes: what is held in order and ahead.
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::{btree, deque};
        deque(&self.ready)
            + btree::<u64, Vec<u8>>(self.ahead.len())
            + self.ahead.values().map(Vec::capacity).sum::<usize>()
    }

    /// Bytes held: in order and ahead.
    pub fn buffered(&self) -> usize {
        self.ready.len() + self.ahead.values().map(Vec::len).sum::<usize>()
    }

    /// A segment: `bytes` at `offset`, the last one when `end`. Every segment owes an
    /// acknowledgement, even one that brings nothing new; as TCP's delayed
    /// acknowledgements (RFC 1122, RFC 5681 §4.2), one full segment that arrives in
    /// order with nothing held beyond may wait for the next, or for
    /// [`RecvHalf::held`]'s timer; anything else (a probe, an end, a segment out of
    /// order or again, a gap to report) is acknowledged at once. Returns whether new
    /// bytes became readable.
    pub fn on_segment(&mut self, offset: u64, bytes: &[u8], end: bool) -> Result<bool, RecvError> {
        // In order, and no gap before it (a segment that fills one is acknowledged at
        // once, so the sender hears of the repair).
        let in_order =
            offset == self.received() && !bytes.is_empty() && !end && self.ahead.is_empty();
        let seg_end = offset.saturating_add(bytes.len() as u64);
        if end {
            if self.end.is_some_and(|at| at != seg_end) || seg_end < self.highest() {
                return Err(RecvError::EndMoved);
            }
            self.end = Some(seg_end);
        }
        if self.end.is_some_and(|at| seg_end > at) {
            return Err(RecvError::EndMoved);
        }
        let was_readable = self.readable();
        let (from, to) = (offset.max(self.received()), seg_end.min(self.limit()));
        self.wasted += bytes.len() as u64 - to.saturating_sub(from).min(bytes.len() as u64);
        if from < to {
            let part = &bytes[(from - offset) as usize..(to - offset) as usize];
            self.insert(from, part);
        }
        self.release_if_done();
        if in_order && self.held == 0 {
            self.held = 1;
        } else {
            self.ack_due = true;
        }
        Ok(self.readable() && (!was_readable || from < to))
    }

    /// Whether an acknowledgement waits for a second segment or the timer.
    pub fn held(&self) -> bool {
        self.held > 0
    }

    /// The delayed-ack timer fired: what is held is acknowledged now.
    pub fn release_held(&mut self) {
        if self.held > 0 {
            self.ack_due = true;
        }
    }

    /// The highest offset held or read.
    fn highest(&self) -> u64 {
        self.ahead
            .iter()
            .next_back()
            .map_or(self.received(), |(at, bytes)| at + bytes.len() as u64)
    }

    /// Stores `part` at `from` (at or past the contiguous offset, within the limit),
    /// keeping only bytes not held yet, then moves what became contiguous.
    fn insert(&mut self, from: u64, part: &[u8]) {
        let mut at = from;
        let end = from + part.len() as u64;
        let mut pieces = Vec::new();
        // Walk the held ranges that could overlap, filling the gaps between them.
        let start = self
            .ahead
            .range(..=at)
            .next_back()
            .map_or(at, |(held, _)| *held);
        for (&held, bytes) in self.ahead.range(start..end) {
            let held_end = held + bytes.len() as u64;
            if held > at {
                pieces.push((at, held.min(end)));
            }
            at = at.max(held_end);
            if at >= end {
                break;
            }
        }
        if at < end {
            pieces.push((at, end));
        }
        let kept: u64 = pieces.iter().map(|(a, b)| b - a).sum();
        self.wasted += part.len() as u64 - kept;
        for (a, b) in pieces {
            let bytes = part[(a - from) as usize..(b - from) as usize].to_vec();
            self.ahead.insert(a, bytes);
        }
        self.coalesce();
    }

    /// Moves contiguous ranges into `ready` and joins touching ones.
    fn coalesce(&mut self) {
        loop {
            let at = self.received();
            match self.ahead.first_entry() {
                Some(entry) if *entry.key() == at => self.ready.extend(entry.remove()),
                _ => break,
            }
        }
        let mut joined: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for (at, bytes) in std::mem::take(&mut self.ahead) {
            match joined.last_entry() {
                Some(mut last) if *last.key() + last.get().len() as u64 == at => {
                    last.get_mut().extend_from_slice(&bytes);
                }
                _ => {
                    joined.insert(at, bytes);
                }
            }
        }
        self.ahead = joined;
    }

    /// Everything up to the end was read (the end may come after the last bytes, in
    /// an empty segment): gives the buffer's capacity back, rather than hold it while
    /// the finished stream lingers.
    fn release_if_done(&mut self) {
        if self.done() {
            self.ready = VecDeque::new();
        }
    }

    /// Copies what is in order into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> Read {
        if self.ready.is_empty() {
            return if self.done() {
                Read::End
            } else {
                Read::Blocked
            };
        }
        let n = buf.len().min(self.ready.len());
        for (slot, byte) in buf.iter_mut().zip(self.ready.drain(..n)) {
            *slot = byte;
        }
        self.read += n as u64;
        self.release_if_done();
        // Open the window again once a quarter of it came free, so a reader that
        // takes a byte at a time does not cost an acknowledgement per byte.
        if self.limit() >= self.advertised + self.window / 4 {
            self.ack_due = true;
        }
        Read::Bytes(n)
    }

    /// Whether an acknowledgement is owed.
    pub fn ack_due(&self) -> bool {
        self.ack_due
    }

    /// The acknowledgement to send now: contiguous offset, whether the end is in, the
    /// limit, and up to [`MAX_ACK_RANGES`] ranges held beyond, lowest first.
    pub fn ack(&mut self) -> (u64, bool, u64, Vec<(u64, u64)>) {
        self.ack_due = false;
        self.held = 0;
        self.advertised = self.limit();
        let ranges = self
            .ahead
            .iter()
            .take(MAX_ACK_RANGES)
            .map(|(at, bytes)| (*at, at + bytes.len() as u64))
            .collect();
        (self.received(), self.complete(), self.limit(), ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(half: &mut RecvHalf) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        while let Read::Bytes(n) = half.read(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn segments_in_any_order_come_out_in_order_once() {
        let mut half = RecvHalf::new(100);
        let data: Vec<u8> = (0..30).collect();
        assert_eq!(half.on_segment(10, &data[10..20], false), Ok(false));
        assert_eq!(half.ack().3, vec![(10, 20)]);
        assert_eq!(half.on_segment(5, &data[5..15], false), Ok(false));
        assert_eq!(half.on_segment(20, &data[20..30], true), Ok(false));
        assert_eq!(half.ack().3, vec![(5, 30)]);
        assert_eq!(half.on_segment(0, &data[0..12], false), Ok(true));
        assert!(half.complete());
        assert_eq!(read_all(&mut half), data);
        assert_eq!(half.read(&mut [0; 4]), Read::End);
        assert_eq!(half.wasted, 5 + 7);
        assert_eq!(
            half.heap_bytes(),
            0,
            "a half read to its end holds no buffer"
        );
        // The end may come after every byte was read, in an empty segment.
        let mut half = RecvHalf::new(100);
        half.on_segment(0, &data, false).unwrap();
        assert_eq!(read_all(&mut half), data);
        assert!(half.heap_bytes() > 0);
        half.on_segment(30, &[], true).unwrap();
        assert_eq!(half.heap_bytes(), 0, "the end came last");
    }

    #[test]
    fn nothing_past_the_window_is_held_until_the_reader_makes_room() {
        let mut half = RecvHalf::new(10);
        let data = [7u8; 30];
        half.on_segment(0, &data[..20], false).unwrap();
        assert_eq!(half.buffered(), 10);
        assert_eq!(half.ack().0, 10);
        read_all(&mut half);
        assert!(half.ack_due(), "a window update is owed");
        assert_eq!(half.ack().2, 20);
        half.on_segment(10, &data[10..30], true).unwrap();
        assert_eq!(half.buffered(), 10);
        assert!(!half.complete());
    }

    #[test]
    fn one_in_order_segment_may_wait_for_the_next_and_anything_else_is_acknowledged_at_once() {
        let mut half = RecvHalf::new(100);
        half.on_segment(0, &[1; 10], false).unwrap();
        assert!(!half.ack_due() && half.held(), "the first may wait");
        half.on_segment(10, &[1; 10], false).unwrap();
        assert!(half.ack_due(), "the second goes");
        assert_eq!(half.ack().0, 20);
        half.on_segment(20, &[1; 10], false).unwrap();
        half.release_held();
        assert!(half.ack_due(), "the timer releases a held one");
        half.ack();
        for (offset, len, end) in [
            (40, 10, false),
            (30, 10, false),
            (50, 0, false),
            (50, 5, true),
        ] {
            half.on_segment(offset, &vec![1; len], end).unwrap();
            assert!(half.ack_due(), "at once: {offset} {len} {end}");
            half.ack();
        }
    }

    #[test]
    fn an_end_that_moves_is_an_error() {
        let mut half = RecvHalf::new(100);
        half.on_segment(0, &[1; 10], true).unwrap();
        assert_eq!(
            half.on_segment(0, &[1; 11], false),
            Err(RecvError::EndMoved)
        );
        assert_eq!(half.on_segment(0, &[1; 5], true), Err(RecvError::EndMoved));
        assert_eq!(half.on_segment(0, &[1; 10], true), Ok(false), "nothing new");
    }
}
