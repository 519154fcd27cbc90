//! One part of a [`Swarm`](super::Swarm): the nodes of a contiguous range of indices,
//! their event queue, and what they did in the current window.
//!
//! In: a window's end and the part's events ([`Part::queue`]). Out, once the window has
//! run: the events for other parts' nodes ([`Part::out`]), trace leaves, node events,
//! ended queries, taps and counters, each in (time, node) order, for the swarm to merge.
//! Any thread may run any part in a window; one part is run by one thread at a time.
//!
//! A [`Worker`] runs a part: it pops each event due before the window's end and hands
//! it to its node, then routes what the node sent through the shared, read-only
//! [`Env`]. Nothing it does reads another part's nodes, so parts run side by side; a
//! datagram takes at least the network's lookahead to arrive, so none sent in a
//! window is due within it.

use std::net::SocketAddr;

use crate::proto::node::Transmit;
use crate::proto::{Event, Node, QueryId, Time};

use super::network::Network;
use super::queue::{Order, Queue};
use super::router::{Hop, Routed, Router};
use super::trace::{set_log_context, Kind, Leaf};
use super::{Captured, Finished, NodeClock, Tapped, What};

/// A node's engine-side state, owned by its part while a window runs.
#[derive(Default)]
pub(super) struct Meta {
    /// The timer entry queued for the node, if any.
    pub(super) armed: Option<Time>,
    /// The node's own sequence number for the next event it causes.
    pub(super) seq: u64,
    /// The program on the node, if one was set ([`super::Swarm::set_app`]).
    pub(super) app: Option<Box<dyn App>>,
}

/// A program on a simulated node: what an application does with the node's events,
/// at once, as a live program would (reading a stream that became readable, writing
/// to one that became writable). It sees only its own node, so parts still run side
/// by side and the run stays the same at every thread count.
pub trait App: Send + std::any::Any {
    /// `event` just came out of `node`, at the node's time `now`; what the program
    /// does to the node in answer is sent and traced like anything else.
    fn on_event(&mut self, now: Time, node: &mut Node, event: &Event);
}

/// An event for another part's node, sent in this window.
pub(super) type Outgoing = (Time, Order, What);

/// One part of the swarm; see the module docs.
#[derive(Default)]
pub(super) struct Part {
    /// Its index among the parts.
    pub(super) index: usize,
    /// Its first node.
    pub(super) lo: usize,
    pub(super) queue: Queue,
    /// The time of the event being handled (the last one, between windows).
    pub(super) now: Time,
    /// Events for other parts' nodes.
    pub(super) out: Vec<Outgoing>,
    /// Trace entries: (time, acting node, leaf).
    pub(super) leaves: Vec<(Time, usize, Leaf)>,
    /// Node events, when the swarm records them.
    pub(super) events: Vec<(Time, usize, Event)>,
    pub(super) finished: Vec<((usize, QueryId), Finished)>,
    pub(super) taps: Vec<Tapped>,
    pub(super) captured: Vec<Captured>,
    /// What routing produced: counts of datagrams and fates, and hops, reused.
    pub(super) routed: Routed,
    /// The node of every event handled in this window, when profiling.
    pub(super) load: Option<Vec<u32>>,
    /// Events handled, ever.
    pub(super) handled: u64,
}

/// What every part reads and no part changes while a window runs.
pub(super) struct Env<'a, N> {
    pub(super) network: &'a N,
    pub(super) addrs: &'a [SocketAddr],
    /// Each node's mailbox group, as its node says ([`Node::mailbox`]).
    pub(super) mailboxes: &'a [Option<SocketAddr>],
    pub(super) clocks: &'a [NodeClock],
    pub(super) down: &'a [bool],
    /// Tapped nodes (empty: none).
    pub(super) tapped: &'a [bool],
    pub(super) captured: Option<usize>,
    /// Whether trace leaves carry their records.
    pub(super) keep: bool,
    /// Whether node events are kept.
    pub(super) recording: bool,
    /// Nodes per part (the last may have fewer).
    pub(super) chunk: usize,
}

/// A part with its nodes, as one thread takes it for a window.
pub(super) struct Cell<'a> {
    pub(super) part: &'a mut Part,
    pub(super) nodes: &'a mut [Node],
    pub(super) meta: &'a mut [Meta],
}

impl<N> Env<'_, N> {
    /// The part that owns node `node`.
    pub(super) fn part_of(&self, node: usize) -> usize {
        node / self.chunk
    }
}

/// A part at work: its state, its nodes, and the shared [`Env`].
pub(super) struct Worker<'w, 'a, N> {
    pub(super) env: &'w Env<'a, N>,
    pub(super) part: &'w mut Part,
    pub(super) nodes: &'w mut [Node],
    pub(super) meta: &'w mut [Meta],
}

impl<N: Network> Worker<'_, '_, N> {
    pub(super) fn node(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index - self.part.lo]
    }

    /// Node `index`'s monotonic time now.
    pub(super) fn local(&self, index: usize) -> Time {
        self.env.clocks[index].local(self.part.now)
    }

    /// Node `index`'s next sequence number.
    fn next_seq(&mut self, index: usize) -> u64 {
        let meta = &mut self.meta[index - self.part.lo];
        meta.seq += 1;
        meta.seq
    }

    /// Queues `what` for node `dest` at `at`, caused by node `src`: in this part's
    /// queue, or for another part at the window's end.
    pub(super) fn push(&mut self, at: Time, dest: usize, src: usize, seq: u64, what: What) {
        let order = Order {
            dest: u32::try_from(dest).expect("fewer than 2^32 nodes"),
            src: u32::try_from(src).expect("fewer than 2^32 nodes"),
            seq,
        };
        let part = self.env.part_of(dest);
        if part == self.part.index {
            self.part.queue.push(at, order, what);
        } else {
            self.part.out.push((at, order, what));
        }
    }

    /// Queues `what` for node `node` at `at`, caused by the node itself.
    pub(super) fn push_own(&mut self, at: Time, node: usize, what: What) {
        let seq = self.next_seq(node);
        self.push(at, node, node, seq, what);
    }

    /// Runs every event of the part due before `end`.
    pub(super) fn run(&mut self, end: Time) {
        while let Some((at, what)) = self.part.queue.pop_before(end) {
            self.handle(at, what);
        }
    }

    fn handle(&mut self, at: Time, what: What) {
        self.part.now = self.part.now.max(at);
        let now = self.part.now;
        let target = match &what {
            What::Deliver { to, .. } => *to,
            What::Timer { node } | What::Start { node, .. } => *node,
        };
        self.part.handled += 1;
        if let Some(load) = &mut self.part.load {
            load.push(target as u32);
        }
        if self.env.down[target] {
            if let What::Deliver { to, from, payload } = &what {
                // Arrived at a node that is down: lost, and the trace says so.
                self.part.routed.net.dropped += 1;
                let leaf = Leaf::datagram(self.env.keep, Kind::Down, now, now, *to, *from, payload);
                self.part.leaves.push((now, *to, leaf));
            }
            if let What::Timer { .. } = what {
                self.meta[target - self.part.lo].armed = None;
            }
            return;
        }
        set_log_context(now, Some(target));
        match what {
            What::Deliver { to, from, payload } => {
                self.part.routed.net.delivered += 1;
                if self.env.captured == Some(to) {
                    self.part.captured.push((from, payload.clone()));
                }
                if self.env.tapped.get(to).copied().unwrap_or(false) {
                    self.part.taps.push(Tapped {
                        node: to,
                        sent: false,
                        at: now,
                        src: from,
                        dst: self.env.addrs[to],
                        payload: payload.clone(),
                    });
                }
                let local = self.local(to);
                self.node(to).handle_datagram(local, from, &payload);
            }
            What::Timer { node } => {
                let meta = &mut self.meta[node - self.part.lo];
                if meta.armed != Some(at) {
                    return; // superseded by an earlier deadline
                }
                meta.armed = None;
                let local = self.local(node);
                self.node(node).handle_timeout(local);
            }
            What::Start { node, command } => {
                // Scheduled commands report through events; a refusal is dropped here.
                let local = self.local(node);
                let _ = self.node(node).start(local, command);
            }
        }
        self.after(target);
    }

    /// Makes sure a timer entry fires no later than the node's deadline. A deadline
    /// that moved later keeps the earlier entry: the node is woken early, which its
    /// contract allows, and re-armed then. That keeps one entry per node in the queue
    /// instead of one per change of deadline.
    pub(super) fn arm(&mut self, node: usize) {
        let Some(at) = self.node(node).poll_timeout() else {
            return;
        };
        // The node's deadline is on its own clock; the queue runs on the simulation's.
        let at = self.env.clocks[node].global(at);
        let armed = self.meta[node - self.part.lo].armed;
        if armed.is_none_or(|armed| at < armed) {
            self.meta[node - self.part.lo].armed = Some(at);
            self.push_own(at, node, What::Timer { node });
        }
    }

    /// Collects what node `index` produced after an input.
    pub(super) fn after(&mut self, index: usize) {
        debug_assert_eq!(
            self.node(index).mailbox(),
            self.env.mailboxes[index],
            "a node's mailbox stays what it was when it was built"
        );
        while let Some(transmit) = self.node(index).poll_transmit() {
            if self.env.tapped.get(index).copied().unwrap_or(false)
                && !transmit.dst.ip().is_multicast()
            {
                self.part.taps.push(Tapped {
                    node: index,
                    sent: true,
                    at: self.part.now,
                    src: self.env.addrs[index],
                    dst: transmit.dst,
                    payload: transmit.payload.clone(),
                });
            }
            self.route(index, transmit);
        }
        let now = self.part.now;
        while let Some(event) = self.node(index).poll_event() {
            if let Some(app) = &mut self.meta[index - self.part.lo].app {
                let local = self.env.clocks[index].local(now);
                app.on_event(local, &mut self.nodes[index - self.part.lo], &event);
                // What the program made the node send goes now, before the next event.
                while let Some(transmit) = self.node(index).poll_transmit() {
                    self.route(index, transmit);
                }
            }
            let leaf = Leaf::event(self.env.keep, now, index, &event);
            self.part.leaves.push((now, index, leaf));
            if let Event::QueryFinished {
                query,
                elapsed,
                outcome,
            } = &event
            {
                let finished = Finished {
                    at: now,
                    elapsed: *elapsed,
                    outcome: outcome.clone(),
                };
                self.part.finished.push(((index, *query), finished));
            }
            if self.env.recording {
                self.part.events.push((now, index, event));
            }
        }
        self.arm(index);
    }

    /// Sends what node `src` sent, through the [`Router`]: traces every hop and queues
    /// every copy that arrives; the last copy takes the buffer itself.
    pub(super) fn route(&mut self, src: usize, transmit: Transmit) {
        let env = self.env;
        let router = Router {
            network: env.network,
            addrs: env.addrs,
            mailboxes: env.mailboxes,
        };
        let beacons = self.node(src).config().discovery.multicast_group;
        let now = self.part.now;
        let mut routed = std::mem::take(&mut self.part.routed);
        {
            let meta = &mut self.meta[src - self.part.lo];
            let mut next_seq = || {
                meta.seq += 1;
                meta.seq
            };
            router.route(now, src, beacons, transmit.dst, &mut next_seq, &mut routed);
        }
        let mut left = routed
            .hops
            .iter()
            .filter(|hop| matches!(hop, Hop::Arrive { .. }))
            .count();
        let mut payload = Some(transmit.payload);
        for hop in routed.hops.drain(..) {
            let at = match hop {
                Hop::Arrive { delay, .. } => now + delay,
                Hop::Drop { .. } => now,
            };
            let bytes = payload.as_deref().unwrap_or_default();
            let leaf = hop.leaf(env.keep, env.addrs, src, now, at, bytes);
            self.part.leaves.push((now, src, leaf));
            if let Hop::Arrive { to, from, seq, .. } = hop {
                left -= 1;
                let payload = if left == 0 {
                    payload.take().unwrap_or_default()
                } else {
                    bytes.to_vec()
                };
                self.push(at, to, src, seq, What::Deliver { to, from, payload });
            }
        }
        self.part.routed = routed;
    }
}
