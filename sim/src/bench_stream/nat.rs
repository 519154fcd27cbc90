//! A NAT in userspace for `bench-stream`'s relayed connects: loopback has no NAT, so
//! a node that must be reached through a relay sits behind this one.
//!
//! In: the node's datagrams (as the driver's [`DatagramSocket`]) and what arrives
//! at the NAT's outside sockets. Out: the same datagrams sent from those real UDP
//! sockets on 127.0.0.1, and the datagrams the NAT lets in.
//!
//! It behaves as a symmetric NAT (HyperDHT's and dswarm's `random`): every new
//! destination gets a mapping of its own, a fresh socket bound to an OS-chosen port,
//! so each peer sees the node at another address (endpoint-dependent mapping); a
//! mapping lets in only what comes from the one address it was opened toward
//! (endpoint-dependent filtering), so nobody the node has not sent to can reach it.
//! Mappings live as long as the NAT. Every datagram crosses real sockets: nothing
//! is short-cut between nodes in the process. The one in-process hop is from the
//! node to its NAT, as from a host to its router.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dswarm::live::driver::DatagramSocket;
use dswarm::proto::wire::MAX_DATAGRAM;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A mapping: its outside socket, and the task that lets in what it receives.
type Mapping = (Arc<UdpSocket>, JoinHandle<()>);

/// One node's symmetric NAT; see the module docs. Dropping it closes its mappings.
#[derive(Debug)]
pub struct SymmetricNat {
    /// Outside sockets by the destination they were opened toward.
    mappings: Mutex<BTreeMap<SocketAddr, Mapping>>,
    inside_tx: mpsc::UnboundedSender<(Vec<u8>, SocketAddr)>,
    inside: tokio::sync::Mutex<mpsc::UnboundedReceiver<(Vec<u8>, SocketAddr)>>,
    /// Datagrams dropped for coming from an address the mapping was not opened toward.
    pub filtered: Arc<AtomicU64>,
}

impl SymmetricNat {
    /// A NAT with no mapping yet.
    pub fn new() -> SymmetricNat {
        let (inside_tx, inside) = mpsc::unbounded_channel();
        SymmetricNat {
            mappings: Mutex::new(BTreeMap::new()),
            inside_tx,
            inside: tokio::sync::Mutex::new(inside),
            filtered: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The mapping toward `target`, opened if there is none.
    fn mapping(&self, target: SocketAddr) -> io::Result<Arc<UdpSocket>> {
        let mut mappings = self
            .mappings
            .lock()
            .map_err(|_| io::Error::other("the NAT's table is poisoned"))?;
        if let Some((socket, _)) = mappings.get(&target) {
            return Ok(socket.clone());
        }
        let std = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        std.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(std)?);
        let reader = tokio::spawn(let_in(
            socket.clone(),
            target,
            self.inside_tx.clone(),
            self.filtered.clone(),
        ));
        mappings.insert(target, (socket.clone(), reader));
        Ok(socket)
    }
}

impl Drop for SymmetricNat {
    fn drop(&mut self) {
        if let Ok(mappings) = self.mappings.lock() {
            for (_, reader) in mappings.values() {
                reader.abort();
            }
        }
    }
}

/// Reads one outside socket, passing in only what comes from `peer`.
async fn let_in(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    inside: mpsc::UnboundedSender<(Vec<u8>, SocketAddr)>,
    filtered: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            // An ICMP error surfacing: nothing to pass in.
            tokio::task::yield_now().await;
            continue;
        };
        if from != peer {
            filtered.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if inside.send((buf[..n].to_vec(), from)).is_err() {
            return;
        }
    }
}

impl DatagramSocket for SymmetricNat {
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        let socket = self.mapping(target)?;
        socket.send_to(buf, target).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut inside = self.inside.lock().await;
        let (bytes, from) = inside
            .recv()
            .await
            .ok_or_else(|| io::Error::other("the NAT closed"))?;
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok((n, from))
    }
}
