//! Head office's address, checked before anything is sent to it: the
//! terminal secret is exchanged at enrolment and every sale travels to head
//! office, so plain `http://` is allowed only to this machine (the demo and
//! tests on loopback). Anything else must be `https://`.
//!
//! Also the one place that builds an HTTP client trusting a shop's private
//! certificate authority, for a head office whose certificate is not from a
//! public one.

use std::net::IpAddr;
use std::path::Path;

use crate::{ApiError, ErrorCode};

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HqUrlError {
    #[error("head office address must be https://… (or http:// to this machine), not '{0}'")]
    Malformed(String),
    #[error(
        "head office at {0} would be reached over plain http://, which anyone on the way can \
         read and change; use https:// (plain http:// is only for 127.0.0.1, ::1 or localhost)"
    )]
    PlainHttpToRemote(String),
}

impl From<HqUrlError> for ApiError {
    fn from(e: HqUrlError) -> ApiError {
        let code = match e {
            HqUrlError::Malformed(_) => ErrorCode::InvalidInput,
            HqUrlError::PlainHttpToRemote(_) => ErrorCode::InsecureHqUrl,
        };
        ApiError::new(code, e.to_string())
    }
}

/// The address normalised (trimmed, no trailing slash), or why not.
pub fn check_hq_url(raw: &str) -> Result<String, HqUrlError> {
    let url = raw.trim().trim_end_matches('/');
    let malformed = || HqUrlError::Malformed(raw.to_owned());
    if url.contains(char::is_whitespace) {
        return Err(malformed());
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| malformed())?;
    let host = match parsed.host() {
        Some(host) => host,
        None => return Err(malformed()),
    };
    match parsed.scheme() {
        "https" => Ok(url.to_owned()),
        "http" if is_loopback(&host) => Ok(url.to_owned()),
        "http" => Err(HqUrlError::PlainHttpToRemote(url.to_owned())),
        _ => Err(malformed()),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

/// Add the certificate authority in PEM file `ca_file` (if any) to the
/// roots `builder` trusts, besides the public ones. Read at each call, so a
/// replaced file takes effect without a restart.
pub(crate) fn trusting(
    builder: reqwest::ClientBuilder,
    ca_file: Option<&Path>,
) -> Result<reqwest::ClientBuilder, ApiError> {
    let Some(path) = ca_file else {
        return Ok(builder);
    };
    let pem = std::fs::read(path).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("head office's CA file {}: {e}", path.display()),
        )
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "head office's CA file {}: not PEM certificates: {e}",
                path.display()
            ),
        )
    })?;
    if certs.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "head office's CA file {} holds no certificate",
                path.display()
            ),
        ));
    }
    Ok(certs
        .into_iter()
        .fold(builder, |b, cert| b.add_root_certificate(cert)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_plain_http_only_to_this_machine() {
        for ok in [
            "https://hq.example.com",
            "https://hq.example.com:8443/",
            " https://203.0.113.5 ",
            "http://127.0.0.1:8788",
            "http://127.1.2.3:80/",
            "http://[::1]:8788",
            "http://localhost:8788",
            "http://LOCALHOST",
        ] {
            assert!(check_hq_url(ok).is_ok(), "{ok} must be accepted");
        }
        assert_eq!(
            check_hq_url("https://hq.example.com/ ").unwrap(),
            "https://hq.example.com"
        );
        for remote in [
            "http://hq.example.com",
            "http://203.0.113.5:8788",
            "http://10.0.0.2",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://0.0.0.0:8788",
        ] {
            assert!(
                matches!(check_hq_url(remote), Err(HqUrlError::PlainHttpToRemote(_))),
                "{remote} must be refused as plain http"
            );
        }
        for bad in ["", "hq.example.com", "ftp://hq", "https://", "https://a b"] {
            assert!(
                matches!(check_hq_url(bad), Err(HqUrlError::Malformed(_))),
                "{bad} must be refused as malformed"
            );
        }
    }

    #[test]
    fn a_remote_plain_http_address_is_its_own_error_code() {
        let e: ApiError = check_hq_url("http://hq.example.com").unwrap_err().into();
        assert_eq!(e.code, ErrorCode::InsecureHqUrl);
        assert!(e.message.contains("https://"), "{}", e.message);
    }
}
