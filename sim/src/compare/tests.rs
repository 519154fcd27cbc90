use super::*;

fn figures(engine: &str, success: f64, hops_p95: u32, latencies: Vec<f64>) -> Figures {
    let lookups = latencies.len() as u64;
    Figures {
        engine: engine.to_owned(),
        lookups,
        lookup_success: Some(success),
        lookups_found: lookups,
        hops_p50: Some(2),
        hops_p95: Some(hops_p95),
        latency_ms_p50: latencies.get(latencies.len() / 2).copied(),
        latencies_ms: latencies,
        ..Figures::default()
    }
}

/// `count` latencies spread evenly from `from` to `from + span` milliseconds.
fn spread(count: usize, from: f64, span: f64) -> Vec<f64> {
    (0..count)
        .map(|i| from + span * i as f64 / count as f64)
        .collect()
}

fn verdict(checks: &[Check], figure: &str) -> Agreement {
    checks
        .iter()
        .find(|check| check.figure == figure)
        .map(|check| check.verdict)
        .expect("the check is there")
}

#[test]
fn identical_samples_have_d_0() {
    let sample = [3.0, 1.0, 2.0, 2.0, 5.0];
    assert_eq!(ks_statistic(&sample, &sample), Some(0.0));
}

#[test]
fn disjoint_samples_have_d_1() {
    assert_eq!(ks_statistic(&[1.0, 2.0, 3.0], &[4.0, 5.0]), Some(1.0));
    assert_eq!(ks_statistic(&[4.0, 5.0], &[1.0, 2.0, 3.0]), Some(1.0));
}

#[test]
fn an_empty_sample_has_no_d() {
    assert_eq!(ks_statistic(&[], &[1.0]), None);
    assert_eq!(ks_statistic(&[1.0], &[]), None);
}

/// a = 1 2 2 3 5, b = 2 3 3 4 (unsorted on purpose). Stepping over ties in both:
/// x=1: 1/5 − 0/4 = 0.20; x=2: 3/5 − 1/4 = 0.35; x=3: 4/5 − 3/4 = 0.05;
/// x=4: 4/5 − 4/4 = −0.20. D = 0.35. Stepping over a's 2s alone would read
/// 3/5 − 0/4 = 0.6 at x=2.
#[test]
fn five_against_four_with_ties() {
    let a = [2.0, 5.0, 1.0, 3.0, 2.0];
    let b = [3.0, 2.0, 4.0, 3.0];
    let d = ks_statistic(&a, &b).unwrap();
    assert!((d - 0.35).abs() < 1e-12, "{d}");
    assert!((ks_statistic(&b, &a).unwrap() - 0.35).abs() < 1e-12);
}

#[test]
fn the_critical_coefficients_are_the_tabled_ones() {
    assert!((ks_c(0.05) - 1.358).abs() < 1e-3, "{}", ks_c(0.05));
    assert!((ks_c(0.01) - 1.628).abs() < 1e-3, "{}", ks_c(0.01));
    // c(α)·√((n + m)/(n·m)): 100 against 100 at 0.05.
    let critical = ks_critical(0.05, 100, 100);
    assert!(
        (critical - 1.358 * 0.02_f64.sqrt()).abs() < 1e-3,
        "{critical}"
    );
    assert_eq!(ks_critical(0.05, 0, 10), f64::INFINITY);
}

#[test]
fn the_reference_is_live_or_the_last_engine() {
    assert_eq!(reference_index(&["direct", "live", "turmoil"]), Some(1));
    assert_eq!(reference_index(&["direct", "turmoil"]), Some(1));
    assert_eq!(reference_index(&[]), None);
}

#[test]
fn success_within_one_point_agrees_and_beyond_it_disagrees() {
    let spec = CompareSpec::default();
    let reference = figures("live", 0.995, 4, spread(200, 10.0, 100.0));
    let close = figures("direct", 0.985, 4, spread(200, 10.0, 100.0));
    assert_eq!(
        verdict(&check(&close, &reference, &spec), SUCCESS),
        Agreement::Agree
    );
    let far = figures("direct", 0.98, 4, spread(200, 10.0, 100.0));
    let checks = check(&far, &reference, &spec);
    assert_eq!(verdict(&checks, SUCCESS), Agreement::Disagree);
    assert!(!all_agree(&checks));
}

#[test]
fn hops_within_one_agree_and_two_apart_disagree() {
    let spec = CompareSpec::default();
    let reference = figures("live", 1.0, 4, spread(200, 10.0, 100.0));
    let one_off = figures("direct", 1.0, 5, spread(200, 10.0, 100.0));
    assert_eq!(
        verdict(&check(&one_off, &reference, &spec), HOPS_P95),
        Agreement::Agree
    );
    let two_off = figures("direct", 1.0, 2, spread(200, 10.0, 100.0));
    assert_eq!(
        verdict(&check(&two_off, &reference, &spec), HOPS_P95),
        Agreement::Disagree
    );
}

#[test]
fn latencies_alike_agree_and_shifted_ones_disagree_unless_under_the_floor() {
    let spec = CompareSpec::default();
    let reference = figures("live", 1.0, 4, spread(400, 10.0, 100.0));
    // Shifted by half a millisecond: D = 0.005, far under c(0.01)·√(2/400) ≈ 0.115.
    let alike = figures("direct", 1.0, 4, spread(400, 10.5, 100.0));
    let checks = check(&alike, &reference, &spec);
    assert_eq!(verdict(&checks, LATENCY), Agreement::Agree);
    assert!(all_agree(&checks));
    // Shifted by 30 ms: D = 0.3.
    let shifted = figures("direct", 1.0, 4, spread(400, 40.0, 100.0));
    let checks = check(&shifted, &reference, &spec);
    let latency = checks.iter().find(|c| c.figure == LATENCY).unwrap();
    assert_eq!(latency.verdict, Agreement::Disagree);
    assert!((latency.statistic.unwrap() - 0.3).abs() < 0.01);
    assert!((latency.critical.unwrap() - ks_critical(0.01, 400, 400)).abs() < 1e-12);
    // With a floor above D, it agrees: the difference is real but small enough.
    let floor = CompareSpec {
        latency_d: Some(0.4),
        ..CompareSpec::default()
    };
    assert_eq!(
        verdict(&check(&shifted, &reference, &floor), LATENCY),
        Agreement::Agree
    );
}

#[test]
fn too_few_lookups_are_inconclusive_not_failures() {
    let spec = CompareSpec::default();
    let reference = figures("live", 1.0, 4, spread(400, 10.0, 100.0));
    let few = figures("direct", 0.5, 9, spread(20, 500.0, 100.0));
    let checks = check(&few, &reference, &spec);
    for figure in [SUCCESS, HOPS_P95, LATENCY] {
        assert_eq!(
            verdict(&checks, figure),
            Agreement::Inconclusive,
            "{figure}"
        );
    }
    assert!(all_agree(&checks));
    let none = Figures {
        engine: "direct".to_owned(),
        ..Figures::default()
    };
    let checks = check(&none, &reference, &spec);
    assert!(checks.iter().all(|c| c.verdict == Agreement::Inconclusive));
}

#[test]
fn the_table_shows_each_engine_the_difference_and_the_verdicts() {
    let spec = CompareSpec::default();
    let all = [
        figures("direct", 0.98, 4, spread(200, 10.0, 100.0)),
        figures("turmoil", 1.0, 4, spread(200, 10.0, 100.0)),
    ];
    let checks = check(&all[0], &all[1], &spec);
    let text = table(&all, 1, &checks, &spec, None);
    let row = |label: &str| {
        text.lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("a {label} row in\n{text}"))
            .to_owned()
    };
    assert!(text.lines().next().unwrap().contains("turmoil (reference)"));
    let success = row("lookup success");
    assert!(
        success.contains("98.0 %") && success.contains("100.0 %"),
        "{success}"
    );
    assert!(
        success.contains("-2.0 pt") && success.contains("±1.0 pt"),
        "{success}"
    );
    assert!(success.contains("DISAGREE"), "{success}");
    assert!(row("hops p95").contains("agree"));
    assert!(row("latency distribution (KS)").contains("D=0.000"));
    // No records or topics in these runs: no rows for them.
    assert!(!text.contains("get success"));
    let warned = table(&all, 1, &checks, &spec, Some("lag"));
    assert!(
        warned.contains("turmoil figures unreliable (lag)"),
        "{warned}"
    );
}
