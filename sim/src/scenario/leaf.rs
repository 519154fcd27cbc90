//! The values scenario keys take, as serde reads them from a file and writes them back.
//!
//! In: whatever TOML value was written under a key. Out: the value as its key means it
//! (a [`Duration`] from `"30s"`, a rate per second from `"200/s"`), or an error that
//! says what was expected and what was found (`expected a whole number, found a string
//! ("2000"); leave out the quotes`). Only what the value alone decides is checked here;
//! ranges that depend on other keys are the rules of `check`.
//!
//! Each type serialises to a form it reads back as the same value, which is what lets
//! `shrink` edit a file and write it out.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use toml::Value;

use super::duration::{format_duration, parse_duration};
use super::keys::Table;
use super::{CryptoKind, EngineKind};

/// How an error names what it found: `a string ("2000")`, `an integer (5)`, `a table`.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::String(text) if text.chars().count() <= 40 => format!("a string ({text:?})"),
        Value::String(_) => "a string".to_owned(),
        Value::Integer(integer) => format!("an integer ({integer})"),
        Value::Float(float) => format!("a float ({float})"),
        Value::Boolean(boolean) => format!("a boolean ({boolean})"),
        Value::Datetime(datetime) => format!("a date-time ({datetime})"),
        Value::Array(_) => "an array".to_owned(),
        Value::Table(_) => "a table".to_owned(),
    }
}

/// `expected {expected}, found {value}`, and a hint when the value is a number in quotes.
pub(super) fn mismatch(expected: &str, value: &Value) -> String {
    let quoted_number = match value {
        Value::String(text) if expected.starts_with("a whole number") => {
            text.trim().parse::<i64>().is_ok()
        }
        Value::String(text) if expected.starts_with("a number") => {
            text.trim().parse::<f64>().is_ok()
        }
        _ => false,
    };
    let hint = if quoted_number {
        "; leave out the quotes"
    } else {
        ""
    };
    format!("expected {expected}, found {}{hint}", describe(value))
}

/// Reads any TOML value and hands it to `convert`, whose `Err` is the message.
fn read<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    convert: impl FnOnce(Value) -> Result<T, String>,
) -> Result<T, D::Error> {
    convert(Value::deserialize(deserializer)?).map_err(de::Error::custom)
}

/// A `Deserialize` that reads the value through `$convert`.
macro_rules! read_with {
    ($type:ty, $convert:expr) => {
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read(deserializer, $convert)
            }
        }
    };
}

/// A whole number, of any sign: `nodes`, whose range the rules check.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Whole(pub i64);

read_with!(Whole, |value| match value {
    Value::Integer(integer) => Ok(Whole(integer)),
    other => Err(mismatch("a whole number", &other)),
});

/// A whole number of at least 0: a count.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Count(pub u64);

read_with!(Count, |value| match value {
    Value::Integer(integer) => u64::try_from(integer)
        .map(Count)
        .map_err(|_| format!("{integer} is negative; expected 0 or more")),
    other => Err(mismatch("a whole number", &other)),
});

impl Count {
    /// As a `usize`, saturating (a count that large is refused by the rules anyway).
    pub fn get(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

/// A finite number, written with or without a fraction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Number(pub f64);

read_with!(Number, |value| number(value, "a number").map(Number));

fn number(value: Value, expected: &str) -> Result<f64, String> {
    let number = match value {
        Value::Integer(integer) => integer as f64,
        Value::Float(float) => float,
        other => return Err(mismatch(expected, &other)),
    };
    if !number.is_finite() {
        return Err(format!("{number} is not a finite number"));
    }
    Ok(number)
}

/// A probability, from 0 to 1: `loss`, the NAT shares, `graceful`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Probability(pub f64);

read_with!(Probability, |value| {
    let number = match value {
        Value::Integer(integer) => integer as f64,
        Value::Float(float) => float,
        other => return Err(mismatch("a number between 0 and 1", &other)),
    };
    if !(0.0..=1.0).contains(&number) {
        return Err(format!("{number} is not a probability (between 0 and 1)"));
    }
    Ok(Probability(number))
});

/// A share of the nodes, like `leave = 0.2` or `liars = 0.1`; its range is the key's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Share(pub f64);

read_with!(Share, |value| number(
    value,
    "a number: a share of the nodes, like 0.2 for a fifth"
)
.map(Share));

/// A size in bytes: `"256KiB"`, `"1MiB"`, `"1000B"` (KiB and MiB are 1,024 and
/// 1,048,576 bytes; kB and MB 1,000 and 1,000,000), or a whole number of bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Size(pub u64);

read_with!(Size, |value| match value {
    Value::Integer(bytes) => u64::try_from(bytes)
        .map(Size)
        .map_err(|_| format!("{bytes} is negative; expected a size like \"256KiB\"")),
    Value::String(text) => parse_size(&text).map(Size),
    other => Err(mismatch("a size like \"256KiB\"", &other)),
});

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}B", self.0))
    }
}

/// Reads `"256KiB"`, `"1.5MiB"`, `"1000B"`, `"64kB"`.
fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit_bytes: f64 = match unit.trim() {
        "B" | "" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; write B, KiB, MiB, kB or MB, like \"256KiB\""
            ))
        }
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size; write it like \"256KiB\""))?;
    let bytes = number * unit_bytes;
    if !bytes.is_finite() || bytes.fract() != 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

/// `true` or `false`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Flag(pub bool);

read_with!(Flag, |value| match value {
    Value::Boolean(flag) => Ok(Flag(flag)),
    other => Err(mismatch("true or false", &other)),
});

/// A string.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Text(pub String);

read_with!(Text, |value| match value {
    Value::String(text) => Ok(Text(text)),
    other => Err(mismatch("a string", &other)),
});

/// A duration: `"30s"`, `"1.5m"`, `"250ms"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dur(pub Duration);

read_with!(Dur, |value| match value {
    Value::String(text) => parse_duration(&text).map(Dur),
    Value::Integer(_) | Value::Float(_) => Err(format!(
        "expected a duration, found the number {value}; write a unit in quotes, like \"{value}s\""
    )),
    other => Err(mismatch("a duration like \"30s\"", &other)),
});

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

/// `seed`: a whole number, or for seeds above `i64::MAX` (TOML integers stop there) a
/// string of digits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seed(pub u64);

read_with!(Seed, |value| match value {
    Value::Integer(seed) => u64::try_from(seed)
        .map(Seed)
        .map_err(|_| format!("{seed} is negative; a seed is 0 to {}", u64::MAX)),
    Value::String(text) => text.trim().parse::<u64>().map(Seed).map_err(|_| {
        format!(
            "{text:?} is not a seed; write a whole number from 0 to {}",
            u64::MAX
        )
    }),
    other => Err(mismatch(
        "a whole number (or, above 2^63, a string of digits)",
        &other
    )),
});

impl Serialize for Seed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(self.0) {
            Ok(seed) => serializer.serialize_i64(seed),
            Err(_) => serializer.serialize_str(&self.0.to_string()),
        }
    }
}

read_with!(EngineKind, |value| match value {
    Value::String(text) => text.parse(),
    other => Err(mismatch("a string", &other)),
});

read_with!(CryptoKind, |value| match value {
    Value::String(text) => text.parse(),
    other => Err(mismatch("a string", &other)),
});

/// Both kinds write the name they are read from.
macro_rules! serialize_by_name {
    ($($type:ty),*) => {$(
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_by_name!(EngineKind, CryptoKind);

/// `network_key`: 32 bytes as 64 hex characters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkKey(pub [u8; 32]);

read_with!(NetworkKey, |value| {
    let Value::String(text) = value else {
        return Err(mismatch("a string", &value));
    };
    let text = text.trim();
    let length = text.chars().count();
    if length != 64 {
        return Err(format!(
            "expected 64 hex characters (32 bytes), found {length}"
        ));
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = std::str::from_utf8(pair)
            .ok()
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            .ok_or("is not hex; use the digits 0-9 and a-f")?;
    }
    Ok(NetworkKey(key))
});

impl Serialize for NetworkKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex: String = self.0.iter().map(|byte| format!("{byte:02x}")).collect();
        serializer.serialize_str(&hex)
    }
}

/// A hostile node's rate, per second: `"200/s"`, `"5/10s"`, `"30/m"`; above 0 and at
/// most [`super::hostile::RATE_MAX`] a second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate(pub f64);

read_with!(Rate, |value| {
    let (text, count, seconds) = split_rate(value, "200/s", "a count")?;
    let count: f64 = match count.parse() {
        Ok(count) if f64::is_finite(count) && count > 0.0 => count,
        _ => {
            return Err(format!(
                "{text:?}: {count:?} is not a number above 0; write it like \"200/s\""
            ))
        }
    };
    let rate = count / seconds;
    if rate > super::hostile::RATE_MAX {
        return Err(format!(
            "{text:?} is {rate} a second, more than the most a node may be given, {}/s",
            super::hostile::RATE_MAX
        ));
    }
    Ok(Rate(rate))
});

/// A churn rate: `"2%/min"` (a percentage of the scenario's nodes per unit of time) or
/// `"0.02/min"` (a share); as the share of the nodes per second, at most
/// 1 (the whole swarm a second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChurnRate(pub f64);

read_with!(ChurnRate, |value| {
    let (text, amount, seconds) = split_rate(value, "2%/min", "a share of the nodes")?;
    let (number, scale) = match amount.strip_suffix('%') {
        Some(number) => (number.trim(), 100.0),
        None => (amount.as_str(), 1.0),
    };
    let share = match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => value / scale,
        _ => {
            return Err(format!(
                "{text:?}: {amount:?} is not a share; write a percentage like \"2%/min\""
            ))
        }
    };
    let rate = share / seconds;
    if rate > super::faults::CHURN_RATE_MAX {
        return Err(format!("{text:?} is more than the whole swarm a second"));
    }
    Ok(ChurnRate(rate))
});

/// Both rates write themselves per second, which reads back as the same number.
macro_rules! serialize_per_second {
    ($($type:ty),*) => {$(
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&format!("{}/s", self.0))
            }
        }
    )*};
}
serialize_per_second!(Rate, ChurnRate);

/// A rate as written, `"AMOUNT/PER"`: the text, the amount (trimmed) and the seconds in
/// `PER` (`s`, `10s`, `m`, `min`), or why it is not one. `like` is an example of the
/// rate, `amount` what its amount counts.
fn split_rate(value: Value, like: &str, amount: &str) -> Result<(String, String, f64), String> {
    let Value::String(text) = value else {
        return Err(mismatch(&format!("a rate like \"{like}\""), &value));
    };
    let Some((count, per)) = text.split_once('/') else {
        return Err(format!(
            "{text:?} is not a rate; write {amount} per unit of time, like \"{like}\""
        ));
    };
    let per = per.trim();
    let per = per
        .strip_suffix("in")
        .filter(|per| per.ends_with('m'))
        .unwrap_or(per);
    let unit = if per.starts_with(|c: char| c.is_ascii_digit()) {
        per.to_owned()
    } else {
        format!("1{per}")
    };
    let per = parse_duration(&unit).map_err(|message| format!("{text:?}: {message}"))?;
    if per.is_zero() {
        return Err(format!("{text:?}: per zero time is no rate"));
    }
    Ok((text.clone(), count.trim().to_owned(), per.as_secs_f64()))
}

/// An `[expect]` bound as written: `">= 0.99"`, or a bare number. What it means depends
/// on the metric, so the rules read it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Bound {
    Number(f64),
    Text(String),
}

read_with!(Bound, |value| match value {
    Value::String(text) => Ok(Bound::Text(text)),
    Value::Integer(_) | Value::Float(_) => number(value, "a number").map(Bound::Number),
    other => Err(mismatch("a string like \">= 0.99\"", &other)),
});

/// A table of the file, for what errors say it expected.
pub trait Shape {
    /// The table it is.
    const TABLE: Table;
}

// The visitors below take the shapes a key may hold and leave the rest to serde, whose
// "invalid type: …, expected …" `Doc` rewrites with what the file holds there.

/// Reads an optional table of shape `T`.
pub(super) fn table<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Shape,
{
    deserializer.deserialize_any(ShapeVisitor {
        from_table: Some,
        from_text: None,
    })
}

/// Reads a table position as `O`: a table as `T` and then `from_table`, and a string
/// (for a key that takes one instead) through `from_text`.
pub struct ShapeVisitor<T, O> {
    pub from_table: fn(T) -> O,
    pub from_text: Option<FromText<O>>,
}

/// How a table position reads a string written instead of a table.
pub type FromText<O> = fn(&str) -> Result<O, String>;

impl<'de, T: Deserialize<'de> + Shape, O> Visitor<'de> for ShapeVisitor<T, O> {
    type Value = O;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(T::TABLE.expected())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<O, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(self.from_table)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<O, E> {
        match self.from_text {
            Some(from_text) => from_text(text).map_err(E::custom),
            None => Err(E::invalid_type(de::Unexpected::Str(text), &self)),
        }
    }
}

/// Reads an array position as a `Vec` of `T`; `what` is what it expects.
struct ListVisitor<T> {
    what: &'static str,
    element: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.what)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(items)
    }
}

/// Reads an array of tables, `[[at]]` or `[[workload]]`, whose header is `T`'s table.
pub(super) fn tables<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Shape,
{
    deserializer.deserialize_any(ListVisitor::<T> {
        what: T::TABLE.expected(),
        element: PhantomData,
    })
}

/// Reads `partition = [0.5, 0.5]`.
pub(super) fn shares<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Number>>, D::Error> {
    deserializer
        .deserialize_any(ListVisitor::<Number> {
            what: "an array of shares, like [0.5, 0.5]",
            element: PhantomData,
        })
        .map(Some)
}
