use super::*;
use crate::proto::crypto::CryptoSuite;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn setup() -> (
    Store,
    &'static dyn Crypto,
    Identity,
    NodeId,
    SocketAddr,
    Time,
) {
    let store = Store::new(StoreConfig::default(), [9; 32]);
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

#[test]
fn announcements_are_signed_listed_withdrawn_and_expire() {
    let (mut store, crypto, identity, writer, from, now) = setup();
    let token = store.token(now, &writer, &from);
    let topic = Key([5; 32]);
    let relay: SocketAddr = "10.0.0.9:7000".parse().unwrap();
    let a = Announcement::sign(crypto, &identity, topic, 100, vec![relay]);
    let mut forged = a.clone();
    forged.relays = vec![];
    assert_eq!(
        store.announce(now, crypto, &writer, &from, &token, forged),
        Err(Refusal::BadSignature)
    );
    assert_eq!(
        store.announce(now, crypto, &writer, &from, &token, a.clone()),
        Ok(())
    );
    assert_eq!(store.peers(&topic, 20), vec![a.peer()]);
    let stale = Unannounce::sign(crypto, &identity, topic, 99);
    assert_eq!(
        store.unannounce(now, crypto, &writer, &from, &token, &stale),
        Err(Refusal::Stale)
    );
    let gone = Unannounce::sign(crypto, &identity, topic, 101);
    assert_eq!(
        store.unannounce(now, crypto, &writer, &from, &token, &gone),
        Ok(())
    );
    assert!(store.peers(&topic, 20).is_empty());

    assert_eq!(
        store.announce(now, crypto, &writer, &from, &token, a),
        Ok(())
    );
    store.handle_timeout(now + store.config().ttl);
    assert!(store.peers(&topic, 20).is_empty(), "expired");
    assert_eq!(store.stats().expired, 1);
}

#[test]
fn limits_per_node_and_per_writer_are_refusals() {
    let (_, _, _, writer, from, now) = setup();
    let config = StoreConfig {
        max_records: 3,
        max_per_peer: 2,
        ..StoreConfig::default()
    };
    let mut store = Store::new(config, [1; 32]);
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
