//! What a run shows while it goes: progress lines for people, and samples over
//! simulated time for the HTML report's charts.
//!
//! In: the engine and the tally, as the run advances. Out: a line on stderr now and
//! then (wall time), and the charts' series.

use std::time::{Duration, Instant};

use dswarm::proto::Time;

use super::tally::Tally;
use super::PROGRESS_EVERY;
use crate::engine::Engine;

/// Samples of the run over time, for the HTML report's charts: at most about
/// [`SAMPLES`] of them, at least a simulated second apart.
pub(super) struct Sampler {
    every: Duration,
    next: Time,
    last: (Time, u64),
    pub(super) series: crate::report::Series,
}

/// Samples per run, about.
const SAMPLES: u32 = 120;

impl Sampler {
    pub(super) fn new(duration: Duration) -> Sampler {
        let every = (duration / SAMPLES).max(Duration::from_secs(1));
        Sampler {
            every,
            next: Time::ZERO + every,
            last: (Time::ZERO, 0),
            series: crate::report::Series::default(),
        }
    }

    pub(super) fn tick(&mut self, engine: &mut dyn Engine) {
        let now = engine.now();
        if now < self.next {
            return;
        }
        self.next = now + self.every;
        let t = now.since_epoch().as_secs_f64();
        let tables = engine.table_sizes();
        let mean = tables.iter().sum::<usize>() as f64 / tables.len().max(1) as f64;
        let least = tables.iter().copied().min().unwrap_or(0) as f64;
        self.series.table_fill.push((t, mean, least));
        let sent = engine.net_stats().sent;
        let span = (now - self.last.0).as_secs_f64().max(1e-9);
        let rate = sent.saturating_sub(self.last.1) as f64 / span;
        self.series.messages_per_sec.push((t, rate));
        self.last = (now, sent);
    }
}

pub(super) struct Progress {
    on: bool,
    wall: Instant,
    last: Duration,
    end: Time,
}

impl Progress {
    pub(super) fn new(on: bool, wall: Instant, end: Time) -> Progress {
        Progress {
            on,
            wall,
            last: Duration::ZERO,
            end,
        }
    }

    pub(super) fn tick(&mut self, now: Time, tally: &Tally) {
        if !self.on {
            return;
        }
        let elapsed = self.wall.elapsed();
        if elapsed < self.last + PROGRESS_EVERY {
            return;
        }
        self.last = elapsed;
        eprintln!(
            "  simulated {:.1} / {:.1} s, {:.1} s wall, lookups {} done of {} started",
            now.since_epoch().as_secs_f64(),
            self.end.since_epoch().as_secs_f64(),
            elapsed.as_secs_f64(),
            tally.lookups_done,
            tally.lookups_started,
        );
    }
}
