//! Users, PIN login and lockout, manager approvals, the hash-chained audit
//! log, manual confirmation and the shift close, on a real ledger file with
//! a clock the tests move.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use shouyin_api::dto::{
    Approval, CashMovementKind, ManualConfirmRequest, RefundCreateRequest, UserAddRequest, UserRole,
};
use shouyin_api::{ChargeRequest, Counter, CounterOptions, ErrorCode, InitRequest};
use shouyin_core::{ChannelKind, OrderState};

/// The test moves time by hand.
use shouyin_testkit::FixedClock as TestClock;

struct Till {
    dir: tempfile::TempDir,
    clock: Arc<TestClock>,
    counter: Counter,
}

impl Till {
    fn db(&self) -> PathBuf {
        self.dir.path().join("ledger.db")
    }

    /// A second connection for tampering, as someone with the file would.
    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db()).unwrap()
    }
}

/// 2026-11-21 09:00 in Shanghai.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 1, 0, 0).unwrap()
}

async fn till() -> Till {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    shouyin_api::init_ledger(&db, &InitRequest::demo(), start()).unwrap();
    let clock = Arc::new(TestClock::new(start()));
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            clock: clock.clone(),
            pin_cost: shouyin_api::PinCost::cheap_for_tests(),
            ..CounterOptions::default()
        },
    )
    .await
    .unwrap();
    Till {
        dir,
        clock,
        counter,
    }
}

fn manager() -> Approval {
    Approval {
        approver_name: "店长 李娜".into(),
        pin: "9999".into(),
    }
}

async fn demo_till() -> Till {
    let t = till().await;
    assert_eq!(t.counter.ensure_demo_users().await.unwrap(), 3);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_user_needs_no_approval_later_ones_need_a_manager() {
    let t = till().await;
    let first = t
        .counter
        .user_add(
            UserAddRequest {
                name: "李娜".into(),
                roles: vec![UserRole::Manager, UserRole::Cashier],
                pin: "1234".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(first.roles, [UserRole::Cashier, UserRole::Manager]);
    let req = UserAddRequest {
        name: "王芳".into(),
        roles: vec![UserRole::Cashier],
        pin: "4321".into(),
    };
    let err = t.counter.user_add(req.clone(), None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ApprovalRequired);
    let wrong = Approval {
        approver_name: "李娜".into(),
        pin: "0000".into(),
    };
    let err = t
        .counter
        .user_add(req.clone(), Some(wrong))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PinWrong, "{err}");
    let ok = Approval {
        approver_name: "李娜".into(),
        pin: "1234".into(),
    };
    t.counter.user_add(req, Some(ok)).await.unwrap();
    // A cashier cannot approve.
    let cashier = Approval {
        approver_name: "王芳".into(),
        pin: "4321".into(),
    };
    let err = t
        .counter
        .user_add(
            UserAddRequest {
                name: "张伟".into(),
                roles: vec![UserRole::Accountant],
                pin: "5555".into(),
            },
            Some(cashier),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotPermitted, "{err}");
    // Bad PINs are refused before anything is stored.
    let err = t
        .counter
        .user_add(
            UserAddRequest {
                name: "赵六".into(),
                roles: vec![UserRole::Cashier],
                pin: "12".into(),
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    let users = t.counter.users_list().await.unwrap();
    assert_eq!(users.len(), 2);
    // The PIN is stored only as an Argon2 hash.
    let hashes: Vec<String> = t
        .raw()
        .prepare("SELECT pin_hash FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(hashes.iter().all(|h| h.starts_with("$argon2id$")));
    assert!(!hashes
        .iter()
        .any(|h| h.contains("1234") || h.contains("4321")));
    // Both additions are in the audit log, the second with its approver.
    let audit = t.counter.audit_list(10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action, "user_added");
    assert_eq!(audit[0].approver.as_deref(), Some("李娜"));
    assert_eq!(audit[1].approver, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_pins_lock_for_a_growing_interval() {
    let t = demo_till().await;
    let name = "收银员 王芳".to_owned();
    let login = |pin: &str| t.counter.user_login(name.clone(), pin.to_owned());
    assert_eq!(login("1111").await.unwrap().roles, [UserRole::Cashier]);
    for left in (1..=4).rev() {
        let err = login("0000").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PinWrong);
        assert!(err.message.contains(&format!("{left} attempt")), "{err}");
    }
    let err = login("0000").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UserLocked, "the fifth wrong PIN locks");
    // Locked: even the right PIN is refused, without being checked.
    let err = login("1111").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UserLocked);
    assert!(err.message.contains("30 s"), "{err}");
    t.clock.advance(Duration::seconds(29));
    assert_eq!(login("1111").await.unwrap_err().code, ErrorCode::UserLocked);
    t.clock.advance(Duration::seconds(2));
    // Still wrong after the lock: the count starts again, the next lock is longer.
    for _ in 0..4 {
        assert_eq!(login("2222").await.unwrap_err().code, ErrorCode::PinWrong);
    }
    assert_eq!(login("2222").await.unwrap_err().code, ErrorCode::UserLocked);
    let err = login("1111").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UserLocked);
    assert!(err.message.contains("60 s"), "second lock is 60 s: {err}");
    t.clock.advance(Duration::seconds(59));
    assert_eq!(login("1111").await.unwrap_err().code, ErrorCode::UserLocked);
    t.clock.advance(Duration::seconds(2));
    // A correct PIN resets everything: the next lock is 30 s again.
    login("1111").await.unwrap();
    for _ in 0..5 {
        let _ = login("3333").await;
    }
    let err = login("1111").await.unwrap_err();
    assert!(err.message.contains("30 s"), "{err}");
    // Other users are not affected.
    t.counter
        .user_login("店长 李娜".into(), "9999".into())
        .await
        .unwrap();
    // Unknown names answer like a wrong PIN.
    let err = t
        .counter
        .user_login("nobody".into(), "1111".into())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PinWrong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_users_are_added_once() {
    let t = demo_till().await;
    assert_eq!(t.counter.ensure_demo_users().await.unwrap(), 0);
    let users = t.counter.users_list().await.unwrap();
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(users.len(), 3, "{names:?}");
    for (name, pin) in [
        ("收银员 王芳", "1111"),
        ("店长 李娜", "9999"),
        ("会计 张伟", "5555"),
    ] {
        t.counter
            .user_login(name.into(), pin.into())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    t.counter.approval_check(&manager()).await.unwrap();
    let err = t
        .counter
        .approval_check(&Approval {
            approver_name: "会计 张伟".into(),
            pin: "5555".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotPermitted);
}

async fn cash_sale(t: &Till, amount: &str) -> String {
    t.counter
        .order_charge(ChargeRequest {
            amount: amount.into(),
            channel: ChannelKind::Cash,
            cashier: Some("收银员 王芳".into()),
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap()
        .order_no
}

/// Several audited actions, so the chain has something to break.
async fn audited_history(t: &Till) {
    t.counter
        .shift_open("收银员 王芳".into(), "100".into())
        .await
        .unwrap();
    let order = cash_sale(t, "45.00").await;
    t.counter
        .refund_create(
            RefundCreateRequest {
                order_no: order,
                amount: "5.00".into(),
                reason: Some("少找".into()),
                requested_by: "收银员 王芳".into(),
            },
            manager(),
        )
        .await
        .unwrap();
    t.counter
        .cash_drawer_open("收银员 王芳".into(), "换零钱".into(), manager())
        .await
        .unwrap();
    t.counter
        .audit_approved(
            "店长 李娜".into(),
            "settings_changed".into(),
            serde_json::json!({"sale_limit": "1000.00"}),
            manager(),
        )
        .await
        .unwrap();
}

fn drop_audit_triggers(raw: &rusqlite::Connection) {
    raw.execute_batch(
        "DROP TRIGGER audit_is_append_only_update; DROP TRIGGER audit_is_append_only_delete;",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_is_append_only_and_links() {
    let t = demo_till().await;
    audited_history(&t).await;
    let entries = t.counter.audit_list(100).await.unwrap();
    let actions: Vec<_> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "user_added",
            "user_added",
            "user_added",
            "refund_requested",
            "refund_succeeded",
            "cash_drawer_opened",
            "settings_changed"
        ]
    );
    let v = t.counter.audit_verify().await.unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries, 7);
    // Every entry is also a ledger event carrying its hash, so sync ships it.
    let raw = t.raw();
    let shipped: Vec<(String, String)> = raw
        .prepare(
            "SELECT kind, json_extract(payload, '$.hash') FROM events WHERE kind LIKE 'audit_%' ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(shipped.len(), 7);
    assert_eq!(shipped[6].0, "audit_settings_changed");
    assert_eq!(shipped[6].1, entries[0].hash);
    // The triggers refuse edits and deletions.
    assert!(raw
        .execute("UPDATE audit SET actor = 'x' WHERE seq = 2", [])
        .is_err());
    assert!(raw.execute("DELETE FROM audit WHERE seq = 7", []).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_an_edited_entry() {
    let t = demo_till().await;
    audited_history(&t).await;
    let raw = t.raw();
    drop_audit_triggers(&raw);
    raw.execute(
        "UPDATE audit SET detail = json_set(detail, '$.refund_fen', 50) WHERE seq = 4",
        [],
    )
    .unwrap();
    let v = t.counter.audit_verify().await.unwrap();
    assert!(!v.intact);
    assert_eq!(v.first_bad_seq, Some(4), "{v:?}");
    assert!(v.problem.unwrap().contains("changed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_an_edit_that_recomputes_its_own_hash() {
    let t = demo_till().await;
    audited_history(&t).await;
    let raw = t.raw();
    drop_audit_triggers(&raw);
    // A careful forger recomputes the edited entry's hash: the next entry
    // no longer links to it.
    let (at, actor, approver, action, prev): (String, String, Option<String>, String, String) = raw
        .query_row(
            "SELECT at, actor, approver, action, prev_hash FROM audit WHERE seq = 5",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    let detail = r#"{"forged":true}"#;
    let hash = shouyin_ledger::audit::entry_hash(
        &prev,
        5,
        &at,
        &actor,
        approver.as_deref(),
        &action,
        detail,
    );
    raw.execute(
        "UPDATE audit SET detail = ?1, hash = ?2 WHERE seq = 5",
        rusqlite::params![detail, hash],
    )
    .unwrap();
    let v = t.counter.audit_verify().await.unwrap();
    assert_eq!(v.first_bad_seq, Some(5), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_deleted_entry() {
    let t = demo_till().await;
    audited_history(&t).await;
    let raw = t.raw();
    drop_audit_triggers(&raw);
    raw.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let v = t.counter.audit_verify().await.unwrap();
    assert_eq!(v.first_bad_seq, Some(3), "{v:?}");
    assert!(v.problem.unwrap().contains("missing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_cut_off_tail() {
    let t = demo_till().await;
    audited_history(&t).await;
    let raw = t.raw();
    drop_audit_triggers(&raw);
    raw.execute("DELETE FROM audit WHERE seq >= 6", []).unwrap();
    let v = t.counter.audit_verify().await.unwrap();
    assert_eq!(v.first_bad_seq, Some(6), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_reordered_entries() {
    let t = demo_till().await;
    audited_history(&t).await;
    let raw = t.raw();
    drop_audit_triggers(&raw);
    raw.execute_batch(
        "UPDATE audit SET seq = 100 WHERE seq = 5;
         UPDATE audit SET seq = 5 WHERE seq = 6;
         UPDATE audit SET seq = 6 WHERE seq = 100;",
    )
    .unwrap();
    let v = t.counter.audit_verify().await.unwrap();
    assert_eq!(v.first_bad_seq, Some(5), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_confirmation_is_unverified_with_its_approver_until_settled() {
    let t = demo_till().await;
    let req = ManualConfirmRequest {
        order_no: None,
        amount: Some("20.00".into()),
        channel: Some(ChannelKind::Wechat),
        cashier: "收银员 王芳".into(),
        note: Some("顾客出示付款成功页面".into()),
    };
    let wrong = Approval {
        approver_name: "店长 李娜".into(),
        pin: "1111".into(),
    };
    let err = t
        .counter
        .order_confirm_manually(req.clone(), wrong)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PinWrong);
    let order = t
        .counter
        .order_confirm_manually(req.clone(), manager())
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Unverified);
    assert_eq!(order.amount_fen, 2000);
    assert_eq!(order.cashier.as_deref(), Some("收银员 王芳"));
    let approver: Option<String> = t
        .raw()
        .query_row(
            "SELECT approver FROM orders WHERE out_trade_no = ?1",
            [&order.order_no],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(approver.as_deref(), Some("店长 李娜"));
    let (_, events) = t
        .counter
        .order_events(order.order_no.clone())
        .await
        .unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "order_created",
            "order_unverified",
            "audit_order_confirmed_manually"
        ]
    );
    assert!(events[1].payload.contains("店长 李娜"));

    // Reconciliation finds no payment: flagged.
    let flagged = t
        .counter
        .order_settle_unverified_from_bill(
            order.order_no.clone(),
            false,
            "no line in the bill".into(),
        )
        .await
        .unwrap();
    assert_eq!(flagged.state, OrderState::Failed);
    assert!(flagged
        .reason
        .as_deref()
        .unwrap()
        .starts_with("flagged: channel has no payment"));
    // Another is verified from a bill line: paid.
    let second = t
        .counter
        .order_confirm_manually(req, manager())
        .await
        .unwrap();
    let verified = t
        .counter
        .order_settle_unverified_from_bill(
            second.order_no.clone(),
            true,
            "bill line 4200001".into(),
        )
        .await
        .unwrap();
    assert_eq!(verified.state, OrderState::Paid);
    let audit = t.counter.audit_list(2).await.unwrap();
    assert_eq!(audit[0].action, "unverified_verified");
    assert_eq!(audit[1].action, "order_confirmed_manually");
    assert!(t.counter.audit_verify().await.unwrap().intact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_refunds_need_a_manager_and_never_exceed_the_sale() {
    let t = demo_till().await;
    t.counter
        .shift_open("收银员 王芳".into(), "100".into())
        .await
        .unwrap();
    let order = cash_sale(&t, "12.30").await;
    let req = |amount: &str| RefundCreateRequest {
        order_no: order.clone(),
        amount: amount.into(),
        reason: None,
        requested_by: "收银员 王芳".into(),
    };
    let cashier = Approval {
        approver_name: "收银员 王芳".into(),
        pin: "1111".into(),
    };
    let err = t
        .counter
        .refund_create(req("5.00"), cashier)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotPermitted);
    let r1 = t
        .counter
        .refund_create(req("5.00"), manager())
        .await
        .unwrap();
    assert_eq!(r1.refund_no, format!("{order}_R1"));
    assert_eq!(r1.state.as_str(), "succeeded");
    assert_eq!(r1.approver.as_deref(), Some("店长 李娜"));
    let err = t
        .counter
        .refund_create(req("7.31"), manager())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::OverRefund, "{err}");
    let r2 = t
        .counter
        .refund_create(req("7.30"), manager())
        .await
        .unwrap();
    assert_eq!(r2.refund_no, format!("{order}_R2"));
    let (o, events) = t.counter.order_events(order.clone()).await.unwrap();
    assert_eq!(o.state, OrderState::Refunded);
    assert_eq!(o.refunded, "12.30");
    let refunds: Vec<serde_json::Value> = events
        .iter()
        .filter(|e| e.kind == "refund_succeeded")
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0]["refund_fen"], 500);
    assert_eq!(refunds[1]["refund_fen"], 730);
    assert_eq!(refunds[0]["channel"], "cash");
    assert_eq!(refunds[0]["business_date"], "2026-11-21");
}

/// The shift fixture, figures by hand:
///
/// | | yuan |
/// |---|---|
/// | float | 200.00 |
/// | cash sales 12.30 + 45.00 + 8.70 | + 66.00 |
/// | cash refund of the 45.00 sale | − 5.00 |
/// | pay-in (change from the bank) | + 50.00 |
/// | pay-out (vegetables supplier) | − 30.00 |
/// | expected | 281.00 |
/// | counted | 278.50 |
/// | short (短款) | − 2.50 |
///
/// A cash sale of 99.00 before the shift opened is refused (no cash moves
/// outside a shift), and a WeChat sale of 20.00 confirmed by a manager only
/// (待核实) is not in the drawer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shift_close_is_blind_and_records_the_over_short_as_it_is() {
    let t = demo_till().await;
    let refused = t
        .counter
        .order_charge(ChargeRequest {
            amount: "99.00".into(),
            channel: ChannelKind::Cash,
            cashier: Some("收银员 王芳".into()),
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::ShiftNotOpen);
    t.clock.advance(Duration::minutes(10));
    let shift = t
        .counter
        .shift_open("收银员 王芳".into(), "200.00".into())
        .await
        .unwrap();
    assert_eq!(shift.float_fen, 20000);
    let err = t
        .counter
        .shift_open("收银员 王芳".into(), "100".into())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput, "one shift at a time");
    t.clock.advance(Duration::minutes(5));
    cash_sale(&t, "12.30").await;
    let big = cash_sale(&t, "45.00").await;
    cash_sale(&t, "8.70").await;
    t.clock.advance(Duration::minutes(30));
    t.counter
        .refund_create(
            RefundCreateRequest {
                order_no: big,
                amount: "5.00".into(),
                reason: Some("退一件".into()),
                requested_by: "收银员 王芳".into(),
            },
            manager(),
        )
        .await
        .unwrap();
    t.counter
        .shift_cash_movement(
            CashMovementKind::PayIn,
            "50".into(),
            "银行换零钱".into(),
            "收银员 王芳".into(),
            None,
        )
        .await
        .unwrap();
    let err = t
        .counter
        .shift_cash_movement(
            CashMovementKind::PayOut,
            "30".into(),
            "付菜钱".into(),
            "收银员 王芳".into(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ApprovalRequired);
    t.counter
        .shift_cash_movement(
            CashMovementKind::PayOut,
            "30".into(),
            "付菜钱".into(),
            "收银员 王芳".into(),
            Some(manager()),
        )
        .await
        .unwrap();
    t.counter
        .order_confirm_manually(
            ManualConfirmRequest {
                order_no: None,
                amount: Some("20".into()),
                channel: Some(ChannelKind::Wechat),
                cashier: "收银员 王芳".into(),
                note: None,
            },
            manager(),
        )
        .await
        .unwrap();
    t.clock.advance(Duration::hours(7));
    let open = t.counter.shift_current().await.unwrap().unwrap();
    assert_eq!(open.movements.len(), 2);

    let z = t
        .counter
        .shift_close("278.50".into(), "收银员 王芳".into())
        .await
        .unwrap();
    assert_eq!(z.float_fen, 20000);
    assert_eq!(z.cash_sales_fen, 6600);
    assert_eq!(z.cash_sales_count, 3);
    assert_eq!(z.cash_refunds_fen, 500);
    assert_eq!(z.pay_ins_fen, 5000);
    assert_eq!(z.pay_outs_fen, 3000);
    assert_eq!(z.expected_fen, 28100);
    assert_eq!(z.expected, "281.00");
    assert_eq!(z.counted_fen, 27850);
    assert_eq!(z.over_short_fen, -250);
    assert_eq!(z.over_short, "-2.50");
    assert_eq!(z.over_short_kind, "short");
    let wechat = z
        .channels
        .iter()
        .find(|c| c.channel == ChannelKind::Wechat)
        .unwrap();
    assert_eq!(wechat.confirmed_fen, 0);
    assert_eq!(wechat.unconfirmed_fen, 2000);
    assert_eq!(wechat.unconfirmed_count, 1);

    // Closed means closed: the report is frozen and the row immutable.
    assert!(t.counter.shift_current().await.unwrap().is_none());
    t.counter
        .shift_open("收银员 王芳".into(), "50".into())
        .await
        .unwrap();
    cash_sale(&t, "1.00").await;
    let again = t.counter.shift_report(z.shift_id).await.unwrap();
    assert_eq!(again, z, "a reprint is the report as it was at close");
    let raw = t.raw();
    assert!(raw
        .execute(
            "UPDATE shifts SET counted_fen = 28100 WHERE id = ?1",
            [z.shift_id]
        )
        .is_err());

    let text = t.counter.shift_report_text(z.shift_id).await.unwrap();
    for line in text.lines() {
        assert!(
            shouyin_api::shifts::text_columns(line) <= 40,
            "wider than the receipt: {line:?}"
        );
    }
    for needle in [
        "交班报表",
        "备用金",
        "¥200.00",
        "现金收款 3笔",
        "¥66.00",
        "-¥5.00",
        "应有现金",
        "¥281.00",
        "实点现金",
        "¥278.50",
        "短款",
        "-¥2.50",
        "微信支付",
        "待核实 1笔",
        "付菜钱",
        "2026-11-21 09:10",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_is_recorded_as_an_over() {
    let t = demo_till().await;
    t.counter
        .shift_open("店长 李娜".into(), "0".into())
        .await
        .unwrap();
    cash_sale(&t, "10.00").await;
    let z = t
        .counter
        .shift_close("10.20".into(), "店长 李娜".into())
        .await
        .unwrap();
    assert_eq!((z.expected_fen, z.over_short_fen), (1000, 20));
    assert_eq!(z.over_short_kind, "over");
    let text = t.counter.shift_report_text(z.shift_id).await.unwrap();
    assert!(text.contains("长款"), "{text}");
    let err = t
        .counter
        .shift_open("nobody".into(), "0".into())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
}
