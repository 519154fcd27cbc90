//! Records end to end on the in-process harness: what one node writes, another reads;
//! holders refuse what they must; records outlive the nodes that held them and die
//! with their owner; announcements outlive their lifetime while their announcer runs,
//! and it can announce again the moment it withdrew.

use std::time::Duration;

use dswarm::harness::{Swarm, SwarmConfig};
use dswarm::proto::store::{immutable_key, mutable_key, Refusal, MAX_VALUE};
use dswarm::proto::{Command, CommandError, Key, QueryOutcome, Time};

fn secs(s: u64) -> Time {
    Time::ZERO + Duration::from_secs(s)
}

const LIMIT: Duration = Duration::from_secs(30);

fn swarm(nodes: usize, seed: u64) -> Swarm {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes,
        seed,
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(20));
    swarm
}

fn outcome(swarm: &mut Swarm, node: usize, command: Command) -> QueryOutcome {
    swarm
        .run_command(node, command, LIMIT)
        .expect("finishes within its limit")
        .outcome
}

fn stored(outcome: QueryOutcome) -> dswarm::proto::node::StoreResult {
    match outcome {
        QueryOutcome::Stored(result) => result,
        other => panic!("expected a store result, got {other:?}"),
    }
}

#[test]
fn an_immutable_value_put_on_one_node_is_read_on_every_other() {
    let mut swarm = swarm(60, 3);
    let value = b"hello, swarm".to_vec();
    let result = stored(outcome(&mut swarm, 5, Command::ImmutablePut(value.clone())));
    assert_eq!(result.key, immutable_key(&value));
    assert_eq!(result.stored, 20, "the k closest accept it: {result:?}");
    assert!(result.refused.is_empty());
    let held: usize = swarm.nodes().iter().map(|n| n.records_held()).sum();
    assert_eq!(held, 20);
    for reader in [0, 17, 42, 59] {
        let got = outcome(&mut swarm, reader, Command::ImmutableGet(result.key));
        assert_eq!(
            got,
            QueryOutcome::Immutable(Some(value.clone())),
            "node {reader}"
        );
    }
    let missing = outcome(&mut swarm, 9, Command::ImmutableGet(Key::of(b"never put")));
    assert_eq!(missing, QueryOutcome::Immutable(None));
}

#[test]
fn a_value_over_the_limit_is_refused_before_anything_is_sent() {
    let mut swarm = swarm(20, 4);
    let sent = swarm.nodes()[1].stats().datagrams_sent;
    let refused = swarm.start(1, Command::ImmutablePut(vec![0; MAX_VALUE + 1]));
    assert!(
        matches!(refused, Err(CommandError::TooLarge { .. })),
        "{refused:?}"
    );
    assert_eq!(swarm.nodes()[1].stats().datagrams_sent, sent);
}

#[test]
fn mutable_reads_see_the_highest_seq_and_holders_refuse_lower_ones() {
    let mut swarm = swarm(60, 5);
    let owner = swarm.nodes()[7].id();
    let put = |seq, value: &[u8]| Command::MutablePut {
        salt: b"profile".to_vec(),
        value: value.to_vec(),
        seq: Some(seq),
    };
    let first = stored(outcome(&mut swarm, 7, put(5, b"five")));
    assert_eq!((first.stored, first.seq), (20, Some(5)));
    let second = stored(outcome(&mut swarm, 7, put(6, b"six")));
    assert_eq!(second.stored, 20);
    let lower = stored(outcome(&mut swarm, 7, put(4, b"four")));
    assert_eq!(lower.stored, 0);
    assert_eq!(lower.refused.len(), 20);
    assert!(lower.refused.iter().all(|(_, r)| *r == Refusal::SeqTooLow));
    let conflict = stored(outcome(&mut swarm, 7, put(6, b"another six")));
    assert!(conflict
        .refused
        .iter()
        .all(|(_, r)| *r == Refusal::SeqConflict));

    let get = |seq, latest| Command::MutableGet {
        public_key: owner,
        salt: b"profile".to_vec(),
        seq,
        latest,
    };
    let QueryOutcome::Mutable(Some(record)) = outcome(&mut swarm, 30, get(0, true)) else {
        panic!("no record");
    };
    assert_eq!((record.seq, record.value.as_slice()), (6, &b"six"[..]));
    assert_eq!(record.key(), mutable_key(&owner, b"profile"));
    assert_eq!(
        outcome(&mut swarm, 31, get(7, false)),
        QueryOutcome::Mutable(None),
        "nobody holds seq 7"
    );
    // Without a seq, the node picks one above its last.
    let auto = stored(outcome(
        &mut swarm,
        7,
        Command::MutablePut {
            salt: b"profile".to_vec(),
            value: b"next".to_vec(),
            seq: None,
        },
    ));
    assert!(auto.seq > Some(6) && auto.stored == 20, "{auto:?}");
}

#[test]
fn announced_peers_are_found_by_topic_until_they_withdraw() {
    let mut swarm = swarm(60, 6);
    let topic = Key::of(b"chat room");
    let announcers = [3, 11, 25];
    for &node in &announcers {
        let relays = vec![swarm.addr(node)];
        let result = stored(outcome(
            &mut swarm,
            node,
            Command::Announce { topic, relays },
        ));
        assert_eq!(result.stored, 20);
    }
    let QueryOutcome::Peers(peers) = outcome(&mut swarm, 40, Command::TopicLookup(topic)) else {
        panic!("not a peer list");
    };
    let mut want: Vec<_> = announcers.iter().map(|&n| swarm.nodes()[n].id()).collect();
    want.sort();
    let found: Vec<_> = peers.iter().map(|p| p.public_key).collect();
    assert_eq!(found, want);
    assert!(peers.iter().all(|p| p.relays.len() == 1));

    let withdrawn = stored(outcome(&mut swarm, 11, Command::Unannounce(topic)));
    assert_eq!(withdrawn.stored, 20);
    let QueryOutcome::Peers(peers) = outcome(&mut swarm, 41, Command::TopicLookup(topic)) else {
        panic!("not a peer list");
    };
    assert_eq!(peers.len(), 2);
    assert!(peers.iter().all(|p| p.public_key != swarm.nodes()[11].id()));
    // Every announcement of every answer was signed and in date.
    let checked = |f: fn(&dswarm::proto::Stats) -> u64| -> u64 {
        swarm.nodes().iter().map(|n| f(&n.stats())).sum()
    };
    assert_eq!(checked(|s| s.announcements_forged), 0);
    assert_eq!(checked(|s| s.announcements_stale), 0);
    assert_eq!(checked(|s| s.store.refused_stale), 0);
}

#[test]
fn a_node_announces_again_in_the_same_instant_it_withdrew() {
    let mut swarm = swarm(60, 7);
    let topic = Key::of(b"back again");
    let first = stored(outcome(
        &mut swarm,
        9,
        Command::Announce {
            topic,
            relays: Vec::new(),
        },
    ));
    assert_eq!(first.stored, 20);
    // Both signed now: the holders keep a tombstone of the withdrawal, and the new
    // announcement must be newer than it, whichever reaches a holder first.
    let withdraw = swarm.start(9, Command::Unannounce(topic)).unwrap();
    let again = Command::Announce {
        topic,
        relays: Vec::new(),
    };
    let again = stored(outcome(&mut swarm, 9, again));
    assert_eq!(again.stored, 20, "{again:?}");
    swarm.run_until(swarm.now() + Duration::from_secs(5));
    assert!(swarm.finished(9, withdraw).is_some());
    let QueryOutcome::Peers(peers) = outcome(&mut swarm, 30, Command::TopicLookup(topic)) else {
        panic!("not a peer list");
    };
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].public_key, swarm.nodes()[9].id());
}

#[test]
fn an_announcement_changed_within_a_second_replaces_the_last_whichever_lands_first() {
    // A node behind a NAT declares its relays, then better ones a few milliseconds
    // later: both signed in the same second, their writes racing to the holders.
    let mut swarm = swarm(60, 5);
    let relays = |last: u8| vec![std::net::SocketAddr::from(([10, 9, 9, last], 7000))];
    let topics: Vec<Key> = (0..8u8).map(|i| Key::of(&[b'r', i])).collect();
    let mut queries = Vec::new();
    for (i, topic) in topics.iter().enumerate() {
        let node = 10 + i;
        for relays in [relays(1), relays(2)] {
            let topic = *topic;
            queries.push((
                node,
                swarm
                    .start(node, Command::Announce { topic, relays })
                    .unwrap(),
            ));
        }
    }
    swarm.run_until(swarm.now() + Duration::from_secs(10));
    for (node, query) in queries {
        assert!(swarm.finished(node, query).is_some());
    }
    for (i, topic) in topics.into_iter().enumerate() {
        let QueryOutcome::Peers(peers) = outcome(&mut swarm, 40, Command::TopicLookup(topic))
        else {
            panic!("not a peer list");
        };
        let found: Vec<_> = peers
            .iter()
            .map(|p| (p.public_key, p.relays.clone()))
            .collect();
        assert_eq!(
            found,
            vec![(swarm.nodes()[10 + i].id(), relays(2))],
            "topic {i}"
        );
    }
}

#[test]
fn a_topic_lookup_reports_each_announcer_once_at_its_newest() {
    let mut swarm = swarm(60, 6);
    let topic = Key::of(b"moving");
    let relays = |last: u8| vec![std::net::SocketAddr::from(([10, 9, 9, last], 7000))];
    let first = Command::Announce {
        topic,
        relays: relays(1),
    };
    assert_eq!(stored(outcome(&mut swarm, 10, first)).stored, 20);
    // Half the holders miss the new relays, and come back holding the old ones.
    let holders: Vec<usize> = (0..60)
        .filter(|&i| swarm.nodes()[i].records_held() > 0)
        .collect();
    let missed = &holders[..holders.len() / 2];
    for &i in missed {
        swarm.set_down(i, true);
    }
    swarm.run_until(swarm.now() + Duration::from_secs(2));
    let again = Command::Announce {
        topic,
        relays: relays(2),
    };
    assert!(stored(outcome(&mut swarm, 10, again)).stored > 0);
    for &i in missed {
        swarm.set_down(i, false);
    }
    let QueryOutcome::Peers(peers) = outcome(&mut swarm, 40, Command::TopicLookup(topic)) else {
        panic!("not a peer list");
    };
    let found: Vec<_> = peers
        .iter()
        .map(|p| (p.public_key, p.relays.clone()))
        .collect();
    assert_eq!(found, vec![(swarm.nodes()[10].id(), relays(2))]);
}

#[test]
fn what_a_node_published_is_written_again_by_its_next_life() {
    let mut swarm = swarm(60, 9);
    let value = b"mine".to_vec();
    let topic = Key::of(b"still here");
    let salt = b"profile".to_vec();
    let commands = [
        Command::ImmutablePut(value.clone()),
        Command::MutablePut {
            salt: salt.clone(),
            value: b"v7".to_vec(),
            seq: Some(7),
        },
        Command::Announce {
            topic,
            relays: Vec::new(),
        },
    ];
    for command in commands {
        assert_eq!(stored(outcome(&mut swarm, 12, command)).stored, 20);
    }
    let owned = swarm.nodes()[12].owned();
    assert_eq!(owned.len(), 3, "{owned:?}");
    // The node restarts with nothing but its identity and what it kept; the holders
    // all leave meanwhile, so nothing is found unless the new life writes it again.
    swarm.set_down(12, true);
    let holders: Vec<usize> = (0..60)
        .filter(|&i| i != 12 && swarm.nodes()[i].records_held() > 0)
        .collect();
    for &i in &holders {
        swarm.set_down(i, true);
    }
    let reader = (0..60).find(|i| !holders.contains(i) && *i != 12).unwrap();
    swarm.revive(12, Some(vec![swarm.addr(reader)]));
    assert_eq!(swarm.restore(12, owned.clone()), 3);
    assert_eq!(swarm.nodes()[12].owned(), owned);
    swarm.run_until(swarm.now() + Duration::from_secs(10));
    let got = outcome(
        &mut swarm,
        reader,
        Command::ImmutableGet(immutable_key(&value)),
    );
    assert_eq!(got, QueryOutcome::Immutable(Some(value)));
    let public_key = swarm.nodes()[12].id();
    let get = Command::MutableGet {
        public_key,
        salt,
        seq: 0,
        latest: true,
    };
    let QueryOutcome::Mutable(Some(record)) = outcome(&mut swarm, reader, get) else {
        panic!("the mutable record is not found");
    };
    assert_eq!((record.seq, record.value), (7, b"v7".to_vec()));
    let QueryOutcome::Peers(peers) = outcome(&mut swarm, reader, Command::TopicLookup(topic))
    else {
        panic!("not a peer list");
    };
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].public_key, public_key);
}

#[test]
fn an_announcement_outlives_its_lifetime_while_its_announcer_runs() {
    let mut swarm = swarm(60, 12);
    let topic = Key::of(b"long-lived");
    let announce = Command::Announce {
        topic,
        relays: Vec::new(),
    };
    assert_eq!(stored(outcome(&mut swarm, 14, announce)).stored, 20);
    // Holders judge its age by its signed time: the republished copies are signed
    // anew, so they are not refused as stale once the first one's lifetime is over.
    let ttl = swarm.nodes()[14].config().store.ttl;
    let end = swarm.now() + ttl + Duration::from_secs(120);
    swarm.run_until(end);
    let QueryOutcome::Peers(peers) = outcome(&mut swarm, 33, Command::TopicLookup(topic)) else {
        panic!("not a peer list");
    };
    let found: Vec<_> = peers.iter().map(|p| p.public_key).collect();
    assert_eq!(found, vec![swarm.nodes()[14].id()]);
    let stale: u64 = swarm
        .nodes()
        .iter()
        .map(|n| n.stats().store.refused_stale)
        .sum();
    assert_eq!(stale, 0);
}

#[test]
fn owners_republish_so_records_outlive_their_holders_and_die_with_their_owner() {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 80,
        seed: 8,
        ..SwarmConfig::default()
    });
    swarm.run_until(secs(20));
    let value = b"keep me".to_vec();
    let key = immutable_key(&value);
    let result = stored(outcome(&mut swarm, 4, Command::ImmutablePut(value.clone())));
    assert_eq!(result.stored, 20);
    // Every first holder leaves.
    let holders: Vec<usize> = (0..80)
        .filter(|&i| i != 4 && swarm.nodes()[i].records_held() > 0)
        .collect();
    assert!(holders.len() >= 19, "{holders:?}");
    for &i in &holders {
        swarm.set_down(i, true);
    }
    // The owner writes it again within its republish interval, to the k closest of
    // the nodes still up.
    let republish = swarm.nodes()[4].config().store.republish;
    let later = swarm.now() + republish + Duration::from_secs(60);
    swarm.run_until(later);
    let new_holders = (0..80)
        .filter(|&i| !holders.contains(&i) && swarm.nodes()[i].records_held() > 0)
        .count();
    assert!(
        new_holders >= 19,
        "republished to {new_holders} nodes still up"
    );
    let reader = (0..80).find(|i| !holders.contains(i) && *i != 4).unwrap();
    let got = outcome(&mut swarm, reader, Command::ImmutableGet(key));
    assert_eq!(got, QueryOutcome::Immutable(Some(value.clone())));

    // The owner leaves too: the records expire with the ttl.
    swarm.set_down(4, true);
    let ttl = swarm.nodes()[reader].config().store.ttl;
    let end = swarm.now() + ttl + Duration::from_secs(60);
    swarm.run_until(end);
    let got = outcome(&mut swarm, reader, Command::ImmutableGet(key));
    assert_eq!(got, QueryOutcome::Immutable(None));
}
