//! The scenario file as serde types: what the loader reads first, and what `shrink`
//! edits and writes back.
//!
//! TOML text goes in through [`File::from_toml`]; a [`File`] comes out that mirrors the
//! file key for key, each value read as its key means it (the [`leaf`](super::leaf)
//! types: a duration is a `Duration`, a rate a number per second), and
//! [`File::to_toml`] writes it back. Unknown keys are refused (`deny_unknown_fields`);
//! every key is optional here, so that a missing one is reported by the rules in
//! `check` with an example of what to write. Nothing that depends on another key is
//! checked here.
//!
//! The field names are the scenario keys: [`super::keys::Table::keys`] reads them from
//! these types.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::duration::parse_duration;
use super::keys::Table;
use super::leaf::{
    shares, table, tables, Bound, ChurnRate, Count, Dur, Flag, NetworkKey, Number, Probability,
    Rate, Seed, Shape, ShapeVisitor, Share, Size, Text, Whole,
};
use super::{CryptoKind, EngineKind};
use crate::metric::Metric;

/// A whole scenario file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct File {
    pub name: Option<Text>,
    pub seed: Option<Seed>,
    pub nodes: Option<Whole>,
    pub engine: Option<EngineKind>,
    pub crypto: Option<CryptoKind>,
    pub duration: Option<Dur>,
    pub network_key: Option<NetworkKey>,
    #[serde(deserialize_with = "table")]
    pub network: Option<Network>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "tables")]
    pub at: Vec<At>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "tables")]
    pub workload: Vec<Workload>,
    #[serde(deserialize_with = "table")]
    pub hostile: Option<Hostile>,
    #[serde(deserialize_with = "table")]
    pub churn: Option<Churn>,
    #[serde(deserialize_with = "table")]
    pub compare: Option<Compare>,
    #[serde(skip_serializing_if = "Expect::is_empty", deserialize_with = "expect")]
    pub expect: Expect,
}

impl Shape for File {
    const TABLE: Table = Table::Top;
}

/// `[network]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    pub latency: Option<Latency>,
    pub loss: Option<Probability>,
    pub duplicate: Option<Probability>,
    pub reorder: Option<Probability>,
    pub reorder_delay: Option<Dur>,
    pub segments: Option<Count>,
    pub bootstrap: Option<Count>,
    pub join_window: Option<Dur>,
    #[serde(deserialize_with = "table")]
    pub clock_skew: Option<ClockSkew>,
    #[serde(deserialize_with = "table")]
    pub nat: Option<Nat>,
    pub ipv6: Option<Probability>,
    pub mailbox: Option<Flag>,
    pub lookup_one_per_block: Option<Flag>,
    pub lookup_disjoint_paths: Option<Count>,
}

impl Shape for Network {
    const TABLE: Table = Table::Network;
}

/// `network.latency`: one duration, or `{ min, max }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Latency {
    Fixed(Dur),
    Range(LatencyRange),
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor {
            from_table: Latency::Range,
            from_text: Some(|text| {
                parse_duration(text).map(|latency| Latency::Fixed(Dur(latency)))
            }),
        })
    }
}

/// `network.latency = { min = "5ms", max = "80ms" }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyRange {
    pub min: Option<Dur>,
    pub max: Option<Dur>,
}

impl Shape for LatencyRange {
    const TABLE: Table = Table::Latency;
}

/// `network.clock_skew`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockSkew {
    pub offset: Option<Dur>,
    pub drift: Option<Number>,
}

impl Shape for ClockSkew {
    const TABLE: Table = Table::ClockSkew;
}

/// `network.nat`: shares of the nodes behind each kind of NAT.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nat {
    pub open: Option<Probability>,
    pub consistent: Option<Probability>,
    pub random: Option<Probability>,
}

impl Shape for Nat {
    const TABLE: Table = Table::Nat;
}

/// One `[[at]]` event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct At {
    pub time: Option<Dur>,
    #[serde(deserialize_with = "shares")]
    pub partition: Option<Vec<Number>>,
    pub one_way: Option<Flag>,
    pub heal: Option<Flag>,
    pub leave: Option<Share>,
    pub crash: Option<Share>,
    pub restart: Option<Flag>,
    pub keep_table: Option<Flag>,
}

impl Shape for At {
    const TABLE: Table = Table::At;
}

/// One `[[workload]]`: a window and the operations issued in it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Workload {
    pub from: Option<Dur>,
    pub over: Option<Dur>,
    pub lookups: Option<Count>,
    pub ping_closest: Option<Count>,
    pub pings: Option<Count>,
    pub puts: Option<Count>,
    pub gets: Option<Count>,
    pub mutable_puts: Option<Count>,
    pub mutable_gets: Option<Count>,
    pub announces: Option<Count>,
    pub topic_lookups: Option<Count>,
    pub connects: Option<Count>,
    pub streams: Option<Count>,
    pub stream_bytes: Option<Size>,
    pub listeners: Option<Share>,
}

impl Shape for Workload {
    const TABLE: Table = Table::Workload;
}

impl Workload {
    /// Each operation count, by its key, for edits that treat them alike.
    pub fn counts_mut(&mut self) -> [(&'static str, &mut Option<Count>); 11] {
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
            ("streams", &mut self.streams),
        ]
    }
}

/// `[hostile]`: shares of attacking nodes and their parameters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hostile {
    pub liars: Option<Share>,
    pub droppers: Option<Share>,
    pub forgers: Option<Share>,
    pub replayers: Option<Share>,
    pub flooders: Option<Share>,
    pub sybils: Option<Share>,
    pub eclipsers: Option<Share>,
    pub flood_rate: Option<Rate>,
    pub replay_rate: Option<Rate>,
    pub forge_rate: Option<Rate>,
    pub sybil_identities: Option<Count>,
    pub eclipse_addresses: Option<Count>,
    pub eclipse_identities: Option<Count>,
}

impl Shape for Hostile {
    const TABLE: Table = Table::Hostile;
}

/// `churn = { leave = "2%/min", join = "2%/min" }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Churn {
    pub leave: Option<ChurnRate>,
    pub join: Option<ChurnRate>,
    pub graceful: Option<Probability>,
    pub from: Option<Dur>,
    pub until: Option<Dur>,
}

impl Shape for Churn {
    const TABLE: Table = Table::Churn;
}

/// `[compare]`: how close `dswarm compare` wants each engine's figures to the
/// reference run's. `dswarm run` reads it and ignores it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Compare {
    pub success: Option<Probability>,
    pub hops_p95: Option<Count>,
    pub latency_alpha: Option<Probability>,
    pub latency_d: Option<Probability>,
    pub min_lookups: Option<Count>,
}

impl Shape for Compare {
    const TABLE: Table = Table::Compare;
}

/// `[expect]`: each metric with its bound, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect(pub Vec<(Metric, Bound)>);

impl Expect {
    /// Whether it holds no expectation.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Shape for Expect {
    const TABLE: Table = Table::Expect;
}

/// Reads `[expect]`: metric names as keys, in file order.
fn expect<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Expect, D::Error> {
    Ok(table::<D, Expect>(deserializer)?.unwrap_or_default())
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectVisitor;
        impl<'de> Visitor<'de> for ExpectVisitor {
            type Value = Expect;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(Table::Expect.expected())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expect, A::Error> {
                let mut entries = Vec::new();
                while let Some(MetricKey(metric)) = map.next_key()? {
                    entries.push((metric, map.next_value()?));
                }
                Ok(Expect(entries))
            }
        }
        deserializer.deserialize_map(ExpectVisitor)
    }
}

/// A metric's name as an `[expect]` key; an unknown name is refused as the key (so the
/// error's path ends in it).
struct MetricKey(Metric);

impl<'de> Deserialize<'de> for MetricKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Metric::from_name(&name)
            .map(MetricKey)
            .ok_or_else(|| de::Error::custom(format!("unknown metric `{name}`")))
    }
}

impl Serialize for Expect {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (metric, bound) in &self.0 {
            map.serialize_entry(metric.name(), bound)?;
        }
        map.end()
    }
}

impl File {
    /// The file in `text`, or serde's error with the dotted key it is about. The
    /// loader ([`super::parse`]) turns that into a message that names the line.
    pub fn from_toml(text: &str) -> Result<File, serde_path_to_error::Error<toml::de::Error>> {
        serde_path_to_error::deserialize(toml::Deserializer::new(text))
    }

    /// The file as TOML text.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests;
