//! Whether the machine kept up with a live run: its lags, measured three ways, and the
//! datagrams the kernel dropped.
//!
//! In: every datagram's lateness as a shim hands it to its driver (the time past the
//! moment the world said it was due), the overshoot of a probe task that sleeps 5 ms
//! at a time on the runtime's workers, the runner's lateness at each step, and the
//! kernel's per-socket drop counters (`/proc/net/udp`, Linux). Out: [`LiveFigures`]
//! for the report, with a warning for each limit passed: a run whose machine did not
//! keep up says so instead of handing out wrong figures.
//!
//! Histograms are atomics in 50 µs buckets up to 51.2 ms (above that, one bucket and
//! the maximum): no lock on the datagram path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::report::LiveFigures;

/// Buckets of [`BUCKET_MICROS`] each, the last one open-ended.
const BUCKETS: usize = 1025;
const BUCKET_MICROS: u64 = 50;
/// A datagram handed later than this is late. Tokio's timers tick in whole
/// milliseconds and the workers park in whole milliseconds, so on an idle machine a
/// held datagram is handed 0–2.5 ms after it is due (quickstart: p50 1.15 ms, p99
/// 2.5 ms); lag is what goes beyond that.
pub const LATE: Duration = Duration::from_millis(5);
/// Share of late datagrams above which a run warns.
const LATE_SHARE_WARN: f64 = 0.01;
/// Probe lag (p99) above which a run warns.
const PROBE_WARN: Duration = Duration::from_millis(5);
/// The probe's sleep.
pub const PROBE_EVERY: Duration = Duration::from_millis(5);
/// Runner lateness above which a run warns.
const RUNNER_WARN: Duration = Duration::from_millis(50);

/// Durations in buckets; see the module docs.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
    over: AtomicU64,
    threshold: u64,
}

impl Histogram {
    /// Counts durations, and those over `threshold` apart.
    pub fn new(threshold: Duration) -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
            over: AtomicU64::new(0),
            threshold: threshold.as_micros() as u64,
        }
    }

    /// Counts one duration of `micros`.
    pub fn record(&self, micros: u64) {
        let bucket = usize::try_from(micros / BUCKET_MICROS).unwrap_or(usize::MAX);
        self.buckets[bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
        if micros > self.threshold {
            self.over.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Durations counted.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The share over the threshold.
    pub fn over_share(&self) -> f64 {
        self.over.load(Ordering::Relaxed) as f64 / self.count().max(1) as f64
    }

    /// The longest, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.max.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// The `q` quantile, in milliseconds: the upper edge of its bucket (at most 50 µs
    /// above the true value, never below it), or the maximum if that is less.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let count = self.count();
        if count == 0 {
            return 0.0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (bucket, n) in self.buckets.iter().enumerate() {
            seen += n.load(Ordering::Relaxed);
            if seen >= rank {
                let edge = (bucket as u64 + 1) * BUCKET_MICROS;
                return (edge as f64 / 1000.0).min(self.max_ms());
            }
        }
        self.max_ms()
    }
}

/// Seconds of a run whose lateness is kept second by second; later ones count in the
/// last.
const SECONDS: usize = 8192;
/// A second is lagged when more than this share of its datagrams were late.
const LAGGED_SHARE: f64 = 0.01;

/// The live engine's measurements; see the module docs.
#[derive(Debug)]
pub struct Watch {
    /// Lateness of datagrams handed to drivers.
    pub lateness: Histogram,
    /// Datagrams handed, and those late, in each simulated second.
    handed_in: Box<[AtomicU64]>,
    late_in: Box<[AtomicU64]>,
    /// The probe task's overshoot.
    pub probe: Histogram,
    /// The runner's lateness at its steps.
    pub runner: Histogram,
    /// Sends the kernel refused.
    pub send_failures: AtomicU64,
}

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            lateness: Histogram::new(LATE),
            handed_in: (0..SECONDS).map(|_| AtomicU64::new(0)).collect(),
            late_in: (0..SECONDS).map(|_| AtomicU64::new(0)).collect(),
            probe: Histogram::new(PROBE_WARN),
            runner: Histogram::new(RUNNER_WARN),
            send_failures: AtomicU64::new(0),
        }
    }
}

impl Watch {
    /// A datagram was handed to its driver at `now_micros`, `late_micros` after it was
    /// due.
    pub fn handed(&self, now_micros: u64, late_micros: u64) {
        self.lateness.record(late_micros);
        let second = usize::try_from(now_micros / 1_000_000).unwrap_or(usize::MAX);
        let second = second.min(SECONDS - 1);
        self.handed_in[second].fetch_add(1, Ordering::Relaxed);
        if late_micros > self.lateness.threshold {
            self.late_in[second].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The stretches of the run, in simulated seconds `[from, to)`, in which more than
    /// 1 % of the datagrams were late.
    pub fn lagged(&self) -> Vec<[f64; 2]> {
        let mut stretches: Vec<[f64; 2]> = Vec::new();
        for second in 0..SECONDS {
            let handed = self.handed_in[second].load(Ordering::Relaxed);
            let late = self.late_in[second].load(Ordering::Relaxed);
            if handed == 0 || (late as f64) <= LAGGED_SHARE * handed as f64 {
                continue;
            }
            let (from, to) = (second as f64, second as f64 + 1.0);
            match stretches.last_mut() {
                Some(last) if last[1] == from => last[1] = to,
                _ => stretches.push([from, to]),
            }
        }
        stretches
    }

    /// A send failed.
    pub fn send_failed(&self, error: &std::io::Error) {
        if self.send_failures.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(%error, "live engine: a send failed (counted in the report)");
        }
    }

    /// The figures for the report, with `kernel_drops` (`None`: not measured here)
    /// and the warnings they call for.
    pub fn figures(&self, kernel_drops: Option<u64>) -> LiveFigures {
        let mut warnings = Vec::new();
        let late_share = self.lateness.over_share();
        let lagged = self.lagged();
        if late_share > LATE_SHARE_WARN || !lagged.is_empty() {
            let when: Vec<String> = lagged
                .iter()
                .map(|[from, to]| format!("{from:.0}–{to:.0} s"))
                .collect();
            warnings.push(format!(
                "{:.1} % of datagrams reached their node more than {} ms late (p99 {:.1} ms), \
                 in the simulated seconds {}",
                late_share * 100.0,
                LATE.as_millis(),
                self.lateness.quantile_ms(0.99),
                when.join(", ")
            ));
        }
        let probe_p99 = self.probe.quantile_ms(0.99);
        if probe_p99 > PROBE_WARN.as_secs_f64() * 1000.0 {
            warnings.push(format!(
                "the runtime's workers were {probe_p99:.1} ms late at p99 (a 5 ms timer)"
            ));
        }
        if self.runner.max_ms() > RUNNER_WARN.as_secs_f64() * 1000.0 {
            warnings.push(format!(
                "the runner fell {:.0} ms behind the timeline",
                self.runner.max_ms()
            ));
        }
        if let Some(drops) = kernel_drops.filter(|&d| d > 0) {
            warnings.push(format!(
                "{drops} datagrams dropped in kernel receive buffers"
            ));
        }
        let failures = self.send_failures.load(Ordering::Relaxed);
        if failures > 0 {
            warnings.push(format!("{failures} sends refused by the kernel"));
        }
        LiveFigures {
            late_share,
            lateness_ms_p50: self.lateness.quantile_ms(0.5),
            lateness_ms_p99: self.lateness.quantile_ms(0.99),
            lateness_ms_max: self.lateness.max_ms(),
            probe_lag_ms_p99: probe_p99,
            probe_lag_ms_max: self.probe.max_ms(),
            runner_lag_ms_max: self.runner.max_ms(),
            kernel_drops,
            send_failures: failures,
            lagged,
            warnings,
            ..LiveFigures::default()
        }
    }
}

/// The kernel's receive-buffer drops of the UDP sockets on `ports` (IPv4, any local
/// address), from `/proc/net/udp`; `None` where there is no such file.
pub fn kernel_drops(ports: &std::collections::BTreeSet<u16>) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    Some(drops_in(&table, ports))
}

/// The `drops` column summed over the rows of `table` whose local port is in `ports`.
fn drops_in(table: &str, ports: &std::collections::BTreeSet<u16>) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (_, port) = fields.get(1)?.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            ports
                .contains(&port)
                .then(|| fields.last()?.parse::<u64>().ok())?
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_edges_never_below_the_truth() {
        let h = Histogram::new(Duration::from_millis(2));
        for micros in [100, 200, 300, 400, 5_000] {
            h.record(micros);
        }
        assert_eq!(h.count(), 5);
        assert!((h.over_share() - 0.2).abs() < 1e-9, "one of five over 2 ms");
        let p50 = h.quantile_ms(0.5);
        assert!((0.3..=0.35).contains(&p50), "{p50}");
        assert!(
            (h.quantile_ms(1.0) - 5.0).abs() < 1e-9,
            "the max caps the edge"
        );
    }

    #[test]
    fn kernel_drops_are_summed_over_our_ports_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            1: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 1 2 0000000000000000 7\n\
            2: 0100007F:1F91 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 1 2 0000000000000000 5\n\
            3: 0100007F:0050 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 1 2 0000000000000000 100\n";
        let ours = [0x1F90, 0x1F91].into_iter().collect();
        assert_eq!(drops_in(table, &ours), 12);
    }

    #[test]
    fn a_machine_that_kept_up_has_no_warnings_and_one_that_did_not_says_why() {
        let watch = Watch::default();
        for second in 0..10 {
            for _ in 0..100 {
                watch.handed(second * 1_000_000, 300);
            }
        }
        watch.handed(9_500_000, 4_000); // not late: within the timers' granularity
        assert!(watch.figures(Some(0)).warnings.is_empty());
        assert!(watch.lagged().is_empty());
        for second in [3, 4, 7] {
            for _ in 0..5 {
                watch.handed(second * 1_000_000 + 10, 9_000);
            }
        }
        assert_eq!(watch.lagged(), vec![[3.0, 5.0], [7.0, 8.0]]);
        let figures = watch.figures(Some(12));
        assert_eq!(figures.warnings.len(), 2, "{:?}", figures.warnings);
        assert!(
            figures.warnings[0].contains("3–5 s, 7–8 s"),
            "{:?}",
            figures.warnings
        );
        assert!(figures.warnings[1].contains("12 datagrams dropped"));
    }
}
