//! The rules of a scenario file: from the file as read ([`raw::File`]) to a
//! [`Scenario`], every required key present, every value in range, defaults filled in,
//! and the rules that cross keys held (latency min <= max, every event and workload
//! inside the run, enough nodes for the bootstrap list, the segments and the
//! partitions).
//!
//! In: the file's text (and path, for errors). Out: the scenario, or the first problem
//! found, with its dotted key; [`Doc`] finds its line. Reading the text as
//! [`raw::File`] comes first, so unknown keys and values of the wrong type are reported
//! before any rule.

use std::path::Path;
use std::time::Duration;

use super::doc::Doc;
use super::duration::format_duration;
use super::events;
pub(super) use super::events::{leave_fits, partition_fits};
use super::faults;
use super::hostile;
use super::leaf::{Bound, Count, Dur, Text};
use super::raw;
use super::support::{self, Feature};
use super::{
    Action, ChurnSpec, CompareSpec, CryptoKind, EngineKind, Expectation, NetworkSpec, Op, Scenario,
    ScenarioError, Workload, DURATION_MAX, LATENCY_MAX, LISTENERS_DEFAULT, NODES_MAX, NODES_MIN,
    STREAM_BYTES_DEFAULT, WORKLOAD_OPS_MAX,
};
use crate::metric::Metric;

/// Loads scenario `text` read from `path`.
pub(super) fn scenario(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let doc = Doc::parse(path, text)?;
    let file = raw::File::from_toml(text).map_err(|error| doc.serde_error(&error))?;
    let name = name_value(
        &doc,
        required(
            &doc,
            "",
            "name",
            file.name,
            "like `name = \"partition-heal\"`",
        )?,
    )?;
    let nodes_written = required(&doc, "", "nodes", file.nodes, "like `nodes = 50`")?.0;
    let nodes = usize::try_from(nodes_written)
        .ok()
        .filter(|&nodes| nodes_in_range(nodes).is_ok())
        .ok_or_else(|| doc.error("nodes", nodes_in_range_message(nodes_written)))?;
    let engine = file.engine.unwrap_or(EngineKind::Turmoil);
    let Dur(duration) = required(
        &doc,
        "",
        "duration",
        file.duration,
        "like `duration = \"120s\"`",
    )?;
    if duration.is_zero() {
        return Err(doc.error("duration", "is zero; a run must last, like \"120s\""));
    }
    if duration > DURATION_MAX {
        return Err(doc.error(
            "duration",
            format!(
                "{} is longer than the most a run may last, {}",
                format_duration(duration),
                format_duration(DURATION_MAX)
            ),
        ));
    }
    let run = Run {
        doc: &doc,
        nodes,
        duration,
        engine,
    };
    let network = network_value(&run, file.network.unwrap_or_default())?;
    let mut at = events::at_value(&run, file.at)?;
    // Stable: events at one moment keep their file order.
    at.sort_by_key(|event| event.time);
    let workload = file
        .workload
        .into_iter()
        .enumerate()
        .map(|(index, workload)| workload_value(&run, index, workload))
        .collect::<Result<_, _>>()?;
    let churn = file
        .churn
        .map(|churn| faults::churn_value(&run, &network, churn))
        .transpose()?;
    let left = at
        .iter()
        .filter_map(|event| match event.action {
            Action::Leave { share } => Some(Action::leave_count(share, nodes)),
            _ => None,
        })
        .sum();
    let hostile = match file.hostile {
        Some(hostile) => hostile::hostile_value(&run, network.bootstrap, left, hostile)?,
        None => Default::default(),
    };
    let crypto = file.crypto.unwrap_or(CryptoKind::Auto);
    if crypto == CryptoKind::Fast {
        if let Some(why) = support::refusal(engine, Feature::FastCrypto) {
            return Err(doc.error(
                "crypto",
                format!(
                    "the {engine} engine does not run fast crypto: {why}; set crypto = \"real\""
                ),
            ));
        }
    }
    let compare = file
        .compare
        .map(|compare| compare_value(&doc, compare))
        .transpose()?
        .unwrap_or_default();
    let expect = file
        .expect
        .0
        .into_iter()
        .map(|(metric, bound)| expect_value(&doc, metric, bound))
        .collect::<Result<_, _>>()?;
    Ok(Scenario {
        path: path.to_owned(),
        name,
        seed: file.seed.map_or(1, |seed| seed.0),
        nodes,
        engine,
        crypto,
        duration,
        network_key: file.network_key.map(|key| key.0),
        network,
        at,
        workload,
        hostile,
        churn,
        compare,
        expect,
    })
}

/// What the rules of the nested tables are checked against.
pub(super) struct Run<'a> {
    pub(super) doc: &'a Doc<'a>,
    pub(super) nodes: usize,
    pub(super) duration: Duration,
    pub(super) engine: EngineKind,
}

impl Run<'_> {
    /// An error about `key`, at its line.
    pub(super) fn error(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        self.doc.error(key, message)
    }
}

/// `value`, or the error that `name` is missing from the table at `table` (the empty
/// key for the top level), with `example` of what to write.
pub(super) fn required<T>(
    doc: &Doc<'_>,
    table: &str,
    name: &str,
    value: Option<T>,
    example: &str,
) -> Result<T, ScenarioError> {
    value.ok_or_else(|| {
        let (within, key) = if table.is_empty() {
            ("a scenario".to_owned(), name.to_owned())
        } else {
            (format!("`{table}`"), format!("{table}.{name}"))
        };
        doc.error(&key, format!("missing; {within} needs `{name}`, {example}"))
    })
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

fn name_value(doc: &Doc<'_>, Text(name): Text) -> Result<String, ScenarioError> {
    if name.trim().is_empty() {
        return Err(doc.error(
            "name",
            "is empty; give the scenario a name, like `name = \"partition-heal\"`",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(doc.error(
            "name",
            "contains a control character (a newline or tab); use a one-line name",
        ));
    }
    Ok(name)
}

/// `[network]`, its missing keys defaulted.
fn network_value(run: &Run<'_>, network: raw::Network) -> Result<NetworkSpec, ScenarioError> {
    let default = NetworkSpec::default();
    let (latency_min, latency_max) = match network.latency {
        Some(latency) => latency_value(run, latency, &default)?,
        None => (default.latency_min, default.latency_max),
    };
    let loss = network.loss.map_or(0.0, |loss| loss.0);
    if loss == 1.0 {
        return Err(run.error(
            "network.loss",
            "is 1: every datagram would be lost; use a value below 1",
        ));
    }
    let reorder_delay = match network.reorder_delay {
        Some(Dur(delay)) if delay > LATENCY_MAX => {
            return Err(run.error(
                "network.reorder_delay",
                format!(
                    "{} is longer than the longest reorder delay, {}",
                    format_duration(delay),
                    format_duration(LATENCY_MAX)
                ),
            ))
        }
        Some(Dur(delay)) => delay,
        None => default.reorder_delay,
    };
    let segments = network.segments.map_or(default.segments, Count::get);
    segments_fit(segments, run.nodes).map_err(|message| run.error("network.segments", message))?;
    let bootstrap = match network.bootstrap {
        Some(bootstrap) => {
            let bootstrap = bootstrap.get();
            bootstrap_fits(bootstrap, run.nodes)
                .map_err(|message| run.error("network.bootstrap", message))?;
            if bootstrap == 0 && segments == 0 {
                return Err(run.error(
                    "network.bootstrap",
                    "is 0 while segments = 0 (no multicast): nodes could never meet; \
                     set bootstrap or segments above 0",
                ));
            }
            bootstrap
        }
        // A small swarm's nodes are all bootstrap nodes.
        None => default.bootstrap.min(run.nodes),
    };
    let join_window = match network.join_window {
        Some(Dur(window)) if window >= run.duration => {
            return Err(run.error(
                "network.join_window",
                format!(
                    "{} is not shorter than the run (duration = {}); every node must join before it ends",
                    format_duration(window),
                    format_duration(run.duration)
                ),
            ))
        }
        Some(Dur(window)) => window,
        None if default.join_window >= run.duration => {
            return Err(run.error(
                "duration",
                format!(
                    "{} is not longer than network.join_window ({}, the default); \
                     run longer or set a shorter join_window",
                    format_duration(run.duration),
                    format_duration(default.join_window)
                ),
            ))
        }
        None => default.join_window,
    };
    let clock_skew = match network.clock_skew {
        Some(skew) => faults::clock_skew_value(run, skew)?,
        None => Default::default(),
    };
    let nat = match network.nat {
        Some(nat) => faults::nat_value(run, nat)?,
        None => Default::default(),
    };
    let ipv6 = network.ipv6.map_or(0.0, |share| share.0);
    if ipv6 > 0.0 && !nat.is_none() {
        return Err(run.error(
            "network.ipv6",
            "cannot be combined with network.nat: the NAT model maps nodes to IPv4 public \
             addresses, and NATed nodes stay IPv4; set nat.open = 1 or ipv6 = 0",
        ));
    }
    if ipv6 > 0.0 {
        if let Some(why) = support::refusal(run.engine, Feature::Ipv6) {
            return Err(run.error(
                "network.ipv6",
                format!("the {} engine does not run IPv6 nodes: {why}", run.engine),
            ));
        }
    }
    let mailbox = network.mailbox.is_some_and(|on| on.0);
    if mailbox && segments == 0 {
        return Err(run.error(
            "network.mailbox",
            "mailboxes are multicast groups: they need segments above 0",
        ));
    }
    let lookup_disjoint_paths = network.lookup_disjoint_paths.map_or(1, |paths| paths.get());
    if !(1..=super::DISJOINT_PATHS_MAX).contains(&lookup_disjoint_paths) {
        return Err(run.error(
            "network.lookup_disjoint_paths",
            format!(
                "{lookup_disjoint_paths} paths; write 1 (one path, the default) to {}",
                super::DISJOINT_PATHS_MAX
            ),
        ));
    }
    Ok(NetworkSpec {
        latency_min,
        latency_max,
        loss,
        duplicate: network.duplicate.map_or(0.0, |share| share.0),
        reorder: network.reorder.map_or(0.0, |share| share.0),
        reorder_delay,
        segments,
        bootstrap,
        join_window,
        clock_skew,
        nat,
        ipv6,
        mailbox,
        lookup_one_per_block: network.lookup_one_per_block.is_none_or(|on| on.0),
        lookup_disjoint_paths,
    })
}

/// `latency = { min = "5ms", max = "80ms" }`, either key defaulted, or one fixed
/// latency: `latency = "20ms"`.
fn latency_value(
    run: &Run<'_>,
    latency: raw::Latency,
    default: &NetworkSpec,
) -> Result<(Duration, Duration), ScenarioError> {
    let too_long = |key: &str, latency: Duration| {
        run.error(
            key,
            format!(
                "{} is longer than the longest latency, {}",
                format_duration(latency),
                format_duration(LATENCY_MAX)
            ),
        )
    };
    let range = match latency {
        raw::Latency::Fixed(Dur(latency)) if latency > LATENCY_MAX => {
            return Err(too_long("network.latency", latency))
        }
        raw::Latency::Fixed(Dur(latency)) => return Ok((latency, latency)),
        raw::Latency::Range(range) => range,
    };
    let min = range.min.map_or(default.latency_min, |min| min.0);
    let max = range.max.map_or(default.latency_max, |max| max.0);
    if range.max.is_some() && max > LATENCY_MAX {
        return Err(too_long("network.latency.max", max));
    }
    if min > max {
        let (min_text, max_text) = (format_duration(min), format_duration(max));
        let message = |max_note: &str| format!("min {min_text} is above max {max_text}{max_note}");
        let (key, message) = match (range.min, range.max) {
            (None, Some(_)) => (
                "network.latency.max",
                format!("{max_text} is below min {min_text} (the default); set min too"),
            ),
            (Some(_), None) => (
                "network.latency.min",
                message(" (the default); set max too"),
            ),
            (Some(_), Some(_)) => ("network.latency.min", message("")),
            // The defaults are in order; should they ever not be, say so at `latency`.
            (None, None) => ("network.latency", message(" (both defaults)")),
        };
        return Err(run.error(key, message));
    }
    Ok((min, max))
}

/// The `index`th `[[workload]]`.
fn workload_value(
    run: &Run<'_>,
    index: usize,
    workload: raw::Workload,
) -> Result<Workload, ScenarioError> {
    let table = format!("workload[{index}]");
    let key = |name: &str| format!("{table}.{name}");
    let example = "when its window opens, like `from = \"10s\"`";
    let Dur(from) = required(run.doc, &table, "from", workload.from, example)?;
    if from >= run.duration {
        return Err(run.error(
            &key("from"),
            format!(
                "{} is not before the end of the run (duration = {})",
                format_duration(from),
                format_duration(run.duration)
            ),
        ));
    }
    let over = workload.over.map_or(Duration::from_secs(10), |over| over.0);
    let end = from.saturating_add(over);
    if end > run.duration {
        let message = format!(
            "from {} plus over {}{} ends at {}, after the run ends (duration = {})",
            format_duration(from),
            format_duration(over),
            if workload.over.is_some() {
                ""
            } else {
                " (the default)"
            },
            format_duration(end),
            format_duration(run.duration)
        );
        return Err(match workload.over {
            Some(_) => run.error(&key("over"), message),
            None => run.error(
                &key("from"),
                format!("{message}; set a shorter `over` or start earlier"),
            ),
        });
    }
    let mut workload = workload;
    let mut counts = [0; 11];
    for ((name, count), slot) in workload.counts_mut().into_iter().zip(&mut counts) {
        let count = count.map_or(0, Count::get);
        if count > WORKLOAD_OPS_MAX {
            return Err(run.error(
                &key(name),
                format!("{count} is more than one workload may issue, 100,000,000"),
            ));
        }
        *slot = count;
    }
    let [lookups, ping_closest, pings, puts, gets, mutable_puts, mutable_gets, announces, topic_lookups, connects, streams] =
        counts;
    if counts.iter().all(|&count| count == 0) {
        return Err(run.error(
            &table,
            "does nothing; set at least one of `lookups`, `ping_closest`, `pings`, `puts`, \
             `gets`, `mutable_puts`, `mutable_gets`, `announces`, `topic_lookups`, \
             `connects` or `streams` above 0",
        ));
    }
    if streams > 0 {
        if let Some(why) = support::refusal(run.engine, Feature::Streams) {
            return Err(run.error(
                &key("streams"),
                format!(
                    "the {} engine does not run streams: {why}; set engine = \"direct\"",
                    run.engine
                ),
            ));
        }
    }
    let stream_bytes = workload
        .stream_bytes
        .map_or(STREAM_BYTES_DEFAULT, |size| size.0);
    if stream_bytes == 0 || stream_bytes > STREAM_BYTES_MAX {
        return Err(run.error(
            &key("stream_bytes"),
            format!("{stream_bytes} bytes is not a transfer size; give 1 byte to 64 MiB"),
        ));
    }
    let listeners = workload
        .listeners
        .map_or(LISTENERS_DEFAULT, |share| share.0);
    if !(listeners > 0.0 && listeners <= 1.0) {
        return Err(run.error(
            &key("listeners"),
            format!("{listeners} is not a share of the nodes above 0 and at most 1"),
        ));
    }
    Ok(Workload {
        from,
        over,
        lookups,
        ping_closest,
        pings,
        puts,
        gets,
        mutable_puts,
        mutable_gets,
        announces,
        topic_lookups,
        connects,
        streams,
        stream_bytes,
        listeners,
    })
}
/// `[compare]`, its missing keys defaulted. `success` and `latency_d` are
/// probabilities already (0 to 1); `latency_alpha` must leave the test a chance of
/// passing, and `min_lookups` must ask for some.
fn compare_value(doc: &Doc<'_>, compare: raw::Compare) -> Result<CompareSpec, ScenarioError> {
    let default = CompareSpec::default();
    let latency_alpha = compare
        .latency_alpha
        .map_or(default.latency_alpha, |alpha| alpha.0);
    if !(latency_alpha > 0.0 && latency_alpha <= 0.5) {
        return Err(doc.error(
            "compare.latency_alpha",
            format!(
                "{latency_alpha} is not a significance level here; write one above 0 and \
                 at most 0.5, like 0.01"
            ),
        ));
    }
    let min_lookups = compare
        .min_lookups
        .map_or(default.min_lookups, |count| count.0);
    if min_lookups == 0 {
        return Err(doc.error(
            "compare.min_lookups",
            "is 0; a comparison needs at least 1 lookup on each side, like 50",
        ));
    }
    Ok(CompareSpec {
        success: compare.success.map_or(default.success, |share| share.0),
        hops_p95: compare.hops_p95.map_or(default.hops_p95, |hops| hops.0),
        latency_alpha,
        latency_d: compare.latency_d.map(|d| d.0),
        min_lookups,
    })
}

/// The largest transfer: what the simulator keeps checking byte by byte.
const STREAM_BYTES_MAX: u64 = 64 * 1024 * 1024;

fn expect_value(doc: &Doc<'_>, metric: Metric, bound: Bound) -> Result<Expectation, ScenarioError> {
    let text = match bound {
        Bound::Text(text) => text,
        Bound::Number(number) => number.to_string(),
    };
    let (op, value, text) = parse_expectation(metric, &text)
        .map_err(|message| doc.error(&format!("expect.{}", metric.name()), message))?;
    Ok(Expectation {
        metric,
        op,
        value,
        text,
    })
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
