//! A TOML document as a tree that remembers where each key and value sits.
//!
//! Text goes in; a [`Value`] comes out whose tables keep their entries in file order and
//! whose keys and values carry byte spans, so the checks in `check` can name a line.
//!
//! `toml::Spanned<T>` alone cannot do this: a table that exists only through a dotted
//! key (`network.loss = 0.01`, or `[network.latency]` with no `[network]`) has no span,
//! and `Spanned` then refuses to deserialize at all. So [`Value`] and [`Key`] ask for a
//! span the way `Spanned` does — `deserialize_struct` with serde_spanned's reserved
//! name and fields, the protocol toml's deserializer answers — and accept the plain
//! value when none comes. The reserved names below are serde_spanned's (0.6 and 1.x);
//! the test `every_key_names_its_line` fails loudly if they ever change.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];
/// The key under which toml hands a datetime to a visitor, as a one-entry map.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// Parses TOML text into a tree. Errors are toml's own: syntax, duplicate keys.
pub(super) fn parse(text: &str) -> Result<Value, toml::de::Error> {
    toml::from_str(text)
}

/// A value and, when toml knows it, the byte range it was written at.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Value {
    pub span: Option<Range<usize>>,
    pub kind: Kind,
}

/// What a TOML value is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// Kept as written; no scenario key takes one, but the error should say what it saw.
    Datetime(String),
    Array(Vec<Value>),
    Table(Vec<Entry>),
}

/// One `key = value` of a table, in file order.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub key: Key,
    pub value: Value,
}

/// A table key and, when toml knows it, where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    pub span: Option<Range<usize>>,
    pub name: String,
}

impl Kind {
    /// How an error describes what it found: "a string (\"2000\")", "a table".
    pub fn describe(&self) -> String {
        match self {
            Kind::String(text) if text.chars().count() <= 40 => format!("a string ({text:?})"),
            Kind::String(_) => "a string".to_owned(),
            Kind::Integer(integer) => format!("an integer ({integer})"),
            Kind::Float(float) => format!("a float ({float})"),
            Kind::Boolean(boolean) => format!("a boolean ({boolean})"),
            Kind::Datetime(datetime) => format!("a date-time ({datetime})"),
            Kind::Array(_) => "an array".to_owned(),
            Kind::Table(_) => "a table".to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

/// Visits a value that may arrive wrapped in a span (a three-entry map) or bare.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        KindVisitor.visit_bool(v).map(bare)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        KindVisitor.visit_i64(v).map(bare)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        KindVisitor.visit_u64(v).map(bare)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        KindVisitor.visit_f64(v).map(bare)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        KindVisitor.visit_str(v).map(bare)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        KindVisitor.visit_seq(seq).map(bare)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(bare(Kind::Table(Vec::new())));
        };
        if first.name != SPANNED_START {
            return visit_table_or_datetime(first, map).map(bare);
        }
        let start: usize = map.next_value()?;
        expect_key(&mut map, SPANNED_END)?;
        let end: usize = map.next_value()?;
        expect_key(&mut map, SPANNED_VALUE)?;
        let kind = map.next_value_seed(KindSeed)?;
        Ok(Value {
            span: Some(start..end),
            kind,
        })
    }
}

fn bare(kind: Kind) -> Value {
    Value { span: None, kind }
}

fn expect_key<'de, A: MapAccess<'de>>(map: &mut A, expected: &str) -> Result<(), A::Error> {
    match map.next_key::<Key>()? {
        Some(key) if key.name == expected => Ok(()),
        Some(key) => Err(de::Error::custom(format_args!(
            "unexpected key `{}`",
            key.name
        ))),
        None => Err(de::Error::custom("a spanned value ended early")),
    }
}

/// Visits a value's content, which is never itself wrapped in a span.
struct KindVisitor;

struct KindSeed;

impl<'de> DeserializeSeed<'de> for KindSeed {
    type Value = Kind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Boolean(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Integer(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        // TOML integers are i64; a larger one cannot come from the parser.
        i64::try_from(v)
            .map(Kind::Integer)
            .map_err(|_| E::custom(format_args!("integer {v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::String(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Kind::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        match map.next_key::<Key>()? {
            Some(first) => visit_table_or_datetime(first, map),
            None => Ok(Kind::Table(Vec::new())),
        }
    }
}

/// The rest of a map whose first key has been read: a datetime or a table.
fn visit_table_or_datetime<'de, A: MapAccess<'de>>(
    first: Key,
    mut map: A,
) -> Result<Kind, A::Error> {
    if first.name == DATETIME_KEY {
        let text: String = map.next_value()?;
        return Ok(Kind::Datetime(text));
    }
    let mut entries = vec![Entry {
        key: first,
        value: map.next_value()?,
    }];
    while let Some(key) = map.next_key::<Key>()? {
        entries.push(Entry {
            key,
            value: map.next_value()?,
        });
    }
    Ok(Kind::Table(entries))
}

/// Visits a key that may arrive wrapped in a span (a three-entry map) or bare.
struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            span: None,
            name: v.to_owned(),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        expect_key(&mut map, SPANNED_START)?;
        let start: usize = map.next_value()?;
        expect_key(&mut map, SPANNED_END)?;
        let end: usize = map.next_value()?;
        expect_key(&mut map, SPANNED_VALUE)?;
        let name: String = map.next_value()?;
        Ok(Key {
            span: Some(start..end),
            name,
        })
    }
}
