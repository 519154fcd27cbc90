//! A TOML document as a tree that remembers where each key and value sits.
//!
//! Text goes in; a [`Value`] comes out whose tables keep their entries in file order and
//! whose keys and values carry byte spans. [`Value::find`] takes a dotted key
//! (`at[1].partition`) to the value written there, so that an error about a key can
//! name its line and say what was written.
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
    /// A string, number, boolean or date-time.
    Scalar(toml::Value),
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

impl Value {
    /// The value at dotted `key` (`network.latency.min`, `at[1].partition[0]`), or
    /// `None` when nothing is written there. The empty key is this value.
    pub fn find(&self, key: &str) -> Option<&Value> {
        let mut value = self;
        for part in key.split('.').filter(|part| !part.is_empty()) {
            let mut pieces = part.split('[');
            let name = pieces.next().unwrap_or("");
            if !name.is_empty() {
                let Kind::Table(entries) = &value.kind else {
                    return None;
                };
                value = &entries.iter().find(|entry| entry.key.name == name)?.value;
            }
            for index in pieces {
                let index: usize = index.strip_suffix(']')?.parse().ok()?;
                let Kind::Array(items) = &value.kind else {
                    return None;
                };
                value = items.get(index)?;
            }
        }
        Some(value)
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
    use toml::Value as Scalar;
    use toml_edit::Value as V;
    let kind = match value {
        V::String(text) => Kind::Scalar(Scalar::String(text.value().clone())),
        V::Integer(integer) => Kind::Scalar(Scalar::Integer(*integer.value())),
        V::Float(float) => Kind::Scalar(Scalar::Float(*float.value())),
        V::Boolean(boolean) => Kind::Scalar(Scalar::Boolean(*boolean.value())),
        V::Datetime(datetime) => Kind::Scalar(Scalar::Datetime(*datetime.value())),
        V::Array(array) => Kind::Array(array.iter().map(self::value).collect()),
        V::InlineTable(table) => return inline_table(table),
    };
    Value {
        span: value.span(),
        kind,
    }
}
