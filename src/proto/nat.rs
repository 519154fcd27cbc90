//! NAT classification from reflexive addresses, as HyperDHT does it.
//!
//! In: the node's own bound address (when the driver knows it) and, one by one, the
//! address a peer saw its datagrams come from ([`Response::Pong`]'s `observed`).
//! Out: the node's [`NatKind`] and its reflexive address.
//!
//! Rules, over the latest reports of distinct peers (by address), once there are
//! [`REPORTS_NEEDED`] of them: different ports or IPs seen by different peers mean a
//! NAT that maps each destination anew (`Random`); one address everywhere that is the
//! node's own means no NAT (`Open`); one address that is not its own means a NAT that
//! keeps one mapping (`Consistent`). Without a known own address the node cannot tell
//! `Open` from `Consistent` and stays `Unknown`, which the node treats as reachable,
//! as it did before it classified anything.
//!
//! [`Response::Pong`]: super::wire::Response::Pong

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::wire::NatKind;

/// Reports from distinct peers needed before classifying.
pub const REPORTS_NEEDED: usize = 3;
/// Reports kept: the latest of this many distinct peers.
const REPORTS_KEPT: usize = 5;

/// See the module docs.
#[derive(Clone, Debug)]
pub struct NatObserver {
    local: Option<SocketAddr>,
    /// (reporting peer's address, what it saw), newest last, one per reporter.
    reports: VecDeque<(SocketAddr, SocketAddr)>,
    kind: NatKind,
}

impl NatObserver {
    /// Heap bytes of the reports kept.
    pub fn heap_bytes(&self) -> usize {
        crate::proto::footprint::deque(&self.reports)
    }

    /// An observer for a node bound at `local`, if known. An unspecified IP
    /// (`0.0.0.0`) matches any IP.
    pub fn new(local: Option<SocketAddr>) -> NatObserver {
        NatObserver {
            local,
            reports: VecDeque::new(),
            kind: NatKind::Unknown,
        }
    }

    /// The current classification.
    pub fn kind(&self) -> NatKind {
        self.kind
    }

    /// The address peers see, if they agree on one (the latest report otherwise).
    pub fn reflexive(&self) -> Option<SocketAddr> {
        self.reports.back().map(|(_, seen)| *seen)
    }

    /// Records that the peer at `reporter` saw this node at `observed`. Returns the
    /// new kind when the classification changed.
    pub fn report(&mut self, reporter: SocketAddr, observed: SocketAddr) -> Option<NatKind> {
        if let Some(at) = self.reports.iter().position(|(r, _)| *r == reporter) {
            self.reports.remove(at);
        }
        self.reports.push_back((reporter, observed));
        if self.reports.len() > REPORTS_KEPT {
            self.reports.pop_front();
        }
        let kind = self.classify();
        (kind != self.kind).then(|| {
            self.kind = kind;
            kind
        })
    }

    fn classify(&self) -> NatKind {
        if self.reports.len() < REPORTS_NEEDED {
            return self.kind;
        }
        let first = self.reports[0].1;
        if self.reports.iter().any(|(_, seen)| *seen != first) {
            return NatKind::Random;
        }
        match self.local {
            Some(local) if is_own(local, first) => NatKind::Open,
            Some(_) => NatKind::Consistent,
            None => NatKind::Unknown,
        }
    }
}

fn is_own(local: SocketAddr, seen: SocketAddr) -> bool {
    local.port() == seen.port() && (local.ip().is_unspecified() || local.ip() == seen.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn classify(local: Option<&str>, seen: &[&str]) -> NatKind {
        let mut nat = NatObserver::new(local.map(addr));
        for (i, s) in seen.iter().enumerate() {
            nat.report(addr(&format!("10.9.0.{}:7000", i + 1)), addr(s));
        }
        nat.kind()
    }

    #[test]
    fn classifies_from_what_peers_saw() {
        let own = Some("10.0.0.5:7000");
        let cases = [
            (own, &["10.0.0.5:7000"; 2][..], NatKind::Unknown),
            (own, &["10.0.0.5:7000"; 3][..], NatKind::Open),
            (
                Some("0.0.0.0:7000"),
                &["127.0.0.1:7000"; 3][..],
                NatKind::Open,
            ),
            (own, &["100.64.0.9:41000"; 3][..], NatKind::Consistent),
            (
                own,
                &["100.64.0.9:41000", "100.64.0.9:41001", "100.64.0.9:41002"][..],
                NatKind::Random,
            ),
            (None, &["100.64.0.9:41000"; 3][..], NatKind::Unknown),
        ];
        for (local, seen, want) in cases {
            assert_eq!(classify(local, seen), want, "{local:?} {seen:?}");
        }
    }

    #[test]
    fn one_peer_reporting_twice_counts_once() {
        let mut nat = NatObserver::new(Some(addr("10.0.0.5:7000")));
        for _ in 0..5 {
            nat.report(addr("10.9.0.1:7000"), addr("10.0.0.5:7000"));
        }
        assert_eq!(nat.kind(), NatKind::Unknown);
        assert_eq!(
            nat.report(addr("10.9.0.2:7000"), addr("10.0.0.5:7000")),
            None
        );
        assert_eq!(
            nat.report(addr("10.9.0.3:7000"), addr("10.0.0.5:7000")),
            Some(NatKind::Open)
        );
        assert_eq!(nat.reflexive(), Some(addr("10.0.0.5:7000")));
    }
}
