//! Path validation: how an open session moves to a new address, and what an address
//! not validated yet may be sent.
//!
//! In: authentic frames of an open session that came from an address other than its
//! validated one (`Sessions::open_inner` hands them over), the peer's path challenges
//! and responses, and frames to send. Out: path challenges to the new address, the
//! echo of the peer's challenges, the session's move once its challenge is echoed, and
//! for every frame sent the address it may go to.
//!
//! What holds: an address gets the session only after it echoed a token it could
//! only know by receiving there (QUIC's path validation, RFC 9000 §8.2). Until then it
//! is sent at most [`AMPLIFICATION_LIMIT`] times the bytes received from it; frames
//! beyond that go to the validated address, or nowhere when only the new address would
//! do ([`Sessions::seal_to`]). So a peer that seals requests with a victim's address
//! as their source makes this node send the victim at most three times what it sent,
//! and moves nothing.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use super::{Sessions, Slot};
use crate::proto::crypto::Crypto;
use crate::proto::id::NodeId;
use crate::proto::relay_path;
use crate::proto::time::Time;
use crate::proto::wire::{Message, Notice, SessionId};

/// An address a session has not validated gets at most this many times the bytes
/// received from it (QUIC's anti-amplification limit, RFC 9000 §8).
pub const AMPLIFICATION_LIMIT: u64 = 3;

/// A new address a session's frames came from, until it echoes a challenge. Bytes
/// count whole datagrams, in both directions.
#[derive(Debug)]
pub(super) struct Probe {
    addr: SocketAddr,
    /// Bytes of authentic frames received from `addr`.
    received: u64,
    /// Bytes sent to `addr`: challenges and frames.
    sent: u64,
    /// The counter of the frame that first came from `addr`: with the session and
    /// the address, what a challenge's token is made of.
    since: u64,
    /// When the last challenge went (every challenge of a probe carries the same
    /// token, [`Sessions::path_token`]).
    challenge: Option<Time>,
}

impl Probe {
    /// Whether `len` more bytes to `addr` stay within the limit, counting them if so.
    fn spend(&mut self, len: usize) -> bool {
        let after = self.sent + len as u64;
        let within = after <= AMPLIFICATION_LIMIT * self.received;
        if within {
            self.sent = after;
        }
        within
    }
}

impl Sessions {
    /// An authentic frame of session `id` (validated address `addr`) with `counter`,
    /// in a datagram of `len` bytes, came from `from`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_frame_from(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        id: SessionId,
        addr: SocketAddr,
        from: SocketAddr,
        counter: u64,
        len: usize,
    ) {
        if from == addr {
            // Frames by the validated path end no challenge: while a relayed session
            // validates a punched path, the relay still carries frames.
            return;
        }
        // The peer moved (a NAT rebinding, a hole punched next to a relayed path), or
        // it sends from a victim's address. A relayed copy arriving late does not
        // move a session off a direct path.
        if relay_path::is_relay_path(from) && !relay_path::is_relay_path(addr) {
            return;
        }
        self.on_new_path(now, crypto, id, from, counter, len);
    }

    /// An authentic frame of session `id` (its counter, its datagram's length) came
    /// from `from`, which is not the session's validated address: counts the bytes
    /// `from` may be sent, and challenges it, once a handshake timeout at most.
    fn on_new_path(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        id: SessionId,
        from: SocketAddr,
        counter: u64,
        len: usize,
    ) {
        let probe = self.probes.entry(id).or_insert(Probe {
            addr: from,
            received: 0,
            sent: 0,
            since: counter,
            challenge: None,
        });
        if probe.addr != from {
            // Another new address: the newest is the one the peer is at, if any.
            *probe = Probe {
                addr: from,
                received: 0,
                sent: 0,
                since: counter,
                challenge: None,
            };
        }
        probe.received += len as u64;
        let due = probe
            .challenge
            .is_none_or(|at| now >= at + self.config.handshake_timeout);
        if !due {
            return;
        }
        let since = probe.since;
        let token = self.path_token(id, since, from);
        let challenge = Message::Notice(Notice::PathChallenge { token });
        if self.seal_path_frame(crypto, id, &challenge, Some(from)) {
            self.stats.path_challenges += 1;
            if let Some(probe) = self.probes.get_mut(&id) {
                probe.challenge = Some(now);
            }
        }
    }

    /// The token a challenge of session `id`'s probe of `addr` carries: keyed by this
    /// node's secret, so only a peer that received the challenge can echo it.
    fn path_token(&self, id: SessionId, since: u64, addr: SocketAddr) -> u64 {
        let digest = Sha256::new()
            .chain_update(self.path_key)
            .chain_update(id.0.to_be_bytes())
            .chain_update(since.to_be_bytes())
            .chain_update(addr.to_string())
            .finalize();
        let mut token = [0u8; 8];
        token.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(token)
    }

    /// The peer echoed `token` in session `id`: if it is the challenge's, the probed
    /// address receives, and the session moves there.
    pub(super) fn on_path_response(&mut self, id: SessionId, token: u64) {
        let probed = match self.probes.get(&id) {
            Some(probe) if probe.challenge.is_some() => {
                Some(probe.addr).filter(|&addr| self.path_token(id, probe.since, addr) == token)
            }
            _ => None,
        };
        let Some(addr) = probed else {
            self.stats.path_responses_unmatched += 1;
            return;
        };
        self.probes.remove(&id);
        if let Some(Slot::Open(open)) = self.slots.get_mut(&id) {
            open.addr = addr;
            self.stats.paths_validated += 1;
        }
    }

    /// Seals a path frame in session `id` and queues it: to `to` if given (a
    /// challenge goes to the address it tests), else where the session sends. Within
    /// the amplification limit of an address not validated; whether it went.
    pub(super) fn seal_path_frame(
        &mut self,
        crypto: &dyn Crypto,
        id: SessionId,
        message: &Message,
        to: Option<SocketAddr>,
    ) -> bool {
        let mut plaintext = Vec::with_capacity(9);
        message.encode(&mut plaintext);
        let Some((addr, datagram)) = self.seal_in(crypto, id, &plaintext, None) else {
            return false;
        };
        let Some(dst) = self.destination(id, addr, to, datagram.len()) else {
            return false;
        };
        self.transmits.push_back((dst, datagram));
        true
    }

    /// Where a datagram of `len` bytes of session `id` (validated address `addr`)
    /// goes: to `to` if given, else to the address under validation while within
    /// the amplification limit, else to `addr`. `None` if `to` is neither the
    /// validated address nor one that may still be sent to.
    pub(super) fn destination(
        &mut self,
        id: SessionId,
        addr: SocketAddr,
        to: Option<SocketAddr>,
        len: usize,
    ) -> Option<SocketAddr> {
        if to.is_none_or(|to| to == addr) && !self.probes.contains_key(&id) {
            return Some(addr);
        }
        let spent = self
            .probes
            .get_mut(&id)
            .filter(|probe| to.is_none_or(|to| to == probe.addr))
            .map(|probe| (probe.addr, probe.spend(len)));
        match (spent, to) {
            (Some((probed, true)), _) => Some(probed),
            (_, Some(to)) if to == addr => Some(addr),
            (Some(_), None) => {
                self.stats.path_sends_limited += 1;
                Some(addr)
            }
            _ => {
                self.stats.path_sends_limited += 1;
                None
            }
        }
    }

    /// The address `peer`'s newest session is validating, if its frames came from a
    /// new one: where it moves if the address answers.
    pub fn moving_to(&self, peer: &NodeId) -> Option<SocketAddr> {
        let id = self.newest(peer)?;
        self.probes.get(&id).map(|probe| probe.addr)
    }

    /// The address a frame of session `receiver` that opened from `from` counts as
    /// coming from: `from`, unless `from` is a new address still being validated;
    /// then the session's validated address. (Routing tables, write tokens and
    /// answers' senders take this one: a spoofed source redirects nothing.)
    pub fn path_of(&self, receiver: SessionId, from: SocketAddr) -> SocketAddr {
        match (self.probes.get(&receiver), self.slots.get(&receiver)) {
            (Some(probe), Some(Slot::Open(open))) if probe.addr == from => open.addr,
            _ => from,
        }
    }
}

#[cfg(test)]
mod tests;
