//! The channel clients against the simulator over real loopback HTTP.
//!
//! Every scenario is a generic function over [`Under`] (the channel under
//! test); the `scenarios!` macro instantiates each one for every channel, so
//! a channel cannot skip a scenario. Each test starts its own simulator on
//! `127.0.0.1:0` with a fresh state directory, because fault settings are
//! global to a simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{Duration, FixedOffset, Utc};
use serde_json::json;
use shouyin_channels::{
    BillKind, Channel, ChannelError, ChannelsFile, CloseOutcome, CreateQr, RefundRequest,
    RefundStatus, RemoteStatus,
};
use shouyin_core::ChannelKind;

/// The simulator with short timeouts, so lost answers show quickly.
async fn start_sim() -> Sim {
    let mut sim = Sim::start().await;
    if let Some(a) = sim.creds.alipay.as_mut() {
        a.cancel_retry_gap_ms = 50;
        a.timeouts.timeout_ms = 5_000;
    }
    if let Some(w) = sim.creds.wechatpay.as_mut() {
        w.timeouts.timeout_ms = 5_000;
    }
    if let Some(u) = sim.creds.unionpay.as_mut() {
        u.timeouts.timeout_ms = 5_000;
    }
    sim
}

impl Sim {
    async fn buyer(&self, under: Under, out_trade_no: &str, action: &str) -> reqwest::StatusCode {
        self.control
            .post(format!(
                "{}/_sim/trades/{out_trade_no}/{action}?channel={}",
                self.base,
                under.sim_name()
            ))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn pay(&self, under: Under, out_trade_no: &str) {
        let status = self.buyer(under, out_trade_no, "pay").await;
        assert!(
            status.is_success(),
            "the simulated buyer could not pay {out_trade_no}: {status}"
        );
    }

    async fn clear_faults(&self) {
        let r = self
            .control
            .delete(format!("{}/_sim/faults", self.base))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// The channel under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Under {
    Alipay,
    Wechat,
    Unionpay,
}

impl Under {
    fn kind(self) -> ChannelKind {
        match self {
            Under::Alipay => ChannelKind::Alipay,
            Under::Wechat => ChannelKind::Wechat,
            Under::Unionpay => ChannelKind::Unionpay,
        }
    }

    fn sim_name(self) -> &'static str {
        match self {
            Under::Alipay => "alipay",
            Under::Wechat => "wechat",
            Under::Unionpay => "unionpay",
        }
    }

    /// What a query says before the buyer has done anything: an Alipay
    /// precreate has no trade until it is scanned.
    fn unpaid_status(self) -> RemoteStatus {
        match self {
            Under::Alipay => RemoteStatus::NotFound,
            Under::Wechat | Under::Unionpay => RemoteStatus::Waiting,
        }
    }

    fn client(self, creds: &ChannelsFile) -> Arc<dyn Channel> {
        let built = creds.build().unwrap();
        let channel = built
            .get(&self.kind())
            .cloned()
            .expect("the simulator configures every channel");
        assert_eq!(channel.kind(), self.kind());
        channel
    }
}

fn out_trade_no(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "T{}{tag}{}",
        Utc::now().format("%H%M%S%3f"),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn qr(out_trade_no: &str, fen: i64) -> CreateQr {
    CreateQr {
        out_trade_no: out_trade_no.to_owned(),
        amount_fen: fen,
        subject: "测试 \"coffee\" {large}".to_owned(),
        expires_at: Utc::now() + Duration::minutes(5),
        notify_url: None,
    }
}

fn refund(out_trade_no: &str, out_refund_no: &str, fen: i64, total: i64) -> RefundRequest {
    RefundRequest {
        out_trade_no: out_trade_no.to_owned(),
        out_refund_no: out_refund_no.to_owned(),
        refund_fen: fen,
        total_fen: total,
        reason: Some("顾客退货".to_owned()),
    }
}

fn beijing_today() -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive()
}

/// A paid trade of `fen`.
async fn paid_trade(sim: &Sim, under: Under, channel: &dyn Channel, tag: &str, fen: i64) -> String {
    let no = out_trade_no(tag);
    channel.create_qr(&qr(&no, fen)).await.unwrap();
    sim.pay(under, &no).await;
    assert_eq!(channel.query(&no).await.unwrap().status, RemoteStatus::Paid);
    no
}

// ---- scenarios -------------------------------------------------------------

async fn full_lifecycle(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = out_trade_no("L");

    let created = channel.create_qr(&qr(&no, 1230)).await.unwrap();
    assert!(!created.qr_payload.is_empty());

    let before = channel.query(&no).await.unwrap();
    assert_eq!(before.status, under.unpaid_status(), "{before:?}");

    sim.pay(under, &no).await;
    let paid = channel.query(&no).await.unwrap();
    assert_eq!(paid.status, RemoteStatus::Paid);
    assert_eq!(paid.amount_fen, Some(1230));
    assert!(paid.channel_trade_no.is_some(), "{paid:?}");
    let paid_at = paid.paid_at.expect("a paid trade has a payment time");
    assert!((Utc::now() - paid_at).num_minutes().abs() < 5, "{paid_at}");

    let refunded = channel
        .refund(&refund(&no, &format!("{no}R1"), 300, 1230))
        .await
        .unwrap();
    assert_eq!(refunded.status, RefundStatus::Success, "{refunded:?}");
    assert_eq!(refunded.out_refund_no, format!("{no}R1"));

    let queried = channel.query_refund(&no, &format!("{no}R1")).await.unwrap();
    assert_eq!(queried.status, RefundStatus::Success);
    assert_eq!(queried.refund_fen, Some(300));

    let after = channel.query(&no).await.unwrap();
    assert!(
        matches!(after.status, RemoteStatus::Paid | RemoteStatus::Refunded),
        "{after:?}"
    );

    let bill = channel.daily_bill(beijing_today()).await.unwrap();
    let payment: Vec<_> = bill
        .iter()
        .filter(|l| l.out_trade_no == no && l.kind == BillKind::Payment)
        .collect();
    assert_eq!(payment.len(), 1, "{bill:#?}");
    assert_eq!(payment[0].amount_fen, 1230);
    assert_eq!(
        Some(&payment[0].channel_trade_no),
        paid.channel_trade_no.as_ref()
    );
    let refunds: Vec<_> = bill
        .iter()
        .filter(|l| l.out_trade_no == no && l.kind == BillKind::Refund)
        .collect();
    assert_eq!(refunds.len(), 1, "{bill:#?}");
    assert_eq!(refunds[0].amount_fen, 300);
    assert_eq!(
        refunds[0].out_refund_no.as_deref(),
        Some(format!("{no}R1").as_str())
    );
}

async fn close_unpaid(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = out_trade_no("C");
    channel.create_qr(&qr(&no, 500)).await.unwrap();
    assert_eq!(channel.close(&no).await.unwrap(), CloseOutcome::Closed);
    // The code can no longer be paid, and the channel says closed.
    let status = sim.buyer(under, &no, "pay").await;
    assert!(
        !status.is_success(),
        "a closed QR was still payable ({status})"
    );
    assert_eq!(
        channel.query(&no).await.unwrap().status,
        RemoteStatus::Closed
    );
    // Closing again is still a plain "closed".
    assert_eq!(channel.close(&no).await.unwrap(), CloseOutcome::Closed);
}

async fn close_paid(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = paid_trade(&sim, under, channel.as_ref(), "P", 800).await;
    assert_eq!(channel.close(&no).await.unwrap(), CloseOutcome::AlreadyPaid);
    assert_eq!(channel.query(&no).await.unwrap().status, RemoteStatus::Paid);
}

async fn refund_beyond_remaining(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = paid_trade(&sim, under, channel.as_ref(), "B", 1000).await;
    let too_much = channel
        .refund(&refund(&no, &format!("{no}X"), 1001, 1000))
        .await
        .unwrap_err();
    assert!(
        matches!(too_much, ChannelError::Definite { .. }),
        "{too_much}"
    );
    channel
        .refund(&refund(&no, &format!("{no}R1"), 700, 1000))
        .await
        .unwrap();
    let over = channel
        .refund(&refund(&no, &format!("{no}R2"), 301, 1000))
        .await
        .unwrap_err();
    assert!(matches!(over, ChannelError::Definite { .. }), "{over}");
    // The refused request left no refund behind.
    let e = channel
        .query_refund(&no, &format!("{no}R2"))
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::Definite { .. }), "{e}");
}

async fn same_refund_number_moves_money_once(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = paid_trade(&sim, under, channel.as_ref(), "I", 1230).await;
    let r1 = refund(&no, &format!("{no}R1"), 500, 1230);
    let first = channel.refund(&r1).await.unwrap();
    let second = channel.refund(&r1).await.unwrap();
    assert_eq!(first.status, RefundStatus::Success);
    assert_eq!(second.status, RefundStatus::Success, "{second:?}");
    // Exactly 730 remain: all of it can go, and not a fen more.
    let rest = channel
        .refund(&refund(&no, &format!("{no}R2"), 730, 1230))
        .await
        .unwrap();
    assert_eq!(rest.status, RefundStatus::Success);
    let e = channel
        .refund(&refund(&no, &format!("{no}R3"), 1, 1230))
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::Definite { .. }), "{e}");
    let bill = channel.daily_bill(beijing_today()).await.unwrap();
    let r1_rows = bill
        .iter()
        .filter(|l| {
            l.kind == BillKind::Refund
                && l.out_refund_no.as_deref() == Some(r1.out_refund_no.as_str())
        })
        .count();
    assert_eq!(r1_rows, 1, "{bill:#?}");
    let refunded: i64 = bill
        .iter()
        .filter(|l| l.kind == BillKind::Refund && l.out_trade_no == no)
        .map(|l| l.amount_fen)
        .sum();
    assert_eq!(refunded, 1230);
}

async fn tampered_signature_is_untrusted(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = out_trade_no("S");
    channel.create_qr(&qr(&no, 100)).await.unwrap();
    sim.faults(json!({"bad_signature_rate": 1.0})).await;
    let e = channel.query(&no).await.unwrap_err();
    assert!(matches!(e, ChannelError::Untrusted { .. }), "{e}");
    let e = channel
        .create_qr(&qr(&out_trade_no("S"), 100))
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::Untrusted { .. }), "{e}");
    let e = channel.close(&no).await.unwrap_err();
    assert!(matches!(e, ChannelError::Untrusted { .. }), "{e}");
    sim.clear_faults().await;
    channel.query(&no).await.unwrap();
}

async fn channel_errors_are_indeterminate(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = out_trade_no("E");
    sim.faults(json!({"error_rate": 1.0})).await;
    let e = channel.create_qr(&qr(&no, 100)).await.unwrap_err();
    assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
    let e = channel.query(&no).await.unwrap_err();
    assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
    sim.clear_faults().await;
    // An error answer did nothing: the same number can be used afresh.
    channel.create_qr(&qr(&no, 100)).await.unwrap();
}

/// The channel's "not now" answers, as the real services send them: rate
/// limits (WeChat HTTP 429 `FREQUENCY_LIMITED` / `RATELIMIT_EXCEEDED`) and
/// system errors (Alipay `ACQ.SYSTEM_ERROR` under 40004 and
/// `aop.ACQ.SYSTEM_ERROR` under 20000). None of them says "no", so none may
/// be definite: a refund that met one may have been taken on an earlier try.
async fn rate_limits_and_system_errors_are_indeterminate(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = paid_trade(&sim, under, channel.as_ref(), "L", 500).await;
    let codes: &[&str] = match under {
        Under::Wechat => &["FREQUENCY_LIMITED", "RATELIMIT_EXCEEDED", "SYSTEM_ERROR"],
        Under::Alipay => &["ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"],
        // 03 system busy, 04 state unknown, 05 in progress: query again.
        Under::Unionpay => &["03", "04", "05"],
    };
    for code in codes {
        sim.faults(json!({"error_rate": 1.0, "error_code": code}))
            .await;
        let e = channel
            .refund(&refund(&no, &format!("{no}R1"), 100, 500))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ChannelError::Indeterminate { .. }),
            "{code} on a refund: {e}"
        );
        let e = channel.close(&no).await.unwrap_err();
        assert!(
            matches!(e, ChannelError::Indeterminate { .. }),
            "{code} on a close: {e}"
        );
    }
    sim.clear_faults().await;
    // Nothing was done while limited.
    let r = channel
        .refund(&refund(&no, &format!("{no}R1"), 100, 500))
        .await
        .unwrap();
    assert_eq!(r.status, RefundStatus::Success);
}

async fn dropped_and_garbled_answers_are_indeterminate(under: Under) {
    let sim = start_sim().await;
    let channel = under.client(&sim.creds);
    let no = paid_trade(&sim, under, channel.as_ref(), "D", 900).await;
    for fault in ["drop_rate", "garble_rate"] {
        sim.faults(json!({ fault: 1.0 })).await;
        let e = channel.query(&no).await.unwrap_err();
        assert!(
            matches!(e, ChannelError::Indeterminate { .. }),
            "{fault}: {e}"
        );
        let e = channel
            .create_qr(&qr(&out_trade_no("D"), 100))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ChannelError::Indeterminate { .. }),
            "{fault}: {e}"
        );
        sim.clear_faults().await;
    }
    // A refund whose answer was lost took effect; retrying the same request
    // number reports it without moving money twice.
    sim.faults(json!({"drop_rate": 1.0})).await;
    let r = refund(&no, &format!("{no}R1"), 900, 900);
    let e = channel.refund(&r).await.unwrap_err();
    assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
    sim.clear_faults().await;
    let again = channel.refund(&r).await.unwrap();
    assert_eq!(again.status, RefundStatus::Success);
    let e = channel
        .refund(&refund(&no, &format!("{no}R2"), 1, 900))
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::Definite { .. }), "{e}");
}

async fn dead_port_is_indeterminate(under: Under) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sim = start_sim().await;
    let mut creds = sim.creds.clone();
    if let Some(a) = creds.alipay.as_mut() {
        a.gateway = format!("http://127.0.0.1:{port}/gateway.do");
    }
    if let Some(w) = creds.wechatpay.as_mut() {
        w.base_url = format!("http://127.0.0.1:{port}");
    }
    if let Some(u) = creds.unionpay.as_mut() {
        u.gateway = format!("http://127.0.0.1:{port}");
    }
    let channel = under.client(&creds);
    let e = channel.query(&out_trade_no("X")).await.unwrap_err();
    assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
    let e = channel
        .create_qr(&qr(&out_trade_no("X"), 100))
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
}

macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {
        mod alipay {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Under::Alipay).await
                }
            )*
        }
        mod wechatpay {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Under::Wechat).await
                }
            )*
        }
        mod unionpay {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Under::Unionpay).await
                }
            )*
        }
    };
}

scenarios!(
    full_lifecycle,
    close_unpaid,
    close_paid,
    refund_beyond_remaining,
    same_refund_number_moves_money_once,
    tampered_signature_is_untrusted,
    channel_errors_are_indeterminate,
    rate_limits_and_system_errors_are_indeterminate,
    dropped_and_garbled_answers_are_indeterminate,
    dead_port_is_indeterminate,
);
