//! [`RoutingTable`]: 256 k-buckets around the local id.
//!
//! In: contacts that proved alive ([`RoutingTable::insert`]), failed requests
//! ([`RoutingTable::on_failure`]) and the outcome of liveness checks
//! ([`RoutingTable::check_failed`]). Out: [`InsertOutcome`]s that ask the node to ping
//! the least-recently-seen contact of a full bucket before evicting it, the
//! [`RoutingTable::closest`] contacts to any target (and [`RoutingTable::closest_good`],
//! good ones first, for FIND_NODE answers), and refresh deadlines per bucket.
//!
//! A contact heard from within [`TableConfig::good_for`] is alive, like BEP 5's "good"
//! nodes: a full bucket whose least recently seen contact is that fresh keeps every
//! contact and asks for no check, [`RoutingTable::has_room_for`] tells the node
//! beforehand that a newcomer would only wait in the replacement cache, and answers to
//! FIND_NODE name the closest good contacts before any silent one.
//!
//! The buckets of the neighbourhood (up to the one that holds the k-th closest
//! contact, [`RoutingTable::neighbourhood`]) keep the closest instead: a newcomer
//! closer than a full bucket's farthest contact takes its place, and the farther one
//! waits in the replacement cache. Otherwise the bucket where the k-th closest falls,
//! holding more nodes than fit, would keep whoever filled it first, and the node
//! would not know its own k closest.
//!
//! Contacts are spread over address blocks ([`IpBlock`]): a newcomer whose block
//! already has [`TableConfig::contacts_per_block_per_bucket_max`] contacts in its
//! bucket, or [`TableConfig::contacts_per_block_max`] in the table, is refused
//! ([`InsertOutcome::Refused`]), so that one host's many identities cannot fill a
//! bucket or the table.
//!
//! A bucket is refreshed (the node looks up a random id in its range) once
//! `refresh_interval` has passed with no lookup into its range and no contact of it
//! heard from, as BEP 5 refreshes buckets that have not changed: a bucket whose
//! contacts keep talking needs no lookup to stay fresh, and a swarm at rest does not
//! pay a lookup per bucket per interval. The buckets of the neighbourhood (up to the
//! one that holds the k-th closest contact, [`RoutingTable::neighbourhood`]) are
//! refreshed together, by one lookup of the local id.
//!
//! Only the buckets that ever held a contact or candidate take memory (a swarm of N
//! nodes fills the ~log2(N) farthest); every bucket keeps its own refresh time.
//!
//! What holds: the local id is never in the table, no bucket holds more than
//! `bucket_capacity` contacts, an id is in at most one place (bucket or replacement
//! cache), and each bucket lists its contacts least recently seen first.

use std::net::SocketAddr;
use std::time::Duration;

use rand_core::RngCore;

use super::id::{Distance, NodeId, ID_LEN};
use super::time::Time;

mod blocks;
mod buckets;

use blocks::BlockCounts;
pub use blocks::IpBlock;
use buckets::Buckets;

/// Number of buckets: one per bit of the id space.
pub const BUCKETS: usize = ID_LEN * 8;

/// A peer as the routing table knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The peer's id (its public key).
    pub id: NodeId,
    /// Where it answered from.
    pub addr: SocketAddr,
    /// When it last answered or asked something.
    pub last_seen: Time,
    /// Requests to it that failed since it last answered.
    pub failures: u8,
}

/// Tunables of the routing table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Contacts per bucket (Kademlia's k).
    pub bucket_capacity: usize,
    /// Candidates kept per full bucket, to replace contacts that go away.
    pub replacement_capacity: usize,
    /// A bucket with no lookup into its range and no contact heard from for this long
    /// is refreshed.
    pub refresh_interval: Duration,
    /// Failed requests in a row after which a contact is stale: replaced as soon as a
    /// candidate arrives.
    pub failures_max: u8,
    /// A contact heard from within this long counts as alive (BEP 5's "good" nodes): a
    /// full bucket keeps it without a liveness check. A candidate for a full bucket
    /// asks for a check of the least recently seen contact only once that contact has
    /// been silent this long; `Duration::ZERO` checks on every candidate.
    ///
    /// 600 s by default: BEP 5's 15 minutes would outlast the session idle timeout
    /// (900 s), and a check would then dial a handshake instead of riding the open
    /// session. The checks cost 36% of the datagrams of a 10,000-node hour at 60 s;
    /// on 2,000 nodes for an hour, 60 s / 300 s / 600 s gave 5.36 M / 4.83 M / 4.61 M
    /// datagrams with the same tables and all 20,000 lookups found.
    pub good_for: Duration,
    /// Prefix length of an IPv4 address block (see [`IpBlock`]). 32 (the default):
    /// one block per IP address. A /24 would be the classic choice on the internet,
    /// but the simulator numbers its nodes 10.0.x.1–254, 254 nodes to a /24, so a /24
    /// limit would thin out every honest simulated swarm; one block per IP still
    /// stops the Sybil nodes that share one address.
    pub block_prefix_v4: u8,
    /// Prefix length of an IPv6 address block. 64 (the default): one block per
    /// subnet, what one host is usually given.
    pub block_prefix_v6: u8,
    /// Contacts of one address block in one bucket; 2 by default, as in BEP 42's
    /// spirit: a host can have two identities near any point, not a whole bucket.
    pub contacts_per_block_per_bucket_max: usize,
    /// Contacts of one address block in the whole table; 10 by default.
    pub contacts_per_block_max: usize,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            bucket_capacity: 20,
            replacement_capacity: 20,
            refresh_interval: Duration::from_secs(600),
            failures_max: 2,
            good_for: Duration::from_secs(600),
            block_prefix_v4: 32,
            block_prefix_v6: 64,
            contacts_per_block_per_bucket_max: 2,
            contacts_per_block_max: 10,
        }
    }
}

/// What [`RoutingTable::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new contact in a bucket with room.
    Inserted,
    /// Already present: address and last-seen refreshed, moved to most recently seen.
    Updated,
    /// The bucket was full and held a stale contact, which the new one replaced; or
    /// it is a bucket of the neighbourhood and the new contact is closer than its
    /// farthest, which went to the replacement cache.
    Replaced {
        /// The stale contact that left.
        evicted: Contact,
    },
    /// The bucket is full and its least recently seen contact has been silent for at
    /// least [`TableConfig::good_for`]: the candidate waits in the replacement cache,
    /// and the node should ping `ping` (that contact), then report the result by
    /// [`RoutingTable::insert`] (it answered) or [`RoutingTable::check_failed`].
    Pending {
        /// The contact to check.
        ping: Contact,
    },
    /// The bucket is full, and either already being checked or every contact in it
    /// was heard from within [`TableConfig::good_for`]: the candidate waits in the
    /// replacement cache.
    Queued,
    /// The local id: never stored.
    IsSelf,
    /// The contact's address block already holds as many contacts of its bucket or of
    /// the table as allowed: not stored, not even as a replacement.
    Refused,
}

/// A contact that left the table, and who took its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evicted {
    /// The contact removed.
    pub evicted: Contact,
    /// The replacement promoted into its bucket, if any waited.
    pub replaced_by: Option<Contact>,
}

/// A contact of a bucket last refreshed at `*refreshed` was heard from, or a lookup
/// went into its range, at `now`: the bucket needs no refresh lookup for another
/// interval. Never moves the time back (a staggered one may lie ahead).
fn touch(refreshed: &mut Time, now: Time) {
    *refreshed = (*refreshed).max(now);
}

/// The k-bucket routing table of one node.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    local: NodeId,
    config: TableConfig,
    /// The buckets' contents, only the used ones in memory.
    buckets: Buckets,
    /// Per bucket, used or not: when a lookup last went into its range or one of its
    /// contacts was last heard from (or later: the stagger of
    /// [`RoutingTable::stagger_refresh`]). An empty bucket's time matters too: its
    /// first contact only moves it on ([`touch`]). 8 bytes a bucket, on the heap.
    refreshed: Box<[Time; BUCKETS]>,
    len: usize,
    /// The earliest refresh deadline of a non-empty bucket, kept up to date so that
    /// `poll_timeout` (asked after every input) does not scan 256 buckets.
    refresh_due: Option<Time>,
    /// Contacts (not replacements) per address block.
    blocks: BlockCounts,
    /// Bit `i` set when bucket `i` holds contacts: most of the 256 buckets are empty,
    /// and [`RoutingTable::closest`] skips them without touching their memory.
    occupied: [u64; BUCKETS / 64],
}

impl RoutingTable {
    /// An empty table around `local`; every bucket counts as refreshed at `now`.
    pub fn new(now: Time, local: NodeId, config: TableConfig) -> RoutingTable {
        assert!(config.bucket_capacity > 0, "a bucket must hold something");
        RoutingTable {
            local,
            config,
            buckets: Buckets::default(),
            refreshed: Box::new([now; BUCKETS]),
            len: 0,
            refresh_due: None,
            blocks: BlockCounts::default(),
            occupied: [0; BUCKETS / 64],
        }
    }

    /// Postpones each bucket's next refresh by `offset()` (at most one interval), so
    /// that nodes started together do not all refresh every bucket in the same
    /// instant one interval later. The node draws the offsets from its RNG.
    pub fn stagger_refresh(&mut self, mut offset: impl FnMut() -> Duration) {
        let interval = self.config.refresh_interval;
        for refreshed in self.refreshed.iter_mut() {
            *refreshed = *refreshed + offset().min(interval);
        }
        self.update_refresh_due();
    }

    /// The id the table is centred on.
    pub fn local(&self) -> NodeId {
        self.local
    }

    /// The configuration.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// Contacts held (replacement caches not counted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no contact.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Contacts in bucket `index`.
    pub fn bucket_len(&self, index: usize) -> usize {
        self.buckets.get(index).contacts.len()
    }

    /// The contact with this id, if held.
    pub fn get(&self, id: &NodeId) -> Option<&Contact> {
        let bucket = self.buckets.get(self.local.bucket_index(id)?);
        bucket.contacts.iter().find(|c| c.id == *id)
    }

    /// Every contact, by bucket (nearest bucket first), least recently seen first.
    pub fn iter(&self) -> impl Iterator<Item = &Contact> + '_ {
        self.buckets.iter().flat_map(|b| b.contacts.iter())
    }

    fn block_of(&self, addr: &SocketAddr) -> Option<IpBlock> {
        IpBlock::of(
            addr,
            self.config.block_prefix_v4,
            self.config.block_prefix_v6,
        )
    }

    /// Whether a newcomer at `addr` may join bucket `index` under the address block
    /// limits.
    fn block_admits(&self, index: usize, addr: &SocketAddr) -> bool {
        let Some(block) = self.block_of(addr) else {
            return true;
        };
        let in_bucket = self
            .buckets
            .get(index)
            .contacts
            .iter()
            .filter(|c| self.block_of(&c.addr) == Some(block))
            .count();
        in_bucket < self.config.contacts_per_block_per_bucket_max
            && self.blocks.get(&block) < self.config.contacts_per_block_max
    }

    /// Whether `id` at `addr` is held already or its address block has room for it
    /// (see [`InsertOutcome::Refused`]). The node asks before it probes a beacon's
    /// sender.
    pub fn block_has_room_for(&self, id: &NodeId, addr: &SocketAddr) -> bool {
        let Some(index) = self.local.bucket_index(id) else {
            return false;
        };
        let held = self.buckets.get(index).contacts.iter().any(|c| c.id == *id);
        held || self.block_admits(index, addr)
    }

    /// Whether [`RoutingTable::insert`] of `id` at `now` could put it in the table
    /// rather than only in the replacement cache: it is already held, its bucket has
    /// room, a contact of its bucket is stale (`failures >= failures_max`), or the
    /// least recently seen contact has been silent for [`TableConfig::good_for`] and no
    /// check is out. In other words: whether that insert would return anything but
    /// [`InsertOutcome::Queued`] or [`InsertOutcome::IsSelf`].
    ///
    /// The node asks before it spends a ping on a stranger (a beacon's sender) whose
    /// bucket is full of live contacts.
    pub fn has_room_for(&self, now: Time, id: &NodeId) -> bool {
        let Some(index) = self.local.bucket_index(id) else {
            return false;
        };
        let bucket = self.buckets.get(index);
        if bucket.contacts.len() < self.config.bucket_capacity {
            return true;
        }
        let failures_max = self.config.failures_max;
        if bucket
            .contacts
            .iter()
            .any(|c| c.id == *id || c.failures >= failures_max)
        {
            return true;
        }
        let oldest_silent = bucket.checking.is_none()
            && bucket
                .contacts
                .first()
                .is_some_and(|oldest| is_silent(now, oldest, self.config.good_for));
        oldest_silent || self.farther_in_neighbourhood(index, id).is_some()
    }

    /// Records that `id` answered or asked something at `addr`: adds it, refreshes it,
    /// or leaves it in the replacement cache of its full bucket, asking for a liveness
    /// check of the bucket's least recently seen contact if that one has been silent
    /// for [`TableConfig::good_for`] (see [`InsertOutcome`]).
    pub fn insert(&mut self, now: Time, id: NodeId, addr: SocketAddr) -> InsertOutcome {
        let Some(index) = self.local.bucket_index(&id) else {
            return InsertOutcome::IsSelf;
        };
        let capacity = self.config.bucket_capacity;
        let failures_max = self.config.failures_max;
        let known = self.buckets.get(index).contacts.iter().any(|c| c.id == id);
        if !known && !self.block_admits(index, &addr) {
            return InsertOutcome::Refused;
        }
        let block = self.block_of(&addr);
        let (prefix_v4, prefix_v6) = (self.config.block_prefix_v4, self.config.block_prefix_v6);
        let refreshed = &mut self.refreshed[index];
        let bucket = self.buckets.get_or_store(index);
        if let Some(pos) = bucket.contacts.iter().position(|c| c.id == id) {
            let mut contact = bucket.contacts.remove(pos);
            if contact.addr != addr {
                // A proven key that moved (a NAT rebinding): it keeps its place.
                let old = IpBlock::of(&contact.addr, prefix_v4, prefix_v6);
                self.blocks.moved(old, block);
            }
            contact.addr = addr;
            contact.last_seen = now;
            contact.failures = 0;
            bucket.contacts.push(contact);
            touch(refreshed, now);
            if bucket.checking == Some(id) {
                bucket.checking = None;
            }
            return InsertOutcome::Updated;
        }
        bucket.replacements.retain(|c| c.id != id);
        let contact = Contact {
            id,
            addr,
            last_seen: now,
            failures: 0,
        };
        if bucket.contacts.len() < capacity {
            bucket.push_contact(contact, capacity);
            touch(refreshed, now);
            self.len += 1;
            self.blocks.add(block);
            if bucket.contacts.len() == 1 {
                self.set_occupied(index, true);
                self.update_refresh_due();
            }
            return InsertOutcome::Inserted;
        }
        if let Some(pos) = bucket
            .contacts
            .iter()
            .position(|c| c.failures >= failures_max)
        {
            let evicted = self.swap_in(now, index, pos, contact, block);
            return InsertOutcome::Replaced { evicted };
        }
        if let Some(far) = self.farther_in_neighbourhood(index, &id) {
            let evicted = self.swap_in(now, index, far, contact, block);
            let bucket = self.buckets.get_or_store(index);
            bucket.keep_replacement(evicted, self.config.replacement_capacity);
            return InsertOutcome::Replaced { evicted };
        }
        let bucket = self.buckets.get_or_store(index);
        bucket.keep_replacement(contact, self.config.replacement_capacity);
        // Least recently seen first: if the first contact was heard from lately, so
        // was every other one, and nobody needs checking.
        let oldest = bucket.contacts[0];
        if bucket.checking.is_some() || !is_silent(now, &oldest, self.config.good_for) {
            return InsertOutcome::Queued;
        }
        bucket.checking = Some(oldest.id);
        InsertOutcome::Pending { ping: oldest }
    }

    /// Puts `contact` (of address block `block`) in place of the contact at `pos` of
    /// bucket `index`, and returns the one it displaced.
    fn swap_in(
        &mut self,
        now: Time,
        index: usize,
        pos: usize,
        contact: Contact,
        block: Option<IpBlock>,
    ) -> Contact {
        let bucket = self.buckets.get_or_store(index);
        let evicted = bucket.contacts.remove(pos);
        if bucket.checking == Some(evicted.id) {
            bucket.checking = None;
        }
        bucket.contacts.push(contact);
        touch(&mut self.refreshed[index], now);
        self.move_block(&evicted.addr, block);
        evicted
    }

    /// One table place goes from the address block of `old` to `block`.
    fn move_block(&mut self, old: &SocketAddr, block: Option<IpBlock>) {
        let old = IpBlock::of(
            old,
            self.config.block_prefix_v4,
            self.config.block_prefix_v6,
        );
        self.blocks.sub(old);
        self.blocks.add(block);
    }

    /// Where in bucket `index`, full and part of the neighbourhood (the buckets that
    /// hold the k closest contacts), the contact sits that `id` would displace: the
    /// farthest one not being checked, if `id` is closer. That one goes to the
    /// replacement cache.
    ///
    /// Elsewhere a full bucket keeps whoever came first (Kademlia's preference for
    /// long-lived contacts). Here that would keep a node from knowing its own k
    /// closest: the bucket where the k-th closest falls holds more nodes than fit, and
    /// the first to fill it are seldom the closest. The neighbourhood is where records
    /// about this node's ids are stored and where lookups of them end.
    fn farther_in_neighbourhood(&self, index: usize, id: &NodeId) -> Option<usize> {
        if self.neighbourhood().is_none_or(|last| index > last) {
            return None;
        }
        let bucket = self.buckets.get(index);
        let (far, farthest) = bucket
            .contacts
            .iter()
            .enumerate()
            .filter(|(_, c)| bucket.checking != Some(c.id))
            .max_by_key(|(_, c)| c.id.distance(&self.local))?;
        (farthest.id.distance(&self.local) > id.distance(&self.local)).then_some(far)
    }

    /// The liveness check of `id` failed: it leaves, and the most recently seen
    /// replacement takes its place. `None` if `id` is not held.
    pub fn check_failed(&mut self, id: &NodeId) -> Option<Evicted> {
        let index = self.local.bucket_index(id)?;
        let bucket = self.buckets.get_mut(index)?;
        if bucket.checking == Some(*id) {
            bucket.checking = None;
        }
        self.remove(id).map(|evicted| Evicted {
            evicted,
            replaced_by: self.promote(index),
        })
    }

    /// The liveness check of `id` will not run (the node was too busy to send it): the
    /// contact stays, and the next candidate for its bucket asks for a check again.
    pub fn abandon_check(&mut self, id: &NodeId) {
        let index = self.local.bucket_index(id);
        if let Some(bucket) = index.and_then(|index| self.buckets.get_mut(index)) {
            if bucket.checking == Some(*id) {
                bucket.checking = None;
            }
        }
    }

    /// A request to `id` failed. Once it has failed `failures_max` times in a row it is
    /// evicted if a replacement waits, and otherwise kept but marked stale.
    pub fn on_failure(&mut self, id: &NodeId) -> Option<Evicted> {
        let index = self.local.bucket_index(id)?;
        let failures_max = self.config.failures_max;
        let bucket = self.buckets.get_mut(index)?;
        let contact = bucket.contacts.iter_mut().find(|c| c.id == *id)?;
        contact.failures = contact.failures.saturating_add(1);
        if contact.failures < failures_max || bucket.replacements.is_empty() {
            return None;
        }
        self.check_failed(id)
    }

    /// Removes `id` (from its bucket or the replacement cache); the contact if it was
    /// in a bucket.
    pub fn remove(&mut self, id: &NodeId) -> Option<Contact> {
        let bucket = self.buckets.get_mut(self.local.bucket_index(id)?)?;
        bucket.replacements.retain(|c| c.id != *id);
        let pos = bucket.contacts.iter().position(|c| c.id == *id)?;
        if bucket.checking == Some(*id) {
            bucket.checking = None;
        }
        self.len -= 1;
        let contact = bucket.contacts.remove(pos);
        let emptied = bucket.contacts.is_empty();
        self.blocks.sub(self.block_of(&contact.addr));
        if emptied {
            if let Some(index) = self.local.bucket_index(id) {
                self.set_occupied(index, false);
            }
            self.update_refresh_due();
        }
        Some(contact)
    }

    fn promote(&mut self, index: usize) -> Option<Contact> {
        if self.buckets.get(index).contacts.len() >= self.config.bucket_capacity {
            return None;
        }
        // The most recently seen replacement whose block still has room; those
        // passed over would be refused anyway.
        let replacement = loop {
            let candidate = self.buckets.get_mut(index)?.replacements.pop()?;
            if self.block_admits(index, &candidate.addr) {
                break candidate;
            }
        };
        self.blocks.add(self.block_of(&replacement.addr));
        let bucket = self.buckets.get_or_store(index);
        // Keep least recently seen first: the replacement may be older than some.
        let at = bucket
            .contacts
            .iter()
            .position(|c| c.last_seen > replacement.last_seen)
            .unwrap_or(bucket.contacts.len());
        bucket.contacts.insert(at, replacement);
        self.len += 1;
        if bucket.contacts.len() == 1 {
            self.set_occupied(index, true);
            self.update_refresh_due();
        }
        Some(replacement)
    }

    /// Up to `n` contacts closest to `target`, closest first.
    ///
    /// Visits buckets in order of their distance to `target`, so the cost grows with
    /// the contacts it returns, not with the size of the table: every contact of an
    /// earlier bucket is closer than every contact of a later one.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<Contact> {
        let mut out: Vec<Contact> = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        // Within a bucket, contacts are ordered by a 256-bit key computed once each
        // (two u128 compare cheaper than 32-byte slices), and only the ones returned
        // are copied.
        let mut keyed: Vec<(u128, u128, usize)> = Vec::new();
        for index in BucketOrder::new(self.local.distance(target), self.occupied) {
            let contacts = &self.buckets.get(index).contacts;
            keyed.clear();
            keyed.extend(contacts.iter().enumerate().map(|(i, c)| {
                let [hi, lo] = distance_key(&c.id.distance(target));
                (hi, lo, i)
            }));
            let wanted = n - out.len();
            if keyed.len() > wanted {
                keyed.select_nth_unstable(wanted - 1);
                keyed.truncate(wanted);
            }
            keyed.sort_unstable();
            out.extend(keyed.iter().map(|&(_, _, i)| contacts[i]));
            if out.len() >= n {
                break;
            }
        }
        out
    }

    /// Up to `n` contacts closest to `target`, `except` left out, for an answer to
    /// FIND_NODE: the closest good ones (heard from within [`TableConfig::good_for`]),
    /// as BEP 5 answers with "the K closest good nodes", and only if fewer than `n`
    /// are good, the closest of the others to fill up. Closest first.
    ///
    /// A contact that went down stays in the table until a request to it fails or a
    /// liveness check evicts it, and until then the plain [`RoutingTable::closest`]
    /// names it like any other. Where several nodes near a point went down together
    /// (the holders of a record), the live nodes' answers fill up with them, and the
    /// live nodes just beyond them are named by nobody. Silent that long, they yield
    /// their places to the good contacts behind them.
    pub fn closest_good(
        &self,
        now: Time,
        target: &NodeId,
        n: usize,
        except: &NodeId,
    ) -> Vec<Contact> {
        let good_for = self.config.good_for;
        // As in `closest`: each contact's 256-bit key is computed once, and the
        // closest good and silent ones are kept with their keys, ready to merge.
        let mut good: Vec<(u128, u128, Contact)> = Vec::with_capacity(n);
        let mut others: Vec<(u128, u128, Contact)> = Vec::new();
        let mut keyed: Vec<(u128, u128, usize)> = Vec::new();
        for index in BucketOrder::new(self.local.distance(target), self.occupied) {
            if good.len() >= n {
                break;
            }
            // Every contact of this bucket is closer than those of the next ones.
            let contacts = &self.buckets.get(index).contacts;
            keyed.clear();
            keyed.extend(
                contacts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.id != *except)
                    .map(|(i, c)| {
                        let [hi, lo] = distance_key(&c.id.distance(target));
                        (hi, lo, i)
                    }),
            );
            keyed.sort_unstable();
            for &(hi, lo, i) in &keyed {
                let contact = contacts[i];
                if is_silent(now, &contact, good_for) {
                    if good.len() + others.len() < n {
                        others.push((hi, lo, contact));
                    }
                } else if good.len() < n {
                    good.push((hi, lo, contact));
                }
            }
        }
        // `others` holds the closest questionable ones, enough to fill up.
        others.truncate(n - good.len());
        good.append(&mut others);
        good.sort_unstable_by_key(|&(hi, lo, _)| (hi, lo));
        good.into_iter().map(|(_, _, contact)| contact).collect()
    }

    fn set_occupied(&mut self, index: usize, occupied: bool) {
        let bit = 1u64 << (index % 64);
        if occupied {
            self.occupied[index / 64] |= bit;
        } else {
            self.occupied[index / 64] &= !bit;
        }
    }

    /// The earliest time a non-empty bucket may be due for refresh (never later than
    /// the true deadline; hearing a contact moves the deadline without updating this).
    ///
    /// Changes when contacts arrive in an empty bucket, after
    /// [`RoutingTable::poll_refresh`] and after [`RoutingTable::mark_refreshed`].
    pub fn poll_timeout(&self) -> Option<Time> {
        self.refresh_due
    }

    fn update_refresh_due(&mut self) {
        self.refresh_due = ascending(self.occupied)
            .map(|index| self.refreshed[index] + self.config.refresh_interval)
            .min();
    }

    /// The next bucket due for refresh at `now`, marked refreshed; `None` once none is
    /// due. The node looks up a random id in that bucket's range.
    pub fn poll_refresh(&mut self, now: Time) -> Option<usize> {
        if self.refresh_due.is_none_or(|due| due > now) {
            return None;
        }
        let interval = self.config.refresh_interval;
        let Some(index) =
            ascending(self.occupied).find(|&index| self.refreshed[index] + interval <= now)
        else {
            // Contacts heard from since moved every deadline on (lazily: hearing a
            // contact does not scan the buckets).
            self.update_refresh_due();
            return None;
        };
        self.refreshed[index] = now;
        self.update_refresh_due();
        Some(index)
    }

    /// Heap bytes of the table (see [`crate::proto::footprint`]).
    pub fn heap_bytes(&self) -> usize {
        self.buckets.heap_bytes()
            + std::mem::size_of::<[Time; BUCKETS]>()
            + self.blocks.heap_bytes()
    }

    /// The neighbourhood: the index of the farthest bucket among the
    /// `bucket_capacity` contacts closest to the local id. A lookup of the local id
    /// asks about every bucket up to it at once (every id in those ranges is nearer
    /// than the contacts it ends with), so the node refreshes them together.
    pub fn neighbourhood(&self) -> Option<usize> {
        let k = self.config.bucket_capacity;
        let mut counted = 0;
        ascending(self.occupied).find(|&index| {
            counted += self.buckets.get(index).contacts.len();
            counted >= k
        })
    }

    /// A lookup of the local id ran at `now`: every bucket up to `last` needs no
    /// refresh for a while.
    pub fn mark_neighbourhood_refreshed(&mut self, now: Time, last: usize) {
        for refreshed in &mut self.refreshed[..=last.min(BUCKETS - 1)] {
            touch(refreshed, now);
        }
        self.update_refresh_due();
    }

    /// A lookup for `target` ran at `now`: its bucket needs no refresh for a while.
    pub fn mark_refreshed(&mut self, now: Time, target: &NodeId) {
        if let Some(index) = self.local.bucket_index(target) {
            self.refreshed[index] = now;
            self.update_refresh_due();
        }
    }

    /// A random id that falls into bucket `index` of this table.
    pub fn random_id_in_bucket(&self, index: usize, rng: &mut impl RngCore) -> NodeId {
        debug_assert!(index < BUCKETS);
        let mut distance = [0u8; ID_LEN];
        rng.fill_bytes(&mut distance);
        let byte = ID_LEN - 1 - index / 8;
        let bit = index % 8;
        for b in &mut distance[..byte] {
            *b = 0;
        }
        // Keep the bits below `bit`, set `bit`, clear those above it.
        distance[byte] = (distance[byte] & ((1u8 << bit) - 1)) | (1 << bit);
        let mut id = self.local.0;
        for (b, d) in id.iter_mut().zip(distance) {
            *b ^= d;
        }
        NodeId(id)
    }
}

/// A distance as two big-endian halves: ordered as the distance is.
fn distance_key(distance: &Distance) -> [u128; 2] {
    let (hi, lo) = distance.0.split_at(16);
    [
        u128::from_be_bytes(hi.try_into().expect("16 bytes")),
        u128::from_be_bytes(lo.try_into().expect("16 bytes")),
    ]
}

/// Whether `contact` has gone unheard for `good_for`: no longer presumed alive, so
/// worth a liveness check before a candidate is turned away.
fn is_silent(now: Time, contact: &Contact, good_for: Duration) -> bool {
    now.saturating_since(contact.last_seen) >= good_for
}

/// The indices set in a 256-bit mask (bit `i` of word `i / 64`), lowest first.
fn ascending(mask: [u64; BUCKETS / 64]) -> impl Iterator<Item = usize> {
    (0..BUCKETS / 64).flat_map(move |word| {
        let mut bits = mask[word];
        std::iter::from_fn(move || {
            let bit = (bits != 0).then(|| bits.trailing_zeros() as usize)?;
            bits &= bits - 1;
            Some(word * 64 + bit)
        })
    })
}

/// Bucket indices in order of their distance to a target, given `d` = local ^ target,
/// among the buckets set in a 256-bit occupancy mask (bit `i` of word `i / 64`).
///
/// A contact in bucket `i` shares the bits of `d` above `i` and has bit `i` flipped.
/// So: the target's own bucket first, then lower buckets where `d` has a one (they
/// match `d` down to that bit), then lower buckets where `d` has a zero in reverse,
/// then the buckets above the target's, nearest first. Each phase is a mask walked
/// with bit scans, so empty buckets cost nothing.
struct BucketOrder {
    /// The buckets left in each phase: the target's, lower with a one (walked
    /// downwards), lower with a zero, above.
    phases: [[u64; 4]; 4],
    phase: usize,
}

impl BucketOrder {
    fn new(d: Distance, occupied: [u64; 4]) -> Self {
        let ones: [u64; 4] = std::array::from_fn(|w| {
            let start = ID_LEN - 8 * (w + 1);
            u64::from_be_bytes(d.0[start..start + 8].try_into().expect("8 bytes"))
        });
        let and = |a: [u64; 4], b: [u64; 4]| -> [u64; 4] { std::array::from_fn(|w| a[w] & b[w]) };
        let not = |a: [u64; 4]| -> [u64; 4] { a.map(|x| !x) };
        let phases = match d.bucket_index() {
            // The target is the local id: every bucket is "above" it.
            None => [[0; 4], [0; 4], [0; 4], occupied],
            Some(top) => {
                let below = low_bits(top);
                let own = and(low_bits(top + 1), not(below));
                [
                    and(own, occupied),
                    and(and(ones, below), occupied),
                    and(and(not(ones), below), occupied),
                    and(not(low_bits(top + 1)), occupied),
                ]
            }
        };
        BucketOrder { phases, phase: 0 }
    }
}

/// The 256-bit mask of the bits below `n` (`n` ≤ 256).
fn low_bits(n: usize) -> [u64; 4] {
    std::array::from_fn(|w| match n.saturating_sub(w * 64) {
        0 => 0,
        k if k >= 64 => u64::MAX,
        k => (1u64 << k) - 1,
    })
}

impl Iterator for BucketOrder {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.phase < 4 {
            let mask = &mut self.phases[self.phase];
            let found = if self.phase == 1 {
                // Descending: the highest bit left.
                (0..4).rev().find(|&w| mask[w] != 0).map(|w| {
                    let bit = 63 - mask[w].leading_zeros() as usize;
                    mask[w] &= !(1u64 << bit);
                    w * 64 + bit
                })
            } else {
                (0..4).find(|&w| mask[w] != 0).map(|w| {
                    let bit = mask[w].trailing_zeros() as usize;
                    mask[w] &= mask[w] - 1;
                    w * 64 + bit
                })
            };
            if found.is_some() {
                return found;
            }
            self.phase += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests;
