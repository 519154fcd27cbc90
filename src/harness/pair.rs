//! A node under test and a peer that has a session with it: what fuzz targets and
//! robustness tests need to reach the node's message handling with arbitrary bytes.
//!
//! In: a seed. Out: [`Pair`], holding the node under test (`node`, a full [`Node`])
//! and the peer's session layer (`peer`, a bare [`Sessions`]) after a completed SHS1
//! handshake. [`Pair::sealed`] seals any plaintext as the peer would, so that what
//! the node opens is arbitrary; [`Pair::raw`] hands it bytes as they come.

use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::proto::crypto::Crypto;
use crate::proto::node::{Config, Node};
use crate::proto::session::{SessionConfig, Sessions};
use crate::proto::wire::{self, Datagram, Message, Request, Response, TxId};
use crate::proto::{Command, Identity, NodeId, Time};

use super::UNIX_START;

/// Sends `request` (transaction `tx`) from a peer at `from` that holds a session with
/// `node` (at `node_addr`) in its bare session layer `peer`, and returns the node's
/// answer to it, if the node sent one. Everything else the node sends at once is
/// dropped; its events are left to the caller.
pub fn ask(
    node: &mut Node,
    peer: &mut Sessions,
    now: Time,
    from: SocketAddr,
    node_addr: SocketAddr,
    tx: TxId,
    request: Request,
) -> Option<Response> {
    let crypto = node.config().crypto.implementation();
    let mut plaintext = Vec::new();
    Message::Request { tx, request }.encode(&mut plaintext);
    let flags = wire::FrameFlags::default();
    let (_, frame) = peer.seal(crypto, &node.id(), &plaintext, flags)?;
    node.handle_datagram(now, from, &frame);
    let mut answer = None;
    while let Some(transmit) = node.poll_transmit() {
        if transmit.dst != from {
            continue;
        }
        let Ok(Datagram::Sealed { header, ciphertext }) = wire::decode(&transmit.payload) else {
            continue;
        };
        let Ok((_, plain)) = peer.open_frame(now, crypto, node_addr, header, &ciphertext) else {
            continue;
        };
        if let Ok(Message::Response { tx: got, response }) = wire::decode_message(&plain) {
            if got == tx {
                answer = Some(response);
            }
        }
    }
    answer
}

/// The node under test and a peer with a session open to it.
pub struct Pair {
    /// The node under test, at [`Pair::NODE_ADDR`].
    pub node: Node,
    /// The peer's sessions, at [`Pair::PEER_ADDR`].
    pub peer: Sessions,
    /// The peer's id.
    pub peer_id: NodeId,
    /// The simulated time now.
    pub now: Time,
    crypto: &'static dyn Crypto,
    rng: ChaCha8Rng,
    next_tx: u32,
}

impl Pair {
    /// Where the node under test is.
    pub const NODE_ADDR: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        7000,
    );
    /// Where the peer is.
    pub const PEER_ADDR: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        7000,
    );

    /// A fresh node (no peers, no session) and the peer's idle session layer.
    pub fn fresh(seed: u64) -> Pair {
        Pair::fresh_with(seed, |_| {})
    }

    /// [`Pair::fresh`], the node's configuration changed by `edit` first.
    pub fn fresh_with(seed: u64, edit: impl FnOnce(&mut Config)) -> Pair {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let identity = Identity::from_rng(&mut rng);
        let peer_identity = Identity::from_rng(&mut rng);
        let mut config = Config {
            port: Self::NODE_ADDR.port(),
            ..Config::default()
        };
        edit(&mut config);
        let network_key = config.network_key;
        let crypto = config.crypto.implementation();
        let node = Node::new(
            Time::ZERO,
            UNIX_START,
            config,
            identity,
            ChaCha8Rng::seed_from_u64(seed ^ 0x5EED),
        );
        let peer = Sessions::new(SessionConfig::default(), network_key, peer_identity.clone());
        Pair {
            node,
            peer,
            peer_id: peer_identity.id(),
            now: Time::ZERO,
            crypto,
            rng,
            next_tx: 0,
        }
    }

    /// A node with an open session to the peer (the peer dialled; the handshake ran to
    /// its end).
    pub fn connected(seed: u64) -> Pair {
        Pair::connected_with(seed, |_| {})
    }

    /// [`Pair::connected`], the node's configuration changed by `edit` first.
    pub fn connected_with(seed: u64, edit: impl FnOnce(&mut Config)) -> Pair {
        let mut pair = Pair::fresh_with(seed, edit);
        let node_id = pair.node.id();
        pair.peer.connect(
            pair.now,
            pair.crypto,
            node_id,
            Self::NODE_ADDR,
            &mut pair.rng,
            None,
        );
        for _ in 0..4 {
            pair.exchange();
        }
        assert!(
            pair.peer.is_open(&node_id),
            "the handshake between the pair completes"
        );
        pair
    }

    /// The crypto suite both sides use.
    pub fn crypto(&self) -> &'static dyn Crypto {
        self.crypto
    }

    /// Moves datagrams both ways once: the peer's to the node, the node's answers
    /// (to the peer's address) back into the peer's session layer.
    pub fn exchange(&mut self) {
        while let Some((_, bytes)) = self.peer.poll_transmit() {
            self.node.handle_datagram(self.now, Self::PEER_ADDR, &bytes);
        }
        while let Some(transmit) = self.node.poll_transmit() {
            if transmit.dst != Self::PEER_ADDR {
                continue;
            }
            if let Ok(Datagram::Handshake(h)) = wire::decode(&transmit.payload) {
                self.peer.handle_handshake(
                    self.now,
                    self.crypto,
                    Self::NODE_ADDR,
                    h,
                    &mut self.rng,
                );
            }
        }
        while self.peer.poll_event().is_some() {}
        while self.node.poll_event().is_some() {}
    }

    /// Hands the node `bytes` from the peer's address, as they are.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.node.handle_datagram(self.now, Self::PEER_ADDR, bytes);
        self.drain();
    }

    /// Seals `plaintext` (cut to [`wire::MAX_MESSAGE`], what one datagram carries) in
    /// the peer's session and hands the frame to the node.
    pub fn sealed(&mut self, plaintext: &[u8]) {
        let plaintext = &plaintext[..plaintext.len().min(wire::MAX_MESSAGE)];
        let node_id = self.node.id();
        if let Some((_, frame)) =
            self.peer
                .seal(self.crypto, &node_id, plaintext, Default::default())
        {
            self.node.handle_datagram(self.now, Self::PEER_ADDR, &frame);
        }
        self.drain();
    }

    /// Drops what the node sends and emits.
    pub fn drain(&mut self) {
        while self.node.poll_transmit().is_some() {}
        while self.node.poll_event().is_some() {}
    }

    /// Lets `by` pass on both sides, firing due timers.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now + by;
        self.node.handle_timeout(self.now);
        self.peer.handle_timeout(self.now);
        self.drain();
    }

    /// Whether the node still answers an honest PING from the peer in the session
    /// (opening a new one if the old one is gone).
    pub fn answers_ping(&mut self) -> bool {
        let node_id = self.node.id();
        // A session the node closed (the peer's fuzzed frames said Bye) is one an
        // honest peer closed too.
        if !self.node.has_session(&self.peer_id) {
            self.peer.close_peer(&node_id);
        }
        if !self.peer.is_open(&node_id) {
            self.peer.connect(
                self.now,
                self.crypto,
                node_id,
                Self::NODE_ADDR,
                &mut self.rng,
                None,
            );
            for _ in 0..4 {
                self.exchange();
            }
        }
        self.next_tx = self.next_tx.wrapping_add(1);
        let answer = ask(
            &mut self.node,
            &mut self.peer,
            self.now,
            Self::PEER_ADDR,
            Self::NODE_ADDR,
            TxId(self.next_tx),
            Request::Ping,
        );
        self.drain();
        answer.is_some()
    }

    /// Starts a command on the node and drops what it sends: puts the node in the
    /// state of a node with queries running (the fuzzers' "busy" state).
    pub fn busy(&mut self) {
        let _ = self
            .node
            .start(self.now, Command::FindNode(NodeId([0x55; 32])));
        let _ = self.node.start(self.now, Command::PingClosest(3));
        self.drain();
    }
}
