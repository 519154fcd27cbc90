//! One request of every kind a peer can send, for the property tests that feed them
//! to a node (records signed by `identity`, a put of `value`, a punch naming
//! `reflexive`). Tokens are zero: a node refuses the writes, unless a test got real ones.

use std::net::SocketAddr;

use dswarm::proto::crypto::Crypto;
use dswarm::proto::store::{Announcement, MutableRecord, Unannounce};
use dswarm::proto::wire::{NatKind, Request};
use dswarm::proto::{Identity, Key, NodeId};

/// Every kind of request, one each.
pub fn every_kind(
    crypto: &dyn Crypto,
    identity: &Identity,
    value: Vec<u8>,
    reflexive: SocketAddr,
) -> Vec<Request> {
    let topic = Key::of(b"topic");
    vec![
        Request::Ping,
        Request::FindNode {
            target: NodeId([8; 32]),
        },
        Request::ImmutablePut {
            token: [0; 16],
            value,
        },
        Request::ImmutableGet { key: topic },
        Request::MutablePut {
            token: [0; 16],
            record: MutableRecord::sign(crypto, identity, b"s".to_vec(), 3, b"v".to_vec()),
        },
        Request::MutableGet { key: topic, seq: 0 },
        Request::Announce {
            token: [0; 16],
            announcement: Announcement::sign(crypto, identity, topic, 1, vec![]),
        },
        Request::Unannounce {
            token: [0; 16],
            unannounce: Unannounce::sign(crypto, identity, topic, 2),
        },
        Request::GetPeers { topic },
        Request::Punch {
            nat: NatKind::Consistent,
            reflexive,
        },
    ]
}
