//! The accountant imports the channels' bill files in the real app: a
//! WeChat Pay ALL bill (gzip) with a coupon, a pending refund and a reversed
//! payment; the REFUND bill for the refunds' day; Alipay's account log,
//! refused in words that name the file to import; UnionPay's reconciliation
//! zip, and a cut-off ZM file refused by its line. The Reconcile screen is
//! photographed in Chinese and in English (artifacts/e2e/bills-*.png).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shouyin_tests::{serial, workspace_root, App};

const SHORT: Duration = Duration::from_secs(15);

fn fixture(name: &str) -> String {
    workspace_root()
        .join("testdata/bills")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Set a form control the way a person's input does (a date input takes no
/// typed keys under WebDriver on every engine).
async fn set_value(app: &App, css: &str, value: &str, event: &str) -> anyhow::Result<()> {
    app.wait_for(css, SHORT).await?;
    app.client
        .execute(
            "const el = document.querySelector(arguments[0]);
             el.value = arguments[1];
             el.dispatchEvent(new Event(arguments[2], { bubbles: true }));",
            vec![css.into(), value.into(), event.into()],
        )
        .await?;
    Ok(())
}

async fn reconcile(app: &App, channel: &str, date: &str, bill: &str) -> anyhow::Result<()> {
    set_value(app, "[data-testid=rc-channel]", channel, "change").await?;
    set_value(app, "[data-testid=rc-date]", date, "input").await?;
    app.fill("[data-testid=rc-file]", &fixture(bill)).await?;
    app.click("[data-testid=rc-run]").await?;
    Ok(())
}

#[test]
fn the_accountant_reconciles_every_kind_of_bill_in_both_languages() {
    let _one_at_a_time = serial();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result: anyhow::Result<()> = rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let app = App::launch(dir.path(), &[]).await?;
        app.login_to("会计 张伟", "5555", "[data-testid=report-date]")
            .await?;
        // The shop's own records of those days, beside the running app (WAL).
        let ledger = rusqlite::Connection::open(dir.path().join("ledger.db"))?;
        ledger.busy_timeout(Duration::from_secs(5))?;
        ledger.execute_batch(&std::fs::read_to_string(fixture("ledger_20261120.sql"))?)?;

        app.click("[data-testid=nav-reconcile]").await?;
        reconcile(&app, "wechat", "2026-11-20", "wechat_all_20261120.csv.gz").await?;
        app.wait_for_text("[data-testid=rc-bill-type]", "全部订单账单（ALL）", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-footer]", "一致", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-settled]", "95.30", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-apart]", "处理中的退款 1 笔", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-apart]", "已撤销的付款 1 笔", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-lines]", "退款处理中", SHORT)
            .await?;
        // Every line, to see the coupon's settled figure and the reversal.
        app.click(".lines-head label.check input").await?;
        app.wait_for_text("[data-testid=rc-lines]", "实收 ¥45.00", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-lines]", "撤销", SHORT)
            .await?;
        // The ledger's states in the screen's language too.
        app.wait_for_text("[data-testid=rc-lines]", "PROCESSING / 退款处理中", SHORT)
            .await?;
        app.screenshot("bills-wechat-all-zh").await?;

        app.click("[data-testid=lang]").await?;
        app.wait_for_text(
            "[data-testid=rc-bill-type]",
            "WeChat Pay bill of all orders (ALL)",
            SHORT,
        )
        .await?;
        app.wait_for_text("[data-testid=rc-apart]", "refunds pending: 1", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-lines]", "settled ¥45.00", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-lines]", "Refund pending", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-lines]", "refund processing", SHORT)
            .await?;
        app.screenshot("bills-wechat-all-en").await?;

        // The REFUND bill belongs to the day the refunds succeeded.
        reconcile(&app, "wechat", "2026-11-21", "wechat_refund_20261121.csv").await?;
        app.wait_for_text("[data-testid=rc-bill-type]", "(REFUND", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-apart]", "refunds pending: 1", SHORT)
            .await?;
        app.screenshot("bills-wechat-refund-en").await?;
        // For the payments' day it is refused, saying which day it is for.
        reconcile(&app, "wechat", "2026-11-20", "wechat_refund_20261121.csv").await?;
        app.wait_for_text("[role=alert]", "set the bill date to 2026-11-21", SHORT)
            .await?;
        app.screenshot("bills-wrong-day-en").await?;

        app.click("[data-testid=lang]").await?;
        reconcile(&app, "wechat", "2026-11-21", "wechat_refund_20261121.csv").await?;
        app.wait_for_text("[data-testid=rc-bill-type]", "退款账单（REFUND", SHORT)
            .await?;
        app.screenshot("bills-wechat-refund-zh").await?;

        // Alipay: the account log is refused, naming the file to import.
        reconcile(
            &app,
            "alipay",
            "2026-11-20",
            "alipay_20261120_账务明细.csv.zip",
        )
        .await?;
        app.wait_for_text("[role=alert]", "请导入同一压缩包里的“业务明细”文件", SHORT)
            .await?;
        let alert = app.text("[role=alert]").await?;
        assert!(
            !alert.contains("account log"),
            "said in one language: {alert}"
        );
        app.screenshot("bills-account-log-zh").await?;
        // The 业务明细 zip: 商家优惠 shown beside the gross figures.
        reconcile(&app, "alipay", "2026-11-20", "alipay_20261120.csv.zip").await?;
        app.wait_for_text("[data-testid=rc-bill-type]", "支付宝 业务明细", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-verdict]", "账实相符", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-settled]", "44.30", SHORT)
            .await?;
        app.screenshot("bills-alipay-zh").await?;

        // UnionPay: the reconciliation zip (ZM file) of the same day; a
        // cancel and a reversal beside their payments, refunds by number.
        reconcile(&app, "unionpay", "2026-11-20", "unionpay_20261120.zip").await?;
        app.wait_for_text("[data-testid=rc-bill-type]", "银联 对账文件", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-verdict]", "账实相符", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-apart]", "已撤销的付款 2 笔", SHORT)
            .await?;
        app.wait_for_text("[data-testid=rc-lines]", "U0090_R1", SHORT)
            .await?;
        app.screenshot("bills-unionpay-zh").await?;
        app.click("[data-testid=lang]").await?;
        app.wait_for_text(
            "[data-testid=rc-bill-type]",
            "UnionPay reconciliation file",
            SHORT,
        )
        .await?;
        // A cut-off file: its line, in the screen's language.
        let cut = dir.path().join("INN26112088ZM_777290058110048");
        let zm = std::fs::read(fixture("unionpay_INN26112088ZM_777290058110048"))?;
        std::fs::write(&cut, &zm[..zm.len() - 400])?;
        set_value(&app, "[data-testid=rc-channel]", "unionpay", "change").await?;
        app.fill("[data-testid=rc-file]", &cut.to_string_lossy())
            .await?;
        app.click("[data-testid=rc-run]").await?;
        app.wait_for_text(
            "[role=alert]",
            "line 10 does not follow the fixed-width layout",
            SHORT,
        )
        .await?;
        app.screenshot("bills-unionpay-bad-row-en").await?;
        app.quit().await?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e:?}");
    }
}
