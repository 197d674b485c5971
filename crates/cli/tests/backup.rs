//! `shouyin backup`, `shouyin restore`, `shouyin rescue` and `shouyin hq
//! import-rescue` run as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn shouyin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .env_remove("SHOUYIN_HQ_SEAL_KEY")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn refused(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "should fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn value(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
        .to_owned()
}

fn init(ledger: &str, terminal: &str) {
    ok(&shouyin(&[
        "init",
        "--db",
        ledger,
        "--store",
        "南京路店",
        "--terminal",
        terminal,
    ]));
    // Cash moves only inside an open shift (开班).
    ok(&shouyin(&[
        "shift",
        "open",
        "--db",
        ledger,
        "--cashier",
        "李娜",
        "--float",
        "0",
    ]));
}

fn cash(ledger: &str, amount: &str) {
    ok(&shouyin(&[
        "charge",
        "--db",
        ledger,
        "--channel",
        "cash",
        "--amount",
        amount,
    ]));
}

fn order_count(ledger: &str) -> usize {
    ok(&shouyin(&["orders", "--db", ledger])).lines().count()
}

#[test]
fn backup_then_restore_only_when_no_program_holds_the_ledger_keeping_the_replaced_one() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.db");
    let ledger = ledger.to_str().unwrap();
    init(ledger, "T01");
    for amount in ["1.00", "2.00", "3.00"] {
        cash(ledger, amount);
    }
    let copy = dir.path().join("copy.db");
    let copy = copy.to_str().unwrap();
    let out = ok(&shouyin(&["backup", "--db", ledger, "--out", copy]));
    assert_eq!(value(&out, "last_seq"), "7");
    assert_eq!(value(&out, "integrity"), "ok");
    assert!(value(&out, "bytes").parse::<u64>().unwrap() > 0);
    // An existing file is never replaced.
    let err = refused(&shouyin(&["backup", "--db", ledger, "--out", copy]));
    assert!(err.contains("already exists"), "{err}");
    // A backup of something that is not a ledger is refused.
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello").unwrap();
    let err = refused(&shouyin(&[
        "backup",
        "--db",
        junk.to_str().unwrap(),
        "--out",
        dir.path().join("j.db").to_str().unwrap(),
    ]));
    assert!(err.contains("not a Shouyin ledger"), "{err}");

    cash(ledger, "4.00");
    assert_eq!(order_count(ledger), 4);

    // While a program holds the ledger (as the app does), restore is refused
    // and nothing changes.
    let holder = shouyin_api::lock::LedgerLock::acquire(Path::new(ledger)).unwrap();
    let err = refused(&shouyin(&["restore", "--db", ledger, "--from", copy]));
    assert!(err.contains("in use"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert_eq!(order_count(ledger), 4);
    drop(holder);

    let out = ok(&shouyin(&["restore", "--db", ledger, "--from", copy]));
    assert_eq!(value(&out, "last_seq"), "7");
    let kept = value(&out, "kept");
    assert!(kept.contains("ledger.db.replaced-"), "{kept}");
    assert_eq!(order_count(ledger), 3, "the backup's three sales");
    assert_eq!(order_count(&kept), 4, "the replaced ledger is kept whole");
    // The restored ledger sells on.
    cash(ledger, "5.00");
    assert_eq!(order_count(ledger), 4);
    // A damaged backup is refused before anything is touched.
    let mut bytes = std::fs::read(copy).unwrap();
    let len = bytes.len();
    bytes.truncate(len / 2);
    let bad = dir.path().join("bad.db");
    std::fs::write(&bad, &bytes).unwrap();
    let err = refused(&shouyin(&[
        "restore",
        "--db",
        ledger,
        "--from",
        bad.to_str().unwrap(),
    ]));
    assert!(!err.is_empty());
    assert_eq!(order_count(ledger), 4);
}

/// A running `shouyin hq` on a SQLite file, killed on drop.
struct HqProcess(Child);

impl Drop for HqProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_rescue_file_goes_to_head_office_by_hand_and_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let hq_db = format!("sqlite://{}", dir.path().join("hq.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(["hq", "--listen", "127.0.0.1:0", "--db", &hq_db])
        .env_remove("SHOUYIN_HQ_SEAL_KEY")
        .env_remove("SHOUYIN_HQ_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let hq = HqProcess(child);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let code = ok(&shouyin(&[
        "hq",
        "enroll-code",
        "--db",
        &hq_db,
        "--store",
        "SH01",
    ]));
    let ledger = dir.path().join("till.db");
    let ledger = ledger.to_str().unwrap();
    init(ledger, "T05");
    ok(&shouyin(&[
        "enroll",
        "--db",
        ledger,
        "--hq",
        &url,
        "--code",
        code.trim(),
    ]));
    cash(ledger, "10.00");
    let out = ok(&shouyin(&["sync", "--db", ledger, "--once"]));
    assert_eq!(value(&out, "acked_seq"), "3");
    // The till's network is gone for good.
    drop(hq);
    for amount in ["11.00", "12.00"] {
        cash(ledger, amount);
    }
    let file = dir.path().join("rescue-T05.json");
    let file = file.to_str().unwrap();
    let out = ok(&shouyin(&["rescue", "--db", ledger, "--out", file]));
    assert_eq!(value(&out, "events"), "4");
    assert_eq!(value(&out, "first_seq"), "4");
    assert_eq!(value(&out, "last_seq"), "7");

    let first = ok(&shouyin(&["hq", "import-rescue", "--db", &hq_db, file]));
    assert_eq!(value(&first, "terminal"), "T05");
    assert_eq!(value(&first, "stored"), "4");
    assert_eq!(value(&first, "acked_seq"), "7");
    let second = ok(&shouyin(&["hq", "import-rescue", "--db", &hq_db, file]));
    assert_eq!(value(&second, "stored"), "0");
    assert_eq!(value(&second, "duplicates"), "4");
    assert_eq!(value(&second, "acked_seq"), "7");
}
