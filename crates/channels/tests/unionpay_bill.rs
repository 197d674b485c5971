//! UnionPay's reconciliation file in every shape an accountant imports
//! (testdata/bills, written from the documented layout by make.py), read
//! line by line; and the simulator's rendering of it read back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use shouyin_channels::unionpay_bill::{decode_file_content, parse_unionpay_bill};
use shouyin_channels::{BillFileError, BillKind, BillLine, BillRefundState, BillType, ParsedBill};
use shouyin_sim::unionpay_bill::{
    file_content, render_unionpay_bill, UnionpayBillRow, UnionpayTxn,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../testdata/bills/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn read(name: &str) -> ParsedBill {
    parse_unionpay_bill(&fixture(name), day()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// (kind, order no, refund no, gross, settled, refund state, Beijing time, code)
type Row = (
    BillKind,
    String,
    Option<String>,
    i64,
    i64,
    Option<BillRefundState>,
    String,
    String,
);

fn rows(bill: &ParsedBill) -> Vec<Row> {
    bill.lines
        .iter()
        .map(|l: &BillLine| {
            (
                l.kind,
                l.out_trade_no.clone(),
                l.out_refund_no.clone(),
                l.amount_fen,
                l.settled_fen,
                l.refund_state,
                (l.occurred_at + chrono::Duration::hours(8))
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                l.status.clone(),
            )
        })
        .collect()
}

fn row(kind: BillKind, no: &str, refund: Option<&str>, fen: i64, at: &str, code: &str) -> Row {
    let state = (kind == BillKind::Refund).then_some(BillRefundState::Succeeded);
    (
        kind,
        no.into(),
        refund.map(str::to_owned),
        fen,
        fen,
        state,
        format!("2026-11-20 {at}"),
        code.into(),
    )
}

use BillKind::{Payment as P, Refund as R, Reversal as V};

/// The day of make.py: payments, a full and a partial refund, a same-day
/// cancel, a reversal, and a refund of the day before's payment.
fn expected() -> Vec<Row> {
    vec![
        row(P, "U0001", None, 1230, "09:00:05", "S56"),
        row(P, "U0002", None, 5000, "10:15:00", "S56"),
        row(R, "U0002", Some("U0002_R1"), 5000, "11:00:00", "S30"),
        row(P, "U0003", None, 2000, "12:00:00", "S56"),
        row(R, "U0003", Some("U0003_R1"), 500, "13:00:00", "S30"),
        row(P, "U0004", None, 600, "14:00:00", "S56"),
        row(V, "U0004", None, 600, "14:05:00", "S31"),
        row(P, "U0005", None, 800, "15:00:00", "S56"),
        row(V, "U0005", None, 800, "15:00:40", "S32"),
        row(R, "U0090", Some("U0090_R1"), 300, "16:00:00", "S30"),
    ]
}

#[test]
fn every_packing_of_the_day_reads_the_same_rows() {
    for name in [
        "unionpay_20261120.zip",
        "unionpay_20261120_filecontent.zlib",
        "unionpay_INN26112088ZM_777290058110048",
        "unionpay_20261120_ZM_utf8.txt",
    ] {
        let bill = read(name);
        assert_eq!(bill.bill_type, BillType::UnionpayTrade, "{name}");
        assert_eq!(rows(&bill), expected(), "{name}");
        // The ZM file prints no totals: nothing to disagree with.
        assert!(!bill.has_footer(), "{name}");
        assert!(bill.footer_disagreements().is_empty(), "{name}");
    }
}

#[test]
fn trade_numbers_are_the_query_ids_and_a_cancel_names_the_payment_it_undid() {
    let bill = read("unionpay_20261120.zip");
    let q = |l: &BillLine| l.channel_trade_no.clone();
    assert_eq!(q(&bill.lines[0]), "612611200000000000001");
    // The refund's own query id; the cancel carries the payment's.
    assert_eq!(q(&bill.lines[2]), "612611200000000000003");
    assert_eq!(q(&bill.lines[6]), "612611200000000000006");
    assert_eq!(
        bill.lines[0].occurred_at,
        Utc.with_ymd_and_hms(2026, 11, 20, 1, 0, 5).unwrap()
    );
}

#[test]
fn the_day_adds_up() {
    let bill = read("unionpay_20261120.zip");
    let sum = |kind: BillKind| -> (usize, i64) {
        let ls: Vec<&BillLine> = bill.lines.iter().filter(|l| l.kind == kind).collect();
        (ls.len(), ls.iter().map(|l| l.amount_fen).sum())
    };
    assert_eq!(sum(P), (5, 9630));
    assert_eq!(sum(R), (3, 5800));
    assert_eq!(sum(V), (2, 1400));
    // Settled before fees equals the gross: no coupons in this file.
    assert!(bill.lines.iter().all(|l| l.settled_fen == l.amount_fen));
}

#[test]
fn bad_files_are_typed_errors() {
    let d = day();
    assert_eq!(parse_unionpay_bill(b"", d), Err(BillFileError::Empty));
    assert_eq!(parse_unionpay_bill(b" \r\n", d), Err(BillFileError::Empty));
    assert!(matches!(
        parse_unionpay_bill(b"PK\x03\x04garbage", d),
        Err(BillFileError::BadArchive { format: "zip", .. })
    ));
    assert!(matches!(
        parse_unionpay_bill(&[0x78, 0x9c, 1, 2, 3], d),
        Err(BillFileError::BadArchive { format: "zlib", .. })
    ));
    // Another channel's bill is no ZM file.
    assert!(matches!(
        parse_unionpay_bill(&fixture("wechat_all_20261120.csv"), d),
        Err(BillFileError::NoTable { .. })
    ));
    assert!(matches!(
        parse_unionpay_bill(&fixture("alipay_20261120.csv.zip"), d),
        Err(BillFileError::NoTable { .. })
    ));
    let zm = fixture("unionpay_INN26112088ZM_777290058110048");
    let text = encoding_rs::GBK.decode(&zm).0.into_owned();
    // A cut-off last row.
    let cut = &zm[..zm.len() - 400];
    assert!(matches!(
        parse_unionpay_bill(cut, d),
        Err(BillFileError::BadRow { line: 10, .. })
    ));
    // An amount edited by hand.
    let edited = text.replacen("000000001230", "0000000012.3", 1);
    let e = parse_unionpay_bill(&encoding_rs::GBK.encode(&edited).0, d).unwrap_err();
    assert_eq!(
        e,
        BillFileError::BadAmount {
            line: 1,
            column: "交易金额".into(),
            value: "0000000012.3".into()
        }
    );
    // A refund whose payment is neither in the file nor named.
    let orphan = text.replacen(
        "U0090                           ",
        "                                ",
        1,
    );
    assert!(matches!(
        parse_unionpay_bill(&encoding_rs::GBK.encode(&orphan).0, d),
        Err(BillFileError::MissingField { line: 10, .. })
    ));
    // Two ZM files in one archive cannot both be the day's.
    let mut two = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for name in ["INN26112088ZM_1", "INN26112188ZM_1"] {
        two.start_file(name, options).unwrap();
        std::io::Write::write_all(&mut two, &zm).unwrap();
    }
    let two = two.finish().unwrap().into_inner();
    assert_eq!(
        parse_unionpay_bill(&two, d),
        Err(BillFileError::SeveralTables { count: 2 })
    );
}

/// UnionPay's own sample from its SDK demo (`802310048993424_20150905.zip`:
/// the ZM file and an RD file, CRLF rows of 607 bytes): eight payments, the
/// fee debited and the rest credited.
#[test]
fn unionpays_own_sample_file_reads() {
    let date = NaiveDate::from_ymd_opt(2015, 9, 5).unwrap();
    let bill = parse_unionpay_bill(
        &fixture("unionpay_sample_802310048993424_20150905.zip"),
        date,
    )
    .unwrap();
    assert_eq!(bill.lines.len(), 8);
    assert!(bill.lines.iter().all(|l| l.kind == P && l.status == "S56"));
    let total: i64 = bill.lines.iter().map(|l| l.amount_fen).sum();
    assert_eq!(total, 1_322_700);
    // 结算金额 C 4739.39 plus 商户手续费 D 28.61 is the amount.
    let first = &bill.lines[0];
    assert_eq!(
        (
            first.out_trade_no.as_str(),
            first.channel_trade_no.as_str(),
            first.amount_fen,
            first.settled_fen
        ),
        ("10078087", "201509061122031906248", 476_800, 476_800)
    );
    assert!(bill.lines.iter().all(|l| l.settled_fen == l.amount_fen));
    // Its rows are of 6 September, a day after the settlement date.
    assert_eq!(first.occurred_at.to_rfc3339(), "2015-09-06T03:22:03+00:00");
}

#[test]
fn an_empty_day_is_an_empty_bill() {
    let zip = render_unionpay_bill(day(), "777290058110048", &[]).unwrap();
    let bill = parse_unionpay_bill(&zip, day()).unwrap();
    assert!(bill.lines.is_empty());
}

/// (kind, order no, refund no, gross, settled, UTC time)
type Seen<'a> = (BillKind, &'a str, Option<&'a str>, i64, i64, String);

#[test]
fn the_simulators_file_round_trips_through_file_content() {
    let at = |h: u32, m: u32, s: u32| Utc.with_ymd_and_hms(2026, 11, 20, h, m, s).unwrap();
    let paid = |order: &str, query: &str, fen: i64, t| UnionpayBillRow {
        txn: UnionpayTxn::Consume,
        txn_sub_type: "07".into(),
        order_id: order.into(),
        query_id: query.into(),
        amount_fen: fen,
        txn_time: t,
        orig_query_id: None,
        orig_order_id: None,
        orig_txn_time: None,
    };
    let undo =
        |txn, order: &str, query: &str, fen: i64, t, orig: &UnionpayBillRow| UnionpayBillRow {
            txn,
            txn_sub_type: "00".into(),
            order_id: order.into(),
            query_id: query.into(),
            amount_fen: fen,
            txn_time: t,
            orig_query_id: Some(orig.query_id.clone()),
            orig_order_id: Some(orig.order_id.clone()),
            orig_txn_time: Some(orig.txn_time),
        };
    let p1 = paid("S1", "100000000000000000001", 1999, at(1, 0, 0));
    let p2 = paid("S2", "100000000000000000002", 500, at(2, 0, 0));
    let p3 = paid("S3", "100000000000000000003", 12345, at(3, 0, 0));
    // 23:59:59 Beijing stays on the 20th.
    let p4 = paid("S4", "100000000000000000004", 1, at(15, 59, 59));
    let rows = vec![
        p1.clone(),
        p2.clone(),
        undo(
            UnionpayTxn::Cancel,
            "S2_C",
            "100000000000000000005",
            500,
            at(2, 1, 0),
            &p2,
        ),
        p3.clone(),
        undo(
            UnionpayTxn::Refund,
            "S3_R1",
            "100000000000000000006",
            345,
            at(4, 0, 0),
            &p3,
        ),
        undo(
            UnionpayTxn::Reversal,
            "S1",
            "100000000000000000007",
            1999,
            at(1, 0, 30),
            &p1,
        ),
        p4,
    ];
    let zip = render_unionpay_bill(day(), "777290058110048", &rows).unwrap();
    // As the client gets it: base64 of zlib of the zip.
    let unpacked = decode_file_content(&file_content(&zip).unwrap()).unwrap();
    assert_eq!(unpacked, zip);
    let bill = parse_unionpay_bill(&unpacked, day()).unwrap();
    let got: Vec<Seen> = bill
        .lines
        .iter()
        .map(|l| {
            (
                l.kind,
                l.out_trade_no.as_str(),
                l.out_refund_no.as_deref(),
                l.amount_fen,
                l.settled_fen,
                l.occurred_at.to_rfc3339(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                P,
                "S1",
                None,
                1999,
                1999,
                "2026-11-20T01:00:00+00:00".into()
            ),
            (P, "S2", None, 500, 500, "2026-11-20T02:00:00+00:00".into()),
            (V, "S2", None, 500, 500, "2026-11-20T02:01:00+00:00".into()),
            (
                P,
                "S3",
                None,
                12345,
                12345,
                "2026-11-20T03:00:00+00:00".into()
            ),
            (
                R,
                "S3",
                Some("S3_R1"),
                345,
                345,
                "2026-11-20T04:00:00+00:00".into()
            ),
            (
                V,
                "S1",
                None,
                1999,
                1999,
                "2026-11-20T01:00:30+00:00".into()
            ),
            (P, "S4", None, 1, 1, "2026-11-20T15:59:59+00:00".into()),
        ]
    );
    assert_eq!(bill.lines[0].channel_trade_no, "100000000000000000001");
    assert_eq!(bill.lines[4].channel_trade_no, "100000000000000000006");
}
