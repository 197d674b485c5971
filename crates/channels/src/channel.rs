//! The trait every payment channel implements. It is object-safe (boxed
//! futures) so the api crate can hold `Arc<dyn Channel>`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, NaiveDate, Utc};
use shouyin_core::ChannelKind;

use crate::model::{
    BillLine, CloseOutcome, CodePay, CodePayAnswer, CreateQr, NotificationAck, PaymentNotice,
    QrCreated, RefundRequest, RefundResult, RemotePayment,
};
use crate::ChannelError;

/// The future every channel call returns.
pub type ChannelFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChannelError>> + Send + 'a>>;

/// A QR-code payment channel.
pub trait Channel: Send + Sync + fmt::Debug {
    fn kind(&self) -> ChannelKind;

    /// Create a payable QR code for a new trade.
    fn create_qr<'a>(&'a self, req: &'a CreateQr) -> ChannelFuture<'a, QrCreated>;

    /// Where a trade stands at the channel.
    fn query<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, RemotePayment>;

    /// Make a trade unpayable. A close can lose the race against the
    /// customer; the outcome says so.
    fn close<'a>(&'a self, out_trade_no: &'a str) -> ChannelFuture<'a, CloseOutcome>;

    /// Refund part or all of a paid trade. Idempotent per `out_refund_no`.
    fn refund<'a>(&'a self, req: &'a RefundRequest) -> ChannelFuture<'a, RefundResult>;

    /// Where a refund stands at the channel.
    fn query_refund<'a>(
        &'a self,
        out_trade_no: &'a str,
        out_refund_no: &'a str,
    ) -> ChannelFuture<'a, RefundResult>;

    /// Download and parse the channel's bill for one (Beijing) date.
    fn daily_bill(&self, date: NaiveDate) -> ChannelFuture<'_, Vec<BillLine>>;

    /// Take payment with the customer's code (付款码). A lost, timed-out,
    /// garbled or 5xx answer is [`ChannelError::Indeterminate`]: the code
    /// may have been charged, so the caller queries and never sends the
    /// code again. Channels without code payments answer
    /// [`ChannelError::Config`].
    fn pay_by_code<'a>(&'a self, req: &'a CodePay) -> ChannelFuture<'a, CodePayAnswer> {
        let _ = req;
        Box::pin(async move {
            Err(ChannelError::config(format!(
                "the {} channel takes no payment codes",
                self.kind()
            )))
        })
    }

    /// End a code payment that is not known to be paid: Alipay
    /// `alipay.trade.cancel`, WeChat reverse. An unpaid trade is closed; a
    /// trade the customer paid in the meantime is refunded in full
    /// ([`CloseOutcome::ReversedAfterPayment`]). Repeated while the channel
    /// asks for a retry; an unclear end is an error for the caller to retry.
    fn reverse_code_payment<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> ChannelFuture<'a, CloseOutcome> {
        let _ = out_trade_no;
        Box::pin(async move {
            Err(ChannelError::config(format!(
                "the {} channel takes no payment codes",
                self.kind()
            )))
        })
    }

    /// Verify and read a payment notification the channel POSTed to the
    /// order's `notify_url`: the request headers (names compared without
    /// regard to case) and the exact body bytes. `now` bounds the replay
    /// window where the channel signs a timestamp (WeChat).
    ///
    /// A missing or wrong signature, a stale timestamp, or a notification
    /// for another merchant is [`ChannelError::Untrusted`]; a body that
    /// verifies but cannot be read is [`ChannelError::Indeterminate`].
    /// Channels without notifications answer [`ChannelError::Config`].
    fn open_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<PaymentNotice, ChannelError> {
        let _ = (headers, body, now);
        Err(ChannelError::config(format!(
            "the {} channel sends no payment notifications",
            self.kind()
        )))
    }

    /// The answer that tells the channel a notification was taken
    /// (`accepted`) or must be sent again. WeChat: 204, or 500 with
    /// `{"code":"FAIL",...}`; Alipay: 200 `success`, or 200 `fail`.
    fn notification_ack(&self, accepted: bool) -> NotificationAck {
        let _ = accepted;
        NotificationAck {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: format!("the {} channel sends no notifications", self.kind()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A channel with no notifications (cash-like) that keeps the defaults.
    #[derive(Debug)]
    struct Quiet;

    impl Channel for Quiet {
        fn kind(&self) -> ChannelKind {
            ChannelKind::Cash
        }
        fn create_qr<'a>(&'a self, _: &'a CreateQr) -> ChannelFuture<'a, QrCreated> {
            Box::pin(async { Err(ChannelError::config("cash has no QR")) })
        }
        fn query<'a>(&'a self, _: &'a str) -> ChannelFuture<'a, RemotePayment> {
            Box::pin(async { Err(ChannelError::config("cash has no query")) })
        }
        fn close<'a>(&'a self, _: &'a str) -> ChannelFuture<'a, CloseOutcome> {
            Box::pin(async { Err(ChannelError::config("cash has no close")) })
        }
        fn refund<'a>(&'a self, _: &'a RefundRequest) -> ChannelFuture<'a, RefundResult> {
            Box::pin(async { Err(ChannelError::config("cash has no refund")) })
        }
        fn query_refund<'a>(&'a self, _: &'a str, _: &'a str) -> ChannelFuture<'a, RefundResult> {
            Box::pin(async { Err(ChannelError::config("cash has no refund")) })
        }
        fn daily_bill(&self, _: NaiveDate) -> ChannelFuture<'_, Vec<BillLine>> {
            Box::pin(async { Err(ChannelError::config("cash has no bill")) })
        }
    }

    #[test]
    fn channels_without_notifications_say_so() {
        let e = Quiet
            .open_notification(&[("a".into(), "b".into())], b"x", Utc::now())
            .unwrap_err();
        assert!(
            matches!(&e, ChannelError::Config(m) if m.contains("cash") && m.contains("no payment notifications")),
            "{e}"
        );
        assert_eq!(Quiet.notification_ack(true).status, 404);
    }
}
