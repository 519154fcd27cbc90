//! Identifiers and the XOR metric.
//!
//! - [`NodeId`]: 32 bytes, a node's ed25519 public key.
//! - [`Key`]: 32 bytes, the SHA-256 of something stored in the DHT.
//! - [`Distance`]: the XOR of two ids, ordered as a 256-bit big-endian integer.
//!
//! Ids and keys live in one 256-bit space, so either can be the target of a lookup.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Length in bytes of ids, keys and distances.
pub const ID_LEN: usize = 32;

/// A node's identity on the wire and in the routing table: its ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; ID_LEN]);

/// A record key: the SHA-256 of whatever it names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub [u8; ID_LEN]);

/// The XOR distance between two points of the id space, compared as a big-endian
/// 256-bit unsigned integer (so `Ord` on the bytes is the metric's order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Distance(pub [u8; ID_LEN]);

impl NodeId {
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &NodeId) -> Distance {
        xor(&self.0, &other.0)
    }

    /// The index (0..=255) of the bucket that `other` falls into in a table centred on
    /// `self`: the position of the highest bit in which the two differ. `None` for
    /// `self` itself, which never has a bucket.
    pub fn bucket_index(&self, other: &NodeId) -> Option<usize> {
        self.distance(other).bucket_index()
    }

    /// The point of the id space with the same bytes as `key`, as a lookup target.
    pub const fn from_key(key: Key) -> NodeId {
        NodeId(key.0)
    }
}

impl Key {
    /// The key of `data`: its SHA-256.
    pub fn of(data: &[u8]) -> Key {
        Key(Sha256::digest(data).into())
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }
}

impl Distance {
    /// The distance zero (an id to itself).
    pub const ZERO: Distance = Distance([0; ID_LEN]);

    /// The position of the highest set bit (0 = least significant), `None` for zero.
    pub fn bucket_index(&self) -> Option<usize> {
        let (byte, value) = self.0.iter().enumerate().find(|(_, b)| **b != 0)?;
        Some((ID_LEN - 1 - byte) * 8 + (7 - value.leading_zeros() as usize))
    }

    /// Whether bit `index` (0 = least significant) is set.
    pub fn bit(&self, index: usize) -> bool {
        debug_assert!(index < ID_LEN * 8);
        self.0[ID_LEN - 1 - index / 8] >> (index % 8) & 1 == 1
    }

    /// The number of leading zero bits (256 for zero): how long a prefix two ids share.
    pub fn leading_zeros(&self) -> u32 {
        self.bucket_index().map_or(256, |i| 255 - i as u32)
    }
}

fn xor(a: &[u8; ID_LEN], b: &[u8; ID_LEN]) -> Distance {
    let mut out = [0u8; ID_LEN];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    Distance(out)
}

/// Writes bytes as lowercase hex.
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Serialises bytes as one lowercase hex string (`#[serde(serialize_with)]`).
pub(crate) fn serialize_hex<S: serde::Serializer>(
    bytes: &impl AsRef<[u8]>,
    s: S,
) -> Result<S::Ok, S::Error> {
    struct Hex<'a>(&'a [u8]);
    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_hex(f, self.0)
        }
    }
    s.collect_str(&Hex(bytes.as_ref()))
}

/// [`serialize_hex`] for an optional byte string: `null` when absent.
pub(crate) fn serialize_hex_opt<S: serde::Serializer>(
    bytes: &Option<Vec<u8>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(bytes) => serialize_hex(bytes, s),
        None => s.serialize_none(),
    }
}

/// Why a hex string is not a 32-byte id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseIdError {
    /// Not exactly 64 hex digits; holds the length seen.
    Length(usize),
    /// A character that is not a hex digit, at this byte offset.
    Digit(usize),
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseIdError::Length(n) => write!(f, "expected 64 hex digits, got {n} characters"),
            ParseIdError::Digit(at) => write!(f, "not a hex digit at offset {at}"),
        }
    }
}

impl std::error::Error for ParseIdError {}

/// Parses 64 hex digits (either case) into 32 bytes.
pub fn parse_hex32(s: &str) -> Result<[u8; ID_LEN], ParseIdError> {
    let bytes = s.as_bytes();
    if bytes.len() != ID_LEN * 2 {
        return Err(ParseIdError::Length(s.len()));
    }
    let digit = |at: usize| -> Result<u8, ParseIdError> {
        match bytes[at] {
            c @ b'0'..=b'9' => Ok(c - b'0'),
            c @ b'a'..=b'f' => Ok(c - b'a' + 10),
            c @ b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(ParseIdError::Digit(at)),
        }
    };
    let mut out = [0u8; ID_LEN];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(2 * i)? << 4 | digit(2 * i + 1)?;
    }
    Ok(out)
}

macro_rules! hex_formatting {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            /// All 64 hex digits.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $ty {
            /// The first 8 hex digits: enough to tell nodes apart in logs.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0[..4])
            }
        }

        impl serde::Serialize for $ty {
            /// All 64 hex digits, as [`Display`](fmt::Display) writes them.
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl FromStr for $ty {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex32(s).map($ty)
            }
        }
    };
}

hex_formatting!(NodeId);
hex_formatting!(Key);
hex_formatting!(Distance);

#[cfg(test)]
mod tests {
    use super::*;

    fn id(last: u8) -> NodeId {
        let mut b = [0u8; 32];
        b[31] = last;
        NodeId(b)
    }

    #[test]
    fn bucket_index_is_the_highest_differing_bit() {
        assert_eq!(id(0).bucket_index(&id(0)), None);
        assert_eq!(id(0).bucket_index(&id(1)), Some(0));
        assert_eq!(id(0).bucket_index(&id(2)), Some(1));
        assert_eq!(id(0).bucket_index(&id(3)), Some(1));
        assert_eq!(id(0).bucket_index(&id(0x80)), Some(7));
        let mut far = [0u8; 32];
        far[0] = 0x80;
        assert_eq!(id(0).bucket_index(&NodeId(far)), Some(255));
    }

    #[test]
    fn distance_orders_as_a_big_endian_integer() {
        let a = id(0);
        assert!(a.distance(&id(1)) < a.distance(&id(2)));
        let mut high = [0u8; 32];
        high[0] = 1;
        assert!(a.distance(&id(255)) < a.distance(&NodeId(high)));
        assert!(a.distance(&id(5)).bit(0));
        assert!(!a.distance(&id(5)).bit(1));
        assert_eq!(Distance::ZERO.leading_zeros(), 256);
        assert_eq!(a.distance(&id(1)).leading_zeros(), 255);
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let key = Key::of(b"hello");
        let text = key.to_string();
        assert_eq!(
            text,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(text.parse::<Key>(), Ok(key));
        assert_eq!(text.to_uppercase().parse::<Key>(), Ok(key));
        assert_eq!("abc".parse::<NodeId>(), Err(ParseIdError::Length(3)));
        let bad = format!("{}zz", &text[..62]);
        assert_eq!(bad.parse::<NodeId>(), Err(ParseIdError::Digit(62)));
        // Multi-byte characters must not panic on slicing.
        let wide = "é".repeat(32);
        assert!(wide.parse::<NodeId>().is_err());
    }
}
