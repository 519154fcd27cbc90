//! Hellos, the server's side, and the cookies that make a flood of them cheap.
//!
//! In: a hello (SHS1 msg1, with or without a cookie beside it) from an address, the
//! clock and the node's RNG; on the dialling side, a cookie reply. Out: msg2 and a
//! half-open handshake, or (under load) a cookie reply and nothing kept, or nothing at
//! all; on the dialling side, the hello sent again with the cookie.
//!
//! What holds:
//! - The network key's HMAC is checked first: a hello without it costs a hash, no key,
//!   no cookie, and evicts nothing.
//! - Under load (at least `cookie_load` half-open handshakes held), a hello keeps no
//!   state and costs no key unless it brings a cookie minted for its source address,
//!   its session number and its msg1 within the last one to two [`COOKIE_PERIOD`]s. It
//!   is answered with a cookie reply instead, smaller than the hello, so it amplifies
//!   nothing: only a source that receives at its address gets to cost a key (WireGuard's
//!   cookie reply, QUIC's Retry).
//! - The cookie is a MAC under a secret drawn from the node's RNG the first time one is
//!   needed in a period, and replaced each period; the one before it is kept to check
//!   cookies minted just before the change. Below load no secret is drawn, so nothing
//!   changes, not even the RNG's sequence.
//! - Half-open handshakes are bounded per source host and in total; at the total bound
//!   the oldest makes room.

use std::net::SocketAddr;
use std::time::Duration;

use rand_core::RngCore;

use super::{HalfOpen, Sessions, Slot, Source};
use crate::proto::crypto::Crypto;
use crate::proto::handshake::{self, ServerHandshake};
use crate::proto::time::Time;
use crate::proto::wire::{Datagram, Handshake, SessionId, COOKIE_LEN};

/// How long a cookie secret is used to mint: a cookie checks out for one to two
/// periods after it was minted (a client sends it back within a round trip).
pub const COOKIE_PERIOD: Duration = Duration::from_secs(60);

/// Cookie replies a dial follows at once; later ones only replace the cookie its
/// retransmissions carry, so forged replies cannot make a client send at their pace.
pub(super) const COOKIES_FOLLOWED_MAX: u8 = 3;

/// The secrets cookies are minted under: this period's and the one before, each with
/// its period's number.
#[derive(Debug, Default)]
pub(super) struct CookieSecrets {
    current: Option<(u64, [u8; 32])>,
    previous: Option<(u64, [u8; 32])>,
}

fn period_of(now: Time) -> u64 {
    let period = u64::try_from(COOKIE_PERIOD.as_micros()).unwrap_or(u64::MAX);
    now.as_micros() / period.max(1)
}

/// The cookie's MAC input: its period, the source address, the hello's session
/// number and msg1 (its HMAC and ephemeral key).
fn cookie_input(period: u64, from: SocketAddr, client: SessionId, msg1: &[u8; 64]) -> Vec<u8> {
    let mut input = Vec::with_capacity(16 + 8 + 16 + 2 + 4 + 64);
    input.extend_from_slice(b"dswarm-cookie-v1");
    input.extend_from_slice(&period.to_be_bytes());
    let ip = match from.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    input.extend_from_slice(&ip.octets());
    input.extend_from_slice(&from.port().to_be_bytes());
    input.extend_from_slice(&client.0.to_be_bytes());
    input.extend_from_slice(msg1);
    input
}

fn mac(
    crypto: &dyn Crypto,
    (period, secret): (u64, [u8; 32]),
    from: SocketAddr,
    client: SessionId,
    msg1: &[u8; 64],
) -> [u8; COOKIE_LEN] {
    let tag = crypto.auth(&secret, &cookie_input(period, from, client, msg1));
    let mut cookie = [0u8; COOKIE_LEN];
    cookie.copy_from_slice(&tag[..COOKIE_LEN]);
    cookie
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn same(a: &[u8; COOKIE_LEN], b: &[u8; COOKIE_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

impl CookieSecrets {
    /// A cookie for this hello, under this period's secret (drawn now if this period
    /// has none yet).
    pub(super) fn mint(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        rng: &mut impl RngCore,
        from: SocketAddr,
        client: SessionId,
        msg1: &[u8; 64],
    ) -> [u8; COOKIE_LEN] {
        let period = period_of(now);
        let current = match self.current {
            Some(current) if current.0 >= period => current,
            last => {
                self.previous = last.filter(|(p, _)| p + 1 == period);
                let mut secret = [0u8; 32];
                rng.fill_bytes(&mut secret);
                self.current = Some((period, secret));
                (period, secret)
            }
        };
        mac(crypto, current, from, client, msg1)
    }

    /// Whether `cookie` was minted for this hello in this period or the one before.
    pub(super) fn check(
        &self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        client: SessionId,
        msg1: &[u8; 64],
        cookie: &[u8; COOKIE_LEN],
    ) -> bool {
        let period = period_of(now);
        [self.current, self.previous]
            .into_iter()
            .flatten()
            .filter(|(p, _)| *p == period || p + 1 == period)
            .any(|secret| same(&mac(crypto, secret, from, client, msg1), cookie))
    }
}

impl Sessions {
    /// A hello from `from`, with the cookie it brought if any.
    #[allow(clippy::too_many_arguments)] // One hello's parts, as they came.
    pub(super) fn on_hello(
        &mut self,
        now: Time,
        crypto: &dyn Crypto,
        from: SocketAddr,
        client: SessionId,
        msg1: &[u8; 64],
        cookie: Option<&[u8; COOKIE_LEN]>,
        rng: &mut impl RngCore,
    ) {
        if let Some(id) = self.half_open.get(&(from, client)) {
            // A duplicate: the same answer again.
            if let Some(Slot::Server(half_open)) = self.slots.get(id) {
                self.transmits.push_back((from, half_open.reply.clone()));
            }
            return;
        }
        // The network key's HMAC first: it costs a hash, where what follows costs a
        // key generation and may evict an honest half-open handshake.
        let client_key = match handshake::open_hello(crypto, &self.network_key, msg1) {
            Ok(client_key) => client_key,
            Err(error) => {
                self.stats.handshakes_rejected += 1;
                tracing::debug!(%from, %error, "refusing hello");
                return;
            }
        };
        if self.half_open.len() >= self.config.cookie_load {
            // Under load: state and a key only for a source that proved it receives.
            let valid = cookie
                .is_some_and(|cookie| self.cookies.check(now, crypto, from, client, msg1, cookie));
            if valid {
                self.stats.cookie_hellos += 1;
            } else {
                if cookie.is_some() {
                    self.stats.cookies_refused += 1;
                }
                let cookie = self.cookies.mint(now, crypto, rng, from, client, msg1);
                let reply = Datagram::Handshake(Handshake::Cookie { client, cookie });
                self.transmits.push_back((from, reply.to_bytes()));
                self.stats.cookies_sent += 1;
                return;
            }
        }
        let per_source = self
            .half_open_by_source
            .get(&Source::of(from))
            .copied()
            .unwrap_or(0);
        if per_source >= self.config.half_open_per_source_max {
            self.stats.half_open_refused += 1;
            return;
        }
        if self.half_open.len() >= self.config.half_open_max && !self.evict_oldest_half_open() {
            self.stats.half_open_refused += 1;
            return;
        }
        let mut ephemeral = [0u8; 32];
        rng.fill_bytes(&mut ephemeral);
        let mut handshake =
            ServerHandshake::new(crypto, self.network_key, self.identity.clone(), ephemeral);
        let msg2 = match handshake.handle_opened_hello(crypto, msg1, client_key) {
            Ok(msg2) => msg2,
            Err(error) => {
                self.stats.handshakes_rejected += 1;
                tracing::debug!(%from, %error, "refusing hello");
                return;
            }
        };
        let id = self.new_id(rng);
        let reply = Datagram::Handshake(Handshake::HelloReply {
            client,
            server: id,
            msg: msg2,
        })
        .to_bytes();
        self.transmits.push_back((from, reply.clone()));
        self.half_open.insert((from, client), id);
        *self
            .half_open_by_source
            .entry(Source::of(from))
            .or_default() += 1;
        // A half-open handshake lives as long as the client would keep retrying.
        let patience = self.config.handshake_timeout
            * ((1u32 << self.config.handshake_retries_max.min(16)) * 2);
        self.set_slot(
            id,
            Slot::Server(Box::new(HalfOpen {
                handshake,
                addr: from,
                client,
                reply,
                deadline: now + patience,
            })),
        );
    }

    /// A cookie reply to a hello this node dialled: the hello goes again with the
    /// cookie beside it (at once for the first few replies, else with the next
    /// retransmission).
    pub(super) fn on_cookie(
        &mut self,
        from: SocketAddr,
        client: SessionId,
        cookie: [u8; COOKIE_LEN],
    ) {
        let Some(Slot::Client(dial)) = self.slots.get_mut(&client) else {
            self.stats.handshake_unmatched += 1;
            return;
        };
        let multicast = dial.addr.ip().is_multicast();
        if dial.server.is_some() || (dial.addr != from && !multicast) {
            // msg2 came already, or the reply is not from the server dialled.
            self.stats.handshake_unmatched += 1;
            return;
        }
        // A dial to a multicast mailbox: the cookie holds only at the address that
        // minted it, so the hello goes there now.
        dial.addr = from;
        dial.last = Datagram::Handshake(Handshake::CookieHello {
            client,
            msg: dial.handshake.hello(),
            cookie,
        })
        .to_bytes();
        if dial.cookies < COOKIES_FOLLOWED_MAX {
            dial.cookies += 1;
            self.transmits.push_back((from, dial.last.clone()));
            self.stats.cookies_followed += 1;
        }
    }

    /// Drops the half-open server handshake that started first (every one waits the
    /// same patience, so its deadline is the earliest); `false` if none is held.
    fn evict_oldest_half_open(&mut self) -> bool {
        let oldest = self
            .deadlines
            .iter()
            .map(|&(_, id)| id)
            .find(|id| matches!(self.slots.get(id), Some(Slot::Server(_))));
        let Some(id) = oldest else {
            return false;
        };
        if let Some(Slot::Server(half_open)) = self.take_slot(id) {
            self.forget_half_open(half_open.addr, half_open.client);
            self.stats.half_open_evicted += 1;
        }
        true
    }

    pub(super) fn forget_half_open(&mut self, addr: SocketAddr, client: SessionId) {
        if self.half_open.remove(&(addr, client)).is_some() {
            let source = Source::of(addr);
            if let Some(n) = self.half_open_by_source.get_mut(&source) {
                *n -= 1;
                if *n == 0 {
                    self.half_open_by_source.remove(&source);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
