//! Payments by the customer's code (付款码) end to end: the counter with a
//! real ledger file, the channel clients over loopback HTTP, the simulator
//! playing the channel and the customer's phone.
//!
//! One scenario table, run for each channel by the `scenarios!` macro, so a
//! channel cannot skip a scenario. Each test has its own simulator (fault
//! settings are global to one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shouyin_api::{
    CodeChargeRequest, CodeSettings, Counter, CounterEvent, CounterOptions, ErrorCode, OrderDto,
    PaymentSettings,
};
use shouyin_core::{ChannelKind, OrderState};
use shouyin_testkit::{Sim, TempLedger};

/// How long the tests' code payments wait for the password.
const WINDOW: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Under {
    Alipay,
    Wechat,
    Unionpay,
}

impl Under {
    fn sim_name(self) -> &'static str {
        match self {
            Under::Alipay => "alipay",
            Under::Wechat => "wechat",
            Under::Unionpay => "unionpay",
        }
    }
    /// What the channel's refusal of a code over the balance says.
    fn not_enough(self) -> &'static str {
        match self {
            Under::Unionpay => "余额不足",
            _ => "NOT_ENOUGH",
        }
    }
    /// The channel's code for an expired payment code.
    fn expired_code(self) -> &'static str {
        match self {
            Under::Unionpay => "60",
            _ => "AUTH",
        }
    }
    fn kind(self) -> ChannelKind {
        match self {
            Under::Alipay => ChannelKind::Alipay,
            Under::Wechat => ChannelKind::Wechat,
            Under::Unionpay => ChannelKind::Unionpay,
        }
    }
}

/// A simulator whose clock can be moved forward, a ledger and a counter.
struct Till {
    sim: Sim,
    ledger: TempLedger,
    counter: Counter,
    /// Seconds added to the simulator's clock.
    shift: Arc<AtomicI64>,
    _sim_dir: tempfile::TempDir,
}

fn settings() -> PaymentSettings {
    PaymentSettings {
        probe_every: None,
        retry_cap: Duration::from_millis(500),
        code: CodeSettings {
            alipay_window: WINDOW,
            wechat_window: WINDOW,
            unionpay_window: WINDOW,
            ..CodeSettings::default()
        },
        ..PaymentSettings::default()
    }
}

async fn till() -> Till {
    let sim_dir = tempfile::tempdir().unwrap();
    let shift = Arc::new(AtomicI64::new(0));
    let s = Arc::clone(&shift);
    let config = shouyin_sim::SimConfig {
        clock: Arc::new(move || {
            chrono::Utc::now() + chrono::Duration::seconds(s.load(Ordering::SeqCst))
        }),
        ..shouyin_sim::SimConfig::default()
    };
    let sim = Sim::start_with(sim_dir.path(), config).await;
    let ledger = TempLedger::demo(chrono::Utc::now());
    let counter = counter_on(&sim, &ledger).await;
    Till {
        sim,
        ledger,
        counter,
        shift,
        _sim_dir: sim_dir,
    }
}

async fn counter_on(sim: &Sim, ledger: &TempLedger) -> Counter {
    counter_with(sim, ledger, true).await
}

/// A counter on the simulator's channels, UnionPay only when `unionpay`.
async fn counter_with(sim: &Sim, ledger: &TempLedger, unionpay: bool) -> Counter {
    let mut creds = sim.credentials_with_timeouts(1500, 100);
    if !unionpay {
        creds
            .as_object_mut()
            .expect("a channels file is an object")
            .remove("unionpay");
    }
    ledger
        .counter(CounterOptions {
            channels: Sim::channels_of(&creds),
            payments: settings(),
            ..CounterOptions::default()
        })
        .await
}

fn charge(code: &str, amount: &str) -> CodeChargeRequest {
    CodeChargeRequest {
        amount: amount.into(),
        code: code.into(),
        cashier: Some("王芳".into()),
    }
}

impl Till {
    async fn code(&self, under: Under, password: bool) -> String {
        self.sim.paycode(under.sim_name(), password, None).await
    }

    async fn trade(&self, order: &OrderDto) -> Value {
        self.sim
            .trade(&order.order_no)
            .await
            .unwrap_or_else(|| panic!("the simulator has no trade {}", order.order_no))
    }

    async fn final_of(&self, order: &OrderDto) -> OrderDto {
        let done = self
            .counter
            .wait_final(&order.order_no, WINDOW + Duration::from_secs(15))
            .await
            .unwrap();
        assert!(
            done.state.is_final(),
            "{} never became final: {done:?}",
            order.order_no
        );
        done
    }

    async fn states(&self, order: &OrderDto) -> Vec<String> {
        self.counter
            .order_events(order.order_no.clone())
            .await
            .unwrap()
            .1
            .iter()
            .filter_map(|e| {
                let payload: Value = serde_json::from_str(&e.payload).ok()?;
                payload.get("to").and_then(Value::as_str).map(str::to_owned)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy)]
enum Scenario {
    PaidAtOnce,
    PasswordConfirmed,
    PasswordDeclined,
    PasswordNeverEntered,
    InsufficientBalance,
    ExpiredCode,
    UsedCode,
    CancelBeforeConfirm,
    CancelAfterConfirm,
    ConfirmBetweenQueryAndReverse,
    PayAnswerLostButPaid,
    ServerError,
    BadSignature,
    SlowAnswer,
    TooSlowAnswer,
    SecondScanWhileOpen,
}

async fn run(under: Under, scenario: Scenario) {
    let t = till().await;
    let c = &t.counter;
    match scenario {
        Scenario::PaidAtOnce => {
            let code = t.code(under, false).await;
            let started = Instant::now();
            let order = c.order_charge_code(charge(&code, "12.30")).await.unwrap();
            assert_eq!(order.state, OrderState::Paid, "{order:?}");
            assert_eq!(order.channel, under.kind());
            assert!(order.channel_trade_no.is_some());
            assert!(started.elapsed() < Duration::from_secs(2));
            let trade = t.trade(&order).await;
            assert_eq!(
                (trade["kind"].as_str(), trade["state"].as_str()),
                (Some("code"), Some("paid"))
            );
            assert_eq!(trade["auth_code"], code.as_str());
            assert_eq!(trade["amount_fen"], 1230);
        }
        Scenario::PasswordConfirmed => {
            let code = t.code(under, true).await;
            let order = c.order_charge_code(charge(&code, "88.00")).await.unwrap();
            assert_eq!(order.state, OrderState::Pending, "{order:?}");
            let ends = order
                .expires_at
                .clone()
                .expect("the window's end, for the countdown");
            assert!(ends > order.created_at);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let mut events = c.subscribe();
            assert!(t.sim.phone(&code, "confirm").await.is_success());
            let confirmed = Instant::now();
            loop {
                if let Ok(CounterEvent::OrderChanged { order: o }) = events.recv().await {
                    if o.order_no == order.order_no && o.state == OrderState::Paid {
                        break;
                    }
                }
            }
            let seen = confirmed.elapsed();
            assert!(
                seen < Duration::from_millis(1500),
                "paid seen {seen:?} after the confirmation"
            );
            let done = t.final_of(&order).await;
            assert_eq!(done.state, OrderState::Paid);
            assert_eq!(t.trade(&order).await["state"], "paid");
        }
        Scenario::PasswordDeclined => {
            let code = t.code(under, true).await;
            let order = c.order_charge_code(charge(&code, "8.00")).await.unwrap();
            assert_eq!(order.state, OrderState::Pending);
            assert!(t.sim.phone(&code, "decline").await.is_success());
            let done = t.final_of(&order).await;
            assert!(
                matches!(done.state, OrderState::Closed | OrderState::Failed),
                "{done:?}"
            );
            assert_eq!(t.trade(&order).await["state"], "closed");
            // Too late to pay now.
            assert_eq!(t.sim.phone(&code, "confirm").await.as_u16(), 409);
        }
        Scenario::PasswordNeverEntered => {
            let code = t.code(under, true).await;
            let order = c.order_charge_code(charge(&code, "8.00")).await.unwrap();
            let done = t.final_of(&order).await;
            assert_eq!(done.state, OrderState::Closed, "{done:?}");
            let reason = done.reason.clone().unwrap_or_default();
            assert!(
                reason.contains("did not confirm in time") && reason.contains("nothing was taken"),
                "{reason}"
            );
            let trade = t.trade(&order).await;
            assert_eq!(
                (trade["state"].as_str(), trade["close_reason"].as_str()),
                (Some("closed"), Some("cancelled"))
            );
            // The customer's phone can no longer pay it.
            assert_eq!(t.sim.phone(&code, "confirm").await.as_u16(), 409);
        }
        Scenario::InsufficientBalance => {
            let code = t.sim.paycode(under.sim_name(), false, Some(500)).await;
            let order = c.order_charge_code(charge(&code, "12.30")).await.unwrap();
            assert_eq!(order.state, OrderState::Failed, "{order:?}");
            let reason = order.reason.unwrap_or_default();
            assert!(reason.contains(under.not_enough()), "{reason}");
            assert!(t.sim.trade(&order.order_no).await.is_none());
        }
        Scenario::ExpiredCode => {
            let code = t.code(under, false).await;
            t.shift.store(61, Ordering::SeqCst);
            let order = c.order_charge_code(charge(&code, "3.00")).await.unwrap();
            assert_eq!(order.state, OrderState::Failed, "{order:?}");
            let reason = order.reason.unwrap_or_default();
            assert!(
                reason.contains("过期")
                    && reason.to_ascii_uppercase().contains(under.expired_code()),
                "{reason}"
            );
        }
        Scenario::UsedCode => {
            let code = t.code(under, false).await;
            let first = c.order_charge_code(charge(&code, "3.00")).await.unwrap();
            assert_eq!(first.state, OrderState::Paid);
            // The same till refuses it locally: nothing is sent.
            let before = t.sim.trades().await.len();
            let again = c
                .order_charge_code(charge(&code, "3.00"))
                .await
                .unwrap_err();
            assert_eq!(again.code, ErrorCode::PaycodeReused, "{again:?}");
            assert_eq!(t.sim.trades().await.len(), before);
            // Another till of the shop sends it: the channel refuses.
            let other = TempLedger::new(
                &shouyin_api::InitRequest {
                    terminal: "T02".into(),
                    ..shouyin_api::InitRequest::demo()
                },
                chrono::Utc::now(),
            );
            let c2 = counter_on(&t.sim, &other).await;
            let refused = c2.order_charge_code(charge(&code, "3.00")).await.unwrap();
            assert_eq!(refused.state, OrderState::Failed, "{refused:?}");
            assert!(refused.reason.unwrap_or_default().contains("已使用"));
        }
        Scenario::CancelBeforeConfirm => {
            let code = t.code(under, true).await;
            let order = c.order_charge_code(charge(&code, "20.00")).await.unwrap();
            let cancelled = c.order_cancel(order.order_no.clone()).await.unwrap();
            assert_eq!(cancelled.state, OrderState::Closed, "{cancelled:?}");
            assert!(cancelled
                .reason
                .unwrap_or_default()
                .contains("cancelled by the cashier"));
            assert_eq!(
                t.sim.phone(&code, "confirm").await.as_u16(),
                409,
                "the phone cannot pay a cancelled payment"
            );
            let trade = t.trade(&order).await;
            assert_eq!(
                (trade["state"].as_str(), trade["close_reason"].as_str()),
                (Some("closed"), Some("cancelled"))
            );
        }
        Scenario::CancelAfterConfirm => {
            // The payment wins the race: the cancel finds it paid, and it
            // stays paid (nothing is reversed).
            let code = t.code(under, true).await;
            let order = c.order_charge_code(charge(&code, "20.00")).await.unwrap();
            assert!(t.sim.phone(&code, "confirm").await.is_success());
            let cancelled = c.order_cancel(order.order_no.clone()).await.unwrap();
            assert_eq!(cancelled.state, OrderState::Paid, "{cancelled:?}");
            let trade = t.trade(&order).await;
            assert_eq!(trade["state"], "paid");
            assert_eq!(trade["reversed_after_payment"], false);
        }
        Scenario::ConfirmBetweenQueryAndReverse => {
            // The customer confirms after the till's last query but before
            // its cancel/reverse lands: the channel refunds, the ledger says so.
            let code = t.code(under, true).await;
            let order = c.order_charge_code(charge(&code, "20.00")).await.unwrap();
            t.sim.faults(json!({"latency_ms": 400})).await;
            let c2 = c.clone();
            let no = order.order_no.clone();
            let cancel = tokio::spawn(async move { c2.order_cancel(no).await });
            // The query is taken at ~400 ms, the cancel/reverse at ~800 ms.
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert!(t.sim.phone(&code, "confirm").await.is_success());
            let ended = cancel.await.unwrap().unwrap();
            t.sim.clear_faults().await;
            assert_eq!(ended.state, OrderState::Refunded, "{ended:?}");
            assert_eq!(ended.refunded, "20.00");
            assert!(ended.paid_at.is_some());
            let (_, events) = c.order_events(order.order_no.clone()).await.unwrap();
            assert!(
                events
                    .iter()
                    .any(|e| e.payload.contains("reversed the payment and refunded it")),
                "{events:?}"
            );
            let trade = t.trade(&order).await;
            assert_eq!(
                (
                    trade["state"].as_str(),
                    trade["reversed_after_payment"].as_bool()
                ),
                (Some("refunded"), Some(true))
            );
        }
        Scenario::PayAnswerLostButPaid => {
            let code = t.code(under, false).await;
            t.sim.faults(json!({"drop_rate": 1.0})).await;
            let order = c.order_charge_code(charge(&code, "9.90")).await.unwrap();
            assert_eq!(
                order.state,
                OrderState::Unknown,
                "a lost answer is unknown, never failed: {order:?}"
            );
            t.sim.clear_faults().await;
            let done = t.final_of(&order).await;
            assert_eq!(done.state, OrderState::Paid, "{done:?}");
            // One trade for the code: it was never sent again.
            let with_code: Vec<_> = t
                .sim
                .trades()
                .await
                .into_iter()
                .filter(|x| x["auth_code"] == code.as_str())
                .collect();
            assert_eq!(with_code.len(), 1);
        }
        Scenario::ServerError => {
            let code = t.code(under, false).await;
            t.sim.faults(json!({"error_rate": 1.0})).await;
            let order = c.order_charge_code(charge(&code, "9.90")).await.unwrap();
            assert_eq!(order.state, OrderState::Unknown, "{order:?}");
            t.sim.clear_faults().await;
            let done = t.final_of(&order).await;
            // The channel did nothing; at the window's end the till cancels.
            assert_eq!(done.state, OrderState::Closed, "{done:?}");
            assert!(t.sim.trade(&order.order_no).await.is_none());
            let states = t.states(&order).await;
            assert!(!states.iter().any(|s| s == "failed"), "{states:?}");
        }
        Scenario::BadSignature => {
            let code = t.code(under, false).await;
            t.sim.faults(json!({"bad_signature_rate": 1.0})).await;
            let mut events = c.subscribe();
            let order = c.order_charge_code(charge(&code, "9.90")).await.unwrap();
            assert_eq!(order.state, OrderState::Unknown, "{order:?}");
            let mut alarmed = false;
            while let Ok(e) = events.try_recv() {
                alarmed |= matches!(e, CounterEvent::Alarm { .. });
            }
            assert!(alarmed, "a bad signature raises the alarm");
            t.sim.clear_faults().await;
            let done = t.final_of(&order).await;
            assert_eq!(
                done.state,
                OrderState::Paid,
                "the query finds what the channel did: {done:?}"
            );
        }
        Scenario::SlowAnswer => {
            let code = t.code(under, false).await;
            t.sim.faults(json!({"latency_ms": 800})).await;
            let order = c.order_charge_code(charge(&code, "5.00")).await.unwrap();
            t.sim.clear_faults().await;
            assert_eq!(order.state, OrderState::Paid, "{order:?}");
        }
        Scenario::TooSlowAnswer => {
            let code = t.code(under, false).await;
            t.sim.faults(json!({"latency_ms": 2500})).await;
            let order = c.order_charge_code(charge(&code, "5.00")).await.unwrap();
            assert_eq!(
                order.state,
                OrderState::Unknown,
                "a timeout is unknown: {order:?}"
            );
            t.sim.clear_faults().await;
            let done = t.final_of(&order).await;
            // Whatever the channel made of it, the ledger agrees.
            match t.sim.trade(&order.order_no).await {
                Some(trade) if trade["state"] == "paid" => assert_eq!(done.state, OrderState::Paid),
                Some(trade) if trade["state"] == "refunded" => {
                    assert_eq!(done.state, OrderState::Refunded)
                }
                _ => assert_eq!(done.state, OrderState::Closed, "{done:?}"),
            }
        }
        Scenario::SecondScanWhileOpen => {
            let code = t.code(under, true).await;
            let order = c.order_charge_code(charge(&code, "20.00")).await.unwrap();
            assert_eq!(order.state, OrderState::Pending);
            let other = t.code(under, false).await;
            let refused = c
                .order_charge_code(charge(&other, "20.00"))
                .await
                .unwrap_err();
            assert_eq!(refused.code, ErrorCode::Conflict, "{refused:?}");
            assert!(refused.message.contains(&order.order_no));
            // Nothing was sent for the second code.
            assert_eq!(t.sim.trades().await.len(), 1);
            assert!(t.sim.phone(&code, "confirm").await.is_success());
            assert_eq!(t.final_of(&order).await.state, OrderState::Paid);
            // Once resolved, the next scan goes through.
            let next = c.order_charge_code(charge(&other, "20.00")).await.unwrap();
            assert_eq!(next.state, OrderState::Paid);
        }
    }
    t.counter.shutdown().await;
    drop(t.ledger);
}

macro_rules! scenarios {
    ($($name:ident => $scenario:ident),* $(,)?) => {
        mod alipay {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(super::Under::Alipay, super::Scenario::$scenario).await })*
        }
        mod wechat {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(super::Under::Wechat, super::Scenario::$scenario).await })*
        }
        mod unionpay {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::run(super::Under::Unionpay, super::Scenario::$scenario).await })*
        }
    };
}

scenarios! {
    paid_at_once => PaidAtOnce,
    password_confirmed_shows_paid_within_a_second => PasswordConfirmed,
    password_declined => PasswordDeclined,
    password_never_entered_is_cancelled_at_the_window_end => PasswordNeverEntered,
    insufficient_balance_fails => InsufficientBalance,
    expired_code_fails => ExpiredCode,
    used_code_is_refused_locally_and_by_the_channel => UsedCode,
    cancel_before_confirmation_closes => CancelBeforeConfirm,
    cancel_after_confirmation_stays_paid => CancelAfterConfirm,
    confirmation_racing_the_cancel_is_refunded_and_said_so => ConfirmBetweenQueryAndReverse,
    pay_answer_lost_but_paid => PayAnswerLostButPaid,
    server_error_is_unknown_then_cancelled => ServerError,
    bad_signature_raises_the_alarm_and_the_query_decides => BadSignature,
    slow_answer_within_the_timeout => SlowAnswer,
    answer_slower_than_the_timeout_is_unknown => TooSlowAnswer,
    no_second_scan_while_a_code_payment_is_open => SecondScanWhileOpen,
}

#[tokio::test]
async fn codes_of_no_channel_are_refused_before_any_call() {
    let mut t = till().await;
    // This till has no UnionPay channel: its codes are not taken.
    t.counter.shutdown().await;
    t.counter = counter_with(&t.sim, &t.ledger, false).await;
    for (code, expected) in [
        ("6212345678901234567", ErrorCode::PaycodeUnsupported),
        ("183456789012345678", ErrorCode::PaycodeInvalid),
        ("12345", ErrorCode::PaycodeInvalid),
        ("13456789012345678x", ErrorCode::PaycodeInvalid),
        ("", ErrorCode::PaycodeInvalid),
    ] {
        let e = t
            .counter
            .order_charge_code(charge(code, "1.00"))
            .await
            .unwrap_err();
        assert_eq!(e.code, expected, "{code}: {e:?}");
    }
    let unionpay = t
        .counter
        .order_charge_code(charge("6212345678901234567", "1.00"))
        .await
        .unwrap_err();
    assert!(
        unionpay.message.contains("UnionPay is not enabled"),
        "{}",
        unionpay.message
    );
    // A bad amount is refused too, before anything is written.
    let code = t.code(Under::Wechat, false).await;
    let e = t
        .counter
        .order_charge_code(charge(&code, "12.345"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidAmount);
    assert!(t.sim.trades().await.is_empty());
    assert!(t.counter.orders_recent(10).await.unwrap().is_empty());
}

/// A counter that stops while the customer is still confirming: the next
/// start finds the payment open, keeps asking, and records the payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_keeps_watching_an_open_code_payment() {
    for under in [Under::Alipay, Under::Wechat, Under::Unionpay] {
        let t = till().await;
        let code = t.code(under, true).await;
        let order = t
            .counter
            .order_charge_code(charge(&code, "15.00"))
            .await
            .unwrap();
        assert_eq!(order.state, OrderState::Pending);
        t.counter.shutdown().await;
        drop(t.counter);
        let again = counter_on(&t.sim, &t.ledger).await;
        let recovered = again.recover().await.unwrap();
        let found = recovered
            .iter()
            .find(|o| o.order_no == order.order_no)
            .unwrap();
        assert_eq!(
            found.state,
            OrderState::Pending,
            "still confirming: left open"
        );
        assert!(t.sim.phone(&code, "confirm").await.is_success());
        let done = again
            .wait_final(&order.order_no, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(done.state, OrderState::Paid, "{under:?}: {done:?}");
        again.shutdown().await;
    }
}

/// A code payment left open past its window (the till was off): recovery
/// asks, then cancels or reverses it at the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_ends_a_code_payment_whose_window_has_passed() {
    for under in [Under::Alipay, Under::Wechat, Under::Unionpay] {
        let t = till().await;
        let code = t.code(under, true).await;
        let order = t
            .counter
            .order_charge_code(charge(&code, "15.00"))
            .await
            .unwrap();
        t.counter.shutdown().await;
        drop(t.counter);
        tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
        let again = counter_on(&t.sim, &t.ledger).await;
        again.recover().await.unwrap();
        let done = again
            .wait_final(&order.order_no, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(done.state, OrderState::Closed, "{under:?}: {done:?}");
        let trade = t.sim.trade(&order.order_no).await.unwrap();
        assert_eq!(trade["close_reason"], "cancelled", "{trade}");
        again.shutdown().await;
    }
}

/// The simulator's control API, exactly as scripts use it, and the
/// customer page showing the code and the password step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_control_api_and_customer_page() {
    let t = till().await;
    let http = reqwest::Client::new();
    let base = t.sim.base.clone();
    let post = |path: &str, body: Option<Value>| {
        let mut r = http.post(format!("{base}{path}"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    // A fresh code in each channel's shape, valid 60 s.
    for (channel, prefixes) in [("wechat", 10..=15), ("alipay", 25..=30)] {
        let r = post(
            "/_sim/paycodes",
            Some(json!({"channel": channel, "password": false})),
        )
        .await
        .unwrap();
        assert!(r.status().is_success());
        let v: Value = r.json().await.unwrap();
        let code = v["code"].as_str().unwrap();
        assert_eq!(code.len(), 18, "{v}");
        assert!(prefixes.contains(&code[..2].parse::<u32>().unwrap()), "{v}");
        let issued =
            chrono::DateTime::parse_from_rfc3339(v["issued_at"].as_str().unwrap()).unwrap();
        let expires =
            chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!((expires - issued).num_seconds(), 60);
    }
    let r = post(
        "/_sim/paycodes",
        Some(json!({"channel": "unionpay", "password": false})),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    let v: Value = r.json().await.unwrap();
    let code = v["code"].as_str().unwrap();
    assert!(code.len() == 19 && code.starts_with("62"), "{v}");
    for bad in [
        json!({"channel": "jdpay"}),
        json!({"channel": "wechat", "balance_fen": -1}),
        json!({"chanel": "wechat"}),
    ] {
        let r = post("/_sim/paycodes", Some(bad.clone())).await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{bad}");
    }
    let code = t.sim.paycode("alipay", true, Some(100_000)).await;
    assert_eq!(
        post(&format!("/_sim/paycodes/{code}/confirm"), None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        409,
        "not scanned yet"
    );
    assert_eq!(
        post("/_sim/paycodes/999/confirm", None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    let page = http
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("付款码") && page.contains("<svg"),
        "the code as a barcode"
    );
    let spaced: String = code
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(page.contains(&spaced), "the digits under the barcode");

    let order = t
        .counter
        .order_charge_code(charge(&code, "30.00"))
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Pending);
    let page = http
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/_sim/paycodes/{code}/confirm")),
        "the password step on the page"
    );
    let trade = t.sim.trade(&order.order_no).await.unwrap();
    assert_eq!(
        (trade["kind"].as_str(), trade["state"].as_str()),
        (Some("code"), Some("waiting"))
    );
    let r = post(&format!("/_sim/paycodes/{code}/confirm"), None)
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "paid");
    assert_eq!(
        post(&format!("/_sim/paycodes/{code}/decline"), None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        409,
        "already paid"
    );
    let listed: Value = http
        .get(format!("{base}/_sim/paycodes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code.as_str())
        .unwrap();
    assert_eq!(mine["out_trade_no"], order.order_no.as_str());
    assert_eq!(t.final_of(&order).await.state, OrderState::Paid);
    t.counter.shutdown().await;
}
