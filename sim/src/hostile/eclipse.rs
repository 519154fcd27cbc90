//! Eclipse attackers: identities ground near the keys the workload will use, spread
//! over a few shared addresses.
//!
//! In: the run's seed, the eclipse nodes (from the [`Roster`](super::Roster) draw),
//! the keys to attack in the order the workload first uses them, the honest nodes'
//! ids, and `eclipse_identities` and `eclipse_addresses`. Out: an [`Eclipse`]: each
//! attacker's address group, the secret seed of its ground identity, and the allies
//! (every attacker's id and address) they answer FIND_NODE with.
//!
//! - The attackers take on `attackers / eclipse_identities` keys (at least one), the
//!   first the workload uses; attacker `j` (in index order) grinds near key
//!   `j % keys`; taken key by key, the identities are dealt to the addresses in turn,
//!   so each key's identities are spread over the addresses, as an attacker facing
//!   per-address limits would spread them, and every address is used.
//! - Grinding: seeds drawn from a stream of their own ([`ECLIPSE`]) until each key has
//!   its identities, each closer to its key than the closest honest node (but the
//!   key's own node, for a lookup's target), so that they are the closest a lookup
//!   can see. At most [`GRIND_TRIES`] seeds; a key
//!   still short then gets identities that are not ground.
//!
//! Nothing here reads or changes an honest node; the same seed grinds the same
//! identities.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use dswarm::harness::streams::ECLIPSE;
use dswarm::harness::{addr_of, seed_stream, PORT};
use dswarm::proto::id::NodeId;
use dswarm::proto::wire::WireContact;
use dswarm::proto::Identity;
use rand_core::RngCore;

/// The most seeds grinding draws in one run.
pub const GRIND_TRIES: u64 = 20_000_000;

/// The eclipse attackers of a run: see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Eclipse {
    /// The nodes behind each shared address, host first.
    pub groups: Vec<Vec<usize>>,
    /// Attacker node to the secret seed of its ground identity.
    pub seeds: BTreeMap<usize, [u8; 32]>,
    /// Every attacker's id and address.
    pub allies: Vec<WireContact>,
    /// The keys attacked.
    pub keys: Vec<NodeId>,
}

/// Node `index`'s id when its identity is its stream's (as the harness builds it).
pub fn stream_id(seed: u64, index: usize) -> NodeId {
    let mut rng = seed_stream(seed, dswarm::harness::streams::node(index));
    Identity::from_rng(&mut rng).id()
}

impl Eclipse {
    /// The attack of `attackers` (node indices, ascending) on the first of `targets`,
    /// among the honest nodes `honest`; see the module docs.
    pub fn aim(
        seed: u64,
        attackers: &[usize],
        targets: &[NodeId],
        honest: &[NodeId],
        identities: usize,
        addresses: usize,
    ) -> Eclipse {
        if attackers.is_empty() {
            return Eclipse::default();
        }
        let addresses = addresses.clamp(1, attackers.len());
        let keys: Vec<NodeId> = targets
            .iter()
            .take((attackers.len() / identities.max(1)).max(1))
            .copied()
            .collect();
        let mut groups = vec![Vec::new(); addresses];
        // Key by key, each key's identities dealt to the addresses in turn.
        let per_key = attackers.len().div_ceil(keys.len().max(1));
        for (j, &node) in attackers.iter().enumerate() {
            let (key, nth) = (j % keys.len().max(1), j / keys.len().max(1));
            groups[(key * per_key + nth) % addresses].push(node);
        }
        groups.retain(|g| !g.is_empty());
        let ground = grind(seed, attackers.len(), &keys, honest);
        let seeds: BTreeMap<usize, [u8; 32]> = attackers
            .iter()
            .copied()
            .zip(ground)
            .filter_map(|(node, seed)| Some((node, seed?)))
            .collect();
        let mut allies = Vec::with_capacity(attackers.len());
        for group in &groups {
            let ip = addr_of(group[0]).ip();
            for (k, &node) in group.iter().enumerate() {
                let port = PORT + u16::try_from(k).expect("fewer than 2^16 identities per host");
                let id = seeds
                    .get(&node)
                    .map_or_else(|| stream_id(seed, node), |s| Identity::from_seed(*s).id());
                allies.push(WireContact {
                    id,
                    addr: SocketAddr::new(ip, port),
                });
            }
        }
        Eclipse {
            groups,
            seeds,
            allies,
            keys,
        }
    }
}

/// Seeds for `count` attackers, attacker `j` near `keys[j % keys.len()]` and closer to
/// it than every id of `honest`; `None` where grinding gave up (or there is no key).
fn grind(seed: u64, count: usize, keys: &[NodeId], honest: &[NodeId]) -> Vec<Option<[u8; 32]>> {
    if keys.is_empty() {
        return vec![None; count];
    }
    let bound: Vec<_> = keys
        .iter()
        .map(|key| {
            // A lookup's target is an honest node: closer than every other one.
            let others = honest.iter().filter(|id| *id != key);
            others.map(|id| id.distance(key)).min()
        })
        .collect();
    let mut found: Vec<Vec<[u8; 32]>> = vec![Vec::new(); keys.len()];
    let need = |k: usize| (count + keys.len() - 1 - k) / keys.len();
    let mut missing: usize = count;
    let mut rng = seed_stream(seed, ECLIPSE);
    let mut tries = 0;
    while missing > 0 && tries < GRIND_TRIES {
        tries += 1;
        let mut candidate = [0u8; 32];
        rng.fill_bytes(&mut candidate);
        let id = Identity::from_seed(candidate).id();
        let fits = (0..keys.len()).find(|&k| {
            found[k].len() < need(k) && bound[k].is_none_or(|b| id.distance(&keys[k]) < b)
        });
        if let Some(k) = fits {
            found[k].push(candidate);
            missing -= 1;
        }
    }
    let mut taken = vec![0; keys.len()];
    (0..count)
        .map(|j| {
            let k = j % keys.len();
            taken[k] += 1;
            found[k].get(taken[k] - 1).copied()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ground_identities_are_closer_to_their_key_than_any_honest_node() {
        let honest: Vec<NodeId> = (0..50).map(|i| stream_id(7, i)).collect();
        let keys = [NodeId([0x55; 32]), NodeId([0xAA; 32])];
        let attackers: Vec<usize> = (50..90).collect();
        let eclipse = Eclipse::aim(7, &attackers, &keys, &honest, 20, 4);
        assert_eq!(eclipse.keys, keys);
        assert_eq!(eclipse.seeds.len(), 40);
        assert_eq!(eclipse.groups.len(), 4);
        for (j, node) in attackers.iter().enumerate() {
            let key = keys[j % 2];
            let id = Identity::from_seed(eclipse.seeds[node]).id();
            assert!(honest.iter().all(|h| id.distance(&key) < h.distance(&key)));
            assert!(eclipse.allies.iter().any(|a| a.id == id));
        }
        // Each key's identities sit behind every address.
        for k in 0..keys.len() {
            let ips: std::collections::BTreeSet<_> = attackers
                .iter()
                .skip(k)
                .step_by(keys.len())
                .map(|node| Identity::from_seed(eclipse.seeds[node]).id())
                .filter_map(|id| eclipse.allies.iter().find(|a| a.id == id))
                .map(|a| a.addr.ip())
                .collect();
            assert_eq!(ips.len(), 4, "key {k}");
        }
        // As many addresses as identities: each its own.
        let spread = Eclipse::aim(7, &attackers, &keys, &honest, 20, 40);
        assert_eq!(spread.groups.len(), 40);
        let again = Eclipse::aim(7, &attackers, &keys, &honest, 20, 4);
        assert_eq!(again.seeds, eclipse.seeds, "the same seed grinds the same");
    }
}
