//! What the engines whose nodes run the live driver (turmoil, live) learn of their
//! nodes from the events the drivers send, without asking the nodes.
//!
//! In: each node's [`Event`]s, in order, with the time the engine took them. Out:
//! every node's routing table (the contacts' ids in the order they entered) and, once
//! [`Tables::watch_sessions`] asked, the sessions nodes opened ([`Verified`]).

use dswarm::proto::{Event, NodeId, Time};

use super::Verified;

/// See the module docs.
#[derive(Debug)]
pub(super) struct Tables {
    tables: Vec<Vec<NodeId>>,
    verified: Option<Vec<Verified>>,
}

impl Tables {
    /// Empty tables for `nodes` nodes, sessions not watched.
    pub(super) fn new(nodes: usize) -> Tables {
        Tables {
            tables: vec![Vec::new(); nodes],
            verified: None,
        }
    }

    /// Takes in one event of node `node`, taken at `now`.
    pub(super) fn note(&mut self, now: Time, node: usize, event: &Event) {
        match *event {
            Event::PeerDiscovered { id, .. } => self.tables[node].push(id),
            Event::PeerEvicted { id, .. } => {
                let table = &mut self.tables[node];
                if let Some(at) = table.iter().position(|&known| known == id) {
                    table.remove(at);
                }
            }
            Event::PeerVerified { id, addr } => {
                if let Some(verified) = &mut self.verified {
                    verified.push(Verified {
                        at: now,
                        node,
                        peer: id,
                        addr,
                    });
                }
            }
            _ => {}
        }
    }

    /// Node `node`'s routing table, as its events told it.
    pub(super) fn contacts(&self, node: usize) -> &[NodeId] {
        &self.tables[node]
    }

    /// Every node's table size.
    pub(super) fn sizes(&self) -> Vec<usize> {
        self.tables.iter().map(Vec::len).collect()
    }

    /// Forgets node `node`'s table: it restarts with an empty one.
    pub(super) fn clear(&mut self, node: usize) {
        self.tables[node].clear();
    }

    /// Starts keeping the sessions nodes open.
    pub(super) fn watch_sessions(&mut self) {
        self.verified.get_or_insert_with(Vec::new);
    }

    /// Moves the sessions opened since the last call to `out`.
    pub(super) fn drain_verified(&mut self, out: &mut Vec<Verified>) {
        if let Some(verified) = &mut self.verified {
            out.append(verified);
        }
    }
}
