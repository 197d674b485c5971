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

use chrono::NaiveDate;
use rand::Rng;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
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
    BillLine, CloseOutcome, CreateQr, QrCreated, RefundRequest, RefundResult, RemotePayment,
    RemoteStatus,
};
use crate::ChannelError;
use wire::Reply;

pub use bill::parse_bill_file;
pub use v2::{v2_sign, V2SignType};
pub use wire::{decrypt_resource, open_notification, Notification, PlatformVerifier};

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

    /// Verify and decrypt a notification (for a set-up that can receive them).
    pub fn open_notification(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Notification, ChannelError> {
        wire::open_notification(
            &self.verifier,
            self.apiv3_key.expose().as_bytes(),
            headers,
            body,
            self.clock.now(),
        )
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

    fn refused(error: wire::ErrorBody) -> ChannelError {
        ChannelError::definite(error.code, error.message)
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
            notify_url: &self.notify_url,
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
            "/v3/bill/tradebill?bill_date={}&bill_type=ALL",
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
        match (resp.hash_type.as_deref(), resp.hash_value.as_deref()) {
            (Some(kind), Some(expected)) if kind.eq_ignore_ascii_case("SHA1") => {
                let actual = hex::encode(Sha1::digest(&file.body));
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
        let lines = parse_bill_file(&file.body)
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
}
