//! The live adapter: real sockets and real time around a [`crate::proto::Node`].
//!
//! [`spawn`] starts one node: a UDP socket on the given address, a socket that
//! receives the multicast group's beacons, the [`driver::run`] loop, and an HTTP API
//! ([`api`]) on 127.0.0.1. What comes back, [`LiveNode`], says where everything is and
//! shuts it all down.
//!
//! A live node runs the real crypto suite, and nothing else can reach a socket: the
//! adapter builds its nodes with [`Node::new`], and the simulator's fast stand-in
//! ([`CryptoSuite::Fast`](crate::proto::CryptoSuite::Fast)) is chosen only by
//! [`Node::with_suite`], which takes no part of a [`LiveConfig`]. A configuration has no
//! field to name a suite:
//!
//! ```compile_fail
//! let mut config = dswarm::live::LiveConfig::localhost();
//! config.node.crypto = dswarm::proto::CryptoSuite::Fast; // no such field
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
#[allow(clippy::disallowed_types)]
use rand_core::OsRng;
use rand_core::{RngCore, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::proto::node::{Command, Config, Event};
use crate::proto::stream::{Firewall, StreamError};
use crate::proto::{Identity, Node, NodeId, Time};
use stream::LiveStream;

pub mod api;
pub mod driver;
pub mod file;
pub mod http;
pub mod owned;
pub mod socket;
pub mod stream;
pub mod ws;

impl Identity {
    /// A fresh identity from the operating system's randomness.
    #[allow(clippy::disallowed_types)] // the live world's one draw from the OS
    pub fn from_os() -> Identity {
        Identity::from_rng(&mut OsRng)
    }
}

/// How to start one live node.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// The protocol configuration (`port` and `discovery.multicast_group` are filled in).
    pub node: Config,
    /// The node's identity.
    pub identity: Identity,
    /// The seed of the node's RNG (ephemeral handshake keys, transaction ids): 256
    /// bits, as secret as the node's key, and never logged.
    pub rng_seed: [u8; 32],
    /// Where the UDP socket binds; port 0 asks the OS.
    pub udp: SocketAddr,
    /// Where the HTTP API binds (loopback only; port 0 asks the OS); `None` runs no
    /// API (benchmarks with a thousand nodes).
    pub api: Option<SocketAddr>,
    /// The multicast group for beacons; `None` for bootstrap lists only.
    pub group: Option<SocketAddr>,
    /// Multicast TTL: 0 keeps beacons on this host.
    pub multicast_ttl: u32,
    /// How long an API query may take before it answers 504.
    pub query_timeout: Duration,
    /// Keep what the node publishes in this file, and publish again at start what it
    /// holds ([`owned`]); `None` keeps nothing.
    pub records: Option<PathBuf>,
    /// The nodes of this process, which the node joins: pages any of them serves (the
    /// dashboard) may call its API. Share one among the nodes of a process.
    pub roster: http::Roster,
}

impl LiveConfig {
    /// A node on 127.0.0.1 with OS-chosen ports, the default group, and fresh keys.
    pub fn localhost() -> LiveConfig {
        let mut rng_seed = [0u8; 32];
        #[allow(clippy::disallowed_types)]
        OsRng.fill_bytes(&mut rng_seed);
        LiveConfig {
            node: Config::default(),
            identity: Identity::from_os(),
            rng_seed,
            udp: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            group: Some(socket::DEFAULT_GROUP),
            multicast_ttl: 0,
            query_timeout: Duration::from_secs(10),
            records: None,
            roster: http::Roster::default(),
        }
    }
}

/// A running live node.
#[derive(Debug)]
pub struct LiveNode {
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub udp: SocketAddr,
    /// Its HTTP API's address, if it runs one.
    pub api: Option<SocketAddr>,
    /// Commands and snapshots go here.
    pub control: mpsc::Sender<driver::Control>,
    /// Events that no command waits for: discoveries, verifications, evictions.
    pub events: mpsc::UnboundedReceiver<Event>,
    driver: JoinHandle<io::Result<()>>,
    server: Option<JoinHandle<()>>,
}

impl LiveNode {
    /// Whether the driver loop has ended without being asked to: it panicked, or its
    /// socket failed. The node no longer runs, and its API answers 503 to everything.
    pub fn has_stopped(&self) -> bool {
        self.driver.is_finished()
    }

    /// Lets peers open streams to this node, as `firewall` allows; the streams it
    /// accepts come out of the returned channel.
    pub async fn listen(&self, firewall: Firewall) -> mpsc::UnboundedReceiver<LiveStream> {
        stream::listen(&self.control, firewall).await
    }

    /// Opens a stream to `peer`, with which the node has a session (after a
    /// `Connect`).
    pub async fn open_stream(&self, peer: NodeId) -> Result<LiveStream, StreamError> {
        stream::open(&self.control, peer).await
    }

    /// Stops the node: it withdraws its announcements (for at most
    /// [`driver::SHUTDOWN_GRACE`]), the driver loop ends, the sockets close, the API
    /// stops. Returns within 2 s whatever the network does.
    pub async fn shutdown(self) {
        let _ = self.control.send(driver::Control::Shutdown).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.driver).await;
        if let Some(server) = self.server {
            server.abort();
        }
    }
}

/// Stops every node at once: each withdraws its announcements while the others still
/// answer, and the whole takes no longer than one node's [`LiveNode::shutdown`]. One
/// by one, a node could wait on holders that have already gone.
pub async fn shutdown_all(nodes: Vec<LiveNode>) {
    let stopping: Vec<JoinHandle<()>> = nodes
        .into_iter()
        .map(|node| tokio::spawn(node.shutdown()))
        .collect();
    for node in stopping {
        let _ = node.await;
    }
}

/// Starts one node; see [`LiveConfig`]. Bootstraps at once when the configuration has
/// bootstrap addresses.
pub async fn spawn(config: LiveConfig) -> io::Result<LiveNode> {
    if let Some(api) = config.api.filter(|api| !api.ip().is_loopback()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the API binds to loopback only, not {api}"),
        ));
    }
    let interface = socket::Interface::for_udp(config.udp)?;
    if let Some(group) = config.group.filter(|g| g.is_ipv4() != config.udp.is_ipv4()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the multicast group {group} and the UDP address {} are of different families",
                config.udp
            ),
        ));
    }
    let socket = socket::unicast(config.udp, interface, config.multicast_ttl)?;
    let udp = socket.local_addr()?;
    let mut node_config = config.node.clone();
    node_config.port = udp.port();
    node_config.address = Some(udp);
    node_config.discovery.multicast_group = config.group;
    let multicast = match config.group {
        Some(group) => {
            let mailbox = match node_config.mailbox {
                true => {
                    let group =
                        crate::proto::discovery::mailbox_group(&config.identity.id(), group);
                    Some(socket::multicast(group, interface)?)
                }
                false => None,
            };
            Some(socket::Groups::new(
                socket::multicast(group, interface)?,
                mailbox,
            ))
        }
        None => None,
    };
    let bootstrap = !node_config.bootstrap.is_empty();
    #[allow(clippy::disallowed_methods)] // the live world's wall clock, read once
    let unix_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let id = config.identity.id();
    let mut node = Node::new(
        Time::ZERO,
        unix_time,
        node_config,
        config.identity,
        ChaCha8Rng::from_seed(config.rng_seed),
    );
    let owned = match config.records {
        Some(path) => {
            let (file, kept) = owned::OwnedFile::open(path)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let restored = node.restore(Time::ZERO, kept);
            tracing::info!(path = %file.path().display(), restored, "own records kept");
            Some(file)
        }
        None => None,
    };
    tracing::info!(%id, %udp, "node starting");
    let (control, control_rx) = mpsc::channel(64);
    let (driver_events, mut from_driver) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    // Every event goes to the WebSocket's subscribers as well as to `LiveNode::events`.
    let bus = ws::Events::default();
    let publish = bus.clone();
    tokio::spawn(async move {
        while let Some(event) = from_driver.recv().await {
            publish.publish(&event);
            let _ = events_tx.send(event);
        }
    });
    #[allow(clippy::disallowed_methods)] // the driver's epoch: the one monotonic clock read
    let epoch = tokio::time::Instant::now();
    let driver = tokio::spawn(driver::run_keeping(
        socket,
        multicast,
        node,
        epoch,
        control_rx,
        driver_events,
        owned,
    ));

    let (api, server) = match config.api {
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind).await?;
            let api = listener.local_addr()?;
            let router = api::router(api::ApiState {
                control: control.clone(),
                id,
                udp,
                query_timeout: config.query_timeout,
                guard: http::Guard {
                    address: api,
                    refused: Default::default(),
                    roster: config.roster.clone(),
                },
                events: bus,
            });
            config.roster.add(id, api);
            let server = tokio::spawn(http::serve(listener, router));
            (Some(api), Some(server))
        }
        None => (None, None),
    };
    if bootstrap {
        let (reply, _answer) = tokio::sync::oneshot::channel();
        let _ = control
            .send(driver::Control::Run {
                command: Command::Bootstrap,
                reply,
            })
            .await;
    }
    Ok(LiveNode {
        id,
        udp,
        api,
        control,
        events,
        driver,
        server,
    })
}
