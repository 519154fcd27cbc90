//! NAT classification from reflexive addresses, as HyperDHT does it.
//!
//! In: the node's own bound address (when the driver knows it) and, one by one, the
//! address a peer saw its datagrams come from ([`Response::Pong`]'s `observed`).
//! Out: the node's [`NatKind`] and its reflexive address.
//!
//! Rules, over the latest report of each address block that reported (blocks as the
//! routing table cuts them; a reporter on loopback counts by its own address), once
//! there are [`REPORTS_NEEDED`] of them: an address that more than half of them saw
//! is the node's reflexive address, and means no NAT (`Open`) when it is the node's
//! own and a NAT that keeps one mapping (`Consistent`) when not; no address seen by a
//! majority means a NAT that maps each destination anew (`Random`). So one lying
//! peer, or many identities behind one address, cannot flip the class. Without a known own address the node cannot tell
//! `Open` from `Consistent` and stays `Unknown`, which the node treats as reachable,
//! as it did before it classified anything.
//!
//! [`Response::Pong`]: super::wire::Response::Pong

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::table::IpBlock;
use super::wire::NatKind;

/// Reports from distinct peers needed before classifying.
pub const REPORTS_NEEDED: usize = 3;
/// Reports kept: the latest of this many distinct peers.
const REPORTS_KEPT: usize = 5;

/// Who a report counts for: an address block, or a reporter without one (loopback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Voter {
    Block(IpBlock),
    Host(SocketAddr),
}

/// See the module docs.
#[derive(Clone, Debug)]
pub struct NatObserver {
    local: Option<SocketAddr>,
    /// The prefix lengths of address blocks, IPv4 and IPv6.
    prefixes: (u8, u8),
    /// (who reported, what it saw), newest last, one per voter.
    reports: VecDeque<(Voter, SocketAddr)>,
    kind: NatKind,
}

impl NatObserver {
    /// Heap bytes of the reports kept.
    pub fn heap_bytes(&self) -> usize {
        crate::proto::footprint::deque(&self.reports)
    }

    /// An observer for a node bound at `local`, if known (an unspecified IP,
    /// `0.0.0.0`, matches any IP), counting reporters by address blocks of these
    /// prefix lengths (IPv4, IPv6).
    pub fn new(local: Option<SocketAddr>, prefixes: (u8, u8)) -> NatObserver {
        NatObserver {
            local,
            prefixes,
            reports: VecDeque::new(),
            kind: NatKind::Unknown,
        }
    }

    /// The current classification.
    pub fn kind(&self) -> NatKind {
        self.kind
    }

    /// The address a majority of the reporting blocks sees, or the latest report.
    pub fn reflexive(&self) -> Option<SocketAddr> {
        self.majority()
            .or_else(|| self.reports.back().map(|(_, seen)| *seen))
    }

    /// Records that the peer at `reporter` saw this node at `observed`. Returns the
    /// new kind when the classification changed.
    pub fn report(&mut self, reporter: SocketAddr, observed: SocketAddr) -> Option<NatKind> {
        let voter = match IpBlock::of(&reporter, self.prefixes.0, self.prefixes.1) {
            Some(block) => Voter::Block(block),
            None => Voter::Host(reporter),
        };
        if let Some(at) = self.reports.iter().position(|(v, _)| *v == voter) {
            self.reports.remove(at);
        }
        self.reports.push_back((voter, observed));
        if self.reports.len() > REPORTS_KEPT {
            self.reports.pop_front();
        }
        let kind = self.classify();
        (kind != self.kind).then(|| {
            self.kind = kind;
            kind
        })
    }

    /// The address more than half of the reports saw.
    fn majority(&self) -> Option<SocketAddr> {
        let votes = |address: &SocketAddr| {
            let seen = self.reports.iter().filter(|(_, seen)| seen == address);
            seen.count()
        };
        self.reports
            .iter()
            .map(|(_, seen)| *seen)
            .find(|seen| 2 * votes(seen) > self.reports.len())
    }

    fn classify(&self) -> NatKind {
        if self.reports.len() < REPORTS_NEEDED {
            return self.kind;
        }
        match (self.majority(), self.local) {
            (None, _) => NatKind::Random,
            (Some(seen), Some(local)) if is_own(local, seen) => NatKind::Open,
            (Some(_), Some(_)) => NatKind::Consistent,
            (Some(_), None) => NatKind::Unknown,
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
        let mut nat = NatObserver::new(local.map(addr), (32, 64));
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
        let mut nat = NatObserver::new(Some(addr("10.0.0.5:7000")), (32, 64));
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

    #[test]
    fn one_liar_or_one_address_of_many_identities_does_not_flip_the_class() {
        let own = "10.0.0.5:7000";
        // Three honest peers see the NAT's one mapping; a fourth lies.
        let seen = [
            "100.64.0.9:41000",
            "100.64.0.9:41000",
            "100.64.0.9:41000",
            "10.0.0.5:7000",
        ];
        assert_eq!(classify(Some(own), &seen), NatKind::Consistent);
        // An open node, and one liar claiming a mapping.
        let seen = [
            "10.0.0.5:7000",
            "10.0.0.5:7000",
            "100.64.0.9:1",
            "10.0.0.5:7000",
        ];
        assert_eq!(classify(Some(own), &seen), NatKind::Open);
        // Many identities on one address vote once.
        let mut nat = NatObserver::new(Some(addr(own)), (32, 64));
        for port in 1..=4 {
            nat.report(addr(&format!("10.9.0.1:{port}")), addr("100.64.0.9:1"));
        }
        nat.report(addr("10.9.0.2:7000"), addr(own));
        nat.report(addr("10.9.0.3:7000"), addr(own));
        assert_eq!(nat.kind(), NatKind::Open);
        assert_eq!(nat.reflexive(), Some(addr(own)));
    }
}
