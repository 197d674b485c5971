//! UnionPay's own cases against the simulator over loopback HTTP: the
//! signing certificate an answer carries is trusted only through the
//! configured chain, and a code payment is reversed (冲正) or, once the
//! reversal window has passed, cancelled (消费撤销). The scenarios every
//! channel runs are in `sim.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use shouyin_channels::{
    Channel, ChannelError, ChannelsFile, CloseOutcome, CodePay, CodePayAnswer, CreateQr,
    RemoteStatus,
};
use shouyin_core::ChannelKind;
use shouyin_testkit::Sim;

fn client(creds: &ChannelsFile) -> Arc<dyn Channel> {
    creds.build().unwrap()[&ChannelKind::Unionpay].clone()
}

fn qr(no: &str) -> CreateQr {
    CreateQr {
        out_trade_no: no.to_owned(),
        amount_fen: 100,
        subject: "test".into(),
        expires_at: Utc::now() + Duration::minutes(5),
        notify_url: None,
    }
}

fn number(tag: &str) -> String {
    format!("U{}{tag}", Utc::now().format("%H%M%S%6f"))
}

fn untrusted(e: &ChannelError, says: &str) {
    match e {
        ChannelError::Untrusted { reason } => assert!(reason.contains(says), "{reason}"),
        other => panic!("expected untrusted ({says}), got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_signed_under_a_bad_certificate_are_untrusted() {
    let sim = Sim::start().await;
    let channel = client(&sim.channels_file());
    let no = number("Q");
    channel.create_qr(&qr(&no)).await.unwrap();
    for (fault, says) in [
        ("untrusted", "not issued by the configured intermediate"),
        ("expired", "not valid now"),
        ("wrong_owner", "does not name 中国银联股份有限公司"),
    ] {
        sim.faults(json!({ "unionpay_cert": fault })).await;
        untrusted(&channel.query(&no).await.unwrap_err(), says);
        untrusted(
            &channel.create_qr(&qr(&number("Q"))).await.unwrap_err(),
            says,
        );
    }
    // A good certificate with a tampered signature.
    sim.faults(json!({"unionpay_cert": "", "bad_signature_rate": 1.0}))
        .await;
    untrusted(
        &channel.query(&no).await.unwrap_err(),
        "signature does not verify",
    );
    sim.clear_faults().await;
    assert_eq!(
        channel.query(&no).await.unwrap().status,
        RemoteStatus::Waiting
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_to_another_root_is_refused_even_with_every_answer_genuine() {
    let sim = Sim::start().await;
    let other = Sim::start().await;
    // This merchant trusts another simulator's root and intermediate.
    let mut creds = sim.channels_file();
    let theirs = other.channels_file().unionpay.unwrap();
    if let Some(u) = creds.unionpay.as_mut() {
        u.root_cert_pem = theirs.root_cert_pem;
        u.middle_cert_pem = theirs.middle_cert_pem;
    }
    let e = client(&creds).query(&number("X")).await.unwrap_err();
    untrusted(&e, "not issued by the configured intermediate");
    // Certificates that do not chain up at all are refused before any call.
    let mut broken = sim.channels_file();
    if let Some(u) = broken.unionpay.as_mut() {
        u.root_cert_pem = other.channels_file().unionpay.unwrap().root_cert_pem;
    }
    assert!(matches!(broken.build(), Err(ChannelError::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_with_another_key_is_refused_unsigned() {
    let sim = Sim::start().await;
    let other = Sim::start().await;
    let mut creds = sim.channels_file();
    let theirs = other.channels_file().unionpay.unwrap();
    if let Some(u) = creds.unionpay.as_mut() {
        u.merchant_private_key_pem = theirs.merchant_private_key_pem;
        u.merchant_cert_pem = theirs.merchant_cert_pem;
    }
    let e = client(&creds).query(&number("K")).await.unwrap_err();
    assert_eq!(e.unsigned_claim(), Some("11"), "{e}");
}

/// A simulator whose clock the test moves. It runs from 10:00 Beijing
/// time, so a move of minutes never crosses into the next day.
async fn shifted_sim() -> (Sim, Arc<AtomicI64>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let shift = Arc::new(AtomicI64::new(0));
    let s = Arc::clone(&shift);
    let started = std::time::Instant::now();
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let ten = Utc::now()
        .with_timezone(&beijing)
        .date_naive()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_local_timezone(beijing)
        .unwrap()
        .with_timezone(&Utc);
    let config = shouyin_sim::SimConfig {
        clock: Arc::new(move || {
            ten + Duration::from_std(started.elapsed()).unwrap()
                + Duration::seconds(s.load(Ordering::SeqCst))
        }),
        ..shouyin_sim::SimConfig::default()
    };
    (Sim::start_with(dir.path(), config).await, shift, dir)
}

fn code_pay(no: &str, code: &str) -> CodePay {
    CodePay {
        out_trade_no: no.to_owned(),
        auth_code: code.to_owned(),
        amount_fen: 2000,
        subject: "test".into(),
        store_id: "S1".into(),
        terminal_id: "T01".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_payments_are_reversed_in_their_window_and_cancelled_after_it() {
    let (sim, shift, _dir) = shifted_sim().await;
    let channel = client(&sim.channels_file());

    // Waiting for the password: the reversal ends it, nothing taken.
    let code = sim.paycode("unionpay", true, None).await;
    let no = number("W");
    assert_eq!(
        channel.pay_by_code(&code_pay(&no, &code)).await.unwrap(),
        CodePayAnswer::Waiting
    );
    assert_eq!(
        channel.reverse_code_payment(&no).await.unwrap(),
        CloseOutcome::Closed
    );
    assert_eq!(sim.phone(&code, "confirm").await.as_u16(), 409);
    assert_eq!(
        channel.query(&no).await.unwrap().status,
        RemoteStatus::Closed
    );

    // Paid: a reversal inside its window gives the money back.
    let code = sim.paycode("unionpay", false, None).await;
    let no = number("P");
    assert!(matches!(
        channel.pay_by_code(&code_pay(&no, &code)).await.unwrap(),
        CodePayAnswer::Paid(_)
    ));
    assert_eq!(
        channel.reverse_code_payment(&no).await.unwrap(),
        CloseOutcome::ReversedAfterPayment
    );
    let trade = sim.trade(&no).await.unwrap();
    assert_eq!(trade["reversed_after_payment"], true, "{trade}");

    // Paid, and the reversal window has passed: the same day's cancel.
    let code = sim.paycode("unionpay", false, None).await;
    let no = number("L");
    assert!(matches!(
        channel.pay_by_code(&code_pay(&no, &code)).await.unwrap(),
        CodePayAnswer::Paid(_)
    ));
    shift.store(11 * 60, Ordering::SeqCst);
    assert_eq!(
        channel.reverse_code_payment(&no).await.unwrap(),
        CloseOutcome::ReversedAfterPayment
    );
    let trade = sim.trade(&no).await.unwrap();
    assert_eq!(
        (trade["state"].as_str(), trade["refunded_fen"].as_i64()),
        (Some("refunded"), Some(2000)),
        "{trade}"
    );

    // Nothing ever reached the channel: nothing to reverse, nothing taken.
    assert_eq!(
        channel.reverse_code_payment(&number("N")).await.unwrap(),
        CloseOutcome::Closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_refusals_are_definite() {
    let sim = Sim::start().await;
    let channel = client(&sim.channels_file());
    let poor = sim.paycode("unionpay", false, Some(500)).await;
    let e = channel
        .pay_by_code(&code_pay(&number("B"), &poor))
        .await
        .unwrap_err();
    assert_eq!(e.definite_code(), Some("51"), "{e}");
    let e = channel
        .pay_by_code(&code_pay(&number("U"), "6200000000000000000"))
        .await
        .unwrap_err();
    assert_eq!(e.definite_code(), Some("60"), "{e}");
    // A code is used once.
    let code = sim.paycode("unionpay", false, None).await;
    channel
        .pay_by_code(&code_pay(&number("A"), &code))
        .await
        .unwrap();
    let e = channel
        .pay_by_code(&code_pay(&number("A"), &code))
        .await
        .unwrap_err();
    assert_eq!(e.definite_code(), Some("60"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_page_shows_a_unionpay_code_and_pays_it() {
    let sim = Sim::start().await;
    let channel = client(&sim.channels_file());
    let no = number("PG");
    let created = channel.create_qr(&qr(&no)).await.unwrap();
    let page = sim
        .http
        .get(format!("{}/", sim.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("云闪付 UnionPay"), "{page}");
    assert!(page.contains("card unionpay"), "{page}");
    let opened = sim
        .http
        .get(format!("{}/pay", sim.base))
        .query(&[("code", created.qr_payload.as_str())])
        .send()
        .await
        .unwrap();
    assert!(opened.status().is_success());
    assert!(opened.text().await.unwrap().contains("1.00"));
    sim.pay(&no).await;
    assert_eq!(channel.query(&no).await.unwrap().status, RemoteStatus::Paid);
    let listed = sim.trade(&no).await.unwrap();
    assert_eq!(
        (listed["channel"].as_str(), listed["state"].as_str()),
        (Some("unionpay"), Some("paid"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_number_used_for_another_amount_is_refused() {
    let sim = Sim::start().await;
    let channel = client(&sim.channels_file());
    let no = number("RN");
    channel.create_qr(&qr(&no)).await.unwrap();
    sim.pay(&no).await;
    assert_eq!(channel.query(&no).await.unwrap().status, RemoteStatus::Paid);
    let refund = |fen: i64| shouyin_channels::RefundRequest {
        out_trade_no: no.clone(),
        out_refund_no: format!("{no}R1"),
        refund_fen: fen,
        total_fen: 100,
        reason: None,
    };
    let first = channel.refund(&refund(30)).await.unwrap();
    assert_eq!(first.refund_fen, Some(30));
    // The same request again is the same refund; another amount under its
    // number is refused, and nothing more moves.
    assert_eq!(
        channel.refund(&refund(30)).await.unwrap().refund_fen,
        Some(30)
    );
    let e = channel.refund(&refund(40)).await.unwrap_err();
    assert_eq!(e.definite_code(), Some("12"), "{e}");
    assert_eq!(sim.trade(&no).await.unwrap()["refunded_fen"], 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_without_trades_has_an_empty_file() {
    let sim = Sim::start().await;
    let channel = client(&sim.channels_file());
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let day = Utc::now().with_timezone(&beijing).date_naive() - Duration::days(3);
    let bill = channel.daily_bill(day).await.unwrap();
    assert!(bill.is_empty(), "{bill:#?}");
    // The file transfer is signed like every answer.
    sim.faults(json!({"unionpay_cert": "expired"})).await;
    untrusted(&channel.daily_bill(day).await.unwrap_err(), "not valid now");
}
