//! UnionPay ACP 5.1.0 wire rules as pure functions: the text that is
//! signed, order numbers, times, and what response codes mean
//! (docs/PROTOCOLS.md §10).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::keys;
use crate::ChannelError;

/// The fields of a request or answer, sorted by name.
pub type Fields = BTreeMap<String, String>;

/// `k=v&k=v` over every field but `signature`, sorted by key, values as
/// they are (not URL-encoded).
pub fn sign_content(fields: &Fields) -> String {
    let mut out = String::new();
    for (k, v) in fields.iter().filter(|(k, _)| k.as_str() != "signature") {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Lowercase hex SHA-256 of the sign content: the text `signMethod=01`
/// actually signs.
pub fn digest_hex(fields: &Fields) -> String {
    hex::encode(Sha256::digest(sign_content(fields).as_bytes()))
}

/// The base64 `signature` of `fields`.
pub fn sign(key: &RsaPrivateKey, fields: &Fields) -> String {
    keys::sign_sha256(key, digest_hex(fields).as_bytes())
}

/// Whether `fields` carry a valid `signature` by `key`.
pub fn verify(key: &RsaPublicKey, fields: &Fields) -> bool {
    let Some(signature) = fields.get("signature") else {
        return false;
    };
    keys::verify_sha256(key, digest_hex(fields).as_bytes(), signature)
}

/// Beijing time, the zone of `txnTime` and `payTimeout`.
pub(crate) fn beijing() -> FixedOffset {
    crate::alipay::wire::beijing()
}

/// `YYYYMMDDhhmmss` in Beijing time.
pub fn txn_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// Read a `YYYYMMDDhhmmss` Beijing time.
pub fn parse_txn_time(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok()?;
    beijing()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The ACP `orderId` of one of our request numbers. ACP order numbers are
/// letters and digits only, so the `_` separators of our numbers are
/// dropped; [`number_from_order_id`] puts them back.
pub fn order_id(number: &str) -> String {
    number.chars().filter(|c| *c != '_').collect()
}

/// Our request number behind an `orderId` (as a bill lists it): an order
/// number `{terminal}_{yyyymmddHHMMSS}_{n}`, or a refund number
/// `{order}_R{k}`. A number of another shape is returned unchanged.
pub fn number_from_order_id(order_id: &str) -> String {
    if let Some(i) = order_id.rfind('R') {
        let k = &order_id[i + 1..];
        if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(order) = split_order(&order_id[..i]) {
                return format!("{order}_R{k}");
            }
        }
    }
    split_order(order_id).unwrap_or_else(|| order_id.to_owned())
}

/// `{terminal}{14-digit time}{n ≥ 6 digits}` back to the number with its
/// separators; the terminal is 1–8 letters or digits and the time a real
/// `yyyymmddHHMMSS`.
fn split_order(compact: &str) -> Option<String> {
    if !compact.is_ascii() {
        return None;
    }
    (1..=8).find_map(|t| {
        let time = compact.get(t..t + 14)?;
        let counter = compact.get(t + 14..)?;
        let ok = time.starts_with("20")
            && NaiveDateTime::parse_from_str(time, "%Y%m%d%H%M%S").is_ok()
            && counter.len() >= 6
            && counter.bytes().all(|b| b.is_ascii_digit())
            && compact[..t].bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| format!("{}_{time}_{counter}", &compact[..t]))
    })
}

/// The creation instant inside one of our order numbers, if it has one:
/// the original `txnTime` a query of it must name.
pub fn time_in_number(number: &str) -> Option<DateTime<Utc>> {
    let mut parts = number.split('_');
    let _terminal = parts.next()?;
    let time = parts.next()?;
    NaiveDateTime::parse_from_str(time, "%Y%m%d%H%M%S")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

/// What a `respCode` (or `origRespCode`) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `00` (and `A6`, partly successful, for an original).
    Success,
    /// `03`, `04`, `05`: still processing or not known: query again.
    Unknown,
    /// `34`: no such original transaction.
    NoSuchTrade,
    /// `12`: this orderId was used before (a repeat).
    Duplicate,
    /// Any other code: a refusal.
    Refused,
}

pub fn code(text: &str) -> Code {
    match text {
        "00" | "A6" => Code::Success,
        "03" | "04" | "05" => Code::Unknown,
        "34" => Code::NoSuchTrade,
        "12" => Code::Duplicate,
        _ => Code::Refused,
    }
}

/// A verified answer's fields.
#[derive(Debug, Clone)]
pub struct Answer {
    pub fields: Fields,
}

impl Answer {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn resp_code(&self) -> &str {
        self.get("respCode").unwrap_or("")
    }

    pub fn resp_msg(&self) -> &str {
        self.get("respMsg").unwrap_or("")
    }

    /// The answer as an error: unknown codes are indeterminate, the rest a
    /// definite refusal.
    pub fn to_error(&self, what: &str) -> ChannelError {
        match code(self.resp_code()) {
            Code::Unknown => ChannelError::indeterminate(format!(
                "UnionPay {what}: {} {} (state unknown, query)",
                self.resp_code(),
                self.resp_msg()
            )),
            _ => ChannelError::definite(self.resp_code(), self.resp_msg()),
        }
    }

    /// An amount field in fen.
    pub fn fen(&self, key: &str) -> Result<i64, ChannelError> {
        self.get(key)
            .filter(|v| v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ChannelError::indeterminate(format!("UnionPay answer has no amount in {key}"))
            })
    }
}

/// Read the form body of an answer. A body that is not UTF-8 or has no
/// `respCode` was cut or garbled on the way (unknown); one with a
/// `respCode` but without a signature is unsigned (untrusted, the code kept
/// as a hint).
pub fn read_form(body: &[u8]) -> Result<Fields, ChannelError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ChannelError::indeterminate("UnionPay answer is not UTF-8 (cut or garbled)")
    })?;
    let fields: Fields = url::form_urlencoded::parse(text.trim().as_bytes())
        .into_owned()
        .collect();
    let Some(resp_code) = fields.get("respCode").filter(|c| !c.is_empty()) else {
        return Err(ChannelError::indeterminate(
            "UnionPay answer has no respCode (cut or garbled)",
        ));
    };
    if fields.get("signature").is_none_or(|s| s.is_empty()) {
        let msg = fields.get("respMsg").map(String::as_str).unwrap_or("");
        return Err(ChannelError::unsigned(
            "the UnionPay answer",
            resp_code,
            msg,
        ));
    }
    Ok(fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sign_content_is_sorted_and_leaves_out_the_signature() {
        let mut f = Fields::new();
        f.insert("txnType".into(), "01".into());
        f.insert("signature".into(), "x".into());
        f.insert("accessType".into(), "0".into());
        f.insert("backUrl".into(), "http://a/b?c=d&e".into());
        assert_eq!(
            sign_content(&f),
            "accessType=0&backUrl=http://a/b?c=d&e&txnType=01"
        );
        assert_eq!(digest_hex(&f).len(), 64);
    }

    #[test]
    fn order_numbers_lose_and_regain_their_separators() {
        for no in [
            "T01_20261130014501_000042",
            "ABCDEFGH_20261130014501_12345678",
            "7_20260101000000_000001_R2",
            "T1_20261130014501_000042_R13",
            "TR1_20261130014501_000042",
        ] {
            let id = order_id(no);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
            assert_eq!(number_from_order_id(&id), no);
        }
        assert_eq!(number_from_order_id("T120359abc7"), "T120359abc7");
        assert_eq!(
            time_in_number("T01_20261130014501_000042").map(|t| t.timestamp()),
            Some(
                Utc.with_ymd_and_hms(2026, 11, 30, 1, 45, 1)
                    .unwrap()
                    .timestamp()
            )
        );
    }

    #[test]
    fn times_are_beijing() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 1).unwrap();
        assert_eq!(txn_time(t), "20261201000001");
        assert_eq!(parse_txn_time("20261201000001"), Some(t));
    }

    #[test]
    fn codes() {
        assert_eq!(code("00"), Code::Success);
        for c in ["03", "04", "05"] {
            assert_eq!(code(c), Code::Unknown);
        }
        assert_eq!(code("34"), Code::NoSuchTrade);
        assert_eq!(code("61"), Code::Refused);
    }

    #[test]
    fn garbled_and_unsigned_answers() {
        assert!(matches!(
            read_form(b"respCode=00&sig\x00\xff"),
            Err(ChannelError::Indeterminate { .. })
        ));
        assert!(matches!(
            read_form(b"version=5.1.0&merId=1"),
            Err(ChannelError::Indeterminate { .. })
        ));
        let e = read_form("respCode=11&respMsg=验证签名失败".as_bytes()).unwrap_err();
        assert_eq!(e.unsigned_claim(), Some("11"));
    }
}
