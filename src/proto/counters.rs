//! The one list of counters: every counter a node keeps is declared once, with its
//! doc, in a [`counters!`] block beside the layer that counts it ([`Stats`],
//! [`SessionStats`], [`StoreStats`]).
//!
//! In: a struct of `u64` fields, each with a doc comment and a [`Class`]. Out: the
//! struct itself, the list of its [`Counter`]s (name, help text, class) in declaration
//! order, a walk over every counter and its value ([`Stats::for_each`], nested groups
//! included) and a field-by-field sum ([`Stats::add`]). Everything that shows counters
//! (`/metrics` on a live node, the simulator's report and its sums) derives from that
//! walk, so a new counter shows up everywhere the moment it is declared.
//!
//! [`Stats`]: crate::proto::Stats
//! [`Stats::for_each`]: crate::proto::Stats::for_each
//! [`Stats::add`]: crate::proto::Stats::add
//! [`SessionStats`]: crate::proto::session::SessionStats
//! [`StoreStats`]: crate::proto::store::StoreStats

/// What a counter counts, for the outputs that show a subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Ordinary work: datagrams, lookups, handshakes, records held.
    Activity,
    /// What a peer that breaks the protocol makes this node count: forged beacons and
    /// records, bad handshakes, replays, floods over a limit, silence where an answer
    /// was due. The simulator sums these over honest nodes as `hostile_refused`.
    Breach,
}

/// One counter of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Its name in every output: the field's name, with its group's prefix
    /// (`store_` for the store's).
    pub name: &'static str,
    /// Its doc comment, as written (see [`Counter::help`]).
    pub doc: &'static str,
    /// What it counts.
    pub class: Class,
}

impl Counter {
    /// The doc comment as one line of plain text: what `# HELP` says. Rustdoc links
    /// lose their brackets, backticks and targets.
    pub fn help(&self) -> String {
        let mut text = self.doc.to_owned();
        // `[name](target)`: the target goes.
        while let Some(start) = text.find("](") {
            let Some(len) = text[start..].find(')') else {
                break;
            };
            text.replace_range(start + 1..start + len + 1, "");
        }
        text.retain(|c| !matches!(c, '[' | ']' | '`'));
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Declares a struct of counters; see the [module docs](self). Each field is a doc
/// comment, its [`Class`] (`Activity` or `Breach`) and its name; groups of counters
/// declared elsewhere may follow under `nested`, and are walked after this one's own.
macro_rules! counters {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, named $prefix:literal {
            $( $(#[doc = $doc:literal])+ $class:ident $field:ident, )*
        }
        $( nested { $( $(#[doc = $ndoc:literal])+ $nfield:ident: $ntype:ty, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: u64, )*
            $($( $(#[doc = $ndoc])+ pub $nfield: $ntype, )*)?
        }

        impl $name {
            /// This group's own counters, in declaration order (nested groups have
            /// their own lists).
            pub const OWN: &'static [$crate::proto::counters::Counter] = &[
                $( $crate::proto::counters::Counter {
                    name: concat!($prefix, stringify!($field)),
                    doc: concat!($($doc, " "),+),
                    class: $crate::proto::counters::Class::$class,
                }, )*
            ];

            /// Calls `visit` with every counter and its value: this group's own, in
            /// declaration order, then each nested group's.
            pub fn for_each(&self, visit: &mut impl FnMut(&'static $crate::proto::counters::Counter, u64)) {
                let values: &[u64] = &[$(self.$field),*];
                for (counter, value) in Self::OWN.iter().zip(values) {
                    visit(counter, *value);
                }
                $($( self.$nfield.for_each(visit); )*)?
            }

            /// Adds `other`'s counters to these, field by field.
            pub fn add(&mut self, other: &Self) {
                $( self.$field += other.$field; )*
                $($( self.$nfield.add(&other.$nfield); )*)?
            }

            /// Every counter, nested groups included, in [`Self::for_each`]'s order.
            pub fn list() -> Vec<&'static $crate::proto::counters::Counter> {
                let mut list = Vec::new();
                Self::default().for_each(&mut |counter, _| list.push(counter));
                list
            }
        }
    };
}

pub(crate) use counters;

#[cfg(test)]
mod tests {
    use crate::proto::Stats;

    #[test]
    fn every_counter_has_a_unique_name_and_a_help_line() {
        let list = Stats::list();
        let mut names: Vec<&str> = list.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "two counters share a name");
        for counter in list {
            let help = counter.help();
            assert!(!help.is_empty(), "{} has no doc", counter.name);
            assert!(
                !help.contains(['[', ']', '`', '\n']),
                "{}: {help}",
                counter.name
            );
        }
    }

    #[test]
    fn help_drops_link_targets_and_brackets() {
        let counter = crate::proto::counters::Counter {
            name: "x",
            doc: " Refused by the\n limits ([`Limits::max`](crate::proto::Limits::max)), and [`Other`]. ",
            class: crate::proto::counters::Class::Breach,
        };
        assert_eq!(
            counter.help(),
            "Refused by the limits (Limits::max), and Other."
        );
    }

    #[test]
    fn the_walk_visits_nested_groups_and_add_sums_them() {
        let mut one = Stats {
            datagrams_sent: 2,
            ..Stats::default()
        };
        one.sessions.handshakes_started = 3;
        one.store.hits = 5;
        let mut sum = Stats::default();
        sum.add(&one);
        sum.add(&one);
        let mut seen = Vec::new();
        sum.for_each(&mut |counter, value| {
            if value > 0 {
                seen.push((counter.name, value));
            }
        });
        assert_eq!(
            seen,
            [
                ("datagrams_sent", 4),
                ("handshakes_started", 6),
                ("store_hits", 10)
            ]
        );
    }
}
