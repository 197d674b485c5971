//! What travels between a terminal and head office: the request and response
//! bodies, the ledger event, the error body, and the request signature.
//!
//! Both sides link this crate — the terminal's sync and relay clients
//! (`shouyin-api`) and the head-office server (`shouyin-hq`) — so a change
//! here is a change of protocol. It holds no server code (no HTTP framework,
//! no database client): the desktop app depends on it.
//!
//! # Signing
//!
//! Every terminal request (all but enrolment) carries four headers:
//!
//! | header | value |
//! |---|---|
//! | `x-shouyin-terminal` | the terminal id |
//! | `x-shouyin-timestamp` | Unix seconds, decimal |
//! | `x-shouyin-nonce` | 16–64 characters of `[A-Za-z0-9_-]`, fresh per request |
//! | `x-shouyin-signature` | lowercase hex HMAC-SHA256 of the canonical text under the terminal secret |
//!
//! The canonical text is these lines joined by `\n`, with no trailing newline:
//!
//! ```text
//! SHOUYIN-HMAC-SHA256
//! {METHOD}            upper case, e.g. POST
//! {path}              path and query exactly as sent, e.g. /v1/events
//! {terminal}
//! {timestamp}
//! {nonce}
//! {hex sha256(body)}  lowercase; the hash of the empty string for no body
//! ```
//!
//! The timestamp must be within [`MAX_CLOCK_SKEW_SECS`] of the server clock and
//! a nonce is accepted once, so a captured request cannot be replayed.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shouyin_core::TerminalId;

pub mod channel_report;
pub use channel_report::{
    CallKind, CallLine, CallOutcome, ChannelReport, ChannelReportAck, CALL_BUCKETS,
    CALL_BUCKET_SLOTS, CHANNEL_REPORT_PATH,
};

pub const HEADER_TERMINAL: &str = "x-shouyin-terminal";
pub const HEADER_TIMESTAMP: &str = "x-shouyin-timestamp";
pub const HEADER_NONCE: &str = "x-shouyin-nonce";
pub const HEADER_SIGNATURE: &str = "x-shouyin-signature";

/// The first line of the canonical text; names the scheme so a future one
/// cannot be confused with it.
pub const SIGNATURE_SCHEME: &str = "SHOUYIN-HMAC-SHA256";

/// How far a request's timestamp may be from the server clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

pub const ENROLL_PATH: &str = "/v1/terminals/enroll";
pub const EVENTS_PATH: &str = "/v1/events";
/// A terminal fetches the channels' notifications for it here (signed GET,
/// `?after=ID&wait=SECS`): a long poll that answers as soon as there is one.
pub const RELAY_PATH: &str = "/v1/relay";
/// Longest a relay request is held open, in seconds.
pub const RELAY_MAX_WAIT_SECS: u64 = 30;
/// The relay query parameter naming the version of the channel
/// suspensions the terminal holds (empty: none yet). When head office's
/// version differs, the answer carries the current set at once; a
/// terminal that leaves the parameter out is never sent one.
pub const RELAY_SUSPENSIONS_PARAM: &str = "suspensions";
/// Head office's admin endpoints that suspend a channel and lift the
/// suspension (admin token, JSON body [`ChannelControlRequest`]), and list
/// the current ones.
pub const CHANNEL_SUSPEND_PATH: &str = "/v1/channels/suspend";
pub const CHANNEL_LIFT_PATH: &str = "/v1/channels/lift";
pub const CHANNEL_SUSPENSIONS_PATH: &str = "/v1/channels/suspensions";
/// The channels post their payment notifications here (open: the channels
/// sign them, and only the terminal holds the keys to check).
pub const NOTIFY_ROUTE: &str = "/v1/notify/{terminal}/{channel}";

/// The notify URL to give a channel for orders of `terminal`.
pub fn notify_url(hq_url: &str, terminal: &TerminalId, channel: &str) -> String {
    format!(
        "{}/v1/notify/{terminal}/{channel}",
        hq_url.trim_end_matches('/')
    )
}

/// A terminal secret is this many random bytes, sent hex-encoded once at enrolment.
pub const SECRET_LEN: usize = 32;

/// Nonce length bounds, in characters.
pub const NONCE_MIN_LEN: usize = 16;
pub const NONCE_MAX_LEN: usize = 64;

/// A store code as head office knows it: 1–32 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StoreCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a store code is 1 to 32 ASCII letters, digits, '_' or '-' (such as SH01), not '{0}'; the store's name (南京路店) comes from its tills' ledgers")]
pub struct BadStoreCode(pub String);

impl StoreCode {
    pub fn parse(raw: &str) -> Result<StoreCode, BadStoreCode> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Ok(StoreCode(raw.to_owned()))
        } else {
            Err(BadStoreCode(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StoreCode {
    type Error = BadStoreCode;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        StoreCode::parse(&value)
    }
}

impl From<StoreCode> for String {
    fn from(value: StoreCode) -> Self {
        value.0
    }
}

impl std::fmt::Display for StoreCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One ledger event as the terminal's outbox ships it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Per terminal, from 1, without gaps at the source.
    pub seq: u64,
    pub order_no: String,
    /// e.g. `order_created`, `order_paid`, `refund_succeeded`; head office
    /// stores every kind and reports on the ones it knows.
    pub kind: String,
    /// Always a JSON object.
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// When the event happened, UTC.
    pub at: DateTime<Utc>,
    pub store: StoreCode,
    pub terminal: TerminalId,
}

/// Kinds the daily report reads; every other kind is stored and ignored there.
pub mod kinds {
    pub const ORDER_CREATED: &str = "order_created";
    /// payload `{amount_fen, channel, ...}`
    pub const ORDER_PAID: &str = "order_paid";
    /// payload `{refund_fen, ...}`
    pub const REFUND_SUCCEEDED: &str = "refund_succeeded";
}

/// `POST /v1/events`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<Event>,
    /// How many events the terminal still holds after this batch, if it
    /// knows; shown on the dashboard as the backlog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_remaining: Option<u64>,
}

/// The answer to a batch (HTTP 200, or 409 when `conflicts` is not empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsAck {
    /// The highest sequence number such that every event 1..=acked_seq of
    /// this terminal is stored. The client moves its cursor here.
    pub acked_seq: u64,
    /// The highest sequence number stored for this terminal.
    pub highest_seq: u64,
    /// The first gap after `acked_seq`, if events beyond it are stored:
    /// `missing_from..=missing_to` are absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_to: Option<u64>,
    /// Events of this batch stored now.
    pub stored: u64,
    /// Events of this batch already stored with the same content.
    pub duplicates: u64,
    /// Sequence numbers already stored with different content; these were
    /// not overwritten.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<u64>,
}

/// `POST /v1/terminals/enroll` (unsigned: the terminal has no secret yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub code: String,
    /// The id the terminal already uses in its order numbers. When given,
    /// head office enrols the terminal under exactly this id, or refuses with
    /// `terminal_id_taken` (leaving the code unspent) if another terminal of
    /// the chain holds it: order numbers are unique across the chain only
    /// if terminal ids are. When absent, head office draws a new id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<TerminalId>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub terminal_id: TerminalId,
    pub store: StoreCode,
    /// Hex of [`SECRET_LEN`] bytes. Shown once; keep it in the terminal's
    /// secret store.
    pub secret: String,
}

impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("terminal_id", &self.terminal_id)
            .field("store", &self.store)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Every error answer has this body; clients branch on `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// For `bad_request`: the JSON path of the offending field, e.g. `events[3].seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No or incomplete signature headers.
    AuthMissing,
    /// Signature headers present but not of the right shape.
    AuthMalformed,
    /// Unknown terminal or wrong signature: deliberately one code.
    BadSignature,
    /// Timestamp more than five minutes from the server clock.
    StaleTimestamp,
    /// Nonce already used within the window.
    ReplayedNonce,
    /// An event names another terminal or store than the signer's.
    ForeignEvent,
    TerminalRevoked,
    /// Enrolment code unknown, used or expired.
    BadEnrollCode,
    /// The terminal id asked for at enrolment is already enrolled.
    TerminalIdTaken,
    /// Missing or wrong admin token.
    AdminAuth,
    BadRequest,
    BodyTooLarge,
    NotFound,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthMissing => "auth_missing",
            ErrorCode::AuthMalformed => "auth_malformed",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::StaleTimestamp => "stale_timestamp",
            ErrorCode::ReplayedNonce => "replayed_nonce",
            ErrorCode::ForeignEvent => "foreign_event",
            ErrorCode::TerminalRevoked => "terminal_revoked",
            ErrorCode::BadEnrollCode => "bad_enroll_code",
            ErrorCode::TerminalIdTaken => "terminal_id_taken",
            ErrorCode::AdminAuth => "admin_auth",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Internal => "internal",
        }
    }
}

/// `GET /v1/terminals`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalInfo {
    pub id: TerminalId,
    pub store: StoreCode,
    pub enrolled_at: DateTime<Utc>,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Highest contiguous sequence stored (the terminal's cursor).
    pub acked_seq: u64,
    pub highest_seq: u64,
    /// Events the terminal said it still held at its last sync.
    pub outbox_remaining: Option<u64>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalList {
    pub terminals: Vec<TerminalInfo>,
}

/// One store's (or all stores') takings for a business day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Takings {
    /// Paid orders.
    pub count: u64,
    pub refund_count: u64,
    pub gross_fen: i64,
    pub refunds_fen: i64,
    pub net_fen: i64,
    /// The same amounts as decimal yuan strings, e.g. "12.30".
    pub gross: String,
    pub refunds: String,
    pub net: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreTakings {
    pub store: StoreCode,
    #[serde(flatten)]
    pub takings: Takings,
}

/// `GET /v1/reports/daily?date=YYYY-MM-DD[&store=S]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyReport {
    pub date: chrono::NaiveDate,
    /// The IANA zone the business day is taken in.
    pub timezone: String,
    pub day_start: DateTime<Utc>,
    pub day_end: DateTime<Utc>,
    pub stores: Vec<StoreTakings>,
    pub total: Takings,
    /// Payment or refund events whose amount could not be read; left out of
    /// the sums and counted so nobody mistakes the total for complete.
    pub unreadable_events: u64,
}

/// A channel's notification, passed on untouched: the terminal checks the
/// channel's signature itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayedNotice {
    pub id: u64,
    /// `alipay` or `wechat`, from the URL the channel posted to.
    pub channel: String,
    pub received_at: DateTime<Utc>,
    /// The request headers the channel's signature covers (lower-case names).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The answer to a relay request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayAnswer {
    pub notices: Vec<RelayedNotice>,
    /// Ask with `after=` this next time.
    pub next_after: u64,
    /// The channels suspended for the terminal's store, when the terminal
    /// did not hold this version (see [`RELAY_SUSPENSIONS_PARAM`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspensions: Option<SuspensionSet>,
}

/// Every channel suspended for one store, as of one version of head
/// office's channel control (the number of its last change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspensionSet {
    pub version: u64,
    pub channels: Vec<ChannelSuspension>,
}

/// One suspended channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSuspension {
    /// `alipay`, `wechat` or `unionpay`.
    pub channel: String,
    /// Why, in head office's words; shown to the cashier.
    pub reason: String,
    pub since: DateTime<Utc>,
    /// Suspended for every store rather than this one alone.
    pub all_stores: bool,
}

/// The channels head office may suspend (cash never goes through one).
pub const SUSPENDABLE_CHANNELS: [&str; 3] = ["alipay", "wechat", "unionpay"];
/// Longest reason kept, in characters (it must fit on a channel button).
pub const SUSPENSION_REASON_MAX_CHARS: usize = 60;
/// Longest name of whoever suspends or lifts, in characters.
pub const CONTROL_ACTOR_MAX_CHARS: usize = 64;

/// An admin's request to suspend a channel or lift its suspension: for one
/// store (`store`) or all (`all_stores`), never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelControlRequest {
    #[serde(default)]
    pub store: Option<StoreCode>,
    #[serde(default)]
    pub all_stores: bool,
    pub channel: String,
    /// Required to suspend; optional to lift.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who asks (the admin token is shared, the name goes in the audit).
    #[serde(default)]
    pub by: String,
}

/// The answer to a suspend or lift request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelControlAck {
    /// The control version after the change; tills holding an older one
    /// are sent the new set.
    pub version: u64,
    /// Suspensions the change removed (a lift) or 1 (a suspension).
    pub changed: u64,
}

/// One suspension as the admin listing shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspensionEntry {
    /// `None`: all stores.
    pub store: Option<StoreCode>,
    pub channel: String,
    pub reason: String,
    pub since: DateTime<Utc>,
    pub by: String,
}

/// One suspend or lift, as head office's audit keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlLogEntry {
    pub id: u64,
    pub at: DateTime<Utc>,
    pub by: String,
    /// How it was asked: `cli`, `http` (the admin endpoint) or `page`.
    pub via: String,
    /// `suspend` or `lift`.
    pub action: String,
    pub store: Option<StoreCode>,
    pub channel: String,
    pub reason: Option<String>,
}

/// The admin listing: current suspensions and the latest changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspensionList {
    pub version: u64,
    pub suspensions: Vec<SuspensionEntry>,
    pub log: Vec<ControlLogEntry>,
}

/// A rescue file: every event a terminal holds that head office has not
/// acknowledged, for a till whose network is gone for good. Head office
/// imports it by hand and stores each (terminal, seq) at most once, as it
/// does for a batch it receives.
///
/// The batch travels as the exact JSON text that was signed. The signature
/// is the request signature's (see the module documentation) over method
/// [`RESCUE_METHOD`] and path [`RESCUE_PATH`], which no live request uses,
/// so a rescue file can never be replayed as a request, nor a captured
/// request passed off as a rescue file. There is no clock check: a rescue
/// may be imported days after it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescueFile {
    /// [`RESCUE_FORMAT`].
    pub format: String,
    pub terminal: TerminalId,
    pub store: StoreCode,
    /// Unix seconds when it was written.
    pub timestamp: i64,
    pub nonce: String,
    /// Lowercase hex HMAC-SHA256 under the terminal secret.
    pub signature: String,
    /// The first and last sequence numbers in the batch.
    pub first_seq: u64,
    pub last_seq: u64,
    /// An [`EventBatch`] as JSON text.
    pub batch: String,
}

pub const RESCUE_FORMAT: &str = "shouyin-rescue-1";
pub const RESCUE_METHOD: &str = "RESCUE";
pub const RESCUE_PATH: &str = "/v1/rescue";

impl RescueFile {
    /// The text the signature covers.
    pub fn canonical_text(&self) -> String {
        canonical_text(
            RESCUE_METHOD,
            RESCUE_PATH,
            self.terminal.as_str(),
            self.timestamp,
            &self.nonce,
            self.batch.as_bytes(),
        )
    }
}

/// Lowercase hex SHA-256 of a body.
pub fn body_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The exact text that is signed; see the module documentation.
pub fn canonical_text(
    method: &str,
    path_and_query: &str,
    terminal: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{SIGNATURE_SCHEME}\n{}\n{path_and_query}\n{terminal}\n{timestamp}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        body_digest(body)
    )
}

type HmacSha256 = Hmac<Sha256>;

fn mac_over(secret: &[u8], text: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this never fails; the fallback
    // keeps the code free of panics all the same.
    let mut mac = HmacSha256::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(text.as_bytes());
    mac
}

/// Lowercase hex HMAC-SHA256 of `text` under `secret`.
pub fn signature(secret: &[u8], text: &str) -> String {
    hex::encode(mac_over(secret, text).finalize().into_bytes())
}

/// Whether `sig_hex` is the signature of `text` under `secret`, compared in
/// constant time.
pub fn verify_signature(secret: &[u8], text: &str, sig_hex: &str) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else {
        return false;
    };
    mac_over(secret, text).verify_slice(&sig).is_ok()
}

/// The four headers of a signed request, as (name, value) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub terminal: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl SignedHeaders {
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (HEADER_TERMINAL, &self.terminal),
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_NONCE, &self.nonce),
            (HEADER_SIGNATURE, &self.signature),
        ]
    }
}

/// Sign a request for head office. `secret` is the raw secret (decode the
/// hex from [`EnrollResponse::secret`] first); `nonce` must be fresh for
/// every request, e.g. [`new_nonce`].
pub fn sign_request(
    secret: &[u8],
    terminal: &TerminalId,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: DateTime<Utc>,
    nonce: &str,
) -> SignedHeaders {
    let timestamp = now.timestamp();
    let text = canonical_text(
        method,
        path_and_query,
        terminal.as_str(),
        timestamp,
        nonce,
        body,
    );
    SignedHeaders {
        terminal: terminal.as_str().to_owned(),
        timestamp: timestamp.to_string(),
        nonce: nonce.to_owned(),
        signature: signature(secret, &text),
    }
}

/// A random 32-character nonce.
pub fn new_nonce<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    let bytes: [u8; 16] = rng.gen();
    hex::encode(bytes)
}

/// Whether a nonce has the accepted shape.
pub fn is_valid_nonce(nonce: &str) -> bool {
    (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len())
        && nonce
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_stable() {
        let text = canonical_text(
            "post",
            "/v1/events",
            "T1",
            1_700_000_000,
            "n".repeat(16).as_str(),
            b"",
        );
        assert_eq!(
            text,
            "SHOUYIN-HMAC-SHA256\nPOST\n/v1/events\nT1\n1700000000\nnnnnnnnnnnnnnnnn\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            signature(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signed_request_verifies_and_tampering_does_not() {
        let t = TerminalId::parse("T1").unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let h = sign_request(
            b"secret",
            &t,
            "POST",
            "/v1/events",
            b"{}",
            now,
            "abcdefghijklmnop",
        );
        let text = canonical_text(
            "POST",
            "/v1/events",
            "T1",
            now.timestamp(),
            "abcdefghijklmnop",
            b"{}",
        );
        assert!(verify_signature(b"secret", &text, &h.signature));
        assert!(!verify_signature(b"other", &text, &h.signature));
        let tampered = canonical_text(
            "POST",
            "/v1/events",
            "T1",
            now.timestamp(),
            "abcdefghijklmnop",
            b"{ }",
        );
        assert!(!verify_signature(b"secret", &tampered, &h.signature));
        assert!(!verify_signature(b"secret", &text, "zz"));
    }

    #[test]
    fn store_codes_and_nonces() {
        assert!(StoreCode::parse("SH-001").is_ok());
        assert!(StoreCode::parse("").is_err());
        assert!(StoreCode::parse("上海").is_err());
        assert!(is_valid_nonce(&new_nonce(&mut rand::thread_rng())));
        assert!(!is_valid_nonce("short"));
        assert!(!is_valid_nonce("abcdefghijklmnop qrs"));
    }
}
