//! Who holds how much of a [`Store`](super::Store): records (tombstones included)
//! counted per writer and per writer's address block.
//!
//! In: a writer's id and the address it writes from, when a record is added or goes.
//! Out: whether one more record of that writer fits ([`Refusal::PeerQuota`],
//! [`Refusal::BlockQuota`]). A block is the routing table's
//! ([`IpBlock`]: an IPv4 address or an IPv6 /64 by default), so the identities one
//! operator runs on one address share one quota, as they share the table's room:
//! 64 identities at [`StoreConfig::max_per_peer`] each can no longer fill the store.
//! Loopback writers have no block and only the per-writer quota.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{Refusal, StoreConfig};
use crate::proto::id::NodeId;
use crate::proto::table::IpBlock;

/// What a held record counts against: its writer and the writer's block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) writer: NodeId,
    pub(super) block: Option<IpBlock>,
}

#[derive(Debug)]
pub(super) struct Quotas {
    /// The table's block prefix lengths (IPv4, IPv6).
    prefixes: (u8, u8),
    per_writer: BTreeMap<NodeId, usize>,
    per_block: BTreeMap<IpBlock, usize>,
}

impl Quotas {
    pub(super) fn new(prefixes: (u8, u8)) -> Quotas {
        Quotas {
            prefixes,
            per_writer: BTreeMap::new(),
            per_block: BTreeMap::new(),
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        use crate::proto::footprint::btree;
        btree::<NodeId, usize>(self.per_writer.len())
            + btree::<IpBlock, usize>(self.per_block.len())
    }

    /// Whether no record is counted (each count goes with its record).
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.per_writer.is_empty() && self.per_block.is_empty()
    }

    /// The owner of a record `writer` writes from `from`.
    pub(super) fn owner(&self, writer: &NodeId, from: &SocketAddr) -> Owner {
        Owner {
            writer: *writer,
            block: IpBlock::of(from, self.prefixes.0, self.prefixes.1),
        }
    }

    /// Whether one more record of `owner` fits under `config`'s quotas.
    pub(super) fn check(&self, owner: &Owner, config: &StoreConfig) -> Result<(), Refusal> {
        if self.per_writer.get(&owner.writer).copied().unwrap_or(0) >= config.max_per_peer {
            return Err(Refusal::PeerQuota);
        }
        let block = owner.block.and_then(|b| self.per_block.get(&b)).copied();
        if block.unwrap_or(0) >= config.max_per_block {
            return Err(Refusal::BlockQuota);
        }
        Ok(())
    }

    /// One more record of `owner` is held.
    pub(super) fn add(&mut self, owner: &Owner) {
        *self.per_writer.entry(owner.writer).or_default() += 1;
        if let Some(block) = owner.block {
            *self.per_block.entry(block).or_default() += 1;
        }
    }

    /// One record of `owner` went.
    pub(super) fn sub(&mut self, owner: &Owner) {
        fn down<K: Ord>(counts: &mut BTreeMap<K, usize>, key: K) {
            if let Some(n) = counts.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&key);
                }
            }
        }
        down(&mut self.per_writer, owner.writer);
        if let Some(block) = owner.block {
            down(&mut self.per_block, block);
        }
    }
}
