//! The manager's and accountant's work in the real app: a refund approved
//! with a manager's PIN, the Reports view with its chart, and an export
//! written to disk. Screenshots are saved under artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shouyin_tests::{serial, App};

const SHORT: Duration = Duration::from_secs(15);

#[test]
fn a_manager_refunds_with_a_pin_then_reports_and_exports_the_day() {
    let _one_at_a_time = serial();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result: anyhow::Result<()> = rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[]).await?;
        app.login("店长 李娜", "9999").await?;
        app.open_shift("100").await?;

        // A cash sale to refund.
        app.cash_sale("25.50", "30").await?;

        // History → the order → refund 10.00 → manager's PIN.
        app.click("[data-testid=nav-history]").await?;
        app.click("[data-testid=history-row]").await?;
        app.click("[data-testid=refund-start]").await?;
        app.fill("[data-testid=refund-amount]", "10.00").await?;
        app.fill("[data-testid=refund-reason]", "顾客退回一件商品").await?;
        app.click("[data-testid=refund-next]").await?;
        app.wait_for("[data-testid=approval-dialog]", SHORT).await?;
        for _ in 0..4 {
            app.click("[data-testid=approval-dialog] [data-testid='pin-9']").await?;
        }
        app.click("[data-testid=approval-ok]").await?;
        app.wait_for("[data-testid=refund-result]", SHORT).await?;
        app.screenshot("manager-refund").await?;

        // Reports: today's figures and the chart.
        if let Err(e) = app.click("[data-testid=nav-reports]").await {
            app.screenshot_display("manager-failure").await?;
            return Err(e);
        }
        app.wait_for("[data-testid=hour-chart]", SHORT).await?;
        app.wait_for_text("[data-testid=kpi-gross]", "25.50", SHORT).await?;
        app.wait_for_text("[data-testid=kpi-net]", "15.50", SHORT).await?;
        app.wait_for("[data-testid=hour-bar]", SHORT).await?;
        app.screenshot("reports").await?;

        // Exports are the accountant's: log out, the accountant logs in
        // (and lands on the reports), then exports the day as CSV into a
        // folder of ours (outside the app's data directory, where exports
        // are refused).
        app.logout().await?;
        app.login_to("会计 张伟", "5555", "[data-testid=report-date]")
            .await?;
        let docs = tempfile::tempdir()?;
        let out = docs.path().join("exports");
        std::fs::create_dir_all(&out)?;
        app.click("[data-testid=nav-export]").await?;
        app.fill("[data-testid=export-dir]", out.to_str().unwrap()).await?;
        app.fill("[data-testid=export-name]", "day.csv").await?;
        app.click("[data-testid=export-run]").await?;
        if let Err(e) = app.wait_for("[data-testid=export-result]", SHORT).await {
            app.screenshot("export-failure").await?;
            let screen = app.text(".export").await?;
            anyhow::bail!("{e:#}; the export screen says: {screen}");
        }
        app.screenshot("export").await?;
        // The same file again: nothing is replaced until the user says so.
        let first = std::fs::read(out.join("day.csv"))?;
        std::fs::write(out.join("day.csv"), b"kept until replaced")?;
        app.click("[data-testid=export-run]").await?;
        app.wait_for("[data-testid=export-exists]", SHORT).await?;
        app.screenshot("export-exists").await?;
        assert_eq!(
            std::fs::read(out.join("day.csv"))?,
            b"kept until replaced",
            "an existing file is not touched before the user chooses to replace it"
        );
        app.click("[data-testid=export-overwrite]").await?;
        app.wait_for("[data-testid=export-result]", SHORT).await?;
        assert_eq!(std::fs::read(out.join("day.csv"))?, first, "replaced on request");
        app.quit().await?;

        let csv = std::fs::read_to_string(out.join("day.csv"))?;
        let csv = csv.trim_start_matches('\u{feff}');
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("business_date,created_at,paid_at,store,terminal,cashier,order_no,channel,channel_trade_no,state,amount,refunded,net,currency,note,kind,refund_no,original_order_no")
        );
        // The sale in full, then its refund as a row of its own: the day's
        // net adds up to the report's 15.50.
        let row = lines.next().expect("one order row");
        assert!(row.contains(",cash,") && row.contains(",25.50,10.00,25.50,CNY"), "{row}");
        assert!(row.contains("part_refunded") && row.contains(",sale,"), "{row}");
        let refund = lines.next().expect("one refund row");
        assert!(refund.contains(",succeeded,-10.00,0.00,-10.00,CNY,"), "{refund}");
        assert!(refund.contains(",refund,"), "{refund}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e:?}");
    }
}
