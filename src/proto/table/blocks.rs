//! Address blocks: how the routing table tells contacts that may be one operator's
//! many identities from contacts spread over the network.
//!
//! A block is an IPv4 address or an IPv6 prefix cut to the configured length
//! ([`TableConfig::block_prefix_v4`](super::TableConfig::block_prefix_v4) and
//! [`TableConfig::block_prefix_v6`](super::TableConfig::block_prefix_v6)). Loopback
//! and unspecified addresses belong to no block: a swarm of test nodes on one machine
//! shares one address, and is not a Sybil attack on itself.

use std::net::{IpAddr, SocketAddr};

/// The block of an address, its host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpBlock {
    /// An IPv4 prefix.
    V4(u32),
    /// An IPv6 prefix.
    V6(u128),
}

impl IpBlock {
    /// The block of `addr`, or `None` for loopback and unspecified addresses (and
    /// IPv4-mapped IPv6 addresses are treated as IPv4).
    pub fn of(addr: &SocketAddr, prefix_v4: u8, prefix_v6: u8) -> Option<IpBlock> {
        let ip = addr.ip().to_canonical();
        if ip.is_loopback() || ip.is_unspecified() {
            return None;
        }
        Some(match ip {
            IpAddr::V4(v4) => IpBlock::V4(u32::from(v4) & mask32(prefix_v4)),
            IpAddr::V6(v6) => IpBlock::V6(u128::from(v6) & mask128(prefix_v6)),
        })
    }
}

fn mask32(prefix: u8) -> u32 {
    match prefix.min(32) {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

fn mask128(prefix: u8) -> u128 {
    match prefix.min(128) {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

/// How many contacts of the table each block holds: a sorted list of (block, count)
/// at 24 bytes an entry, where a `BTreeMap<IpBlock, usize>` took about 63 (a 16-byte
/// aligned key over a B-tree's fill), about a tenth of a routing table's bytes.
#[derive(Clone, Debug, Default)]
pub(super) struct BlockCounts {
    counts: Vec<([u64; 2], u32)>,
}

/// A block as two words: an IPv6 prefix as it is, an IPv4 address in its
/// IPv4-mapped form. No IPv6 block takes that form: such addresses count as IPv4
/// ([`IpBlock::of`]).
fn key(block: &IpBlock) -> [u64; 2] {
    let bits = match *block {
        IpBlock::V4(v4) => 0xffff_0000_0000 | u128::from(v4),
        IpBlock::V6(v6) => v6,
    };
    // Truncation meant: the high and the low half.
    [(bits >> 64) as u64, bits as u64]
}

impl BlockCounts {
    pub(super) fn heap_bytes(&self) -> usize {
        crate::proto::footprint::vec(&self.counts)
    }

    fn find(&self, block: &IpBlock) -> Result<usize, usize> {
        let key = key(block);
        self.counts.binary_search_by(|(k, _)| k.cmp(&key))
    }

    pub(super) fn get(&self, block: &IpBlock) -> usize {
        self.find(block).map_or(0, |at| self.counts[at].1 as usize)
    }

    pub(super) fn add(&mut self, block: Option<IpBlock>) {
        if let Some(block) = block {
            match self.find(&block) {
                Ok(at) => self.counts[at].1 += 1,
                Err(at) => self.counts.insert(at, (key(&block), 1)),
            }
        }
    }

    /// One table place moved from block `from` to block `to`.
    pub(super) fn moved(&mut self, from: Option<IpBlock>, to: Option<IpBlock>) {
        self.sub(from);
        self.add(to);
    }

    pub(super) fn sub(&mut self, block: Option<IpBlock>) {
        let Some(block) = block else {
            return;
        };
        if let Ok(at) = self.find(&block) {
            self.counts[at].1 -= 1;
            if self.counts[at].1 == 0 {
                self.counts.remove(at);
                if self.counts.len() < self.counts.capacity() / 4 {
                    self.counts.shrink_to(self.counts.len() * 2);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{InsertOutcome, RoutingTable, TableConfig};
    use super::*;
    use crate::proto::id::NodeId;
    use crate::proto::time::Time;

    /// An id in bucket 255 of a table around the zero id, told apart by `n`.
    fn far(n: u8) -> NodeId {
        let mut id = [0u8; 32];
        id[0] = 0x80;
        id[31] = n;
        NodeId(id)
    }

    #[test]
    fn ipv4_and_ipv6_blocks_are_counted_apart() {
        let v4: SocketAddr = "10.0.0.1:9".parse().unwrap();
        let v6: SocketAddr = "[::a00:1]:9".parse().unwrap();
        let (b4, b6) = (
            IpBlock::of(&v4, 32, 128).unwrap(),
            IpBlock::of(&v6, 32, 128).unwrap(),
        );
        let mut counts = BlockCounts::default();
        counts.add(Some(b4));
        counts.add(Some(b4));
        counts.add(Some(b6));
        assert_eq!((counts.get(&b4), counts.get(&b6)), (2, 1));
        counts.sub(Some(b4));
        counts.moved(Some(b6), Some(b4));
        assert_eq!((counts.get(&b4), counts.get(&b6)), (2, 0));
    }

    #[test]
    fn a_block_regains_room_when_its_contacts_leave() {
        let mut table = RoutingTable::new(Time::ZERO, NodeId([0; 32]), TableConfig::default());
        let sybil = |port| SocketAddr::from(([10, 1, 1, 1], port));
        assert_eq!(
            table.insert(Time::ZERO, far(1), sybil(1)),
            InsertOutcome::Inserted
        );
        assert_eq!(
            table.insert(Time::ZERO, far(2), sybil(2)),
            InsertOutcome::Inserted
        );
        assert_eq!(
            table.insert(Time::ZERO, far(3), sybil(3)),
            InsertOutcome::Refused
        );
        assert!(!table.block_has_room_for(&far(3), &sybil(3)));
        assert!(table.block_has_room_for(&far(1), &sybil(1)), "held already");
        // A held contact may still move within or into the block.
        assert_eq!(
            table.insert(Time::ZERO, far(2), sybil(9)),
            InsertOutcome::Updated
        );
        table.remove(&far(1));
        assert_eq!(
            table.insert(Time::ZERO, far(3), sybil(3)),
            InsertOutcome::Inserted
        );
        // A contact that moves out frees its place.
        let elsewhere = SocketAddr::from(([10, 2, 2, 2], 1));
        assert_eq!(
            table.insert(Time::ZERO, far(3), elsewhere),
            InsertOutcome::Updated
        );
        assert_eq!(
            table.insert(Time::ZERO, far(4), sybil(4)),
            InsertOutcome::Inserted
        );
    }

    #[test]
    fn blocks_cut_the_prefix_and_skip_loopback() {
        let a: SocketAddr = "10.1.2.3:7000".parse().unwrap();
        let b: SocketAddr = "10.1.2.4:7001".parse().unwrap();
        assert_ne!(IpBlock::of(&a, 32, 64), IpBlock::of(&b, 32, 64));
        assert_eq!(IpBlock::of(&a, 24, 64), IpBlock::of(&b, 24, 64));
        let same_ip: SocketAddr = "10.1.2.3:9".parse().unwrap();
        assert_eq!(IpBlock::of(&a, 32, 64), IpBlock::of(&same_ip, 32, 64));
        let v6a: SocketAddr = "[2001:db8::1]:7000".parse().unwrap();
        let v6b: SocketAddr = "[2001:db8::ffff:1]:7000".parse().unwrap();
        let v6c: SocketAddr = "[2001:db8:0:1::1]:7000".parse().unwrap();
        assert_eq!(IpBlock::of(&v6a, 32, 64), IpBlock::of(&v6b, 32, 64));
        assert_ne!(IpBlock::of(&v6a, 32, 64), IpBlock::of(&v6c, 32, 64));
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:7000".parse().unwrap();
        assert_eq!(IpBlock::of(&mapped, 32, 64), IpBlock::of(&a, 32, 64));
        for local in ["127.0.0.1:1", "127.3.0.1:1", "[::1]:1", "0.0.0.0:1"] {
            assert_eq!(
                IpBlock::of(&local.parse().unwrap(), 32, 64),
                None,
                "{local}"
            );
        }
        assert_eq!(IpBlock::of(&a, 0, 0), Some(IpBlock::V4(0)));
    }
}
