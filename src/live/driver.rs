//! The async driver loop: one [`Node`] on real (or simulated) sockets and tokio time.
//!
//! In: datagrams from the node's socket (and, where there is one, its multicast
//! socket), the clock, and [`Control`] messages from the application (run a command
//! and await its outcome, take a snapshot, shut down). Out: datagrams on the socket,
//! command outcomes on their reply channels, every other event on the event channel.
//!
//! The loop is generic over [`DatagramSocket`] so that the simulator's turmoil engine
//! can run this very function on simulated sockets under simulated time: it reads
//! time only through `tokio::time`, which turmoil virtualises.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::owned::OwnedFile;
use super::stream::{Pipes, StreamControl};
use crate::proto::node::{Command, CommandError, Event, QueryOutcome, Stats};
use crate::proto::stream::{StreamEvent, StreamInfo};
use crate::proto::table::Contact;
use crate::proto::wire::MAX_DATAGRAM;
use crate::proto::{Node, NodeId, QueryId, Time};

/// A UDP-like socket: what the driver needs of tokio's and turmoil's `UdpSocket`.
pub trait DatagramSocket: Send + Sync {
    /// Sends one datagram.
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;
    /// Receives one datagram.
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
}

impl DatagramSocket for tokio::net::UdpSocket {
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        tokio::net::UdpSocket::send_to(self, buf, target)
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        tokio::net::UdpSocket::recv_from(self, buf)
    }
}

/// A finished command, as the driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The node's id for the command.
    pub query: QueryId,
    /// How long it took.
    pub elapsed: Duration,
    /// What came of it.
    pub outcome: QueryOutcome,
}

/// What a node looks like from outside at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Its id.
    pub id: NodeId,
    /// Time since its driver started.
    pub uptime: Duration,
    /// Its routing table, closest to itself first (every entry proved its key).
    pub peers: Vec<Contact>,
    /// Open sessions.
    pub sessions: usize,
    /// Records held for other nodes, of all kinds.
    pub records_held: usize,
    /// Its counters.
    pub stats: Stats,
    /// What it holds in memory, by part (an estimate: see [`crate::proto::footprint`]).
    pub footprint: crate::proto::footprint::Footprint,
    /// Its NAT, as peers' reports classify it.
    pub nat: crate::proto::wire::NatKind,
    /// The address peers see it at.
    pub reflexive: Option<SocketAddr>,
    /// Its multicast mailbox, if it keeps one.
    pub mailbox: Option<SocketAddr>,
    /// Whether peers may open streams to it.
    pub listening: bool,
    /// Its streams.
    pub streams: Vec<StreamInfo>,
}

/// What the application can ask of a running node.
#[derive(Debug)]
pub enum Control {
    /// Run a command; the reply comes when it finishes (or at once if it cannot start).
    Run {
        /// The command.
        command: Command,
        /// Where its outcome goes.
        reply: oneshot::Sender<Result<Finished, CommandError>>,
    },
    /// Say goodbye to every peer with a session ([`Node::leave`]); the loop goes on,
    /// for a driver that takes the node off the network afterwards (the simulator).
    Leave,
    /// Take a snapshot.
    Snapshot {
        /// Where it goes.
        reply: oneshot::Sender<Snapshot>,
    },
    /// Stop cleanly: withdraw this node's announcements, for at most
    /// [`SHUTDOWN_GRACE`], then end the loop (see [`run`]).
    Shutdown,
    /// Listen, open a stream, or read, write, end or reset one (see
    /// [`super::stream`]).
    Stream(StreamControl),
    /// Look into the node: the closure runs on the driver's task, with the node and
    /// the time, between two datagrams (the simulator's live engine reads the records
    /// a node holds this way).
    Inspect(Inspect),
}

/// What [`Inspect`] runs: a closure given the node and the time.
pub type Look = Box<dyn FnOnce(&Node, Time) + Send>;

/// A look into a running node: see [`Control::Inspect`].
pub struct Inspect(pub Look);

impl std::fmt::Debug for Inspect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inspect(..)")
    }
}

/// How long a clean stop keeps the node running to withdraw its announcements: after
/// this the driver returns whether or not every holder has answered.
/// [`crate::live::LiveNode::shutdown`] waits 2 s for the driver, so this stays well
/// below that.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Who waits for a query's end.
#[derive(Debug)]
enum Waiter {
    /// The application, through [`Control::Run`].
    Reply(oneshot::Sender<Result<Finished, CommandError>>),
    /// The driver itself: an unannounce started by a clean stop.
    Withdrawal,
}

/// Runs `node` on `socket` (and `multicast`, a second socket that only receives,
/// where beacons arrive) until [`Control::Shutdown`] or until every control sender is
/// gone. Send errors are counted in the log and do not stop the node: a peer that went
/// away must not take this node with it.
///
/// [`Control::Shutdown`] is a clean stop: commands still running are dropped (their
/// callers see the reply channel close), the node withdraws every topic it announced
/// ([`Node::announced_topics`]) and keeps sending and receiving until the holders
/// have answered or [`SHUTDOWN_GRACE`] has passed, so that peers stop finding it under
/// those topics at once rather than when the announcements expire; then it says
/// goodbye in every session ([`Node::leave`]). When every sender
/// is gone there is nobody left to answer to, and the loop ends at once.
pub async fn run<S: DatagramSocket, M: DatagramSocket>(
    socket: S,
    multicast: Option<M>,
    node: Node,
    epoch: Instant,
    control: mpsc::Receiver<Control>,
    events: mpsc::UnboundedSender<Event>,
) -> io::Result<()> {
    run_keeping(socket, multicast, node, epoch, control, events, None).await
}

/// [`run`], keeping what the node publishes in `owned`: rewritten after each command
/// that changes it ([`Node::owned`]), and not by a clean stop's withdrawals, so that
/// the next start announces again what this one announced.
pub async fn run_keeping<S: DatagramSocket, M: DatagramSocket>(
    socket: S,
    multicast: Option<M>,
    mut node: Node,
    epoch: Instant,
    mut control: mpsc::Receiver<Control>,
    events: mpsc::UnboundedSender<Event>,
    mut owned: Option<OwnedFile>,
) -> io::Result<()> {
    let now = || clock(epoch);
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut multicast_buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut waiting: BTreeMap<QueryId, Waiter> = BTreeMap::new();
    let mut pipes = Pipes::default();
    loop {
        flush(&mut node, &socket, &mut waiting, &events, &mut pipes).await;
        if pipes.service(&mut node, now()) {
            flush(&mut node, &socket, &mut waiting, &events, &mut pipes).await;
        }
        tokio::select! {
            biased;
            message = control.recv() => match message {
                None => return Ok(()),
                Some(Control::Shutdown) => break,
                Some(Control::Run { command, reply }) => {
                    // Only these change what the node owns (see `Node::owned`).
                    let publishes = matches!(
                        command,
                        Command::ImmutablePut(_)
                            | Command::MutablePut { .. }
                            | Command::Announce { .. }
                            | Command::Unannounce(_)
                    );
                    match node.start(now(), command) {
                        Ok(query) => {
                            waiting.insert(query, Waiter::Reply(reply));
                        }
                        Err(error) => {
                            let _ = reply.send(Err(error));
                        }
                    }
                    if let Some(file) = owned.as_mut().filter(|_| publishes) {
                        if let Err(error) = file.save(node.owned()) {
                            let path = file.path().display();
                            tracing::warn!(%path, %error, "cannot keep the node's own records");
                        }
                    }
                }
                Some(Control::Snapshot { reply }) => {
                    let _ = reply.send(snapshot(&node, now()));
                }
                Some(Control::Leave) => node.leave(now()),
                Some(Control::Stream(control)) => pipes.on_control(&mut node, now(), control),
                Some(Control::Inspect(Inspect(look))) => look(&node, now()),
            },
            () = handle_next(
                &mut node,
                epoch,
                &socket,
                multicast.as_ref(),
                &mut buf,
                &mut multicast_buf,
            ) => {}
        }
    }

    // A clean stop. New messages are refused from here on; those already queued are
    // dropped with the receiver, and so are the replies of commands still running.
    control.close();
    waiting.clear();
    for topic in node.announced_topics() {
        match node.start(now(), Command::Unannounce(topic)) {
            Ok(query) => {
                waiting.insert(query, Waiter::Withdrawal);
            }
            Err(error) => tracing::debug!(%topic, %error, "cannot withdraw announcement"),
        }
    }
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    loop {
        flush(&mut node, &socket, &mut waiting, &events, &mut pipes).await;
        if waiting.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = &mut grace => {
                tracing::debug!(left = waiting.len(), "stopping before every withdrawal finished");
                break;
            }
            () = handle_next(
                &mut node,
                epoch,
                &socket,
                multicast.as_ref(),
                &mut buf,
                &mut multicast_buf,
            ) => {}
        }
    }
    // Last, goodbyes: the peers drop this node now rather than after timeouts.
    node.leave(now());
    flush(&mut node, &socket, &mut waiting, &events, &mut pipes).await;
    Ok(())
}

/// The node's clock: time since the driver's epoch.
fn clock(epoch: Instant) -> Time {
    Time::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
}

/// Sends every datagram the node has queued and hands out its events: outcomes to
/// whoever waits for them, the rest to the event channel.
async fn flush<S: DatagramSocket>(
    node: &mut Node,
    socket: &S,
    waiting: &mut BTreeMap<QueryId, Waiter>,
    events: &mpsc::UnboundedSender<Event>,
    pipes: &mut Pipes,
) {
    while let Some(transmit) = node.poll_transmit() {
        if let Err(error) = socket.send_to(&transmit.payload, transmit.dst).await {
            tracing::debug!(dst = %transmit.dst, %error, "send failed");
        }
    }
    while let Some(event) = node.poll_event() {
        match &event {
            Event::QueryFinished {
                query,
                elapsed,
                outcome,
            } => match waiting.remove(query) {
                Some(Waiter::Reply(reply)) => {
                    let _ = reply.send(Ok(Finished {
                        query: *query,
                        elapsed: *elapsed,
                        outcome: outcome.clone(),
                    }));
                    continue;
                }
                Some(Waiter::Withdrawal) => {
                    tracing::debug!(?outcome, "announcement withdrawn");
                    continue;
                }
                None => {}
            },
            // Whoever waits for the lookup gets every peer in its outcome.
            Event::TopicPeers { query, .. } if waiting.contains_key(query) => continue,
            Event::Stream(StreamEvent::Opened {
                stream,
                incoming: true,
            }) => pipes.on_accepted(*stream, node.handshake_hash(&stream.peer)),
            Event::Stream(StreamEvent::Reset { stream, error }) => pipes.on_reset(*stream, *error),
            _ => {}
        }
        let _ = events.send(event); // the application may have gone away
    }
}

/// Waits for one input from the network or the node's next deadline and hands it to
/// the node. Cancelling it loses nothing: a datagram is handled as soon as it arrives.
async fn handle_next<S: DatagramSocket, M: DatagramSocket>(
    node: &mut Node,
    epoch: Instant,
    socket: &S,
    multicast: Option<&M>,
    buf: &mut [u8],
    multicast_buf: &mut [u8],
) {
    let deadline = node
        .poll_timeout()
        .map(|at| epoch + Duration::from_micros(at.as_micros()));
    let timer = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        received = socket.recv_from(buf) => match received {
            Ok((len, from)) => node.handle_datagram(clock(epoch), from, &buf[..len]),
            // ICMP errors surface here on some systems: nothing to do with the node.
            Err(error) => tracing::debug!(%error, "receive failed"),
        },
        received = recv_optional(multicast, multicast_buf) => match received {
            Ok((len, from)) => node.handle_datagram(clock(epoch), from, &multicast_buf[..len]),
            Err(error) => tracing::debug!(%error, "multicast receive failed"),
        },
        () = timer => node.handle_timeout(clock(epoch)),
    }
    // Under a flood a datagram is always ready and the biased select never reaches
    // the timer: retransmissions, timeouts and beacons would stop. So the timers that
    // are due run after every input.
    let now = clock(epoch);
    if node.poll_timeout().is_some_and(|at| at <= now) {
        node.handle_timeout(now);
    }
}

/// Receives from `socket`, or waits forever when there is none.
async fn recv_optional<M: DatagramSocket>(
    socket: Option<&M>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

fn snapshot(node: &Node, now: Time) -> Snapshot {
    let id = node.id();
    let mut peers: Vec<Contact> = node.table().iter().copied().collect();
    peers.sort_by_key(|c| c.id.distance(&id));
    Snapshot {
        id,
        uptime: now.since_epoch(),
        peers,
        sessions: node.sessions_open(),
        records_held: node.records_held(),
        stats: node.stats(),
        footprint: node.footprint(),
        nat: node.nat(),
        reflexive: node.reflexive_addr(),
        mailbox: node.mailbox(),
        listening: node.is_listening(),
        streams: node.streams(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::node::Config;
    use crate::proto::Identity;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    /// A socket under a flood: a datagram of garbage is always ready.
    struct Flooded;

    impl DatagramSocket for Flooded {
        async fn send_to(&self, buf: &[u8], _: SocketAddr) -> io::Result<usize> {
            Ok(buf.len())
        }

        async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
            buf[..4].copy_from_slice(b"junk");
            Ok((4, SocketAddr::from(([192, 0, 2, 9], 4000))))
        }
    }

    /// A node whose bootstrap has sent its first `Who`, with `epoch` set so that its
    /// clock reads an hour later: every timer it has is due.
    fn node_with_timers_due() -> (Node, Instant) {
        let config = Config {
            bootstrap: vec![SocketAddr::from(([192, 0, 2, 1], 4000))],
            ..Config::default()
        };
        let identity = Identity::from_seed([7; 32]);
        let rng = ChaCha8Rng::seed_from_u64(7);
        let mut node = Node::new(Time::ZERO, Duration::ZERO, config, identity, rng);
        node.start(Time::ZERO, Command::Bootstrap)
            .expect("it has a bootstrap address");
        while node.poll_transmit().is_some() {}
        let hour = Duration::from_secs(3600);
        #[allow(clippy::disallowed_methods)] // the driver's own clock, as `run` takes it
        let epoch = Instant::now()
            .checked_sub(hour)
            .expect("an hour after boot");
        (node, epoch)
    }

    #[tokio::test]
    async fn due_timers_run_even_when_a_datagram_is_always_ready() {
        let (mut node, epoch) = node_with_timers_due();
        assert!(node.poll_timeout().is_some_and(|at| at <= clock(epoch)));
        let (mut buf, mut multicast_buf) = (vec![0; 64], vec![0; 64]);
        handle_next(
            &mut node,
            epoch,
            &Flooded,
            None::<&Flooded>,
            &mut buf,
            &mut multicast_buf,
        )
        .await;
        assert_eq!(
            node.stats().datagrams_malformed,
            1,
            "the flood's datagram was handled"
        );
        assert!(
            node.poll_timeout().is_none_or(|at| at > clock(epoch)),
            "a due timer was left waiting"
        );
    }
}
