//! Head office under test: a database (SQLite file or PostgreSQL), its
//! sealing key, a server on loopback, and a direct handle on the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use shouyin_core::TerminalId;
use shouyin_hq::limits::NoticeLimits;
use shouyin_hq::secret::SealKey;
use shouyin_hq::store::{self, Store};
use shouyin_hq::{AppState, Config};
use shouyin_wire::{Event, StoreCode, TerminalInfo};

use crate::pg::{unique_name, PgCluster};

pub use shouyin_hq::DEFAULT_BODY_LIMIT;

/// The admin token of every head office started here.
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A head-office database: a SQLite file in a temporary directory, or a
/// fresh database in the process's shared PostgreSQL cluster.
#[derive(Debug)]
pub struct HqDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl HqDb {
    pub async fn new(backend: Backend) -> HqDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()
                    .unwrap_or_else(|e| panic!("a temporary directory for head office: {e}"));
                HqDb {
                    url: format!("sqlite://{}", dir.path().join("hq.db").display()),
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let cluster = PgCluster::shared()
                    .unwrap_or_else(|e| panic!("PostgreSQL must start for these tests: {e}"));
                let url = cluster
                    .create_database(&unique_name("hq_test"))
                    .await
                    .unwrap_or_else(|e| panic!("creating a test database: {e}"));
                HqDb { url, _dir: None }
            }
        }
    }
}

/// One head-office server process, as far as a test can tell: it runs on
/// a runtime of its own, so [`HqServer::kill`] stops every task at once,
/// mid-request, like a process dying.
#[derive(Debug)]
pub struct HqServer {
    pub addr: SocketAddr,
    /// Served over TLS (`https://`).
    https: bool,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HqServer {
    /// Serve the database at `url` on 127.0.0.1:0.
    pub async fn start(url: &str, key: &SealKey, body_limit: usize) -> HqServer {
        HqServer::start_with(url, key, body_limit, None, None).await
    }

    /// The same, with the notify endpoint's limits set (a benchmark lifts
    /// them), and over HTTPS with the PEM certificate and key in `tls`.
    pub async fn start_with(
        url: &str,
        key: &SealKey,
        body_limit: usize,
        limits: Option<NoticeLimits>,
        tls: Option<(PathBuf, PathBuf)>,
    ) -> HqServer {
        let https = tls.is_some();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime for head office: {e}"));
        let config = Config {
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            body_limit,
            calendar: Default::default(),
            seal_key: key.clone(),
        };
        let url = url.to_owned();
        let (ready, addr) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let store = match store::open(&url).await {
                Ok(store) => store,
                Err(e) => {
                    let _ = ready.send(Err(format!("opening {url}: {e}")));
                    return;
                }
            };
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready.send(Err(format!("binding: {e}")));
                    return;
                }
            };
            let mut state = AppState::new(store, config);
            if let Some(limits) = limits {
                state = state.with_notice_limits(limits);
            }
            let served = match tls {
                Some((cert, key)) => match shouyin_hq::tls::server_config(&cert, &key) {
                    Ok(tls) => {
                        let _ = ready.send(listener.local_addr().map_err(|e| e.to_string()));
                        shouyin_hq::tls::run_tls(listener, state, tls, std::future::pending()).await
                    }
                    Err(e) => {
                        let _ = ready.send(Err(format!("TLS: {e}")));
                        return;
                    }
                },
                None => {
                    let _ = ready.send(listener.local_addr().map_err(|e| e.to_string()));
                    shouyin_hq::run(listener, state, std::future::pending()).await
                }
            };
            if let Err(e) = served {
                panic!("head office stopped: {e}");
            }
        });
        let addr = match addr.await {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => panic!("head office did not start: {e}"),
            Err(_) => panic!("head office did not start"),
        };
        HqServer {
            addr,
            https,
            runtime: Some(runtime),
        }
    }

    pub fn base(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stop at once, connections and all.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for HqServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Head office under test.
#[derive(Debug)]
pub struct Hq {
    pub db: HqDb,
    pub key: SealKey,
    pub server: HqServer,
    /// The same database, opened directly: codes, revocation, checks.
    pub store: Arc<dyn Store>,
    pub body_limit: usize,
    /// The notify endpoint's limits, when not head office's defaults.
    pub notice_limits: Option<NoticeLimits>,
    /// The PEM certificate and key it serves HTTPS with, if it does.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Hq {
    pub async fn start(backend: Backend) -> Hq {
        Hq::start_with_limit(backend, shouyin_hq::DEFAULT_BODY_LIMIT).await
    }

    pub async fn start_with_limit(backend: Backend, body_limit: usize) -> Hq {
        Hq::serve(HqDb::new(backend).await, body_limit).await
    }

    /// Head office with the notify endpoint's limits set.
    pub async fn start_with_notice_limits(backend: Backend, limits: NoticeLimits) -> Hq {
        let mut hq = Hq::start(backend).await;
        hq.notice_limits = Some(limits);
        hq.restart().await;
        hq
    }

    /// Head office serving HTTPS with the PEM certificate and key given.
    pub async fn start_tls(backend: Backend, cert: &Path, key: &Path) -> Hq {
        let mut hq = Hq::start(backend).await;
        hq.tls = Some((cert.to_owned(), key.to_owned()));
        hq.restart().await;
        hq
    }

    /// Serve an existing database with a new sealing key.
    pub async fn serve(db: HqDb, body_limit: usize) -> Hq {
        let key = SealKey::generate(&mut rand::thread_rng());
        let server = HqServer::start(&db.url, &key, body_limit).await;
        let store = store::open(&db.url)
            .await
            .unwrap_or_else(|e| panic!("opening head office's store: {e}"));
        Hq {
            db,
            key,
            server,
            store,
            body_limit,
            notice_limits: None,
            tls: None,
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://`) of the server.
    pub fn base(&self) -> String {
        self.server.base()
    }

    /// Another server process on the same database and key.
    pub async fn second_server(&self) -> HqServer {
        HqServer::start_with(
            &self.db.url,
            &self.key,
            self.body_limit,
            self.notice_limits,
            self.tls.clone(),
        )
        .await
    }

    /// Kill the server (every task at once) and start a new one on the
    /// same database; the address changes.
    pub async fn restart(&mut self) {
        self.server.kill();
        self.server = self.second_server().await;
    }

    /// A one-time enrolment code for a terminal of `store`.
    pub async fn enroll_code(&self, store: &str) -> String {
        let store = StoreCode::parse(store).unwrap_or_else(|e| panic!("{e}"));
        shouyin_hq::issue_enroll_code(self.store.as_ref(), store, Utc::now())
            .await
            .unwrap_or_else(|e| panic!("issuing an enrolment code: {e}"))
    }

    /// Suspend a channel (`reason` given) or lift it (`None`) for a store or,
    /// with `store` `None`, all stores, written straight to the database as
    /// `shouyin hq suspend-channel` does from another process.
    pub async fn control_channel(&self, store: Option<&str>, channel: &str, reason: Option<&str>) {
        use shouyin_hq::store::ControlAction;
        let action = if reason.is_some() {
            ControlAction::Suspend
        } else {
            ControlAction::Lift
        };
        let request = shouyin_wire::ChannelControlRequest {
            store: store.map(|s| StoreCode::parse(s).unwrap_or_else(|e| panic!("{e}"))),
            all_stores: store.is_none(),
            channel: channel.to_owned(),
            reason: reason.map(str::to_owned),
            by: "ops".to_owned(),
        };
        shouyin_hq::control::apply(self.store.as_ref(), action, request, "cli", Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{} {channel}: {e}", action.as_str()));
    }

    /// Revoke a terminal; `false` if no such terminal is enrolled.
    pub async fn revoke(&self, terminal: &str) -> bool {
        let id = TerminalId::parse(terminal).unwrap_or_else(|e| panic!("{e}"));
        shouyin_hq::revoke_terminal(self.store.as_ref(), id, Utc::now())
            .await
            .unwrap_or_else(|e| panic!("revoking {terminal}: {e}"))
    }

    /// Every event head office holds for `terminal`, in order.
    pub async fn events(&self, terminal: &str) -> Vec<Event> {
        let id = TerminalId::parse(terminal).unwrap_or_else(|e| panic!("{e}"));
        let mut out: Vec<Event> = Vec::new();
        loop {
            let after = out.last().map(|e| e.seq).unwrap_or(0);
            let rows = self
                .store
                .events_of(id.clone(), after, 10_000)
                .await
                .unwrap_or_else(|e| panic!("reading head office's events: {e}"));
            if rows.is_empty() {
                return out;
            }
            out.extend(rows.iter().map(|r| {
                r.to_event()
                    .unwrap_or_else(|e| panic!("an unreadable event row of {terminal}: {e}"))
            }));
        }
    }

    /// Import a terminal's rescue file, as `shouyin hq import-rescue` does.
    pub async fn import_rescue(
        &self,
        text: &[u8],
    ) -> Result<shouyin_hq::rescue::RescueImport, shouyin_hq::rescue::RescueError> {
        shouyin_hq::rescue::import(self.store.as_ref(), &self.key, text, Utc::now()).await
    }

    /// What head office knows of `terminal`.
    pub async fn terminal(&self, terminal: &str) -> TerminalInfo {
        self.store
            .terminals()
            .await
            .unwrap_or_else(|e| panic!("listing terminals: {e}"))
            .into_iter()
            .find(|t| t.id.as_str() == terminal)
            .unwrap_or_else(|| panic!("terminal {terminal} is not enrolled at head office"))
    }
}
