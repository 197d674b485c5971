//! The trait every payment channel implements. It is object-safe (boxed
//! futures) so the api crate can hold `Arc<dyn Channel>`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use chrono::NaiveDate;
use shouyin_core::ChannelKind;

use crate::model::{
    BillLine, CloseOutcome, CreateQr, QrCreated, RefundRequest, RefundResult, RemotePayment,
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
}
