//! Payments by the customer's code (付款码) in the real app, through
//! WebDriver under Xvfb: the amount is keyed, the simulator's code is
//! "scanned" by typing its digits fast and Enter (as a USB scanner does),
//! and the screen goes through its steps. Screenshots under artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use serde_json::json;
use shouyin_tests::{serial, App, Sim};

fn run<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) {
    let _one_at_a_time = serial();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Err(e) = rt.block_on(f) {
        panic!("{e:#}");
    }
}

const SHORT: Duration = Duration::from_secs(10);

/// The scanner: every digit, then Enter, as fast as the page takes them.
async fn scan(app: &App, code: &str) -> anyhow::Result<()> {
    let mut keys: Vec<String> = code.chars().map(String::from).collect();
    keys.push("Enter".into());
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    app.press(&keys).await
}

async fn ledger_state(app_dir: &std::path::Path, order_no: &str) -> anyhow::Result<String> {
    let conn = rusqlite::Connection::open(app_dir.join("ledger.db"))?;
    Ok(conn.query_row(
        "SELECT state FROM orders WHERE out_trade_no = ?1",
        [order_no],
        |r| r.get(0),
    )?)
}

#[test]
fn a_scanned_code_is_paid_on_screen() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let app = App::start(&data, &[("SHOUYIN_LANG", "zh")]).await?;
        app.open_shift("200").await?;

        app.key_amount("12.30").await?;
        app.wait_for_text("[data-testid=amount]", "12.30", SHORT)
            .await?;
        // A slow channel, so the "sending" step stays on screen long enough
        // to be photographed.
        sim.faults(json!({"latency_ms": 2500})).await?;
        let code = sim.paycode("wechat", false).await?;
        scan(&app, &code).await?;
        app.wait_for("[data-testid=code-sending]", SHORT)
            .await
            .context("sending is shown")?;
        app.screenshot("paycode-sending-zh").await?;
        app.wait_for("[data-testid=code-paid]", SHORT).await?;
        sim.clear_faults().await?;
        let trade_no = app.text("[data-testid=code-trade-no]").await?;
        ensure!(
            trade_no.contains("42000"),
            "the WeChat trade number is shown: {trade_no}"
        );
        let amount = app.text("[data-testid=code-amount]").await?;
        ensure!(amount.contains("12.30"), "{amount}");
        app.screenshot("paycode-paid-zh").await?;
        let order_no = app.text(".order-no").await?;
        app.press(&["Enter"]).await?;
        // Back at the keypad, the amount cleared (the scanner's digits did not stay in it).
        app.wait_for_text("[data-testid=amount]", "¥0", SHORT)
            .await?;

        // A customer without enough balance: failed, the reason in plain words.
        app.key_amount("99").await?;
        let poor = sim.paycode_with_balance("wechat", 500).await?;
        scan(&app, &poor).await?;
        let reason = app
            .wait_for("[data-testid=code-reason]", SHORT)
            .await?
            .text()
            .await?;
        ensure!(reason.contains("余额不足"), "{reason}");
        app.screenshot("paycode-failed-zh").await?;
        app.press(&["Enter"]).await?;
        app.quit().await?;
        ensure!(ledger_state(&data, &order_no).await? == "paid");
        let trade = sim
            .trades()
            .await?
            .into_iter()
            .find(|t| t["out_trade_no"] == order_no.as_str())
            .context("the trade at the channel")?;
        ensure!(
            trade["auth_code"] == code.as_str() && trade["state"] == "paid",
            "{trade}"
        );
        Ok(())
    });
}

#[test]
fn a_password_payment_confirmed_on_the_phone_turns_paid() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let app = App::start(&data, &[("SHOUYIN_LANG", "zh")]).await?;
        app.open_shift("200").await?;

        app.key_amount("88").await?;
        let code = sim.paycode("alipay", true).await?;
        scan(&app, &code).await?;
        app.wait_for("[data-testid=code-userpaying]", SHORT).await?;
        let countdown = app.text("[data-testid=code-countdown]").await?;
        ensure!(
            countdown.contains("00:5") || countdown.contains("01:00"),
            "a mm:ss countdown from Alipay's 60 s window: {countdown}"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.screenshot("paycode-userpaying-zh").await?;
        let confirmed = Instant::now();
        ensure!(sim.phone(&code, "confirm").await?.is_success());
        app.wait_for("[data-testid=code-paid]", SHORT).await?;
        let took = confirmed.elapsed();
        ensure!(
            took < Duration::from_secs(2),
            "paid shown {took:?} after the confirmation"
        );
        app.screenshot("paycode-password-paid-zh").await?;
        let order_no = app.text(".order-no").await?;
        app.quit().await?;
        ensure!(ledger_state(&data, &order_no).await? == "paid");
        Ok(())
    });
}

#[test]
fn esc_asks_then_reverses_a_code_payment() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let app = App::start(&data, &[("SHOUYIN_LANG", "zh")]).await?;
        app.open_shift("200").await?;

        app.key_amount("20").await?;
        let code = sim.paycode("wechat", true).await?;
        scan(&app, &code).await?;
        app.wait_for("[data-testid=code-userpaying]", SHORT).await?;
        let order_no = app.text(".order-no").await?;
        app.press(&["Escape"]).await?;
        app.wait_for("[data-testid=code-cancel-ask]", SHORT)
            .await
            .context("Esc asks first")?;
        app.screenshot("paycode-cancel-ask-zh").await?;
        // Nothing is cancelled by asking.
        ensure!(ledger_state(&data, &order_no).await? == "pending");
        app.press(&["Enter"]).await?;
        app.wait_for("[data-testid=code-closed]", SHORT).await?;
        app.screenshot("paycode-reversed-zh").await?;
        app.quit().await?;
        ensure!(ledger_state(&data, &order_no).await? == "closed");
        let trade = sim
            .trades()
            .await?
            .into_iter()
            .find(|t| t["out_trade_no"] == order_no.as_str())
            .context("the trade at the channel")?;
        ensure!(
            trade["close_reason"] == "cancelled",
            "reversed at the channel: {trade}"
        );
        // The phone can no longer pay it.
        ensure!(sim.phone(&code, "confirm").await?.as_u16() == 409);
        Ok(())
    });
}

#[test]
fn a_refused_code_says_why_in_english() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        // A till without the UnionPay channel.
        sim.configure_without(&data, "unionpay")?;
        let app = App::start(&data, &[("SHOUYIN_LANG", "en")]).await?;
        app.open_shift("200").await?;

        app.key_amount("50").await?;
        let code = sim.paycode_with_balance("alipay", 1000).await?;
        scan(&app, &code).await?;
        let reason = app
            .wait_for("[data-testid=code-reason]", SHORT)
            .await?
            .text()
            .await?;
        ensure!(reason.contains("Not enough balance"), "{reason}");
        app.screenshot("paycode-failed-en").await?;
        app.press(&["Enter"]).await?;
        // A UnionPay code, typed after the scan key: refused before any call.
        app.wait_for("[data-testid=scan-key]", SHORT).await?;
        app.press(&["s"]).await?;
        app.fill("[data-testid=scan-input]", "6212345678901234567\u{E007}")
            .await?;
        let said = app
            .wait_for("[data-testid=code-reason]", SHORT)
            .await?
            .text()
            .await?;
        ensure!(said.contains("UnionPay"), "{said}");
        app.screenshot("paycode-unionpay-en").await?;
        app.quit().await?;
        // The balance refusal made no trade, and the UnionPay code was never sent.
        ensure!(
            sim.trades().await?.is_empty(),
            "nothing reached the channel"
        );
        Ok(())
    });
}
