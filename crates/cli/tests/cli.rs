//! The `shouyin` binary run as a script would run it, in a temp dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn shouyin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn init(db: &Path) {
    let o = shouyin(&[
        "init",
        "--db",
        db.to_str().unwrap(),
        "--store",
        "南京路店",
        "--terminal",
        "T07",
        "--day-cutoff",
        "04:00",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Cash moves only inside an open shift (开班).
fn open_shift(db: &str) {
    let o = shouyin(&[
        "shift",
        "open",
        "--db",
        db,
        "--cashier",
        "李娜",
        "--float",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn init_charge_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    init(&db);
    let db_s = db.to_str().unwrap();
    open_shift(db_s);
    let o = shouyin(&[
        "charge",
        "--db",
        db_s,
        "--channel",
        "cash",
        "--amount",
        "12.30",
        "--cashier",
        "李娜",
        "--note",
        "两瓶水",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert_eq!(value(&out, "state"), "paid");
    let order_no = value(&out, "order_no").to_owned();
    assert!(order_no.starts_with("T07_"));

    let o = shouyin(&["orders", "--db", db_s, "--json"]);
    assert!(o.status.success());
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["order_no"], order_no.as_str());
    assert_eq!(list[0]["amount"], "12.30");
    assert_eq!(list[0]["amount_fen"], 1230);
    assert_eq!(list[0]["note"], "两瓶水");
    let o = shouyin(&["orders", "--db", db_s, "--state", "pending", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );
    let o = shouyin(&["orders", "--db", db_s, "--state", "bogus"]);
    assert!(!o.status.success());
}

#[test]
fn a_bad_amount_exits_non_zero_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    init(&db);
    let db_s = db.to_str().unwrap();
    for bad in ["12.345", "", "-5", "1e3", "abc", "0"] {
        let o = shouyin(&["charge", "--db", db_s, "--channel", "cash", "--amount", bad]);
        assert!(!o.status.success(), "{bad} must fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("error:"), "{bad}: {err}");
    }
    let o = shouyin(&["orders", "--db", db_s, "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let events: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 0);
}

#[test]
fn free_text_may_start_with_a_hyphen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    init(&db);
    let db_s = db.to_str().unwrap();
    open_shift(db_s);
    let o = shouyin(&[
        "charge",
        "--db",
        db_s,
        "--channel",
        "cash",
        "--amount",
        "3.00",
        "--note",
        "-2+3 备注",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = shouyin(&["orders", "--db", db_s, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["note"], "-2+3 备注");
    // A negative amount reaches the money rules, which say what is wrong,
    // instead of the argument parser's "unexpected argument".
    let o = shouyin(&[
        "charge",
        "--db",
        db_s,
        "--channel",
        "cash",
        "--amount",
        "-1",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
}

#[test]
fn seed_help_says_to_create_the_ledger_first() {
    let o = shouyin(&["seed", "--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("shouyin init"), "{}", stdout(&o));
}

#[test]
fn init_refuses_bad_settings_and_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let db_s = db.to_str().unwrap();
    let o = shouyin(&["init", "--db", db_s, "--store", "x", "--terminal", "T-1"]);
    assert!(!o.status.success());
    let o = shouyin(&[
        "init",
        "--db",
        db_s,
        "--store",
        "x",
        "--terminal",
        "T1",
        "--timezone",
        "Mars/Base",
    ]);
    assert!(!o.status.success());
    assert!(!db.exists());
    init(&db);
    let o = shouyin(&["init", "--db", db_s, "--store", "x", "--terminal", "T1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
}

#[test]
fn a_missing_or_foreign_ledger_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let o = shouyin(&["orders", "--db", missing.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("shouyin init"));
    assert!(!missing.exists());
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "hello").unwrap();
    let o = shouyin(&[
        "charge",
        "--db",
        junk.to_str().unwrap(),
        "--channel",
        "cash",
        "--amount",
        "1",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a Shouyin ledger"));
    assert_eq!(std::fs::read(&junk).unwrap(), b"hello");
}

#[test]
fn seed_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let mut sums = Vec::new();
    for name in ["a.db", "b.db"] {
        let db = dir.path().join(name);
        init(&db);
        let o = shouyin(&[
            "seed",
            "--db",
            db.to_str().unwrap(),
            "--days",
            "2",
            "--per-day",
            "300",
            "--seed",
            "42",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(value(&stdout(&o), "orders"), "600");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let s: (i64, i64) = conn
            .query_row(
                "SELECT sum(amount_fen), count(*) FROM orders WHERE state = 'paid'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        sums.push(s);
    }
    assert_eq!(sums[0], sums[1]);
}

#[test]
fn bench_ledger_prints_both_figures_and_the_ratio() {
    let o = shouyin(&["bench", "ledger", "--orders", "50"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    for key in [
        "shouyin_appends_per_sec",
        "sqlite3_cli_appends_per_sec",
        "ratio_shouyin_over_sqlite3",
    ] {
        let v: f64 = value(&out, key).parse().unwrap();
        assert!(v > 0.0, "{key}={v}");
    }
}
