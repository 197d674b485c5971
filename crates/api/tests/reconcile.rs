//! Reconciliation against the channel simulator's real bills, with a real
//! ledger file. Payments are taken through the payment service and paid at
//! the simulator, so its bill holds real trades; then one difference of each
//! class is planted by editing the ledger file with SQL (and by refunding
//! at the channel behind the ledger's back), and every planted difference
//! must be found with its class, and nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde_json::Value;
use shouyin_api::reconcile::{
    beijing_today, BillSource, ReconcileClass, ReconcileLineKind, ReconcileReportDto,
    ReconcileRequest,
};
use shouyin_api::{
    ChargeRequest, Counter, CounterOptions, ErrorCode, InitRequest, PaymentSettings,
};
use shouyin_channels::{Channel, RefundRequest};
use shouyin_core::{ChannelKind, OrderState};

/// The bill file as an accountant downloads it: ask for the link with a
/// signed request, then fetch the file.
async fn download_bill(sim: &Sim, channel: ChannelKind, date: NaiveDate) -> Vec<u8> {
    use shouyin_channels::keys::{parse_private_key, sign_sha256};
    let c = &sim.credentials;
    match channel {
        ChannelKind::Alipay => {
            let a = &c["alipay"];
            let key = parse_private_key(a["app_private_key_pem"].as_str().unwrap()).unwrap();
            let timestamp = (Utc::now() + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let biz = serde_json::json!({"bill_type": "trade", "bill_date": date.to_string()})
                .to_string();
            let mut params: Vec<(&str, &str)> = vec![
                ("app_id", a["app_id"].as_str().unwrap()),
                ("method", "alipay.data.dataservice.bill.downloadurl.query"),
                ("format", "JSON"),
                ("charset", "utf-8"),
                ("sign_type", "RSA2"),
                ("timestamp", &timestamp),
                ("version", "1.0"),
                ("biz_content", &biz),
            ];
            let sign = sign_sha256(
                &key,
                shouyin_channels::alipay::wire::sign_content(&params).as_bytes(),
            );
            params.push(("sign", &sign));
            let answer: Value = sim
                .http
                .post(a["gateway"].as_str().unwrap())
                .form(&params)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let url = answer["alipay_data_dataservice_bill_downloadurl_query_response"]
                ["bill_download_url"]
                .as_str()
                .unwrap_or_else(|| panic!("no download URL: {answer}"))
                .to_owned();
            let file = sim.http.get(url).send().await.unwrap();
            assert!(file.status().is_success());
            file.bytes().await.unwrap().to_vec()
        }
        _ => {
            let w = &c["wechatpay"];
            let key = parse_private_key(w["merchant_private_key_pem"].as_str().unwrap()).unwrap();
            let signed_get = |url: String| {
                let parsed = reqwest::Url::parse(&url).unwrap();
                let canonical = format!("{}?{}", parsed.path(), parsed.query().unwrap_or(""));
                let timestamp = Utc::now().timestamp();
                let nonce = format!("N{}", timestamp);
                let message = shouyin_channels::wechatpay::wire::request_message(
                    "GET", &canonical, timestamp, &nonce, "",
                );
                let signature = sign_sha256(&key, message.as_bytes());
                sim.http
                    .get(url)
                    .header(
                        "Authorization",
                        shouyin_channels::wechatpay::wire::authorization(
                            w["mchid"].as_str().unwrap(),
                            w["merchant_serial_no"].as_str().unwrap(),
                            &nonce,
                            timestamp,
                            &signature,
                        ),
                    )
                    .header("Accept", "application/json")
            };
            let answer: Value = signed_get(format!(
                "{}/v3/bill/tradebill?bill_date={date}&bill_type=ALL",
                w["base_url"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
            let url = answer["download_url"]
                .as_str()
                .unwrap_or_else(|| panic!("no download URL: {answer}"))
                .to_owned();
            let file = signed_get(url).send().await.unwrap();
            assert!(file.status().is_success());
            file.bytes().await.unwrap().to_vec()
        }
    }
}

fn settings() -> PaymentSettings {
    PaymentSettings {
        probe_every: None,
        retry_cap: Duration::from_millis(500),
        ..PaymentSettings::default()
    }
}

/// Take a QR payment and have the customer pay it; returns the order number.
async fn paid(counter: &Counter, sim: &Sim, channel: ChannelKind, amount: &str) -> String {
    let order = counter
        .order_charge(ChargeRequest {
            amount: amount.into(),
            channel,
            cashier: Some("陈静".into()),
            note: None,
            force: true,
            tendered: None,
        })
        .await
        .unwrap();
    sim.pay(&order.order_no).await;
    let done = counter
        .wait_final(&order.order_no, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(done.state, OrderState::Paid, "{done:?}");
    order.order_no
}

/// A refund made at the channel directly (the ledger knows nothing of it).
async fn channel_refund(
    channels: &HashMap<ChannelKind, Arc<dyn Channel>>,
    channel: ChannelKind,
    order_no: &str,
    out_refund_no: &str,
    refund_fen: i64,
    total_fen: i64,
) {
    let r = channels[&channel]
        .refund(&RefundRequest {
            out_trade_no: order_no.into(),
            out_refund_no: out_refund_no.into(),
            refund_fen,
            total_fen,
            reason: Some("顾客退货".into()),
        })
        .await
        .unwrap();
    assert_eq!(r.status, shouyin_channels::RefundStatus::Success, "{r:?}");
}

fn ts_now() -> String {
    shouyin_ledger::ts(Utc::now())
}

/// The ledger file, opened beside the counter (WAL lets both in).
fn sql(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// A succeeded refund row written straight into the ledger.
fn ledger_refund(db: &Path, order_no: &str, out_refund_no: &str, amount_fen: i64) {
    let c = sql(db);
    let order_id: i64 = c
        .query_row(
            "SELECT id FROM orders WHERE out_trade_no = ?1",
            [order_no],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, settled_at, business_date)
         VALUES (?1, ?2, ?3, 'succeeded', ?4, ?4, ?5)",
        rusqlite::params![
            order_id,
            out_refund_no,
            amount_fen,
            ts_now(),
            Utc::now().date_naive().to_string()
        ],
    )
    .unwrap();
}

/// An order row written straight into the ledger (never seen by a channel).
fn ledger_order(db: &Path, order_no: &str, channel: ChannelKind, state: &str, paid: bool) {
    let now = ts_now();
    sql(db)
        .execute(
            "INSERT INTO orders (out_trade_no, store, terminal, amount_fen, currency, channel, state,
                                 created_at, updated_at, paid_at, business_date)
             VALUES (?1, 'S', 'T01', 4321, 'CNY', ?2, ?3, ?4, ?4, ?5, ?6)",
            rusqlite::params![
                order_no,
                channel.as_str(),
                state,
                now,
                paid.then(|| now.clone()),
                Utc::now().date_naive().to_string()
            ],
        )
        .unwrap();
}

/// What each channel's reconciliation must find: (class, kind, order no).
type Expected = Vec<(ReconcileClass, ReconcileLineKind, String)>;

/// Take real payments on `channel`, then plant one difference of each class.
async fn plant(
    counter: &Counter,
    sim: &Sim,
    db: &Path,
    channel: ChannelKind,
    tag: &str,
) -> Expected {
    use ReconcileClass as C;
    use ReconcileLineKind as K;
    let channels = sim.channels();
    let a = paid(counter, sim, channel, "10.01").await; // matched; a channel-only refund
    let b = paid(counter, sim, channel, "10.02").await; // ledger amount changed
    let c = paid(counter, sim, channel, "10.03").await; // ledger says closed
    let d = paid(counter, sim, channel, "10.04").await; // deleted from the ledger
    let e = paid(counter, sim, channel, "10.05").await; // ledger says unverified
    let f = paid(counter, sim, channel, "10.06").await; // refund on both sides; one ledger-only
    let g = paid(counter, sim, channel, "10.07").await; // refund amounts differ

    channel_refund(&channels, channel, &a, &format!("{tag}RA"), 300, 1001).await;
    channel_refund(&channels, channel, &f, &format!("{tag}RF1"), 200, 1006).await;
    channel_refund(&channels, channel, &g, &format!("{tag}RG"), 200, 1007).await;

    let conn = sql(db);
    // Amount mismatch: the ledger says one yuan more than the customer paid.
    conn.execute(
        "UPDATE orders SET amount_fen = amount_fen + 100 WHERE out_trade_no = ?1",
        [&b],
    )
    .unwrap();
    // Status mismatch: the ledger lost the payment (closed) that the channel has.
    conn.execute(
        "UPDATE orders SET state = 'closed', paid_at = NULL WHERE out_trade_no = ?1",
        [&c],
    )
    .unwrap();
    // Missing in the ledger: the order is gone. Events are append-only, so
    // the guard trigger is dropped for this test's surgery.
    conn.execute_batch("DROP TRIGGER IF EXISTS events_are_append_only_delete")
        .unwrap();
    conn.execute(
        "DELETE FROM events WHERE order_id = (SELECT id FROM orders WHERE out_trade_no = ?1)",
        [&d],
    )
    .unwrap();
    // What refers to the order goes with it (its announcement, its print jobs).
    for table in ["announcements", "print_jobs", "code_payments"] {
        conn.execute(
            &format!(
                "DELETE FROM {table} WHERE order_id = (SELECT id FROM orders WHERE out_trade_no = ?1)"
            ),
            [&d],
        )
        .unwrap();
    }
    conn.execute("DELETE FROM orders WHERE out_trade_no = ?1", [&d])
        .unwrap();
    // Unverified, and the bill confirms it.
    conn.execute(
        "UPDATE orders SET state = 'unverified' WHERE out_trade_no = ?1",
        [&e],
    )
    .unwrap();
    drop(conn);
    // The refund of F recorded as the counter would; a second one only the
    // ledger has; G's recorded with the wrong amount.
    ledger_refund(db, &f, &format!("{tag}RF1"), 200);
    ledger_refund(db, &f, &format!("{tag}RF2"), 100);
    ledger_refund(db, &g, &format!("{tag}RG"), 300);
    // A paid order the channel never saw, and an unverified one it never saw.
    let h = format!("{tag}_LEDGER_ONLY");
    ledger_order(db, &h, channel, "paid", true);
    let u = format!("{tag}_UNVERIFIED");
    ledger_order(db, &u, channel, "unverified", false);

    let mut expected = vec![
        (C::Matched, K::Payment, a.clone()),
        (C::MissingInLedger, K::Refund, a),
        (C::AmountMismatch, K::Payment, b),
        (C::StatusMismatch, K::Payment, c),
        (C::MissingInLedger, K::Payment, d),
        (C::UnverifiedConfirmed, K::Payment, e),
        (C::Matched, K::Payment, f.clone()),
        (C::Matched, K::Refund, f.clone()),
        (C::MissingInBill, K::Refund, f),
        (C::Matched, K::Payment, g.clone()),
        (C::AmountMismatch, K::Refund, g),
        (C::MissingInBill, K::Payment, h),
        (C::UnverifiedMissing, K::Payment, u),
    ];
    expected.sort();
    expected
}

fn found(report: &ReconcileReportDto) -> Expected {
    let mut v: Expected = report
        .lines
        .iter()
        .map(|l| (l.class, l.kind, l.order_no.clone()))
        .collect();
    v.sort();
    v
}

struct Fixture {
    _dir: tempfile::TempDir,
    sim: Sim,
    db: PathBuf,
    counter: Counter,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let db = dir.path().join("ledger.db");
    shouyin_api::init_ledger(&db, &InitRequest::demo(), Utc::now()).unwrap();
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            channels: sim.channels(),
            payments: settings(),
            ..CounterOptions::default()
        },
    )
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        sim,
        db,
        counter,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planted_difference_is_found_and_nothing_else() {
    let t = fixture().await;
    let mut expected = Vec::new();
    for (channel, tag) in [(ChannelKind::Alipay, "ALI"), (ChannelKind::Wechat, "WX")] {
        let want = plant(&t.counter, &t.sim, &t.db, channel, tag).await;
        expected.push((channel, want));
    }
    // A cash sale in the same day belongs to no bill.
    t.counter
        .shift_open("王芳".into(), "0".into())
        .await
        .unwrap();
    t.counter
        .order_charge(ChargeRequest {
            amount: "5.00".into(),
            channel: ChannelKind::Cash,
            cashier: None,
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap();
    let today = beijing_today(Utc::now()).unwrap();

    for (channel, want) in &expected {
        let report = t.counter.reconcile_fetch(*channel, today).await.unwrap();
        assert_eq!(report.source, BillSource::Channel);
        assert!(report.bill_available);
        assert_eq!(found(&report), *want, "{channel}: {report:#?}");
        let c = &report.counts;
        assert_eq!(
            (
                c.matched,
                c.amount_mismatch,
                c.status_mismatch,
                c.missing_in_ledger,
                c.missing_in_bill,
                c.unverified_confirmed,
                c.unverified_missing
            ),
            (4, 2, 1, 2, 2, 1, 1),
            "{channel}"
        );
        assert_eq!(report.differences, 9);
        assert!(!report.is_clean());

        // The bill bore out the manual confirmation: it is now paid.
        let confirmed: Vec<String> = want
            .iter()
            .filter(|w| w.0 == ReconcileClass::UnverifiedConfirmed)
            .map(|w| w.2.clone())
            .collect();
        assert_eq!(report.settled_unverified, confirmed);
        let (order, events) = t.counter.order_events(confirmed[0].clone()).await.unwrap();
        assert_eq!(order.state, OrderState::Paid);
        assert!(
            events.iter().rev().take(2).any(|e| e.kind == "order_paid"),
            "{events:?}"
        );

        // Amounts and states on the lines are the two sides' own.
        let line = |class, kind| {
            report
                .lines
                .iter()
                .find(|l| l.class == class && l.kind == kind)
                .unwrap()
        };
        let amount = line(ReconcileClass::AmountMismatch, ReconcileLineKind::Payment);
        assert_eq!(amount.bill_amount.as_deref(), Some("10.02"));
        assert_eq!(amount.ledger_amount.as_deref(), Some("11.02"));
        assert_eq!(amount.bill_amount_fen, Some(1002));
        let refund = line(ReconcileClass::AmountMismatch, ReconcileLineKind::Refund);
        assert_eq!(
            (refund.bill_amount_fen, refund.ledger_amount_fen),
            (Some(200), Some(300))
        );
        assert_eq!(refund.ledger_state.as_deref(), Some("refund_succeeded"));
        let status = line(ReconcileClass::StatusMismatch, ReconcileLineKind::Payment);
        assert_eq!(status.ledger_state.as_deref(), Some("closed"));
        assert!(status.channel_trade_no.is_some());
        let missing = line(ReconcileClass::MissingInLedger, ReconcileLineKind::Payment);
        assert_eq!(missing.ledger_amount, None);
        assert_eq!(missing.bill_amount.as_deref(), Some("10.04"));
        assert!(missing.action_zh.starts_with("补录"), "{missing:?}");
        let gone = line(ReconcileClass::MissingInBill, ReconcileLineKind::Payment);
        assert_eq!(gone.bill_amount, None);
        assert!(gone.action_en.contains("reversed"), "{gone:?}");

        // Totals: the bill's seven payments (10.01..10.07) and three refunds;
        // the ledger counts its paid and unverified orders of the day.
        let bill = &report.bill_totals;
        assert_eq!((bill.payment_count, bill.payments_fen), (7, 7028));
        assert_eq!((bill.refund_count, bill.refunds_fen), (3, 700));
        assert_eq!(bill.net, "63.28");
        let ledger = &report.ledger_totals;
        // a, b(+1.00), e, f, g, h (43.21) and u (43.21); c is closed, d gone.
        assert_eq!(ledger.payment_count, 7);
        assert_eq!(
            ledger.payments_fen,
            1001 + 1102 + 1005 + 1006 + 1007 + 4321 + 4321
        );
        assert_eq!((ledger.refund_count, ledger.refunds_fen), (3, 600));
    }

    // The same through the file an accountant downloaded, as the view asks.
    for (channel, want) in &expected {
        let bytes = download_bill(&t.sim, *channel, today).await;
        let path = t.db.with_file_name(format!("bill-{channel}"));
        std::fs::write(&path, &bytes).unwrap();
        let report = t
            .counter
            .reconcile_run(ReconcileRequest {
                channel: *channel,
                date: today.to_string(),
                bill_path: Some(path.to_string_lossy().into_owned()),
            })
            .await
            .unwrap();
        assert_eq!(report.source, BillSource::File);
        // As before, except that the confirmation settled by the first run
        // now simply matches.
        let mut want: Expected = want
            .iter()
            .map(|(class, kind, no)| match class {
                ReconcileClass::UnverifiedConfirmed => (ReconcileClass::Matched, *kind, no.clone()),
                _ => (*class, *kind, no.clone()),
            })
            .collect();
        want.sort();
        assert_eq!(found(&report), want, "{channel} from a file");
        assert!(report.settled_unverified.is_empty());
        assert_eq!(report.bill_lines_outside_day, 0);

        // The same file for the wrong day is refused, not reconciled.
        let err = t
            .counter
            .reconcile_file(*channel, today.pred_opt().unwrap(), bytes.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BillWrongDay);
        assert!(err.message.contains("another day"), "{err}");

        // The other channel's file is named for what it is.
        let other = if *channel == ChannelKind::Alipay {
            ChannelKind::Wechat
        } else {
            ChannelKind::Alipay
        };
        let err = t
            .counter
            .reconcile_file(other, today, bytes)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BillWrongChannel);
        let named = if *channel == ChannelKind::Alipay {
            "an Alipay bill"
        } else {
            "a WeChat Pay bill"
        };
        assert!(err.message.contains(named), "{err}");
    }

    // Garbage and truncated files are clear errors.
    for (channel, bytes) in [
        (ChannelKind::Alipay, b"PK\x03\x04 not really a zip".to_vec()),
        (ChannelKind::Wechat, b"hello".to_vec()),
        (ChannelKind::Alipay, Vec::new()),
    ] {
        let err = t
            .counter
            .reconcile_file(channel, today, bytes)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BillUnreadable);
        assert!(err.message.contains("not a readable"), "{err}");
    }
    let err = t
        .counter
        .reconcile_run(ReconcileRequest {
            channel: ChannelKind::Cash,
            date: today.to_string(),
            bill_path: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ChannelUnavailable, "{err}");
    t.counter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_that_agrees_is_clean_and_the_store_cutoff_does_not_matter() {
    let t = fixture().await;
    // The store's business day starts at 04:00, the bill's at midnight, so
    // a sale paid in the small hours sits on the previous business day but
    // on this bill. Moving every order to yesterday's business date must
    // change nothing: the ledger side is selected by paid_at.
    let mut orders = Vec::new();
    for channel in [
        ChannelKind::Alipay,
        ChannelKind::Wechat,
        ChannelKind::Unionpay,
    ] {
        orders.push((channel, paid(&t.counter, &t.sim, channel, "8.88").await));
    }
    let today = beijing_today(Utc::now()).unwrap();
    let conn = sql(&t.db);
    conn.execute(
        "UPDATE orders SET business_date = ?1",
        [today.pred_opt().unwrap().to_string()],
    )
    .unwrap();
    drop(conn);
    for (channel, order_no) in &orders {
        let report = t.counter.reconcile_fetch(*channel, today).await.unwrap();
        assert!(report.is_clean(), "{report:#?}");
        assert_eq!(report.counts.matched, 1);
        assert_eq!(report.lines[0].order_no, *order_no);
        assert_eq!(report.lines[0].action_en, "nothing to do");
        assert_eq!(report.bill_totals, report.ledger_totals);
    }
    // An empty day: the WeChat Pay simulator has no bill at all, Alipay an
    // empty one; both reconcile clean.
    let day = today - chrono::Duration::days(3);
    let wx = t
        .counter
        .reconcile_fetch(ChannelKind::Wechat, day)
        .await
        .unwrap();
    assert!(!wx.bill_available && wx.is_clean() && wx.lines.is_empty());
    let ali = t
        .counter
        .reconcile_fetch(ChannelKind::Alipay, day)
        .await
        .unwrap();
    assert!(ali.bill_available && ali.is_clean() && ali.lines.is_empty());
    t.counter.shutdown().await;
}

/// A bill file is evidence to show, not authority: importing one (even the
/// channel's genuine file, read through the view's call) never settles a
/// manual confirmation; the channel's own bill, downloaded through its
/// client over the signed API, does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_bill_file_never_settles_a_manual_confirmation() {
    let t = fixture().await;
    let today = beijing_today(Utc::now()).unwrap();
    for channel in [ChannelKind::Alipay, ChannelKind::Wechat] {
        let no = paid(&t.counter, &t.sim, channel, "12.34").await;
        // Recorded as a manual confirmation, as if the network was down.
        sql(&t.db)
            .execute(
                "UPDATE orders SET state = 'unverified' WHERE out_trade_no = ?1",
                [&no],
            )
            .unwrap();
        let bytes = download_bill(&t.sim, channel, today).await;
        let path = t.db.with_file_name(format!("imported-{channel}"));
        std::fs::write(&path, &bytes).unwrap();
        let by_file = t
            .counter
            .reconcile_file(channel, today, bytes)
            .await
            .unwrap();
        let by_view = t
            .counter
            .reconcile_run(ReconcileRequest {
                channel,
                date: today.to_string(),
                bill_path: Some(path.to_string_lossy().into_owned()),
            })
            .await
            .unwrap();
        for report in [&by_file, &by_view] {
            assert_eq!(report.source, BillSource::File);
            assert!(report.settled_unverified.is_empty(), "{report:#?}");
            let line = report.lines.iter().find(|l| l.order_no == no).unwrap();
            // Shown as what the file says, with what to do about it.
            assert_eq!(line.class, ReconcileClass::UnverifiedConfirmed);
            assert!(line.action_en.contains("manager's approval"), "{line:?}");
            assert!(line.action_zh.contains("店长批准"), "{line:?}");
        }
        let (order, events) = t.counter.order_events(no.clone()).await.unwrap();
        assert_eq!(order.state, OrderState::Unverified, "{channel}");
        assert!(
            !events
                .iter()
                .any(|e| e.kind == "order_paid" && e.payload.contains("verified_by")),
            "{events:?}"
        );

        // The channel's own answer settles it.
        let fetched = t.counter.reconcile_fetch(channel, today).await.unwrap();
        assert_eq!(fetched.source, BillSource::Channel);
        assert_eq!(fetched.settled_unverified, vec![no.clone()], "{channel}");
        let line = fetched.lines.iter().find(|l| l.order_no == no).unwrap();
        assert!(line.action_en.contains("has been settled"), "{line:?}");
        let (order, _) = t.counter.order_events(no.clone()).await.unwrap();
        assert_eq!(order.state, OrderState::Paid, "{channel}");
    }
    t.counter.shutdown().await;
}
