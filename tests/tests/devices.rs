//! Receipts and the cash drawer in the real app, driven through WebDriver
//! under Xvfb, printing to the virtual printer (`shouyin printer`, the CLI
//! binary) over raw TCP: a manager sets the printer in Settings and prints a
//! test page, a cash sale prints its receipt and pulses the drawer, a QR
//! sale's receipt carries the channel's transaction number, and a printer
//! that is down leaves "not printed" on the order until a retry prints it.
//! Screenshots and the receipts' PNGs are saved under artifacts/e2e/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::json;
use shouyin_tests::{artifacts_dir, cli_binary, serial, App, Sim};

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

/// The virtual printer, as `make run` starts it.
struct Printer {
    child: Child,
    uri: String,
    out: PathBuf,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Printer {
    fn start(out: &Path, listen: &str) -> anyhow::Result<Printer> {
        let mut child = Command::new(cli_binary()?)
            .args(["printer", "--listen", listen, "--out"])
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start shouyin printer")?;
        let mut stdout = BufReader::new(child.stdout.take().context("printer stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let uri = line
            .trim()
            .strip_prefix("printer=")
            .ok_or_else(|| anyhow!("shouyin printer said {line:?}"))?
            .to_owned();
        Ok(Printer {
            child,
            uri,
            out: out.to_owned(),
            _stdout: stdout,
        })
    }

    /// (text, png path) of each job received, in order.
    fn jobs(&self) -> Vec<(String, PathBuf)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.retain(|p| {
            p.extension().is_some_and(|e| e == "txt")
                && !p.to_string_lossy().ends_with(".error.txt")
        });
        names.sort();
        names
            .iter()
            .map(|p| {
                (
                    std::fs::read_to_string(p).unwrap_or_default(),
                    p.with_extension("png"),
                )
            })
            .collect()
    }

    /// Wait for a job whose text holds `needle`.
    async fn wait_job(&self, needle: &str) -> anyhow::Result<(String, PathBuf)> {
        for _ in 0..150 {
            if let Some(job) = self.jobs().into_iter().find(|(t, _)| t.contains(needle)) {
                return Ok(job);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("no job with {needle:?}; jobs: {:?}", self.jobs())
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keep_png(png: &Path, name: &str) -> anyhow::Result<()> {
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(png, dir.join(format!("{name}.png")))?;
    Ok(())
}

async fn ok(
    app: &App,
    command: &str,
    args: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let v = app.invoke(command, args).await?;
    v.get("ok")
        .cloned()
        .ok_or_else(|| anyhow!("{command}: {v}"))
}

/// The manager sets the printer in Settings and prints a test page.
async fn set_printer(app: &App, uri: &str) -> anyhow::Result<()> {
    app.click("[data-testid=nav-settings]").await?;
    app.wait_for("[data-testid=printer-uri]", SHORT).await?;
    app.fill("[data-testid=printer-uri]", uri).await?;
    app.click("[data-testid=devices-save]").await?;
    app.wait_for_text(".notice", "设置已保存", SHORT).await?;
    Ok(())
}

#[test]
fn a_cash_sale_prints_its_receipt_and_pulses_the_drawer() {
    run(async {
        let dir = tempfile::tempdir()?;
        let printer = Printer::start(&dir.path().join("paper"), "127.0.0.1:0")?;
        let app = App::launch(&dir.path().join("app"), &[]).await?;
        app.login("店长 李娜", "9999").await?;
        app.open_shift("200").await?;
        set_printer(&app, &printer.uri).await?;
        // Two header lines (WebDriver's Enter key between them).
        app.fill(
            "[data-testid=header-lines]",
            "南京东路 88 号\u{E007}电话 021-12345678",
        )
        .await?;
        app.click("[data-testid=print-test]").await?;
        app.wait_for_text(".notice", "测试页已打印", SHORT).await?;
        app.screenshot("settings-printer").await?;
        let (page, png) = printer.wait_job("打印测试 TEST PAGE").await?;
        for line in ["南京东路 88 号", "电话 021-12345678"] {
            assert!(
                page.lines().any(|l| l.trim() == line),
                "{line:?} not a line of\n{page}"
            );
        }
        keep_png(&png, "receipt-test-page")?;

        app.click("[data-testid=nav-cashier]").await?;
        app.cash_sale("12.30", "20").await?;
        let recent = ok(&app, "orders_recent", json!({ "limit": 1 })).await?;
        let order_no = recent[0]["order_no"]
            .as_str()
            .context("order_no")?
            .to_owned();
        let (receipt, png) = printer.wait_job(&order_no).await?;
        for expected in [
            "销售小票 RECEIPT",
            "店长 李娜",
            "现金 Cash",
            "￥12.30",
            "找零 Change",
            "￥7.70",
            "[CUT]",
            "电话 021-12345678",
        ] {
            assert!(
                receipt.contains(expected),
                "{expected:?} missing from\n{receipt}"
            );
        }
        assert!(receipt.contains(&format!("[QR {order_no}]")), "{receipt}");
        keep_png(&png, "receipt-cash")?;
        let (pulse, _) = printer.wait_job("[DRAWER pin 2").await?;
        assert_eq!(pulse.trim(), "[DRAWER pin 2 50ms/500ms]");
        app.quit().await?;
        Ok(())
    });
}

#[test]
fn a_qr_sale_prints_its_receipt_with_the_transaction_number() {
    run(async {
        let dir = tempfile::tempdir()?;
        let sim = Sim::start(&dir.path().join("sim")).await?;
        let data = dir.path().join("app");
        sim.configure(&data)?;
        let printer = Printer::start(&dir.path().join("paper"), "127.0.0.1:0")?;
        let app = App::launch(&data, &[]).await?;
        app.login("店长 李娜", "9999").await?;
        app.open_shift("200").await?;
        set_printer(&app, &printer.uri).await?;
        app.click("[data-testid=nav-cashier]").await?;
        app.key_amount("88.80").await?;
        app.press(&["w"]).await?;
        app.wait_for("[data-testid=qr] svg", SHORT).await?;
        let order_no = app.text(".order-no").await?;
        sim.scan(&order_no).await?;
        sim.pay(&order_no).await?;
        app.wait_for("[data-testid=paid]", SHORT).await?;
        let events = ok(&app, "order_events", json!({ "orderNo": order_no })).await?;
        let trade_no = events[0]["channel_trade_no"]
            .as_str()
            .context("a transaction number")?
            .to_owned();
        let (receipt, png) = printer.wait_job(&order_no).await?;
        for expected in ["微信支付 WeChat Pay", trade_no.as_str(), "￥88.80"] {
            assert!(
                receipt.contains(expected),
                "{expected:?} missing from\n{receipt}"
            );
        }
        assert!(!receipt.contains("[DRAWER"), "no drawer for a QR sale");
        assert!(printer.jobs().iter().all(|(t, _)| !t.contains("[DRAWER")));
        keep_png(&png, "receipt-wechat")?;

        // Scan to refund: the transaction number typed by a scanner (and
        // Enter) into the Orders search opens that order.
        app.press(&["Enter"]).await?;
        app.click("[data-testid=nav-history]").await?;
        app.fill(
            "[data-testid=history-search]",
            &format!("{trade_no}\u{E007}"),
        )
        .await?;
        app.wait_for_text(".detail h2", &order_no, SHORT).await?;
        app.wait_for("[data-testid=refund-start]", SHORT).await?;
        app.screenshot("orders-scanned").await?;

        // At the till itself: the receipt's barcode (its order number), and
        // then the channel's transaction number, each typed by the scanner
        // with Enter, open that order in Orders, ready for the refund.
        for reference in [order_no.as_str(), trade_no.as_str()] {
            app.click("[data-testid=nav-cashier]").await?;
            app.wait_for("[data-testid=amount]", SHORT).await?;
            let mut keys: Vec<&str> = reference
                .char_indices()
                .map(|(i, c)| &reference[i..i + c.len_utf8()])
                .collect();
            keys.push("Enter");
            app.press(&keys).await?;
            app.wait_for_text(".detail h2", &order_no, SHORT).await?;
            app.wait_for("[data-testid=refund-start]", SHORT).await?;
        }
        app.screenshot("till-scanned-receipt").await?;
        app.quit().await?;
        Ok(())
    });
}

#[test]
fn a_printer_that_is_down_leaves_not_printed_and_a_retry_prints_it() {
    run(async {
        let dir = tempfile::tempdir()?;
        // The printer's address, with nothing listening on it yet: it is off.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let app = App::launch(&dir.path().join("app"), &[]).await?;
        app.login("店长 李娜", "9999").await?;
        app.open_shift("200").await?;
        set_printer(&app, &format!("tcp://127.0.0.1:{port}")).await?;
        app.click("[data-testid=nav-cashier]").await?;
        app.cash_sale("6.60", "10").await?;

        app.click("[data-testid=nav-history]").await?;
        app.wait_for("[data-testid=not-printed]", SHORT).await?;
        app.click("[data-testid=history-row]").await?;
        app.wait_for("[data-testid=print-failed]", SHORT).await?;
        app.screenshot("orders-not-printed").await?;

        let printer = Printer::start(&dir.path().join("paper"), &format!("127.0.0.1:{port}"))?;
        app.click("[data-testid=print-retry]").await?;
        app.wait_for_text("[data-testid=print-note]", "已打印", SHORT)
            .await?;
        let recent = ok(&app, "orders_recent", json!({ "limit": 1 })).await?;
        let order_no = recent[0]["order_no"]
            .as_str()
            .context("order_no")?
            .to_owned();
        let (receipt, _) = printer.wait_job(&order_no).await?;
        assert!(
            receipt.contains("￥6.60") && receipt.contains("销售小票 RECEIPT"),
            "{receipt}"
        );
        let failed = ok(&app, "print_failed", json!({})).await?;
        assert_eq!(failed.as_array().map(Vec::len), Some(0), "{failed}");

        // A reprint is marked as one.
        app.click("[data-testid=reprint]").await?;
        app.wait_for_text("[data-testid=print-note]", "已重印", SHORT)
            .await?;
        let (again, png) = printer.wait_job("重印 REPRINT").await?;
        assert!(again.contains(&order_no), "{again}");
        keep_png(&png, "receipt-reprint")?;
        app.screenshot("orders-reprinted").await?;
        app.quit().await?;
        Ok(())
    });
}
