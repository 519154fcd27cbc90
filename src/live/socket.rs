//! UDP sockets for live nodes: a unicast socket that also sends beacons to the
//! multicast group, and a shared socket that receives the group's beacons.
//!
//! Loopback multicast: the sending socket names 127.0.0.1 as its multicast interface,
//! uses TTL 0 (host-local) unless told otherwise, and keeps loopback delivery on. The
//! receiving socket joins the group on 127.0.0.1 and binds the group address with
//! `SO_REUSEADDR`/`SO_REUSEPORT`, so that every node of every process on the host gets
//! every beacon. `lo` has no MULTICAST flag, and this works anyway.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// Where live beacons go unless configured otherwise.
pub const DEFAULT_GROUP: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(239, 255, 77, 77)), 17760);

/// The receive buffer asked for (the kernel may cap it: `net.core.rmem_max`). The
/// default of about 200 KiB holds a few hundred datagrams, and a bootstrap node that
/// a whole swarm dials at once gets more than that in a burst.
const RECV_BUFFER: usize = 2 << 20;

/// The node's own socket: bound to `bind` (port 0 asks the OS), sending multicast on
/// `interface` with `ttl`.
pub fn unicast(bind: SocketAddr, interface: Ipv4Addr, ttl: u32) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    socket.bind(&bind.into())?;
    // Best effort: a smaller buffer only drops more in bursts.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    if bind.is_ipv4() {
        socket.set_multicast_if_v4(&interface)?;
        socket.set_multicast_ttl_v4(ttl)?;
        socket.set_multicast_loop_v4(true)?;
    }
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// A socket that receives the beacons sent to `group`, joined on `interface`.
pub fn multicast(group: SocketAddr, interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let IpAddr::V4(group_ip) = group.ip() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the multicast group must be IPv4",
        ));
    };
    if !group_ip.is_multicast() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{group_ip} is not a multicast address"),
        ));
    }
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&group.into())?;
    socket.join_multicast_v4(&group_ip, &interface)?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
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
