//! The one client of head office that sync and relay share: one HTTP client
//! (one connection pool), one signer, one backoff policy, and typed errors.
//!
//! Head office failing is not a payment channel failing: its errors are
//! [`HqError`], which reach the UI as `hq_unreachable` (no usable answer:
//! no connection, a timeout, a 5xx, a garbled body) or `hq_refused` (head
//! office answered no), never as a channel's codes.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use serde::de::DeserializeOwned;
use shouyin_wire::{
    self as wire, EnrollRequest, EnrollResponse, ErrorBody, EventsAck, RelayAnswer,
};

use crate::sync::HqFile;
use crate::{ApiError, ErrorCode};

/// Connecting to head office takes at most this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A request and its answer, except the relay's long poll.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries after failures wait `[0, min(cap, base·2ⁿ)]`.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest wait between failed attempts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// What went wrong talking to head office.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HqError {
    /// No answer: no connection, a timeout, the connection cut.
    #[error("head office unreachable: {reason}")]
    Unreachable {
        reason: String,
        /// The connection was made and then lost before the answer (a
        /// server refusing an oversized body often closes early).
        mid_request: bool,
    },
    /// An answer nobody can act on: a server error or a garbled body.
    #[error("head office answered {status} without a usable answer: {message}")]
    Unusable { status: u16, message: String },
    /// Head office answered no.
    #[error("head office refused ({status}): {message}")]
    Refused {
        status: u16,
        /// Head office's own error code, when its body says.
        code: Option<wire::ErrorCode>,
        message: String,
    },
    /// The terminal's own settings stop the request before it is sent: a
    /// plain `http://` address to another machine, an unreadable CA file.
    #[error("{0}")]
    Setup(ApiError),
}

impl HqError {
    /// Head office answered at all (the request reached it).
    pub fn answered(&self) -> bool {
        !matches!(self, HqError::Unreachable { .. } | HqError::Setup(_))
    }

    fn transport(e: &reqwest::Error) -> HqError {
        HqError::Unreachable {
            reason: error_chain(e),
            mid_request: !e.is_connect() && !e.is_timeout(),
        }
    }
}

impl From<HqError> for ApiError {
    fn from(e: HqError) -> Self {
        let code = match &e {
            HqError::Unreachable { .. } | HqError::Unusable { .. } => ErrorCode::HqUnreachable,
            HqError::Refused { .. } => ErrorCode::HqRefused,
            HqError::Setup(inner) => return inner.clone(),
        };
        ApiError::new(code, e.to_string())
    }
}

/// The full chain of an error, so "error sending request" says why.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The wait before retrying after `failures` failures in a row:
/// exponential with full jitter, uniform in `[0, min(cap, base·2ⁿ)]`, so
/// terminals that lost the link together do not return together.
pub(crate) fn backoff(failures: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << failures.min(16))
        .min(BACKOFF_CAP);
    let ms = rand::thread_rng().gen_range(0..=ceiling.as_millis() as u64);
    Duration::from_millis(ms.max(50))
}

/// Shared by the sync and relay loops of one counter.
#[derive(Debug, Default)]
pub(crate) struct HqClient {
    http: OnceLock<reqwest::Client>,
}

impl HqClient {
    /// The client for head office at `hq_url`, after checking the address
    /// (plain `http://` only to this machine). A shop's private CA in
    /// `ca_file` gets a client of its own, built afresh so that a replaced
    /// file takes effect without a restart; everyone else shares one pool.
    fn http(&self, hq_url: &str, ca_file: Option<&Path>) -> Result<reqwest::Client, HqError> {
        crate::hq_url::check_hq_url(hq_url).map_err(|e| HqError::Setup(e.into()))?;
        let no_client = |e: reqwest::Error| HqError::Unreachable {
            reason: format!("no HTTP client: {}", error_chain(&e)),
            mid_request: false,
        };
        if ca_file.is_some() {
            let builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
            return crate::hq_url::trusting(builder, ca_file)
                .map_err(HqError::Setup)?
                .build()
                .map_err(no_client);
        }
        if let Some(c) = self.http.get() {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(no_client)?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    /// A request signed as the terminal of `file` (see `shouyin_wire` for
    /// the scheme). The one place requests are signed.
    fn signed(
        &self,
        file: &HqFile,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<reqwest::RequestBuilder, HqError> {
        let headers = wire::sign_request(
            file.secret.expose(),
            &file.terminal_id,
            method.as_str(),
            path_and_query,
            &body,
            // Head office checks the timestamp against its own clock, so
            // this is the machine's, not the counter's (tests fix that one).
            Utc::now(),
            &wire::new_nonce(&mut rand::thread_rng()),
        );
        let mut request = self
            .http(&file.hq_url, file.hq_ca_file.as_deref())?
            .request(method, format!("{}{path_and_query}", file.hq_url))
            .timeout(timeout);
        if !body.is_empty() {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        Ok(request.body(body))
    }

    /// Send, read the whole answer, and sort it: a 2xx body parsed as `T`,
    /// anything else an [`HqError`].
    async fn exchange<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, HqError> {
        let response = request.send().await.map_err(|e| HqError::transport(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| HqError::transport(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| HqError::Unusable {
                status: status.as_u16(),
                message: format!("garbled answer: {e}"),
            });
        }
        let text = || String::from_utf8_lossy(&body).into_owned();
        if status.is_server_error() {
            return Err(HqError::Unusable {
                status: status.as_u16(),
                message: text(),
            });
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => (Some(b.code), b.message),
            // A conflict answers with the acknowledgement and the
            // sequence numbers that differ.
            Err(_) => match serde_json::from_slice::<EventsAck>(&body) {
                Ok(ack) if !ack.conflicts.is_empty() => (
                    None,
                    format!(
                        "different events under sequence numbers {:?}",
                        ack.conflicts
                    ),
                ),
                _ => (None, text()),
            },
        };
        Err(HqError::Refused {
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// Exchange a one-time code for the terminal's secret (unsigned: the
    /// terminal has none yet).
    pub(crate) async fn enroll(
        &self,
        hq_url: &str,
        ca_file: Option<&Path>,
        request: &EnrollRequest,
    ) -> Result<EnrollResponse, HqError> {
        let request = self
            .http(hq_url, ca_file)?
            .post(format!("{hq_url}{}", wire::ENROLL_PATH))
            .timeout(REQUEST_TIMEOUT)
            .json(request);
        HqClient::exchange(request).await
    }

    /// Post a batch of events (already encoded).
    pub(crate) async fn post_events(
        &self,
        file: &HqFile,
        body: Vec<u8>,
    ) -> Result<EventsAck, HqError> {
        let request = self.signed(
            file,
            reqwest::Method::POST,
            wire::EVENTS_PATH,
            body,
            REQUEST_TIMEOUT,
        )?;
        HqClient::exchange(request).await
    }

    /// One channel-call report.
    pub(crate) async fn post_channel_report(
        &self,
        file: &HqFile,
        body: Vec<u8>,
    ) -> Result<wire::ChannelReportAck, HqError> {
        let request = self.signed(
            file,
            reqwest::Method::POST,
            wire::CHANNEL_REPORT_PATH,
            body,
            REQUEST_TIMEOUT,
        )?;
        HqClient::exchange(request).await
    }

    /// The notifications after `after`, held open up to `wait_secs`.
    pub(crate) async fn relay(
        &self,
        file: &HqFile,
        after: u64,
        wait_secs: u64,
        suspensions_held: Option<u64>,
    ) -> Result<RelayAnswer, HqError> {
        let mut path = format!("{}?after={after}&wait={wait_secs}", wire::RELAY_PATH);
        // Empty: this terminal holds no set from head office yet.
        let held = suspensions_held.map(|v| v.to_string()).unwrap_or_default();
        path.push_str(&format!("&{}={held}", wire::RELAY_SUSPENSIONS_PARAM));
        // The wait plus room for a slow answer.
        let timeout = Duration::from_secs(wait_secs) + Duration::from_secs(10);
        let request = self.signed(file, reqwest::Method::GET, &path, Vec::new(), timeout)?;
        HqClient::exchange(request).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_the_cap() {
        for failures in [0, 1, 5, 30] {
            let d = backoff(failures);
            assert!(d <= BACKOFF_CAP, "{d:?} for {failures}");
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| backoff(8)).collect();
        assert!(spread.len() > 10, "full jitter spreads retries");
    }

    #[test]
    fn head_office_errors_have_their_own_codes() {
        let unreachable = ApiError::from(HqError::Unreachable {
            reason: "connection refused".into(),
            mid_request: false,
        });
        assert_eq!(unreachable.code, ErrorCode::HqUnreachable);
        let failing = ApiError::from(HqError::Unusable {
            status: 503,
            message: "down".into(),
        });
        assert_eq!(failing.code, ErrorCode::HqUnreachable);
        let refused = ApiError::from(HqError::Refused {
            status: 403,
            code: Some(wire::ErrorCode::TerminalRevoked),
            message: "revoked".into(),
        });
        assert_eq!(refused.code, ErrorCode::HqRefused);
        assert!(refused.message.contains("revoked"), "{refused:?}");
    }
}
