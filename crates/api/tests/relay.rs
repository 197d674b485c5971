//! Payment notifications from the simulator, through a real head office
//! (SQLite, over loopback HTTP), to the counter's watchers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shouyin_api::{ChargeRequest, Counter, CounterOptions, PaymentSettings, PollSchedule};
use shouyin_core::{ChannelKind, OrderState};

struct Shop {
    /// The simulator's state.
    _dir: tempfile::TempDir,
    ledger: shouyin_testkit::TempLedger,
    sim: Sim,
    /// Head office on SQLite; its server runs on a runtime of its own, so
    /// killing it cuts every connection at once, like the process dying.
    hq: shouyin_testkit::Hq,
    hq_url: String,
    counter: Counter,
}

impl Shop {
    fn kill_head_office(&mut self) {
        self.hq.server.kill();
    }
}

/// A simulator, a head office and a counter whose own polling is
/// `schedule`; when `enrolled`, enrolled with the relay running.
async fn shop_with(schedule: PollSchedule, enrolled: bool) -> Shop {
    shop_with_settings(
        PaymentSettings {
            schedule,
            probe_every: None,
            retry_cap: Duration::from_millis(500),
            ..PaymentSettings::default()
        },
        enrolled,
    )
    .await
}

async fn shop_with_settings(payments: PaymentSettings, enrolled: bool) -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let hq = shouyin_testkit::Hq::start(shouyin_testkit::Backend::Sqlite).await;
    let hq_url = hq.base();
    let ledger = shouyin_testkit::TempLedger::demo(chrono::Utc::now());
    let counter = ledger
        .counter(CounterOptions {
            channels: sim.channels(),
            payments,
            ..CounterOptions::default()
        })
        .await;
    let shop = Shop {
        _dir: dir,
        ledger,
        sim,
        hq,
        hq_url,
        counter,
    };
    if enrolled {
        shop.enrol().await;
    }
    shop
}

impl Shop {
    /// Enrol the counter with head office and wait for the relay.
    async fn enrol(&self) {
        let code = self.hq.enroll_code("SH01").await;
        self.counter
            .sync_enroll(self.hq_url.clone(), code)
            .await
            .unwrap();
        self.counter.start_relay();
        let started = Instant::now();
        while !self.counter.relay_live() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the relay did not come up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn shop(schedule: PollSchedule) -> Shop {
    shop_with(schedule, true).await
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

async fn notifications(sim: &Sim) -> Vec<Value> {
    let v: Value = sim
        .http
        .get(format!("{}/_sim/notifications", sim.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array()
        .cloned()
        .or_else(|| v["notifications"].as_array().cloned())
        .unwrap_or_default()
}

/// With the counter's own polling a minute apart, only the pushed
/// notification can confirm a payment within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_confirms_the_payment_at_once() {
    let shop = shop(PollSchedule::Fixed(Duration::from_secs(60))).await;
    for channel in [ChannelKind::Alipay, ChannelKind::Wechat] {
        let order = shop.counter.order_charge(charge(channel)).await.unwrap();
        assert_eq!(order.state, OrderState::Pending, "{order:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let paid_at = Instant::now();
        shop.sim.pay(&order.order_no).await;
        let done = shop
            .counter
            .wait_final(&order.order_no, Duration::from_secs(10))
            .await
            .unwrap();
        let took = paid_at.elapsed();
        assert_eq!(done.state, OrderState::Paid, "{channel}: {done:?}");
        assert!(
            took < Duration::from_secs(1),
            "{channel}: paid after {took:?}"
        );
        eprintln!("{channel}: paid in the ledger {took:?} after the payment");
        let sent = notifications(&shop.sim).await;
        let delivered = sent
            .iter()
            .any(|n| n["out_trade_no"] == json!(order.order_no) && n["delivered"] == json!(true));
        assert!(delivered, "{channel}: {sent:?}");
        let url = sent
            .iter()
            .find(|n| n["out_trade_no"] == json!(order.order_no))
            .and_then(|n| n["url"].as_str())
            .unwrap()
            .to_owned();
        assert!(
            url.starts_with(&format!("{}/v1/notify/", shop.hq_url)),
            "{url}"
        );
    }
}

/// Notifications lost on the way: the safety-net polling still confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_notifications_are_caught_by_polling() {
    let shop = shop(PollSchedule::Fixed(Duration::from_secs(1))).await;
    shop.sim.faults(json!({"notify_drop_rate": 1.0})).await;
    let order = shop
        .counter
        .order_charge(charge(ChannelKind::Wechat))
        .await
        .unwrap();
    shop.sim.pay(&order.order_no).await;
    let done = shop
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Paid, "{done:?}");
    assert!(
        notifications(&shop.sim)
            .await
            .iter()
            .all(|n| n["delivered"] != json!(true)),
        "nothing was delivered"
    );
}

/// Anyone can post to head office's notify URL; a forgery is refused by
/// the channel's signature and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_notification_changes_nothing() {
    let shop = shop(PollSchedule::Fixed(Duration::from_secs(60))).await;
    let order = shop
        .counter
        .order_charge(charge(ChannelKind::Wechat))
        .await
        .unwrap();
    let terminal =
        shouyin_api::sync::HqFile::load(&shouyin_api::sync::hq_file_path(&shop.ledger.path))
            .unwrap()
            .unwrap()
            .terminal_id;
    let forged = json!({
        "id": "EV-forged",
        "create_time": "2026-11-21T10:00:00+08:00",
        "event_type": "TRANSACTION.SUCCESS",
        "resource_type": "encrypt-resource",
        "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": "AAAA", "associated_data": "transaction", "nonce": "abcdefghijkl"}
    });
    let r = shop
        .sim
        .http
        .post(format!("{}/v1/notify/{terminal}/wechat", shop.hq_url))
        .header(
            "wechatpay-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("wechatpay-nonce", "forgedforgedforged")
        .header("wechatpay-signature", "Zm9yZ2Vk")
        .header("wechatpay-serial", "PUB_KEY_ID_FORGED")
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "head office takes it in: {}",
        r.status()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = shop.counter.orders_recent(5).await.unwrap();
    let same = now.iter().find(|o| o.order_no == order.order_no).unwrap();
    assert_eq!(same.state, OrderState::Pending, "{same:?}");
    // Kept at head office all the same (it cannot tell), for the record.
    assert_eq!(
        shop.hq
            .store
            .notices_after(terminal, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Head office down: the relay says so, and polling takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_reports_when_head_office_is_gone() {
    let mut shop = shop(PollSchedule::Fixed(Duration::from_secs(1))).await;
    shop.kill_head_office();
    let started = Instant::now();
    while shop.counter.relay_live() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the relay still says live"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let order = shop
        .counter
        .order_charge(charge(ChannelKind::Wechat))
        .await
        .unwrap();
    shop.sim.pay(&order.order_no).await;
    let done = shop
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Paid);
}

/// An order created before the counter was enrolled carries no head-office
/// notify URL: no notification will come, so it keeps the full adaptive
/// schedule (about a second apart) instead of the 5-second safety net.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_from_before_enrolment_keeps_the_full_schedule() {
    let shop = shop_with(PollSchedule::Adaptive, false).await;
    let order = shop
        .counter
        .order_charge(charge(ChannelKind::Wechat))
        .await
        .unwrap();
    shop.enrol().await;
    // Past the first query (2 s), where a 5-second wait would begin.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let paid_at = Instant::now();
    shop.sim.pay(&order.order_no).await;
    let done = shop
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    let took = paid_at.elapsed();
    assert_eq!(done.state, OrderState::Paid, "{done:?}");
    assert!(took < Duration::from_millis(1500), "paid after {took:?}");
    assert!(
        !notifications(&shop.sim).await.iter().any(|n| n["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&shop.hq_url))),
        "no notification went to head office for this order"
    );
}

/// The till gave an order up (its "not found" taken as final, the grace
/// being zero, while Alipay kept the code payable) and then the customer
/// paid. The channel's signed notification, relayed by head office, is not
/// dropped: the order becomes paid as a recorded late payment, with an alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_for_an_order_the_till_gave_up_is_a_late_payment() {
    let shop = shop_with_settings(
        PaymentSettings {
            schedule: PollSchedule::Fixed(Duration::from_secs(1)),
            expiry: Duration::from_secs(2),
            not_scanned_grace: Duration::ZERO,
            probe_every: None,
            retry_cap: Duration::from_millis(500),
            ..PaymentSettings::default()
        },
        true,
    )
    .await;
    shop.sim
        .faults(json!({"alipay_cancel_not_exist": true}))
        .await;
    let order = shop
        .counter
        .order_charge(charge(ChannelKind::Alipay))
        .await
        .unwrap();
    let closed = shop
        .counter
        .wait_final(&order.order_no, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(closed.state, OrderState::Closed, "{closed:?}");
    let mut events = shop.counter.subscribe();
    shop.sim.pay(&order.order_no).await;
    let alarm = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(shouyin_api::CounterEvent::Alarm { alarm }) = events.recv().await {
                return alarm;
            }
        }
    })
    .await
    .expect("the late payment is raised on screen");
    assert!(alarm.message.contains("late payment"), "{alarm:?}");
    let (now, log) = shop
        .counter
        .order_events(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(now.state, OrderState::Paid, "{now:?}");
    let paid = log.iter().find(|e| e.kind == "order_paid").unwrap();
    assert!(paid.payload.contains("notification"), "{paid:?}");
    assert!(
        log.iter().any(|e| e.kind == "alarm_late_payment"),
        "{log:?}"
    );
}
