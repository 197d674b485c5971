//! Roles in the real app: each role sees its own screens, the Rust side
//! refuses what the role may not do even when the page asks directly, an
//! accountant lands on the reports, and a real store's first start asks for
//! its first manager. Screenshots are saved under artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use shouyin_tests::{serial, App};

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

const SHORT: Duration = Duration::from_secs(15);

/// The nav's screens, in order, as `nav-…` test ids.
async fn nav(app: &App) -> anyhow::Result<Vec<String>> {
    let answer = app
        .client
        .execute(
            "return [...document.querySelectorAll('nav [data-testid^=nav-]')].map((b) => b.dataset.testid);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(answer)?)
}

/// Switch the screen to the other language (zh / en), photograph it, and
/// switch back: each screen is looked at in both.
async fn other_language(app: &App, name: &str) -> anyhow::Result<()> {
    app.click("[data-testid=lang]").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.screenshot(name).await?;
    app.click("[data-testid=lang]").await?;
    Ok(())
}

#[test]
fn a_cashier_sees_only_the_till_and_a_forbidden_command_is_refused() {
    run(async {
        let dir = tempfile::tempdir()?;
        let app = App::start(dir.path(), &[]).await?;
        app.wait_for_text("[data-testid=demo-badge]", "DEMO", SHORT)
            .await?;
        assert_eq!(nav(&app).await?, ["nav-cashier", "nav-shift"]);
        app.open_shift("200").await?;
        app.cash_sale("6.00", "10").await?;
        app.screenshot("roles-cashier").await?;
        other_language(&app, "roles-cashier-other-lang").await?;

        // The page itself asks for the day's report and a refund: refused
        // in Rust, whatever the UI shows.
        let report = app
            .invoke("reports_daily", json!({ "date": "2026-01-01" }))
            .await?;
        assert_eq!(report["err"]["code"], "forbidden", "{report}");
        let export = app
            .invoke(
                "export_csv",
                json!({ "path": "/tmp/x.csv", "req": { "from": "2026-01-01", "to": "2026-01-01" } }),
            )
            .await?;
        assert_eq!(export["err"]["code"], "forbidden", "{export}");

        app.click("[data-testid=nav-shift]").await?;
        app.wait_for("[data-testid=shift-open], [data-testid=blind-count]", SHORT)
            .await?;
        app.screenshot("roles-cashier-shift").await?;
        app.quit().await?;
        Ok(())
    });
}

#[test]
fn an_accountant_lands_on_the_reports_and_cannot_take_money() {
    run(async {
        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[]).await?;
        app.login_to("会计 张伟", "5555", "[data-testid=report-date]")
            .await?;
        assert_eq!(
            nav(&app).await?,
            ["nav-history", "nav-reports", "nav-export", "nav-reconcile"]
        );
        assert!(
            app.client
                .find(fantoccini::Locator::Css("[data-testid=amount]"))
                .await
                .is_err(),
            "no keypad for an accountant"
        );
        app.screenshot("roles-accountant").await?;
        other_language(&app, "roles-accountant-other-lang").await?;
        let sale = app
            .invoke(
                "order_charge",
                json!({ "req": { "amount": "1.00", "channel": "cash" } }),
            )
            .await?;
        assert_eq!(sale["err"]["code"], "forbidden", "{sale}");
        app.quit().await?;
        Ok(())
    });
}

#[test]
fn a_manager_sees_the_till_orders_reports_shift_and_settings() {
    run(async {
        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[]).await?;
        app.login("店长 李娜", "9999").await?;
        assert_eq!(
            nav(&app).await?,
            [
                "nav-cashier",
                "nav-history",
                "nav-reports",
                "nav-shift",
                "nav-settings"
            ]
        );
        app.screenshot("roles-manager").await?;
        other_language(&app, "roles-manager-other-lang").await?;
        app.click("[data-testid=nav-settings]").await?;
        app.wait_for("[data-testid=notifications]", SHORT).await?;
        app.screenshot("roles-manager-settings").await?;
        app.quit().await?;
        Ok(())
    });
}

#[test]
fn a_first_start_asks_for_the_first_manager_before_anything_else() {
    run(async {
        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[("SHOUYIN_DEMO", "0")]).await?;
        app.wait_for("[data-testid=setup]", SHORT).await?;
        assert!(
            app.client
                .find(fantoccini::Locator::Css("[data-testid=demo-badge]"))
                .await
                .is_err(),
            "a real store is no demo"
        );
        let users = app.invoke("users_list", json!({})).await?;
        assert_eq!(users["ok"], json!([]), "no demo staff: {users}");
        let sale = app
            .invoke(
                "order_charge",
                json!({ "req": { "amount": "1.00", "channel": "cash" } }),
            )
            .await?;
        assert_eq!(sale["err"]["code"], "not_logged_in", "{sale}");

        app.fill("[data-testid=setup-store]", "南京路店").await?;
        app.fill("[data-testid=setup-name]", "店长 陈静").await?;
        app.fill("[data-testid=setup-pin]", "2468").await?;
        app.fill("[data-testid=setup-pin-again]", "2469").await?;
        app.click("[data-testid=setup-submit]").await?;
        app.wait_for("[data-testid=setup-error]", SHORT).await?;
        app.screenshot("setup-first-manager").await?;
        other_language(&app, "setup-first-manager-other-lang").await?;
        app.fill("[data-testid=setup-pin-again]", "2468").await?;
        app.click("[data-testid=setup-submit]").await?;
        // The new manager is logged in at the till.
        app.wait_for("[data-testid=amount]", SHORT).await?;
        app.wait_for_text("[data-testid=current-user]", "店长 陈静", SHORT)
            .await?;
        app.screenshot("setup-done").await?;
        app.quit().await?;
        Ok(())
    });
}
