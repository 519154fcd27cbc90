//! [`Time`]: a point on one node's monotonic clock.
//!
//! Nothing in `proto` can produce the current `Time`: it always arrives as an argument
//! from the driver (the simulator's scheduler or the live adapter's tokio clock). Spans
//! are plain [`std::time::Duration`]s.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on one node's monotonic clock: microseconds since its driver started.
///
/// Plain data, so traces stay deterministic and serialisable; its `Debug` prints the
/// same text on every run ("12.5s"). Clocks belong to nodes, so a `Time` never goes on
/// the wire.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    /// The driver's epoch.
    pub const ZERO: Time = Time(0);
    /// The end of time: a deadline that never comes.
    pub const MAX: Time = Time(u64::MAX);

    /// A time `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Time {
        Time(micros)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The span since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// The span from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

fn micros(span: Duration) -> u64 {
    u64::try_from(span.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Time {
    type Output = Time;

    /// Saturating: a deadline past the end of time means "never".
    fn add(self, span: Duration) -> Time {
        Time(self.0.saturating_add(micros(span)))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;

    /// Saturating at the epoch.
    fn sub(self, span: Duration) -> Time {
        Time(self.0.saturating_sub(micros(span)))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;

    /// The span between two times, zero if `rhs` is later.
    fn sub(self, rhs: Time) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", Duration::from_micros(self.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Time::MAX + Duration::from_secs(1), Time::MAX);
        assert_eq!(Time::ZERO - Duration::from_secs(1), Time::ZERO);
        assert_eq!(Time::ZERO - Time::from_micros(5), Duration::ZERO);
        let t = Time::ZERO + Duration::from_millis(1500);
        assert_eq!(t.as_micros(), 1_500_000);
        assert_eq!(t - Time::from_micros(500_000), Duration::from_secs(1));
    }

    #[test]
    fn debug_prints_virtual_time_not_a_clock() {
        assert_eq!(format!("{:?}", Time::from_micros(12_500_000)), "12.5s");
    }
}
