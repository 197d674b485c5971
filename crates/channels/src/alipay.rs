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

use chrono::{DateTime, NaiveDate, Utc};
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
    BillLine, CloseOutcome, CodePay, CodePayAnswer, CreateQr, NotificationAck, PaymentNotice,
    QrCreated, RefundRequest, RefundResult, RemotePayment, RemoteStatus,
};
use crate::ChannelError;

pub use bill::{parse_bill_file, read_bill};
pub use wire::{notify_sign_content, sign_content};

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
        notify_url: Option<&str>,
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
        if let Some(url) = notify_url.filter(|u| !u.trim().is_empty()) {
            // A common parameter, so it is signed like the others.
            params.push(("notify_url", url));
        }
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
        self.call_notifying(method, biz, None).await
    }

    /// [`Alipay::call`] with a `notify_url` for the trade it creates.
    async fn call_notifying<B: Serialize>(
        &self,
        method: &str,
        biz: &B,
        notify_url: Option<&str>,
    ) -> Result<wire::Answer, ChannelError> {
        let biz_content = serde_json::to_string(biz)
            .map_err(|e| ChannelError::config(format!("cannot encode {method}: {e}")))?;
        tracing::debug!(method, "Alipay call");
        let RawResponse { status, body, .. } =
            http::send(self.request(method, &biz_content, notify_url)?).await?;
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
        let verified = self
            .call_notifying(method, &biz, req.notify_url.as_deref())
            .await?;
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

    /// `alipay.trade.pay`, scene `bar_code`: `10000` paid, `10003` waiting
    /// for the customer's password, anything else a refusal or unknown.
    async fn do_pay_by_code(&self, req: &CodePay) -> Result<CodePayAnswer, ChannelError> {
        if req.amount_fen <= 0 {
            return Err(ChannelError::config("a payment must be above zero"));
        }
        let method = "alipay.trade.pay";
        let biz = wire::PayBiz {
            out_trade_no: &req.out_trade_no,
            scene: "bar_code",
            auth_code: &req.auth_code,
            total_amount: wire::yuan(req.amount_fen),
            subject: &req.subject,
            product_code: "FACE_TO_FACE_PAYMENT",
            store_id: Some(req.store_id.as_str()).filter(|s| !s.is_empty()),
            terminal_id: Some(req.terminal_id.as_str()).filter(|s| !s.is_empty()),
        };
        let answer = self.call(method, &biz).await?;
        wire::pay_answer(&answer.common, &answer.read()?)
    }

    /// Cancel a code payment. A trade Alipay never made (the pay call never
    /// arrived) has nothing to cancel and nothing was taken.
    async fn do_reverse_code_payment(
        &self,
        out_trade_no: &str,
    ) -> Result<CloseOutcome, ChannelError> {
        match self.cancel(out_trade_no).await {
            Ok(wire::CancelAction::Closed) => Ok(CloseOutcome::Closed),
            Ok(wire::CancelAction::Refunded) => Ok(CloseOutcome::ReversedAfterPayment),
            Err(e) if e.definite_code() == Some("ACQ.TRADE_NOT_EXIST") => Ok(CloseOutcome::Closed),
            Err(e) => Err(e),
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

    fn pay_by_code<'a>(&'a self, req: &'a CodePay) -> ChannelFuture<'a, CodePayAnswer> {
        Box::pin(self.do_pay_by_code(req))
    }

    fn reverse_code_payment<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> ChannelFuture<'a, CloseOutcome> {
        Box::pin(self.do_reverse_code_payment(out_trade_no))
    }

    /// Verify the form body by the V1 rule with the Alipay public key and
    /// check it is for this app. Alipay signs no time, so `now` is unused;
    /// headers carry nothing Alipay signs.
    fn open_notification(
        &self,
        _headers: &[(String, String)],
        body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<PaymentNotice, ChannelError> {
        wire::open_notification(body, &self.app_id, &self.alipay_public_key)
    }

    fn notification_ack(&self, accepted: bool) -> NotificationAck {
        NotificationAck {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: if accepted { "success" } else { "fail" }.to_owned(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod notification_tests {
    use super::*;
    use crate::config::{SecretText, Timeouts};
    use crate::keys::tests::vector;
    use crate::keys::{parse_private_key, sign_sha256};

    const APP_ID: &str = "2014072300007148";

    fn client() -> Alipay {
        let config = AlipayConfig {
            app_id: APP_ID.into(),
            app_private_key_pem: SecretText::new(vector(
                "python_alipay_sdk_tests_app_app_private_key.pem",
            )),
            alipay_public_key_pem: vector("python_alipay_sdk_tests_ali_ali_public_key.pem"),
            gateway: "http://127.0.0.1:9/gateway.do".into(),
            timeouts: Timeouts::default(),
            cancel_retry_gap_ms: 10,
            cancel_max_retries: 3,
        };
        Alipay::new(&config, Arc::new(crate::SystemClock)).unwrap()
    }

    fn fields(app_id: &str, status: &str, amount: &str) -> Vec<(String, String)> {
        [
            ("notify_time", "2026-11-21 09:30:02"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("app_id", app_id),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("sign_type", "RSA2"),
            ("trade_no", "2026112122001400001234567890"),
            ("out_trade_no", "T20261121_0001"),
            ("trade_status", status),
            ("total_amount", amount),
            ("receipt_amount", amount),
            ("gmt_create", "2026-11-21 09:29:40"),
            ("gmt_payment", "2026-11-21 09:30:00"),
            ("subject", "咖啡 & 蛋糕 a+b=c"),
            (
                "fund_bill_list",
                r#"[{"amount":"12.30","fundChannel":"ALIPAYACCOUNT"}]"#,
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// Sign by the V1 rule with the "Alipay" test key and form-encode.
    fn signed_body(params: &[(String, String)]) -> String {
        let key =
            parse_private_key(&vector("python_alipay_sdk_tests_ali_ali_private_key.pem")).unwrap();
        let sign = sign_sha256(&key, notify_sign_content(params).as_bytes());
        encode(params, Some(&sign))
    }

    fn encode(params: &[(String, String)], sign: Option<&str>) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            form.append_pair(k, v);
        }
        if let Some(sign) = sign {
            form.append_pair("sign", sign);
        }
        form.finish()
    }

    fn open(body: &str) -> Result<PaymentNotice, ChannelError> {
        client().open_notification(&[], body.as_bytes(), Utc::now())
    }

    #[test]
    fn v1_rule_leaves_out_sign_and_sign_type() {
        let content = notify_sign_content(&[
            ("sign", "x"),
            ("sign_type", "RSA2"),
            ("b", "2"),
            ("a", "1"),
            ("empty", ""),
        ]);
        assert_eq!(content, "a=1&b=2");
    }

    #[test]
    fn a_signed_notification_verifies_and_reads() {
        let notice = open(&signed_body(&fields(APP_ID, "TRADE_SUCCESS", "12.30"))).unwrap();
        assert_eq!(notice.out_trade_no, "T20261121_0001");
        assert!(notice.paid);
        assert_eq!(notice.amount_fen, Some(1230));
        assert_eq!(
            notice.trade_no.as_deref(),
            Some("2026112122001400001234567890")
        );
        assert_eq!(
            notice.paid_at.map(|t| t.to_rfc3339()),
            Some("2026-11-21T01:30:00+00:00".to_owned())
        );
        let finished = open(&signed_body(&fields(APP_ID, "TRADE_FINISHED", "0.01"))).unwrap();
        assert!(finished.paid);
        assert_eq!(finished.amount_fen, Some(1));
        let waiting = open(&signed_body(&fields(APP_ID, "WAIT_BUYER_PAY", "5"))).unwrap();
        assert!(!waiting.paid);
        assert_eq!(waiting.paid_at, None);
        assert_eq!(waiting.amount_fen, Some(500));
    }

    #[test]
    fn tampered_unsigned_and_misdirected_notifications_are_untrusted() {
        let untrusted = |body: &str| matches!(open(body), Err(ChannelError::Untrusted { .. }));
        let good = signed_body(&fields(APP_ID, "TRADE_SUCCESS", "12.30"));
        // The amount changed in transit.
        assert!(untrusted(
            &good.replace("total_amount=12.30", "total_amount=99.30")
        ));
        // An extra parameter slipped in.
        assert!(untrusted(&format!("{good}&buyer_id=2088000000000000")));
        // No sign, an empty sign, a sign that is not base64.
        let params = fields(APP_ID, "TRADE_SUCCESS", "12.30");
        assert!(untrusted(&encode(&params, None)));
        assert!(untrusted(&encode(&params, Some(""))));
        assert!(untrusted(&encode(&params, Some("%%%not base64"))));
        // Signed by the request rule (sign_type included): not what Alipay signs.
        let key =
            parse_private_key(&vector("python_alipay_sdk_tests_ali_ali_private_key.pem")).unwrap();
        let v2 = sign_sha256(&key, sign_content(&params).as_bytes());
        assert!(untrusted(&encode(&params, Some(&v2))));
        // Signed by the merchant's own key instead of Alipay's.
        let app_key =
            parse_private_key(&vector("python_alipay_sdk_tests_app_app_private_key.pem")).unwrap();
        let forged = sign_sha256(&app_key, notify_sign_content(&params).as_bytes());
        assert!(untrusted(&encode(&params, Some(&forged))));
        // Properly signed, but for another app.
        assert!(untrusted(&signed_body(&fields(
            "2021000000000001",
            "TRADE_SUCCESS",
            "12.30"
        ))));
        // A legacy sign type.
        let mut rsa1 = params.clone();
        rsa1.retain(|(k, _)| k != "sign_type");
        rsa1.push(("sign_type".into(), "RSA".into()));
        assert!(untrusted(&signed_body(&rsa1)));
        // A repeated name.
        assert!(untrusted(&format!("{good}&out_trade_no=T2")));
        assert!(untrusted(""));
        assert!(untrusted("not a form at all"));
    }

    #[test]
    fn signed_but_unreadable_notifications_are_indeterminate() {
        let indeterminate = |body: &str| {
            let e = open(body).unwrap_err();
            assert!(matches!(e, ChannelError::Indeterminate { .. }), "{e}");
        };
        indeterminate(&signed_body(&fields(APP_ID, "TRADE_MAYBE", "12.30")));
        indeterminate(&signed_body(&fields(APP_ID, "TRADE_SUCCESS", "1e3")));
        indeterminate(&signed_body(&fields(APP_ID, "TRADE_SUCCESS", "-1.00")));
        let mut refund = fields(APP_ID, "TRADE_SUCCESS", "12.30");
        refund.retain(|(k, _)| k != "notify_type");
        refund.push(("notify_type".into(), "refund_sync".into()));
        indeterminate(&signed_body(&refund));
        let mut no_order = fields(APP_ID, "TRADE_SUCCESS", "12.30");
        no_order.retain(|(k, _)| k != "out_trade_no");
        indeterminate(&signed_body(&no_order));
    }

    #[test]
    fn acknowledgement_is_plain_success() {
        let ack = client().notification_ack(true);
        assert_eq!((ack.status, ack.body.as_str()), (200, "success"));
        assert_ne!(client().notification_ack(false).body, "success");
    }
}
