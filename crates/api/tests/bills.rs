//! Reconciliation of every shape of bill file an accountant imports
//! (testdata/bills) against the fixture shop's ledger (a real SQLite file in
//! WAL mode, filled by testdata/bills/ledger_20261120.sql). Named after the
//! gaps they close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use shouyin_api::reconcile::{
    ReconcileBillType, ReconcileClass as C, ReconcileLineKind as K, ReconcileReportDto,
    ReconcileRequest,
};
use shouyin_api::{ApiError, Counter, CounterOptions, ErrorCode};
use shouyin_core::ChannelKind;
use shouyin_testkit::TempLedger;

fn fixture_path(name: &str) -> String {
    format!("{}/../../testdata/bills/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

struct Shop {
    counter: Counter,
    _ledger: TempLedger,
}

async fn shop() -> Shop {
    let ledger = TempLedger::demo(chrono::Utc::now());
    let counter = ledger.counter(CounterOptions::default()).await;
    let c = rusqlite::Connection::open(&ledger.path).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    c.execute_batch(&std::fs::read_to_string(fixture_path("ledger_20261120.sql")).unwrap())
        .unwrap();
    Shop {
        counter,
        _ledger: ledger,
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

async fn run(shop: &Shop, channel: ChannelKind, date: u32, name: &str) -> ReconcileReportDto {
    shop.counter
        .reconcile_file(channel, day(date), fixture(name))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

async fn refused(shop: &Shop, channel: ChannelKind, date: u32, name: &str) -> ApiError {
    shop.counter
        .reconcile_file(channel, day(date), fixture(name))
        .await
        .expect_err(name)
}

/// (class, kind, order no, refund no) of every line, in report order.
fn classes(r: &ReconcileReportDto) -> Vec<(C, K, String, Option<String>)> {
    r.lines
        .iter()
        .map(|l| (l.class, l.kind, l.order_no.clone(), l.out_refund_no.clone()))
        .collect()
}

fn line(class: C, kind: K, no: &str, refund: Option<&str>) -> (C, K, String, Option<String>) {
    (class, kind, no.into(), refund.map(str::to_owned))
}

/// The WeChat ALL bill of 11-20 against the ledger, whatever its packing or
/// header generation.
fn wechat_all_expected() -> Vec<(C, K, String, Option<String>)> {
    vec![
        line(C::RefundPending, K::Refund, "W0003", Some("W0003_R1")),
        line(C::Matched, K::Payment, "W0001", None),
        line(C::Matched, K::Payment, "W0002", None),
        line(C::Matched, K::Refund, "W0002", Some("W0002_R1")),
        line(C::Matched, K::Payment, "W0003", None),
        line(C::Matched, K::Payment, "W0004", None),
        line(C::Matched, K::Refund, "W0004", Some("W0004_R1")),
        line(C::Matched, K::Payment, "W0005", None),
        line(C::Matched, K::Reversal, "W0005", None),
        line(C::Matched, K::Payment, "W0006", None),
    ]
}

#[tokio::test]
async fn gap1_a_refund_bill_is_reconciled_for_the_refunds_day() {
    let shop = shop().await;
    let r = run(&shop, ChannelKind::Wechat, 21, "wechat_refund_20261121.csv").await;
    assert_eq!(r.bill_type, ReconcileBillType::WechatRefund);
    assert_eq!(
        classes(&r),
        vec![
            line(C::RefundPending, K::Refund, "W0006", Some("W0006_R1")),
            line(C::Matched, K::Refund, "W0001", Some("W0001_R1")),
        ]
    );
    assert_eq!(r.bill_lines_outside_day, 0);
    // The payments' day is not the refunds' day: named as such.
    let e = refused(&shop, ChannelKind::Wechat, 20, "wechat_refund_20261121.csv").await;
    assert_eq!(e.code, ErrorCode::BillWrongDay, "{e:?}");
    let fields = e.fields;
    assert_eq!(fields["found"], "2026-11-21");
    assert_eq!(fields["wanted"], "2026-11-20");
    assert_eq!(fields["bill_type"], "wechat_refund");
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap2_the_bill_type_is_reported_and_only_its_rows_are_looked_for() {
    let shop = shop().await;
    // A payments-only bill: the day's refund W0002_R1 is not "missing".
    let r = run(
        &shop,
        ChannelKind::Wechat,
        20,
        "wechat_success_20261120.csv",
    )
    .await;
    assert_eq!(r.bill_type, ReconcileBillType::WechatSuccess);
    assert!(r.is_clean(), "{:#?}", r.lines);
    assert_eq!(r.ledger_totals.refund_count, 0);
    assert_eq!(r.ledger_totals.payments_fen, 10030);
    // A refunds-only bill: the day's payment W0101 is not "missing".
    let r = run(&shop, ChannelKind::Wechat, 21, "wechat_refund_20261121.csv").await;
    assert!(r.lines.iter().all(|l| l.kind == K::Refund), "{r:#?}");
    assert_eq!(r.ledger_totals.payment_count, 0);
    let r = run(&shop, ChannelKind::Wechat, 20, "wechat_all_20261120.csv").await;
    assert_eq!(r.bill_type, ReconcileBillType::WechatAll);
    let r = run(&shop, ChannelKind::Alipay, 20, "alipay_20261120.csv.zip").await;
    assert_eq!(r.bill_type, ReconcileBillType::AlipayTrade);
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap3_early_headers_are_reconciled_like_current_ones() {
    let shop = shop().await;
    let current = run(&shop, ChannelKind::Wechat, 20, "wechat_all_20261120.csv").await;
    let early = run(
        &shop,
        ChannelKind::Wechat,
        20,
        "wechat_early_all_20261120.csv",
    )
    .await;
    assert_eq!(classes(&early), wechat_all_expected());
    assert_eq!(classes(&current), classes(&early));
    assert_eq!(early.bill_footer_agrees, Some(true));
    let early_success = run(
        &shop,
        ChannelKind::Wechat,
        20,
        "wechat_early_success_20261120.csv",
    )
    .await;
    assert!(early_success.is_clean(), "{early_success:#?}");
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap4_coupons_and_merchant_discounts_are_no_difference_and_both_figures_show() {
    let shop = shop().await;
    let r = run(&shop, ChannelKind::Wechat, 20, "wechat_all_20261120.csv").await;
    assert_eq!(classes(&r), wechat_all_expected());
    let w2: Vec<_> = r
        .lines
        .iter()
        .filter(|l| l.order_no == "W0002")
        .map(|l| {
            (
                l.kind,
                l.bill_amount.clone(),
                l.bill_settled_amount.clone(),
                l.ledger_amount.clone(),
            )
        })
        .collect();
    let s = |t: &str| Some(t.to_owned());
    assert_eq!(
        w2,
        vec![
            (K::Payment, s("50.00"), s("45.00"), s("50.00")),
            (K::Refund, s("50.00"), s("45.00"), s("50.00")),
        ]
    );
    let b = &r.bill_totals;
    assert_eq!(
        (
            b.payments_fen,
            b.settled_payments_fen,
            b.refunds_fen,
            b.settled_refunds_fen
        ),
        (10030, 9530, 5000, 4500)
    );
    assert_eq!(b.net_fen, r.ledger_totals.net_fen);
    // Alipay: 商家优惠 3.00 on A0002, paid and refunded in full.
    let r = run(&shop, ChannelKind::Alipay, 20, "alipay_20261120.csv.zip").await;
    assert!(r.is_clean(), "{:#?}", r.lines);
    let a2 = r
        .lines
        .iter()
        .find(|l| l.order_no == "A0002" && l.kind == K::Refund)
        .unwrap();
    assert_eq!(
        (a2.bill_amount.as_deref(), a2.bill_settled_amount.as_deref()),
        (Some("30.00"), Some("27.00"))
    );
    assert_eq!(
        (
            r.bill_totals.payments_fen,
            r.bill_totals.settled_payments_fen,
            r.bill_totals.refunds_fen,
            r.bill_totals.settled_refunds_fen
        ),
        (4730, 4430, 3000, 2700)
    );
    assert_eq!(r.bill_totals.net_fen, r.ledger_totals.net_fen);
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap5_pending_and_failed_refunds_are_not_money_returned() {
    let shop = shop().await;
    let r = run(&shop, ChannelKind::Wechat, 20, "wechat_all_20261120.csv").await;
    let b = &r.bill_totals;
    // Only W0002_R1 went back; W0003_R1 is pending, W0004_R1 failed.
    assert_eq!((b.refund_count, b.refunds_fen), (1, 5000));
    assert_eq!((b.pending_refund_count, b.pending_refunds_fen), (1, 300));
    assert_eq!(r.counts.refund_pending, 1);
    let pending = r
        .lines
        .iter()
        .find(|l| l.order_no == "W0003" && l.kind == K::Refund)
        .unwrap();
    assert_eq!(pending.class, C::RefundPending);
    assert_eq!(pending.bill_status.as_deref(), Some("PROCESSING"));
    assert_eq!(pending.ledger_state.as_deref(), Some("refund_processing"));
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap6_a_revoked_row_is_not_money_received() {
    let shop = shop().await;
    let r = run(&shop, ChannelKind::Wechat, 20, "wechat_all_20261120.csv").await;
    let b = &r.bill_totals;
    assert_eq!((b.payment_count, b.payments_fen), (6, 10030));
    assert_eq!((b.reversal_count, b.reversals_fen), (1, 600));
    let reversal = r.lines.iter().find(|l| l.kind == K::Reversal).unwrap();
    assert_eq!(
        (
            reversal.order_no.as_str(),
            reversal.class,
            reversal.bill_status.as_deref()
        ),
        ("W0005", C::Matched, Some("REVOKED"))
    );
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap7_every_packing_of_both_channels_gives_the_same_report() {
    let shop = shop().await;
    let wechat = run(&shop, ChannelKind::Wechat, 20, "wechat_all_20261120.csv").await;
    for name in [
        "wechat_all_20261120.csv.gz",
        "wechat_all_20261120.zip",
        "wechat_all_20261120_gbk_crlf.csv",
    ] {
        let r = run(&shop, ChannelKind::Wechat, 20, name).await;
        assert_eq!(r.lines, wechat.lines, "{name}");
        assert_eq!(r.bill_footer_agrees, Some(true), "{name}");
    }
    let alipay = run(&shop, ChannelKind::Alipay, 20, "alipay_20261120.csv.zip").await;
    for name in [
        "alipay_20261120_folder.zip",
        "alipay_20261120_detail_gbk.csv",
        "alipay_20261120_detail_utf8bom.csv",
        "alipay_20261120_detail.csv.gz",
    ] {
        let r = run(&shop, ChannelKind::Alipay, 20, name).await;
        assert_eq!(r.lines, alipay.lines, "{name}");
        assert_eq!(r.bill_footer_agrees, Some(true), "{name}");
    }
    // A damaged gzip is named as one.
    let mut broken = fixture("wechat_all_20261120.csv.gz");
    broken.truncate(40);
    let e = shop
        .counter
        .reconcile_file(ChannelKind::Wechat, day(20), broken)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BillUnreadable);
    let fields = e.fields;
    assert_eq!(
        (fields["reason"].as_str(), fields["format"].as_str()),
        ("bad_archive", "gzip")
    );
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap8_the_alipay_account_log_is_refused_with_a_plain_code() {
    let shop = shop().await;
    for name in [
        "alipay_20261120_账务明细.csv",
        "alipay_20261120_账务明细.csv.zip",
    ] {
        let e = refused(&shop, ChannelKind::Alipay, 20, name).await;
        assert_eq!(e.code, ErrorCode::BillAccountLog, "{e:?}");
        assert!(e.message.contains("业务明细"), "{e:?}");
    }
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn gap9_errors_are_typed_codes_with_fields_in_plain_words() {
    let shop = shop().await;
    let e = refused(&shop, ChannelKind::Alipay, 20, "wechat_all_20261120.csv").await;
    assert_eq!(e.code, ErrorCode::BillWrongChannel);
    let fields = e.fields.clone();
    assert_eq!(
        (fields["found"].as_str(), fields["wanted"].as_str()),
        ("wechat", "alipay")
    );
    let e2 = refused(&shop, ChannelKind::Wechat, 20, "alipay_20261120.csv.zip").await;
    assert_eq!(e2.code, ErrorCode::BillWrongChannel);
    assert_eq!(e2.fields.clone()["found"], "alipay");
    for message in [&e.message, &e2.message] {
        assert!(
            !message.contains("a alipay") && !message.contains("a wechat"),
            "{message}"
        );
    }
    // A row that breaks: its line, column and value.
    let text = String::from_utf8(fixture("wechat_all_20261120.csv"))
        .unwrap()
        .replacen("`8.00,`0.00,`0,", "`8.0x,`0.00,`0,", 1);
    let e = shop
        .counter
        .reconcile_file(ChannelKind::Wechat, day(20), text.into_bytes())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BillUnreadable);
    let fields = e.fields;
    assert_eq!(fields["reason"], "bad_amount");
    assert_eq!(fields["line"], "4");
    assert_eq!(fields["column"], "应结订单金额");
    assert_eq!(fields["value"], "8.0x");
    // Cash has no bill.
    let e = shop
        .counter
        .reconcile_file(
            ChannelKind::Cash,
            day(20),
            fixture("wechat_all_20261120.csv"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BillNoChannelBill);
    // A path that is not there, through the view's call.
    let e = shop
        .counter
        .reconcile_run(ReconcileRequest {
            channel: ChannelKind::Wechat,
            date: "2026-11-20".into(),
            bill_path: Some(fixture_path("no-such-bill.csv")),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BillUnreadable);
    assert_eq!(e.fields["reason"], "io");
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn every_fixture_agrees_with_its_footer_through_the_report() {
    let shop = shop().await;
    for (channel, date, name) in [
        (ChannelKind::Wechat, 20, "wechat_all_20261120.csv"),
        (ChannelKind::Wechat, 20, "wechat_success_20261120.csv"),
        (ChannelKind::Wechat, 21, "wechat_refund_20261121.csv"),
        (ChannelKind::Wechat, 20, "wechat_early_all_20261120.csv"),
        (ChannelKind::Wechat, 20, "wechat_early_success_20261120.csv"),
        (ChannelKind::Alipay, 20, "alipay_20261120.csv.zip"),
    ] {
        let r = run(&shop, channel, date, name).await;
        assert_eq!(r.bill_footer_agrees, Some(true), "{name}");
        assert!(r.bill_footer_disagreements.is_empty(), "{name}");
    }
    let text = String::from_utf8(fixture("wechat_all_20261120.csv"))
        .unwrap()
        .replacen("`8.00,`0.00,`0,", "`8.10,`0.00,`0,", 1);
    let r = shop
        .counter
        .reconcile_file(ChannelKind::Wechat, day(20), text.into_bytes())
        .await
        .unwrap();
    assert_eq!(r.bill_footer_agrees, Some(false));
    assert_eq!(r.bill_footer_disagreements, vec!["settled_payments"]);
    shop.counter.shutdown().await;
}

/// UnionPay's file of 11-20 (make.py): every line matches the ledger, the
/// cancelled and reversed payments show as reversals beside their payment
/// lines, refunds match by their own request numbers (U0090_R1 refunds a
/// payment of the day before).
fn unionpay_expected() -> Vec<(C, K, String, Option<String>)> {
    vec![
        line(C::Matched, K::Payment, "U0001", None),
        line(C::Matched, K::Payment, "U0002", None),
        line(C::Matched, K::Refund, "U0002", Some("U0002_R1")),
        line(C::Matched, K::Payment, "U0003", None),
        line(C::Matched, K::Refund, "U0003", Some("U0003_R1")),
        line(C::Matched, K::Payment, "U0004", None),
        // With the refund the till recorded for the cancel.
        line(C::Matched, K::Reversal, "U0004", Some("U0004_CH")),
        line(C::Matched, K::Payment, "U0005", None),
        line(C::Matched, K::Reversal, "U0005", None),
        line(C::Matched, K::Refund, "U0090", Some("U0090_R1")),
    ]
}

#[tokio::test]
async fn unionpay_file_reconciles_in_every_packing() {
    let shop = shop().await;
    for name in [
        "unionpay_20261120.zip",
        "unionpay_20261120_filecontent.zlib",
        "unionpay_INN26112088ZM_777290058110048",
        "unionpay_20261120_ZM_utf8.txt",
    ] {
        let r = run(&shop, ChannelKind::Unionpay, 20, name).await;
        assert_eq!(r.bill_type, ReconcileBillType::UnionpayTrade, "{name}");
        assert_eq!(r.channel, ChannelKind::Unionpay, "{name}");
        assert!(r.is_clean(), "{name}: {:#?}", r.lines);
        assert_eq!(classes(&r), unionpay_expected(), "{name}");
        // The file prints no totals.
        assert_eq!(r.bill_footer_agrees, None, "{name}");
        assert_eq!(r.bill_lines_outside_day, 0, "{name}");
        // Cancels and reversals are not money received; refunds by number.
        let b = &r.bill_totals;
        assert_eq!((b.payment_count, b.payments_fen), (5, 9630), "{name}");
        assert_eq!((b.refund_count, b.refunds_fen), (3, 5800), "{name}");
        assert_eq!((b.reversal_count, b.reversals_fen), (2, 1400), "{name}");
        assert_eq!(b.net_fen, 3830, "{name}");
        let l = &r.ledger_totals;
        assert_eq!(
            (
                l.payment_count,
                l.payments_fen,
                l.refund_count,
                l.refunds_fen
            ),
            (5, 9630, 3, 5800),
            "{name}"
        );
        // The till's refund for the cancel is counted with the reversals.
        assert_eq!((l.reversal_count, l.reversals_fen), (1, 600), "{name}");
        assert_eq!(l.net_fen, b.net_fen, "{name}");
    }
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn unionpay_differences_are_found_like_the_other_channels() {
    let shop = shop().await;
    let zm = fixture("unionpay_INN26112088ZM_777290058110048");
    let text = encoding_rs::GBK.decode(&zm).0.into_owned();
    // U0001 billed at 12.40 instead of 12.30; a payment the ledger never
    // saw; and the ledger's U0003 refund gone from the file.
    let edited = text.replacen("000000001230", "000000001240", 1);
    let mut rows: Vec<&str> = edited.split("\r\n").filter(|r| !r.is_empty()).collect();
    rows.retain(|r| !r.contains("U0003_R1"));
    let stranger = rows[0].replacen("U0001 ", "U7777 ", 1).replacen(
        "612611200000000000001",
        "612611200000000000777",
        1,
    );
    rows.push(&stranger);
    let bytes = encoding_rs::GBK.encode(&rows.join("\r\n")).0.into_owned();
    let r = shop
        .counter
        .reconcile_file(ChannelKind::Unionpay, day(20), bytes)
        .await
        .unwrap();
    let differences: Vec<_> = classes(&r)
        .into_iter()
        .filter(|(c, ..)| *c != C::Matched)
        .collect();
    assert_eq!(
        differences,
        vec![
            line(C::MissingInLedger, K::Payment, "U7777", None),
            line(C::MissingInBill, K::Refund, "U0003", Some("U0003_R1")),
            line(C::AmountMismatch, K::Payment, "U0001", None),
        ]
    );
    assert_eq!(r.differences, 3);
    shop.counter.shutdown().await;
}

#[tokio::test]
async fn unionpay_wrong_files_are_typed_errors() {
    let shop = shop().await;
    // Another channel's bill given as UnionPay's, and the other way round.
    let e = refused(&shop, ChannelKind::Unionpay, 20, "wechat_all_20261120.csv").await;
    assert_eq!(e.code, ErrorCode::BillWrongChannel, "{e:?}");
    assert_eq!(e.fields["found"], "wechat");
    assert_eq!(e.fields["wanted"], "unionpay");
    let e = refused(&shop, ChannelKind::Alipay, 20, "unionpay_20261120.zip").await;
    assert_eq!(e.code, ErrorCode::BillWrongChannel, "{e:?}");
    assert_eq!(e.fields["found"], "unionpay");
    // The wrong day: every row lies on 11-20.
    let e = refused(&shop, ChannelKind::Unionpay, 21, "unionpay_20261120.zip").await;
    assert_eq!(e.code, ErrorCode::BillWrongDay, "{e:?}");
    assert_eq!(e.fields["found"], "2026-11-20");
    assert_eq!(e.fields["bill_type"], "unionpay_trade");
    // A cut-off row: its line, in a typed reason.
    let zm = fixture("unionpay_INN26112088ZM_777290058110048");
    let e = shop
        .counter
        .reconcile_file(
            ChannelKind::Unionpay,
            day(20),
            zm[..zm.len() - 400].to_vec(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::BillUnreadable, "{e:?}");
    assert_eq!(e.fields["reason"], "bad_row");
    assert_eq!(e.fields["line"], "10");
    shop.counter.shutdown().await;
}
