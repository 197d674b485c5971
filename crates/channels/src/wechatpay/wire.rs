//! WeChat Pay API v3 wire formats: the request signature, the response
//! signature check, AEAD decryption of `resource` objects, request and
//! response structs and their mapping to the program's types.
//!
//! Everything here is pure (no I/O) so it can be tested on fixtures.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use rsa::RsaPublicKey;
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::model::{PaymentNotice, RefundResult, RefundStatus, RemotePayment, RemoteStatus};
use crate::ChannelError;

/// The only signature scheme v3 uses.
pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// Answers older or newer than this (seconds) are refused as replays.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The request message: `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`, with the
/// URL as path plus `?query` exactly as sent and an empty body for GET.
pub fn request_message(
    method: &str,
    canonical_url: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{canonical_url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header value.
pub fn authorization(
    mchid: &str,
    serial_no: &str,
    nonce: &str,
    timestamp: i64,
    signature: &str,
) -> String {
    format!(
        "{SCHEME} mchid=\"{mchid}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{serial_no}\""
    )
}

/// Platform public keys (or certificate keys) by serial / `PUB_KEY_ID_…`.
#[derive(Clone, Default)]
pub struct PlatformVerifier {
    keys: HashMap<String, RsaPublicKey>,
}

impl fmt::Debug for PlatformVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformVerifier")
            .field("serials", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

impl PlatformVerifier {
    pub fn new() -> PlatformVerifier {
        PlatformVerifier::default()
    }

    pub fn with_key(mut self, serial: impl Into<String>, key: RsaPublicKey) -> PlatformVerifier {
        self.keys.insert(serial.into(), key);
        self
    }

    /// Check the `Wechatpay-*` signature headers over `body` (a response or
    /// a notification). Missing, stale, unknown-serial or wrong signatures
    /// are all untrusted.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), ChannelError> {
        let (Some(timestamp), Some(nonce), Some(signature), Some(serial)) = (
            header(headers, "Wechatpay-Timestamp"),
            header(headers, "Wechatpay-Nonce"),
            header(headers, "Wechatpay-Signature"),
            header(headers, "Wechatpay-Serial"),
        ) else {
            return Err(ChannelError::untrusted("WeChat Pay answer is not signed"));
        };
        if let Some(kind) = headers.get("Wechatpay-Signature-Type") {
            if kind.to_str().map(str::trim).ok() != Some(SCHEME) {
                return Err(ChannelError::untrusted(format!(
                    "WeChat Pay signature type {kind:?} is not {SCHEME}"
                )));
            }
        }
        let key = self.keys.get(serial).ok_or_else(|| {
            ChannelError::untrusted(format!("WeChat Pay signed with unknown serial {serial:?}"))
        })?;
        let seconds: i64 = timestamp.parse().map_err(|_| {
            ChannelError::untrusted(format!("Wechatpay-Timestamp {timestamp:?} is not a number"))
        })?;
        let skew = now.timestamp().saturating_sub(seconds).saturating_abs();
        if skew >= MAX_CLOCK_SKEW_SECS {
            return Err(ChannelError::untrusted(format!(
                "WeChat Pay answer is {skew} s away from our clock (limit {MAX_CLOCK_SKEW_SECS} s)"
            )));
        }
        let mut message = Vec::with_capacity(body.len() + 64);
        message.extend_from_slice(format!("{timestamp}\n{nonce}\n").as_bytes());
        message.extend_from_slice(body);
        message.push(b'\n');
        if keys::verify_sha256(key, &message, signature) {
            Ok(())
        } else {
            tracing::error!(serial, "WeChat Pay signature does not verify");
            Err(ChannelError::untrusted(
                "WeChat Pay signature does not verify",
            ))
        }
    }
}

/// AEAD_AES_256_GCM decryption of a `resource` / `encrypt_certificate`.
/// The key is the APIv3 key (32 bytes in production; 16-byte keys, as in
/// the official SDK's tests, select AES-128-GCM). A failed tag means a
/// wrong key or tampering: untrusted.
pub fn decrypt_resource(
    apiv3_key: &[u8],
    nonce: &str,
    associated_data: &str,
    ciphertext_b64: &str,
) -> Result<Vec<u8>, ChannelError> {
    if nonce.len() != 12 {
        return Err(ChannelError::untrusted("resource nonce is not 12 bytes"));
    }
    let ciphertext = STANDARD
        .decode(ciphertext_b64.trim().as_bytes())
        .map_err(|_| ChannelError::untrusted("resource ciphertext is not base64"))?;
    let nonce = Nonce::from_slice(nonce.as_bytes());
    let payload = Payload {
        msg: &ciphertext,
        aad: associated_data.as_bytes(),
    };
    let plain = match apiv3_key.len() {
        32 => Aes256Gcm::new_from_slice(apiv3_key)
            .map_err(|_| ChannelError::config("bad APIv3 key"))?
            .decrypt(nonce, payload),
        16 => Aes128Gcm::new_from_slice(apiv3_key)
            .map_err(|_| ChannelError::config("bad APIv3 key"))?
            .decrypt(nonce, payload),
        _ => return Err(ChannelError::config("the APIv3 key must be 32 bytes")),
    };
    plain.map_err(|_| {
        ChannelError::untrusted("resource does not decrypt (wrong APIv3 key or tampered)")
    })
}

/// A verified and decrypted notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub event_type: String,
    pub resource_type: String,
    pub summary: String,
    pub original_type: String,
    /// The decrypted `resource` JSON, as sent.
    pub plaintext: String,
}

#[derive(Debug, Deserialize)]
struct NotificationBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    summary: String,
    resource: EncryptedResource,
}

#[derive(Debug, Deserialize)]
struct EncryptedResource {
    algorithm: String,
    ciphertext: String,
    #[serde(default)]
    associated_data: String,
    nonce: String,
    #[serde(default)]
    original_type: String,
}

/// Verify a notification's signature headers, then decrypt its resource.
pub fn open_notification(
    verifier: &PlatformVerifier,
    apiv3_key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Notification, ChannelError> {
    verifier.verify(headers, body, now)?;
    let parsed: NotificationBody = serde_json::from_slice(body)
        .map_err(|e| ChannelError::indeterminate(format!("notification is not readable: {e}")))?;
    if parsed.resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(ChannelError::untrusted(format!(
            "notification algorithm {:?} is not AEAD_AES_256_GCM",
            parsed.resource.algorithm
        )));
    }
    let plain = decrypt_resource(
        apiv3_key,
        &parsed.resource.nonce,
        &parsed.resource.associated_data,
        &parsed.resource.ciphertext,
    )?;
    let plaintext = String::from_utf8(plain)
        .map_err(|_| ChannelError::untrusted("decrypted resource is not UTF-8"))?;
    Ok(Notification {
        id: parsed.id,
        event_type: parsed.event_type,
        resource_type: parsed.resource_type,
        summary: parsed.summary,
        original_type: parsed.resource.original_type,
        plaintext,
    })
}

/// Headers as a list of pairs (what a web framework hands over) to a map
/// with case-insensitive names. Pairs that are not valid HTTP are left out:
/// a signature header that cannot be read counts as missing.
pub(crate) fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// The decrypted `resource` of a `TRANSACTION.*` notification: the same
/// shape as a query answer.
#[derive(Debug, Deserialize)]
pub(crate) struct NotifiedTransaction {
    #[serde(default)]
    pub appid: String,
    #[serde(default)]
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub trade_state: String,
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
    #[serde(default)]
    pub success_time: Option<String>,
}

/// A verified, decrypted notification as a payment notice for this
/// merchant. Only transaction notifications are payment notices; one for
/// another merchant or app is refused as untrusted, since it must not move
/// any of our orders.
pub(crate) fn payment_notice(
    notification: &Notification,
    mchid: &str,
    appid: &str,
) -> Result<PaymentNotice, ChannelError> {
    if !notification.original_type.is_empty() && notification.original_type != "transaction" {
        return Err(ChannelError::indeterminate(format!(
            "WeChat Pay notification {:?} is about a {:?}, not a payment",
            notification.event_type, notification.original_type
        )));
    }
    let t: NotifiedTransaction = serde_json::from_str(&notification.plaintext).map_err(|e| {
        ChannelError::indeterminate(format!(
            "WeChat Pay notification {:?} is not a transaction: {e}",
            notification.event_type
        ))
    })?;
    if t.mchid != mchid || t.appid != appid {
        tracing::error!(mchid = %t.mchid, appid = %t.appid, "WeChat Pay notification for another merchant");
        return Err(ChannelError::untrusted(format!(
            "WeChat Pay notification is for mchid {:?} appid {:?}, not this merchant",
            t.mchid, t.appid
        )));
    }
    if t.out_trade_no.is_empty() {
        return Err(ChannelError::indeterminate(
            "WeChat Pay notification has an empty out_trade_no",
        ));
    }
    let paid = t.trade_state == "SUCCESS";
    Ok(PaymentNotice {
        paid,
        amount_fen: t.amount.as_ref().and_then(|a| a.total),
        trade_no: t.transaction_id.filter(|s| !s.is_empty()),
        paid_at: if paid {
            t.success_time.as_deref().and_then(parse_time)
        } else {
            None
        },
        out_trade_no: t.out_trade_no,
    })
}

/// A verified answer that is not a 5xx.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Ok(Vec<u8>),
    Refused { status: u16, error: ErrorBody },
}

/// Judge an HTTP answer: 5xx is indeterminate; a body that is not the JSON
/// it should be is indeterminate (it can claim nothing); otherwise the
/// signature must verify, for 4xx refusals too, since a forged "refund
/// refused" or "already paid" would change what the counter does.
pub(crate) fn open_reply(
    status: u16,
    headers: &HeaderMap,
    body: Vec<u8>,
    verifier: &PlatformVerifier,
    now: DateTime<Utc>,
) -> Result<Reply, ChannelError> {
    let refusal = match status {
        // A rate limit claims nothing about the call (and the gateway may
        // not sign it): try again later, as after a timeout.
        429 => {
            return Err(ChannelError::indeterminate(format!(
                "WeChat Pay HTTP 429 (rate limited){}",
                serde_json::from_slice::<ErrorBody>(&body)
                    .map(|e| format!(": {}", e.code))
                    .unwrap_or_default()
            )))
        }
        200..=299 => {
            if !body.is_empty() && serde_json::from_slice::<serde_json::Value>(&body).is_err() {
                return Err(ChannelError::indeterminate("WeChat Pay answer is not JSON"));
            }
            None
        }
        400..=499 => match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(error) => Some(error),
            Err(_) => {
                return Err(ChannelError::indeterminate(format!(
                    "WeChat Pay HTTP {status} without an error body"
                )))
            }
        },
        other => {
            return Err(ChannelError::indeterminate(format!(
                "WeChat Pay HTTP {other}"
            )))
        }
    };
    verifier
        .verify(headers, &body, now)
        .map_err(|e| match (&refusal, e) {
            (Some(error), ChannelError::Untrusted { reason }) => ChannelError::untrusted(format!(
                "{reason} (HTTP {status} {}: {})",
                error.code, error.message
            )),
            (_, e) => e,
        })?;
    Ok(match refusal {
        None => Reply::Ok(body),
        Some(error) => Reply::Refused { status, error },
    })
}

/// RFC 3339 with the Beijing offset, as WeChat prints times.
pub(crate) fn format_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&crate::alipay::wire::beijing())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

// ---- requests -------------------------------------------------------------

#[derive(Debug, Serialize)]
pub(crate) struct Amount {
    pub total: i64,
    pub currency: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct NativeOrder<'a> {
    pub appid: &'a str,
    pub mchid: &'a str,
    pub description: &'a str,
    pub out_trade_no: &'a str,
    pub time_expire: String,
    pub notify_url: &'a str,
    pub amount: Amount,
}

#[derive(Debug, Serialize)]
pub(crate) struct CodePayer<'a> {
    pub auth_code: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct CodePayStore<'a> {
    pub out_id: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct CodePayScene<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<&'a str>,
    pub store_info: CodePayStore<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CodePayOrder<'a> {
    pub appid: &'a str,
    pub mchid: &'a str,
    pub description: &'a str,
    pub out_trade_no: &'a str,
    pub payer: CodePayer<'a>,
    pub amount: Amount,
    pub scene_info: CodePayScene<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ReverseOrder<'a> {
    pub appid: &'a str,
    pub mchid: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct CloseOrder<'a> {
    pub mchid: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct RefundAmount {
    pub refund: i64,
    pub total: i64,
    pub currency: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct RefundOrder<'a> {
    pub out_trade_no: &'a str,
    pub out_refund_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    pub amount: RefundAmount,
}

// ---- responses ------------------------------------------------------------

/// The body of every 4xx answer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NativeResp {
    pub code_url: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransactionAmount {
    #[serde(default)]
    pub total: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Transaction {
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub trade_state: String,
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
    #[serde(default)]
    pub success_time: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundRespAmount {
    #[serde(default)]
    pub refund: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundResp {
    #[serde(default)]
    pub refund_id: Option<String>,
    pub out_refund_no: String,
    pub status: String,
    #[serde(default)]
    pub amount: Option<RefundRespAmount>,
    #[serde(default)]
    pub success_time: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TradeBillResp {
    #[serde(default)]
    pub hash_type: Option<String>,
    #[serde(default)]
    pub hash_value: Option<String>,
    pub download_url: String,
}

/// A verified codepay answer: paid, or waiting for the password.
pub(crate) fn codepay_answer(t: &Transaction) -> Result<crate::model::CodePayAnswer, ChannelError> {
    match t.trade_state.as_str() {
        "SUCCESS" => Ok(crate::model::CodePayAnswer::Paid(remote_payment(t)?)),
        "USERPAYING" => Ok(crate::model::CodePayAnswer::Waiting),
        "PAYERROR" => Err(ChannelError::definite(
            "PAYERROR",
            "the payment failed at the channel",
        )),
        other => Err(ChannelError::indeterminate(format!(
            "WeChat Pay codepay answered trade_state {other:?}"
        ))),
    }
}

pub(crate) fn remote_payment(t: &Transaction) -> Result<RemotePayment, ChannelError> {
    let status = match t.trade_state.as_str() {
        "SUCCESS" => RemoteStatus::Paid,
        "REFUND" => RemoteStatus::Refunded,
        "NOTPAY" | "USERPAYING" => RemoteStatus::Waiting,
        // A reversed code payment that had been paid keeps its success
        // time: the reverse gave the money back.
        "REVOKED" if t.success_time.is_some() => RemoteStatus::Refunded,
        "CLOSED" | "REVOKED" => RemoteStatus::Closed,
        "PAYERROR" => RemoteStatus::Failed,
        other => {
            return Err(ChannelError::indeterminate(format!(
                "WeChat Pay trade_state {other:?} is not one we know"
            )))
        }
    };
    Ok(RemotePayment {
        status,
        channel_trade_no: t.transaction_id.clone().filter(|s| !s.is_empty()),
        amount_fen: t.amount.as_ref().and_then(|a| a.total),
        paid_at: t.success_time.as_deref().and_then(parse_time),
    })
}

pub(crate) fn refund_result(r: &RefundResp) -> Result<RefundResult, ChannelError> {
    let status = match r.status.as_str() {
        "SUCCESS" => RefundStatus::Success,
        "PROCESSING" => RefundStatus::Processing,
        "CLOSED" => RefundStatus::Closed,
        "ABNORMAL" => RefundStatus::Abnormal,
        other => {
            return Err(ChannelError::indeterminate(format!(
                "WeChat Pay refund status {other:?} is not one we know"
            )))
        }
    };
    Ok(RefundResult {
        status,
        out_refund_no: r.out_refund_no.clone(),
        refund_fen: r.amount.as_ref().and_then(|a| a.refund),
        refunded_total_fen: None,
        channel_refund_no: r.refund_id.clone().filter(|s| !s.is_empty()),
        refunded_at: r.success_time.as_deref().and_then(parse_time),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::keys::tests::vector;
    use crate::keys::{parse_private_key, parse_public_key, sign_sha256};
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    const V1_BODY: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}"#;

    #[test]
    fn v1_and_v2_request_signatures() {
        for file in [
            "wechatpay_doc_apiclient_test_key.pem",
            "wechatpay_doc_apiclient_test_key_pkcs8.pem",
        ] {
            let key = parse_private_key(&vector(file)).unwrap();
            let v1 = request_message(
                "POST",
                "/v3/pay/transactions/jsapi",
                1554208460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                V1_BODY,
            );
            assert_eq!(sign_sha256(&key, v1.as_bytes()), "gEuexJ547PHFV77TQ6eiE4tphVYfWfUe1Wc2dBmVnoMYU2rl/M4zhw+b3vBhuMw6AC7pteNkryLA7UWU2h+umo0OdSuuLm1++O3NckQPCSfm6dypsjn4GYm84KMqXWFrhFmyxEwIdEJDr3w1UYfxOcu55OQupfLkrt/ZzuOspnliJFrPzGQFUk7lGqMMtpz3EfbDUNxnVsHblORg3hVmuYNmbGWnS2ovU30Y2Q+iKFDxzkaXBk8LTy6HzvxizRo6Q+J4SVM7O0hKXfgo1QdI68kpzNULb3EVBXlhTyPUzhkHzzLxECL1qHl3HH2hEv8++C+4wBlsagF3j/O6PABojA==");
            let v2 = request_message(
                "GET",
                "/v3/refund/domestic/refunds/123123123123",
                1554208460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                "",
            );
            assert!(v2.ends_with("593BEC0C930BF1AFEB40B4A08C8FB242\n\n"));
            let sig = sign_sha256(&key, v2.as_bytes());
            assert_eq!(sig, "Lc9VXxmeonkdV8Xk9tmigQFLhl0vRWTerdmoRu01aAnYwIrD/5nsSwE1WlmZGLRlAFTNQ3QsMa0+VRDlJp1Wp5p0nO8EK68b5sJBbjouxaFciIfq1zfDWWz+jqhcMoKXI1A6dPm1AW7D4d30WsMTNzp6g23OXakIsh9LO3lUmwvTuE0BY8ncf6tNGk4wKmvXwERd/ZpoQY3MAVKz+Nakwc+2XBmzT66KcUehU5kr4IvGa/lEU5RZb/q00zP9VLdBhC/jQSX3X1UcJLCtEc4gTmib4tnmAT+bHF/e17ZAuxDNcx6rqT8gNEXqaJGG+1OflMSTU2tpyG65G4dMKdFcoA==");
            assert_eq!(
                authorization("1900007291", "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB", "593BEC0C930BF1AFEB40B4A08C8FB242", 1554208460, &sig),
                format!("WECHATPAY2-SHA256-RSA2048 mchid=\"1900007291\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",signature=\"{sig}\",timestamp=\"1554208460\",serial_no=\"408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB\"")
            );
        }
    }

    #[test]
    fn v3_raw_sha256_with_rsa() {
        let key = parse_private_key(&vector("wechatpay_go_test_private_key_pkcs8.pem")).unwrap();
        assert_eq!(sign_sha256(&key, b"source"), "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg==");
    }

    #[test]
    fn v4_aes_gcm() {
        let plain = decrypt_resource(
            b"testAPIv3Key0000",
            "wCq51qZv4Yfg",
            "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
            "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
        )
        .unwrap();
        assert_eq!(plain, b"Hello World");
        // Wrong associated data or a flipped bit is untrusted.
        assert!(matches!(
            decrypt_resource(
                b"testAPIv3Key0000",
                "wCq51qZv4Yfg",
                "other",
                "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
            ),
            Err(ChannelError::Untrusted { .. })
        ));
        assert!(matches!(
            decrypt_resource(
                b"testAPIv3Key0000",
                "wCq51qZv4Yfg",
                "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
                "GsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
            ),
            Err(ChannelError::Untrusted { .. })
        ));
        assert!(matches!(
            decrypt_resource(b"short", "wCq51qZv4Yfg", "", "AAAA"),
            Err(ChannelError::Config(_))
        ));
    }

    #[test]
    fn aes_256_round_trip_with_a_real_length_key() {
        let key = b"0123456789abcdef0123456789abcdef";
        let cipher = Aes256Gcm::new_from_slice(key).unwrap();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(b"abcdefghijkl"),
                Payload {
                    msg: b"{\"a\":1}",
                    aad: b"transaction",
                },
            )
            .unwrap();
        let plain =
            decrypt_resource(key, "abcdefghijkl", "transaction", &STANDARD.encode(ct)).unwrap();
        assert_eq!(plain, b"{\"a\":1}");
    }

    struct V5 {
        headers: HeaderMap,
        body: String,
        key: String,
        plaintext: String,
    }

    fn v5() -> V5 {
        let json: serde_json::Value =
            serde_json::from_str(&vector("wechatpay_notify_vector.json")).unwrap();
        let mut headers = HeaderMap::new();
        for (k, v) in json["headers"].as_object().unwrap() {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
            );
        }
        V5 {
            headers,
            body: json["body"].as_str().unwrap().to_owned(),
            key: json["apiv3_key"].as_str().unwrap().to_owned(),
            plaintext: json["expected_plaintext"].as_str().unwrap().to_owned(),
        }
    }

    fn cert_verifier() -> PlatformVerifier {
        PlatformVerifier::new().with_key(
            "D7CE59D1F522D701",
            parse_public_key(&vector("wechatpay_go_test_platform_cert.pem")).unwrap(),
        )
    }

    #[test]
    fn v5_signed_and_encrypted_notification() {
        let v = v5();
        let at = Utc.timestamp_opt(1624523846, 0).unwrap();
        let n = open_notification(
            &cert_verifier(),
            v.key.as_bytes(),
            &v.headers,
            v.body.as_bytes(),
            at,
        )
        .unwrap();
        assert_eq!(n.plaintext, v.plaintext);
        assert_eq!(n.event_type, "PAYSCORE.USER_OPEN_SERVICE");
        assert_eq!(n.summary, "签约成功");
        // Inside the window on both sides; at 300 s it is refused.
        assert!(cert_verifier()
            .verify(
                &v.headers,
                v.body.as_bytes(),
                at + chrono::Duration::seconds(299)
            )
            .is_ok());
        assert!(cert_verifier()
            .verify(
                &v.headers,
                v.body.as_bytes(),
                at - chrono::Duration::seconds(299)
            )
            .is_ok());
        for skew in [300, -300, 86_400] {
            let e = cert_verifier()
                .verify(
                    &v.headers,
                    v.body.as_bytes(),
                    at + chrono::Duration::seconds(skew),
                )
                .unwrap_err();
            assert!(matches!(e, ChannelError::Untrusted { .. }), "{skew}: {e}");
        }
    }

    #[test]
    fn response_checks_refuse_every_kind_of_bad_signature() {
        let v = v5();
        let at = Utc.timestamp_opt(1624523846, 0).unwrap();
        let untrusted = |headers: &HeaderMap, body: &[u8]| {
            matches!(
                cert_verifier().verify(headers, body, at),
                Err(ChannelError::Untrusted { .. })
            )
        };
        // A changed body.
        assert!(untrusted(
            &v.headers,
            v.body.replace("签约成功", "签约失败").as_bytes()
        ));
        // Each header missing in turn.
        for name in [
            "Wechatpay-Timestamp",
            "Wechatpay-Nonce",
            "Wechatpay-Signature",
            "Wechatpay-Serial",
        ] {
            let mut h = v.headers.clone();
            h.remove(name);
            assert!(untrusted(&h, v.body.as_bytes()), "{name}");
        }
        // An unknown serial, a different scheme, a non-numeric timestamp.
        let mut h = v.headers.clone();
        h.insert(
            "Wechatpay-Serial",
            HeaderValue::from_static("PUB_KEY_ID_OTHER"),
        );
        assert!(untrusted(&h, v.body.as_bytes()));
        let mut h = v.headers.clone();
        h.insert(
            "Wechatpay-Signature-Type",
            HeaderValue::from_static("WECHATPAY2-SM2-WITH-SM3"),
        );
        assert!(untrusted(&h, v.body.as_bytes()));
        let mut h = v.headers.clone();
        h.insert("Wechatpay-Signature-Type", HeaderValue::from_static(SCHEME));
        assert!(cert_verifier().verify(&h, v.body.as_bytes(), at).is_ok());
        let mut h = v.headers.clone();
        h.insert(
            "Wechatpay-Timestamp",
            HeaderValue::from_static("16245238x6"),
        );
        assert!(untrusted(&h, v.body.as_bytes()));
    }

    #[test]
    fn empty_204_bodies_are_signed_too() {
        let key = parse_private_key(&vector("wechatpay_go_test_private_key_pkcs8.pem")).unwrap();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let sig = sign_sha256(&key, b"1800000000\nnonce1\n\n");
        let mut h = HeaderMap::new();
        h.insert(
            "Wechatpay-Timestamp",
            HeaderValue::from_static("1800000000"),
        );
        h.insert("Wechatpay-Nonce", HeaderValue::from_static("nonce1"));
        h.insert(
            "Wechatpay-Serial",
            HeaderValue::from_static("D7CE59D1F522D701"),
        );
        h.insert("Wechatpay-Signature", HeaderValue::from_str(&sig).unwrap());
        assert!(cert_verifier().verify(&h, b"", now).is_ok());
        assert!(cert_verifier().verify(&h, b" ", now).is_err());
    }

    #[test]
    fn trade_state_and_refund_status_mapping() {
        let t = |s: &str| {
            remote_payment(&Transaction {
                transaction_id: Some("42".into()),
                trade_state: s.into(),
                amount: Some(TransactionAmount { total: Some(100) }),
                success_time: Some("2018-06-08T10:34:56+08:00".into()),
            })
        };
        assert_eq!(t("SUCCESS").unwrap().status, RemoteStatus::Paid);
        assert_eq!(
            t("SUCCESS").unwrap().paid_at.map(|p| p.to_rfc3339()),
            Some("2018-06-08T02:34:56+00:00".into())
        );
        assert_eq!(t("SUCCESS").unwrap().amount_fen, Some(100));
        assert_eq!(t("REFUND").unwrap().status, RemoteStatus::Refunded);
        assert_eq!(t("NOTPAY").unwrap().status, RemoteStatus::Waiting);
        assert_eq!(t("USERPAYING").unwrap().status, RemoteStatus::Waiting);
        assert_eq!(t("CLOSED").unwrap().status, RemoteStatus::Closed);
        // A reversed code payment that had been paid keeps its success
        // time: the reversal refunded it. Without one nothing was taken.
        assert_eq!(t("REVOKED").unwrap().status, RemoteStatus::Refunded);
        let revoked_unpaid = remote_payment(&Transaction {
            transaction_id: None,
            trade_state: "REVOKED".into(),
            amount: Some(TransactionAmount { total: Some(100) }),
            success_time: None,
        })
        .unwrap();
        assert_eq!(revoked_unpaid.status, RemoteStatus::Closed);
        assert_eq!(t("PAYERROR").unwrap().status, RemoteStatus::Failed);
        assert!(matches!(
            t("MAYBE"),
            Err(ChannelError::Indeterminate { .. })
        ));

        let r = |s: &str| {
            refund_result(&RefundResp {
                refund_id: Some("50".into()),
                out_refund_no: "R1".into(),
                status: s.into(),
                amount: Some(RefundRespAmount { refund: Some(30) }),
                success_time: None,
            })
            .map(|r| r.status)
        };
        assert_eq!(r("SUCCESS"), Ok(RefundStatus::Success));
        assert_eq!(r("PROCESSING"), Ok(RefundStatus::Processing));
        assert_eq!(r("CLOSED"), Ok(RefundStatus::Closed));
        assert_eq!(r("ABNORMAL"), Ok(RefundStatus::Abnormal));
        assert!(r("ELSE").is_err());
    }

    #[test]
    fn times_print_in_beijing() {
        let at = Utc.with_ymd_and_hms(2018, 6, 8, 2, 34, 56).unwrap();
        assert_eq!(format_time(at), "2018-06-08T10:34:56+08:00");
        assert_eq!(parse_time("2018-06-08T10:34:56+08:00"), Some(at));
    }
}
