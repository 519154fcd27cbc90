//! Property tests of streams ([`dswarm::proto::stream`]) against a reference model:
//! the model is the bytes each end wrote, and the property is that each end reads
//! exactly them, in order, once — whatever the network between the two does.
//!
//! Two [`StreamSet`]s talk through a network that, frame by frame, drops, duplicates
//! and delays (so reorders) as a generated schedule says. The applications write as
//! fast as their streams take bytes, end their direction, and read at a generated pace
//! (a slow reader must hold the writer back, not grow buffers).
//!
//! 1. At every step, what an end has read is a prefix of what the other wrote: never
//!    a wrong, missing or repeated byte.
//! 2. With loss up to 10 % each way, both directions finish: every byte arrives and
//!    both ends see `Finished`, within a bounded simulated time, and no buffer ever
//!    holds more than its configured bound.
//! 3. With heavier loss (up to 40 %), a stream may give up (`TimedOut`), but property
//!    1 still holds.
//!
//! The runs use a fixed seed; `PROPTEST_RNG_SEED=N` picks another and
//! `PROPTEST_CASES=N` changes the number of cases. Failures are kept in
//! `proptest-regressions/prop_stream.txt` and replayed first.

use std::collections::BTreeMap;
use std::time::Duration;

use dswarm::proto::stream::{Firewall, Read, StreamConfig, StreamEvent, StreamId, StreamSet};
use dswarm::proto::time::Time;
use dswarm::proto::wire::StreamFrame;
use dswarm::proto::NodeId;
use proptest::prelude::*;

/// The seed of every run unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x5EED_0057;

#[path = "support/seeded.rs"]
mod seeded;

fn config(cases: u32) -> ProptestConfig {
    seeded::config(SEED, cases, "proptest-regressions/prop_stream.txt")
}

/// How to rerun a failure, for assertion messages.
fn reproduce() -> String {
    seeded::reproduce(SEED, "prop_stream")
}

const A: NodeId = NodeId([1; 32]);
const B: NodeId = NodeId([2; 32]);

/// What the network does to one frame.
#[derive(Clone, Copy, Debug)]
struct Fate {
    /// 0..100: below the loss share, the frame is lost; below loss + duplication,
    /// it arrives twice.
    roll: u8,
    /// Its delay, and its copy's, in milliseconds.
    delay: (u8, u8),
}

fn fate() -> impl Strategy<Value = Fate> {
    (0u8..100, (5u8..80, 5u8..80)).prop_map(|(roll, delay)| Fate { roll, delay })
}

/// One run's world.
#[derive(Clone, Debug)]
struct World {
    /// Bytes A writes to B, and B to A.
    a_writes: usize,
    b_writes: usize,
    /// Loss and duplication, in percent.
    loss: u8,
    duplication: u8,
    /// Bytes each reader takes per wake-up.
    a_reads: usize,
    b_reads: usize,
    /// The network's fates, taken in turn and cycled.
    fates: Vec<Fate>,
}

fn world(max_loss: u8) -> impl Strategy<Value = World> {
    (
        (0usize..120_000, 0usize..30_000),
        (0..=max_loss, 0u8..=10),
        (
            prop_oneof![Just(usize::MAX), 100usize..20_000],
            1000usize..usize::MAX,
        ),
        prop::collection::vec(fate(), 1..300),
    )
        .prop_map(
            |((a_writes, b_writes), (loss, duplication), (b_reads, a_reads), fates)| World {
                a_writes,
                b_writes,
                loss,
                duplication,
                a_reads,
                b_reads,
                fates,
            },
        )
}

/// The bytes an end writes: a pattern no shift or repeat of reproduces.
fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2654435761).to_be_bytes()[4] ^ salt)
        .collect()
}

/// One end's application: what it writes, what it read, how it ended.
struct App {
    id: NodeId,
    set: StreamSet,
    stream: Option<StreamId>,
    out: Vec<u8>,
    written: usize,
    read: Vec<u8>,
    read_end: bool,
    pace: usize,
    finished: bool,
    reset: bool,
}

impl App {
    fn new(id: NodeId, config: &StreamConfig, out: Vec<u8>, pace: usize) -> App {
        App {
            id,
            set: StreamSet::new(config.clone(), id),
            stream: None,
            out,
            written: 0,
            read: Vec::new(),
            read_end: false,
            pace,
            finished: false,
            reset: false,
        }
    }

    fn events(&mut self) {
        for event in std::iter::from_fn(|| self.set.poll_event()) {
            match event {
                StreamEvent::Opened { stream, .. } => self.stream = Some(stream),
                StreamEvent::Finished(_) => self.finished = true,
                StreamEvent::Reset { .. } => self.reset = true,
                StreamEvent::Readable(_) | StreamEvent::Writable(_) => {}
            }
        }
    }

    fn step(&mut self) {
        self.events();
        let Some(stream) = self.stream else { return };
        if self.reset {
            return;
        }
        if self.written < self.out.len() {
            self.written += self
                .set
                .write(stream, &self.out[self.written..])
                .unwrap_or(0);
            if self.written == self.out.len() {
                let _ = self.set.finish(stream);
            }
        }
        let mut budget = self.pace;
        let mut buf = vec![0u8; 8192];
        while budget > 0 {
            let want = budget.min(buf.len());
            match self.set.read(stream, &mut buf[..want]) {
                Ok(Read::Bytes(n)) => {
                    self.read.extend_from_slice(&buf[..n]);
                    budget -= n;
                }
                Ok(Read::End) => {
                    self.read_end = true;
                    break;
                }
                Ok(Read::Blocked) | Err(_) => break,
            }
        }
    }
}

/// What a run ended with.
struct Outcome {
    a: App,
    b: App,
    now: Time,
    peak_buffered: usize,
}

/// Runs one world until both ends are over or a simulated 10 minutes pass.
/// Checks property 1 at every step.
fn run(world: &World) -> Result<Outcome, TestCaseError> {
    let config = StreamConfig::default();
    let mut a = App::new(A, &config, pattern(world.a_writes, 0xA5), world.a_reads);
    let mut b = App::new(B, &config, pattern(world.b_writes, 0x5A), world.b_reads);
    b.set.listen(Firewall::Open);
    let opened = a.set.open(Time::ZERO, B).expect("a stream opens");
    a.stream = Some(opened);
    // In flight: (arrival, sequence) -> (to A?, frame).
    let mut flight: BTreeMap<(Time, u64), (bool, StreamFrame)> = BTreeMap::new();
    let (mut sequence, mut fates) = (0u64, world.fates.iter().cycle());
    let mut now = Time::ZERO;
    let mut peak_buffered = 0;
    let deadline = Time::ZERO + Duration::from_secs(600);
    loop {
        a.step();
        b.step();
        for (app, to_a) in [(&mut a, false), (&mut b, true)] {
            while let Some((peer, frame)) = app.set.poll_frame(now) {
                prop_assert_eq!(peer, if to_a { A } else { B }, "{:?}", app.id);
                let fate = fates.next().expect("cycled");
                if fate.roll < world.loss {
                    continue;
                }
                let copies = if fate.roll < world.loss + world.duplication {
                    2
                } else {
                    1
                };
                for delay in [fate.delay.0, fate.delay.1].into_iter().take(copies) {
                    let at = now + Duration::from_millis(u64::from(delay));
                    flight.insert((at, sequence), (to_a, frame.clone()));
                    sequence += 1;
                }
            }
            app.events();
            let buffered: usize = app.set.streams().iter().map(|s| s.buffered).sum();
            peak_buffered = peak_buffered.max(buffered);
        }
        // Property 1: a prefix, always.
        prop_assert!(
            b.out.starts_with(&a.read),
            "A read bytes B never wrote at {}",
            a.read.len()
        );
        prop_assert!(
            a.out.starts_with(&b.read),
            "B read bytes A never wrote at {}",
            b.read.len()
        );
        let over = |app: &App| app.finished || app.reset;
        if over(&a) && over(&b) {
            break;
        }
        let next = [
            flight.keys().next().map(|(at, _)| *at),
            a.set.poll_timeout(),
            b.set.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        // Nothing due on the network: the readers' pace is all that is left (a stream
        // whose bytes were all delivered keeps no timer), so they take another turn.
        let next = next.unwrap_or(now + Duration::from_millis(10));
        if next > deadline {
            break;
        }
        now = now.max(next);
        while let Some(entry) = flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to_a, frame) = entry.remove();
            let (to, from) = if to_a { (&mut a, B) } else { (&mut b, A) };
            to.set.on_frame(now, from, frame);
        }
        a.set.handle_timeout(now);
        b.set.handle_timeout(now);
    }
    Ok(Outcome {
        a,
        b,
        now,
        peak_buffered,
    })
}

proptest! {
    #![proptest_config(config(64))]

    /// Properties 1 and 2.
    #[test]
    fn every_byte_arrives_in_order_once_through_loss_duplication_and_reordering(
        world in world(10)
    ) {
        let outcome = run(&world)?;
        let (a, b) = (&outcome.a, &outcome.b);
        prop_assert!(!a.reset && !b.reset, "reset at {}; {}", outcome.now, reproduce());
        prop_assert_eq!(b.read.len(), a.out.len());
        prop_assert!(b.read == a.out);
        prop_assert!(a.read == b.out);
        prop_assert!(a.read_end && b.read_end);
        prop_assert!(a.finished && b.finished, "both ends finished");
        let config = StreamConfig::default();
        let bound = (config.window + config.send_buffer) as usize;
        prop_assert!(outcome.peak_buffered <= bound, "{} held", outcome.peak_buffered);
    }

    /// Property 3.
    #[test]
    fn heavy_loss_may_end_a_stream_but_never_corrupts_it(world in world(40)) {
        let outcome = run(&world)?;
        // Property 1 was checked at every step. An end that finished read everything.
        let (a, b) = (&outcome.a, &outcome.b);
        if a.finished {
            prop_assert!(a.read == b.out && b.read == a.out);
        }
        prop_assert!(a.finished == b.finished || a.reset || b.reset, "one end hangs");
    }
}
