//! The file being loaded, for its errors: every [`ScenarioError`] is made here, from a
//! dotted key and a message, and gets its line from where that key is written.
//!
//! In: the file's path and text; a dotted key and a message (from the rules), serde's
//! error (from reading [`super::raw::File`]) or toml's (a syntax error). Out: a
//! [`ScenarioError`] naming the file, the line and the key. A key that is not written
//! (a missing one) takes the line of the table that should hold it.

use std::ops::Range;
use std::path::Path;

use serde_path_to_error::Segment;
use toml_edit::{ImDocument, Item};

use super::keys::Table;
use super::leaf::mismatch;
use super::ScenarioError;

/// A scenario file's path and text, and the text parsed with the span of every key,
/// value and table header (`toml_edit` keeps them).
pub(super) struct Doc<'a> {
    path: &'a Path,
    text: &'a str,
    document: Option<ImDocument<&'a str>>,
}

impl<'a> Doc<'a> {
    /// Parses `text`; toml's complaint about its syntax is the error.
    pub(super) fn parse(path: &'a Path, text: &'a str) -> Result<Doc<'a>, ScenarioError> {
        let mut doc = Doc {
            path,
            text,
            document: None,
        };
        doc.document = Some(ImDocument::parse(text).map_err(|error| doc.syntax_error(&error))?);
        Ok(doc)
    }

    /// What is written at dotted `key` (`network.latency.min`, `at[1].partition[0]`),
    /// and its span: the value's, or for a table that only a dotted key makes, the
    /// key's. `None` when nothing is written there; the top level has no span.
    fn find(&self, key: &str) -> Option<(Option<Range<usize>>, &Item)> {
        let mut item = self.document.as_ref()?.as_item();
        let mut span = None;
        for part in key.split('.').filter(|part| !part.is_empty()) {
            let mut pieces = part.split('[');
            let name = pieces.next().unwrap_or("");
            if !name.is_empty() {
                let (key, child) = item.as_table_like()?.get_key_value(name)?;
                span = child.span().or_else(|| key.span());
                item = child;
            }
            for index in pieces {
                let index: usize = index.strip_suffix(']')?.parse().ok()?;
                item = item.get(index)?;
                span = item.span().or(span);
            }
        }
        Some((span, item))
    }

    /// The value written at `key`, as errors describe it: scalars as they are, arrays
    /// and tables empty.
    fn value(&self, key: &str) -> Option<toml::Value> {
        use toml::Value as V;
        use toml_edit::Value as E;
        let value = match self.find(key)?.1 {
            Item::None => return None,
            Item::Table(_) | Item::Value(E::InlineTable(_)) => V::Table(Default::default()),
            Item::ArrayOfTables(_) | Item::Value(E::Array(_)) => V::Array(Vec::new()),
            Item::Value(E::String(text)) => V::String(text.value().clone()),
            Item::Value(E::Integer(integer)) => V::Integer(*integer.value()),
            Item::Value(E::Float(float)) => V::Float(*float.value()),
            Item::Value(E::Boolean(boolean)) => V::Boolean(*boolean.value()),
            Item::Value(E::Datetime(datetime)) => V::Datetime(*datetime.value()),
        };
        Some(value)
    }

    /// An error about `key`, at the line it is written on; for a key not written, the
    /// line of the nearest table above it that is.
    pub(super) fn error(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        let mut written = key;
        let span = loop {
            if let Some((span, _)) = self.find(written) {
                break span;
            }
            match written.rfind(['.', '[']) {
                Some(end) => written = &written[..end],
                None => written = "",
            }
        };
        ScenarioError {
            path: self.path.to_owned(),
            line: span.map(|span| self.line(span.start)),
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    /// What reading the file as [`super::raw::File`] refused: an unknown key gets
    /// "did you mean" or where it belongs, a value of the wrong shape what was expected
    /// and what the file holds there; the rest keep the reader's message.
    pub(super) fn serde_error(
        &self,
        error: &serde_path_to_error::Error<toml::de::Error>,
    ) -> ScenarioError {
        let key = dotted(error.path().iter());
        let segments: Vec<&Segment> = error.path().iter().collect();
        if let Some((Segment::Map { key: name }, table_path)) = segments.split_last() {
            let table_key = dotted(table_path.iter().copied());
            if let Some(table) = Table::of(&table_key) {
                match self.value(&table_key) {
                    // A date-time reaches serde as a table whose one key is not ours.
                    Some(found) if !found.is_table() => {
                        return self.error(&table_key, mismatch(table.expected(), &found));
                    }
                    _ if !table.keys().contains(&name.as_str()) => {
                        return self.error(&key, table.unknown_key(&table_key, name));
                    }
                    _ => {}
                }
            }
        }
        let message = error.inner().message();
        // serde's own words for a value of the wrong shape.
        let expected = message
            .strip_prefix("invalid type: ")
            .and_then(|rest| rest.split_once(", expected "));
        if let (Some((_, expected)), Some(found)) = (expected, self.value(&key)) {
            let one_table = Table::of(&key).and_then(Table::as_one_table);
            return match one_table.filter(|_| found.is_table()) {
                Some(message) => self.error(&key, message),
                None => self.error(&key, mismatch(expected, &found)),
            };
        }
        self.error(&key, message)
    }

    /// The 1-based line holding byte `offset`.
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count()
            + 1
    }

    /// toml's own complaint (syntax, a duplicate key), with the key guessed from the
    /// line it points at.
    fn syntax_error(&self, error: &toml_edit::TomlError) -> ScenarioError {
        let message: Vec<&str> = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        let span = error.span();
        let key = span
            .as_ref()
            .and_then(|span| guess_key(self.text, span.start));
        // `name = partition-heal` or `heal = yes`: toml says "invalid string", which
        // does not tell a newcomer what to do.
        let bare_word = span.as_ref().is_some_and(|span| {
            let rest = self.text.get(span.start..).unwrap_or("");
            rest.starts_with(|c: char| c.is_ascii_alphabetic())
        });
        let hint = if bare_word && error.message().contains("string") {
            "; text goes in quotes (`name = \"x\"`), and booleans are `true` or `false`"
        } else {
            ""
        };
        ScenarioError {
            path: self.path.to_owned(),
            line: span.map(|span| self.line(span.start)),
            key,
            message: format!("invalid TOML: {}{hint}", message.join("; ")),
        }
    }
}

/// A serde path as a dotted key: `at[1].partition`; the top level is empty.
fn dotted<'p>(segments: impl Iterator<Item = &'p Segment>) -> String {
    let mut key = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: name } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(name);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    key
}

/// The dotted key of a `key = value` line holding byte `offset`, from the last table
/// header above it. Best effort, for syntax errors only: `None` when unsure.
fn guess_key(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text.as_bytes()[..offset]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |at| at + 1);
    let line = text.get(line_start..)?.lines().next().unwrap_or("");
    let (key, _) = line.split_once('=')?;
    let key = bare_dotted_key(key)?;
    let mut table = String::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for header in text.get(..line_start)?.lines() {
        let header = header.trim();
        if let Some(inner) = header.strip_prefix("[[") {
            let name = bare_dotted_key(inner.split("]]").next()?)?;
            let count = match counts.iter_mut().find(|(known, _)| *known == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    counts.push((name.clone(), 0));
                    0
                }
            };
            table = format!("{name}[{count}]");
        } else if let Some(inner) = header.strip_prefix('[') {
            if let Some(name) = inner.split(']').next().and_then(bare_dotted_key) {
                table = name;
            }
        }
    }
    Some(if table.is_empty() {
        key
    } else {
        format!("{table}.{key}")
    })
}

/// `text` as a dotted key of bare keys (`network.latency`), spaces around dots removed.
fn bare_dotted_key(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('.').map(str::trim).collect();
    let bare = |part: &&str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    parts.iter().all(bare).then(|| parts.join("."))
}
