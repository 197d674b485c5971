//! Crash safety: `shouyin charge --wait` is killed with SIGKILL at many
//! points of a QR payment (before the create call, after it, while polling,
//! while closing), the customer pays or declines or walks away, and
//! `shouyin recover` must leave the ledger agreeing with the channel about
//! every trade: no loss, no duplicate, the same final state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

fn shouyin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shouyin"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_any_point_recovery_agrees_with_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let sim_dir = dir.path().join("sim");
    let sim = shouyin_testkit::Sim::start_in(&sim_dir).await;
    let base = sim.base.clone();
    let http = reqwest::Client::new();

    let db = dir.path().join("ledger.db");
    let o = shouyin()
        .args([
            "init",
            "--db",
            db.to_str().unwrap(),
            "--store",
            "崩溃测试店",
            "--terminal",
            "T05",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    // The simulator's file, with short timeouts so a kill lands in every phase.
    let mut creds: Value =
        serde_json::from_str(&std::fs::read_to_string(sim_dir.join("credentials.json")).unwrap())
            .unwrap();
    for section in ["alipay", "wechatpay"] {
        creds[section]["timeout_ms"] = json!(2000);
        creds[section]["cancel_retry_gap_ms"] = json!(100);
    }
    let channels = dir.path().join("channels.json");
    std::fs::write(&channels, creds.to_string()).unwrap();

    // Every protocol call takes 250 ms, so create, polling and close each
    // span several kill points.
    http.put(format!("{base}/_sim/faults"))
        .json(&json!({"latency_ms": 250}))
        .send()
        .await
        .unwrap();

    let rounds: u32 = 18;
    for i in 0..rounds {
        let channel = if i % 2 == 0 { "alipay" } else { "wechat" };
        let amount = format!("{}.{:02}", 1 + i, i);
        let amount_fen = i64::from((1 + i) * 100 + i);
        let mut child = shouyin()
            .args([
                "charge",
                "--db",
                db.to_str().unwrap(),
                "--channels",
                channels.to_str().unwrap(),
                "--channel",
                channel,
                "--amount",
                &amount,
                "--wait",
                "--timeout",
                "2",
                "--force",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // 0 ms (before anything), 250 ms steps up to past the close at ~2.5 s.
        let kill_at = Duration::from_millis(250 * u64::from(i % 14));
        tokio::time::sleep(kill_at).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // The customer's side of the story.
        let trades: Value = http
            .get(format!("{base}/_sim/trades"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let latest = trades
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["amount_fen"] == json!(amount_fen))
            .map(|t| t["out_trade_no"].as_str().unwrap().to_owned())
            .next_back();
        if let Some(no) = latest {
            let action = match i % 3 {
                0 => Some("pay"),
                1 => Some("decline"),
                _ => None,
            };
            if let Some(action) = action {
                // The trade may already be closed; a refusal is part of the story.
                let _ = http
                    .post(format!("{base}/_sim/trades/{no}/{action}"))
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    http.delete(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap();
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
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "recover: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("unresolved=0"), "{out}");

    let o = shouyin()
        .args(["orders", "--db", db.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let ledger: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let ledger_by_no: HashMap<String, &Value> = ledger
        .iter()
        .map(|o| (o["order_no"].as_str().unwrap().to_owned(), o))
        .collect();
    assert_eq!(
        ledger_by_no.len(),
        ledger.len(),
        "no duplicate order numbers"
    );
    for o in &ledger {
        let state = o["state"].as_str().unwrap();
        assert!(
            ["paid", "closed", "failed", "refunded"].contains(&state),
            "every order is final after recovery: {o}"
        );
    }

    let trades: Value = http
        .get(format!("{base}/_sim/trades"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let trades = trades.as_array().unwrap();
    assert!(!trades.is_empty());
    let mut paid_at_channel = 0;
    for t in trades {
        let no = t["out_trade_no"].as_str().unwrap();
        let order = ledger_by_no
            .get(no)
            .unwrap_or_else(|| panic!("trade {no} at the channel is missing from the ledger"));
        assert_eq!(order["amount_fen"], t["amount_fen"], "{no}");
        let expected = match t["state"].as_str().unwrap() {
            "paid" => "paid",
            "refunded" => "refunded",
            "closed" => "closed",
            other => panic!("trade {no} is still {other} at the channel after recovery"),
        };
        if expected == "paid" {
            paid_at_channel += 1;
        }
        assert_eq!(
            order["state"], expected,
            "trade {no}: channel {t} vs ledger {order}"
        );
    }
    // Orders the channel never heard of ended closed, never paid.
    for o in &ledger {
        let no = o["order_no"].as_str().unwrap();
        if !trades.iter().any(|t| t["out_trade_no"] == no) {
            assert_ne!(o["state"], "paid", "{no} was never at the channel");
        }
    }
    assert!(paid_at_channel > 0, "some payments must have gone through");
    // A kill at 0 ms lands before the order is committed (nothing was sent
    // either); every other attempt left exactly one order.
    let killed_before_start = (0..rounds).filter(|i| i % 14 == 0).count();
    assert!(
        ledger.len() <= rounds as usize && ledger.len() >= rounds as usize - killed_before_start,
        "one order per attempt, none lost: {} orders for {rounds} attempts",
        ledger.len()
    );
}
