//! [`Metric`]: what an `[expect]` key may name, declared once.
//!
//! In: nothing. Out: the enum, its names as written in scenario files (in declaration
//! order: [`Metric::NAMES`], what the loader checks keys against and suggests from),
//! and whether each is a ratio. The report measures each one by an exhaustive match
//! ([`Report::metric`](crate::report::Report::metric)), so a metric added here and
//! not measured there does not compile. `scenarios/README.md` says what each measures.

/// Declares [`Metric`]: each variant with its doc, its name in scenario files, and
/// whether it is a ratio between 0 and 1.
macro_rules! metrics {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, ratio = $ratio:literal; )*) => {
        /// A metric an expectation checks.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Metric {
            $( $(#[doc = $doc])+ $variant, )*
        }

        impl Metric {
            /// Every metric, in declaration order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant),*];

            /// Every metric's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// Its name in scenario files and reports.
            pub fn name(self) -> &'static str {
                match self {
                    $(Metric::$variant => $name,)*
                }
            }

            /// Whether it is a ratio between 0 and 1 (a bare number then means `>=`).
            pub fn is_ratio(self) -> bool {
                match self {
                    $(Metric::$variant => $ratio,)*
                }
            }
        }
    };
}

metrics! {
    /// Share of lookups that found their target.
    LookupSuccess = "lookup_success", ratio = true;
    /// Share of the lookups started at least 60 s after the faults stopped that found
    /// their target.
    LookupSuccessAfterFaults = "lookup_success_after_faults", ratio = true;
    /// Share of the nodes that restarted and are not behind a NAT (only those can be
    /// listed) that another node holds in its table.
    RestartedKnown = "restarted_known", ratio = true;
    /// Share of `connects` that ended with a session, by any path.
    ConnectSuccess = "connect_success", ratio = true;
    /// Share of `streams` transfers that finished: every byte delivered and checked,
    /// both ends closed.
    StreamSuccess = "stream_success", ratio = true;
    /// Median hops per successful lookup.
    LookupHopsP50 = "lookup_hops_p50", ratio = false;
    /// 95th percentile of hops.
    LookupHopsP95 = "lookup_hops_p95", ratio = false;
    /// Median lookup latency, in milliseconds.
    LookupLatencyMsP50 = "lookup_latency_ms_p50", ratio = false;
    /// 99th percentile of lookup latency, in milliseconds.
    LookupLatencyMsP99 = "lookup_latency_ms_p99", ratio = false;
    /// Share of `ping_closest` commands answered by all 3 peers.
    PingSuccess = "ping_success", ratio = true;
    /// Share of `pings` answered.
    ContactPingSuccess = "contact_ping_success", ratio = true;
    /// Share of sent datagrams that were delivered.
    DeliveredRatio = "delivered_ratio", ratio = true;
    /// Share of gets (immutable and mutable) that were ok.
    GetSuccess = "get_success", ratio = true;
    /// Share of mutable gets that returned the newest acknowledged version.
    MutableLatest = "mutable_latest", ratio = true;
    /// Mean recall of the topic lookups.
    TopicRecall = "topic_recall", ratio = true;
    /// `lookup_success`, named for hostile scenarios (workloads run on honest nodes).
    HonestLookupSuccess = "honest_lookup_success", ratio = true;
    /// Records honest nodes held, and peers their topic lookups returned, that the
    /// safety oracle found forged.
    ForgedStored = "forged_stored", ratio = false;
    /// Sessions honest nodes opened with another key than the node's at that address.
    UnexpectedSessions = "unexpected_sessions", ratio = false;
}

impl Metric {
    /// The metric named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The names of the ratio metrics, in declaration order.
    pub fn ratio_names() -> Vec<&'static str> {
        Metric::ALL
            .iter()
            .filter(|m| m.is_ratio())
            .map(|m| m.name())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Metric;

    #[test]
    fn names_are_unique_and_find_their_metric() {
        assert_eq!(Metric::ALL.len(), Metric::NAMES.len());
        for (metric, name) in Metric::ALL.iter().zip(Metric::NAMES) {
            assert_eq!(metric.name(), *name);
            assert_eq!(Metric::from_name(name), Some(*metric));
        }
        assert_eq!(Metric::from_name("lookup_sucess"), None);
    }
}
