//! The counter in daily use, through the real app under Xvfb: a channel
//! that cannot be reached is never a dead end, the "another payment is
//! still open" question defaults to cancelling it, manual confirmation only
//! for a code the customer saw, and everything a cashier needs fits a
//! 1024×600 terminal in both languages. Screenshots go to artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
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

/// What a cashier must reach on the till without scrolling.
const TILL: &[&str] = &[
    "[data-testid=amount]",
    "[data-testid=channel-alipay]",
    "[data-testid=channel-cash]",
    "[data-testid='key-00']",
    "[data-testid='key-.']",
    "[data-testid=charge]",
    "[data-testid=logout]",
    "[data-testid=lang]",
];

/// And on the QR screen.
const QR: &[&str] = &[
    "[data-testid=qr-amount]",
    "[data-testid=qr] svg",
    "[data-testid=countdown]",
    "[data-testid=cancel]",
];

async fn fits(app: &App, what: &str, selectors: &[&str]) -> anyhow::Result<()> {
    let problems = app.layout_problems(selectors).await?;
    ensure!(problems.is_empty(), "{what}: {problems:#?}");
    Ok(())
}

/// The till, a QR payment and its paid state at one window size.
async fn till_at(app: &App, sim: &Sim, lang: &str, w: u32, h: u32) -> anyhow::Result<()> {
    app.set_window_size(w, h).await?;
    let tag = format!("{lang}-{w}x{h}");
    app.key_amount("1234.56").await?;
    app.wait_for_text("[data-testid=amount]", "1234.56", SHORT)
        .await?;
    fits(app, &format!("till {tag}"), TILL).await?;
    app.screenshot_window(&format!("counter-till-{tag}"))
        .await?;

    app.click("[data-testid=channel-alipay]").await?;
    app.wait_for("[data-testid=qr] svg", SHORT).await?;
    app.wait_for("[data-testid=countdown]", SHORT).await?;
    let countdown = app.text("[data-testid=countdown]").await?;
    ensure!(
        countdown.contains("4:5") || countdown.contains("5:00"),
        "the countdown reads as minutes and seconds: {countdown}"
    );
    fits(app, &format!("QR {tag}"), QR).await?;
    app.screenshot_window(&format!("counter-qr-{tag}")).await?;

    let order_no = app.text(".order-no").await?;
    sim.scan(&order_no).await?;
    sim.pay(&order_no).await?;
    app.wait_for("[data-testid=paid]", SHORT).await?;
    fits(
        app,
        &format!("paid {tag}"),
        &["[data-testid=paid] .big", "[data-testid=finish]"],
    )
    .await?;
    app.screenshot_window(&format!("counter-paid-{tag}"))
        .await?;
    app.press(&["Enter"]).await?;
    app.wait_for("[data-testid=amount]", SHORT).await?;
    Ok(())
}

#[test]
fn everything_a_cashier_needs_fits_1024x600_and_1366x768_in_both_languages() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        for lang in ["zh", "en"] {
            let data = dir.path().join(format!("app-{lang}"));
            sim.configure(&data)?;
            let app = App::launch(&data, &[("SHOUYIN_LANG", lang)]).await?;
            // The manager's header is the widest (every view is in it).
            app.login("店长 李娜", "9999").await?;
            for (w, h) in [(1024, 600), (1366, 768)] {
                till_at(&app, &sim, lang, w, h)
                    .await
                    .with_context(|| format!("{lang} at {w}×{h}"))?;
            }
            app.quit().await?;
        }
        Ok(())
    });
}
