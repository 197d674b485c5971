//! Errors keep their kind up to the UI: head office failing is never a
//! payment channel failing, and a channel answer that fails its signature
//! check stays `channel_untrusted` whichever use case met it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use shouyin_api::{ChargeRequest, CounterOptions, ErrorCode, PaymentSettings, PollSchedule};
use shouyin_core::ChannelKind;
use shouyin_testkit::{Sim, TempLedger};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback server that answers every request with `status` and an
/// empty body: a web server that is not head office, or one failing.
async fn answering(status: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_failures_have_their_own_codes() {
    let ledger = TempLedger::demo(Utc::now());
    let counter = ledger.counter(CounterOptions::default()).await;

    // Nobody listens on the port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let e = counter
        .sync_enroll(closed, "CODE-1".into())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::HqUnreachable, "{e:?}");
    assert!(e.message.contains("enrolment at"), "{e:?}");

    // Head office is there but failing.
    let e = counter
        .sync_enroll(answering("503 Service Unavailable").await, "CODE-2".into())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::HqUnreachable, "{e:?}");

    // Something that is not head office answers no.
    let e = counter
        .sync_enroll(answering("404 Not Found").await, "CODE-3".into())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::HqRefused, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_fails_its_signature_check_keeps_its_code() {
    let sim = Sim::start().await;
    let ledger = TempLedger::demo(Utc::now());
    let counter = ledger
        .counter(CounterOptions {
            channels: Sim::channels_of(&sim.credentials_with_timeouts(1500, 100)),
            payments: PaymentSettings {
                // The watcher stays out of the way: the test asks itself.
                schedule: PollSchedule::Fixed(Duration::from_secs(600)),
                probe_every: None,
                ..PaymentSettings::default()
            },
            ..CounterOptions::default()
        })
        .await;
    let order = counter
        .order_charge(ChargeRequest {
            amount: "12.30".into(),
            channel: ChannelKind::Wechat,
            cashier: None,
            note: None,
            force: false,
            tendered: None,
        })
        .await
        .unwrap();
    sim.faults(json!({"bad_signature_rate": 1.0})).await;

    let e = counter
        .order_cancel(order.order_no.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ChannelUntrusted, "cancel: {e:?}");

    let today = Utc::now().date_naive();
    for channel in [ChannelKind::Alipay, ChannelKind::Wechat] {
        let e = counter.reconcile_fetch(channel, today).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::ChannelUntrusted, "{channel} bill: {e:?}");
    }
    counter.shutdown().await;
}
