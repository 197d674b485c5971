//! `shouyin hq …` and `shouyin bench sync`: thin wrappers over `shouyin_hq`
//! that the argument parser calls.
//!
//! The server derives terminal secrets from a sealing key kept outside the
//! database (see `shouyin_hq::secret`): `SHOUYIN_HQ_SEAL_KEY` (64 hex
//! characters) if set, otherwise a key file created on first start — next to
//! a SQLite database, or `$HOME/.config/shouyin/hq-seal.key` for PostgreSQL.
//! Every server process sharing one database needs the same key.

use std::path::{Path, PathBuf};

use anyhow::Context;
use shouyin_core::TerminalId;
use shouyin_hq::secret::SealKey;
use shouyin_hq::wire::StoreCode;

/// Environment variable for the admin token when none is given.
pub const ADMIN_TOKEN_ENV: &str = "SHOUYIN_HQ_ADMIN_TOKEN";

/// The admin token from `--admin-token` (which warns: every user of the
/// machine sees it in `ps`), else the first line of `--admin-token-file`,
/// else [`ADMIN_TOKEN_ENV`]; `None` closes the read side.
pub fn admin_token(arg: Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    if let Some(token) = arg {
        eprintln!(
            "warning: --admin-token on the command line is visible to every user of this \
             machine (ps, /proc); use --admin-token-file FILE or {ADMIN_TOKEN_ENV} instead"
        );
        return Ok(Some(token).filter(|t| !t.is_empty()));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the admin token file {}", path.display()))?;
        let token = text.lines().next().unwrap_or_default().trim().to_owned();
        if token.is_empty() {
            anyhow::bail!("the admin token file {} is empty", path.display());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                eprintln!(
                    "warning: the admin token file {} can be read by other users (mode {:o}); \
                     chmod 600 it",
                    path.display(),
                    mode & 0o777
                );
            }
        }
        return Ok(Some(token));
    }
    Ok(std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty()))
}

fn seal_key_path(db_url: &str) -> PathBuf {
    if let Some(path) = db_url
        .strip_prefix("sqlite://")
        .or_else(|| db_url.strip_prefix("sqlite:"))
    {
        return PathBuf::from(format!("{path}.seal.key"));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".config/shouyin/hq-seal.key")
}

/// `shouyin hq --listen ADDR --db URL [--admin-token-file F] [--body-limit N]
/// [--tls-cert F --tls-key F]`: serve until Ctrl-C, over HTTPS when given a
/// certificate and key.
pub async fn serve(
    listen: &str,
    db_url: &str,
    admin_token: Option<String>,
    body_limit: Option<usize>,
    tls: Option<(PathBuf, PathBuf)>,
) -> anyhow::Result<()> {
    // Read before anything else, so a bad file stops the start at once.
    let tls = match &tls {
        Some((cert, key)) => {
            Some(shouyin_hq::tls::server_config(cert, key).context("loading the TLS certificate")?)
        }
        None => None,
    };
    let key_path = seal_key_path(db_url);
    let seal_key = SealKey::from_env_or_file(&key_path)
        .with_context(|| format!("loading the sealing key ({})", key_path.display()))?;
    let store = shouyin_hq::open(db_url)
        .await
        .with_context(|| format!("opening {}", redact(db_url)))?;
    let config = shouyin_hq::Config {
        admin_token,
        body_limit: body_limit.unwrap_or(shouyin_hq::DEFAULT_BODY_LIMIT),
        calendar: Default::default(),
        seal_key,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = store.backend(), "head office listening");
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "shouyin hq listening on {scheme}://{addr} ({})",
        store.backend()
    );
    let state = shouyin_hq::AppState::new(store, config);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match tls {
        Some(tls) => shouyin_hq::tls::run_tls(listener, state, tls, stop).await,
        None => shouyin_hq::run(listener, state, stop).await,
    }
    .context("serving")?;
    Ok(())
}

/// `shouyin hq enroll-code --db URL --store S`: print a one-time code.
pub async fn enroll_code(db_url: &str, store: &str) -> anyhow::Result<()> {
    let store_code = StoreCode::parse(store)?;
    let db = shouyin_hq::open(db_url)
        .await
        .with_context(|| format!("opening {}", redact(db_url)))?;
    let code = shouyin_hq::issue_enroll_code(db.as_ref(), store_code, chrono::Utc::now()).await?;
    println!("{code}");
    eprintln!(
        "one-time enrolment code for store {store}, valid {} hours",
        shouyin_hq::ENROLL_CODE_TTL_HOURS
    );
    Ok(())
}

/// `shouyin hq revoke --db URL --terminal ID`.
pub async fn revoke(db_url: &str, terminal: &str) -> anyhow::Result<()> {
    let terminal = TerminalId::parse(terminal)?;
    let db = shouyin_hq::open(db_url)
        .await
        .with_context(|| format!("opening {}", redact(db_url)))?;
    if !shouyin_hq::revoke_terminal(db.as_ref(), terminal.clone(), chrono::Utc::now()).await? {
        anyhow::bail!("no terminal {terminal} is enrolled");
    }
    println!("terminal {terminal} revoked");
    Ok(())
}

/// `shouyin hq suspend-channel` / `lift-channel --db URL (--store S | --all)
/// --channel C [--reason R] [--by NAME]`.
pub async fn control_channel(
    action: shouyin_hq::store::ControlAction,
    db_url: &str,
    store: Option<&str>,
    all: bool,
    channel: &str,
    reason: Option<String>,
    by: Option<String>,
) -> anyhow::Result<()> {
    let store = store.map(StoreCode::parse).transpose()?;
    let by = by
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "cli".to_owned());
    let db = shouyin_hq::open(db_url)
        .await
        .with_context(|| format!("opening {}", redact(db_url)))?;
    let request = shouyin_hq::wire::ChannelControlRequest {
        store: store.clone(),
        all_stores: all,
        channel: channel.to_owned(),
        reason,
        by,
    };
    let outcome =
        shouyin_hq::control::apply(db.as_ref(), action, request, "cli", chrono::Utc::now()).await?;
    let scope = store.map_or_else(|| "all stores".to_owned(), |s| format!("store {s}"));
    match action {
        shouyin_hq::store::ControlAction::Suspend => {
            println!(
                "{channel} suspended for {scope} (control version {})",
                outcome.version
            )
        }
        shouyin_hq::store::ControlAction::Lift => println!(
            "{channel} lifted for {scope}: {} suspension(s) removed (control version {})",
            outcome.changed, outcome.version
        ),
    }
    Ok(())
}

/// `shouyin hq suspensions --db URL`.
pub async fn suspensions(db_url: &str) -> anyhow::Result<()> {
    let db = shouyin_hq::open(db_url)
        .await
        .with_context(|| format!("opening {}", redact(db_url)))?;
    let list = shouyin_hq::control::list(db.as_ref(), 20).await?;
    println!("version={}", list.version);
    for s in &list.suspensions {
        let scope = s.store.as_ref().map_or("*", |c| c.as_str());
        println!(
            "suspended store={scope} channel={} since={} by={} reason={}",
            s.channel,
            s.since.to_rfc3339(),
            s.by,
            s.reason
        );
    }
    for l in &list.log {
        let scope = l.store.as_ref().map_or("*", |c| c.as_str());
        println!(
            "log id={} at={} by={} via={} action={} store={scope} channel={} reason={}",
            l.id,
            l.at.to_rfc3339(),
            l.by,
            l.via,
            l.action,
            l.channel,
            l.reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// `shouyin hq import-rescue --db URL FILE`: store a till's rescue file,
/// each event at most once.
pub async fn import_rescue(db_url: &str, file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let key_path = seal_key_path(db_url);
    let seal_key = SealKey::from_env_or_file(&key_path)
        .with_context(|| format!("loading the sealing key ({})", key_path.display()))?;
    let db = shouyin_hq::open(db_url)
        .await
        .with_context(|| format!("opening {}", redact(db_url)))?;
    let outcome = shouyin_hq::rescue::import(db.as_ref(), &seal_key, &text, chrono::Utc::now())
        .await
        .with_context(|| format!("importing {}", file.display()))?;
    println!("terminal={}", outcome.terminal);
    println!("events={}", outcome.events);
    println!("stored={}", outcome.stored);
    println!("duplicates={}", outcome.duplicates);
    println!("conflicts={}", outcome.conflicts.len());
    println!("acked_seq={}", outcome.acked_seq);
    if !outcome.conflicts.is_empty() {
        anyhow::bail!(
            "head office holds other events under the numbers {:?}; they were not overwritten",
            outcome.conflicts
        );
    }
    Ok(())
}

/// `shouyin bench sync [--events N] [--batch N] [--runs N] [--backend sqlite|postgres]`.
pub async fn bench(
    events: u64,
    batch: usize,
    runs: usize,
    backend: Option<&str>,
) -> anyhow::Result<()> {
    use shouyin_testkit::bench_sync::{Backend, BenchOptions};
    let backends = match backend {
        None => vec![Backend::Sqlite, Backend::Postgres],
        Some("sqlite") => vec![Backend::Sqlite],
        Some("postgres") => vec![Backend::Postgres],
        Some(other) => anyhow::bail!("unknown backend '{other}': sqlite or postgres"),
    };
    let opts = BenchOptions {
        events,
        batch,
        runs,
        backends,
    };
    for result in shouyin_testkit::bench_sync::run(&opts).await? {
        println!("{result}");
    }
    Ok(())
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
