//! [`Router`]: what becomes of one datagram a node sends, for every engine.
//!
//! In: the sending node, the destination address, when it is sent, and a source of the
//! sender's sequence numbers. Out: its [`Hop`]s — each copy that arrives (at which
//! node, from which address, after what delay, under which sequence number) and each
//! datagram dropped on the way — and the counts of what was sent and dropped.
//!
//! The rules, written once: a multicast to the segment's beacon group reaches every
//! other node of the sender's segment, one to any other group (a mailbox) only the
//! members listening there; a unicast datagram goes where the [`Network`] routes it
//! (NATs rewrite its source, filters drop it); then the network decides each copy's
//! fate. The engines only turn delays into arrival times (the direct engine to the
//! microsecond, the turmoil engine to its next 1 ms step) and queue the copies.

use std::net::SocketAddr;
use std::time::Duration;

use crate::proto::Time;

use super::network::{Datagram, Fates, Network, Route};
use super::trace::{Kind, Leaf};
use super::NetStats;

/// One outcome of a routed datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// A copy arrives at node `to`, which sees it come from `from`, `delay` after it
    /// was sent; `seq` is the sender's sequence number for this copy.
    Arrive {
        /// The receiving node.
        to: usize,
        /// The source address the receiver sees.
        from: SocketAddr,
        /// Its one-way delay.
        delay: Duration,
        /// The sender's sequence number for this copy.
        seq: u64,
    },
    /// Lost, filtered, cut, or addressed to nobody: `dst` is where it was going.
    Drop {
        /// The address it was sent to (a node's, for a copy the network lost).
        dst: SocketAddr,
    },
}

impl Hop {
    /// The trace entry of this hop of a datagram node `src` sent at `now` with
    /// `payload`, arriving (if it does) at `at`: what every engine traces.
    pub fn leaf(
        &self,
        keep: bool,
        addrs: &[SocketAddr],
        src: usize,
        now: Time,
        at: Time,
        payload: &[u8],
    ) -> Leaf {
        match *self {
            Hop::Arrive { to, .. } => {
                Leaf::datagram(keep, Kind::Deliver, now, at, src, addrs[to], payload)
            }
            Hop::Drop { dst } => Leaf::datagram(keep, Kind::Drop, now, now, src, dst, payload),
        }
    }
}

/// What routing produced: the hops of the datagram just routed (for the engine to
/// take), and running counts. Each engine, or each part of one, keeps its own.
#[derive(Debug, Default)]
pub struct Routed {
    /// The hops of the datagrams routed since the engine last took them, in order.
    pub hops: Vec<Hop>,
    /// Datagrams sent and dropped (the engine counts those delivered).
    pub net: NetStats,
    /// What the network did to them, by cause.
    pub fates: Fates,
    delays: Vec<Duration>,
}

/// The routing rules over one network; see the module docs.
pub struct Router<'a, N> {
    /// The network.
    pub network: &'a N,
    /// Every node's address, by index.
    pub addrs: &'a [SocketAddr],
    /// Every node's mailbox group, if it listens at one.
    pub mailboxes: &'a [Option<SocketAddr>],
}

impl<N: Network> Router<'_, N> {
    /// Routes a datagram node `src` sends to `dst` at `now` (`beacons`: the group its
    /// segment's beacons go to, if any), pushing its hops onto `out.hops`, in order.
    /// `next_seq` hands out the sender's sequence numbers, one per datagram on the
    /// wire.
    pub fn route(
        &self,
        now: Time,
        src: usize,
        beacons: Option<SocketAddr>,
        dst: SocketAddr,
        next_seq: &mut dyn FnMut() -> u64,
        out: &mut Routed,
    ) {
        if dst.ip().is_multicast() {
            let members = self.network.multicast_members(src);
            if members.is_empty() {
                out.net.sent += 1;
                out.net.dropped += 1;
                out.hops.push(Hop::Drop { dst });
                return;
            }
            let from = self.addrs[src];
            // The beacon group reaches the whole segment; any other group (a mailbox)
            // only the members listening there.
            let everyone = beacons == Some(dst);
            for &to in members {
                if to != src && (everyone || self.mailboxes[to] == Some(dst)) {
                    out.net.sent += 1;
                    self.fate(now, src, from, to, next_seq, out);
                }
            }
            return;
        }
        out.net.sent += 1;
        let route = self
            .network
            .route(now, src, self.addrs[src], dst, self.addrs.len());
        match route {
            Route::Deliver { to, from } => self.fate(now, src, from, to, next_seq, out),
            Route::Unroutable | Route::Filtered => {
                out.net.dropped += 1;
                out.hops.push(Hop::Drop { dst });
            }
        }
    }

    /// The copies of one datagram from `src` (seen as from `from`) to node `to`.
    fn fate(
        &self,
        now: Time,
        src: usize,
        from: SocketAddr,
        to: usize,
        next_seq: &mut dyn FnMut() -> u64,
        out: &mut Routed,
    ) {
        let seq = next_seq();
        let mut delays = std::mem::take(&mut out.delays);
        delays.clear();
        self.network
            .fate(now, Datagram { src, seq }, to, &mut delays, &mut out.fates);
        if delays.is_empty() {
            out.net.dropped += 1;
            out.hops.push(Hop::Drop {
                dst: self.addrs[to],
            });
        }
        for (copy, &delay) in delays.iter().enumerate() {
            debug_assert!(
                delay >= self.network.lookahead(),
                "no datagram arrives sooner than the network's lookahead"
            );
            let seq = if copy == 0 {
                seq
            } else {
                out.net.sent += 1; // a duplicate is one more datagram on the wire
                next_seq()
            };
            out.hops.push(Hop::Arrive {
                to,
                from,
                delay,
                seq,
            });
        }
        out.delays = delays;
    }
}
