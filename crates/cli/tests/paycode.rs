//! `shouyin charge --code`: payments by the customer's code from a terminal,
//! and their crash safety (SIGKILL at every point of a code payment, then
//! `shouyin recover`, must leave the ledger agreeing with the channel).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shouyin_testkit::Sim;

fn shouyin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
}

fn init(dir: &Path, terminal: &str) -> PathBuf {
    let db = dir.join(format!("{terminal}.db"));
    let o = shouyin()
        .args([
            "init",
            "--db",
            db.to_str().unwrap(),
            "--store",
            "付款码测试店",
            "--terminal",
            terminal,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    db
}

/// The simulator's channels file with short timeouts.
fn channels_file(sim: &Sim, dir: &Path) -> PathBuf {
    let path = dir.join("channels.json");
    std::fs::write(&path, sim.credentials_with_timeouts(2000, 100).to_string()).unwrap();
    path
}

/// The same without the UnionPay channel.
fn channels_file_without_unionpay(sim: &Sim, dir: &Path) -> PathBuf {
    let path = dir.join("channels-no-unionpay.json");
    let mut creds = sim.credentials_with_timeouts(2000, 100);
    creds.as_object_mut().unwrap().remove("unionpay");
    std::fs::write(&path, creds.to_string()).unwrap();
    path
}

fn charge(db: &Path, channels: &Path, code: &str, amount: &str, extra: &[&str]) -> Command {
    let mut c = shouyin();
    c.args([
        "charge",
        "--db",
        db.to_str().unwrap(),
        "--channels",
        channels.to_str().unwrap(),
        "--code",
        code,
        "--amount",
        amount,
    ])
    .args(extra);
    c
}

fn lines(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charge_by_code_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start_in(&dir.path().join("sim")).await;
    let channels = channels_file(&sim, dir.path());
    let db = init(dir.path(), "T07");

    // No password: paid at once, exit 0.
    let code = sim.paycode("wechat", false, None).await;
    let o = charge(&db, &channels, &code, "12.30", &[])
        .output()
        .unwrap();
    let out = lines(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("order_no=T07_"), "{out}");
    assert!(out.contains("state=paid"), "{out}");

    // The same code again: refused locally, nothing sent.
    let o = charge(&db, &channels, &code, "12.30", &[])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("sent before"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // UnionPay on a terminal without that channel, and junk: refused
    // before any call.
    let no_unionpay = channels_file_without_unionpay(&sim, dir.path());
    for (bad, says) in [
        ("6212345678901234567", "UnionPay is not enabled"),
        ("12345", "not an Alipay, WeChat or UnionPay payment code"),
    ] {
        let o = charge(&db, &no_unionpay, bad, "1.00", &[])
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{bad}: {err}");
    }
    assert_eq!(sim.trades().await.len(), 1);

    // A password, confirmed on the phone while --wait waits.
    let code = sim.paycode("alipay", true, None).await;
    let child = charge(
        &db,
        &channels,
        &code,
        "66.00",
        &["--wait", "--timeout", "20"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let waiting = async {
        // The trade exists at the channel once the pay call landed.
        for _ in 0..100 {
            if sim
                .trades()
                .await
                .iter()
                .any(|t| t["auth_code"] == code.as_str())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(sim.phone(&code, "confirm").await.is_success());
    };
    waiting.await;
    let o = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let out = lines(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("state=paid"), "{out}");

    // A password never entered: --timeout gives up and cancels at the channel.
    let code = sim.paycode("wechat", true, None).await;
    let started = Instant::now();
    let o = charge(&db, &channels, &code, "7.00", &["--wait", "--timeout", "2"])
        .output()
        .unwrap();
    let out = lines(&o);
    assert!(!o.status.success(), "not paid: exit non-zero: {out}");
    assert!(out.contains("state=closed"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let trade = sim
        .trades()
        .await
        .into_iter()
        .find(|t| t["auth_code"] == code.as_str())
        .unwrap();
    assert_eq!(trade["close_reason"], "cancelled", "{trade}");

    // Without --wait a payment waiting for the password is not paid (yet).
    let code = sim.paycode("alipay", true, None).await;
    let o = charge(&db, &channels, &code, "7.00", &["--window", "2"])
        .output()
        .unwrap();
    let out = lines(&o);
    assert!(!o.status.success());
    assert!(out.contains("state=pending"), "{out}");
    // `recover` after the window ends it at the channel.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let o = shouyin()
        .args([
            "recover",
            "--db",
            db.to_str().unwrap(),
            "--channels",
            channels.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", lines(&o));
    assert!(lines(&o).contains("unresolved=0"), "{}", lines(&o));
}

/// SIGKILL at every point of a code payment (before the order is written,
/// while the pay call is out, while polling, while cancelling), the customer
/// confirming, declining or doing nothing, then `shouyin recover` after the
/// window: every order final and in agreement with the channel, no code
/// charged twice, nothing lost.
/// `shouyin charge --channel unionpay` (a QR the customer pays) and
/// `shouyin charge --code 62…` (the customer's UnionPay code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charge_by_unionpay_from_the_terminal() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start_in(&dir.path().join("sim")).await;
    let channels = channels_file(&sim, dir.path());
    let db = init(dir.path(), "T08");

    let mut child = shouyin()
        .args([
            "charge",
            "--db",
            db.to_str().unwrap(),
            "--channels",
            channels.to_str().unwrap(),
            "--channel",
            "unionpay",
            "--amount",
            "8.80",
            "--wait",
            "--timeout",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (order_no, qr, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut order_no = String::new();
        let mut qr = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(no) = line.strip_prefix("order_no=") {
                order_no = no.to_owned();
            }
            if let Some(q) = line.strip_prefix("qr=") {
                qr = q.to_owned();
                break;
            }
        }
        (order_no, qr, lines)
    })
    .await
    .unwrap();
    assert!(order_no.starts_with("T08_"), "{order_no}");
    assert!(qr.starts_with("https://qr.95516.com/"), "{qr}");
    sim.pay(&order_no).await;
    let rest: Vec<String> = tokio::task::spawn_blocking(move || rest.map(|l| l.unwrap()).collect())
        .await
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest:?}");
    assert!(rest.iter().any(|l| l == "state=paid"), "{rest:?}");
    let trade = sim.trade(&order_no).await.unwrap();
    assert_eq!(
        (trade["channel"].as_str(), trade["state"].as_str()),
        (Some("unionpay"), Some("paid"))
    );

    let code = sim.paycode("unionpay", false, None).await;
    let o = charge(&db, &channels, &code, "12.30", &[])
        .output()
        .unwrap();
    let out = lines(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("state=paid"), "{out}");
    let paid = sim
        .trades()
        .await
        .into_iter()
        .find(|t| t["auth_code"] == code.as_str())
        .expect("the code reached UnionPay");
    assert_eq!(paid["channel"], "unionpay");
    assert_eq!(paid["amount_fen"], 1230);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_code_payment_recovery_agrees_with_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start_in(&dir.path().join("sim")).await;
    let channels = channels_file(&sim, dir.path());
    // Every protocol call takes 250 ms, so each phase spans kill points.
    sim.faults(json!({"latency_ms": 250})).await;

    let rounds: u32 = 16;
    let window = 3u64;
    let mut ledgers = Vec::new();
    for i in 0..rounds {
        // One ledger per round: a killed code payment keeps its till from
        // the next scan until it is resolved, as it should.
        let db = init(dir.path(), &format!("K{i:02}"));
        let channel = if i % 2 == 0 { "alipay" } else { "wechat" };
        let password = i % 4 != 0;
        let code = sim.paycode(channel, password, None).await;
        let amount = format!("{}.{:02}", 1 + i, i);
        let mut child = charge(
            &db,
            &channels,
            &code,
            &amount,
            &["--wait", "--timeout", "10", "--window", &window.to_string()],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let kill_at = Duration::from_millis(200 * u64::from(i % 8));
        tokio::time::sleep(kill_at).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The customer's side of the story.
        match i % 3 {
            0 => {
                let _ = sim.phone(&code, "confirm").await;
            }
            1 => {
                let _ = sim.phone(&code, "decline").await;
            }
            _ => {}
        }
        ledgers.push((db, code));
    }
    sim.clear_faults().await;
    tokio::time::sleep(Duration::from_secs(window) + Duration::from_millis(300)).await;

    let trades = sim.trades().await;
    let mut paid = 0;
    for (db, code) in &ledgers {
        let o = shouyin()
            .args([
                "recover",
                "--db",
                db.to_str().unwrap(),
                "--channels",
                channels.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "recover {}: {}{}",
            db.display(),
            lines(&o),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(lines(&o).contains("unresolved=0"), "{}", lines(&o));
        let o = shouyin()
            .args(["orders", "--db", db.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        let orders: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert!(orders.len() <= 1, "one order per scan: {orders:?}");
        let at_channel: Vec<Value> = sim
            .trades()
            .await
            .into_iter()
            .filter(|t| t["auth_code"] == code.as_str())
            .collect();
        assert!(
            at_channel.len() <= 1,
            "a code is charged at most once: {at_channel:?}"
        );
        match (orders.first(), at_channel.first()) {
            (None, None) => {} // killed before the order was written: nothing sent
            (None, Some(t)) => panic!("trade {t} at the channel is missing from the ledger"),
            (Some(order), None) => {
                let state = order["state"].as_str().unwrap();
                assert!(
                    ["closed", "failed"].contains(&state),
                    "never at the channel, never paid: {order}"
                );
            }
            (Some(order), Some(t)) => {
                assert_eq!(order["order_no"], t["out_trade_no"]);
                assert_eq!(order["amount_fen"], t["amount_fen"]);
                let expected: &[&str] = match t["state"].as_str().unwrap() {
                    "paid" => &["paid"],
                    "refunded" => &["refunded"],
                    "closed" => &["closed", "failed"],
                    other => panic!("trade {t} is still {other} at the channel after recovery"),
                };
                let state = order["state"].as_str().unwrap();
                assert!(expected.contains(&state), "channel {t} vs ledger {order}");
                if state == "paid" {
                    paid += 1;
                }
            }
        }
    }
    assert!(!trades.is_empty());
    assert!(paid > 0, "some payments must have gone through");
}
