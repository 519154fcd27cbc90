//! The faults of issue 7 ("hard networks") as scenario keys: `network.clock_skew`,
//! `network.nat`, the top-level `churn` table, and the `crash` and `restart` actions of
//! `[[at]]` (those are read in `events.rs` with the other actions); and the kinds of NAT
//! the world simulates, which `network.nat` shares the nodes among.
//!
//! In: those tables as read ([`raw`]), and the run they are in. Out: a [`ChurnSpec`],
//! a [`ClockSkew`], a [`NatSpec`], or an error naming the line and key. What an engine cannot run is
//! refused here too, at the key that asks for it.

use std::time::Duration;

use dswarm::harness::ClockSkew;

use super::check::Run;
use super::duration::format_duration;
use super::raw;
use super::support::{self, Feature};
use super::{NetworkSpec, ScenarioError};

/// The largest clock offset a scenario may draw: a day.
pub const CLOCK_OFFSET_MAX: Duration = Duration::from_secs(86_400);
/// The largest clock drift: a tenth (6 minutes an hour).
pub const CLOCK_DRIFT_MAX: f64 = 0.1;
/// The highest churn rate: the whole swarm a second.
pub const CHURN_RATE_MAX: f64 = 1.0;

/// The NAT a node sits behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NatKind {
    /// No NAT: reachable at its own address.
    Open,
    /// Endpoint-independent mapping, address-dependent filtering.
    Consistent,
    /// A mapping per destination, address-and-port-dependent filtering (symmetric).
    Random,
}

impl NatKind {
    /// Every kind, in the order of the scenario key and the report.
    pub const ALL: [NatKind; 3] = [NatKind::Open, NatKind::Consistent, NatKind::Random];

    /// Its scenario key and report name.
    pub fn as_str(self) -> &'static str {
        match self {
            NatKind::Open => "open",
            NatKind::Consistent => "consistent",
            NatKind::Random => "random",
        }
    }
}

/// `network.nat`: the shares of the nodes behind each kind of NAT.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NatSpec {
    /// Open nodes: what the other two leave.
    pub open: f64,
    /// Nodes behind an endpoint-independent NAT.
    pub consistent: f64,
    /// Nodes behind a symmetric NAT.
    pub random: f64,
}

impl Default for NatSpec {
    fn default() -> Self {
        NatSpec {
            open: 1.0,
            consistent: 0.0,
            random: 0.0,
        }
    }
}

impl NatSpec {
    /// Whether every node is open.
    pub fn is_none(&self) -> bool {
        self.consistent == 0.0 && self.random == 0.0
    }

    /// How many of `nodes` sit behind a NAT of `kind`: shares rounded to whole nodes,
    /// the open ones what is left.
    pub fn count(&self, kind: NatKind, nodes: usize) -> usize {
        let of = |share: f64| (share * nodes as f64).round() as usize;
        match kind {
            NatKind::Consistent => of(self.consistent),
            NatKind::Random => of(self.random).min(nodes - of(self.consistent).min(nodes)),
            NatKind::Open => {
                nodes - self.count(NatKind::Consistent, nodes) - self.count(NatKind::Random, nodes)
            }
        }
    }
}

/// `churn`: nodes leave and new nodes join at steady rates over a window of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnSpec {
    /// `leave`: the share of the scenario's `nodes` that leaves per second.
    pub leave: f64,
    /// `join`: the share of the scenario's `nodes` that joins (new nodes) per second.
    pub join: f64,
    /// `graceful`: the share of leaving nodes that say goodbye; the rest vanish.
    pub graceful: f64,
    /// `from`: when the churn starts; default the end of the join window.
    pub from: Duration,
    /// `until`: when it stops; default the end of the run.
    pub until: Duration,
}

impl ChurnSpec {
    /// How many nodes leave over the window, in a swarm of `nodes`.
    pub fn leaves(&self, nodes: usize) -> usize {
        Self::events(self.leave, nodes, self.until - self.from)
    }

    /// How many new nodes join over the window, in a swarm of `nodes`.
    pub fn joins(&self, nodes: usize) -> usize {
        Self::events(self.join, nodes, self.until - self.from)
    }

    fn events(rate: f64, nodes: usize, window: Duration) -> usize {
        (rate * nodes as f64 * window.as_secs_f64() + 1e-9).floor() as usize
    }

    /// When the `k`-th of `count` events of the window happens: evenly spread, each in
    /// the middle of its share of the window.
    pub fn moment(&self, k: usize, count: usize) -> Duration {
        let window = self.until - self.from;
        self.from + window.mul_f64((k as f64 + 0.5) / count.max(1) as f64)
    }
}

/// `network.clock_skew = { offset = "30s", drift = 0.001 }` on the run's engine.
pub(super) fn clock_skew_value(
    run: &Run<'_>,
    skew: raw::ClockSkew,
) -> Result<ClockSkew, ScenarioError> {
    let mut value = ClockSkew::default();
    if let Some(offset) = skew.offset {
        if offset.0 > CLOCK_OFFSET_MAX {
            return Err(run.error(
                "network.clock_skew.offset",
                format!(
                    "{} is more than the largest clock offset, {}",
                    format_duration(offset.0),
                    format_duration(CLOCK_OFFSET_MAX)
                ),
            ));
        }
        value.offset_max = offset.0;
    }
    if let Some(drift) = skew.drift {
        let drift = drift.0;
        let error = |message: String| run.error("network.clock_skew.drift", message);
        if !(0.0..=CLOCK_DRIFT_MAX).contains(&drift) {
            return Err(error(format!(
                "{drift} is not a drift from 0 to {CLOCK_DRIFT_MAX}; 0.001 is a clock a \
                 millisecond a second fast or slow"
            )));
        }
        let engine = run.engine;
        if let (true, Some(why)) = (drift > 0.0, support::refusal(engine, Feature::ClockDrift)) {
            return Err(error(format!(
                "the {engine} engine cannot drift clocks: {why}; set engine = \"direct\", or \
                 keep only `offset`"
            )));
        }
        value.drift_max = drift;
    }
    if value.is_none() {
        return Err(run.error(
            "network.clock_skew",
            "skews nothing; set `offset` or `drift` above 0, or remove `clock_skew`",
        ));
    }
    Ok(value)
}

/// `network.nat = { open = 0.4, consistent = 0.4, random = 0.2 }`: shares from 0 to 1
/// that add up to 1; `open` may be left out and takes the rest.
pub(super) fn nat_value(run: &Run<'_>, nat: raw::Nat) -> Result<NatSpec, ScenarioError> {
    let consistent = nat.consistent.map_or(0.0, |share| share.0);
    let random = nat.random.map_or(0.0, |share| share.0);
    let behind = consistent + random;
    let open = match nat.open {
        Some(open) if (open.0 + behind - 1.0).abs() > 1e-6 => {
            return Err(run.error(
                "network.nat",
                format!("the shares add up to {}, not 1", open.0 + behind),
            ))
        }
        Some(open) => open.0,
        None if behind > 1.0 + 1e-6 => {
            return Err(run.error(
                "network.nat",
                format!("consistent and random add up to {behind}, more than every node"),
            ))
        }
        None => (1.0 - behind).max(0.0),
    };
    Ok(NatSpec {
        open,
        consistent,
        random,
    })
}

/// The top-level `churn = { leave = "2%/min", join = "2%/min", ... }` of a run whose
/// network is `network`.
pub(super) fn churn_value(
    run: &Run<'_>,
    network: &NetworkSpec,
    churn: raw::Churn,
) -> Result<ChurnSpec, ScenarioError> {
    let error = |name: &str, message: String| run.error(&format!("churn.{name}"), message);
    let (leave, join) = (
        churn.leave.map(|rate| rate.0),
        churn.join.map(|rate| rate.0),
    );
    if leave.is_none() && join.is_none() {
        return Err(run.error(
            "churn",
            "churns nothing; set `leave` or `join`, like `leave = \"2%/min\"`",
        ));
    }
    if churn.graceful.is_some() && leave.is_none() {
        return Err(error(
            "graceful",
            "goes with leave, which is missing".to_owned(),
        ));
    }
    let from = churn.from.map_or(network.join_window, |from| from.0);
    let until = match churn.until {
        Some(until) if until.0 > run.duration => {
            return Err(error(
                "until",
                format!(
                    "{} is after the end of the run (duration = {})",
                    format_duration(until.0),
                    format_duration(run.duration)
                ),
            ))
        }
        Some(until) => until.0,
        None => run.duration,
    };
    if from >= until {
        let message = format!(
            "from {}{} is not before until {}{}",
            format_duration(from),
            if churn.from.is_some() {
                ""
            } else {
                " (the end of the join window)"
            },
            format_duration(until),
            if churn.until.is_some() {
                ""
            } else {
                " (the end of the run)"
            },
        );
        return Err(match (churn.from, churn.until) {
            (Some(_), _) => error("from", message),
            (None, Some(_)) => error("until", message),
            (None, None) => run.error("churn", message),
        });
    }
    let spec = ChurnSpec {
        leave: leave.unwrap_or(0.0),
        join: join.unwrap_or(0.0),
        graceful: churn.graceful.map_or(0.0, |share| share.0),
        from,
        until,
    };
    let window = format_duration(until - from);
    let (nodes, leaves, joins) = (run.nodes, spec.leaves(run.nodes), spec.joins(run.nodes));
    if leave.is_some() {
        super::check::churn_fits(&spec, nodes, network.bootstrap)
            .map_err(|message| error("leave", message))?;
        if leaves == 0 && spec.leave > 0.0 {
            return Err(error(
                "leave",
                format!(
                    "less than one node of {nodes} leaves over {window}; raise the rate or widen the window"
                ),
            ));
        }
    }
    if join.is_some() && joins == 0 && spec.join > 0.0 {
        return Err(error(
            "join",
            format!(
                "less than one node joins a swarm of {nodes} over {window}; raise the rate or widen the window"
            ),
        ));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests;
