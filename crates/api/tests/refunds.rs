//! Refunds and the verification of manual confirmations against the channel
//! simulator over loopback HTTP, with a real ledger file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use shouyin_api::dto::{Approval, ManualConfirmRequest, RefundCreateRequest, RefundStateDto};
use shouyin_api::{
    ChargeRequest, Counter, CounterOptions, ErrorCode, InitRequest, OrderDto, PaymentSettings,
    PollSchedule,
};
use shouyin_core::{ChannelKind, OrderState};

struct Till {
    dir: tempfile::TempDir,
    sim: Sim,
    counter: Counter,
}

fn settings() -> PaymentSettings {
    PaymentSettings {
        probe_every: None,
        retry_cap: Duration::from_millis(500),
        ..PaymentSettings::default()
    }
}

impl Till {
    fn db(&self) -> PathBuf {
        self.dir.path().join("ledger.db")
    }

    /// Another program on the same ledger file (the CLI beside the app).
    async fn second_counter(&self) -> Counter {
        Counter::open_ledger(
            &self.db(),
            CounterOptions {
                channels: self.sim.channels(),
                payments: settings(),
                pin_cost: shouyin_api::PinCost::cheap_for_tests(),
                ..CounterOptions::default()
            },
        )
        .await
        .unwrap()
    }
}

async fn till_with(payments: PaymentSettings) -> Till {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let db = dir.path().join("ledger.db");
    shouyin_api::init_ledger(&db, &InitRequest::demo(), chrono::Utc::now()).unwrap();
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            channels: sim.channels(),
            payments,
            pin_cost: shouyin_api::PinCost::cheap_for_tests(),
            ..CounterOptions::default()
        },
    )
    .await
    .unwrap();
    counter.ensure_demo_users().await.unwrap();
    Till { dir, sim, counter }
}

async fn till() -> Till {
    till_with(settings()).await
}

fn manager() -> Approval {
    Approval {
        approver_name: "店长 李娜".into(),
        pin: "9999".into(),
    }
}

fn refund(order_no: &str, amount: &str) -> RefundCreateRequest {
    RefundCreateRequest {
        order_no: order_no.into(),
        amount: amount.into(),
        reason: Some("顾客退货".into()),
        requested_by: "收银员 王芳".into(),
    }
}

const QR: [ChannelKind; 3] = [
    ChannelKind::Alipay,
    ChannelKind::Wechat,
    ChannelKind::Unionpay,
];

async fn paid(t: &Till, channel: ChannelKind, amount: &str) -> OrderDto {
    let order = t
        .counter
        .order_charge(ChargeRequest {
            amount: amount.into(),
            channel,
            cashier: Some("收银员 王芳".into()),
            note: None,
            force: true,
            tendered: None,
        })
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Pending, "{order:?}");
    t.sim.pay(&order.order_no).await;
    let done = t
        .counter
        .wait_final(&order.order_no, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Paid, "{done:?}");
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_then_full_refunds_through_the_channel() {
    let t = till().await;
    for channel in QR {
        let order = paid(&t, channel, "12.30").await;
        let r1 = t
            .counter
            .refund_create(refund(&order.order_no, "5.00"), manager())
            .await
            .unwrap();
        assert_eq!(r1.state, RefundStateDto::Succeeded, "{channel}: {r1:?}");
        assert_eq!(r1.refund_no, format!("{}_R1", order.order_no));
        assert!(r1.refund_no.len() <= 64);
        assert_eq!(r1.approver.as_deref(), Some("店长 李娜"));
        assert_eq!(t.sim.refunded_fen(&order.order_no).await, 500);
        let (o, _) = t
            .counter
            .order_events(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(o.state, OrderState::PartRefunded);
        assert_eq!(o.refunded, "5.00");

        let err = t
            .counter
            .refund_create(refund(&order.order_no, "7.31"), manager())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::OverRefund, "{channel}: {err}");

        let r2 = t
            .counter
            .refund_create(refund(&order.order_no, "7.30"), manager())
            .await
            .unwrap();
        assert_eq!(r2.state, RefundStateDto::Succeeded);
        assert_eq!(r2.refund_no, format!("{}_R2", order.order_no));
        assert_eq!(t.sim.refunded_fen(&order.order_no).await, 1230);
        let (o, events) = t
            .counter
            .order_events(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(o.state, OrderState::Refunded);
        assert_eq!(o.refunded, "12.30");
        let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "refund_succeeded").count(),
            2,
            "{kinds:?}"
        );
        assert!(kinds.contains(&"audit_refund_requested"));
        assert!(kinds.contains(&"order_part_refunded"));
        assert!(kinds.contains(&"order_refunded"));
        let refunds = t
            .counter
            .refunds_for_order(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(refunds.len(), 2, "the refused one left no row");
    }
    assert!(t.counter.audit_verify().await.unwrap().intact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_dropped_answer_moves_money_once() {
    let t = till().await;
    for channel in QR {
        let order = paid(&t, channel, "20.00").await;
        // The channel does the refund, but its answer never arrives.
        t.sim.faults(json!({"drop_rate": 1.0})).await;
        let r = t
            .counter
            .refund_create(refund(&order.order_no, "3.00"), manager())
            .await
            .unwrap();
        assert_eq!(r.state, RefundStateDto::Unknown, "{channel}: {r:?}");
        assert_eq!(t.sim.refunded_fen(&order.order_no).await, 300);
        // Unknown still reserves the amount: no one can refund past it meanwhile.
        let err = t
            .counter
            .refund_create(refund(&order.order_no, "17.01"), manager())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::OverRefund);
        t.sim.clear_faults().await;
        let done = t
            .counter
            .refund_wait_final(&r.refund_no, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(done.state, RefundStateDto::Succeeded, "{channel}: {done:?}");
        assert_eq!(done.refund_no, r.refund_no, "the same request number");
        assert_eq!(
            t.sim.refunded_fen(&order.order_no).await,
            300,
            "{channel}: the retry must not refund twice"
        );
        let (o, events) = t
            .counter
            .order_events(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(o.refunded, "3.00");
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind == "refund_succeeded")
                .count(),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_refunds_at_once_that_together_exceed_the_payment_one_succeeds() {
    let t = till().await;
    let other = t.second_counter().await;
    for channel in QR {
        let order = paid(&t, channel, "12.30").await;
        // Two programs on the same ledger, each approving 8.00 at the same time.
        let (a, b) = tokio::join!(
            t.counter
                .refund_create(refund(&order.order_no, "8.00"), manager()),
            other.refund_create(refund(&order.order_no, "8.00"), manager()),
        );
        let results = [a, b];
        let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(ok.len(), 1, "{channel}: {results:?}");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].code, ErrorCode::OverRefund, "{}", refused[0]);
        assert_eq!(ok[0].state, RefundStateDto::Succeeded);
        assert_eq!(t.sim.refunded_fen(&order.order_no).await, 800);
        let (o, _) = t
            .counter
            .order_events(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(o.refunded, "8.00");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_refused_by_the_channel_releases_its_amount() {
    let t = till().await;
    let order = paid(&t, ChannelKind::Wechat, "10.00").await;
    // Somebody refunded 6.00 at the merchant platform, outside this till.
    let other = shouyin_channels::ChannelsFile::from_json(&t.sim.credentials.to_string())
        .unwrap()
        .build()
        .unwrap();
    other[&ChannelKind::Wechat]
        .refund(&shouyin_channels::RefundRequest {
            out_trade_no: order.order_no.clone(),
            out_refund_no: "OUTSIDE_1".into(),
            refund_fen: 600,
            total_fen: 1000,
            reason: None,
        })
        .await
        .unwrap();
    let r = t
        .counter
        .refund_create(refund(&order.order_no, "5.00"), manager())
        .await
        .unwrap();
    assert_eq!(r.state, RefundStateDto::Failed, "{r:?}");
    let (o, _) = t
        .counter
        .order_events(order.order_no.clone())
        .await
        .unwrap();
    assert_eq!(o.state, OrderState::Paid);
    assert_eq!(o.refunded, "0.00");
    // The failed refund reserves nothing: 4.00 can still go back.
    let r = t
        .counter
        .refund_create(refund(&order.order_no, "4.00"), manager())
        .await
        .unwrap();
    assert_eq!(r.state, RefundStateDto::Succeeded);
    assert_eq!(r.refund_no, format!("{}_R2", order.order_no));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_approver_pin_refunds_nothing() {
    let t = till().await;
    let order = paid(&t, ChannelKind::Alipay, "9.90").await;
    let err = t
        .counter
        .refund_create(
            refund(&order.order_no, "9.90"),
            Approval {
                approver_name: "店长 李娜".into(),
                pin: "1234".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PinWrong);
    assert!(t
        .counter
        .refunds_for_order(order.order_no.clone())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(t.sim.refunded_fen(&order.order_no).await, 0);
    // A void refunds what is left, approved.
    let v = t
        .counter
        .order_void(
            order.order_no.clone(),
            "收银员 王芳".into(),
            None,
            manager(),
        )
        .await
        .unwrap();
    assert_eq!(v.state, RefundStateDto::Succeeded);
    assert_eq!(v.amount, "9.90");
    assert_eq!(t.sim.refunded_fen(&order.order_no).await, 990);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_orders_are_verified_or_flagged_by_a_channel_query() {
    // The watcher stays quiet, so only order_verify asks the channel.
    let t = till_with(PaymentSettings {
        schedule: PollSchedule::Fixed(Duration::from_secs(600)),
        ..settings()
    })
    .await;
    for channel in QR {
        let order = t
            .counter
            .order_charge(ChargeRequest {
                amount: "18.00".into(),
                channel,
                cashier: Some("收银员 王芳".into()),
                note: None,
                force: true,
                tendered: None,
            })
            .await
            .unwrap();
        // The till cannot see the payment; the manager records it.
        let confirmed = t
            .counter
            .order_confirm_manually(
                ManualConfirmRequest {
                    order_no: Some(order.order_no.clone()),
                    amount: None,
                    channel: None,
                    cashier: "收银员 王芳".into(),
                    note: None,
                },
                manager(),
            )
            .await
            .unwrap();
        assert_eq!(confirmed.state, OrderState::Unverified);
        // Unreachable: it stays unverified.
        t.sim.faults(json!({"drop_rate": 1.0})).await;
        let still = t
            .counter
            .order_verify(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(still.state, OrderState::Unverified);
        t.sim.clear_faults().await;
        t.sim.pay(&order.order_no).await;
        let verified = t
            .counter
            .order_verify(order.order_no.clone())
            .await
            .unwrap();
        assert_eq!(verified.state, OrderState::Paid, "{channel}: {verified:?}");
        assert!(verified.channel_trade_no.is_some());

        // A confirmation the channel knows nothing of is flagged.
        let ghost = t
            .counter
            .order_confirm_manually(
                ManualConfirmRequest {
                    order_no: None,
                    amount: Some("30".into()),
                    channel: Some(channel),
                    cashier: "收银员 王芳".into(),
                    note: Some("静态码".into()),
                },
                manager(),
            )
            .await
            .unwrap();
        let flagged = t
            .counter
            .order_verify(ghost.order_no.clone())
            .await
            .unwrap();
        assert_eq!(flagged.state, OrderState::Failed, "{channel}: {flagged:?}");
        assert!(flagged
            .reason
            .as_deref()
            .unwrap()
            .starts_with("flagged: channel has no payment"));
        let audit = t.counter.audit_list(1).await.unwrap();
        assert_eq!(audit[0].action, "unverified_flagged");
    }
}

/// The channel's "not now" on the first send of a refund: a rate limit
/// (WeChat HTTP 429 `FREQUENCY_LIMITED`, Alipay `aop.ACQ.SYSTEM_ERROR`
/// under 20000). It is not a "no": the refund stays unknown, keeps its
/// amount reserved, and goes through once the channel answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_refund_is_unknown_never_failed() {
    let t = till().await;
    for (channel, code) in [
        (ChannelKind::Wechat, "FREQUENCY_LIMITED"),
        (ChannelKind::Wechat, "RATELIMIT_EXCEEDED"),
        (ChannelKind::Alipay, "aop.ACQ.SYSTEM_ERROR"),
    ] {
        let order = paid(&t, channel, "10.00").await;
        t.sim
            .faults(json!({"error_rate": 1.0, "error_code": code}))
            .await;
        let r = t
            .counter
            .refund_create(refund(&order.order_no, "10.00"), manager())
            .await
            .unwrap();
        assert_eq!(r.state, RefundStateDto::Unknown, "{code}: {r:?}");
        let err = t
            .counter
            .refund_create(refund(&order.order_no, "0.01"), manager())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::OverRefund, "{code}: still reserved");
        t.sim.clear_faults().await;
        let done = t
            .counter
            .refund_wait_final(&r.refund_no, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(done.state, RefundStateDto::Succeeded, "{code}: {done:?}");
        assert_eq!(t.sim.refunded_fen(&order.order_no).await, 1000, "{code}");
    }
}

/// The first send reached the channel (which refunded) but its answer was
/// lost; the retry is then refused outright. That refusal must not free
/// the amount: the money may well have gone back already.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_after_a_lost_answer_does_not_free_the_amount() {
    let t = till().await;
    for (channel, code) in [
        (ChannelKind::Wechat, "NOT_ENOUGH"),
        (ChannelKind::Alipay, "ACQ.SELLER_BALANCE_NOT_ENOUGH"),
    ] {
        let order = paid(&t, channel, "10.00").await;
        t.sim.faults(json!({"drop_rate": 1.0})).await;
        let r = t
            .counter
            .refund_create(refund(&order.order_no, "4.00"), manager())
            .await
            .unwrap();
        assert_eq!(r.state, RefundStateDto::Unknown, "{channel}: {r:?}");
        assert_eq!(t.sim.refunded_fen(&order.order_no).await, 400);
        // Every retry is now refused with a definite business error.
        t.sim
            .faults(json!({"drop_rate": 0.0, "error_rate": 1.0, "error_code": code}))
            .await;
        // Long enough for several retries (the retry cap is 0.5 s).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = t.counter.refund_get(r.refund_no.clone()).await.unwrap();
        assert_eq!(
            now.state,
            RefundStateDto::Unknown,
            "{channel}: a refused retry must not fail a refund that may have been made: {now:?}"
        );
        let err = t
            .counter
            .refund_create(refund(&order.order_no, "6.01"), manager())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::OverRefund, "{channel}: still reserved");
        t.sim.clear_faults().await;
        let done = t
            .counter
            .refund_wait_final(&r.refund_no, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(done.state, RefundStateDto::Succeeded, "{channel}: {done:?}");
        assert_eq!(t.sim.refunded_fen(&order.order_no).await, 400, "{channel}");
    }
}

/// A manual confirmation never blocks the till's QR charges for good: a
/// manager settles it, by the channel's query or by writing it off with a
/// reason, and the audit log names the manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_settles_an_unverified_order_and_the_till_sells_again() {
    let t = till_with(PaymentSettings {
        schedule: PollSchedule::Fixed(Duration::from_secs(600)),
        ..settings()
    })
    .await;
    let unverified = |amount: &str| ManualConfirmRequest {
        order_no: None,
        amount: Some(amount.into()),
        channel: Some(ChannelKind::Wechat),
        cashier: "收银员 王芳".into(),
        note: Some("静态码".into()),
    };
    let sale = |amount: &str| ChargeRequest {
        amount: amount.into(),
        channel: ChannelKind::Alipay,
        cashier: Some("收银员 王芳".into()),
        note: None,
        force: false,
        tendered: None,
    };
    let ghost = t
        .counter
        .order_confirm_manually(unverified("30"), manager())
        .await
        .unwrap();
    let blocked = t.counter.order_charge(sale("5")).await.unwrap_err();
    assert_eq!(blocked.code, ErrorCode::Conflict, "{blocked}");

    // A cashier's PIN settles nothing.
    let cashier = Approval {
        approver_name: "收银员 王芳".into(),
        pin: "1111".into(),
    };
    let e = t
        .counter
        .order_settle_unverified(ghost.order_no.clone(), Some("顾客未付款".into()), cashier)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotPermitted, "{e}");

    // Written off, with the reason and the manager in the audit log.
    let off = t
        .counter
        .order_settle_unverified(ghost.order_no.clone(), Some("顾客未付款".into()), manager())
        .await
        .unwrap();
    assert_eq!(off.state, OrderState::Failed, "{off:?}");
    assert!(
        off.reason.as_deref().unwrap().contains("顾客未付款"),
        "{off:?}"
    );
    let audit = t.counter.audit_list(1).await.unwrap();
    assert_eq!(audit[0].action, "unverified_flagged");
    assert_eq!(audit[0].approver.as_deref(), Some("店长 李娜"));
    assert!(audit[0].detail.contains("顾客未付款"), "{:?}", audit[0]);
    let order = t.counter.order_charge(sale("5")).await.unwrap();
    assert_eq!(order.state, OrderState::Pending, "the till sells again");
    t.counter
        .order_cancel(order.order_no.clone())
        .await
        .unwrap();

    // Verified by the channel: the customer did pay the code.
    let charged = t
        .counter
        .order_charge(ChargeRequest {
            channel: ChannelKind::Wechat,
            ..sale("18")
        })
        .await
        .unwrap();
    t.counter
        .order_confirm_manually(
            ManualConfirmRequest {
                order_no: Some(charged.order_no.clone()),
                amount: None,
                channel: None,
                cashier: "收银员 王芳".into(),
                note: None,
            },
            manager(),
        )
        .await
        .unwrap();
    t.sim.pay(&charged.order_no).await;
    let verified = t
        .counter
        .order_settle_unverified(charged.order_no.clone(), None, manager())
        .await
        .unwrap();
    assert_eq!(verified.state, OrderState::Paid, "{verified:?}");
    let audit = t.counter.audit_list(1).await.unwrap();
    assert_eq!(audit[0].action, "unverified_verified");
    assert_eq!(audit[0].approver.as_deref(), Some("店长 李娜"));
}
