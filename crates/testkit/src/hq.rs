//! Head office under test: a database (SQLite file or PostgreSQL), its
//! sealing key, a server on loopback, and a direct handle on the store.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use shouyin_core::TerminalId;
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
    runtime: Option<tokio::runtime::Runtime>,
}

impl HqServer {
    /// Serve the database at `url` on 127.0.0.1:0.
    pub async fn start(url: &str, key: &SealKey, body_limit: usize) -> HqServer {
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
            let _ = ready.send(listener.local_addr().map_err(|e| e.to_string()));
            if let Err(e) = shouyin_hq::run(
                listener,
                AppState::new(store, config),
                std::future::pending(),
            )
            .await
            {
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
            runtime: Some(runtime),
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
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
}

impl Hq {
    pub async fn start(backend: Backend) -> Hq {
        Hq::start_with_limit(backend, shouyin_hq::DEFAULT_BODY_LIMIT).await
    }

    pub async fn start_with_limit(backend: Backend, body_limit: usize) -> Hq {
        Hq::serve(HqDb::new(backend).await, body_limit).await
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
        }
    }

    /// `http://127.0.0.1:PORT` of the server.
    pub fn base(&self) -> String {
        self.server.base()
    }

    /// Another server process on the same database and key.
    pub async fn second_server(&self) -> HqServer {
        HqServer::start(&self.db.url, &self.key, self.body_limit).await
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
