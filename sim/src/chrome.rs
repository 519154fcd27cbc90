//! A run's trace as Chrome trace-event JSON, the format Perfetto's UI
//! (ui.perfetto.dev) and `chrome://tracing` open: one track per node, a node's
//! commands as spans (from the command to its end), its other events as instants, and
//! every delivered datagram as an arrow from its sender's track at the send time to its
//! receiver's at the arrival. Lost datagrams are instants on the sender's track.
//!
//! In: trace [`Record`]s (all of a run's, or of the nodes asked for). Out: one JSON
//! document, written as it goes.

use std::io::{self, Write};
use std::time::Duration;

use dswarm::harness::{index_of, Kind, Record};

/// Whether `record` concerns one of `nodes` (every record when `nodes` is `None`).
pub fn concerns(record: &Record, nodes: Option<&[usize]>, swarm: usize) -> bool {
    let Some(nodes) = nodes else {
        return true;
    };
    nodes.contains(&record.node)
        || record
            .dst
            .and_then(|d| index_of(d, swarm))
            .is_some_and(|d| nodes.contains(&d))
}

/// The duration in a `Debug`-printed [`Duration`] such as `1.5s`, `404ms`, `12µs`.
fn parse_debug_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => value,
        "ms" => value / 1e3,
        "µs" | "us" => value / 1e6,
        "ns" => value / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

/// An event's name: the first word of its text (`QueryFinished`, `PeerDiscovered`…).
fn event_name(detail: &str) -> &str {
    detail
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("event")
}

/// For a finished command: its span's start, its length and its outcome's name.
fn query_span(detail: &str) -> Option<(Duration, &str)> {
    let rest = detail.strip_prefix("QueryFinished {")?;
    let elapsed = rest.split("elapsed: ").nth(1)?.split(',').next()?.trim();
    let outcome = rest.split("outcome: ").nth(1)?;
    let name = event_name(outcome);
    Some((parse_debug_duration(elapsed)?, name))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Writes `records` (filtered by `nodes`) of a swarm of `swarm` nodes as a Chrome
/// trace-event document.
pub fn write(
    out: &mut dyn Write,
    records: &[Record],
    nodes: Option<&[usize]>,
    swarm: usize,
) -> io::Result<()> {
    writeln!(out, "{{\"displayTimeUnit\":\"ms\",\"traceEvents\":[")?;
    let mut first = true;
    let mut emit = |out: &mut dyn Write, line: String| -> io::Result<()> {
        if !first {
            writeln!(out, ",")?;
        }
        first = false;
        write!(out, "{line}")
    };
    emit(
        out,
        "{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"swarm\"}}".into(),
    )?;
    let tracks: Vec<usize> = match nodes {
        Some(nodes) => nodes.to_vec(),
        None => (0..swarm).collect(),
    };
    for node in tracks {
        emit(
            out,
            format!(
                "{{\"ph\":\"M\",\"pid\":1,\"tid\":{node},\"name\":\"thread_name\",\"args\":{{\"name\":\"node {node}\"}}}}"
            ),
        )?;
    }
    for record in records.iter().filter(|r| concerns(r, nodes, swarm)) {
        let at = record.at.as_micros();
        let node = record.node;
        match record.kind {
            Kind::Deliver => {
                let sent = record.sent.as_micros();
                let dst = record.dst.and_then(|d| index_of(d, swarm));
                let id = record.index;
                let len = record.len;
                emit(out, format!(
                    "{{\"ph\":\"X\",\"pid\":1,\"tid\":{node},\"ts\":{sent},\"dur\":1,\"name\":\"send\",\"cat\":\"net\",\"args\":{{\"len\":{len},\"to\":{}}}}}",
                    dst.map_or("null".to_string(), |d| d.to_string())
                ))?;
                emit(out, format!(
                    "{{\"ph\":\"s\",\"pid\":1,\"tid\":{node},\"ts\":{sent},\"id\":{id},\"name\":\"datagram\",\"cat\":\"net\"}}"
                ))?;
                if let Some(dst) = dst {
                    emit(out, format!(
                        "{{\"ph\":\"X\",\"pid\":1,\"tid\":{dst},\"ts\":{at},\"dur\":1,\"name\":\"receive\",\"cat\":\"net\",\"args\":{{\"len\":{len},\"from\":{node}}}}}"
                    ))?;
                    emit(out, format!(
                        "{{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":{dst},\"ts\":{at},\"id\":{id},\"name\":\"datagram\",\"cat\":\"net\"}}"
                    ))?;
                }
            }
            Kind::Drop | Kind::Down => {
                let name = if record.kind == Kind::Drop {
                    "lost"
                } else {
                    "to a node that is down"
                };
                emit(out, format!(
                    "{{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":{node},\"ts\":{at},\"name\":\"{name}\",\"cat\":\"net\",\"args\":{{\"len\":{}}}}}",
                    record.len
                ))?;
            }
            Kind::Event => {
                let detail = record.detail.as_deref().unwrap_or("");
                let text = escape(detail);
                if let Some((elapsed, outcome)) = query_span(detail) {
                    let dur = u64::try_from(elapsed.as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1);
                    let start = at.saturating_sub(dur);
                    emit(out, format!(
                        "{{\"ph\":\"X\",\"pid\":1,\"tid\":{node},\"ts\":{start},\"dur\":{dur},\"name\":\"{}\",\"cat\":\"query\",\"args\":{{\"event\":\"{text}\"}}}}",
                        escape(outcome)
                    ))?;
                } else {
                    emit(out, format!(
                        "{{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":{node},\"ts\":{at},\"name\":\"{}\",\"cat\":\"event\",\"args\":{{\"event\":\"{text}\"}}}}",
                        escape(event_name(detail))
                    ))?;
                }
            }
        }
    }
    writeln!(out, "\n]}}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_spans_come_out_of_event_text() {
        assert_eq!(
            parse_debug_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_debug_duration("404ms"),
            Some(Duration::from_millis(404))
        );
        assert_eq!(
            parse_debug_duration("12µs"),
            Some(Duration::from_micros(12))
        );
        assert_eq!(parse_debug_duration("fast"), None);
        let detail = "QueryFinished { query: QueryId(3), elapsed: 404.5ms, outcome: Found(LookupResult { .. }) }";
        assert_eq!(
            query_span(detail),
            Some((Duration::from_micros(404_500), "Found"))
        );
        assert_eq!(query_span("PeerDiscovered { id: 1 }"), None);
        assert_eq!(event_name("PeerDiscovered { id: 1 }"), "PeerDiscovered");
    }
}
