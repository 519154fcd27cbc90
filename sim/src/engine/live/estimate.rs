//! How long a live run will take and how much of the machine it will need, said before
//! it starts.
//!
//! In: the scenario, and the figures of a run of it on the direct engine with fast
//! crypto (a dry run the estimate makes itself, or one the caller already has, as
//! `dswarm compare` does). Out: the wall time (the scenario's duration, plus starting
//! the nodes) and the CPU the run needs, from a cost model of the live world fitted on
//! this kind of machine:
//!
//! `cpu = FIXED + handshakes · HANDSHAKE + datagrams · DATAGRAM + nodes · seconds · IDLE`
//!
//! where a handshake is one side's share of a completed secret handshake (real
//! ed25519 and x25519), a datagram is one copy on the wire through two shims, and a
//! node-second is a node's timers and the runtime's share of it. A run's load is not
//! even — a swarm forming does most of its handshakes in its first seconds — so the
//! estimate also takes the busiest second of the simulated run (its datagrams, each
//! carrying its share of the handshakes). When that second needs more than [`BUSY`]
//! of the cores it will lag, and the estimate says so before the run, as the run's
//! own measurements ([`super::watch`]) will after it.

use std::time::Duration;

use crate::runner::{self, Options, Run};
use crate::scenario::{CryptoKind, EngineKind, Scenario};

// Fitted on nine live runs on one machine (2 cores): the shipped quickstart, lossy,
// partition-heal and records, and swarms of 100 to 600 nodes at rest after they
// formed. The model is within a third of each run's measured CPU (records, whose
// signatures it does not count, and lossy, whose lag costs retries, run 25 % over
// it; 600 nodes, whose busy workers read many datagrams a wake, 30 % under). A swarm
// at rest costs next to nothing: 300 nodes for 30 s and for 90 s took 8.71 and 8.73 s.
// The handshake's share is what the core's handshake benchmark costs a side, fixed,
// since handshakes and datagrams rise together and a free fit cannot part them.
/// CPU of one side of a completed handshake (seconds).
const HANDSHAKE: f64 = 0.000_23;
/// CPU of one datagram through the shims and the driver, both ends (seconds).
const DATAGRAM: f64 = 0.000_04;
/// CPU of one node for one second, at rest (seconds).
const IDLE: f64 = 0.000_001;
/// CPU of a run whatever its size: the runtime, the runner's asks (seconds).
const FIXED: f64 = 1.0;
/// Starting one node: its socket, keys and task (seconds of wall time).
const START: f64 = 0.000_3;
/// The share of the cores above which a run lags.
pub const BUSY: f64 = 0.7;

/// What a live run of a scenario will take; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Wall time.
    pub wall: Duration,
    /// CPU time.
    pub cpu: Duration,
    /// Cores the run has.
    pub cores: usize,
    /// The simulated run's datagrams and completed handshakes.
    pub datagrams: u64,
    /// See `datagrams`.
    pub handshakes: u64,
    /// CPU the busiest simulated second needs, in seconds.
    pub peak: f64,
}

impl Estimate {
    /// The estimate for `scenario` on `cores` cores from a direct run of it.
    pub fn from_run(scenario: &Scenario, run: &Run, cores: usize) -> Estimate {
        let report = &run.report;
        let seconds = scenario.duration.as_secs_f64();
        let nodes = scenario.nodes as f64;
        let handshakes = report.protocol.sessions.handshakes_completed;
        let datagrams = report.messages.sent;
        let traffic = handshakes as f64 * HANDSHAKE + datagrams as f64 * DATAGRAM;
        let per_datagram = traffic / datagrams.max(1) as f64;
        let busiest = run
            .series
            .messages_per_sec
            .iter()
            .map(|&(_, rate)| rate)
            .fold(0.0, f64::max);
        Estimate {
            wall: Duration::from_secs_f64(seconds + nodes * START),
            cpu: Duration::from_secs_f64(FIXED + traffic + nodes * seconds * IDLE),
            cores: cores.max(1),
            datagrams,
            handshakes,
            peak: busiest * per_datagram + nodes * IDLE,
        }
    }

    /// The estimate for `scenario`, from a quiet dry run on the direct engine with
    /// fast crypto (same messages, same handshakes, a fraction of the time).
    pub fn dry_run(scenario: &Scenario, cores: usize) -> std::io::Result<Estimate> {
        let mut dry = scenario.clone();
        dry.engine = EngineKind::Direct;
        dry.crypto = CryptoKind::Fast;
        let options = Options {
            threads: cores,
            ..Options::default()
        };
        let run = runner::run(&dry, options)?;
        Ok(Estimate::from_run(scenario, &run, cores))
    }

    /// The share of the cores' time the run needs.
    pub fn load(&self) -> f64 {
        self.cpu.as_secs_f64() / (self.cores as f64 * self.wall.as_secs_f64().max(1e-9))
    }

    /// The share of the cores its busiest second needs.
    pub fn peak_load(&self) -> f64 {
        self.peak / self.cores as f64
    }

    /// Whether the run, or its busiest second, will need more of the machine than it
    /// can give without lag.
    pub fn overloaded(&self) -> bool {
        self.load() > BUSY || self.peak_load() > BUSY
    }

    /// One line for the user, and a warning line when the machine will not keep up.
    pub fn lines(&self, nodes: usize) -> String {
        let mut lines = format!(
            "live: {nodes} nodes: about {:.0} s of wall time; CPU about {:.1} s, {:.0} % of {} \
             cores, {:.0} % in the busiest second ({} handshakes, {} datagrams)",
            self.wall.as_secs_f64(),
            self.cpu.as_secs_f64(),
            self.load() * 100.0,
            self.cores,
            self.peak_load() * 100.0,
            self.handshakes,
            self.datagrams
        );
        if self.overloaded() {
            lines.push_str(&format!(
                "\nwarning: this machine will not keep up: the run needs more than {:.0} % of \
                 its cores at times; expect lag and figures that are not trustworthy (fewer \
                 nodes, a longer join window, or the direct engine)",
                BUSY * 100.0
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_is_the_cpu_over_the_cores_time() {
        let estimate = Estimate {
            wall: Duration::from_secs(60),
            cpu: Duration::from_secs(30),
            cores: 2,
            datagrams: 1,
            handshakes: 1,
            peak: 1.0,
        };
        assert!((estimate.load() - 0.25).abs() < 1e-9);
        assert!(!estimate.overloaded());
        assert!(!estimate.lines(300).contains("warning"));
        let busy = Estimate {
            cpu: Duration::from_secs(100),
            ..estimate
        };
        assert!(busy.overloaded());
        assert!(busy.lines(300).contains("will not keep up"));
        let bursty = Estimate {
            peak: 1.6,
            ..estimate
        };
        assert!(bursty.overloaded(), "a second at 80 % of two cores lags");
    }
}
