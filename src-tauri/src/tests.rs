//! The app's commands through the real IPC path (the mock runtime, the
//! app's own capabilities), with a real ledger in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::{json, Value};
use shouyin_api::dto::UserDto;
use shouyin_api::roles;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, Manager, WebviewWindow};

use super::*;
use crate::access::Sessions;

fn invoke(webview: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

/// The app on a fresh data directory; `demo` as `make run` starts it.
fn start(
    demo: bool,
) -> (
    tempfile::TempDir,
    App<MockRuntime>,
    WebviewWindow<MockRuntime>,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut app = run_app(mock_builder(), Some(dir.path().to_path_buf()), demo)
        // The real context, so the capabilities (the ACL) are the app's own.
        .build(tauri::generate_context!())
        .unwrap();
    // The setup hook (which opens the ledger and manages the counter)
    // runs on the first turn of the event loop.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    // The config's main window, the one the capabilities name.
    let main = app.get_webview_window("main").unwrap();
    (dir, app, main)
}

fn login(webview: &WebviewWindow<MockRuntime>, name: &str, pin: &str) -> Value {
    invoke(webview, "user_login", json!({ "name": name, "pin": pin }))
        .unwrap_or_else(|e| panic!("{name} cannot log in: {e}"))
}

const CASHIER: &str = "收银员 王芳";
const MANAGER: &str = "店长 李娜";
const ACCOUNTANT: &str = "会计 张伟";

fn code(e: &Value) -> &str {
    e["code"].as_str().unwrap_or("")
}

#[test]
fn commands_answer_through_ipc_with_a_real_ledger() {
    let (dir, _app, webview) = start(true);

    let terminal = invoke(&webview, "terminal_get", json!({})).unwrap();
    assert!(
        terminal["store"].as_str().is_some_and(|s| !s.is_empty()),
        "terminal has no store name: {terminal}"
    );
    assert_eq!(terminal["demo"], true, "the demo says so: {terminal}");

    let amount = invoke(&webview, "amount_check", json!({ "input": "１２.3" })).unwrap();
    assert_eq!(amount["fen"], 1230, "full-width digits parse: {amount}");
    assert_eq!(amount["display"], "¥12.30");

    let refused = invoke(&webview, "amount_check", json!({ "input": "12.345" })).unwrap_err();
    assert_eq!(
        refused["code"], "invalid_amount",
        "error carries its code: {refused}"
    );

    let users = invoke(&webview, "users_list", json!({})).unwrap();
    assert_eq!(
        users.as_array().map(Vec::len),
        Some(3),
        "demo users: {users}"
    );
    let wrong = invoke(
        &webview,
        "user_login",
        json!({ "name": MANAGER, "pin": "0000" }),
    )
    .unwrap_err();
    assert_eq!(wrong["code"], "pin_wrong", "a wrong PIN says so: {wrong}");
    let manager = login(&webview, MANAGER, "9999");
    assert_eq!(manager["name"], MANAGER);
    let session = invoke(&webview, "session_get", json!({})).unwrap();
    assert_eq!(session["name"], MANAGER, "the window's session: {session}");
    // Cash moves only inside an open shift.
    invoke(&webview, "shift_open", json!({ "float": "100" })).unwrap();

    let order = invoke(
        &webview,
        "order_charge",
        json!({ "req": { "amount": "12.30", "channel": "cash", "note": null } }),
    )
    .unwrap();
    assert_eq!(order["amount_fen"], 1230);
    assert_eq!(
        order["state"], "paid",
        "a cash sale is paid at once: {order}"
    );

    let recent = invoke(&webview, "orders_recent", json!({ "limit": 5 })).unwrap();
    assert_eq!(
        recent[0]["order_no"], order["order_no"],
        "the new sale heads the recent list: {recent}"
    );
    let day = invoke(
        &webview,
        "reports_daily",
        json!({ "date": order["business_date"] }),
    )
    .unwrap();
    assert_eq!(
        day["count"], 1,
        "the cash sale is in the day's report: {day}"
    );
    assert_eq!(day["gross"], "12.30");

    invoke(&webview, "user_logout", json!({})).unwrap();
    let after = invoke(&webview, "reports_daily", json!({ "date": "2026-01-01" })).unwrap_err();
    assert_eq!(code(&after), "not_logged_in", "logged out: {after}");
    assert!(
        dir.path().join("ledger.db").is_file(),
        "the ledger file is in the data directory"
    );
}

/// Every command of the list, as nobody, a cashier, a manager and an
/// accountant: refused (`forbidden` / `not_logged_in`) exactly where the
/// matrix says so. Calls carry no arguments, so an admitted command fails
/// on its arguments and changes nothing; only the gate's verdict counts.
#[test]
fn every_command_as_every_role_answers_as_the_matrix_says() {
    let (_dir, app, main) = start(true);
    let users: Vec<UserDto> =
        serde_json::from_value(invoke(&main, "users_list", json!({})).unwrap()).unwrap();
    let user = |name: &str| users.iter().find(|u| u.name == name).unwrap().clone();
    let identities: [(&str, Option<UserDto>); 4] = [
        ("nobody", None),
        ("cashier", Some(user(CASHIER))),
        ("manager", Some(user(MANAGER))),
        ("accountant", Some(user(ACCOUNTANT))),
    ];
    let main_allowed = capability_commands("main.json");
    let sessions = app.state::<Sessions>();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for command in roles::command_names() {
        if !main_allowed.contains(command) {
            // Only the customer display may call it, where nobody logs in:
            // it must be public.
            assert!(
                roles::authorize(command, None).is_ok(),
                "{command} is only on the customer display but not public"
            );
            continue;
        }
        for (who, identity) in &identities {
            match identity {
                Some(u) => sessions.log_in("main", u.clone()),
                None => sessions.log_out("main"),
            }
            let expected_refused = roles::authorize(command, identity.as_ref()).is_err();
            let answer = invoke(&main, command, json!({}));
            let refused =
                matches!(&answer, Err(e) if code(e) == "forbidden" || code(e) == "not_logged_in");
            if refused != expected_refused {
                mismatches.push(format!(
                    "{command} as {who}: refused={refused}, matrix says refused={expected_refused} ({answer:?})"
                ));
            }
            if identity.is_none() && expected_refused {
                assert_eq!(
                    code(answer.as_ref().unwrap_err()),
                    "not_logged_in",
                    "{command} with no session"
                );
            }
            checked += 1;
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(checked >= 4 * 30, "only {checked} calls checked");

    // The refusals are in the audit log, with who and what.
    sessions.log_in("main", user(CASHIER));
    invoke(&main, "refund_create", json!({})).unwrap_err();
    let counter = app.state::<Counter>();
    let audit = tauri::async_runtime::block_on(counter.audit_list(500)).unwrap();
    let refused: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "command_refused")
        .collect();
    assert!(
        refused
            .iter()
            .any(|e| e.actor == CASHIER && e.detail.contains("refund_create")),
        "the cashier's refused refund is audited: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|e| e.actor == ACCOUNTANT && e.detail.contains("order_charge")),
        "the accountant's refused sale is audited"
    );
    let verified = tauri::async_runtime::block_on(counter.audit_verify()).unwrap();
    assert!(verified.intact, "the audit chain holds: {verified:?}");
}

/// What the brief's roles say, checked against the matrix (so the matrix
/// itself cannot drift from the roles).
#[test]
fn the_matrix_gives_each_role_what_the_roles_say() {
    let user = |roles: &[shouyin_api::dto::UserRole]| UserDto {
        id: 1,
        name: "x".into(),
        roles: roles.to_vec(),
        active: true,
        locked_until: None,
    };
    use shouyin_api::dto::UserRole::{Accountant, Cashier, Manager};
    let cashier = user(&[Cashier]);
    let manager = user(&[Manager]);
    let accountant = user(&[Accountant]);
    let may = |u: &UserDto, c: &str| roles::authorize(c, Some(u)).is_ok();
    for c in [
        "order_charge",
        "order_cancel",
        "shift_cash_movement",
        "shift_open",
    ] {
        assert!(may(&cashier, c), "a cashier may {c}");
        assert!(may(&manager, c), "a manager may {c}");
        assert!(!may(&accountant, c), "an accountant may not {c}");
    }
    for c in [
        "refund_create",
        "order_void",
        "order_confirm_manually",
        "reports_daily",
        "sync_enroll",
        "audit_approved",
        "orders_search",
    ] {
        assert!(!may(&cashier, c), "a cashier may not {c}");
        assert!(may(&manager, c), "a manager may {c}");
    }
    for c in [
        "reports_daily",
        "reports_range",
        "export_csv",
        "export_xlsx",
        "reconcile_run",
        "orders_search",
        "order_events",
    ] {
        assert!(may(&accountant, c), "an accountant may {c}");
    }
    assert!(
        may(&accountant, "orders_recent"),
        "an accountant reads orders"
    );
    for c in ["refund_create", "order_void", "sync_enroll", "shift_close"] {
        assert!(!may(&accountant, c), "an accountant may not {c}");
    }
}

#[test]
fn names_on_records_come_from_the_session_not_the_arguments() {
    let (_dir, app, main) = start(true);
    let approval = json!({ "approver_name": MANAGER, "pin": "9999" });
    login(&main, CASHIER, "1111");
    let shift = invoke(
        &main,
        "shift_open",
        json!({ "float": "100.00", "cashier": "Mallory" }),
    )
    .unwrap();
    assert_eq!(shift["cashier"], CASHIER, "{shift}");
    let order = invoke(
        &main,
        "order_charge",
        json!({ "req": { "amount": "8.00", "channel": "cash", "cashier": "Mallory" } }),
    )
    .unwrap();
    assert_eq!(order["cashier"], CASHIER, "{order}");
    let moved = invoke(
        &main,
        "shift_cash_movement",
        json!({ "kind": "pay_in", "amount": "5.00", "reason": "change", "actor": "Mallory", "approval": approval }),
    )
    .unwrap();
    assert_eq!(moved["actor"], CASHIER, "{moved}");
    assert_eq!(moved["approver"], MANAGER, "{moved}");
    let z = invoke(
        &main,
        "shift_close",
        json!({ "counted": "113.00", "closedBy": "Mallory" }),
    )
    .unwrap();
    assert_eq!(z["closed_by"], CASHIER, "{z}");

    login(&main, MANAGER, "9999");
    // A cash refund leaves the drawer inside the next shift.
    invoke(&main, "shift_open", json!({ "float": "100" })).unwrap();
    let refund = invoke(
        &main,
        "refund_create",
        json!({ "req": { "order_no": order["order_no"], "amount": "1.00", "requested_by": "Mallory" }, "approval": approval }),
    )
    .unwrap();
    assert_eq!(refund["requested_by"], MANAGER, "{refund}");
    let entry = invoke(
        &main,
        "audit_approved",
        json!({ "actor": "Mallory", "action": "settings_changed", "detail": { "x": 1 }, "approval": approval }),
    )
    .unwrap();
    assert_eq!(entry["actor"], MANAGER, "{entry}");
    let counter = app.state::<Counter>();
    let audit = tauri::async_runtime::block_on(counter.audit_list(100)).unwrap();
    assert!(
        audit.iter().all(|e| e.actor != "Mallory"),
        "no audit entry carries the UI's name: {audit:?}"
    );
}

#[test]
fn a_cashier_sees_her_own_sales_of_today_and_a_manager_everyone_s() {
    let (_dir, _app, main) = start(true);
    let sell = |amount: &str| {
        invoke(
            &main,
            "order_charge",
            json!({ "req": { "amount": amount, "channel": "cash" } }),
        )
        .unwrap()
    };
    login(&main, MANAGER, "9999");
    invoke(&main, "shift_open", json!({ "float": "100" })).unwrap();
    sell("1.00");
    login(&main, CASHIER, "1111");
    let hers = sell("2.00");
    let recent = invoke(&main, "orders_recent", json!({ "limit": 10 })).unwrap();
    let nos: Vec<&Value> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["order_no"])
        .collect();
    assert_eq!(nos, [&hers["order_no"]], "only her own sale: {recent}");
    login(&main, MANAGER, "9999");
    let all = invoke(&main, "orders_recent", json!({ "limit": 10 })).unwrap();
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "the manager sees both: {all}"
    );
}

#[test]
fn a_cashier_cannot_see_expected_cash_before_her_blind_count() {
    let (_dir, _app, main) = start(true);
    login(&main, CASHIER, "1111");
    let shift = invoke(&main, "shift_open", json!({ "float": "200.00" })).unwrap();
    let order = invoke(
        &main,
        "order_charge",
        json!({ "req": { "amount": "30.00", "channel": "cash" } }),
    )
    .unwrap();
    let date = order["business_date"].clone();
    for (cmd, args) in [
        ("reports_daily", json!({ "date": date })),
        ("reports_range", json!({ "from": date, "to": date })),
    ] {
        let e = invoke(&main, cmd, args).unwrap_err();
        assert_eq!(code(&e), "forbidden", "{cmd} before the count: {e}");
    }
    let current = invoke(&main, "shift_current", json!({})).unwrap();
    assert!(
        !current.to_string().contains("expected"),
        "the open shift shows no expected cash: {current}"
    );
    let text = invoke(
        &main,
        "shift_report_text",
        json!({ "shiftId": shift["id"] }),
    );
    assert!(text.is_err(), "no Z report before the count: {text:?}");

    let z = invoke(&main, "shift_close", json!({ "counted": "229.00" })).unwrap();
    assert_eq!(z["expected"], "230.00", "after the count: {z}");
    let text = invoke(
        &main,
        "shift_report_text",
        json!({ "shiftId": shift["id"] }),
    )
    .unwrap();
    assert!(text.as_str().unwrap().contains("230.00"), "{text}");
}

#[test]
fn a_new_store_has_no_users_and_asks_for_its_first_manager() {
    let (_dir, _app, main) = start(false);
    let terminal = invoke(&main, "terminal_get", json!({})).unwrap();
    assert_eq!(terminal["needs_setup"], true, "{terminal}");
    assert_eq!(terminal["demo"], false, "{terminal}");
    assert!(
        !terminal["store"].as_str().unwrap().contains("Demo"),
        "a real store is not called a demo: {terminal}"
    );
    let users = invoke(&main, "users_list", json!({})).unwrap();
    assert_eq!(users, json!([]), "no demo staff outside the demo");
    let sale = invoke(
        &main,
        "order_charge",
        json!({ "req": { "amount": "1.00", "channel": "cash" } }),
    )
    .unwrap_err();
    assert_eq!(code(&sale), "not_logged_in", "the till cannot sell: {sale}");

    let differ = invoke(
        &main,
        "setup_first_manager",
        json!({ "name": "店长 陈静", "pin": "2468", "pinAgain": "2469" }),
    )
    .unwrap_err();
    assert_eq!(code(&differ), "invalid_input", "{differ}");
    let manager = invoke(
        &main,
        "setup_first_manager",
        json!({ "name": "店长 陈静", "pin": "2468", "pinAgain": "2468" }),
    )
    .unwrap();
    assert!(
        manager["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("manager")),
        "{manager}"
    );
    let session = invoke(&main, "session_get", json!({})).unwrap();
    assert_eq!(session["name"], "店长 陈静", "the new manager is logged in");
    let terminal = invoke(&main, "terminal_get", json!({})).unwrap();
    assert_eq!(terminal["needs_setup"], false, "{terminal}");
    let again = invoke(
        &main,
        "setup_first_manager",
        json!({ "name": "Mallory", "pin": "1357", "pinAgain": "1357" }),
    )
    .unwrap_err();
    assert_eq!(code(&again), "forbidden", "only once: {again}");
    invoke(&main, "shift_open", json!({ "float": "0" })).unwrap();
    let sale = invoke(
        &main,
        "order_charge",
        json!({ "req": { "amount": "1.00", "channel": "cash" } }),
    )
    .unwrap();
    assert_eq!(sale["state"], "paid", "now the till sells: {sale}");
}

#[test]
fn the_customer_display_sees_the_order_on_screen_and_not_the_day() {
    let (_dir, app, main) = start(true);
    login(&main, CASHIER, "1111");
    invoke(&main, "shift_open", json!({ "float": "100" })).unwrap();
    invoke(&main, "customer_window_open", json!({})).unwrap();
    let customer = app.get_webview_window(CUSTOMER_WINDOW).unwrap();
    // What every window could hear: no `counter` events, only what the
    // customer display shows (`customer_order`).
    let (shown_tx, shown) = std::sync::mpsc::channel();
    let (broadcast_tx, broadcast) = std::sync::mpsc::channel();
    app.listen_any(CUSTOMER_ORDER_EVENT, move |e| {
        let _ = shown_tx.send(e.payload().to_owned());
    });
    app.listen_any("counter", move |e| {
        let _ = broadcast_tx.send(e.payload().to_owned());
    });
    for amount in ["3.00", "4.00"] {
        invoke(
            &main,
            "order_charge",
            json!({ "req": { "amount": amount, "channel": "cash" } }),
        )
        .unwrap();
        let order = shown
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the customer display hears of the sale");
        assert!(
            !order.contains("cashier") && order.contains(amount),
            "only what the customer sees: {order}"
        );
    }
    // The feed's loop handles events in order: the second sale's display
    // event came after anything the first one sent to every window.
    assert!(
        broadcast.try_recv().is_err(),
        "order changes are not broadcast to every window"
    );
    let subscribe = invoke(&customer, "counter_subscribe", json!({})).unwrap_err();
    assert!(
        subscribe.to_string().contains("not allowed"),
        "the customer display cannot open the counter's feed: {subscribe}"
    );
    let recent = invoke(&customer, "orders_recent", json!({ "limit": 10 }));
    assert!(
        recent.is_err(),
        "the day's sales stay off the customer display"
    );
    let search = invoke(
        &customer,
        "orders_search",
        json!({ "query": "", "limit": 10 }),
    );
    assert!(search.is_err(), "and so does the search");
    let current = invoke(&customer, "order_current", json!({})).unwrap();
    assert_eq!(
        current,
        Value::Null,
        "a finished cash sale is not on screen"
    );
    assert!(invoke(&customer, "terminal_get", json!({})).is_ok());
}

fn capability_commands(file: &str) -> BTreeSet<String> {
    let path = format!("{}/capabilities/{file}", env!("CARGO_MANIFEST_DIR"));
    let cap: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cap["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect()
}

/// The command names of every `invoke("name"` or `invoke<T>("name"` call.
fn invoked(ts: &str) -> BTreeSet<String> {
    ts.split("invoke")
        .skip(1)
        .filter_map(|rest| {
            let rest = match rest.strip_prefix('<') {
                Some(generic) => &generic[generic.find(">(")? + 1..],
                None => rest,
            };
            rest.strip_prefix("(\"")?
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn command_names_are_the_same_in_every_place_that_names_them() {
    let root = env!("CARGO_MANIFEST_DIR");
    let listed: BTreeSet<String> = roles::command_names()
        .into_iter()
        .map(str::to_owned)
        .collect();

    let lib = std::fs::read_to_string(format!("{root}/src/lib.rs")).unwrap();
    let handler = lib
        .split("generate_handler![")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    let registered: BTreeSet<String> = handler
        .split(',')
        .filter_map(|path| path.trim().rsplit("::").next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(registered, listed, "generate_handler! vs commands.list");

    let mut capabilities = BTreeSet::new();
    for entry in std::fs::read_dir(format!("{root}/capabilities")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        capabilities.extend(capability_commands(&name));
    }
    assert_eq!(capabilities, listed, "capabilities/*.json vs commands.list");

    let client = std::fs::read_to_string(format!("{root}/../ui/src/api/client.ts")).unwrap();
    assert_eq!(
        invoked(&client),
        listed,
        "ui/src/api/client.ts vs commands.list"
    );

    let build = std::fs::read_to_string(format!("{root}/build.rs")).unwrap();
    assert!(
        build.contains("crates/api/commands.list"),
        "build.rs reads the list"
    );

    let customer = capability_commands("customer.json");
    assert_eq!(
        customer,
        ["order_current", "terminal_get"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        "the customer display reads only its order and the store"
    );
}
