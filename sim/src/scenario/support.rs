//! What each engine runs: the one table the scenario check asks.
//!
//! In: an engine and something a scenario asks of it ([`Feature`]). Out: `None` when
//! the engine runs it, or why it does not. Every refusal of the scenario check — a key
//! of the file, or `--engine` on the command line — comes from [`refusal`].

use super::hostile::HostileKind;
use super::EngineKind;

/// Something a scenario may ask that not every engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Node clocks that drift (`network.clock_skew.drift`).
    ClockDrift,
    /// Hostile nodes of one kind (`[hostile]`).
    Hostile(HostileKind),
    /// Stream transfers (`workload.streams`).
    Streams,
    /// The fast stand-in for ed25519 and x25519 (`crypto = "fast"`).
    FastCrypto,
    /// Nodes with IPv6 addresses (`network.ipv6`).
    Ipv6,
}

/// Why `engine` does not run `feature`, or `None` when it does.
pub fn refusal(engine: EngineKind, feature: Feature) -> Option<&'static str> {
    match (engine, feature) {
        (EngineKind::Direct, _) => None,
        (EngineKind::Turmoil, Feature::ClockDrift) => {
            Some("its nodes share tokio's one simulated clock")
        }
        (EngineKind::Turmoil, Feature::Streams) => Some(
            "a transfer's source and sink are programs on the nodes (the harness's App), \
             and the turmoil engine's nodes run the live driver, which has no such program \
             yet",
        ),
        (EngineKind::Turmoil, Feature::FastCrypto) => None,
        (EngineKind::Turmoil | EngineKind::Live, Feature::Ipv6) => None,
        (EngineKind::Live, Feature::ClockDrift) => {
            Some("its nodes all read the host's one monotonic clock through tokio")
        }
        (EngineKind::Live, Feature::Streams) => Some(
            "a transfer's source and sink are programs on the nodes (the harness's App), \
             and the live engine's nodes run the live driver, which has no such program \
             yet",
        ),
        (EngineKind::Live, Feature::FastCrypto) => Some(
            "live nodes run the real crypto suite only; the fast stand-in never meets a \
             socket",
        ),
        (EngineKind::Live, Feature::Hostile(kind)) => match kind {
            HostileKind::Liar | HostileKind::Dropper | HostileKind::Forger => None,
            HostileKind::Replayer | HostileKind::Flooder => {
                Some("the live engine's socket shims do not tap or inject datagrams")
            }
            HostileKind::Sybil | HostileKind::Eclipse => Some(
                "the live engine gives each node a loopback socket of its own and does not \
                 put several identities behind one address",
            ),
        },
        (EngineKind::Turmoil, Feature::Hostile(kind)) => match kind {
            HostileKind::Liar | HostileKind::Dropper => None,
            HostileKind::Forger => Some(
                "the forged-record oracle reads the honest nodes' stores, which the turmoil \
                 engine's driver tasks keep to themselves",
            ),
            HostileKind::Replayer | HostileKind::Flooder => {
                Some("the turmoil engine cannot tap or inject datagrams")
            }
            HostileKind::Sybil | HostileKind::Eclipse => {
                Some("a turmoil-net host carries one node")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_engine_runs_everything_and_the_turmoil_engine_says_why_not() {
        let mut features = vec![Feature::ClockDrift, Feature::Streams];
        features.extend(HostileKind::ALL.iter().map(|&k| Feature::Hostile(k)));
        for &feature in &features {
            assert_eq!(refusal(EngineKind::Direct, feature), None, "{feature:?}");
        }
        let refused: Vec<Feature> = features
            .into_iter()
            .filter(|&f| refusal(EngineKind::Turmoil, f).is_some())
            .collect();
        assert!(refused.contains(&Feature::ClockDrift));
        assert!(refused.contains(&Feature::Streams));
        assert!(!refused.contains(&Feature::Hostile(HostileKind::Liar)));
        assert!(refused.contains(&Feature::Hostile(HostileKind::Flooder)));
    }

    #[test]
    fn the_live_engine_runs_the_hostiles_a_behaviour_carries_and_real_crypto_only() {
        let runs = |f| refusal(EngineKind::Live, f).is_none();
        for kind in [HostileKind::Liar, HostileKind::Dropper, HostileKind::Forger] {
            assert!(runs(Feature::Hostile(kind)), "{kind:?}");
        }
        for kind in [
            HostileKind::Replayer,
            HostileKind::Flooder,
            HostileKind::Sybil,
            HostileKind::Eclipse,
        ] {
            assert!(!runs(Feature::Hostile(kind)), "{kind:?}");
        }
        for feature in [Feature::FastCrypto, Feature::ClockDrift, Feature::Streams] {
            assert!(!runs(feature), "{feature:?}");
        }
        assert!(refusal(EngineKind::Turmoil, Feature::FastCrypto).is_none());
    }
}
