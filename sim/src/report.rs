//! The report of one run: the JSON whose keys other people's scripts rely on (docs/simulating.md lists them) and the human summary.
//!
//! In: what the runner measured. Out: a [`Report`] that serialises to the report keys
//! other people's scripts rely on (`scenario`, `seed`, `nodes`, `sim_seconds`,
//! `wall_seconds`, `trace_hash`, `messages`, `lookups`, `pings`, `contact_pings`,
//! `records`, `topics`, `panic`,
//! `expectations`, `pass`, and more), the verdict of every expectation, and a few
//! lines for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use dswarm::proto::counters::{Class, Counter};
use dswarm::proto::footprint::Footprint;
use dswarm::proto::Stats;
use serde::ser::SerializeMap;
use serde::Serialize;

mod streams;

pub use streams::{StreamPath, Streams};

use crate::hostile::{Activity, HostileCounts};
use crate::safety::SafetyReport;
use crate::scenario::{Expectation, Metric};

/// Everything a run reports; see the module docs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file.
    pub file: String,
    /// The seed that ran.
    pub seed: u64,
    /// Nodes simulated.
    pub nodes: usize,
    /// `direct`, `turmoil` or `live`.
    pub engine: String,
    /// Whether the run is reproducible from its seed: true on the simulated engines;
    /// false on `live`, whose nodes run on real sockets in real time.
    pub deterministic: bool,
    /// Threads the engine ran on: the direct engine's `--threads`, unless its world
    /// must run on one (NATs, a smallest latency of 0); the turmoil engine's is 1.
    pub threads: usize,
    /// Why the direct engine ran on one thread though more were asked for (a world
    /// with NATs, or a smallest latency of 0), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// `real` or `fast`.
    pub crypto: String,
    /// Simulated seconds run.
    pub sim_seconds: f64,
    /// Wall-clock seconds the run took.
    pub wall_seconds: f64,
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// SHA-256 over every datagram delivered or dropped and every node event; `null`
    /// on a run that is not [`Report::deterministic`], whose trace no seed replays.
    pub trace_hash: Option<String>,
    /// Entries in the trace.
    pub trace_entries: u64,
    /// Datagram counts.
    pub messages: Messages,
    /// What the world did to datagrams, by cause.
    pub faults: Faults,
    /// Nodes that left the swarm for good (`leave` events and churn).
    pub departed: usize,
    /// Nodes that churn took and brought, and that crashed and restarted.
    pub churn: Churn,
    /// FIND_NODE lookups of the workloads.
    pub lookups: Lookups,
    /// The lookups started once faults had stopped and settled: the liveness check.
    pub lookups_after_faults: AfterFaults,
    /// PING of the closest peers, from the workloads.
    pub pings: Pings,
    /// Single PINGs of a random routing-table contact (`pings`), from the workloads.
    pub contact_pings: ContactPings,
    /// Puts and gets of the workloads, checked against the oracle.
    pub records: Records,
    /// Announcements and topic lookups of the workloads, checked against the oracle.
    pub topics: Topics,
    /// `Command::Connect`s of the workloads: the path each took, overall and by the
    /// NATs of the two ends.
    pub connect: Connects,
    /// Stream transfers of the workloads (`streams`): how many finished, goodput and
    /// completion time, overall and by path.
    pub streams: Streams,
    /// Verified peers per routing table at the end.
    pub tables: Tables,
    /// What a node holds in memory at the end, by part (the core's estimate).
    pub memory: Memory,
    /// The nodes' own counters, summed over the swarm.
    pub protocol: Counters,
    /// Hostile nodes, by kind (all 0 in an honest swarm).
    pub hostile: HostileCounts,
    /// What the hostile nodes sent beyond the protocol.
    pub hostile_activity: Activity,
    /// What the honest nodes refused, summed over them alone.
    pub hostile_refused: Breaches,
    /// The safety oracles: what they checked and every violation. A violation fails
    /// the run.
    pub safety: SafetyReport,
    /// How the direct engine's windows spread their work over threads, when asked for
    /// (`dswarm run --profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<Windows>,
    /// What the live engine measured of the machine: lags, the kernel's drops, CPU,
    /// and warnings when the machine did not keep up. Absent on the simulated engines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveFigures>,
    /// The test-bed panicked: the message and where (`"… at sim/src/world.rs:215:42"`).
    /// The run stopped there; every figure is what it had come to by then, and the
    /// run fails. `null` when it did not panic.
    pub panic: Option<String>,
    /// Every expectation of the scenario, checked.
    pub expectations: Vec<Verdict>,
    /// Whether every expectation held, no safety oracle found a violation and the
    /// test-bed did not panic.
    pub pass: bool,
}

/// What a live run measured of the machine that ran it; see the live engine's
/// `watch` module.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveFigures {
    /// The tokio workers the nodes ran on.
    pub workers: usize,
    /// Whether beacons went over real loopback multicast groups (`real`), or why
    /// the senders' shims fanned them out instead (`emulated: …`).
    pub multicast: String,
    /// The wall time the engine expected before it started, in seconds.
    pub estimate_s: f64,
    /// CPU time of the process (user and system) over the run, in seconds.
    pub cpu_s: f64,
    /// `cpu_s` per node per simulated second.
    pub cpu_per_node_s: f64,
    /// Share of datagrams handed to their node more than 5 ms after they were due
    /// (tokio's millisecond timers alone make up to about 2.5 ms).
    pub late_share: f64,
    /// How late datagrams were handed to their nodes: median, 99th percentile,
    /// most (milliseconds; the upper edges of 50 µs buckets).
    pub lateness_ms_p50: f64,
    /// See `lateness_ms_p50`.
    pub lateness_ms_p99: f64,
    /// See `lateness_ms_p50`.
    pub lateness_ms_max: f64,
    /// A probe task sleeping 5 ms at a time on the workers: how late it woke.
    pub probe_lag_ms_p99: f64,
    /// See `probe_lag_ms_p99`.
    pub probe_lag_ms_max: f64,
    /// How far the runner fell behind the timeline at worst (milliseconds).
    pub runner_lag_ms_max: f64,
    /// Datagrams the kernel dropped in the nodes' receive buffers; `null` where
    /// the kernel does not say (off Linux).
    pub kernel_drops: Option<u64>,
    /// Sends the kernel refused.
    pub send_failures: u64,
    /// The stretches `[from, to)` of simulated seconds in which more than 1 % of the
    /// datagrams were handed late: a figure measured outside them is not touched by
    /// the lag (a swarm forming lags; its lookups a minute later may not).
    pub lagged: Vec<[f64; 2]>,
    /// What the machine did not keep up with; figures measured in the `lagged`
    /// stretches are not to be trusted when this is not empty.
    pub warnings: Vec<String>,
}

impl LiveFigures {
    /// Its lines of the summary: what the machine did, and a warning when it did not
    /// keep up.
    fn summary(&self, s: &mut String) {
        let drops = self
            .kernel_drops
            .map_or("not measured".to_owned(), |d| d.to_string());
        let _ = writeln!(
            s,
            "live: {} workers, multicast {}; CPU {:.2} s ({:.2} ms per node per simulated s); \
             datagrams handed late p50 {:.2} ms p99 {:.2} ms max {:.1} ms ({:.2} % over 5 ms); \
             probe lag p99 {:.2} ms; kernel drops {drops}",
            self.workers,
            self.multicast,
            self.cpu_s,
            self.cpu_per_node_s * 1000.0,
            self.lateness_ms_p50,
            self.lateness_ms_p99,
            self.lateness_ms_max,
            self.late_share * 100.0,
            self.probe_lag_ms_p99,
        );
        if !self.warnings.is_empty() {
            let _ = writeln!(
                s,
                "WARNING the machine did not keep up: {}; figures measured then are not trustworthy",
                self.warnings.join("; ")
            );
        }
    }
}

/// The direct engine's windows: the work of each thread, the time spent waiting, and
/// what that says of more threads. See the harness's `Profile`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Windows {
    /// Threads the run had.
    pub threads: usize,
    /// The network's lookahead: the longest a window may be, in milliseconds.
    pub lookahead_ms: f64,
    /// Windows run, and of those the ones with a single active part (run on one
    /// thread alone).
    pub windows: u64,
    pub inline_windows: u64,
    /// Events handled (deliveries, timers, scheduled commands).
    pub events: u64,
    /// Events a window, on average.
    pub events_per_window: f64,
    /// Per thread, wall seconds handling events and waiting for the others.
    pub busy_seconds: Vec<f64>,
    pub waited_seconds: Vec<f64>,
    /// Wall seconds merging at windows' ends on the caller's thread (finished
    /// queries, events, taps; picking the next window), which more threads do not
    /// shorten.
    pub merging_seconds: f64,
    /// Per thread count, the best speedup the spread of events allows (no waiting,
    /// no merging): all events over the critical path.
    pub balance_bound: BTreeMap<usize, f64>,
    /// Per thread count, the wall seconds projected from this run: the critical path
    /// at the measured cost of an event, plus the merging, which does not shrink.
    pub projected_seconds: BTreeMap<usize, f64>,
}

impl Windows {
    /// The report's view of a run's profile.
    pub fn of(profile: &dswarm::harness::Profile, lookahead: std::time::Duration) -> Windows {
        let busy: f64 = profile.busy.iter().map(|d| d.as_secs_f64()).sum();
        let per_event = busy / profile.events.max(1) as f64;
        let merging = profile.merging.as_secs_f64();
        let threads = dswarm::harness::PROFILE_THREADS;
        Windows {
            threads: profile.threads,
            lookahead_ms: lookahead.as_secs_f64() * 1000.0,
            windows: profile.windows,
            inline_windows: profile.inline_windows,
            events: profile.events,
            events_per_window: profile.events as f64 / profile.windows.max(1) as f64,
            busy_seconds: profile.busy.iter().map(|d| d.as_secs_f64()).collect(),
            waited_seconds: profile.waited.iter().map(|d| d.as_secs_f64()).collect(),
            merging_seconds: merging,
            balance_bound: threads
                .iter()
                .filter_map(|&t| Some((t, profile.balance_bound(t)?)))
                .collect(),
            projected_seconds: threads
                .iter()
                .zip(profile.critical)
                .map(|(&t, critical)| (t, critical * per_event + merging))
                .collect(),
        }
    }
}

/// Datagram counts.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Messages {
    /// Sent (a multicast counts once per receiver, a duplicate once more).
    pub sent: u64,
    /// Handed to a node.
    pub delivered: u64,
    /// Lost, cut, unroutable, or arrived at a node that was down.
    pub dropped: u64,
}

/// What the world did to datagrams.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Faults {
    /// Lost at random.
    pub lost: u64,
    /// Cut by a partition.
    pub partitioned: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Delayed out of order.
    pub reordered: u64,
    /// Dropped by a NAT: its filter refused the sender, the mapping had expired or
    /// never was, or the destination was a NATed node's private address.
    pub nat_dropped: u64,
}

/// Who came and went: churn's departures and arrivals, crashes and restarts.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Churn {
    /// Nodes churn took away for good.
    pub left: usize,
    /// Of those, the ones that said goodbye first (`graceful`).
    pub left_gracefully: usize,
    /// New nodes churn brought in.
    pub joined: usize,
    /// Nodes that crashed (`crash` events).
    pub crashed: usize,
    /// Crashed nodes that came back (`restart` events).
    pub restarted: usize,
    /// Of `restarted_listable`, those that some other node in the swarm holds in its
    /// routing table.
    pub restarted_known: usize,
    /// Of `restarted_here`, those that can be listed: not behind a NAT. A node behind
    /// one marks its frames unlisted, and no routing table may hold it.
    pub restarted_listable: usize,
    /// Nodes that restarted, each counted once, still in the swarm at the end.
    pub restarted_here: usize,
}

/// Lookups started once faults had stopped: at least [`AfterFaults::SETTLE`] after the
/// last `[[at]]` event or the end of the churn (from then on in a run without either).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct AfterFaults {
    /// From when lookups count, in simulated seconds.
    pub from_seconds: f64,
    /// Lookups started from then on.
    pub issued: u64,
    /// Of those, lookups that found their target.
    pub succeeded: u64,
}

impl AfterFaults {
    /// How long after the last fault lookups start to count.
    pub const SETTLE: Duration = Duration::from_secs(60);
}

/// What a run sampled for its charts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Series {
    /// Each finished lookup's hop count.
    pub hops: Vec<u32>,
    /// Each finished lookup's latency, in milliseconds.
    pub latencies_ms: Vec<f64>,
    /// (simulated seconds, mean verified peers per node, fewest) at each sample.
    pub table_fill: Vec<(f64, f64, f64)>,
    /// (simulated seconds, datagrams sent per simulated second since the last sample).
    pub messages_per_sec: Vec<(f64, f64)>,
}

/// Lookup figures.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Lookups {
    /// Started.
    pub issued: u64,
    /// Found their target: `listed` and `declared` together.
    pub succeeded: u64,
    /// Found their target listed: it answered the walk, and is the closest contact.
    pub listed: u64,
    /// Found their target declared: it did not answer (behind a NAT, it is in no
    /// routing table), but its own signed declaration under its id was read.
    pub declared: u64,
    /// Finished without finding it, or could not start.
    pub failed: u64,
    /// Still running when the scenario ended.
    pub unfinished: u64,
    /// Median hops of the finished lookups.
    pub hops_p50: Option<u32>,
    /// 95th-percentile hops.
    pub hops_p95: Option<u32>,
    /// Median latency, milliseconds.
    pub latency_ms_p50: Option<f64>,
    /// 99th-percentile latency, milliseconds.
    pub latency_ms_p99: Option<f64>,
}

/// Ping figures.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Pings {
    /// `PingClosest` commands started.
    pub issued: u64,
    /// Commands in which every pinged peer answered.
    pub succeeded: u64,
    /// Median round-trip time of the answers, milliseconds.
    pub rtt_ms_p50: Option<f64>,
}

/// Figures of the `pings` workload: single PINGs, each to a random contact of the
/// asker's routing table.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ContactPings {
    /// Pings the workloads asked for.
    pub issued: u64,
    /// Answered by the contact (a PONG).
    pub answered: u64,
    /// Ended without an answer: every retry timed out, or the peer refused.
    pub failed: u64,
    /// Never sent: the asker's table was empty, or the node refused the command
    /// (the contact left its table meanwhile, too many requests waiting).
    pub not_started: u64,
    /// Still waiting for an answer when the scenario ended.
    pub unfinished: u64,
    /// Median round-trip time of the answers, milliseconds.
    pub rtt_ms_p50: Option<f64>,
    /// 99th-percentile round-trip time, milliseconds.
    pub rtt_ms_p99: Option<f64>,
}

/// Record figures: every write the workloads issued, and every get checked against
/// the oracle of acknowledged writes. Gets count immutable and mutable ones alike.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Records {
    /// Writes (immutable and mutable) acknowledged: stored by at least one node.
    pub put: u64,
    /// Writes started.
    pub put_issued: u64,
    /// Writes that ended stored by nobody, or could not start.
    pub put_failed: u64,
    /// Of `put`, the mutable writes.
    pub mutable_put: u64,
    /// Gets started (immutable and mutable).
    pub get: u64,
    /// Gets that returned what was written: for a mutable record, a version at least
    /// as new as the newest acknowledged when the get started.
    pub get_ok: u64,
    /// Mutable gets that returned an older version than the newest acknowledged.
    pub get_stale: u64,
    /// Gets that found nothing (or failed).
    pub get_missing: u64,
    /// Gets that returned something never written: a bug.
    pub get_wrong: u64,
    /// Gets still running when the scenario ended.
    pub get_unfinished: u64,
    /// Gets not started: nothing had been acknowledged yet to get.
    pub get_skipped: u64,
    /// Of `get`, the mutable gets (all ask for the latest version).
    pub mutable_get: u64,
    /// Mutable gets that returned the newest acknowledged version (or newer).
    pub mutable_latest: u64,
    /// Median get latency, milliseconds.
    pub get_latency_ms_p50: Option<f64>,
    /// 99th-percentile get latency, milliseconds.
    pub get_latency_ms_p99: Option<f64>,
}

/// Topic figures, checked against the oracle of acknowledged announcements.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Topics {
    /// Announcements started.
    pub announce_issued: u64,
    /// Announcements acknowledged: stored by at least one node.
    pub announced: u64,
    /// Announcements that ended stored by nobody, or could not start.
    pub announce_failed: u64,
    /// Topic lookups started.
    pub lookups: u64,
    /// Topic lookups that ended.
    pub lookups_done: u64,
    /// Lookups that found every announcer still in the swarm (recall 1).
    pub lookup_complete: u64,
    /// Lookups not started: no topic had an announcer yet.
    pub lookup_skipped: u64,
    /// Mean recall: found announcers still in the swarm over all of them, per lookup
    /// (an unfinished lookup counts 0).
    pub recall_mean: Option<f64>,
}

/// Connect figures: how many attempts ended on each path, or failed.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ConnectCounts {
    /// Connects started (or refused at the start).
    pub attempts: u64,
    /// Ended with a session straight to the peer's address.
    pub direct: u64,
    /// Ended with a session through a hole punched in both NATs.
    pub punched: u64,
    /// Ended with a session through a relay.
    pub relayed: u64,
    /// Ended with a session opened through the peer's multicast mailbox.
    pub mailbox: u64,
    /// Ended without a session, or refused at the start.
    pub failed: u64,
    /// Still running when the scenario ended.
    pub unfinished: u64,
}

impl ConnectCounts {
    /// Attempts that ended with a session, by any path.
    pub fn connected(&self) -> u64 {
        self.direct + self.punched + self.relayed + self.mailbox
    }
}

/// The `connects` workload's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Connects {
    /// Every attempt.
    #[serde(flatten)]
    pub total: ConnectCounts,
    /// Attempts by the NATs of asker and target: `"consistent->random"`, …
    pub by_nat: BTreeMap<String, ConnectCounts>,
    /// Failures by reason: `timeout`, `unreachable`, `not_found`, … and `not_started`
    /// (the node refused the command).
    pub failed_by: BTreeMap<String, u64>,
}

/// Routing table fill at the end of the run, over the nodes still in the swarm.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Tables {
    /// Smallest table.
    pub min: usize,
    /// Mean table size.
    pub mean: f64,
    /// Largest table.
    pub max: usize,
}

/// What the nodes still in the swarm hold in memory at the end, from each node's
/// [`Footprint`]: an estimate from the capacity of what each part holds, without the
/// allocator's own overhead or the simulator's (its queues, the trace).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    /// Nodes counted: the honest nodes still in the swarm.
    pub nodes: usize,
    /// Bytes a node holds, mean.
    pub node_bytes_mean: f64,
    /// Bytes the largest node holds.
    pub node_bytes_max: usize,
    /// Open sessions a node holds, mean.
    pub sessions_open_mean: f64,
    /// Bytes an open session costs, mean (`sessions` over the open sessions).
    pub session_bytes: f64,
    /// Bytes a node holds, mean, by part: `inline` (the node value itself),
    /// `sessions`, `handshakes`, `table`, `limits`, `rpc`, `queries`, `store`,
    /// `traversal`, `queued`.
    pub parts: BTreeMap<String, f64>,
}

impl Memory {
    /// The figures of `footprints`, one per node.
    pub fn of<'a>(footprints: impl Iterator<Item = &'a Footprint>) -> Memory {
        let mut sum = Footprint::default();
        let mut nodes = 0;
        let mut max = 0;
        for footprint in footprints {
            sum.add(footprint);
            nodes += 1;
            max = max.max(footprint.total());
        }
        let mean = |bytes: usize| bytes as f64 / nodes.max(1) as f64;
        Memory {
            nodes,
            node_bytes_mean: mean(sum.total()),
            node_bytes_max: max,
            sessions_open_mean: mean(sum.sessions_open),
            session_bytes: sum.sessions as f64 / sum.sessions_open.max(1) as f64,
            parts: sum
                .parts()
                .iter()
                .map(|&(name, bytes)| (name.to_string(), mean(bytes)))
                .collect(),
        }
    }

    /// One summary line: the mean, the largest, and the parts over 1% of the mean,
    /// largest first.
    fn line(&self) -> String {
        let kb = |bytes: f64| bytes / 1000.0;
        let mut parts: Vec<(&String, &f64)> = self.parts.iter().collect();
        parts.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = parts
            .iter()
            .filter(|(_, &bytes)| bytes >= self.node_bytes_mean / 100.0)
            .map(|(name, &bytes)| match name.as_str() {
                "sessions" => format!(
                    "sessions {:.1} ({:.0} open, {:.0} B each)",
                    kb(bytes),
                    self.sessions_open_mean,
                    self.session_bytes
                ),
                _ => format!("{name} {:.1}", kb(bytes)),
            })
            .collect();
        format!(
            "memory: a node holds {:.1} KB (largest {:.1} KB), estimated: {}",
            kb(self.node_bytes_mean),
            kb(self.node_bytes_max as f64),
            shown.join(", ")
        )
    }
}

/// The nodes' counters, summed: every counter of the core's one list, under its
/// name and in the list's order ([`Stats::for_each`]), so that a counter the core
/// declares is in the report without a line here.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters(pub Stats);

/// What the honest nodes refused, summed over them alone: the counters of class
/// [`Class::Breach`] (forged beacons and records, bad handshakes, replays, floods over
/// a limit, silence where an answer was due).
#[derive(Clone, Copy, Debug, Default)]
pub struct Breaches(pub Stats);

impl std::ops::Deref for Counters {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        &self.0
    }
}

impl std::ops::Deref for Breaches {
    type Target = Stats;
    fn deref(&self) -> &Stats {
        &self.0
    }
}

/// Writes `stats`' counters that `keep` keeps as one JSON object, in list order.
fn serialize_counters<S: serde::Serializer>(
    stats: &Stats,
    keep: impl Fn(&Counter) -> bool,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut kept: Vec<(&'static str, u64)> = Vec::new();
    stats.for_each(&mut |counter, value| {
        if keep(counter) {
            kept.push((counter.name, value));
        }
    });
    let mut map = serializer.serialize_map(Some(kept.len()))?;
    for (name, value) in kept {
        map.serialize_entry(name, &value)?;
    }
    map.end()
}

impl Serialize for Counters {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_counters(&self.0, |_| true, serializer)
    }
}

impl Serialize for Breaches {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_counters(&self.0, |c| c.class == Class::Breach, serializer)
    }
}

/// One expectation, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The metric.
    pub name: String,
    /// As written in the scenario, e.g. `>= 0.99`.
    pub expected: String,
    /// What the run measured (`null` when there was nothing to measure).
    pub actual: Option<f64>,
    /// Whether it held.
    pub pass: bool,
}

impl Report {
    /// The value of `metric`, `None` when the run had nothing to measure it on.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        match metric {
            Metric::LookupSuccess => ratio(self.lookups.succeeded, self.lookups.issued),
            Metric::ConnectSuccess => {
                ratio(self.connect.total.connected(), self.connect.total.attempts)
            }
            Metric::StreamSuccess => ratio(self.streams.completed, self.streams.issued),
            Metric::RestartedKnown => ratio(
                self.churn.restarted_known as u64,
                self.churn.restarted_listable as u64,
            ),
            Metric::LookupSuccessAfterFaults => ratio(
                self.lookups_after_faults.succeeded,
                self.lookups_after_faults.issued,
            ),
            Metric::LookupHopsP50 => self.lookups.hops_p50.map(f64::from),
            Metric::LookupHopsP95 => self.lookups.hops_p95.map(f64::from),
            Metric::LookupLatencyMsP50 => self.lookups.latency_ms_p50,
            Metric::LookupLatencyMsP99 => self.lookups.latency_ms_p99,
            Metric::PingSuccess => ratio(self.pings.succeeded, self.pings.issued),
            Metric::ContactPingSuccess => {
                ratio(self.contact_pings.answered, self.contact_pings.issued)
            }
            Metric::DeliveredRatio => ratio(self.messages.delivered, self.messages.sent),
            Metric::GetSuccess => ratio(self.records.get_ok, self.records.get),
            Metric::MutableLatest => ratio(self.records.mutable_latest, self.records.mutable_get),
            Metric::TopicRecall => self.topics.recall_mean,
            // Workload commands run on honest nodes only.
            Metric::HonestLookupSuccess => ratio(self.lookups.succeeded, self.lookups.issued),
            Metric::ForgedStored => self
                .safety
                .records_checked
                .then_some(self.safety.forged_stored as f64),
            Metric::UnexpectedSessions => Some(self.safety.unexpected_sessions as f64),
        }
    }

    /// Checks every expectation and sets [`Report::pass`]: every expectation holds,
    /// no safety oracle found a violation and the run did not panic.
    pub fn check(&mut self, expect: &[Expectation]) {
        self.expectations = expect
            .iter()
            .map(|e| {
                let actual = self.metric(e.metric);
                Verdict {
                    name: e.metric.name().to_owned(),
                    expected: e.text.clone(),
                    actual,
                    pass: actual.is_some_and(|a| e.op.holds(a, e.value)),
                }
            })
            .collect();
        self.pass =
            self.expectations.iter().all(|v| v.pass) && self.safety.holds() && self.panic.is_none();
    }

    /// A few lines for people: figures, then one line per expectation.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let opt_u = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(
            s,
            "simulated {:.1} s in {:.2} s wall ({:.1}x), {} engine on {} thread(s), {} crypto",
            self.sim_seconds, self.wall_seconds, self.speed, self.engine, self.threads, self.crypto
        );
        let _ = writeln!(
            s,
            "messages: sent {} delivered {} dropped {} (lost {} partitioned {} duplicated {} reordered {} nat {})",
            self.messages.sent,
            self.messages.delivered,
            self.messages.dropped,
            self.faults.lost,
            self.faults.partitioned,
            self.faults.duplicated,
            self.faults.reordered,
            self.faults.nat_dropped
        );
        let _ = writeln!(
            s,
            "tables: verified peers min {} mean {:.1} max {}",
            self.tables.min, self.tables.mean, self.tables.max
        );
        if self.memory.nodes > 0 {
            let _ = writeln!(s, "{}", self.memory.line());
        }
        if let Some(why) = &self.serial {
            let _ = writeln!(s, "one thread, though more were asked for: {why}");
        }
        if let Some(w) = &self.windows {
            let seconds = |v: &[f64]| {
                v.iter()
                    .map(|s| format!("{s:.2}"))
                    .collect::<Vec<_>>()
                    .join("/")
            };
            let _ = writeln!(
                s,
                "windows: {} of up to {:.1} ms ({} on one part), {:.1} events each; per thread busy {} s, waiting {} s; merging {:.2} s",
                w.windows,
                w.lookahead_ms,
                w.inline_windows,
                w.events_per_window,
                seconds(&w.busy_seconds),
                seconds(&w.waited_seconds),
                w.merging_seconds
            );
            let bounds: Vec<String> = w
                .balance_bound
                .iter()
                .map(|(t, b)| format!("{t}: {b:.2}x ({:.1} s)", w.projected_seconds[t]))
                .collect();
            let _ = writeln!(
                s,
                "windows: best speedup the spread of events allows, and projected wall time, by threads: {}",
                bounds.join(", ")
            );
        }
        let p = &self.protocol;
        let _ = writeln!(
            s,
            "protocol: {} beacons sent ({} skipped): {} verified, {} known, {} of strangers not probed; {} handshakes dialled, {} completed; {} requests ({} retried, {} unanswered, {} throttled); {} lookups",
            p.beacons_sent,
            p.beacons_suppressed,
            p.beacons_accepted,
            p.beacons_known,
            p.beacons_not_probed,
            p.sessions.handshakes_started,
            p.sessions.handshakes_completed,
            p.requests_sent,
            p.requests_retried,
            p.requests_timed_out,
            p.requests_throttled,
            p.lookups_started,
        );
        if p.store.hits + p.store.misses + p.records_rejected > 0 {
            let _ = writeln!(
                s,
                "store: {} reads answered with a record, {} without; {} answers rejected",
                p.store.hits, p.store.misses, p.records_rejected
            );
        }
        if self.lookups.issued > 0 {
            let _ = writeln!(
                s,
                "lookups: {} issued, {} found their target ({} listed, {} declared), {} failed, {} unfinished; hops p50 {} p95 {}; latency p50 {} ms p99 {} ms",
                self.lookups.issued,
                self.lookups.succeeded,
                self.lookups.listed,
                self.lookups.declared,
                self.lookups.failed,
                self.lookups.unfinished,
                opt_u(self.lookups.hops_p50),
                opt_u(self.lookups.hops_p95),
                opt(self.lookups.latency_ms_p50),
                opt(self.lookups.latency_ms_p99),
            );
        }
        if self.pings.issued > 0 {
            let _ = writeln!(
                s,
                "pings: {} issued, {} answered by all 3 closest; rtt p50 {} ms",
                self.pings.issued,
                self.pings.succeeded,
                opt(self.pings.rtt_ms_p50)
            );
        }
        let c = &self.contact_pings;
        if c.issued > 0 {
            let _ = writeln!(
                s,
                "contact pings: {} issued, {} answered, {} failed, {} not started, {} unfinished; rtt p50 {} ms p99 {} ms",
                c.issued,
                c.answered,
                c.failed,
                c.not_started,
                c.unfinished,
                opt(c.rtt_ms_p50),
                opt(c.rtt_ms_p99)
            );
        }
        let r = &self.records;
        if r.put_issued > 0 || r.get > 0 || r.get_skipped > 0 {
            let _ = writeln!(
                s,
                "records: put {} of {} ({} mutable, {} failed); get {} ({} mutable): ok {} stale {} missing {} wrong {} unfinished {} (skipped {}); latest {} of {} mutable; latency p50 {} ms p99 {} ms",
                r.put,
                r.put_issued,
                r.mutable_put,
                r.put_failed,
                r.get,
                r.mutable_get,
                r.get_ok,
                r.get_stale,
                r.get_missing,
                r.get_wrong,
                r.get_unfinished,
                r.get_skipped,
                r.mutable_latest,
                r.mutable_get,
                opt(r.get_latency_ms_p50),
                opt(r.get_latency_ms_p99),
            );
        }
        let t = &self.topics;
        if t.announce_issued > 0 || t.lookups > 0 || t.lookup_skipped > 0 {
            let p = &self.protocol;
            let _ = writeln!(
                s,
                "topics: announced {} of {} ({} failed); {} lookups, {} done, {} complete (skipped {}); recall mean {}; announcements dropped from answers: {} forged, {} stale; refused by holders as stale: {}",
                t.announced,
                t.announce_issued,
                t.announce_failed,
                t.lookups,
                t.lookups_done,
                t.lookup_complete,
                t.lookup_skipped,
                t.recall_mean.map_or("-".to_string(), |v| format!("{v:.4}")),
                p.announcements_forged,
                p.announcements_stale,
                p.store.refused_stale,
            );
        }
        let k = &self.connect.total;
        if k.attempts > 0 {
            let _ = writeln!(
                s,
                "connects: {} attempts: {} direct, {} punched, {} relayed, {} mailbox, {} failed, {} unfinished",
                k.attempts, k.direct, k.punched, k.relayed, k.mailbox, k.failed, k.unfinished
            );
            for (pair, k) in &self.connect.by_nat {
                let _ = writeln!(
                    s,
                    "  {pair}: {} of {} connected ({} direct, {} punched, {} relayed, {} mailbox)",
                    k.connected(),
                    k.attempts,
                    k.direct,
                    k.punched,
                    k.relayed,
                    k.mailbox
                );
            }
        }
        let t = &self.streams;
        if t.issued > 0 {
            let opt = |v: Option<f64>, digits: usize| {
                v.map_or("-".to_string(), |v| format!("{v:.digits$}"))
            };
            let _ = writeln!(
                s,
                "streams: {} issued, {} completed ({} bytes), {} refused, {} failed, {} unfinished; goodput p50 {} Mbit/s p5 {}; completion p50 {} ms p99 {}",
                t.issued,
                t.completed,
                t.bytes,
                t.refused,
                t.failed,
                t.unfinished,
                opt(t.goodput_mbps_p50, 2),
                opt(t.goodput_mbps_p5, 2),
                opt(t.completion_ms_p50, 1),
                opt(t.completion_ms_p99, 1),
            );
            for (path, p) in &t.by_path {
                let _ = writeln!(
                    s,
                    "  {path}: {} of {} completed, goodput p50 {} Mbit/s, completion p50 {} ms",
                    p.completed,
                    p.opened,
                    opt(p.goodput_mbps_p50, 2),
                    opt(p.completion_ms_p50, 1),
                );
            }
            if !t.failed_by.is_empty() {
                let why: Vec<String> = t
                    .failed_by
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                let _ = writeln!(s, "  failed: {}", why.join(", "));
            }
        }
        if self.departed > 0 {
            let _ = writeln!(s, "departed: {} nodes left the swarm", self.departed);
        }
        let c = &self.churn;
        if c.left + c.joined + c.crashed + c.restarted > 0 {
            let _ = writeln!(
                s,
                "churn: {} left ({} saying goodbye), {} joined, {} crashed, {} restarted ({} still here; of the {} not behind a NAT, {} back in others' tables)",
                c.left, c.left_gracefully, c.joined, c.crashed, c.restarted, c.restarted_here, c.restarted_listable, c.restarted_known
            );
        }
        let a = &self.lookups_after_faults;
        if a.issued > 0 && a.from_seconds > AfterFaults::SETTLE.as_secs_f64() {
            let _ = writeln!(
                s,
                "after faults (lookups from {:.0} s): {} issued, {} found their target",
                a.from_seconds, a.issued, a.succeeded
            );
        }
        self.hostile_summary(&mut s);
        if let Some(live) = &self.live {
            live.summary(&mut s);
        }
        match &self.trace_hash {
            Some(hash) => {
                let _ = writeln!(s, "trace {hash}");
            }
            None => {
                let _ = writeln!(
                    s,
                    "trace not claimed (a {} run is not reproducible), {} entries",
                    self.engine, self.trace_entries
                );
            }
        }
        if let Some(panic) = &self.panic {
            let _ = writeln!(
                s,
                "PANIC the test-bed panicked at {:.3} simulated seconds: {panic}",
                self.sim_seconds
            );
        }
        for v in &self.expectations {
            let actual = v.actual.map_or("nothing measured".to_string(), |a| {
                if a.fract() == 0.0 {
                    format!("{a}")
                } else {
                    format!("{a:.4}")
                }
            });
            let _ = writeln!(
                s,
                "{} {} {} (measured {actual})",
                if v.pass { "PASS" } else { "FAIL" },
                v.name,
                v.expected
            );
        }
        s
    }
}

impl Report {
    /// The hostile lines of the summary: who, what they sent, what the honest nodes
    /// refused; then the safety oracles, and every violation they found.
    fn hostile_summary(&self, s: &mut String) {
        let h = &self.hostile;
        if h.total() > 0 {
            let a = &self.hostile_activity;
            let r = &self.hostile_refused;
            let _ = writeln!(
                s,
                "hostile: {} liars, {} droppers, {} forgers, {} replayers, {} flooders, {} sybils, {} eclipsers; sent {} flood hellos, {} flood requests, {} replays, {} forged writes",
                h.liars, h.droppers, h.forgers, h.replayers, h.flooders, h.sybils, h.eclipsers,
                a.flood_hellos, a.flood_requests, a.replays, a.forged_writes,
            );
            let _ = writeln!(
                s,
                "honest nodes refused: {} forged beacons, {} bad record answers, {} forged and {} stale announcements in answers, {} badly signed writes, {} stale announcements; handshakes {} rejected, {} half-open refused, {} half-open evicted, {} unmatched; frames {} replayed, {} of no session, {} undecryptable; {} sessions superseded; {} requests over rate; {} contacts over their address block; {} malformed; {} unexpected responses",
                r.beacons_forged, r.records_rejected, r.announcements_forged, r.announcements_stale,
                r.store.refused_signature, r.store.refused_stale,
                r.sessions.handshakes_rejected, r.sessions.half_open_refused, r.sessions.half_open_evicted,
                r.sessions.handshake_unmatched,
                r.sessions.frames_replayed, r.sessions.frames_unknown_session, r.sessions.frames_undecryptable,
                r.sessions.sessions_superseded, r.requests_rate_limited, r.contacts_refused_block,
                r.datagrams_malformed, r.responses_unexpected,
            );
            let _ = writeln!(
                s,
                "honest nodes waited in vain: {} requests unanswered, {} handshakes dialled unanswered",
                r.requests_timed_out, r.sessions.handshakes_timed_out,
            );
        }
        let safety = &self.safety;
        let records = if safety.records_checked {
            format!(
                "{} forged records stored ({} looked at in {} scans)",
                safety.forged_stored, safety.records_scanned, safety.scans
            )
        } else {
            "stores not checked (this engine keeps them to its nodes)".to_owned()
        };
        let records = if safety.topic_peers_checked > 0 {
            format!(
                "{records}, {} peers of topic lookups checked",
                safety.topic_peers_checked
            )
        } else {
            records
        };
        let _ = writeln!(
            s,
            "safety: {records}; {} unexpected sessions of {} opened{}",
            safety.unexpected_sessions,
            safety.sessions_checked,
            if safety.relay_readable > 0 {
                format!(
                    "; {} relayed frames readable by the relay",
                    safety.relay_readable
                )
            } else {
                String::new()
            }
        );
        if self.streams.issued > 0 {
            let _ = writeln!(
                s,
                "safety: {} stream bytes checked, {} wrong",
                self.streams.bytes, safety.stream_bytes_corrupt
            );
        }
        for violation in &safety.violations {
            let _ = writeln!(s, "SAFETY VIOLATED: {violation}");
        }
    }
}

/// The `p`-quantile of `sorted` by the nearest-rank method.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_carries_every_counter_and_every_breach() {
        let mut report = Report::default();
        report.protocol.0.sessions.frames_replayed = 3;
        report.hostile_refused.0.store.refused_token = 4;
        report.hostile_refused.0.datagrams_sent = 5;
        let json = serde_json::to_value(&report).expect("a report serialises");
        let protocol = json["protocol"].as_object().expect("an object");
        let refused = json["hostile_refused"].as_object().expect("an object");
        for counter in Stats::list() {
            assert!(protocol.contains_key(counter.name), "{}", counter.name);
            let breach = counter.class == Class::Breach;
            assert_eq!(
                refused.contains_key(counter.name),
                breach,
                "{}",
                counter.name
            );
        }
        assert_eq!(protocol.len(), Stats::list().len());
        assert_eq!(protocol["frames_replayed"], 3);
        assert_eq!(refused["store_refused_token"], 4);
    }
}
