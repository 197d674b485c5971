//! The channel simulator of the test kit, with what the api's tests add:
//! channel clients with short timeouts and a raw view of the control API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use shouyin_channels::Channel;
use shouyin_core::ChannelKind;

pub struct Sim {
    kit: shouyin_testkit::Sim,
    /// `credentials.json` as the simulator wrote it.
    pub credentials: Value,
}

impl std::ops::Deref for Sim {
    type Target = shouyin_testkit::Sim;
    fn deref(&self) -> &Self::Target {
        &self.kit
    }
}

impl Sim {
    pub async fn start(dir: &Path) -> Sim {
        let kit = shouyin_testkit::Sim::start_in(dir).await;
        let credentials = kit.credentials();
        Sim { kit, credentials }
    }

    /// The channels, with a short request timeout so lost answers show
    /// quickly and a short gap between Alipay cancel retries.
    pub fn channels(&self) -> HashMap<ChannelKind, Arc<dyn Channel>> {
        shouyin_testkit::Sim::channels_of(&self.kit.credentials_with_timeouts(1500, 100))
    }

    /// A control request whose answer the test judges itself.
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
