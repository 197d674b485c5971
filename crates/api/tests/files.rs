//! The office's files and fixes: "open folder" is only for the folder of a
//! file the till exported, and reconcile's 补录 asks the channel and records
//! its answer. A real ledger file and the channel simulator over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use shouyin_api::export::ExportRequest;
use shouyin_api::{Counter, CounterOptions, ErrorCode, InitRequest, PaymentSettings};
use shouyin_channels::CreateQr;
use shouyin_core::{ChannelKind, OrderState};

async fn counter(dir: &Path, sim: &Sim) -> (Counter, std::path::PathBuf) {
    let db = dir.join("ledger.db");
    shouyin_api::init_ledger(&db, &InitRequest::demo(), Utc::now()).unwrap();
    let counter = Counter::open_ledger(
        &db,
        CounterOptions {
            channels: sim.channels(),
            payments: PaymentSettings {
                probe_every: None,
                ..PaymentSettings::default()
            },
            ..CounterOptions::default()
        },
    )
    .await
    .unwrap();
    (counter, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_folder_opens_only_an_exported_files_own_folder_and_says_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let (counter, _db) = counter(dir.path(), &sim).await;
    let out = dir.path().join("exports");
    std::fs::create_dir_all(&out).unwrap();
    let today = Utc::now().date_naive().to_string();
    let done = counter
        .export_csv(
            out.join("sales.csv"),
            ExportRequest {
                from: today.clone(),
                to: today,
                channel: None,
                no_bom: false,
                overwrite: false,
            },
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(counter.export_folder(&done.path).unwrap(), out);

    // Anything else is refused, typed, whatever it names.
    for other in [
        "/etc",
        "/etc/passwd",
        &format!("{}/../x.csv", out.display()),
    ] {
        let e = counter.export_folder(other).unwrap_err();
        assert_eq!(e.code, ErrorCode::ExportPathForbidden, "{other}");
        assert_eq!(e.fields["detail"], "not_exported");
    }

    std::fs::remove_dir_all(&out).unwrap();
    let e = counter.export_folder(&done.path).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(e.fields["detail"], "folder_missing");
    assert_eq!(e.fields["folder"], out.display().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_recheck_records_what_the_channel_says_and_refuses_what_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(&dir.path().join("sim")).await;
    let (counter, db) = counter(dir.path(), &sim).await;

    // The ledger closed the order; the customer paid it all the same (the
    // bill shows it): the status mismatch that 补录 fixes.
    let order_no = "T01_20261130120000_000777";
    let now = shouyin_ledger::ts(Utc::now());
    let c = rusqlite::Connection::open(&db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute(
        "INSERT INTO orders (out_trade_no, store, terminal, amount_fen, currency, channel, state,
                             created_at, updated_at, business_date, qr_payload)
         VALUES (?1, 'S', 'T01', 4321, 'CNY', 'wechat', 'closed', ?2, ?2, ?3, 'weixin://x')",
        rusqlite::params![order_no, now, Utc::now().date_naive().to_string()],
    )
    .unwrap();
    let channels = sim.channels();
    channels[&ChannelKind::Wechat]
        .create_qr(&CreateQr {
            out_trade_no: order_no.into(),
            amount_fen: 4321,
            subject: "测试".into(),
            expires_at: Utc::now() + chrono::Duration::minutes(5),
            notify_url: None,
        })
        .await
        .unwrap();
    sim.pay(order_no).await;

    let fixed = counter.reconcile_recheck(order_no.into()).await.unwrap();
    assert_eq!(fixed.state, OrderState::Paid, "{fixed:?}");

    let e = counter
        .reconcile_recheck("T01_20261130120000_000999".into())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(e.fields["detail"], "not_in_ledger");

    let e = counter
        .reconcile_recheck("../../etc".into())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert_eq!(e.fields["detail"], "order_no");
}
