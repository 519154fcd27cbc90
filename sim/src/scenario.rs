//! Scenario files: a TOML file's text and its path go in; a validated [`Scenario`] comes
//! out, or a [`ScenarioError`] naming the file, the line and the dotted key at fault.
//!
//! 1. [`load`] reads the file; [`parse`] takes text already in memory.
//! 2. serde reads the text as [`raw::File`], whose types are the format: unknown keys
//!    are errors (with "did you mean" when a known key is close, or where the key
//!    belongs), and each value is read as its key means it ([`leaf`] types).
//! 3. The rules (`check`, `events`, `faults`, `hostile`) turn that into a [`Scenario`]:
//!    required keys present, ranges held, defaults filled in, and the rules across keys
//!    (latency min <= max, every event inside the run, enough nodes for the bootstrap
//!    list and the partitions).
//!
//! Every error is made from a dotted key; `doc` finds the line that key is written on.
//!
//! A returned `Scenario` satisfies everything its fields' docs promise. Nothing here
//! panics, whatever the text. `scenarios/README.md` is the users' guide to the format.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

mod check;
mod doc;
mod duration;
mod events;
mod faults;
mod hostile;
pub mod keys;
pub mod leaf;
pub mod raw;
pub mod support;

#[cfg(test)]
mod tests;

pub use duration::{format_duration, parse_duration};
pub use faults::{ChurnSpec, NatKind, NatSpec, CLOCK_DRIFT_MAX, CLOCK_OFFSET_MAX};
pub use hostile::{
    HostileKind, HostileSpec, ECLIPSE_ADDRESSES_MAX, ECLIPSE_IDENTITIES_MAX, RATE_MAX,
    SYBIL_IDENTITIES_MAX,
};

use dswarm::harness::ClockSkew;

use self::support::Feature;
pub use crate::metric::Metric;

/// Reads and checks the scenario file at `path`.
///
/// An unreadable file is a [`ScenarioError`] too, without a line or key.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
        path: path.to_owned(),
        line: None,
        key: None,
        message: format!("cannot read the scenario file: {error}"),
    })?;
    parse(path, &text)
}

/// Checks scenario `text`; `path` is where it came from, for [`Scenario::path`] and
/// for error messages.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    check::scenario(path, text)
}

/// One validated scenario file: the swarm, the network it runs on, the events and
/// workloads on its timeline, and what must hold at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file it came from, as given to [`load`] or [`parse`].
    pub path: PathBuf,
    /// `name`: required, not blank.
    pub name: String,
    /// `seed`: the run's one seed, default 1. `--seed` overrides it.
    pub seed: u64,
    /// `nodes`: required, in [`NODES_MIN`]`..=`[`NODES_MAX`]. `--nodes` overrides it
    /// through [`Scenario::with_nodes`].
    pub nodes: usize,
    /// `engine`: default [`EngineKind::Turmoil`]. `--engine` overrides it.
    pub engine: EngineKind,
    /// `crypto`: default [`CryptoKind::Auto`], which the runner resolves with
    /// [`CryptoKind::resolve`].
    pub crypto: CryptoKind,
    /// `duration`: required, above zero and at most [`DURATION_MAX`].
    pub duration: Duration,
    /// `network_key`: an isolated network's 32-byte pre-shared key, written as 64 hex
    /// characters. `None`: the default network.
    pub network_key: Option<[u8; 32]>,
    /// `[network]`: latency, faults, multicast segments and bootstrap list.
    pub network: NetworkSpec,
    /// `[[at]]`: timed events, sorted by time; events at the same time keep file order.
    /// Every time is before `duration`.
    pub at: Vec<At>,
    /// `[[workload]]`: operations issued during the run, in file order.
    pub workload: Vec<Workload>,
    /// `[hostile]`: the nodes that attack the swarm; none by default.
    pub hostile: HostileSpec,
    /// `churn`: nodes leaving and joining at steady rates; none by default.
    pub churn: Option<ChurnSpec>,
    /// `[compare]`: how close `dswarm compare` wants each engine's figures to the
    /// reference run's; the defaults without the table. `dswarm run` ignores it.
    pub compare: CompareSpec,
    /// `[expect]`: what must hold at the end, in file order.
    pub expect: Vec<Expectation>,
}

/// `[compare]`: the tolerances of `dswarm compare` (see `dswarm_sim::compare`), each
/// checked against the reference run's figure. Its `Default` is a file's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareSpec {
    /// `success`: the most lookup success may differ, as a share (0.01 is one
    /// percentage point); 0 to 1, default 0.01.
    pub success: f64,
    /// `hops_p95`: the most the 95th percentile of lookup hops may differ, in hops;
    /// default 1.
    pub hops_p95: u64,
    /// `latency_alpha`: the significance level of the two-sample Kolmogorov–Smirnov
    /// test on lookup latencies; above 0 and at most 0.5, default 0.01.
    pub latency_alpha: f64,
    /// `latency_d`: an effect-size floor, 0 to 1: with it, latencies differ only when
    /// the KS statistic D exceeds both the critical value and this. Default none.
    pub latency_d: Option<f64>,
    /// `min_lookups`: fewer lookups (or finished lookups, for hops and latency) on
    /// either side make a check inconclusive rather than failed; at least 1, default 50.
    pub min_lookups: u64,
}

impl Default for CompareSpec {
    fn default() -> Self {
        CompareSpec {
            success: 0.01,
            hops_p95: 1,
            latency_alpha: 0.01,
            latency_d: None,
            min_lookups: 50,
        }
    }
}

/// The fewest nodes a scenario may have.
pub const NODES_MIN: usize = 2;
/// The most nodes a scenario may have.
pub const NODES_MAX: usize = 1_000_000;
/// The longest a scenario may run, in simulated time: 100 days.
pub const DURATION_MAX: Duration = Duration::from_secs(100 * 86_400);
/// The largest one-way latency, and the largest reorder delay: 60 s.
pub const LATENCY_MAX: Duration = Duration::from_secs(60);
/// The most groups one partition may have.
pub const PARTITION_GROUPS_MAX: usize = 16;
/// The most lookups, or pings, one workload may issue.
pub const WORKLOAD_OPS_MAX: usize = 100_000_000;

impl Scenario {
    /// The scenario with `nodes` nodes instead, as `--nodes` asks; an error if the
    /// count is out of range or too small for the file's bootstrap list, segments or
    /// partitions. The error names no line: the number came from the command line.
    pub fn with_nodes(mut self, nodes: usize) -> Result<Scenario, ScenarioError> {
        let error = |key: String, message: String| ScenarioError {
            path: self.path.clone(),
            line: None,
            key: Some(key),
            message: format!("--nodes {nodes}: {message}"),
        };
        check::nodes_in_range(nodes).map_err(|message| error("nodes".to_owned(), message))?;
        check::bootstrap_fits(self.network.bootstrap, nodes)
            .map_err(|message| error("network.bootstrap".to_owned(), message))?;
        check::segments_fit(self.network.segments, nodes)
            .map_err(|message| error("network.segments".to_owned(), message))?;
        // `at` is sorted by time, so its indices are not the file's: name the event by
        // its time instead.
        for at in &self.at {
            if let Action::Partition { shares, .. } = &at.action {
                check::partition_fits(shares, nodes).map_err(|message| {
                    error(
                        "at".to_owned(),
                        format!("the partition at {}: {message}", format_duration(at.time)),
                    )
                })?;
            }
        }
        let leaves: Vec<(Duration, f64)> = self
            .at
            .iter()
            .filter_map(|at| match at.action {
                Action::Leave { share } => Some((at.time, share)),
                _ => None,
            })
            .collect();
        let mut left = 0;
        for (time, share) in leaves {
            left = check::leave_fits(share, left, nodes).map_err(|message| {
                error(
                    "at".to_owned(),
                    format!("the leave at {}: {message}", format_duration(time)),
                )
            })?;
        }
        if let Some(churn) = &self.churn {
            check::churn_fits(churn, nodes, self.network.bootstrap)
                .map_err(|message| error("churn".to_owned(), message))?;
        }
        hostile::fits(&self.hostile, nodes, self.network.bootstrap, left).map_err(
            |(kind, message)| {
                let key = kind.map_or("hostile".to_owned(), |k| format!("hostile.{}", k.key()));
                error(key, message)
            },
        )?;
        self.nodes = nodes;
        Ok(self)
    }

    /// The scenario on `engine` instead, as `--engine` asks; an error if the file has
    /// hostile nodes that engine does not run. The error names no line: the engine
    /// came from the command line.
    pub fn with_engine(mut self, engine: EngineKind) -> Result<Scenario, ScenarioError> {
        let refused = |key: String, message: String| ScenarioError {
            path: self.path.clone(),
            line: None,
            key: Some(key),
            message: format!("--engine {engine}: {message}"),
        };
        if let Some((kind, why)) = self.hostile.refusal(engine) {
            let key = kind.key();
            let message = format!("the {engine} engine does not run {key}: {why}");
            return Err(refused(format!("hostile.{key}"), message));
        }
        if let Some(i) = self.workload.iter().position(|w| w.streams > 0) {
            if let Some(why) = support::refusal(engine, Feature::Streams) {
                let message = format!("the {engine} engine does not run streams: {why}");
                return Err(refused(format!("workload[{i}].streams"), message));
            }
        }
        if self.crypto == CryptoKind::Fast {
            if let Some(why) = support::refusal(engine, Feature::FastCrypto) {
                let message = format!("the {engine} engine does not run fast crypto: {why}");
                return Err(refused("crypto".to_owned(), message));
            }
        }
        if self.network.clock_skew.drift_max > 0.0 {
            if let Some(why) = support::refusal(engine, Feature::ClockDrift) {
                let message = format!("the {engine} engine cannot drift clocks: {why}");
                return Err(refused("network.clock_skew.drift".to_owned(), message));
            }
        }
        self.engine = engine;
        Ok(self)
    }
}

/// Which engine drives the nodes. Reads and writes `"direct"` / `"turmoil"` / `"live"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// An event queue calling each node's `handle_*` methods; no tokio.
    Direct,
    /// Each node runs the live driver loop on a simulated socket under paused tokio time.
    Turmoil,
    /// Each node runs the live driver loop on a real UDP socket on 127.0.0.1, in real
    /// time, on a multi-threaded tokio runtime; a shim at each socket applies the world.
    Live,
}

impl EngineKind {
    /// The name a scenario file and `--engine` use.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Direct => "direct",
            EngineKind::Turmoil => "turmoil",
            EngineKind::Live => "live",
        }
    }
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "direct" => Ok(EngineKind::Direct),
            "turmoil" => Ok(EngineKind::Turmoil),
            "live" => Ok(EngineKind::Live),
            _ => Err(format!(
                "unknown engine {text:?}; expected \"turmoil\", \"direct\" or \"live\""
            )),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which crypto the nodes use. Reads and writes `"real"` / `"fast"` / `"auto"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoKind {
    /// Real ed25519 and x25519.
    Real,
    /// The core's cheap keyed-hash stand-in: same message sizes, same failures.
    Fast,
    /// Real below [`CRYPTO_FAST_FROM_NODES`] nodes, fast at or above.
    Auto,
}

/// The node count from which [`CryptoKind::Auto`] means fast crypto.
pub const CRYPTO_FAST_FROM_NODES: usize = 2_000;

impl Scenario {
    /// The crypto its nodes run: `crypto`, with `auto` resolved for its size, and
    /// always real on the live engine (whose nodes are `Node::new`'s).
    pub fn crypto_resolved(&self) -> CryptoKind {
        match self.engine {
            EngineKind::Live => CryptoKind::Real,
            _ => self.crypto.resolve(self.nodes),
        }
    }
}

impl CryptoKind {
    /// `Real` or `Fast`: `Auto` resolved for a swarm of `nodes`.
    pub fn resolve(self, nodes: usize) -> CryptoKind {
        match self {
            CryptoKind::Auto if nodes >= CRYPTO_FAST_FROM_NODES => CryptoKind::Fast,
            CryptoKind::Auto => CryptoKind::Real,
            chosen => chosen,
        }
    }

    /// The name a scenario file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CryptoKind::Real => "real",
            CryptoKind::Fast => "fast",
            CryptoKind::Auto => "auto",
        }
    }
}

impl FromStr for CryptoKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "real" => Ok(CryptoKind::Real),
            "fast" => Ok(CryptoKind::Fast),
            "auto" => Ok(CryptoKind::Auto),
            _ => Err(format!(
                "unknown crypto {text:?}; expected \"real\", \"fast\" or \"auto\""
            )),
        }
    }
}

impl fmt::Display for CryptoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[network]`: the simulated network's latency, faults, multicast and bootstrap list.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// `latency.min`: the shortest one-way latency of a link, default 5 ms.
    pub latency_min: Duration,
    /// `latency.max`: the longest, default 50 ms; `latency_min <= latency_max <=`
    /// [`LATENCY_MAX`].
    pub latency_max: Duration,
    /// `loss`: the probability a datagram is lost, `0 <= loss < 1`, default 0.
    pub loss: f64,
    /// `duplicate`: the probability a datagram is delivered twice, `0..=1`, default 0.
    pub duplicate: f64,
    /// `reorder`: the probability a datagram gets an extra delay, so that it lags
    /// datagrams sent after it, `0..=1`, default 0.
    pub reorder: f64,
    /// `reorder_delay`: the largest extra delay of a reordered datagram, default 20 ms,
    /// at most [`LATENCY_MAX`].
    pub reorder_delay: Duration,
    /// `segments`: multicast LAN segments; multicast reaches only a node's own segment.
    /// 0 means no multicast (bootstrap only). Default 1; at most `nodes`.
    pub segments: usize,
    /// `bootstrap`: how many nodes every other node knows at start. Default 3 (or
    /// `nodes`, if fewer); at most `nodes`. Never 0 while `segments` is 0.
    pub bootstrap: usize,
    /// `join_window`: every node joins at a seeded moment within it, default 2 s;
    /// shorter than the scenario's `duration`.
    pub join_window: Duration,
    /// `clock_skew`: how far each node's clocks stray; none by default.
    pub clock_skew: ClockSkew,
    /// `nat`: the shares of the nodes behind each kind of NAT; all open by default.
    pub nat: NatSpec,
    /// `ipv6`: the share of the nodes, `0..=1`, that have an IPv6 address (each in a
    /// /64 of its own) instead of an IPv4 one, drawn from the seed; default 0. Not
    /// with a NAT (the NAT model is IPv4).
    pub ipv6: f64,
    /// `mailbox`: every node listens at a multicast mailbox derived from its key and
    /// tries a peer's mailbox first on connect (mp2p). Needs `segments` above 0 and
    /// the direct engine. Default false.
    pub mailbox: bool,
    /// `lookup_one_per_block`: every node's lookups keep one candidate per address
    /// block (the core's `Config::lookup_one_per_block`), the eclipse defence. Default
    /// true; false measures a swarm without it.
    pub lookup_one_per_block: bool,
    /// `lookup_disjoint_paths`: disjoint paths every node's lookups walk (the core's
    /// `Config::lookup_disjoint_paths`), 1 to [`DISJOINT_PATHS_MAX`]; default 1.
    pub lookup_disjoint_paths: usize,
}

/// The most disjoint paths a scenario's lookups may walk.
pub const DISJOINT_PATHS_MAX: usize = 8;

impl Default for NetworkSpec {
    /// The network of a file without a `[network]` table (and at least 3 nodes).
    fn default() -> Self {
        NetworkSpec {
            latency_min: Duration::from_millis(5),
            latency_max: Duration::from_millis(50),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(20),
            segments: 1,
            bootstrap: 3,
            join_window: Duration::from_secs(2),
            clock_skew: ClockSkew::default(),
            nat: NatSpec::default(),
            ipv6: 0.0,
            mailbox: false,
            lookup_one_per_block: true,
            lookup_disjoint_paths: 1,
        }
    }
}

/// `[[at]]`: something that happens to the network at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct At {
    /// `time`: since the start of the run; before the scenario's `duration`.
    pub time: Duration,
    /// `partition = [...]` (with `one_way`) or `heal = true`.
    pub action: Action,
}

/// What an [`At`] event does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Split the nodes into groups of these shares (each > 0, summing to 1 within 1e-6,
    /// 2..=16 groups, each at least one node). With `one_way`, datagrams from a
    /// lower-numbered group to a higher one are lost while the other direction still
    /// flows.
    Partition {
        /// Each group's share of the nodes, in group order.
        shares: Vec<f64>,
        /// Whether only datagrams from lower- to higher-numbered groups are lost.
        one_way: bool,
    },
    /// Remove every partition.
    Heal,
    /// Take this share of the scenario's nodes (rounded to the nearest node, at least
    /// one) off the network for good, silently: no goodbye, their state kept but never
    /// run again. Which nodes leave is a seeded shuffle on a stream of its own; nodes
    /// already gone are not chosen again. At least 2 nodes always stay.
    Leave {
        /// The share of `nodes` that leaves, above 0 and below 1.
        share: f64,
    },
    /// This share of the nodes still in the swarm (bootstrap nodes aside) crash: silent,
    /// their state lost. They stay down until a [`Action::Restart`].
    Crash {
        /// The share of the live nodes that crash, above 0 and below 1.
        share: f64,
    },
    /// Every crashed node comes back: the same identity, a new process (no sessions,
    /// no queries), bootstrapping again.
    Restart {
        /// With `true`, it bootstraps from the contacts its routing table held when it
        /// crashed (a process that saved its peers); else from the bootstrap nodes,
        /// with an empty table.
        keep_table: bool,
    },
}

impl Action {
    /// How many of `nodes` a [`Action::Leave`] of `share` takes away.
    pub fn leave_count(share: f64, nodes: usize) -> usize {
        (share * nodes as f64).round() as usize
    }
}

/// `[[workload]]`: operations spread over a window of the run, each from a random
/// node still in the swarm. Its `Default` is a file's defaults, every count 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// `from`: when the window opens; before the scenario's `duration`.
    pub from: Duration,
    /// `over`: how long the window lasts, default 10 s; `from + over <= duration`.
    pub over: Duration,
    /// `lookups`: FIND_NODE lookups of random existing node ids, default 0.
    pub lookups: usize,
    /// `ping_closest`: PINGs of a random node's 3 closest peers, default 0.
    pub ping_closest: usize,
    /// `pings`: single PINGs, each from a random node to a random contact of its
    /// routing table, default 0.
    pub pings: usize,
    /// `puts`: immutable puts of seeded random values of 1 to 1,000 bytes, default 0.
    pub puts: usize,
    /// `gets`: immutable gets of keys whose put was acknowledged before, default 0.
    pub gets: usize,
    /// `mutable_puts`: signed writes of seeded values under seeded salts, about a
    /// third of them a new version of an earlier (writer, salt), default 0.
    pub mutable_puts: usize,
    /// `mutable_gets`: gets of the latest version of an acknowledged mutable record,
    /// default 0.
    pub mutable_gets: usize,
    /// `announces`: announcements under one of a few seeded topics, default 0.
    pub announces: usize,
    /// `topic_lookups`: lookups of a topic that has acknowledged announcements,
    /// default 0.
    pub topic_lookups: usize,
    /// `connects`: `Command::Connect`s from a random node to another, default 0.
    pub connects: usize,
    /// `streams`: transfers of `stream_bytes` each, from a random honest node to a
    /// random listening one: a `Connect`, then a stream that carries the bytes (a
    /// pattern the listener checks byte by byte) and comes back ended. Default 0. A
    /// workload has at least one count above 0.
    pub streams: usize,
    /// `stream_bytes`: the size of each transfer, default 64 KiB.
    pub stream_bytes: u64,
    /// `listeners`: the share of honest nodes that listen for streams (and are the
    /// transfers' targets), default 0.5; at least one node listens when `streams` is
    /// above 0.
    pub listeners: f64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            from: Duration::ZERO,
            over: Duration::from_secs(10),
            lookups: 0,
            ping_closest: 0,
            pings: 0,
            puts: 0,
            gets: 0,
            mutable_puts: 0,
            mutable_gets: 0,
            announces: 0,
            topic_lookups: 0,
            connects: 0,
            streams: 0,
            stream_bytes: STREAM_BYTES_DEFAULT,
            listeners: LISTENERS_DEFAULT,
        }
    }
}

/// What one stream transfer carries unless `stream_bytes` says otherwise.
pub const STREAM_BYTES_DEFAULT: u64 = 64 * 1024;
/// The share of honest nodes that listen unless `listeners` says otherwise.
pub const LISTENERS_DEFAULT: f64 = 0.5;

impl Workload {
    /// Every count with its key, in file-format order.
    pub fn counts(&self) -> [(&'static str, usize); 11] {
        [
            ("lookups", self.lookups),
            ("ping_closest", self.ping_closest),
            ("pings", self.pings),
            ("puts", self.puts),
            ("gets", self.gets),
            ("mutable_puts", self.mutable_puts),
            ("mutable_gets", self.mutable_gets),
            ("announces", self.announces),
            ("topic_lookups", self.topic_lookups),
            ("connects", self.connects),
            ("streams", self.streams),
        ]
    }
}

/// One `[expect]` entry: `metric = "OP NUMBER"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// The metric.
    pub metric: Metric,
    /// How the measured value compares with `value`.
    pub op: Op,
    /// The bound: finite; between 0 and 1 for ratio metrics, at least 0 for the rest.
    pub value: f64,
    /// The bound as written, trimmed, e.g. `">= 0.99"`. A bare number gets its implied
    /// `">= "` in front, so a report shows what was checked.
    pub text: String,
}

/// How an [`Expectation`] compares the measured value with its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `==`: equal within a relative 1e-9, so `0.1 + 0.2 == 0.3` holds.
    Eq,
}

impl Op {
    /// Whether `actual OP expected` holds. A NaN `actual` (a metric with no samples)
    /// never holds.
    pub fn holds(self, actual: f64, expected: f64) -> bool {
        match self {
            Op::Ge => actual >= expected,
            Op::Le => actual <= expected,
            Op::Gt => actual > expected,
            Op::Lt => actual < expected,
            Op::Eq => (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        }
    }

    /// The operator as written: `">="`, `"<="`, `">"`, `"<"`, `"=="`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Eq => "==",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scenario file that cannot be used, and where it goes wrong.
///
/// Displays as `scenarios/x.toml:12: `network.loss`: 1.5 is not a probability (between
/// 0 and 1)`, leaving out `:12` or the key when unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The file, as given.
    pub path: PathBuf,
    /// The 1-based line, when the error has one.
    pub line: Option<usize>,
    /// The dotted key: `network.latency.min`, `at[1].partition`, `workload[0].from`
    /// (array indices count from 0, in file order).
    pub key: Option<String>,
    /// What is wrong, and where it helps, what to write instead.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}
