//! How fast a stream may send: the retransmission timer of RFC 6298 and NewReno
//! congestion control (RFC 5681, with RFC 6582's recovery, RFC 6928's initial window
//! and RFC 3465's byte counting), both counted in bytes.
//!
//! In: round-trip samples, acknowledged bytes, loss and timeout signals. Out: the
//! retransmission timeout and the congestion window.

use std::time::Duration;

/// The smallest retransmission timeout. RFC 6298 asks for 1 s; like Linux, we take
/// 200 ms, which a path of a few milliseconds would otherwise wait out for nothing.
pub const RTO_MIN: Duration = Duration::from_millis(200);
/// The largest retransmission timeout (RFC 6298 (2.5)).
pub const RTO_MAX: Duration = Duration::from_secs(60);
/// The timeout before any round trip was measured (RFC 6298 (2.1)).
pub const RTO_INITIAL: Duration = Duration::from_secs(1);
/// The clock granularity G of RFC 6298: our clock is exact, so the floor of the
/// variance term is one millisecond.
const GRANULARITY: Duration = Duration::from_millis(1);

/// Smoothed round-trip time, its variation and the timeout they give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// How many timeouts in a row doubled the timeout (RFC 6298 (5.5)).
    backoff: u32,
    max: Duration,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator::with_max(RTO_MAX)
    }
}

impl RttEstimator {
    /// An estimator whose timeout never exceeds `max` (at least [`RTO_MIN`]). A
    /// stream caps it below its idle timeout, so that a lossy but live path is tried
    /// several times before the stream gives up on it.
    pub fn with_max(max: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            backoff: 0,
            max: max.clamp(RTO_MIN, RTO_MAX),
        }
    }

    /// Takes one sample `r`, from a segment sent once (Karn's rule is the caller's).
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                // (2.2)
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // (2.3): beta = 1/4, alpha = 1/8.
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        self.backoff = 0;
    }

    /// The smoothed round trip, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The timeout now: `SRTT + max(G, 4 RTTVAR)`, clamped, doubled per backoff.
    pub fn rto(&self) -> Duration {
        let base = match self.srtt {
            None => RTO_INITIAL,
            Some(srtt) => srtt + (self.rttvar * 4).max(GRANULARITY),
        };
        let base = base.clamp(RTO_MIN, self.max);
        base.saturating_mul(1 << self.backoff.min(16)).min(self.max)
    }

    /// The timer fired: double the timeout (5.5).
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// New data was acknowledged: the backoff ends.
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }
}

/// NewReno's window, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewReno {
    mss: u64,
    cwnd: u64,
    ssthresh: u64,
    /// Bytes acknowledged in congestion avoidance since the window last grew.
    avoided: u64,
    /// While recovering from a loss: the send offset when it was found. Nothing sent
    /// before it may shrink the window again (RFC 6582).
    recovery_until: Option<u64>,
}

impl NewReno {
    /// A window of 10 segments of `mss` bytes (RFC 6928) and no threshold yet.
    pub fn new(mss: u64) -> NewReno {
        NewReno {
            mss,
            cwnd: 10 * mss,
            ssthresh: u64::MAX,
            avoided: 0,
            recovery_until: None,
        }
    }

    /// Bytes that may be in flight.
    pub fn window(&self) -> u64 {
        self.cwnd
    }

    /// Whether a loss is being repaired.
    pub fn in_recovery(&self) -> bool {
        self.recovery_until.is_some()
    }

    /// `acked` bytes newly acknowledged; `cumulative` is the peer's contiguous offset;
    /// `limited` says whether the window was what held the sender back. A window that
    /// was not in use does not grow (RFC 7661): a sender held by the peer's limit or
    /// by its application would otherwise grow it without bound, then burst.
    pub fn on_ack(&mut self, acked: u64, cumulative: u64, limited: bool) {
        if let Some(until) = self.recovery_until {
            if cumulative < until {
                return;
            }
            self.recovery_until = None;
        }
        if !limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            // Slow start counting bytes (RFC 3465, L = 2): an acknowledgement of two
            // segments, as a delayed one is, grows the window by two.
            self.cwnd += acked.min(2 * self.mss);
        } else {
            // Congestion avoidance: one segment per window acknowledged.
            self.avoided += acked;
            if self.avoided >= self.cwnd {
                self.avoided -= self.cwnd;
                self.cwnd += self.mss;
            }
        }
    }

    /// A segment sent before `sent_until` was found lost by the acknowledgements;
    /// `flight` bytes were outstanding. Halves the window once per window of data.
    pub fn on_loss(&mut self, flight: u64, sent_until: u64) {
        if self.in_recovery() {
            return;
        }
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.avoided = 0;
        self.recovery_until = Some(sent_until);
    }

    /// The retransmission timer fired with `flight` bytes outstanding (RFC 5681 (4)):
    /// back to one segment.
    pub fn on_timeout(&mut self, flight: u64, sent_until: u64) {
        if !self.in_recovery() {
            self.ssthresh = (flight / 2).max(2 * self.mss);
        }
        self.cwnd = self.mss;
        self.avoided = 0;
        self.recovery_until = Some(sent_until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_timeout_follows_rfc_6298() {
        let mut rtt = RttEstimator::default();
        assert_eq!(rtt.rto(), RTO_INITIAL);
        rtt.sample(100 * MS);
        // 100 + 4 × 50.
        assert_eq!(rtt.rto(), 300 * MS);
        rtt.sample(100 * MS);
        // rttvar 37.5, srtt 100: 250.
        assert_eq!(rtt.rto(), 250 * MS);
        rtt.back_off();
        assert_eq!(rtt.rto(), 500 * MS);
        for _ in 0..40 {
            rtt.back_off();
        }
        assert_eq!(rtt.rto(), RTO_MAX);
        rtt.sample(MS);
        assert!(rtt.rto() >= RTO_MIN);
        let mut capped = RttEstimator::with_max(Duration::from_secs(5));
        for _ in 0..10 {
            capped.back_off();
        }
        assert_eq!(capped.rto(), Duration::from_secs(5));
    }

    #[test]
    fn newreno_grows_halves_once_per_window_and_restarts_after_a_timeout() {
        let mss = 1000;
        let mut cc = NewReno::new(mss);
        assert_eq!(cc.window(), 10 * mss);
        cc.on_ack(5 * mss, 5 * mss, false);
        assert_eq!(cc.window(), 10 * mss, "a window not in use does not grow");
        cc.on_ack(5 * mss, 5 * mss, true);
        assert_eq!(
            cc.window(),
            12 * mss,
            "slow start: up to two segments per ack"
        );
        cc.on_loss(11 * mss, 20 * mss);
        assert_eq!(cc.window(), 5 * mss + mss / 2);
        cc.on_loss(5 * mss, 20 * mss);
        assert_eq!(cc.window(), 5 * mss + mss / 2, "one halving per window");
        cc.on_ack(mss, 10 * mss, true);
        assert_eq!(cc.window(), 5 * mss + mss / 2, "no growth in recovery");
        cc.on_ack(mss, 20 * mss, true);
        assert!(!cc.in_recovery());
        // Congestion avoidance: a window's worth of acks for one segment more.
        let before = cc.window();
        cc.on_ack(before, 21 * mss, true);
        assert_eq!(cc.window(), before + mss);
        cc.on_timeout(8 * mss, 30 * mss);
        assert_eq!(cc.window(), mss);
    }
}
