//! The faults of issue 7 ("hard networks") as scenario keys: `network.clock_skew`,
//! `network.nat`, the top-level `churn` table, and the `crash` and `restart` actions of
//! `[[at]]` (those are read in `check.rs` with the other actions; their rules are here).
//!
//! In: the fields of a scenario file. Out: a [`ChurnSpec`], a [`ClockSkew`], a
//! [`NatSpec`], or an error naming the line and key. What an engine cannot run is
//! refused here too, at the key that asks for it.

use std::time::Duration;

use dswarm::harness::ClockSkew;

use super::duration::{format_duration, parse_duration};
use super::fields::Field;
use super::keys::{CHURN_KEYS, CLOCK_SKEW_KEYS, NAT_KEYS};
use super::support::{self, Feature};
use super::tree::Kind;
use super::{EngineKind, ScenarioError};
use crate::world::nat::NatSpec;

/// The largest clock offset a scenario may draw: a day.
pub const CLOCK_OFFSET_MAX: Duration = Duration::from_secs(86_400);
/// The largest clock drift: a tenth (6 minutes an hour).
pub const CLOCK_DRIFT_MAX: f64 = 0.1;
/// The highest churn rate: the whole swarm a second.
pub const CHURN_RATE_MAX: f64 = 1.0;

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

/// `network.clock_skew = { offset = "30s", drift = 0.001 }` on `engine`.
pub(super) fn clock_skew_value(
    field: &Field<'_>,
    engine: EngineKind,
) -> Result<ClockSkew, ScenarioError> {
    if !matches!(field.value.kind, Kind::Table(_)) {
        return Err(field.type_error("a table like `{ offset = \"30s\", drift = 0.001 }`"));
    }
    let table = field.table(CLOCK_SKEW_KEYS)?;
    let mut skew = ClockSkew::default();
    if let Some(offset) = table.get("offset") {
        let value = offset.duration()?;
        if value > CLOCK_OFFSET_MAX {
            return Err(offset.error(format!(
                "{} is more than the largest clock offset, {}",
                format_duration(value),
                format_duration(CLOCK_OFFSET_MAX)
            )));
        }
        skew.offset_max = value;
    }
    if let Some(drift) = table.get("drift") {
        let value = drift.number()?;
        if !(0.0..=CLOCK_DRIFT_MAX).contains(&value) {
            return Err(drift.error(format!(
                "{value} is not a drift from 0 to {CLOCK_DRIFT_MAX}; 0.001 is a clock a \
                 millisecond a second fast or slow"
            )));
        }
        if let (true, Some(why)) = (value > 0.0, support::refusal(engine, Feature::ClockDrift)) {
            return Err(drift.error(format!(
                "the {engine} engine cannot drift clocks: {why}; set engine = \"direct\", or \
                 keep only `offset`"
            )));
        }
        skew.drift_max = value;
    }
    if skew.is_none() {
        return Err(
            table.error("skews nothing; set `offset` or `drift` above 0, or remove `clock_skew`")
        );
    }
    Ok(skew)
}

/// `network.nat = { open = 0.4, consistent = 0.4, random = 0.2 }`: shares from 0 to 1
/// that add up to 1; `open` may be left out and takes the rest.
pub(super) fn nat_value(field: &Field<'_>) -> Result<NatSpec, ScenarioError> {
    if !matches!(field.value.kind, Kind::Table(_)) {
        return Err(
            field.type_error("a table like `{ open = 0.4, consistent = 0.4, random = 0.2 }`")
        );
    }
    let table = field.table(NAT_KEYS)?;
    let share = |name: &str| -> Result<Option<f64>, ScenarioError> {
        table
            .get(name)
            .map(|field| field.probability(false))
            .transpose()
    };
    let consistent = share("consistent")?.unwrap_or(0.0);
    let random = share("random")?.unwrap_or(0.0);
    let behind = consistent + random;
    let open = match share("open")? {
        Some(open) => {
            if (open + behind - 1.0).abs() > 1e-6 {
                return Err(table.error(format!("the shares add up to {}, not 1", open + behind)));
            }
            open
        }
        None if behind > 1.0 + 1e-6 => {
            return Err(table.error(format!(
                "consistent and random add up to {behind}, more than every node"
            )))
        }
        None => (1.0 - behind).max(0.0),
    };
    Ok(NatSpec {
        open,
        consistent,
        random,
    })
}

/// What the churn window is checked against.
pub(super) struct ChurnRun {
    pub(super) nodes: usize,
    pub(super) duration: Duration,
    pub(super) join_window: Duration,
    pub(super) bootstrap: usize,
}

/// The top-level `churn = { leave = "2%/min", join = "2%/min", ... }`.
pub(super) fn churn_value(field: &Field<'_>, run: &ChurnRun) -> Result<ChurnSpec, ScenarioError> {
    if !matches!(field.value.kind, Kind::Table(_)) {
        return Err(field.type_error("a table like `{ leave = \"2%/min\", join = \"2%/min\" }`"));
    }
    let table = field.table(CHURN_KEYS)?;
    let leave_field = table.get("leave");
    let join_field = table.get("join");
    let leave = leave_field.as_ref().map(churn_rate).transpose()?;
    let join = join_field.as_ref().map(churn_rate).transpose()?;
    if leave.is_none() && join.is_none() {
        return Err(table.error("churns nothing; set `leave` or `join`, like `leave = \"2%/min\"`"));
    }
    let graceful = match table.get("graceful") {
        Some(field) => {
            let share = field.probability(false)?;
            if leave.is_none() {
                return Err(field.key_error("goes with leave, which is missing"));
            }
            share
        }
        None => 0.0,
    };
    let from_field = table.get("from");
    let from = match &from_field {
        Some(field) => field.duration()?,
        None => run.join_window,
    };
    let until_field = table.get("until");
    let until = match &until_field {
        Some(field) => {
            let until = field.duration()?;
            if until > run.duration {
                return Err(field.error(format!(
                    "{} is after the end of the run (duration = {})",
                    format_duration(until),
                    format_duration(run.duration)
                )));
            }
            until
        }
        None => run.duration,
    };
    if from >= until {
        let message = format!(
            "from {}{} is not before until {}{}",
            format_duration(from),
            if from_field.is_some() {
                ""
            } else {
                " (the end of the join window)"
            },
            format_duration(until),
            if until_field.is_some() {
                ""
            } else {
                " (the end of the run)"
            },
        );
        return Err(match (&from_field, &until_field) {
            (Some(field), _) | (None, Some(field)) => field.error(message),
            (None, None) => table.error(message),
        });
    }
    let spec = ChurnSpec {
        leave: leave.unwrap_or(0.0),
        join: join.unwrap_or(0.0),
        graceful,
        from,
        until,
    };
    // Bootstrap nodes never leave; everybody else may, while two stay.
    let (leaves, joins) = (spec.leaves(run.nodes), spec.joins(run.nodes));
    let leavable = run.nodes.saturating_sub(run.bootstrap.max(2)) + joins;
    if let Some(field) = &leave_field {
        if leaves > leavable {
            return Err(field.error(format!(
                "{leaves} nodes would leave over {}, but only {leavable} may (the {} nodes \
                 that are not bootstrap nodes, less 2 that stay, plus {joins} joining)",
                format_duration(until - from),
                run.nodes,
            )));
        }
        if leaves == 0 && spec.leave > 0.0 {
            return Err(field.error(format!(
                "less than one node of {} leaves over {}; raise the rate or widen the window",
                run.nodes,
                format_duration(until - from)
            )));
        }
    }
    if let (Some(field), 0) = (&join_field, joins) {
        if spec.join > 0.0 {
            return Err(field.error(format!(
                "less than one node joins a swarm of {} over {}; raise the rate or widen the window",
                run.nodes,
                format_duration(until - from)
            )));
        }
    }
    Ok(spec)
}

/// A churn rate: `"2%/min"` (a percentage of the scenario's nodes per unit of time)
/// or `"0.02/min"` (a share); units as in durations, plus `min`. Returns the share per
/// second.
fn churn_rate(field: &Field<'_>) -> Result<f64, ScenarioError> {
    let Kind::String(text) = &field.value.kind else {
        return Err(field.type_error("a rate like \"2%/min\""));
    };
    let Some((amount, per)) = text.split_once('/') else {
        return Err(field.error(format!(
            "{text:?} is not a rate; write a share of the nodes per unit of time, like \"2%/min\""
        )));
    };
    let amount = amount.trim();
    let (number, percent) = match amount.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (amount, false),
    };
    let share = match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => {
            if percent {
                value / 100.0
            } else {
                value
            }
        }
        _ => {
            return Err(field.error(format!(
                "{text:?}: {amount:?} is not a share; write a percentage like \"2%/min\""
            )))
        }
    };
    let per = per.trim();
    let per = per
        .strip_suffix("in")
        .filter(|p| p.ends_with('m'))
        .unwrap_or(per);
    let unit = if per.starts_with(|c: char| c.is_ascii_digit()) {
        per.to_owned()
    } else {
        format!("1{per}")
    };
    let per =
        parse_duration(&unit).map_err(|message| field.error(format!("{text:?}: {message}")))?;
    if per.is_zero() {
        return Err(field.error(format!("{text:?}: per zero time is no rate")));
    }
    let rate = share / per.as_secs_f64();
    if rate > CHURN_RATE_MAX {
        return Err(field.error(format!("{text:?} is more than the whole swarm a second")));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests;
