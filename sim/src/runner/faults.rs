//! The faults that change who is in the swarm — crashes, restarts and churn — and when
//! faults stop, for the liveness check that follows them.
//!
//! In: the scenario's `[[at]]` crash and restart events and its `churn`, as timeline
//! steps fall due, with the members and the engine. Out: nodes taken off and brought
//! back on the engine, the members kept in step, and the report's `churn` counts.
//!
//! Every choice draws from a stream of the seed of its own: which nodes crash from one,
//! which nodes churn takes (and whether they say goodbye) from another, so turning a
//! fault on moves no other draw. Bootstrap nodes, the swarm's well-known entry points,
//! never crash or churn away, and neither do hostile nodes.

use std::collections::BTreeSet;
use std::time::Duration;

use dswarm::harness::seed_stream;
use dswarm::proto::Time;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use super::members::Members;
use super::Step;
use crate::engine::Engine;
use crate::report::Churn;
use crate::scenario::{Action, Scenario};

/// The RNG streams of churn's picks and of which nodes crash, within a run's seed.
use dswarm::harness::streams::{CHURN as STREAM_CHURN, CRASH as STREAM_CRASH};

/// The faults' state over a run; see the module docs.
pub(super) struct Faults {
    crash: ChaCha8Rng,
    /// Crashed nodes waiting for a restart, in the order they crashed.
    crashed: Vec<usize>,
    bootstrap: usize,
    /// Every node that restarted at least once.
    pub(super) restarted: BTreeSet<usize>,
    /// The report's `churn` counts.
    pub(super) counts: Churn,
}

impl Faults {
    pub(super) fn new(scenario: &Scenario) -> Faults {
        Faults {
            crash: seed_stream(scenario.seed, STREAM_CRASH),
            crashed: Vec::new(),
            bootstrap: scenario.network.bootstrap.min(scenario.nodes),
            restarted: BTreeSet::new(),
            counts: Churn::default(),
        }
    }

    /// Crashes `share` of the live nodes (rounded; bootstrap nodes aside, two stay).
    pub(super) fn crash(&mut self, share: f64, members: &mut Members, engine: &mut dyn Engine) {
        let mut pool = members.takeable(self.bootstrap).to_vec();
        let count = Action::leave_count(share, members.live.len())
            .min(members.spare())
            .min(pool.len());
        // A partial Fisher-Yates shuffle: the first `count` of the pool crash.
        for i in 0..count {
            let j = i + (self.crash.next_u64() % (pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        let mut down = pool[..count].to_vec();
        down.sort_unstable();
        for &node in &down {
            members.remove(node, false);
        }
        engine.crash(&down);
        self.counts.crashed += down.len();
        self.crashed.extend(down);
    }

    /// Brings back every crashed node that has not left for good meanwhile.
    pub(super) fn restart(
        &mut self,
        keep_table: bool,
        members: &mut Members,
        engine: &mut dyn Engine,
    ) {
        let mut back: Vec<usize> = std::mem::take(&mut self.crashed)
            .into_iter()
            .filter(|&node| !members.gone[node])
            .collect();
        back.sort_unstable();
        engine.restart(&back, keep_table);
        for &node in &back {
            members.add(node);
        }
        self.restarted.extend(back.iter().copied());
        self.counts.restarted += back.len();
    }

    /// One churn departure: the live node draw `pick` names leaves, silently or, with
    /// `graceful`, saying goodbye. Nothing when no node may leave.
    pub(super) fn leave(
        &mut self,
        pick: u64,
        graceful: bool,
        members: &mut Members,
        engine: &mut dyn Engine,
    ) {
        let pool = members.takeable(self.bootstrap);
        if pool.is_empty() || members.spare() == 0 {
            return;
        }
        let node = pool[(pick % pool.len() as u64) as usize];
        members.remove(node, true);
        if graceful {
            engine.leave_gracefully(&[node]);
            self.counts.left_gracefully += 1;
        } else {
            engine.leave(&[node]);
        }
        self.counts.left += 1;
    }

    /// One churn arrival: dormant node `node` joins as a new node.
    pub(super) fn join(&mut self, node: usize, members: &mut Members, engine: &mut dyn Engine) {
        engine.join(&[node]);
        members.add(node);
        self.counts.joined += 1;
    }
}

/// The churn's steps on the timeline: departures and arrivals evenly spread over its
/// window; the `k`-th arrival is node `first_joiner + k`.
pub(super) fn churn_steps(scenario: &Scenario, first_joiner: usize) -> Vec<(Time, Step)> {
    let Some(churn) = &scenario.churn else {
        return Vec::new();
    };
    let mut rng = seed_stream(scenario.seed, STREAM_CHURN);
    let leaves = churn.leaves(scenario.nodes);
    let joins = churn.joins(scenario.nodes);
    let mut steps = Vec::with_capacity(leaves + joins);
    for k in 0..leaves {
        let pick = rng.next_u64();
        let graceful = dswarm::harness::unit(&mut rng) < churn.graceful;
        steps.push((
            Time::ZERO + churn.moment(k, leaves),
            Step::ChurnLeave { pick, graceful },
        ));
    }
    for k in 0..joins {
        steps.push((
            Time::ZERO + churn.moment(k, joins),
            Step::ChurnJoin {
                node: first_joiner + k,
            },
        ));
    }
    steps
}

/// When the faults stop: the latest `[[at]]` event (partition, heal, leave, crash or
/// restart) or the end of the churn; `None` without any.
pub(super) fn faults_end(scenario: &Scenario) -> Option<Duration> {
    let events = scenario.at.iter().map(|at| at.time);
    let churn = scenario.churn.iter().map(|churn| churn.until);
    events.chain(churn).max()
}
