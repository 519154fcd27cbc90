//! What [`Sessions`] holds in memory: open sessions apart from handshakes under way
//! (see [`crate::proto::footprint`] for how bytes are estimated).

use std::mem::size_of;

use super::{Sessions, Slot};
use crate::proto::footprint::{btree, deque, vec};
use crate::proto::id::NodeId;
use crate::proto::time::Time;
use crate::proto::wire::SessionId;

/// Bytes of one node's session layer, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SessionBytes {
    /// Open sessions: the slab (every place, free ones included), the by-peer index,
    /// the deadlines, and a server's kept msg4 until the client's first frame.
    pub(crate) open: usize,
    /// Handshakes under way: their boxed state, retransmission bytes and indexes.
    pub(crate) handshakes: usize,
    /// Handshake datagrams and events not taken yet.
    pub(crate) queued: usize,
}

impl Sessions {
    /// What this node's sessions and handshakes hold.
    pub(crate) fn footprint(&self) -> SessionBytes {
        let mut kept = 0;
        let mut handshakes = 0;
        for (_, slot) in self.slots.iter() {
            match slot {
                Slot::Open(open) => {
                    if let Some(accept) = &open.accept {
                        kept += size_of::<([u8; 112], Vec<u8>)>() + vec(&accept.1);
                    }
                }
                Slot::Client(dial) => {
                    handshakes += size_of::<super::Dial>() + vec(&dial.last);
                    handshakes += dial.early.as_ref().map_or(0, |(early, _)| vec(early));
                    handshakes += dial.overtaken.as_ref().map_or(0, |o| vec(&o.ciphertext));
                }
                Slot::Server(half_open) => {
                    handshakes += size_of::<super::HalfOpen>() + vec(&half_open.reply);
                }
            }
        }
        handshakes += btree::<NodeId, SessionId>(self.dialling.len())
            + btree::<(std::net::SocketAddr, SessionId), SessionId>(self.half_open.len())
            + btree::<super::Source, usize>(self.half_open_by_source.len());
        let open = self.slots.heap_bytes()
            + vec(&self.by_peer)
            + btree::<(Time, SessionId), ()>(self.deadlines.len())
            + btree::<SessionId, super::Probe>(self.probes.len())
            + kept;
        let queued = deque(&self.transmits)
            + self
                .transmits
                .iter()
                .map(|(_, bytes)| vec(bytes))
                .sum::<usize>()
            + deque(&self.events);
        SessionBytes {
            open,
            handshakes,
            queued,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Open, Slot};
    use std::mem::size_of;

    /// An open session is the bulk of what a node holds (see `docs/architecture.md`,
    /// "What a node holds"): a change that makes it larger shows here first.
    #[test]
    fn an_open_session_fits_in_its_slot_budget() {
        assert_eq!(size_of::<Open>(), 208, "Open changed size");
        assert_eq!(size_of::<Option<Slot>>(), 208, "a slab place changed size");
    }
}
