//! The scenario file as serde types: what `shrink` edits.
//!
//! TOML text goes in through [`File::from_toml`]; a [`File`] comes out that mirrors the
//! file key for key, each value as written (durations and rates stay strings, in the
//! duration parser's syntax), and [`File::to_toml`] writes it back. Unknown keys are
//! refused (`deny_unknown_fields`), but no value is range-checked here: [`super::parse`]
//! is what turns text into a validated [`super::Scenario`], with lines and hints.
//!
//! The field names are the key lists of [`super::keys`]; a test holds the two equal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Seed>,
    pub nodes: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crypto: Option<String>,
    pub duration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at: Vec<At>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workload: Vec<Workload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostile: Option<Hostile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect: BTreeMap<String, Bound>,
}

/// `seed`: an integer, or a string for seeds above `i64::MAX`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Seed {
    Integer(i64),
    Text(String),
}

impl From<u64> for Seed {
    /// The form a file can hold: TOML integers stop at `i64::MAX`.
    fn from(seed: u64) -> Seed {
        match i64::try_from(seed) {
            Ok(seed) => Seed::Integer(seed),
            Err(_) => Seed::Text(seed.to_string()),
        }
    }
}

/// An `[expect]` value: `">= 0.99"`, or a bare number.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Bound {
    Number(f64),
    Text(String),
}

/// `[network]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_delay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew: Option<ClockSkew>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<Nat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<bool>,
}

/// `network.latency`: one duration, or `{ min, max }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Latency {
    Fixed(String),
    Range(LatencyRange),
}

/// `network.latency = { min = "5ms", max = "80ms" }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
}

/// `network.clock_skew`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSkew {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<f64>,
}

/// `network.nat`: shares of the nodes behind each kind of NAT.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<f64>,
}

/// One `[[at]]` event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct At {
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_way: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_table: Option<bool>,
}

/// One `[[workload]]`: a window and the operations issued in it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookups: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_closest: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pings: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub puts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gets: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutable_puts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutable_gets: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announces: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_lookups: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connects: Option<i64>,
}

impl Workload {
    /// Each operation count, by its key, for edits that treat them alike.
    pub fn counts_mut(&mut self) -> [(&'static str, &mut Option<i64>); 10] {
        [
            ("lookups", &mut self.lookups),
            ("ping_closest", &mut self.ping_closest),
            ("pings", &mut self.pings),
            ("puts", &mut self.puts),
            ("gets", &mut self.gets),
            ("mutable_puts", &mut self.mutable_puts),
            ("mutable_gets", &mut self.mutable_gets),
            ("announces", &mut self.announces),
            ("topic_lookups", &mut self.topic_lookups),
            ("connects", &mut self.connects),
        ]
    }
}

/// `[hostile]`: shares of attacking nodes and their parameters.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hostile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liars: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub droppers: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgers: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayers: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flooders: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sybils: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flood_rate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_rate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_rate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sybil_identities: Option<i64>,
}

/// `churn = { leave = "2%/min", join = "2%/min" }`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl File {
    /// The file in `text`; toml's or serde's message when it is not one. Check the
    /// text with [`super::parse`] first for a message that names the line.
    pub fn from_toml(text: &str) -> Result<File, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    /// The file as TOML text.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests;
