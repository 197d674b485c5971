//! UnionPay (银联二维码 / 云闪付) through the 全渠道 ACP 5.1.0 back-end
//! gateway: a merchant-presented QR (申码), the customer's code (被扫),
//! query, reversal (冲正), same-day cancel (消费撤销) and refunds (退货).
//!
//! Every request is a signed form; every answer is a signed form that
//! carries its own signing certificate, trusted only through the configured
//! root and intermediate ([`cert`]). Wire rules are in [`wire`].
//!
//! Numbering: a payment's `orderId` is its out_trade_no and a refund's its
//! out_refund_no, both without the `_` separators ACP does not allow; the
//! reversal and cancel of a payment are numbered from it with a `V`/`C`
//! suffix. A repeat therefore carries the same number and is recognised.

pub mod cert;
pub mod wire;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rsa::RsaPrivateKey;
use shouyin_core::ChannelKind;
use url::Url;

use crate::channel::{Channel, ChannelFuture};
use crate::clock::Clock;
use crate::config::UnionpayConfig;
use crate::http::{self, RawResponse};
use crate::keys;
use crate::model::{
    BillLine, CloseOutcome, CodePay, CodePayAnswer, CreateQr, QrCreated, RefundRequest,
    RefundResult, RefundStatus, RemotePayment, RemoteStatus,
};
use crate::ChannelError;

use wire::{Answer, Code, Fields};

/// Transactions (申码, 被扫, 撤销, 退货, 冲正).
const BACK_TRANS: &str = "gateway/api/backTransReq.do";
/// Queries of one transaction.
const QUERY_TRANS: &str = "gateway/api/queryTrans.do";

/// A UnionPay client. Cheap to share; holds one HTTP connection pool.
pub struct Unionpay {
    mer_id: String,
    key: RsaPrivateKey,
    cert_id: String,
    anchors: cert::TrustAnchors,
    gateway: Url,
    file_gateway: Url,
    back_url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// The `txnTime` each orderId was sent with: a query must name the
    /// original's time. Numbers made here embed their creation time, which
    /// is the fallback after a restart.
    sent_at: Mutex<HashMap<String, String>>,
    /// The `queryId` of each payment seen paid: a refund names the payment
    /// by it, so a refund need not query first (one request, whose lost
    /// answer is a repeat away from known).
    query_ids: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for Unionpay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unionpay")
            .field("mer_id", &self.mer_id)
            .field("cert_id", &self.cert_id)
            .field("gateway", &self.gateway.as_str())
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn base_url(text: &str, what: &str) -> Result<Url, ChannelError> {
    let with_slash = if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    };
    Url::parse(&with_slash)
        .map_err(|e| ChannelError::config(format!("unionpay.{what} {text:?}: {e}")))
}

impl Unionpay {
    pub fn new(config: &UnionpayConfig, clock: Arc<dyn Clock>) -> Result<Unionpay, ChannelError> {
        let key = keys::parse_private_key(config.merchant_private_key_pem.expose())
            .map_err(|e| ChannelError::config(format!("unionpay.merchant_private_key_pem: {e}")))?;
        let cert_id = cert::cert_id(&config.merchant_cert_pem)
            .map_err(|e| ChannelError::config(format!("unionpay.merchant_cert_pem: {e}")))?;
        let cert_key = keys::parse_public_key(&config.merchant_cert_pem)
            .map_err(|e| ChannelError::config(format!("unionpay.merchant_cert_pem: {e}")))?;
        if cert_key != key.to_public_key() {
            return Err(ChannelError::config(
                "unionpay: the private key does not belong to merchant_cert_pem",
            ));
        }
        let anchors = cert::TrustAnchors::new(
            &config.root_cert_pem,
            &config.middle_cert_pem,
            &config.sign_cert_owner,
        )
        .map_err(|e| ChannelError::config(format!("unionpay: {e}")))?;
        let mer_id = config.mer_id.trim();
        if mer_id.is_empty() || !mer_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ChannelError::config(
                "unionpay.mer_id must be letters and digits",
            ));
        }
        let gateway = base_url(&config.gateway, "gateway")?;
        let file_gateway = match &config.file_gateway {
            Some(g) => base_url(g, "file_gateway")?,
            None => gateway.clone(),
        };
        Ok(Unionpay {
            mer_id: mer_id.to_owned(),
            key,
            cert_id,
            anchors,
            gateway,
            file_gateway,
            back_url: config.back_url.clone(),
            http: http::client(&config.timeouts)?,
            clock,
            sent_at: Mutex::new(HashMap::new()),
            query_ids: Mutex::new(HashMap::new()),
        })
    }

    fn remember_paid(&self, out_trade_no: &str, paid: &RemotePayment) {
        if paid.status != RemoteStatus::Paid {
            return;
        }
        if let Some(id) = &paid.channel_trade_no {
            let mut map = self
                .query_ids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(out_trade_no.to_owned(), id.clone());
        }
    }

    fn known_query_id(&self, out_trade_no: &str) -> Option<String> {
        self.query_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(out_trade_no)
            .cloned()
    }

    fn remember(&self, order_id: &str, txn_time: &str) {
        let mut map = self
            .sent_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(order_id.to_owned(), txn_time.to_owned());
    }

    /// The `txnTime` the request `number` was (or will be) sent with.
    fn txn_time_of(&self, number: &str) -> String {
        let id = wire::order_id(number);
        let known = self
            .sent_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned();
        known.unwrap_or_else(|| {
            wire::txn_time(wire::time_in_number(number).unwrap_or_else(|| self.clock.now()))
        })
    }

    /// The common fields of every request.
    fn common(&self, txn_type: &str, txn_sub_type: &str) -> Fields {
        let mut f = Fields::new();
        for (k, v) in [
            ("version", "5.1.0"),
            ("encoding", "UTF-8"),
            ("signMethod", "01"),
            ("txnType", txn_type),
            ("txnSubType", txn_sub_type),
            ("bizType", "000000"),
            ("accessType", "0"),
            ("channelType", "08"),
        ] {
            f.insert(k.to_owned(), v.to_owned());
        }
        f.insert("merId".into(), self.mer_id.clone());
        f.insert("certId".into(), self.cert_id.clone());
        f
    }

    /// Sign, send, check the HTTP status and verify the answer.
    async fn call(&self, path: &str, mut fields: Fields) -> Result<Answer, ChannelError> {
        let url = self
            .gateway
            .join(path)
            .map_err(|e| ChannelError::config(format!("unionpay gateway: {e}")))?;
        self.call_at(url, &mut fields).await
    }

    async fn call_at(&self, url: Url, fields: &mut Fields) -> Result<Answer, ChannelError> {
        fields.remove("signature");
        let signature = wire::sign(&self.key, fields);
        fields.insert("signature".into(), signature);
        let body = serde_urlencoded::to_string(&*fields)
            .map_err(|e| ChannelError::config(format!("cannot encode a UnionPay request: {e}")))?;
        tracing::debug!(
            txn_type = fields.get("txnType").map(String::as_str),
            "UnionPay call"
        );
        let RawResponse { status, body, .. } = http::send(
            self.http
                .post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded;charset=UTF-8",
                )
                .body(body),
        )
        .await?;
        if status != 200 {
            return Err(ChannelError::indeterminate(format!(
                "UnionPay gateway HTTP {status}"
            )));
        }
        self.open(&body)
    }

    /// Verify an answer: its certificate through the chain, its signature
    /// with that certificate, and that it is for this merchant.
    fn open(&self, body: &[u8]) -> Result<Answer, ChannelError> {
        let fields = wire::read_form(body)?;
        let cert_pem = fields
            .get("signPubKeyCert")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                ChannelError::untrusted("the UnionPay answer carries no signPubKeyCert")
            })?;
        let key = self.anchors.signer_key(cert_pem, self.clock.now())?;
        if !wire::verify(&key, &fields) {
            return Err(ChannelError::untrusted(
                "the UnionPay answer's signature does not verify",
            ));
        }
        if fields.get("merId").is_some_and(|m| m != &self.mer_id) {
            return Err(ChannelError::untrusted(
                "the UnionPay answer is for another merchant",
            ));
        }
        Ok(Answer { fields })
    }

    /// A transaction request numbered `number`, sent now.
    fn transaction(&self, txn_type: &str, sub: &str, number: &str) -> Fields {
        let mut f = self.common(txn_type, sub);
        let id = wire::order_id(number);
        let now = self.clock.now();
        // A number made just now carries its time: the same time after a
        // restart lets the channel recognise a repeat.
        let made = wire::time_in_number(number)
            .filter(|t| (now - *t).num_minutes().abs() < 10)
            .unwrap_or(now);
        let time = wire::txn_time(made);
        // A repeat of a number keeps its first time, so the channel sees
        // the same request again.
        let time = self
            .sent_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
            .unwrap_or(time);
        self.remember(&id, &time);
        f.insert("orderId".into(), id);
        f.insert("txnTime".into(), time);
        f.insert("currencyCode".into(), "156".into());
        f.insert("backUrl".into(), self.back_url.clone());
        f
    }

    async fn query_number(&self, number: &str) -> Result<Answer, ChannelError> {
        let mut f = self.common("00", "00");
        f.insert("orderId".into(), wire::order_id(number));
        f.insert("txnTime".into(), self.txn_time_of(number));
        self.call(QUERY_TRANS, f).await
    }

    async fn do_create_qr(&self, req: &CreateQr) -> Result<QrCreated, ChannelError> {
        if req.amount_fen <= 0 {
            return Err(ChannelError::config("a QR amount must be above zero"));
        }
        let mut f = self.transaction("01", "07", &req.out_trade_no);
        f.insert("txnAmt".into(), req.amount_fen.to_string());
        f.insert("payTimeout".into(), wire::txn_time(req.expires_at));
        if let Some(url) = req.notify_url.as_deref().filter(|u| !u.trim().is_empty()) {
            f.insert("backUrl".into(), url.to_owned());
        }
        let answer = self.call(BACK_TRANS, f).await?;
        if wire::code(answer.resp_code()) != Code::Success {
            return Err(answer.to_error("QR application"));
        }
        let qr = answer
            .get("qrCode")
            .ok_or_else(|| ChannelError::indeterminate("UnionPay answered no qrCode"))?;
        Ok(QrCreated {
            qr_payload: qr.to_owned(),
        })
    }

    fn payment(answer: &Answer) -> Result<RemotePayment, ChannelError> {
        let status = match wire::code(answer.get("origRespCode").unwrap_or("")) {
            Code::Success => RemoteStatus::Paid,
            Code::Unknown => RemoteStatus::Waiting,
            // The original was refused or ended unpaid (closed, reversed).
            _ => RemoteStatus::Closed,
        };
        Ok(RemotePayment {
            status,
            channel_trade_no: answer.get("queryId").map(str::to_owned),
            amount_fen: answer.fen("txnAmt").ok(),
            paid_at: if status == RemoteStatus::Paid {
                answer.get("txnTime").and_then(wire::parse_txn_time)
            } else {
                None
            },
        })
    }

    async fn do_query(&self, out_trade_no: &str) -> Result<RemotePayment, ChannelError> {
        let answer = self.query_number(out_trade_no).await?;
        match wire::code(answer.resp_code()) {
            Code::Success => {
                let payment = Self::payment(&answer)?;
                self.remember_paid(out_trade_no, &payment);
                Ok(payment)
            }
            Code::NoSuchTrade => Ok(RemotePayment::not_found()),
            _ => Err(answer.to_error("query")),
        }
    }

    /// 冲正: undo the transaction `number` whatever its state. The answer's
    /// `origRespCode` says whether the original had been paid (money given
    /// back) or not (now unpayable).
    async fn reversal(&self, number: &str) -> Result<Answer, ChannelError> {
        let mut f = self.transaction("99", "01", &format!("{number}V"));
        f.insert("origOrderId".into(), wire::order_id(number));
        f.insert("origTxnTime".into(), self.txn_time_of(number));
        self.call(BACK_TRANS, f).await
    }

    fn reversed(answer: &Answer) -> CloseOutcome {
        if answer.get("origRespCode") == Some("00") {
            CloseOutcome::ReversedAfterPayment
        } else {
            CloseOutcome::Closed
        }
    }

    /// A QR nobody paid is reversed (ACP has no close); a paid one is left
    /// paid. A payment that lands between the query and the reversal is
    /// reversed, and the outcome says so.
    async fn do_close(&self, out_trade_no: &str) -> Result<CloseOutcome, ChannelError> {
        match self.do_query(out_trade_no).await?.status {
            RemoteStatus::Paid | RemoteStatus::Refunded => return Ok(CloseOutcome::AlreadyPaid),
            RemoteStatus::Closed | RemoteStatus::Failed | RemoteStatus::NotFound => {
                return Ok(CloseOutcome::Closed)
            }
            RemoteStatus::Waiting => {}
        }
        let answer = self.reversal(out_trade_no).await?;
        match wire::code(answer.resp_code()) {
            Code::Success => Ok(Self::reversed(&answer)),
            Code::NoSuchTrade => Ok(CloseOutcome::Closed),
            _ => Err(answer.to_error("reversal")),
        }
    }

    async fn do_pay_by_code(&self, req: &CodePay) -> Result<CodePayAnswer, ChannelError> {
        if req.amount_fen <= 0 {
            return Err(ChannelError::config("a payment must be above zero"));
        }
        let mut f = self.transaction("01", "06", &req.out_trade_no);
        f.insert("txnAmt".into(), req.amount_fen.to_string());
        f.insert("qrNo".into(), req.auth_code.clone());
        if !req.terminal_id.is_empty() {
            f.insert("termId".into(), req.terminal_id.clone());
        }
        let answer = self.call(BACK_TRANS, f).await?;
        match wire::code(answer.resp_code()) {
            Code::Success => {
                let paid = RemotePayment {
                    status: RemoteStatus::Paid,
                    channel_trade_no: answer.get("queryId").map(str::to_owned),
                    amount_fen: answer.fen("txnAmt").ok().or(Some(req.amount_fen)),
                    paid_at: Some(self.clock.now()),
                };
                self.remember_paid(&req.out_trade_no, &paid);
                Ok(CodePayAnswer::Paid(paid))
            }
            // 05: accepted and in progress (the customer is confirming on
            // the phone): the caller queries until its window ends.
            Code::Unknown if answer.resp_code() == "05" => Ok(CodePayAnswer::Waiting),
            // 03/04: the outcome is not known: unknown, never failed.
            _ => Err(answer.to_error("payment")),
        }
    }

    /// 冲正 first; once its window has passed (the gateway refuses it), a
    /// paid payment is cancelled (消费撤销) instead.
    async fn do_reverse_code_payment(
        &self,
        out_trade_no: &str,
    ) -> Result<CloseOutcome, ChannelError> {
        let answer = self.reversal(out_trade_no).await?;
        match wire::code(answer.resp_code()) {
            Code::Success => return Ok(Self::reversed(&answer)),
            // Nothing reached the channel: nothing was taken.
            Code::NoSuchTrade => return Ok(CloseOutcome::Closed),
            Code::Unknown => return Err(answer.to_error("reversal")),
            Code::Duplicate | Code::Refused => {}
        }
        let refusal = answer.to_error("reversal");
        let paid = self.do_query(out_trade_no).await?;
        match paid.status {
            RemoteStatus::Paid => {}
            RemoteStatus::Closed | RemoteStatus::NotFound | RemoteStatus::Failed => {
                return Ok(CloseOutcome::Closed)
            }
            _ => return Err(refusal),
        }
        let query_id = paid
            .channel_trade_no
            .ok_or_else(|| ChannelError::indeterminate("UnionPay query gave no queryId"))?;
        let mut f = self.transaction("31", "00", &format!("{out_trade_no}C"));
        f.insert("origQryId".into(), query_id);
        f.insert(
            "txnAmt".into(),
            paid.amount_fen.unwrap_or_default().to_string(),
        );
        let cancel = self.call(BACK_TRANS, f).await?;
        match wire::code(cancel.resp_code()) {
            Code::Success | Code::Duplicate => Ok(CloseOutcome::ReversedAfterPayment),
            _ => Err(cancel.to_error("cancel")),
        }
    }

    async fn do_refund(&self, req: &RefundRequest) -> Result<RefundResult, ChannelError> {
        if req.refund_fen <= 0 {
            return Err(ChannelError::config("a refund must be above zero"));
        }
        let query_id = match self.known_query_id(&req.out_trade_no) {
            Some(id) => id,
            None => {
                let original = self.do_query(&req.out_trade_no).await?;
                if original.status != RemoteStatus::Paid {
                    return Err(ChannelError::definite(
                        "NOT_PAID",
                        format!("the trade is {:?} at UnionPay", original.status),
                    ));
                }
                original
                    .channel_trade_no
                    .ok_or_else(|| ChannelError::indeterminate("UnionPay query gave no queryId"))?
            }
        };
        let mut f = self.transaction("04", "00", &req.out_refund_no);
        f.insert("origQryId".into(), query_id);
        f.insert("txnAmt".into(), req.refund_fen.to_string());
        let answer = self.call(BACK_TRANS, f).await?;
        match wire::code(answer.resp_code()) {
            // Accepted: the refund's own query says where it stands.
            Code::Success => {
                self.do_query_refund(&req.out_trade_no, &req.out_refund_no)
                    .await
            }
            // This refund number was used before: the same refund again
            // (a retry after a lost answer), or another one (refused).
            Code::Duplicate => {
                let earlier = self
                    .do_query_refund(&req.out_trade_no, &req.out_refund_no)
                    .await?;
                if earlier.refund_fen.is_some_and(|f| f != req.refund_fen) {
                    return Err(answer.to_error("refund"));
                }
                Ok(earlier)
            }
            _ => Err(answer.to_error("refund")),
        }
    }

    async fn do_query_refund(
        &self,
        _out_trade_no: &str,
        out_refund_no: &str,
    ) -> Result<RefundResult, ChannelError> {
        let answer = self.query_number(out_refund_no).await?;
        if wire::code(answer.resp_code()) != Code::Success {
            return Err(answer.to_error("refund query"));
        }
        let status = match wire::code(answer.get("origRespCode").unwrap_or("")) {
            Code::Success => RefundStatus::Success,
            Code::Unknown => RefundStatus::Processing,
            _ => RefundStatus::Abnormal,
        };
        Ok(RefundResult {
            status,
            out_refund_no: out_refund_no.to_owned(),
            refund_fen: answer.fen("txnAmt").ok(),
            refunded_total_fen: None,
            channel_refund_no: answer.get("queryId").map(str::to_owned),
            refunded_at: if status == RefundStatus::Success {
                answer.get("txnTime").and_then(wire::parse_txn_time)
            } else {
                None
            },
        })
    }

    /// 文件传输 (`txnType` 76, `fileType` 00) for the settlement day `date`:
    /// the signed answer carries the zip in `fileContent`. The file's order
    /// numbers are ACP's (no `_`); each line gets ours back.
    async fn do_daily_bill(&self, date: NaiveDate) -> Result<Vec<BillLine>, ChannelError> {
        let mut f = self.common("76", "01");
        f.insert("txnTime".into(), wire::txn_time(self.clock.now()));
        f.insert("settleDate".into(), date.format("%m%d").to_string());
        f.insert("fileType".into(), "00".into());
        let answer = self.call_at(self.file_gateway.clone(), &mut f).await?;
        if wire::code(answer.resp_code()) != Code::Success {
            return Err(answer.to_error("file transfer"));
        }
        let content = answer
            .get("fileContent")
            .ok_or_else(|| ChannelError::indeterminate("UnionPay answered no fileContent"))?;
        let zip = crate::unionpay_bill::decode_file_content(content)
            .map_err(|e| ChannelError::indeterminate(format!("UnionPay file: {e}")))?;
        let parsed = crate::unionpay_bill::parse_unionpay_bill(&zip, date)
            .map_err(|e| ChannelError::indeterminate(format!("UnionPay file: {e}")))?;
        let lines = with_ledger_numbers(parsed).lines;
        tracing::info!(%date, rows = lines.len(), "UnionPay file downloaded");
        Ok(lines)
    }

    /// When the clock says a request was sent (for logs and tests).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// A UnionPay bill with our own request numbers: its order numbers are
/// ACP's, without the `_` separators (see [`wire::number_from_order_id`]).
pub fn with_ledger_numbers(mut bill: crate::ParsedBill) -> crate::ParsedBill {
    for l in &mut bill.lines {
        l.out_trade_no = wire::number_from_order_id(&l.out_trade_no);
        l.out_refund_no = l
            .out_refund_no
            .take()
            .map(|n| wire::number_from_order_id(&n));
    }
    bill
}

impl Channel for Unionpay {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Unionpay
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{BillFooter, BillKind, BillType, ParsedBill};

    #[test]
    fn bill_lines_get_the_ledgers_numbers_back() {
        let line = |no: &str, refund: Option<&str>| BillLine {
            channel_trade_no: "1".into(),
            out_trade_no: no.into(),
            kind: if refund.is_some() {
                BillKind::Refund
            } else {
                BillKind::Payment
            },
            amount_fen: 1,
            settled_fen: 1,
            out_refund_no: refund.map(str::to_owned),
            occurred_at: Utc::now(),
            refund_state: None,
            status: String::new(),
        };
        let bill = ParsedBill {
            bill_type: BillType::UnionpayTrade,
            header: None,
            lines: vec![
                line("T0120261130014501000042", None),
                line("T0120261130014501000042", Some("T0120261130014501000042R1")),
                line("U0001", None),
            ],
            footer: BillFooter::default(),
        };
        let back = with_ledger_numbers(bill);
        assert_eq!(back.lines[0].out_trade_no, "T01_20261130014501_000042");
        assert_eq!(
            back.lines[1].out_refund_no.as_deref(),
            Some("T01_20261130014501_000042_R1")
        );
        assert_eq!(back.lines[2].out_trade_no, "U0001");
    }
}
