//! The tables of a scenario file and the keys each may hold.
//!
//! In: a table's dotted path (`network.latency`, `at[2]`). Out: the [`Table`] it is,
//! its keys, and the words errors use for it. The keys are not listed here: they are
//! the field names of the serde types in [`super::raw`], read from serde's derive, so
//! a key added to a type is known to the checks, the "did you mean" and the "belongs
//! in" hints at once. The metric names of `[expect]` are [`Metric::NAMES`].

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::raw;
use crate::metric::Metric;

/// A table of a scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// The top level.
    Top,
    /// `[network]`.
    Network,
    /// `network.latency`, when it is a table.
    Latency,
    /// `network.clock_skew`.
    ClockSkew,
    /// `network.nat`.
    Nat,
    /// An `[[at]]` entry.
    At,
    /// A `[[workload]]` entry.
    Workload,
    /// `[hostile]`.
    Hostile,
    /// `churn`.
    Churn,
    /// `[compare]`, the tolerances of `dswarm compare`.
    Compare,
    /// `[expect]`, whose keys are metrics.
    Expect,
}

impl Table {
    /// Every table, the top level first.
    pub const ALL: [Table; 11] = [
        Table::Top,
        Table::Network,
        Table::Latency,
        Table::ClockSkew,
        Table::Nat,
        Table::At,
        Table::Workload,
        Table::Hostile,
        Table::Churn,
        Table::Compare,
        Table::Expect,
    ];

    /// Its dotted path, array indices left out: `""`, `"network.latency"`, `"at"`.
    pub fn path(self) -> &'static str {
        match self {
            Table::Top => "",
            Table::Network => "network",
            Table::Latency => "network.latency",
            Table::ClockSkew => "network.clock_skew",
            Table::Nat => "network.nat",
            Table::At => "at",
            Table::Workload => "workload",
            Table::Hostile => "hostile",
            Table::Churn => "churn",
            Table::Compare => "compare",
            Table::Expect => "expect",
        }
    }

    /// The table at dotted `path`, indices or not (`at[3]` and `at` are [`Table::At`]).
    pub fn of(path: &str) -> Option<Table> {
        let bare: String = path
            .split('[')
            .map(|part| part.split_once(']').map_or(part, |(_, rest)| rest))
            .collect();
        Table::ALL.into_iter().find(|table| table.path() == bare)
    }

    /// The keys it may hold, in the order the file format lists them.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Table::Top => fields_of::<raw::File>(),
            Table::Network => fields_of::<raw::Network>(),
            Table::Latency => fields_of::<raw::LatencyRange>(),
            Table::ClockSkew => fields_of::<raw::ClockSkew>(),
            Table::Nat => fields_of::<raw::Nat>(),
            Table::At => fields_of::<raw::At>(),
            Table::Workload => fields_of::<raw::Workload>(),
            Table::Hostile => fields_of::<raw::Hostile>(),
            Table::Churn => fields_of::<raw::Churn>(),
            Table::Compare => fields_of::<raw::Compare>(),
            Table::Expect => Metric::NAMES,
        }
    }

    /// What an error says it expected when the key holds something else.
    pub fn expected(self) -> &'static str {
        match self {
            Table::Top | Table::Network | Table::Hostile | Table::Compare | Table::Expect => {
                "a table"
            }
            Table::Latency => {
                "a table like `{ min = \"5ms\", max = \"80ms\" }` or one duration like \"20ms\""
            }
            Table::ClockSkew => "a table like `{ offset = \"30s\", drift = 0.001 }`",
            Table::Nat => "a table like `{ open = 0.4, consistent = 0.4, random = 0.2 }`",
            Table::At => "an array of tables, one [[at]] header per entry",
            Table::Workload => "an array of tables, one [[workload]] header per entry",
            Table::Churn => "a table like `{ leave = \"2%/min\", join = \"2%/min\" }`",
        }
    }

    /// For an array of tables, what to say when one plain table was written instead.
    pub fn as_one_table(self) -> Option<&'static str> {
        match self {
            Table::At => Some(
                "expected an array of tables, found a table; write each entry under its own \
                 [[at]] header, with double brackets",
            ),
            Table::Workload => Some(
                "expected an array of tables, found a table; write each entry under its own \
                 [[workload]] header, with double brackets",
            ),
            _ => None,
        }
    }

    /// Where its keys belong, for a key written in another table.
    fn home(self) -> &'static str {
        match self {
            Table::Top => "",
            Table::Network => "the [network] table",
            Table::Latency => {
                "`network.latency`, like `latency = { min = \"5ms\", max = \"80ms\" }`"
            }
            Table::ClockSkew => {
                "`network.clock_skew`, like `clock_skew = { offset = \"30s\", drift = 0.001 }`"
            }
            Table::Nat => {
                "`network.nat`, like `nat = { open = 0.4, consistent = 0.4, random = 0.2 }`"
            }
            Table::At => "an [[at]] entry",
            Table::Workload => "a [[workload]] entry",
            Table::Hostile => "the [hostile] table",
            Table::Churn => "the `churn` table, like `churn = { leave = \"2%/min\" }`",
            Table::Compare => "the [compare] table",
            Table::Expect => "the [expect] table",
        }
    }

    /// The message for key `name`, written at `path` (this table's), which is not one
    /// of this table's keys: where it belongs, or what it is close to, or the list.
    pub fn unknown_key(self, path: &str, name: &str) -> String {
        let what = if self == Table::Expect {
            "metric"
        } else {
            "key"
        };
        let within = if path.is_empty() {
            "at the top level".to_owned()
        } else {
            format!("in `{path}`")
        };
        if let Some(hint) = misplaced(path, name) {
            return format!("unknown {what} `{name}` {within}; {hint}");
        }
        if let Some(close) = closest(name, self.keys()) {
            return format!("unknown {what} `{name}`; did you mean `{close}`?");
        }
        format!(
            "unknown {what} `{name}` {within}; expected one of {}",
            list(self.keys())
        )
    }
}

/// Where a key that is unknown in the table at `path` belongs, when another table
/// knows it.
fn misplaced(path: &str, name: &str) -> Option<String> {
    let home = Table::ALL
        .into_iter()
        .find(|table| table.keys().contains(&name))?;
    if home == Table::Top {
        // A top-level key under a header is TOML's classic trap.
        return (!path.is_empty()).then(|| {
            format!(
                "`{name}` is a top-level key; move it above the first [table] header \
                 (keys after a header belong to that table)"
            )
        });
    }
    Some(format!("`{name}` belongs in {}", home.home()))
}

/// The known name within edit distance 2 of `name` (ignoring ASCII case), closest first.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let name_length = name.chars().count();
    let distance = |candidate: &str| {
        strsim::levenshtein(&name.to_ascii_lowercase(), &candidate.to_ascii_lowercase())
    };
    known
        .iter()
        .map(|&candidate| (distance(candidate), candidate))
        .filter(|&(distance, _)| distance <= 2 && distance < name_length)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
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

/// The field names serde's derive gives `T`: the `fields` it passes to
/// `deserialize_struct`, caught by a deserializer that reads nothing.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    /// Carries the caught names out through `Err`.
    #[derive(Debug)]
    struct Caught(&'static [&'static str]);

    impl std::fmt::Display for Caught {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("not a struct")
        }
    }
    impl std::error::Error for Caught {}
    impl de::Error for Caught {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Caught(&[])
        }
    }

    struct Catcher;
    impl<'de> Deserializer<'de> for Catcher {
        type Error = Caught;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Caught> {
            Err(Caught(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Caught> {
            Err(Caught(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    match T::deserialize(Catcher) {
        Ok(_) => &[],
        Err(Caught(fields)) => fields,
    }
}
