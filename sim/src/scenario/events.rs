//! `[[at]]`: the timed events of a scenario — partitions, heals, leaves, crashes and
//! restarts — checked one by one and against each other.
//!
//! In: the `at` array of a scenario file, the swarm's size and the run's length. Out:
//! the events in file order (the caller sorts them by time), or an error naming the
//! entry's line and key: an entry does exactly one thing, every time is inside the run,
//! shares make whole nodes, two nodes always stay, and a restart has a crash before it.

use std::time::Duration;

use super::duration::format_duration;
use super::fields::Field;
use super::keys::AT_KEYS;
use super::tree::Kind;
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

pub(super) fn at_value(
    field: &Field<'_>,
    nodes: usize,
    duration: Duration,
) -> Result<Vec<At>, ScenarioError> {
    let items = field.array_of_tables("[[at]]")?;
    let mut events = Vec::with_capacity(items.len());
    // Nodes gone by the earlier leaves; the order does not matter, only the sum.
    let mut left = 0;
    // When crashes happen, for the restarts that bring their nodes back.
    let mut crashes: Vec<Duration> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let table = field.element(index, item).table(AT_KEYS)?;
        let time_field = table.required("time", "the moment it happens, like `time = \"30s\"`")?;
        let time = time_field.duration()?;
        if time >= duration {
            return Err(time_field.error(format!(
                "{} is not before the end of the run (duration = {})",
                format_duration(time),
                format_duration(duration)
            )));
        }
        let partition = table.get("partition");
        let heal = table.get("heal");
        let leave = table.get("leave");
        let one_way = table.get("one_way");
        let crash = table.get("crash");
        let restart = table.get("restart");
        let keep_table = table.get("keep_table");
        let mut actions = [&partition, &heal, &leave, &crash, &restart]
            .into_iter()
            .flatten();
        if let (Some(_), Some(second)) = (actions.next(), actions.next()) {
            return Err(second.key_error(
                "an [[at]] entry does one thing; give partition, heal, leave, crash and restart an [[at]] entry each",
            ));
        }
        if let (Some(keep_table), None) = (&keep_table, &restart) {
            return Err(keep_table.key_error("goes with restart = true, which is missing"));
        }
        if let (Some(one_way), None) = (&one_way, &partition) {
            if crash.is_some() || restart.is_some() {
                return Err(one_way.key_error("goes with partition, not crash or restart"));
            }
        }
        if let Some(crash) = &crash {
            let share = crash_share(crash, nodes)?;
            crashes.push(time);
            events.push(At {
                time,
                action: Action::Crash { share },
            });
            continue;
        }
        if let Some(restart) = &restart {
            if !restart.boolean()? {
                return Err(restart.error(
                    "restart = false does nothing; write restart = true, or remove the [[at]] entry",
                ));
            }
            if !crashes.iter().any(|&crashed| crashed <= time) {
                return Err(restart.key_error(format!(
                    "nothing has crashed by {}; a restart brings back the nodes of an earlier `crash`",
                    format_duration(time)
                )));
            }
            let keep_table = match &keep_table {
                Some(field) => field.boolean()?,
                None => false,
            };
            events.push(At {
                time,
                action: Action::Restart { keep_table },
            });
            continue;
        }
        let action = match (&partition, &heal, &leave) {
            (Some(partition), _, _) => {
                let shares = shares_value(partition)?;
                partition_fits(&shares, nodes).map_err(|message| partition.error(message))?;
                let one_way = match &one_way {
                    Some(field) => field.boolean()?,
                    None => false,
                };
                Action::Partition { shares, one_way }
            }
            (None, Some(heal), _) => {
                if let Some(one_way) = &one_way {
                    return Err(one_way.key_error("goes with partition, not heal"));
                }
                if !heal.boolean()? {
                    return Err(heal.error(
                        "heal = false does nothing; write heal = true, or remove the [[at]] entry",
                    ));
                }
                Action::Heal
            }
            (None, None, Some(leave)) => {
                if let Some(one_way) = &one_way {
                    return Err(one_way.key_error("goes with partition, not leave"));
                }
                let share = match &leave.value.kind {
                    Kind::Integer(_) | Kind::Float(_) => leave.number()?,
                    _ => {
                        return Err(leave.type_error(
                            "a number: the share of the nodes that leaves, like `leave = 0.2`",
                        ))
                    }
                };
                if !(share > 0.0 && share < 1.0) {
                    return Err(leave.error(format!(
                        "share {share} is not above 0 and below 1; `leave = 0.2` takes a fifth of the nodes away"
                    )));
                }
                left = leave_fits(share, left, nodes).map_err(|message| leave.error(message))?;
                Action::Leave { share }
            }
            (None, None, None) => {
                if let Some(one_way) = &one_way {
                    return Err(one_way.key_error("goes with partition = [...], which is missing"));
                }
                return Err(table.error(
                    "does nothing; add an action: `partition = [0.5, 0.5]`, `heal = true`, \
                     `leave = 0.2`, `crash = 0.1` or `restart = true`",
                ));
            }
        };
        events.push(At { time, action });
    }
    Ok(events)
}

/// `crash = 0.1`: a share above 0 and below 1 that makes at least one node of `nodes`.
fn crash_share(field: &Field<'_>, nodes: usize) -> Result<f64, ScenarioError> {
    let share = match &field.value.kind {
        Kind::Integer(_) | Kind::Float(_) => field.number()?,
        _ => {
            return Err(field.type_error(
                "a number: the share of the live nodes that crash, like `crash = 0.1`",
            ))
        }
    };
    if !(share > 0.0 && share < 1.0) {
        return Err(field.error(format!(
            "share {share} is not above 0 and below 1; `crash = 0.1` crashes a tenth of the live nodes"
        )));
    }
    if Action::leave_count(share, nodes) == 0 {
        return Err(field.error(format!(
            "a share of {share} of {nodes} nodes is less than one node; nobody would crash"
        )));
    }
    Ok(share)
}

fn shares_value(field: &Field<'_>) -> Result<Vec<f64>, ScenarioError> {
    let Kind::Array(items) = &field.value.kind else {
        return Err(field.type_error("an array of shares, like [0.5, 0.5]"));
    };
    if !(2..=PARTITION_GROUPS_MAX).contains(&items.len()) {
        return Err(field.error(format!(
            "has {} groups; a partition has 2 to {PARTITION_GROUPS_MAX}, like [0.5, 0.5]",
            items.len()
        )));
    }
    let mut shares = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let element = field.element(index, item);
        let share = element.number()?;
        if !(share > 0.0 && share <= 1.0) {
            return Err(element.error(format!("share {share} is not above 0 and at most 1")));
        }
        shares.push(share);
    }
    let sum: f64 = shares.iter().sum();
    if (sum - 1.0).abs() > SHARES_TOLERANCE {
        return Err(field.error(format!("the shares add up to {sum}, not 1")));
    }
    Ok(shares)
}
