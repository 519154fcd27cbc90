//! Routing table benches: inserting 10,000 random contacts, asking `has_room_for` of
//! each of them once they are in, and `closest(target, 20)` on a Kademlia-sized table
//! (k = 20) and on one that holds all 10,000 contacts.
//!
//! The contacts arrive within 10 ms, well inside `good_for`: a full bucket queues
//! every newcomer without asking for a liveness check, and `has_room_for` answers
//! `false` for every contact that did not fit.
//!
//! Fixed seeds: every run inserts the same ids and asks for the same targets.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dswarm::proto::table::{RoutingTable, TableConfig};
use dswarm::proto::{NodeId, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const SEED: u64 = 0xBE7C_0001;
const CONTACTS: usize = 10_000;
/// Targets the `closest` benches rotate through.
const TARGETS: usize = 1024;
const K: usize = 20;

fn random_id(rng: &mut ChaCha8Rng) -> NodeId {
    let mut id = [0u8; 32];
    rng.fill_bytes(&mut id);
    NodeId(id)
}

/// The local id, the contacts to insert, and the `closest` targets.
fn inputs() -> (NodeId, Vec<(NodeId, SocketAddr)>, Vec<NodeId>) {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let local = random_id(&mut rng);
    let contacts = (0..CONTACTS)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0A00_0001 + i as u32);
            (random_id(&mut rng), SocketAddr::from((ip, 7000)))
        })
        .collect();
    let targets = (0..TARGETS).map(|_| random_id(&mut rng)).collect();
    (local, contacts, targets)
}

fn filled(local: NodeId, config: TableConfig, contacts: &[(NodeId, SocketAddr)]) -> RoutingTable {
    let mut table = RoutingTable::new(Time::ZERO, local, config);
    for (i, (id, addr)) in contacts.iter().enumerate() {
        table.insert(Time::from_micros(i as u64), *id, *addr);
    }
    table
}

fn table(c: &mut Criterion) {
    let (local, contacts, targets) = inputs();
    let k20 = filled(local, TableConfig::default(), &contacts);
    let all = filled(
        local,
        TableConfig {
            bucket_capacity: CONTACTS,
            ..TableConfig::default()
        },
        &contacts,
    );
    assert_eq!(all.len(), CONTACTS, "the big table holds every contact");
    eprintln!(
        "table: {CONTACTS} random contacts inserted; k = {K} table holds {}, \
         k = {CONTACTS} table holds {}",
        k20.len(),
        all.len()
    );

    c.bench_function("table/insert_10k_k20", |b| {
        b.iter_batched(
            || RoutingTable::new(Time::ZERO, local, TableConfig::default()),
            |mut table| {
                for (i, (id, addr)) in contacts.iter().enumerate() {
                    black_box(table.insert(Time::from_micros(i as u64), *id, *addr));
                }
                table
            },
            BatchSize::SmallInput,
        );
    });

    // The question a node asks on every beacon of a stranger.
    let asked_at = Time::from_micros(CONTACTS as u64);
    let room = contacts
        .iter()
        .filter(|(id, _)| k20.has_room_for(asked_at, id))
        .count();
    assert_eq!(room, k20.len(), "only the held contacts have room");
    c.bench_function("table/has_room_for_10k_k20", |b| {
        b.iter(|| {
            contacts
                .iter()
                .filter(|(id, _)| k20.has_room_for(asked_at, black_box(id)))
                .count()
        });
    });

    let mut next = 0;
    c.bench_function("table/closest_20_k20", |b| {
        b.iter(|| {
            next = (next + 1) % TARGETS;
            black_box(k20.closest(&targets[next], K))
        });
    });

    let mut next = 0;
    c.bench_function("table/closest_20_all_10k", |b| {
        b.iter(|| {
            next = (next + 1) % TARGETS;
            black_box(all.closest(&targets[next], K))
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = table
}
criterion_main!(benches);
