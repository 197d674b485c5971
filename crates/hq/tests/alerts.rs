//! The alert rules and the Grafana dashboard shipped in `deploy/`: promtool
//! (Debian's `prometheus` package, installed by scripts/setup.sh) checks
//! the rules and runs their tests over hand-made series, and every metric
//! the rules and the dashboard name is one head office serves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use shouyin_core::ChannelKind;
use shouyin_hq::channel_metrics::ChannelMetrics;
use shouyin_hq::metrics::Metrics;
use shouyin_hq::wire::{CallKind, CallLine, ChannelReport, StoreCode, CALL_BUCKET_SLOTS};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// promtool from PATH; its absence is a failure (setup installs it).
fn promtool() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("promtool is not installed: run scripts/setup.sh (Debian package `prometheus`)")
        })
}

fn run(args: &[&str]) -> String {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(deploy().join("prometheus"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rules_and_their_tests_pass() {
    let checked = run(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS: 5 rules found"), "{checked}");
    let tested = run(&["test", "rules", "alerts_test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// The metric names head office's `/metrics` declares, with a histogram's
/// `_bucket`, `_sum` and `_count` series.
fn served_names() -> BTreeSet<String> {
    let channels = ChannelMetrics::default();
    let t: DateTime<Utc> = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let mut buckets = vec![0; CALL_BUCKET_SLOTS];
    buckets[0] = 1;
    channels
        .ingest(
            &StoreCode::parse("SH01").unwrap(),
            "T01",
            &ChannelReport {
                from: t,
                to: t,
                lines: vec![CallLine {
                    channel: ChannelKind::Wechat,
                    call: CallKind::Create,
                    ok: 1,
                    refused: 0,
                    indeterminate: 0,
                    untrusted: 0,
                    buckets,
                    sum_ms: 10,
                }],
                store_name: None,
            },
            t,
            t.date_naive(),
        )
        .unwrap();
    let mut text = Metrics::default().render();
    channels.render(&mut text);
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Every `shouyin_…` identifier in a query.
fn metric_names(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("shouyin_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

fn queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "query" | "definition", serde_json::Value::String(q)) => {
                        out.push(q.clone())
                    }
                    _ => queries(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_parses_and_names_only_served_metrics() {
    let served = served_names();
    for required in [
        "shouyin_channel_calls_total",
        "shouyin_channel_call_seconds",
        "shouyin_channel_confirm_seconds",
        "shouyin_terminal_last_report_timestamp_seconds",
    ] {
        assert!(
            served.contains(required),
            "{required} not served: {served:?}"
        );
    }
    let text = std::fs::read_to_string(deploy().join("grafana/shouyin-channels.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(
        panels.len() >= 4,
        "error ratio, latency, confirmations, silence"
    );
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let mut named = 0;
    for query in &all {
        for name in metric_names(query) {
            assert!(
                served.contains(&name),
                "the dashboard names {name}, which head office does not serve: {query}"
            );
            named += 1;
        }
    }
    assert!(
        named >= 8,
        "only {named} metric references in {} queries",
        all.len()
    );
    // Every panel has a query.
    for panel in panels {
        let mut q = Vec::new();
        queries(panel, &mut q);
        assert!(!q.is_empty(), "panel {} has no query", panel["title"]);
    }
}

#[test]
fn the_alert_rules_name_only_served_metrics() {
    let served = served_names();
    let rules = std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap();
    let names = metric_names(&rules);
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        assert!(
            served.contains(&name),
            "alerts.yml names {name}, which head office does not serve"
        );
    }
}
