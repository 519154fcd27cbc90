//! The file being loaded, for its errors: every [`ScenarioError`] is made here, from a
//! dotted key and a message, and gets its line from where that key is written.
//!
//! In: the file's path and text; a dotted key and a message (from the rules), serde's
//! error (from reading [`super::raw::File`]) or toml's (a syntax error). Out: a
//! [`ScenarioError`] naming the file, the line and the key. A key that is not written
//! (a missing one) takes the line of the table that should hold it.

use std::path::Path;

use super::keys::Table;
use super::leaf::{describe, mismatch};
use super::tree::{self, Kind, Value};
use super::ScenarioError;

/// A scenario file's path and text, and its tree of spans.
pub(super) struct Doc<'a> {
    path: &'a Path,
    text: &'a str,
    root: Value,
}

impl<'a> Doc<'a> {
    /// Parses `text`; toml's complaint about its syntax is the error.
    pub(super) fn parse(path: &'a Path, text: &'a str) -> Result<Doc<'a>, ScenarioError> {
        let mut doc = Doc {
            path,
            text,
            root: Value {
                span: None,
                kind: Kind::Table(Vec::new()),
            },
        };
        doc.root = tree::parse(text).map_err(|error| doc.syntax_error(&error))?;
        // The document's own span covers nothing useful: a missing top-level key has
        // no line.
        doc.root.span = None;
        Ok(doc)
    }

    /// An error about `key`, at the line it is written on; for a key not written, the
    /// line of the nearest table above it that is.
    pub(super) fn error(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        let mut written = key;
        let span = loop {
            if let Some(value) = self.root.find(written) {
                break value.span.clone();
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
    /// "did you mean" or where it belongs; the rest keep the reader's message.
    pub(super) fn serde_error(
        &self,
        error: &serde_path_to_error::Error<toml::de::Error>,
    ) -> ScenarioError {
        let key = error.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let (table_key, name) = key.rsplit_once('.').unwrap_or(("", &key));
        if !name.ends_with(']') {
            if let Some(table) = Table::of(table_key) {
                match self.root.find(table_key).map(|value| &value.kind) {
                    Some(Kind::Table(_)) if !table.keys().contains(&name) => {
                        return self.error(&key, table.unknown_key(table_key, name));
                    }
                    // A date-time reaches serde as a table of its own.
                    Some(Kind::Scalar(found)) => {
                        return self.error(table_key, mismatch(table.expected(), found));
                    }
                    _ => {}
                }
            }
        }
        let mut message = error.inner().message().to_owned();
        // serde hands a date-time to a visitor as a table; the document knows better.
        if let Some(Kind::Scalar(found)) = self.root.find(&key).map(|value| &value.kind) {
            message = message.replace("found a table", &format!("found {}", describe(found)));
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
