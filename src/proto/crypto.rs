//! The crypto seam: every public-key and encryption operation the handshake, the
//! sessions and discovery use goes through [`Crypto`].
//!
//! A node runs one of two suites, chosen by [`Config::crypto`](super::Config::crypto):
//!
//! - [`RealCrypto`] ([`CryptoSuite::Real`], the default and the only one the live
//!   world uses): X25519 with non-contributory results refused, ed25519 with
//!   `verify_strict` and weak keys refused, XSalsa20-Poly1305 secretbox for the
//!   handshake, ChaCha20-Poly1305 for session datagrams.
//! - [`FastCrypto`] ([`CryptoSuite::Fast`]), for very large simulated runs, where the
//!   curve operations of handshakes and beacons would be most of a run's cost: SHA-256
//!   in place of every curve operation and of the hellos' HMAC. A full handshake
//!   costs a small fraction of the real one (`cargo bench --bench handshake`), a
//!   sealed datagram about a quarter.
//!
//! The fast suite keeps what the protocol's behaviour depends on. Every message has
//! the size it has with the real suite (64/64/112/80-byte handshake messages, 16-byte
//! tags in the same place, 64-byte signatures), and it fails where the real suite
//! fails for honest mistakes and for damage in transit: another network key fails
//! the handshake at its first message (the hello's keyed tag), dialling a key the
//! peer does not hold fails, a box or datagram with any byte changed, cut short,
//! under another key, nonce, counter or header does not open, a signature over
//! another message or by another key does not verify, and the low-order and
//! small-order keys the real suite refuses are refused.
//!
//! It does not protect against anyone who knows the scheme. Its "Diffie-Hellman" is
//! a hash of the two public values and its "signature" a hash of the public key and
//! the message, so such a peer can compute every shared secret, read every session
//! and forge every signature. Ids that are not valid curve points are not refused
//! (honest identities never have them). Nothing else changes: timing, retransmissions
//! and replay windows are the protocol's own. The two suites do not interoperate: a
//! fast node and a real node fail each other's handshakes and beacons.
//!
//! The hellos' HMAC-SHA-512/256 goes through the seam too ([`Crypto::auth`]): at
//! 10,000 simulated nodes it was about 5% of a run's CPU. SHA-256 (the handshake's
//! key derivations) stays concrete in the callers.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use crypto_secretbox::XSalsa20Poly1305;
use ed25519_dalek::VerifyingKey;
use hmac::{Hmac, Mac};
use sha2::Sha512;

use super::id::NodeId;
use super::identity::{self, Identity, SIGNATURE_LEN};

mod fast;

pub use fast::FastCrypto;

/// Length of an authentication tag (secretbox and AEAD alike).
pub const TAG_LEN: usize = 16;

/// The operations the protocol needs; see the module docs.
pub trait Crypto: fmt::Debug + Send + Sync {
    /// The X25519 public key of a secret scalar (clamped at use).
    fn x25519_public(&self, secret: &[u8; 32]) -> [u8; 32];
    /// X25519; `None` when the result is all zeros, which happens exactly when
    /// `public` is a low-order point: every suite refuses those points.
    fn x25519(&self, secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]>;
    /// An ed25519 public key as an X25519 public key; `None` for invalid or weak keys.
    fn ed25519_public_to_x25519(&self, id: &NodeId) -> Option<[u8; 32]>;
    /// An identity's secret key as an X25519 scalar (clamped, as libsodium's).
    fn ed25519_secret_to_x25519(&self, identity: &Identity) -> [u8; 32];
    /// Signs `message` with `identity`.
    fn sign(&self, identity: &Identity, message: &[u8]) -> [u8; SIGNATURE_LEN];
    /// Whether `signature` is `signer`'s over `message`.
    fn verify(&self, signer: &NodeId, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool;
    /// libsodium's `crypto_secretbox_easy`: tag ‖ ciphertext.
    fn secretbox_seal(&self, key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8>;
    /// Opens a secretbox; `None` if it does not authenticate.
    fn secretbox_open(&self, key: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>>;
    /// Seals a session datagram: ciphertext ‖ tag, `aad` authenticated in the clear.
    fn aead_seal(&self, key: &[u8; 32], counter: u64, aad: &[u8], plaintext: &[u8]) -> Vec<u8>;
    /// Opens a session datagram; `None` if it does not authenticate.
    fn aead_open(&self, key: &[u8; 32], counter: u64, aad: &[u8], sealed: &[u8])
        -> Option<Vec<u8>>;
    /// The 32-byte tag of a hello under the network key: libsodium's `crypto_auth`
    /// (the first 32 bytes of HMAC-SHA-512) in the real suite.
    fn auth(&self, key: &[u8; 32], message: &[u8]) -> [u8; 32];
    /// Whether `tag` is [`Crypto::auth`] of `message` under `key`.
    fn auth_verify(&self, key: &[u8; 32], message: &[u8], tag: &[u8]) -> bool;
}

/// Which crypto suite a node runs; see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CryptoSuite {
    /// [`RealCrypto`]: what the live world runs.
    #[default]
    Real,
    /// [`FastCrypto`]: keyed hashes in place of curve operations, for very large
    /// simulated runs. Not secure against anyone who knows the scheme.
    Fast,
}

impl CryptoSuite {
    /// The suite's implementation, as a node holds it.
    pub fn implementation(self) -> &'static dyn Crypto {
        match self {
            CryptoSuite::Real => &RealCrypto,
            CryptoSuite::Fast => &FastCrypto,
        }
    }
}

/// The real thing: curve25519, ed25519, XSalsa20-Poly1305, ChaCha20-Poly1305.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealCrypto;

/// The ChaCha20-Poly1305 nonce of a session counter: four zero bytes, then the
/// counter big-endian. A key is never used with one counter twice.
fn aead_nonce(counter: u64) -> chacha20poly1305::Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&counter.to_be_bytes());
    nonce.into()
}

/// Clamps an X25519 scalar as RFC 7748 and libsodium do.
pub fn clamp(mut scalar: [u8; 32]) -> [u8; 32] {
    scalar[0] &= 248;
    scalar[31] &= 127;
    scalar[31] |= 64;
    scalar
}

impl Crypto for RealCrypto {
    fn x25519_public(&self, secret: &[u8; 32]) -> [u8; 32] {
        // Fixed-base multiplication by the precomputed Edwards table: about three
        // times faster than a Montgomery ladder from the base point, same result.
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret)).to_bytes()
    }

    fn x25519(&self, secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
        let shared = x25519_dalek::x25519(*secret, *public);
        (shared != [0u8; 32]).then_some(shared)
    }

    fn ed25519_public_to_x25519(&self, id: &NodeId) -> Option<[u8; 32]> {
        let key = VerifyingKey::from_bytes(id.as_bytes()).ok()?;
        if key.is_weak() {
            return None;
        }
        Some(key.to_montgomery().to_bytes())
    }

    fn ed25519_secret_to_x25519(&self, identity: &Identity) -> [u8; 32] {
        clamp(identity.signing_key().to_scalar_bytes())
    }

    fn sign(&self, identity: &Identity, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        identity.sign(message)
    }

    fn verify(&self, signer: &NodeId, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        identity::verify(signer, message, signature)
    }

    fn secretbox_seal(&self, key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        let cipher = XSalsa20Poly1305::new(key.into());
        // crypto_secretbox already puts the tag first, as libsodium's easy form does.
        cipher
            .encrypt(nonce.into(), plaintext)
            .expect("secretbox encryption of an in-memory buffer cannot fail")
    }

    fn secretbox_open(&self, key: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
        if boxed.len() < TAG_LEN {
            return None;
        }
        let cipher = XSalsa20Poly1305::new(key.into());
        cipher.decrypt(nonce.into(), boxed).ok()
    }

    fn aead_seal(&self, key: &[u8; 32], counter: u64, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(key.into());
        cipher
            .encrypt(
                &aead_nonce(counter),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AEAD encryption of an in-memory buffer cannot fail")
    }

    fn aead_open(
        &self,
        key: &[u8; 32],
        counter: u64,
        aad: &[u8],
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        let cipher = ChaCha20Poly1305::new(key.into());
        cipher
            .decrypt(&aead_nonce(counter), Payload { msg: sealed, aad })
            .ok()
    }

    fn auth(&self, key: &[u8; 32], message: &[u8]) -> [u8; 32] {
        let full = hmac_sha512(key, message).finalize().into_bytes();
        let mut out = [0u8; 32];
        out.copy_from_slice(&full[..32]);
        out
    }

    /// In constant time, as libsodium's `crypto_auth_verify`.
    fn auth_verify(&self, key: &[u8; 32], message: &[u8], tag: &[u8]) -> bool {
        hmac_sha512(key, message).verify_truncated_left(tag).is_ok()
    }
}

fn hmac_sha512(key: &[u8; 32], message: &[u8]) -> Hmac<Sha512> {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secretbox_puts_the_tag_first_and_detects_tampering() {
        let crypto = RealCrypto;
        let boxed = crypto.secretbox_seal(&[1; 32], &[0; 24], b"hello");
        assert_eq!(boxed.len(), TAG_LEN + 5);
        assert_eq!(
            crypto.secretbox_open(&[1; 32], &[0; 24], &boxed).as_deref(),
            Some(&b"hello"[..])
        );
        let mut bad = boxed.clone();
        bad[0] ^= 1;
        assert!(crypto.secretbox_open(&[1; 32], &[0; 24], &bad).is_none());
        assert!(crypto.secretbox_open(&[2; 32], &[0; 24], &boxed).is_none());
        assert!(crypto
            .secretbox_open(&[1; 32], &[0; 24], &boxed[..10])
            .is_none());
    }

    #[test]
    fn secretbox_matches_libsodium_easy() {
        // libsodium crypto_secretbox_easy("hello", nonce = 0^24, key = 1^32): tag ‖ ciphertext.
        let boxed = RealCrypto.secretbox_seal(&[1; 32], &[0; 24], b"hello");
        let want: [u8; 21] = [
            0xeb, 0xe7, 0x92, 0x09, 0x5b, 0x8b, 0x05, 0x46, 0xba, 0x8d, 0xc5, 0x9c, 0x9f, 0xd3,
            0xae, 0xf5, 0xb6, 0x7e, 0x26, 0xb7, 0xcf,
        ];
        assert_eq!(boxed, want);
        assert_eq!(
            RealCrypto
                .secretbox_open(&[1; 32], &[0; 24], &want)
                .as_deref(),
            Some(&b"hello"[..])
        );
    }

    #[test]
    fn aead_binds_key_counter_and_header() {
        let crypto = RealCrypto;
        let sealed = crypto.aead_seal(&[3; 32], 7, b"hdr", b"payload");
        assert_eq!(sealed.len(), 7 + TAG_LEN);
        assert_eq!(
            crypto.aead_open(&[3; 32], 7, b"hdr", &sealed).as_deref(),
            Some(&b"payload"[..])
        );
        assert!(crypto.aead_open(&[3; 32], 8, b"hdr", &sealed).is_none());
        assert!(crypto.aead_open(&[3; 32], 7, b"hdX", &sealed).is_none());
        assert!(crypto.aead_open(&[4; 32], 7, b"hdr", &sealed).is_none());
    }

    #[test]
    fn fixed_base_public_keys_match_the_ladder() {
        for seed in [[0u8; 32], [5; 32], [0xff; 32]] {
            let ladder = x25519_dalek::x25519(seed, x25519_dalek::X25519_BASEPOINT_BYTES);
            assert_eq!(RealCrypto.x25519_public(&seed), ladder);
        }
    }

    #[test]
    fn low_order_points_give_no_shared_secret() {
        let crypto = RealCrypto;
        assert_eq!(crypto.x25519(&[9; 32], &[0; 32]), None);
        let public = crypto.x25519_public(&[5; 32]);
        assert!(crypto.x25519(&[9; 32], &public).is_some());
    }
}
