//! The channel simulator, started in-process on a loopback port, and its
//! control API, shared by the api's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shouyin_channels::{Channel, ChannelsFile};
use shouyin_core::ChannelKind;

pub struct Sim {
    pub base: String,
    pub http: reqwest::Client,
    pub credentials: Value,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Sim {
    pub async fn start(dir: &Path) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = dir.to_owned();
        tokio::spawn(async move {
            shouyin_sim::run(listener, &state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let base = format!("http://{addr}");
        let http = reqwest::Client::new();
        let creds_path = dir.join("credentials.json");
        let started = Instant::now();
        while !creds_path.exists()
            || http
                .get(format!("{base}/_sim/trades"))
                .send()
                .await
                .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the simulator did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let credentials: Value =
            serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap()).unwrap();
        Sim {
            base,
            http,
            credentials,
            _stop: stop,
        }
    }

    /// The channels, with a short request timeout so lost answers show
    /// quickly and a short gap between Alipay cancel retries.
    pub fn channels(&self) -> HashMap<ChannelKind, Arc<dyn Channel>> {
        let mut creds = self.credentials.clone();
        for section in ["alipay", "wechatpay"] {
            creds[section]["timeout_ms"] = json!(1500);
            creds[section]["cancel_retry_gap_ms"] = json!(100);
        }
        ChannelsFile::from_json(&creds.to_string())
            .unwrap()
            .build()
            .unwrap()
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    pub async fn pay(&self, order_no: &str) {
        let r = self
            .control(
                reqwest::Method::POST,
                &format!("/_sim/trades/{order_no}/pay"),
                None,
            )
            .await;
        assert!(
            r.status().is_success(),
            "pay {order_no}: {}",
            r.text().await.unwrap()
        );
    }

    /// The customer scans the code (opens it on the customer page).
    pub async fn scan(&self, qr: &str) {
        let r = self
            .http
            .get(format!("{}/pay", self.base))
            .query(&[("code", qr)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "scan: {}", r.status());
    }

    pub async fn decline(&self, order_no: &str) {
        let r = self
            .control(
                reqwest::Method::POST,
                &format!("/_sim/trades/{order_no}/decline"),
                None,
            )
            .await;
        assert!(
            r.status().is_success(),
            "decline {order_no}: {}",
            r.text().await.unwrap()
        );
    }

    pub async fn faults(&self, faults: Value) {
        let r = self
            .control(reqwest::Method::PUT, "/_sim/faults", Some(faults))
            .await;
        assert!(r.status().is_success());
    }

    pub async fn clear_faults(&self) {
        let r = self
            .control(reqwest::Method::DELETE, "/_sim/faults", None)
            .await;
        assert!(r.status().is_success());
    }

    /// The simulator's view of one trade.
    pub async fn trade(&self, order_no: &str) -> Option<Value> {
        let list: Value = self
            .control(reqwest::Method::GET, "/_sim/trades", None)
            .await
            .json()
            .await
            .unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["out_trade_no"] == order_no)
            .cloned()
    }

    pub async fn trade_state(&self, order_no: &str) -> Option<String> {
        self.trade(order_no)
            .await
            .map(|t| t["state"].as_str().unwrap().to_owned())
    }

    /// What the channel has refunded on a trade.
    pub async fn refunded_fen(&self, order_no: &str) -> i64 {
        self.trade(order_no).await.unwrap()["refunded_fen"]
            .as_i64()
            .unwrap()
    }
}
