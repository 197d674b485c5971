//! Daily takings and exports on real ledger files with fixed times, checked
//! against figures computed by hand, and exports read back by real readers
//! (the csv crate, calamine for XLSX).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use shouyin_api::export::{
    export_to_file, ExportFormat, ExportProgressDto, ExportRequest, ExportTarget, COLUMNS,
};
use shouyin_api::reports::{daily_report, range_report, DailyReportDto, TakingsDto};
use shouyin_api::{Counter, CounterOptions, ErrorCode};
use shouyin_core::{BusinessCalendar, ChannelKind, Money, OrderState, TerminalId};
use shouyin_ledger::refunds::{NewRefund, RefundOutcome};
use shouyin_ledger::{Change, Ledger, NewOrder, Order, TerminalSetup};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn new_ledger(store: &str, tz: &str, cutoff: &str) -> (tempfile::TempDir, PathBuf, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let setup = TerminalSetup {
        store: store.into(),
        terminal: TerminalId::parse("T01").unwrap(),
        calendar: BusinessCalendar::parse(tz, cutoff).unwrap(),
        sale_limit_fen: 5_000_000,
    };
    let ledger = Ledger::create(&path, &setup, utc("2026-01-01T00:00:00Z")).unwrap();
    (dir, path, ledger)
}

/// A sale created at `created` and paid at `paid`, through the real state
/// machine (QR channels pass through pending).
fn sale(
    ledger: &mut Ledger,
    channel: ChannelKind,
    fen: i64,
    cashier: Option<&str>,
    note: Option<&str>,
    created: &str,
    paid: &str,
) -> Order {
    let order = ledger
        .create_order(
            &NewOrder {
                amount: Money::cny(fen),
                channel,
                cashier: cashier.map(str::to_owned),
                note: note.map(str::to_owned),
            },
            utc(created),
        )
        .unwrap();
    if channel != ChannelKind::Cash {
        ledger
            .transition(order.id, &Change::to(OrderState::Pending), utc(created))
            .unwrap();
    }
    let paid_change = Change {
        paid_at: Some(utc(paid)),
        channel_trade_no: (channel != ChannelKind::Cash).then(|| format!("42000{}", order.id)),
        ..Change::to(OrderState::Paid)
    };
    ledger
        .transition(order.id, &paid_change, utc(paid))
        .unwrap()
}

/// A succeeded refund through the ledger's own calls, as the refunds
/// service records one: requested, then settled at `at` (its business day is
/// that of `at`).
fn refund(ledger: &mut Ledger, order: &Order, fen: i64, at: &str) {
    let requested = ledger
        .request_refund(
            &NewRefund {
                order_no: order.out_trade_no.clone(),
                amount_fen: fen,
                reason: None,
                requested_by: "李娜".into(),
                approver: None,
            },
            utc(at),
        )
        .unwrap();
    ledger
        .settle_refund(
            &requested.out_refund_no,
            &RefundOutcome::Succeeded {
                channel_refund_no: None,
                settled_at: utc(at),
            },
            utc(at),
        )
        .unwrap();
}

/// The hand-computed fixture: Asia/Shanghai (UTC+8), cut-off 04:00. The
/// business day 2026-11-21 runs from 2026-11-20T20:00Z to 2026-11-21T20:00Z.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let (dir, path, mut l) = new_ledger("演示门店 Demo Store", "Asia/Shanghai", "04:00");
    use ChannelKind::*;
    // 03:59:59 local on the 21st: before the cut-off, so the 20th.
    sale(
        &mut l,
        Cash,
        1230,
        Some("王芳"),
        None,
        "2026-11-20T19:59:59Z",
        "2026-11-20T19:59:59Z",
    );
    // 04:00:00 local: the first second of the 21st.
    sale(
        &mut l,
        Wechat,
        10000,
        Some("王芳"),
        None,
        "2026-11-20T20:00:00Z",
        "2026-11-20T20:00:10Z",
    );
    // 06:30 local on the 21st while UTC is still the 20th.
    sale(
        &mut l,
        Cash,
        700,
        Some("王芳"),
        Some("找零 0.00"),
        "2026-11-20T22:30:00Z",
        "2026-11-20T22:30:00Z",
    );
    // Created 13:59:30, paid 14:00:20 local: hour 14 (paid_at decides).
    let c = sale(
        &mut l,
        Alipay,
        4567,
        Some("李娜"),
        None,
        "2026-11-21T05:59:30Z",
        "2026-11-21T06:00:20Z",
    );
    // 03:59 local on the 22nd: still the 21st.
    let e = sale(
        &mut l,
        Wechat,
        8888,
        Some("李娜"),
        None,
        "2026-11-21T19:59:00Z",
        "2026-11-21T19:59:30Z",
    );
    // A sale of the 19th without a cashier.
    let f = sale(
        &mut l,
        Alipay,
        1001,
        None,
        None,
        "2026-11-19T04:00:00Z",
        "2026-11-19T04:00:05Z",
    );
    // Partial refund of C on the 21st at 15:00 local.
    refund(&mut l, &c, 2000, "2026-11-21T07:00:00Z");
    // Part of F (a sale of the 19th) refunded on the 21st at 16:00 local.
    refund(&mut l, &f, 500, "2026-11-21T08:00:00Z");
    // E refunded in full on the 22nd at 10:00 local.
    refund(&mut l, &e, 8888, "2026-11-22T02:00:00Z");
    // A manual confirmation on the 21st: not in gross.
    let g = l
        .create_order(
            &NewOrder {
                amount: Money::cny(3300),
                channel: Unionpay,
                cashier: Some("王芳".into()),
                note: None,
            },
            utc("2026-11-21T03:00:00Z"),
        )
        .unwrap();
    l.transition(
        g.id,
        &Change::to(OrderState::Unverified),
        utc("2026-11-21T03:00:05Z"),
    )
    .unwrap();
    // A closed QR order on the 21st: no money, not counted.
    let h = l
        .create_order(
            &NewOrder {
                amount: Money::cny(2000),
                channel: Wechat,
                cashier: Some("王芳".into()),
                note: None,
            },
            utc("2026-11-21T04:00:00Z"),
        )
        .unwrap();
    l.transition(
        h.id,
        &Change::to(OrderState::Pending),
        utc("2026-11-21T04:00:00Z"),
    )
    .unwrap();
    l.transition(
        h.id,
        &Change::to(OrderState::Closed),
        utc("2026-11-21T04:05:00Z"),
    )
    .unwrap();
    (dir, path)
}

/// (count, gross, refunds, net) of a line.
fn figures(t: &TakingsDto) -> (u64, &str, &str, &str) {
    (
        t.count,
        t.gross.as_str(),
        t.refunds.as_str(),
        t.net.as_str(),
    )
}

#[test]
fn a_business_day_by_hand() {
    let (_dir, path) = fixture();
    let l = Ledger::open_read_only(&path).unwrap();
    let r: DailyReportDto = daily_report(&l, day("2026-11-21")).unwrap();
    assert_eq!(r.date, "2026-11-21");
    // Sales B 100.00 + I 7.00 + C 45.67 + E 88.88 = 241.55; refunds on the
    // day: C 20.00 + F 5.00 (a sale of the 19th) = 25.00.
    assert_eq!(figures(&r.takings), (4, "241.55", "25.00", "216.55"));
    assert_eq!((r.takings.gross_fen, r.takings.net_fen), (24155, 21655));
    // 241.55 / 4 = 60.3875 -> 60.39 (half-up to the fen).
    assert_eq!(r.takings.average, "60.39");
    assert_eq!(r.takings.refund_count, 2);
    assert_eq!(
        (r.unverified_count, r.unverified_amount.as_str()),
        (1, "33.00")
    );

    let channels: Vec<_> = r
        .by_channel
        .iter()
        .map(|c| (c.channel, figures(&c.takings)))
        .collect();
    assert_eq!(
        channels,
        [
            (ChannelKind::Alipay, (1, "45.67", "25.00", "20.67")),
            (ChannelKind::Wechat, (2, "188.88", "0.00", "188.88")),
            (ChannelKind::Cash, (1, "7.00", "0.00", "7.00")),
        ],
        "refunds go to the channel of the original order; the unverified UnionPay order is not a sale"
    );
    let cashiers: Vec<_> = r
        .by_cashier
        .iter()
        .map(|c| (c.cashier.as_deref(), figures(&c.takings)))
        .collect();
    assert_eq!(
        cashiers,
        [
            (None, (0, "0.00", "5.00", "-5.00")),
            (Some("李娜"), (2, "134.55", "20.00", "114.55")),
            (Some("王芳"), (2, "107.00", "0.00", "107.00")),
        ]
    );
    let hours: Vec<_> = r
        .by_hour
        .iter()
        .map(|h| (h.hour, h.label.as_str(), figures(&h.takings)))
        .collect();
    assert_eq!(
        hours,
        [
            (4, "04:00", (1, "100.00", "0.00", "100.00")),
            (6, "06:00", (1, "7.00", "0.00", "7.00")),
            (14, "14:00", (1, "45.67", "0.00", "45.67")),
            (15, "15:00", (0, "0.00", "20.00", "-20.00")),
            (16, "16:00", (0, "0.00", "5.00", "-5.00")),
            (3, "03:00", (1, "88.88", "0.00", "88.88")),
        ],
        "hours in business-day order from the 04:00 cut-off; refunds in their own hour"
    );

    // The next day has only E's refund: negative net.
    let next = daily_report(&l, day("2026-11-22")).unwrap();
    assert_eq!(figures(&next.takings), (0, "0.00", "88.88", "-88.88"));
    assert_eq!(next.takings.average, "0.00");
    assert_eq!(next.by_channel[0].channel, ChannelKind::Wechat);
    assert_eq!(next.by_hour.len(), 1);
    assert_eq!(next.by_hour[0].hour, 10);
    // The 20th holds only the sale one second before the cut-off.
    let before = daily_report(&l, day("2026-11-20")).unwrap();
    assert_eq!(figures(&before.takings), (1, "12.30", "0.00", "12.30"));
    assert_eq!(before.by_hour[0].hour, 3);
    // A day without anything is all zeros, not an error.
    let empty = daily_report(&l, day("2025-01-01")).unwrap();
    assert_eq!(figures(&empty.takings), (0, "0.00", "0.00", "0.00"));
    assert!(empty.by_channel.is_empty() && empty.by_hour.is_empty());
}

#[test]
fn a_range_has_every_day_and_totals() {
    let (_dir, path) = fixture();
    let l = Ledger::open_read_only(&path).unwrap();
    let r = range_report(&l, day("2026-11-18"), day("2026-11-22")).unwrap();
    let days: Vec<_> = r
        .days
        .iter()
        .map(|d| (d.date.as_str(), figures(&d.takings)))
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-18", (0, "0.00", "0.00", "0.00")),
            ("2026-11-19", (1, "10.01", "0.00", "10.01")),
            ("2026-11-20", (1, "12.30", "0.00", "12.30")),
            ("2026-11-21", (4, "241.55", "25.00", "216.55")),
            ("2026-11-22", (0, "0.00", "88.88", "-88.88")),
        ]
    );
    assert_eq!(r.totals.days, 5);
    assert_eq!(
        figures(&r.totals.takings),
        (6, "263.86", "113.88", "149.98")
    );
    // 263.86 / 6 = 43.976… -> 43.98.
    assert_eq!(r.totals.takings.average, "43.98");
    assert_eq!(r.totals.unverified_count, 1);
    // Each day of the range agrees with its daily report.
    for d in &r.days {
        let daily = daily_report(&l, day(&d.date)).unwrap();
        assert_eq!(daily.takings, d.takings, "{}", d.date);
    }
    assert!(range_report(&l, day("2026-11-22"), day("2026-11-21")).is_err());
}

#[test]
fn time_zone_edges_and_the_dst_overlap() {
    // Berlin, midnight cut-off. On 2026-10-25 clocks go back at 03:00 CEST
    // to 02:00 CET: local 02:30 happens twice.
    let (_dir, path, mut l) = new_ledger("Laden", "Europe/Berlin", "00:00");
    use ChannelKind::Cash;
    // 00:30 CEST on the 25th while UTC is still the 24th.
    sale(
        &mut l,
        Cash,
        100,
        None,
        None,
        "2026-10-24T22:30:00Z",
        "2026-10-24T22:30:00Z",
    );
    // 02:30 CEST (first pass) and 02:30 CET (second pass): both hour 2.
    sale(
        &mut l,
        Cash,
        200,
        None,
        None,
        "2026-10-25T00:30:00Z",
        "2026-10-25T00:30:00Z",
    );
    sale(
        &mut l,
        Cash,
        300,
        None,
        None,
        "2026-10-25T01:30:00Z",
        "2026-10-25T01:30:00Z",
    );
    // 23:59:59 CET on the 25th: the last second of the day.
    sale(
        &mut l,
        Cash,
        400,
        None,
        None,
        "2026-10-25T22:59:59Z",
        "2026-10-25T22:59:59Z",
    );
    // 00:00 CET on the 26th: the next day.
    sale(
        &mut l,
        Cash,
        500,
        None,
        None,
        "2026-10-25T23:00:00Z",
        "2026-10-25T23:00:00Z",
    );
    drop(l);
    let l = Ledger::open_read_only(&path).unwrap();
    let r = daily_report(&l, day("2026-10-25")).unwrap();
    assert_eq!(figures(&r.takings), (4, "10.00", "0.00", "10.00"));
    let hours: Vec<_> = r
        .by_hour
        .iter()
        .map(|h| (h.hour, h.takings.gross_fen))
        .collect();
    assert_eq!(hours, [(0, 100), (2, 500), (23, 400)]);
    let next = daily_report(&l, day("2026-10-26")).unwrap();
    assert_eq!(next.takings.gross_fen, 500);
    assert_eq!(r.timezone, "Europe/Berlin");
}

#[tokio::test]
async fn the_counter_reports_and_refuses_bad_dates() {
    let (_dir, path) = fixture();
    let counter = Counter::open_ledger(&path, CounterOptions::default())
        .await
        .unwrap();
    let r = counter.reports_daily("2026-11-21".into()).await.unwrap();
    assert_eq!(r.takings.gross, "241.55");
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "date",
        "count",
        "gross",
        "refunds",
        "net",
        "by_channel",
        "by_cashier",
        "by_hour",
    ] {
        assert!(json.get(key).is_some(), "the JSON has {key}: {json}");
    }
    assert_eq!(json["gross"], "241.55");
    assert_eq!(json["by_channel"][0]["gross"], "45.67");
    assert_eq!(json["by_hour"][0]["count"], 1);
    let range = counter
        .reports_range("2026-11-19".into(), "2026-11-22".into())
        .await
        .unwrap();
    assert_eq!(range.totals.takings.net, "149.98");
    let err = counter
        .reports_daily("21/11/2026".into())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    let err = counter
        .reports_range("2026-11-22".into(), "2026-11-01".into())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
}

fn request(from: &str, to: &str, channel: Option<ChannelKind>, no_bom: bool) -> ExportRequest {
    ExportRequest {
        from: from.into(),
        to: to.into(),
        channel,
        no_bom,
        overwrite: false,
    }
}

/// A new file beside nothing of the ledger's: always allowed.
fn target(l: &Ledger, out: &Path) -> ExportTarget {
    ExportTarget::new(out, l.path(), None, false).unwrap()
}

/// Amount text "12.30" as fen, refusing anything that is not an exact
/// two-decimal number.
fn fen(text: &str) -> i64 {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (yuan, cents) = digits.split_once('.').expect("two decimals");
    assert_eq!(cents.len(), 2, "two decimals in {text}");
    sign * (yuan.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap())
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let bytes = std::fs::read(path).unwrap();
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new().from_reader(body);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader.records().map(Result::unwrap).collect();
    (header, rows)
}

#[test]
fn csv_export_reads_back_with_the_report_totals() {
    let (_dir, path) = fixture();
    let l = Ledger::open_read_only(&path).unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("day.csv");
    let seen: Arc<Mutex<Vec<ExportProgressDto>>> = Arc::default();
    let log = Arc::clone(&seen);
    let mut progress = move |p: ExportProgressDto| log.lock().unwrap().push(p);
    let result = export_to_file(
        &l,
        ExportFormat::Csv,
        &request("2026-11-21", "2026-11-21", None, false),
        &target(&l, &file),
        &mut progress,
    )
    .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM by default");
    assert!(
        String::from_utf8_lossy(&bytes).contains("\r\n"),
        "RFC 4180 line ends"
    );
    let (header, rows) = read_csv(&file);
    assert_eq!(header, COLUMNS);
    assert_eq!(
        header.join(","),
        "business_date,created_at,paid_at,store,terminal,cashier,order_no,channel,channel_trade_no,state,amount,refunded,net,currency,note,kind,refund_no,original_order_no"
    );
    // Every order of the day in any state: B, I, C, E, G (unverified), H
    // (closed); and the refunds that succeeded on the day: of C, and of F
    // (a sale of the 19th).
    assert_eq!(rows.len(), 8);
    assert_eq!(result.rows, 8);
    assert_eq!(result.refunds, 2);
    let report = daily_report(&l, day("2026-11-21")).unwrap();
    let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    let sales: Vec<_> = rows
        .iter()
        .filter(|r| {
            &r[col("kind")] == "sale"
                && ["paid", "part_refunded", "refunded"].contains(&&r[col("state")])
        })
        .collect();
    assert_eq!(sales.len() as u64, report.takings.count);
    let gross: i64 = sales.iter().map(|r| fen(&r[col("amount")])).sum();
    assert_eq!(gross, report.takings.gross_fen);
    assert_eq!((result.sales, result.gross_fen), (4, 24155));
    // net per row: a sale's whole amount (its refunds are rows of their
    // own), a refund's negative amount, 0 for an order that is no sale.
    for r in &rows {
        let is_sale = sales
            .iter()
            .any(|s| s[col("order_no")] == r[col("order_no")] && &r[col("kind")] == "sale");
        let expected = if is_sale || &r[col("kind")] == "refund" {
            fen(&r[col("amount")])
        } else {
            0
        };
        assert_eq!(fen(&r[col("net")]), expected, "{r:?}");
    }
    let net: i64 = rows.iter().map(|r| fen(&r[col("net")])).sum();
    assert_eq!(net, report.takings.net_fen);
    assert_eq!(result.net_fen, report.takings.net_fen);
    assert_eq!(result.refunded_fen, report.takings.refunds_fen);
    // The refund rows: their own day and times, negative amounts, their own
    // numbers and the original orders'; in creation order between C and E.
    let kinds: Vec<&str> = rows.iter().map(|r| &r[col("kind")]).collect();
    assert_eq!(
        kinds,
        ["sale", "sale", "sale", "refund", "refund", "sale", "sale", "sale"]
    );
    let rc = &rows[3];
    assert_eq!(&rc[col("business_date")], "2026-11-21");
    assert_eq!(&rc[col("created_at")], "2026-11-21T15:00:00+08:00");
    assert_eq!(&rc[col("paid_at")], "2026-11-21T15:00:00+08:00");
    assert_eq!(&rc[col("amount")], "-20.00");
    assert_eq!(&rc[col("net")], "-20.00");
    assert_eq!(&rc[col("refunded")], "0.00");
    assert_eq!(&rc[col("state")], "succeeded");
    assert_eq!(&rc[col("channel")], "alipay");
    assert_eq!(&rc[col("cashier")], "李娜");
    assert_eq!(rc[col("order_no")], rows[2][col("order_no")]);
    assert_eq!(rc[col("original_order_no")], rows[2][col("order_no")]);
    assert_eq!(
        rc[col("refund_no")],
        format!("{}_R1", &rows[2][col("order_no")])
    );
    // F's refund: the sale is of the 19th, the refund row of the 21st.
    let rf = &rows[4];
    assert_eq!(&rf[col("amount")], "-5.00");
    assert_eq!(&rf[col("original_order_no")], &rf[col("order_no")]);
    assert!(rows[..3]
        .iter()
        .all(|r| r[col("refund_no")].is_empty() && r[col("original_order_no")].is_empty()));
    // Local times with the offset; Chinese text as written.
    let first = &rows[0];
    assert_eq!(&first[col("business_date")], "2026-11-21");
    assert_eq!(&first[col("created_at")], "2026-11-21T04:00:00+08:00");
    assert_eq!(&first[col("paid_at")], "2026-11-21T04:00:10+08:00");
    assert_eq!(&first[col("store")], "演示门店 Demo Store");
    assert_eq!(&first[col("cashier")], "王芳");
    assert_eq!(&first[col("amount")], "100.00");
    assert_eq!(&first[col("currency")], "CNY");
    assert_eq!(&rows[1][col("note")], "找零 0.00");
    let closed = rows.iter().find(|r| &r[col("state")] == "closed").unwrap();
    assert_eq!(&closed[col("paid_at")], "");
    // Progress: starts at 0 of 8, ends at 8 of 8.
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.first().unwrap(),
        &ExportProgressDto {
            rows_done: 0,
            rows_total: 8
        }
    );
    assert_eq!(
        seen.last().unwrap(),
        &ExportProgressDto {
            rows_done: 8,
            rows_total: 8
        }
    );

    // Over the whole range the refund rows add up to the refunds the range
    // report counts.
    let all = out.path().join("all.csv");
    let r = export_to_file(
        &l,
        ExportFormat::Csv,
        &request("2026-11-19", "2026-11-22", None, true),
        &target(&l, &all),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        !std::fs::read(&all).unwrap().starts_with(b"\xEF\xBB\xBF"),
        "--no-bom"
    );
    let range = range_report(&l, day("2026-11-19"), day("2026-11-22")).unwrap();
    assert_eq!(r.refunded_fen, range.totals.takings.refunds_fen);
    assert_eq!(r.gross_fen, range.totals.takings.gross_fen);
    assert_eq!(r.net_fen, range.totals.takings.net_fen);

    // A channel filter keeps only that channel.
    let wechat = out.path().join("wechat.csv");
    export_to_file(
        &l,
        ExportFormat::Csv,
        &request("2026-11-19", "2026-11-22", Some(ChannelKind::Wechat), false),
        &target(&l, &wechat),
        &mut |_| {},
    )
    .unwrap();
    let (_, rows) = read_csv(&wechat);
    // B, E, H and E's refund on the 22nd.
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| &r[col("channel")] == "wechat"));
    // No partial file is left behind.
    assert!(!out.path().join("wechat.csv.partial").exists());
}

#[test]
fn formula_injection_is_neutralised_in_text_only() {
    let (_dir, path, mut l) = new_ledger("=HYPERLINK(\"http://x\")", "Asia/Shanghai", "04:00");
    let nasty = [
        "=1+1",
        "+SUM(A1)",
        "-2+3",
        "@cmd",
        "\tTAB",
        "\rCR",
        "plain, with \"quotes\"\nand a newline",
        "中文备注，逗号",
    ];
    for (i, note) in nasty.iter().enumerate() {
        let t = format!("2026-11-21T0{}:00:00Z", i + 1);
        sale(
            &mut l,
            ChannelKind::Cash,
            1230,
            Some("-王芳"),
            Some(note),
            &t,
            &t,
        );
    }
    drop(l);
    let l = Ledger::open_read_only(&path).unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("x.csv");
    export_to_file(
        &l,
        ExportFormat::Csv,
        &request("2026-11-21", "2026-11-21", None, false),
        &target(&l, &file),
        &mut |_| {},
    )
    .unwrap();
    let (_, rows) = read_csv(&file);
    let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    let notes: Vec<&str> = rows.iter().map(|r| &r[col("note")]).collect();
    assert_eq!(
        notes,
        [
            "'=1+1",
            "'+SUM(A1)",
            "'-2+3",
            "'@cmd",
            "'\tTAB",
            "'\rCR",
            "plain, with \"quotes\"\nand a newline",
            "中文备注，逗号",
        ]
    );
    for r in &rows {
        assert_eq!(&r[col("store")], "'=HYPERLINK(\"http://x\")");
        assert_eq!(&r[col("cashier")], "'-王芳");
        // Numbers untouched.
        assert_eq!(&r[col("amount")], "12.30");
        assert_eq!(&r[col("net")], "12.30");
    }
}

#[test]
fn xlsx_export_has_typed_cells_and_the_same_rows() {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let (_dir, path) = fixture();
    let l = Ledger::open_read_only(&path).unwrap();
    let out = tempfile::tempdir().unwrap();
    let csv_file = out.path().join("all.csv");
    let xlsx_file = out.path().join("all.xlsx");
    let req = request("2026-11-19", "2026-11-22", None, false);
    let a = export_to_file(
        &l,
        ExportFormat::Csv,
        &req,
        &target(&l, &csv_file),
        &mut |_| {},
    )
    .unwrap();
    let b = export_to_file(
        &l,
        ExportFormat::Xlsx,
        &req,
        &target(&l, &xlsx_file),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        (a.rows, a.gross_fen, a.net_fen),
        (b.rows, b.gross_fen, b.net_fen)
    );

    let (_, csv_rows) = read_csv(&csv_file);
    let mut book: Xlsx<_> = open_workbook(&xlsx_file).unwrap();
    let sheet = book.worksheet_range("Sheet1").unwrap();
    let mut rows = sheet.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(header, COLUMNS);
    let xlsx_rows: Vec<&[Data]> = rows.collect();
    assert_eq!(xlsx_rows.len(), csv_rows.len());
    for (x, c) in xlsx_rows.iter().zip(&csv_rows) {
        // Dates are date cells: the business date and local times.
        match &x[0] {
            Data::DateTime(d) => assert_eq!(
                d.as_datetime().unwrap().date().to_string(),
                c[0].to_string()
            ),
            other => panic!("business_date is not a date cell: {other:?}"),
        }
        match &x[1] {
            Data::DateTime(d) => assert_eq!(
                d.as_datetime()
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%S")
                    .to_string(),
                c[1][..19].to_string()
            ),
            other => panic!("created_at is not a date cell: {other:?}"),
        }
        // Amounts are numbers with the same value as the CSV's decimals.
        for i in 10..=12 {
            match &x[i] {
                Data::Float(f) => assert_eq!((f * 100.0).round() as i64, fen(&c[i]), "column {i}"),
                other => panic!("column {i} is not a number: {other:?}"),
            }
        }
        // Text as text, Chinese included; the refund columns too.
        for i in [3, 6, 9, 15, 16, 17] {
            assert_eq!(x[i].to_string(), c[i].to_string(), "column {i}");
        }
    }
    let gross: i64 = xlsx_rows
        .iter()
        .filter(|x| {
            matches!(&x[15], Data::String(k) if k == "sale")
                && ["paid", "part_refunded", "refunded"].contains(&x[9].to_string().as_str())
        })
        .map(|x| match &x[10] {
            Data::Float(f) => (f * 100.0).round() as i64,
            _ => 0,
        })
        .sum();
    let range = range_report(&l, day("2026-11-19"), day("2026-11-22")).unwrap();
    assert_eq!(gross, range.totals.takings.gross_fen);
}

#[tokio::test]
async fn the_counter_exports_through_its_own_reader() {
    let (_dir, path) = fixture();
    let counter = Counter::open_ledger(&path, CounterOptions::default())
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let done = Arc::new(Mutex::new(None));
    let last = Arc::clone(&done);
    let r = counter
        .export_csv(
            out.path().join("c.csv"),
            request("2026-11-21", "2026-11-21", None, false),
            move |p| *last.lock().unwrap() = Some(p),
        )
        .await
        .unwrap();
    assert_eq!(r.rows, 8);
    assert_eq!(
        *done.lock().unwrap(),
        Some(ExportProgressDto {
            rows_done: 8,
            rows_total: 8
        })
    );
    let x = counter
        .export_xlsx(
            out.path().join("c.xlsx"),
            request("2026-11-21", "2026-11-21", Some(ChannelKind::Cash), false),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!((x.rows, x.gross), (1, "7.00".to_owned()));
    let err = counter
        .export_csv(
            out.path().join("bad.csv"),
            request("2026-11-22", "2026-11-21", None, false),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
}

/// Sales on five days, some refunded on later days, in parts and across
/// channels, through the ledger's own refund calls; a manual confirmation
/// and a closed order that are no sales.
fn refunded_later_fixture() -> (tempfile::TempDir, PathBuf) {
    let (dir, path, mut l) = new_ledger("南京路店", "Asia/Shanghai", "04:00");
    use ChannelKind::*;
    // Business day D runs from (D-1)T20:00Z to DT20:00Z.
    let a = sale(
        &mut l,
        Alipay,
        12345,
        Some("王芳"),
        None,
        "2026-11-18T02:00:00Z",
        "2026-11-18T02:00:09Z",
    );
    let b = sale(
        &mut l,
        Wechat,
        9900,
        Some("王芳"),
        None,
        "2026-11-18T03:00:00Z",
        "2026-11-18T03:00:04Z",
    );
    let c = sale(
        &mut l,
        Cash,
        3050,
        Some("李娜"),
        None,
        "2026-11-18T19:59:00Z",
        "2026-11-18T19:59:00Z",
    );
    let d = sale(
        &mut l,
        Alipay,
        777,
        None,
        None,
        "2026-11-19T05:00:00Z",
        "2026-11-19T05:00:03Z",
    );
    let e = sale(
        &mut l,
        Wechat,
        50000,
        Some("李娜"),
        None,
        "2026-11-20T06:00:00Z",
        "2026-11-20T06:00:02Z",
    );
    let f = sale(
        &mut l,
        Alipay,
        1999,
        Some("王芳"),
        None,
        "2026-11-21T01:00:00Z",
        "2026-11-21T01:00:05Z",
    );
    sale(
        &mut l,
        Cash,
        600,
        Some("王芳"),
        None,
        "2026-11-22T09:00:00Z",
        "2026-11-22T09:00:00Z",
    );
    // A refunded in two parts on two later days; B in full the next day;
    // C (cash, sold 03:59 local on the 19th: the 18th) the same night after
    // the cut-off, so on the 19th; D three days later; E in part the same
    // day and in part two days later; F the next day.
    refund(&mut l, &a, 2345, "2026-11-19T04:00:00Z");
    refund(&mut l, &a, 10000, "2026-11-21T04:00:00Z");
    refund(&mut l, &b, 9900, "2026-11-19T06:00:00Z");
    refund(&mut l, &c, 50, "2026-11-18T20:30:00Z");
    refund(&mut l, &d, 777, "2026-11-22T01:00:00Z");
    refund(&mut l, &e, 1, "2026-11-20T07:00:00Z");
    refund(&mut l, &e, 49999, "2026-11-22T02:00:00Z");
    refund(&mut l, &f, 999, "2026-11-22T03:00:00Z");
    // A refund still under way counts nowhere yet.
    l.request_refund(
        &NewRefund {
            order_no: f.out_trade_no.clone(),
            amount_fen: 500,
            reason: None,
            requested_by: "李娜".into(),
            approver: None,
        },
        utc("2026-11-22T04:00:00Z"),
    )
    .unwrap();
    let g = l
        .create_order(
            &NewOrder {
                amount: Money::cny(4321),
                channel: Wechat,
                cashier: Some("王芳".into()),
                note: None,
            },
            utc("2026-11-20T03:00:00Z"),
        )
        .unwrap();
    l.transition(
        g.id,
        &Change::to(OrderState::Unverified),
        utc("2026-11-20T03:00:05Z"),
    )
    .unwrap();
    let h = l
        .create_order(
            &NewOrder {
                amount: Money::cny(8800),
                channel: Alipay,
                cashier: None,
                note: None,
            },
            utc("2026-11-21T03:00:00Z"),
        )
        .unwrap();
    l.transition(
        h.id,
        &Change::to(OrderState::Pending),
        utc("2026-11-21T03:00:00Z"),
    )
    .unwrap();
    l.transition(
        h.id,
        &Change::to(OrderState::Closed),
        utc("2026-11-21T03:05:00Z"),
    )
    .unwrap();
    (dir, path)
}

/// What a spreadsheet user computes from an export's rows: (sale count,
/// gross, refund count, refunds, net), in fen.
fn sums_of(rows: &[csv::StringRecord]) -> (u64, i64, u64, i64, i64) {
    let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    let mut s = (0, 0, 0, 0, 0);
    for r in rows {
        let amount = fen(&r[col("amount")]);
        match &r[col("kind")] {
            "sale" if ["paid", "part_refunded", "refunded"].contains(&&r[col("state")]) => {
                s.0 += 1;
                s.1 += amount;
            }
            "sale" => {}
            "refund" => {
                s.2 += 1;
                s.3 -= amount;
            }
            other => panic!("kind {other:?}"),
        }
        s.4 += fen(&r[col("net")]);
    }
    s
}

#[test]
fn every_day_and_every_range_of_the_export_adds_up_to_the_reports() {
    let (_dir, path) = refunded_later_fixture();
    let l = Ledger::open_read_only(&path).unwrap();
    let out = tempfile::tempdir().unwrap();
    let days: Vec<NaiveDate> = (17..=23).map(|d| day(&format!("2026-11-{d}"))).collect();
    let mut refunds_seen = 0;
    for (i, from) in days.iter().enumerate() {
        for to in &days[i..] {
            let file = out.path().join(format!("{from}_{to}.csv"));
            let req = request(&from.to_string(), &to.to_string(), None, false);
            let result =
                export_to_file(&l, ExportFormat::Csv, &req, &target(&l, &file), &mut |_| {})
                    .unwrap();
            let (_, rows) = read_csv(&file);
            let t = range_report(&l, *from, *to).unwrap().totals.takings;
            let want = (
                t.count,
                t.gross_fen,
                t.refund_count,
                t.refunds_fen,
                t.net_fen,
            );
            assert_eq!(sums_of(&rows), want, "{from}..{to}");
            assert_eq!(
                (
                    result.sales,
                    result.gross_fen,
                    result.refunds,
                    result.refunded_fen,
                    result.net_fen
                ),
                want,
                "{from}..{to}: the export's own totals"
            );
            if from == to {
                let d = daily_report(&l, *from).unwrap().takings;
                assert_eq!(
                    sums_of(&rows),
                    (
                        d.count,
                        d.gross_fen,
                        d.refund_count,
                        d.refunds_fen,
                        d.net_fen
                    ),
                    "{from}"
                );
                refunds_seen += result.refunds;
            }
        }
    }
    // Every succeeded refund was a row on exactly one day; the one under
    // way on none.
    assert_eq!(refunds_seen, 8);
    // Refunds of earlier sales make some days' net differ from their
    // sales: the case the old per-order `refunded` column got wrong.
    let d19 = daily_report(&l, day("2026-11-19")).unwrap().takings;
    assert_eq!((d19.gross_fen, d19.refunds_fen), (777, 2345 + 9900 + 50));

    // XLSX: the same sums from typed cells, for the whole range.
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let file = out.path().join("all.xlsx");
    let req = request("2026-11-17", "2026-11-23", None, false);
    export_to_file(
        &l,
        ExportFormat::Xlsx,
        &req,
        &target(&l, &file),
        &mut |_| {},
    )
    .unwrap();
    let mut book: Xlsx<_> = open_workbook(&file).unwrap();
    let sheet = book.worksheet_range("Sheet1").unwrap();
    let net: i64 = sheet
        .rows()
        .skip(1)
        .map(|x| match &x[12] {
            Data::Float(f) => (f * 100.0).round() as i64,
            other => panic!("net is not a number: {other:?}"),
        })
        .sum();
    let kinds: Vec<String> = sheet.rows().skip(1).map(|x| x[15].to_string()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "refund").count(), 8);
    let range = range_report(&l, day("2026-11-17"), day("2026-11-23")).unwrap();
    assert_eq!(net, range.totals.takings.net_fen);
}

fn code_of(r: Result<ExportTarget, shouyin_api::ApiError>) -> ErrorCode {
    r.unwrap_err().code
}

#[test]
fn an_export_never_writes_over_the_ledger_its_files_or_an_existing_file() {
    let (dir, path) = fixture();
    // Open read-write so the side files exist, as beside a running till.
    let l = Ledger::open(&path).unwrap();
    let wal = dir.path().join("ledger.db-wal");
    let shm = dir.path().join("ledger.db-shm");
    assert!(wal.exists() && shm.exists());
    let elsewhere = tempfile::tempdir().unwrap();
    let sub = elsewhere.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    // A link that leads to the ledger, and a `..` walk back to it.
    let link = elsewhere.path().join("report.csv");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let dotdot = dir.path().join("x").join("..").join("ledger.db");
    std::fs::create_dir(dir.path().join("x")).unwrap();
    let linked_dir = elsewhere.path().join("till");
    std::os::unix::fs::symlink(dir.path(), &linked_dir).unwrap();
    let via_dir_link = linked_dir.join("ledger.db-wal");
    // The partial file of an innocent name leading to the ledger.
    let partial_link = elsewhere.path().join("day.csv.partial");
    std::os::unix::fs::symlink(&path, &partial_link).unwrap();
    let day_csv = elsewhere.path().join("day.csv");
    let journal = dir.path().join("ledger.db-journal");
    for out in [
        &path,
        &wal,
        &shm,
        &journal,
        &link,
        &dotdot,
        &via_dir_link,
        &day_csv,
    ] {
        for overwrite in [false, true] {
            assert_eq!(
                code_of(ExportTarget::new(out, &path, None, overwrite)),
                ErrorCode::ExportPathForbidden,
                "{} (overwrite {overwrite})",
                out.display()
            );
        }
    }
    // The same ledger reached through a relative `--db` is still itself.
    let relative_db = dir.path().join("x").join("..").join("ledger.db");
    assert_eq!(
        code_of(ExportTarget::new(&wal, &relative_db, None, true)),
        ErrorCode::ExportPathForbidden
    );

    // An existing file is kept unless overwriting is chosen.
    let existing = sub.join("mine.csv");
    std::fs::write(&existing, "keep me").unwrap();
    assert_eq!(
        code_of(ExportTarget::new(&existing, &path, None, false)),
        ErrorCode::ExportFileExists
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    let req = request("2026-11-21", "2026-11-21", None, false);
    let t = ExportTarget::new(&existing, &path, None, true).unwrap();
    let r = export_to_file(&l, ExportFormat::Csv, &req, &t, &mut |_| {}).unwrap();
    assert_eq!(r.rows, 8);
    assert_ne!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    // A file that appears between the check and the end is not replaced.
    let late = sub.join("late.csv");
    let t = ExportTarget::new(&late, &path, None, false).unwrap();
    std::fs::write(&late, "arrived meanwhile").unwrap();
    let err = export_to_file(&l, ExportFormat::Csv, &req, &t, &mut |_| {}).unwrap_err();
    assert_eq!(err.code, ErrorCode::ExportFileExists);
    assert_eq!(std::fs::read_to_string(&late).unwrap(), "arrived meanwhile");
    assert!(!sub.join("late.csv.partial").exists());
    // Not a file name at all.
    assert_eq!(
        code_of(ExportTarget::new(&sub.join(".."), &path, None, true)),
        ErrorCode::InvalidInput
    );

    // The ledger is whole and unchanged.
    drop(l);
    let l = Ledger::open_read_only(&path).unwrap();
    assert_eq!(l.order_count().unwrap(), 8);
    let report = daily_report(&l, day("2026-11-21")).unwrap();
    assert_eq!(report.takings.net_fen, 21655);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_never_exports_into_its_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let counter = Counter::open(data.path()).await.unwrap();
    let req = || request("2026-11-21", "2026-11-21", None, false);
    std::fs::create_dir(data.path().join("backups")).unwrap();
    for name in [
        "ledger.db",
        "ledger.db-wal",
        "ledger.db-shm",
        "channels.json",
        "export.csv",
        "backups/../ledger.db",
        "backups/export.xlsx",
    ] {
        let err = counter
            .export_csv(data.path().join(name), req(), |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ExportPathForbidden, "{name}: {err}");
        assert!(err.message.contains("data directory"), "{err}");
    }
    assert!(!data.path().join("export.csv").exists());
    // Outside it: allowed; the same file again only with overwrite.
    let docs = tempfile::tempdir().unwrap();
    let out = docs.path().join("day.csv");
    counter
        .export_csv(out.clone(), req(), |_| {})
        .await
        .unwrap();
    let err = counter
        .export_xlsx(out.clone(), req(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ExportFileExists);
    let again = ExportRequest {
        overwrite: true,
        ..req()
    };
    counter
        .export_xlsx(out.clone(), again, |_| {})
        .await
        .unwrap();
    assert!(
        std::fs::read(&out).unwrap().starts_with(b"PK"),
        "now the XLSX"
    );
    counter.shutdown().await;
}
