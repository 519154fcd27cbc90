//! The HTML report of one run: one self-contained file (no script, no style sheet, no
//! font or image fetched from anywhere) with its charts drawn as inline SVG.
//!
//! In: the run's [`Report`] and its [`Series`] (what the runner sampled along the
//! way). Out: a page with the verdict, the seed and the `reproduce:` line, the
//! panic when the test-bed panicked, the expectations table, the lookup hops histogram, the lookup latency CDF, the routing
//! tables' fill over time, datagrams per second over time, and the JSON report.

use std::fmt::Write as _;

use crate::report::{Report, Series};

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 34.0;
const TOP: f64 = 14.0;
const RIGHT: f64 = 16.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round axis maximum at or above `max`.
fn nice_max(max: f64) -> f64 {
    if max.is_nan() || max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn format_tick(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// The frame of a chart: title, axes with four ticks each, axis labels.
struct Frame {
    x_max: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, x: f64) -> f64 {
        LEFT + (x / self.x_max) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y / self.y_max) * (HEIGHT - BOTTOM - TOP)
    }

    fn open(&self, out: &mut String, id: &str, title: &str, x_label: &str, y_label: &str) {
        let _ = write!(
            out,
            "<figure><figcaption>{}</figcaption><svg id=\"{id}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\"><title>{}</title>",
            escape(title),
            escape(title)
        );
        let (x0, y0, x1, y1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, TOP);
        let _ = write!(
            out,
            "<path d=\"M{x0},{y1}V{y0}H{x1}\" fill=\"none\" stroke=\"#444\"/>"
        );
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let (xv, yv) = (self.x_max * f, self.y_max * f);
            let (xp, yp) = (self.x(xv), self.y(yv));
            let _ = write!(
                out,
                "<text x=\"{xp:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                y0 + 13.0,
                format_tick(xv)
            );
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text><path d=\"M{x0},{yp:.1}H{x1}\" stroke=\"#ddd\"/>",
                x0 - 4.0,
                yp + 3.0,
                format_tick(yv)
            );
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            (x0 + x1) / 2.0,
            HEIGHT - 4.0,
            escape(x_label)
        );
        let _ = write!(
            out,
            "<text x=\"12\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 {:.1})\">{}</text>",
            (y0 + y1) / 2.0,
            (y0 + y1) / 2.0,
            escape(y_label)
        );
    }

    fn empty(out: &mut String, id: &str, title: &str) {
        let _ = write!(
            out,
            "<figure><figcaption>{}</figcaption><svg id=\"{id}\" class=\"chart empty\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} 40\" width=\"{WIDTH}\" height=\"40\"><text x=\"10\" y=\"24\" font-size=\"12\">nothing measured</text></svg></figure>",
            escape(title)
        );
    }
}

fn polyline(out: &mut String, frame: &Frame, points: &[(f64, f64)], color: &str, class: &str) {
    let mut d = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { "L" },
            frame.x(*x),
            frame.y(*y)
        );
    }
    let _ = write!(
        out,
        "<path class=\"{class}\" d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>"
    );
}

fn hops_histogram(out: &mut String, hops: &[u32]) {
    let title = "Lookup hops";
    if hops.is_empty() {
        return Frame::empty(out, "hops", title);
    }
    let top = hops.iter().copied().max().unwrap_or(0) as usize;
    let mut counts = vec![0usize; top + 1];
    for &h in hops {
        counts[h as usize] += 1;
    }
    let frame = Frame {
        x_max: (top + 1) as f64,
        y_max: nice_max(counts.iter().copied().max().unwrap_or(1) as f64),
    };
    frame.open(out, "hops", title, "hops", "lookups");
    for (h, &n) in counts.iter().enumerate() {
        let (x0, x1) = (frame.x(h as f64 + 0.1), frame.x(h as f64 + 0.9));
        let (y, base) = (frame.y(n as f64), frame.y(0.0));
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4a7fb0\"><title>{h} hops: {n} lookups</title></rect>",
            x1 - x0,
            base - y
        );
    }
    out.push_str("</svg></figure>");
}

fn latency_cdf(out: &mut String, latencies: &[f64]) {
    let title = "Lookup latency, cumulative";
    let mut sorted: Vec<f64> = latencies
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .collect();
    if sorted.is_empty() {
        return Frame::empty(out, "latency", title);
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let frame = Frame {
        x_max: nice_max(sorted[sorted.len() - 1]),
        y_max: 1.0,
    };
    frame.open(out, "latency", title, "latency (ms)", "share of lookups");
    let mut points = vec![(0.0, 0.0)];
    for (i, l) in sorted.iter().enumerate() {
        points.push((*l, i as f64 / n));
        points.push((*l, (i + 1) as f64 / n));
    }
    polyline(out, &frame, &points, "#4a7fb0", "cdf");
    out.push_str("</svg></figure>");
}

fn over_time(
    out: &mut String,
    id: &str,
    title: &str,
    y_label: &str,
    lines: &[(&str, Vec<(f64, f64)>)],
) {
    if lines.iter().all(|(_, p)| p.is_empty()) {
        return Frame::empty(out, id, title);
    }
    let x_max = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(0.0, f64::max);
    let y_max = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0, f64::max);
    let frame = Frame {
        x_max: nice_max(x_max),
        y_max: nice_max(y_max),
    };
    frame.open(out, id, title, "simulated seconds", y_label);
    for (i, (color, points)) in lines.iter().enumerate() {
        polyline(out, &frame, points, color, &format!("series{i}"));
    }
    out.push_str("</svg></figure>");
}

/// The faults' figures, when the run had any: churn, crashes and restarts, the
/// liveness check, NAT drops and connects by pair of NATs.
fn faults_table(out: &mut String, report: &Report) {
    let c = &report.churn;
    let a = &report.lookups_after_faults;
    let k = &report.connect;
    let rows: Vec<(String, String)> = [
        ("nodes that left (churn)", c.left, c.left + c.joined > 0),
        ("of them, saying goodbye", c.left_gracefully, c.left > 0),
        ("nodes that joined (churn)", c.joined, c.left + c.joined > 0),
        ("nodes that crashed", c.crashed, c.crashed > 0),
        ("nodes that restarted", c.restarted, c.crashed > 0),
        (
            "restarted nodes not behind a NAT",
            c.restarted_listable,
            c.crashed > 0,
        ),
        (
            "of them, in others' tables",
            c.restarted_known,
            c.crashed > 0,
        ),
        (
            "datagrams NATs dropped",
            report.faults.nat_dropped as usize,
            report.faults.nat_dropped > 0,
        ),
    ]
    .into_iter()
    .filter(|(_, _, shown)| *shown)
    .map(|(name, value, _)| (name.to_owned(), value.to_string()))
    .chain((c.left + c.joined + c.crashed > 0).then(|| {
        (
            format!("lookups from {:.0} s on (after faults)", a.from_seconds),
            format!("{} of {} found", a.succeeded, a.issued),
        )
    }))
    .chain(k.by_nat.iter().map(|(pair, n)| {
        (
            format!("connects {pair}"),
            format!(
                "{} of {}: {} direct, {} punched, {} relayed, {} mailbox",
                n.connected(),
                n.attempts,
                n.direct,
                n.punched,
                n.relayed,
                n.mailbox
            ),
        )
    }))
    .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("<h2>Faults</h2><table id=\"faults\"><tr><th>what</th><th>figure</th></tr>");
    for (name, value) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&name),
            escape(&value)
        );
    }
    out.push_str("</table>");
}

/// The whole page.
pub fn render(report: &Report, series: &Series, reproduce: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let verdict = if report.pass { "PASS" } else { "FAIL" };
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dswarm: {} seed {} {verdict}</title>",
        escape(&report.scenario),
        report.seed
    );
    out.push_str("<style>body{font-family:sans-serif;max-width:1200px;margin:1em auto;color:#222}figure{display:inline-block;margin:.5em}figcaption{font-weight:bold}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}.pass{color:#176b2c}.fail{color:#b0201a}code{background:#f4f4f4;padding:1px 4px}</style></head><body>");
    let class = if report.pass { "pass" } else { "fail" };
    let _ = write!(
        out,
        "<h1>{} <span id=\"verdict\" class=\"{class}\">{verdict}</span></h1>",
        escape(&report.scenario)
    );
    let _ = write!(
        out,
        "<p>seed <b id=\"seed\">{}</b> · {} nodes · engine {} · crypto {} · {:.1} simulated s in {:.1} s · trace <code>{}</code></p><p>reproduce: <code id=\"reproduce\">{}</code></p>",
        report.seed,
        report.nodes,
        escape(&report.engine),
        escape(&report.crypto),
        report.sim_seconds,
        report.wall_seconds,
        escape(report.trace_hash.as_deref().unwrap_or("not claimed (not reproducible)")),
        escape(reproduce)
    );
    if let Some(panic) = &report.panic {
        let _ = write!(
            out,
            "<p id=\"panic\" class=\"fail\">the test-bed panicked at {:.3} simulated s: <code>{}</code></p>",
            report.sim_seconds,
            escape(panic)
        );
    }
    out.push_str("<h2>Expectations</h2><table id=\"expectations\"><tr><th>metric</th><th>expected</th><th>measured</th><th></th></tr>");
    for v in &report.expectations {
        let actual = v.actual.map_or("nothing".into(), |a| format!("{a:.4}"));
        let (class, word) = if v.pass {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{actual}</td><td class=\"{class}\">{word}</td></tr>",
            escape(&v.name),
            escape(&v.expected)
        );
    }
    out.push_str("</table>");
    faults_table(&mut out, report);
    out.push_str("<h2>Charts</h2>");
    hops_histogram(&mut out, &series.hops);
    latency_cdf(&mut out, &series.latencies_ms);
    let mean: Vec<(f64, f64)> = series.table_fill.iter().map(|(t, m, _)| (*t, *m)).collect();
    let least: Vec<(f64, f64)> = series.table_fill.iter().map(|(t, _, l)| (*t, *l)).collect();
    over_time(
        &mut out,
        "tables",
        "Routing tables: mean (blue) and fewest (orange) verified peers",
        "peers",
        &[("#4a7fb0", mean), ("#e08a1e", least)],
    );
    over_time(
        &mut out,
        "messages",
        "Datagrams sent per simulated second",
        "datagrams/s",
        &[("#4a7fb0", series.messages_per_sec.clone())],
    );
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    let _ = writeln!(
        out,
        "<h2>Report</h2><details><summary>the JSON report</summary><pre id=\"report-json\">{}</pre></details></body></html>",
        escape(&json)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(2400.0), 2500.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
