//! UDP sockets for live nodes: a unicast socket that also sends beacons to the
//! multicast group, and a shared socket that receives the group's beacons.
//!
//! Loopback multicast, IPv4: the sending socket names 127.0.0.1 as its multicast
//! interface, uses TTL 0 (host-local) unless told otherwise, and keeps loopback
//! delivery on. The receiving socket joins the group on 127.0.0.1 and binds the group
//! address with `SO_REUSEADDR`/`SO_REUSEPORT`, so that every node of every process on
//! the host gets every beacon. `lo` has no MULTICAST flag, and this works anyway.
//!
//! IPv6 is the same on `::1`, with the interface named by its index ([`Interface`]:
//! `lo`'s, read from the system) and hop limit for TTL; the beacon group is
//! link-local (`ff12::/16`, [`DEFAULT_GROUP_V6`]) and bound with that interface as its
//! scope. IPv6 multicast on `lo` needs a multicast route on `lo`, which Linux does
//! not add by itself (`lo` has no MULTICAST flag): where it is missing a send fails
//! with "Network is unreachable". [`probe`] finds out before a node relies on it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// Where live beacons go unless configured otherwise: the group of the simulated
/// segments, so that one group is written once.
pub const DEFAULT_GROUP: SocketAddr = crate::harness::MULTICAST_GROUP;

/// Where live beacons of IPv6 nodes go unless configured otherwise: a link-local
/// group (`ff12::/16`: transient, link scope), on [`DEFAULT_GROUP`]'s port; the
/// simulated segments' IPv6 group.
pub const DEFAULT_GROUP_V6: SocketAddr = crate::harness::MULTICAST_GROUP_V6;

/// The default beacon group of nodes whose UDP socket is of `udp`'s family.
pub fn default_group(udp: SocketAddr) -> SocketAddr {
    match udp {
        SocketAddr::V4(_) => DEFAULT_GROUP,
        SocketAddr::V6(_) => DEFAULT_GROUP_V6,
    }
}

/// The receive buffer asked for (the kernel may cap it: `net.core.rmem_max`). The
/// default of about 200 KiB holds a few hundred datagrams, and a bootstrap node that
/// a whole swarm dials at once gets more than that in a burst.
const RECV_BUFFER: usize = 2 << 20;

/// How long [`probe`] waits for its datagram to come back.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The interface multicast is sent and joined on: an IPv4 address, or an IPv6
/// interface index (0 lets the kernel pick, which need not be `lo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// The interface with this address.
    V4(Ipv4Addr),
    /// The interface with this index.
    V6(u32),
}

impl Interface {
    /// The interface a node bound to `udp` multicasts on: the address's own for an
    /// IPv4 address, else loopback; for IPv6, `lo` for `::1` and `::`, else 0 (the
    /// kernel's choice).
    pub fn for_udp(udp: SocketAddr) -> io::Result<Interface> {
        Ok(match udp.ip() {
            IpAddr::V4(ip) if !ip.is_unspecified() => Interface::V4(ip),
            IpAddr::V4(_) => Interface::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_loopback() || ip.is_unspecified() => {
                Interface::V6(loopback_index()?)
            }
            IpAddr::V6(_) => Interface::V6(0),
        })
    }
}

/// The index of the loopback interface `lo`, as the system says (`/sys/class/net`);
/// socket2 has no `if_nametoindex`, and guessing 1 could name another interface.
pub fn loopback_index() -> io::Result<u32> {
    let path = "/sys/class/net/lo/ifindex";
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("the index of `lo` ({path}): {e}")))?;
    text.trim().parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the index of `lo` ({path}): {e}"),
        )
    })
}

fn family_mismatch(what: &str, addr: SocketAddr, interface: Interface) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{what} {addr} and the multicast interface {interface:?} are of different families"
        ),
    )
}

/// The node's own socket: bound to `bind` (port 0 asks the OS), sending multicast on
/// `interface` with `ttl` (the hop limit, for IPv6).
pub fn unicast(bind: SocketAddr, interface: Interface, ttl: u32) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    if bind.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&bind.into())?;
    // Best effort: a smaller buffer only drops more in bursts.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    match (bind, interface) {
        (SocketAddr::V4(_), Interface::V4(interface)) => {
            socket.set_multicast_if_v4(&interface)?;
            socket.set_multicast_ttl_v4(ttl)?;
            socket.set_multicast_loop_v4(true)?;
        }
        (SocketAddr::V6(_), Interface::V6(index)) => {
            socket.set_multicast_if_v6(index)?;
            socket.set_multicast_hops_v6(ttl)?;
            socket.set_multicast_loop_v6(true)?;
        }
        _ => return Err(family_mismatch("the UDP address", bind, interface)),
    }
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// A socket that receives the beacons sent to `group`, joined on `interface`.
pub fn multicast(group: SocketAddr, interface: Interface) -> io::Result<UdpSocket> {
    if !group.ip().is_multicast() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a multicast address", group.ip()),
        ));
    }
    let socket = Socket::new(Domain::for_address(group), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    match (group, interface) {
        (SocketAddr::V4(v4), Interface::V4(interface)) => {
            socket.bind(&group.into())?;
            socket.join_multicast_v4(v4.ip(), &interface)?;
            socket.set_multicast_loop_v4(true)?;
        }
        (SocketAddr::V6(v6), Interface::V6(index)) => {
            socket.set_only_v6(true)?;
            // A link-local group is bound with its interface as scope.
            let scoped = SocketAddrV6::new(*v6.ip(), v6.port(), 0, index);
            socket.bind(&SocketAddr::V6(scoped).into())?;
            socket.join_multicast_v6(v6.ip(), index)?;
            socket.set_multicast_loop_v6(true)?;
        }
        _ => return Err(family_mismatch("the multicast group", group, interface)),
    }
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Whether multicast to `group`'s address works on `interface` from a socket bound to
/// `from` (port ignored): joins the group on a port of its own (so no node hears the
/// probe), sends one datagram, and waits for it. The error says what failed: the
/// bind, the join, the send ("Network is unreachable" where IPv6 `lo` has no multicast
/// route), or the datagram that never came back.
pub async fn probe(from: SocketAddr, group: SocketAddr, interface: Interface) -> io::Result<()> {
    let context = |step: &str, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("multicast to {} on {interface:?}: {step}: {e}", group.ip()),
        )
    };
    let receiver = multicast(SocketAddr::new(group.ip(), 0), interface)
        .map_err(|e| context("cannot join", e))?;
    let port = receiver.local_addr()?.port();
    let sender = unicast(SocketAddr::new(from.ip(), 0), interface, 0)
        .map_err(|e| context("cannot bind", e))?;
    let target = match group {
        SocketAddr::V6(v6) => {
            let Interface::V6(index) = interface else {
                return Err(family_mismatch("the multicast group", group, interface));
            };
            SocketAddr::V6(SocketAddrV6::new(*v6.ip(), port, 0, index))
        }
        SocketAddr::V4(_) => SocketAddr::new(group.ip(), port),
    };
    let ping = b"dswarm multicast probe";
    sender
        .send_to(ping, target)
        .await
        .map_err(|e| context("cannot send", e))?;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(PROBE_TIMEOUT, receiver.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) if &buf[..n] == ping => Ok(()),
        Ok(Ok(_)) => Err(context(
            "no echo",
            io::Error::new(io::ErrorKind::InvalidData, "the probe came back changed"),
        )),
        Ok(Err(e)) => Err(context("cannot receive", e)),
        Err(_) => Err(context(
            "no echo",
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the probe did not come back within {} ms",
                    PROBE_TIMEOUT.as_millis()
                ),
            ),
        )),
    }
}

/// The multicast sockets of one node as one receiver: the beacon group's and, for a
/// node that keeps one, its mailbox's (each bound to its own group, so each hears only
/// its own). Sending goes through the node's unicast socket, never through these.
#[derive(Debug)]
pub struct Groups {
    beacons: UdpSocket,
    mailbox: Option<UdpSocket>,
}

impl Groups {
    /// The beacon group's socket, and the mailbox's if there is one.
    pub fn new(beacons: UdpSocket, mailbox: Option<UdpSocket>) -> Groups {
        Groups { beacons, mailbox }
    }

    async fn recv_any(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let Some(mailbox) = &self.mailbox else {
            return self.beacons.recv_from(buf).await;
        };
        loop {
            // Wait for either to be readable, then read without blocking: two
            // `recv_from`s at once would need the buffer twice.
            let socket = tokio::select! {
                ready = self.beacons.readable() => { ready?; &self.beacons }
                ready = mailbox.readable() => { ready?; mailbox }
            };
            match socket.try_recv_from(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                result => return result,
            }
        }
    }
}

impl crate::live::driver::DatagramSocket for Groups {
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl std::future::Future<Output = io::Result<usize>> + Send {
        self.beacons.send_to(buf, target)
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl std::future::Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        self.recv_any(buf)
    }
}
