//! Payment notifications end to end over loopback: the simulator pushes the
//! channel's real notification to a small receiver, and the receiver's
//! bytes must pass `Channel::open_notification`.
//!
//! Each scenario runs for both channels (the `scenarios!` macro), each
//! with its own simulator and receiver on `127.0.0.1:0`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::Sim;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};
use shouyin_channels::{Channel, ChannelError, CreateQr, PaymentNotice};
use shouyin_core::ChannelKind;
use tokio::sync::mpsc;

impl Sim {
    fn client(&self, under: ChannelKind) -> Arc<dyn Channel> {
        self.creds.build().unwrap().get(&under).cloned().unwrap()
    }

    async fn pay(&self, under: ChannelKind, out_trade_no: &str) {
        let r = self
            .control
            .post(format!(
                "{}/_sim/trades/{out_trade_no}/pay?channel={under}",
                self.base
            ))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "pay: {}", r.status());
    }

    /// The simulator's delivery log for one trade.
    async fn attempts(&self, out_trade_no: &str) -> Vec<Value> {
        let all: Vec<Value> = self
            .control
            .get(format!("{}/_sim/notifications", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.into_iter()
            .filter(|a| a["out_trade_no"] == out_trade_no)
            .collect()
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

#[derive(Clone)]
struct ReceiverState {
    /// Answers to give first, in order; afterwards the channel's success
    /// answer (`success` or 204).
    script: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
    ack: (u16, &'static str),
    seen: mpsc::UnboundedSender<Received>,
}

/// The merchant side: a receiver on loopback that records every POST.
struct Receiver {
    url: String,
    seen: mpsc::UnboundedReceiver<Received>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    async fn start(under: ChannelKind, script: &[(u16, &'static str)]) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = ReceiverState {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            ack: match under {
                ChannelKind::Alipay => (200, "success"),
                _ => (204, ""),
            },
            seen: tx,
        };
        let app = axum::Router::new()
            .route("/notify", axum::routing::post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            url,
            seen: rx,
            stop: Some(stop),
        }
    }

    async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.seen.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let _ = state.seen.send(Received {
        headers: pairs,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let (status, text) = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(state.ack);
    (StatusCode::from_u16(status).unwrap(), text).into_response()
}

fn out_trade_no(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "N{}{tag}{}",
        Utc::now().format("%H%M%S%3f"),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn qr(out_trade_no: &str, fen: i64, notify_url: Option<&str>) -> CreateQr {
    CreateQr {
        out_trade_no: out_trade_no.to_owned(),
        amount_fen: fen,
        subject: "通知 notify & test+1".to_owned(),
        expires_at: Utc::now() + chrono::Duration::minutes(5),
        notify_url: notify_url.map(str::to_owned),
    }
}

/// Create a QR that notifies `receiver`, pay it, and return the order number.
async fn paid(
    sim: &Sim,
    under: ChannelKind,
    channel: &dyn Channel,
    receiver: &Receiver,
    fen: i64,
) -> String {
    let no = out_trade_no("P");
    channel
        .create_qr(&qr(&no, fen, Some(&receiver.url)))
        .await
        .unwrap();
    sim.pay(under, &no).await;
    no
}

fn open(channel: &dyn Channel, r: &Received) -> Result<PaymentNotice, ChannelError> {
    channel.open_notification(&r.headers, &r.body, Utc::now())
}

// ---- scenarios -------------------------------------------------------------

async fn paid_trade_is_notified_and_verifies(under: ChannelKind) {
    let sim = Sim::start().await;
    let channel = sim.client(under);
    let mut receiver = Receiver::start(under, &[]).await;
    let no = paid(&sim, under, channel.as_ref(), &receiver, 1230).await;

    let got = receiver
        .next(Duration::from_secs(10))
        .await
        .expect("a notification within 10 s of the payment");
    let notice = open(channel.as_ref(), &got).unwrap();
    assert_eq!(notice.out_trade_no, no);
    assert!(notice.paid);
    assert_eq!(notice.amount_fen, Some(1230));
    let queried = channel.query(&no).await.unwrap();
    assert_eq!(notice.trade_no, queried.channel_trade_no);
    assert_eq!(notice.paid_at, queried.paid_at);

    // Delivered once: the success answer stops the retries.
    assert!(receiver.next(Duration::from_millis(1500)).await.is_none());
    let log = sim.attempts(&no).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["attempt"], 1);
    assert_eq!(log[0]["delivered"], true);
    assert_eq!(log[0]["channel"], under.as_str());
    assert_eq!(log[0]["url"], receiver.url.as_str());
    let status = log[0]["status"].as_u64().unwrap();
    assert!((200..300).contains(&status), "{status}");
}

async fn failed_answer_gets_a_retry(under: ChannelKind) {
    let sim = Sim::start().await;
    let channel = sim.client(under);
    // WeChat: a 500. Alipay: a 200 whose body is not exactly `success`.
    let first = match under {
        ChannelKind::Alipay => (200, "fail"),
        _ => (500, r#"{"code":"FAIL","message":"busy"}"#),
    };
    let mut receiver = Receiver::start(under, &[first]).await;
    let no = paid(&sim, under, channel.as_ref(), &receiver, 88).await;

    let one = receiver.next(Duration::from_secs(10)).await.unwrap();
    let two = receiver
        .next(Duration::from_secs(10))
        .await
        .expect("a retry after the refused first attempt");
    let gap = two.at - one.at;
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_secs(5),
        "{gap:?}"
    );
    for r in [&one, &two] {
        let notice = open(channel.as_ref(), r).unwrap();
        assert_eq!(
            (notice.out_trade_no.as_str(), notice.amount_fen),
            (no.as_str(), Some(88))
        );
    }
    assert!(receiver.next(Duration::from_millis(2500)).await.is_none());
    let log = sim.attempts(&no).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(
        (log[0]["attempt"].as_u64(), log[0]["delivered"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(log[0]["status"].as_u64(), Some(u64::from(first.0)));
    assert!(log[0]["error"].as_str().is_some());
    assert_eq!(
        (log[1]["attempt"].as_u64(), log[1]["delivered"].as_bool()),
        (Some(2), Some(true))
    );
}

async fn dropped_notifications_are_never_sent(under: ChannelKind) {
    let sim = Sim::start().await;
    let channel = sim.client(under);
    sim.faults(json!({"notify_drop_rate": 1.0})).await;
    let mut receiver = Receiver::start(under, &[]).await;
    let no = paid(&sim, under, channel.as_ref(), &receiver, 500).await;

    assert!(
        receiver.next(Duration::from_secs(3)).await.is_none(),
        "a dropped notification arrived"
    );
    let log = sim.attempts(&no).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["attempt"], 0);
    assert_eq!(log[0]["delivered"], false);
    assert!(log[0]["error"]
        .as_str()
        .unwrap()
        .contains("notify_drop_rate"));
    // The payment itself happened: a query still finds it.
    assert_eq!(
        channel.query(&no).await.unwrap().status,
        shouyin_channels::RemoteStatus::Paid
    );
}

async fn tampered_in_transit_fails(under: ChannelKind) {
    let sim = Sim::start().await;
    let channel = sim.client(under);
    let mut receiver = Receiver::start(under, &[]).await;
    paid(&sim, under, channel.as_ref(), &receiver, 1230).await;
    let got = receiver.next(Duration::from_secs(10)).await.unwrap();
    assert!(open(channel.as_ref(), &got).is_ok());

    let untrusted = |headers: &[(String, String)], body: &[u8]| {
        matches!(
            channel.open_notification(headers, body, Utc::now()),
            Err(ChannelError::Untrusted { .. })
        )
    };
    let text = String::from_utf8(got.body.clone()).unwrap();
    match under {
        ChannelKind::Alipay => {
            assert!(text.contains("total_amount=12.30"), "{text}");
            let more = text.replace("total_amount=12.30", "total_amount=99.30");
            assert!(untrusted(&got.headers, more.as_bytes()));
            let unsigned: String = text
                .split('&')
                .filter(|p| !p.starts_with("sign="))
                .collect::<Vec<_>>()
                .join("&");
            assert!(untrusted(&got.headers, unsigned.as_bytes()));
        }
        _ => {
            let changed = text.replace("支付成功", "支付失败");
            assert_ne!(changed, text);
            assert!(untrusted(&got.headers, changed.as_bytes()));
            let mut no_signature = got.headers.clone();
            no_signature.retain(|(k, _)| !k.eq_ignore_ascii_case("wechatpay-signature"));
            assert!(untrusted(&no_signature, &got.body));
            // Replayed ten minutes later.
            assert!(matches!(
                channel.open_notification(
                    &got.headers,
                    &got.body,
                    Utc::now() + chrono::Duration::minutes(10)
                ),
                Err(ChannelError::Untrusted { .. })
            ));
        }
    }
    // A notification for this merchant is worthless to the other channel.
    let other = match under {
        ChannelKind::Alipay => ChannelKind::Wechat,
        _ => ChannelKind::Alipay,
    };
    assert!(untrusted_by(sim.client(other).as_ref(), &got));
}

fn untrusted_by(channel: &dyn Channel, r: &Received) -> bool {
    matches!(open(channel, r), Err(ChannelError::Untrusted { .. }))
}

async fn unanswered_url_is_retried_cheaply(under: ChannelKind) {
    let sim = Sim::start().await;
    let channel = sim.client(under);
    // A port that was just free: nobody answers there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/notify", l.local_addr().unwrap())
    };
    let no = out_trade_no("D");
    channel.create_qr(&qr(&no, 100, Some(&dead))).await.unwrap();
    let t0 = Instant::now();
    sim.pay(under, &no).await;
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "paying waited for the notification"
    );
    let mut log = Vec::new();
    for _ in 0..60 {
        log = sim.attempts(&no).await;
        if log.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(log.len() >= 2, "{log:#?}");
    for a in &log {
        assert_eq!(a["delivered"], false);
        assert!(a["status"].is_null());
        assert!(a["error"].as_str().unwrap().contains("connect"), "{a}");
    }
}

macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {
        mod alipay {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(shouyin_core::ChannelKind::Alipay).await;
                }
            )*
        }
        mod wechat {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(shouyin_core::ChannelKind::Wechat).await;
                }
            )*
        }
    };
}

scenarios!(
    paid_trade_is_notified_and_verifies,
    failed_answer_gets_a_retry,
    dropped_notifications_are_never_sent,
    tampered_in_transit_fails,
    unanswered_url_is_retried_cheaply,
);

/// Without a notify URL, WeChat orders carry the configured default (which
/// nobody serves in tests) and Alipay orders carry none: nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_without_a_notify_url() {
    let sim = Sim::start().await;
    let alipay = sim.client(ChannelKind::Alipay);
    let no = out_trade_no("A");
    alipay.create_qr(&qr(&no, 100, None)).await.unwrap();
    sim.pay(ChannelKind::Alipay, &no).await;

    let wechat = sim.client(ChannelKind::Wechat);
    let wx = out_trade_no("W");
    wechat.create_qr(&qr(&wx, 100, None)).await.unwrap();
    sim.pay(ChannelKind::Wechat, &wx).await;
    let mut log = Vec::new();
    for _ in 0..50 {
        log = sim.attempts(&wx).await;
        if !log.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!log.is_empty(), "WeChat got no notify_url");
    assert_eq!(
        log[0]["url"], "https://localhost/shouyin/wechatpay/notify",
        "{log:#?}"
    );
    assert_eq!(log[0]["delivered"], false);
    assert!(sim.attempts(&no).await.is_empty());
}
