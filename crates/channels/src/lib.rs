//! Payment-channel clients behind one trait.
//!
//! * [`Channel`] is what the api crate holds (`Arc<dyn Channel>`): create a
//!   QR, query, close, refund, query a refund, fetch the daily bill, and
//!   verify a payment notification the channel pushed to `notify_url`.
//! * [`ChannelError`] says what kind of failure happened: `Definite` (the
//!   channel answered no), `Indeterminate` (no usable answer; query later),
//!   `Untrusted` (the answer's signature is missing or wrong: an alarm).
//! * [`unionpay`] speaks UnionPay ACP 5.1.0 and trusts an answer's signing
//!   certificate only through the configured root and intermediate.
//! * [`alipay`] and [`wechatpay`] each have a behaviour module and a
//!   `wire` module of wire structs and pure mappings, plus a bill parser
//!   that also reads files an accountant downloaded.
//! * [`ChannelsFile`] is the credentials file; it builds the clients.
//!
//! Signatures are checked over the exact bytes received, never over a
//! re-serialised copy; keys never print.

pub mod alipay;
pub mod bill;
pub mod channel;
pub mod clock;
pub mod config;
pub mod error;
pub mod keys;
pub mod model;
pub mod rawjson;
pub mod unionpay;
pub mod unionpay_bill;
pub mod wechatpay;

mod http;
#[cfg(test)]
mod parser_fuzz;

pub use bill::{BillFileError, BillFooter, BillHeader, BillType, ParsedBill};
pub use channel::{Channel, ChannelFuture};
pub use clock::{Clock, FixedClock, SystemClock};
pub use config::{
    AlipayConfig, ChannelsFile, SecretText, Timeouts, UnionpayConfig, WechatPayConfig,
};
pub use error::ChannelError;
pub use model::{
    BillKind, BillLine, BillRefundState, CloseOutcome, CodePay, CodePayAnswer, CreateQr,
    NotificationAck, PaymentNotice, QrCreated, RefundRequest, RefundResult, RefundStatus,
    RemotePayment, RemoteStatus,
};
