//! A TOML document as a tree that remembers where each key and value sits.
//!
//! Text goes in; a [`Value`] comes out whose tables keep their entries in file order and
//! whose keys and values carry byte spans, so the checks in `check` can name a line.
//!
//! The spans come from `toml_edit`'s public API: a document parsed as an
//! [`ImDocument`] keeps the span of every key, value and table header. A table that
//! exists only through a dotted key (`network.loss = 0.01`, or `[network.latency]`
//! with no `[network]`) has no span of its own; its key's span stands in for it.

use std::ops::Range;

use toml_edit::{ImDocument, InlineTable, Item, Table, TomlError};

/// Parses TOML text into a tree. Errors are toml's own: syntax, duplicate keys.
pub(super) fn parse(text: &str) -> Result<Value, TomlError> {
    let document = ImDocument::parse(text)?;
    Ok(table(document.as_table()))
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

/// A `[table]` (or the document's root): its header's span, its entries in file order.
fn table(table: &Table) -> Value {
    let pairs = table
        .iter()
        .filter_map(|(name, _)| table.get_key_value(name));
    table_of(table.span(), pairs)
}

fn inline_table(table: &InlineTable) -> Value {
    let pairs = table
        .iter()
        .filter_map(|(name, _)| table.get_key_value(name));
    table_of(table.span(), pairs)
}

/// A table of either form from its span and its `(key, item)` pairs in file order.
fn table_of<'a>(
    span: Option<Range<usize>>,
    pairs: impl Iterator<Item = (&'a toml_edit::Key, &'a Item)>,
) -> Value {
    Value {
        span,
        kind: Kind::Table(pairs.filter_map(|(key, item)| entry(key, item)).collect()),
    }
}

fn entry(key: &toml_edit::Key, item: &Item) -> Option<Entry> {
    Some(Entry {
        key: Key {
            span: key.span(),
            name: key.get().to_owned(),
        },
        value: self::item(item)?,
    })
}

/// An item of a table; `None` for the parser's placeholder of an absent one.
fn item(item: &Item) -> Option<Value> {
    match item {
        Item::None => None,
        Item::Value(value) => Some(self::value(value)),
        Item::Table(table) => Some(self::table(table)),
        Item::ArrayOfTables(array) => Some(Value {
            span: array.span(),
            kind: Kind::Array(array.iter().map(self::table).collect()),
        }),
    }
}

fn value(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    let kind = match value {
        V::String(text) => Kind::String(text.value().clone()),
        V::Integer(integer) => Kind::Integer(*integer.value()),
        V::Float(float) => Kind::Float(*float.value()),
        V::Boolean(boolean) => Kind::Boolean(*boolean.value()),
        V::Datetime(datetime) => Kind::Datetime(datetime.value().to_string()),
        V::Array(array) => Kind::Array(array.iter().map(self::value).collect()),
        V::InlineTable(table) => return inline_table(table),
    };
    Value {
        span: value.span(),
        kind,
    }
}
