//! `shouyin report` and `shouyin export` run as a script would run them, on
//! ledger files with fixed times; CSV read back by Python's csv module.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shouyin_core::{BusinessCalendar, ChannelKind, Money, OrderState, TerminalId};
use shouyin_ledger::refunds::{NewRefund, RefundOutcome};
use shouyin_ledger::{Change, Ledger, NewOrder, Order, TerminalSetup};

fn shouyin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn sale(
    l: &mut Ledger,
    channel: ChannelKind,
    fen: i64,
    cashier: &str,
    note: Option<&str>,
    at: &str,
) -> Order {
    let o = l
        .create_order(
            &NewOrder {
                amount: Money::cny(fen),
                channel,
                cashier: Some(cashier.into()),
                note: note.map(str::to_owned),
            },
            utc(at),
        )
        .unwrap();
    if channel != ChannelKind::Cash {
        l.transition(o.id, &Change::to(OrderState::Pending), utc(at))
            .unwrap();
    }
    let paid = Change {
        paid_at: Some(utc(at)),
        ..Change::to(OrderState::Paid)
    };
    l.transition(o.id, &paid, utc(at)).unwrap()
}

/// A succeeded refund through the ledger's own calls, as the refunds
/// service records one: requested, then settled at `at` (its business day is
/// that of `at`).
fn refund(l: &mut Ledger, o: &Order, fen: i64, at: &str) {
    let requested = l
        .request_refund(
            &NewRefund {
                order_no: o.out_trade_no.clone(),
                amount_fen: fen,
                reason: None,
                requested_by: "李娜".into(),
                approver: None,
            },
            utc(at),
        )
        .unwrap();
    l.settle_refund(
        &requested.out_refund_no,
        &RefundOutcome::Succeeded {
            channel_refund_no: None,
            settled_at: utc(at),
        },
        utc(at),
    )
    .unwrap();
}

/// Shanghai, 04:00 cut-off. Business day 2026-11-21: a 02:00-local sale
/// (still the 21st's night, i.e. the 22nd's early hours belong to the 21st),
/// a Chinese note with a comma, a formula-like note, and a refund of the
/// 21st's sale on the 23rd.
fn fixture(dir: &Path) -> PathBuf {
    let db = dir.join("t.db");
    let setup = TerminalSetup {
        store: "南京路店".into(),
        terminal: TerminalId::parse("T07").unwrap(),
        calendar: BusinessCalendar::parse("Asia/Shanghai", "04:00").unwrap(),
        sale_limit_fen: 5_000_000,
    };
    let mut l = Ledger::create(&db, &setup, utc("2026-01-01T00:00:00Z")).unwrap();
    use ChannelKind::*;
    // 09:15 local on the 21st.
    sale(
        &mut l,
        Cash,
        1230,
        "王芳",
        Some("两瓶水，一包烟"),
        "2026-11-21T01:15:00Z",
    );
    // 12:40 local.
    let big = sale(&mut l, Alipay, 25000, "李娜", None, "2026-11-21T04:40:00Z");
    // 02:00 local on the 22nd: before the cut-off, so the 21st.
    sale(
        &mut l,
        Wechat,
        999,
        "李娜",
        Some("=1+2"),
        "2026-11-21T18:00:00Z",
    );
    // 04:00 local on the 22nd: the 22nd.
    sale(&mut l, Wechat, 500, "王芳", None, "2026-11-21T20:00:00Z");
    // The 21st's alipay sale part-refunded on the 23rd (10:00 local).
    refund(&mut l, &big, 5000, "2026-11-23T02:00:00Z");
    db
}

fn report_json(db: &Path, date: &str) -> Value {
    let out = ok(&shouyin(&[
        "report",
        "daily",
        "--db",
        db.to_str().unwrap(),
        "--date",
        date,
        "--json",
    ]));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn report_daily_and_range_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path());
    let r = report_json(&db, "2026-11-21");
    assert_eq!(r["date"], "2026-11-21");
    assert_eq!(r["count"], 3);
    // 12.30 + 250.00 + 9.99; the refund is on the 23rd.
    assert_eq!(r["gross"], "272.29");
    assert_eq!(r["refunds"], "0.00");
    assert_eq!(r["net"], "272.29");
    // 272.29 / 3 = 90.763… -> 90.76.
    assert_eq!(r["average"], "90.76");
    let channels: Vec<(&str, &str)> = r["by_channel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["channel"].as_str().unwrap(), c["gross"].as_str().unwrap()))
        .collect();
    assert_eq!(
        channels,
        [("alipay", "250.00"), ("wechat", "9.99"), ("cash", "12.30")]
    );
    let hours: Vec<u64> = r["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hour"].as_u64().unwrap())
        .collect();
    assert_eq!(hours, [9, 12, 2]);
    for line in r["by_cashier"].as_array().unwrap() {
        for key in ["count", "gross", "refunds", "net"] {
            assert!(line.get(key).is_some(), "by_cashier has {key}: {line}");
        }
    }

    let r23 = report_json(&db, "2026-11-23");
    assert_eq!(
        (r23["count"].as_u64(), r23["refunds"].as_str()),
        (Some(0), Some("50.00"))
    );
    assert_eq!(r23["net"], "-50.00");
    assert_eq!(r23["by_cashier"][0]["cashier"], "李娜");

    // key=value output for scripts.
    let text = ok(&shouyin(&[
        "report",
        "daily",
        "--db",
        db.to_str().unwrap(),
        "--date",
        "2026-11-21",
    ]));
    assert_eq!(value(&text, "gross"), "272.29");
    assert_eq!(value(&text, "count"), "3");
    assert!(text.contains("channel=alipay count=1 gross=250.00 refunds=0.00 net=250.00"));

    let range = ok(&shouyin(&[
        "report",
        "range",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-23",
        "--json",
    ]));
    let range: Value = serde_json::from_str(&range).unwrap();
    assert_eq!(range["days"].as_array().unwrap().len(), 4);
    assert_eq!(range["totals"]["gross"], "277.29");
    assert_eq!(range["totals"]["refunds"], "50.00");
    assert_eq!(range["totals"]["net"], "227.29");
    let text = ok(&shouyin(&[
        "report",
        "range",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-23",
    ]));
    assert_eq!(value(&text, "days"), "4");
    assert_eq!(value(&text, "net"), "227.29");

    let bad = shouyin(&[
        "report",
        "daily",
        "--db",
        db.to_str().unwrap(),
        "--date",
        "2026-13-01",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));
}

/// Read a CSV with Python's csv module (as `utf-8-sig`, which is what a
/// BOM-aware reader does) and print what it saw as JSON.
fn python_read(csv: &Path) -> Value {
    let script = r#"
import csv, json, sys
path = sys.argv[1]
raw = open(path, 'rb').read()
with open(path, newline='', encoding='utf-8-sig') as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
col = {name: i for i, name in enumerate(header)}
def fen(text):
    sign = -1 if text.startswith('-') else 1
    yuan, cents = text.lstrip('-').split('.')
    assert len(cents) == 2, text
    return sign * (int(yuan) * 100 + int(cents))
sales = [r for r in body
         if r[col['kind']] == 'sale' and r[col['state']] in ('paid', 'part_refunded', 'refunded')]
refunds = [r for r in body if r[col['kind']] == 'refund']
print(json.dumps({
    'bom': raw.startswith(b'\xef\xbb\xbf'),
    'header': header,
    'rows': len(body),
    'sales': len(sales),
    'gross_fen': sum(fen(r[col['amount']]) for r in sales),
    'refund_rows': len(refunds),
    'refunded_fen': -sum(fen(r[col['amount']]) for r in refunds),
    'refund_nos': [r[col['refund_no']] for r in refunds],
    'original_order_nos': [r[col['original_order_no']] for r in refunds],
    'net_fen': sum(fen(r[col['net']]) for r in body),
    'notes': [r[col['note']] for r in body],
    'created': [r[col['created_at']] for r in body],
}, ensure_ascii=False))
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(csv)
        .output()
        .expect("python3 is needed to read the export back as a spreadsheet user's tools would");
    assert!(
        o.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn export_csv_read_back_by_python_matches_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path());
    let out = dir.path().join("day.csv");
    let printed = ok(&shouyin(&[
        "export",
        "csv",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-21",
        "--to",
        "2026-11-21",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(value(&printed, "rows"), "3");
    let seen = python_read(&out);
    assert_eq!(seen["bom"], true);
    assert_eq!(
        seen["header"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect::<Vec<_>>().join(","),
        "business_date,created_at,paid_at,store,terminal,cashier,order_no,channel,channel_trade_no,state,amount,refunded,net,currency,note,kind,refund_no,original_order_no"
    );
    let report = report_json(&db, "2026-11-21");
    assert_eq!(seen["rows"], 3);
    assert_eq!(seen["sales"], report["count"]);
    assert_eq!(seen["gross_fen"], report["gross_fen"]);
    assert_eq!(value(&printed, "gross"), report["gross"].as_str().unwrap());
    assert_eq!(
        seen["notes"],
        json!(["两瓶水，一包烟", "", "'=1+2"]),
        "Chinese text intact; a formula neutralised"
    );
    assert_eq!(
        seen["created"],
        json!([
            "2026-11-21T09:15:00+08:00",
            "2026-11-21T12:40:00+08:00",
            "2026-11-22T02:00:00+08:00"
        ])
    );

    // The whole range: the refund row adds up to the range's refunds.
    let all = dir.path().join("all.csv");
    let printed = ok(&shouyin(&[
        "export",
        "csv",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-23",
        "--out",
        all.to_str().unwrap(),
        "--no-bom",
        "--progress",
    ]));
    assert_eq!(value(&printed, "rows"), "5");
    assert_eq!(value(&printed, "refunds"), "1");
    let seen = python_read(&all);
    assert_eq!(seen["bom"], false, "--no-bom");
    assert_eq!(seen["refund_rows"], 1);
    assert_eq!(seen["refunded_fen"], 5000);
    assert_eq!(seen["net_fen"], 27729 - 5000);
    let big = seen["original_order_nos"][0].as_str().unwrap().to_owned();
    assert_eq!(seen["refund_nos"], json!([format!("{big}_R1")]));
    // The refund's own day, the 23rd, adds up to that day's report alone.
    let day23 = dir.path().join("day23.csv");
    ok(&shouyin(&[
        "export",
        "csv",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-23",
        "--out",
        day23.to_str().unwrap(),
    ]));
    let seen = python_read(&day23);
    let report = report_json(&db, "2026-11-23");
    assert_eq!(seen["net_fen"], report["net_fen"]);
    assert_eq!(seen["refunded_fen"], report["refunds_fen"]);
    assert_eq!(seen["net_fen"], -5000);
    // Again to the same file: refused without --overwrite.
    let o = shouyin(&[
        "export",
        "csv",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-23",
        "--out",
        all.to_str().unwrap(),
        "--progress",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("export_file_exists"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = shouyin(&[
        "export",
        "csv",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-23",
        "--out",
        all.to_str().unwrap(),
        "--progress",
        "--overwrite",
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("progress=5/5"));

    // A channel filter, and XLSX from the same command line.
    let xlsx = dir.path().join("wechat.xlsx");
    let printed = ok(&shouyin(&[
        "export",
        "xlsx",
        "--db",
        db.to_str().unwrap(),
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-23",
        "--channel",
        "wechat",
        "--out",
        xlsx.to_str().unwrap(),
    ]));
    assert_eq!(value(&printed, "rows"), "2");
    assert_eq!(value(&printed, "gross"), "14.99");
    let bytes = std::fs::read(&xlsx).unwrap();
    assert!(bytes.starts_with(b"PK"), "an XLSX is a zip file");
}

#[test]
fn seeded_ledgers_report_refunds_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    ok(&shouyin(&[
        "init",
        "--db",
        db.to_str().unwrap(),
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]));
    ok(&shouyin(&[
        "seed",
        "--db",
        db.to_str().unwrap(),
        "--days",
        "4",
        "--per-day",
        "500",
        "--seed",
        "3",
    ]));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let refunded_orders = q("SELECT count(*) FROM orders WHERE refunded_fen > 0");
    assert!(refunded_orders > 0);
    assert_eq!(
        q("SELECT count(*) FROM refunds WHERE state = 'succeeded'"),
        refunded_orders
    );
    assert_eq!(
        q("SELECT sum(amount_fen) FROM refunds"),
        q("SELECT sum(refunded_fen) FROM orders")
    );
    assert_eq!(
        q("SELECT count(*) FROM events WHERE kind = 'refund_succeeded'"),
        refunded_orders
    );
    assert_eq!(
        q("SELECT count(*) FROM orders WHERE state IN ('part_refunded', 'refunded') AND refunded_fen > 0"),
        refunded_orders
    );
    assert_eq!(
        q("SELECT count(DISTINCT out_refund_no) FROM refunds"),
        refunded_orders,
        "each refund has its own number"
    );
    let (first, last): (String, String) = conn
        .query_row(
            "SELECT min(business_date), max(business_date) FROM refunds",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let (first_sale, _): (String, String) = conn
        .query_row(
            "SELECT min(business_date), max(business_date) FROM orders",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let from = first.min(first_sale);
    let range: Value = serde_json::from_str(&ok(&shouyin(&[
        "report",
        "range",
        "--db",
        db.to_str().unwrap(),
        "--from",
        &from,
        "--to",
        &last,
        "--json",
    ])))
    .unwrap();
    assert_eq!(
        range["totals"]["refunds_fen"].as_i64().unwrap(),
        q("SELECT sum(refunded_fen) FROM orders")
    );
    assert_eq!(
        range["totals"]["gross_fen"].as_i64().unwrap(),
        q("SELECT sum(amount_fen) FROM orders WHERE state IN ('paid', 'part_refunded', 'refunded')")
    );
    // A refund counts on its own business day.
    let day_refunds: i64 = conn
        .query_row(
            "SELECT COALESCE(sum(amount_fen), 0) FROM refunds WHERE business_date = ?1",
            [&last],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        report_json(&db, &last)["refunds_fen"].as_i64().unwrap(),
        day_refunds
    );
}

#[test]
fn bench_report_and_export_print_both_figures_and_ratios() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    ok(&shouyin(&[
        "init",
        "--db",
        db.to_str().unwrap(),
        "--store",
        "S",
        "--terminal",
        "T01",
    ]));
    ok(&shouyin(&[
        "seed",
        "--db",
        db.to_str().unwrap(),
        "--days",
        "3",
        "--per-day",
        "300",
    ]));
    let out = ok(&shouyin(&[
        "bench",
        "report",
        "--db",
        db.to_str().unwrap(),
        "--runs",
        "3",
    ]));
    for key in [
        "shouyin_report_ms_median",
        "sqlite3_queries_ms",
        "ratio_shouyin_over_sqlite3_queries",
        "shouyin_process_ms",
        "sqlite3_process_ms",
    ] {
        let v: f64 = value(&out, key).parse().unwrap();
        assert!(v > 0.0, "{key}={v}");
    }
    let out = ok(&shouyin(&[
        "bench",
        "export",
        "--db",
        db.to_str().unwrap(),
        "--rows",
        "500",
    ]));
    assert_eq!(value(&out, "orders"), "600", "whole days: two of 300");
    let refunds: u64 = value(&out, "refund_rows").parse().unwrap();
    assert_eq!(value(&out, "rows"), (600 + refunds).to_string());
    for key in [
        "shouyin_seconds",
        "sqlite3_seconds",
        "ratio_shouyin_over_sqlite3",
        "shouyin_peak_mib",
        "sqlite3_peak_mib",
    ] {
        let v: f64 = value(&out, key).parse().unwrap();
        assert!(v > 0.0, "{key}={v}");
    }
}

#[test]
fn export_never_writes_over_the_ledger_its_side_files_or_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = fixture(dir.path());
    let before = std::fs::read(&db).unwrap();
    let export = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "export",
            "csv",
            "--db",
            db.to_str().unwrap(),
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-21",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        shouyin(&args)
    };
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let link = sub.join("report.csv");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    for out in [
        db.clone(),
        dir.path().join("t.db-wal"),
        dir.path().join("t.db-shm"),
        sub.join("..").join("t.db"),
        link,
    ] {
        for extra in [&[][..], &["--overwrite"][..]] {
            let o = export(&out, extra);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success(), "{}", out.display());
            assert!(
                err.contains("export_path_forbidden"),
                "{}: {err}",
                out.display()
            );
        }
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the ledger is untouched"
    );
    assert!(!dir.path().join("t.db-wal").exists());

    let mine = sub.join("mine.csv");
    std::fs::write(&mine, "keep me").unwrap();
    let o = export(&mine, &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("export_file_exists"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "keep me");
    let printed = ok(&export(&mine, &["--overwrite"]));
    assert_eq!(value(&printed, "rows"), "3");
    assert!(std::fs::read_to_string(&mine).unwrap().contains("两瓶水"));
    // The ledger still reports as before.
    assert_eq!(report_json(&db, "2026-11-21")["count"], 3);
}
