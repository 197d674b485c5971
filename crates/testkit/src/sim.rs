//! The channel simulator on a loopback port, and its control API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use shouyin_channels::{Channel, ChannelsFile};
use shouyin_core::ChannelKind;

/// A running simulator. It stops when this is dropped.
#[derive(Debug)]
pub struct Sim {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The simulator's state directory (keys, trades, `credentials.json`).
    pub dir: PathBuf,
    /// For the control API and the customer page.
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Sim {
    /// A simulator with its state in a temporary directory of its own.
    pub async fn start() -> Sim {
        let tmp = tempfile::tempdir()
            .unwrap_or_else(|e| panic!("a temporary directory for the simulator: {e}"));
        let mut sim = Sim::start_in(tmp.path()).await;
        sim._tmp = Some(tmp);
        sim
    }

    /// A simulator keeping its state in `dir` (created if missing; an
    /// existing state is reopened, keys and trades included).
    pub async fn start_in(dir: &Path) -> Sim {
        Sim::start_with(dir, shouyin_sim::SimConfig::default()).await
    }

    /// [`Sim::start_in`] with a clock, fault seed or notification schedule.
    ///
    /// Returns once the state is open — its keys made and
    /// `credentials.json` written — with the port already bound, so the
    /// first request is queued rather than refused: no polling needed.
    pub async fn start_with(dir: &Path, config: shouyin_sim::SimConfig) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the simulator's port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the simulator's address: {e}"));
        let state_dir = dir.to_owned();
        // Making the RSA keys on first start takes seconds: not on the
        // runtime's own threads.
        let state = tokio::task::spawn_blocking(move || {
            shouyin_sim::SimState::open(&state_dir, addr, config)
        })
        .await
        .unwrap_or_else(|e| panic!("opening the simulator's state: {e}"))
        .unwrap_or_else(|e| panic!("opening the simulator's state in {}: {e}", dir.display()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            if let Err(e) = shouyin_sim::serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            {
                panic!("the simulator stopped: {e}");
            }
        });
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("an HTTP client: {e}"));
        Sim {
            base: format!("http://{addr}"),
            dir: dir.to_owned(),
            http,
            stop: Some(stop),
            _tmp: None,
        }
    }

    /// The merchant's view of the demo accounts: the channels file a
    /// terminal is configured with.
    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join(shouyin_sim::CREDENTIALS_FILE)
    }

    /// `credentials.json` as JSON, to adjust before use.
    pub fn credentials(&self) -> Value {
        let path = self.credentials_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `credentials.json` with short timeouts, so a lost answer shows in
    /// `timeout_ms` and Alipay's cancel retries come `cancel_retry_gap_ms`
    /// apart.
    pub fn credentials_with_timeouts(&self, timeout_ms: u64, cancel_retry_gap_ms: u64) -> Value {
        let mut creds = self.credentials();
        for section in ["alipay", "wechatpay", "unionpay"] {
            creds[section]["timeout_ms"] = json!(timeout_ms);
            creds[section]["cancel_retry_gap_ms"] = json!(cancel_retry_gap_ms);
        }
        creds
    }

    /// The channels file as the channel clients read it.
    pub fn channels_file(&self) -> ChannelsFile {
        ChannelsFile::load(&self.credentials_path())
            .unwrap_or_else(|e| panic!("the simulator's channels file: {e}"))
    }

    /// The channel clients of a channels file given as JSON (e.g. from
    /// [`Sim::credentials_with_timeouts`]).
    pub fn channels_of(credentials: &Value) -> HashMap<ChannelKind, Arc<dyn Channel>> {
        ChannelsFile::from_json(&credentials.to_string())
            .and_then(|f| f.build())
            .unwrap_or_else(|e| panic!("the simulator's channels file: {e}"))
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "the simulator refused {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The customer pays (any channel: the order number finds the trade).
    pub async fn pay(&self, order_no: &str) {
        self.control(
            reqwest::Method::POST,
            &format!("/_sim/trades/{order_no}/pay"),
            None,
        )
        .await;
    }

    /// The customer declines.
    pub async fn decline(&self, order_no: &str) {
        self.control(
            reqwest::Method::POST,
            &format!("/_sim/trades/{order_no}/decline"),
            None,
        )
        .await;
    }

    /// The customer scans the code (opens it on the customer page).
    pub async fn scan(&self, qr: &str) {
        let response = self
            .http
            .get(format!("{}/pay", self.base))
            .query(&[("code", qr)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator /pay: {e}"));
        assert!(
            response.status().is_success(),
            "scan: {}",
            response.status()
        );
    }

    /// The simulated phone shows a fresh payment code (付款码) of `channel`
    /// (`"alipay"`, `"wechat"` or `"unionpay"`); `password`: the customer must confirm
    /// on the phone; `balance_fen`: what the customer can spend.
    pub async fn paycode(&self, channel: &str, password: bool, balance_fen: Option<i64>) -> String {
        let mut body = json!({"channel": channel, "password": password});
        if let Some(b) = balance_fen {
            body["balance_fen"] = json!(b);
        }
        let answer = self
            .control(reqwest::Method::POST, "/_sim/paycodes", Some(body))
            .await;
        answer["code"]
            .as_str()
            .unwrap_or_else(|| panic!("the simulator gave no code: {answer}"))
            .to_owned()
    }

    /// The customer confirms (`"confirm"`) or gives up (`"decline"`) on the
    /// phone; the simulator's HTTP status (409 when the till already ended
    /// the payment).
    pub async fn phone(&self, code: &str, action: &str) -> reqwest::StatusCode {
        self.http
            .post(format!("{}/_sim/paycodes/{code}/{action}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("simulator /_sim/paycodes/{code}/{action}: {e}"))
            .status()
    }

    /// Inject faults on the protocol endpoints (`{"latency_ms": 250}`, …).
    pub async fn faults(&self, faults: Value) {
        self.control(reqwest::Method::PUT, "/_sim/faults", Some(faults))
            .await;
    }

    pub async fn clear_faults(&self) {
        self.control(reqwest::Method::DELETE, "/_sim/faults", None)
            .await;
    }

    /// Every trade the simulator holds.
    pub async fn trades(&self) -> Vec<Value> {
        match self
            .control(reqwest::Method::GET, "/_sim/trades", None)
            .await
        {
            Value::Array(trades) => trades,
            other => panic!("the simulator's trade list is not a list: {other}"),
        }
    }

    /// The simulator's view of one trade. A UnionPay trade is kept under
    /// the number without its `_` separators (ACP order numbers are letters
    /// and digits only).
    pub async fn trade(&self, order_no: &str) -> Option<Value> {
        let compact: String = order_no.chars().filter(|c| *c != '_').collect();
        self.trades().await.into_iter().find(|t| {
            t["out_trade_no"] == order_no
                || (t["channel"] == "unionpay" && t["out_trade_no"] == compact.as_str())
        })
    }

    /// The payment notifications the simulator tried to deliver, oldest first.
    pub async fn notifications(&self) -> Vec<Value> {
        match self
            .control(reqwest::Method::GET, "/_sim/notifications", None)
            .await
        {
            Value::Array(list) => list,
            other => panic!("the simulator's notification list is not a list: {other}"),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
