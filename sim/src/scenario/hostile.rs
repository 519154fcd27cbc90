//! `[hostile]`: nodes that attack the swarm, by share of the nodes, and the rates at
//! which they do what the protocol never would.
//!
//! In: the `[hostile]` table of a scenario file, the swarm's size, bootstrap list,
//! leaves and engine. Out: a [`HostileSpec`] whose counts fit the swarm — hostile nodes
//! are never bootstrap nodes, and at least two honest nodes stay after every leave —
//! and whose kinds the engine runs, or an error naming the line and key.

use super::duration::parse_duration;
use super::fields::Field;
use super::keys::HOSTILE_KEYS;
use super::support::{self, Feature};
use super::tree::Kind;
use super::{EngineKind, ScenarioError};

#[cfg(test)]
mod tests;

/// The highest rate a hostile node may be given, per second.
pub const RATE_MAX: f64 = 100_000.0;
/// The most identities one sybil address may carry.
pub const SYBIL_IDENTITIES_MAX: usize = 1000;

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
}

impl HostileKind {
    /// Every kind, in the order the scenario keys, the draw and the report use.
    pub const ALL: [HostileKind; 6] = [
        HostileKind::Liar,
        HostileKind::Dropper,
        HostileKind::Forger,
        HostileKind::Replayer,
        HostileKind::Flooder,
        HostileKind::Sybil,
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
            flood_rate: 200.0,
            replay_rate: 20.0,
            forge_rate: 0.5,
            sybil_identities: 10,
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

/// `[hostile]`, checked against a swarm of `nodes` with `bootstrap` bootstrap nodes of
/// which `left` leave, run on `engine`.
pub(super) fn hostile_value(
    field: &Field<'_>,
    nodes: usize,
    bootstrap: usize,
    left: usize,
    engine: EngineKind,
) -> Result<HostileSpec, ScenarioError> {
    let table = field.table(HOSTILE_KEYS)?;
    let mut spec = HostileSpec::default();
    for kind in HostileKind::ALL {
        if let Some(share) = table.get(kind.key()) {
            let value = share_value(&share)?;
            *spec.share_mut(kind) = value;
            if let (true, Some(why)) = (
                value > 0.0,
                support::refusal(engine, Feature::Hostile(kind)),
            ) {
                return Err(share.error(format!(
                    "the turmoil engine does not run {}: {why}; set engine = \"direct\"",
                    kind.key()
                )));
            }
        }
    }
    let paired = [
        ("flood_rate", HostileKind::Flooder),
        ("replay_rate", HostileKind::Replayer),
        ("forge_rate", HostileKind::Forger),
        ("sybil_identities", HostileKind::Sybil),
    ];
    for (key, kind) in paired {
        let Some(field) = table.get(key) else {
            continue;
        };
        if spec.share(kind) == 0.0 {
            return Err(field.key_error(format!(
                "goes with {}, which is {}; set {} above 0 or remove {key}",
                kind.key(),
                if table.get(kind.key()).is_some() {
                    "0"
                } else {
                    "missing"
                },
                kind.key()
            )));
        }
        match key {
            "flood_rate" => spec.flood_rate = rate_value(&field)?,
            "replay_rate" => spec.replay_rate = rate_value(&field)?,
            "forge_rate" => spec.forge_rate = rate_value(&field)?,
            _ => {
                let identities = field.count()?;
                if !(2..=SYBIL_IDENTITIES_MAX).contains(&identities) {
                    return Err(field.error(format!(
                        "{identities} identities per address; write 2 to {SYBIL_IDENTITIES_MAX}"
                    )));
                }
                spec.sybil_identities = identities;
            }
        }
    }
    fits(&spec, nodes, bootstrap, left).map_err(|(kind, message)| {
        match kind.and_then(|kind| table.get(kind.key())) {
            Some(share) => share.error(message),
            None => table.error(message),
        }
    })?;
    Ok(spec)
}

fn share_value(field: &Field<'_>) -> Result<f64, ScenarioError> {
    let share = match &field.value.kind {
        Kind::Integer(_) | Kind::Float(_) => field.number()?,
        _ => {
            return Err(field
                .type_error("a number: the share of the nodes of this kind, like `liars = 0.1`"))
        }
    };
    if !(0.0..1.0).contains(&share) {
        return Err(field.error(format!(
            "share {share} is not at least 0 and below 1; `liars = 0.1` makes a tenth of the nodes liars"
        )));
    }
    Ok(share)
}

/// A rate: `"200/s"`, `"5/10s"`, `"30/m"`; per second, above 0 and at most
/// [`RATE_MAX`] a second.
fn rate_value(field: &Field<'_>) -> Result<f64, ScenarioError> {
    let Kind::String(text) = &field.value.kind else {
        return Err(field.type_error("a rate like \"200/s\""));
    };
    let Some((count, per)) = text.split_once('/') else {
        return Err(field.error(format!(
            "{text:?} is not a rate; write a count per unit of time, like \"200/s\""
        )));
    };
    let count = count.trim();
    let count: f64 = match count.parse() {
        Ok(count) if f64::is_finite(count) && count > 0.0 => count,
        _ => {
            return Err(field.error(format!(
                "{text:?}: {count:?} is not a number above 0; write it like \"200/s\""
            )))
        }
    };
    let per = per.trim();
    let unit = if per.starts_with(|c: char| c.is_ascii_digit()) {
        per.to_owned()
    } else {
        format!("1{per}")
    };
    let per =
        parse_duration(&unit).map_err(|message| field.error(format!("{text:?}: {message}")))?;
    if per.is_zero() {
        return Err(field.error(format!("{text:?}: per zero time is no rate")));
    }
    let rate = count / per.as_secs_f64();
    if rate > RATE_MAX {
        return Err(field.error(format!(
            "{text:?} is {rate} a second, more than the most a node may be given, {RATE_MAX}/s"
        )));
    }
    Ok(rate)
}
