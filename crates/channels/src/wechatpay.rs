//! WeChat Pay API v3, direct merchant, Native (merchant-presented QR).
//!
//! Behaviour lives here: signing requests, checking every answer's
//! signature (2xx and 4xx; 5xx claim nothing and are indeterminate), the
//! close race, refunds and the trade bill. Wire structs, the response
//! verifier and AEAD decryption are in [`wire`]; the bill parser in
//! [`bill`]; v2 signing in [`v2`].

pub mod bill;
pub mod v2;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use rsa::RsaPrivateKey;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha1::{Digest, Sha1};
use shouyin_core::ChannelKind;
use url::Url;

use crate::channel::{Channel, ChannelFuture};
use crate::clock::Clock;
use crate::config::{SecretText, WechatPayConfig};
use crate::http::{self, encode_segment, RawResponse};
use crate::keys;
use crate::model::{
    BillLine, CloseOutcome, CodePay, CodePayAnswer, CreateQr, NotificationAck, PaymentNotice,
    QrCreated, RefundRequest, RefundResult, RemotePayment, RemoteStatus,
};
use crate::ChannelError;
use wire::Reply;

pub use bill::{parse_bill_file, read_bill};
pub use v2::{v2_sign, V2SignType};
pub use wire::{decrypt_resource, open_notification, Notification, PlatformVerifier};

/// Extra reverse calls after an unclear answer, and the pause between them.
const REVERSE_RETRIES: u32 = 2;
const REVERSE_RETRY_GAP: std::time::Duration = std::time::Duration::from_millis(500);

/// A WeChat Pay v3 client. Cheap to share; holds one HTTP connection pool.
pub struct WechatPay {
    mchid: String,
    appid: String,
    merchant_serial_no: String,
    merchant_key: RsaPrivateKey,
    apiv3_key: SecretText,
    verifier: PlatformVerifier,
    platform_public_key_id: String,
    base_url: String,
    notify_url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WechatPay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPay")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("base_url", &self.base_url)
            .field("merchant_key", &"[redacted]")
            .field("apiv3_key", &self.apiv3_key)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl WechatPay {
    pub fn new(config: &WechatPayConfig, clock: Arc<dyn Clock>) -> Result<WechatPay, ChannelError> {
        let merchant_key = keys::parse_private_key(config.merchant_private_key_pem.expose())
            .map_err(|e| {
                ChannelError::config(format!("wechatpay.merchant_private_key_pem: {e}"))
            })?;
        let platform_key = keys::parse_public_key(&config.platform_public_key_pem)
            .map_err(|e| ChannelError::config(format!("wechatpay.platform_public_key_pem: {e}")))?;
        if config.apiv3_key.expose().len() != 32 {
            return Err(ChannelError::config(
                "wechatpay.apiv3_key must be 32 characters",
            ));
        }
        for (name, value) in [
            ("mchid", &config.mchid),
            ("appid", &config.appid),
            ("merchant_serial_no", &config.merchant_serial_no),
            ("platform_public_key_id", &config.platform_public_key_id),
        ] {
            if value.trim().is_empty() {
                return Err(ChannelError::config(format!("wechatpay.{name} is empty")));
            }
        }
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        Url::parse(&base_url).map_err(|e| {
            ChannelError::config(format!("wechatpay.base_url {:?}: {e}", config.base_url))
        })?;
        Ok(WechatPay {
            mchid: config.mchid.clone(),
            appid: config.appid.clone(),
            merchant_serial_no: config.merchant_serial_no.clone(),
            merchant_key,
            apiv3_key: config.apiv3_key.clone(),
            verifier: PlatformVerifier::new()
                .with_key(config.platform_public_key_id.clone(), platform_key),
            platform_public_key_id: config.platform_public_key_id.clone(),
            base_url,
            notify_url: config.notify_url.clone(),
            http: http::client(&config.timeouts)?,
            clock,
        })
    }

    /// A request with the v3 `Authorization` header over the URL as sent.
    fn signed(&self, method: Method, url: Url, body: Option<String>) -> reqwest::RequestBuilder {
        let canonical = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let timestamp = self.clock.now().timestamp();
        let nonce = hex::encode_upper(rand::thread_rng().gen::<[u8; 16]>());
        let message = wire::request_message(
            method.as_str(),
            &canonical,
            timestamp,
            &nonce,
            body.as_deref().unwrap_or(""),
        );
        let signature = keys::sign_sha256(&self.merchant_key, message.as_bytes());
        let mut request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json")
            .header(
                AUTHORIZATION,
                wire::authorization(
                    &self.mchid,
                    &self.merchant_serial_no,
                    &nonce,
                    timestamp,
                    &signature,
                ),
            )
            // Public-key mode names the key it expects answers to use.
            .header("Wechatpay-Serial", &self.platform_public_key_id);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        request
    }

    fn url(&self, path_and_query: &str) -> Result<Url, ChannelError> {
        Url::parse(&format!("{}{path_and_query}", self.base_url))
            .map_err(|e| ChannelError::config(format!("cannot build a WeChat Pay URL: {e}")))
    }

    /// Send, then: 5xx is indeterminate; a body that is not the JSON it
    /// should be is indeterminate; otherwise the signature must verify.
    async fn exchange<B: Serialize>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<Reply, ChannelError> {
        let body = match body {
            Some(b) => Some(
                serde_json::to_string(b)
                    .map_err(|e| ChannelError::config(format!("cannot encode a request: {e}")))?,
            ),
            None => None,
        };
        let url = self.url(path_and_query)?;
        tracing::debug!(%method, path = url.path(), "WeChat Pay call");
        let RawResponse {
            status,
            headers,
            body,
        } = http::send(self.signed(method, url, body)).await?;
        wire::open_reply(status, &headers, body, &self.verifier, self.clock.now())
    }

    fn read<T: DeserializeOwned>(body: &[u8]) -> Result<T, ChannelError> {
        serde_json::from_slice(body).map_err(|e| {
            ChannelError::indeterminate(format!("WeChat Pay answer has unexpected fields: {e}"))
        })
    }

    /// A signed refusal. System errors and rate limits are "not now", not
    /// "no", whatever HTTP status carried them.
    fn refused(error: wire::ErrorBody) -> ChannelError {
        match error.code.as_str() {
            "SYSTEM_ERROR" | "SYSTEMERROR" | "BANK_ERROR" | "FREQUENCY_LIMITED"
            | "RATELIMIT_EXCEEDED" => {
                ChannelError::indeterminate(format!("WeChat Pay {}: {}", error.code, error.message))
            }
            _ => ChannelError::definite(error.code, error.message),
        }
    }

    async fn do_create_qr(&self, req: &CreateQr) -> Result<QrCreated, ChannelError> {
        if req.amount_fen <= 0 {
            return Err(ChannelError::config("a QR amount must be above zero"));
        }
        let order = wire::NativeOrder {
            appid: &self.appid,
            mchid: &self.mchid,
            description: &req.subject,
            out_trade_no: &req.out_trade_no,
            time_expire: wire::format_time(req.expires_at),
            // An order's own URL wins; WeChat refuses an order without one.
            notify_url: req
                .notify_url
                .as_deref()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or(&self.notify_url),
            amount: wire::Amount {
                total: req.amount_fen,
                currency: "CNY",
            },
        };
        match self
            .exchange(Method::POST, "/v3/pay/transactions/native", Some(&order))
            .await?
        {
            Reply::Ok(body) => {
                let resp: wire::NativeResp = Self::read(&body)?;
                Ok(QrCreated {
                    qr_payload: resp.code_url,
                })
            }
            Reply::Refused { error, .. } => Err(Self::refused(error)),
        }
    }

    async fn do_query(&self, out_trade_no: &str) -> Result<RemotePayment, ChannelError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            encode_segment(out_trade_no),
            encode_segment(&self.mchid)
        );
        match self.exchange::<()>(Method::GET, &path, None).await? {
            Reply::Ok(body) => wire::remote_payment(&Self::read(&body)?),
            Reply::Refused { status: 404, error } if error.code == "ORDER_NOT_EXIST" => {
                Ok(RemotePayment::not_found())
            }
            Reply::Refused { error, .. } => Err(Self::refused(error)),
        }
    }

    async fn do_close(&self, out_trade_no: &str) -> Result<CloseOutcome, ChannelError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            encode_segment(out_trade_no)
        );
        let body = wire::CloseOrder { mchid: &self.mchid };
        match self.exchange(Method::POST, &path, Some(&body)).await? {
            Reply::Ok(_) => Ok(CloseOutcome::Closed),
            Reply::Refused { error, .. } if error.code == "ORDERPAID" => {
                // Lost the race against the customer. Confirm with a query,
                // so a stray "paid" never becomes a sale on its own.
                match self.do_query(out_trade_no).await?.status {
                    RemoteStatus::Paid | RemoteStatus::Refunded => Ok(CloseOutcome::AlreadyPaid),
                    _ => Err(Self::refused(error)),
                }
            }
            Reply::Refused { error, .. } => Err(Self::refused(error)),
        }
    }

    /// `POST /v3/pay/transactions/codepay`. The answer's `trade_state` says
    /// paid (SUCCESS) or waiting for the password (USERPAYING); a signed
    /// refusal with code USERPAYING means the same.
    async fn do_pay_by_code(&self, req: &CodePay) -> Result<CodePayAnswer, ChannelError> {
        if req.amount_fen <= 0 {
            return Err(ChannelError::config("a payment must be above zero"));
        }
        let order = wire::CodePayOrder {
            appid: &self.appid,
            mchid: &self.mchid,
            description: &req.subject,
            out_trade_no: &req.out_trade_no,
            payer: wire::CodePayer {
                auth_code: &req.auth_code,
            },
            amount: wire::Amount {
                total: req.amount_fen,
                currency: "CNY",
            },
            scene_info: wire::CodePayScene {
                device_id: Some(req.terminal_id.as_str()).filter(|s| !s.is_empty()),
                store_info: wire::CodePayStore {
                    out_id: &req.store_id,
                },
            },
        };
        match self
            .exchange(Method::POST, "/v3/pay/transactions/codepay", Some(&order))
            .await?
        {
            Reply::Ok(body) => wire::codepay_answer(&Self::read(&body)?),
            Reply::Refused { error, .. } if error.code == "USERPAYING" => {
                Ok(CodePayAnswer::Waiting)
            }
            Reply::Refused { error, .. } => Err(Self::refused(error)),
        }
    }

    /// Reverse a code payment, again while the answer is unclear (the v2
    /// guide: "when a reverse gets no answer or an error, call it again"),
    /// then ask where the trade ended: the v3 answer does not say whether
    /// money moved.
    async fn do_reverse_code_payment(
        &self,
        out_trade_no: &str,
    ) -> Result<CloseOutcome, ChannelError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/reverse",
            encode_segment(out_trade_no)
        );
        let body = wire::ReverseOrder {
            appid: &self.appid,
            mchid: &self.mchid,
        };
        let mut attempt = 0;
        loop {
            let outcome = match self.exchange(Method::POST, &path, Some(&body)).await {
                Ok(Reply::Ok(_)) => Ok(()),
                Ok(Reply::Refused { status: 404, error }) if error.code == "ORDER_NOT_EXIST" => {
                    // The pay call never arrived: nothing to reverse, nothing taken.
                    return Ok(CloseOutcome::Closed);
                }
                Ok(Reply::Refused { error, .. }) => Err(Self::refused(error)),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => break,
                Err(e @ ChannelError::Indeterminate { .. }) if attempt < REVERSE_RETRIES => {
                    attempt += 1;
                    tracing::info!(attempt, error = %e, "WeChat reverse unclear; again");
                    tokio::time::sleep(REVERSE_RETRY_GAP).await;
                }
                Err(e) => return Err(e),
            }
        }
        match self.do_query(out_trade_no).await?.status {
            RemoteStatus::Refunded => Ok(CloseOutcome::ReversedAfterPayment),
            RemoteStatus::Closed | RemoteStatus::Failed | RemoteStatus::NotFound => {
                Ok(CloseOutcome::Closed)
            }
            // Still paid or still waiting after a reverse that answered OK.
            other => Err(ChannelError::indeterminate(format!(
                "WeChat Pay trade is {other:?} after a reverse"
            ))),
        }
    }

    async fn do_refund(&self, req: &RefundRequest) -> Result<RefundResult, ChannelError> {
        if req.refund_fen <= 0 {
            return Err(ChannelError::config("a refund must be above zero"));
        }
        let body = wire::RefundOrder {
            out_trade_no: &req.out_trade_no,
            out_refund_no: &req.out_refund_no,
            reason: req.reason.as_deref().filter(|r| !r.is_empty()),
            amount: wire::RefundAmount {
                refund: req.refund_fen,
                total: req.total_fen,
                currency: "CNY",
            },
        };
        match self
            .exchange(Method::POST, "/v3/refund/domestic/refunds", Some(&body))
            .await?
        {
            Reply::Ok(body) => wire::refund_result(&Self::read(&body)?),
            Reply::Refused { error, .. } => Err(Self::refused(error)),
        }
    }

    async fn do_query_refund(&self, out_refund_no: &str) -> Result<RefundResult, ChannelError> {
        let path = format!(
            "/v3/refund/domestic/refunds/{}",
            encode_segment(out_refund_no)
        );
        match self.exchange::<()>(Method::GET, &path, None).await? {
            Reply::Ok(body) => wire::refund_result(&Self::read(&body)?),
            Reply::Refused { error, .. } => Err(Self::refused(error)),
        }
    }

    async fn do_daily_bill(&self, date: NaiveDate) -> Result<Vec<BillLine>, ChannelError> {
        let path = format!(
            "/v3/bill/tradebill?bill_date={}&bill_type=ALL&tar_type=GZIP",
            date.format("%Y-%m-%d")
        );
        let resp: wire::TradeBillResp = match self.exchange::<()>(Method::GET, &path, None).await? {
            Reply::Ok(body) => Self::read(&body)?,
            Reply::Refused { error, .. } => return Err(Self::refused(error)),
        };
        let url = Url::parse(&resp.download_url)
            .map_err(|_| ChannelError::indeterminate("WeChat Pay download_url is not a URL"))?;
        // The file answer is not signed; its SHA1 from the signed answer
        // above stands in for the signature.
        let file = http::send(self.signed(Method::GET, url, None)).await?;
        if file.status != 200 {
            return Err(ChannelError::indeterminate(format!(
                "WeChat Pay bill download HTTP {}",
                file.status
            )));
        }
        // Asked for as gzip (smaller); the hash is the uncompressed bill's.
        // A stream that does not unpack is a file that does not match.
        let raw = crate::bill::gunzip_if_packed(&file.body).map_err(|e| {
            ChannelError::untrusted(format!("WeChat Pay bill file does not unpack: {e}"))
        })?;
        match (resp.hash_type.as_deref(), resp.hash_value.as_deref()) {
            (Some(kind), Some(expected)) if kind.eq_ignore_ascii_case("SHA1") => {
                let actual = hex::encode(Sha1::digest(&raw));
                if !actual.eq_ignore_ascii_case(expected.trim()) {
                    return Err(ChannelError::untrusted(
                        "WeChat Pay bill file does not match its SHA1",
                    ));
                }
            }
            (kind, _) => {
                return Err(ChannelError::untrusted(format!(
                    "WeChat Pay bill has no SHA1 to check (hash_type {kind:?})"
                )))
            }
        }
        let lines = parse_bill_file(&raw)
            .map_err(|e| ChannelError::indeterminate(format!("WeChat Pay bill: {e}")))?;
        tracing::info!(%date, rows = lines.len(), "WeChat Pay bill downloaded");
        Ok(lines)
    }
}

impl Channel for WechatPay {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Wechat
    }

    fn create_qr<'a>(&'a self, req: &'a CreateQr) -> ChannelFuture<'a, QrCreated> {
        Box::pin(self.do_create_qr(req))
    }

    fn query<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, RemotePayment> {
        Box::pin(self.do_query(out_trade_no))
    }

    fn close<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, CloseOutcome> {
        Box::pin(self.do_close(out_trade_no))
    }

    fn refund<'a>(&'a self, req: &'a RefundRequest) -> ChannelFuture<'a, RefundResult> {
        Box::pin(self.do_refund(req))
    }

    fn query_refund<'a>(
        &'a self,
        _out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> ChannelFuture<'a, RefundResult> {
        Box::pin(self.do_query_refund(out_refund_no))
    }

    fn daily_bill(&self, date: NaiveDate) -> ChannelFuture<'_, Vec<BillLine>> {
        Box::pin(self.do_daily_bill(date))
    }

    fn pay_by_code<'a>(&'a self, req: &'a CodePay) -> ChannelFuture<'a, CodePayAnswer> {
        Box::pin(self.do_pay_by_code(req))
    }

    fn reverse_code_payment<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> ChannelFuture<'a, CloseOutcome> {
        Box::pin(self.do_reverse_code_payment(out_trade_no))
    }

    /// Check the `Wechatpay-*` signature with the platform key (and the
    /// 5-minute window against `now`), decrypt the resource with the APIv3
    /// key, and read the transaction in it.
    fn open_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<PaymentNotice, ChannelError> {
        let notification = wire::open_notification(
            &self.verifier,
            self.apiv3_key.expose().as_bytes(),
            &wire::header_map(headers),
            body,
            now,
        )?;
        wire::payment_notice(&notification, &self.mchid, &self.appid)
    }

    fn notification_ack(&self, accepted: bool) -> NotificationAck {
        if accepted {
            NotificationAck {
                status: 204,
                content_type: "application/json",
                body: String::new(),
            }
        } else {
            NotificationAck {
                status: 500,
                content_type: "application/json",
                body: r#"{"code":"FAIL","message":"失败"}"#.to_owned(),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod notification_tests {
    use super::*;
    use crate::config::Timeouts;
    use crate::keys::sign_sha256;
    use crate::keys::tests::vector;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use chrono::TimeZone;

    const MCHID: &str = "1230000109";
    const APPID: &str = "wxd678efh567hg6787";
    const APIV3: &str = "testMchAPIv3Key0testMchAPIv3Key0";
    const TS: i64 = 1_800_000_000;

    fn client() -> WechatPay {
        let config = WechatPayConfig {
            mchid: MCHID.into(),
            appid: APPID.into(),
            merchant_private_key_pem: SecretText::new(vector(
                "wechatpay_doc_apiclient_test_key_pkcs8.pem",
            )),
            merchant_serial_no: "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB".into(),
            apiv3_key: SecretText::new(APIV3),
            platform_public_key_pem: vector("wechatpay_go_test_platform_cert.pem"),
            platform_public_key_id: "PUB_KEY_ID_0000".into(),
            base_url: "http://127.0.0.1:9".into(),
            timeouts: Timeouts::default(),
            notify_url: "https://localhost/shouyin/wechatpay/notify".into(),
        };
        WechatPay::new(&config, Arc::new(crate::SystemClock)).unwrap()
    }

    fn transaction(mchid: &str, state: &str) -> String {
        serde_json::json!({
            "appid": APPID, "mchid": mchid, "out_trade_no": "T20261121_0002",
            "transaction_id": "4200000001202611211234567890", "trade_type": "NATIVE",
            "trade_state": state, "trade_state_desc": "支付成功", "bank_type": "OTHERS",
            "success_time": "2026-11-21T09:30:00+08:00", "payer": {"openid": "oUpF8uMuAJO"},
            "amount": {"total": 1230, "payer_total": 1230, "currency": "CNY", "payer_currency": "CNY"}
        })
        .to_string()
    }

    fn body(plaintext: &str, key: &[u8], original_type: &str) -> String {
        let ct = Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(
                Nonce::from_slice(b"fdasflkja484"),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: b"transaction",
                },
            )
            .unwrap();
        serde_json::json!({
            "id": "EV-2018022511223320873", "create_time": "2026-11-21T09:30:01+08:00",
            "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": STANDARD.encode(ct), "associated_data": "transaction",
                         "nonce": "fdasflkja484"}
        })
        .to_string()
    }

    /// Signed with the platform test key; header names in mixed case, as a
    /// web framework may hand them over.
    fn headers(body: &str, ts: i64) -> Vec<(String, String)> {
        let key =
            crate::keys::parse_private_key(&vector("wechatpay_go_test_private_key_pkcs8.pem"))
                .unwrap();
        let sig = sign_sha256(&key, format!("{ts}\nn0nce42\n{body}\n").as_bytes());
        vec![
            ("wechatpay-timestamp".into(), ts.to_string()),
            ("WECHATPAY-NONCE".into(), "n0nce42".into()),
            ("Wechatpay-Signature".into(), sig),
            ("Wechatpay-Serial".into(), "PUB_KEY_ID_0000".into()),
            (
                "Wechatpay-Signature-Type".into(),
                "WECHATPAY2-SHA256-RSA2048".into(),
            ),
            ("Content-Type".into(), "application/json".into()),
        ]
    }

    fn at(ts: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(ts, 0).unwrap()
    }

    #[test]
    fn a_signed_encrypted_notification_opens() {
        let b = body(
            &transaction(MCHID, "SUCCESS"),
            APIV3.as_bytes(),
            "transaction",
        );
        let notice = client()
            .open_notification(&headers(&b, TS), b.as_bytes(), at(TS + 10))
            .unwrap();
        assert_eq!(
            notice,
            PaymentNotice {
                out_trade_no: "T20261121_0002".into(),
                paid: true,
                amount_fen: Some(1230),
                trade_no: Some("4200000001202611211234567890".into()),
                paid_at: Some(Utc.with_ymd_and_hms(2026, 11, 21, 1, 30, 0).unwrap()),
            }
        );
        let b = body(
            &transaction(MCHID, "NOTPAY"),
            APIV3.as_bytes(),
            "transaction",
        );
        let notice = client()
            .open_notification(&headers(&b, TS), b.as_bytes(), at(TS))
            .unwrap();
        assert!(!notice.paid);
        assert_eq!(notice.paid_at, None);
    }

    #[test]
    fn forged_stale_or_foreign_notifications_are_untrusted() {
        let c = client();
        let untrusted = |h: &[(String, String)], b: &str, now: i64| {
            matches!(
                c.open_notification(h, b.as_bytes(), at(now)),
                Err(ChannelError::Untrusted { .. })
            )
        };
        let b = body(
            &transaction(MCHID, "SUCCESS"),
            APIV3.as_bytes(),
            "transaction",
        );
        let h = headers(&b, TS);
        // Changed in transit.
        assert!(untrusted(&h, &b.replace("支付成功", "支付失败"), TS));
        // Too old or from the future.
        assert!(untrusted(&h, &b, TS + 300));
        assert!(untrusted(&h, &b, TS - 300));
        // Each signature header missing in turn.
        for name in [
            "wechatpay-timestamp",
            "wechatpay-nonce",
            "wechatpay-signature",
            "wechatpay-serial",
        ] {
            let mut fewer = h.clone();
            fewer.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            assert!(untrusted(&fewer, &b, TS), "{name}");
        }
        assert!(untrusted(&[], &b, TS));
        // Properly signed and encrypted, but for another merchant.
        let other = body(
            &transaction("1900000001", "SUCCESS"),
            APIV3.as_bytes(),
            "transaction",
        );
        assert!(untrusted(&headers(&other, TS), &other, TS));
        // Encrypted with a key that is not ours.
        let wrong_key = body(
            &transaction(MCHID, "SUCCESS"),
            b"0123456789abcdef0123456789abcdef",
            "transaction",
        );
        assert!(untrusted(&headers(&wrong_key, TS), &wrong_key, TS));
    }

    #[test]
    fn notifications_that_are_not_payments_are_indeterminate() {
        let refund = body(
            r#"{"mchid":"1230000109","out_trade_no":"T1","refund_status":"SUCCESS"}"#,
            APIV3.as_bytes(),
            "refund",
        );
        let e = client()
            .open_notification(&headers(&refund, TS), refund.as_bytes(), at(TS))
            .unwrap_err();
        assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
        let not_json = body("not json", APIV3.as_bytes(), "transaction");
        let e = client()
            .open_notification(&headers(&not_json, TS), not_json.as_bytes(), at(TS))
            .unwrap_err();
        assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
        let garbage = "{\"resource\":1}";
        let e = client()
            .open_notification(&headers(garbage, TS), garbage.as_bytes(), at(TS))
            .unwrap_err();
        assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
    }

    #[test]
    fn acknowledgement_is_a_2xx() {
        assert_eq!(client().notification_ack(true).status, 204);
        assert!(client().notification_ack(false).status >= 400);
    }
}
