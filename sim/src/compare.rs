//! Comparing engines: one scenario's figures on several engines, side by side, and
//! whether the simulator's agree with a reference run's.
//!
//! In: each engine's [`Report`] and [`Series`] (the raw samples of its lookups), and
//! the scenario's [`CompareSpec`] (its `[compare]` table). Out: each run's
//! [`Figures`], the [`Check`]s of every other engine against the reference, and the
//! table `dswarm compare` prints ([`table`]).
//!
//! The reference is the `live` run when one is listed, else the last engine listed
//! ([`reference_index`]); every other engine is checked against it on three figures:
//!
//! - **lookup success** (found / issued): agrees when |sim − ref| ≤ `success`
//!   (default 0.01, one percentage point);
//! - **hops p95** (nearest rank, over the lookups that returned a result): agrees when
//!   |sim − ref| ≤ `hops_p95` (default 1 hop);
//! - **lookup latency**, the whole distribution, by the two-sample
//!   Kolmogorov–Smirnov test. Its statistic is the largest gap between the two
//!   empirical distribution functions, D = sup_x |F_n(x) − G_m(x)|, read in one merge
//!   pass over both sorted samples that, at each value x, steps over every sample equal
//!   to x in both before it measures the gap ([`ks_statistic`]). The latencies differ
//!   at level α (`latency_alpha`, default 0.01) when D > c(α)·√((n + m)/(n·m)), with
//!   c(α) = √(−ln(α/2)/2), the asymptotic critical value ([`ks_c`]: c(0.05) ≈ 1.358,
//!   c(0.01) ≈ 1.628). With `latency_d` set, D must exceed that floor too: with
//!   thousands of lookups the test sees differences far too small to matter, and the
//!   floor says how large one must be.
//!
//! A check with fewer than `min_lookups` (default 50) on either side — lookups issued
//! for success, lookups with a result for hops and latency — is
//! [`Agreement::Inconclusive`]: printed as such, never a failure. The other figures
//! (hops p50, latency p50 and p99, datagrams per lookup, handshakes, the record and
//! topic figures of scenarios that have them) are shown for reading, not checked.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{Report, Series};
use crate::scenario::CompareSpec;

/// One run's figures, as the comparison reads them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    /// The engine that ran.
    pub engine: String,
    /// Lookups started.
    pub lookups: u64,
    /// Lookups that found their target over those started; `None` without lookups.
    pub lookup_success: Option<f64>,
    /// Lookups that returned a result: the hop and latency samples.
    pub lookups_found: u64,
    /// Median hops.
    pub hops_p50: Option<u32>,
    /// 95th-percentile hops.
    pub hops_p95: Option<u32>,
    /// Median lookup latency, milliseconds.
    pub latency_ms_p50: Option<f64>,
    /// 99th-percentile lookup latency, milliseconds.
    pub latency_ms_p99: Option<f64>,
    /// Datagrams sent over lookups started: all the run's traffic (beacons, table
    /// upkeep, other workloads), not the lookups' own.
    pub datagrams_per_lookup: Option<f64>,
    /// Handshakes completed, both roles, summed over the swarm.
    pub handshakes: u64,
    /// Writes acknowledged over writes started; `None` without writes.
    pub put_success: Option<f64>,
    /// Gets that returned what was written over gets started; `None` without gets.
    pub get_success: Option<f64>,
    /// Announcements acknowledged over those started; `None` without announces.
    pub announce_success: Option<f64>,
    /// Topic lookups that found every announcer over those started; `None` without
    /// topic lookups.
    pub topic_complete: Option<f64>,
    /// Every lookup latency, milliseconds, in the order the lookups finished.
    #[serde(skip)]
    pub latencies_ms: Vec<f64>,
}

impl Figures {
    /// The figures of the run that produced `report` and `series`.
    pub fn of(report: &Report, series: &Series) -> Figures {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let lookups = &report.lookups;
        Figures {
            engine: report.engine.clone(),
            lookups: lookups.issued,
            lookup_success: ratio(lookups.succeeded, lookups.issued),
            lookups_found: series.latencies_ms.len() as u64,
            hops_p50: lookups.hops_p50,
            hops_p95: lookups.hops_p95,
            latency_ms_p50: lookups.latency_ms_p50,
            latency_ms_p99: lookups.latency_ms_p99,
            datagrams_per_lookup: ratio(report.messages.sent, lookups.issued),
            handshakes: report.protocol.sessions.handshakes_completed,
            put_success: ratio(report.records.put, report.records.put_issued),
            get_success: ratio(report.records.get_ok, report.records.get),
            announce_success: ratio(report.topics.announced, report.topics.announce_issued),
            topic_complete: ratio(report.topics.lookup_complete, report.topics.lookups),
            latencies_ms: series.latencies_ms.clone(),
        }
    }
}

/// What a check concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agreement {
    /// Within the tolerance.
    Agree,
    /// Outside it.
    Disagree,
    /// Too few samples on one side (or none) to say.
    Inconclusive,
}

/// One figure of one engine checked against the reference run's.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// `lookup_success`, `lookup_hops_p95` or `lookup_latency_ms`.
    pub figure: &'static str,
    /// The engine checked.
    pub engine: String,
    /// The reference engine.
    pub reference: String,
    /// The checked engine's figure (for latency, its median).
    pub sim: Option<f64>,
    /// The reference's figure (for latency, its median).
    pub reference_value: Option<f64>,
    /// The samples each side had: lookups started (success) or lookups with a result
    /// (hops, latency); the checked engine's first.
    pub samples: [u64; 2],
    /// The largest statistic that agrees: the `[compare]` tolerance, or for latency
    /// the larger of the critical value and `latency_d`.
    pub tolerance: f64,
    /// What is held against the tolerance: |sim − reference|, or the KS D.
    pub statistic: Option<f64>,
    /// The KS critical value c(α)·√((n + m)/(n·m)); `None` for the other figures.
    pub critical: Option<f64>,
    /// The verdict.
    pub verdict: Agreement,
}

/// The figures' names in [`Check::figure`].
pub const SUCCESS: &str = "lookup_success";
/// See [`SUCCESS`].
pub const HOPS_P95: &str = "lookup_hops_p95";
/// See [`SUCCESS`].
pub const LATENCY: &str = "lookup_latency_ms";

/// The index of the reference among `engines` (as named): `live`'s if listed, else
/// the last one's. `None` for an empty list.
pub fn reference_index(engines: &[&str]) -> Option<usize> {
    engines
        .iter()
        .position(|&engine| engine == "live")
        .or_else(|| engines.len().checked_sub(1))
}

/// The three checks of `sim` against `reference`; see the module docs.
pub fn check(sim: &Figures, reference: &Figures, spec: &CompareSpec) -> Vec<Check> {
    let enough = |n: u64, m: u64| n >= spec.min_lookups && m >= spec.min_lookups;
    let base = |figure, samples: [u64; 2]| Check {
        figure,
        engine: sim.engine.clone(),
        reference: reference.engine.clone(),
        sim: None,
        reference_value: None,
        samples,
        tolerance: 0.0,
        statistic: None,
        critical: None,
        verdict: Agreement::Inconclusive,
    };
    // |a − b| against `tolerance`, inconclusive without both or with too few samples.
    let within = |mut check: Check, a: Option<f64>, b: Option<f64>, tolerance: f64| {
        check.sim = a;
        check.reference_value = b;
        check.tolerance = tolerance;
        if let (Some(a), Some(b)) = (a, b) {
            let gap = (a - b).abs();
            check.statistic = Some(gap);
            if enough(check.samples[0], check.samples[1]) {
                // A hair of slack, so that 0.995 − 0.985 sits within 0.01.
                check.verdict = if gap <= tolerance + 1e-9 {
                    Agreement::Agree
                } else {
                    Agreement::Disagree
                };
            }
        }
        check
    };
    let success = within(
        base(SUCCESS, [sim.lookups, reference.lookups]),
        sim.lookup_success,
        reference.lookup_success,
        spec.success,
    );
    let found = [sim.lookups_found, reference.lookups_found];
    let hops = within(
        base(HOPS_P95, found),
        sim.hops_p95.map(f64::from),
        reference.hops_p95.map(f64::from),
        spec.hops_p95 as f64,
    );
    let mut latency = base(LATENCY, found);
    latency.sim = sim.latency_ms_p50;
    latency.reference_value = reference.latency_ms_p50;
    let (n, m) = (sim.latencies_ms.len(), reference.latencies_ms.len());
    if let Some(d) = ks_statistic(&sim.latencies_ms, &reference.latencies_ms) {
        let critical = ks_critical(spec.latency_alpha, n, m);
        latency.statistic = Some(d);
        latency.critical = Some(critical);
        latency.tolerance = critical.max(spec.latency_d.unwrap_or(0.0));
        if enough(n as u64, m as u64) {
            latency.verdict = if d > latency.tolerance {
                Agreement::Disagree
            } else {
                Agreement::Agree
            };
        }
    }
    vec![success, hops, latency]
}

/// The two-sample Kolmogorov–Smirnov statistic of `a` and `b` (in any order):
/// sup_x |F_a(x) − G_b(x)|, in 0..=1. `None` when either is empty.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let sorted = |samples: &[f64]| {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted
    };
    let (a, b) = (sorted(a), sorted(b));
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0_f64);
    // Past the end of one sample, its function stands at 1 and the other's only
    // climbs towards it: the gap only shrinks, so the loop may stop there.
    while i < a.len() && j < b.len() {
        let x = if a[i].total_cmp(&b[j]).is_le() {
            a[i]
        } else {
            b[j]
        };
        // Both functions jump at x by every sample equal to it: step over all of them
        // in both before measuring, or ties would open a gap that is not there.
        while i < a.len() && a[i].total_cmp(&x).is_le() {
            i += 1;
        }
        while j < b.len() && b[j].total_cmp(&x).is_le() {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    Some(d)
}

/// c(α) = √(−ln(α/2)/2), the asymptotic coefficient of the KS critical value.
pub fn ks_c(alpha: f64) -> f64 {
    (-(alpha / 2.0).ln() / 2.0).sqrt()
}

/// The KS critical value for samples of `n` and `m` at level `alpha`:
/// c(α)·√((n + m)/(n·m)). Infinite when either is empty.
pub fn ks_critical(alpha: f64, n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return f64::INFINITY;
    }
    let (n, m) = (n as f64, m as f64);
    ks_c(alpha) * ((n + m) / (n * m)).sqrt()
}

/// Whether every check agrees or is inconclusive.
pub fn all_agree(checks: &[Check]) -> bool {
    checks
        .iter()
        .all(|check| check.verdict != Agreement::Disagree)
}

/// How a row's values read.
#[derive(Clone, Copy)]
enum Unit {
    /// A share, as a percentage; differences in percentage points.
    Share,
    /// A whole count.
    Count,
    /// Milliseconds.
    Ms,
    /// A ratio of counts, one decimal.
    Ratio,
    /// The latency samples: `n=…` per engine, the KS D as the difference.
    Samples,
}

impl Unit {
    fn value(self, value: f64) -> String {
        match self {
            Unit::Share => format!("{:.1} %", value * 100.0),
            Unit::Count => format!("{value:.0}"),
            Unit::Ms => format!("{value:.1}"),
            Unit::Ratio => format!("{value:.1}"),
            Unit::Samples => format!("n={value:.0}"),
        }
    }

    fn difference(self, sim: f64, reference: f64) -> String {
        let gap = sim - reference;
        match self {
            Unit::Share => format!("{:+.1} pt", gap * 100.0),
            Unit::Count => format!("{gap:+.0}"),
            Unit::Ms | Unit::Ratio => format!("{gap:+.1}"),
            Unit::Samples => String::new(),
        }
    }
}

/// One row of the table: a label, how to read the figure, and the check it carries.
struct Row {
    label: &'static str,
    unit: Unit,
    value: fn(&Figures) -> Option<f64>,
    check: Option<&'static str>,
}

const ROWS: &[Row] = &[
    Row {
        label: "lookups",
        unit: Unit::Count,
        value: |f| Some(f.lookups as f64),
        check: None,
    },
    Row {
        label: "lookup success",
        unit: Unit::Share,
        value: |f| f.lookup_success,
        check: Some(SUCCESS),
    },
    Row {
        label: "hops p50",
        unit: Unit::Count,
        value: |f| f.hops_p50.map(f64::from),
        check: None,
    },
    Row {
        label: "hops p95",
        unit: Unit::Count,
        value: |f| f.hops_p95.map(f64::from),
        check: Some(HOPS_P95),
    },
    Row {
        label: "latency p50 (ms)",
        unit: Unit::Ms,
        value: |f| f.latency_ms_p50,
        check: None,
    },
    Row {
        label: "latency p99 (ms)",
        unit: Unit::Ms,
        value: |f| f.latency_ms_p99,
        check: None,
    },
    Row {
        label: "latency distribution (KS)",
        unit: Unit::Samples,
        value: |f| Some(f.latencies_ms.len() as f64),
        check: Some(LATENCY),
    },
    Row {
        label: "datagrams per lookup (all traffic)",
        unit: Unit::Ratio,
        value: |f| f.datagrams_per_lookup,
        check: None,
    },
    Row {
        label: "handshakes completed",
        unit: Unit::Count,
        value: |f| Some(f.handshakes as f64),
        check: None,
    },
    Row {
        label: "put success",
        unit: Unit::Share,
        value: |f| f.put_success,
        check: None,
    },
    Row {
        label: "get success",
        unit: Unit::Share,
        value: |f| f.get_success,
        check: None,
    },
    Row {
        label: "announce success",
        unit: Unit::Share,
        value: |f| f.announce_success,
        check: None,
    },
    Row {
        label: "topic lookups complete",
        unit: Unit::Share,
        value: |f| f.topic_complete,
        check: None,
    },
];

/// The tolerance of `check` as the table shows it.
fn tolerance_cell(check: &Check) -> String {
    match check.figure {
        SUCCESS => format!("±{:.1} pt", check.tolerance * 100.0),
        HOPS_P95 => format!("±{}", check.tolerance),
        _ => match check.critical {
            Some(critical) if check.tolerance > critical => {
                format!("D ≤ {:.3} (floor; critical {critical:.3})", check.tolerance)
            }
            Some(critical) => format!("D ≤ {critical:.3}"),
            None => "-".to_owned(),
        },
    }
}

fn verdict_cell(check: &Check, min_lookups: u64) -> String {
    match check.verdict {
        Agreement::Agree => "agree".to_owned(),
        Agreement::Disagree => "DISAGREE".to_owned(),
        Agreement::Inconclusive => {
            format!("inconclusive (fewer than {min_lookups} samples)")
        }
    }
}

/// The side-by-side table: `figure | each engine | Δ | tolerance | verdict`, one row
/// per figure some engine has. Δ is each other engine's figure less the reference's
/// (the KS D on the latency row); with several, each is named. `warning`, when the
/// reference's figures are unreliable, stands beside every verdict.
pub fn table(
    figures: &[Figures],
    reference: usize,
    checks: &[Check],
    spec: &CompareSpec,
    warning: Option<&str>,
) -> String {
    let Some(reference_figures) = figures.get(reference) else {
        return String::new();
    };
    let others: Vec<&Figures> = figures
        .iter()
        .enumerate()
        .filter(|&(index, _)| index != reference)
        .map(|(_, figures)| figures)
        .collect();
    // Each other engine's cell, named when there are several.
    let each = |cells: Vec<(String, String)>| {
        let named = cells.len() > 1;
        cells
            .into_iter()
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(engine, cell)| {
                if named {
                    format!("{engine} {cell}")
                } else {
                    cell
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut header = vec!["figure".to_owned()];
    header.extend(figures.iter().enumerate().map(|(index, f)| {
        if index == reference {
            format!("{} (reference)", f.engine)
        } else {
            f.engine.clone()
        }
    }));
    header.extend(["Δ", "tolerance", "verdict"].map(str::to_owned));
    let mut lines = vec![header];
    for row in ROWS {
        let values: Vec<Option<f64>> = figures.iter().map(row.value).collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        let mut line = vec![row.label.to_owned()];
        line.extend(
            values
                .iter()
                .map(|value| value.map_or("-".to_owned(), |value| row.unit.value(value))),
        );
        let row_checks: Vec<&Check> = row
            .check
            .map(|figure| checks.iter().filter(|c| c.figure == figure).collect())
            .unwrap_or_default();
        let delta = match row.check {
            Some(LATENCY) => each(
                row_checks
                    .iter()
                    .map(|c| {
                        let d = c.statistic.map_or(String::new(), |d| format!("D={d:.3}"));
                        (c.engine.clone(), d)
                    })
                    .collect(),
            ),
            _ => each(
                others
                    .iter()
                    .map(|other| {
                        let cell = match ((row.value)(other), (row.value)(reference_figures)) {
                            (Some(sim), Some(reference)) => row.unit.difference(sim, reference),
                            _ => String::new(),
                        };
                        (other.engine.clone(), cell)
                    })
                    .collect(),
            ),
        };
        line.push(if delta.is_empty() { "-".into() } else { delta });
        if row_checks.is_empty() {
            line.extend(["-".to_owned(), "-".to_owned()]);
        } else {
            line.push(tolerance_cell(row_checks[0]));
            let mut verdict = each(
                row_checks
                    .iter()
                    .map(|c| (c.engine.clone(), verdict_cell(c, spec.min_lookups)))
                    .collect(),
            );
            if let Some(warning) = warning {
                let _ = write!(
                    verdict,
                    "; {} figures unreliable ({warning})",
                    reference_figures.engine
                );
            }
            line.push(verdict);
        }
        lines.push(line);
    }
    render(&lines)
}

/// Cells in columns padded to their widest, two spaces apart.
fn render(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            lines
                .iter()
                .filter_map(|line| line.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    }
    text
}

#[cfg(test)]
mod tests;
