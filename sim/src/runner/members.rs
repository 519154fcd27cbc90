//! Who is in the swarm: the honest nodes that issue workload commands and are their
//! targets, as nodes leave, crash, come back and join.
//!
//! In: the run's seed, its node count (joiners included), which nodes are honest and
//! which join later. Out: the live nodes (in index order) that workload draws name,
//! and which nodes are away.

use dswarm::harness::seed_stream;
use rand_core::RngCore;

/// The RNG stream that orders the nodes for `leave` events.
use dswarm::harness::streams::LEAVE as STREAM_LEAVE;

/// The order in which nodes leave: a seeded shuffle of every index, on a stream of
/// its own so that adding a `leave` moves no other draw. Each `leave` takes the next
/// nodes of it.
fn leave_order(seed: u64, nodes: usize) -> Vec<usize> {
    let mut rng = seed_stream(seed, STREAM_LEAVE);
    let mut order: Vec<usize> = (0..nodes).collect();
    for i in (1..nodes).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// The nodes of the run and which of them are still in the swarm.
pub(super) struct Members {
    /// Still here, honest, by index (ascending).
    pub(super) live: Vec<usize>,
    /// Not in the swarm now: left, crashed, or not joined yet.
    pub(super) departed: Vec<bool>,
    /// Who leaves next: `order[left..]`.
    order: Vec<usize>,
    /// Nodes taken by `leave` events so far.
    pub(super) left: usize,
    /// Nodes gone for good (`leave` events, churn): a restart does not bring them back.
    pub(super) gone: Vec<bool>,
}

impl Members {
    /// The members of a swarm of `nodes` of which `honest` issue or are asked for and
    /// the last `dormant` join later. `leave` events draw from the first
    /// `nodes - dormant`, in the order they always did.
    pub(super) fn new(seed: u64, nodes: usize, honest: &[bool], dormant: usize) -> Members {
        let awake = nodes - dormant;
        Members {
            live: (0..awake).filter(|&node| honest[node]).collect(),
            departed: (0..nodes).map(|node| node >= awake).collect(),
            order: leave_order(seed, awake),
            left: 0,
            gone: vec![false; nodes],
        }
    }

    /// The node still here that draw `raw` names.
    pub(super) fn pick(&self, raw: u64) -> usize {
        self.live[(raw % self.live.len() as u64) as usize]
    }

    /// An asker and another node as its target, both still here.
    pub(super) fn pair(&self, asker: u64, target: u64) -> (usize, usize) {
        let m = self.live.len() as u64;
        let a = asker % m;
        let t = (a + 1 + target % (m - 1)) % m;
        (self.live[a as usize], self.live[t as usize])
    }

    /// Takes the next `count` nodes of the leave order away; returns them. Nodes of
    /// the order already away (crashed, gone by churn) are taken all the same.
    pub(super) fn leave(&mut self, count: usize) -> Vec<usize> {
        let end = (self.left + count).min(self.order.len());
        let gone = self.order[self.left..end].to_vec();
        self.left = end;
        for &node in &gone {
            self.departed[node] = true;
            self.gone[node] = true;
        }
        let departed = &self.departed;
        self.live.retain(|&node| !departed[node]);
        debug_assert!(self.live.len() >= 2, "the scenario check keeps two nodes");
        gone
    }

    /// The live nodes that faults may take: every live node but the bootstrap nodes
    /// (the first `bootstrap`). Callers take at most [`Members::spare`] of them.
    pub(super) fn takeable(&self, bootstrap: usize) -> &[usize] {
        let from = self.live.partition_point(|&node| node < bootstrap);
        &self.live[from..]
    }

    /// How many live nodes faults may take while two stay.
    pub(super) fn spare(&self) -> usize {
        self.live.len().saturating_sub(2)
    }

    /// Takes `node` out of the swarm: it crashed, or, `for_good`, it left.
    pub(super) fn remove(&mut self, node: usize, for_good: bool) {
        self.departed[node] = true;
        self.gone[node] |= for_good;
        if let Ok(at) = self.live.binary_search(&node) {
            self.live.remove(at);
        }
    }

    /// Puts `node` (back) into the swarm: it restarted, or joined.
    pub(super) fn add(&mut self, node: usize) {
        self.departed[node] = false;
        if let Err(at) = self.live.binary_search(&node) {
            self.live.insert(at, node);
        }
    }
}
