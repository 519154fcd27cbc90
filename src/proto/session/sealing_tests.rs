//! No (key, counter) pair is ever sealed twice: a crypto suite that records every
//! seal watches two session layers through early frames, lost and retransmitted
//! handshake messages, crossed dials, many frames both ways, and a restart of one end
//! with the same identity.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::*;
use crate::proto::crypto::RealCrypto;
use crate::proto::wire::decode;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Every distinct (aad ‖ plaintext) sealed under each (key, nonce).
type Seals = BTreeMap<([u8; 32], Vec<u8>), Vec<Vec<u8>>>;

/// The real suite, recording the key and nonce of every seal with the bytes sealed.
#[derive(Debug, Default)]
struct Recording {
    seals: Mutex<Seals>,
}

impl Recording {
    fn note(&self, key: &[u8; 32], nonce: Vec<u8>, sealed: Vec<u8>) {
        let mut seals = self.seals.lock().unwrap();
        let entry = seals.entry((*key, nonce)).or_default();
        if !entry.contains(&sealed) {
            entry.push(sealed);
        }
    }
}

impl Crypto for Recording {
    fn x25519_public(&self, secret: &[u8; 32]) -> [u8; 32] {
        RealCrypto.x25519_public(secret)
    }
    fn x25519(&self, secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
        RealCrypto.x25519(secret, public)
    }
    fn ed25519_public_to_x25519(&self, id: &NodeId) -> Option<[u8; 32]> {
        RealCrypto.ed25519_public_to_x25519(id)
    }
    fn ed25519_secret_to_x25519(&self, identity: &Identity) -> [u8; 32] {
        RealCrypto.ed25519_secret_to_x25519(identity)
    }
    fn sign(&self, identity: &Identity, message: &[u8]) -> [u8; 64] {
        RealCrypto.sign(identity, message)
    }
    fn verify(&self, signer: &NodeId, message: &[u8], signature: &[u8; 64]) -> bool {
        RealCrypto.verify(signer, message, signature)
    }
    fn secretbox_seal(&self, key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        self.note(key, nonce.to_vec(), plaintext.to_vec());
        RealCrypto.secretbox_seal(key, nonce, plaintext)
    }
    fn secretbox_open(&self, key: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
        RealCrypto.secretbox_open(key, nonce, boxed)
    }
    fn aead_seal(&self, key: &[u8; 32], counter: u64, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let sealed = [aad, plaintext].concat();
        self.note(key, counter.to_be_bytes().to_vec(), sealed);
        RealCrypto.aead_seal(key, counter, aad, plaintext)
    }
    fn aead_open(
        &self,
        key: &[u8; 32],
        counter: u64,
        aad: &[u8],
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        RealCrypto.aead_open(key, counter, aad, sealed)
    }
    fn auth(&self, key: &[u8; 32], message: &[u8]) -> [u8; 32] {
        RealCrypto.auth(key, message)
    }
    fn auth_verify(&self, key: &[u8; 32], message: &[u8], tag: &[u8]) -> bool {
        RealCrypto.auth_verify(key, message, tag)
    }
}

const A: &str = "10.0.0.1:7000";
const B: &str = "10.0.0.2:7000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Hands `bytes` from `from` to `to`, whatever kind of datagram it is.
fn deliver(
    crypto: &Recording,
    to: &mut Sessions,
    now: Time,
    from: SocketAddr,
    bytes: &[u8],
    rng: &mut ChaCha8Rng,
) {
    match decode(bytes).expect("sessions send valid datagrams") {
        Datagram::Handshake(h) => {
            to.handle_handshake(now, crypto, from, h, rng);
        }
        Datagram::Sealed { header, ciphertext } => {
            let _ = to.open_frame(now, crypto, from, header, &ciphertext);
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Delivers what both ends queued until quiet, losing every `lose`-th datagram;
/// returns how many were sent, and adds to `seen` each datagram's bytes, counting in
/// `resent` those sent before (retransmissions).
#[allow(clippy::too_many_arguments)]
fn pump(
    crypto: &Recording,
    a: &mut Sessions,
    b: &mut Sessions,
    now: Time,
    rng: &mut ChaCha8Rng,
    lose: usize,
    seen: &mut BTreeSet<Vec<u8>>,
    resent: &mut usize,
) -> usize {
    let mut sent = 0;
    loop {
        let mut moved = false;
        for a_sends in [true, false] {
            let (from, to, src) = match a_sends {
                true => (&mut *a, &mut *b, A),
                false => (&mut *b, &mut *a, B),
            };
            while let Some((_, bytes)) = from.poll_transmit() {
                moved = true;
                sent += 1;
                if !seen.insert(bytes.clone()) {
                    *resent += 1;
                }
                if sent % lose != 0 {
                    deliver(crypto, to, now, addr(src), &bytes, rng);
                }
            }
        }
        if !moved {
            return sent;
        }
    }
}

#[test]
fn no_key_and_counter_is_sealed_twice_through_early_frames_losses_crossed_dials_and_restarts() {
    let crypto = Recording::default();
    let (a_id, b_id) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
    let key = [5; 32];
    let mut a = Sessions::new(SessionConfig::default(), key, a_id.clone());
    let mut b = Sessions::new(SessionConfig::default(), key, b_id.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut now = Time::ZERO;
    let early = |text: &str| Some((text.as_bytes().to_vec(), FrameFlags::default()));
    let (mut sent, mut resent, mut seen) = (0, 0, BTreeSet::new());

    for life in 0..3u64 {
        // Crossed dials, each with an early frame; every third datagram is lost, and
        // what is lost is sent again when its wait runs out.
        a.connect(now, &crypto, b_id.id(), addr(B), &mut rng, early("from a"));
        b.connect(now, &crypto, a_id.id(), addr(A), &mut rng, early("from b"));
        for _ in 0..20 {
            let (seen, resent) = (&mut seen, &mut resent);
            sent += pump(&crypto, &mut a, &mut b, now, &mut rng, 3, seen, resent);
            now = now + Duration::from_millis(300);
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
        assert!(
            a.is_open(&b_id.id()) && b.is_open(&a_id.id()),
            "life {life}"
        );
        // Frames both ways, the same text many times over, some lost.
        for i in 0..200 {
            let (from, to, peer, src) = match i % 2 {
                0 => (&mut a, &mut b, b_id.id(), A),
                _ => (&mut b, &mut a, a_id.id(), B),
            };
            let (_, datagram) = from
                .seal(&crypto, &peer, b"the same text", FrameFlags::default())
                .expect("an open session");
            sent += 1;
            if i % 7 != 0 {
                deliver(&crypto, to, now, addr(src), &datagram, &mut rng);
            }
        }
        // A restarts: the same identity, a new RNG (as a restarted node's).
        a = Sessions::new(SessionConfig::default(), key, a_id.clone());
        rng = ChaCha8Rng::seed_from_u64(100 + life);
        now = now + Duration::from_secs(1);
    }

    let seals = crypto.seals.lock().unwrap();
    let twice: Vec<_> = seals
        .iter()
        .filter(|(_, sealed)| sealed.len() > 1)
        .collect();
    assert!(
        twice.is_empty(),
        "sealed twice under one key and nonce: {twice:?}"
    );
    // What was exercised: 600 frames, and the handshakes' boxes and early frames.
    assert!(seals.len() > 600, "{} seals", seals.len());
    assert!(sent > 600, "{sent} datagrams");
    assert!(resent > 0, "handshake messages were lost and sent again");
    assert_eq!(b.stats().early_opened, 3, "a's early frame, once a life");
}
