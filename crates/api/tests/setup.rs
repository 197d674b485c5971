//! A real store's first start: store, till number, business day and first
//! manager in one step, on a fresh ledger only, every field checked first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use shouyin_api::roles::StoreSetupRequest;
use shouyin_api::{ChargeRequest, CounterOptions, ErrorCode, InitRequest};
use shouyin_core::ChannelKind;
use shouyin_testkit::TempLedger;

fn request() -> StoreSetupRequest {
    StoreSetupRequest {
        store: " 老街便利店 ".into(),
        terminal: "T07".into(),
        timezone: "Asia/Shanghai".into(),
        day_cutoff: "05:00".into(),
        manager: "店长 陈静".into(),
        pin: "2468".into(),
        pin_again: "2468".into(),
        channels_file: None,
        channels: None,
    }
}

#[tokio::test]
async fn the_store_and_its_first_manager_are_set_up_once_on_a_fresh_ledger() {
    let ledger = TempLedger::new(&InitRequest::new_store(), Utc::now());
    let counter = ledger
        .counter(CounterOptions {
            pin_cost: shouyin_api::PinCost::cheap_for_tests(),
            ..CounterOptions::default()
        })
        .await;
    assert!(counter.terminal_get().await.unwrap().needs_setup);

    // Each bad field is refused, and nothing is written.
    for (bad, what) in [
        (
            StoreSetupRequest {
                timezone: "Mars/Olympus".into(),
                ..request()
            },
            "time zone",
        ),
        (
            StoreSetupRequest {
                day_cutoff: "25:00".into(),
                ..request()
            },
            "cut-off",
        ),
        (
            StoreSetupRequest {
                terminal: "T 07!".into(),
                ..request()
            },
            "terminal",
        ),
        (
            StoreSetupRequest {
                store: "  ".into(),
                ..request()
            },
            "store",
        ),
        (
            StoreSetupRequest {
                pin_again: "2469".into(),
                ..request()
            },
            "PINs",
        ),
        (
            StoreSetupRequest {
                pin: "12".into(),
                pin_again: "12".into(),
                ..request()
            },
            "PIN",
        ),
    ] {
        let e = counter.setup_store(bad).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput, "{what}: {e}");
        let t = counter.terminal_get().await.unwrap();
        assert!(t.needs_setup, "{what}");
        assert_eq!(
            (t.terminal.as_str(), t.store.as_str()),
            ("T01", "门店 Store")
        );
    }

    let manager = counter.setup_store(request()).await.unwrap();
    assert_eq!(manager.name, "店长 陈静");
    let t = counter.terminal_get().await.unwrap();
    assert!(!t.needs_setup);
    assert_eq!(t.store, "老街便利店");
    assert_eq!(t.terminal, "T07");
    assert_eq!(t.timezone, "Asia/Shanghai");
    assert_eq!(t.day_cutoff, "05:00");

    // Once only.
    let again = counter.setup_store(request()).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::Forbidden);

    // Sales carry the till number chosen at set-up.
    counter
        .shift_open("店长 陈静".into(), "200".into())
        .await
        .unwrap();
    let order = counter
        .order_charge(ChargeRequest {
            amount: "3.50".into(),
            channel: ChannelKind::Cash,
            cashier: Some("店长 陈静".into()),
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap();
    assert!(order.order_no.starts_with("T07"), "{}", order.order_no);
    // And the ledger file says so to any reader.
    drop(counter);
    let reopened = shouyin_ledger::Ledger::open_read_only(&ledger.path).unwrap();
    assert_eq!(reopened.terminal().terminal.as_str(), "T07");
    assert_eq!(reopened.terminal().store, "老街便利店");
}
