//! The ledger on a real file on disk, in WAL mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, TimeZone, Utc};
use shouyin_core::{BusinessCalendar, ChannelKind, Money, OrderState, TerminalId};
use shouyin_ledger::{
    seed::SeedPlan, Change, Ledger, LedgerError, NewOrder, OrderFilter, TerminalSetup,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 6, 30, 0)
        .single()
        .unwrap()
}

fn setup() -> TerminalSetup {
    TerminalSetup {
        store: "测试门店".into(),
        terminal: TerminalId::parse("T01").unwrap(),
        calendar: BusinessCalendar::parse("Asia/Shanghai", "04:00").unwrap(),
        sale_limit_fen: 5_000_000,
    }
}

/// The file opened directly with SQLite: these tests check the file
/// format itself, which no caller of the ledger gets to touch.
fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn new_ledger() -> (tempfile::TempDir, PathBuf, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::create(&path, &setup(), now()).unwrap();
    (dir, path, ledger)
}

fn sale(fen: i64, channel: ChannelKind) -> NewOrder {
    NewOrder {
        amount: Money::cny(fen),
        channel,
        cashier: Some("王芳".into()),
        note: None,
    }
}

#[test]
fn a_new_ledger_is_a_wal_file_with_durable_commits() {
    let (_dir, path, ledger) = new_ledger();
    let d = ledger.durability().unwrap();
    assert_eq!(d.journal_mode, "wal");
    assert!(d.synchronous_full, "synchronous must be FULL");
    assert!(d.foreign_keys);
    drop(ledger);
    // The file itself, as any SQLite reader sees it.
    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, shouyin_ledger::SCHEMA_VERSION);
    drop(conn);
    let reopened = Ledger::open(&path).unwrap();
    assert_eq!(reopened.terminal().store, "测试门店");
    assert_eq!(reopened.terminal().terminal.as_str(), "T01");
}

#[test]
fn create_refuses_an_existing_file() {
    let (_dir, path, ledger) = new_ledger();
    drop(ledger);
    assert!(matches!(
        Ledger::create(&path, &setup(), now()),
        Err(LedgerError::AlreadyExists(_))
    ));
}

#[test]
fn a_cash_sale_is_an_order_and_two_events() {
    let (_dir, _path, mut ledger) = new_ledger();
    let order = ledger
        .create_order(&sale(1230, ChannelKind::Cash), now())
        .unwrap();
    assert_eq!(order.state, OrderState::Created);
    assert!(order.out_trade_no.starts_with("T01_20261121063000_"));
    assert_eq!(order.business_date.to_string(), "2026-11-21");
    let paid = ledger
        .transition(
            order.id,
            &Change {
                paid_at: Some(now()),
                ..Change::to(OrderState::Paid)
            },
            now(),
        )
        .unwrap();
    assert_eq!(paid.state, OrderState::Paid);
    assert_eq!(paid.paid_at, Some(now()));
    let events = ledger.events_for(order.id).unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["order_created", "order_paid"]);
    assert_eq!(events[1].payload["amount_fen"], 1230);
    assert_eq!(events[1].payload["from"], "created");
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn order_numbers_are_unique_sortable_and_short() {
    let (_dir, _path, mut ledger) = new_ledger();
    let mut last = String::new();
    for i in 0..50 {
        let o = ledger
            .create_order(
                &sale(100 + i, ChannelKind::Alipay),
                now() + Duration::seconds(i / 3),
            )
            .unwrap();
        assert!(o.out_trade_no.len() <= 32);
        assert!(shouyin_core::is_valid_out_trade_no(&o.out_trade_no));
        assert!(
            o.out_trade_no > last,
            "{} must sort after {last}",
            o.out_trade_no
        );
        last = o.out_trade_no;
    }
    // A clock that steps back still gives a new, unique number.
    let back = ledger
        .create_order(&sale(100, ChannelKind::Alipay), now() - Duration::hours(1))
        .unwrap();
    assert_eq!(ledger.orders(&OrderFilter::default()).unwrap().len(), 51);
    assert!(ledger.order_by_no(&back.out_trade_no).is_ok());
}

#[test]
fn illegal_transitions_are_errors_and_change_nothing() {
    let (_dir, _path, mut ledger) = new_ledger();
    let order = ledger
        .create_order(&sale(500, ChannelKind::Wechat), now())
        .unwrap();
    let err = ledger
        .transition(order.id, &Change::to(OrderState::Refunded), now())
        .unwrap_err();
    assert!(matches!(err, LedgerError::Transition(_)), "{err}");
    ledger
        .transition(order.id, &Change::to(OrderState::Pending), now())
        .unwrap();
    ledger
        .transition(order.id, &Change::to(OrderState::Closed), now())
        .unwrap();
    let err = ledger
        .transition(order.id, &Change::to(OrderState::Paid), now())
        .unwrap_err();
    assert!(matches!(err, LedgerError::Transition(_)));
    assert_eq!(ledger.order(order.id).unwrap().state, OrderState::Closed);
    assert_eq!(ledger.events_for(order.id).unwrap().len(), 3);
    // Learning the same state twice is not an error and adds no event.
    ledger
        .transition(order.id, &Change::to(OrderState::Closed), now())
        .unwrap();
    assert_eq!(ledger.events_for(order.id).unwrap().len(), 3);
}

#[test]
fn a_failure_between_event_and_projection_leaves_neither() {
    let (_dir, path, mut ledger) = new_ledger();
    let order = ledger
        .create_order(&sale(1000, ChannelKind::Cash), now())
        .unwrap();
    ledger
        .transition(order.id, &Change::to(OrderState::Paid), now())
        .unwrap();
    let seq_before = ledger.last_seq().unwrap();
    // The event insert succeeds, then the projection update violates the
    // refunded <= amount check: the whole change must roll back.
    let over = Change {
        refunded_fen: Some(1001),
        ..Change::to(OrderState::PartRefunded)
    };
    let err = ledger.transition(order.id, &over, now()).unwrap_err();
    assert!(matches!(err, LedgerError::Sqlite(_)), "{err}");
    assert_eq!(
        ledger.last_seq().unwrap(),
        seq_before,
        "no event may survive"
    );
    drop(ledger);
    let reopened = Ledger::open(&path).unwrap();
    let o = reopened.order(order.id).unwrap();
    assert_eq!((o.state, o.refunded_fen), (OrderState::Paid, 0));
    assert_eq!(reopened.last_seq().unwrap(), seq_before);
}

#[test]
fn events_are_append_only() {
    let (_dir, path, mut ledger) = new_ledger();
    ledger
        .create_order(&sale(1000, ChannelKind::Cash), now())
        .unwrap();
    let conn = raw(&path);
    assert!(conn.execute("UPDATE events SET kind = 'x'", []).is_err());
    assert!(conn.execute("DELETE FROM events", []).is_err());
}

#[test]
fn open_orders_are_listed_for_recovery() {
    let (_dir, path, mut ledger) = new_ledger();
    let a = ledger
        .create_order(&sale(100, ChannelKind::Alipay), now())
        .unwrap();
    let b = ledger
        .create_order(&sale(200, ChannelKind::Wechat), now())
        .unwrap();
    let c = ledger
        .create_order(&sale(300, ChannelKind::Cash), now())
        .unwrap();
    ledger
        .transition(b.id, &Change::to(OrderState::Unknown), now())
        .unwrap();
    ledger
        .transition(c.id, &Change::to(OrderState::Paid), now())
        .unwrap();
    drop(ledger);
    let ledger = Ledger::open(&path).unwrap();
    let open: Vec<_> = ledger
        .open_orders()
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(open, [a.id, b.id]);
}

#[test]
fn search_and_filters() {
    let (_dir, _path, mut ledger) = new_ledger();
    let a = ledger
        .create_order(&sale(1230, ChannelKind::Alipay), now())
        .unwrap();
    ledger
        .create_order(&sale(999, ChannelKind::Cash), now())
        .unwrap();
    let by_amount = ledger
        .orders(&OrderFilter {
            search: Some("12.30".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_amount.len(), 1);
    let by_no = ledger
        .orders(&OrderFilter {
            search: Some(a.out_trade_no[4..].to_string()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_no.len(), 1);
    let cash = ledger
        .orders(&OrderFilter {
            channel: Some(ChannelKind::Cash),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(cash.len(), 1);
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_file_that_is_not_a_ledger_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    let bytes = b"this is a spreadsheet, not a ledger".repeat(200);
    write(&garbage, &bytes);
    let err = Ledger::open(&garbage).unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
    assert!(err.to_string().contains("not a Shouyin ledger"), "{err}");
    assert!(
        std::fs::read(&garbage).unwrap() == bytes,
        "the file must be untouched"
    );

    let empty = dir.path().join("empty.db");
    write(&empty, b"");
    assert!(matches!(
        Ledger::open(&empty),
        Err(LedgerError::NotALedger { .. })
    ));
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);

    // A header that says SQLite over garbage pages.
    let corrupt = dir.path().join("corrupt.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
    write(&corrupt, &bytes);
    let err = Ledger::open(&corrupt).unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
    assert!(
        std::fs::read(&corrupt).unwrap() == bytes,
        "the file must be untouched"
    );

    let missing = dir.path().join("missing.db");
    assert!(matches!(
        Ledger::open(&missing),
        Err(LedgerError::Missing(_))
    ));
    assert!(!missing.exists(), "opening must not create a file");
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('x');")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&other).unwrap();
    let err = Ledger::open(&other).unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
    assert!(
        std::fs::read(&other).unwrap() == before,
        "the file must be untouched"
    );
}

#[test]
fn a_ledger_from_a_newer_version_is_refused() {
    let (_dir, path, ledger) = new_ledger();
    drop(ledger);
    raw(&path)
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let err = Ledger::open(&path).unwrap_err();
    assert!(
        matches!(err, LedgerError::TooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this program"));
    assert!(matches!(
        Ledger::open_read_only(&path),
        Err(LedgerError::TooNew { .. })
    ));
}

#[test]
fn a_ledger_locked_by_another_process_is_reported_not_a_hang() {
    let (_dir, path, mut ledger) = new_ledger();
    let mut holder = Command::new("sqlite3")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the sqlite3 command-line tool is required for this test (Debian package sqlite3)");
    let mut stdin = holder.stdin.take().unwrap();
    writeln!(stdin, "BEGIN EXCLUSIVE;\nINSERT INTO events (seq, order_id, kind, payload, at) VALUES (1000, NULL, 'x', '{{}}', 'x');\n.print holding").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "holding");

    let started = std::time::Instant::now();
    let err = ledger
        .create_order(&sale(100, ChannelKind::Cash), now())
        .unwrap_err();
    assert!(matches!(err, LedgerError::Locked), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(err.to_string().contains("locked by another program"));

    writeln!(stdin, "ROLLBACK;").unwrap();
    drop(stdin);
    holder.wait().unwrap();
    // Once released, the till goes on.
    ledger
        .create_order(&sale(100, ChannelKind::Cash), now())
        .unwrap();
}

#[test]
fn seeding_is_deterministic_and_realistic() {
    let plan = SeedPlan {
        days: 3,
        per_day: 400,
        seed: 7,
        last_day: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    };
    let summary = |path: &Path| {
        drop(Ledger::open(path).unwrap());
        let c = raw(path);
        let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        (
            q("SELECT count(*) FROM orders"),
            q("SELECT sum(amount_fen) FROM orders"),
            q("SELECT count(*) FROM events"),
            q("SELECT count(DISTINCT channel) FROM orders"),
            q("SELECT count(*) FROM orders WHERE state IN ('closed','failed')"),
            q("SELECT count(*) FROM orders WHERE refunded_fen > 0"),
            q("SELECT max(seq) - count(*) FROM events"),
        )
    };
    let (_d1, p1, mut l1) = new_ledger();
    let report = l1.seed(&plan).unwrap();
    assert_eq!(report.orders, 1200);
    drop(l1);
    let (_d2, p2, mut l2) = new_ledger();
    l2.seed(&plan).unwrap();
    drop(l2);
    let a = summary(&p1);
    assert_eq!(a, summary(&p2), "the same seed must give the same ledger");
    assert_eq!(a.0, 1200);
    assert_eq!(a.3, 4, "all channels appear");
    assert!(
        a.4 > 0 && a.5 > 0,
        "some closes, failures and refunds: {a:?}"
    );
    assert_eq!(a.6, 0, "event sequence has no gaps");
    let small: i64 = raw(&p1)
        .query_row(
            "SELECT count(*) FROM orders WHERE amount_fen < 3000",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(small > 500, "many small tickets: {small}");
    // A new sale after seeding continues the counters.
    let mut l = Ledger::open(&p1).unwrap();
    let o = l
        .create_order(&sale(100, ChannelKind::Cash), now())
        .unwrap();
    assert_eq!(o.id, 1201);
    assert_eq!(l.last_seq().unwrap(), report.events as i64 + 1);
}

#[test]
fn an_older_ledger_is_upgraded_on_open() {
    // A ledger exactly as the first release wrote it: migration 1 only.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(shouyin_ledger::MIGRATIONS[0]).unwrap();
    conn.execute_batch(
        "INSERT INTO terminal VALUES (1, '老店', 'T01', 'Asia/Shanghai', '04:00', 5000000, '2026-01-01T00:00:00.000Z');
         INSERT INTO orders (id, out_trade_no, store, terminal, amount_fen, currency, channel, state, created_at, updated_at, business_date)
             VALUES (1, 'T01_20260101000000_000001', '老店', 'T01', 800, 'CNY', 'cash', 'created',
                     '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01');
         INSERT INTO events VALUES (1, 1, 'order_created', '{}', '2026-01-01T00:00:00.000Z');
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    assert!(matches!(
        Ledger::open_read_only(&path),
        Err(LedgerError::Migration(_))
    ));
    let mut ledger = Ledger::open(&path).unwrap();
    let version: i64 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, shouyin_ledger::SCHEMA_VERSION);
    let closed = ledger
        .transition(
            1,
            &Change::to(OrderState::Failed).because("declined"),
            now(),
        )
        .unwrap();
    assert_eq!(closed.reason.as_deref(), Some("declined"));
    assert_eq!(closed.amount.fen(), 800);
    assert_eq!(ledger.last_seq().unwrap(), 2);
}

fn pin_user(ledger: &mut Ledger) -> i64 {
    use shouyin_ledger::users::Role;
    // The hash itself is not checked here; the lock bookkeeping is.
    ledger
        .add_user(
            "店长 李娜",
            &[Role::Manager],
            "$argon2id$stub",
            "setup",
            None,
            now(),
        )
        .unwrap()
        .id
}

/// The slow hash runs between reading the user and recording the outcome;
/// wrong PINs tried meanwhile (here, five from elsewhere) may lock the user.
/// A right PIN recorded after that is refused, and unlocks nothing.
#[test]
fn a_right_pin_recorded_during_a_lock_is_refused() {
    use shouyin_ledger::users::PinAttempt;
    let (_dir, _path, mut ledger) = new_ledger();
    let id = pin_user(&mut ledger);
    let (before, _) = ledger.user("店长 李娜").unwrap().unwrap();
    assert!(!before.is_locked(now()), "not locked when the check began");
    for _ in 0..5 {
        ledger.record_pin_attempt(id, false, now()).unwrap();
    }
    let outcome = ledger.record_pin_attempt(id, true, now()).unwrap();
    assert!(
        matches!(outcome, PinAttempt::Locked { .. }),
        "a right PIN during a lock must be refused: {outcome:?}"
    );
    let (after, _) = ledger.user("店长 李娜").unwrap().unwrap();
    assert!(after.is_locked(now()), "the lock stands");
    assert_eq!(after.lockouts, 1);
    // Once the lock is over, the right PIN is accepted again.
    let later = now() + Duration::minutes(5);
    assert_eq!(
        ledger.record_pin_attempt(id, true, later).unwrap(),
        PinAttempt::Accepted
    );
}

/// Wrong PINs tried at the same moment from many connections on one file
/// (threads standing for programs) are each counted: 3 × MAX_ATTEMPTS of
/// them lock the user three times, none is lost to a race.
#[test]
fn concurrent_wrong_pins_on_one_file_each_count() {
    use shouyin_ledger::users::{PinAttempt, MAX_ATTEMPTS};
    let (_dir, path, mut ledger) = new_ledger();
    let id = pin_user(&mut ledger);
    let n = usize::try_from(3 * MAX_ATTEMPTS).unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut mine = Ledger::open(&path).unwrap();
                barrier.wait();
                mine.record_pin_attempt(id, false, now()).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<PinAttempt> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let locks = outcomes
        .iter()
        .filter(|o| matches!(o, PinAttempt::LockedNow { .. }))
        .count();
    assert_eq!(locks, 3, "{outcomes:?}");
    let (user, _) = ledger.user("店长 李娜").unwrap().unwrap();
    assert_eq!((user.lockouts, user.failed_attempts), (3, 0));
    assert!(user.is_locked(now()));
}

/// A ledger written before sales carried their shift: on upgrade each
/// order and refund gets the shift whose open span holds it, and those
/// taken outside every shift get none.
#[test]
fn an_upgrade_gives_earlier_sales_the_shift_they_were_taken_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    for m in &shouyin_ledger::MIGRATIONS[..3] {
        conn.execute_batch(m).unwrap();
    }
    let order = |id: i64, at: &str| {
        format!(
            "INSERT INTO orders (id, out_trade_no, store, terminal, amount_fen, currency, channel, state, created_at, updated_at, paid_at, business_date)
                 VALUES ({id}, 'T01_2026010100000{id}_00000{id}', '老店', 'T01', 100, 'CNY', 'cash', 'paid', '{at}', '{at}', '{at}', '2026-01-01');"
        )
    };
    conn.execute_batch(&format!(
        "INSERT INTO terminal VALUES (1, '老店', 'T01', 'Asia/Shanghai', '04:00', 5000000, '2026-01-01T00:00:00.000Z');
         INSERT INTO shifts (id, cashier, opened_at, float_fen, closed_at) VALUES
             (1, '王芳', '2026-01-01T01:00:00.000Z', 0, '2026-01-01T05:00:00.000Z'),
             (2, '李娜', '2026-01-01T06:00:00.000Z', 0, NULL);
         {}{}{}
         INSERT INTO refunds (order_id, out_refund_no, amount_fen, state, requested_at, business_date)
             VALUES (3, 'T01_20260101000003_000003_R1', 50, 'succeeded', '2026-01-01T07:00:00.000Z', '2026-01-01');
         PRAGMA user_version = 3;",
        order(1, "2026-01-01T00:30:00.000Z"),
        order(2, "2026-01-01T02:00:00.000Z"),
        order(3, "2026-01-01T06:30:00.000Z"),
    ))
    .unwrap();
    drop(conn);
    let ledger = Ledger::open(&path).unwrap();
    let shift_of = |id: i64| ledger.order(id).unwrap().shift_id;
    assert_eq!(shift_of(1), None, "sold before any shift opened");
    assert_eq!(shift_of(2), Some(1));
    assert_eq!(shift_of(3), Some(2));
    let refund_shift: Option<i64> = raw(&path)
        .query_row("SELECT shift_id FROM refunds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(refund_shift, Some(2));
}

/// In the ledger itself: a cash sale needs an open shift and carries its
/// id, as does a QR order created while it is open; the cash handed over
/// is never less than the amount, and the change is the difference.
#[test]
fn every_sale_carries_the_open_shift_and_cash_needs_one() {
    let (_dir, path, mut ledger) = new_ledger();
    let paid = Change {
        paid_at: Some(now()),
        ..Change::to(OrderState::Paid)
    };
    let tender = shouyin_ledger::CashTender::new(1230, 2000).unwrap();
    assert!(matches!(
        ledger.create_paid_order(&sale(1230, ChannelKind::Cash), &paid, Some(tender), now()),
        Err(LedgerError::ShiftNotOpen)
    ));
    let qr = ledger
        .create_order(&sale(500, ChannelKind::Alipay), now())
        .unwrap();
    assert_eq!(qr.shift_id, None, "no shift was open");
    let shift = ledger.open_shift("王芳", 10000, now()).unwrap();
    let cash = ledger
        .create_paid_order(&sale(1230, ChannelKind::Cash), &paid, Some(tender), now())
        .unwrap();
    assert_eq!(cash.shift_id, Some(shift.id));
    let t = cash.tender.unwrap();
    assert_eq!((t.tendered_fen(), t.change_fen()), (2000, 770));
    let qr = ledger
        .create_order(&sale(500, ChannelKind::Wechat), now())
        .unwrap();
    assert_eq!(qr.shift_id, Some(shift.id));
    assert!(shouyin_ledger::CashTender::new(1230, 1229).is_err());
    // The file refuses a change that is not tendered − amount.
    assert!(raw(&path)
        .execute("UPDATE orders SET change_fen = 1 WHERE id = ?1", [cash.id])
        .is_err());
    let z = ledger.close_shift(11230, "王芳", now()).unwrap();
    assert_eq!((z.cash_sales_count, z.over_short_fen), (1, 0));
    assert!(matches!(
        ledger.close_shift(0, "王芳", now()),
        Err(LedgerError::ShiftNotOpen)
    ));
}

#[test]
fn head_office_suspensions_are_kept_and_every_change_audited_once() {
    use shouyin_ledger::suspensions::{ChannelSuspension, SuspensionChange};
    let (_dir, path, mut ledger) = new_ledger();
    let wechat = |reason: &str| ChannelSuspension {
        channel: "wechat".into(),
        reason: reason.into(),
        since: now(),
        all_stores: false,
    };
    let changes = ledger
        .apply_channel_suspensions(&[wechat("通道故障")], 1, now())
        .unwrap();
    assert_eq!(
        changes,
        vec![SuspensionChange::Suspended(wechat("通道故障"))]
    );
    // The same set again (a reconnect) writes nothing.
    assert!(ledger
        .apply_channel_suspensions(&[wechat("通道故障")], 1, now())
        .unwrap()
        .is_empty());
    // A new reason is a change; so is the lift.
    assert_eq!(
        ledger
            .apply_channel_suspensions(&[wechat("升级维护")], 2, now())
            .unwrap()
            .len(),
        1
    );
    drop(ledger);
    // Kept on disk across a reopen.
    let mut ledger = Ledger::open(&path).unwrap();
    assert_eq!(
        ledger.channel_suspensions().unwrap(),
        vec![wechat("升级维护")]
    );
    assert_eq!(
        ledger.apply_channel_suspensions(&[], 3, now()).unwrap(),
        vec![SuspensionChange::Lifted {
            channel: "wechat".into()
        }]
    );
    assert!(ledger.channel_suspensions().unwrap().is_empty());
    let actions: Vec<String> = ledger
        .audit_entries(10)
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "head_office")
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["channel_lifted", "channel_suspended", "channel_suspended"]
    );
    assert!(ledger.audit_verify().unwrap().is_intact());
    let mode: String = raw(&path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}
