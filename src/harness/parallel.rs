//! Windows: how a [`Swarm`] runs its parts, on one thread or several, and merges what
//! they did.
//!
//! In: the time to run up to. Out: every event due by then has run, each window's
//! trace leaves are folded in (time, node) order, and the [`Profile`] of the windows,
//! when asked for.
//!
//! A window starts at the swarm's earliest pending event and is as long as the
//! network's lookahead; the parts with an event due in it are its active parts. On one
//! thread they run one after another. On several, the swarm has many small parts
//! (8 a thread), and the threads take active parts, their own share first, until none
//! is left: a window of a 2,000-node run holds about nine events, too few to split
//! evenly in halves, but enough to share out part by part. The caller's thread takes
//! parts too; the others are a pool the swarm keeps (rayon-core's, started at the first
//! window shared out), lent for one call of [`Swarm::run_until`] at a time, and they
//! meet at every window's end through a spinning barrier (a window is too short to pay
//! for parking a thread) that a thread waking late stays out of ([`Control`]). A
//! window with one active part, and a call that promises too few events to be worth
//! waking the threads, run on the caller's thread alone.
//!
//! What a window's end costs is paid by the threads, not by the caller's alone: a part
//! hands its events for other parts into their inboxes as soon as it has run (a part
//! empties its own before it runs), and a thread with nothing to do folds earlier
//! windows' trace leaves, in order, while the others work. The caller's thread only
//! merges what is small (finished queries, events, taps) and picks the next window.
//! Which thread ran which part changes nothing: parts do not read each other within a
//! window, a part's queue orders its events by a key of their own (time, destination,
//! source, the source's sequence number) whatever order they were handed over in, and
//! the merge orders by (time, node).

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::hint::spin_loop;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::proto::{Event, Node, QueryId, Time};

use super::network::Network;
use super::part::{Cell, Env, Meta, Outgoing, Part, Worker};
use super::trace::Leaf;
use super::{Captured, Finished, Swarm, Tapped, Trace};

/// Parts a thread when a swarm runs on several.
pub(super) const PARTS_PER_THREAD: usize = 8;

/// Events a stretch of windows must promise before [`Swarm::run_until`] shares it out
/// among threads.
const SHARED_EVENTS: f64 = 256.0;

/// The thread counts [`Profile::critical`] is kept for.
pub const PROFILE_THREADS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Node buckets the profile spreads each window's events over: the finest split of
/// the nodes it judges.
const PROFILE_BUCKETS: usize = 256;

/// How a run's windows spread their work: what bounds the speedup of more threads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// Windows run.
    pub windows: u64,
    /// Windows with one active part, run on the caller's thread alone.
    pub inline_windows: u64,
    /// Events handled (datagrams delivered or dropped at a node that was down, timers,
    /// scheduled commands).
    pub events: u64,
    /// For each count of [`PROFILE_THREADS`], the sum over windows of the least time,
    /// in events, that many threads need for the window when its events are spread
    /// over the nodes in 256 contiguous parts: the larger of an even
    /// share and the busiest part. The critical path of a run on that many threads.
    pub critical: [f64; PROFILE_THREADS.len()],
    /// The threads the run had.
    pub threads: usize,
    /// Per thread, wall time spent handling events.
    pub busy: Vec<Duration>,
    /// Per thread, wall time spent at windows' ends waiting for the others (or for the
    /// next window), earlier windows' trace folded meanwhile included.
    pub waited: Vec<Duration>,
    /// Wall time spent merging at windows' ends on the caller's thread, while the
    /// others fold earlier windows' trace or wait for the next window.
    pub merging: Duration,
}

impl Profile {
    /// The speedup that `threads` threads could reach at best, from how the events
    /// spread (no cost of waiting or merging): all events over the critical path.
    pub fn balance_bound(&self, threads: usize) -> Option<f64> {
        let i = PROFILE_THREADS.iter().position(|&t| t == threads)?;
        Some(self.events as f64 / self.critical[i].max(1.0))
    }

    fn tally(&mut self, buckets: &mut [u32; PROFILE_BUCKETS], touched: &mut Vec<u16>) {
        self.windows += 1;
        let mut total = 0u64;
        let mut busiest = 0u32;
        for &b in touched.iter() {
            let load = std::mem::take(&mut buckets[usize::from(b)]);
            total += u64::from(load);
            busiest = busiest.max(load);
        }
        touched.clear();
        self.events += total;
        for (i, threads) in PROFILE_THREADS.iter().enumerate() {
            self.critical[i] += (total as f64 / *threads as f64).max(f64::from(busiest));
        }
    }
}

/// What a window's merge needs besides the parts: where results go.
pub(super) struct Sinks<'a> {
    pub(super) finished: &'a mut BTreeMap<(usize, QueryId), Finished>,
    pub(super) events: &'a mut Option<Vec<(Time, usize, Event)>>,
    pub(super) taps: &'a mut Vec<Tapped>,
    pub(super) captured: &'a mut Option<(usize, Vec<Captured>)>,
    pub(super) profile: &'a mut Option<Profile>,
    pub(super) now: &'a mut Time,
    /// Nodes per part.
    pub(super) chunk: usize,
    /// Nodes in the swarm.
    pub(super) nodes: usize,
}

/// Hands the `active` parts' events for other parts over, and folds what they did
/// ([`fold`]): how one thread ends a window, or a command.
pub(super) fn merge(parts: &mut [Part], active: &[usize], trace: &mut Trace, sinks: Sinks<'_>) {
    for &p in active {
        let mut out = std::mem::take(&mut parts[p].out);
        for (at, order, what) in out.drain(..) {
            parts[order.dest as usize / sinks.chunk]
                .queue
                .push(at, order, what);
        }
        parts[p].out = out;
    }
    let mut active: Vec<&mut Part> = parts
        .iter_mut()
        .enumerate()
        .filter(|(p, _)| active.contains(p))
        .map(|(_, part)| part)
        .collect();
    for leaf in fold(&mut active, sinks) {
        trace.fold(leaf);
    }
}

/// Merges what the `active` parts (in part order) did in a window, in (time, node)
/// order: the order no partitioning decides. Their events for other parts must have
/// been handed over. Returns the window's trace leaves, in that order, for the caller
/// to fold into the trace.
pub(super) fn fold(active: &mut [&mut Part], sinks: Sinks<'_>) -> Vec<Leaf> {
    let mut leaves = Vec::new();
    gather(
        active.iter_mut().map(|p| &mut p.leaves),
        |(at, node, leaf)| leaves.push((at, node, leaf)),
        |(at, node, _)| (*at, *node),
    );
    settle(active, sinks);
    leaves.into_iter().map(|(_, _, leaf)| leaf).collect()
}

/// Merges what the `active` parts (in part order) did in a window into `sinks`, all
/// but their trace leaves, in (time, node) order.
fn settle(active: &mut [&mut Part], sinks: Sinks<'_>) {
    match sinks.events {
        Some(events) => {
            let start = events.len();
            gather(
                active.iter_mut().map(|p| &mut p.events),
                |event| events.push(event),
                |(at, node, _)| (*at, *node),
            );
            debug_assert!(events[start..].is_sorted_by_key(|(at, node, _)| (*at, *node)));
        }
        None => active.iter_mut().for_each(|p| p.events.clear()),
    }
    gather(
        active.iter_mut().map(|p| &mut p.taps),
        |tap| sinks.taps.push(tap),
        |t| (t.at, t.node),
    );
    let mut touched = Vec::new();
    for part in active.iter_mut() {
        debug_assert!(
            part.out.is_empty(),
            "events for other parts are handed over first"
        );
        for (key, finished) in part.finished.drain(..) {
            sinks.finished.insert(key, finished);
        }
        if let Some((_, captured)) = sinks.captured {
            captured.append(&mut part.captured);
        }
        *sinks.now = (*sinks.now).max(part.now);
        if let Some(load) = &mut part.load {
            touched.append(load);
        }
    }
    if let Some(profile) = sinks.profile {
        let mut buckets = [0u32; PROFILE_BUCKETS];
        let mut seen = Vec::new();
        for node in touched {
            let b = node as usize * PROFILE_BUCKETS / sinks.nodes.max(1);
            if buckets[b] == 0 {
                seen.push(b as u16);
            }
            buckets[b] += 1;
        }
        profile.tally(&mut buckets, &mut seen);
    }
}

/// Empties `lists` (each sorted by `key`) into `out`, merged by `key`; ties (which
/// only one list can hold, a node's entries being one part's) keep their list's order.
fn gather<'a, T: 'a, K: Ord>(
    lists: impl Iterator<Item = &'a mut Vec<T>>,
    mut out: impl FnMut(T),
    key: impl Fn(&T) -> K,
) {
    let mut heads: Vec<_> = lists
        .filter(|items| !items.is_empty())
        .map(|items| items.drain(..).peekable())
        .collect();
    if let [only] = &mut heads[..] {
        only.for_each(out);
        return;
    }
    loop {
        let next = heads
            .iter_mut()
            .enumerate()
            .filter_map(|(i, h)| h.peek().map(|t| (key(t), i)))
            .min_by(|a, b| a.0.cmp(&b.0));
        let Some((_, i)) = next else {
            return;
        };
        if let Some(item) = heads[i].next() {
            out(item);
        }
    }
}

/// A part's trace entries of a window: (time, acting node, leaf), in that order.
type Entry = (Time, usize, Leaf);

/// The spinning barrier of the threads, the list of parts they take from, and what
/// parts hand each other and the trace.
///
/// A window is open while `generation` is odd. The caller's thread opens it, takes
/// parts, closes it, then waits until no thread is `inside`. A thread joins a window
/// only if it is still open once it has counted itself inside: a thread that wakes late
/// (descheduled on a busy machine) stays out, and the caller's thread never waits for
/// it, only for the parts others are running.
struct Control<'a> {
    /// Odd while a window is open; bumped to open and to close one (or to stop).
    generation: AtomicU64,
    /// Threads inside the current window.
    inside: AtomicUsize,
    /// The window's end, in microseconds.
    end: AtomicU64,
    stop: AtomicBool,
    /// The window's active parts, in part order, in one segment a thread: thread
    /// `t`'s is `active[bounds[t]..bounds[t + 1]]`, the active parts of the `t`-th
    /// slice of all parts, and `cursors[t]` is its next part to take. A thread takes
    /// its own segment's parts first, so a part stays on one thread (and its nodes in
    /// that core's cache) unless another runs out of work, then the others'.
    active: Vec<AtomicUsize>,
    bounds: Vec<AtomicUsize>,
    cursors: Vec<AtomicUsize>,
    /// Per part, the events other parts sent it that it has not queued yet: a part
    /// hands its events over as soon as it has run, and takes its own in before it
    /// runs, so that no thread moves them one by one between windows.
    inboxes: Vec<Mutex<Vec<Outgoing>>>,
    /// Per part, the earliest time of the events handed to it in the current window,
    /// in microseconds (`u64::MAX`: none), for the caller to know which parts the next
    /// window has.
    arrivals: Vec<AtomicU64>,
    /// Windows' trace entries waiting to be folded, oldest first, each window's as its
    /// active parts' lists. Whichever thread has nothing else to do folds them, in
    /// order, while it holds `trace`; the caller's thread folds what is left at the end.
    pending: Mutex<VecDeque<Vec<Vec<Entry>>>>,
    trace: Mutex<&'a mut Trace>,
    /// Emptied lists, for parts to fill again.
    spare: Mutex<Vec<Vec<Entry>>>,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// Windows of trace entries waiting to be folded beyond which the caller's thread
/// folds them itself rather than wait for an idle thread: a bound on what they hold.
const PENDING_WINDOWS: usize = 1024;

impl Control<'_> {
    /// Folds waiting windows into the trace, in order, until none is left or `enough`,
    /// unless another thread is folding them.
    fn fold_pending(&self, enough: impl Fn() -> bool) {
        let Ok(mut trace) = self.trace.try_lock() else {
            return;
        };
        while !enough() {
            let Some(mut lists) = lock(&self.pending).pop_front() else {
                return;
            };
            gather(
                lists.iter_mut(),
                |(_, _, leaf)| trace.fold(leaf),
                |(at, node, _)| (*at, *node),
            );
            lock(&self.spare).append(&mut lists);
        }
    }

    /// Folds every waiting window into the trace, in order.
    fn fold_all(&self) {
        let mut trace = lock(&self.trace);
        while let Some(mut lists) = lock(&self.pending).pop_front() {
            gather(
                lists.iter_mut(),
                |(_, _, leaf)| trace.fold(leaf),
                |(at, node, _)| (*at, *node),
            );
        }
    }

    /// Whether a window is open that the thread has not been in (its last: `last`).
    fn opened(&self, last: u64) -> bool {
        let g = self.generation.load(Ordering::SeqCst);
        g % 2 == 1 && g != last
    }
}

/// Spins, then yields, until `ready`.
fn wait_until(ready: impl Fn() -> bool) {
    wait_for(|| ready().then_some(()));
}

/// Spins, then yields, until `ready` gives something.
fn wait_for<T>(mut ready: impl FnMut() -> Option<T>) -> T {
    let mut spins = 0u32;
    loop {
        if let Some(got) = ready() {
            return got;
        }
        if spins < 5_000 {
            spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

fn lock<T>(cell: &Mutex<T>) -> MutexGuard<'_, T> {
    // A part whose thread panicked is still merged: the panic is resumed after.
    cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wall time for the profile only; nothing simulated reads it.
#[allow(clippy::disallowed_methods)]
fn wall() -> Instant {
    Instant::now()
}

/// Runs part `cell` up to `end`, with the events other parts handed it first, then
/// hands its own over; a panic is kept for the caller's thread.
fn run_part<N: Network>(env: &Env<'_, N>, cell: &mut Cell<'_>, end: Time, control: &Control<'_>) {
    let p = cell.part.index;
    for (at, order, what) in lock(&control.inboxes[p]).drain(..) {
        cell.part.queue.push(at, order, what);
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        Worker {
            env,
            part: &mut *cell.part,
            nodes: &mut *cell.nodes,
            meta: &mut *cell.meta,
        }
        .run(end)
    }));
    // Handed over even after a panic: the run ends with what the parts did.
    for (at, order, what) in cell.part.out.drain(..) {
        let q = order.dest as usize / env.chunk;
        control.arrivals[q].fetch_min(at.as_micros(), Ordering::Relaxed);
        lock(&control.inboxes[q]).push((at, order, what));
    }
    if let Err(payload) = result {
        lock(&control.panic).get_or_insert(payload);
    }
}

/// Takes active parts from `control`, thread `thread`'s segment first, and runs them
/// until none is left.
fn take_parts<N: Network>(
    env: &Env<'_, N>,
    cells: &[Mutex<Cell<'_>>],
    control: &Control<'_>,
    thread: usize,
    end: Time,
) {
    let threads = control.cursors.len();
    for segment in (thread..threads).chain(0..thread) {
        let last = control.bounds[segment + 1].load(Ordering::Acquire);
        loop {
            let k = control.cursors[segment].fetch_add(1, Ordering::AcqRel);
            if k >= last {
                break;
            }
            let p = control.active[k].load(Ordering::Acquire);
            run_part(env, &mut lock(&cells[p]), end, control);
        }
    }
}

impl<N: Network> Swarm<N> {
    /// The end of the window that starts at `start`: a lookahead later, and no later
    /// than just after `until`.
    fn window_end(lookahead: Duration, start: Time, until: Time) -> Time {
        let end = start + lookahead.max(Duration::from_micros(1));
        end.min(until + Duration::from_micros(1))
    }

    /// Runs windows while anything is due up to `until` (only one with `one`); whether
    /// any ran.
    pub(super) fn run_windows(&mut self, until: Time, one: bool) -> bool {
        if self.threads > 1 && !one && self.worth_threads(until) {
            return self.run_parallel(until, one);
        }
        let lookahead = self.lookahead;
        let mut ran = false;
        let mut active = Vec::new();
        while let Some(start) = self.next_at().filter(|&at| at <= until) {
            let end = Self::window_end(lookahead, start, until);
            let (env, trace, sinks, parts, nodes, meta) = self.split();
            let began = wall();
            active.clear();
            for (p, cell) in cells(parts, nodes, meta, env.chunk).enumerate() {
                if cell.part.queue.peek_at().is_some_and(|at| at < end) {
                    active.push(p);
                    // On the caller's thread a panic goes up as it is.
                    Worker {
                        env: &env,
                        part: cell.part,
                        nodes: cell.nodes,
                        meta: cell.meta,
                    }
                    .run(end);
                }
            }
            let busy = began.elapsed();
            merge(parts, &active, trace, sinks);
            self.windows += 1;
            if let Some(profile) = &mut self.profile {
                profile.inline_windows += u64::from(active.len() == 1);
                profile.busy.resize(1, Duration::ZERO);
                profile.busy[0] += busy;
            }
            ran = true;
            if one {
                break;
            }
        }
        ran
    }

    /// Whether running up to `until` promises enough work to share: at least
    /// [`SHARED_EVENTS`] events, judged from the events a window has held so far.
    /// Waking the pool's threads, parked between calls, and meeting them at windows'
    /// ends costs work that a few events do not repay, and a run is the same whichever
    /// way it goes, so short stretches (between commands close together) run on the
    /// caller's thread alone.
    fn worth_threads(&self, until: Time) -> bool {
        let Some(start) = self.next_at() else {
            return false;
        };
        let span = until.saturating_since(start).as_micros() as f64;
        let windows = span / self.lookahead.as_micros().max(1) as f64 + 1.0;
        let handled: u64 = self.parts.iter().map(|p| p.handled).sum();
        let per_window = handled as f64 / self.windows.max(1) as f64;
        windows * per_window >= SHARED_EVENTS
    }

    /// Merges what the parts did since the last merge: after a command or any other
    /// change from outside, between windows.
    pub(super) fn merge_part(&mut self, p: usize) {
        // A command's work is no window of the profile.
        let profile = self.profile.take();
        let (_, trace, sinks, parts, _, _) = self.split();
        merge(parts, &[p], trace, sinks);
        self.profile = profile;
    }

    /// Borrows the swarm apart: what parts read, where results go, and what they own.
    #[allow(clippy::type_complexity)]
    pub(super) fn split(
        &mut self,
    ) -> (
        Env<'_, N>,
        &mut Trace,
        Sinks<'_>,
        &mut [Part],
        &mut [Node],
        &mut [Meta],
    ) {
        let env = Env {
            network: &self.network,
            addrs: &self.addrs,
            mailboxes: &self.mailboxes,
            clocks: &self.clocks,
            down: &self.down,
            tapped: &self.tapped,
            captured: self.captured.as_ref().map(|(node, _)| *node),
            keep: self.trace.keeps(),
            recording: self.events.is_some(),
            chunk: self.chunk,
        };
        let sinks = Sinks {
            finished: &mut self.finished,
            events: &mut self.events,
            taps: &mut self.taps,
            captured: &mut self.captured,
            profile: &mut self.profile,
            now: &mut self.now,
            chunk: self.chunk,
            nodes: self.nodes.len(),
        };
        (
            env,
            &mut self.trace,
            sinks,
            &mut self.parts,
            &mut self.nodes,
            &mut self.meta,
        )
    }

    fn run_parallel(&mut self, until: Time, one: bool) -> bool {
        if self.next_at().is_none_or(|at| at > until) {
            return false;
        }
        let lookahead = self.lookahead;
        let threads = self.threads;
        let pool = match self.pool.take() {
            Some(pool) => pool,
            None => rayon_core::ThreadPoolBuilder::new()
                .num_threads(threads - 1)
                .thread_name(|i| format!("dswarm-part-{}", i + 1))
                .build()
                .expect("the OS starts a thread"),
        };
        let (env, trace, sinks, parts, nodes, meta) = self.split();
        let cells: Vec<Mutex<Cell<'_>>> = cells(parts, nodes, meta, env.chunk)
            .map(Mutex::new)
            .collect();
        let control = Control {
            generation: AtomicU64::new(0),
            end: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            active: (0..cells.len()).map(|_| AtomicUsize::new(0)).collect(),
            bounds: (0..=threads).map(|_| AtomicUsize::new(0)).collect(),
            cursors: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            inside: AtomicUsize::new(0),
            inboxes: (0..cells.len()).map(|_| Mutex::new(Vec::new())).collect(),
            arrivals: (0..cells.len()).map(|_| AtomicU64::new(u64::MAX)).collect(),
            pending: Mutex::new(VecDeque::new()),
            trace: Mutex::new(trace),
            spare: Mutex::new(Vec::new()),
            panic: Mutex::new(None),
        };
        let clocks: Mutex<Vec<(Duration, Duration)>> =
            Mutex::new(vec![(Duration::ZERO, Duration::ZERO); threads]);
        let mut ran = false;
        let mut merging = Duration::ZERO;
        let mut inline_windows = 0;
        let mut windows = 0;
        let mut sinks = sinks;
        pool.in_place_scope(|scope| {
            for thread in 1..threads {
                let (env, cells, control, clocks) = (&env, &cells, &control, &clocks);
                scope.spawn(move |_| {
                    let (mut busy, mut waited) = (Duration::ZERO, Duration::ZERO);
                    let mut last = 0;
                    loop {
                        let began = wall();
                        // Between windows, fold the trace of those before.
                        control.fold_pending(|| {
                            control.opened(last) || control.stop.load(Ordering::SeqCst)
                        });
                        let open = wait_for(|| {
                            if control.stop.load(Ordering::SeqCst) {
                                Some(None)
                            } else {
                                let g = control.generation.load(Ordering::SeqCst);
                                control.opened(last).then_some(Some(g))
                            }
                        });
                        waited += began.elapsed();
                        let Some(open) = open else {
                            break;
                        };
                        control.inside.fetch_add(1, Ordering::SeqCst);
                        if control.generation.load(Ordering::SeqCst) == open {
                            let end = Time::from_micros(control.end.load(Ordering::SeqCst));
                            let began = wall();
                            take_parts(env, cells, control, thread, end);
                            busy += began.elapsed();
                        }
                        last = open;
                        control.inside.fetch_sub(1, Ordering::SeqCst);
                    }
                    lock(clocks)[thread] = (busy, waited);
                });
            }
            let (mut busy, mut waited) = (Duration::ZERO, Duration::ZERO);
            let mut active = Vec::new();
            // Each part's earliest event, refreshed at every window's end.
            let mut due: Vec<Option<Time>> =
                cells.iter().map(|c| lock(c).part.queue.peek_at()).collect();
            loop {
                let next = due
                    .iter()
                    .flatten()
                    .min()
                    .copied()
                    .filter(|&at| at <= until);
                let panicked = lock(&control.panic).is_some();
                let Some(start) = next.filter(|_| !(panicked || one && ran)) else {
                    break;
                };
                let end = Self::window_end(lookahead, start, until);
                active.clear();
                active.extend((0..due.len()).filter(|&p| due[p].is_some_and(|at| at < end)));
                let began = wall();
                if active.len() == 1 {
                    inline_windows += 1;
                    run_part(&env, &mut lock(&cells[active[0]]), end, &control);
                    busy += began.elapsed();
                } else {
                    for (k, &p) in active.iter().enumerate() {
                        control.active[k].store(p, Ordering::Release);
                    }
                    // Thread t's segment: the active parts of its home, the t-th
                    // slice of the parts, so that a part stays on one thread unless
                    // another runs out of work.
                    for t in 0..=threads {
                        let home = cells.len() * t / threads;
                        let bound = active.partition_point(|&p| p < home);
                        control.bounds[t].store(bound, Ordering::Release);
                        if t < threads {
                            control.cursors[t].store(bound, Ordering::Release);
                        }
                    }
                    control.end.store(end.as_micros(), Ordering::SeqCst);
                    control.generation.fetch_add(1, Ordering::SeqCst); // open
                    take_parts(&env, &cells, &control, 0, end);
                    control.generation.fetch_add(1, Ordering::SeqCst); // closed
                    busy += began.elapsed();
                    let began = wall();
                    let idle = || control.inside.load(Ordering::SeqCst) == 0;
                    control.fold_pending(idle);
                    wait_until(idle);
                    waited += began.elapsed();
                }
                ran = true;
                windows += 1;
                let began = wall();
                let mut guards: Vec<MutexGuard<'_, Cell<'_>>> =
                    active.iter().map(|&p| lock(&cells[p])).collect();
                let mut lists = Vec::with_capacity(active.len());
                {
                    let mut spare = lock(&control.spare);
                    for guard in guards.iter_mut().filter(|g| !g.part.leaves.is_empty()) {
                        let fresh = spare.pop().unwrap_or_default();
                        lists.push(std::mem::replace(&mut guard.part.leaves, fresh));
                    }
                }
                let backlog = {
                    let mut pending = lock(&control.pending);
                    pending.push_back(lists);
                    pending.len()
                };
                if backlog > PENDING_WINDOWS {
                    control.fold_all();
                }
                let mut parts: Vec<&mut Part> = guards.iter_mut().map(|c| &mut *c.part).collect();
                settle(
                    &mut parts,
                    Sinks {
                        finished: &mut *sinks.finished,
                        events: &mut *sinks.events,
                        taps: &mut *sinks.taps,
                        captured: &mut *sinks.captured,
                        profile: &mut *sinks.profile,
                        now: &mut *sinks.now,
                        chunk: sinks.chunk,
                        nodes: sinks.nodes,
                    },
                );
                for (&p, part) in active.iter().zip(&parts) {
                    due[p] = part.queue.peek_at();
                }
                for (due, arrival) in due.iter_mut().zip(&control.arrivals) {
                    let at = arrival.swap(u64::MAX, Ordering::Relaxed);
                    if at != u64::MAX {
                        let at = Time::from_micros(at);
                        *due = Some(due.map_or(at, |due| due.min(at)));
                    }
                }
                merging += began.elapsed();
            }
            control.stop.store(true, Ordering::SeqCst);
            control.generation.fetch_add(2, Ordering::SeqCst);
            lock(&clocks)[0] = (busy, waited);
        });
        // The threads are gone: what waits goes where the swarm keeps it.
        control.fold_all();
        for (cell, inbox) in cells.iter().zip(&control.inboxes) {
            let mut cell = lock(cell);
            for (at, order, what) in lock(inbox).drain(..) {
                cell.part.queue.push(at, order, what);
            }
        }
        if let Some(profile) = &mut sinks.profile {
            let clocks = clocks.into_inner().unwrap_or_else(|p| p.into_inner());
            profile.busy.resize(threads, Duration::ZERO);
            profile.waited.resize(threads, Duration::ZERO);
            for (t, (busy, waited)) in clocks.into_iter().enumerate() {
                profile.busy[t] += busy;
                profile.waited[t] += waited;
            }
            profile.merging += merging;
            profile.inline_windows += inline_windows;
        }
        drop(cells);
        let panic = control
            .panic
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        self.pool = Some(pool);
        self.windows += windows;
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        ran
    }
}

/// The parts with their nodes.
fn cells<'a>(
    parts: &'a mut [Part],
    nodes: &'a mut [Node],
    meta: &'a mut [Meta],
    chunk: usize,
) -> impl Iterator<Item = Cell<'a>> {
    parts
        .iter_mut()
        .zip(nodes.chunks_mut(chunk).zip(meta.chunks_mut(chunk)))
        .map(|(part, (nodes, meta))| Cell { part, nodes, meta })
}
