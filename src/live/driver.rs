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

use crate::proto::node::{Command, CommandError, Event, QueryOutcome, Stats};
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
    /// Its counters.
    pub stats: Stats,
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
    /// Take a snapshot.
    Snapshot {
        /// Where it goes.
        reply: oneshot::Sender<Snapshot>,
    },
    /// Stop the loop.
    Shutdown,
}

/// Runs `node` on `socket` (and `multicast`, a second socket that only receives,
/// where beacons arrive) until [`Control::Shutdown`] or until every control sender is
/// gone. Send errors are counted in the log and do not stop the node: a peer that went
/// away must not take this node with it.
pub async fn run<S: DatagramSocket, M: DatagramSocket>(
    socket: S,
    multicast: Option<M>,
    mut node: Node,
    epoch: Instant,
    mut control: mpsc::Receiver<Control>,
    events: mpsc::UnboundedSender<Event>,
) -> io::Result<()> {
    let now = || Time::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut multicast_buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut waiting: BTreeMap<QueryId, oneshot::Sender<Result<Finished, CommandError>>> =
        BTreeMap::new();
    loop {
        while let Some(transmit) = node.poll_transmit() {
            if let Err(error) = socket.send_to(&transmit.payload, transmit.dst).await {
                tracing::debug!(dst = %transmit.dst, %error, "send failed");
            }
        }
        while let Some(event) = node.poll_event() {
            if let Event::QueryFinished {
                query,
                elapsed,
                outcome,
            } = &event
            {
                if let Some(reply) = waiting.remove(query) {
                    let _ = reply.send(Ok(Finished {
                        query: *query,
                        elapsed: *elapsed,
                        outcome: outcome.clone(),
                    }));
                    continue;
                }
            }
            let _ = events.send(event); // the application may have gone away
        }
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
            message = control.recv() => match message {
                None | Some(Control::Shutdown) => return Ok(()),
                Some(Control::Run { command, reply }) => match node.start(now(), command) {
                    Ok(query) => {
                        waiting.insert(query, reply);
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error));
                    }
                },
                Some(Control::Snapshot { reply }) => {
                    let _ = reply.send(snapshot(&node, now()));
                }
            },
            received = socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => node.handle_datagram(now(), from, &buf[..len]),
                // ICMP errors surface here on some systems: nothing to do with the node.
                Err(error) => tracing::debug!(%error, "receive failed"),
            },
            received = recv_optional(multicast.as_ref(), &mut multicast_buf) => match received {
                Ok((len, from)) => node.handle_datagram(now(), from, &multicast_buf[..len]),
                Err(error) => tracing::debug!(%error, "multicast receive failed"),
            },
            () = timer => node.handle_timeout(now()),
        }
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
        stats: node.stats(),
    }
}
