//! One process per ledger: a program that settles payments (the app, `shouyin
//! charge`, `shouyin recover`) is refused beside another one holding the
//! ledger, with a message naming the holder's pid; readers still read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shouyin_api::{Counter, CounterOptions, ErrorCode};

fn shouyin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
}

fn run(args: &[&str]) -> Output {
    shouyin().args(args).output().unwrap()
}

async fn start_sim(dir: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = dir.to_owned();
    tokio::spawn(async move {
        shouyin_sim::run(listener, &state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let base = format!("http://{addr}");
    let started = Instant::now();
    while !dir.join("credentials.json").exists()
        || reqwest::get(format!("{base}/_sim/trades")).await.is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the simulator did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (base, stop)
}

fn exclusive() -> CounterOptions {
    CounterOptions {
        exclusive: true,
        payments: shouyin_api::PaymentSettings {
            probe_every: None,
            ..Default::default()
        },
        ..CounterOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_ledger_refuses_a_second_settling_program_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (_base, _stop) = start_sim(&dir.path().join("sim")).await;
    let channels = dir.path().join("sim").join("credentials.json");
    let db = dir.path().join("ledger.db");
    let db_s = db.to_str().unwrap();
    let o = run(&[
        "init",
        "--db",
        db_s,
        "--store",
        "锁测试店",
        "--terminal",
        "T07",
    ]);
    assert!(o.status.success(), "{o:?}");

    // This process holds the ledger: the CLI's settling commands are refused.
    let holder = Counter::open_ledger(&db, exclusive()).await.unwrap();
    let me = format!("pid {}", std::process::id());
    for args in [
        vec![
            "recover",
            "--db",
            db_s,
            "--channels",
            channels.to_str().unwrap(),
        ],
        vec![
            "charge",
            "--db",
            db_s,
            "--channel",
            "cash",
            "--amount",
            "1.00",
        ],
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} must be refused: {err}");
        assert!(
            err.contains("in use by") && err.contains(&me),
            "{args:?}: the refusal names the holder: {err}"
        );
    }
    // Readers still read beside it.
    let o = run(&["orders", "--db", db_s]);
    assert!(o.status.success(), "{o:?}");
    let o = run(&["report", "daily", "--db", db_s, "--date", "2026-01-01"]);
    assert!(o.status.success(), "{o:?}");
    holder.shutdown().await;
    drop(holder);
    let o = run(&[
        "recover",
        "--db",
        db_s,
        "--channels",
        channels.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "free again: {o:?}");

    // A CLI charge waiting on a QR code holds the ledger: this process is
    // refused, and told the CLI's pid.
    let mut child = shouyin()
        .args([
            "charge",
            "--db",
            db_s,
            "--channels",
            channels.to_str().unwrap(),
            "--channel",
            "wechat",
            "--amount",
            "2.00",
            "--wait",
            "--timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The code is printed once the order exists, with the lock held.
    loop {
        let line = lines.next().expect("the charge printed its code").unwrap();
        if line.starts_with("qr=") {
            break;
        }
    }
    let e = Counter::open_ledger(&db, exclusive()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LedgerLocked, "{e}");
    assert!(e.message.contains(&format!("pid {}", child.id())), "{e}");
    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel released the lock with the killed process.
    let again = Counter::open_ledger(&db, exclusive()).await.unwrap();
    again.shutdown().await;
}
