//! Shifts that add up, in the real app at 1366×768: the till asks for 开班
//! with a required float before the first sale and again after 交班; cash
//! is tendered with the change shown large and recorded; the blind count
//! is entered note by note and closes with the right total; the keypad
//! never moves under the cashier's finger. Screenshots in both languages
//! are saved under artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use shouyin_tests::{serial, App};

const SHORT: Duration = Duration::from_secs(15);
const WIDTH: u32 = 1366;
const HEIGHT: u32 = 768;

fn run<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) {
    let _one_at_a_time = serial();
    // The whole screen is the size the test is about.
    std::env::set_var("SHOUYIN_E2E_SCREEN", format!("{WIDTH}x{HEIGHT}x24"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Err(e) = rt.block_on(f) {
        panic!("{e:?}");
    }
}

/// The app in `lang` at 1366×768, logged in as `who`.
async fn till(dir: &std::path::Path, lang: &str, who: &str, pin: &str) -> anyhow::Result<App> {
    let app = App::launch(dir, &[("SHOUYIN_LANG", lang)]).await?;
    app.set_window_size(WIDTH, HEIGHT).await?;
    app.login(who, pin).await?;
    Ok(app)
}

fn words<'a>(lang: &str, zh: &'a str, en: &'a str) -> &'a str {
    if lang == "zh" {
        zh
    } else {
        en
    }
}

/// One shift from 开班 to 交班 at the till, in one language.
async fn a_shift_at_the_till(lang: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let app = till(dir.path(), lang, "收银员 王芳", "1111").await?;

    // Before the first sale the till asks for 开班 and the float.
    app.wait_for("[data-testid=shift-open-dialog]", SHORT)
        .await?;
    app.screenshot(&format!("shift-open-dialog-{lang}")).await?;
    let sale = app
        .invoke(
            "order_charge",
            json!({ "req": { "amount": "5.00", "channel": "cash", "tendered": "5" } }),
        )
        .await?;
    assert_eq!(sale["err"]["code"], "shift_not_open", "{sale}");
    let qr = app
        .invoke(
            "order_charge",
            json!({ "req": { "amount": "5.00", "channel": "alipay" } }),
        )
        .await?;
    assert_eq!(
        qr["err"]["code"], "shift_not_open",
        "a QR sale waits for 开班 too: {qr}"
    );

    // An empty float is refused on screen and in Rust; nothing is opened.
    app.click("[data-testid=till-shift-open]").await?;
    app.wait_for_text(
        "[data-testid=till-float-error]",
        words(lang, "请输入备用金", "Enter the float"),
        SHORT,
    )
    .await?;
    app.screenshot(&format!("shift-float-required-{lang}"))
        .await?;
    let empty = app.invoke("shift_open", json!({ "float": "" })).await?;
    assert_eq!(empty["err"]["code"], "float_required", "{empty}");
    let current = app.invoke("shift_current", json!({})).await?;
    assert!(current["ok"].is_null(), "no shift opened: {current}");

    app.fill("[data-testid=till-float]", "200").await?;
    app.click("[data-testid=till-shift-open]").await?;
    app.wait_gone("[data-testid=shift-open-dialog]", SHORT)
        .await?;
    let shift = app.invoke("shift_current", json!({})).await?;
    assert_eq!(shift["ok"]["float_fen"], 20000, "{shift}");
    let shift_id = shift["ok"]["id"].as_i64().expect("an open shift");

    // Cash: 37.80 due, a 100 note handed over, 62.20 change shown large.
    app.key_amount("37.80").await?;
    app.click("[data-testid=channel-cash]").await?;
    app.wait_for("[data-testid=cash-tender]", SHORT).await?;
    app.wait_for_text("[data-testid=tender-due]", "¥37.80", SHORT)
        .await?;
    app.wait_for("[data-testid=tender-exact]", SHORT).await?;
    app.wait_for("[data-testid='tender-40.00']", SHORT).await?;
    app.wait_for("[data-testid='tender-50.00']", SHORT).await?;
    app.click("[data-testid='tender-100.00']").await?;
    app.wait_for_text("[data-testid=tender-change]", "¥62.20", SHORT)
        .await?;
    let big = app.rect("[data-testid=tender-change]").await?;
    assert!(big.3 >= 50.0, "the change is shown large: {big:?}");
    app.screenshot(&format!("cash-tender-{lang}")).await?;
    app.click("[data-testid=tender-confirm]").await?;
    app.wait_for_text("[data-testid=cash-done]", "62.20", SHORT)
        .await?;
    let recent = app.invoke("orders_recent", json!({ "limit": 5 })).await?;
    let order = &recent["ok"][0];
    assert_eq!(order["state"], "paid", "{recent}");
    assert_eq!(order["amount"], "37.80", "{order}");
    assert_eq!(order["tendered"], "100.00", "{order}");
    assert_eq!(order["change"], "62.20", "{order}");
    assert_eq!(order["shift_id"], shift_id, "{order}");

    // 交班 with the blind count note by note: 2×100 + 1×20 + 1×10 + 1×5
    // + 2×1 + 1×0.5 + 3×0.1 = 237.80, the float and the sale exactly.
    app.click("[data-testid=nav-shift]").await?;
    app.click("[data-testid=count-notes-mode]").await?;
    for (face, count) in [
        (10000, "2"),
        (2000, "1"),
        (1000, "1"),
        (500, "1"),
        (100, "2"),
        (50, "1"),
        (10, "3"),
    ] {
        app.fill(&format!("[data-testid=denom-{face}]"), count)
            .await?;
    }
    app.wait_for_text("[data-testid=denom-total]", "¥237.80", SHORT)
        .await?;
    app.client
        .execute(
            "document.querySelector('[data-testid=close-next]').scrollIntoView({ block: 'end' });",
            vec![],
        )
        .await?;
    app.screenshot(&format!("shift-count-by-note-{lang}"))
        .await?;
    app.click("[data-testid=close-next]").await?;
    app.click("[data-testid=close-confirm]").await?;
    app.wait_for("[data-testid=shift-closed]", SHORT).await?;
    let z = app.text("[data-testid=shift-closed]").await?;
    assert!(z.contains("¥237.80"), "{z}");
    assert!(
        z.contains(words(lang, "交班报表", "Shift report")),
        "the shift's report is named as one: {z}"
    );
    assert!(
        !z.contains("日结"),
        "日结 is the day's report, not the shift's: {z}"
    );
    assert!(!z.contains("-¥0.00"), "zero has no sign: {z}");
    let class = app
        .wait_for("[data-testid=over-short]", SHORT)
        .await?
        .attr("class")
        .await?
        .unwrap_or_default();
    assert!(class.contains("even"), "an honest drawer is even: {class}");
    let receipt = app.text("[data-testid=z-text]").await?;
    assert!(
        receipt.contains("交班报表") && !receipt.contains("日结"),
        "{receipt}"
    );
    app.screenshot(&format!("shift-z-report-{lang}")).await?;

    // After 交班 the till asks again before the next sale.
    app.click("[data-testid=nav-cashier]").await?;
    app.wait_for("[data-testid=shift-open-dialog]", SHORT)
        .await?;
    app.click("[data-testid=till-shift-later]").await?;
    app.wait_gone("[data-testid=shift-open-dialog]", SHORT)
        .await?;
    app.key_amount("5").await?;
    app.click("[data-testid=channel-cash]").await?;
    app.wait_for("[data-testid=shift-open-dialog]", SHORT)
        .await?;
    assert!(
        app.client
            .find(fantoccini::Locator::Css("[data-testid=cash-tender]"))
            .await
            .is_err(),
        "no sale starts before the shift is open"
    );
    let sale = app
        .invoke(
            "order_charge",
            json!({ "req": { "amount": "5.00", "channel": "cash", "tendered": "5" } }),
        )
        .await?;
    assert_eq!(sale["err"]["code"], "shift_not_open", "{sale}");
    app.quit().await?;
    Ok(())
}

#[test]
fn the_till_asks_for_the_shift_with_its_float_and_the_shift_adds_up_zh() {
    run(a_shift_at_the_till("zh"));
}

#[test]
fn the_till_asks_for_the_shift_with_its_float_and_the_shift_adds_up_en() {
    run(a_shift_at_the_till("en"));
}

/// The keypad's buttons stay where they are when the error line and the
/// success line appear; the order in History shows the cash handed over
/// and the change.
#[test]
fn the_keypad_does_not_move_under_the_finger_and_history_shows_the_change() {
    run(async {
        let dir = tempfile::tempdir()?;
        let app = till(dir.path(), "zh", "店长 李娜", "9999").await?;
        app.open_shift("100").await?;
        let keys = [
            "[data-testid='key-7']",
            "[data-testid='key-.']",
            "[data-testid=key-back]",
            "[data-testid=charge]",
            "[data-testid=channel-cash]",
        ];
        let mut before = Vec::new();
        for k in keys {
            before.push(app.rect(k).await?);
        }
        let same = |after: &[(f64, f64, f64, f64)], what: &str| {
            for ((k, a), b) in keys.iter().zip(after).zip(&before) {
                assert!(
                    (a.0 - b.0).abs() < 0.5
                        && (a.1 - b.1).abs() < 0.5
                        && (a.2 - b.2).abs() < 0.5
                        && (a.3 - b.3).abs() < 0.5,
                    "{k} moved with {what}: {b:?} → {a:?}"
                );
            }
        };

        // An error line: 收款 with no amount.
        app.click("[data-testid=charge]").await?;
        app.wait_for_text("[data-testid=error]", "请输入金额", SHORT)
            .await?;
        let mut after = Vec::new();
        for k in keys {
            after.push(app.rect(k).await?);
        }
        same(&after, "the error line");
        app.screenshot("keypad-error-zh").await?;

        // The success line of a cash sale, with its change.
        app.cash_sale("12.50", "20").await?;
        app.wait_for_text("[data-testid=cash-done]", "7.50", SHORT)
            .await?;
        let mut after = Vec::new();
        for k in keys {
            after.push(app.rect(k).await?);
        }
        same(&after, "the success line");
        app.screenshot("keypad-success-zh").await?;

        // The order in History: cash handed over and change.
        app.click("[data-testid=nav-history]").await?;
        app.click("[data-testid=history-row]").await?;
        app.wait_for_text("[data-testid=order-tendered]", "¥20.00", SHORT)
            .await?;
        app.wait_for_text("[data-testid=order-change]", "¥7.50", SHORT)
            .await?;
        app.screenshot("history-cash-change-zh").await?;
        app.quit().await?;
        Ok(())
    });
}
