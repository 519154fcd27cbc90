//! A run's trace as Chrome trace-event JSON, the format Perfetto's UI
//! (ui.perfetto.dev) and `chrome://tracing` open: one track per node, a node's
//! commands as spans (from the command to its end), its other events as instants, and
//! every delivered datagram as an arrow from its sender's track at the send time to its
//! receiver's at the arrival. Lost datagrams are instants on the sender's track.
//!
//! In: trace [`Record`]s (all of a run's, or of the nodes asked for). Out: one JSON
//! document, written as it goes. Events are read as the typed [`Event`]s the records
//! hold and carried in their serde form, the one the trace hashes: a field renamed in
//! the core is a compile error here, not a span silently lost.

use std::io::{self, Write};

use dswarm::harness::{index_of, Kind, Record};
use dswarm::proto::Event;
use serde_json::{json, Value};

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

/// The name serde gives a value's variant: the one key of an externally tagged enum's
/// object, or the string of a unit variant (`QueryFinished`, `Found`, `Timeout`…).
fn variant(value: &Value) -> String {
    match value {
        Value::Object(map) if map.len() == 1 => map.keys().next().cloned().unwrap_or_default(),
        Value::String(name) => name.clone(),
        _ => "event".to_string(),
    }
}

/// The Chrome trace-event object of one event of `node` at `at` microseconds: a span
/// ending at `at` for a finished command (named for its outcome), else an instant.
fn event_entry(event: &Event, node: usize, at: u64) -> Value {
    let form = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Event::QueryFinished {
        elapsed, outcome, ..
    } = event
    {
        let dur = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let name = variant(&serde_json::to_value(outcome).unwrap_or(Value::Null));
        return json!({
            "ph": "X", "pid": 1, "tid": node, "ts": at.saturating_sub(dur), "dur": dur,
            "name": name, "cat": "query", "args": {"event": form},
        });
    }
    json!({
        "ph": "i", "s": "t", "pid": 1, "tid": node, "ts": at,
        "name": variant(&form), "cat": "event", "args": {"event": form},
    })
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
    let mut emit = |out: &mut dyn Write, entry: Value| -> io::Result<()> {
        if !first {
            writeln!(out, ",")?;
        }
        first = false;
        serde_json::to_writer(&mut *out, &entry).map_err(io::Error::from)
    };
    emit(
        out,
        json!({"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "swarm"}}),
    )?;
    let tracks: Vec<usize> = match nodes {
        Some(nodes) => nodes.to_vec(),
        None => (0..swarm).collect(),
    };
    for node in tracks {
        emit(
            out,
            json!({
                "ph": "M", "pid": 1, "tid": node, "name": "thread_name",
                "args": {"name": format!("node {node}")},
            }),
        )?;
    }
    for record in records.iter().filter(|r| concerns(r, nodes, swarm)) {
        let at = record.at.as_micros();
        let node = record.node;
        match record.kind {
            Kind::Deliver => {
                let sent = record.sent.as_micros();
                let dst = record.dst.and_then(|d| index_of(d, swarm));
                let (id, len) = (record.index, record.len);
                emit(
                    out,
                    json!({
                        "ph": "X", "pid": 1, "tid": node, "ts": sent, "dur": 1, "name": "send",
                        "cat": "net", "args": {"len": len, "to": dst},
                    }),
                )?;
                emit(
                    out,
                    json!({
                        "ph": "s", "pid": 1, "tid": node, "ts": sent, "id": id,
                        "name": "datagram", "cat": "net",
                    }),
                )?;
                if let Some(dst) = dst {
                    emit(
                        out,
                        json!({
                            "ph": "X", "pid": 1, "tid": dst, "ts": at, "dur": 1,
                            "name": "receive", "cat": "net", "args": {"len": len, "from": node},
                        }),
                    )?;
                    emit(
                        out,
                        json!({
                            "ph": "f", "bp": "e", "pid": 1, "tid": dst, "ts": at, "id": id,
                            "name": "datagram", "cat": "net",
                        }),
                    )?;
                }
            }
            Kind::Drop | Kind::Down => {
                let name = if record.kind == Kind::Drop {
                    "lost"
                } else {
                    "to a node that is down"
                };
                emit(
                    out,
                    json!({
                        "ph": "i", "s": "t", "pid": 1, "tid": node, "ts": at, "name": name,
                        "cat": "net", "args": {"len": record.len},
                    }),
                )?;
            }
            Kind::Event => {
                if let Some(event) = &record.event {
                    emit(out, event_entry(event, node, at))?;
                }
            }
        }
    }
    writeln!(out, "\n]}}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dswarm::proto::node::QueryError;
    use dswarm::proto::{NodeId, QueryId, QueryOutcome};

    use super::*;

    #[test]
    fn a_finished_command_is_a_span_named_for_its_outcome_and_others_are_instants() {
        let finished = Event::QueryFinished {
            query: QueryId(3),
            elapsed: Duration::from_micros(404_500),
            outcome: QueryOutcome::Failed(QueryError::Timeout),
        };
        let span = event_entry(&finished, 2, 1_000_000);
        assert_eq!(span["ph"], "X");
        assert_eq!(span["name"], "Failed");
        assert_eq!(span["dur"], 404_500);
        assert_eq!(span["ts"], 1_000_000 - 404_500);
        assert_eq!(span["args"]["event"]["QueryFinished"]["query"], 3);
        let evicted = Event::PeerEvicted {
            id: NodeId([1; 32]),
            replaced_by: None,
        };
        let instant = event_entry(&evicted, 2, 9);
        assert_eq!(
            (instant["ph"].as_str(), instant["name"].as_str()),
            (Some("i"), Some("PeerEvicted"))
        );
    }
}
