//! The CLI's channel calls reach head office: `shouyin charge` counts its
//! calls and leaves them beside the ledger when it ends; `shouyin sync
//! --once` sends them, and head office's `/metrics` shows them under the
//! store's code and name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

fn shouyin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(args)
        .env_remove("SHOUYIN_HQ_ADMIN_TOKEN")
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

/// `shouyin hq` on loopback, killed on drop.
struct Hq(Child);

impl Drop for Hq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charges_made_by_the_cli_reach_head_office_with_sync_once() {
    let dir = tempfile::tempdir().unwrap();
    let sim = shouyin_testkit::Sim::start_in(&dir.path().join("sim")).await;
    let hq_db = format!("sqlite://{}", dir.path().join("hq.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_shouyin"))
        .args(["hq", "--listen", "127.0.0.1:0", "--db", &hq_db])
        .env_remove("SHOUYIN_HQ_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _hq = Hq(child);
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
    let ledger_s = ledger.to_str().unwrap();
    ok(&shouyin(&[
        "init",
        "--db",
        ledger_s,
        "--store",
        "南京路店",
        "--terminal",
        "T07",
    ]));
    ok(&shouyin(&[
        "enroll",
        "--db",
        ledger_s,
        "--hq",
        &url,
        "--code",
        code.trim(),
    ]));
    let creds = sim.credentials_path();
    ok(&shouyin(&[
        "charge",
        "--db",
        ledger_s,
        "--channels",
        creds.to_str().unwrap(),
        "--channel",
        "wechat",
        "--amount",
        "1.00",
    ]));
    let left = dir.path().join("till.db.calls.json");
    assert!(left.exists(), "the charge's calls were not left for sync");

    ok(&shouyin(&["sync", "--db", ledger_s, "--once"]));
    assert!(
        !left.exists(),
        "sync --once sent the calls and removed the file"
    );
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "shouyin_channel_calls_total{store=\"SH01\",terminal=\"T07\",channel=\"wechat\",call=\"create\",outcome=\"ok\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("SH01=南京路店"), "{metrics}");
}
