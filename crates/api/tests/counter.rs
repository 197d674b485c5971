//! The counter's use cases on a real ledger file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shouyin_api::{amount_check, ChargeRequest, Counter, ErrorCode, LEDGER_FILE};
use shouyin_core::{ChannelKind, OrderState};

fn cash(amount: &str) -> ChargeRequest {
    ChargeRequest {
        amount: amount.into(),
        channel: ChannelKind::Cash,
        cashier: Some(" 王芳 ".into()),
        note: None,
        force: false,
        tendered: None,
    }
}

/// Cash moves only inside an open shift (开班 with the float).
async fn open_shift(counter: &Counter) {
    counter
        .shift_open("王芳".into(), "200".into())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_fresh_data_dir_gets_the_demo_terminal_and_takes_cash() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    let terminal = counter.terminal_get().await.unwrap();
    assert_eq!(terminal.terminal, "T01");
    assert_eq!(terminal.sale_limit, "50000.00");
    let cash_ok = terminal
        .channels
        .iter()
        .find(|c| c.channel == ChannelKind::Cash)
        .unwrap();
    assert!(cash_ok.available);

    open_shift(&counter).await;
    let mut changes = counter.subscribe();
    let order = counter.order_charge(cash("１２．３")).await.unwrap();
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!((order.amount_fen, order.amount.as_str()), (1230, "12.30"));
    assert_eq!(order.cashier.as_deref(), Some("王芳"));
    match changes.recv().await.unwrap() {
        shouyin_api::CounterEvent::OrderChanged { order: changed } => {
            assert_eq!(changed.order_no, order.order_no)
        }
        other => panic!("unexpected event {other:?}"),
    }

    let recent = counter.orders_recent(10).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].order_no, order.order_no);
    let (_, events) = counter.order_events(order.order_no.clone()).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["order_created", "order_paid"]
    );

    // Reopening finds the same ledger, not a new demo.
    drop(counter);
    // Work that follows a sale in the background (the drawer pulse) holds
    // the counter, and so the ledger's lock, a moment longer.
    let started = std::time::Instant::now();
    let again = loop {
        match Counter::open(dir.path()).await {
            Ok(again) => break again,
            Err(e) if e.code == ErrorCode::LedgerLocked && started.elapsed().as_secs() < 10 => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(again.orders_recent(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_bad_amount_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    for bad in ["", "12.345", "-1", "0", "1e3", "abc", "50000.01"] {
        let err = counter.order_charge(cash(bad)).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidAmount, "{bad}: {err}");
        assert!(!err.message.is_empty());
    }
    assert!(counter.orders_recent(10).await.unwrap().is_empty());
    let conn = rusqlite::Connection::open(dir.path().join(LEDGER_FILE)).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn unconfigured_channels_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    let err = counter
        .order_charge(ChargeRequest {
            channel: ChannelKind::Alipay,
            ..cash("1")
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ChannelUnavailable);
}

#[tokio::test]
async fn a_corrupt_ledger_is_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LEDGER_FILE);
    std::fs::write(&path, b"not a database at all").unwrap();
    let err = Counter::open(dir.path()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::LedgerCorrupt, "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a database at all");
}

#[test]
fn amount_check_formats() {
    let a = amount_check("12.3").unwrap();
    assert_eq!(
        (a.fen, a.display.as_str(), a.decimal.as_str()),
        (1230, "¥12.30", "12.30")
    );
    assert_eq!(
        amount_check("12.345").unwrap_err().code,
        ErrorCode::InvalidAmount
    );
}

#[tokio::test]
async fn history_search_finds_by_number_amount_and_channel_name() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    open_shift(&counter).await;
    let a = counter.order_charge(cash("12.30")).await.unwrap();
    counter.order_charge(cash("7")).await.unwrap();
    let by_amount = counter.orders_search("12.30".into(), 50).await.unwrap();
    assert_eq!(by_amount.len(), 1);
    assert_eq!(by_amount[0].order_no, a.order_no);
    let by_no = counter
        .orders_search(a.order_no[4..].to_owned(), 50)
        .await
        .unwrap();
    assert_eq!(by_no.len(), 1);
    assert_eq!(
        counter
            .orders_search("现金".into(), 50)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        counter
            .orders_search("支付宝".into(), 50)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        counter
            .orders_search(String::new(), 50)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// A cash sale is created and paid in one transaction: when the second half
/// fails (here a trigger refuses the move to paid), nothing of the sale is
/// left behind, so no cash order can sit in `created` for recovery to guess at.
#[tokio::test]
async fn a_cash_sale_is_created_and_paid_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    open_shift(&counter).await;
    let db = rusqlite::Connection::open(dir.path().join(LEDGER_FILE)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_paid BEFORE UPDATE OF state ON orders
         WHEN NEW.state = 'paid' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    counter.order_charge(cash("8.00")).await.unwrap_err();
    let orders: i64 = db
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    let created: i64 = db
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'order_created'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        (orders, created),
        (0, 0),
        "a failed cash sale must leave no order and no event behind"
    );
    db.execute_batch("DROP TRIGGER refuse_paid;").unwrap();
    let order = counter.order_charge(cash("8.00")).await.unwrap();
    assert_eq!(order.state, OrderState::Paid);
}

/// One process per ledger, within one process too: a second app on the same
/// data directory is refused (naming the holder) until the first is gone.
#[tokio::test]
async fn a_second_counter_on_a_live_ledger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Counter::open(dir.path()).await.unwrap();
    let e = Counter::open(dir.path()).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LedgerLocked, "{e}");
    assert!(
        e.message.contains(&format!("pid {}", std::process::id())),
        "{e}"
    );
    let e = Counter::open_ledger(
        &dir.path().join(LEDGER_FILE),
        shouyin_api::CounterOptions {
            exclusive: true,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::LedgerLocked, "{e}");
    first.shutdown().await;
    drop(first);
    Counter::open(dir.path()).await.unwrap();
}

/// No cash moves outside a shift: before 开班 and after 交班 a cash sale
/// is refused with `shift_not_open` and leaves nothing behind; inside one
/// it carries the shift's id.
#[tokio::test]
async fn a_cash_sale_needs_an_open_shift_and_belongs_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    let err = counter.order_charge(cash("12.30")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ShiftNotOpen, "{err}");
    assert!(counter.orders_recent(10).await.unwrap().is_empty());

    let err = counter
        .shift_open("王芳".into(), " ".into())
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::FloatRequired,
        "an empty float is not ¥0.00"
    );
    assert!(counter.shift_current().await.unwrap().is_none());

    let shift = counter
        .shift_open("王芳".into(), "200".into())
        .await
        .unwrap();
    let order = counter.order_charge(cash("12.30")).await.unwrap();
    assert_eq!(order.shift_id, Some(shift.id));
    counter
        .shift_close("212.30".into(), "王芳".into())
        .await
        .unwrap();
    let err = counter.order_charge(cash("1.00")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ShiftNotOpen, "after 交班: {err}");
    let err = counter
        .shift_close("0".into(), "王芳".into())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ShiftNotOpen);
}

/// The cash handed over and the change (找零) are recorded with the sale,
/// in fen; less than the amount, or not an amount, is refused.
#[tokio::test]
async fn a_cash_sale_records_what_was_handed_over_and_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    open_shift(&counter).await;
    let order = counter
        .order_charge(ChargeRequest {
            tendered: Some("１００".into()),
            ..cash("37.80")
        })
        .await
        .unwrap();
    assert_eq!(order.tendered.as_deref(), Some("100.00"));
    assert_eq!(order.change.as_deref(), Some("62.20"));
    let (again, events) = counter.order_events(order.order_no.clone()).await.unwrap();
    assert_eq!(again.change.as_deref(), Some("62.20"), "kept in the ledger");
    let paid: serde_json::Value = serde_json::from_str(&events[1].payload).unwrap();
    assert_eq!(
        (paid["tendered_fen"].as_i64(), paid["change_fen"].as_i64()),
        (Some(10000), Some(6220))
    );

    let exact = counter
        .order_charge(ChargeRequest {
            tendered: Some("8".into()),
            ..cash("8.00")
        })
        .await
        .unwrap();
    assert_eq!(exact.change.as_deref(), Some("0.00"));

    for (tendered, code) in [
        ("37.79", ErrorCode::TenderedTooLow),
        ("10", ErrorCode::TenderedTooLow),
        ("100.001", ErrorCode::InvalidAmount),
        ("", ErrorCode::InvalidAmount),
        ("abc", ErrorCode::InvalidAmount),
    ] {
        let err = counter
            .order_charge(ChargeRequest {
                tendered: Some(tendered.into()),
                ..cash("37.80")
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, code, "{tendered:?}: {err}");
    }
    assert_eq!(
        counter.orders_recent(10).await.unwrap().len(),
        2,
        "refusals write nothing"
    );
}

/// At the till every sale waits for 开班, a QR one too (checked before the
/// channel is asked for anything); scripts may still take a QR sale.
#[tokio::test]
async fn a_sale_at_the_till_needs_a_shift_whatever_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let counter = Counter::open(dir.path()).await.unwrap();
    for channel in [ChannelKind::Alipay, ChannelKind::Wechat, ChannelKind::Cash] {
        let err = counter
            .order_charge_at_till(ChargeRequest {
                channel,
                ..cash("1")
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ShiftNotOpen, "{channel}: {err}");
    }
    open_shift(&counter).await;
    let err = counter
        .order_charge_at_till(ChargeRequest {
            channel: ChannelKind::Alipay,
            ..cash("1")
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::ChannelUnavailable,
        "past the shift: {err}"
    );
}
