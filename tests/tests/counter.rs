//! The counter in daily use, through the real app under Xvfb: a channel
//! that cannot be reached is never a dead end, the "another payment is
//! still open" question defaults to cancelling it, manual confirmation only
//! for a code the customer saw, and everything a cashier needs fits a
//! 1024×600 terminal in both languages. Screenshots go to artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
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
            // The PIN screen comes first, at the small size too.
            app.set_window_size(1024, 600).await?;
            app.click("[data-testid=login-user][data-name='店长 李娜']")
                .await?;
            app.wait_for("[data-testid='pin-0']", SHORT).await?;
            fits(
                &app,
                &format!("login {lang}"),
                &[
                    "[data-testid='pin-0']",
                    "[data-testid='pin-9']",
                    "[data-testid=login-submit]",
                ],
            )
            .await?;
            app.screenshot_window(&format!("counter-login-{lang}-1024x600"))
                .await?;
            // The manager's header is the widest a cashier's till has.
            for d in "9999".chars() {
                app.click(&format!("[data-testid='pin-{d}']")).await?;
            }
            app.click("[data-testid=login-submit]").await?;
            app.wait_for("[data-testid=amount]", SHORT).await?;
            app.open_shift("200").await?;
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

/// The order number of the newest row in the recent list.
async fn newest_order(app: &App) -> anyhow::Result<String> {
    let row = app.wait_for("[data-testid=recent-row]", SHORT).await?;
    row.attr("data-order")
        .await?
        .context("a recent row without its order number")
}

/// Latin words (three letters or more) on a Chinese screen.
fn english_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_lowercase())
        .filter(|w| w.len() >= 3)
        .map(str::to_owned)
        .collect()
}

/// From the Escape key to the keypad, with the amount still keyed.
async fn back_at_once(app: &App, amount: &str) -> anyhow::Result<Duration> {
    let pressed = Instant::now();
    app.press(&["Escape"]).await?;
    app.wait_for_text("[data-testid=amount]", amount, SHORT)
        .await?;
    Ok(pressed.elapsed())
}

#[test]
fn a_channel_that_cannot_be_reached_is_never_a_dead_end() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let app = App::launch(&data, &[]).await?;
        app.login("店长 李娜", "9999").await?;
        app.open_shift("200").await?;
        app.set_window_size(1024, 600).await?;

        // A slow channel: the panel says what it is doing at once, and
        // Escape goes back to the keypad while the code is still asked for.
        sim.faults(json!({ "latency_ms": 5000 })).await?;
        app.key_amount("12.30").await?;
        app.press(&["w"]).await?;
        let asking = app
            .wait_for("[data-testid=qr-panel][data-phase=requesting]", SHORT)
            .await?;
        let words = asking.text().await?;
        ensure!(words.contains("正在向微信支付获取付款码"), "{words}");
        ensure!(english_words(&words).is_empty(), "{words}");
        app.wait_for("[data-testid=back]", SHORT).await?;
        app.screenshot_window("counter-slow-requesting").await?;
        let took = back_at_once(&app, "12.30").await?;
        ensure!(took < Duration::from_millis(1500), "back took {took:?}");
        sim.clear_faults().await?;
        // The code nobody saw is closed in the background, visibly.
        let slow = app
            .wait_for(
                "[data-testid=recent-row][data-state]",
                Duration::from_secs(20),
            )
            .await?
            .attr("data-order")
            .await?
            .unwrap_or_default();
        app.wait_for(
            &format!("[data-order='{slow}'][data-state='closed']"),
            Duration::from_secs(30),
        )
        .await
        .context("the abandoned code is closed")?;

        // An unreachable channel: no code, a reason, the way back and the
        // way forward; no manual confirmation (no code was shown).
        sim.faults(json!({ "drop_rate": 1.0 })).await?;
        app.press(&["w"]).await?;
        let panel = app
            .wait_for("[data-testid=qr-panel][data-phase=unreachable]", SHORT)
            .await?;
        let words = panel.text().await?;
        for needed in [
            "微信支付暂时无法连接",
            "请改用现金、支付宝或银联",
            "后台继续确认",
            "返回键盘",
        ] {
            ensure!(words.contains(needed), "'{needed}' missing from: {words}");
        }
        ensure!(english_words(&words).is_empty(), "{words}");
        ensure!(
            app.layout_problems(&["[data-testid=back]", "[data-testid=way-forward]"])
                .await?
                .is_empty(),
            "the way back and forward are on screen"
        );
        let manual = app
            .client
            .find_all(fantoccini::Locator::Css("[data-testid=manual-confirm]"))
            .await?;
        ensure!(
            manual.is_empty(),
            "manual confirmation offered without a code"
        );
        app.screenshot_window("counter-unreachable").await?;
        let unreachable = app.text(".order-no").await?;
        let took = back_at_once(&app, "12.30").await?;
        ensure!(took < Duration::from_millis(1500), "back took {took:?}");
        let row = format!("[data-order='{unreachable}']");
        app.wait_for(&format!("{row} [data-testid=resolving]"), SHORT)
            .await
            .context("the unresolved order shows it is being resolved")?;
        app.screenshot_window("counter-unreachable-back").await?;

        // Cancel with the code on screen while the channel is gone: the
        // panel says so at once and the way back works.
        sim.clear_faults().await?;
        app.press(&["a"]).await?;
        app.wait_for("[data-testid=qr] svg", SHORT).await?;
        let shown = app.text(".order-no").await?;
        sim.faults(json!({ "drop_rate": 1.0 })).await?;
        let pressed = Instant::now();
        app.press(&["Escape"]).await?;
        let error = app
            .wait_for("[data-testid=qr-panel] [data-testid=error]", SHORT)
            .await?;
        let took = pressed.elapsed();
        let words = error.text().await?;
        ensure!(words.contains("无法连接支付宝"), "{words}");
        ensure!(english_words(&words).is_empty(), "{words}");
        ensure!(
            took < Duration::from_secs(5),
            "the cancel answered after {took:?}"
        );
        // The code was shown and the channel cannot say: now manual
        // confirmation is offered.
        app.wait_for("[data-testid=manual-confirm]", SHORT).await?;
        app.screenshot_window("counter-cancel-unreachable").await?;
        let took = back_at_once(&app, "12.30").await?;
        ensure!(took < Duration::from_millis(1500), "back took {took:?}");

        // The channel returns: both open orders end, and the list says so.
        sim.clear_faults().await?;
        for no in [&unreachable, &shown] {
            app.wait_for(
                &format!("[data-order='{no}'][data-state='closed']"),
                Duration::from_secs(45),
            )
            .await
            .with_context(|| format!("{no} resolved in the background"))?;
        }
        app.screenshot_window("counter-resolved").await?;
        app.quit().await?;
        Ok(())
    });
}

#[test]
fn another_open_payment_is_cancelled_by_default_and_rows_open_their_order() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let app = App::start(&data, &[]).await?;
        app.open_shift("200").await?;
        // A code left open behind the till's back.
        let open = app
            .invoke(
                "order_charge",
                json!({ "req": { "amount": "8.80", "channel": "wechat" } }),
            )
            .await?;
        let open_no = open["ok"]["order_no"]
            .as_str()
            .context("charged")?
            .to_owned();

        app.key_amount("5.00").await?;
        app.press(&["a"]).await?;
        let dialog = app.wait_for("[data-testid=open-conflict]", SHORT).await?;
        let words = dialog.text().await?;
        ensure!(
            words.contains("微信支付") && words.contains("¥8.80"),
            "{words}"
        );
        ensure!(english_words(&words).is_empty(), "one language: {words}");
        app.screenshot_window("counter-open-conflict").await?;
        // Enter cancels the open payment, in the panel.
        app.press(&["Enter"]).await?;
        app.wait_for("[data-testid=qr-panel][data-state=closed]", SHORT)
            .await?;
        ensure!(
            app.text(".order-no").await? == open_no,
            "the open payment is shown"
        );
        let trades = sim.trades().await?;
        ensure!(
            trades.iter().all(|t| t["amount_fen"] != 500),
            "Enter started no new charge: {trades:?}"
        );
        let reason = app.text("[data-testid=reason]").await?;
        ensure!(reason.contains("收银员已取消"), "{reason}");
        app.screenshot_window("counter-open-cancelled").await?;
        app.press(&["Escape"]).await?;
        app.wait_for_text("[data-testid=amount]", "5.00", SHORT)
            .await?;

        // "Show that payment" opens it with its code.
        let second = app
            .invoke(
                "order_charge",
                json!({ "req": { "amount": "9.90", "channel": "wechat" } }),
            )
            .await?;
        let second_no = second["ok"]["order_no"]
            .as_str()
            .context("charged")?
            .to_owned();
        app.press(&["a"]).await?;
        app.click("[data-testid=conflict-show]").await?;
        app.wait_for("[data-testid=qr] svg", SHORT).await?;
        ensure!(app.text(".order-no").await? == second_no);
        app.press(&["Escape"]).await?;
        app.wait_for(
            &format!("[data-order='{second_no}'][data-state=closed]"),
            SHORT,
        )
        .await?;
        app.press(&["Escape"]).await?;
        app.wait_for("[data-testid=amount]", SHORT).await?;

        // A row of the recent list opens its order.
        app.click(&format!("[data-testid=recent-row][data-order='{open_no}']"))
            .await?;
        app.wait_for("[data-testid=qr-panel][data-state=closed]", SHORT)
            .await?;
        ensure!(app.text(".order-no").await? == open_no);
        app.press(&["Escape"]).await?;
        app.wait_for("[data-testid=amount]", SHORT).await?;
        let newest = newest_order(&app).await?;
        ensure!(
            newest == second_no,
            "no charge was started: newest is {newest}"
        );
        if sim.trades().await?.iter().any(|t| t["amount_fen"] == 500) {
            bail!("a ¥5.00 charge reached the channel");
        }
        app.quit().await?;
        Ok(())
    });
}

#[test]
fn open_folder_after_an_export_opens_that_folder_and_a_missing_one_is_a_plain_message() {
    run(async {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("app");
        let out = dir.path().join("exports");
        std::fs::create_dir_all(&out)?;
        // The desktop's file manager, played by a script that notes what it
        // was asked to open.
        let opened = dir.path().join("opened.txt");
        let opener = dir.path().join("file-manager.sh");
        std::fs::write(
            &opener,
            format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display()),
        )?;
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&opener)
            .status()?;
        let app = App::launch(
            &data,
            &[("SHOUYIN_FOLDER_OPENER", opener.to_str().unwrap())],
        )
        .await?;
        app.login_to("会计 张伟", "5555", "[data-testid=report-date]")
            .await?;
        app.click("[data-testid=nav-export]").await?;
        app.fill("[data-testid=export-dir]", out.to_str().unwrap())
            .await?;
        app.fill("[data-testid=export-name]", "day.csv").await?;
        app.click("[data-testid=export-run]").await?;
        app.wait_for("[data-testid=export-result]", SHORT).await?;
        app.click("[data-testid=export-open-folder]").await?;
        app.wait_for("[data-testid=export-opened]", SHORT).await?;
        let started = Instant::now();
        while !opened.exists() && started.elapsed() < SHORT {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let asked = std::fs::read_to_string(&opened).context("the file manager was started")?;
        ensure!(
            Path::new(&asked) == out,
            "opened {asked}, not {}",
            out.display()
        );
        app.screenshot_window("counter-export-opened").await?;

        // A path the till did not export is refused by Rust, whatever the page asks.
        let refused = app
            .invoke("export_open_folder", json!({ "path": "/etc/passwd" }))
            .await?;
        ensure!(
            refused["err"]["code"] == "export_path_forbidden",
            "{refused}"
        );

        std::fs::remove_dir_all(&out)?;
        app.click("[data-testid=export-open-folder]").await?;
        let error = app
            .wait_for_text(".error", "文件夹已不存在", SHORT)
            .await?
            .text()
            .await?;
        // The folder's own name is a fact; everything else is in Chinese.
        let words = error.replace(out.to_str().unwrap(), "");
        ensure!(english_words(&words).is_empty(), "{error}");
        app.screenshot_window("counter-export-folder-missing")
            .await?;
        app.quit().await?;
        Ok(())
    });
}

/// Key a PIN on the login screen for `name` and submit it.
async fn try_pin(app: &App, name: &str, pin: &str) -> anyhow::Result<()> {
    app.click(&format!("[data-testid=login-user][data-name='{name}']"))
        .await?;
    for d in pin.chars() {
        app.click(&format!("[data-testid='pin-{d}']")).await?;
    }
    app.click("[data-testid=login-submit]").await?;
    Ok(())
}

#[test]
fn messages_come_from_the_error_code_and_its_fields_in_one_language() {
    run(async {
        let dir = tempfile::tempdir()?;
        let app = App::launch(&dir.path().join("app"), &[]).await?;
        // A wrong PIN: the attempts left, in Chinese only.
        try_pin(&app, "收银员 王芳", "0000").await?;
        let said = app
            .wait_for_text("[data-testid=login-error]", "还可再试 4 次", SHORT)
            .await?
            .text()
            .await?;
        ensure!(said == "PIN 错误，还可再试 4 次", "{said}");
        app.login("收银员 王芳", "1111").await?;
        app.open_shift("200").await?;

        // Over the per-sale limit: the limit as money, no English.
        app.key_amount("60000").await?;
        app.press(&["c"]).await?;
        let said = app
            .wait_for_text("[data-testid=error]", "上限", SHORT)
            .await?
            .text()
            .await?;
        ensure!(said == "金额超过单笔上限 ¥50,000.00", "{said}");
        app.screenshot_window("counter-over-limit-zh").await?;

        // In English, the plural is right: four wrong PINs leave one attempt.
        app.click("[data-testid=lang]").await?;
        app.logout().await?;
        for left in ["4 attempts", "3 attempts", "2 attempts", "1 attempt "] {
            try_pin(&app, "店长 李娜", "0000").await?;
            app.wait_for_text("[data-testid=login-error]", left.trim_end(), SHORT)
                .await?;
        }
        let said = app.text("[data-testid=login-error]").await?;
        ensure!(said == "Wrong PIN; 1 attempt left", "{said}");
        app.screenshot_window("counter-wrong-pin-en").await?;
        app.quit().await?;
        Ok(())
    });
}

/// Set a form field the way typing into it would (Svelte's bindings hear
/// `input` and `change`).
async fn set_field(app: &App, css: &str, value: &str) -> anyhow::Result<()> {
    app.wait_for(css, SHORT).await?;
    app.client
        .execute(
            "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
             el.dispatchEvent(new Event('input', {bubbles: true})); \
             el.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![json!(css), json!(value)],
        )
        .await?;
    Ok(())
}

#[test]
fn reconcile_advice_to_record_an_order_is_a_button_that_does_it() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let app = App::start(&data, &[]).await?;
        app.open_shift("200").await?;
        app.key_amount("43.21").await?;
        app.press(&["w"]).await?;
        app.wait_for("[data-testid=qr] svg", SHORT).await?;
        let order_no = app.text(".order-no").await?;
        sim.pay(&order_no).await?;
        app.wait_for("[data-testid=paid]", SHORT).await?;
        app.press(&["Enter"]).await?;

        // The ledger lost the payment (it says closed); the channel's bill
        // has it: a status mismatch whose advice is to query and record it.
        let db = rusqlite::Connection::open(data.join("ledger.db"))?;
        db.busy_timeout(Duration::from_secs(5))?;
        db.execute(
            "UPDATE orders SET state = 'closed', paid_at = NULL WHERE out_trade_no = ?1",
            [&order_no],
        )?;

        app.logout().await?;
        app.login_to("会计 张伟", "5555", "[data-testid=report-date]")
            .await?;
        app.click("[data-testid=nav-reconcile]").await?;
        set_field(&app, "[data-testid=rc-channel]", "wechat").await?;
        let beijing_today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        set_field(&app, "[data-testid=rc-date]", &beijing_today.to_string()).await?;
        app.click("[data-testid=rc-run]").await?;
        let fix = format!("[data-testid=rc-fix][data-order='{order_no}']");
        app.wait_for(&fix, Duration::from_secs(20)).await?;
        app.screenshot_window("counter-reconcile-advice").await?;
        app.click(&fix).await?;
        let said = app
            .wait_for_text("[data-testid=rc-fixed]", "已支付", SHORT)
            .await?
            .text()
            .await?;
        ensure!(said.contains("已按渠道结果记入账本"), "{said}");
        app.screenshot_window("counter-reconcile-fixed").await?;
        let state: String = db.query_row(
            "SELECT state FROM orders WHERE out_trade_no = ?1",
            [&order_no],
            |r| r.get(0),
        )?;
        ensure!(state == "paid", "the ledger now says {state}");
        app.quit().await?;
        Ok(())
    });
}
