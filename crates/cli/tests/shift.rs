//! Shifts that add up, from a terminal: no cash moves outside an open
//! shift, every cash sale lands in exactly one shift, and an honest drawer
//! closes even (no false 长款). Run as a script would, on a ledger file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = shouyin(args);
    assert!(o.status.success(), "{args:?}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn cash(db: &str, amount: &str) -> Output {
    shouyin(&[
        "charge",
        "--db",
        db,
        "--channel",
        "cash",
        "--amount",
        amount,
        "--cashier",
        "王芳",
    ])
}

fn orders(db: &str) -> Vec<serde_json::Value> {
    let out = ok(&["orders", "--db", db, "--json"]);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn cash_outside_a_shift_is_refused_and_every_cash_sale_lands_in_exactly_one_shift() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("till.db");
    let db = db_path.to_str().unwrap();
    ok(&[
        "init",
        "--db",
        db,
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]);

    // Five sales before 开班: each refused, with a message that says what
    // to do, and nothing written.
    for amount in ["12.30", "8.00", "45.00", "3.50", "20.00"] {
        let o = cash(db, amount);
        assert!(
            !o.status.success(),
            "a cash sale without a shift is refused"
        );
        let err = stderr(&o);
        assert!(
            err.contains("no shift is open") && err.contains("开班"),
            "the refusal says to open a shift: {err}"
        );
    }
    assert!(orders(db).is_empty(), "a refused sale leaves no order");

    // The float is required: an empty one is not ¥0.00.
    let o = shouyin(&[
        "shift",
        "open",
        "--db",
        db,
        "--cashier",
        "王芳",
        "--float",
        "",
    ]);
    assert!(!o.status.success(), "an empty float is refused");
    assert!(stderr(&o).contains("float"), "{}", stderr(&o));
    let o = shouyin(&[
        "shift",
        "open",
        "--db",
        db,
        "--cashier",
        "王芳",
        "--float",
        "  ",
    ]);
    assert!(!o.status.success(), "a blank float is refused");

    // Shift 1: float 200.00, three sales (one with cash handed over), an
    // honest count.
    let out = ok(&[
        "shift",
        "open",
        "--db",
        db,
        "--cashier",
        "王芳",
        "--float",
        "200",
    ]);
    let first: i64 = value(&out, "shift").parse().unwrap();
    let mut sales_of: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for amount in ["12.30", "8.00"] {
        let o = cash(db, amount);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert_eq!(value(&out, "shift"), first.to_string());
        sales_of
            .entry(first)
            .or_default()
            .push(value(&out, "order_no").to_owned());
    }
    let out = ok(&[
        "charge",
        "--db",
        db,
        "--channel",
        "cash",
        "--amount",
        "45.00",
        "--tendered",
        "100",
        "--cashier",
        "王芳",
    ]);
    assert_eq!(value(&out, "tendered"), "100.00");
    assert_eq!(value(&out, "change"), "55.00");
    sales_of
        .entry(first)
        .or_default()
        .push(value(&out, "order_no").to_owned());
    // Less handed over than the amount: refused, nothing written.
    let o = shouyin(&[
        "charge",
        "--db",
        db,
        "--channel",
        "cash",
        "--amount",
        "45.00",
        "--tendered",
        "40",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("less than the amount"),
        "{}",
        stderr(&o)
    );
    // 200 + 12.30 + 8.00 + 45.00 in the drawer (the 55.00 change went back).
    let out = ok(&[
        "shift",
        "close",
        "--db",
        db,
        "--counted",
        "265.30",
        "--closed-by",
        "王芳",
    ]);
    assert_eq!(value(&out, "expected"), "265.30");
    assert_eq!(value(&out, "over_short"), "0.00");
    assert_eq!(
        value(&out, "result"),
        "even",
        "an honest drawer is not 长款"
    );
    let text = ok(&["shift", "report", "--db", db]);
    assert!(
        text.contains("交班报表") && !text.contains("日结"),
        "{text}"
    );
    assert!(text.contains("现金收款 3笔"), "{text}");
    assert!(!text.contains("-¥0.00"), "zero has no sign:\n{text}");

    // After 交班 the till sells nothing until the next 开班.
    let o = cash(db, "5.00");
    assert!(!o.status.success(), "after 交班 a sale needs a new shift");

    // Shift 2: another cashier's float, two sales, honest again.
    let out = ok(&[
        "shift",
        "open",
        "--db",
        db,
        "--cashier",
        "李娜",
        "--float",
        "150.00",
    ]);
    let second: i64 = value(&out, "shift").parse().unwrap();
    assert_ne!(first, second);
    for amount in ["3.50", "20.00"] {
        let out = stdout(&cash(db, amount));
        assert_eq!(value(&out, "shift"), second.to_string());
        sales_of
            .entry(second)
            .or_default()
            .push(value(&out, "order_no").to_owned());
    }
    let out = ok(&[
        "shift",
        "close",
        "--db",
        db,
        "--counted",
        "173.50",
        "--closed-by",
        "李娜",
    ]);
    assert_eq!(value(&out, "result"), "even");

    // Every cash order of the ledger is in exactly one shift, the one it
    // was sold in, and each Z report counts exactly its own.
    let all = orders(db);
    assert_eq!(all.len(), 5);
    for o in &all {
        let shift = o["shift_id"].as_i64().expect("every cash sale has a shift");
        let no = o["order_no"].as_str().unwrap();
        let holders: Vec<i64> = sales_of
            .iter()
            .filter(|(_, list)| list.iter().any(|n| n == no))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(holders, [shift], "{no} is in exactly one shift");
    }
    for (id, list) in &sales_of {
        let z: serde_json::Value = serde_json::from_str(&ok(&[
            "shift",
            "report",
            "--db",
            db,
            "--id",
            &id.to_string(),
            "--json",
        ]))
        .unwrap();
        assert_eq!(z["cash_sales_count"], list.len(), "shift {id}: {z}");
        assert_eq!(z["over_short_fen"], 0, "shift {id}: {z}");
    }
    let counted: usize = sales_of.values().map(Vec::len).sum();
    assert_eq!(counted, all.len(), "no sale is outside a shift or in two");
}

#[test]
fn a_cash_refund_and_a_pay_in_need_an_open_shift() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("till.db");
    let db = db_path.to_str().unwrap();
    ok(&[
        "init",
        "--db",
        db,
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]);
    ok(&[
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
    ok(&[
        "shift",
        "open",
        "--db",
        db,
        "--cashier",
        "李娜",
        "--float",
        "0",
    ]);
    let order_no = value(&stdout(&cash(db, "30.00")), "order_no").to_owned();
    ok(&[
        "shift",
        "close",
        "--db",
        db,
        "--counted",
        "30",
        "--closed-by",
        "李娜",
    ]);
    let o = shouyin(&[
        "refund",
        "--db",
        db,
        "--order",
        &order_no,
        "--amount",
        "5",
        "--approver",
        "李娜",
        "--pin",
        "1234",
    ]);
    assert!(
        !o.status.success(),
        "no cash leaves the drawer outside a shift"
    );
    assert!(stderr(&o).contains("no shift is open"), "{}", stderr(&o));
    let o = shouyin(&[
        "shift",
        "pay-in",
        "--db",
        db,
        "--amount",
        "20",
        "--reason",
        "换零钱",
        "--actor",
        "李娜",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no shift is open"), "{}", stderr(&o));
}
