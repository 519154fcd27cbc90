use super::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Contact `i`'s address: one IP per contact, as the address block limits expect.
fn addr(i: u16) -> SocketAddr {
    let [hi, lo] = i.to_be_bytes();
    SocketAddr::from(([10, 0, hi, lo], 7000))
}

fn id_with_prefix(first: u8, rest: u8) -> NodeId {
    let mut b = [rest; 32];
    b[0] = first;
    NodeId(b)
}

fn small_table(k: usize) -> RoutingTable {
    small_table_good_for(k, TableConfig::default().good_for)
}

/// A table whose contacts count as alive for `good_for` after they were heard.
fn small_table_good_for(k: usize, good_for: Duration) -> RoutingTable {
    let config = TableConfig {
        bucket_capacity: k,
        replacement_capacity: 2,
        good_for,
        ..TableConfig::default()
    };
    RoutingTable::new(Time::ZERO, NodeId([0; 32]), config)
}

fn t(secs: u64) -> Time {
    Time::ZERO + Duration::from_secs(secs)
}

/// Whether `insert` may have put the id in the table, as `has_room_for` predicts.
fn may_enter(outcome: InsertOutcome) -> bool {
    !matches!(outcome, InsertOutcome::Queued | InsertOutcome::IsSelf)
}

#[test]
fn never_holds_itself() {
    let mut table = small_table(2);
    assert_eq!(
        table.insert(Time::ZERO, NodeId([0; 32]), addr(1)),
        InsertOutcome::IsSelf
    );
    assert!(table.is_empty());
}

#[test]
fn full_bucket_pings_the_least_recently_seen_before_evicting() {
    // Every contact is due for a check as soon as a candidate comes.
    let mut table = small_table_good_for(2, Duration::ZERO);
    let (a, b, c, d) = (
        id_with_prefix(0x80, 1),
        id_with_prefix(0x81, 2),
        id_with_prefix(0x82, 3),
        id_with_prefix(0x83, 4),
    );
    assert_eq!(table.insert(t(1), a, addr(1)), InsertOutcome::Inserted);
    assert_eq!(table.insert(t(2), b, addr(2)), InsertOutcome::Inserted);
    let InsertOutcome::Pending { ping } = table.insert(t(3), c, addr(3)) else {
        panic!("a full bucket asks for a check");
    };
    assert_eq!(ping.id, a, "the least recently seen is checked");
    assert_eq!(table.insert(t(4), d, addr(4)), InsertOutcome::Queued);

    // `a` answers: it stays, and the candidates keep waiting.
    assert_eq!(table.insert(t(5), a, addr(1)), InsertOutcome::Updated);
    assert!(table.get(&c).is_none());
    // Next candidate triggers a check of `b`, which fails: the newest replacement wins.
    let InsertOutcome::Pending { ping } = table.insert(t(6), c, addr(3)) else {
        panic!("a full bucket asks for a check");
    };
    assert_eq!(ping.id, b);
    let evicted = table.check_failed(&b).expect("b was held");
    assert_eq!(evicted.evicted.id, b);
    assert_eq!(evicted.replaced_by.map(|c| c.id), Some(c));
    assert_eq!(table.len(), 2);
    assert!(table.get(&a).is_some() && table.get(&c).is_some());
}

#[test]
fn full_bucket_of_fresh_contacts_queues_without_a_check() {
    let mut table = small_table(2);
    let good_for = table.config().good_for;
    let (a, b, c, d) = (
        id_with_prefix(0x80, 1),
        id_with_prefix(0x81, 2),
        id_with_prefix(0x82, 3),
        id_with_prefix(0x83, 4),
    );
    assert_eq!(table.insert(t(1), a, addr(1)), InsertOutcome::Inserted);
    assert_eq!(table.insert(t(2), b, addr(2)), InsertOutcome::Inserted);
    // `a`, the least recently seen, was heard from just under `good_for` ago.
    let fresh = t(1) + good_for - Duration::from_micros(1);
    assert!(!table.has_room_for(fresh, &c));
    assert_eq!(table.insert(fresh, c, addr(3)), InsertOutcome::Queued);
    assert_eq!(table.insert(fresh, d, addr(4)), InsertOutcome::Queued);
    // Nobody left, nobody is being checked: the next candidate may still ask.
    assert!(table.get(&a).is_some() && table.get(&b).is_some());
    assert!(table.get(&c).is_none() && table.get(&d).is_none());

    // Once `a` has been silent for `good_for`, a candidate asks for its check.
    let due = t(1) + good_for;
    assert!(table.has_room_for(due, &c));
    let InsertOutcome::Pending { ping } = table.insert(due, c, addr(3)) else {
        panic!("a silent contact is checked");
    };
    assert_eq!(ping.id, a);
    assert!(!table.has_room_for(due, &d), "one check at a time");
    assert_eq!(table.insert(due, d, addr(4)), InsertOutcome::Queued);

    // `a` answers and is fresh again; `b` (seen at 2 s) is the next one due.
    assert_eq!(table.insert(due, a, addr(1)), InsertOutcome::Updated);
    assert!(!table.has_room_for(t(2) + good_for - Duration::from_micros(1), &c));
    let InsertOutcome::Pending { ping } = table.insert(t(2) + good_for, c, addr(3)) else {
        panic!("b is due for a check");
    };
    assert_eq!(ping.id, b);
}

#[test]
fn has_room_for_agrees_with_insert() {
    let (a, b, c, d) = (
        id_with_prefix(0x80, 1),
        id_with_prefix(0x81, 2),
        id_with_prefix(0x82, 3),
        id_with_prefix(0x83, 4),
    );
    let mut table = small_table(2);
    let good_for = table.config().good_for;
    let insert = |table: &mut RoutingTable, now: Time, id: NodeId| {
        let room = table.has_room_for(now, &id);
        let outcome = table.insert(now, id, addr(u16::from(id.0[31])));
        assert_eq!(room, may_enter(outcome), "{outcome:?} at {now:?}");
        outcome
    };
    assert!(!table.has_room_for(t(0), &NodeId([0; 32])), "never itself");
    assert_eq!(insert(&mut table, t(1), a), InsertOutcome::Inserted);
    assert_eq!(insert(&mut table, t(2), b), InsertOutcome::Inserted);
    assert_eq!(insert(&mut table, t(3), c), InsertOutcome::Queued);
    assert_eq!(insert(&mut table, t(4), b), InsertOutcome::Updated);
    let due = t(1) + good_for;
    assert!(matches!(
        insert(&mut table, due, d),
        InsertOutcome::Pending { ping } if ping.id == a
    ));
    assert_eq!(insert(&mut table, due, c), InsertOutcome::Queued);
    assert_eq!(insert(&mut table, due, a), InsertOutcome::Updated);
    // `b`, seen at 4 s, is the oldest now, and fresh.
    assert_eq!(insert(&mut table, due, d), InsertOutcome::Queued);
    // With no candidate waiting, two failures leave `b` stale but held; a stale
    // contact makes room at once, fresh or not.
    table.remove(&c);
    table.remove(&d);
    assert_eq!(table.on_failure(&b), None);
    assert_eq!(table.on_failure(&b), None);
    assert!(matches!(
        insert(&mut table, due, c),
        InsertOutcome::Replaced { evicted } if evicted.id == b
    ));
}

#[test]
fn stale_contacts_are_replaced_without_a_check() {
    let mut table = small_table(1);
    let (a, b) = (id_with_prefix(0x80, 1), id_with_prefix(0x81, 2));
    table.insert(Time::ZERO, a, addr(1));
    assert_eq!(table.on_failure(&a), None);
    assert_eq!(table.on_failure(&a), None, "no replacement waits: kept");
    let outcome = table.insert(Time::ZERO, b, addr(2));
    assert!(matches!(outcome, InsertOutcome::Replaced { evicted } if evicted.id == a));
    assert_eq!(table.len(), 1);
}

#[test]
fn closest_matches_a_brute_force_sort() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let local = NodeId([0x55; 32]);
    let mut table = RoutingTable::new(Time::ZERO, local, TableConfig::default());
    for i in 0..3000u16 {
        let id = table.random_id_in_bucket(255 - usize::from(i % 12), &mut rng);
        table.insert(Time::ZERO, id, addr(i));
    }
    let mut all: Vec<Contact> = table.iter().copied().collect();
    for _ in 0..50 {
        let mut target = [0u8; 32];
        rng.fill_bytes(&mut target);
        let target = NodeId(target);
        all.sort_by_key(|c| c.id.distance(&target));
        let got: Vec<NodeId> = table.closest(&target, 20).iter().map(|c| c.id).collect();
        let want: Vec<NodeId> = all.iter().take(20).map(|c| c.id).collect();
        assert_eq!(got, want);
    }
    // Target = local id: every bucket is visited from the nearest.
    all.sort_by_key(|c| c.id.distance(&local));
    let got: Vec<NodeId> = table.closest(&local, 7).iter().map(|c| c.id).collect();
    let want: Vec<NodeId> = all.iter().take(7).map(|c| c.id).collect();
    assert_eq!(got, want);
}

#[test]
fn find_node_answers_name_good_contacts_before_silent_ones() {
    let mut table = small_table(8);
    let good_for = table.config().good_for;
    let target = id_with_prefix(0x80, 0);
    // Closest to the target first: a, b, c went silent; d, e, f were heard lately.
    let ids: Vec<NodeId> = (1..=6).map(|i| id_with_prefix(0x80, i)).collect();
    for (i, id) in ids.iter().enumerate() {
        let heard = if i < 3 { t(0) } else { t(1) };
        table.insert(heard, *id, addr(i as u16));
    }
    let now = t(0) + good_for;
    let names = |n: usize, except: &NodeId| -> Vec<NodeId> {
        let got = table.closest_good(now, &target, n, except);
        got.iter().map(|c| c.id).collect()
    };
    let nobody = NodeId([0xff; 32]);
    // Enough good ones: the silent ones, though closer, are left out.
    assert_eq!(names(3, &nobody), ids[3..6]);
    // The asker is never named: a silent one fills its place.
    assert_eq!(names(3, &ids[4]), vec![ids[0], ids[3], ids[5]]);
    // Too few good ones: the closest silent ones fill up, all closest first.
    assert_eq!(
        names(5, &nobody),
        vec![ids[0], ids[1], ids[3], ids[4], ids[5]]
    );
    // All of them good (a moment earlier): the plain k closest.
    let earlier = t(1);
    let all = table.closest_good(earlier, &target, 4, &nobody);
    assert_eq!(all, table.closest(&target, 4));
}

#[test]
fn closest_good_matches_a_brute_force_sort() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let local = NodeId([0x55; 32]);
    let mut table = RoutingTable::new(Time::ZERO, local, TableConfig::default());
    for i in 0..3000u16 {
        let id = table.random_id_in_bucket(255 - usize::from(i % 12), &mut rng);
        table.insert(Time::ZERO, id, addr(i));
    }
    // About half of them are heard from again later; the others go silent.
    let now = Time::ZERO + table.config().good_for;
    let held: Vec<Contact> = table.iter().copied().collect();
    for c in &held {
        if rng.next_u32() % 2 == 0 {
            table.insert(now, c.id, c.addr);
        }
    }
    let all: Vec<Contact> = table.iter().copied().collect();
    for round in 0..60 {
        let mut target = [0u8; 32];
        rng.fill_bytes(&mut target);
        let target = NodeId(target);
        let n = [1, 8, 20, 200][round % 4];
        let except = all[rng.next_u32() as usize % all.len()].id;
        let mut sorted: Vec<&Contact> = all.iter().filter(|c| c.id != except).collect();
        sorted.sort_by_key(|c| c.id.distance(&target));
        let (good, silent): (Vec<&Contact>, Vec<&Contact>) =
            sorted.iter().partition(|c| c.last_seen == now);
        let mut want: Vec<NodeId> = good.iter().take(n).map(|c| c.id).collect();
        let fill = n - want.len();
        want.extend(silent.iter().take(fill).map(|c| c.id));
        want.sort_by_key(|id| id.distance(&target));
        let got: Vec<NodeId> = table
            .closest_good(now, &target, n, &except)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(got, want, "n = {n}");
    }
}

#[test]
fn bucket_order_visits_every_bucket_once() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for _ in 0..20 {
        let mut d = [0u8; 32];
        rng.fill_bytes(&mut d);
        let mut seen: Vec<usize> = BucketOrder::new(Distance(d), [u64::MAX; 4]).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..BUCKETS).collect::<Vec<_>>());
        // Only occupied buckets, and in an order where every bucket's ids are
        // nearer to the target than any later bucket's.
        let occupied = [rng.next_u64(), 0, rng.next_u64(), 1 << 63];
        let order: Vec<usize> = BucketOrder::new(Distance(d), occupied).collect();
        let full: Vec<usize> = BucketOrder::new(Distance(d), [u64::MAX; 4])
            .filter(|&i| occupied[i / 64] >> (i % 64) & 1 == 1)
            .collect();
        assert_eq!(order, full);
    }
    assert_eq!(
        BucketOrder::new(Distance::ZERO, [u64::MAX; 4]).count(),
        BUCKETS
    );
}

#[test]
fn random_ids_land_in_the_asked_bucket() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let table = RoutingTable::new(Time::ZERO, NodeId([0xA7; 32]), TableConfig::default());
    for index in [0, 1, 7, 8, 100, 254, 255] {
        let id = table.random_id_in_bucket(index, &mut rng);
        assert_eq!(table.local().bucket_index(&id), Some(index));
    }
}

#[test]
fn staggered_refreshes_come_earlier_by_their_offset() {
    let mut table = small_table(4);
    table.insert(Time::ZERO, id_with_prefix(0x80, 1), addr(1));
    let interval = TableConfig::default().refresh_interval;
    table.stagger_refresh(|| interval / 4);
    assert_eq!(
        table.poll_timeout(),
        Some(Time::ZERO + interval + interval / 4)
    );
    // Never postponed by more than one interval at a time.
    table.stagger_refresh(|| interval * 10);
    assert_eq!(
        table.poll_timeout(),
        Some(Time::ZERO + interval * 2 + interval / 4)
    );
}

#[test]
fn refresh_is_due_only_for_idle_nonempty_buckets() {
    let mut table = small_table(4);
    assert_eq!(table.poll_timeout(), None);
    let a = id_with_prefix(0x80, 1);
    table.insert(Time::ZERO, a, addr(1));
    let due = Time::ZERO + TableConfig::default().refresh_interval;
    assert_eq!(table.poll_timeout(), Some(due));
    assert_eq!(table.poll_refresh(due - Duration::from_secs(1)), None);
    assert_eq!(table.poll_refresh(due), Some(255));
    assert_eq!(table.poll_refresh(due), None);
    table.mark_refreshed(due + Duration::from_secs(5), &a);
    assert_eq!(
        table.poll_timeout(),
        Some(due + Duration::from_secs(5) + TableConfig::default().refresh_interval)
    );
}

#[test]
fn a_bucket_whose_contacts_keep_talking_is_not_refreshed() {
    let mut table = small_table(4);
    let interval = TableConfig::default().refresh_interval;
    let a = id_with_prefix(0x80, 1);
    let b = id_with_prefix(0x40, 1);
    table.insert(Time::ZERO, a, addr(1));
    table.insert(Time::ZERO, b, addr(2));
    // `a` is heard from half-way through the interval; `b`'s bucket stays silent.
    table.insert(Time::ZERO + interval / 2, a, addr(1));
    let due = Time::ZERO + interval;
    assert_eq!(table.poll_refresh(due), Some(254), "b's silent bucket");
    assert_eq!(
        table.poll_refresh(due),
        None,
        "a's bucket heard from lately"
    );
    // Nothing due: the deadline moved on to a's bucket's, it does not stay in the past.
    assert_eq!(
        table.poll_timeout(),
        Some(Time::ZERO + interval / 2 + interval)
    );
    assert_eq!(
        table.poll_refresh(Time::ZERO + interval / 2 + interval),
        Some(255)
    );
}

#[test]
fn the_neighbourhood_ends_at_the_bucket_of_the_kth_closest() {
    let mut table = small_table(2);
    assert_eq!(table.neighbourhood(), None);
    // Buckets 255 (first bit differs) with two contacts, 254 with one, 1 with one.
    table.insert(Time::ZERO, id_with_prefix(0x80, 1), addr(1));
    table.insert(Time::ZERO, id_with_prefix(0x80, 2), addr(2));
    table.insert(Time::ZERO, id_with_prefix(0x40, 1), addr(3));
    assert_eq!(
        table.neighbourhood(),
        Some(255),
        "k = 2: 254 holds one, 255 more"
    );
    let mut near = [0u8; 32];
    near[31] = 2;
    table.insert(Time::ZERO, NodeId(near), addr(4));
    assert_eq!(table.neighbourhood(), Some(254));
    // One lookup of the own id refreshes buckets 0..=254 but not 255.
    let interval = TableConfig::default().refresh_interval;
    table.mark_neighbourhood_refreshed(Time::ZERO + interval / 2, 254);
    assert_eq!(table.poll_refresh(Time::ZERO + interval), Some(255));
    assert_eq!(table.poll_refresh(Time::ZERO + interval), None);
}

#[test]
fn a_full_bucket_of_the_neighbourhood_keeps_the_closer_contacts() {
    let mut table = small_table(2);
    let (far, mid, near) = (
        id_with_prefix(0x83, 1),
        id_with_prefix(0x82, 2),
        id_with_prefix(0x80, 3),
    );
    assert_eq!(table.insert(t(1), far, addr(1)), InsertOutcome::Inserted);
    assert_eq!(table.insert(t(1), mid, addr(2)), InsertOutcome::Inserted);
    // Bucket 255 holds this node's two closest: a closer newcomer takes the place
    // of the farther one, which waits among the replacements.
    assert_eq!(
        table.insert(t(2), near, addr(3)),
        InsertOutcome::Replaced {
            evicted: Contact {
                id: far,
                addr: addr(1),
                last_seen: t(1),
                failures: 0
            }
        }
    );
    assert!(table.get(&near).is_some() && table.get(&mid).is_some());
    assert!(table.get(&far).is_none());
    // A farther newcomer does not displace anybody.
    assert_eq!(table.insert(t(3), far, addr(1)), InsertOutcome::Queued);

    // Once two closer contacts fill bucket 254, bucket 255 is beyond the
    // neighbourhood and keeps whoever came first.
    let mut table = small_table(2);
    table.insert(t(1), id_with_prefix(0x40, 4), addr(4));
    table.insert(t(1), id_with_prefix(0x41, 5), addr(5));
    table.insert(t(1), far, addr(1));
    table.insert(t(1), mid, addr(2));
    assert_eq!(table.insert(t(2), near, addr(3)), InsertOutcome::Queued);
    assert!(table.get(&far).is_some() && table.get(&near).is_none());
}
