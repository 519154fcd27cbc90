use super::*;
use crate::proto::crypto::CryptoSuite;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::BTreeSet;

fn setup() -> (
    Store,
    &'static dyn Crypto,
    Identity,
    NodeId,
    SocketAddr,
    Time,
) {
    let store = Store::new(StoreConfig::default(), [9; 32], (32, 64));
    let crypto = CryptoSuite::Real.implementation();
    let identity = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(1));
    let writer = identity.id();
    let from: SocketAddr = "10.0.0.1:7000".parse().unwrap();
    (
        store,
        crypto,
        identity,
        writer,
        from,
        Time::from_micros(1_000_000),
    )
}

#[test]
fn an_immutable_value_needs_a_token_of_its_writer_and_address() {
    let (mut store, _, _, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    assert_eq!(
        store.put_immutable(now, &writer, &from, &[0; TOKEN_LEN], b"v".to_vec()),
        Err(Refusal::BadToken)
    );
    let elsewhere: SocketAddr = "10.0.0.2:7000".parse().unwrap();
    assert_eq!(
        store.put_immutable(now, &writer, &elsewhere, &token, b"v".to_vec()),
        Err(Refusal::BadToken),
        "a token is bound to the address it was given to"
    );
    let other = NodeId([3; 32]);
    assert_eq!(
        store.put_immutable(now, &other, &from, &token, b"v".to_vec()),
        Err(Refusal::BadToken),
        "and to the writer's id"
    );
    assert_eq!(
        store.put_immutable(now, &writer, &from, &token, b"v".to_vec()),
        Ok(())
    );
    assert_eq!(store.get_immutable(&immutable_key(b"v")), Some(&b"v"[..]));
    assert_eq!(store.stats().refused_token, 3);
}

#[test]
fn tokens_last_two_rotations() {
    let (store, _, _, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let rotation = store.config().token_rotation;
    assert!(store.tokens.check(now + rotation, &writer, &from, &token));
    assert!(!store
        .tokens
        .check(now + rotation * 2, &writer, &from, &token));
}

#[test]
fn oversized_values_are_refused() {
    let (mut store, crypto, identity, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    assert_eq!(
        store.put_immutable(now, &writer, &from, &token, vec![0; MAX_VALUE + 1]),
        Err(Refusal::TooLarge)
    );
    let record = MutableRecord::sign(crypto, &identity, vec![], 1, vec![0; MAX_VALUE + 1]);
    assert_eq!(
        store.put_mutable(now, crypto, &writer, &from, &token, record),
        Err(Refusal::TooLarge)
    );
    assert_eq!(store.stats().refused_size, 2);
    assert!(store.is_empty());
}

#[test]
fn mutable_records_need_their_owners_signature_and_a_seq_that_does_not_go_down() {
    let (mut store, crypto, identity, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let v2 = MutableRecord::sign(crypto, &identity, b"salt".to_vec(), 2, b"two".to_vec());
    let mut forged = v2.clone();
    forged.value = b"evil".to_vec();
    assert_eq!(
        store.put_mutable(now, crypto, &writer, &from, &token, forged),
        Err(Refusal::BadSignature)
    );
    assert_eq!(
        store.put_mutable(now, crypto, &writer, &from, &token, v2.clone()),
        Ok(())
    );
    let v1 = MutableRecord::sign(crypto, &identity, b"salt".to_vec(), 1, b"one".to_vec());
    assert_eq!(
        store.put_mutable(now, crypto, &writer, &from, &token, v1),
        Err(Refusal::SeqTooLow)
    );
    let other2 = MutableRecord::sign(crypto, &identity, b"salt".to_vec(), 2, b"2bis".to_vec());
    assert_eq!(
        store.put_mutable(now, crypto, &writer, &from, &token, other2),
        Err(Refusal::SeqConflict)
    );
    // The same record again is a refresh, not a conflict.
    assert_eq!(
        store.put_mutable(now, crypto, &writer, &from, &token, v2.clone()),
        Ok(())
    );
    assert_eq!(store.get_mutable(&v2.key(), 2), Some(&v2));
    assert_eq!(store.get_mutable(&v2.key(), 3), None);
}

/// The holder's clocks in the announcement tests: its wall clock reads `UNIX`.
const UNIX: u64 = 1_700_000_000;

fn at(store_now: Time, unix_secs: u64) -> Now {
    Now {
        time: store_now,
        unix_secs,
    }
}

fn identity(seed: u64) -> Identity {
    Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(seed))
}

#[test]
fn announcements_are_signed_listed_withdrawn_and_expire() {
    let (mut store, crypto, identity, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let topic = Key([5; 32]);
    let relay: SocketAddr = "10.0.0.9:7000".parse().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let a = Announcement::sign(crypto, &identity, topic, UNIX, vec![relay]);
    let mut forged = a.clone();
    forged.relays = vec![];
    assert_eq!(
        store.announce(at(now, UNIX), crypto, &writer, &from, &token, forged),
        Err(Refusal::BadSignature)
    );
    assert_eq!(
        store.announce(at(now, UNIX), crypto, &writer, &from, &token, a.clone()),
        Ok(())
    );
    let answer = store.peers(at(now, UNIX), &topic, 20, &mut rng);
    assert_eq!(answer, vec![a.signed_peer()]);
    assert!(
        answer[0].clone().under(topic).verify(crypto),
        "the answer verifies"
    );
    assert!(
        !answer[0].clone().under(Key([6; 32])).verify(crypto),
        "under its topic only"
    );
    let stale = Unannounce::sign(crypto, &identity, topic, UNIX - 1);
    assert_eq!(
        store.unannounce(at(now, UNIX), crypto, &writer, &from, &token, &stale),
        Err(Refusal::Stale)
    );
    let gone = Unannounce::sign(crypto, &identity, topic, UNIX + 1);
    assert_eq!(
        store.unannounce(at(now, UNIX), crypto, &writer, &from, &token, &gone),
        Ok(())
    );
    assert!(store.peers(at(now, UNIX), &topic, 20, &mut rng).is_empty());

    let again = Announcement::sign(crypto, &identity, topic, UNIX + 2, vec![relay]);
    assert_eq!(
        store.announce(at(now, UNIX), crypto, &writer, &from, &token, again),
        Ok(())
    );
    // It lives `ttl` from its signed time, two seconds ahead of the holder's clock.
    let ttl = store.config().ttl;
    store.handle_timeout(now + ttl);
    assert_eq!(store.len(), 1, "alive until its signed time plus ttl");
    store.handle_timeout(now + ttl + Duration::from_secs(2));
    assert!(
        store.peers(at(now, UNIX), &topic, 20, &mut rng).is_empty(),
        "expired"
    );
    assert_eq!(store.stats().expired, 1);
}

#[test]
fn announcements_signed_too_long_ago_or_too_far_ahead_are_refused_and_counted() {
    let (mut store, crypto, identity, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let topic = Key([5; 32]);
    let (ttl, skew) = (
        store.config().ttl.as_secs(),
        store.config().clock_skew.as_secs(),
    );
    let signed = |t| Announcement::sign(crypto, &identity, topic, t, vec![]);
    let clock = at(now, UNIX);
    for (t, want) in [
        (UNIX - ttl, Err(Refusal::Stale)),
        (UNIX + skew + 1, Err(Refusal::Future)),
        (UNIX - ttl + 1, Ok(())),
        (UNIX + skew, Ok(())),
    ] {
        assert_eq!(
            store.announce(clock, crypto, &writer, &from, &token, signed(t)),
            want,
            "signed at {UNIX} {:+}",
            t as i64 - UNIX as i64
        );
    }
    // An announcement older than the one held is a replay too.
    assert_eq!(
        store.announce(clock, crypto, &writer, &from, &token, signed(UNIX)),
        Err(Refusal::Stale)
    );
    let withdraw = |t| Unannounce::sign(crypto, &identity, topic, t);
    assert_eq!(
        store.unannounce(
            clock,
            crypto,
            &writer,
            &from,
            &token,
            &withdraw(UNIX + skew + 1)
        ),
        Err(Refusal::Future)
    );
    assert_eq!(
        store.unannounce(clock, crypto, &writer, &from, &token, &withdraw(UNIX - ttl)),
        Err(Refusal::Stale)
    );
    assert_eq!(store.stats().refused_stale, 5);
    assert_eq!(store.stats().refused_seq, 0);
    // A holder's answer leaves out what has aged past its lifetime meanwhile.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let later = at(now, UNIX + skew + ttl);
    assert!(store.peers(later, &topic, 20, &mut rng).is_empty());
    assert_eq!(store.peers(clock, &topic, 20, &mut rng).len(), 1);
}

#[test]
fn a_replay_after_unannounce_is_refused_until_the_announcement_would_have_expired() {
    let (mut store, crypto, identity, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let topic = Key([5; 32]);
    let clock = at(now, UNIX);
    let announced = Announcement::sign(crypto, &identity, topic, UNIX, vec![]);
    assert_eq!(
        store.announce(clock, crypto, &writer, &from, &token, announced.clone()),
        Ok(())
    );
    // Withdrawn in the same second it was made.
    let gone = Unannounce::sign(crypto, &identity, topic, UNIX);
    assert_eq!(
        store.unannounce(clock, crypto, &writer, &from, &token, &gone),
        Ok(())
    );
    assert_eq!((store.len(), store.tombstones()), (0, 1));
    let later = at(now + Duration::from_secs(60), UNIX + 60);
    assert_eq!(
        store.announce(later, crypto, &writer, &from, &token, announced.clone()),
        Err(Refusal::Stale),
        "the replay is refused"
    );
    assert_eq!(store.stats().refused_stale, 1);
    assert!(store.is_empty());
    // An older withdrawal is refused; the same one again is a retry.
    let older = Unannounce::sign(crypto, &identity, topic, UNIX - 1);
    assert_eq!(
        store.unannounce(later, crypto, &writer, &from, &token, &older),
        Err(Refusal::Stale)
    );
    assert_eq!(
        store.unannounce(later, crypto, &writer, &from, &token, &gone),
        Ok(())
    );
    // The tombstone lives as long as the announcement would have: then it is stale
    // by its own time, and the tombstone goes.
    let ttl = store.config().ttl;
    store.handle_timeout(now + ttl - Duration::from_secs(1));
    assert_eq!(store.tombstones(), 1);
    store.handle_timeout(now + ttl);
    assert_eq!(store.tombstones(), 0);
    let expired = at(now + ttl, UNIX + ttl.as_secs());
    assert_eq!(
        store.announce(expired, crypto, &writer, &from, &token, announced),
        Err(Refusal::Stale),
        "stale by its own time"
    );
    // A newer announcement replaces the tombstone.
    let newer = Announcement::sign(crypto, &identity, topic, UNIX + 1, vec![]);
    assert_eq!(
        store.unannounce(clock, crypto, &writer, &from, &token, &gone),
        Ok(())
    );
    assert_eq!(
        store.announce(clock, crypto, &writer, &from, &token, newer),
        Ok(())
    );
    assert_eq!((store.len(), store.tombstones()), (1, 0));
}

#[test]
fn tombstones_count_against_the_store_limits() {
    let (_, crypto, identity, writer, from, now) = setup();
    let config = StoreConfig {
        max_records: 2,
        ..StoreConfig::default()
    };
    let mut store = Store::new(config, [1; 32], (32, 64));
    let token = store.token(now, &writer, &from);
    let clock = at(now, UNIX);
    for topic in 0..2 {
        let gone = Unannounce::sign(crypto, &identity, Key([topic; 32]), UNIX);
        assert_eq!(
            store.unannounce(clock, crypto, &writer, &from, &token, &gone),
            Ok(())
        );
    }
    assert_eq!(store.tombstones(), 2);
    let gone = Unannounce::sign(crypto, &identity, Key([2; 32]), UNIX);
    assert_eq!(
        store.unannounce(clock, crypto, &writer, &from, &token, &gone),
        Err(Refusal::Full)
    );
    let a = Announcement::sign(crypto, &identity, Key([3; 32]), UNIX, vec![]);
    assert_eq!(
        store.announce(clock, crypto, &writer, &from, &token, a),
        Err(Refusal::Full)
    );
    // Replacing a tombstone takes no more room.
    let a = Announcement::sign(crypto, &identity, Key([0; 32]), UNIX + 1, vec![]);
    assert_eq!(
        store.announce(clock, crypto, &writer, &from, &token, a),
        Ok(())
    );
    assert_eq!((store.len(), store.tombstones()), (1, 1));
}

#[test]
fn answers_are_drawn_at_random_not_the_lowest_keys() {
    let (mut store, crypto, _, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let topic = Key([5; 32]);
    let clock = at(now, UNIX);
    let mut keys = Vec::new();
    for seed in 100..130 {
        let announcer = identity(seed);
        keys.push(announcer.id());
        let a = Announcement::sign(crypto, &announcer, topic, UNIX, vec![]);
        assert_eq!(
            store.announce(clock, crypto, &writer, &from, &token, a),
            Ok(())
        );
    }
    keys.sort();
    let lowest: BTreeSet<NodeId> = keys[..11].iter().copied().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut seen = BTreeSet::new();
    let mut answers = BTreeSet::new();
    for _ in 0..20 {
        let answer = store.peers(clock, &topic, 11, &mut rng);
        assert_eq!(answer.len(), 11);
        let distinct: BTreeSet<NodeId> = answer.iter().map(|p| p.public_key).collect();
        assert_eq!(distinct.len(), 11, "no announcement twice");
        assert!(answer.iter().all(|p| p.clone().under(topic).verify(crypto)));
        seen.extend(distinct.iter().copied());
        answers.insert(answer.iter().map(|p| p.public_key).collect::<Vec<_>>());
    }
    assert_ne!(seen, lowest, "not always the lowest keys");
    assert_eq!(seen.len(), 30, "twenty answers of 11 cover all 30");
    assert!(answers.len() > 15, "answers differ: {}", answers.len());
    // Drawing follows the RNG: the same seed, the same answers.
    let again = store.peers(clock, &topic, 11, &mut ChaCha8Rng::seed_from_u64(5));
    let first = store.peers(clock, &topic, 11, &mut ChaCha8Rng::seed_from_u64(5));
    assert_eq!(again, first);
}

#[test]
fn withdrawals_and_expiry_keep_the_draw_consistent() {
    let (mut store, crypto, _, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let topic = Key([5; 32]);
    let clock = at(now, UNIX);
    let announcers: Vec<Identity> = (200..210).map(identity).collect();
    for (i, announcer) in announcers.iter().enumerate() {
        // The even ones signed a minute earlier, and expire a minute earlier.
        let t = if i % 2 == 0 { UNIX - 60 } else { UNIX };
        let a = Announcement::sign(crypto, announcer, topic, t, vec![]);
        assert_eq!(
            store.announce(clock, crypto, &writer, &from, &token, a),
            Ok(())
        );
    }
    for announcer in &announcers[..3] {
        let gone = Unannounce::sign(crypto, announcer, topic, UNIX);
        assert_eq!(
            store.unannounce(clock, crypto, &writer, &from, &token, &gone),
            Ok(())
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let ids = |peers: Vec<SignedPeer>| -> BTreeSet<NodeId> {
        peers.into_iter().map(|p| p.public_key).collect()
    };
    let want: BTreeSet<NodeId> = announcers[3..].iter().map(Identity::id).collect();
    assert_eq!(ids(store.peers(clock, &topic, 20, &mut rng)), want);
    store.handle_timeout(now + store.config().ttl - Duration::from_secs(60));
    let odd: BTreeSet<NodeId> = (3..10)
        .filter(|i| i % 2 == 1)
        .map(|i| announcers[i].id())
        .collect();
    assert_eq!(ids(store.peers(clock, &topic, 20, &mut rng)), odd);
    store.handle_timeout(now + store.config().ttl);
    assert!(store.peers(clock, &topic, 20, &mut rng).is_empty());
    assert_eq!((store.len(), store.tombstones()), (0, 0));
    assert!(store.quotas.is_empty(), "every count went with its record");
}

#[test]
fn limits_per_node_and_per_writer_are_refusals() {
    let (_, _, _, writer, from, now) = setup();
    let config = StoreConfig {
        max_records: 3,
        max_per_peer: 2,
        ..StoreConfig::default()
    };
    let mut store = Store::new(config, [1; 32], (32, 64));
    let token = store.token(now, &writer, &from);
    for i in 0..2u8 {
        assert_eq!(
            store.put_immutable(now, &writer, &from, &token, vec![i]),
            Ok(())
        );
    }
    assert_eq!(
        store.put_immutable(now, &writer, &from, &token, vec![9]),
        Err(Refusal::PeerQuota)
    );
    let other = NodeId([8; 32]);
    let token2 = store.token(now, &other, &from);
    assert_eq!(
        store.put_immutable(now, &other, &from, &token2, vec![7]),
        Ok(())
    );
    assert_eq!(
        store.put_immutable(now, &other, &from, &token2, vec![6]),
        Err(Refusal::Full)
    );
    assert_eq!(store.stats().refused_full, 2);
}

#[test]
fn identities_on_one_address_share_a_quota_that_others_do_not() {
    let (_, _, _, _, _, now) = setup();
    let config = StoreConfig {
        max_per_peer: 2,
        max_per_block: 3,
        ..StoreConfig::default()
    };
    let mut store = Store::new(config, [1; 32], (32, 64));
    let put = |store: &mut Store, id: u8, from: &str, value: u8| {
        let (writer, from) = (NodeId([id; 32]), from.parse().unwrap());
        let token = store.token(now, &writer, &from);
        store.put_immutable(now, &writer, &from, &token, vec![value])
    };
    // Two identities of one address, each under its own quota, fill the block's.
    assert_eq!(put(&mut store, 1, "10.0.0.1:7000", 1), Ok(()));
    assert_eq!(put(&mut store, 1, "10.0.0.1:7000", 2), Ok(()));
    assert_eq!(put(&mut store, 2, "10.0.0.1:7001", 3), Ok(()));
    assert_eq!(
        put(&mut store, 3, "10.0.0.1:7002", 4),
        Err(Refusal::BlockQuota),
        "a third identity of the same address"
    );
    // Writing again what is held takes no more room.
    assert_eq!(put(&mut store, 2, "10.0.0.1:7001", 3), Ok(()));
    // Another address has its own; loopback writers have only their own.
    assert_eq!(put(&mut store, 4, "10.0.0.2:7000", 5), Ok(()));
    for (id, value) in [(5, 6), (5, 7), (6, 8), (6, 9)] {
        assert_eq!(put(&mut store, id, "127.0.0.1:7000", value), Ok(()));
    }
    assert_eq!(store.stats().refused_block, 1);
    assert_eq!(store.stats().refused_full, 0);
    // The block's room comes back as its records expire.
    store.handle_timeout(now + store.config().ttl);
    assert!(store.is_empty() && store.quotas.is_empty());
    assert_eq!(put(&mut store, 3, "10.0.0.1:7002", 4), Ok(()));
}
