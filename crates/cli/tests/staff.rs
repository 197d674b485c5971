//! `shouyin user`, `login-check`, `refund`, `shift` and `audit` run as a
//! script would run them, on a ledger in a temp dir.
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

fn ok(args: &[&str]) -> String {
    let o = shouyin(args);
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn init(db: &Path) {
    ok(&[
        "init",
        "--db",
        db.to_str().unwrap(),
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]);
}

fn add_users(db: &str) {
    let out = ok(&[
        "user",
        "add",
        "--db",
        db,
        "--name",
        "李娜",
        "--roles",
        "manager,cashier",
        "--pin",
        "1234",
    ]);
    assert_eq!(value(&out, "roles"), "cashier,manager");
    // Once there is a manager, adding needs one.
    let o = shouyin(&[
        "user", "add", "--db", db, "--name", "王芳", "--roles", "cashier", "--pin", "1111",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("approval"));
    ok(&[
        "user",
        "add",
        "--db",
        db,
        "--name",
        "王芳",
        "--roles",
        "cashier",
        "--pin",
        "1111",
        "--approver",
        "李娜",
        "--approver-pin",
        "1234",
    ]);
}

#[test]
fn users_and_login_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    init(&db);
    let db = db.to_str().unwrap();
    add_users(db);
    let out = ok(&["user", "list", "--db", db, "--json"]);
    let users: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert!(!out.contains("pin"), "no PIN or hash in the listing: {out}");

    let out = ok(&["login-check", "--db", db, "--name", "王芳", "--pin", "1111"]);
    assert_eq!(value(&out, "result"), "ok");
    for _ in 0..4 {
        let o = shouyin(&["login-check", "--db", db, "--name", "王芳", "--pin", "0000"]);
        assert!(!o.status.success());
        assert_eq!(value(&stdout(&o), "result"), "wrong");
    }
    let o = shouyin(&["login-check", "--db", db, "--name", "王芳", "--pin", "0000"]);
    assert_eq!(value(&stdout(&o), "result"), "locked");
    let o = shouyin(&["login-check", "--db", db, "--name", "王芳", "--pin", "1111"]);
    assert!(!o.status.success());
    assert_eq!(value(&stdout(&o), "result"), "locked");
    // The manager is unaffected.
    ok(&["login-check", "--db", db, "--name", "李娜", "--pin", "1234"]);
}

#[test]
fn cash_refund_shift_close_and_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("t.db");
    init(&db_path);
    let db = db_path.to_str().unwrap();
    add_users(db);
    let out = ok(&[
        "shift",
        "open",
        "--db",
        db,
        "--cashier",
        "王芳",
        "--float",
        "100",
    ]);
    assert_eq!(value(&out, "float"), "100.00");
    let out = ok(&[
        "charge",
        "--db",
        db,
        "--channel",
        "cash",
        "--amount",
        "30.00",
        "--cashier",
        "王芳",
    ]);
    let order_no = value(&out, "order_no").to_owned();

    let o = shouyin(&[
        "refund",
        "--db",
        db,
        "--order",
        &order_no,
        "--amount",
        "5.00",
        "--approver",
        "李娜",
        "--pin",
        "9999",
    ]);
    assert!(!o.status.success(), "a wrong approver PIN refunds nothing");
    let out = ok(&[
        "refund",
        "--db",
        db,
        "--order",
        &order_no,
        "--amount",
        "5.00",
        "--approver",
        "李娜",
        "--pin",
        "1234",
        "--reason",
        "退一瓶",
        "--requested-by",
        "王芳",
    ]);
    assert_eq!(value(&out, "refund_no"), format!("{order_no}_R1"));
    assert_eq!(value(&out, "state"), "succeeded");
    let o = shouyin(&[
        "refund",
        "--db",
        db,
        "--order",
        &order_no,
        "--amount",
        "25.01",
        "--approver",
        "李娜",
        "--pin",
        "1234",
    ]);
    assert!(!o.status.success(), "over-refund refused");

    ok(&[
        "shift",
        "pay-in",
        "--db",
        db,
        "--amount",
        "20",
        "--reason",
        "换零钱",
        "--actor",
        "王芳",
    ]);
    ok(&[
        "shift",
        "pay-out",
        "--db",
        db,
        "--amount",
        "12.50",
        "--reason",
        "买冰",
        "--actor",
        "王芳",
        "--approver",
        "李娜",
        "--pin",
        "1234",
    ]);
    // 100 + 30 − 5 + 20 − 12.50 = 132.50 expected; 132.00 counted: 0.50 short.
    let out = ok(&[
        "shift",
        "close",
        "--db",
        db,
        "--counted",
        "132.00",
        "--closed-by",
        "王芳",
    ]);
    assert_eq!(value(&out, "expected"), "132.50");
    assert_eq!(value(&out, "counted"), "132.00");
    assert_eq!(value(&out, "over_short"), "-0.50");
    assert_eq!(value(&out, "result"), "short");
    let text = ok(&["shift", "report", "--db", db]);
    assert!(text.contains("短款"), "{text}");
    assert!(text.contains("-¥0.50"), "{text}");

    let out = ok(&["audit", "verify", "--db", db]);
    assert_eq!(value(&out, "intact"), "true");
    let out = ok(&["audit", "list", "--db", db, "--json"]);
    let entries: serde_json::Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"refund_succeeded"), "{actions:?}");
    assert!(actions.contains(&"cash_pay_out"), "{actions:?}");

    // Someone with the file removes the guard and rewrites history.
    let raw = rusqlite::Connection::open(&db_path).unwrap();
    raw.execute_batch(
        "DROP TRIGGER audit_is_append_only_update;
         UPDATE audit SET approver = '王芳' WHERE action = 'refund_succeeded';",
    )
    .unwrap();
    drop(raw);
    let o = shouyin(&["audit", "verify", "--db", db]);
    assert!(!o.status.success(), "a broken chain exits non-zero");
    let out = stdout(&o);
    assert_eq!(value(&out, "intact"), "false");
    assert!(value(&out, "first_bad_seq").parse::<i64>().unwrap() > 0);
}

#[test]
fn init_creates_no_users_not_even_demo_staff() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("till.db");
    init(&db);
    let out = ok(&["user", "list", "--db", db.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.trim(),
        "[]",
        "a new ledger has no users; its first manager is set up by hand"
    );
}
