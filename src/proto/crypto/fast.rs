//! [`FastCrypto`]: SHA-256 in place of curve operations, for very large simulated
//! runs. The parent module's docs say what it keeps and what it gives up.
//!
//! | operation | fast suite |
//! |---|---|
//! | X25519 public key of `s` | `H("pub" ‖ clamp(s))` |
//! | X25519 of `s` and `P` | `H("dh" ‖ min(pub(s), P) ‖ max(pub(s), P))`: both sides get one value |
//! | identity → X25519 scalar | `scalar(id) = clamp(H("scalar" ‖ id))` |
//! | ed25519 id → X25519 public key | `pub(scalar(id))`, so the two agree |
//! | sign | `h = H("sig" ‖ id ‖ m)`; the signature is `h ‖ H("sig2" ‖ h)` |
//! | hello tag (`crypto_auth`) | `H("auth" ‖ key ‖ m)` |
//! | secretbox | `k = H("box" ‖ key ‖ nonce)`; ciphertext: plaintext XOR ChaCha8(k); tag: the first 16 bytes of `SHA-256(k ‖ len(aad) ‖ aad ‖ ciphertext)` with no `aad`, first in the box, as in the real suite |
//! | AEAD (datagrams) | the ChaCha8 stream of `key` numbered `counter`: its first 32 bytes are `k`, the rest XOR the plaintext; tag as the secretbox's, over the header as `aad`, last in the datagram, as in the real suite |
//!
//! `H` is SHA-256 of `fast/`, a label and the inputs. Low-order X25519 points and
//! small-order ed25519 ids are refused by comparison with libsodium's blocklists,
//! which is what the real suite refuses too. Tags and signatures are compared in
//! variable time: nothing here hides timing.
//!
//! Every input of the key agreement and the signatures is public, so anyone who knows
//! the scheme can compute every shared secret and forge every signature: fine for a
//! simulator, where every node is honest code, and nothing else.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::{clamp, Crypto, TAG_LEN};
use crate::proto::id::NodeId;
use crate::proto::identity::{Identity, SIGNATURE_LEN};

/// Keyed hashes in place of curve operations: same sizes and same failures as
/// [`RealCrypto`](super::RealCrypto) for honest mistakes and tampering, a small
/// fraction of the cost, and no security against anyone who knows the scheme.
///
/// For simulation only; see the [module docs](super) for what it does not protect.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastCrypto;

/// X25519 u-coordinates of low order, with the top bit ignored (libsodium's
/// blocklist): 0, 1, two points of order 8, p − 1, p and p + 1. Real X25519 gives
/// an all-zero result with every one of them, whatever the clamped scalar.
const LOW_ORDER_X25519: [[u8; 32]; 7] = [
    [0; 32],
    one(),
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

/// Ed25519 encodings of the eight points of order dividing 8, with the sign bit of x
/// ignored (libsodium's blocklist): y = 0, 1, two values of order 8, p − 1, p, p + 1.
/// `ed25519-dalek`'s `is_weak` refuses exactly these (among valid encodings).
const SMALL_ORDER_ED25519: [[u8; 32]; 7] = [
    [0; 32],
    one(),
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

/// 1, little-endian.
const fn one() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[0] = 1;
    out
}

/// p + `delta` for p = 2^255 − 19 and a small `delta`, little-endian.
const fn p_plus(delta: i8) -> [u8; 32] {
    let mut out = [0xff; 32];
    out[0] = (0xed_i16 + delta as i16) as u8;
    out[31] = 0x7f;
    out
}

/// Whether `encoding`, top bit ignored, is on `list`.
fn listed(list: &[[u8; 32]], encoding: &[u8; 32]) -> bool {
    list.iter()
        .any(|bad| bad[..31] == encoding[..31] && bad[31] == encoding[31] & 0x7f)
}

/// SHA-256 of `fast/`, a label and `parts`. Labels are short, so that a label and
/// 40 bytes of input fit one compression.
fn hash(label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"fast/");
    hasher.update(label);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The fake X25519 scalar of a long-term key: derived from the public id, so that
/// [`FastCrypto::ed25519_public_to_x25519`] can be computed from the id alone.
fn long_term_scalar(id: &NodeId) -> [u8; 32] {
    clamp(hash(b"scalar", &[id.as_bytes()]))
}

/// The signature of `signer` over `message`.
fn signature_of(signer: &NodeId, message: &[u8]) -> [u8; SIGNATURE_LEN] {
    let first = hash(b"sig", &[signer.as_bytes(), message]);
    let mut out = [0u8; SIGNATURE_LEN];
    out[..32].copy_from_slice(&first);
    out[32..].copy_from_slice(&hash(b"sig2", &[&first]));
    out
}

/// The key of one message: `H(label ‖ key ‖ nonce)`. It seeds the keystream and
/// keys the tag, so both are bound to the key, the nonce and the kind of message.
fn message_key(label: &[u8], key: &[u8; 32], nonce: &[u8]) -> [u8; 32] {
    hash(label, &[key, nonce])
}

/// XORs `data` with the ChaCha8 keystream of `message_key`.
fn apply_keystream(message_key: &[u8; 32], data: &mut [u8]) {
    xor_stream(&mut ChaCha8Rng::from_seed(*message_key), data);
}

/// The key of one datagram and the keystream that encrypts it: ChaCha8 keyed by the
/// session key, in the stream numbered by the datagram's counter (each key meets
/// each counter once), whose first 32 bytes key the tag. No hash per datagram: the
/// session key is already a secret of its own, and a secretbox's stream is keyed by
/// a hash of its key, so neither kind of box opens as the other.
fn datagram_stream(key: &[u8; 32], counter: u64) -> ([u8; 32], ChaCha8Rng) {
    let mut stream = ChaCha8Rng::from_seed(*key);
    stream.set_stream(counter);
    let mut message_key = [0u8; 32];
    stream.fill_bytes(&mut message_key);
    (message_key, stream)
}

/// XORs `data` with what comes next out of `stream`.
fn xor_stream(stream: &mut ChaCha8Rng, data: &mut [u8]) {
    let mut pad = [0u8; 64];
    for chunk in data.chunks_mut(pad.len()) {
        let pad = &mut pad[..chunk.len()];
        stream.fill_bytes(pad);
        for (byte, pad) in chunk.iter_mut().zip(pad.iter()) {
            *byte ^= pad;
        }
    }
}

/// The tag of one message: the first 16 bytes of `H(message_key ‖ len(aad) ‖ aad ‖
/// ciphertext)`. A secret-prefix hash, truncated so that it cannot be extended.
fn tag(message_key: &[u8; 32], aad: &[u8], ciphertext: &[u8]) -> [u8; TAG_LEN] {
    let digest = Sha256::new()
        .chain_update(message_key)
        .chain_update((aad.len() as u64).to_le_bytes())
        .chain_update(aad)
        .chain_update(ciphertext)
        .finalize();
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&digest[..TAG_LEN]);
    out
}

/// The label of a secretbox's key.
const SECRETBOX: &[u8] = b"box";

impl Crypto for FastCrypto {
    fn x25519_public(&self, secret: &[u8; 32]) -> [u8; 32] {
        hash(b"pub", &[&clamp(*secret)])
    }

    /// `None` when `public` is a low-order point, as with real X25519; a hash that
    /// comes out all zeros (probability 2^-256) would be refused as well.
    fn x25519(&self, secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
        if listed(&LOW_ORDER_X25519, public) {
            return None;
        }
        let own = self.x25519_public(secret);
        let (low, high) = if own <= *public {
            (&own, public)
        } else {
            (public, &own)
        };
        let shared = hash(b"dh", &[low, high]);
        (shared != [0u8; 32]).then_some(shared)
    }

    /// `None` for the small-order encodings only: telling a valid curve point from
    /// an invalid one would cost the decompression this suite avoids.
    fn ed25519_public_to_x25519(&self, id: &NodeId) -> Option<[u8; 32]> {
        if listed(&SMALL_ORDER_ED25519, id.as_bytes()) {
            return None;
        }
        Some(self.x25519_public(&long_term_scalar(id)))
    }

    fn ed25519_secret_to_x25519(&self, identity: &Identity) -> [u8; 32] {
        long_term_scalar(&identity.id())
    }

    fn sign(&self, identity: &Identity, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        signature_of(&identity.id(), message)
    }

    fn verify(&self, signer: &NodeId, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        !listed(&SMALL_ORDER_ED25519, signer.as_bytes())
            && signature_of(signer, message) == *signature
    }

    fn secretbox_seal(&self, key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        let message_key = message_key(SECRETBOX, key, nonce);
        let mut boxed = vec![0u8; TAG_LEN + plaintext.len()];
        let (tag_out, body) = boxed.split_at_mut(TAG_LEN);
        body.copy_from_slice(plaintext);
        apply_keystream(&message_key, body);
        tag_out.copy_from_slice(&tag(&message_key, &[], body));
        boxed
    }

    fn secretbox_open(&self, key: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
        if boxed.len() < TAG_LEN {
            return None;
        }
        let (received, body) = boxed.split_at(TAG_LEN);
        let message_key = message_key(SECRETBOX, key, nonce);
        if tag(&message_key, &[], body) != received {
            return None;
        }
        let mut plaintext = body.to_vec();
        apply_keystream(&message_key, &mut plaintext);
        Some(plaintext)
    }

    fn aead_seal(&self, key: &[u8; 32], counter: u64, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let (message_key, mut stream) = datagram_stream(key, counter);
        let mut sealed = Vec::with_capacity(plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(plaintext);
        xor_stream(&mut stream, &mut sealed);
        let tag = tag(&message_key, aad, &sealed);
        sealed.extend_from_slice(&tag);
        sealed
    }

    fn aead_open(
        &self,
        key: &[u8; 32],
        counter: u64,
        aad: &[u8],
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        let body_len = sealed.len().checked_sub(TAG_LEN)?;
        let (body, received) = sealed.split_at(body_len);
        let (message_key, mut stream) = datagram_stream(key, counter);
        if tag(&message_key, aad, body) != received {
            return None;
        }
        let mut plaintext = body.to_vec();
        xor_stream(&mut stream, &mut plaintext);
        Some(plaintext)
    }

    fn auth(&self, key: &[u8; 32], message: &[u8]) -> [u8; 32] {
        hash(b"auth", &[key, message])
    }

    fn auth_verify(&self, key: &[u8; 32], message: &[u8], tag: &[u8]) -> bool {
        self.auth(key, message) == tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::crypto::RealCrypto;
    use crate::proto::handshake::{
        self, ClientHandshake, HandshakeError, Secrets, ServerHandshake, SessionKeys, ACCEPT_LEN,
        AUTH_LEN, HELLO_LEN,
    };

    /// The four messages and both sides' keys of one handshake between seeds 1 and 2.
    fn handshake(crypto: &dyn Crypto) -> (Vec<Vec<u8>>, SessionKeys, SessionKeys) {
        let client = Identity::from_seed([1; 32]);
        let server = Identity::from_seed([2; 32]);
        let mut c = ClientHandshake::new(crypto, [7; 32], client, server.id(), [3; 32]);
        let mut s = ServerHandshake::new(crypto, [7; 32], server, [4; 32]);
        let msg1 = c.hello();
        let msg2 = s.handle_hello(crypto, &msg1).unwrap();
        let msg3 = c.handle_hello(crypto, &msg2).unwrap();
        let (msg4, server_keys) = s.handle_auth(crypto, &msg3).unwrap();
        let client_keys = c.handle_accept(crypto, &msg4).unwrap();
        let messages = vec![msg1.to_vec(), msg2.to_vec(), msg3.to_vec(), msg4.to_vec()];
        (messages, client_keys, server_keys)
    }

    #[test]
    fn a_handshake_has_the_real_sizes_and_proves_both_keys() {
        let (fast, client_keys, server_keys) = handshake(&FastCrypto);
        let (real, _, _) = handshake(&RealCrypto);
        let sizes = |m: &[Vec<u8>]| m.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(&fast), sizes(&real));
        assert_eq!(sizes(&fast), [HELLO_LEN, HELLO_LEN, AUTH_LEN, ACCEPT_LEN]);
        assert_ne!(fast, real, "another suite, other bytes");
        assert_eq!(client_keys.peer, Identity::from_seed([2; 32]).id());
        assert_eq!(server_keys.peer, Identity::from_seed([1; 32]).id());
        assert_eq!(client_keys.encrypt_key, server_keys.decrypt_key);
        assert_eq!(client_keys.decrypt_key, server_keys.encrypt_key);
        assert_ne!(client_keys.encrypt_key, client_keys.decrypt_key);
    }

    #[test]
    fn another_network_key_fails_at_the_first_message() {
        let server = Identity::from_seed([2; 32]);
        let c = ClientHandshake::new(
            &FastCrypto,
            [7; 32],
            Identity::from_seed([1; 32]),
            server.id(),
            [3; 32],
        );
        let mut s = ServerHandshake::new(&FastCrypto, [8; 32], server, [4; 32]);
        assert_eq!(
            s.handle_hello(&FastCrypto, &c.hello()),
            Err(HandshakeError::NetworkKey)
        );
    }

    #[test]
    fn a_hello_with_any_byte_changed_fails_as_with_another_network_key() {
        let key = [7; 32];
        let hello = handshake::hello(&FastCrypto, &key, &[5; 32]);
        assert_eq!(
            handshake::open_hello(&FastCrypto, &key, &hello),
            Ok([5; 32])
        );
        for at in [0, 31, 32, 63] {
            let mut bad = hello;
            bad[at] ^= 1;
            assert_eq!(
                handshake::open_hello(&FastCrypto, &key, &bad),
                Err(HandshakeError::NetworkKey)
            );
        }
        assert_eq!(
            handshake::open_hello(&RealCrypto, &key, &hello),
            Err(HandshakeError::NetworkKey),
            "the suites do not interoperate"
        );
    }

    #[test]
    fn a_server_without_the_dialled_key_fails_at_msg3() {
        let mut c = ClientHandshake::new(
            &FastCrypto,
            [7; 32],
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]).id(),
            [3; 32],
        );
        let impostor = Identity::from_seed([9; 32]);
        let mut s = ServerHandshake::new(&FastCrypto, [7; 32], impostor, [4; 32]);
        let msg2 = s.handle_hello(&FastCrypto, &c.hello()).unwrap();
        let msg3 = c.handle_hello(&FastCrypto, &msg2).unwrap();
        assert!(matches!(
            s.handle_auth(&FastCrypto, &msg3),
            Err(HandshakeError::Decrypt)
        ));
    }

    #[test]
    fn a_client_claiming_another_id_fails_at_msg3() {
        // The client signs and boxes as seed 1 but puts seed 3's id in msg3.
        let client = Identity::from_seed([1; 32]);
        let claimed = Identity::from_seed([3; 32]).id();
        let server = Identity::from_seed([2; 32]);
        let mut c = ClientHandshake::new(&FastCrypto, [7; 32], client, server.id(), [3; 32]);
        let mut s = ServerHandshake::new(&FastCrypto, [7; 32], server.clone(), [4; 32]);
        let msg2 = s.handle_hello(&FastCrypto, &c.hello()).unwrap();
        let msg3 = c.handle_hello(&FastCrypto, &msg2).unwrap();
        // Rebuild msg3 with the claimed id, under the same box key.
        let b_pub: [u8; 32] = msg2[32..].try_into().unwrap();
        let ab = FastCrypto.x25519(&[3; 32], &b_pub).unwrap();
        let server_x = FastCrypto.ed25519_public_to_x25519(&server.id()).unwrap();
        let a_b = FastCrypto.x25519(&[3; 32], &server_x).unwrap();
        let secrets = Secrets {
            ab,
            a_b,
            a_b_long: None,
        };
        let key = secrets.msg3_key(&[7; 32]);
        let mut opened = FastCrypto.secretbox_open(&key, &[0; 24], &msg3).unwrap();
        opened[SIGNATURE_LEN..].copy_from_slice(claimed.as_bytes());
        let forged = FastCrypto.secretbox_seal(&key, &[0; 24], &opened);
        let mut s2 = ServerHandshake::new(&FastCrypto, [7; 32], server, [4; 32]);
        s2.handle_hello(&FastCrypto, &c.hello()).unwrap();
        assert!(matches!(
            s2.handle_auth(&FastCrypto, &forged),
            Err(HandshakeError::Signature)
        ));
    }

    #[test]
    fn long_term_keys_agree_between_their_two_halves() {
        for seed in [[1u8; 32], [2; 32], [0xff; 32]] {
            let identity = Identity::from_seed(seed);
            let scalar = FastCrypto.ed25519_secret_to_x25519(&identity);
            assert_eq!(scalar, clamp(scalar), "clamped, as the real scalar is");
            assert_eq!(
                Some(FastCrypto.x25519_public(&scalar)),
                FastCrypto.ed25519_public_to_x25519(&identity.id())
            );
        }
    }

    #[test]
    fn diffie_hellman_is_commutative_and_clamps() {
        let (a, b) = ([5u8; 32], [6u8; 32]);
        let (a_pub, b_pub) = (FastCrypto.x25519_public(&a), FastCrypto.x25519_public(&b));
        let shared = FastCrypto.x25519(&a, &b_pub).unwrap();
        assert_eq!(FastCrypto.x25519(&b, &a_pub), Some(shared));
        assert_ne!(FastCrypto.x25519(&[7; 32], &b_pub), Some(shared));
        let mut unclamped = a;
        unclamped[0] |= 7;
        unclamped[31] |= 0x80;
        assert_eq!(FastCrypto.x25519_public(&unclamped), a_pub);
    }

    #[test]
    fn low_order_points_are_refused_like_the_real_suite_refuses_them() {
        for point in LOW_ORDER_X25519 {
            for high in [0, 0x80] {
                let mut point = point;
                point[31] |= high;
                assert_eq!(RealCrypto.x25519(&[9; 32], &point), None, "{point:02x?}");
                assert_eq!(FastCrypto.x25519(&[9; 32], &point), None, "{point:02x?}");
            }
        }
        let public = FastCrypto.x25519_public(&[5; 32]);
        assert!(FastCrypto.x25519(&[9; 32], &public).is_some());
    }

    #[test]
    fn small_order_ids_are_refused_like_the_real_suite_refuses_them() {
        let signer = Identity::from_seed([1; 32]);
        for point in SMALL_ORDER_ED25519 {
            for sign in [0, 0x80] {
                let mut point = point;
                point[31] |= sign;
                let id = NodeId(point);
                assert_eq!(RealCrypto.ed25519_public_to_x25519(&id), None, "{id:?}");
                assert_eq!(FastCrypto.ed25519_public_to_x25519(&id), None, "{id:?}");
                let signature = signature_of(&id, b"m");
                assert!(!FastCrypto.verify(&id, b"m", &signature));
            }
        }
        assert!(FastCrypto.ed25519_public_to_x25519(&signer.id()).is_some());
    }

    #[test]
    fn signatures_verify_only_for_their_signer_and_message() {
        let a = Identity::from_seed([7; 32]);
        let b = Identity::from_seed([8; 32]);
        let sig = FastCrypto.sign(&a, b"beacon");
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert_eq!(sig, FastCrypto.sign(&a, b"beacon"), "deterministic");
        assert!(FastCrypto.verify(&a.id(), b"beacon", &sig));
        assert!(!FastCrypto.verify(&a.id(), b"beacon!", &sig));
        assert!(!FastCrypto.verify(&a.id(), b"", &sig));
        assert!(!FastCrypto.verify(&b.id(), b"beacon", &sig));
        for i in 0..SIGNATURE_LEN {
            let mut bad = sig;
            bad[i] ^= 0x01;
            assert!(!FastCrypto.verify(&a.id(), b"beacon", &bad), "byte {i}");
        }
        // Neither suite accepts the other's signatures.
        assert!(!RealCrypto.verify(&a.id(), b"beacon", &sig));
        assert!(!FastCrypto.verify(&a.id(), b"beacon", &RealCrypto.sign(&a, b"beacon")));
    }

    #[test]
    fn secretbox_puts_the_tag_first_and_any_damage_fails() {
        let (key, nonce) = ([1u8; 32], [2u8; 24]);
        let plaintext = [0x5au8; 96];
        let boxed = FastCrypto.secretbox_seal(&key, &nonce, &plaintext);
        assert_eq!(boxed.len(), TAG_LEN + plaintext.len());
        assert_ne!(&boxed[TAG_LEN..], &plaintext[..], "the body is encrypted");
        assert_eq!(
            FastCrypto.secretbox_open(&key, &nonce, &boxed).as_deref(),
            Some(&plaintext[..])
        );
        for i in 0..boxed.len() {
            let mut bad = boxed.clone();
            bad[i] ^= 0x80;
            assert!(
                FastCrypto.secretbox_open(&key, &nonce, &bad).is_none(),
                "byte {i}"
            );
        }
        for len in 0..boxed.len() {
            assert!(
                FastCrypto
                    .secretbox_open(&key, &nonce, &boxed[..len])
                    .is_none(),
                "cut to {len}"
            );
        }
        assert!(FastCrypto
            .secretbox_open(&[3; 32], &nonce, &boxed)
            .is_none());
        assert!(FastCrypto.secretbox_open(&key, &[0; 24], &boxed).is_none());
        let empty = FastCrypto.secretbox_seal(&key, &nonce, b"");
        assert_eq!(empty.len(), TAG_LEN);
        assert_eq!(
            FastCrypto.secretbox_open(&key, &nonce, &empty).as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn aead_puts_the_tag_last_and_binds_key_counter_and_header() {
        let key = [3u8; 32];
        let plaintext = [0xa5u8; 200];
        let sealed = FastCrypto.aead_seal(&key, 7, b"hdr", &plaintext);
        assert_eq!(sealed.len(), plaintext.len() + TAG_LEN);
        assert_eq!(
            FastCrypto.aead_open(&key, 7, b"hdr", &sealed).as_deref(),
            Some(&plaintext[..])
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                FastCrypto.aead_open(&key, 7, b"hdr", &bad).is_none(),
                "byte {i}"
            );
        }
        for len in 0..sealed.len() {
            assert!(
                FastCrypto
                    .aead_open(&key, 7, b"hdr", &sealed[..len])
                    .is_none(),
                "cut to {len}"
            );
        }
        assert!(FastCrypto.aead_open(&key, 8, b"hdr", &sealed).is_none());
        assert!(FastCrypto.aead_open(&key, 7, b"hdX", &sealed).is_none());
        assert!(FastCrypto.aead_open(&key, 7, b"hd", &sealed).is_none());
        assert!(FastCrypto.aead_open(&[4; 32], 7, b"hdr", &sealed).is_none());
        // A secretbox is no datagram and a datagram no secretbox.
        let boxed = FastCrypto.secretbox_seal(&key, &[0; 24], &plaintext);
        assert!(FastCrypto.aead_open(&key, 0, b"", &boxed).is_none());
    }

    #[test]
    fn the_suite_is_chosen_by_its_enum() {
        use crate::proto::crypto::CryptoSuite;
        let public = |suite: CryptoSuite| suite.implementation().x25519_public(&[5; 32]);
        assert_eq!(CryptoSuite::default(), CryptoSuite::Real);
        assert_eq!(
            public(CryptoSuite::Real),
            RealCrypto.x25519_public(&[5; 32])
        );
        assert_eq!(
            public(CryptoSuite::Fast),
            FastCrypto.x25519_public(&[5; 32])
        );
    }
}
