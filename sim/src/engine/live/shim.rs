//! The world on real sockets: what stands between each live node's driver and its UDP
//! socket on 127.0.0.1.
//!
//! In: datagrams a node's driver sends, to simulated addresses (`10.x.y.z:7000`, a NAT's
//! public address, the segment's beacon group). Out: real datagrams on loopback, held
//! at the receiving shim until the world says they arrive, and handed to the receiving
//! driver as if they came from the simulated address the world says.
//!
//! Nodes keep their simulated addresses: the driver and the node never see a real port.
//! Every datagram on the wire carries an [`Envelope`] ahead of the node's bytes. A
//! unicast datagram is routed by the sender's shim through the simulator's own
//! [`Router`] over the run's [`World`] — NAT mappings and filters, loss, duplication,
//! reordering, partitions — and each copy that arrives goes out at once, stamped with
//! the moment it is due; the receiving shim holds it until then. A beacon goes once to
//! the real loopback multicast group of the sender's segment, and the segment's
//! receiver asks the world the fate of each member's copy
//! ([`Network::fate`](dswarm::harness::Network::fate)), as the [`Router`] would; when
//! loopback multicast does not work here, the sender fans the beacon out as the
//! [`Router`] does on the simulated engines.
//!
//! What holds: a datagram is handed to a driver no sooner than the world's delay after
//! it was sent (its lateness, measured, is the machine's); a datagram from another run
//! (another run tag) or not ours is dropped unread; a node that is down neither sends
//! nor receives, and what was held for it dies with its life.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use dswarm::harness::{Datagram, Hop, Kind, Leaf, NetStats, Network, Routed, Router};
use dswarm::live::driver::DatagramSocket;
use dswarm::proto::wire::MAX_DATAGRAM;
use dswarm::proto::Time;
use tokio::net::UdpSocket;
use tokio::sync::Notify;

use super::watch::Watch;
use crate::world::World;

/// The first bytes of every datagram a shim sends.
const MAGIC: [u8; 4] = *b"DSWL";
/// An envelope's length on the wire.
pub(super) const ENVELOPE: usize = 4 + 8 + 1 + 4 + 8 + 8 + 16 + 2;

/// What a shim puts ahead of a node's bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Envelope {
    /// The run's tag: datagrams of other runs are dropped.
    pub(super) tag: u64,
    /// A beacon to the segment's group (the receiver decides each member's fate), or
    /// one routed copy.
    pub(super) group: bool,
    /// The sending node.
    pub(super) src: u32,
    /// The copy's sequence number (a beacon's: the first of those reserved for its
    /// members).
    pub(super) seq: u64,
    /// A copy: when it is due at the receiver. A beacon: when it was sent. Simulated
    /// microseconds.
    pub(super) at: u64,
    /// The source address the receiver sees (after NATs).
    pub(super) from: SocketAddr,
}

impl Envelope {
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.tag.to_be_bytes());
        out.push(u8::from(self.group));
        out.extend_from_slice(&self.src.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        let ip = match self.from.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        out.extend_from_slice(&ip.octets());
        out.extend_from_slice(&self.from.port().to_be_bytes());
    }

    /// The envelope at the head of `bytes` and the node's bytes after it; `None` for
    /// anything else.
    pub(super) fn read(bytes: &[u8]) -> Option<(Envelope, &[u8])> {
        if bytes.len() < ENVELOPE || bytes[..4] != MAGIC {
            return None;
        }
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8"));
        let group = match bytes[12] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let ip: [u8; 16] = bytes[33..49].try_into().expect("16 bytes");
        let port = u16::from_be_bytes([bytes[49], bytes[50]]);
        let envelope = Envelope {
            tag: u64_at(4),
            group,
            src: u32::from_be_bytes(bytes[13..17].try_into().expect("4 bytes")),
            seq: u64_at(17),
            at: u64_at(25),
            from: SocketAddr::new(Ipv6Addr::from(ip).to_canonical(), port),
        };
        Some((envelope, &bytes[ENVELOPE..]))
    }
}

/// A datagram held until it is due.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    due: u64,
    /// Arrival order among those due at once.
    order: u64,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// One node's place on the real network, for all its lives.
#[derive(Debug)]
pub(super) struct Port {
    pub(super) socket: UdpSocket,
    /// Off the network (left, crashed, not joined yet).
    down: AtomicBool,
    /// The node's sequence numbers of the datagrams it sent.
    seq: AtomicU64,
    /// What routing the node's datagrams produced: counts and fates.
    routed: Mutex<Routed>,
    held: Mutex<BinaryHeap<Reverse<Held>>>,
    order: AtomicU64,
    /// Raised when a beacon is held for the node by its segment's receiver.
    wake: Notify,
}

impl Port {
    pub(super) fn new(socket: UdpSocket) -> Port {
        Port {
            socket,
            down: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            routed: Mutex::new(Routed::default()),
            held: Mutex::new(BinaryHeap::new()),
            order: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    pub(super) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Release);
    }

    fn held(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Held>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn routed(&self) -> MutexGuard<'_, Routed> {
        self.routed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hold(&self, due: u64, from: SocketAddr, bytes: Vec<u8>) {
        let order = self.order.fetch_add(1, Ordering::Relaxed);
        self.held().push(Reverse(Held {
            due,
            order,
            from,
            bytes,
        }));
    }

    /// Forgets what was held for a life that ended, and what the kernel holds for it.
    pub(super) fn flush(&self) {
        self.held().clear();
        let mut buf = vec![0; ENVELOPE + MAX_DATAGRAM + 1];
        while self.socket.try_recv_from(&mut buf).is_ok() {}
    }
}

/// What every node's shim shares: see the module docs.
pub(super) struct LiveNet {
    /// The world as the engine last published it (after each partition or heal).
    pub(super) world: RwLock<Arc<World>>,
    /// Every node's simulated address, beacon group and mailbox group: what the
    /// [`Router`] asks.
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) beacons: Vec<Option<SocketAddr>>,
    pub(super) mailboxes: Vec<Option<SocketAddr>>,
    pub(super) ports: Vec<Port>,
    /// Every node's real address.
    pub(super) real: Vec<SocketAddr>,
    /// Each segment's real multicast group; empty when beacons are fanned out by the
    /// senders' shims.
    pub(super) groups: Vec<SocketAddr>,
    pub(super) tag: u64,
    pub(super) epoch: tokio::time::Instant,
    /// Whether the trace keeps records: then every hop's leaf goes to `leaves`.
    pub(super) keep_leaves: AtomicBool,
    pub(super) leaves: Mutex<Vec<Leaf>>,
    /// Copies handed to drivers, and copies that arrived for a node that was down.
    pub(super) delivered: AtomicU64,
    pub(super) down_dropped: AtomicU64,
    /// Datagrams on the wire that were not ours, or not this run's.
    pub(super) foreign: AtomicU64,
    pub(super) watch: Watch,
}

impl LiveNet {
    /// The simulated time now: the time since the run's epoch.
    pub(super) fn now(&self) -> Time {
        sim_now(self.epoch)
    }

    fn world(&self) -> Arc<World> {
        Arc::clone(&self.world.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Publishes a new world to every shim.
    pub(super) fn publish(&self, world: World) {
        *self.world.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(world);
    }

    fn leaf(&self, leaf: impl FnOnce(bool) -> Leaf) {
        if self.keep_leaves.load(Ordering::Relaxed) {
            let leaf = leaf(true);
            self.leaves
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(leaf);
        }
    }

    /// The network's counters: every node's routing counts, and what the shims
    /// delivered and dropped at nodes that were down.
    pub(super) fn net_stats(&self) -> NetStats {
        let mut net = NetStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.down_dropped.load(Ordering::Relaxed),
            ..NetStats::default()
        };
        for port in &self.ports {
            net += port.routed().net;
        }
        net
    }

    /// Sends one copy to node `to`'s real socket, from node `src`'s.
    async fn send_copy(&self, src: usize, to: usize, envelope: Envelope, bytes: &[u8]) {
        if self.ports[to].is_down() {
            self.down_dropped.fetch_add(1, Ordering::Relaxed);
            let at = Time::from_micros(envelope.at);
            self.leaf(|keep| Leaf::datagram(keep, Kind::Down, at, at, src, self.addrs[to], bytes));
            return;
        }
        let mut wire = Vec::with_capacity(ENVELOPE + bytes.len());
        envelope.write(&mut wire);
        wire.extend_from_slice(bytes);
        if let Err(error) = self.ports[src].socket.send_to(&wire, self.real[to]).await {
            // The kernel refused it (a full buffer on a loaded machine): lost, and
            // counted where the machine's limits are.
            self.watch.send_failed(&error);
        }
    }

    /// Node `src` sends `bytes` to `dst` (a simulated address); see the module docs.
    async fn send(&self, src: usize, bytes: &[u8], dst: SocketAddr) {
        let now = self.now();
        let port = &self.ports[src];
        if port.is_down() {
            return;
        }
        let world = self.world();
        let beacon = self.beacons[src] == Some(dst);
        if let (true, Some(segment)) = (beacon && !self.groups.is_empty(), world.segment_of(src)) {
            let members = world.multicast_members(src).len() as u64;
            let base = port.seq.fetch_add(members, Ordering::Relaxed) + 1;
            port.routed().net.sent += members.saturating_sub(1);
            let envelope = Envelope {
                tag: self.tag,
                group: true,
                src: src as u32,
                seq: base,
                at: now.as_micros(),
                from: self.addrs[src],
            };
            let mut wire = Vec::with_capacity(ENVELOPE + bytes.len());
            envelope.write(&mut wire);
            wire.extend_from_slice(bytes);
            if let Err(error) = port.socket.send_to(&wire, self.groups[segment]).await {
                self.watch.send_failed(&error);
            }
            return;
        }
        let router = Router {
            network: &*world,
            addrs: &self.addrs,
            mailboxes: &self.mailboxes,
        };
        let hops = {
            let mut routed = port.routed();
            let mut next_seq = || port.seq.fetch_add(1, Ordering::Relaxed) + 1;
            router.route(now, src, self.beacons[src], dst, &mut next_seq, &mut routed);
            std::mem::take(&mut routed.hops)
        };
        for hop in &hops {
            match *hop {
                Hop::Arrive {
                    to,
                    from,
                    delay,
                    seq,
                } => {
                    let due = now + delay;
                    self.leaf(|keep| hop.leaf(keep, &self.addrs, src, now, due, bytes));
                    let envelope = Envelope {
                        tag: self.tag,
                        group: false,
                        src: src as u32,
                        seq,
                        at: due.as_micros(),
                        from,
                    };
                    self.send_copy(src, to, envelope, bytes).await;
                }
                Hop::Drop { .. } => {
                    self.leaf(|keep| hop.leaf(keep, &self.addrs, src, now, now, bytes));
                }
            }
        }
        // Hand the buffer back for the next datagram.
        let mut routed = port.routed();
        if routed.hops.capacity() < hops.capacity() {
            routed.hops = hops;
            routed.hops.clear();
        }
    }

    /// Takes in what arrived on node `to`'s socket: every copy of this run is held
    /// until it is due.
    fn drain(&self, to: usize, buf: &mut [u8]) {
        let port = &self.ports[to];
        loop {
            let (len, _) = match port.socket.try_recv_from(buf) {
                Ok(got) => got,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error of an earlier send, on some systems: nothing to read.
                Err(_) => continue,
            };
            match Envelope::read(&buf[..len]) {
                Some((envelope, bytes)) if envelope.tag == self.tag && !envelope.group => {
                    port.hold(envelope.at, envelope.from, bytes.to_vec());
                }
                _ => {
                    self.foreign.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// A beacon came in on a segment's group: each other member of the segment gets
    /// its copies as the world decides, held at its port.
    pub(super) fn fan_in(&self, bytes: &[u8]) {
        let Some((envelope, payload)) = Envelope::read(bytes) else {
            self.foreign.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if envelope.tag != self.tag || !envelope.group {
            self.foreign.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let src = envelope.src as usize;
        if src >= self.ports.len() {
            self.foreign.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let world = self.world();
        let sent = Time::from_micros(envelope.at);
        let mut delays = Vec::new();
        for (rank, &to) in world.multicast_members(src).iter().enumerate() {
            if to == src {
                continue;
            }
            delays.clear();
            let datagram = Datagram {
                src,
                seq: envelope.seq + rank as u64,
            };
            {
                // The sender's counts, as the router keeps them.
                let mut routed = self.ports[src].routed();
                world.fate(sent, datagram, to, &mut delays, &mut routed.fates);
                if delays.is_empty() {
                    routed.net.dropped += 1;
                }
                routed.net.sent += delays.len().saturating_sub(1) as u64;
            }
            if delays.is_empty() {
                self.leaf(|keep| {
                    Leaf::datagram(keep, Kind::Drop, sent, sent, src, self.addrs[to], payload)
                });
            }
            for &delay in &delays {
                let due = sent + delay;
                self.leaf(|keep| {
                    Leaf::datagram(keep, Kind::Deliver, sent, due, src, self.addrs[to], payload)
                });
                let port = &self.ports[to];
                if port.is_down() {
                    self.down_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                port.hold(due.as_micros(), envelope.from, payload.to_vec());
                port.wake.notify_one();
            }
        }
    }

    /// Node `to`'s next datagram, once it is due; see [`ShimSocket`].
    async fn recv(&self, to: usize, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let port = &self.ports[to];
        // Made only when the kernel has something to read: a datagram already held and
        // due needs none, and that is most calls.
        let mut scratch = Vec::new();
        loop {
            let now = self.now().as_micros();
            let next = {
                let mut held = port.held();
                match held.peek() {
                    Some(Reverse(first)) if first.due <= now => {
                        let Reverse(first) = held.pop().expect("peeked");
                        drop(held);
                        self.watch.handed(now, now - first.due);
                        self.delivered.fetch_add(1, Ordering::Relaxed);
                        let len = first.bytes.len().min(buf.len());
                        buf[..len].copy_from_slice(&first.bytes[..len]);
                        return Ok((len, first.from));
                    }
                    first => first.map(|Reverse(first)| first.due),
                }
            };
            let sleep = async {
                match next {
                    Some(due) => {
                        let at = self.epoch + std::time::Duration::from_micros(due);
                        tokio::time::sleep_until(at).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ready = port.socket.readable() => {
                    ready?;
                    scratch.resize(ENVELOPE + MAX_DATAGRAM + 1, 0);
                    self.drain(to, &mut scratch);
                }
                () = port.wake.notified() => {}
                () = sleep => {}
            }
        }
    }
}

/// The simulated time on the run's clock: the time since `epoch`.
pub(super) fn sim_now(epoch: tokio::time::Instant) -> Time {
    // The live engine runs in real time: its clock is the host's, as the live
    // driver's is.
    #[allow(clippy::disallowed_methods)]
    let elapsed = tokio::time::Instant::now().saturating_duration_since(epoch);
    Time::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
}

/// Node `node`'s socket, as its driver sees it; see the module docs.
pub(super) struct ShimSocket {
    pub(super) net: Arc<LiveNet>,
    pub(super) node: usize,
}

impl DatagramSocket for ShimSocket {
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.net.send(self.node, buf, target).await;
        Ok(buf.len())
    }

    /// Cancel-safe, as the driver's `select!` needs: what was read from the kernel is
    /// held at the port before any wait.
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        self.net.recv(self.node, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_reads_back_as_written_and_anything_else_is_refused() {
        let envelope = Envelope {
            tag: 0x0102_0304_0506_0708,
            group: true,
            src: 77,
            seq: 9,
            at: 1_234_567,
            from: "203.0.113.9:40001".parse().unwrap(),
        };
        let mut wire = Vec::new();
        envelope.write(&mut wire);
        assert_eq!(wire.len(), ENVELOPE);
        wire.extend_from_slice(b"node bytes");
        let (read, bytes) = Envelope::read(&wire).expect("an envelope");
        assert_eq!(read, envelope);
        assert_eq!(bytes, b"node bytes");
        assert!(Envelope::read(&wire[..ENVELOPE - 1]).is_none(), "too short");
        let mut foreign = wire.clone();
        foreign[0] = b'X';
        assert!(Envelope::read(&foreign).is_none(), "not ours");
        let mut bad = wire;
        bad[12] = 7;
        assert!(Envelope::read(&bad).is_none(), "neither unicast nor group");
    }
}
