//! Per-node clocks: how far each simulated node's clocks stray from the simulation's.
//!
//! In: a [`ClockSkew`] (the largest wall-clock offset and the largest drift) and the
//! run's seed. Out: one [`NodeClock`] per node, drawn from a stream of its own, which
//! turns the simulation's time into the node's monotonic time and back, and gives the
//! node's wall clock.
//!
//! A node's monotonic clock runs at `1 + drift` times the simulation's:
//! `local = t + round(t × drift)`, so it never goes backwards while `|drift| < 0.5`.
//! Its wall clock reads [`UNIX_START`](super::UNIX_START) `+ offset + local`. Node `i`'s
//! clock is a pure function of the seed and `i` (its draws sit at a fixed place in the
//! stream), so adding nodes or turning another fault on moves no clock.

use std::time::Duration;

use rand_core::RngCore;

use super::network::{seed_stream, unit};
use crate::proto::Time;

/// The RNG stream of node clocks within a run's seed.
use super::streams::CLOCK as STREAM_CLOCK;

/// How far node clocks may stray; the default is none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockSkew {
    /// Each node's wall clock is off by a uniform draw from `[-offset_max, +offset_max]`.
    pub offset_max: Duration,
    /// Each node's clocks run fast or slow by a uniform draw from
    /// `[-drift_max, +drift_max]` (0.001 is a millisecond a second); below 0.5.
    pub drift_max: f64,
}

impl ClockSkew {
    /// Whether every node keeps the simulation's time.
    pub fn is_none(&self) -> bool {
        self.offset_max.is_zero() && self.drift_max == 0.0
    }

    /// Node `index`'s clock in a run of `seed`.
    pub fn clock(&self, seed: u64, index: usize) -> NodeClock {
        if self.is_none() {
            return NodeClock::default();
        }
        let mut rng = seed_stream(seed, STREAM_CLOCK);
        // Two u64 draws (four 32-bit words) per node, at the node's own place.
        rng.set_word_pos(index as u128 * 4);
        let span = self.offset_max.as_micros() as u64;
        let offset = (rng.next_u64() % (2 * span + 1)) as i64 - span as i64;
        let drift = (unit(&mut rng) * 2.0 - 1.0) * self.drift_max;
        NodeClock {
            offset_micros: offset,
            drift,
        }
    }
}

/// One node's clocks; the default keeps the simulation's time exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeClock {
    /// Its wall clock's offset from the simulation's, in microseconds.
    pub offset_micros: i64,
    /// How much faster (above 0) or slower its clocks run.
    pub drift: f64,
}

impl NodeClock {
    /// The node's monotonic time when the simulation's reads `t`.
    pub fn local(&self, t: Time) -> Time {
        if self.drift == 0.0 {
            return t;
        }
        let t = t.as_micros();
        let skew = (t as f64 * self.drift).round() as i128;
        let local = (i128::from(t) + skew).clamp(0, i128::from(u64::MAX));
        Time::from_micros(local as u64)
    }

    /// The earliest simulated time at which the node's monotonic clock reads `local`
    /// or later: where a node's deadline goes in the simulation's queue.
    pub fn global(&self, local: Time) -> Time {
        if self.drift == 0.0 || local == Time::MAX {
            return local;
        }
        let target = local.as_micros();
        let guess = (target as f64 / (1.0 + self.drift)).floor();
        let mut t = if guess >= u64::MAX as f64 {
            u64::MAX
        } else {
            guess.max(0.0) as u64
        };
        // Rounding puts the guess within a microsecond or two; settle it exactly.
        while t < u64::MAX && self.local(Time::from_micros(t)).as_micros() < target {
            t += 1;
        }
        while t > 0 && self.local(Time::from_micros(t - 1)).as_micros() >= target {
            t -= 1;
        }
        Time::from_micros(t)
    }

    /// The node's wall clock, since the Unix epoch, when its monotonic clock reads
    /// `local`.
    pub fn unix_at(&self, local: Time) -> Duration {
        let micros = i128::from(super::UNIX_START.as_micros() as u64)
            + i128::from(self.offset_micros)
            + i128::from(local.as_micros());
        Duration::from_micros(micros.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_skew_keeps_the_simulations_time() {
        let clock = ClockSkew::default().clock(1, 5);
        assert_eq!(clock, NodeClock::default());
        let t = Time::from_micros(123_456_789);
        assert_eq!(clock.local(t), t);
        assert_eq!(clock.global(t), t);
        assert_eq!(clock.unix_at(Time::ZERO), super::super::UNIX_START);
    }

    #[test]
    fn draws_stay_in_range_and_depend_on_seed_and_index_only() {
        let skew = ClockSkew {
            offset_max: Duration::from_secs(30),
            drift_max: 0.001,
        };
        let clocks: Vec<NodeClock> = (0..1000).map(|i| skew.clock(7, i)).collect();
        for c in &clocks {
            assert!(c.offset_micros.abs() <= 30_000_000, "{c:?}");
            assert!(c.drift.abs() <= 0.001, "{c:?}");
        }
        let fast = clocks.iter().filter(|c| c.drift > 0.0).count();
        assert!((400..600).contains(&fast), "{fast} of 1000 fast");
        let far = clocks
            .iter()
            .filter(|c| c.offset_micros.abs() > 15_000_000)
            .count();
        assert!((400..600).contains(&far), "{far} of 1000 beyond 15 s");
        assert_eq!(skew.clock(7, 500), clocks[500]);
        assert_ne!(skew.clock(8, 500), clocks[500]);
    }

    #[test]
    fn local_time_is_monotonic_and_global_inverts_it() {
        for drift in [0.001, -0.001, 0.05, -0.05] {
            let clock = NodeClock {
                offset_micros: -3,
                drift,
            };
            let mut last = Time::ZERO;
            for t in (0..2_000_000u64)
                .step_by(997)
                .chain([3_600_000_000, 86_400_000_000])
            {
                let t = Time::from_micros(t);
                let local = clock.local(t);
                assert!(local >= last, "drift {drift}: {t:?} goes back");
                last = local;
                let back = clock.global(local);
                assert!(
                    back <= t && clock.local(back) >= local,
                    "drift {drift} at {t:?}"
                );
                if back > Time::ZERO {
                    let before = Time::from_micros(back.as_micros() - 1);
                    assert!(clock.local(before) < local);
                }
            }
            let hour = Time::ZERO + Duration::from_secs(3600);
            let expect = 3600.0 * (1.0 + drift);
            let got = clock.local(hour).since_epoch().as_secs_f64();
            assert!((got - expect).abs() < 1e-3, "{got} != {expect}");
        }
    }
}
