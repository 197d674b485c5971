//! Channel calls counted at the till reach head office: a counter charging
//! against the simulator, a real head office (SQLite) over loopback HTTP,
//! and head office's `/metrics` and page read back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use shouyin_api::{ChargeRequest, Counter, CounterOptions, PaymentSettings, PollSchedule};
use shouyin_core::ChannelKind;
use shouyin_testkit::hq::ADMIN_TOKEN;
use shouyin_testkit::{Backend, Hq, TempLedger};
use shouyin_wire as wire;

struct Shop {
    _dir: tempfile::TempDir,
    ledger: TempLedger,
    sim: Sim,
    hq: Hq,
    counter: Counter,
}

fn settings() -> PaymentSettings {
    PaymentSettings {
        schedule: PollSchedule::Adaptive,
        probe_every: None,
        retry_cap: Duration::from_millis(500),
        ..PaymentSettings::default()
    }
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let hq = Hq::start(Backend::Sqlite).await;
    let ledger = TempLedger::demo(chrono::Utc::now());
    let counter = ledger
        .counter(CounterOptions {
            channels: sim.channels(),
            payments: settings(),
            ..CounterOptions::default()
        })
        .await;
    let code = hq.enroll_code("SH01").await;
    counter.sync_enroll(hq.base(), code).await.unwrap();
    Shop {
        _dir: dir,
        ledger,
        sim,
        hq,
        counter,
    }
}

fn charge(channel: ChannelKind) -> ChargeRequest {
    ChargeRequest {
        amount: "12.30".into(),
        channel,
        cashier: None,
        note: None,
        force: true,
        tendered: None,
    }
}

async fn metrics_text(hq: &Hq) -> String {
    reqwest::get(format!("{}/metrics", hq.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Every sample of `/metrics`, keyed by series (name and labels).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn calls(samples: &BTreeMap<String, f64>, channel: &str, call: &str, outcome: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with("shouyin_channel_calls_total{")
                && k.contains(&format!("channel=\"{channel}\""))
                && k.contains(&format!("call=\"{call}\""))
                && k.contains(&format!("outcome=\"{outcome}\""))
        })
        .map(|(_, v)| *v)
        .sum()
}

/// The channel metrics of `/metrics` (head office's own request counters
/// move with every request, refused or not).
async fn channel_metrics(hq: &Hq) -> String {
    metrics_text(hq)
        .await
        .lines()
        .filter(|l| l.contains("shouyin_channel_") || l.contains("shouyin_terminal_"))
        .map(|l| format!("{l}\n"))
        .collect()
}

async fn page(hq: &Hq) -> String {
    reqwest::Client::new()
        .get(format!("{}/", hq.base()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Half of WeChat's answers are 5xx: the till's create calls reach head
/// office with their outcomes, the series show the error ratio, and the
/// page marks the store's WeChat cell as failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_failing_wechat_shows_its_error_ratio_at_head_office() {
    let shop = shop().await;
    shop.sim
        .faults(json!({"error_rate": 0.5, "error_code": "SYSTEM_ERROR"}))
        .await;
    const SALES: usize = 30;
    for _ in 0..SALES {
        // A 5xx leaves the sale unknown; it is not an error of the call.
        let _ = shop.counter.order_charge(charge(ChannelKind::Wechat)).await;
    }
    let pass = shop.counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");

    let text = metrics_text(&shop.hq).await;
    let s = samples(&text);
    let ok = calls(&s, "wechat", "create", "ok");
    let failed = calls(&s, "wechat", "create", "indeterminate");
    // Every sale asked for a code at least once (a lost answer may be asked
    // again under the same trade number).
    assert!(ok + failed >= SALES as f64, "{text}");
    let ratio = failed / (ok + failed);
    println!("wechat create calls: {ok} ok, {failed} indeterminate, error ratio {ratio:.2}");
    assert!(
        (0.2..=0.8).contains(&ratio),
        "error ratio {ratio} far from the 50% injected\n{text}"
    );
    assert!(
        text.contains(
            "shouyin_terminal_last_report_timestamp_seconds{store=\"SH01\",terminal=\"T01\"}"
        ),
        "{text}"
    );
    assert!(
        s.keys()
            .any(|k| k.starts_with("shouyin_channel_call_seconds_bucket{store=\"SH01\",terminal=\"T01\",channel=\"wechat\",call=\"create\"")),
        "{text}"
    );
    // The store is shown by the name its till's ledger carries.
    assert!(
        text.contains("Stores: SH01="),
        "store name in the help text: {text}"
    );

    alert_fires_over(ok as u64, failed as u64, ratio);

    let html = page(&shop.hq).await;
    let row = html
        .split("<tr data-store=\"SH01\" data-channel=\"wechat\">")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no SH01 × wechat cell on the page:\n{html}"));
    assert!(
        row.contains("failing"),
        "the failing cell is not marked: {row}"
    );
    assert!(html.contains("支付通道健康") && html.contains("Payment channel health"));
    if let Ok(out) = std::env::var("SHOUYIN_HQ_PAGE_OUT") {
        std::fs::write(out, &html).unwrap();
    }
}

/// The store alert of `deploy/prometheus/alerts.yml`, run by promtool over
/// series that grow every 15 s as the till's reports just did: quiet before
/// its two minutes, firing after, with the ratio head office measured.
fn alert_fires_over(ok: u64, failed: u64, ratio: f64) {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/prometheus/alerts.yml")
        .canonicalize()
        .unwrap();
    // Go's `%.4g` for a ratio of 10% to 99%: two decimals, zeros trimmed.
    let percent = format!("{:.2}", ratio * 100.0);
    let percent = percent.trim_end_matches('0').trim_end_matches('.');
    let labels = "store=\"SH01\",terminal=\"T01\",channel=\"wechat\",call=\"create\"";
    let test = format!(
        "rule_files:\n  - {rules}\nevaluation_interval: 15s\ntests:\n  - interval: 15s\n    input_series:\n\
         \x20     - series: 'shouyin_channel_calls_total{{{labels},outcome=\"ok\"}}'\n        values: '0+{ok}x40'\n\
         \x20     - series: 'shouyin_channel_calls_total{{{labels},outcome=\"indeterminate\"}}'\n        values: '0+{failed}x40'\n\
         \x20   alert_rule_test:\n\
         \x20     - eval_time: 1m\n        alertname: ChannelErrorRatioHighInStore\n        exp_alerts: []\n\
         \x20     - eval_time: 5m\n        alertname: ChannelErrorRatioHighInStore\n        exp_alerts:\n\
         \x20         - exp_labels: {{severity: page, store: SH01, channel: wechat}}\n\
         \x20           exp_annotations:\n\
         \x20             summary: \"wechat failing at store SH01\"\n\
         \x20             description: \"{percent}% of wechat calls at store SH01 got no usable answer over 2 minutes; cashiers may need another channel.\"\n",
        rules = rules.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("measured_test.yml");
    std::fs::write(&file, &test).unwrap();
    let promtool = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("promtool is not installed: run scripts/setup.sh"));
    let out = std::process::Command::new(promtool)
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the store alert did not fire over the measured series:\n{test}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A charge made by one process (the CLI) and never reported is left beside
/// the ledger; the next process's sync pass (`shouyin sync --once`) sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_left_by_an_ended_process_are_sent_by_the_next_sync_pass() {
    let shop = shop().await;
    let order = shop
        .counter
        .order_charge(charge(ChannelKind::Alipay))
        .await
        .unwrap();
    shop.sim.pay(&order.order_no).await;
    let paid = shop
        .counter
        .wait_final(&order.order_no, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(paid.state, shouyin_core::OrderState::Paid);
    shop.counter.shutdown().await;
    let left = shouyin_api::channel_calls::calls_file_path(&shop.ledger.path);
    assert!(left.exists(), "nothing left at {}", left.display());
    drop(shop.counter);

    let next = shop
        .ledger
        .counter(CounterOptions {
            channels: shop.sim.channels(),
            payments: settings(),
            ..CounterOptions::default()
        })
        .await;
    let pass = next.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    assert!(
        !left.exists(),
        "the left calls were sent and the file removed"
    );
    let text = metrics_text(&shop.hq).await;
    let s = samples(&text);
    assert_eq!(calls(&s, "alipay", "create", "ok"), 1.0, "{text}");
    // The sale's events went up in the same pass: QR shown → paid is timed.
    assert_eq!(
        s.get("shouyin_channel_confirm_seconds_count{store=\"SH01\",channel=\"alipay\"}"),
        Some(&1.0),
        "{text}"
    );
    // A second pass has nothing new to say about that call.
    next.sync_pass().await.unwrap();
    let s = samples(&metrics_text(&shop.hq).await);
    assert_eq!(calls(&s, "alipay", "create", "ok"), 1.0);
}

/// A payment by the customer's code (付款码) is counted as `pay_by_code`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_payments_are_counted_as_pay_by_code() {
    let shop = shop().await;
    let code = shop.sim.paycode("alipay", false, None).await;
    let order = shop
        .counter
        .order_charge_code(shouyin_api::CodeChargeRequest {
            amount: "8.80".into(),
            code,
            cashier: None,
        })
        .await
        .unwrap();
    assert_eq!(order.channel, ChannelKind::Alipay);
    let pass = shop.counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    let text = metrics_text(&shop.hq).await;
    let s = samples(&text);
    assert_eq!(calls(&s, "alipay", "pay_by_code", "ok"), 1.0, "{text}");
}

/// A report signed as the enrolled till would sign it.
async fn post_signed(shop: &Shop, body: &[u8], nonce: &str) -> (u16, Value) {
    let file = shouyin_api::sync::HqFile::load(&shouyin_api::sync::hq_file_path(&shop.ledger.path))
        .unwrap()
        .unwrap();
    let as_json: Value = serde_json::to_value(&file).unwrap();
    let secret = hex::decode(as_json["secret"].as_str().unwrap()).unwrap();
    let headers = wire::sign_request(
        &secret,
        &file.terminal_id,
        "POST",
        wire::CHANNEL_REPORT_PATH,
        body,
        chrono::Utc::now(),
        nonce,
    );
    let mut request = reqwest::Client::new()
        .post(format!("{}{}", shop.hq.base(), wire::CHANNEL_REPORT_PATH))
        .header("content-type", "application/json");
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    let response = request.body(body.to_vec()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn good_report(from_secs: i64, to_secs: i64) -> Value {
    let now = chrono::Utc::now();
    let mut buckets = vec![0u64; wire::CALL_BUCKET_SLOTS];
    buckets[1] = 3;
    json!({
        "from": (now - chrono::Duration::seconds(from_secs)).to_rfc3339(),
        "to": (now - chrono::Duration::seconds(to_secs)).to_rfc3339(),
        "lines": [{
            "channel": "wechat", "call": "query",
            "ok": 2, "refused": 1, "indeterminate": 0, "untrusted": 0,
            "buckets": buckets, "sum_ms": 240
        }]
    })
}

/// Unknown channels, negative counts, huge histograms and replayed reports
/// are refused with errors that say why; nothing is counted and no series
/// appears for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_are_refused_and_leave_no_trace() {
    let shop = shop().await;
    let before = channel_metrics(&shop.hq).await;

    let mut unknown = good_report(60, 30);
    unknown["lines"][0]["channel"] = json!("paypal");
    let mut negative = good_report(60, 30);
    negative["lines"][0]["ok"] = json!(-5);
    let mut huge = good_report(60, 30);
    huge["lines"][0]["buckets"] = json!(vec![1u64; 100_000]);
    let mut lying = good_report(60, 30);
    lying["lines"][0]["ok"] = json!(1_000);
    let mut cash = good_report(60, 30);
    cash["lines"][0]["channel"] = json!("cash");
    for (i, (bad, field, says)) in [
        (&unknown, "lines[0].channel", "paypal"),
        (&negative, "lines[0].ok", "invalid value"),
        (&huge, "lines[0].buckets", "exactly"),
        (&lying, "lines[0].buckets", "do not add up"),
        (&cash, "lines[0].channel", "cash"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = serde_json::to_vec(bad).unwrap();
        let (status, answer) = post_signed(&shop, &body, &format!("bad-report-nonce-{i:04}")).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["code"], "bad_request", "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert_eq!(
        channel_metrics(&shop.hq).await,
        before,
        "a refused report changed the metrics"
    );

    // One good report is counted once, however it is sent again.
    let body = serde_json::to_vec(&good_report(60, 30)).unwrap();
    let (status, answer) = post_signed(&shop, &body, "good-report-nonce-0001").await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post_signed(&shop, &body, "good-report-nonce-0001").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("replayed_nonce"))
    );
    let (status, answer) = post_signed(&shop, &body, "good-report-nonce-0002").await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("already taken"),
        "{answer}"
    );
    let text = channel_metrics(&shop.hq).await;
    let s = samples(&text);
    assert_eq!(calls(&s, "wechat", "query", "ok"), 2.0, "{text}");
    assert_eq!(calls(&s, "wechat", "query", "refused"), 1.0, "{text}");
    assert!(
        !text.contains("paypal") && !text.contains("channel=\"cash\""),
        "{text}"
    );

    // A stranger's report (no valid signature) is refused before it is read.
    let response = reqwest::Client::new()
        .post(format!("{}{}", shop.hq.base(), wire::CHANNEL_REPORT_PATH))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(channel_metrics(&shop.hq).await, text);
}

/// A WeChat sale whose create answer is lost: the trade exists at the
/// channel, the till cannot tell.
async fn went_unknown(shop: &Shop) -> shouyin_api::OrderDto {
    shop.sim.faults(json!({"drop_rate": 1.0})).await;
    let order = shop
        .counter
        .order_charge(charge(ChannelKind::Wechat))
        .await
        .unwrap();
    assert_eq!(order.state, shouyin_core::OrderState::Unknown, "{order:?}");
    shop.sim.clear_faults().await;
    order
}

async fn settled(shop: &Shop, no: String) -> shouyin_core::OrderState {
    shop.counter
        .wait_final(&no, Duration::from_secs(20))
        .await
        .unwrap()
        .state
}

/// Orders that went unknown and how they ended, read by head office from
/// the synced events: three WeChat sales whose create answer is lost (the
/// trade exists, the till cannot tell), then one paid after all, one closed
/// by the cashier, one failed at the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_gone_unknown_and_their_ends_reach_head_office() {
    use shouyin_core::OrderState;
    let shop = shop().await;
    let paid = went_unknown(&shop).await;
    shop.sim.pay(&paid.order_no).await;
    assert_eq!(
        settled(&shop, paid.order_no.clone()).await,
        OrderState::Paid
    );
    let closed = went_unknown(&shop).await;
    let c = shop
        .counter
        .order_cancel(closed.order_no.clone())
        .await
        .unwrap();
    assert_eq!(c.state, OrderState::Closed, "{c:?}");
    let failed = went_unknown(&shop).await;
    shop.sim.faults(json!({"wechat_payerror": true})).await;
    assert_eq!(
        settled(&shop, failed.order_no.clone()).await,
        OrderState::Failed
    );
    shop.sim.clear_faults().await;
    // One more sale that never went unknown is not counted.
    let plain = shop
        .counter
        .order_charge(charge(ChannelKind::Wechat))
        .await
        .unwrap();
    shop.sim.pay(&plain.order_no).await;
    assert_eq!(
        settled(&shop, plain.order_no.clone()).await,
        OrderState::Paid
    );

    let pass = shop.counter.sync_pass().await.unwrap();
    assert!(pass.ok, "{pass:?}");
    let text = metrics_text(&shop.hq).await;
    let s = samples(&text);
    let series = |name: &str| s.get(name).copied().unwrap_or(-1.0);
    assert_eq!(
        series("shouyin_channel_unknown_orders_total{store=\"SH01\",channel=\"wechat\"}"),
        3.0,
        "{text}"
    );
    for outcome in ["resolved", "closed", "failed"] {
        assert_eq!(
            series(&format!(
                "shouyin_channel_unknown_outcomes_total{{store=\"SH01\",channel=\"wechat\",outcome=\"{outcome}\"}}"
            )),
            1.0,
            "{outcome}: {text}"
        );
    }
    // The page's health table, both languages, with the shares.
    let html = page(&shop.hq).await;
    assert!(html.contains("状态未知的订单") && html.contains("Orders gone unknown"));
    let row = html
        .split("<tr data-store=\"SH01\" data-channel=\"wechat\">")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no SH01 × wechat cell on the page:\n{html}"));
    assert!(row.contains("data-unknown=\"entered\">3<"), "{row}");
    for outcome in ["resolved", "closed", "failed"] {
        assert!(
            row.contains(&format!("data-unknown=\"{outcome}\">1 (33%)<")),
            "{outcome}: {row}"
        );
    }
    if let Ok(out) = std::env::var("SHOUYIN_HQ_PAGE_OUT") {
        std::fs::write(out, &html).unwrap();
    }
    // Sent again, the same events change nothing.
    let again = shop.counter.sync_pass().await.unwrap();
    assert!(again.ok, "{again:?}");
    let s2 = samples(&metrics_text(&shop.hq).await);
    assert_eq!(
        s2.get("shouyin_channel_unknown_orders_total{store=\"SH01\",channel=\"wechat\"}"),
        Some(&3.0)
    );
}
