//! Channel control from head office, seen in the real desktop app under
//! Xvfb: head office suspends WeChat Pay for the till's store, the till's
//! WeChat button turns into 暂停使用 — reason (disabled) within seconds and
//! a new WeChat charge is refused in Rust; when it is lifted the button
//! works again and takes a payment. Screenshots go to artifacts/e2e/.
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
/// How soon a change at head office must show on the till.
const WITHIN: Duration = Duration::from_secs(5);
const REASON: &str = "微信支付通道故障，请改用支付宝";

/// An admin's suspend or lift at head office.
async fn control(
    hq: &shouyin_testkit::Hq,
    action: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/channels/{action}", hq.base()))
        .bearer_auth(shouyin_testkit::hq::ADMIN_TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    ensure!(
        status.is_success(),
        "{action}: {status} {}",
        r.text().await?
    );
    Ok(())
}

/// Wait until the WeChat button's words satisfy `want`; how long it took.
async fn button_until(
    app: &App,
    want: impl Fn(&str, bool) -> bool,
    what: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        app.wait_for("[data-testid=channel-wechat]", SHORT).await?;
        // The words as written into the button (WebDriver's visible text
        // leaves out a box that clips its overflow).
        let state = app
            .client
            .execute(
                "const b = document.querySelector('[data-testid=channel-wechat]'); \
                 return [b.textContent, !b.disabled];",
                vec![],
            )
            .await?;
        let (text, enabled): (String, bool) = serde_json::from_value(state)?;
        if want(&text, enabled) {
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < WITHIN,
            "the WeChat button was not {what} within {WITHIN:?}: {text:?}, enabled {enabled}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn head_office_suspends_wechat_and_the_till_shows_it_then_lifts_it() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let hq = shouyin_testkit::Hq::start(shouyin_testkit::Backend::Sqlite).await;
        let code = hq.enroll_code("SH01").await;
        let app = App::launch(&data, &[]).await?;
        app.login("店长 李娜", "9999").await?;
        app.open_shift("0").await?;
        let out = std::process::Command::new(shouyin_tests::cli_binary()?)
            .args(["enroll", "--db"])
            .arg(data.join("ledger.db"))
            .args(["--hq", &hq.base(), "--code", &code])
            .output()?;
        ensure!(
            out.status.success(),
            "enroll: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Wait for the relay to head office to be up.
        let started = Instant::now();
        loop {
            app.click("[data-testid=nav-settings]").await?;
            let shown = app.wait_for("[data-testid=notifications]", SHORT).await?;
            if shown.html(true).await?.contains("ok") {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the relay never came up: {}",
                shown.html(true).await?
            );
            app.click("[data-testid=nav-cashier]").await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        app.click("[data-testid=nav-cashier]").await?;
        button_until(&app, |_, enabled| enabled, "usable").await?;

        // Head office suspends WeChat for this store.
        control(
            &hq,
            "suspend",
            json!({"store": "SH01", "channel": "wechat", "reason": REASON, "by": "张经理"}),
        )
        .await?;
        let shown = format!("暂停使用 — {REASON}");
        let took = button_until(
            &app,
            |text, enabled| text.contains(&shown) && !enabled,
            "shown as suspended",
        )
        .await?;
        eprintln!("suspension shown on the till after {took:?}");
        app.key_amount("12.30").await?;
        app.screenshot("hqchannels-wechat-suspended").await?;
        // On the smallest till screen the words stay inside the button.
        app.set_window_size(1024, 600).await?;
        let spill = app
            .client
            .execute(
                "const b = document.querySelector('[data-testid=channel-wechat]').getBoundingClientRect(); \
                 const s = document.querySelector('[data-testid=channel-wechat] .sub').getBoundingClientRect(); \
                 return [s.left - b.left, b.right - s.right, s.top - b.top, b.bottom - s.bottom];",
                vec![],
            )
            .await?;
        let margins: Vec<f64> = serde_json::from_value(spill)?;
        ensure!(
            margins.iter().all(|m| *m >= -0.5),
            "the reason spills out of the button: {margins:?}"
        );
        app.screenshot_window("hqchannels-wechat-suspended-1024x600")
            .await?;
        // The shortcut does nothing, and a charge sent past the screen is
        // refused by the backend with its own code.
        app.press(&["w"]).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(
            app.client
                .find_all(fantoccini::Locator::Css("[data-testid=qr] svg"))
                .await?
                .is_empty(),
            "a QR code was shown for a suspended channel"
        );
        let refused = app
            .invoke(
                "order_charge",
                json!({ "req": { "amount": "12.30", "channel": "wechat" } }),
            )
            .await?;
        ensure!(
            refused["err"]["code"] == "channel_suspended"
                && refused["err"]["fields"]["reason"] == REASON
                && refused["err"]["fields"]["channel"] == "wechat",
            "{refused}"
        );
        // Alipay still works beside it.
        let alipay = app.wait_for("[data-testid=channel-alipay]", SHORT).await?;
        ensure!(alipay.is_enabled().await?, "Alipay must stay usable");

        // Lifted: the button comes back and takes a WeChat payment.
        control(
            &hq,
            "lift",
            json!({"store": "SH01", "channel": "wechat", "by": "张经理"}),
        )
        .await?;
        let took = button_until(
            &app,
            |text, enabled| !text.contains("暂停使用") && enabled,
            "usable again",
        )
        .await?;
        eprintln!("lift shown on the till after {took:?}");
        app.screenshot("hqchannels-wechat-lifted").await?;
        app.click("[data-testid=channel-wechat]").await?;
        app.wait_for("[data-testid=qr] svg", SHORT)
            .await
            .context("a WeChat QR code after the lift")?;
        let order_no = app.text(".order-no").await?;
        sim.pay(&order_no).await?;
        app.wait_for("[data-testid=paid]", SHORT).await?;
        app.screenshot("hqchannels-wechat-paid-after-lift").await?;
        app.quit().await?;

        // Both changes audited in the till's ledger.
        let conn = rusqlite::Connection::open(data.join("ledger.db"))?;
        let actions: Vec<String> = conn
            .prepare("SELECT action FROM audit WHERE actor = 'head_office' ORDER BY seq")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ensure!(
            actions == ["channel_suspended", "channel_lifted"],
            "{actions:?}"
        );
        Ok(())
    });
}
