//! Shouyin head office (总部): the server that every store's terminals sync
//! their ledgers to, and that reports consolidated takings.
//!
//! - [`wire`] — the protocol shared with the terminal's sync client (the
//!   `shouyin-wire` crate, re-exported): event and batch shapes,
//!   acknowledgements, error codes, and request signing.
//! - [`store`] — one [`store::Store`] trait with two backends, SQLite and
//!   PostgreSQL, each migrated on open. Exactly-once storage, single-use
//!   enrolment codes and nonce replay protection are enforced by unique keys
//!   and transactions, so several server processes can share a PostgreSQL
//!   database.
//! - [`server`] — `app()` (the axum router) and `run(listener, state,
//!   shutdown)`; [`error`] maps failures to status codes and stable codes.
//! - [`limits`] — the open notify endpoint's rate limits (token buckets per
//!   sender, per terminal and sender, per terminal); [`wakeups`] — a kept
//!   notice wakes its own terminal's waiting relay requests only.
//! - [`tls`] — serving HTTPS with rustls from PEM files (`run_tls`).
//! - [`secret`] — terminal secrets derived from a sealing key kept outside
//!   the database, enrolment codes, ids.
//! - [`control`] — suspending a channel for a store or all stores, and
//!   lifting it, audited; the tills learn it over the relay.
//! - [`rescue`] — importing a terminal's rescue file, exactly once.
//! - [`report`] and [`html`] — the daily takings and the head-office page.
//! - [`metrics`] — Prometheus text for `/metrics`; [`channel_metrics`] —
//!   every store's channel calls and confirmation times, for `/metrics` and
//!   the page.
//!
//! The throwaway PostgreSQL cluster of the tests and the sync benchmark live
//! in the test kit (`crates/testkit`), not here: a server has no business
//! installing packages.

pub mod channel_metrics;
pub mod control;
pub mod error;
pub mod html;
pub mod limits;
pub mod metrics;
pub mod report;
pub mod rescue;
pub mod secret;
pub mod server;
pub mod store;
pub mod tls;
pub mod wakeups;

/// The protocol the terminals speak; its own crate so the terminal links
/// it without the server.
pub use shouyin_wire as wire;

use chrono::{DateTime, Duration, Utc};
use shouyin_core::TerminalId;

pub use error::AppError;
pub use server::{app, run, AppState, Clock, Config, SystemClock, DEFAULT_BODY_LIMIT};
pub use store::{open, Store, StoreError};

/// How long an enrolment code stays valid.
pub const ENROLL_CODE_TTL_HOURS: i64 = 72;

/// Create a one-time enrolment code for a terminal of `store_code`; only its
/// hash is stored, so the returned text is the one chance to read it.
pub async fn issue_enroll_code(
    store: &dyn Store,
    store_code: wire::StoreCode,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let code = secret::new_enroll_code(&mut rand::thread_rng());
    store
        .add_enroll_code(
            secret::enroll_code_hash(&code),
            store_code,
            now,
            now + Duration::hours(ENROLL_CODE_TTL_HOURS),
        )
        .await?;
    Ok(code)
}

/// Revoke a terminal: its requests are refused from now on. `false` if no
/// such terminal is enrolled.
pub async fn revoke_terminal(
    store: &dyn Store,
    terminal: TerminalId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    store.revoke(terminal, now).await
}
