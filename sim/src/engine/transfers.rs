//! The `streams` workload's program on each node ([`Transfers`], a harness
//! [`App`]): each transfer this node makes (a `Connect`, then a stream that carries
//! the bytes), and the sink of each stream a peer opens to it.
//!
//! In: [`Transfers::start`] from the runner, and the node's events as they come. Out:
//! each transfer's [`TransferEnd`] (its path, how long the `Connect` and the stream
//! took, or why it failed) and the sinks' count of bytes that were not what the
//! source wrote ([`Transfers::corrupt`]).
//!
//! The program opens the stream the moment its `Connect` ends, at the node's own time,
//! as a live program would. A source writes a pattern of its own ([`pattern`]: a
//! function of the opener's id, the stream's number and the byte's offset) as fast as
//! the stream takes it, then ends its direction; a sink reads as fast as bytes come,
//! checks each against the same pattern, and ends its own direction at the end of the
//! source's. A wrong, missing, repeated or shifted byte makes the pattern disagree: a
//! safety violation, as a forged record is.

use std::collections::BTreeMap;
use std::time::Duration;

use dswarm::harness::App;
use dswarm::proto::node::{QueryError, QueryOutcome};
use dswarm::proto::stream::{Read, StreamError, StreamEvent, StreamId};
use dswarm::proto::{Command, Event, Node, NodeId, QueryId, Time};

/// The most bytes one write or read moves.
const CHUNK: usize = 64 * 1024;

/// The byte at `offset` of stream `number` opened by `opener`.
pub fn pattern(opener: &NodeId, number: u32, offset: u64) -> u8 {
    let seed = u64::from_be_bytes(opener.0[..8].try_into().unwrap_or([0; 8])) ^ u64::from(number);
    let x = (offset ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8
}

/// Why a transfer did not finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The node would not start the `Connect`.
    NotStarted,
    /// The `Connect` failed.
    Connect(QueryError),
    /// The stream could not open, or ended before it finished.
    Stream(StreamError),
}

/// How one transfer this node made went.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferEnd {
    /// The runner's tag of the transfer.
    pub tag: u64,
    /// The path its `Connect` took, once it arrived.
    pub path: Option<&'static str>,
    /// Bytes it was to carry.
    pub bytes: u64,
    /// How long the `Connect` took.
    pub connect: Duration,
    /// How long the stream took, from its opening to its end.
    pub stream: Duration,
    /// Finished (every byte delivered, both ends closed), or why not.
    pub result: Result<(), Failure>,
}

/// A transfer whose `Connect` runs.
#[derive(Debug)]
struct Connecting {
    tag: u64,
    peer: NodeId,
    bytes: u64,
    started: Time,
}

/// A transfer this node is sending.
#[derive(Debug)]
struct Source {
    tag: u64,
    path: &'static str,
    total: u64,
    written: u64,
    connect: Duration,
    opened: Time,
}

/// The workload's program on one node; see the module docs.
#[derive(Debug, Default)]
pub struct Transfers {
    connecting: BTreeMap<QueryId, Connecting>,
    sources: BTreeMap<StreamId, Source>,
    /// Bytes read so far of each stream peers opened here.
    sinks: BTreeMap<StreamId, u64>,
    /// Transfers that ended, in the order they did.
    pub ended: Vec<TransferEnd>,
    /// Bytes sinks read that were not the pattern.
    pub corrupt: u64,
    /// The first wrong byte: (stream, offset).
    pub first_corrupt: Option<(StreamId, u64)>,
}

impl Transfers {
    /// Starts a transfer of `bytes` to `peer`, tagged `tag`: its `Connect` first.
    pub fn start(&mut self, now: Time, node: &mut Node, peer: NodeId, bytes: u64, tag: u64) {
        match node.start(now, Command::Connect(peer)) {
            Ok(query) => {
                let connecting = Connecting {
                    tag,
                    peer,
                    bytes,
                    started: now,
                };
                self.connecting.insert(query, connecting);
            }
            Err(_) => self.fail(tag, None, bytes, Duration::ZERO, Failure::NotStarted),
        }
    }

    fn fail(
        &mut self,
        tag: u64,
        path: Option<&'static str>,
        bytes: u64,
        connect: Duration,
        failure: Failure,
    ) {
        self.ended.push(TransferEnd {
            tag,
            path,
            bytes,
            connect,
            stream: Duration::ZERO,
            result: Err(failure),
        });
    }

    /// A `Connect` of ours ended: the stream opens, and the pattern starts.
    fn connected(&mut self, now: Time, node: &mut Node, query: QueryId, outcome: &QueryOutcome) {
        let Some(c) = self.connecting.remove(&query) else {
            return;
        };
        let connect = now.saturating_since(c.started);
        let path = match outcome {
            QueryOutcome::Connected { path, .. } => path.name(),
            QueryOutcome::Failed(error) => {
                return self.fail(c.tag, None, c.bytes, connect, Failure::Connect(*error))
            }
            _ => return self.fail(c.tag, None, c.bytes, connect, Failure::NotStarted),
        };
        match node.open_stream(now, c.peer) {
            Ok(stream) => {
                let source = Source {
                    tag: c.tag,
                    path,
                    total: c.bytes,
                    written: 0,
                    connect,
                    opened: now,
                };
                self.sources.insert(stream, source);
                self.write(now, node, stream);
            }
            Err(error) => self.fail(c.tag, Some(path), c.bytes, connect, Failure::Stream(error)),
        }
    }

    /// Writes as much of the pattern as the stream takes; ends it after the last byte.
    fn write(&mut self, now: Time, node: &mut Node, stream: StreamId) {
        let Some(source) = self.sources.get_mut(&stream) else {
            return;
        };
        let opener = node.id();
        while source.written < source.total {
            let room = node.stream_room(stream).unwrap_or(0);
            let len = (source.total - source.written).min(room.min(CHUNK) as u64);
            if len == 0 {
                return;
            }
            let chunk: Vec<u8> = (source.written..source.written + len)
                .map(|offset| pattern(&opener, stream.number, offset))
                .collect();
            match node.stream_write(now, stream, &chunk) {
                Ok(n) => source.written += n as u64,
                Err(_) => return, // the reset comes as an event
            }
        }
        let _ = node.stream_finish(now, stream);
    }

    /// Reads what stream `stream` has: a sink checks it; a source only takes the end.
    fn read(&mut self, now: Time, node: &mut Node, stream: StreamId) {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match node.stream_read(now, stream, &mut buf) {
                Ok(Read::Bytes(n)) => {
                    let Some(read) = self.sinks.get_mut(&stream) else {
                        continue; // bytes to a source: the workload's sinks send none
                    };
                    for (i, byte) in buf[..n].iter().enumerate() {
                        let offset = *read + i as u64;
                        if *byte != pattern(&stream.peer, stream.number, offset) {
                            self.corrupt += 1;
                            self.first_corrupt.get_or_insert((stream, offset));
                        }
                    }
                    *read += n as u64;
                }
                Ok(Read::End) => {
                    if self.sinks.contains_key(&stream) {
                        let _ = node.stream_finish(now, stream);
                    }
                    return;
                }
                Ok(Read::Blocked) | Err(_) => return,
            }
        }
    }

    fn end(&mut self, now: Time, stream: StreamId, result: Result<(), StreamError>) {
        self.sinks.remove(&stream);
        if let Some(source) = self.sources.remove(&stream) {
            let complete = source.written == source.total;
            self.ended.push(TransferEnd {
                tag: source.tag,
                path: Some(source.path),
                bytes: source.total,
                connect: source.connect,
                stream: now.saturating_since(source.opened),
                result: match result {
                    Ok(()) if complete => Ok(()),
                    Ok(()) => Err(Failure::Stream(StreamError::Unknown)),
                    Err(error) => Err(Failure::Stream(error)),
                },
            });
        }
    }
}

impl App for Transfers {
    fn on_event(&mut self, now: Time, node: &mut Node, event: &Event) {
        let event = match event {
            Event::Stream(event) => event,
            Event::QueryFinished { query, outcome, .. } => {
                return self.connected(now, node, *query, outcome)
            }
            _ => return,
        };
        match *event {
            StreamEvent::Opened {
                stream,
                incoming: true,
            } => {
                self.sinks.insert(stream, 0);
            }
            StreamEvent::Opened { .. } => {}
            StreamEvent::Readable(stream) => self.read(now, node, stream),
            StreamEvent::Writable(stream) => self.write(now, node, stream),
            StreamEvent::Finished(stream) => self.end(now, stream, Ok(())),
            StreamEvent::Reset { stream, error } => self.end(now, stream, Err(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_moves_with_the_offset_the_stream_and_the_opener() {
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        let run: Vec<u8> = (0..4096).map(|o| pattern(&a, 0, o)).collect();
        // A shifted, repeated or foreign run of bytes does not pass for it.
        assert_ne!(run[..4000], run[1..4001]);
        assert_ne!(
            run,
            (0..4096).map(|o| pattern(&a, 2, o)).collect::<Vec<_>>()
        );
        assert_ne!(
            run,
            (0..4096).map(|o| pattern(&b, 0, o)).collect::<Vec<_>>()
        );
        let distinct: std::collections::BTreeSet<u8> = run.iter().copied().collect();
        assert!(distinct.len() > 200);
    }
}
