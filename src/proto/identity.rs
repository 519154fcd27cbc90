//! [`Identity`]: a node's ed25519 keypair, and signature checks against a [`NodeId`].
//!
//! Keys come from the RNG the driver hands in (seeded per node in the simulator) or
//! from a stored 32-byte seed; the live adapter adds a constructor that draws from the
//! OS. Ed25519 signing is deterministic, so the same seed signs the same bytes on every
//! run. Verification is `verify_strict`: small-order keys and malleable signatures are
//! refused.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};

use super::id::NodeId;

/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// A node's long-term keypair. Its public half is the node's [`NodeId`].
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
}

impl Identity {
    /// The identity whose secret seed (RFC 8032 private key) is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        Identity {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// A fresh identity drawn from `rng`.
    pub fn from_rng<R: RngCore + CryptoRng>(rng: &mut R) -> Identity {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Identity::from_seed(seed)
    }

    /// The secret seed, for storing in a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// This identity's public key, which is its node id.
    pub fn id(&self) -> NodeId {
        NodeId(self.signing.verifying_key().to_bytes())
    }

    /// The ed25519 signing key, for the crypto suite.
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for Identity {
    /// Prints the public id only: secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Identity").field(&self.id()).finish()
    }
}

/// Whether `signature` is `signer`'s signature of `message`, by `verify_strict`.
///
/// False for ids that are not valid curve points or are of small order, whatever
/// the signature.
pub fn verify(signer: &NodeId, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(signer.as_bytes()) else {
        return false;
    };
    if key.is_weak() {
        return false;
    }
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    #[test]
    fn seeded_identities_are_reproducible_and_distinct() {
        let a = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(1));
        let b = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(1));
        let c = Identity::from_rng(&mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_eq!(Identity::from_seed(a.seed()).id(), a.id());
    }

    #[test]
    fn signatures_verify_only_for_their_signer_and_message() {
        let a = Identity::from_seed([7; 32]);
        let b = Identity::from_seed([8; 32]);
        let sig = a.sign(b"beacon");
        assert_eq!(sig, a.sign(b"beacon"), "ed25519 signing is deterministic");
        assert!(verify(&a.id(), b"beacon", &sig));
        assert!(!verify(&a.id(), b"beacon!", &sig));
        assert!(!verify(&b.id(), b"beacon", &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!verify(&a.id(), b"beacon", &bad));
    }

    #[test]
    fn small_order_keys_are_refused() {
        // The identity point with R = identity, S = 0 "verifies" under cofactorless
        // checks for every message; verify_strict and is_weak refuse it.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert!(!verify(&NodeId(identity_point), b"anything", &sig));
    }
}
