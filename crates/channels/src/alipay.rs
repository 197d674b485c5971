//! Alipay face-to-face (当面付) with a merchant-presented dynamic QR.
//!
//! Behaviour lives here: building and signing gateway calls, the close
//! policy, refunds and the bill download. Wire structs and their mapping
//! are in [`wire`]; the bill file parser in [`bill`].

pub mod bill;
pub mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Serialize;
use shouyin_core::ChannelKind;
use url::Url;

use crate::channel::{Channel, ChannelFuture};
use crate::clock::Clock;
use crate::config::AlipayConfig;
use crate::http::{self, RawResponse};
use crate::keys;
use crate::model::{
    BillLine, CloseOutcome, CreateQr, QrCreated, RefundRequest, RefundResult, RemotePayment,
    RemoteStatus,
};
use crate::ChannelError;

pub use bill::parse_bill_file;
pub use wire::sign_content;

/// An Alipay client. Cheap to share; holds one HTTP connection pool.
pub struct Alipay {
    app_id: String,
    app_private_key: RsaPrivateKey,
    alipay_public_key: RsaPublicKey,
    gateway: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    cancel_retry_gap: Duration,
    cancel_max_retries: u32,
}

impl fmt::Debug for Alipay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alipay")
            .field("app_id", &self.app_id)
            .field("gateway", &self.gateway.as_str())
            .field("app_private_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Alipay {
    pub fn new(config: &AlipayConfig, clock: Arc<dyn Clock>) -> Result<Alipay, ChannelError> {
        let app_private_key = keys::parse_private_key(config.app_private_key_pem.expose())
            .map_err(|e| ChannelError::config(format!("alipay.app_private_key_pem: {e}")))?;
        let alipay_public_key = keys::parse_public_key(&config.alipay_public_key_pem)
            .map_err(|e| ChannelError::config(format!("alipay.alipay_public_key_pem: {e}")))?;
        let gateway = Url::parse(&config.gateway).map_err(|e| {
            ChannelError::config(format!("alipay.gateway {:?}: {e}", config.gateway))
        })?;
        if config.app_id.trim().is_empty() {
            return Err(ChannelError::config("alipay.app_id is empty"));
        }
        Ok(Alipay {
            app_id: config.app_id.clone(),
            app_private_key,
            alipay_public_key,
            gateway,
            http: http::client(&config.timeouts)?,
            clock,
            cancel_retry_gap: Duration::from_millis(config.cancel_retry_gap_ms),
            cancel_max_retries: config.cancel_max_retries,
        })
    }

    /// The signed request: common parameters in the query string,
    /// `biz_content` in the form body (as the official SDK sends them).
    fn request(
        &self,
        method: &str,
        biz_content: &str,
    ) -> Result<reqwest::RequestBuilder, ChannelError> {
        let timestamp = wire::format_timestamp(self.clock.now());
        let mut params: Vec<(&str, &str)> = vec![
            ("app_id", &self.app_id),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", &timestamp),
            ("version", "1.0"),
        ];
        params.push(("biz_content", biz_content));
        let sign = keys::sign_sha256(&self.app_private_key, sign_content(&params).as_bytes());
        params.pop();
        let mut url = self.gateway.clone();
        url.query_pairs_mut()
            .extend_pairs(params.iter().copied())
            .append_pair("sign", &sign);
        let body = serde_urlencoded::to_string([("biz_content", biz_content)])
            .map_err(|e| ChannelError::config(format!("cannot encode biz_content: {e}")))?;
        Ok(self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body))
    }

    /// One gateway call: sign, send, check the HTTP status, verify the answer.
    async fn call<B: Serialize>(
        &self,
        method: &str,
        biz: &B,
    ) -> Result<wire::Answer, ChannelError> {
        let biz_content = serde_json::to_string(biz)
            .map_err(|e| ChannelError::config(format!("cannot encode {method}: {e}")))?;
        tracing::debug!(method, "Alipay call");
        let RawResponse { status, body, .. } =
            http::send(self.request(method, &biz_content)?).await?;
        if status != 200 {
            // The gateway answers 200 even for business errors.
            return Err(ChannelError::indeterminate(format!(
                "Alipay gateway HTTP {status}"
            )));
        }
        let text = String::from_utf8(body)
            .map_err(|_| ChannelError::indeterminate("Alipay answer is not UTF-8"))?;
        wire::Answer::open(text, method, &self.alipay_public_key)
    }

    async fn do_create_qr(&self, req: &CreateQr) -> Result<QrCreated, ChannelError> {
        if req.amount_fen <= 0 {
            return Err(ChannelError::config("a QR amount must be above zero"));
        }
        let method = "alipay.trade.precreate";
        let biz = wire::PrecreateBiz {
            out_trade_no: &req.out_trade_no,
            total_amount: wire::yuan(req.amount_fen),
            subject: &req.subject,
            timeout_express: wire::timeout_express(self.clock.now(), req.expires_at),
            product_code: "FACE_TO_FACE_PAYMENT",
        };
        let verified = self.call(method, &biz).await?;
        if !verified.common.is_success() {
            return Err(verified.common.to_error());
        }
        let resp: wire::PrecreateResp = verified.read()?;
        if resp.qr_code.is_empty() {
            return Err(ChannelError::indeterminate(
                "Alipay precreate answered no qr_code",
            ));
        }
        Ok(QrCreated {
            qr_payload: resp.qr_code,
        })
    }

    async fn do_query(&self, out_trade_no: &str) -> Result<RemotePayment, ChannelError> {
        let method = "alipay.trade.query";
        let verified = self.call(method, &wire::TradeRef { out_trade_no }).await?;
        if verified.common.sub_code_is("ACQ.TRADE_NOT_EXIST") {
            // Precreate makes no trade until the buyer scans.
            return Ok(RemotePayment::not_found());
        }
        if !verified.common.is_success() {
            return Err(verified.common.to_error());
        }
        wire::remote_payment(&verified.read()?)
    }

    /// Close, falling back to cancel when the buyer never scanned: a close
    /// then answers ACQ.TRADE_NOT_EXIST but the code would stay payable.
    async fn do_close(&self, out_trade_no: &str) -> Result<CloseOutcome, ChannelError> {
        let method = "alipay.trade.close";
        let verified = self.call(method, &wire::TradeRef { out_trade_no }).await?;
        if verified.common.is_success() {
            return Ok(CloseOutcome::Closed);
        }
        if verified.common.sub_code_is("ACQ.TRADE_NOT_EXIST") {
            return match self.cancel(out_trade_no).await? {
                wire::CancelAction::Closed => Ok(CloseOutcome::Closed),
                wire::CancelAction::Refunded => Ok(CloseOutcome::ReversedAfterPayment),
            };
        }
        if verified.common.sub_code_is("ACQ.TRADE_STATUS_ERROR") {
            // Paid or already closed: the query says which.
            let refusal = verified.common.to_error();
            return match self.do_query(out_trade_no).await?.status {
                RemoteStatus::Paid | RemoteStatus::Refunded => Ok(CloseOutcome::AlreadyPaid),
                RemoteStatus::Closed => Ok(CloseOutcome::Closed),
                _ => Err(refusal),
            };
        }
        Err(verified.common.to_error())
    }

    /// `alipay.trade.cancel`, repeated while Alipay says `retry_flag=Y`.
    async fn cancel(&self, out_trade_no: &str) -> Result<wire::CancelAction, ChannelError> {
        let method = "alipay.trade.cancel";
        let mut attempt = 0;
        loop {
            let answer = self.call(method, &wire::TradeRef { out_trade_no }).await?;
            match wire::cancel_step(&answer.common, &answer.read()?) {
                wire::CancelStep::Done(action) => return Ok(action),
                wire::CancelStep::Failed(e) => return Err(e),
                wire::CancelStep::Retry => {}
            }
            if attempt >= self.cancel_max_retries {
                return Err(ChannelError::indeterminate(format!(
                    "Alipay cancel still asks for a retry after {} attempts",
                    attempt + 1
                )));
            }
            attempt += 1;
            tracing::info!(attempt, "Alipay cancel asks for a retry");
            tokio::time::sleep(self.cancel_retry_gap).await;
        }
    }

    async fn do_refund(&self, req: &RefundRequest) -> Result<RefundResult, ChannelError> {
        if req.refund_fen <= 0 {
            return Err(ChannelError::config("a refund must be above zero"));
        }
        let method = "alipay.trade.refund";
        let biz = wire::RefundBiz {
            out_trade_no: &req.out_trade_no,
            refund_amount: wire::yuan(req.refund_fen),
            out_request_no: &req.out_refund_no,
            refund_reason: req.reason.as_deref().filter(|r| !r.is_empty()),
        };
        let verified = self.call(method, &biz).await?;
        if !verified.common.is_success() {
            return Err(verified.common.to_error());
        }
        let resp: wire::RefundResp = verified.read()?;
        if resp.fund_change.as_deref() == Some("Y") {
            return wire::refund_result(&resp, &req.out_refund_no, req.refund_fen);
        }
        // fund_change=N: a repeat of an earlier refund, or still in progress.
        // Only the refund query says which.
        let mut confirmed = self
            .do_query_refund(&req.out_trade_no, &req.out_refund_no)
            .await?;
        if confirmed.refunded_total_fen.is_none() {
            confirmed.refunded_total_fen =
                wire::refund_result(&resp, &req.out_refund_no, req.refund_fen)?.refunded_total_fen;
        }
        Ok(confirmed)
    }

    async fn do_query_refund(
        &self,
        out_trade_no: &str,
        out_refund_no: &str,
    ) -> Result<RefundResult, ChannelError> {
        let method = "alipay.trade.fastpay.refund.query";
        let biz = wire::RefundQueryBiz {
            out_trade_no,
            out_request_no: out_refund_no,
            query_options: ["gmt_refund_pay"],
        };
        let verified = self.call(method, &biz).await?;
        if !verified.common.is_success() {
            return Err(verified.common.to_error());
        }
        wire::refund_query_result(&verified.read()?, out_refund_no)
    }

    async fn do_daily_bill(&self, date: NaiveDate) -> Result<Vec<BillLine>, ChannelError> {
        let method = "alipay.data.dataservice.bill.downloadurl.query";
        let biz = wire::BillUrlBiz {
            bill_type: "trade",
            bill_date: date.format("%Y-%m-%d").to_string(),
        };
        let verified = self.call(method, &biz).await?;
        if !verified.common.is_success() {
            return Err(verified.common.to_error());
        }
        let resp: wire::BillUrlResp = verified.read()?;
        let url = Url::parse(&resp.bill_download_url)
            .map_err(|_| ChannelError::indeterminate("Alipay bill_download_url is not a URL"))?;
        // The download URL carries its own short-lived token; it is not signed.
        let file = http::send(self.http.get(url)).await?;
        if file.status != 200 {
            return Err(ChannelError::indeterminate(format!(
                "Alipay bill download HTTP {}",
                file.status
            )));
        }
        let lines = parse_bill_file(&file.body)
            .map_err(|e| ChannelError::indeterminate(format!("Alipay bill: {e}")))?;
        tracing::info!(%date, rows = lines.len(), "Alipay bill downloaded");
        Ok(lines)
    }
}

impl Channel for Alipay {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Alipay
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
        out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> ChannelFuture<'a, RefundResult> {
        Box::pin(self.do_query_refund(out_trade_no, out_refund_no))
    }

    fn daily_bill(&self, date: NaiveDate) -> ChannelFuture<'_, Vec<BillLine>> {
        Box::pin(self.do_daily_bill(date))
    }
}
