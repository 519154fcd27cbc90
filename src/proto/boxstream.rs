//! Box-stream: the framing Secure Scuttlebutt puts on a byte stream after SHS1.
//!
//! In: the [`SessionKeys`](super::handshake::SessionKeys) of a handshake and
//! plaintext (encoder) or header and body bytes (decoder). Out: frames, each a 34-byte
//! header `box(key, n, be16(len) ‖ body_tag)` followed by the body encrypted under
//! `n + 1` with its tag moved into the header; a goodbye frame ends the stream. Nonces
//! are 24-byte big-endian counters that advance by two per frame.
//!
//! dswarm's own sessions are datagrams (see `session`); this stream form is what the
//! reference implementation speaks over TCP, kept for interoperability tests.

use super::crypto::{Crypto, TAG_LEN};

/// Length of a frame header.
pub const HEADER_LEN: usize = 2 + TAG_LEN + TAG_LEN;
/// Largest body of one frame.
pub const MAX_BODY: usize = 4096;

/// Why a frame did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxStreamError {
    /// The header or body did not authenticate.
    Decrypt,
    /// A header announced more than [`MAX_BODY`] bytes.
    TooLong,
}

impl std::fmt::Display for BoxStreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BoxStreamError::Decrypt => "box-stream frame did not authenticate",
            BoxStreamError::TooLong => "box-stream frame longer than 4096 bytes",
        })
    }
}

impl std::error::Error for BoxStreamError {}

fn increment(nonce: &mut [u8; 24]) {
    for byte in nonce.iter_mut().rev() {
        let (next, carry) = byte.overflowing_add(1);
        *byte = next;
        if !carry {
            break;
        }
    }
}

/// One direction's sending half.
#[derive(Clone, Debug)]
pub struct Encoder {
    key: [u8; 32],
    nonce: [u8; 24],
}

impl Encoder {
    /// Starts at `nonce` under `key`.
    pub fn new(key: [u8; 32], nonce: [u8; 24]) -> Encoder {
        Encoder { key, nonce }
    }

    /// Frames `plaintext` (in chunks of at most [`MAX_BODY`]) and appends them to `out`.
    pub fn encrypt(&mut self, crypto: &dyn Crypto, plaintext: &[u8], out: &mut Vec<u8>) {
        for chunk in plaintext.chunks(MAX_BODY) {
            let header_nonce = self.nonce;
            increment(&mut self.nonce);
            let body = crypto.secretbox_seal(&self.key, &self.nonce, chunk);
            increment(&mut self.nonce);
            let (body_tag, body_ciphertext) = body.split_at(TAG_LEN);
            let mut header_plain = [0u8; 2 + TAG_LEN];
            header_plain[..2].copy_from_slice(&(chunk.len() as u16).to_be_bytes());
            header_plain[2..].copy_from_slice(body_tag);
            out.extend_from_slice(&crypto.secretbox_seal(&self.key, &header_nonce, &header_plain));
            out.extend_from_slice(body_ciphertext);
        }
    }

    /// The frame that ends the stream.
    pub fn goodbye(&mut self, crypto: &dyn Crypto) -> Vec<u8> {
        let frame = crypto.secretbox_seal(&self.key, &self.nonce, &[0u8; 2 + TAG_LEN]);
        increment(&mut self.nonce);
        frame
    }
}

/// What a header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A body of `len` bytes follows.
    Body {
        /// Its length.
        len: usize,
        /// Its tag, for [`Decoder::decrypt_body`].
        tag: [u8; TAG_LEN],
    },
    /// The stream ended cleanly.
    Goodbye,
}

/// One direction's receiving half.
#[derive(Clone, Debug)]
pub struct Decoder {
    key: [u8; 32],
    nonce: [u8; 24],
}

impl Decoder {
    /// Starts at `nonce` under `key`.
    pub fn new(key: [u8; 32], nonce: [u8; 24]) -> Decoder {
        Decoder { key, nonce }
    }

    /// Opens a 34-byte header.
    pub fn decrypt_header(
        &mut self,
        crypto: &dyn Crypto,
        header: &[u8],
    ) -> Result<Header, BoxStreamError> {
        let plain = crypto
            .secretbox_open(&self.key, &self.nonce, header)
            .filter(|p| p.len() == 2 + TAG_LEN)
            .ok_or(BoxStreamError::Decrypt)?;
        increment(&mut self.nonce);
        if plain.iter().all(|b| *b == 0) {
            return Ok(Header::Goodbye);
        }
        let len = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
        if len > MAX_BODY {
            return Err(BoxStreamError::TooLong);
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&plain[2..]);
        Ok(Header::Body { len, tag })
    }

    /// Opens the body that follows a header.
    pub fn decrypt_body(
        &mut self,
        crypto: &dyn Crypto,
        tag: &[u8; TAG_LEN],
        body: &[u8],
    ) -> Result<Vec<u8>, BoxStreamError> {
        let boxed = [&tag[..], body].concat();
        let plain = crypto
            .secretbox_open(&self.key, &self.nonce, &boxed)
            .ok_or(BoxStreamError::Decrypt)?;
        increment(&mut self.nonce);
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::crypto::RealCrypto;

    #[test]
    fn frames_round_trip_and_end_with_goodbye() {
        let mut enc = Encoder::new([5; 32], [0xff; 24]);
        let mut dec = Decoder::new([5; 32], [0xff; 24]);
        let mut wire = Vec::new();
        enc.encrypt(&RealCrypto, b"hello box stream", &mut wire);
        wire.extend_from_slice(&enc.goodbye(&RealCrypto));
        let Header::Body { len, tag } = dec
            .decrypt_header(&RealCrypto, &wire[..HEADER_LEN])
            .unwrap()
        else {
            panic!("a body comes first");
        };
        assert_eq!(len, 16);
        let body = dec
            .decrypt_body(&RealCrypto, &tag, &wire[HEADER_LEN..HEADER_LEN + len])
            .unwrap();
        assert_eq!(body, b"hello box stream");
        assert_eq!(
            dec.decrypt_header(&RealCrypto, &wire[HEADER_LEN + len..]),
            Ok(Header::Goodbye)
        );
    }

    #[test]
    fn nonce_counter_carries() {
        let mut nonce = [0u8; 24];
        nonce[23] = 0xff;
        nonce[22] = 0xff;
        increment(&mut nonce);
        assert_eq!(&nonce[21..], &[1, 0, 0]);
    }
}
