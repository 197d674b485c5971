//! Channel control end to end over loopback: a real head office (SQLite)
//! suspends a channel for the till's store, the enrolled till learns it
//! over the relay within seconds, keeps it in its ledger, refuses a new
//! charge on it while its open orders still settle, and learns the lift the
//! same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shouyin_api::dto::{Approval, RefundCreateRequest, RefundStateDto};
use shouyin_api::{
    ChargeRequest, Counter, CounterOptions, ErrorCode, PaymentSettings, PollSchedule,
};
use shouyin_core::{ChannelKind, OrderState};

/// How soon a change at head office must show on the till.
const WITHIN: Duration = Duration::from_secs(5);

struct Shop {
    _dir: tempfile::TempDir,
    _ledger: shouyin_testkit::TempLedger,
    sim: Sim,
    hq: shouyin_testkit::Hq,
    counter: Counter,
    http: reqwest::Client,
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let hq = shouyin_testkit::Hq::start(shouyin_testkit::Backend::Sqlite).await;
    let ledger = shouyin_testkit::TempLedger::demo(chrono::Utc::now());
    let counter = ledger
        .counter(CounterOptions {
            channels: sim.channels(),
            payments: PaymentSettings {
                schedule: PollSchedule::Fixed(Duration::from_millis(300)),
                probe_every: None,
                retry_cap: Duration::from_millis(500),
                ..PaymentSettings::default()
            },
            pin_cost: shouyin_api::PinCost::cheap_for_tests(),
            ..CounterOptions::default()
        })
        .await;
    counter.ensure_demo_users().await.unwrap();
    let code = hq.enroll_code("SH01").await;
    counter.sync_enroll(hq.base(), code).await.unwrap();
    counter.start_relay();
    let started = Instant::now();
    while !counter.relay_live() {
        assert!(started.elapsed() < Duration::from_secs(20), "relay down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Shop {
        _dir: dir,
        _ledger: ledger,
        sim,
        hq,
        counter,
        http: reqwest::Client::new(),
    }
}

impl Shop {
    /// An admin's suspend or lift at head office, over HTTP.
    async fn control(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.hq.base()))
            .bearer_auth(shouyin_testkit::hq::ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The reason the till's channel button shows, or `None`.
    async fn suspended(&self, channel: ChannelKind) -> Option<String> {
        let t = self.counter.terminal_get().await.unwrap();
        let c = t.channels.iter().find(|c| c.channel == channel).unwrap();
        if c.suspended.is_some() {
            assert!(!c.available, "a suspended channel is not available");
        }
        c.suspended.clone()
    }

    /// Wait until the till's button says `want`; how long it took.
    async fn until(&self, channel: ChannelKind, want: Option<&str>) -> Duration {
        let started = Instant::now();
        loop {
            if self.suspended(channel).await.as_deref() == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < WITHIN,
                "the till did not show {channel} as {want:?} within {WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn charge(channel: ChannelKind) -> ChargeRequest {
    ChargeRequest {
        amount: "12.30".into(),
        channel,
        cashier: None,
        note: None,
        force: false,
        tendered: None,
    }
}

fn manager() -> Approval {
    Approval {
        approver_name: "店长 李娜".into(),
        pin: "9999".into(),
    }
}

const REASON: &str = "微信支付通道故障，请用支付宝";

impl Shop {
    async fn suspend_wechat(&self) {
        let answer = self
            .control(
                "/v1/channels/suspend",
                json!({"store": "SH01", "channel": "wechat", "reason": REASON, "by": "张经理"}),
            )
            .await;
        assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
        let took = self.until(ChannelKind::Wechat, Some(REASON)).await;
        println!("suspension reached the till in {took:?}");
    }

    async fn lift_wechat(&self) {
        let answer = self
            .control(
                "/v1/channels/lift",
                json!({"store": "SH01", "channel": "wechat", "reason": "通道已恢复", "by": "张经理"}),
            )
            .await;
        assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
        let took = self.until(ChannelKind::Wechat, None).await;
        println!("lift reached the till in {took:?}");
    }

    async fn wechat_order(&self) -> shouyin_api::OrderDto {
        let order = self
            .counter
            .order_charge(charge(ChannelKind::Wechat))
            .await
            .unwrap();
        assert_eq!(order.state, OrderState::Pending, "{order:?}");
        order
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_reaches_the_till_within_seconds_and_is_lifted() {
    let shop = shop().await;
    assert_eq!(shop.suspended(ChannelKind::Wechat).await, None);

    // 1. An order open when the suspension comes is still closed.
    let to_close = shop.wechat_order().await;
    shop.suspend_wechat().await;
    assert_eq!(shop.suspended(ChannelKind::Alipay).await, None);
    // A new WeChat charge is refused, with the facts for the words.
    let err = shop
        .counter
        .order_charge(charge(ChannelKind::Wechat))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ChannelSuspended, "{err:?}");
    assert_eq!(
        err.fields.get("channel").map(String::as_str),
        Some("wechat")
    );
    assert_eq!(err.fields.get("reason").map(String::as_str), Some(REASON));
    // So is a customer's WeChat payment code, before anything is sent, and
    // a manager's manual confirmation that would start a new order.
    let code = shop.sim.paycode("wechat", false, None).await;
    let err = shop
        .counter
        .order_charge_code(shouyin_api::dto::CodeChargeRequest {
            amount: "12.30".into(),
            code,
            cashier: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ChannelSuspended, "{err:?}");
    let err = shop
        .counter
        .order_confirm_manually(
            shouyin_api::dto::ManualConfirmRequest {
                order_no: None,
                amount: Some("12.30".into()),
                channel: Some(ChannelKind::Wechat),
                cashier: "收银员 王芳".into(),
                note: None,
            },
            manager(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ChannelSuspended, "{err:?}");
    let closed = shop
        .counter
        .order_cancel(to_close.order_no.clone())
        .await
        .unwrap();
    assert_eq!(closed.state, OrderState::Closed, "{closed:?}");
    // Alipay is untouched.
    let alipay = shop
        .counter
        .order_charge(charge(ChannelKind::Alipay))
        .await
        .unwrap();
    assert_eq!(alipay.state, OrderState::Pending);
    shop.counter.order_cancel(alipay.order_no).await.unwrap();
    shop.lift_wechat().await;

    // 2. An order open when the suspension comes is still paid, found by
    // the till's query, and refunded.
    let open = shop.wechat_order().await;
    shop.suspend_wechat().await;
    shop.sim.pay(&open.order_no).await;
    let done = shop
        .counter
        .wait_final(&open.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Paid, "{done:?}");
    let refund = shop
        .counter
        .refund_create(
            RefundCreateRequest {
                order_no: open.order_no.clone(),
                amount: "2.00".into(),
                reason: Some("顾客退货".into()),
                requested_by: "收银员 王芳".into(),
            },
            manager(),
        )
        .await
        .unwrap();
    let refund = shop
        .counter
        .refund_wait_final(&refund.refund_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(refund.state, RefundStateDto::Succeeded, "{refund:?}");

    // Head office's page lists it while it lasts.
    let page = shop
        .http
        .get(format!("{}/", shop.hq.base()))
        .bearer_auth(shouyin_testkit::hq::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let table = page
        .split("id=\"channel-suspensions\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_else(|| panic!("no suspensions table: {page}"));
    assert!(
        table.contains(REASON) && table.contains("张经理"),
        "{table}"
    );
    if let Ok(out) = std::env::var("SHOUYIN_HQ_PAGE_OUT") {
        std::fs::write(out, &page).unwrap();
    }

    // Lifted: the button comes back and WeChat charges again.
    shop.lift_wechat().await;
    let again = shop.wechat_order().await;
    shop.counter.order_cancel(again.order_no).await.unwrap();

    // Audited at the till: head office's suspensions and lifts, in order.
    let audit = shop.counter.audit_list(100).await.unwrap();
    let ours: Vec<(String, Value)> = audit
        .iter()
        .filter(|e| e.action == "channel_suspended" || e.action == "channel_lifted")
        .map(|e| {
            assert_eq!(e.actor, "head_office");
            (e.action.clone(), serde_json::from_str(&e.detail).unwrap())
        })
        .collect();
    let actions: Vec<&str> = ours.iter().map(|(a, _)| a.as_str()).collect();
    // Newest first.
    assert_eq!(
        actions,
        [
            "channel_lifted",
            "channel_suspended",
            "channel_lifted",
            "channel_suspended"
        ]
    );
    assert_eq!(ours[0].1["channel"], "wechat");
    assert_eq!(ours[1].1["reason"], REASON);
    assert_eq!(ours[1].1["all_stores"], false);

    // Audited at head office: who, when, how, store, channel, reason.
    let list: Value = shop
        .http
        .get(format!("{}/v1/channels/suspensions", shop.hq.base()))
        .bearer_auth(shouyin_testkit::hq::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["suspensions"], json!([]));
    let log = list["log"].as_array().unwrap();
    let actions: Vec<&str> = log.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["lift", "suspend", "lift", "suspend"], "{list}");
    for line in log {
        assert_eq!(line["by"], "张经理");
        assert_eq!(line["via"], "http");
        assert_eq!(line["store"], "SH01");
        assert_eq!(line["channel"], "wechat");
        assert!(line["at"].as_str().is_some());
    }
    assert_eq!(log[1]["reason"], REASON);
    assert_eq!(log[0]["reason"], "通道已恢复");
}

/// A change written straight to head office's database (as `shouyin hq
/// suspend-channel` does from another process) reaches the till too, and
/// an all-stores suspension applies to this store; a till started afresh
/// is sent the current set at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_from_another_process_and_the_set_at_start_reach_the_till() {
    let shop = shop().await;
    shop.hq
        .control_channel(None, "alipay", Some("支付宝全国故障"))
        .await;
    let took = shop
        .until(ChannelKind::Alipay, Some("支付宝全国故障"))
        .await;
    println!("a change from another process reached the till in {took:?}");

    // A till that starts now (the same ledger reopened: the app after a
    // restart) already refuses from its ledger, and the relay confirms.
    shop.counter.shutdown().await;
    let counter = Counter::open_ledger(
        &shop._ledger.path,
        CounterOptions {
            channels: shop.sim.channels(),
            ..CounterOptions::default()
        },
    )
    .await
    .unwrap();
    let err = counter
        .order_charge(charge(ChannelKind::Alipay))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ChannelSuspended);
    // Lifted while the till was closed: learnt as soon as the relay is up.
    shop.hq.control_channel(None, "alipay", None).await;
    counter.start_relay();
    let started = Instant::now();
    loop {
        let t = counter.terminal_get().await.unwrap();
        let alipay = t
            .channels
            .iter()
            .find(|c| c.channel == ChannelKind::Alipay)
            .unwrap();
        if alipay.suspended.is_none() {
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "the lift was not learnt at start"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let order = counter
        .order_charge(charge(ChannelKind::Alipay))
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Pending);
    counter.order_cancel(order.order_no).await.unwrap();
}
