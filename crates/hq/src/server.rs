//! The HTTP side: `app()` builds the router, `run()` serves it on a listener
//! the caller bound until the caller's shutdown future resolves.
//!
//! Routes:
//! - `POST /v1/terminals/enroll` — a one-time code for a terminal id and secret (open)
//! - `POST /v1/events` — a signed batch of one terminal's events
//! - `POST /v1/notify/{terminal}/{channel}` — a channel's payment
//!   notification, kept for the terminal (open: the channel signed it;
//!   limited in size and rate, see `crate::limits`)
//! - `POST /v1/channel-reports` — a signed report of one terminal's
//!   channel calls (see `crate::channel_metrics`)
//! - `GET /v1/relay?after=ID&wait=SECS[&suspensions=VERSION]` — a terminal's
//!   notifications, signed, held open until one arrives or channel control
//!   moves past the version the terminal holds
//! - `POST /v1/channels/suspend`, `POST /v1/channels/lift`,
//!   `GET /v1/channels/suspensions` — channel control, behind the admin token
//! - `GET /v1/reports/daily`, `GET /v1/terminals`, `GET /v1/terminals/{id}/events`,
//!   `GET /` — the read side, behind the admin token
//! - `POST /channels/control` — the page's suspend/lift form (admin login,
//!   same-origin only)
//! - `GET /healthz`, `GET /metrics` — open

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use shouyin_core::{BusinessCalendar, TerminalId};
use tokio::net::TcpListener;

use crate::channel_metrics::{ChannelMetrics, Refusal};
use crate::control::{ControlError, ControlVersion};
use crate::error::AppError;
use crate::limits::{NoticeLimiter, NoticeLimits};
use crate::metrics::Metrics;
use crate::secret::{enroll_code_hash, new_salt, new_terminal_id, SealKey};
use crate::store::{
    ControlAction, EventRow, IngestBatch, NewNotice, Redemption, Store, StoreError, TerminalRecord,
};
use crate::wakeups::Wakeups;
use crate::wire::{
    self, EnrollRequest, EnrollResponse, ErrorCode, EventBatch, EventsAck, StoreCode, TerminalList,
};
use crate::{html, report};

/// Default limit on a request body.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// How long the server remembers a nonce: a request is accepted while its
/// timestamp is within the skew of the server clock, so a nonce first seen
/// at `t` could be replayed until at most `t + 2 × skew`; a minute more is a
/// margin.
pub(crate) const NONCE_MEMORY_SECS: i64 = 2 * wire::MAX_CLOCK_SKEW_SECS + 60;

/// The source of "now"; tests may pass a fixed one.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Settings fixed at start.
#[derive(Clone)]
pub struct Config {
    /// Bearer token for the read side; `None` closes the read side.
    pub admin_token: Option<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Business day of the reports (head office's zone and cut-off).
    pub calendar: BusinessCalendar,
    /// Derives terminal secrets; see `crate::secret`.
    pub seal_key: SealKey,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("body_limit", &self.body_limit)
            .field("calendar", &self.calendar)
            .finish_non_exhaustive()
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database; the only place correctness lives.
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    /// Per-process counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Every store's channel calls and confirmation times.
    pub channels: Arc<ChannelMetrics>,
    pub clock: Arc<dyn Clock>,
    /// Wakes the relay requests of a terminal waiting in this process when
    /// a notification for it is kept. Other processes on the same database
    /// are seen by re-reading now and then.
    pub wakeups: Arc<Wakeups>,
    /// Rate limits of the open notify endpoint (this process's share).
    pub notice_limiter: Arc<NoticeLimiter>,
    /// The channel-control version waiting relay requests compare against.
    pub control_version: Arc<ControlVersion>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config) -> AppState {
        AppState {
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            channels: Arc::new(ChannelMetrics::default()),
            clock: Arc::new(SystemClock),
            wakeups: Arc::new(Wakeups::default()),
            notice_limiter: Arc::new(NoticeLimiter::default()),
            control_version: Arc::new(ControlVersion::default()),
        }
    }

    /// The same state with other limits on the notify endpoint.
    pub fn with_notice_limits(mut self, limits: NoticeLimits) -> AppState {
        self.notice_limiter = Arc::new(NoticeLimiter::new(limits));
        self
    }
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(wire::ENROLL_PATH, post(enroll))
        .route(wire::EVENTS_PATH, post(post_events))
        .route(wire::CHANNEL_REPORT_PATH, post(post_channel_report))
        .route(
            wire::NOTIFY_ROUTE,
            post(post_notice).layer(DefaultBodyLimit::max(NOTICE_BODY_LIMIT)),
        )
        .route(wire::RELAY_PATH, get(get_relay))
        .route("/v1/terminals", get(list_terminals))
        .route("/v1/terminals/{id}/events", get(terminal_events))
        .route("/v1/reports/daily", get(daily_report))
        .route(wire::CHANNEL_SUSPEND_PATH, post(suspend_channel))
        .route(wire::CHANNEL_LIFT_PATH, post(lift_channel))
        .route(wire::CHANNEL_SUSPENSIONS_PATH, get(list_suspensions))
        .route(html::CONTROL_FORM_PATH, post(control_form))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .with_state(state)
}

/// Serve until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.config.admin_token.is_none() {
        tracing::warn!("no admin token configured: reports and the dashboard are closed");
    }
    // The peer address feeds the notify endpoint's per-source limit.
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Latency per route and rejections per reason.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe(&route, started.elapsed());
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics.rejected(code.as_str());
    } else if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        state.metrics.rejected(ErrorCode::BodyTooLarge.as_str());
    }
    response
}

async fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound, "no such route")
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "backend": state.store.backend()}))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = state.metrics.render();
            state.channels.render(&mut text);
            text
        },
    )
}

/// Read the body within the configured limit.
async fn read_body(req: Request, state: &AppState) -> Result<Bytes, AppError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                ErrorCode::BodyTooLarge,
                format!("body larger than {} bytes", state.config.body_limit),
            )
        } else {
            AppError::new(ErrorCode::BadRequest, rejection.body_text())
        }
    })
}

/// Parse JSON, naming the offending field on failure.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    // Tracking the path costs on every field; only a body that fails is
    // read again to name the field.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." { "body".to_owned() } else { path };
        AppError::bad_field(field.clone(), format!("{field}: {inner}"))
    })?;
    de.end()
        .map_err(|e| AppError::bad_field("body", format!("body: {e}")))?;
    Ok(value)
}

async fn enroll(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<EnrollResponse>, AppError> {
    let body = read_body(req, &state).await?;
    let request: EnrollRequest = parse_json(&body)?;
    let hash = enroll_code_hash(&request.code);
    let now = state.clock.now();
    // A fresh id clashes with an existing one about once in billions; the
    // transaction then leaves the code unspent and we draw again.
    let requested = request.terminal_id;
    for _ in 0..8 {
        let (id, salt) = {
            let mut rng = rand::thread_rng();
            let id = match &requested {
                Some(id) => Some(id.clone()),
                None => new_terminal_id(&mut rng),
            };
            (id, new_salt(&mut rng))
        };
        let Some(id) = id else { continue };
        match state
            .store
            .redeem_enroll_code(hash.clone(), id.clone(), salt.clone(), now)
            .await?
        {
            Redemption::Enrolled(store) => {
                let secret = state.config.seal_key.terminal_secret(&id, &salt);
                state.metrics.enrolled();
                tracing::info!(terminal = %id, store = %store, "terminal enrolled");
                return Ok(Json(EnrollResponse {
                    terminal_id: id,
                    store,
                    secret: hex::encode(secret),
                }));
            }
            Redemption::CodeRejected => {
                return Err(AppError::new(
                    ErrorCode::BadEnrollCode,
                    "enrolment code is unknown, already used or expired",
                ))
            }
            // Drawing again is pointless for an id the terminal asked for.
            Redemption::IdTaken if requested.is_some() => {
                return Err(AppError::new(
                    ErrorCode::TerminalIdTaken,
                    format!("terminal id {id} is already enrolled at head office"),
                ))
            }
            Redemption::IdTaken => continue,
        }
    }
    Err(AppError::Store(StoreError::Task(
        "could not draw an unused terminal id".into(),
    )))
}

/// The signature headers, parsed.
struct AuthHeaders {
    terminal: TerminalId,
    timestamp: i64,
    nonce: String,
    signature: String,
}

fn auth_headers(headers: &HeaderMap) -> Result<AuthHeaders, AppError> {
    let get = |name: &str| -> Result<Option<&str>, AppError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v.to_str().map(Some).map_err(|_| {
                AppError::new(
                    ErrorCode::AuthMalformed,
                    format!("header {name} is not text"),
                )
            }),
        }
    };
    let (Some(terminal), Some(timestamp), Some(nonce), Some(signature)) = (
        get(wire::HEADER_TERMINAL)?,
        get(wire::HEADER_TIMESTAMP)?,
        get(wire::HEADER_NONCE)?,
        get(wire::HEADER_SIGNATURE)?,
    ) else {
        return Err(AppError::new(
            ErrorCode::AuthMissing,
            "signed request expected: x-shouyin-terminal, -timestamp, -nonce and -signature",
        ));
    };
    let malformed = |what: &str| AppError::new(ErrorCode::AuthMalformed, what.to_owned());
    let terminal =
        TerminalId::parse(terminal).map_err(|_| malformed("terminal id is malformed"))?;
    let timestamp: i64 = timestamp
        .parse()
        .map_err(|_| malformed("timestamp is not Unix seconds"))?;
    if !wire::is_valid_nonce(nonce) {
        return Err(malformed("nonce must be 16-64 characters of [A-Za-z0-9_-]"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("signature must be 64 hex characters"));
    }
    Ok(AuthHeaders {
        terminal,
        timestamp,
        nonce: nonce.to_owned(),
        signature: signature.to_ascii_lowercase(),
    })
}

/// Key used to check signatures of unknown terminals, so that an unknown id
/// costs the same work as a known one and answers the same.
fn decoy_secret(state: &AppState, terminal: &TerminalId) -> [u8; 32] {
    state
        .config
        .seal_key
        .terminal_secret(terminal, "no such terminal")
}

async fn post_events(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let now = state.clock.now();
    let method = req.method().as_str().to_owned();
    let path = signed_path(&req);
    let auth = auth_headers(req.headers())?;
    let body = read_body(req, &state).await?;
    let record = authenticate(&state, &method, &path, &auth, &body, now).await?;
    let batch: EventBatch = parse_json(&body)?;
    let mut rows = Vec::with_capacity(batch.events.len());
    for (i, event) in batch.events.iter().enumerate() {
        if event.terminal != record.id || event.store != record.store {
            return Err(AppError::new(
                ErrorCode::ForeignEvent,
                format!(
                    "events[{i}] belongs to terminal {} of store {}, not the signer {} of store {}",
                    event.terminal, event.store, record.id, record.store
                ),
            ));
        }
        let row = EventRow::from_event(event).ok_or_else(|| {
            AppError::bad_field(
                format!("events[{i}].seq"),
                format!("events[{i}].seq must be between 1 and {}", i64::MAX),
            )
        })?;
        rows.push(row);
    }
    // The nonce is remembered in the batch's own transaction. A replay is
    // refused there; one whose body is also bad gets the 400 first, which is
    // harmless because nothing is stored either way.
    let outcome = state
        .store
        .ingest(IngestBatch {
            terminal: record.id.clone(),
            nonce: auth.nonce,
            forget_nonces_before: now - chrono::Duration::seconds(NONCE_MEMORY_SECS),
            rows,
            outbox_remaining: batch.outbox_remaining,
            now,
        })
        .await?;
    state.channels.heard(&record.store, record.id.as_str(), now);
    // Only a batch that stored something is read for confirmation times, so
    // a batch sent again is not timed twice.
    if outcome.stored > 0 {
        let today = state.config.calendar.business_date(now);
        state.channels.events(&record.store, &batch.events, today);
    }
    state.metrics.batch(
        outcome.stored,
        outcome.duplicates,
        outcome.conflicts.len() as u64,
    );
    if !outcome.conflicts.is_empty() {
        tracing::warn!(terminal = %record.id, conflicts = ?outcome.conflicts, "events resent with different content");
    }
    let ack = EventsAck {
        acked_seq: outcome.acked_seq,
        highest_seq: outcome.highest_seq,
        missing_from: outcome.missing.map(|m| m.0),
        missing_to: outcome.missing.map(|m| m.1),
        stored: outcome.stored,
        duplicates: outcome.duplicates,
        conflicts: outcome.conflicts,
    };
    let status = if ack.conflicts.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    let mut response = (status, Json(ack)).into_response();
    if status == StatusCode::CONFLICT {
        state.metrics.rejected("seq_conflict");
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A terminal's channel-call report: checked whole, then counted whole or
/// not at all.
async fn post_channel_report(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let method = req.method().as_str().to_owned();
    let path = signed_path(&req);
    let auth = auth_headers(req.headers())?;
    let body = read_body(req, &state).await?;
    let record = authenticate(&state, &method, &path, &auth, &body, now).await?;
    let report: wire::ChannelReport = parse_json(&body)?;
    report
        .check()
        .map_err(|e| AppError::bad_field(e.field.clone(), e.to_string()))?;
    if report.to > now + chrono::Duration::seconds(wire::MAX_CLOCK_SKEW_SECS) {
        return Err(AppError::bad_field(
            "to",
            "to: the report ends more than five minutes after head office's clock",
        ));
    }
    let fresh = state
        .store
        .use_nonce(
            record.id.clone(),
            auth.nonce.clone(),
            now,
            now - chrono::Duration::seconds(NONCE_MEMORY_SECS),
        )
        .await?;
    if !fresh {
        return Err(AppError::new(
            ErrorCode::ReplayedNonce,
            "this nonce was already used",
        ));
    }
    let today = state.config.calendar.business_date(now);
    match state
        .channels
        .ingest(&record.store, record.id.as_str(), &report, now, today)
    {
        Ok(()) => {}
        Err(Refusal::Replayed { last_to }) => {
            return Err(AppError::bad_field(
                "to",
                format!(
                    "to: a report up to {} was already taken from this terminal; this one ends no later",
                    last_to.to_rfc3339()
                ),
            ))
        }
    }
    let mut response = Json(wire::ChannelReportAck {
        lines: u32::try_from(report.lines.len()).unwrap_or(u32::MAX),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The path and query as the terminal signed them.
fn signed_path(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned())
}

/// Check a signed request: fresh timestamp, a terminal we know, its
/// signature over method, path, time, nonce and body, and not revoked.
async fn authenticate(
    state: &AppState,
    method: &str,
    path: &str,
    auth: &AuthHeaders,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<TerminalRecord, AppError> {
    if (now.timestamp() - auth.timestamp).abs() > wire::MAX_CLOCK_SKEW_SECS {
        return Err(AppError::new(
            ErrorCode::StaleTimestamp,
            "timestamp is more than five minutes from the server clock",
        ));
    }
    let record = state.store.terminal(auth.terminal.clone()).await?;
    let secret = match &record {
        Some(r) => state.config.seal_key.terminal_secret(&r.id, &r.salt),
        None => decoy_secret(state, &auth.terminal),
    };
    let text = wire::canonical_text(
        method,
        path,
        auth.terminal.as_str(),
        auth.timestamp,
        &auth.nonce,
        body,
    );
    let valid = wire::verify_signature(&secret, &text, &auth.signature);
    let record = match record {
        Some(r) if valid => r,
        _ => {
            return Err(AppError::new(
                ErrorCode::BadSignature,
                "signature does not verify",
            ))
        }
    };
    if record.revoked {
        return Err(AppError::new(
            ErrorCode::TerminalRevoked,
            "this terminal is revoked",
        ));
    }
    Ok(record)
}

/// Largest notification body kept; the channels' are a few kilobytes.
const NOTICE_BODY_LIMIT: usize = 64 * 1024;
/// Notifications older than this are of no use to a waiting order.
const NOTICE_MEMORY_SECS: i64 = 24 * 3600;
/// And at most this many are kept per terminal.
const NOTICES_KEPT_PER_TERMINAL: u32 = 1000;
/// Notices handed out per relay answer.
const RELAY_BATCH: u32 = 100;

/// A channel's payment notification for one terminal. Kept as received for
/// the terminal to fetch; head office cannot check the channel's signature
/// (only the terminal holds the keys) and does not need to. The answer is
/// what the channel counts as "received", whether or not the terminal is
/// one we serve, so it stops retrying either way.
async fn post_notice(
    State(state): State<AppState>,
    Path((terminal, channel)): Path<(String, String)>,
    req: Request,
) -> Result<Response, AppError> {
    let accepted = match channel.as_str() {
        "alipay" => (StatusCode::OK, "success").into_response(),
        "wechat" => StatusCode::NO_CONTENT.into_response(),
        _ => return Err(AppError::new(ErrorCode::NotFound, "no such channel")),
    };
    let terminal =
        TerminalId::parse(&terminal).map_err(|e| AppError::bad_field("terminal", e.to_string()))?;
    // Anyone may post here: limits and size are settled before a byte of
    // the body is read.
    let source = crate::limits::source_of(&req);
    if let Err(refusal) = state
        .notice_limiter
        .admit(terminal.as_str(), source, Instant::now())
    {
        state.metrics.rejected("rate_limited");
        tracing::debug!(%terminal, %source, limit = refusal.as_str(), "notification refused");
        return Ok(crate::limits::refused_response(refusal));
    }
    let too_large = || {
        AppError::new(
            ErrorCode::BodyTooLarge,
            format!("a notification is at most {NOTICE_BODY_LIMIT} bytes"),
        )
    };
    if crate::limits::declared_length(req.headers()).is_some_and(|n| n > NOTICE_BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let headers = req.headers().clone();
    // The route's own body limit (see `app`) stops a chunked body at
    // NOTICE_BODY_LIMIT.
    let body = Bytes::from_request(req, &state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                AppError::new(ErrorCode::BadRequest, rejection.body_text())
            }
        })?;
    let body = String::from_utf8(body.to_vec())
        .map_err(|_| AppError::bad_field("body", "a notification body must be UTF-8"))?;
    // Only what a channel's signature or content type depends on.
    let kept: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("wechatpay-") || name == "content-type"
        })
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let headers = serde_json::to_string(&kept)
        .map_err(|e| AppError::Store(StoreError::Task(e.to_string())))?;
    let now = state.clock.now();
    let id = state
        .store
        .add_notice(NewNotice {
            terminal: terminal.clone(),
            channel,
            headers,
            body,
            now,
            forget_before: now - chrono::Duration::seconds(NOTICE_MEMORY_SECS),
            keep_at_most: NOTICES_KEPT_PER_TERMINAL,
        })
        .await?;
    state.metrics.notice(id.is_some());
    match id {
        Some(id) => {
            state.wakeups.wake(terminal.as_str());
            tracing::debug!(%terminal, id, "notification kept for the terminal");
        }
        None => {
            tracing::info!(%terminal, "notification for an unknown or revoked terminal dropped")
        }
    }
    Ok(accepted)
}

/// A terminal's notifications after `after`; if there are none yet, held
/// open up to `wait` seconds and answered the moment one is kept.
async fn get_relay(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    req: Request,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let path = signed_path(&req);
    let q = query_map(query)?;
    let auth = auth_headers(req.headers())?;
    let body = read_body(req, &state).await?;
    let record = authenticate(&state, "GET", &path, &auth, &body, now).await?;
    let after: u64 = match q.get("after") {
        Some(v) => v
            .parse()
            .map_err(|_| AppError::bad_field("after", "after must be a notice id"))?,
        None => 0,
    };
    let wait: u64 = match q.get("wait") {
        Some(v) => v
            .parse()
            .ok()
            .filter(|w| *w <= wire::RELAY_MAX_WAIT_SECS)
            .ok_or_else(|| {
                AppError::bad_field(
                    "wait",
                    format!("wait must be 0 to {} seconds", wire::RELAY_MAX_WAIT_SECS),
                )
            })?,
        None => 0,
    };
    // The control version whose set the terminal holds: empty when it
    // holds none yet; a terminal that does not ask is never sent one.
    let held: Option<Option<i64>> = match q.get(wire::RELAY_SUSPENSIONS_PARAM) {
        Some(v) if v.is_empty() => Some(None),
        Some(v) => Some(Some(v.parse().map_err(|_| {
            AppError::bad_field(
                wire::RELAY_SUSPENSIONS_PARAM,
                "suspensions must be empty or a control version",
            )
        })?)),
        None => None,
    };
    let fresh = state
        .store
        .use_nonce(
            record.id.clone(),
            auth.nonce.clone(),
            now,
            now - chrono::Duration::seconds(NONCE_MEMORY_SECS),
        )
        .await?;
    if !fresh {
        return Err(AppError::new(
            ErrorCode::ReplayedNonce,
            "this nonce was already used",
        ));
    }
    let after_id = i64::try_from(after).unwrap_or(i64::MAX);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    let wakeup = state.wakeups.of(record.id.as_str());
    let (rows, control_moved) = loop {
        // Armed before the look, so a notice kept in between still wakes.
        let kept = wakeup.notified();
        tokio::pin!(kept);
        kept.as_mut().enable();
        let rows = state
            .store
            .notices_after(record.id.clone(), after_id, RELAY_BATCH)
            .await?;
        let control_moved = match held {
            None => false,
            Some(None) => true,
            Some(Some(v)) => state.control_version.get(state.store.as_ref()).await? != v,
        };
        if !rows.is_empty() || control_moved || tokio::time::Instant::now() >= deadline {
            break (rows, control_moved);
        }
        // Woken by this process; another process sharing the database is
        // noticed at the next look.
        tokio::select! {
            _ = kept => state.metrics.relay_woken(),
            _ = tokio::time::sleep(RELAY_LOOK_AGAIN) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };
    let next_after = rows
        .last()
        .map(|r| u64::try_from(r.id).unwrap_or(0))
        .unwrap_or(after);
    let notices = rows
        .into_iter()
        .map(|r| {
            let headers: Vec<(String, String)> = serde_json::from_str(&r.headers).map_err(|e| {
                AppError::Store(StoreError::Corrupt(format!("notice {}: {e}", r.id)))
            })?;
            Ok(wire::RelayedNotice {
                id: u64::try_from(r.id).unwrap_or(0),
                channel: r.channel,
                received_at: crate::store::ms_to_time(r.received_ms),
                headers,
                body: r.body,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let suspensions = if control_moved {
        Some(crate::control::set_for(state.store.as_ref(), &record.store).await?)
    } else {
        None
    };
    let mut response = Json(wire::RelayAnswer {
        notices,
        next_after,
        suspensions,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// How often a waiting relay request re-reads the database, for notices
/// kept by another server process.
const RELAY_LOOK_AGAIN: std::time::Duration = std::time::Duration::from_millis(500);

/// Equal-time comparison of two secrets of any length (compares digests).
fn same_secret(a: &str, b: &str) -> bool {
    let da = Sha256::digest(a.as_bytes());
    let db = Sha256::digest(b.as_bytes());
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The admin token from `Authorization: Bearer T` or, for browsers,
/// `Authorization: Basic base64(any-user:T)`.
fn admin_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = state.config.admin_token.as_deref() else {
        return false;
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let given = if let Some(token) = value.strip_prefix("Bearer ") {
        token.trim().to_owned()
    } else if let Some(b64) = value.strip_prefix("Basic ") {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let text = String::from_utf8_lossy(&raw);
        match text.split_once(':') {
            Some((_, password)) => password.to_owned(),
            None => return false,
        }
    } else {
        return false;
    };
    same_secret(&given, expected)
}

fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if admin_ok(state, headers) {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::AdminAuth,
            "admin token required (Authorization: Bearer …)",
        ))
    }
}

async fn list_terminals(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<TerminalList>, AppError> {
    require_admin(&state, &headers)?;
    Ok(Json(TerminalList {
        terminals: state.store.terminals().await?,
    }))
}

fn query_map(
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<HashMap<String, String>, AppError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| AppError::bad_field("query", e.body_text()))
}

async fn terminal_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<wire::Event>>, AppError> {
    require_admin(&state, &headers)?;
    let q = query_map(query)?;
    let id = TerminalId::parse(&id).map_err(|e| AppError::bad_field("id", e.to_string()))?;
    let after: u64 = match q.get("after") {
        Some(v) => v
            .parse()
            .map_err(|_| AppError::bad_field("after", "after must be a sequence number"))?,
        None => 0,
    };
    let limit: u32 = match q.get("limit") {
        Some(v) => v
            .parse()
            .ok()
            .filter(|l| (1..=10_000).contains(l))
            .ok_or_else(|| AppError::bad_field("limit", "limit must be 1 to 10000"))?,
        None => 1000,
    };
    let rows = state.store.events_of(id, after, limit).await?;
    let events = rows
        .iter()
        .map(EventRow::to_event)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(events))
}

async fn daily_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<wire::DailyReport>, AppError> {
    require_admin(&state, &headers)?;
    let q = query_map(query)?;
    let date = q
        .get("date")
        .ok_or_else(|| AppError::bad_field("date", "date=YYYY-MM-DD is required"))?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| AppError::bad_field("date", "date must be YYYY-MM-DD"))?;
    let store = q
        .get("store")
        .map(|s| StoreCode::parse(s))
        .transpose()
        .map_err(|e| AppError::bad_field("store", e.to_string()))?;
    let report = report::daily(state.store.as_ref(), &state.config.calendar, date, store).await?;
    Ok(Json(report))
}

async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if !admin_ok(&state, &headers) {
        // Browsers show a login box for Basic; the password is the admin token.
        let mut response = html::login_required().into_response();
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Shouyin head office\", charset=\"UTF-8\""),
        );
        response.extensions_mut().insert(ErrorCode::AdminAuth);
        return Ok(response);
    }
    let now = state.clock.now();
    let today = state.config.calendar.business_date(now);
    let terminals = state.store.terminals().await?;
    let report = report::daily(state.store.as_ref(), &state.config.calendar, today, None).await?;
    let health = state.channels.health_table(today);
    let suspensions = crate::control::list(state.store.as_ref(), CONTROL_LOG_SHOWN).await?;
    Ok(Html(html::dashboard(
        now,
        &terminals,
        &report,
        &health,
        &suspensions,
    ))
    .into_response())
}

/// Suspend a channel for a store or all stores (admin token, JSON body).
async fn suspend_channel(
    State(state): State<AppState>,
    req: Request,
) -> Result<Response, AppError> {
    control_channel(state, ControlAction::Suspend, req).await
}

/// Lift a channel's suspension (admin token, JSON body).
async fn lift_channel(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    control_channel(state, ControlAction::Lift, req).await
}

async fn control_channel(
    state: AppState,
    action: ControlAction,
    req: Request,
) -> Result<Response, AppError> {
    require_admin(&state, req.headers())?;
    // A browser holding the Basic login could be made to post a form from
    // another site; such a form cannot send JSON without the page's consent.
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(AppError::bad_field(
            "content-type",
            "a channel-control request is JSON (Content-Type: application/json)",
        ));
    }
    let body = read_body(req, &state).await?;
    let request: wire::ChannelControlRequest = parse_json(&body)?;
    let now = state.clock.now();
    let outcome = crate::control::apply(state.store.as_ref(), action, request, "http", now)
        .await
        .map_err(|e| match e {
            ControlError::Store(e) => AppError::Store(e),
            ControlError::NotSuspended { .. } => AppError::new(ErrorCode::NotFound, e.to_string()),
            other => match other.field() {
                Some(field) => AppError::bad_field(field, other.to_string()),
                None => AppError::new(ErrorCode::BadRequest, other.to_string()),
            },
        })?;
    state.control_version.set(outcome.version);
    state.wakeups.wake_all();
    let mut response = Json(wire::ChannelControlAck {
        version: crate::store::to_u64(outcome.version),
        changed: outcome.changed,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Current suspensions and the latest changes (admin token).
async fn list_suspensions(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<wire::SuspensionList>, AppError> {
    require_admin(&state, &headers)?;
    Ok(Json(
        crate::control::list(state.store.as_ref(), CONTROL_LOG_SHOWN).await?,
    ))
}

/// Channel-control changes listed by the admin endpoint and the page.
pub(crate) const CONTROL_LOG_SHOWN: u32 = 50;

/// The page's suspend/lift form, as the browser posts it.
#[derive(Debug, serde::Deserialize)]
struct ControlForm {
    action: String,
    /// A store code, or `*` for all stores.
    store: String,
    channel: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    by: String,
}

/// Whether a browser's post comes from head office's own page: the
/// browser names the page's origin (`Origin`, or `Sec-Fetch-Site`), and a
/// form another site makes a logged-in browser post is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        return host.is_some() && origin_host == host;
    }
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "same-origin")
}

async fn control_form(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    require_admin(&state, req.headers())?;
    if !same_origin(req.headers()) {
        return Err(AppError::new(
            ErrorCode::AdminAuth,
            "the channel-control form is taken only from head office's own page",
        ));
    }
    let axum::Form(form) = axum::Form::<ControlForm>::from_request(req, &state)
        .await
        .map_err(|e| AppError::bad_field("body", e.body_text()))?;
    let action = match form.action.as_str() {
        "suspend" => ControlAction::Suspend,
        "lift" => ControlAction::Lift,
        _ => return Err(AppError::bad_field("action", "action is suspend or lift")),
    };
    let all_stores = form.store == crate::store::ALL_STORES;
    let store = if all_stores {
        None
    } else {
        Some(
            StoreCode::parse(&form.store)
                .map_err(|e| AppError::bad_field("store", e.to_string()))?,
        )
    };
    let request = wire::ChannelControlRequest {
        store,
        all_stores,
        channel: form.channel,
        reason: Some(form.reason).filter(|r| !r.trim().is_empty()),
        by: form.by,
    };
    let now = state.clock.now();
    match crate::control::apply(state.store.as_ref(), action, request, "page", now).await {
        Ok(outcome) => {
            state.control_version.set(outcome.version);
            state.wakeups.wake_all();
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_static("/#channel-suspensions"),
            );
            Ok(response)
        }
        Err(ControlError::Store(e)) => Err(AppError::Store(e)),
        Err(e) => {
            let mut response = Html(html::control_refused(&e.to_string())).into_response();
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response.extensions_mut().insert(ErrorCode::BadRequest);
            Ok(response)
        }
    }
}
