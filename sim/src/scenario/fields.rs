//! Reading the parsed tree: tables, fields and the errors that point into the file.
//!
//! A [`Section`] is a table whose keys have been checked against the known ones; a
//! [`Field`] is one value with its dotted key, and reads it as the type a key takes.
//! Every error made here carries the file, the line (from the key's or value's span)
//! and the dotted key; unknown keys get "did you mean" or where they belong.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use super::duration::parse_duration;
use super::keys::{
    AT_KEYS, CHURN_KEYS, CLOCK_SKEW_KEYS, HOSTILE_KEYS, LATENCY_KEYS, METRICS, NAT_KEYS,
    NETWORK_KEYS, TOP_KEYS, WORKLOAD_KEYS,
};
use super::tree::{Entry, Kind, Value};
use super::ScenarioError;

/// The file being checked: where errors point.
pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Ctx<'_> {
    /// The 1-based line holding byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count()
            + 1
    }

    pub(super) fn error(
        &self,
        span: Option<&Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            path: self.path.to_owned(),
            line: span.map(|span| self.line(span.start)),
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    /// toml's own complaint (syntax, a duplicate key), with the key guessed from the
    /// line it points at.
    pub(super) fn syntax_error(&self, error: &toml_edit::TomlError) -> ScenarioError {
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
        self.error(
            span.as_ref(),
            key.as_deref().unwrap_or(""),
            format!("invalid TOML: {}{hint}", message.join("; ")),
        )
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

/// An optional table: `get` on a missing one finds nothing.
pub(super) struct Lookup<'a>(pub(super) Option<Section<'a>>);

impl<'a> Lookup<'a> {
    pub(super) fn get(&self, name: &str) -> Option<Field<'a>> {
        self.0.as_ref().and_then(|section| section.get(name))
    }
}

/// A table whose keys have been checked against the known ones.
pub(super) struct Section<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    /// The dotted key of the table itself; empty for the top level.
    pub(super) key: String,
    pub(super) span: Option<Range<usize>>,
    pub(super) entries: &'a [Entry],
}

impl<'a> Section<'a> {
    /// `value` as a table whose every key is in `known`.
    pub(super) fn new(
        ctx: &'a Ctx<'a>,
        key: String,
        value: &'a Value,
        fallback_span: Option<&Range<usize>>,
        known: &[&str],
    ) -> Result<Self, ScenarioError> {
        let span = value.span.clone().or_else(|| fallback_span.cloned());
        let Kind::Table(entries) = &value.kind else {
            return Err(ctx.error(
                span.as_ref(),
                &key,
                format!("expected a table, found {}", value.kind.describe()),
            ));
        };
        let section = Section {
            ctx,
            key,
            span,
            entries,
        };
        for entry in entries {
            if !known.contains(&entry.key.name.as_str()) {
                let field = section.field(entry);
                return Err(field.key_error(unknown_key_message(
                    &section.key,
                    &entry.key.name,
                    known,
                )));
            }
        }
        Ok(section)
    }

    fn child_key(&self, name: &str) -> String {
        if self.key.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.key)
        }
    }

    pub(super) fn field(&self, entry: &'a Entry) -> Field<'a> {
        Field {
            ctx: self.ctx,
            key: self.child_key(&entry.key.name),
            value: &entry.value,
            key_span: entry.key.span.clone(),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<Field<'a>> {
        self.entries
            .iter()
            .find(|entry| entry.key.name == name)
            .map(|entry| self.field(entry))
    }

    /// The field `name`, or an error saying it is missing and, with `example`, what
    /// to write.
    pub(super) fn required(&self, name: &str, example: &str) -> Result<Field<'a>, ScenarioError> {
        self.get(name).ok_or_else(|| {
            let within = if self.key.is_empty() {
                "a scenario".to_owned()
            } else {
                format!("`{}`", self.key)
            };
            self.ctx.error(
                self.span.as_ref(),
                &self.child_key(name),
                format!("missing; {within} needs `{name}`, {example}"),
            )
        })
    }

    /// An error about the table as a whole, at its header.
    pub(super) fn error(&self, message: impl Into<String>) -> ScenarioError {
        self.ctx.error(self.span.as_ref(), &self.key, message)
    }
}

/// Where a key that is unknown in one table belongs, when it is known in another.
fn misplaced(table: &str, name: &str) -> Option<String> {
    let homes: [(&[&str], &str); 10] = [
        (TOP_KEYS, ""),
        (NETWORK_KEYS, "the [network] table"),
        (
            LATENCY_KEYS,
            "`network.latency`, like `latency = { min = \"5ms\", max = \"80ms\" }`",
        ),
        (AT_KEYS, "an [[at]] entry"),
        (WORKLOAD_KEYS, "a [[workload]] entry"),
        (HOSTILE_KEYS, "the [hostile] table"),
        (METRICS, "the [expect] table"),
        (
            CHURN_KEYS,
            "the `churn` table, like `churn = { leave = \"2%/min\" }`",
        ),
        (
            CLOCK_SKEW_KEYS,
            "`network.clock_skew`, like `clock_skew = { offset = \"30s\", drift = 0.001 }`",
        ),
        (
            NAT_KEYS,
            "`network.nat`, like `nat = { open = 0.4, consistent = 0.4, random = 0.2 }`",
        ),
    ];
    let (_, home) = homes.iter().find(|(keys, _)| keys.contains(&name))?;
    if home.is_empty() {
        // A top-level key under a header is TOML's classic trap.
        return (!table.is_empty()).then(|| {
            format!(
                "`{name}` is a top-level key; move it above the first [table] header \
                 (keys after a header belong to that table)"
            )
        });
    }
    Some(format!("`{name}` belongs in {home}"))
}

fn unknown_key_message(table: &str, name: &str, known: &[&str]) -> String {
    let what = if known == METRICS { "metric" } else { "key" };
    let within = if table.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in `{table}`")
    };
    if let Some(hint) = misplaced(table, name) {
        return format!("unknown {what} `{name}` {within}; {hint}");
    }
    if let Some(close) = closest(name, known) {
        return format!("unknown {what} `{name}`; did you mean `{close}`?");
    }
    format!(
        "unknown {what} `{name}` {within}; expected one of {}",
        list(known)
    )
}

/// The known name within edit distance 2 of `name`, closest first.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let name_length = name.chars().count();
    known
        .iter()
        .map(|&candidate| (edit_distance(name, candidate), candidate))
        .filter(|&(distance, _)| distance <= 2 && distance < name_length)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars, ignoring ASCII case.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(&a.to_ascii_lowercase(), &b.to_ascii_lowercase())
}

/// "`a`, `b` or `c`".
fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// One value and the dotted key it was found under.
pub(super) struct Field<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    pub(super) key: String,
    pub(super) value: &'a Value,
    pub(super) key_span: Option<Range<usize>>,
}

impl<'a> Field<'a> {
    /// An error about the value, at its line (or, lacking a span, the key's).
    pub(super) fn error(&self, message: impl Into<String>) -> ScenarioError {
        let span = self.value.span.as_ref().or(self.key_span.as_ref());
        self.ctx.error(span, &self.key, message)
    }

    /// An error about the key itself, at its line.
    pub(super) fn key_error(&self, message: impl Into<String>) -> ScenarioError {
        let span = self.key_span.as_ref().or(self.value.span.as_ref());
        self.ctx.error(span, &self.key, message)
    }

    pub(super) fn type_error(&self, expected: &str) -> ScenarioError {
        let hint = match &self.value.kind {
            Kind::String(text)
                if expected.starts_with("a whole number") && text.trim().parse::<i64>().is_ok() =>
            {
                "; leave out the quotes"
            }
            Kind::String(text)
                if expected.starts_with("a number") && text.trim().parse::<f64>().is_ok() =>
            {
                "; leave out the quotes"
            }
            _ => "",
        };
        self.error(format!(
            "expected {expected}, found {}{hint}",
            self.value.kind.describe()
        ))
    }

    /// The `index`th element of this array value, keyed `key[index]`.
    pub(super) fn element(&self, index: usize, value: &'a Value) -> Field<'a> {
        Field {
            ctx: self.ctx,
            key: format!("{}[{index}]", self.key),
            value,
            key_span: self.value.span.clone().or_else(|| self.key_span.clone()),
        }
    }

    pub(super) fn table(&self, known: &[&str]) -> Result<Section<'a>, ScenarioError> {
        if !matches!(self.value.kind, Kind::Table(_)) {
            return Err(self.type_error("a table"));
        }
        Section::new(
            self.ctx,
            self.key.clone(),
            self.value,
            self.key_span.as_ref(),
            known,
        )
    }

    pub(super) fn array_of_tables(&self, header: &str) -> Result<&'a [Value], ScenarioError> {
        match &self.value.kind {
            Kind::Array(items) => Ok(items),
            Kind::Table(_) => Err(self.error(format!(
                "expected an array of tables, found a table; write each entry under its own {header} header, with double brackets"
            ))),
            _ => Err(self.type_error(&format!("an array of tables, one {header} header per entry"))),
        }
    }

    pub(super) fn string(&self) -> Result<&'a str, ScenarioError> {
        match &self.value.kind {
            Kind::String(text) => Ok(text),
            _ => Err(self.type_error("a string")),
        }
    }

    pub(super) fn boolean(&self) -> Result<bool, ScenarioError> {
        match &self.value.kind {
            Kind::Boolean(boolean) => Ok(*boolean),
            _ => Err(self.type_error("true or false")),
        }
    }

    pub(super) fn integer(&self) -> Result<i64, ScenarioError> {
        match &self.value.kind {
            Kind::Integer(integer) => Ok(*integer),
            _ => Err(self.type_error("a whole number")),
        }
    }

    /// A whole number of at least 0.
    pub(super) fn count(&self) -> Result<usize, ScenarioError> {
        let integer = self.integer()?;
        if integer < 0 {
            return Err(self.error(format!("{integer} is negative; expected 0 or more")));
        }
        Ok(usize::try_from(integer).unwrap_or(usize::MAX))
    }

    /// An integer or a float, finite.
    pub(super) fn number(&self) -> Result<f64, ScenarioError> {
        let number = match &self.value.kind {
            Kind::Integer(integer) => *integer as f64,
            Kind::Float(float) => *float,
            _ => return Err(self.type_error("a number")),
        };
        if !number.is_finite() {
            return Err(self.error(format!("{number} is not a finite number")));
        }
        Ok(number)
    }

    /// A probability: `0..=1`, or `0..1` with `below_one`.
    pub(super) fn probability(&self, below_one: bool) -> Result<f64, ScenarioError> {
        let number = match &self.value.kind {
            Kind::Integer(integer) => *integer as f64,
            Kind::Float(float) => *float,
            _ => return Err(self.type_error("a number between 0 and 1")),
        };
        if !(0.0..=1.0).contains(&number) {
            return Err(self.error(format!("{number} is not a probability (between 0 and 1)")));
        }
        if below_one && number == 1.0 {
            return Err(self.error("is 1: every datagram would be lost; use a value below 1"));
        }
        Ok(number)
    }

    pub(super) fn duration(&self) -> Result<Duration, ScenarioError> {
        match &self.value.kind {
            Kind::String(text) => parse_duration(text).map_err(|message| self.error(message)),
            Kind::Integer(number) => Err(self.error(format!(
                "expected a duration, found the number {number}; write a unit in quotes, like \"{number}s\""
            ))),
            Kind::Float(number) => Err(self.error(format!(
                "expected a duration, found the number {number}; write a unit in quotes, like \"{number}s\""
            ))),
            _ => Err(self.type_error("a duration like \"30s\"")),
        }
    }
}
