//! Property tests of the XOR metric ([`dswarm::proto::id`]).
//!
//! `Distance` must be a metric with Kademlia's extra laws (XOR composition,
//! unidirectionality), ordered as a 256-bit big-endian integer, and its bucket index,
//! leading zeros and bits must agree with that integer. The integer is modelled as a
//! `(u128, u128)` pair, high half first, so the checks do not reuse the code under test.
//!
//! Uniformly random ids almost never share more than a few leading bits, so the
//! strategies also build ids that share a prefix of any length with another.
//!
//! The runs use a fixed seed; `PROPTEST_RNG_SEED=N` picks another and
//! `PROPTEST_CASES=N` changes the number of cases. Failures are kept in
//! `proptest-regressions/prop_id.txt` and replayed first.

use dswarm::proto::id::ID_LEN;
use dswarm::proto::{Distance, Key, NodeId};
use proptest::prelude::*;

/// The seed of every run unless `PROPTEST_RNG_SEED` says otherwise.
const SEED: u64 = 0x5EED_0002;

#[path = "support/seeded.rs"]
mod seeded;

fn config(cases: u32) -> ProptestConfig {
    seeded::config(SEED, cases, "proptest-regressions/prop_id.txt")
}

/// How to rerun a failure, for assertion messages.
fn reproduce() -> String {
    seeded::reproduce(SEED, "prop_id")
}

/// The reference: 32 big-endian bytes as a (high, low) pair of `u128`s, whose derived
/// tuple order is the integer order.
fn wide(bytes: &[u8; ID_LEN]) -> (u128, u128) {
    let hi = u128::from_be_bytes(bytes[..16].try_into().unwrap());
    let lo = u128::from_be_bytes(bytes[16..].try_into().unwrap());
    (hi, lo)
}

fn wide_leading_zeros((hi, lo): (u128, u128)) -> u32 {
    if hi != 0 {
        hi.leading_zeros()
    } else {
        128 + lo.leading_zeros()
    }
}

fn wide_bit((hi, lo): (u128, u128), index: usize) -> bool {
    if index >= 128 {
        hi >> (index - 128) & 1 == 1
    } else {
        lo >> index & 1 == 1
    }
}

fn xor_bytes(a: &[u8; ID_LEN], b: &[u8; ID_LEN]) -> [u8; ID_LEN] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; ID_LEN]>().prop_map(NodeId)
}

/// A random id, and another that agrees with it above bit `top` and may differ
/// anywhere at or below it (`top = None`: the same id). Covers every prefix length.
fn id_near(base: NodeId) -> impl Strategy<Value = NodeId> {
    (
        prop::option::weighted(0.95, 0..256usize),
        any::<[u8; ID_LEN]>(),
    )
        .prop_map(move |(top, noise)| {
            let Some(top) = top else {
                return base;
            };
            let mut id = base.0;
            for bit in 0..=top {
                let byte = ID_LEN - 1 - bit / 8;
                let mask = 1u8 << (bit % 8);
                id[byte] ^= noise[byte] & mask;
            }
            NodeId(id)
        })
}

/// Three ids, often sharing long prefixes with each other.
fn three_ids() -> impl Strategy<Value = (NodeId, NodeId, NodeId)> {
    node_id().prop_flat_map(|a| (Just(a), id_near(a), id_near(a)))
}

fn distance() -> impl Strategy<Value = Distance> {
    prop_oneof![
        any::<[u8; ID_LEN]>().prop_map(Distance),
        // Short distances: a single bit set, or the low bytes only.
        (0..256usize).prop_map(|bit| {
            let mut d = [0u8; ID_LEN];
            d[ID_LEN - 1 - bit / 8] = 1 << (bit % 8);
            Distance(d)
        }),
        (0..=ID_LEN, any::<[u8; ID_LEN]>()).prop_map(|(zeros, mut d)| {
            d[..zeros].fill(0);
            Distance(d)
        }),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn distance_is_the_bytewise_xor((a, b, _) in three_ids()) {
        prop_assert_eq!(a.distance(&b).0, xor_bytes(&a.0, &b.0));
    }

    #[test]
    fn distance_to_self_is_zero(a in node_id()) {
        prop_assert_eq!(a.distance(&a), Distance::ZERO);
        prop_assert_eq!(a.bucket_index(&a), None);
    }

    #[test]
    fn distance_is_symmetric((a, b, _) in three_ids()) {
        prop_assert_eq!(a.distance(&b), b.distance(&a));
        prop_assert_eq!(a.bucket_index(&b), b.bucket_index(&a));
    }

    #[test]
    fn distance_is_zero_exactly_between_equal_ids((a, b, _) in three_ids()) {
        prop_assert_eq!(a.distance(&b) == Distance::ZERO, a == b, "{}", reproduce());
    }

    #[test]
    fn distances_compose_by_xor((a, b, c) in three_ids()) {
        // d(a,c) = d(a,b) ^ d(b,c): the XOR metric's "triangle".
        let composed = xor_bytes(&a.distance(&b).0, &b.distance(&c).0);
        prop_assert_eq!(a.distance(&c).0, composed);
        // ... which implies the triangle inequality of the integer order.
        let (ab, bc, ac) = (wide(&a.distance(&b).0), wide(&b.distance(&c).0), wide(&a.distance(&c).0));
        let sum = |(h1, l1): (u128, u128), (h2, l2): (u128, u128)| {
            let (lo, carry) = l1.overflowing_add(l2);
            // Both highs below 2^128 and a carry of one: the 257-bit sum as (overflow, hi, lo).
            let (hi, o1) = h1.overflowing_add(h2);
            let (hi, o2) = hi.overflowing_add(u128::from(carry));
            (o1 || o2, hi, lo)
        };
        prop_assert!((false, ac.0, ac.1) <= sum(ab, bc), "{}", reproduce());
    }

    #[test]
    fn distance_from_one_point_is_unidirectional((a, b, c) in three_ids()) {
        // For a fixed a, distinct ids are at distinct distances.
        prop_assert_eq!(b == c, a.distance(&b) == a.distance(&c), "{}", reproduce());
    }

    #[test]
    fn distance_orders_as_a_big_endian_integer(x in distance(), y in distance()) {
        prop_assert_eq!(x.cmp(&y), wide(&x.0).cmp(&wide(&y.0)), "{}", reproduce());
    }

    #[test]
    fn id_distances_order_as_big_endian_integers((a, b, c) in three_ids()) {
        let (ab, ac) = (a.distance(&b), a.distance(&c));
        prop_assert_eq!(ab.cmp(&ac), wide(&ab.0).cmp(&wide(&ac.0)));
    }

    #[test]
    fn bucket_index_agrees_with_leading_zeros(d in distance()) {
        let zeros = wide_leading_zeros(wide(&d.0));
        prop_assert_eq!(d.leading_zeros(), zeros);
        match d.bucket_index() {
            None => prop_assert_eq!(zeros, 256),
            Some(index) => {
                prop_assert!(index < 256);
                prop_assert_eq!(index as u32, 255 - zeros);
                prop_assert!(d.bit(index), "the bucket bit is set");
            }
        }
    }

    #[test]
    fn bits_agree_with_the_integer(d in distance(), index in 0..256usize) {
        prop_assert_eq!(d.bit(index), wide_bit(wide(&d.0), index));
    }

    #[test]
    fn bucket_index_is_the_highest_differing_bit((a, b, _) in three_ids()) {
        let d = a.distance(&b);
        prop_assert_eq!(a.bucket_index(&b), d.bucket_index());
        if let Some(index) = d.bucket_index() {
            // a and b agree above the index and differ at it.
            let (da, db) = (wide(&a.0), wide(&b.0));
            prop_assert_ne!(wide_bit(da, index), wide_bit(db, index));
            for bit in index + 1..256 {
                prop_assert_eq!(wide_bit(da, bit), wide_bit(db, bit));
            }
        }
    }

    #[test]
    fn closer_buckets_are_closer_distances((a, b, c) in three_ids()) {
        // Bucket indices order distances coarsely: a lower bucket is strictly closer.
        let (ib, ic) = (a.bucket_index(&b), a.bucket_index(&c));
        if ib < ic {
            prop_assert!(a.distance(&b) < a.distance(&c), "{}", reproduce());
        }
    }

    #[test]
    fn hex_round_trips(a in node_id(), d in distance()) {
        let text = a.to_string();
        prop_assert_eq!(text.len(), 64);
        prop_assert_eq!(text.parse::<NodeId>(), Ok(a));
        prop_assert_eq!(text.to_uppercase().parse::<NodeId>(), Ok(a));
        prop_assert_eq!(format!("{a:?}"), &text[..8]);
        prop_assert_eq!(d.to_string().parse::<Distance>(), Ok(d));
    }

    #[test]
    fn hex_parsing_never_panics(text in "\\PC{0,70}") {
        let _ = text.parse::<NodeId>();
        let _ = text.parse::<Key>();
    }

    #[test]
    fn keys_are_points_of_the_id_space(data in prop::collection::vec(any::<u8>(), 0..64)) {
        let key = Key::of(&data);
        prop_assert_eq!(NodeId::from_key(key).0, key.0);
        prop_assert_eq!(key.to_string().parse::<Key>(), Ok(key));
    }
}
