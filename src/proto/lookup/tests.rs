//! [`Lookup`]'s tests: walks through made-up swarms, stalls, address blocks and
//! disjoint paths.

use super::*;
use std::net::SocketAddr;

/// The table's default prefix lengths: one block per IPv4 address.
const BLOCKS: Option<(u8, u8)> = Some((32, 64));

fn contact(last: u8) -> WireContact {
    let mut id = [0u8; 32];
    id[31] = last;
    WireContact {
        id: NodeId(id),
        addr: SocketAddr::from(([10, 0, 0, last], 7000)),
    }
}

#[test]
fn keeps_alpha_in_flight_and_ends_when_the_k_closest_answered() {
    let local = contact(0xF0).id;
    let target = contact(0).id;
    let seeds = [contact(0x40), contact(0x41), contact(0x42), contact(0x43)];
    let mut lookup = Lookup::new(target, local, 2, 3, Goal::Closest, BLOCKS, seeds);
    let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
    assert_eq!(asked.len(), 2, "only the k = 2 closest are worth asking");
    assert_eq!(asked, vec![contact(0x40), contact(0x41)]);
    // 0x40 knows closer nodes: they join the window and are asked next.
    lookup.on_success(&contact(0x40).id, &[contact(0x01), contact(0x02)]);
    assert_eq!(lookup.next_peer(), Some(contact(0x01)));
    assert_eq!(lookup.next_peer(), Some(contact(0x02)));
    assert_eq!(lookup.next_peer(), None, "alpha = 3 requests in flight");
    lookup.on_failure(&contact(0x41).id);
    lookup.on_success(&contact(0x01).id, &[]);
    assert!(!lookup.is_finished(), "0x02 has not answered");
    assert_eq!(
        lookup.next_peer(),
        None,
        "nobody else is among the k closest"
    );
    lookup.on_success(&contact(0x02).id, &[contact(0x01)]);
    assert!(lookup.is_finished());
    let result = lookup.result();
    assert_eq!(result.closest, vec![contact(0x01), contact(0x02)]);
    assert_eq!(result.hops, 1);
    assert_eq!((result.contacted, result.failed), (4, 1));
}

#[test]
fn alpha_bounds_requests_in_flight() {
    let seeds = (1..=10).map(contact);
    let mut lookup = Lookup::new(
        contact(0).id,
        contact(0xFF).id,
        20,
        3,
        Goal::Closest,
        BLOCKS,
        seeds,
    );
    let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
    assert_eq!(asked.len(), 3);
    assert_eq!(lookup.in_flight(), 3);
    lookup.on_failure(&asked[0].id);
    assert!(lookup.next_peer().is_some());
}

#[test]
fn answers_from_strangers_and_the_local_id_are_ignored() {
    let local = contact(0x05).id;
    let mut lookup = Lookup::new(
        contact(0).id,
        local,
        20,
        3,
        Goal::Closest,
        BLOCKS,
        [contact(0x10)],
    );
    lookup.on_success(&contact(0x11).id, &[contact(0x01)]);
    assert_eq!(lookup.next_peer(), Some(contact(0x10)));
    lookup.on_success(&contact(0x10).id, &[contact(0x05)]);
    assert!(lookup.is_finished(), "its own id is never a candidate");
    assert!(Lookup::new(contact(0).id, local, 20, 3, Goal::Closest, BLOCKS, []).is_finished());
}

/// A made-up swarm of the nodes `contact(n)` for `n` in `ids`: node n answers with
/// the nodes n/2 to n/2 + 3, so that a walk toward `contact(0)` halves its distance
/// each hop, and the nodes below 16, the neighbourhood of node 0, know node 0 too.
/// Answers come back in the order asked.
fn walk(lookup: &mut Lookup, ids: std::ops::RangeInclusive<u8>) -> LookupResult {
    let mut asked = std::collections::VecDeque::new();
    while !lookup.is_finished() {
        asked.extend(std::iter::from_fn(|| lookup.next_peer()));
        let peer: WireContact = asked.pop_front().expect("a request in flight");
        let n = peer.id.0[31];
        if ids.contains(&n) {
            let neighbour = (n < 16).then_some(0);
            let known: Vec<_> = (n / 2..=n / 2 + 3)
                .chain(neighbour)
                .filter(|m| *m != n && ids.contains(m))
                .map(contact)
                .collect();
            lookup.on_success(&peer.id, &known);
        } else {
            lookup.on_failure(&peer.id);
        }
    }
    lookup.result()
}

#[test]
fn finding_a_node_stops_as_soon_as_it_answers() {
    let (local, target) = (contact(0xFF).id, contact(0).id);
    let seeds = || (120..=127).map(contact);
    let mut find = Lookup::new(target, local, 8, 3, Goal::Node, BLOCKS, seeds());
    let mut closest = Lookup::new(target, local, 8, 3, Goal::Closest, BLOCKS, seeds());
    let found = walk(&mut find, 0..=127);
    let walked = walk(&mut closest, 0..=127);

    assert_eq!(found.found, Some(Found::Listed));
    assert_eq!(walked.found, Some(Found::Listed));
    assert_eq!(found.closest[0], contact(0), "the target comes first");
    assert_eq!(
        found.hops, walked.hops,
        "the same chain of answers led to it"
    );
    assert!(
        found.contacted < walked.contacted,
        "finding the node asked {} peers, the k closest {}",
        found.contacted,
        walked.contacted
    );
    assert!(find.in_flight() > 0, "it did not wait for the others");
    assert_eq!(find.next_peer(), None, "and asks nobody more");
    // The k closest lookup went on until the 8 closest had answered.
    let ids: Vec<_> = walked.closest.iter().map(|c| c.id.0[31]).collect();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert_eq!(closest.in_flight(), 0);
}

#[test]
fn finding_an_absent_node_walks_to_the_k_closest_and_reports_not_found() {
    let (local, target) = (contact(0xFF).id, contact(0).id);
    let seeds = || (120..=127).map(contact);
    let mut find = Lookup::new(target, local, 8, 3, Goal::Node, BLOCKS, seeds());
    let mut closest = Lookup::new(target, local, 8, 3, Goal::Closest, BLOCKS, seeds());
    let absent = walk(&mut find, 1..=127);
    let walked = walk(&mut closest, 1..=127);

    assert_eq!(absent.found, None);
    assert_eq!(absent, walked, "the same walk, the same answer");
    let ids: Vec<_> = absent.closest.iter().map(|c| c.id.0[31]).collect();
    assert_eq!(ids, (1..9).collect::<Vec<_>>());
}

#[test]
fn a_target_that_fails_is_not_found() {
    let (local, target) = (contact(0xFF).id, contact(0).id);
    let mut find = Lookup::new(
        target,
        local,
        2,
        3,
        Goal::Node,
        BLOCKS,
        [contact(0), contact(1)],
    );
    assert_eq!(find.next_peer(), Some(contact(0)));
    assert_eq!(find.next_peer(), Some(contact(1)));
    find.on_failure(&contact(0).id);
    assert!(!find.is_finished());
    find.on_success(&contact(1).id, &[contact(0)]);
    assert!(find.is_finished());
    let result = find.result();
    assert_eq!(result.found, None);
    assert_eq!(result.closest, vec![contact(1)]);
}

#[test]
fn a_stalled_peer_gives_up_its_place_and_its_late_answer_still_counts() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    let seeds = [contact(0x40), contact(0x41), contact(0x42)];
    let mut lookup = Lookup::new(target, local, 2, 1, Goal::Closest, BLOCKS, seeds);
    assert_eq!(lookup.next_peer(), Some(contact(0x40)));
    assert_eq!(lookup.next_peer(), None, "alpha = 1");
    assert!(lookup.on_stalled(&contact(0x40).id));
    assert!(!lookup.on_stalled(&contact(0x40).id), "stalled once");
    assert!(lookup.is_stalled(&contact(0x40).id));
    // Its place in flight and among the k = 2 closest goes to the next peers.
    assert_eq!(lookup.next_peer(), Some(contact(0x41)));
    lookup.on_success(&contact(0x41).id, &[]);
    assert_eq!(lookup.next_peer(), Some(contact(0x42)));
    // The stalled peer answers after all, with a closer node: both count.
    lookup.on_success(&contact(0x40).id, &[contact(0x01)]);
    assert!(!lookup.is_stalled(&contact(0x40).id));
    assert_eq!(lookup.in_flight(), 1, "0x42 alone is in flight");
    assert_eq!(lookup.next_peer(), None);
    lookup.on_success(&contact(0x42).id, &[]);
    assert_eq!(lookup.next_peer(), Some(contact(0x01)));
    lookup.on_success(&contact(0x01).id, &[]);
    assert!(lookup.is_finished());
    assert_eq!(lookup.result().closest, vec![contact(0x01), contact(0x40)]);
}

#[test]
fn a_lookup_of_the_k_closest_does_not_wait_for_stalled_peers() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    let seeds = [contact(0x40), contact(0x41), contact(0x42)];
    let mut lookup = Lookup::new(target, local, 2, 3, Goal::Closest, BLOCKS, seeds);
    let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
    assert_eq!(asked, vec![contact(0x40), contact(0x41)]);
    lookup.on_stalled(&contact(0x40).id);
    assert_eq!(lookup.next_peer(), Some(contact(0x42)));
    lookup.on_success(&contact(0x41).id, &[]);
    assert!(!lookup.is_finished(), "0x42 is waited for");
    lookup.on_success(&contact(0x42).id, &[]);
    assert!(
        lookup.is_finished(),
        "0x40's request still runs; not waited for"
    );
    let result = lookup.result();
    assert_eq!(result.closest, vec![contact(0x41), contact(0x42)]);
    assert_eq!((result.contacted, result.failed), (3, 0));
    assert_eq!(lookup.silent(), 1, "0x40 counts among the silent");
    // A stalled peer that then fails is counted failed, and silent once.
    lookup.on_failure(&contact(0x40).id);
    assert_eq!(lookup.result().failed, 1);
    assert_eq!(lookup.silent(), 1);
}

#[test]
fn a_lookup_whose_seeds_all_stall_ends_empty_and_asks_for_as_many_more() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    let mut lookup = Lookup::new(
        target,
        local,
        2,
        2,
        Goal::Closest,
        BLOCKS,
        [contact(1), contact(2)],
    );
    while lookup.next_peer().is_some() {}
    lookup.on_stalled(&contact(1).id);
    lookup.on_stalled(&contact(2).id);
    assert!(lookup.is_finished() && lookup.result().closest.is_empty());
    // Nodes that left before the table evicted them: the caller seeds again with
    // the table's k + silent closest, and the walk goes on.
    assert_eq!(lookup.silent(), 2);
    assert_eq!(lookup.add_seeds([contact(1), contact(2), contact(3)]), 1);
    assert_eq!(lookup.next_peer(), Some(contact(3)));
    lookup.on_success(&contact(3).id, &[]);
    assert!(lookup.is_finished());
    assert_eq!(lookup.result().closest, vec![contact(3)]);
}

#[test]
fn a_lookup_for_a_node_waits_for_its_stalled_target() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    let seeds = || [contact(0), contact(1)];
    let mut find = Lookup::new(target, local, 2, 3, Goal::Node, BLOCKS, seeds());
    assert_eq!(find.next_peer(), Some(contact(0)));
    assert_eq!(find.next_peer(), Some(contact(1)));
    find.on_stalled(&contact(0).id);
    find.on_success(&contact(1).id, &[contact(0)]);
    assert!(!find.is_finished(), "only the target can meet the goal");
    find.on_success(&contact(0).id, &[]);
    assert!(find.is_finished() && find.found());

    // A target that stalls, then fails: not found.
    let mut find = Lookup::new(target, local, 2, 3, Goal::Node, BLOCKS, seeds());
    while find.next_peer().is_some() {}
    find.on_stalled(&contact(0).id);
    find.on_success(&contact(1).id, &[]);
    assert!(!find.is_finished());
    find.on_failure(&contact(0).id);
    assert!(find.is_finished() && !find.found());
}

/// Node `last`'s id behind the one address 10.9.9.9, each on its own port.
fn sybil(last: u8) -> WireContact {
    let addr = SocketAddr::from(([10, 9, 9, 9], 7000 + u16::from(last)));
    WireContact {
        id: contact(last).id,
        addr,
    }
}

#[test]
fn identities_behind_one_address_take_one_place_among_the_k_closest() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    let honest = [0x40, 0x41, 0x42, 0x43].map(contact);
    let sybils: Vec<_> = (1..=8).map(sybil).collect();
    // Sybils answer with each other, closer than anybody honest; honest nodes
    // answer with the honest nodes.
    let run = |blocks| {
        let seeds = [sybil(0x08), honest[0]];
        let mut lookup = Lookup::new(target, local, 4, 1, Goal::Closest, blocks, seeds);
        while let Some(peer) = lookup.next_peer() {
            let answer = if peer.addr.ip() == sybil(0).addr.ip() {
                &sybils[..]
            } else {
                &honest[..]
            };
            lookup.on_success(&peer.id, answer);
        }
        assert!(lookup.is_finished());
        (lookup.result().closest, lookup.skipped())
    };
    let (eclipsed, skipped) = run(None);
    assert_eq!(eclipsed, (1..=4).map(sybil).collect::<Vec<_>>());
    assert_eq!(skipped, 0);
    let (closest, skipped) = run(BLOCKS);
    assert_eq!(
        closest,
        vec![sybil(0x08), honest[0], honest[1], honest[2]],
        "one place for the block, the rest for honest nodes"
    );
    assert_eq!(skipped, 7, "0x01 to 0x07: their block was asked already");
}

#[test]
fn a_closer_candidate_of_a_block_replaces_one_not_asked_yet() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    let seeds = [sybil(0x08), sybil(0x02), sybil(0x04)];
    let mut lookup = Lookup::new(target, local, 4, 3, Goal::Closest, BLOCKS, seeds);
    assert_eq!(
        lookup.skipped(),
        2,
        "0x08 gave way to 0x02; 0x04 is farther"
    );
    assert_eq!(lookup.next_peer(), Some(sybil(0x02)));
    assert_eq!(lookup.next_peer(), None, "nobody else of the block");
    // The target itself is never limited, and loopback has no block.
    let loopback = |last: u8| WireContact {
        id: contact(last).id,
        addr: SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(last))),
    };
    lookup.on_success(
        &sybil(0x02).id,
        &[sybil(0x00), loopback(0x05), loopback(0x06)],
    );
    let asked: Vec<_> = std::iter::from_fn(|| lookup.next_peer()).collect();
    assert_eq!(asked, vec![sybil(0x00), loopback(0x05), loopback(0x06)]);
    assert_eq!(lookup.skipped(), 2);
}

#[test]
fn disjoint_paths_keep_a_path_that_never_met_an_attacker() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    // Attackers each at an address of their own: no block rule stops them.
    let attacker = |last: u8| WireContact {
        id: contact(last).id,
        addr: SocketAddr::from(([10, 9, 9, last], 7000)),
    };
    let attackers: Vec<_> = (1..=8).map(attacker).collect();
    let honest = [0x40, 0x41, 0x42, 0x43].map(contact);
    let run = |paths| {
        let seeds = [attacker(0x08), honest[0]];
        let mut lookup =
            Lookup::new(target, local, 4, 1, Goal::Closest, BLOCKS, seeds).disjoint(paths);
        let mut asked = Vec::new();
        while let Some(peer) = lookup.next_peer() {
            asked.push(peer);
            let answer = if attackers.contains(&peer) {
                &attackers[..]
            } else {
                &honest[..]
            };
            lookup.on_success(&peer.id, answer);
        }
        assert!(lookup.is_finished());
        (lookup.result().closest, asked.len())
    };
    let (one, asked_one) = run(1);
    assert_eq!(one, attackers[..4].to_vec(), "one path: eclipsed");
    let (two, asked_two) = run(2);
    assert_eq!(
        two,
        [&attackers[..4], &honest[..]].concat(),
        "the honest path's k closest are in the result"
    );
    assert!(
        asked_two > asked_one,
        "{asked_two} requests, {asked_one} on one path"
    );
}

#[test]
fn a_block_whose_candidate_failed_takes_another() {
    let (local, target) = (contact(0xF0).id, contact(0).id);
    // An id invented at an honest node's address, closer than the node itself.
    let invented = WireContact {
        id: contact(0x02).id,
        addr: contact(0x40).addr,
    };
    let seeds = [contact(0x30)];
    let mut lookup = Lookup::new(target, local, 4, 1, Goal::Closest, BLOCKS, seeds);
    assert_eq!(lookup.next_peer(), Some(contact(0x30)));
    lookup.on_success(&contact(0x30).id, &[invented]);
    assert_eq!(lookup.next_peer(), Some(invented));
    lookup.on_success(&invented.id, &[]);
    // Asked and answered: the real node of that address is skipped...
    let mut lookup2 = lookup.clone();
    lookup2.add_seeds([contact(0x40)]);
    assert_eq!(lookup2.skipped(), 1);
    // ...but had the invented id failed, the block would take the real node.
    let mut lookup = Lookup::new(target, local, 4, 1, Goal::Closest, BLOCKS, seeds);
    lookup.next_peer();
    lookup.on_success(&contact(0x30).id, &[invented]);
    assert_eq!(lookup.next_peer(), Some(invented));
    lookup.on_stalled(&invented.id);
    lookup.add_seeds([contact(0x40)]);
    assert_eq!(lookup.next_peer(), Some(contact(0x40)));
    assert_eq!(lookup.skipped(), 0);
}
