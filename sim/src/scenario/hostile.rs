//! `[hostile]`: nodes that attack the swarm, by share of the nodes, and the rates at
//! which they do what the protocol never would.
//!
//! In: the `[hostile]` table of a scenario file, the swarm's size, bootstrap list,
//! leaves and engine. Out: a [`HostileSpec`] whose counts fit the swarm — hostile nodes
//! are never bootstrap nodes, and at least two honest nodes stay after every leave —
//! and whose kinds the engine runs, or an error naming the line and key.

use super::check::Run;
use super::raw;
use super::support::{self, Feature};
use super::{EngineKind, ScenarioError};

#[cfg(test)]
mod tests;

/// The highest rate a hostile node may be given, per second.
pub const RATE_MAX: f64 = 100_000.0;
/// The most identities one sybil address may carry.
pub const SYBIL_IDENTITIES_MAX: usize = 1000;
/// The most addresses eclipse attackers may spread over.
pub const ECLIPSE_ADDRESSES_MAX: usize = 1000;
/// The most identities eclipse attackers may grind near one key.
pub const ECLIPSE_IDENTITIES_MAX: usize = 1000;

/// What a hostile node does; see `scenarios/README.md` for each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostileKind {
    /// Answers FIND_NODE with far and invented contacts (the core's `Behaviour::Liar`).
    Liar,
    /// Opens sessions and never answers a request in them (`Behaviour::Dropper`).
    Dropper,
    /// Forged beacons, forged record writes and answers (`Behaviour::Forger`).
    Forger,
    /// Runs honestly and re-sends handshake messages and sealed frames it has seen.
    Replayer,
    /// Runs honestly and floods: SHS1 hellos with fresh keys, and requests.
    Flooder,
    /// One of several identities behind one IP address, each on its own port.
    Sybil,
    /// One of many identities ground near the workload's keys, from a few addresses,
    /// answering FIND_NODE with each other and dropping what it is given
    /// (`Behaviour::Eclipse`).
    Eclipse,
}

impl HostileKind {
    /// Every kind, in the order the scenario keys, the draw and the report use.
    pub const ALL: [HostileKind; 7] = [
        HostileKind::Liar,
        HostileKind::Dropper,
        HostileKind::Forger,
        HostileKind::Replayer,
        HostileKind::Flooder,
        HostileKind::Sybil,
        HostileKind::Eclipse,
    ];

    /// Its scenario key and report name: `liars`, `droppers`, …
    pub fn key(self) -> &'static str {
        match self {
            HostileKind::Liar => "liars",
            HostileKind::Dropper => "droppers",
            HostileKind::Forger => "forgers",
            HostileKind::Replayer => "replayers",
            HostileKind::Flooder => "flooders",
            HostileKind::Sybil => "sybils",
            HostileKind::Eclipse => "eclipsers",
        }
    }
}

/// `[hostile]`: shares of the nodes that misbehave, and their rates. All shares 0 (the
/// default): an honest swarm.
#[derive(Clone, Debug, PartialEq)]
pub struct HostileSpec {
    /// `liars`: share of the nodes, at least 0 and below 1; likewise the next five.
    pub liars: f64,
    /// `droppers`.
    pub droppers: f64,
    /// `forgers`.
    pub forgers: f64,
    /// `replayers`.
    pub replayers: f64,
    /// `flooders`.
    pub flooders: f64,
    /// `sybils`.
    pub sybils: f64,
    /// `eclipsers`.
    pub eclipsers: f64,
    /// `flood_rate`: SHS1 hellos a flooder sends a second, and requests it sends a
    /// second to its closest peers; default 200.
    pub flood_rate: f64,
    /// `replay_rate`: datagrams a replayer re-sends a second; default 20.
    pub replay_rate: f64,
    /// `forge_rate`: forged record writes a forger starts a second; default 0.5.
    pub forge_rate: f64,
    /// `sybil_identities`: identities per sybil address; default 10, 2 to
    /// [`SYBIL_IDENTITIES_MAX`].
    pub sybil_identities: usize,
    /// `eclipse_addresses`: IP addresses the eclipse attackers spread over, each
    /// carrying its share of them on ports of their own; default 2, 1 to
    /// [`ECLIPSE_ADDRESSES_MAX`].
    pub eclipse_addresses: usize,
    /// `eclipse_identities`: identities ground near each key attacked; default 20
    /// (Kademlia's k), 1 to [`ECLIPSE_IDENTITIES_MAX`]. The attackers take on as many
    /// of the workload's keys as they have identities for.
    pub eclipse_identities: usize,
}

impl Default for HostileSpec {
    fn default() -> Self {
        HostileSpec {
            liars: 0.0,
            droppers: 0.0,
            forgers: 0.0,
            replayers: 0.0,
            flooders: 0.0,
            sybils: 0.0,
            eclipsers: 0.0,
            flood_rate: 200.0,
            replay_rate: 20.0,
            forge_rate: 0.5,
            sybil_identities: 10,
            eclipse_addresses: 2,
            eclipse_identities: 20,
        }
    }
}

impl HostileSpec {
    /// The share of the nodes of `kind`.
    pub fn share(&self, kind: HostileKind) -> f64 {
        match kind {
            HostileKind::Liar => self.liars,
            HostileKind::Dropper => self.droppers,
            HostileKind::Forger => self.forgers,
            HostileKind::Replayer => self.replayers,
            HostileKind::Flooder => self.flooders,
            HostileKind::Sybil => self.sybils,
            HostileKind::Eclipse => self.eclipsers,
        }
    }

    fn share_mut(&mut self, kind: HostileKind) -> &mut f64 {
        match kind {
            HostileKind::Liar => &mut self.liars,
            HostileKind::Dropper => &mut self.droppers,
            HostileKind::Forger => &mut self.forgers,
            HostileKind::Replayer => &mut self.replayers,
            HostileKind::Flooder => &mut self.flooders,
            HostileKind::Sybil => &mut self.sybils,
            HostileKind::Eclipse => &mut self.eclipsers,
        }
    }

    /// How many of `nodes` are of `kind`: the share rounded to the nearest node.
    pub fn count(&self, kind: HostileKind, nodes: usize) -> usize {
        (self.share(kind) * nodes as f64).round() as usize
    }

    /// How many of `nodes` are hostile, of all kinds.
    pub fn total(&self, nodes: usize) -> usize {
        HostileKind::ALL.iter().map(|&k| self.count(k, nodes)).sum()
    }

    /// Whether every share is 0: an honest swarm.
    pub fn is_empty(&self) -> bool {
        HostileKind::ALL.iter().all(|&k| self.share(k) == 0.0)
    }

    /// The first kind with a share above 0 that `engine` does not run, and why
    /// ([`support::refusal`]).
    pub fn refusal(&self, engine: EngineKind) -> Option<(HostileKind, &'static str)> {
        HostileKind::ALL
            .iter()
            .filter(|&&k| self.share(k) > 0.0)
            .find_map(|&k| Some((k, support::refusal(engine, Feature::Hostile(k))?)))
    }
}

/// Whether the hostile nodes fit a swarm of `nodes` with `bootstrap` bootstrap nodes
/// of which `left` leave: every kind with a share has a node, hostile nodes are drawn
/// from the nodes that are not bootstrap nodes, and two honest nodes stay.
pub(super) fn fits(
    spec: &HostileSpec,
    nodes: usize,
    bootstrap: usize,
    left: usize,
) -> Result<(), (Option<HostileKind>, String)> {
    for kind in HostileKind::ALL {
        let share = spec.share(kind);
        if share > 0.0 && spec.count(kind, nodes) == 0 {
            return Err((
                Some(kind),
                format!("a share of {share} of {nodes} nodes is less than one node"),
            ));
        }
    }
    let total = spec.total(nodes);
    let candidates = nodes - bootstrap.min(nodes);
    if total > candidates {
        return Err((
            None,
            format!(
                "{total} hostile nodes, but only {candidates} of the {nodes} nodes are not \
                 bootstrap nodes (hostile nodes never are)"
            ),
        ));
    }
    if nodes < total + left + 2 {
        let leaving = if left > 0 {
            format!(" and {left} leave")
        } else {
            String::new()
        };
        return Err((
            None,
            format!(
                "{total} of the {nodes} nodes are hostile{leaving}; at least 2 honest nodes \
                 must stay to run the workloads"
            ),
        ));
    }
    Ok(())
}

/// `[hostile]`, checked against the run with `bootstrap` bootstrap nodes of which
/// `left` leave.
pub(super) fn hostile_value(
    run: &Run<'_>,
    bootstrap: usize,
    left: usize,
    hostile: raw::Hostile,
) -> Result<HostileSpec, ScenarioError> {
    let key = |name: &str| format!("hostile.{name}");
    let written = [
        hostile.liars,
        hostile.droppers,
        hostile.forgers,
        hostile.replayers,
        hostile.flooders,
        hostile.sybils,
        hostile.eclipsers,
    ];
    let mut spec = HostileSpec::default();
    for (kind, share) in HostileKind::ALL.into_iter().zip(written) {
        let Some(share) = share else { continue };
        let share = share.0;
        if !(0.0..1.0).contains(&share) {
            return Err(run.error(
                &key(kind.key()),
                format!(
                    "share {share} is not at least 0 and below 1; `liars = 0.1` makes a tenth of the nodes liars"
                ),
            ));
        }
        *spec.share_mut(kind) = share;
        if let (true, Some(why)) = (
            share > 0.0,
            support::refusal(run.engine, Feature::Hostile(kind)),
        ) {
            return Err(run.error(
                &key(kind.key()),
                format!(
                    "the turmoil engine does not run {}: {why}; set engine = \"direct\"",
                    kind.key()
                ),
            ));
        }
    }
    let paired = [
        (
            "flood_rate",
            hostile.flood_rate.is_some(),
            HostileKind::Flooder,
        ),
        (
            "replay_rate",
            hostile.replay_rate.is_some(),
            HostileKind::Replayer,
        ),
        (
            "forge_rate",
            hostile.forge_rate.is_some(),
            HostileKind::Forger,
        ),
        (
            "sybil_identities",
            hostile.sybil_identities.is_some(),
            HostileKind::Sybil,
        ),
        (
            "eclipse_addresses",
            hostile.eclipse_addresses.is_some(),
            HostileKind::Eclipse,
        ),
        (
            "eclipse_identities",
            hostile.eclipse_identities.is_some(),
            HostileKind::Eclipse,
        ),
    ];
    for (name, _, kind) in paired.into_iter().filter(|&(_, set, _)| set) {
        if spec.share(kind) == 0.0 {
            let share_written = written[kind as usize];
            return Err(run.error(
                &key(name),
                format!(
                    "goes with {}, which is {}; set {} above 0 or remove {name}",
                    kind.key(),
                    if share_written.is_some() {
                        "0"
                    } else {
                        "missing"
                    },
                    kind.key()
                ),
            ));
        }
    }
    if let Some(rate) = hostile.flood_rate {
        spec.flood_rate = rate.0;
    }
    if let Some(rate) = hostile.replay_rate {
        spec.replay_rate = rate.0;
    }
    if let Some(rate) = hostile.forge_rate {
        spec.forge_rate = rate.0;
    }
    if let Some(identities) = hostile.sybil_identities {
        let identities = identities.get();
        if !(2..=SYBIL_IDENTITIES_MAX).contains(&identities) {
            return Err(run.error(
                &key("sybil_identities"),
                format!("{identities} identities per address; write 2 to {SYBIL_IDENTITIES_MAX}"),
            ));
        }
        spec.sybil_identities = identities;
    }
    for (name, value, max, field) in [
        (
            "eclipse_addresses",
            hostile.eclipse_addresses,
            ECLIPSE_ADDRESSES_MAX,
            &mut spec.eclipse_addresses,
        ),
        (
            "eclipse_identities",
            hostile.eclipse_identities,
            ECLIPSE_IDENTITIES_MAX,
            &mut spec.eclipse_identities,
        ),
    ] {
        let Some(value) = value else { continue };
        let value = value.get();
        if !(1..=max).contains(&value) {
            return Err(run.error(&key(name), format!("{value}; write 1 to {max}")));
        }
        *field = value;
    }
    fits(&spec, run.nodes, bootstrap, left).map_err(|(kind, message)| {
        let share_written = kind.filter(|&kind| written[kind as usize].is_some());
        match share_written {
            Some(kind) => run.error(&key(kind.key()), message),
            None => run.error("hostile", message),
        }
    })?;
    Ok(spec)
}
