//! What crosses to the UI and to scripts. Amounts travel as decimal strings
//! ("12.30") and as integer fen; never as floats. Instants are RFC 3339 UTC.

use serde::{Deserialize, Serialize};
use shouyin_core::{ChannelKind, Money, OrderState};
use shouyin_ledger::{Event, Order, TerminalRecord};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ChargeRequest {
    /// As typed: "12.30", "１２．３", "¥12".
    pub amount: String,
    pub channel: ChannelKind,
    #[ts(optional)]
    pub cashier: Option<String>,
    #[ts(optional)]
    pub note: Option<String>,
    /// Charge even though another QR payment is still unresolved (the
    /// cashier confirmed it is a different sale).
    #[serde(default)]
    #[ts(optional, as = "Option<bool>")]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct OrderDto {
    #[ts(type = "number")]
    pub id: i64,
    pub order_no: String,
    pub amount: String,
    #[ts(type = "number")]
    pub amount_fen: i64,
    pub currency: String,
    pub channel: ChannelKind,
    pub state: OrderState,
    pub cashier: Option<String>,
    pub note: Option<String>,
    pub created_at: String,
    pub paid_at: Option<String>,
    pub expires_at: Option<String>,
    pub qr_payload: Option<String>,
    pub channel_trade_no: Option<String>,
    pub refunded: String,
    pub business_date: String,
    pub reason: Option<String>,
}

impl From<&Order> for OrderDto {
    fn from(o: &Order) -> Self {
        OrderDto {
            id: o.id,
            order_no: o.out_trade_no.clone(),
            amount: o.amount.to_decimal_string(),
            amount_fen: o.amount.fen(),
            currency: o.amount.currency().code().to_owned(),
            channel: o.channel,
            state: o.state,
            cashier: o.cashier.clone(),
            note: o.note.clone(),
            created_at: shouyin_ledger::ts(o.created_at),
            paid_at: o.paid_at.map(shouyin_ledger::ts),
            expires_at: o.expires_at.map(shouyin_ledger::ts),
            qr_payload: o.qr_payload.clone(),
            channel_trade_no: o.channel_trade_no.clone(),
            refunded: shouyin_core::format_fen(o.refunded_fen),
            business_date: o.business_date.to_string(),
            reason: o.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct EventDto {
    #[ts(type = "number")]
    pub seq: i64,
    pub kind: String,
    pub at: String,
    /// The event's JSON payload, as stored.
    pub payload: String,
}

impl From<&Event> for EventDto {
    fn from(e: &Event) -> Self {
        EventDto {
            seq: e.seq,
            kind: e.kind.clone(),
            at: shouyin_ledger::ts(e.at),
            payload: e.payload.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ChannelAvailabilityDto {
    pub channel: ChannelKind,
    pub available: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct TerminalDto {
    pub store: String,
    pub terminal: String,
    pub timezone: String,
    pub day_cutoff: String,
    pub sale_limit: String,
    pub channels: Vec<ChannelAvailabilityDto>,
}

impl TerminalDto {
    pub(crate) fn new(t: &TerminalRecord, channels: Vec<ChannelAvailabilityDto>) -> TerminalDto {
        TerminalDto {
            store: t.store.clone(),
            terminal: t.terminal.to_string(),
            timezone: t.calendar.timezone.name().to_owned(),
            day_cutoff: t.calendar.day_cutoff.format("%H:%M").to_string(),
            sale_limit: shouyin_core::format_fen(t.sale_limit_fen),
            channels,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct AmountDto {
    #[ts(type = "number")]
    pub fen: i64,
    /// "¥12.30"
    pub display: String,
    /// "12.30"
    pub decimal: String,
}

impl From<Money> for AmountDto {
    fn from(m: Money) -> Self {
        AmountDto {
            fen: m.fen(),
            display: m.to_string(),
            decimal: m.to_decimal_string(),
        }
    }
}

/// How a channel is doing right now, as the channel buttons show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ChannelHealthState {
    /// Recent calls succeed.
    Ok,
    /// Some recent calls failed; it may be slow or flaky.
    Degraded,
    /// Unreachable or failing repeatedly: take another channel or cash.
    Offline,
    /// Nothing has been tried yet.
    Untested,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ChannelHealthDto {
    pub channel: ChannelKind,
    pub state: ChannelHealthState,
    /// Successes among the recent calls, 0–100.
    pub success_percent: u32,
    /// Median latency of recent calls in milliseconds.
    pub latency_ms: Option<u32>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct AlarmDto {
    pub at: String,
    pub channel: Option<ChannelKind>,
    pub order_no: Option<String>,
    pub message: String,
}

/// What the backend pushes to the UI (one Tauri event, `counter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum CounterEvent {
    OrderChanged { order: Box<OrderDto> },
    ChannelHealth { channels: Vec<ChannelHealthDto> },
    Alarm { alarm: AlarmDto },
}
