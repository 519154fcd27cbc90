//! The Secure Scuttlebutt secret handshake, version 1 (SHS1), byte for byte.
//!
//! In: the network key `N`, the local identity, a fresh ephemeral X25519 secret (from
//! the node's RNG), the server's public key on the client side, and the peer's
//! messages. Out: the next message to send, and at the end the verified peer id and
//! the [`SessionKeys`] both sides derive. Any message that fails a check ends the
//! handshake with a [`HandshakeError`]; nothing further is sent and no key derived.
//!
//! | step | from | bytes | content |
//! |---|---|---|---|
//! | msg1 | client | 64 | `hmac(N, a_pub) ‖ a_pub` |
//! | msg2 | server | 64 | `hmac(N, b_pub) ‖ b_pub` |
//! | msg3 | client | 112 | `box(sha256(N ‖ ab ‖ aB), sigA ‖ A)`, `sigA = sign_A(N ‖ B ‖ sha256(ab))` |
//! | msg4 | server | 80 | `box(sha256(N ‖ ab ‖ aB ‖ Ab), sigB)`, `sigB = sign_B(N ‖ sigA ‖ A ‖ sha256(ab))` |
//!
//! `hmac` is the first 32 bytes of HMAC-SHA-512 (libsodium `crypto_auth`); `box` is
//! secretbox with an all-zero nonce; `aB` is `dh(a, curve(B))`. A peer with another
//! network key fails at msg1 or msg2 and never learns the server's identity. All-zero
//! Diffie-Hellman results, weak keys and non-strict signatures are refused.
//!
//! The state machines are pure: transport (TCP streams, datagrams with retransmission)
//! is the caller's business.

use std::fmt;

use sha2::{Digest, Sha256};

use super::crypto::Crypto;
use super::id::NodeId;
use super::identity::{Identity, SIGNATURE_LEN};

/// Length of msg1 and msg2.
pub const HELLO_LEN: usize = 64;
/// Length of msg3.
pub const AUTH_LEN: usize = 112;
/// Length of msg4.
pub const ACCEPT_LEN: usize = 80;

const ZERO_NONCE: [u8; 24] = [0; 24];

/// Why a handshake ended without a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A message of the wrong length.
    Length,
    /// The hello's HMAC is wrong: another network key (or a corrupted message).
    NetworkKey,
    /// A Diffie-Hellman result was all zeros: a low-order ephemeral key.
    LowOrderKey,
    /// A secretbox did not open: wrong keys (the client dialled another server) or
    /// tampering.
    Decrypt,
    /// The client's long-term key is invalid or weak.
    WeakKey,
    /// A signature did not verify.
    Signature,
    /// A message arrived in a state that does not expect it.
    OutOfOrder,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::Length => "handshake message of the wrong length",
            HandshakeError::NetworkKey => "hello authenticated with another network key",
            HandshakeError::LowOrderKey => "low-order ephemeral key",
            HandshakeError::Decrypt => "handshake box did not open (wrong server key or tampering)",
            HandshakeError::WeakKey => "invalid or weak long-term key",
            HandshakeError::Signature => "handshake signature did not verify",
            HandshakeError::OutOfOrder => "handshake message out of order",
        })
    }
}

impl std::error::Error for HandshakeError {}

/// What a finished handshake gives one side: the proven peer and the box-stream keys
/// and starting nonces of both directions.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The peer whose long-term key the handshake proved.
    pub peer: NodeId,
    /// Key for what this side sends.
    pub encrypt_key: [u8; 32],
    /// Starting nonce for what this side sends.
    pub encrypt_nonce: [u8; 24],
    /// Key for what this side receives.
    pub decrypt_key: [u8; 32],
    /// Starting nonce for what this side receives.
    pub decrypt_nonce: [u8; 24],
}

impl fmt::Debug for SessionKeys {
    /// Keys stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// A hello (msg1 or msg2): `hmac(N, eph_pub) ‖ eph_pub`.
pub fn hello(
    crypto: &dyn Crypto,
    network_key: &[u8; 32],
    ephemeral_public: &[u8; 32],
) -> [u8; HELLO_LEN] {
    let mut out = [0u8; HELLO_LEN];
    out[..32].copy_from_slice(&crypto.auth(network_key, ephemeral_public));
    out[32..].copy_from_slice(ephemeral_public);
    out
}

/// Checks a hello's HMAC; the ephemeral public key it carries.
pub fn open_hello(
    crypto: &dyn Crypto,
    network_key: &[u8; 32],
    message: &[u8],
) -> Result<[u8; 32], HandshakeError> {
    if message.len() != HELLO_LEN {
        return Err(HandshakeError::Length);
    }
    let (tag, public) = message.split_at(32);
    if !crypto.auth_verify(network_key, public, tag) {
        return Err(HandshakeError::NetworkKey);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(public);
    Ok(out)
}

/// The secrets both sides derive, in the order the protocol produces them.
#[derive(Clone)]
pub struct Secrets {
    /// `dh(a, b)`.
    pub ab: [u8; 32],
    /// `dh(a, curve(B))`.
    pub a_b: [u8; 32],
    /// `dh(curve(A), b)`, once known.
    pub a_b_long: Option<[u8; 32]>,
}

impl Secrets {
    /// `sha256(ab)`.
    pub fn ab_hash(&self) -> [u8; 32] {
        sha256(&[&self.ab])
    }

    /// The msg3 box key: `sha256(N ‖ ab ‖ aB)`.
    pub fn msg3_key(&self, network_key: &[u8; 32]) -> [u8; 32] {
        sha256(&[network_key, &self.ab, &self.a_b])
    }

    /// The msg4 box key: `sha256(N ‖ ab ‖ aB ‖ Ab)`.
    pub fn msg4_key(&self, network_key: &[u8; 32]) -> Option<[u8; 32]> {
        Some(sha256(&[network_key, &self.ab, &self.a_b, &self.a_b_long?]))
    }
}

/// The bytes the client signs: `N ‖ B ‖ sha256(ab)`.
pub fn client_signed_bytes(network_key: &[u8; 32], server: &NodeId, ab_hash: &[u8; 32]) -> Vec<u8> {
    [&network_key[..], server.as_bytes(), ab_hash].concat()
}

/// The bytes the server signs: `N ‖ sigA ‖ A ‖ sha256(ab)`.
pub fn server_signed_bytes(
    network_key: &[u8; 32],
    client_signature: &[u8; SIGNATURE_LEN],
    client: &NodeId,
    ab_hash: &[u8; 32],
) -> Vec<u8> {
    [
        &network_key[..],
        client_signature,
        client.as_bytes(),
        ab_hash,
    ]
    .concat()
}

/// The box-stream keys of a finished handshake, as the client (`is_client`) or the
/// server holds them.
fn session_keys(
    msg4_key: &[u8; 32],
    client: &NodeId,
    server: &NodeId,
    client_hello: &[u8; HELLO_LEN],
    server_hello: &[u8; HELLO_LEN],
    is_client: bool,
) -> SessionKeys {
    let base = sha256(&[msg4_key]);
    let to_server = sha256(&[&base, server.as_bytes()]);
    let to_client = sha256(&[&base, client.as_bytes()]);
    let mut to_server_nonce = [0u8; 24];
    to_server_nonce.copy_from_slice(&server_hello[..24]);
    let mut to_client_nonce = [0u8; 24];
    to_client_nonce.copy_from_slice(&client_hello[..24]);
    if is_client {
        SessionKeys {
            peer: *server,
            encrypt_key: to_server,
            encrypt_nonce: to_server_nonce,
            decrypt_key: to_client,
            decrypt_nonce: to_client_nonce,
        }
    } else {
        SessionKeys {
            peer: *client,
            encrypt_key: to_client,
            encrypt_nonce: to_client_nonce,
            decrypt_key: to_server,
            decrypt_nonce: to_server_nonce,
        }
    }
}

// One short-lived value per handshake: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum ClientState {
    SentHello,
    SentAuth {
        secrets: Secrets,
        signature: [u8; SIGNATURE_LEN],
        /// The session keys, known as soon as msg2 arrives (everything they derive
        /// from is known then); handed out once msg4 proves the server.
        keys: SessionKeys,
    },
    Done,
}

/// The client side: knows whom it dials.
pub struct ClientHandshake {
    network_key: [u8; 32],
    identity: Identity,
    server: NodeId,
    ephemeral_secret: [u8; 32],
    hello: [u8; HELLO_LEN],
    state: ClientState,
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Starts a handshake with `server`; msg1 is [`ClientHandshake::hello`].
    pub fn new(
        crypto: &dyn Crypto,
        network_key: [u8; 32],
        identity: Identity,
        server: NodeId,
        ephemeral_secret: [u8; 32],
    ) -> ClientHandshake {
        let public = crypto.x25519_public(&ephemeral_secret);
        ClientHandshake {
            hello: hello(crypto, &network_key, &public),
            network_key,
            identity,
            server,
            ephemeral_secret,
            state: ClientState::SentHello,
        }
    }

    /// msg1.
    pub fn hello(&self) -> [u8; HELLO_LEN] {
        self.hello
    }

    /// The server this handshake dials.
    pub fn server(&self) -> NodeId {
        self.server
    }

    /// Takes msg2; gives msg3.
    pub fn handle_hello(
        &mut self,
        crypto: &dyn Crypto,
        msg2: &[u8],
    ) -> Result<[u8; AUTH_LEN], HandshakeError> {
        if !matches!(self.state, ClientState::SentHello) {
            return Err(HandshakeError::OutOfOrder);
        }
        let result = self.hello_inner(crypto, msg2);
        if result.is_err() {
            self.state = ClientState::Done;
        }
        result
    }

    fn hello_inner(
        &mut self,
        crypto: &dyn Crypto,
        msg2: &[u8],
    ) -> Result<[u8; AUTH_LEN], HandshakeError> {
        let b_pub = open_hello(crypto, &self.network_key, msg2)?;
        let ab = crypto
            .x25519(&self.ephemeral_secret, &b_pub)
            .ok_or(HandshakeError::LowOrderKey)?;
        let server_x = crypto
            .ed25519_public_to_x25519(&self.server)
            .ok_or(HandshakeError::WeakKey)?;
        let a_b = crypto
            .x25519(&self.ephemeral_secret, &server_x)
            .ok_or(HandshakeError::LowOrderKey)?;
        // A·b: the client's long-term key with the server's ephemeral one. Known now,
        // so the session keys are too (see `early_keys`).
        let local_x = crypto.ed25519_secret_to_x25519(&self.identity);
        let a_b_long = crypto
            .x25519(&local_x, &b_pub)
            .ok_or(HandshakeError::LowOrderKey)?;
        let secrets = Secrets {
            ab,
            a_b,
            a_b_long: Some(a_b_long),
        };
        let signed = client_signed_bytes(&self.network_key, &self.server, &secrets.ab_hash());
        let signature = crypto.sign(&self.identity, &signed);
        let mut plaintext = [0u8; SIGNATURE_LEN + 32];
        plaintext[..SIGNATURE_LEN].copy_from_slice(&signature);
        plaintext[SIGNATURE_LEN..].copy_from_slice(self.identity.id().as_bytes());
        let boxed = crypto.secretbox_seal(
            &secrets.msg3_key(&self.network_key),
            &ZERO_NONCE,
            &plaintext,
        );
        let mut msg3 = [0u8; AUTH_LEN];
        msg3.copy_from_slice(&boxed);
        let mut server_hello = [0u8; HELLO_LEN];
        server_hello.copy_from_slice(msg2);
        let key = secrets.msg4_key(&self.network_key).expect("Ab is set");
        let keys = session_keys(
            &key,
            &self.identity.id(),
            &self.server,
            &self.hello,
            &server_hello,
            true,
        );
        self.state = ClientState::SentAuth {
            secrets,
            signature,
            keys,
        };
        Ok(msg3)
    }

    /// The session keys, between msg3 and msg4: what the client may seal a first
    /// message with, to travel beside msg3. Only the server the client dialled can
    /// derive them (they depend on its long-term key), so nothing is given away; but
    /// nothing the server sends is trusted before msg4.
    pub fn early_keys(&self) -> Option<&SessionKeys> {
        match &self.state {
            ClientState::SentAuth { keys, .. } => Some(keys),
            _ => None,
        }
    }

    /// Takes msg4; gives the session keys once the server proved its key.
    pub fn handle_accept(
        &mut self,
        crypto: &dyn Crypto,
        msg4: &[u8],
    ) -> Result<SessionKeys, HandshakeError> {
        if !matches!(self.state, ClientState::SentAuth { .. }) {
            return Err(HandshakeError::OutOfOrder);
        }
        let ClientState::SentAuth {
            secrets,
            signature,
            keys,
        } = std::mem::replace(&mut self.state, ClientState::Done)
        else {
            return Err(HandshakeError::OutOfOrder);
        };
        if msg4.len() != ACCEPT_LEN {
            return Err(HandshakeError::Length);
        }
        let key = secrets.msg4_key(&self.network_key).expect("Ab is set");
        let opened = crypto
            .secretbox_open(&key, &ZERO_NONCE, msg4)
            .ok_or(HandshakeError::Decrypt)?;
        let mut server_signature = [0u8; SIGNATURE_LEN];
        server_signature.copy_from_slice(&opened);
        let client = self.identity.id();
        let signed =
            server_signed_bytes(&self.network_key, &signature, &client, &secrets.ab_hash());
        if !crypto.verify(&self.server, &signed, &server_signature) {
            return Err(HandshakeError::Signature);
        }
        Ok(keys)
    }
}

enum ServerState {
    AwaitHello,
    SentHello {
        client_hello: [u8; HELLO_LEN],
        secrets: Secrets,
    },
    Done,
}

/// The server side: learns who dialled it from msg3.
pub struct ServerHandshake {
    network_key: [u8; 32],
    identity: Identity,
    ephemeral_secret: [u8; 32],
    hello: [u8; HELLO_LEN],
    state: ServerState,
}

impl fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandshake").finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// Waits for a client's msg1.
    pub fn new(
        crypto: &dyn Crypto,
        network_key: [u8; 32],
        identity: Identity,
        ephemeral_secret: [u8; 32],
    ) -> ServerHandshake {
        let public = crypto.x25519_public(&ephemeral_secret);
        ServerHandshake {
            hello: hello(crypto, &network_key, &public),
            network_key,
            identity,
            ephemeral_secret,
            state: ServerState::AwaitHello,
        }
    }

    /// Takes msg1; gives msg2.
    pub fn handle_hello(
        &mut self,
        crypto: &dyn Crypto,
        msg1: &[u8],
    ) -> Result<[u8; HELLO_LEN], HandshakeError> {
        if !matches!(self.state, ServerState::AwaitHello) {
            return Err(HandshakeError::OutOfOrder);
        }
        match open_hello(crypto, &self.network_key, msg1) {
            Ok(a_pub) => self.handle_opened_hello(crypto, msg1, a_pub),
            Err(error) => {
                self.state = ServerState::Done;
                Err(error)
            }
        }
    }

    /// Takes msg1 whose HMAC [`open_hello`] has already checked, giving `a_pub`; gives
    /// msg2. For a caller that checks hellos before it makes a handshake for them.
    pub(crate) fn handle_opened_hello(
        &mut self,
        crypto: &dyn Crypto,
        msg1: &[u8],
        a_pub: [u8; 32],
    ) -> Result<[u8; HELLO_LEN], HandshakeError> {
        if !matches!(self.state, ServerState::AwaitHello) {
            return Err(HandshakeError::OutOfOrder);
        }
        self.state = ServerState::Done;
        let ab = crypto
            .x25519(&self.ephemeral_secret, &a_pub)
            .ok_or(HandshakeError::LowOrderKey)?;
        let local_x = crypto.ed25519_secret_to_x25519(&self.identity);
        let a_b = crypto
            .x25519(&local_x, &a_pub)
            .ok_or(HandshakeError::LowOrderKey)?;
        let mut client_hello = [0u8; HELLO_LEN];
        client_hello.copy_from_slice(msg1);
        self.state = ServerState::SentHello {
            client_hello,
            secrets: Secrets {
                ab,
                a_b,
                a_b_long: None,
            },
        };
        Ok(self.hello)
    }

    /// Takes msg3; gives msg4 and the session keys with the proven client id.
    pub fn handle_auth(
        &mut self,
        crypto: &dyn Crypto,
        msg3: &[u8],
    ) -> Result<([u8; ACCEPT_LEN], SessionKeys), HandshakeError> {
        if !matches!(self.state, ServerState::SentHello { .. }) {
            return Err(HandshakeError::OutOfOrder);
        }
        let ServerState::SentHello {
            client_hello,
            secrets,
        } = std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(HandshakeError::OutOfOrder);
        };
        if msg3.len() != AUTH_LEN {
            return Err(HandshakeError::Length);
        }
        let opened = crypto
            .secretbox_open(&secrets.msg3_key(&self.network_key), &ZERO_NONCE, msg3)
            .ok_or(HandshakeError::Decrypt)?;
        let mut client_signature = [0u8; SIGNATURE_LEN];
        client_signature.copy_from_slice(&opened[..SIGNATURE_LEN]);
        let mut client = [0u8; 32];
        client.copy_from_slice(&opened[SIGNATURE_LEN..]);
        let client = NodeId(client);
        let client_x = crypto
            .ed25519_public_to_x25519(&client)
            .ok_or(HandshakeError::WeakKey)?;
        let server = self.identity.id();
        let signed = client_signed_bytes(&self.network_key, &server, &secrets.ab_hash());
        if !crypto.verify(&client, &signed, &client_signature) {
            return Err(HandshakeError::Signature);
        }
        let a_b_long = crypto
            .x25519(&self.ephemeral_secret, &client_x)
            .ok_or(HandshakeError::LowOrderKey)?;
        let secrets = Secrets {
            a_b_long: Some(a_b_long),
            ..secrets
        };
        let key = secrets.msg4_key(&self.network_key).expect("Ab is set");
        let signed = server_signed_bytes(
            &self.network_key,
            &client_signature,
            &client,
            &secrets.ab_hash(),
        );
        let signature = crypto.sign(&self.identity, &signed);
        let boxed = crypto.secretbox_seal(&key, &ZERO_NONCE, &signature);
        let mut msg4 = [0u8; ACCEPT_LEN];
        msg4.copy_from_slice(&boxed);
        let keys = session_keys(&key, &client, &server, &client_hello, &self.hello, false);
        Ok((msg4, keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::crypto::RealCrypto;

    fn pair(
        client_key: [u8; 32],
        server_key: [u8; 32],
    ) -> (ClientHandshake, ServerHandshake, Identity) {
        let client = Identity::from_seed([1; 32]);
        let server = Identity::from_seed([2; 32]);
        let c = ClientHandshake::new(&RealCrypto, client_key, client, server.id(), [3; 32]);
        let s = ServerHandshake::new(&RealCrypto, server_key, server.clone(), [4; 32]);
        (c, s, server)
    }

    #[test]
    fn both_sides_derive_mirrored_keys_and_prove_identities() {
        let (mut c, mut s, server) = pair([7; 32], [7; 32]);
        let msg2 = s.handle_hello(&RealCrypto, &c.hello()).unwrap();
        let msg3 = c.handle_hello(&RealCrypto, &msg2).unwrap();
        let (msg4, server_keys) = s.handle_auth(&RealCrypto, &msg3).unwrap();
        let client_keys = c.handle_accept(&RealCrypto, &msg4).unwrap();
        assert_eq!(client_keys.peer, server.id());
        assert_eq!(server_keys.peer, Identity::from_seed([1; 32]).id());
        assert_eq!(client_keys.encrypt_key, server_keys.decrypt_key);
        assert_eq!(client_keys.decrypt_key, server_keys.encrypt_key);
        assert_eq!(client_keys.encrypt_nonce, server_keys.decrypt_nonce);
        assert_ne!(client_keys.encrypt_key, client_keys.decrypt_key);
    }

    #[test]
    fn another_network_key_fails_at_the_first_message() {
        let (c, mut s, _) = pair([7; 32], [8; 32]);
        assert_eq!(
            s.handle_hello(&RealCrypto, &c.hello()),
            Err(HandshakeError::NetworkKey)
        );
    }

    #[test]
    fn dialling_the_wrong_server_key_fails_at_msg3() {
        let client = Identity::from_seed([1; 32]);
        let impostor = Identity::from_seed([9; 32]);
        let mut c = ClientHandshake::new(
            &RealCrypto,
            [7; 32],
            client,
            Identity::from_seed([2; 32]).id(),
            [3; 32],
        );
        let mut s = ServerHandshake::new(&RealCrypto, [7; 32], impostor, [4; 32]);
        let msg2 = s.handle_hello(&RealCrypto, &c.hello()).unwrap();
        let msg3 = c.handle_hello(&RealCrypto, &msg2).unwrap();
        assert!(matches!(
            s.handle_auth(&RealCrypto, &msg3),
            Err(HandshakeError::Decrypt)
        ));
    }

    #[test]
    fn messages_out_of_order_or_twice_are_refused() {
        let (mut c, mut s, _) = pair([7; 32], [7; 32]);
        assert_eq!(
            c.handle_accept(&RealCrypto, &[0; ACCEPT_LEN]).unwrap_err(),
            HandshakeError::OutOfOrder
        );
        let msg2 = s.handle_hello(&RealCrypto, &c.hello()).unwrap();
        assert_eq!(
            s.handle_hello(&RealCrypto, &c.hello()),
            Err(HandshakeError::OutOfOrder)
        );
        let _ = c.handle_hello(&RealCrypto, &msg2).unwrap();
        assert_eq!(
            c.handle_hello(&RealCrypto, &msg2),
            Err(HandshakeError::OutOfOrder)
        );
    }
}
