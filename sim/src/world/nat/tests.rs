//! The NAT model's promises: mappings, filters, timeouts, and the reflexive address a
//! receiver sees.

use std::time::Duration;

use dswarm::harness::{addr_of, index_of, Route};
use dswarm::proto::Time;

use super::*;

/// Nodes 0 and 1 open, 2 and 3 consistent, 4 and 5 random.
fn world() -> Nat {
    let mut nat = Nat::new(1, 6, 6, &NatSpec::default());
    nat.kinds = vec![
        NatKind::Open,
        NatKind::Open,
        NatKind::Consistent,
        NatKind::Consistent,
        NatKind::Random,
        NatKind::Random,
    ];
    nat.on = true;
    nat
}

fn at(seconds: u64) -> Time {
    Time::ZERO + Duration::from_secs(seconds)
}

fn send(nat: &mut Nat, now: Time, src: usize, dst: SocketAddr) -> Route {
    nat.route(now, src, addr_of(src), dst, |addr| index_of(addr, 6))
}

#[track_caller]
fn delivered(route: Route) -> (usize, SocketAddr) {
    match route {
        Route::Deliver { to, from } => (to, from),
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[test]
fn open_nodes_see_each_other_at_their_own_addresses() {
    let mut nat = world();
    assert_eq!(
        send(&mut nat, at(0), 0, addr_of(1)),
        Route::Deliver {
            to: 1,
            from: addr_of(0)
        }
    );
    assert_eq!(nat.dropped, 0);
}

#[test]
fn a_consistent_nat_shows_one_public_address_to_every_destination() {
    let mut nat = world();
    let (_, seen_by_0) = delivered(send(&mut nat, at(0), 2, addr_of(0)));
    let (_, seen_by_1) = delivered(send(&mut nat, at(1), 2, addr_of(1)));
    assert_eq!(seen_by_0, seen_by_1);
    assert_eq!(seen_by_0.ip(), public_ip(2));
    assert!(seen_by_0.port() >= PORT_MIN);
    // The reflexive address names the node, whatever its port.
    assert_eq!(node_of_public(seen_by_0.ip()), Some(2));
}

#[test]
fn a_consistent_nat_lets_in_only_ips_it_has_sent_to() {
    let mut nat = world();
    let (_, public) = delivered(send(&mut nat, at(0), 2, addr_of(0)));
    // Node 0 answers through the mapping: in.
    assert_eq!(delivered(send(&mut nat, at(1), 0, public)), (2, addr_of(0)));
    // Node 1 never heard from node 2: filtered, even though the mapping is open.
    assert_eq!(send(&mut nat, at(1), 1, public), Route::Filtered);
    assert_eq!(nat.dropped, 1);
    // Once node 2 sends to node 1, node 1 gets in on the same public address.
    let (_, again) = delivered(send(&mut nat, at(2), 2, addr_of(1)));
    assert_eq!(again, public);
    assert_eq!(delivered(send(&mut nat, at(3), 1, public)).0, 2);
}

#[test]
fn a_random_nat_opens_a_port_per_destination_and_filters_by_ip_and_port() {
    let mut nat = world();
    let (_, to_0) = delivered(send(&mut nat, at(0), 4, addr_of(0)));
    let (_, to_1) = delivered(send(&mut nat, at(0), 4, addr_of(1)));
    assert_eq!(to_0.ip(), to_1.ip());
    assert_ne!(to_0.port(), to_1.port(), "one mapping per destination");
    assert_eq!(delivered(send(&mut nat, at(1), 0, to_0)).0, 4);
    // Node 1 may not use node 0's mapping.
    assert_eq!(send(&mut nat, at(1), 1, to_0), Route::Filtered);
    // The same destination reuses its mapping.
    let (_, again) = delivered(send(&mut nat, at(2), 4, addr_of(0)));
    assert_eq!(again, to_0);
}

#[test]
fn mappings_expire_when_unused_and_reopen_on_a_new_port() {
    let mut nat = world();
    let (_, public) = delivered(send(&mut nat, at(0), 2, addr_of(0)));
    // Kept while used: a datagram out at 25 s keeps it to 55 s.
    delivered(send(&mut nat, at(25), 2, addr_of(0)));
    assert_eq!(delivered(send(&mut nat, at(50), 0, public)).0, 2);
    // Idle past the timeout: gone.
    let late = at(25) + NAT_TIMEOUT + Duration::from_secs(1);
    assert_eq!(send(&mut nat, late, 0, public), Route::Filtered);
    // The next datagram out opens a fresh mapping on another port.
    let (_, fresh) = delivered(send(&mut nat, late, 2, addr_of(0)));
    assert_ne!(fresh, public);
    assert_eq!(delivered(send(&mut nat, late, 0, fresh)).0, 2);
    // The old address leads nowhere now.
    assert_eq!(send(&mut nat, late, 0, public), Route::Unroutable);
}

#[test]
fn a_natted_nodes_private_address_is_unreachable() {
    let mut nat = world();
    assert_eq!(send(&mut nat, at(0), 0, addr_of(2)), Route::Filtered);
    assert_eq!(send(&mut nat, at(0), 3, addr_of(4)), Route::Filtered);
    assert_eq!(nat.dropped, 2);
}

#[test]
fn two_consistent_nats_punch_a_hole_when_both_send() {
    let mut nat = world();
    // Each learns the other's public address from an open node (what a PONG reports).
    let (_, a) = delivered(send(&mut nat, at(0), 2, addr_of(0)));
    let (_, b) = delivered(send(&mut nat, at(0), 3, addr_of(0)));
    // A's first datagram to B is filtered by B's NAT, but opens A's filter for B.
    assert_eq!(send(&mut nat, at(1), 2, b), Route::Filtered);
    // B's datagram to A now gets in, and opens B's filter: the hole is punched.
    assert_eq!(delivered(send(&mut nat, at(1), 3, a)), (2, b));
    assert_eq!(delivered(send(&mut nat, at(2), 2, b)), (3, a));
}

#[test]
fn a_random_nat_shows_each_peer_another_port() {
    let mut nat = world();
    let (_, c) = delivered(send(&mut nat, at(0), 2, addr_of(0)));
    let (_, r_seen_by_0) = delivered(send(&mut nat, at(0), 4, addr_of(0)));
    // The random node's port towards node 0 is no door for node 2.
    assert_eq!(send(&mut nat, at(1), 2, r_seen_by_0), Route::Filtered);
    let (_, r_to_c) = delivered(send(&mut nat, at(1), 4, c));
    assert_ne!(r_to_c, r_seen_by_0);
}

#[test]
fn shares_become_counts_and_bootstrap_nodes_stay_open() {
    let spec = NatSpec {
        open: 0.4,
        consistent: 0.4,
        random: 0.2,
    };
    let nat = Nat::new(9, 1000, 3, &spec);
    let count = |kind| (0..1000).filter(|&n| nat.kind(n) == kind).count();
    assert_eq!(count(NatKind::Consistent), 400);
    assert_eq!(count(NatKind::Random), 200);
    assert_eq!(count(NatKind::Open), 400);
    assert!((0..3).all(|n| nat.kind(n) == NatKind::Open));
    let other = Nat::new(10, 1000, 3, &spec);
    assert!((0..1000).any(|n| nat.kind(n) != other.kind(n)), "seeded");
    assert!(!Nat::new(9, 1000, 3, &NatSpec::default()).is_on());
}

#[test]
fn public_ips_map_back_to_their_nodes() {
    for index in [0, 1, 253, 254, 100_000] {
        assert_eq!(node_of_public(public_ip(index)), Some(index));
    }
    assert_eq!(public_ip(0).to_string(), "100.64.0.1");
    assert_eq!(node_of_public(addr_of(0).ip()), None);
}
