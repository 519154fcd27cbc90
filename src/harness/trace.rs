//! The trace of a simulated run: what happened, in order, folded into one hash.
//!
//! In: every datagram delivered or dropped (time, source node, destination, bytes) and
//! every node event (time, node, event). Out: a SHA-256 [`Trace::hash_hex`] that two
//! runs of one seed must share; on request, a compact [`Record`] per entry for finding
//! where two runs part ways, and a JSON-lines copy of the trace for people to read.
//!
//! An event enters the hash in its serde form (its JSON, field names and all), the
//! same form the JSON lines and the Chrome trace carry: a field renamed in the core
//! changes the hash visibly, and no reader parses `Debug` text.
//! Every entry is also a `tracing` event of target `dswarm::trace`: node events at
//! `debug`, datagrams at `trace` (`RUST_LOG=dswarm::trace=debug`).

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::proto::{Event, Time};

/// Feeds serialised bytes straight into a hash, with no buffer in between.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a trace entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A datagram that will arrive (at the entry's time).
    Deliver,
    /// A datagram lost in the network or addressed to nobody.
    Drop,
    /// A datagram that arrived at a node that was down.
    Down,
    /// A node event.
    Event,
}

impl Kind {
    fn tag(self) -> u8 {
        match self {
            Kind::Deliver => b'D',
            Kind::Drop => b'X',
            Kind::Down => b'L',
            Kind::Event => b'E',
        }
    }

    /// Its name in the JSON-lines trace.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deliver => "deliver",
            Kind::Drop => "drop",
            Kind::Down => "down",
            Kind::Event => "event",
        }
    }
}

/// One trace entry, compactly: enough to say where two runs diverge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its position in the trace, from 0.
    pub index: u64,
    /// Simulated time: of the arrival for a delivered datagram, else of the entry.
    pub at: Time,
    /// When the datagram was sent (for events, the same as `at`).
    pub sent: Time,
    /// What it is.
    pub kind: Kind,
    /// The sending node (datagrams) or the node (events).
    pub node: usize,
    /// The destination (datagrams only).
    pub dst: Option<SocketAddr>,
    /// Payload length (datagrams only).
    pub len: usize,
    /// The first 8 bytes of the payload's SHA-256, or of the event's serde form.
    pub digest: u64,
    /// The event (events only). Boxed: records of datagrams are most of them.
    pub event: Option<Box<Event>>,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "#{} t={} {} node {}",
            self.index,
            self.at,
            self.kind.name(),
            self.node
        )?;
        if let Some(dst) = self.dst {
            write!(f, " -> {dst} len {}", self.len)?;
        }
        write!(f, " digest {:016x}", self.digest)?;
        if let Some(event) = &self.event {
            write!(f, " {event:?}")?;
        }
        Ok(())
    }
}

/// How many entries apart [`Trace::checkpoints`] are taken.
pub const CHECKPOINT_EVERY: u64 = 10_000;

/// The trace's hash after a number of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Entries hashed so far.
    pub entries: u64,
    /// The first 8 bytes of the hash at that point.
    pub hash: u64,
}

/// The first checkpoint at which two runs differ: the runs' first difference lies in
/// the `CHECKPOINT_EVERY` entries before it. `None` when every shared checkpoint
/// agrees (a difference, if any, is after the last one).
pub fn first_checkpoint_divergence(left: &[Checkpoint], right: &[Checkpoint]) -> Option<u64> {
    left.iter()
        .zip(right)
        .find(|(l, r)| l != r)
        .map(|(l, _)| l.entries)
}

/// The running trace of one run; see the module docs.
pub struct Trace {
    hash: Sha256,
    count: u64,
    records: Option<Vec<Record>>,
    /// Which entries `records` keeps (all, when `None`).
    window: Option<std::ops::Range<u64>>,
    checkpoints: Vec<Checkpoint>,
    jsonl: Option<Box<dyn Write + Send>>,
    jsonl_error: Option<std::io::Error>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace").field("count", &self.count).finish()
    }
}

impl Trace {
    /// An empty trace that only hashes.
    pub fn new() -> Trace {
        Trace {
            hash: Sha256::new(),
            count: 0,
            records: None,
            window: None,
            checkpoints: Vec::new(),
            jsonl: None,
            jsonl_error: None,
        }
    }

    /// Keeps a [`Record`] of every entry from now on (for divergence checks).
    pub fn keep_records(&mut self) {
        self.records.get_or_insert_with(Vec::new);
    }

    /// Keeps a [`Record`] of the entries whose index is in `window` only: how a
    /// divergence search looks closely at one stretch of a long run.
    pub fn keep_records_in(&mut self, window: std::ops::Range<u64>) {
        self.records.get_or_insert_with(Vec::new);
        self.window = Some(window);
    }

    /// The hash so far after every [`CHECKPOINT_EVERY`] entries: two runs that differ
    /// differ from the first checkpoint whose hashes differ (or earlier).
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// The records kept since [`Trace::keep_records`].
    pub fn records(&self) -> &[Record] {
        self.records.as_deref().unwrap_or(&[])
    }

    /// Writes every entry from now on as one JSON object per line to `out`.
    pub fn write_jsonl(&mut self, out: Box<dyn Write + Send>) {
        self.jsonl = Some(out);
    }

    /// Flushes the JSON-lines output; the first write error, if any happened.
    pub fn finish_jsonl(&mut self) -> std::io::Result<()> {
        if let Some(error) = self.jsonl_error.take() {
            return Err(error);
        }
        match &mut self.jsonl {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    /// Entries so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether nothing has been traced.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The hash of everything so far, as 64 hex digits.
    pub fn hash_hex(&self) -> String {
        let digest = self.hash.clone().finalize();
        digest.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Whether entries must carry their [`Record`]s (records kept or JSON lines
    /// written): what [`Leaf`]s made elsewhere must know.
    pub fn keeps(&self) -> bool {
        self.records.is_some() || self.jsonl.is_some()
    }

    /// Records a datagram from node `src` to `dst` at `at` (engines that route make
    /// their entries with [`Hop::leaf`](super::Hop::leaf)).
    pub fn datagram(&mut self, kind: Kind, at: Time, src: usize, dst: SocketAddr, payload: &[u8]) {
        let leaf = Leaf::datagram(self.keeps(), kind, at, at, src, dst, payload);
        self.fold(leaf);
    }

    /// Records an event of node `node`.
    pub fn event(&mut self, at: Time, node: usize, event: &Event) {
        let leaf = Leaf::event(self.keeps(), at, node, event);
        self.fold(leaf);
    }

    /// Folds one entry, made wherever it was made, into the hash: the trace is the
    /// sequence of its leaves' digests, in the order they are folded.
    pub fn fold(&mut self, leaf: Leaf) {
        self.hash.update(leaf.digest);
        if let Some(mut record) = leaf.record {
            record.index = self.count;
            self.keep(*record);
        }
        self.count += 1;
        if self.count % CHECKPOINT_EVERY == 0 {
            let digest = self.hash.clone().finalize();
            self.checkpoints.push(Checkpoint {
                entries: self.count,
                hash: u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")),
            });
        }
    }

    fn keep(&mut self, record: Record) {
        if let Some(out) = &mut self.jsonl {
            if self.jsonl_error.is_none() {
                if let Err(error) = writeln!(out, "{}", jsonl(&record)) {
                    self.jsonl_error = Some(error);
                }
            }
        }
        if let Some(records) = &mut self.records {
            if self
                .window
                .as_ref()
                .is_none_or(|w| w.contains(&record.index))
            {
                records.push(record);
            }
        }
    }
}

/// One trace entry, digested where it happened (on any thread) and folded into the
/// [`Trace`] later, in an order no thread decides.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// SHA-256 of the entry: its kind, time, node, destination and bytes, or its
    /// event's serde form.
    digest: [u8; 32],
    /// Its record, when the trace keeps them ([`Trace::keeps`]); `index` is set when
    /// it is folded. Boxed: leaves are moved about, records seldom kept.
    record: Option<Box<Record>>,
}

impl Leaf {
    /// A datagram from node `src` to `dst`, sent at `sent`, arriving (or lost) at
    /// `at`. Only `at` enters the digest. `keep`: make its [`Record`] too.
    pub fn datagram(
        keep: bool,
        kind: Kind,
        sent: Time,
        at: Time,
        src: usize,
        dst: SocketAddr,
        payload: &[u8],
    ) -> Leaf {
        if tracing::enabled!(target: "dswarm::trace", tracing::Level::TRACE) {
            set_log_context(log_context().0, Some(src));
            tracing::trace!(target: "dswarm::trace", kind = kind.name(), %dst, len = payload.len(), at = %at);
        }
        let mut hash = Sha256::new();
        hash.update([kind.tag()]);
        hash.update(at.as_micros().to_be_bytes());
        hash.update((src as u64).to_be_bytes());
        match dst {
            SocketAddr::V4(v4) => hash.update(v4.ip().octets()),
            SocketAddr::V6(v6) => hash.update(v6.ip().octets()),
        }
        hash.update(dst.port().to_be_bytes());
        hash.update((payload.len() as u64).to_be_bytes());
        hash.update(payload);
        let record = keep.then(|| {
            Box::new(Record {
                index: 0,
                at,
                sent,
                kind,
                node: src,
                dst: Some(dst),
                len: payload.len(),
                digest: digest64(payload),
                event: None,
            })
        });
        Leaf {
            digest: hash.finalize().into(),
            record,
        }
    }

    /// An event of node `node` at `at`. `keep`: make its [`Record`] too.
    pub fn event(keep: bool, at: Time, node: usize, event: &Event) -> Leaf {
        let mut hash = Sha256::new();
        hash.update([Kind::Event.tag()]);
        hash.update(at.as_micros().to_be_bytes());
        hash.update((node as u64).to_be_bytes());
        if tracing::enabled!(target: "dswarm::trace", tracing::Level::DEBUG) {
            set_log_context(at, Some(node));
            tracing::debug!(target: "dswarm::trace", "{event:?}");
        }
        let mut record = None;
        if keep {
            let form = serde_json::to_vec(event).expect("an event serialises");
            hash.update(&form);
            record = Some(Box::new(Record {
                index: 0,
                at,
                sent: at,
                kind: Kind::Event,
                node,
                dst: None,
                len: 0,
                digest: digest64(&form),
                event: Some(Box::new(event.clone())),
            }));
        } else {
            // Nobody keeps the form: fold it into the hash as it is written.
            serde_json::to_writer(HashWriter(&mut hash), event).expect("an event serialises");
        }
        Leaf {
            digest: hash.finalize().into(),
            record,
        }
    }
}

/// The first entry where two record lists differ, as `(index, left, right)`; `None`
/// when they are equal. A list that ends early differs at its end.
pub fn first_divergence<'a>(
    left: &'a [Record],
    right: &'a [Record],
) -> Option<(usize, Option<&'a Record>, Option<&'a Record>)> {
    let shared = left.len().min(right.len());
    if let Some(i) = (0..shared).find(|&i| left[i] != right[i]) {
        return Some((i, Some(&left[i]), Some(&right[i])));
    }
    (left.len() != right.len()).then(|| (shared, left.get(shared), right.get(shared)))
}

fn digest64(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl Record {
    /// The record as one JSON object (what `--trace FILE.jsonl` writes per line).
    pub fn to_jsonl(&self) -> String {
        jsonl(self)
    }
}

/// One line of the JSON-lines trace.
#[derive(Serialize)]
struct Line<'a> {
    t_us: u64,
    kind: Kind,
    node: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a Event>,
}

fn jsonl(record: &Record) -> String {
    let datagram = record.dst.is_some();
    let line = Line {
        t_us: record.at.as_micros(),
        kind: record.kind,
        node: record.node,
        dst: record.dst,
        len: datagram.then_some(record.len),
        digest: datagram.then(|| format!("{:016x}", record.digest)),
        event: record.event.as_deref(),
    };
    serde_json::to_string(&line).expect("a trace line serialises")
}

thread_local! {
    static CONTEXT: Cell<(Time, Option<usize>)> = const { Cell::new((Time::ZERO, None)) };
}

/// Sets the simulated time and node that log lines on this thread belong to; engines
/// call it before handing a node its input.
pub fn set_log_context(now: Time, node: Option<usize>) {
    CONTEXT.with(|c| c.set((now, node)));
}

/// The simulated time and node of the work this thread is doing, for log lines.
pub fn log_context() -> (Time, Option<usize>) {
    CONTEXT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "10.0.0.1:7000".parse().unwrap()
    }

    #[test]
    fn same_entries_same_hash_and_any_change_shows() {
        let mut a = Trace::new();
        let mut b = Trace::new();
        for trace in [&mut a, &mut b] {
            trace.datagram(Kind::Deliver, Time::from_micros(5), 1, addr(), b"abc");
        }
        assert_eq!(a.hash_hex(), b.hash_hex());
        assert_eq!(a.hash_hex().len(), 64);
        b.datagram(Kind::Drop, Time::from_micros(6), 1, addr(), b"abc");
        a.datagram(Kind::Drop, Time::from_micros(6), 1, addr(), b"abd");
        assert_ne!(a.hash_hex(), b.hash_hex());
    }

    #[test]
    fn divergence_names_the_first_differing_record() {
        let mut a = Trace::new();
        let mut b = Trace::new();
        a.keep_records();
        b.keep_records();
        for (trace, last) in [(&mut a, b"x"), (&mut b, b"y")] {
            trace.datagram(Kind::Deliver, Time::from_micros(1), 0, addr(), b"same");
            trace.datagram(Kind::Deliver, Time::from_micros(2), 0, addr(), last);
        }
        let (index, left, right) = first_divergence(a.records(), b.records()).unwrap();
        assert_eq!(index, 1);
        assert_ne!(left.unwrap().digest, right.unwrap().digest);
        assert!(first_divergence(a.records(), a.records()).is_none());
        let (index, _, right) = first_divergence(&a.records()[..1], b.records()).unwrap();
        assert_eq!((index, right.map(|r| r.index)), (1, Some(1)));
    }

    #[test]
    fn checkpoints_locate_the_stretch_where_two_traces_differ() {
        let dst: SocketAddr = "10.0.0.1:7000".parse().unwrap();
        let run = |differ_at: u64, window: Option<std::ops::Range<u64>>| {
            let mut trace = Trace::new();
            if let Some(window) = window {
                trace.keep_records_in(window);
            }
            for i in 0..35_000u64 {
                let byte = u8::from(i == differ_at);
                trace.datagram(Kind::Deliver, Time::from_micros(i), 1, dst, &[byte]);
            }
            trace
        };
        let (a, b) = (run(u64::MAX, None), run(23_456, None));
        assert_eq!(a.checkpoints().len(), 3);
        let at = first_checkpoint_divergence(a.checkpoints(), b.checkpoints());
        assert_eq!(
            at,
            Some(30_000),
            "the first checkpoint after the difference"
        );
        let window = 20_000..30_000;
        let (a, b) = (
            run(u64::MAX, Some(window.clone())),
            run(23_456, Some(window)),
        );
        assert_eq!(a.records().len(), 10_000);
        let (index, _, _) = first_divergence(a.records(), b.records()).expect("they differ");
        assert_eq!(a.records()[index].index, 23_456);
    }

    #[test]
    fn jsonl_lines_carry_the_event_as_a_json_object() {
        let id = crate::proto::NodeId([7; 32]);
        let event = Event::PeerVerified { id, addr: addr() };
        let mut trace = Trace::new();
        trace.keep_records();
        trace.event(Time::from_micros(7), 3, &event);
        trace.datagram(Kind::Drop, Time::from_micros(8), 3, addr(), b"abc");
        let lines: Vec<serde_json::Value> = trace
            .records()
            .iter()
            .map(|r| serde_json::from_str(&r.to_jsonl()).expect("one JSON object a line"))
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({
                "t_us": 7, "kind": "event", "node": 3,
                "event": {"PeerVerified": {"id": id.to_string(), "addr": "10.0.0.1:7000"}},
            })
        );
        assert_eq!(lines[1]["kind"], "drop");
        assert_eq!(lines[1]["len"], 3);
        assert_eq!(lines[1]["digest"].as_str().map(str::len), Some(16));
    }

    #[test]
    fn an_event_hashes_alike_whether_its_record_is_kept_or_not() {
        let event = Event::PeerEvicted {
            id: crate::proto::NodeId([1; 32]),
            replaced_by: None,
        };
        let kept = Leaf::event(true, Time::from_micros(5), 2, &event);
        let folded = Leaf::event(false, Time::from_micros(5), 2, &event);
        assert_eq!(kept.digest, folded.digest);
        assert!(kept.record.is_some() && folded.record.is_none());
    }
}
