//! `Counter::start`: the one start-up policy the app and the CLI share.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use shouyin_api::{
    ChargeRequest, Counter, CounterOptions, InitRequest, PaymentSettings, PollSchedule, StartPlan,
    StartupStage,
};
use shouyin_core::{ChannelKind, OrderState};
use support::Sim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_resolves_what_the_last_run_left_open_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let db = dir.path().join("ledger.db");
    shouyin_api::init_ledger(&db, &InitRequest::demo(), chrono::Utc::now()).unwrap();
    let options = |sim: &Sim| CounterOptions {
        channels: sim.channels(),
        payments: PaymentSettings {
            probe_every: None,
            // The first run never polls again: only start-up can find out.
            schedule: PollSchedule::Fixed(Duration::from_secs(600)),
            ..PaymentSettings::default()
        },
        ..CounterOptions::default()
    };

    let first = Counter::open_ledger(&db, options(&sim)).await.unwrap();
    let order = first
        .order_charge(ChargeRequest {
            amount: "12.30".into(),
            channel: ChannelKind::Wechat,
            cashier: Some("王芳".into()),
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap();
    assert_eq!(order.state, OrderState::Pending);
    first.shutdown().await;
    drop(first);
    sim.pay(&order.order_no).await;

    let second = Counter::open_ledger(&db, options(&sim)).await.unwrap();
    let startup = second.start(StartPlan::RECOVERY_ONLY);
    let report = startup
        .finished(Duration::from_secs(30))
        .await
        .expect("recovery finishes");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let recovered = report
        .orders
        .iter()
        .find(|o| o.order_no == order.order_no)
        .expect("the open order is in the report");
    assert_eq!(recovered.state, OrderState::Paid);
    assert!(matches!(startup.stage(), StartupStage::Finished(_)));
    second.shutdown().await;
}
