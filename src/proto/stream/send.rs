//! The sending half of a stream: holds what the application wrote until the peer
//! acknowledged it, cuts it into segments, and decides what goes next — a segment
//! found lost, or new bytes — within the congestion window and the peer's limit.
//!
//! In: the application's writes and end, acknowledgements (contiguous offset, ranges
//! held beyond it, the peer's limit), the retransmission timer. Out: segments
//! (offset, bytes, end flag) to send.
//!
//! A segment is lost when three segments, or three full segments' bytes, sent after
//! it were acknowledged (RFC 6675's rule), or when the timer fires (then every
//! unacknowledged segment is). Round trips are sampled only from segments sent once
//! (Karn).

use std::collections::{BTreeMap, VecDeque};

use super::recovery::{NewReno, RttEstimator};
use crate::proto::time::Time;

/// How many segments, or full segments' bytes, acknowledged beyond a segment make it
/// lost (RFC 6675's DupThresh).
const DUP_THRESH: u64 = 3;

/// One segment in flight.
#[derive(Clone, Copy, Debug)]
struct Segment {
    len: u64,
    end: bool,
    sent: Time,
    /// Sent more than once: no round-trip sample (Karn).
    resent: bool,
    /// The peer holds it, beyond its contiguous offset.
    sacked: bool,
    /// Found lost and not sent again yet.
    lost: bool,
}

/// An acknowledgement that cannot be: it names bytes never sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckError;

/// The sending half; see the module docs.
#[derive(Debug)]
pub struct SendHalf {
    mss: u64,
    capacity: u64,
    /// Bytes from `una` to the written end.
    buf: VecDeque<u8>,
    /// Every byte before it is acknowledged.
    una: u64,
    /// The first byte never sent.
    next: u64,
    /// Where the application ended the stream.
    end: Option<u64>,
    end_sent: bool,
    end_acked: bool,
    /// The peer's limit: bytes at or past it may not be sent.
    limit: u64,
    segments: BTreeMap<u64, Segment>,
    pub(super) rtt: RttEstimator,
    cc: NewReno,
    rto_at: Option<Time>,
    /// Bytes sent again.
    pub(super) resent_bytes: u64,
    /// Times the retransmission timer fired.
    pub(super) timeouts: u64,
}

impl SendHalf {
    /// A half cutting segments of `mss` bytes, holding at most `capacity` unacknowledged
    /// bytes, allowed to send up to `limit` before the peer says more, with `rtt`'s
    /// timeouts.
    pub fn new(mss: u64, capacity: u64, limit: u64, rtt: RttEstimator) -> SendHalf {
        SendHalf {
            mss,
            capacity,
            buf: VecDeque::new(),
            una: 0,
            next: 0,
            end: None,
            end_sent: false,
            end_acked: false,
            limit,
            segments: BTreeMap::new(),
            rtt,
            cc: NewReno::new(mss),
            rto_at: None,
            resent_bytes: 0,
            timeouts: 0,
        }
    }

    /// Takes as much of `bytes` as fits the buffer; 0 once ended.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        if self.end.is_some() {
            return 0;
        }
        let n = bytes.len().min(self.room());
        self.buf.extend(&bytes[..n]);
        n
    }

    /// Free space in the buffer.
    pub fn room(&self) -> usize {
        match self.end {
            Some(_) => 0,
            None => (self.capacity as usize).saturating_sub(self.buf.len()),
        }
    }

    /// Ends the stream after what was written.
    pub fn finish(&mut self) {
        self.end.get_or_insert(self.written());
    }

    /// Whether the application ended the stream.
    pub fn finished(&self) -> bool {
        self.end.is_some()
    }

    fn written(&self) -> u64 {
        self.una + self.buf.len() as u64
    }

    /// Whether the peer acknowledged every byte and the end.
    pub fn done(&self) -> bool {
        self.end_acked
    }

    /// Bytes held: unacknowledged or unsent.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes in flight: sent, neither acknowledged nor found lost.
    pub fn flight(&self) -> u64 {
        self.segments
            .values()
            .filter(|s| !s.sacked && !s.lost)
            .map(|s| s.len.max(1))
            .sum()
    }

    /// Whether anything sent is unacknowledged.
    pub fn outstanding(&self) -> bool {
        self.segments.values().any(|s| !s.sacked)
    }

    /// Whether the peer's limit holds back bytes that are ready: it must be asked
    /// for a new limit when nothing is in flight to bring one.
    pub fn blocked(&self) -> bool {
        self.next >= self.limit && self.written() > self.next
    }

    /// Heap bytes: the buffer and the segments in flight.
    pub fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::{btree, deque};
        deque(&self.buf) + btree::<u64, Segment>(self.segments.len())
    }

    /// The first offset never sent: where a probe points.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// The congestion window, for reports.
    pub fn window(&self) -> u64 {
        self.cc.window()
    }

    /// The next segment to send at `now`, if the windows allow one: a lost one first.
    pub fn poll_segment(&mut self, now: Time) -> Option<(u64, Vec<u8>, bool)> {
        let flight = self.flight();
        let fits = |len: u64| flight == 0 || flight + len.max(1) <= self.cc.window();
        let lost = self
            .segments
            .iter_mut()
            .find(|(_, s)| s.lost)
            .filter(|(_, s)| fits(s.len));
        let (offset, len, end) = if let Some((&offset, segment)) = lost {
            segment.lost = false;
            segment.resent = true;
            segment.sent = now;
            self.resent_bytes += segment.len;
            (offset, segment.len, segment.end)
        } else {
            let ready = self.written() - self.next;
            let len = ready
                .min(self.mss)
                .min(self.limit.saturating_sub(self.next));
            let end = self.end == Some(self.next + len) && !self.end_sent;
            if (len == 0 && !end) || !fits(len) {
                return None;
            }
            let offset = self.next;
            self.segments.insert(
                offset,
                Segment {
                    len,
                    end,
                    sent: now,
                    resent: false,
                    sacked: false,
                    lost: false,
                },
            );
            self.next += len;
            self.end_sent |= end;
            (offset, len, end)
        };
        let from = (offset - self.una) as usize;
        let bytes = self.buf.range(from..from + len as usize).copied().collect();
        self.rto_at.get_or_insert(now + self.rtt.rto());
        Some((offset, bytes, end))
    }

    /// An acknowledgement: every byte before `received` (and the end, if `end`), the
    /// `ranges` beyond it, and the peer's `limit`. Returns the bytes it newly
    /// acknowledged.
    pub fn on_ack(
        &mut self,
        now: Time,
        received: u64,
        end: bool,
        limit: u64,
        ranges: &[(u64, u64)],
    ) -> Result<u64, AckError> {
        let all_end = self.end.filter(|_| self.end_sent);
        if received > self.next || (end && all_end != Some(received)) {
            return Err(AckError);
        }
        self.limit = self.limit.max(limit);
        let flight = self.flight();
        let mut acked = 0;
        let mut sample = None;
        // Contiguous.
        while let Some(entry) = self.segments.first_entry() {
            let s = *entry.get();
            if *entry.key() + s.len > received || (s.end && !end) {
                break;
            }
            entry.remove();
            if !s.sacked {
                acked += s.len.max(1);
                if !s.resent {
                    sample = Some(s.sent);
                }
            }
            self.end_acked |= s.end;
        }
        if received > self.una {
            self.buf.drain(..(received - self.una) as usize);
            self.una = received;
        }
        if self.end_acked {
            // Nothing more will be written: give the buffer's capacity back, rather
            // than hold it while the finished stream lingers.
            self.buf = VecDeque::new();
        }
        // Beyond.
        for &(from, to) in ranges {
            for (&offset, s) in self.segments.range_mut(from..to) {
                if !s.sacked && offset + s.len <= to {
                    s.sacked = true;
                    s.lost = false;
                    acked += s.len;
                    if !s.resent {
                        sample = Some(sample.map_or(s.sent, |t: Time| t.max(s.sent)));
                    }
                }
            }
        }
        if let Some(sent) = sample {
            self.rtt.sample(now.saturating_since(sent));
        }
        // Lost: enough acknowledged beyond it.
        let (mut count, mut bytes, mut found) = (0, 0, false);
        for s in self.segments.values_mut().rev() {
            if s.sacked {
                count += 1;
                bytes += s.len;
            } else if !s.lost && (count >= DUP_THRESH || bytes >= DUP_THRESH * self.mss) {
                s.lost = true;
                found = true;
            }
        }
        if found {
            self.cc.on_loss(flight, self.next);
        }
        if acked > 0 {
            self.rtt.reset_backoff();
            // Held back by the window if it had less than a segment to spare.
            let limited = flight + self.mss > self.cc.window();
            self.cc.on_ack(acked, self.una, limited);
            self.rto_at = self.outstanding().then(|| now + self.rtt.rto());
        }
        Ok(acked)
    }

    /// When the retransmission timer fires.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.rto_at
    }

    /// The timer, if due: every unacknowledged segment is lost, the window drops to
    /// one segment and the timeout doubles. Returns whether it fired.
    pub fn handle_timeout(&mut self, now: Time) -> bool {
        if self.rto_at.is_none_or(|at| at > now) {
            return false;
        }
        if !self.outstanding() {
            self.rto_at = None;
            return false;
        }
        let flight = self.flight();
        for s in self.segments.values_mut().filter(|s| !s.sacked) {
            s.lost = true;
        }
        self.cc.on_timeout(flight, self.next);
        self.rtt.back_off();
        self.timeouts += 1;
        self.rto_at = Some(now + self.rtt.rto());
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MSS: u64 = 10;

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn segments_stay_within_the_limit_and_the_window() {
        let mut half = SendHalf::new(MSS, 1000, 25, RttEstimator::default());
        assert_eq!(half.write(&[1; 2000]), 1000);
        let sent: Vec<_> = std::iter::from_fn(|| half.poll_segment(at(0))).collect();
        assert_eq!(
            sent.iter().map(|s| (s.0, s.1.len())).collect::<Vec<_>>(),
            [(0, 10), (10, 10), (20, 5)]
        );
        assert!(half.blocked());
        assert_eq!(half.on_ack(at(10), 25, false, 1000, &[]), Ok(25));
        assert_eq!(half.rtt.srtt(), Some(Duration::from_millis(10)));
        // Ten segments of window: the peer's limit held the sender, not the window,
        // so the window did not grow (RFC 7661).
        let sent = std::iter::from_fn(|| half.poll_segment(at(10))).count();
        assert_eq!(sent, 10);
        // Held by the window now: an ack of ten segments grows it by two in slow
        // start (RFC 3465, L = 2).
        half.on_ack(at(20), 25 + 10 * MSS, false, 1000, &[])
            .unwrap();
        let sent = std::iter::from_fn(|| half.poll_segment(at(20))).count();
        assert_eq!(sent, 12);
    }

    #[test]
    fn three_segments_acknowledged_beyond_one_make_it_lost_and_it_goes_first() {
        let mut half = SendHalf::new(MSS, 1000, 1000, RttEstimator::default());
        half.write(&[2; 50]);
        half.finish();
        let sent: Vec<_> = std::iter::from_fn(|| half.poll_segment(at(0))).collect();
        assert_eq!(sent.len(), 5, "the end rides the last segment");
        assert!(sent[4].2);
        half.on_ack(at(5), 10, false, 1000, &[(20, 40)]).unwrap();
        assert_eq!(half.poll_segment(at(5)), None, "two beyond: not yet");
        half.on_ack(at(6), 10, false, 1000, &[(20, 50)]).unwrap();
        assert_eq!(half.poll_segment(at(6)).map(|s| s.0), Some(10));
        assert_eq!(half.resent_bytes, 10);
        assert!(!half.done());
        half.on_ack(at(9), 50, true, 1000, &[]).unwrap();
        assert!(half.done());
        assert!(half.poll_timeout().is_none());
        assert_eq!(half.heap_bytes(), 0, "a finished half holds no buffer");
    }

    #[test]
    fn a_timeout_resends_everything_unacknowledged_one_segment_at_a_time() {
        let mut half = SendHalf::new(MSS, 1000, 1000, RttEstimator::default());
        half.write(&[3; 30]);
        while half.poll_segment(at(0)).is_some() {}
        let due = half.poll_timeout().unwrap();
        assert!(!half.handle_timeout(due - Duration::from_millis(1)));
        assert!(half.handle_timeout(due));
        assert_eq!(half.poll_segment(due).map(|s| s.0), Some(0));
        assert_eq!(half.poll_segment(due), None, "one segment of window");
        assert_eq!(half.poll_timeout(), Some(due + Duration::from_secs(2)));
    }

    #[test]
    fn an_acknowledgement_of_bytes_never_sent_is_refused() {
        let mut half = SendHalf::new(MSS, 1000, 1000, RttEstimator::default());
        half.write(&[4; 5]);
        half.poll_segment(at(0));
        assert_eq!(half.on_ack(at(1), 6, false, 1000, &[]), Err(AckError));
        assert_eq!(half.on_ack(at(1), 5, true, 1000, &[]), Err(AckError));
    }
}
