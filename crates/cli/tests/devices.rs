//! `shouyin printer`, `shouyin receipt` and `shouyin drawer` run as a script
//! would run them: the virtual printer in the background, a ledger with a
//! cash sale, and the receipt read back from the printer's output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn shouyin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .output()
        .unwrap()
}

fn value(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
        .to_owned()
}

struct Printer {
    child: Child,
    uri: String,
    /// Kept open: the printer writes more lines after the first.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn printer(out: &Path) -> Printer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args([
            "printer",
            "--listen",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let uri = value(&line, "printer");
    Printer {
        child,
        uri,
        _stdout: stdout,
    }
}

fn wait_file(path: &Path) -> String {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

#[test]
fn receipt_and_drawer_go_to_the_printer_and_a_dead_printer_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let paper = dir.path().join("paper");
    let p = printer(&paper);
    let db = dir.path().join("ledger.db");
    let db_s = db.to_str().unwrap();
    let o = shouyin(&[
        "init",
        "--db",
        db_s,
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Cash moves only inside an open shift (开班).
    let o = shouyin(&[
        "shift",
        "open",
        "--db",
        db_s,
        "--cashier",
        "王芳",
        "--float",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = shouyin(&[
        "charge",
        "--db",
        db_s,
        "--channel",
        "cash",
        "--amount",
        "8.80",
        "--cashier",
        "王芳",
        "--tendered",
        "10",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let order_no = value(&String::from_utf8_lossy(&o.stdout), "order_no");

    let o = shouyin(&[
        "receipt",
        "--db",
        db_s,
        "--order",
        &order_no,
        "--printer",
        &p.uri,
        "--width",
        "58",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = wait_file(&paper.join("job-0001.txt"));
    for expected in [
        "南京路店",
        "T07",
        "王芳",
        order_no.as_str(),
        "现金 Cash",
        "￥8.80",
        "￥10.00",
        "找零 Change",
        "￥1.20",
        "[CUT]",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    assert!(
        !text.contains("[DRAWER"),
        "a receipt alone does not open the drawer"
    );
    assert!(paper.join("job-0001.png").exists());

    let o = shouyin(&["drawer", "--printer", &p.uri]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = wait_file(&paper.join("job-0002.txt"));
    assert_eq!(text.trim(), "[DRAWER pin 2 50ms/500ms]");

    // The printer is switched off: the reason, and a non-zero exit.
    let dead = p.uri.clone();
    drop(p);
    let o = shouyin(&[
        "receipt",
        "--db",
        db_s,
        "--order",
        &order_no,
        "--printer",
        &dead,
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unreachable"), "{err}");

    let o = shouyin(&[
        "printer-set",
        "--db",
        db_s,
        "--printer",
        "tcp://10.0.0.9",
        "--width",
        "58",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("printer=tcp://10.0.0.9:9100\npaper_mm=58"));
    let o = shouyin(&["printer-set", "--db", db_s, "--printer", "file:lp0"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("absolute"));

    let o = shouyin(&["drawer", "--printer", "lpt1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("tcp://HOST:PORT"));
    let o = shouyin(&[
        "receipt",
        "--db",
        db_s,
        "--order",
        "NOPE",
        "--printer",
        "file:/dev/null",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOPE"));
    let o = shouyin(&[
        "receipt",
        "--db",
        db_s,
        "--order",
        &order_no,
        "--printer",
        "file:/dev/null",
        "--width",
        "70",
    ]);
    assert!(!o.status.success());
}
