//! `[[at]]`: the timed events of a scenario — partitions, heals, leaves, crashes and
//! restarts — checked one by one and against each other.
//!
//! In: the `at` array of a scenario file, the swarm's size and the run's length. Out:
//! the events in file order (the caller sorts them by time), or an error naming the
//! entry's line and key: an entry does exactly one thing, every time is inside the run,
//! shares make whole nodes, two nodes always stay, and a restart has a crash before it.

use std::time::Duration;

use super::check::{required, Run};
use super::duration::format_duration;
use super::leaf::{Dur, Flag, Number, Share};
use super::raw;
use super::{Action, At, ScenarioError, PARTITION_GROUPS_MAX};

/// How far apart two shares' sum and 1 may be.
const SHARES_TOLERANCE: f64 = 1e-6;

/// Whether a leave of `share` of `nodes`, after `left` nodes have left, takes at
/// least one node and leaves at least two; the count that has left afterwards.
pub(super) fn leave_fits(share: f64, left: usize, nodes: usize) -> Result<usize, String> {
    let count = Action::leave_count(share, nodes);
    if count == 0 {
        return Err(format!(
            "a share of {share} of {nodes} nodes is less than one node; nobody would leave"
        ));
    }
    if left + count + 2 > nodes {
        return Err(format!(
            "{count} nodes leave{}, but at least 2 of the {nodes} nodes must stay",
            if left > 0 {
                format!(" after {left} left before")
            } else {
                String::new()
            }
        ));
    }
    Ok(left + count)
}

/// Whether a partition with these (already valid) shares gives every group a node.
pub(super) fn partition_fits(shares: &[f64], nodes: usize) -> Result<(), String> {
    if shares.len() > nodes {
        return Err(format!(
            "{} groups, but the swarm has only {nodes} nodes",
            shares.len()
        ));
    }
    for &share in shares {
        // A little slack, so that 0.1 of 10 nodes counts as the one node it is.
        if share * nodes as f64 + 1e-9 < 1.0 {
            return Err(format!(
                "a share of {share} of {nodes} nodes is less than one node; every group needs a node"
            ));
        }
    }
    Ok(())
}

/// The `[[at]]` entries, in file order.
pub(super) fn at_value(run: &Run<'_>, entries: Vec<raw::At>) -> Result<Vec<At>, ScenarioError> {
    let mut events = Vec::with_capacity(entries.len());
    // Nodes gone by the earlier leaves; the order does not matter, only the sum.
    let mut left = 0;
    // When crashes happen, for the restarts that bring their nodes back.
    let mut crashes: Vec<Duration> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let table = format!("at[{index}]");
        let key = |name: &str| format!("{table}.{name}");
        let error = |name: &str, message: &str| run.error(&key(name), message);
        let example = "the moment it happens, like `time = \"30s\"`";
        let Dur(time) = required(run.doc, &table, "time", entry.time, example)?;
        if time >= run.duration {
            return Err(run.error(
                &key("time"),
                format!(
                    "{} is not before the end of the run (duration = {})",
                    format_duration(time),
                    format_duration(run.duration)
                ),
            ));
        }
        let actions = [
            ("partition", entry.partition.is_some()),
            ("heal", entry.heal.is_some()),
            ("leave", entry.leave.is_some()),
            ("crash", entry.crash.is_some()),
            ("restart", entry.restart.is_some()),
        ];
        if let Some((second, _)) = actions.iter().filter(|(_, written)| *written).nth(1) {
            return Err(error(
                second,
                "an [[at]] entry does one thing; give partition, heal, leave, crash and restart an [[at]] entry each",
            ));
        }
        if entry.keep_table.is_some() && entry.restart.is_none() {
            return Err(error(
                "keep_table",
                "goes with restart = true, which is missing",
            ));
        }
        if entry.one_way.is_some() && entry.partition.is_none() {
            let with = if entry.crash.is_some() || entry.restart.is_some() {
                "goes with partition, not crash or restart"
            } else if entry.heal.is_some() {
                "goes with partition, not heal"
            } else if entry.leave.is_some() {
                "goes with partition, not leave"
            } else {
                "goes with partition = [...], which is missing"
            };
            return Err(error("one_way", with));
        }
        let action = if let Some(Share(share)) = entry.crash {
            crashes.push(time);
            Action::Crash {
                share: crash_share(share, run.nodes).map_err(|message| error("crash", &message))?,
            }
        } else if let Some(Flag(restart)) = entry.restart {
            if !restart {
                return Err(error(
                    "restart",
                    "restart = false does nothing; write restart = true, or remove the [[at]] entry",
                ));
            }
            if !crashes.iter().any(|&crashed| crashed <= time) {
                return Err(error(
                    "restart",
                    &format!(
                        "nothing has crashed by {}; a restart brings back the nodes of an earlier `crash`",
                        format_duration(time)
                    ),
                ));
            }
            Action::Restart {
                keep_table: entry.keep_table.is_some_and(|keep| keep.0),
            }
        } else if let Some(shares) = entry.partition {
            let shares = shares_value(shares)
                .map_err(|(key, message)| run.error(&format!("{table}.partition{key}"), message))?;
            partition_fits(&shares, run.nodes).map_err(|message| error("partition", &message))?;
            Action::Partition {
                shares,
                one_way: entry.one_way.is_some_and(|one_way| one_way.0),
            }
        } else if let Some(Flag(heal)) = entry.heal {
            if !heal {
                return Err(error(
                    "heal",
                    "heal = false does nothing; write heal = true, or remove the [[at]] entry",
                ));
            }
            Action::Heal
        } else if let Some(Share(share)) = entry.leave {
            if !(share > 0.0 && share < 1.0) {
                return Err(error(
                    "leave",
                    &format!(
                        "share {share} is not above 0 and below 1; `leave = 0.2` takes a fifth of the nodes away"
                    ),
                ));
            }
            left =
                leave_fits(share, left, run.nodes).map_err(|message| error("leave", &message))?;
            Action::Leave { share }
        } else {
            return Err(run.error(
                &table,
                "does nothing; add an action: `partition = [0.5, 0.5]`, `heal = true`, \
                 `leave = 0.2`, `crash = 0.1` or `restart = true`",
            ));
        };
        events.push(At { time, action });
    }
    Ok(events)
}

/// `crash = 0.1`: a share above 0 and below 1 that makes at least one node of `nodes`.
fn crash_share(share: f64, nodes: usize) -> Result<f64, String> {
    if !(share > 0.0 && share < 1.0) {
        return Err(format!(
            "share {share} is not above 0 and below 1; `crash = 0.1` crashes a tenth of the live nodes"
        ));
    }
    if Action::leave_count(share, nodes) == 0 {
        return Err(format!(
            "a share of {share} of {nodes} nodes is less than one node; nobody would crash"
        ));
    }
    Ok(share)
}

/// `partition = [...]`: 2 to 16 shares, each above 0 and at most 1, adding up to 1.
/// An error names the element (`[1]`) or, empty, the whole array.
fn shares_value(shares: Vec<Number>) -> Result<Vec<f64>, (String, String)> {
    if !(2..=PARTITION_GROUPS_MAX).contains(&shares.len()) {
        return Err((
            String::new(),
            format!(
                "has {} groups; a partition has 2 to {PARTITION_GROUPS_MAX}, like [0.5, 0.5]",
                shares.len()
            ),
        ));
    }
    let shares: Vec<f64> = shares.into_iter().map(|share| share.0).collect();
    if let Some((index, share)) = shares
        .iter()
        .enumerate()
        .find(|(_, &share)| !(share > 0.0 && share <= 1.0))
    {
        return Err((
            format!("[{index}]"),
            format!("share {share} is not above 0 and at most 1"),
        ));
    }
    let sum: f64 = shares.iter().sum();
    if (sum - 1.0).abs() > SHARES_TOLERANCE {
        return Err((String::new(), format!("the shares add up to {sum}, not 1")));
    }
    Ok(shares)
}
