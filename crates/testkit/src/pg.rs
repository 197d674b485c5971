//! A throwaway PostgreSQL cluster for tests and the benchmark.
//!
//! When the server binaries are missing and this process is root, the
//! `postgresql` Debian package is installed with `apt-get` first. That is
//! why this lives in the test kit and not in head office's library.
//!
//! The cluster lives in a temporary directory, listens on 127.0.0.1 at a free
//! port with its unix socket inside that directory, and runs as an ordinary
//! user (PostgreSQL refuses root): when this process is root, as a system
//! user `shouyin-pg` (created if missing) through `runuser`.
//!
//! A small shell guard starts the cluster and then waits on a pipe from this
//! process. When the pipe closes — on `Drop`, or because this process ended,
//! however it ended — the guard stops the cluster and removes the directory,
//! so a cluster shared by a whole test binary never outlives it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The unprivileged user clusters run as when this process is root.
pub const PG_USER: &str = "shouyin-pg";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found, and installing them failed: {0}"
    )]
    NotFound(String),
    #[error("could not prepare the cluster: {0}")]
    Setup(String),
    #[error("PostgreSQL did not start: {0}")]
    Start(String),
    #[error("PostgreSQL: {0}")]
    Sql(#[from] tokio_postgres::Error),
}

#[derive(Debug)]
pub struct PgCluster {
    port: u16,
    dir: PathBuf,
    /// Closing this pipe tells the guard to stop the cluster.
    guard_stdin: Mutex<Option<ChildStdin>>,
    guard: Mutex<Option<Child>>,
}

const GUARD_SCRIPT: &str = r#"
data="$1"; sock="$2"; port="$3"; bin="$4"; dir="$5"; runas="$6"
as_owner() { if [ -n "$runas" ]; then runuser -u "$runas" -- "$@"; else "$@"; fi; }
if ! as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1
fi
if ! as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
     -o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c max_connections=200" start >"$dir/pg_ctl.log" 2>&1; then
  cat "$dir/pg_ctl.log" "$dir/server.log" >&2; rm -rf "$dir"; exit 1
fi
echo ready
read _ignored
as_owner "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$dir"
"#;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SHOUYIN_PG_BIN") {
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Some(dir);
        }
    }
    // Debian keeps server binaries per major version; take the newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_server_binaries(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|d| has_server_binaries(d)))
}

fn install_postgres() -> Result<(), String> {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
    };
    let out = install().map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let _ = Command::new("apt-get").args(["update", "-q"]).output();
    let out = install().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn bin_dir() -> Result<PathBuf, ClusterError> {
    if let Some(dir) = find_bin_dir() {
        return Ok(dir);
    }
    if !is_root() {
        return Err(ClusterError::NotFound(
            "not root, so not installing; install the postgresql package or set SHOUYIN_PG_BIN"
                .into(),
        ));
    }
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = find_bin_dir() {
        return Ok(dir);
    }
    install_postgres().map_err(ClusterError::NotFound)?;
    find_bin_dir()
        .ok_or_else(|| ClusterError::NotFound("installed, but initdb is still missing".into()))
}

fn ensure_user() -> Result<(), ClusterError> {
    let exists = || {
        Command::new("id")
            .args(["-u", PG_USER])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if exists() {
        return Ok(());
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            PG_USER,
        ])
        .output()
        .map_err(|e| ClusterError::Setup(format!("useradd: {e}")))?;
    // Another test may have created it at the same moment.
    if out.status.success() || exists() {
        Ok(())
    } else {
        Err(ClusterError::Setup(format!(
            "useradd {PG_USER}: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| ClusterError::Setup(format!("finding a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| ClusterError::Setup(e.to_string()))
}

impl PgCluster {
    /// Create and start a new cluster. Fails loudly; never pretends.
    pub fn start() -> Result<PgCluster, ClusterError> {
        let bin = bin_dir()?;
        let root = is_root();
        if root {
            ensure_user()?;
        }
        let mut last = String::new();
        // A port found free can be taken before PostgreSQL binds it; retry.
        for _ in 0..3 {
            match PgCluster::start_once(&bin, root) {
                Ok(c) => return Ok(c),
                Err(ClusterError::Start(e)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::Start(last))
    }

    fn start_once(bin: &Path, root: bool) -> Result<PgCluster, ClusterError> {
        let setup = |e: std::io::Error| ClusterError::Setup(e.to_string());
        let dir = tempfile::Builder::new()
            .prefix("shouyin-pg-")
            .tempdir()
            .map_err(setup)?
            .keep();
        let sock = dir.join("sock");
        std::fs::create_dir(&sock).map_err(setup)?;
        if root {
            let out = Command::new("chown")
                .args(["-R", &format!("{PG_USER}:")])
                .arg(&dir)
                .output()
                .map_err(setup)?;
            if !out.status.success() {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(ClusterError::Setup(format!(
                    "chown: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
        }
        let port = free_port()?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(GUARD_SCRIPT)
            .arg("shouyin-pg-guard")
            .arg(dir.join("data"))
            .arg(&sock)
            .arg(port.to_string())
            .arg(bin)
            .arg(&dir)
            .arg(if root { PG_USER } else { "" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(setup)?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ClusterError::Setup("guard has no stdout".into()))?;
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ClusterError::Start(err));
        }
        Ok(PgCluster {
            port,
            dir,
            guard_stdin: Mutex::new(child.stdin.take()),
            guard: Mutex::new(Some(child)),
        })
    }

    /// One cluster for the whole process (a test binary), started on first
    /// use and stopped when the process ends.
    pub fn shared() -> Result<&'static PgCluster, ClusterError> {
        static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| PgCluster::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| ClusterError::Start(e.clone()))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Create a new empty database and return its URL.
    pub async fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await?;
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        drop(client);
        let _ = task.await;
        Ok(self.url(&name))
    }

    /// Stop the cluster and remove its directory; also done on drop.
    pub fn stop(&self) {
        drop(
            self.guard_stdin
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        if let Some(mut child) = self.guard.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = child.wait();
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A name no other database of this process (or a concurrent one) has.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random();
    format!("{prefix}_{}_{n}_{r:08x}", std::process::id())
}
