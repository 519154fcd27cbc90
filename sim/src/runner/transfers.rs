//! The runner's side of the `streams` workload: who listens, what each transfer step
//! asks, and the figures at the end.
//!
//! In: the scenario's workloads (their `streams`, `stream_bytes`, `listeners`), the
//! timeline's stream steps, and at the end what each node's program
//! ([`crate::engine::transfers::Transfers`]) recorded. Out: the engine's listeners
//! and programs, each transfer started on its asker, and the report's [`Streams`].
//!
//! A transfer is a `Connect` from a random honest node to a random listening one, then
//! a stream that carries the bytes, which the listener's program checks; the asker's
//! program runs both, at the node's own time. Listeners are drawn once, at the start,
//! on a random stream of their own: a share `listeners` of the honest nodes, at least
//! one.

use std::collections::BTreeMap;

use dswarm::proto::node::QueryError;
use dswarm::proto::stream::StreamError;
use dswarm::proto::wire::ResetCode;
use dswarm::proto::NodeId;
use rand_core::RngCore;

use super::members::Members;
use crate::engine::transfers::Failure;
use crate::engine::Engine;
use crate::report::{percentile, StreamPath, Streams};
use crate::scenario::Scenario;

/// The runner's side of stream transfers; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Transfers {
    listeners: Vec<usize>,
    issued: u64,
    failed_by: BTreeMap<String, u64>,
}

impl Transfers {
    /// Draws the listeners of `scenario` among the `honest` nodes, from `rng`; nobody
    /// listens when no workload streams.
    pub(super) fn new(scenario: &Scenario, honest: &[bool], rng: &mut impl RngCore) -> Transfers {
        let share = scenario
            .workload
            .iter()
            .filter(|w| w.streams > 0)
            .map(|w| w.listeners)
            .fold(0.0, f64::max);
        if share == 0.0 {
            return Transfers::default();
        }
        let candidates: Vec<usize> = (0..scenario.nodes).filter(|&n| honest[n]).collect();
        let mut listeners: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= share)
            .collect();
        if listeners.is_empty() {
            listeners.extend(candidates.first());
        }
        Transfers {
            listeners,
            ..Transfers::default()
        }
    }

    /// Puts the programs on every honest node and has the listeners listen.
    pub(super) fn begin(&self, engine: &mut dyn Engine, honest: &[bool]) {
        if self.listeners.is_empty() {
            return;
        }
        let nodes: Vec<usize> = (0..honest.len()).filter(|&n| honest[n]).collect();
        engine.stream_setup(&nodes, &self.listeners);
    }

    /// Starts transfer step `tag` (drawn `asker`, `target`) now: from a node still
    /// here to a listener still here, unless no listener is left but the asker.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn issue(
        &mut self,
        tag: u64,
        asker: u64,
        target: u64,
        bytes: u64,
        members: &Members,
        ids: &[NodeId],
        engine: &mut dyn Engine,
    ) {
        self.issued += 1;
        let asker = members.pick(asker);
        let live: Vec<usize> = self
            .listeners
            .iter()
            .copied()
            .filter(|&n| !members.departed[n] && n != asker)
            .collect();
        if live.is_empty() {
            self.fail("no_listener");
            return;
        }
        let target = live[(target % live.len() as u64) as usize];
        engine.stream_start(asker, ids[target], bytes, tag);
    }

    fn fail(&mut self, why: &str) {
        *self.failed_by.entry(why.to_owned()).or_default() += 1;
    }

    /// The report's figures, from what the nodes' programs recorded, and the
    /// sinks' wrong bytes (with the first described) for the safety oracle.
    pub(super) fn finish(mut self, engine: &mut dyn Engine) -> (Streams, u64, Option<String>) {
        let mut report = Streams {
            issued: self.issued,
            ..Streams::default()
        };
        if self.listeners.is_empty() {
            return (report, 0, None);
        }
        let (ends, corrupt, first) = engine.stream_ends();
        let mut goodput = Vec::new();
        let mut completion = Vec::new();
        let mut by_path: BTreeMap<&str, (StreamPath, Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for (_, end) in &ends {
            if let Some(path) = end.path {
                report.opened += 1;
                by_path.entry(path).or_default().0.opened += 1;
            }
            match end.result {
                Ok(()) => {
                    let mbps = end.bytes as f64 * 8.0 / end.stream.as_secs_f64().max(1e-9) / 1e6;
                    let ms = (end.connect + end.stream).as_secs_f64() * 1e3;
                    report.completed += 1;
                    report.bytes += end.bytes;
                    goodput.push(mbps);
                    completion.push(ms);
                    if let Some(path) = end.path {
                        let path = by_path.entry(path).or_default();
                        path.0.completed += 1;
                        path.1.push(mbps);
                        path.2.push(ms);
                    }
                }
                Err(Failure::Stream(StreamError::Reset {
                    code: ResetCode::Refused | ResetCode::NotListening,
                    ..
                })) => report.refused += 1,
                Err(failure) => self.fail(failure_reason(failure)),
            }
        }
        let ended = ends.len() as u64 + self.failed_by.get("no_listener").copied().unwrap_or(0);
        report.unfinished = report.issued - ended;
        report.failed = report.issued - report.completed - report.refused - report.unfinished;
        let sort = |v: &mut Vec<f64>| v.sort_by(f64::total_cmp);
        sort(&mut goodput);
        sort(&mut completion);
        report.goodput_mbps_p50 = percentile(&goodput, 0.5);
        report.goodput_mbps_p5 = percentile(&goodput, 0.05);
        report.completion_ms_p50 = percentile(&completion, 0.5);
        report.completion_ms_p99 = percentile(&completion, 0.99);
        for (name, (mut path, mut mbps, mut ms)) in by_path {
            sort(&mut mbps);
            sort(&mut ms);
            path.goodput_mbps_p50 = percentile(&mbps, 0.5);
            path.completion_ms_p50 = percentile(&ms, 0.5);
            report.by_path.insert(name.to_owned(), path);
        }
        report.failed_by = self.failed_by;
        (report, corrupt, first)
    }
}

/// A transfer's failure, as `failed_by` names it.
fn failure_reason(failure: Failure) -> &'static str {
    let error = match failure {
        Failure::NotStarted => return "not_started",
        Failure::Connect(QueryError::Timeout) => return "connect_timeout",
        Failure::Connect(QueryError::NotFound) => return "connect_not_found",
        Failure::Connect(QueryError::Unreachable) => return "connect_unreachable",
        Failure::Connect(_) => return "connect_failed",
        Failure::Stream(error) => error,
    };
    match error {
        StreamError::Reset {
            code: ResetCode::TimedOut,
            ..
        } => "stream_timed_out",
        StreamError::Reset {
            code: ResetCode::Violation,
            ..
        } => "stream_violation",
        StreamError::Reset {
            code: ResetCode::TooMany,
            ..
        } => "stream_too_many",
        StreamError::Reset { .. } => "stream_reset",
        StreamError::PeerLeft => "peer_left",
        StreamError::NoSession => "no_session",
        StreamError::TooMany => "too_many_streams",
        StreamError::Unknown => "stream_lost",
    }
}
