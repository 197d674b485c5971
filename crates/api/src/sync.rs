//! The sync client: ships the ledger's events to head office, in order and
//! exactly once, however long the counter was offline.
//!
//! # State
//!
//! Sync state lives outside the ledger, in a small JSON file beside it
//! (`<ledger file name>.hq.json`, see [`hq_file_path`]): head office's URL,
//! the terminal id and store head office enrolled, the terminal secret, and
//! the cursor — the highest sequence number head office acknowledged. The
//! file is replaced atomically (temporary file, fsync, rename) and readable
//! by its owner only. A cursor that is stale (a crash between the answer and
//! the write) is harmless: head office stores each (terminal, seq) at most
//! once and answers duplicates with the same acknowledgement.
//!
//! # Enrolment
//!
//! A one-time code from head office is exchanged for a secret. The request
//! carries the ledger's own terminal id and head office enrols the terminal
//! under exactly that id (or refuses if another terminal of the chain holds
//! it), so the terminal id inside every order number is the id head office
//! reports by. An answer naming another id is refused and nothing is saved.
//!
//! Head office's address must be `https://` unless it is this machine, and a
//! shop's private certificate authority may be given at enrolment; see
//! [`crate::hq_url`]. A file naming a remote `http://` address stops sync.
//!
//! # A pass
//!
//! Read up to [`MAX_BATCH`] events after the cursor (holding the ledger only
//! for that read, never across HTTP), sign the batch, post it, and move the
//! cursor to the `acked_seq` of the answer — forwards or, if head office lost
//! events, backwards, so the gap is sent again. Repeat until caught up or an
//! answer stops the pass:
//!
//! - transport failure, 5xx, a stale clock: the pass fails; the background
//!   loop retries with exponential backoff and full jitter (capped at
//!   [`BACKOFF_CAP`]);
//! - 413: the batch is halved and sent again;
//! - 409 (head office holds other events under the same numbers), or a ledger
//!   behind the cursor: the ledger's history changed. Sync stops and an alarm
//!   is raised;
//! - revoked, or a signature head office no longer accepts: sync stops and
//!   the status says why.
//!
//! The background loop ([`Counter::start_sync`]) runs a pass, then waits
//! [`IDLE_INTERVAL`] — or less when a sale is committed — and stops with the
//! counter.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shouyin_core::TerminalId;
use shouyin_secrets::{SecretError, SecretStore};
use shouyin_wire::{self as wire, EnrollRequest, EventBatch, StoreCode};

use crate::dto::{AlarmDto, CounterEvent};
pub use crate::dto::{SyncPassDto, SyncState, SyncStatusDto};
pub use crate::hq_client::BACKOFF_CAP;
use crate::hq_client::{backoff, HqError};
use crate::{blocking, ApiError, Counter, ErrorCode};

/// Appended to the ledger's file name to name its head-office file.
pub const HQ_FILE_SUFFIX: &str = ".hq.json";
/// Most events in one request: about 0.7 MB of JSON, well inside head
/// office's default body limit and the request timeout on a slow uplink,
/// and large enough that a week's backlog goes up in few commits.
pub const MAX_BATCH: usize = 2000;
/// Wait between passes when caught up and nothing new happens.
pub const IDLE_INTERVAL: Duration = Duration::from_secs(5);
/// Sync stopped for a reason a retry will not fix (revoked, conflict): look
/// again now and then, in case head office was put right.
const HALTED_INTERVAL: Duration = Duration::from_secs(300);
/// After a sale, wait this long so that a burst of events goes in one batch.
const AFTER_SALE_DELAY: Duration = Duration::from_millis(200);
/// Answers that move nothing (replayed nonce, a cursor that does not move)
/// are tolerated this many times in a row within a pass.
const MAX_STALLS: u32 = 3;
/// Connections lost mid-request in a row, each retried at once with half
/// the batch, before the pass gives up.
const MAX_RESETS: u32 = 6;
const FILE_VERSION: u32 = 1;

/// The head-office file of the ledger at `ledger`: same directory, the
/// ledger's file name with [`HQ_FILE_SUFFIX`] appended.
pub fn hq_file_path(ledger: &Path) -> PathBuf {
    let mut name = ledger
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "ledger".into());
    name.push(HQ_FILE_SUFFIX);
    ledger.with_file_name(name)
}

/// The terminal's secret for signing requests. Never printed or logged:
/// `Debug` redacts it. In the hq file it is written in hex, or, when the
/// Secret Service keeps it, as a reference the file is read back through.
#[derive(Clone)]
pub struct TerminalSecret {
    bytes: Vec<u8>,
    /// Where the Secret Service keeps it, if it does.
    reference: Option<String>,
}

impl PartialEq for TerminalSecret {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for TerminalSecret {}

impl fmt::Debug for TerminalSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TerminalSecret(<redacted>)")
    }
}

impl TerminalSecret {
    fn from_hex(text: &str) -> Option<TerminalSecret> {
        let bytes = hex::decode(text.trim()).ok()?;
        (bytes.len() == wire::SECRET_LEN).then_some(TerminalSecret {
            bytes,
            reference: None,
        })
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the Secret Service keeps it (the file holds a reference).
    pub fn in_secret_service(&self) -> bool {
        self.reference.is_some()
    }

    /// Hand the secret to `store`; the file then holds what it returns.
    fn kept_in(self, store: SecretStore) -> Result<TerminalSecret, SecretError> {
        let kept = store.keep("hq-secret", &hex::encode(&self.bytes))?;
        Ok(TerminalSecret {
            reference: shouyin_secrets::is_reference(&kept).then_some(kept),
            ..self
        })
    }
}

impl Serialize for TerminalSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.reference {
            Some(reference) => s.serialize_str(reference),
            None => s.serialize_str(&hex::encode(&self.bytes)),
        }
    }
}

impl<'de> Deserialize<'de> for TerminalSecret {
    /// A reference is read back from the Secret Service here, so every
    /// reader of the hq file gets the secret itself.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let reference = shouyin_secrets::is_reference(&text).then(|| text.clone());
        let plain = shouyin_secrets::resolve(&text).map_err(serde::de::Error::custom)?;
        let secret = TerminalSecret::from_hex(&plain).ok_or_else(|| {
            serde::de::Error::custom(format!("secret must be {} hex bytes", wire::SECRET_LEN))
        })?;
        Ok(TerminalSecret {
            reference,
            ..secret
        })
    }
}

/// The contents of the head-office file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HqFile {
    pub version: u32,
    /// Base URL, without a trailing slash, e.g. `https://hq.example.com`.
    pub hq_url: String,
    pub terminal_id: TerminalId,
    pub store: StoreCode,
    pub secret: TerminalSecret,
    /// The highest sequence number head office acknowledged.
    pub acked_seq: u64,
    pub enrolled_at: DateTime<Utc>,
    /// A certificate authority (PEM) to trust for head office besides the
    /// public ones, for a shop with its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hq_ca_file: Option<PathBuf>,
}

fn file_error(path: &Path, what: &str, e: impl fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::Storage,
        format!("head-office file {}: {what}: {e}", path.display()),
    )
}

impl HqFile {
    /// Read the file; `None` if there is none (not enrolled).
    pub fn load(path: &Path) -> Result<Option<HqFile>, ApiError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_error(path, "cannot read", e)),
        };
        let file: HqFile = serde_json::from_str(&text)
            .map_err(|e| file_error(path, "not a head-office file", e))?;
        if file.version != FILE_VERSION {
            return Err(file_error(
                path,
                "unsupported version",
                file.version.to_string(),
            ));
        }
        Ok(Some(file))
    }

    /// Replace the file atomically: a crash leaves the old or the new file,
    /// never a torn one. Owner read/write only: it holds the secret.
    pub fn save(&self, path: &Path) -> Result<(), ApiError> {
        use std::io::Write;
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| file_error(path, "cannot encode", e))?;
        let mut tmp_name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let write = || -> std::io::Result<()> {
            let mut f = options.open(&tmp)?;
            // A leftover temporary file keeps its old mode; set it anyway.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            // The rename is durable once the directory is.
            #[cfg(unix)]
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| file_error(path, "cannot write", e))
    }
}

/// What the sync client remembers between passes (not persisted: after a
/// restart the first pass learns it again).
#[derive(Debug, Default)]
pub(crate) struct SyncShared {
    /// One pass (or enrolment) at a time per counter.
    pass: tokio::sync::Mutex<()>,
    runtime: Mutex<Runtime>,
    /// The background loop is running.
    started: AtomicBool,
    last_emitted: Mutex<Option<SyncStatusDto>>,
}

#[derive(Debug, Default)]
struct Runtime {
    last_success: Option<DateTime<Utc>>,
    offline_since: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// Set when sync stopped for a reason a retry will not fix.
    halted: Option<SyncState>,
    /// Consecutive failed passes, for the backoff.
    failures: u32,
    /// Current batch size; 0 means [`MAX_BATCH`]. Halved on 413.
    batch: usize,
}

/// Why a pass ended early.
#[derive(Debug)]
enum Failure {
    /// Worth retrying later.
    Retry(String),
    /// Stop until someone acts.
    Halt(SyncState, String),
    /// The ledger itself failed.
    Ledger(ApiError),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Sync state is advisory; a panic elsewhere must not stop the till.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn rfc3339(at: DateTime<Utc>) -> String {
    shouyin_ledger::ts(at)
}

fn normalise_url(raw: &str) -> Result<String, ApiError> {
    Ok(crate::hq_url::check_hq_url(raw)?)
}

/// A ledger event as head office receives it, under the enrolled ids.
fn to_wire(event: &shouyin_ledger::Event, file: &HqFile) -> Result<wire::Event, Failure> {
    wire_event(event, file).map_err(Failure::Ledger)
}

/// A ledger event as head office receives it, under the enrolled ids.
pub(crate) fn wire_event(
    event: &shouyin_ledger::Event,
    file: &HqFile,
) -> Result<wire::Event, ApiError> {
    let seq = u64::try_from(event.seq)
        .map_err(|_| ApiError::internal(format!("event seq {}", event.seq)))?;
    let payload = match &event.payload {
        serde_json::Value::Object(map) => map.clone(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("value".into(), other.clone());
            map
        }
    };
    let order_no = payload
        .get("order_no")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(wire::Event {
        seq,
        order_no,
        kind: event.kind.clone(),
        payload,
        at: event.at,
        store: file.store.clone(),
        terminal: file.terminal_id.clone(),
    })
}

impl Counter {
    fn hq_path(&self) -> PathBuf {
        hq_file_path(&self.inner.ledger_path)
    }

    pub(crate) async fn load_hq_file(&self) -> Result<Option<HqFile>, ApiError> {
        let path = self.hq_path();
        blocking(move || HqFile::load(&path)).await
    }

    async fn save_hq_file(&self, file: &HqFile) -> Result<(), ApiError> {
        let path = self.hq_path();
        let file = file.clone();
        blocking(move || file.save(&path)).await
    }

    fn runtime(&self) -> MutexGuard<'_, Runtime> {
        lock(&self.inner.sync.runtime)
    }

    /// Where sync stands: enrolled or not, events waiting and the time of
    /// the oldest, the last success, since when it has been failing, and
    /// the last error. Cheap: two small ledger reads.
    pub async fn sync_status(&self) -> Result<SyncStatusDto, ApiError> {
        let file = self.load_hq_file().await?;
        self.status_of(file.as_ref()).await
    }

    async fn status_of(&self, file: Option<&HqFile>) -> Result<SyncStatusDto, ApiError> {
        let cursor = file.map(|f| f.acked_seq).unwrap_or(0);
        let (last_seq, oldest) = self
            .with_ledger(move |ledger| {
                let last = u64::try_from(ledger.last_seq()?).unwrap_or(0);
                let from = i64::try_from(cursor).unwrap_or(i64::MAX);
                let oldest = ledger.events_after(from, 1)?.first().map(|e| e.at);
                Ok((last, oldest))
            })
            .await?;
        let waiting = last_seq.saturating_sub(cursor);
        let rt = self.runtime();
        let state = match (file, rt.halted, rt.offline_since) {
            (None, _, _) => SyncState::NotEnrolled,
            (Some(_), Some(halted), _) => halted,
            (Some(_), None, Some(_)) => SyncState::Offline,
            (Some(_), None, None) if waiting == 0 => SyncState::CaughtUp,
            (Some(_), None, None) => SyncState::Behind,
        };
        Ok(SyncStatusDto {
            state,
            enrolled: file.is_some(),
            hq_url: file.map(|f| f.hq_url.clone()),
            terminal_id: file.map(|f| f.terminal_id.to_string()),
            store: file.map(|f| f.store.to_string()),
            acked_seq: cursor,
            last_seq,
            waiting,
            oldest_waiting_at: if waiting > 0 {
                oldest.map(rfc3339)
            } else {
                None
            },
            last_success_at: rt.last_success.map(rfc3339),
            offline_since: rt.offline_since.map(rfc3339),
            last_error: rt.last_error.clone(),
            notifications_live: self.relay_live(),
        })
    }

    /// Tell the UI, if anything changed since last time.
    pub(crate) fn emit_status(&self, status: &SyncStatusDto) {
        {
            let mut last = lock(&self.inner.sync.last_emitted);
            if last.as_ref() == Some(status) {
                return;
            }
            *last = Some(status.clone());
        }
        self.emit(CounterEvent::SyncStatus {
            status: status.clone(),
        });
    }

    /// Enrol this ledger with head office using a one-time code. Refuses a
    /// ledger already enrolled; see [`Counter::sync_enroll_with`] to force.
    pub async fn sync_enroll(
        &self,
        hq_url: String,
        code: String,
    ) -> Result<SyncStatusDto, ApiError> {
        self.sync_enroll_with(hq_url, code, false).await
    }

    /// Enrol, replacing an existing enrolment when `force` is set (a new
    /// head office; the cursor then starts again from zero, which is
    /// harmless). Head office enrols the ledger's own terminal id.
    pub async fn sync_enroll_with(
        &self,
        hq_url: String,
        code: String,
        force: bool,
    ) -> Result<SyncStatusDto, ApiError> {
        self.sync_enroll_trusting(hq_url, code, force, None).await
    }

    /// Enrol as [`Counter::sync_enroll_with`] does, trusting the certificate
    /// authority in the PEM file `hq_ca_file` for head office (a shop's
    /// private CA); the file's path is kept for every later request.
    pub async fn sync_enroll_trusting(
        &self,
        hq_url: String,
        code: String,
        force: bool,
        hq_ca_file: Option<PathBuf>,
    ) -> Result<SyncStatusDto, ApiError> {
        let url = normalise_url(&hq_url)?;
        let hq_ca_file = match hq_ca_file {
            Some(path) => Some(std::path::absolute(&path).map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("head office's CA file {}: {e}", path.display()),
                )
            })?),
            None => None,
        };
        let code = code.trim().to_owned();
        if code.is_empty() {
            return Err(
                ApiError::new(ErrorCode::InvalidInput, "the enrolment code is empty")
                    .detail("enrol_code_empty"),
            );
        }
        let _pass = self.inner.sync.pass.lock().await;
        // With force, a file that cannot be read (its secret gone from the
        // Secret Service, say) is what re-enrolment is for.
        let existing = match self.load_hq_file().await {
            Err(_) if force => None,
            other => other?,
        };
        let replaced = existing.as_ref().map(|e| e.secret.clone());
        if let Some(existing) = existing {
            if !force {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "this ledger is already enrolled at {} as terminal {} of store {}; \
                         enrol again only with force",
                        existing.hq_url, existing.terminal_id, existing.store
                    ),
                )
                .detail("already_enrolled")
                .with("terminal", &existing.terminal_id));
            }
        }
        let terminal = self
            .with_ledger(|ledger| Ok(ledger.terminal().terminal.clone()))
            .await?;
        let request = EnrollRequest {
            code,
            terminal_id: Some(terminal.clone()),
        };
        let enrolled = match self
            .inner
            .hq
            .enroll(&url, hq_ca_file.as_deref(), &request)
            .await
        {
            Ok(enrolled) => enrolled,
            // The code or the id asked for is the user's to fix; anything
            // else is head office's own failure.
            Err(HqError::Refused {
                status,
                code: Some(code),
                message,
            }) if matches!(
                code,
                wire::ErrorCode::BadEnrollCode
                    | wire::ErrorCode::BadRequest
                    | wire::ErrorCode::TerminalIdTaken
            ) =>
            {
                let api_code = if code == wire::ErrorCode::TerminalIdTaken {
                    ErrorCode::Conflict
                } else {
                    ErrorCode::InvalidInput
                };
                let detail = match code {
                    wire::ErrorCode::TerminalIdTaken => "terminal_id_taken",
                    wire::ErrorCode::BadEnrollCode => "enrol_code",
                    _ => "enrol_refused",
                };
                return Err(ApiError::new(
                    api_code,
                    format!("head office refused the enrolment ({status}): {message}"),
                )
                .detail(detail)
                .with("terminal", &terminal));
            }
            Err(e) => return Err(ApiError::from(e).during(format!("enrolment at {url}"))),
        };
        if enrolled.terminal_id != terminal {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "head office enrolled terminal {} but this ledger is terminal {terminal}; \
                     nothing was saved (is head office older than this program?)",
                    enrolled.terminal_id
                ),
            )
            .detail("enrolled_other_terminal")
            .with("terminal", &terminal));
        }
        let secret = TerminalSecret::from_hex(&enrolled.secret).ok_or_else(|| {
            ApiError::internal("head office sent a secret of the wrong shape".to_owned())
        })?;
        let store = self.secret_store();
        let secret = blocking(move || {
            secret
                .kept_in(store)
                .map_err(|e| ApiError::new(ErrorCode::Storage, e.to_string()))
        })
        .await?;
        let file = HqFile {
            version: FILE_VERSION,
            hq_url: url,
            terminal_id: enrolled.terminal_id,
            store: enrolled.store,
            secret,
            acked_seq: 0,
            enrolled_at: self.now(),
            hq_ca_file,
        };
        self.save_hq_file(&file).await?;
        if let Some(old) = replaced.and_then(|s| s.reference) {
            let dropped = blocking(move || Ok(shouyin_secrets::forget(&old))).await?;
            if let Err(e) = dropped {
                tracing::warn!("the replaced head-office secret stays in the Secret Service: {e}");
            }
        }
        *self.runtime() = Runtime::default();
        tracing::info!(terminal = %file.terminal_id, store = %file.store, hq = %file.hq_url, "enrolled with head office");
        let status = self.status_of(Some(&file)).await?;
        self.emit_status(&status);
        Ok(status)
    }

    /// One full pass now: send until caught up or an attempt fails. The
    /// status says how it went (`state`, `last_error`).
    pub async fn sync_now(&self) -> Result<SyncStatusDto, ApiError> {
        Ok(self.sync_pass().await?.status)
    }

    /// One full pass, with what it sent (`shouyin sync`), channel calls
    /// included whatever the time since their last report.
    pub async fn sync_pass(&self) -> Result<SyncPassDto, ApiError> {
        self.sync_pass_reporting(true).await
    }

    async fn sync_pass_reporting(&self, report_now: bool) -> Result<SyncPassDto, ApiError> {
        let _pass = self.inner.sync.pass.lock().await;
        let Some(mut file) = self.load_hq_file().await? else {
            let status = self.status_of(None).await?;
            self.emit_status(&status);
            return Ok(SyncPassDto {
                ok: false,
                sent: 0,
                batches: 0,
                error: Some("not enrolled with head office".into()),
                status,
            });
        };
        // A file from before plain http:// was refused, or edited by hand:
        // nothing goes out until the address is put right.
        normalise_url(&file.hq_url)?;
        let mut sent = 0u64;
        let mut batches = 0u64;
        let outcome = self.ship(&mut file, &mut sent, &mut batches).await;
        // Channel counts are advisory: a head office that does not take
        // them (an older one, a refusal) does not stop the ledger's sync;
        // the counts wait for the next pass.
        if outcome.is_ok() {
            if let Err(failure) = self.report_calls(&file, report_now).await {
                tracing::warn!("channel-call report not taken: {failure:?}");
            }
        }
        let now = self.now();
        let error = {
            let mut rt = self.runtime();
            match &outcome {
                Ok(()) => {
                    rt.last_success = Some(now);
                    rt.offline_since = None;
                    rt.last_error = None;
                    rt.halted = None;
                    rt.failures = 0;
                    None
                }
                Err(Failure::Retry(message)) => {
                    rt.offline_since.get_or_insert(now);
                    rt.last_error = Some(message.clone());
                    rt.halted = None;
                    rt.failures = rt.failures.saturating_add(1);
                    Some(message.clone())
                }
                Err(Failure::Halt(state, message)) => {
                    rt.last_error = Some(message.clone());
                    rt.halted = Some(*state);
                    rt.failures = rt.failures.saturating_add(1);
                    Some(message.clone())
                }
                Err(Failure::Ledger(e)) => {
                    rt.last_error = Some(e.message.clone());
                    rt.failures = rt.failures.saturating_add(1);
                    Some(e.message.clone())
                }
            }
        };
        if let Err(failure) = &outcome {
            tracing::warn!(sent, "sync pass stopped: {failure:?}");
        }
        let status = self.status_of(Some(&file)).await?;
        self.emit_status(&status);
        Ok(SyncPassDto {
            ok: outcome.is_ok(),
            sent,
            batches,
            error,
            status,
        })
    }

    /// Send batches until caught up. The cursor in `file` (and on disk)
    /// moves only on head office's answer.
    async fn ship(
        &self,
        file: &mut HqFile,
        sent: &mut u64,
        batches: &mut u64,
    ) -> Result<(), Failure> {
        let mut stalls = 0u32;
        let mut resets = 0u32;
        loop {
            let limit = match self.runtime().batch {
                0 => MAX_BATCH,
                n => n,
            };
            let cursor = file.acked_seq;
            let from = i64::try_from(cursor).unwrap_or(i64::MAX);
            let (events, last_seq, ledger_terminal) = self
                .with_ledger(move |ledger| {
                    Ok((
                        ledger.events_after(from, limit as u32)?,
                        u64::try_from(ledger.last_seq()?).unwrap_or(0),
                        ledger.terminal().terminal.clone(),
                    ))
                })
                .await
                .map_err(Failure::Ledger)?;
            if ledger_terminal != file.terminal_id {
                return Err(Failure::Halt(
                    SyncState::Conflict,
                    format!(
                        "the head-office file is for terminal {} but this ledger is terminal {}",
                        file.terminal_id, ledger_terminal
                    ),
                ));
            }
            if last_seq < cursor {
                return Err(self.conflict(format!(
                    "the ledger ends at event {last_seq} but head office acknowledged {cursor}: \
                     the ledger was replaced by an older copy"
                )));
            }
            let Some(last_in_batch) = events.last().map(|e| e.seq) else {
                return Ok(());
            };
            let wire_events = events
                .iter()
                .map(|e| to_wire(e, file))
                .collect::<Result<Vec<_>, _>>()?;
            let count = wire_events.len() as u64;
            let batch = EventBatch {
                events: wire_events,
                outbox_remaining: Some(
                    last_seq.saturating_sub(u64::try_from(last_in_batch).unwrap_or(0)),
                ),
            };
            let body = serde_json::to_vec(&batch)
                .map_err(|e| Failure::Ledger(ApiError::internal(e.to_string())))?;
            let answer = self.inner.hq.post_events(file, body).await;
            if answer.as_ref().map_or_else(HqError::answered, |_| true) {
                *sent += count;
                *batches += 1;
            }
            let ack = match answer {
                Ok(ack) => ack,
                // The link broke after connecting. A server refusing an
                // oversized body often closes before its 413 can be read, so
                // try a smaller batch at once; a link that is really down
                // fails to connect next time and ends the pass.
                Err(HqError::Unreachable {
                    reason,
                    mid_request: true,
                }) if limit > 1 && resets < MAX_RESETS => {
                    resets += 1;
                    self.runtime().batch = limit / 2;
                    tracing::info!(batch = limit / 2, "connection lost mid-request: {reason}");
                    continue;
                }
                Err(HqError::Refused {
                    status: 409,
                    message,
                    ..
                }) => {
                    return Err(self.conflict(format!(
                        "head office holds {message}: this ledger's history changed"
                    )));
                }
                Err(HqError::Refused { status: 413, .. }) => {
                    if limit <= 1 {
                        return Err(Failure::Retry(
                            "one event is larger than head office accepts".into(),
                        ));
                    }
                    self.runtime().batch = limit / 2;
                    tracing::info!(batch = limit / 2, "head office found the batch too large");
                    continue;
                }
                Err(HqError::Refused {
                    code: Some(code),
                    message,
                    ..
                }) => {
                    use wire::ErrorCode as W;
                    match code {
                        W::TerminalRevoked => {
                            return Err(Failure::Halt(
                                SyncState::Revoked,
                                format!("head office revoked this terminal: {message}"),
                            ))
                        }
                        W::BadSignature | W::AuthMissing | W::AuthMalformed => {
                            return Err(Failure::Halt(
                                SyncState::Unauthorised,
                                format!("head office does not accept this terminal's signature: {message}"),
                            ))
                        }
                        W::ForeignEvent => {
                            return Err(self.conflict(format!(
                                "head office says these events belong to another terminal: {message}"
                            )))
                        }
                        W::ReplayedNonce => {
                            stalls += 1;
                            if stalls >= MAX_STALLS {
                                return Err(Failure::Retry(format!(
                                    "head office refused fresh nonces: {message}"
                                )));
                            }
                            continue;
                        }
                        W::StaleTimestamp => {
                            return Err(Failure::Retry(format!(
                                "this computer's clock is more than five minutes from head office's: {message}"
                            )))
                        }
                        _ => {
                            return Err(Failure::Retry(format!(
                                "head office refused the batch: {message}"
                            )))
                        }
                    }
                }
                Err(e) => return Err(Failure::Retry(e.to_string())),
            };
            resets = 0;
            if ack.acked_seq > last_seq {
                return Err(self.conflict(format!(
                    "head office holds events up to {} but this ledger ends at {last_seq}",
                    ack.acked_seq
                )));
            }
            if ack.acked_seq < cursor {
                tracing::warn!(
                    acked = ack.acked_seq,
                    cursor,
                    "head office is missing events it acknowledged before; sending them again"
                );
            }
            if ack.acked_seq == cursor {
                stalls += 1;
                if stalls >= MAX_STALLS {
                    return Err(Failure::Retry(format!(
                        "head office stores events but its acknowledgement stays at {} \
                         (missing {:?}..={:?})",
                        ack.acked_seq, ack.missing_from, ack.missing_to
                    )));
                }
            } else {
                stalls = 0;
                file.acked_seq = ack.acked_seq;
                self.save_hq_file(file).await.map_err(Failure::Ledger)?;
            }
            // A batch went through: grow back towards the full size.
            {
                let mut rt = self.runtime();
                if rt.batch != 0 {
                    rt.batch = (rt.batch * 2).min(MAX_BATCH);
                }
            }
            if let Ok(s) = self.status_of(Some(file)).await {
                self.emit_status(&s);
            }
        }
    }

    /// Send the channel calls not yet reported, when due (or `now`). A report
    /// head office does not take drops nothing: the counts wait for the next try.
    async fn report_calls(&self, file: &HqFile, now: bool) -> Result<(), Failure> {
        let calls = &self.inner.calls;
        let left = crate::channel_calls::calls_file_path(&self.inner.ledger_path);
        // A small file, read once per pass.
        if let Err(e) = calls.load_left(&left) {
            tracing::warn!("unreported channel calls could not be read: {e}");
        }
        let started = std::time::Instant::now();
        if !now && !calls.due(started) {
            return Ok(());
        }
        let Some(mut report) = calls.report(self.now()) else {
            return Ok(());
        };
        let name = self.store_name();
        let name = name.trim();
        if !name.is_empty() {
            report.store_name = Some(
                name.chars()
                    .take(wire::channel_report::MAX_STORE_NAME_CHARS)
                    .collect(),
            );
        }
        let body = serde_json::to_vec(&report)
            .map_err(|e| Failure::Ledger(ApiError::internal(e.to_string())))?;
        match self.inner.hq.post_channel_report(file, body).await {
            Ok(_) => {
                calls.taken(&report, started);
                Ok(())
            }
            Err(e) => {
                calls.tried(started);
                Err(Failure::Retry(format!(
                    "head office did not take the channel-call report: {e}"
                )))
            }
        }
    }

    /// Leave unreported channel calls beside the ledger for the next
    /// process (the CLI's charges end with the process).
    pub(crate) fn leave_unreported_calls(&self) {
        let path = crate::channel_calls::calls_file_path(&self.inner.ledger_path);
        if self.inner.calls.is_empty() {
            return;
        }
        // Merge with a file an earlier process left, so nothing is lost.
        if let Err(e) = self
            .inner
            .calls
            .load_left(&path)
            .and_then(|()| self.inner.calls.save_left(&path, self.now()))
        {
            tracing::warn!(path = %path.display(), "unreported channel calls not kept: {e}");
        }
    }

    /// A history conflict: stop, and raise an alarm.
    fn conflict(&self, message: String) -> Failure {
        tracing::error!("sync stopped: {message}");
        self.emit(CounterEvent::Alarm {
            alarm: AlarmDto {
                kind: "sync_stopped".to_owned(),
                at: rfc3339(self.now()),
                channel: None,
                order_no: None,
                message: format!("sync to head office stopped: {message}"),
            },
        });
        Failure::Halt(SyncState::Conflict, message)
    }

    /// Start the background sync loop (once per counter; later calls do
    /// nothing). It stops when the counter shuts down.
    pub fn start_sync(&self) {
        if self.inner.sync.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let counter = self.clone();
        tokio::spawn(async move {
            counter.sync_run(|_| {}).await;
            counter.inner.sync.started.store(false, Ordering::SeqCst);
        });
    }

    /// The sync loop itself, calling `on_pass` after every pass: a pass,
    /// then a wait — [`IDLE_INTERVAL`] when caught up (cut short when a
    /// sale is committed), backoff with full jitter after a failure, long
    /// when sync stopped for good. Returns when the counter shuts down.
    pub async fn sync_run<F: FnMut(&SyncPassDto) + Send>(&self, mut on_pass: F) {
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut changes = self.subscribe();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let pass = self.sync_pass_reporting(false).await;
            let (delay, wake_on_sale) = match &pass {
                Ok(p) => {
                    on_pass(p);
                    match p.status.state {
                        _ if p.ok => (IDLE_INTERVAL, true),
                        SyncState::NotEnrolled => (IDLE_INTERVAL, false),
                        SyncState::Revoked | SyncState::Unauthorised | SyncState::Conflict => {
                            (HALTED_INTERVAL, false)
                        }
                        _ => (backoff(self.runtime().failures), false),
                    }
                }
                Err(e) => {
                    tracing::warn!("sync pass failed: {e}");
                    (backoff(self.runtime().failures), false)
                }
            };
            let deadline = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = shutdown.changed() => return,
                    change = changes.recv(), if wake_on_sale => match change {
                        Ok(CounterEvent::OrderChanged { .. })
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            tokio::select! {
                                _ = tokio::time::sleep(AFTER_SALE_DELAY) => break,
                                _ = shutdown.changed() => return,
                            }
                        }
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn hq_file_sits_beside_the_ledger() {
        assert_eq!(
            hq_file_path(Path::new("/data/shop/ledger.db")),
            PathBuf::from("/data/shop/ledger.db.hq.json")
        );
        assert_eq!(
            hq_file_path(Path::new("ledger.db")),
            PathBuf::from("ledger.db.hq.json")
        );
    }

    #[test]
    fn secret_never_prints_and_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db.hq.json");
        let file = HqFile {
            version: FILE_VERSION,
            hq_url: "http://127.0.0.1:1".into(),
            terminal_id: TerminalId::parse("T01").unwrap(),
            store: StoreCode::parse("SH01").unwrap(),
            secret: TerminalSecret::from_hex(&"ab".repeat(32)).unwrap(),
            acked_seq: 7,
            enrolled_at: Utc::now(),
            hq_ca_file: None,
        };
        assert!(!format!("{file:?}").contains(&"ab".repeat(32)));
        file.save(&path).unwrap();
        file.save(&path).unwrap();
        let back = HqFile::load(&path).unwrap().unwrap();
        assert_eq!(back.secret, file.secret);
        assert_eq!(back.acked_seq, 7);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "hq file mode {mode:o}");
        }
        assert!(HqFile::load(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            normalise_url(" https://hq.local:8080/ ").unwrap(),
            "https://hq.local:8080"
        );
        assert_eq!(
            normalise_url("http://hq.local:8080").unwrap_err().code,
            ErrorCode::InsecureHqUrl
        );
        assert!(normalise_url("hq.local").is_err());
        assert!(normalise_url("http://").is_err());
    }
}
