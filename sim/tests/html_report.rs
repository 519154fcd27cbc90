//! `dswarm run --html`: one self-contained file, rendered by headless Chromium (Debian's
//! `chromium`; `.ci/run` installs it), with the four charts and the expectations.
//!
//! Without Chromium on the machine the rendering half is skipped with a note, unless
//! `DSWARM_REQUIRE_CHROMIUM=1` (as `.ci/run` sets) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

mod cli;

use cli::chromium;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dswarm-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn headless(browser: &str, args: &[&str], page: &Path) -> std::process::Output {
    Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[test]
fn the_html_report_is_one_self_contained_file_with_its_charts() {
    let page = temp("tiny.html");
    let out = Command::new(env!("CARGO_BIN_EXE_dswarm"))
        .args(["run", "tests/data/tiny-fails.toml", "--quiet", "--html"])
        .arg(&page)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "tiny-fails fails");
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing to fetch: no script, no style sheet, image or font from elsewhere.
    for outside in ["<script", "<link", "<img", "src=", "url(", "https://"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
    assert!(html.contains(
        "reproduce: <code id=\"reproduce\">dswarm run tests/data/tiny-fails.toml --seed 4</code>"
    ));
    assert!(html.contains("<td>lookup_hops_p95</td><td>&lt; 0</td>"));
    assert!(html.contains("class=\"fail\">FAIL"));

    let Some(browser) = chromium() else {
        let required = std::env::var_os("DSWARM_REQUIRE_CHROMIUM").is_some();
        assert!(
            !required,
            "DSWARM_REQUIRE_CHROMIUM is set but no chromium was found"
        );
        eprintln!("note: no chromium on this machine; rendering not checked");
        return;
    };
    let dom = headless(browser, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for chart in ["hops", "latency", "tables", "messages"] {
        assert!(
            dom.contains(&format!("<svg id=\"{chart}\" class=\"chart\"")),
            "chart {chart} is rendered with data: {}",
            &dom[..dom.len().min(400)]
        );
    }
    assert!(dom.matches("class=\"bar\"").count() >= 1, "hops bars");
    assert!(dom.contains("class=\"cdf\""), "the latency curve");
    assert!(dom.contains("class=\"series0\"") && dom.contains("class=\"series1\""));
    // And it paints: a screenshot of the charts is far from a blank page.
    let shot = temp("tiny.png");
    let screenshot = format!("--screenshot={}", shot.display());
    headless(browser, &[&screenshot, "--window-size=1200,1400"], &page);
    let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
    assert!(size > 20_000, "screenshot of {size} bytes");
}
