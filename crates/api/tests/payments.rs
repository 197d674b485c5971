//! The payment service against the channel simulator over loopback HTTP,
//! with a real ledger file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::time::{Duration, Instant};

use serde_json::json;
use shouyin_api::{
    ChargeRequest, Counter, CounterEvent, CounterOptions, ErrorCode, InitRequest, OrderDto,
    PaymentSettings, PollSchedule,
};
use shouyin_core::{ChannelKind, OrderState};

struct Till {
    _dir: tempfile::TempDir,
    sim: Sim,
    counter: Counter,
}

async fn till(settings: PaymentSettings) -> Till {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let db = dir.path().join("ledger.db");
    shouyin_api::init_ledger(&db, &InitRequest::demo(), chrono::Utc::now()).unwrap();
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            channels: sim.channels(),
            payments: settings,
            ..CounterOptions::default()
        },
    )
    .await
    .unwrap();
    Till {
        _dir: dir,
        sim,
        counter,
    }
}

fn fast() -> PaymentSettings {
    PaymentSettings {
        probe_every: None,
        retry_cap: Duration::from_millis(500),
        ..PaymentSettings::default()
    }
}

fn charge(channel: ChannelKind, amount: &str) -> ChargeRequest {
    ChargeRequest {
        amount: amount.into(),
        channel,
        cashier: Some("王芳".into()),
        note: None,
        force: false,
        tendered: None,
    }
}

async fn charged(t: &Till, channel: ChannelKind) -> OrderDto {
    let order = t
        .counter
        .order_charge(charge(channel, "12.30"))
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Pending, "{order:?}");
    let qr = order.qr_payload.clone().unwrap();
    match channel {
        ChannelKind::Alipay => assert!(qr.starts_with("https://qr.alipay.com/"), "{qr}"),
        ChannelKind::Unionpay => assert!(qr.starts_with("https://qr.95516.com/"), "{qr}"),
        _ => assert!(qr.starts_with("weixin://wxpay/bizpayurl?pr="), "{qr}"),
    }
    order
}

const QR: [ChannelKind; 3] = [
    ChannelKind::Alipay,
    ChannelKind::Wechat,
    ChannelKind::Unionpay,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_qr_shows_paid_within_two_seconds() {
    let t = till(fast()).await;
    for channel in QR {
        let order = charged(&t, channel).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        t.sim.scan(order.qr_payload.as_deref().unwrap()).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let paid_at = Instant::now();
        t.sim.pay(&order.order_no).await;
        let done = t
            .counter
            .wait_final(&order.order_no, Duration::from_secs(10))
            .await
            .unwrap();
        let took = paid_at.elapsed();
        assert_eq!(done.state, OrderState::Paid, "{channel}: {done:?}");
        assert!(
            took < Duration::from_secs(2),
            "{channel}: paid after {took:?}"
        );
        assert!(done.channel_trade_no.is_some());
        let (_, events) = t
            .counter
            .order_events(order.order_no.clone())
            .await
            .unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["order_created", "order_pending", "order_paid"],
            "{channel}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_ends_closed() {
    let t = till(fast()).await;
    for channel in QR {
        let order = charged(&t, channel).await;
        t.sim.decline(&order.order_no).await;
        let done = t
            .counter
            .wait_final(&order.order_no, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(done.state, OrderState::Closed, "{channel}: {done:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_payment_is_closed_at_the_channel() {
    let t = till(PaymentSettings {
        expiry: Duration::from_secs(3),
        ..fast()
    })
    .await;
    for channel in QR {
        let order = charged(&t, channel).await;
        let done = t
            .counter
            .wait_final(&order.order_no, Duration::from_secs(15))
            .await
            .unwrap();
        assert_eq!(done.state, OrderState::Closed, "{channel}: {done:?}");
        assert!(
            done.reason.as_deref().unwrap_or("").contains("expired"),
            "{done:?}"
        );
        // The code can no longer be paid at the channel.
        let r = t
            .sim
            .control(
                reqwest::Method::POST,
                &format!("/_sim/trades/{}/pay", order.order_no),
                None,
            )
            .await;
        assert!(
            !r.status().is_success(),
            "{channel}: an expired, closed trade must refuse payment"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_closes_and_a_second_charge_needs_a_choice() {
    let t = till(fast()).await;
    for channel in QR {
        let order = charged(&t, channel).await;
        let err = t
            .counter
            .order_charge(charge(channel, "12.30"))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict, "{err}");
        assert!(err.message.contains(&order.order_no));
        let cancelled = t
            .counter
            .order_cancel(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(
            cancelled.state,
            OrderState::Closed,
            "{channel}: {cancelled:?}"
        );
        assert!(!matches!(
            t.sim.trade_state(&order.order_no).await.as_deref(),
            Some("paid")
        ));
        let r = t
            .sim
            .control(
                reqwest::Method::POST,
                &format!("/_sim/trades/{}/pay", order.order_no),
                None,
            )
            .await;
        assert!(
            !r.status().is_success(),
            "{channel}: a cancelled code must not be payable"
        );
    }
    // With an explicit choice a second charge goes ahead while one is open.
    let first = charged(&t, ChannelKind::Wechat).await;
    let second = t
        .counter
        .order_charge(ChargeRequest {
            force: true,
            ..charge(ChannelKind::Alipay, "3")
        })
        .await
        .unwrap();
    assert_eq!(second.state, OrderState::Pending);
    assert_ne!(first.order_no, second.order_no);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_that_loses_the_race_shows_paid() {
    let t = till(PaymentSettings {
        schedule: PollSchedule::Fixed(Duration::from_secs(30)),
        ..fast()
    })
    .await;
    for channel in QR {
        let order = charged(&t, channel).await;
        // The customer pays; the cashier presses cancel before any query saw it.
        t.sim.pay(&order.order_no).await;
        let cancelled = t
            .counter
            .order_cancel(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(
            cancelled.state,
            OrderState::Paid,
            "{channel}: money arrived, the order is paid: {cancelled:?}"
        );
        assert_eq!(
            t.sim.trade_state(&order.order_no).await.as_deref(),
            Some("paid")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_is_unknown_then_resolved() {
    let t = till(fast()).await;
    for channel in QR {
        t.sim.faults(json!({"drop_rate": 1.0})).await;
        let order = t
            .counter
            .order_charge(charge(channel, "8.80"))
            .await
            .unwrap();
        assert_eq!(order.state, OrderState::Unknown, "{channel}: {order:?}");
        assert!(order.qr_payload.is_none());
        t.sim.clear_faults().await;
        // The watcher asks again and gets the code.
        let mut events = t.counter.subscribe();
        let pending = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                if let Ok(CounterEvent::OrderChanged { order: o }) = events.recv().await {
                    if o.order_no == order.order_no && o.state == OrderState::Pending {
                        return o;
                    }
                }
            }
        })
        .await
        .expect("the unknown order must be resolved to pending");
        assert!(pending.qr_payload.is_some());
        t.sim.pay(&order.order_no).await;
        let done = t
            .counter
            .wait_final(&order.order_no, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(done.state, OrderState::Paid, "{channel}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_server_errors_while_waiting_still_confirm() {
    let t = till(fast()).await;
    for channel in QR {
        let order = charged(&t, channel).await;
        t.sim.faults(json!({"error_rate": 0.3})).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        t.sim.pay(&order.order_no).await;
        let done = t
            .counter
            .wait_final(&order.order_no, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(done.state, OrderState::Paid, "{channel}: {done:?}");
        t.sim.clear_faults().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_raises_the_alarm_and_changes_nothing() {
    let t = till(fast()).await;
    for channel in QR {
        let order = charged(&t, channel).await;
        let mut events = t.counter.subscribe();
        t.sim.faults(json!({"bad_signature_rate": 1.0})).await;
        t.sim.pay(&order.order_no).await;
        let alarm = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(CounterEvent::Alarm { alarm }) = events.recv().await {
                    return alarm;
                }
            }
        })
        .await
        .expect("an alarm must be raised");
        assert_eq!(alarm.channel, Some(channel));
        assert!(alarm.message.contains("signature"), "{}", alarm.message);
        // Untrusted answers changed nothing, even though the trade is paid.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (now, events_list) = t
            .counter
            .order_events(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(now.state, OrderState::Pending, "{channel}");
        assert!(events_list
            .iter()
            .any(|e| e.kind == "alarm_untrusted_answer"));
        t.sim.clear_faults().await;
        let done = t
            .counter
            .wait_final(&order.order_no, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(done.state, OrderState::Paid, "{channel}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_resolves_every_open_order() {
    let t = till(PaymentSettings {
        schedule: PollSchedule::Fixed(Duration::from_secs(600)),
        ..fast()
    })
    .await;
    // A sale the customer paid while the till was down, then one nobody paid.
    let paid = charged(&t, ChannelKind::Wechat).await;
    t.sim.pay(&paid.order_no).await;
    t.counter.shutdown().await;
    let recovered = t.counter.recover().await.unwrap();
    let state = |list: &[OrderDto], no: &str| list.iter().find(|o| o.order_no == no).unwrap().state;
    assert_eq!(state(&recovered, &paid.order_no), OrderState::Paid);
    let unpaid = t
        .counter
        .order_charge(charge(ChannelKind::Alipay, "5"))
        .await
        .unwrap();
    let recovered = t.counter.recover().await.unwrap();
    assert_eq!(state(&recovered, &unpaid.order_no), OrderState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_channel_is_marked_offline_before_anyone_presses_it() {
    let t = till(PaymentSettings {
        probe_every: Some(Duration::from_millis(200)),
        ..fast()
    })
    .await;
    t.sim.faults(json!({"drop_rate": 1.0})).await;
    let started = Instant::now();
    loop {
        let terminal = t.counter.terminal_get().await.unwrap();
        let alipay = terminal
            .channels
            .iter()
            .find(|c| c.channel == ChannelKind::Alipay)
            .unwrap();
        if !alipay.available {
            assert!(alipay.reason.as_deref().unwrap().starts_with("offline"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never marked offline"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    t.sim.clear_faults().await;
    let started = Instant::now();
    loop {
        let terminal = t.counter.terminal_get().await.unwrap();
        if terminal
            .channels
            .iter()
            .filter(|c| QR.contains(&c.channel))
            .all(|c| c.available)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never back online: {terminal:?} {:?}",
            t.counter.health_snapshot()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Alipay has no trade before the buyer scans, so it refuses to close (and
/// to cancel) a code nobody scanned with ACQ.TRADE_NOT_EXIST, while the code
/// itself stays payable until it expires. That refusal is not a close: the
/// order stays open, the till keeps trying, and a payment is still caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_code_nobody_scanned_is_not_closed_locally_while_it_can_be_paid() {
    let t = till(fast()).await;
    t.sim.faults(json!({"alipay_cancel_not_exist": true})).await;

    // The customer pays the code the cashier tried to cancel.
    let order = charged(&t, ChannelKind::Alipay).await;
    let err = t
        .counter
        .order_cancel(order.order_no.clone())
        .await
        .expect_err("a refused close must not end the order");
    assert_eq!(err.code, ErrorCode::ChannelRejected, "{err}");
    let (now, _) = t
        .counter
        .order_events(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(now.state, OrderState::Pending, "{now:?}");
    t.sim.pay(&order.order_no).await;
    let done = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Paid, "{done:?}");

    // The customer scans later: the till closes it as soon as Alipay can.
    let order = charged(&t, ChannelKind::Alipay).await;
    t.counter
        .order_cancel(order.order_no.clone())
        .await
        .unwrap_err();
    t.sim.scan(order.qr_payload.as_deref().unwrap()).await;
    let done = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Closed, "{done:?}");
    assert_eq!(
        t.sim.trade_state(&order.order_no).await.as_deref(),
        Some("closed")
    );
}

/// Nobody ever scans: "not found" becomes final once the code's life at
/// the channel is over, and the order closes then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_code_nobody_scanned_closes_once_it_has_expired() {
    let t = till(PaymentSettings {
        expiry: Duration::from_secs(2),
        not_scanned_grace: Duration::from_secs(1),
        ..fast()
    })
    .await;
    t.sim.faults(json!({"alipay_cancel_not_exist": true})).await;
    let order = charged(&t, ChannelKind::Alipay).await;
    let done = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Closed, "{done:?}");
    assert_eq!(done.reason.as_deref(), Some("expired: not paid in time"));
}

/// The till gave an order up (here: the channel's "not found" was taken as
/// final too early, the grace being zero, while the code stayed payable);
/// then the customer paid. A query that says "paid" moves it to paid, with
/// a late-payment event, an audit entry and an alarm on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_after_the_till_gave_up_is_a_recorded_late_payment() {
    let t = till(PaymentSettings {
        expiry: Duration::from_secs(2),
        not_scanned_grace: Duration::ZERO,
        ..fast()
    })
    .await;
    t.sim.faults(json!({"alipay_cancel_not_exist": true})).await;
    let order = charged(&t, ChannelKind::Alipay).await;
    let closed = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(closed.state, OrderState::Closed, "{closed:?}");
    let mut events = t.counter.subscribe();
    t.sim.pay(&order.order_no).await;
    let late = t
        .counter
        .order_recheck(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(late.state, OrderState::Paid, "{late:?}");
    let (_, log) = t
        .counter
        .order_events(order.order_no.clone())
        .await
        .unwrap();
    let paid = log.iter().find(|e| e.kind == "order_paid").unwrap();
    assert!(paid.payload.contains("\"late_payment\":true"), "{paid:?}");
    assert!(
        log.iter().any(|e| e.kind == "alarm_late_payment"),
        "{log:?}"
    );
    let audit = t.counter.audit_list(5).await.unwrap();
    assert!(
        audit.iter().any(|a| a.action == "late_payment"),
        "{audit:?}"
    );
    let alarm = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(CounterEvent::Alarm { alarm }) = events.recv().await {
                return alarm;
            }
        }
    })
    .await
    .expect("an alarm reaches the screen");
    assert!(alarm.message.contains("late payment"), "{alarm:?}");
    assert_eq!(alarm.order_no.as_deref(), Some(order.order_no.as_str()));
}

/// WeChat says the payment failed (PAYERROR): the till closes the order at
/// the channel before it shows "failed", so it cannot be paid behind the
/// cashier's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_payerror_is_closed_at_the_channel_before_it_fails() {
    let t = till(fast()).await;
    let order = charged(&t, ChannelKind::Wechat).await;
    t.sim.faults(json!({"wechat_payerror": true})).await;
    let done = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Failed, "{done:?}");
    assert_eq!(
        t.sim.trade_state(&order.order_no).await.as_deref(),
        Some("closed"),
        "closed at the channel"
    );
}

/// A cancel whose close lost the race to the buyer: Alipay's cancel then
/// reverses the payment. That reversal is a refund like any other: a refund
/// row and a `refund_succeeded` event, so report, head office and export agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_reversed_on_cancel_is_written_as_a_refund() {
    let t = till(PaymentSettings {
        schedule: PollSchedule::Fixed(Duration::from_secs(600)),
        ..fast()
    })
    .await;
    let order = charged(&t, ChannelKind::Alipay).await;
    t.sim.pay(&order.order_no).await;
    t.sim.faults(json!({"alipay_close_lost_race": true})).await;
    let done = t
        .counter
        .order_cancel(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Refunded, "{done:?}");
    assert_eq!(t.sim.refunded_fen(&order.order_no).await, 1230);
    let refunds = t
        .counter
        .refunds_for_order(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].amount, "12.30");
    let (_, log) = t
        .counter
        .order_events(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(
        log.iter().filter(|e| e.kind == "refund_succeeded").count(),
        1,
        "{log:?}"
    );
}

/// A payment the channel reports refunded before the till saw it paid.
/// Alipay's TRADE_CLOSED after payment is a full refund: written as one.
/// WeChat's REFUND says only that some refund happened: the order is paid,
/// nothing is guessed, and the cashier is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_reported_by_the_channel_is_written_as_a_refund_not_guessed() {
    let t = till(PaymentSettings {
        schedule: PollSchedule::Fixed(Duration::from_secs(600)),
        ..fast()
    })
    .await;
    let outside = shouyin_channels::ChannelsFile::from_json(&t.sim.credentials.to_string())
        .unwrap()
        .build()
        .unwrap();
    for (channel, refund_fen) in [(ChannelKind::Alipay, 1230), (ChannelKind::Wechat, 300)] {
        let order = charged(&t, channel).await;
        t.sim.pay(&order.order_no).await;
        outside[&channel]
            .refund(&shouyin_channels::RefundRequest {
                out_trade_no: order.order_no.clone(),
                out_refund_no: format!("{}_OUT", order.order_no),
                refund_fen,
                total_fen: 1230,
                reason: None,
            })
            .await
            .unwrap();
        let mut alarms = t.counter.subscribe();
        t.counter.shutdown().await;
        let recovered = t.counter.recover().await.unwrap();
        let o = recovered
            .iter()
            .find(|o| o.order_no == order.order_no)
            .unwrap();
        let refunds = t
            .counter
            .refunds_for_order(order.order_no.clone())
            .await
            .unwrap();
        let (_, log) = t
            .counter
            .order_events(order.order_no.clone())
            .await
            .unwrap();
        let succeeded = log.iter().filter(|e| e.kind == "refund_succeeded").count();
        match channel {
            ChannelKind::Alipay => {
                assert_eq!(o.state, OrderState::Refunded, "{o:?}");
                assert_eq!(refunds.len(), 1, "{refunds:?}");
                assert_eq!(refunds[0].amount, "12.30");
                assert_eq!(succeeded, 1);
            }
            _ => {
                assert_eq!(
                    o.state,
                    OrderState::Paid,
                    "not assumed refunded in full: {o:?}"
                );
                assert_eq!(o.refunded, "0.00");
                assert_eq!((refunds.len(), succeeded), (0, 0));
                let alarm = tokio::time::timeout(Duration::from_secs(5), async {
                    loop {
                        if let Ok(CounterEvent::Alarm { alarm }) = alarms.recv().await {
                            return alarm;
                        }
                    }
                })
                .await
                .expect("the cashier is told");
                assert!(alarm.message.contains("merchant platform"), "{alarm:?}");
            }
        }
    }
}

/// A charge the cashier confirmed while another code is open first closes
/// the earlier code at the channel, so the customer cannot pay both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_second_charge_closes_the_earlier_code_first() {
    let t = till(fast()).await;
    for channel in QR {
        let first = charged(&t, channel).await;
        let second = t
            .counter
            .order_charge(ChargeRequest {
                force: true,
                ..charge(channel, "3")
            })
            .await
            .unwrap();
        assert_eq!(second.state, OrderState::Pending);
        assert_eq!(
            t.sim.trade_state(&first.order_no).await.as_deref(),
            Some("closed"),
            "{channel}: the earlier code is closed at the channel"
        );
        let (earlier, _) = t
            .counter
            .order_events(first.order_no.clone())
            .await
            .unwrap();
        assert_eq!(earlier.state, OrderState::Closed, "{channel}");
        t.counter
            .order_cancel(second.order_no.clone())
            .await
            .unwrap();
    }
}
