//! From a parsed tree to a [`Scenario`]: every key known, every value typed and in
//! range, defaults filled in, cross-field rules held.
//!
//! Each table is checked for unknown keys before its values are read, so a misspelt
//! key is reported as misspelt, not as a missing one. The first problem found is the
//! one returned; each names its line (from the key's or value's span) and dotted key.

use std::path::Path;
use std::time::Duration;

use super::duration::format_duration;
use super::events;
pub(super) use super::events::{leave_fits, partition_fits};
use super::faults::{self, ChurnRun};
use super::fields::{Ctx, Field, Lookup, Section};
use super::hostile;
use super::keys::{
    AT_KEYS, CHURN_KEYS, CLOCK_SKEW_KEYS, HOSTILE_KEYS, LATENCY_KEYS, METRICS, NAT_KEYS,
    NETWORK_KEYS, TOP_KEYS, WORKLOAD_KEYS,
};
use super::tree::{self, Kind};
use super::{
    Action, ChurnSpec, CryptoKind, EngineKind, Expectation, NetworkSpec, Op, Scenario,
    ScenarioError, Workload, DURATION_MAX, LATENCY_MAX, NODES_MAX, NODES_MIN, WORKLOAD_OPS_MAX,
};
use crate::metric::Metric;

/// Checks scenario `text` read from `path`.
pub(super) fn scenario(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let ctx = Ctx { path, text };
    let mut root = tree::parse(text).map_err(|error| ctx.syntax_error(&error))?;
    // The document's own span covers nothing useful: a missing top-level key has no line.
    root.span = None;
    let top = Section::new(&ctx, String::new(), &root, None, TOP_KEYS)?;
    check_keys(&top)?;

    let name = top.required("name", "like `name = \"partition-heal\"`")?;
    let name = name_value(&name)?;
    let seed = match top.get("seed") {
        Some(field) => seed_value(&field)?,
        None => 1,
    };
    let nodes_field = top.required("nodes", "like `nodes = 50`")?;
    let nodes_written = nodes_field.integer()?;
    let nodes = usize::try_from(nodes_written)
        .ok()
        .filter(|&nodes| nodes_in_range(nodes).is_ok())
        .ok_or_else(|| nodes_field.error(nodes_in_range_message(nodes_written)))?;
    let engine = match top.get("engine") {
        Some(field) => field
            .string()?
            .parse::<EngineKind>()
            .map_err(|message| field.error(message))?,
        None => EngineKind::Turmoil,
    };
    let crypto = match top.get("crypto") {
        Some(field) => field
            .string()?
            .parse::<CryptoKind>()
            .map_err(|message| field.error(message))?,
        None => CryptoKind::Auto,
    };
    let duration_field = top.required("duration", "like `duration = \"120s\"`")?;
    let duration = duration_field.duration()?;
    if duration.is_zero() {
        return Err(duration_field.error("is zero; a run must last, like \"120s\""));
    }
    if duration > DURATION_MAX {
        return Err(duration_field.error(format!(
            "{} is longer than the most a run may last, {}",
            format_duration(duration),
            format_duration(DURATION_MAX)
        )));
    }
    let network_key = match top.get("network_key") {
        Some(field) => Some(network_key_value(&field)?),
        None => None,
    };
    let run = Run {
        nodes,
        duration,
        duration_field,
        engine,
    };
    let network = network_value(top.get("network").as_ref(), &run)?;
    let mut at = match top.get("at") {
        Some(field) => events::at_value(&field, nodes, duration)?,
        None => Vec::new(),
    };
    // Stable: events at one moment keep their file order.
    at.sort_by_key(|event| event.time);
    let workload = match top.get("workload") {
        Some(field) => workload_value(&field, &run)?,
        None => Vec::new(),
    };
    let churn = match top.get("churn") {
        Some(field) => {
            let churn_run = ChurnRun {
                nodes,
                duration,
                join_window: network.join_window,
                bootstrap: network.bootstrap,
            };
            Some(faults::churn_value(&field, &churn_run)?)
        }
        None => None,
    };
    let hostile = match top.get("hostile") {
        Some(field) => {
            let left = at
                .iter()
                .filter_map(|event| match event.action {
                    Action::Leave { share } => Some(Action::leave_count(share, nodes)),
                    _ => None,
                })
                .sum();
            hostile::hostile_value(&field, nodes, network.bootstrap, left, engine)?
        }
        None => Default::default(),
    };
    let expect = match top.get("expect") {
        Some(field) => expect_value(&field)?,
        None => Vec::new(),
    };
    Ok(Scenario {
        path: path.to_owned(),
        name,
        seed,
        nodes,
        engine,
        crypto,
        duration,
        network_key,
        network,
        at,
        workload,
        hostile,
        churn,
        expect,
    })
}

/// Checks every table's keys before any value, so that a key in the wrong table (TOML's
/// trap: `duration` written below `[network]`) is reported there, not as missing from
/// the top level. Values of the wrong type are skipped here and reported later.
fn check_keys(top: &Section<'_>) -> Result<(), ScenarioError> {
    let tables = |name: &str| -> Vec<Field<'_>> {
        match top.get(name) {
            Some(field) => match &field.value.kind {
                Kind::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| field.element(index, item))
                    .collect(),
                _ => vec![field],
            },
            None => Vec::new(),
        }
    };
    let is_table = |field: &Field<'_>| matches!(field.value.kind, Kind::Table(_));
    for network in tables("network").iter().filter(|field| is_table(field)) {
        let network = network.table(NETWORK_KEYS)?;
        for (name, known) in [
            ("latency", LATENCY_KEYS),
            ("clock_skew", CLOCK_SKEW_KEYS),
            ("nat", NAT_KEYS),
        ] {
            if let Some(table) = network.get(name).filter(is_table) {
                table.table(known)?;
            }
        }
    }
    for (name, known) in [
        ("at", AT_KEYS),
        ("workload", WORKLOAD_KEYS),
        ("hostile", HOSTILE_KEYS),
        ("churn", CHURN_KEYS),
        ("expect", METRICS),
    ] {
        for field in tables(name).iter().filter(|field| is_table(field)) {
            field.table(known)?;
        }
    }
    Ok(())
}

/// What the nested tables are checked against.
struct Run<'a> {
    nodes: usize,
    duration: Duration,
    duration_field: Field<'a>,
    engine: EngineKind,
}

/// Whether churn at these rates fits a swarm of `nodes` with `bootstrap` bootstrap
/// nodes: bootstrap nodes never leave, and two nodes always stay.
pub(super) fn churn_fits(churn: &ChurnSpec, nodes: usize, bootstrap: usize) -> Result<(), String> {
    let (leaves, joins) = (churn.leaves(nodes), churn.joins(nodes));
    let leavable = nodes.saturating_sub(bootstrap.max(2)) + joins;
    if leaves > leavable {
        return Err(format!(
            "{leaves} nodes would leave over {}, but only {leavable} may (the {nodes} nodes \
             that are not bootstrap nodes, less 2 that stay, plus {joins} joining)",
            format_duration(churn.until - churn.from),
        ));
    }
    Ok(())
}

/// The fewest and most nodes a scenario may have, as a message.
pub(super) fn nodes_in_range(nodes: usize) -> Result<(), String> {
    if (NODES_MIN..=NODES_MAX).contains(&nodes) {
        Ok(())
    } else {
        Err(nodes_in_range_message(nodes))
    }
}

fn nodes_in_range_message(nodes: impl std::fmt::Display) -> String {
    format!("{nodes} is out of range; a scenario has {NODES_MIN} to 1,000,000 nodes")
}

pub(super) fn bootstrap_fits(bootstrap: usize, nodes: usize) -> Result<(), String> {
    if bootstrap <= nodes {
        Ok(())
    } else {
        Err(format!(
            "{bootstrap} bootstrap nodes, but the swarm has only {nodes} nodes"
        ))
    }
}

pub(super) fn segments_fit(segments: usize, nodes: usize) -> Result<(), String> {
    if segments <= nodes {
        Ok(())
    } else {
        Err(format!(
            "{segments} segments, but the swarm has only {nodes} nodes to put in them"
        ))
    }
}

fn name_value(field: &Field<'_>) -> Result<String, ScenarioError> {
    let name = field.string()?;
    if name.trim().is_empty() {
        return Err(
            field.error("is empty; give the scenario a name, like `name = \"partition-heal\"`")
        );
    }
    if name.chars().any(char::is_control) {
        return Err(
            field.error("contains a control character (a newline or tab); use a one-line name")
        );
    }
    Ok(name.to_owned())
}

fn seed_value(field: &Field<'_>) -> Result<u64, ScenarioError> {
    match &field.value.kind {
        Kind::Integer(seed) => u64::try_from(*seed)
            .map_err(|_| field.error(format!("{seed} is negative; a seed is 0 to {}", u64::MAX))),
        // TOML integers stop at i64::MAX; a string carries the rest of the u64 range.
        Kind::String(text) => text.trim().parse::<u64>().map_err(|_| {
            field.error(format!(
                "{text:?} is not a seed; write a whole number from 0 to {}",
                u64::MAX
            ))
        }),
        _ => Err(field.type_error("a whole number (or, above 2^63, a string of digits)")),
    }
}

fn network_key_value(field: &Field<'_>) -> Result<[u8; 32], ScenarioError> {
    let text = field.string()?.trim();
    let length = text.chars().count();
    if length != 64 {
        return Err(field.error(format!(
            "expected 64 hex characters (32 bytes), found {length}"
        )));
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok();
        *byte = pair
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            .ok_or_else(|| field.error("is not hex; use the digits 0-9 and a-f"))?;
    }
    Ok(key)
}

/// `[network]`, or the defaults when `field` is `None`.
fn network_value(field: Option<&Field<'_>>, run: &Run<'_>) -> Result<NetworkSpec, ScenarioError> {
    let table = field.map(|field| field.table(NETWORK_KEYS)).transpose()?;
    let table = Lookup(table);
    let default = NetworkSpec::default();

    let (latency_min, latency_max) = match table.get("latency") {
        Some(latency) => latency_value(&latency, &default)?,
        None => (default.latency_min, default.latency_max),
    };
    let probability = |name: &str, below_one: bool| match table.get(name) {
        Some(field) => field.probability(below_one),
        None => Ok(0.0),
    };
    let loss = probability("loss", true)?;
    let duplicate = probability("duplicate", false)?;
    let reorder = probability("reorder", false)?;
    let reorder_delay = match table.get("reorder_delay") {
        Some(field) => {
            let delay = field.duration()?;
            if delay > LATENCY_MAX {
                return Err(field.error(format!(
                    "{} is longer than the longest reorder delay, {}",
                    format_duration(delay),
                    format_duration(LATENCY_MAX)
                )));
            }
            delay
        }
        None => default.reorder_delay,
    };
    let segments = match table.get("segments") {
        Some(field) => {
            let segments = field.count()?;
            segments_fit(segments, run.nodes).map_err(|message| field.error(message))?;
            segments
        }
        None => default.segments,
    };
    let bootstrap = match table.get("bootstrap") {
        Some(field) => {
            let bootstrap = field.count()?;
            bootstrap_fits(bootstrap, run.nodes).map_err(|message| field.error(message))?;
            if bootstrap == 0 && segments == 0 {
                return Err(field.error(
                    "is 0 while segments = 0 (no multicast): nodes could never meet; \
                     set bootstrap or segments above 0",
                ));
            }
            bootstrap
        }
        // A small swarm's nodes are all bootstrap nodes.
        None => default.bootstrap.min(run.nodes),
    };
    let join_window = match table.get("join_window") {
        Some(field) => {
            let window = field.duration()?;
            if window >= run.duration {
                return Err(field.error(format!(
                    "{} is not shorter than the run (duration = {}); every node must join before it ends",
                    format_duration(window),
                    format_duration(run.duration)
                )));
            }
            window
        }
        None if default.join_window >= run.duration => {
            return Err(run.duration_field.error(format!(
                "{} is not longer than network.join_window ({}, the default); \
                 run longer or set a shorter join_window",
                format_duration(run.duration),
                format_duration(default.join_window)
            )))
        }
        None => default.join_window,
    };
    let clock_skew = match table.get("clock_skew") {
        Some(field) => faults::clock_skew_value(&field, run.engine)?,
        None => Default::default(),
    };
    let nat = match table.get("nat") {
        Some(field) => faults::nat_value(&field)?,
        None => Default::default(),
    };
    let mailbox = match table.get("mailbox") {
        Some(field) => {
            let on = field.boolean()?;
            if on && segments == 0 {
                return Err(field.error(
                    "mailboxes are multicast groups: they need segments above 0".to_owned(),
                ));
            }
            on
        }
        None => false,
    };
    Ok(NetworkSpec {
        latency_min,
        latency_max,
        loss,
        duplicate,
        reorder,
        reorder_delay,
        segments,
        bootstrap,
        join_window,
        clock_skew,
        nat,
        mailbox,
    })
}

/// `latency = { min = "5ms", max = "80ms" }`, either key defaulted, or one fixed
/// latency: `latency = "20ms"`.
fn latency_value(
    field: &Field<'_>,
    default: &NetworkSpec,
) -> Result<(Duration, Duration), ScenarioError> {
    let too_long = |field: &Field<'_>, latency: Duration| {
        field.error(format!(
            "{} is longer than the longest latency, {}",
            format_duration(latency),
            format_duration(LATENCY_MAX)
        ))
    };
    if let Kind::String(_) = field.value.kind {
        let latency = field.duration()?;
        if latency > LATENCY_MAX {
            return Err(too_long(field, latency));
        }
        return Ok((latency, latency));
    }
    if !matches!(field.value.kind, Kind::Table(_)) {
        return Err(field.type_error(
            "a table like `{ min = \"5ms\", max = \"80ms\" }` or one duration like \"20ms\"",
        ));
    }
    let table = field.table(LATENCY_KEYS)?;
    let min_field = table.get("min");
    let max_field = table.get("max");
    let min = min_field
        .as_ref()
        .map(Field::duration)
        .transpose()?
        .unwrap_or(default.latency_min);
    let max = max_field
        .as_ref()
        .map(Field::duration)
        .transpose()?
        .unwrap_or(default.latency_max);
    if let Some(max_field) = &max_field {
        if max > LATENCY_MAX {
            return Err(too_long(max_field, max));
        }
    }
    if min > max {
        let message = |max_note: &str| {
            format!(
                "min {} is above max {}{max_note}",
                format_duration(min),
                format_duration(max)
            )
        };
        return Err(match (&min_field, &max_field) {
            (None, Some(max_field)) => max_field.error(format!(
                "{} is below min {} (the default); set min too",
                format_duration(max),
                format_duration(min)
            )),
            (Some(min_field), None) => min_field.error(message(" (the default); set max too")),
            (Some(min_field), Some(_)) => min_field.error(message("")),
            // The defaults are in order; should they ever not be, say so at `latency`.
            (None, None) => field.error(message(" (both defaults)")),
        });
    }
    Ok((min, max))
}

fn workload_value(field: &Field<'_>, run: &Run<'_>) -> Result<Vec<Workload>, ScenarioError> {
    let items = field.array_of_tables("[[workload]]")?;
    let mut workloads = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let table = field.element(index, item).table(WORKLOAD_KEYS)?;
        let from_field = table.required("from", "when its window opens, like `from = \"10s\"`")?;
        let from = from_field.duration()?;
        if from >= run.duration {
            return Err(from_field.error(format!(
                "{} is not before the end of the run (duration = {})",
                format_duration(from),
                format_duration(run.duration)
            )));
        }
        let over_field = table.get("over");
        let over = match &over_field {
            Some(field) => field.duration()?,
            None => Duration::from_secs(10),
        };
        let end = from.saturating_add(over);
        if end > run.duration {
            let message = format!(
                "from {} plus over {}{} ends at {}, after the run ends (duration = {})",
                format_duration(from),
                format_duration(over),
                if over_field.is_some() {
                    ""
                } else {
                    " (the default)"
                },
                format_duration(end),
                format_duration(run.duration)
            );
            return Err(match &over_field {
                Some(over_field) => over_field.error(message),
                None => {
                    from_field.error(format!("{message}; set a shorter `over` or start earlier"))
                }
            });
        }
        let count = |name: &str| match table.get(name) {
            Some(field) => {
                let count = field.count()?;
                if count > WORKLOAD_OPS_MAX {
                    return Err(field.error(format!(
                        "{count} is more than one workload may issue, 100,000,000"
                    )));
                }
                Ok(count)
            }
            None => Ok(0),
        };
        let workload = Workload {
            from,
            over,
            lookups: count("lookups")?,
            ping_closest: count("ping_closest")?,
            pings: count("pings")?,
            puts: count("puts")?,
            gets: count("gets")?,
            mutable_puts: count("mutable_puts")?,
            mutable_gets: count("mutable_gets")?,
            announces: count("announces")?,
            topic_lookups: count("topic_lookups")?,
            connects: count("connects")?,
        };
        if workload.counts().iter().all(|&(_, count)| count == 0) {
            return Err(table.error(
                "does nothing; set at least one of `lookups`, `ping_closest`, `pings`, `puts`, \
                 `gets`, `mutable_puts`, `mutable_gets`, `announces`, `topic_lookups` or \
                 `connects` above 0",
            ));
        }
        workloads.push(workload);
    }
    Ok(workloads)
}

fn expect_value(field: &Field<'_>) -> Result<Vec<Expectation>, ScenarioError> {
    let table = field.table(METRICS)?;
    let mut expectations = Vec::with_capacity(table.entries.len());
    for entry in table.entries {
        let field = table.field(entry);
        let metric = Metric::from_name(&entry.key.name)
            .ok_or_else(|| field.error(format!("unknown metric `{}`", entry.key.name)))?;
        let (op, value, text) = match &field.value.kind {
            Kind::String(text) => {
                parse_expectation(metric, text).map_err(|message| field.error(message))?
            }
            Kind::Integer(_) | Kind::Float(_) => {
                let number = field.number()?;
                parse_expectation(metric, &number.to_string())
                    .map_err(|message| field.error(message))?
            }
            _ => return Err(field.type_error("a string like \">= 0.99\"")),
        };
        expectations.push(Expectation {
            metric,
            op,
            value,
            text,
        });
    }
    Ok(expectations)
}

/// `"OP NUMBER"` (or, for a ratio metric, a bare number meaning `>=`) for `metric`.
fn parse_expectation(metric: Metric, text: &str) -> Result<(Op, f64, String), String> {
    let trimmed = text.trim();
    let example = if metric.is_ratio() {
        "\">= 0.99\""
    } else {
        "\"<= 6\""
    };
    if trimmed.is_empty() {
        return Err(format!(
            "is empty; write an operator and a number, like {example}"
        ));
    }
    const OPS: &[(&str, Op)] = &[
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    const MISTAKES: &[(&str, &str)] = &[
        ("=>", ">="),
        ("=<", "<="),
        ("≥", ">="),
        ("≤", "<="),
        ("!=", ""),
        ("=", "=="),
    ];
    let written = OPS
        .iter()
        .find_map(|&(symbol, op)| Some((op, trimmed.strip_prefix(symbol)?)));
    let (op, number_text, implied) = match written {
        Some((op, rest)) => (op, rest.trim(), false),
        None => {
            if let Some(&(wrong, right)) = MISTAKES
                .iter()
                .find(|(wrong, _)| trimmed.starts_with(wrong))
            {
                return Err(if right.is_empty() {
                    format!("`{wrong}` is not an operator here; use >=, <=, >, < or ==")
                } else {
                    format!("`{wrong}` is not an operator; did you mean `{right}`?")
                });
            }
            (Op::Ge, trimmed, true)
        }
    };
    let value = match number_text.parse::<f64>() {
        Ok(value) if value.is_finite() => value,
        _ if number_text.ends_with('%') => {
            return Err(format!("{trimmed:?}: write ratios as fractions, 0.99 rather than 99%"))
        }
        _ if implied && trimmed.starts_with(|c: char| !c.is_ascii_digit() && c != '.' && c != '-') => {
            return Err(format!(
                "{trimmed:?} does not start with an operator; use >=, <=, >, < or ==, like {example}"
            ))
        }
        _ => {
            return Err(format!(
                "{trimmed:?}: after the operator, {number_text:?} is not a finite number; write it like {example}"
            ))
        }
    };
    let ratio = metric.is_ratio();
    let metric = metric.name();
    if implied && !ratio {
        return Err(format!(
            "a bare number means `>=` only for the ratio metrics ({}); \
             for `{metric}` write the operator, like {example}",
            Metric::ratio_names().join(", ")
        ));
    }
    if ratio && !(0.0..=1.0).contains(&value) {
        return Err(format!(
            "`{metric}` is a ratio between 0 and 1, so {value} is out of reach{}",
            if value > 1.0 && value <= 100.0 {
                "; write 0.99 for 99%"
            } else {
                ""
            }
        ));
    }
    if !ratio && value < 0.0 {
        return Err(format!(
            "`{metric}` is never negative, so {value} makes no sense here"
        ));
    }
    let text = if implied {
        format!(">= {trimmed}")
    } else {
        trimmed.to_owned()
    };
    Ok((op, value, text))
}
