//! Every shape of bill file an accountant imports (testdata/bills, written
//! from the channels' documented formats by testdata/bills/make.py), read
//! line by line, with the totals checked against each file's own footer.
//! The tests are named after the gaps of reconciliation they close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shouyin_channels::{
    alipay, wechatpay, BillFileError, BillHeader, BillKind, BillLine, BillRefundState, BillType,
    ParsedBill,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../testdata/bills/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn wechat(name: &str) -> ParsedBill {
    wechatpay::read_bill(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn alipay(name: &str) -> ParsedBill {
    alipay::read_bill(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Beijing wall-clock time of a line.
fn beijing(l: &BillLine) -> String {
    (l.occurred_at + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// (kind, order no, refund no, gross fen, settled fen, refund state, Beijing time)
type Row = (
    BillKind,
    String,
    Option<String>,
    i64,
    i64,
    Option<BillRefundState>,
    String,
);

fn rows(bill: &ParsedBill) -> Vec<Row> {
    bill.lines
        .iter()
        .map(|l| {
            (
                l.kind,
                l.out_trade_no.clone(),
                l.out_refund_no.clone(),
                l.amount_fen,
                l.settled_fen,
                l.refund_state,
                beijing(l),
            )
        })
        .collect()
}

fn row(
    kind: BillKind,
    no: &str,
    refund: Option<&str>,
    gross: i64,
    settled: i64,
    state: Option<BillRefundState>,
    at: &str,
) -> Row {
    (
        kind,
        no.into(),
        refund.map(str::to_owned),
        gross,
        settled,
        state,
        at.into(),
    )
}

use BillKind::{Payment as P, Refund as R, Reversal as V};
use BillRefundState::{Failed, Pending, Succeeded};

/// The WeChat ALL bill of 2026-11-20, current header, line by line.
fn wechat_all_rows() -> Vec<Row> {
    vec![
        row(P, "W0001", None, 1230, 1230, None, "2026-11-20 09:00:05"),
        row(P, "W0002", None, 5000, 4500, None, "2026-11-20 10:15:00"),
        row(P, "W0003", None, 800, 800, None, "2026-11-20 12:00:00"),
        row(P, "W0004", None, 2000, 2000, None, "2026-11-20 12:30:00"),
        row(P, "W0005", None, 600, 600, None, "2026-11-20 14:00:00"),
        row(V, "W0005", None, 600, 600, None, "2026-11-20 14:00:40"),
        row(P, "W0006", None, 400, 400, None, "2026-11-20 15:00:00"),
        row(
            R,
            "W0002",
            Some("W0002_R1"),
            5000,
            4500,
            Some(Succeeded),
            "2026-11-20 11:00:00",
        ),
        row(
            R,
            "W0003",
            Some("W0003_R1"),
            300,
            300,
            Some(Pending),
            "2026-11-20 13:00:00",
        ),
        row(
            R,
            "W0004",
            Some("W0004_R1"),
            2000,
            2000,
            Some(Failed),
            "2026-11-20 13:10:00",
        ),
    ]
}

fn alipay_rows() -> Vec<Row> {
    vec![
        row(P, "A0001", None, 1230, 1230, None, "2026-11-20 09:00:05"),
        row(P, "A0002", None, 3000, 2700, None, "2026-11-20 10:00:09"),
        row(
            R,
            "A0002",
            Some("A0002_R1"),
            3000,
            2700,
            Some(Succeeded),
            "2026-11-20 11:00:00",
        ),
        row(P, "A0003", None, 500, 500, None, "2026-11-20 16:20:03"),
    ]
}

#[test]
fn gap1_refund_bill_rows_belong_to_the_day_the_refund_succeeded() {
    let bill = wechat("wechat_refund_20261121.csv");
    assert_eq!(
        rows(&bill),
        vec![
            // 交易时间 is the payment's (11-20 09:00:05); the refund
            // succeeded on 11-21.
            row(
                R,
                "W0001",
                Some("W0001_R1"),
                200,
                200,
                Some(Succeeded),
                "2026-11-21 00:10:00"
            ),
            // Pending: no 退款成功时间; it belongs to the day it was asked.
            row(
                R,
                "W0006",
                Some("W0006_R1"),
                400,
                400,
                Some(Pending),
                "2026-11-21 09:30:00"
            ),
        ]
    );
}

#[test]
fn gap2_the_bill_type_is_read_from_the_header() {
    assert_eq!(
        wechat("wechat_all_20261120.csv").bill_type,
        BillType::WechatAll
    );
    let success = wechat("wechat_success_20261120.csv");
    assert_eq!(success.bill_type, BillType::WechatSuccess);
    assert!(success.lines.iter().all(|l| l.kind != R));
    assert_eq!(
        wechat("wechat_refund_20261121.csv").bill_type,
        BillType::WechatRefund
    );
    assert_eq!(
        wechat("wechat_early_success_20261120.csv").bill_type,
        BillType::WechatSuccess
    );
    assert_eq!(
        alipay("alipay_20261120.csv.zip").bill_type,
        BillType::AlipayTrade
    );
    assert!(!BillType::WechatSuccess.has_refunds() && BillType::WechatSuccess.has_payments());
    assert!(BillType::WechatRefund.has_refunds() && !BillType::WechatRefund.has_payments());
}

#[test]
fn gap3_both_header_generations_and_full_width_colons() {
    let early = wechat("wechat_early_all_20261120.csv");
    assert_eq!(early.header, Some(BillHeader::Early));
    assert_eq!(early.bill_type, BillType::WechatAll);
    // 总金额 is both gross and settled (the coupon was a recharge one); the
    // times had full-width colons.
    let expected: Vec<Row> = wechat_all_rows()
        .into_iter()
        .map(|(k, no, r, gross, _, s, at)| (k, no, r, gross, gross, s, at))
        .collect();
    assert_eq!(rows(&early), expected);
    let early_success = wechat("wechat_early_success_20261120.csv");
    assert_eq!(early_success.header, Some(BillHeader::Early));
    assert_eq!(early_success.lines.len(), 7);
    assert_eq!(
        wechat("wechat_all_20261120.csv").header,
        Some(BillHeader::Current)
    );
}

#[test]
fn gap4_gross_and_settled_amounts_are_both_read() {
    // WeChat: 订单金额 50.00 with a 5.00 non-recharge coupon, 应结 45.00;
    // the full refund asked 50.00 and settled 45.00.
    let all = wechat("wechat_all_20261120.csv");
    assert_eq!(rows(&all), wechat_all_rows());
    // Alipay: 订单金额 30.00, 商家优惠 3.00, 商家实收 27.00; the refund gave
    // back 27.00 and took back the 3.00 discount: 30.00 asked.
    assert_eq!(rows(&alipay("alipay_20261120.csv.zip")), alipay_rows());
}

#[test]
fn gap5_refund_rows_keep_their_state() {
    let all = wechat("wechat_all_20261120.csv");
    let states: Vec<(String, Option<BillRefundState>, String)> = all
        .lines
        .iter()
        .filter(|l| l.kind == R)
        .map(|l| (l.out_trade_no.clone(), l.refund_state, l.status.clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("W0002".into(), Some(Succeeded), "SUCCESS".into()),
            ("W0003".into(), Some(Pending), "PROCESSING".into()),
            ("W0004".into(), Some(Failed), "FAIL".into()),
        ]
    );
}

#[test]
fn gap6_revoked_rows_are_reversals_not_payments() {
    let all = wechat("wechat_all_20261120.csv");
    let revoked: Vec<&BillLine> = all.lines.iter().filter(|l| l.status == "REVOKED").collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].kind, V);
    assert_eq!(revoked[0].out_trade_no, "W0005");
    // A state the bill format does not know is an error, never a payment.
    let text = String::from_utf8(fixture("wechat_all_20261120.csv"))
        .unwrap()
        .replacen("`REVOKED", "`NOTPAY", 1);
    assert!(matches!(
        wechatpay::read_bill(text.as_bytes()),
        Err(BillFileError::UnknownValue { line: 7, ref column, ref value }) if column == "交易状态" && value == "NOTPAY"
    ));
}

#[test]
fn gap7_gzip_and_zip_for_both_channels() {
    let plain = wechat("wechat_all_20261120.csv");
    for name in [
        "wechat_all_20261120.csv.gz",
        "wechat_all_20261120.zip",
        "wechat_all_20261120_gbk_crlf.csv",
    ] {
        assert_eq!(wechat(name).lines, plain.lines, "{name}");
    }
    assert_eq!(
        wechat("wechat_refund_20261121.csv.gz").lines,
        wechat("wechat_refund_20261121.csv").lines
    );
    let zip = alipay("alipay_20261120.csv.zip");
    for name in [
        "alipay_20261120_folder.zip",
        "alipay_20261120_detail_gbk.csv",
        "alipay_20261120_detail_utf8bom.csv",
        "alipay_20261120_detail.csv.gz",
    ] {
        assert_eq!(alipay(name).lines, zip.lines, "{name}");
    }
    // A broken compressed file is named as such, not "no header row".
    let mut broken = fixture("wechat_all_20261120.csv.gz");
    broken.truncate(40);
    assert!(matches!(
        wechatpay::read_bill(&broken),
        Err(BillFileError::BadArchive { format: "gzip", .. })
    ));
    let mut broken = fixture("alipay_20261120.csv.zip");
    broken.truncate(60);
    assert!(matches!(
        alipay::read_bill(&broken),
        Err(BillFileError::BadArchive { format: "zip", .. })
    ));
}

#[test]
fn gap8_the_alipay_account_log_is_refused_naming_the_detail_file() {
    for name in [
        "alipay_20261120_账务明细.csv",
        "alipay_20261120_账务明细.csv.zip",
    ] {
        let e = alipay::read_bill(&fixture(name)).unwrap_err();
        assert_eq!(e, BillFileError::AlipayAccountLog, "{name}");
        assert!(e.to_string().contains("业务明细"), "{e}");
    }
}

#[test]
fn every_fixture_adds_up_to_its_footer() {
    let checked = [
        (wechat("wechat_all_20261120.csv"), "wechat all"),
        (wechat("wechat_all_20261120_gbk_crlf.csv"), "wechat gbk"),
        (wechat("wechat_success_20261120.csv"), "wechat success"),
        (wechat("wechat_refund_20261121.csv"), "wechat refund"),
        (wechat("wechat_early_all_20261120.csv"), "wechat early all"),
        (
            wechat("wechat_early_success_20261120.csv"),
            "wechat early success",
        ),
        (alipay("alipay_20261120.csv.zip"), "alipay zip"),
        (alipay("alipay_20261120_detail_utf8bom.csv"), "alipay utf8"),
    ];
    for (bill, name) in &checked {
        assert!(bill.has_footer(), "{name} has no footer");
        assert_eq!(bill.footer_disagreements(), Vec::<&str>::new(), "{name}");
    }
    // The figures themselves, as printed.
    let all = &checked[0].0.footer;
    assert_eq!(
        (
            all.payments_fen,
            all.settled_payments_fen,
            all.refunds_fen,
            all.settled_refunds_fen
        ),
        (Some(10030), Some(9530), Some(7300), Some(6800))
    );
    let ali = &checked[6].0.footer;
    assert_eq!(
        (
            ali.payment_rows,
            ali.settled_payments_fen,
            ali.refund_rows,
            ali.settled_refunds_fen
        ),
        (Some(3), Some(4430), Some(1), Some(2700))
    );
    // A row changed after the fact no longer adds up.
    let text = String::from_utf8(fixture("wechat_all_20261120.csv"))
        .unwrap()
        .replacen("`8.00,`0.00,`0,", "`8.10,`0.00,`0,", 1);
    let edited = wechatpay::read_bill(text.as_bytes()).unwrap();
    assert_eq!(edited.footer_disagreements(), vec!["settled_payments"]);
}
