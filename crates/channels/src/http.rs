//! One reqwest client per channel (connection reuse) and the mapping of
//! transport failures to "outcome unknown".

use reqwest::header::HeaderMap;

use crate::config::Timeouts;
use crate::ChannelError;

/// A response read to the end: status, headers and the exact body bytes
/// (signatures are checked over these bytes).
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub(crate) fn client(timeouts: &Timeouts) -> Result<reqwest::Client, ChannelError> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect())
        .timeout(timeouts.total())
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("shouyin/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ChannelError::config(format!("cannot build the HTTP client: {e}")))
}

/// Send and read the whole body. Every transport failure is indeterminate:
/// the request may have reached the channel.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<RawResponse, ChannelError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport_error)?.to_vec();
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn transport_error(e: reqwest::Error) -> ChannelError {
    // Without the URL: Alipay URLs carry the request signature and app id.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the body was cut off"
    } else {
        "transport failure"
    };
    let detail = e.without_url();
    tracing::warn!(error = %detail, "channel request failed: {kind}");
    ChannelError::indeterminate(format!("{kind}: {detail}"))
}

/// Percent-encode one URL path segment (everything but RFC 3986 unreserved).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
