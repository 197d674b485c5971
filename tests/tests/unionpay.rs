//! UnionPay in the real app, through WebDriver under Xvfb: a payment by the
//! UnionPay QR the till shows (云闪付 scans it) and one by the customer's
//! UnionPay code (19 digits starting 62) scanned at the till. Screenshots
//! under artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
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

#[test]
fn unionpay_qr_and_code_payments_are_paid_on_screen() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let app = App::start(&data, &[("SHOUYIN_LANG", "zh")]).await?;
        app.open_shift("200").await?;

        // The till's QR, paid from 云闪付.
        app.key_amount("12.30").await?;
        app.wait_for_text("[data-testid=amount]", "12.30", SHORT)
            .await?;
        app.click("[data-testid=channel-unionpay]").await?;
        app.wait_for("[data-testid=qr] svg", SHORT).await?;
        let qr_order = app.text(".order-no").await?;
        app.screenshot("unionpay-qr").await?;
        sim.scan(&qr_order).await?;
        let paid_at = Instant::now();
        sim.pay(&qr_order).await?;
        app.wait_for("[data-testid=paid]", SHORT).await?;
        let took = paid_at.elapsed();
        ensure!(
            took < Duration::from_secs(2),
            "paid shown {took:?} after the payment"
        );
        app.screenshot("unionpay-qr-paid").await?;
        app.press(&["Enter"]).await?;
        app.wait_for_text("[data-testid=amount]", "¥0", SHORT)
            .await?;

        // The customer's UnionPay code, scanned: digits fast, then Enter.
        app.key_amount("8.80").await?;
        let code = sim.paycode("unionpay", false).await?;
        ensure!(code.len() == 19 && code.starts_with("62"), "{code}");
        let mut keys: Vec<String> = code.chars().map(String::from).collect();
        keys.push("Enter".into());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        app.press(&keys).await?;
        app.wait_for("[data-testid=code-paid]", SHORT).await?;
        let amount = app.text("[data-testid=code-amount]").await?;
        ensure!(amount.contains("8.80"), "{amount}");
        let code_order = app.text(".order-no").await?;
        app.screenshot("unionpay-code-paid").await?;
        app.press(&["Enter"]).await?;
        app.wait_for_text("[data-testid=amount]", "¥0", SHORT)
            .await?;
        app.quit().await?;

        let conn = rusqlite::Connection::open(data.join("ledger.db"))?;
        for (no, fen) in [(&qr_order, 1230), (&code_order, 880)] {
            let (amount, state, channel): (i64, String, String) = conn
                .query_row(
                    "SELECT amount_fen, state, channel FROM orders WHERE out_trade_no = ?1",
                    [no],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .with_context(|| format!("order {no} in the ledger"))?;
            ensure!(
                (amount, state.as_str(), channel.as_str()) == (fen, "paid", "unionpay"),
                "{no}: {amount} {state} {channel}"
            );
        }
        let trades = sim.trades().await?;
        let by_code = trades
            .iter()
            .find(|t| t["auth_code"] == code.as_str())
            .context("the code reached UnionPay")?;
        ensure!(
            by_code["channel"] == "unionpay" && by_code["state"] == "paid",
            "{by_code}"
        );
        Ok(())
    });
}
