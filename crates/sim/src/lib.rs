//! The payment-channel simulator: a loopback server that speaks the Alipay
//! open-platform gateway (face-to-face QR), WeChat Pay API v3 (Native) and
//! UnionPay ACP 5.1.0 (back-end gateway, with certificates of its own)
//! wire protocols, so the counter can take a payment end to end without the
//! real channels.
//!
//! It is an implementation of the *server* side of those protocols written
//! from the wire facts alone; it shares no code with the client crate, so a
//! mistake in the client's signing cannot be mirrored here.
//!
//! How the parts fit:
//! * [`creds`] makes (once) and reloads the demo merchant accounts: the
//!   merchant's view goes to `credentials.json`, the platform's private keys
//!   stay in the simulator's own `simulator.json`.
//! * [`store`] keeps trades and refunds in a SQLite file (WAL) so they survive
//!   a restart; [`trade`] holds the channel-neutral life cycle.
//! * [`alipay`], [`wechat`] and [`unionpay`] map the wire protocols onto
//!   that life cycle; [`pki`] makes UnionPay's test root, intermediate and
//!   signing certificates;
//!   [`bills`] renders both channels' daily bills from the stored trades.
//! * [`page`] is the "customer phone": a web page listing pending QR codes with
//!   Pay and Decline buttons; [`control`] is the JSON control API for tests.
//! * [`notify`] POSTs the channel's signed payment notification to a paid
//!   trade's `notify_url`, retrying on a compressed schedule.
//! * [`faults`] injects latency, dropped connections, errors, garbled bodies
//!   and bad signatures on the protocol endpoints only; [`net`] provides the
//!   listener that can cut a connection without an answer.
//!
//! Policy choices where the real services leave room (all documented where
//! they are made): an Alipay QR without `timeout_express`/`time_expire`
//! stays payable for 2 hours, as does a WeChat order without `time_expire`;
//! a bill may be fetched for today (what has happened so far), not for a
//! future day; refunds settle at once.

pub mod bills;
pub mod control;
pub mod creds;
pub mod faults;
pub mod net;
pub mod notify;
pub mod page;
pub mod paycode;
pub mod pki;
pub mod sign;
pub mod store;
pub mod trade;
pub mod unionpay_bill;

mod alipay;
mod unionpay;
mod wechat;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};

pub use creds::{AlipayCredentials, Credentials, UnionpayCredentials, WechatpayCredentials};
pub use faults::Faults;

/// Name of the merchant's view of the demo accounts inside the state dir.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// The simulator's own key file (platform private keys) inside the state dir.
pub const SIM_KEYS_FILE: &str = "simulator.json";
/// The trades database inside the state dir.
pub const DB_FILE: &str = "sim.sqlite3";

/// How long a bill download link stays valid (both channels say 30 s).
const DOWNLOAD_TTL: Duration = Duration::from_secs(30);

/// What can stop the simulator from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid simulator state: {source}")]
    StateFile {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("trade database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("trade database {path} was written by a newer simulator (schema {found}, this one knows {known})")]
    IncompatibleDb {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("key material: {0}")]
    Key(String),
    #[error("cannot render bill: {0}")]
    Bill(String),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("startup task failed: {0}")]
    Startup(String),
}

/// Where "now" comes from; tests may pass a fixed or shifted clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Knobs for a simulator instance beyond its state directory.
#[derive(Clone)]
pub struct SimConfig {
    /// Source of the current time for expiry, timestamps and bills.
    pub clock: Clock,
    /// Seed of the random generator that decides which requests get a fault,
    /// so a fault pattern can be replayed.
    pub fault_seed: u64,
    /// Pauses between payment-notification attempts; after the last one
    /// the notification is given up. Default 1, 2, 4, 8, 16 s.
    pub notify_retry_delays: Vec<Duration>,
    /// How long an Alipay code payment waits for the customer's password
    /// before the trade closes (Alipay leaves this to the merchant's
    /// contract; WeChat's 45 s is fixed). Default 60 s.
    pub alipay_code_window: Duration,
}

/// The default Alipay password window.
pub const ALIPAY_CODE_WINDOW: Duration = Duration::from_secs(60);

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("fault_seed", &self.fault_seed)
            .field("notify_retry_delays", &self.notify_retry_delays)
            .field("alipay_code_window", &self.alipay_code_window)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        let seed = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
        SimConfig {
            clock: Arc::new(Utc::now),
            fault_seed: seed,
            notify_retry_delays: notify::default_retry_delays(),
            alipay_code_window: ALIPAY_CODE_WINDOW,
        }
    }
}

/// A bill waiting to be fetched through a short-lived link.
#[derive(Debug, Clone)]
pub(crate) struct Download {
    /// The file bytes, rendered when the link was issued (the link points at
    /// a snapshot, like the real services' prepared files).
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub file_name: String,
    pub expires_at: DateTime<Utc>,
}

/// Shared state of one running simulator. Cheap to clone.
#[derive(Clone)]
pub struct SimState(Arc<Inner>);

struct Inner {
    /// `http://host:port` that the URLs handed to clients (QR pages, bill
    /// links) point at.
    base_url: String,
    /// Identities and keys of both demo merchants and both platforms.
    keys: creds::SimKeys,
    /// Trades and refunds; one lock makes every protocol call atomic, which
    /// is what makes the idempotency rules hold under concurrent retries.
    store: Mutex<store::Store>,
    /// Fault settings and their seeded random generator.
    faults: faults::FaultBox,
    clock: Clock,
    /// Bill links issued in the last 30 s, by token.
    downloads: Mutex<HashMap<String, Download>>,
    /// Sends payment notifications and remembers the attempts.
    notifier: notify::Notifier,
    /// How long an Alipay code payment waits for the password.
    alipay_code_window: chrono::Duration,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("base_url", &self.0.base_url)
            .finish_non_exhaustive()
    }
}

impl SimState {
    /// Open (or create) the simulator state in `state_dir`, with URLs pointing
    /// at `public_addr`. Generating the RSA keys on first start takes seconds,
    /// so async callers should run this on a blocking thread.
    pub fn open(
        state_dir: &Path,
        public_addr: SocketAddr,
        config: SimConfig,
    ) -> Result<SimState, SimError> {
        std::fs::create_dir_all(state_dir).map_err(|source| SimError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let base_url = format!("http://{}", reachable(public_addr));
        let keys = creds::load_or_create(state_dir, &base_url)?;
        let store = store::Store::open(&state_dir.join(DB_FILE))?;
        let notifier = notify::Notifier::new(config.notify_retry_delays)?;
        Ok(SimState(Arc::new(Inner {
            base_url,
            keys,
            store: Mutex::new(store),
            faults: faults::FaultBox::new(config.fault_seed),
            clock: config.clock,
            downloads: Mutex::new(HashMap::new()),
            notifier,
            alipay_code_window: chrono::Duration::from_std(config.alipay_code_window)
                .unwrap_or(chrono::Duration::seconds(60)),
        })))
    }

    /// `http://host:port` of this simulator.
    pub fn base_url(&self) -> &str {
        &self.0.base_url
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.0.clock)()
    }

    pub(crate) fn keys(&self) -> &creds::SimKeys {
        &self.0.keys
    }

    pub(crate) fn faults(&self) -> &faults::FaultBox {
        &self.0.faults
    }

    pub(crate) fn notifier(&self) -> &notify::Notifier {
        &self.0.notifier
    }

    pub(crate) fn alipay_code_window(&self) -> chrono::Duration {
        self.0.alipay_code_window
    }

    /// The store, even if an earlier holder panicked: every write is one
    /// SQLite transaction, so the data itself cannot be half-done.
    pub(crate) fn store(&self) -> MutexGuard<'_, store::Store> {
        self.0
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Register a bill for download and return its token.
    pub(crate) fn offer_download(&self, download: Download) -> String {
        let token = trade::random_alnum(32);
        let now = self.now();
        let mut map = self
            .0
            .downloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, d| d.expires_at > now);
        map.insert(token.clone(), download);
        token
    }

    /// The bill behind a token, if the link has not expired.
    pub(crate) fn take_download(&self, token: &str) -> Option<Download> {
        let now = self.now();
        let map = self
            .0
            .downloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(token).filter(|d| d.expires_at > now).cloned()
    }

    pub(crate) fn download_expiry(&self) -> DateTime<Utc> {
        self.now() + chrono::Duration::from_std(DOWNLOAD_TTL).unwrap_or_default()
    }
}

/// A wildcard bind address is not something a client can dial; use loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// Every route of the simulator. Faults are layered onto the protocol routes
/// only; the customer page and the control API always answer truthfully.
pub fn app(state: SimState) -> Router {
    let protocol = Router::new()
        .route("/gateway.do", get(alipay::gateway).post(alipay::gateway))
        .route("/alipay/bill/download", get(alipay::download))
        .route("/v3/pay/transactions/native", post(wechat::create_native))
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}",
            get(wechat::query_by_out_trade_no),
        )
        .route(
            "/v3/pay/transactions/id/{transaction_id}",
            get(wechat::query_by_transaction_id),
        )
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
            post(wechat::close),
        )
        .route("/v3/pay/transactions/codepay", post(wechat::codepay))
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/reverse",
            post(wechat::reverse),
        )
        .route("/v3/refund/domestic/refunds", post(wechat::refund))
        .route(
            "/v3/refund/domestic/refunds/{out_refund_no}",
            get(wechat::query_refund),
        )
        .route("/v3/bill/tradebill", get(wechat::trade_bill))
        .route("/gateway/api/backTransReq.do", post(unionpay::back_trans))
        .route("/gateway/api/queryTrans.do", post(unionpay::query_trans))
        .route("/filedownload/", post(unionpay::file_transfer))
        .route("/v3/billdownload/file", get(wechat::download_bill))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::apply,
        ));
    let local = Router::new()
        .route("/", get(page::index))
        .route("/pay", get(page::open_code))
        .route("/_sim/trades", get(control::list_trades))
        .route("/_sim/trades/{out_trade_no}/pay", post(control::pay))
        .route(
            "/_sim/trades/{out_trade_no}/decline",
            post(control::decline),
        )
        .route("/_sim/notifications", get(control::list_notifications))
        .route(
            "/_sim/paycodes",
            get(control::list_paycodes).post(control::issue_paycode),
        )
        .route(
            "/_sim/paycodes/{code}/confirm",
            post(control::confirm_paycode),
        )
        .route(
            "/_sim/paycodes/{code}/decline",
            post(control::decline_paycode),
        )
        .route(
            "/_sim/faults",
            get(control::get_faults)
                .put(control::put_faults)
                .delete(control::clear_faults),
        );
    protocol.merge(local).with_state(state)
}

/// Serve the simulator on `listener` until `shutdown` completes, keeping its
/// state in `state_dir`.
pub async fn run(
    listener: tokio::net::TcpListener,
    state_dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    run_with(listener, state_dir, SimConfig::default(), shutdown).await
}

/// [`run`] with an explicit clock and fault seed.
pub async fn run_with(
    listener: tokio::net::TcpListener,
    state_dir: &Path,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let addr = listener.local_addr().map_err(SimError::Serve)?;
    let dir = state_dir.to_path_buf();
    let state = tokio::task::spawn_blocking(move || SimState::open(&dir, addr, config))
        .await
        .map_err(|e| SimError::Startup(e.to_string()))??;
    serve(listener, state, shutdown).await
}

/// Serve an already opened state on `listener` until `shutdown` completes.
/// For callers that want to report the URLs before serving; `listener` must
/// be bound to the address the state was opened with.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: SimState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    tracing::info!(base_url = state.base_url(), "payment simulator listening");
    let make_service = app(state).into_make_service_with_connect_info::<net::ConnHandle>();
    axum::serve(net::SimListener::new(listener), make_service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(SimError::Serve)
}
