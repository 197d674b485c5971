//! What crosses to the UI and to scripts. Amounts travel as decimal strings
//! ("12.30") and as integer fen; never as floats. Instants are RFC 3339 UTC.

use serde::{Deserialize, Serialize};
use shouyin_core::{ChannelKind, Money, OrderState};
use shouyin_ledger::{Event, Order, TerminalRecord};

/// Take a payment with the customer's payment code (付款码).
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CodeChargeRequest {
    /// As typed: "12.30", "１２．３", "¥12".
    pub amount: String,
    /// The digits the scanner (or the cashier) typed.
    pub code: String,
    /// Who takes the sale; the desktop shell puts the session's user here.
    #[serde(default, skip_deserializing)]
    #[ts(skip)]
    pub cashier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ChargeRequest {
    /// As typed: "12.30", "１２．３", "¥12".
    pub amount: String,
    pub channel: ChannelKind,
    /// Who takes the sale. Never read from the UI: the desktop shell puts
    /// the session's user here (the CLI its `--cashier`).
    #[serde(default, skip_deserializing)]
    #[ts(skip)]
    pub cashier: Option<String>,
    #[ts(optional)]
    pub note: Option<String>,
    /// Charge even though another QR payment is still unresolved (the
    /// cashier confirmed it is a different sale).
    #[serde(default)]
    #[ts(optional, as = "Option<bool>")]
    pub force: bool,
    /// Cash only: what the customer handed over, as typed ("100"); the
    /// change is worked out and recorded with the sale. Less than the
    /// amount is refused (`tendered_too_low`).
    #[serde(default)]
    #[ts(optional)]
    pub tendered: Option<String>,
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
    /// The shift the sale belongs to.
    #[ts(type = "number | null")]
    pub shift_id: Option<i64>,
    /// A cash sale: what the customer handed over ("100.00") and the
    /// change given back (找零).
    pub tendered: Option<String>,
    pub change: Option<String>,
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
            shift_id: o.shift_id,
            tendered: o.tender.map(|t| shouyin_core::format_fen(t.tendered_fen())),
            change: o.tender.map(|t| shouyin_core::format_fen(t.change_fen())),
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
    /// Head office has suspended the channel for this store: why.
    pub suspended: Option<String>,
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
    /// The language the UI starts in (the store's setting, or the app's pin).
    pub ui_language: crate::language::UiLanguageDto,
    /// The demo store (`make run`): the header says 演示 DEMO.
    pub demo: bool,
    /// No users yet: the first manager must be set up before anything else.
    pub needs_setup: bool,
}

impl TerminalDto {
    /// The same, with the UI language pinned by the app (`SHOUYIN_LANG`).
    pub fn with_language_pin(mut self, pin: Option<crate::language::UiLanguage>) -> TerminalDto {
        if pin.is_some() {
            self.ui_language = crate::language::UiLanguageDto::resolve(pin, &self.timezone);
        }
        self
    }

    pub(crate) fn new(t: &TerminalRecord, channels: Vec<ChannelAvailabilityDto>) -> TerminalDto {
        TerminalDto {
            store: t.store.clone(),
            terminal: t.terminal.to_string(),
            timezone: t.calendar.timezone.name().to_owned(),
            day_cutoff: t.calendar.day_cutoff.format("%H:%M").to_string(),
            sale_limit: shouyin_core::format_fen(t.sale_limit_fen),
            channels,
            ui_language: crate::language::UiLanguageDto::resolve(None, t.calendar.timezone.name()),
            demo: false,
            needs_setup: false,
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
    /// What happened, for the screen's words: `untrusted_answer`,
    /// `late_payment`, `refunded_elsewhere`, `sync_stopped`, `backup_failed`, `drawer_failed`.
    pub kind: String,
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
    SyncStatus { status: SyncStatusDto },
}

/// Where the sync to head office stands, as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SyncState {
    /// No head office configured for this ledger.
    NotEnrolled,
    /// Every event is at head office.
    CaughtUp,
    /// Events are waiting and the last attempt did not fail.
    Behind,
    /// Head office could not be reached or failed; retried with backoff.
    Offline,
    /// Head office revoked this terminal: sync has stopped.
    Revoked,
    /// Head office no longer accepts this terminal's signature (secret
    /// replaced, or the terminal unknown there): sync has stopped.
    Unauthorised,
    /// Head office holds different events under the same numbers, or the
    /// ledger is behind what head office acknowledged: the ledger's history
    /// changed. Sync has stopped; this is an alarm.
    Conflict,
}

/// The sync client's status: what the cashier sees ("events not yet at head
/// office, oldest from …") and what the settings page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct SyncStatusDto {
    pub state: SyncState,
    pub enrolled: bool,
    pub hq_url: Option<String>,
    /// The terminal id and store code head office knows this ledger by.
    pub terminal_id: Option<String>,
    pub store: Option<String>,
    /// Highest sequence number head office acknowledged.
    #[ts(type = "number")]
    pub acked_seq: u64,
    /// Highest sequence number in the ledger.
    #[ts(type = "number")]
    pub last_seq: u64,
    /// Events not yet at head office (`last_seq - acked_seq`).
    #[ts(type = "number")]
    pub waiting: u64,
    /// When the oldest waiting event happened (RFC 3339 UTC).
    pub oldest_waiting_at: Option<String>,
    /// The end of the last pass that reached head office and caught up.
    pub last_success_at: Option<String>,
    /// Since when attempts have been failing; `None` while they succeed.
    pub offline_since: Option<String>,
    pub last_error: Option<String>,
    /// The channels' payment notifications reach this counter through head
    /// office (see `crate::relay`); when not, payments are found by polling.
    pub notifications_live: bool,
}

/// What one sync pass did (`shouyin sync`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct SyncPassDto {
    /// The pass ended caught up, with no error.
    pub ok: bool,
    /// Events sent in this pass in requests head office answered (resent
    /// ones included).
    #[ts(type = "number")]
    pub sent: u64,
    /// Requests head office answered.
    #[ts(type = "number")]
    pub batches: u64,
    pub error: Option<String>,
    pub status: SyncStatusDto,
}

// ---- Staff, approvals, audit, refunds and shifts ----

/// A manager's approval (店长授权), given on the spot with the action and
/// checked at that moment. The PIN never prints.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Approval {
    pub approver_name: String,
    pub pin: String,
}

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("approver_name", &self.approver_name)
            .field("pin", &"****")
            .finish()
    }
}

/// What a user may do; a user may hold several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum UserRole {
    /// 收银员
    Cashier,
    /// 店长
    Manager,
    /// 财务
    Accountant,
}

impl From<shouyin_ledger::users::Role> for UserRole {
    fn from(r: shouyin_ledger::users::Role) -> Self {
        use shouyin_ledger::users::Role;
        match r {
            Role::Cashier => UserRole::Cashier,
            Role::Manager => UserRole::Manager,
            Role::Accountant => UserRole::Accountant,
        }
    }
}

impl From<UserRole> for shouyin_ledger::users::Role {
    fn from(r: UserRole) -> Self {
        use shouyin_ledger::users::Role;
        match r {
            UserRole::Cashier => Role::Cashier,
            UserRole::Manager => Role::Manager,
            UserRole::Accountant => Role::Accountant,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct UserDto {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub roles: Vec<UserRole>,
    pub active: bool,
    /// Set while the user is locked after too many wrong PINs.
    pub locked_until: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct UserAddRequest {
    pub name: String,
    pub roles: Vec<UserRole>,
    /// 4 to 6 digits; stored only as an Argon2 hash.
    pub pin: String,
}

impl std::fmt::Debug for UserAddRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAddRequest")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("pin", &"****")
            .finish()
    }
}

/// One entry of the audit log (操作日志).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct AuditEntryDto {
    #[ts(type = "number")]
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub approver: Option<String>,
    pub action: String,
    /// The entry's detail as JSON text.
    pub detail: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct AuditVerifyDto {
    pub intact: bool,
    #[ts(type = "number")]
    pub entries: i64,
    /// The first sequence number at which the chain is broken.
    #[ts(type = "number | null")]
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct RefundCreateRequest {
    pub order_no: String,
    /// As typed, in yuan: "5.00".
    pub amount: String,
    #[ts(optional)]
    pub reason: Option<String>,
    /// The logged-in user who asks for it. Never read from the UI: the
    /// desktop shell puts the session's user here.
    #[serde(default, skip_deserializing)]
    #[ts(skip)]
    pub requested_by: String,
}

/// requested | processing | succeeded | failed | unknown
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RefundStateDto {
    Requested,
    Processing,
    Succeeded,
    Failed,
    Unknown,
}

impl From<shouyin_ledger::refunds::RefundState> for RefundStateDto {
    fn from(s: shouyin_ledger::refunds::RefundState) -> Self {
        use shouyin_ledger::refunds::RefundState as S;
        match s {
            S::Requested => RefundStateDto::Requested,
            S::Processing => RefundStateDto::Processing,
            S::Succeeded => RefundStateDto::Succeeded,
            S::Failed => RefundStateDto::Failed,
            S::Unknown => RefundStateDto::Unknown,
        }
    }
}

impl RefundStateDto {
    pub fn is_final(self) -> bool {
        matches!(self, RefundStateDto::Succeeded | RefundStateDto::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStateDto::Requested => "requested",
            RefundStateDto::Processing => "processing",
            RefundStateDto::Succeeded => "succeeded",
            RefundStateDto::Failed => "failed",
            RefundStateDto::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct RefundDto {
    /// The refund's own request number (out_refund_no).
    pub refund_no: String,
    pub order_no: String,
    pub channel: ChannelKind,
    pub amount: String,
    #[ts(type = "number")]
    pub amount_fen: i64,
    pub state: RefundStateDto,
    pub reason: Option<String>,
    pub requested_by: Option<String>,
    pub approver: Option<String>,
    pub requested_at: String,
    pub settled_at: Option<String>,
    pub business_date: String,
    pub channel_refund_no: Option<String>,
}

impl From<&shouyin_ledger::refunds::Refund> for RefundDto {
    fn from(r: &shouyin_ledger::refunds::Refund) -> Self {
        RefundDto {
            refund_no: r.out_refund_no.clone(),
            order_no: r.order_no.clone(),
            channel: r.channel,
            amount: shouyin_core::format_fen(r.amount_fen),
            amount_fen: r.amount_fen,
            state: r.state.into(),
            reason: r.reason.clone(),
            requested_by: r.requested_by.clone(),
            approver: r.approver.clone(),
            requested_at: shouyin_ledger::ts(r.requested_at),
            settled_at: r.settled_at.map(shouyin_ledger::ts),
            business_date: r.business_date.to_string(),
            channel_refund_no: r.channel_refund_no.clone(),
        }
    }
}

/// A manager records a payment the channel could not confirm (the
/// customer shows a paid screen for the shop's static code). Either names an
/// existing order or gives amount and channel for a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ManualConfirmRequest {
    #[ts(optional)]
    pub order_no: Option<String>,
    #[ts(optional)]
    pub amount: Option<String>,
    #[ts(optional)]
    pub channel: Option<ChannelKind>,
    /// The logged-in user at the till. Never read from the UI: the desktop
    /// shell puts the session's user here.
    #[serde(default, skip_deserializing)]
    #[ts(skip)]
    pub cashier: String,
    #[ts(optional)]
    pub note: Option<String>,
}

/// pay_in (存入) | pay_out (支出) | drawer_open
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum CashMovementKind {
    PayIn,
    PayOut,
    DrawerOpen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CashMovementDto {
    #[ts(type = "number")]
    pub id: i64,
    pub kind: CashMovementKind,
    pub amount: String,
    #[ts(type = "number")]
    pub amount_fen: i64,
    pub reason: String,
    pub actor: String,
    pub approver: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ShiftDto {
    #[ts(type = "number")]
    pub id: i64,
    pub cashier: String,
    pub opened_at: String,
    pub float: String,
    #[ts(type = "number")]
    pub float_fen: i64,
    pub closed_at: Option<String>,
    pub movements: Vec<CashMovementDto>,
}

/// One channel's takings in a Z report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ShiftChannelTakingsDto {
    pub channel: ChannelKind,
    /// Confirmed by the channel (cash: taken).
    pub confirmed: String,
    #[ts(type = "number")]
    pub confirmed_fen: i64,
    #[ts(type = "number")]
    pub confirmed_count: i64,
    /// Recorded by a manager, not yet confirmed by the channel (待核实).
    pub unconfirmed: String,
    #[ts(type = "number")]
    pub unconfirmed_fen: i64,
    #[ts(type = "number")]
    pub unconfirmed_count: i64,
    #[ts(type = "number")]
    pub unresolved_count: i64,
    pub refunds: String,
    #[ts(type = "number")]
    pub refunds_fen: i64,
    #[ts(type = "number")]
    pub refunds_count: i64,
}

/// The result of closing a shift: only now are the expected cash and the
/// over/short revealed (blind count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ZReportDto {
    #[ts(type = "number")]
    pub shift_id: i64,
    pub store: String,
    pub terminal: String,
    pub cashier: String,
    pub closed_by: String,
    pub opened_at: String,
    pub closed_at: String,
    pub business_date: String,
    pub float: String,
    #[ts(type = "number")]
    pub float_fen: i64,
    pub cash_sales: String,
    #[ts(type = "number")]
    pub cash_sales_fen: i64,
    #[ts(type = "number")]
    pub cash_sales_count: i64,
    pub cash_refunds: String,
    #[ts(type = "number")]
    pub cash_refunds_fen: i64,
    #[ts(type = "number")]
    pub cash_refunds_count: i64,
    pub pay_ins: String,
    #[ts(type = "number")]
    pub pay_ins_fen: i64,
    pub pay_outs: String,
    #[ts(type = "number")]
    pub pay_outs_fen: i64,
    /// 应有现金
    pub expected: String,
    #[ts(type = "number")]
    pub expected_fen: i64,
    /// 实点现金
    pub counted: String,
    #[ts(type = "number")]
    pub counted_fen: i64,
    /// counted − expected, signed ("-3.50" is short).
    pub over_short: String,
    #[ts(type = "number")]
    pub over_short_fen: i64,
    /// "over" (长款), "short" (短款) or "even".
    pub over_short_kind: String,
    pub channels: Vec<ShiftChannelTakingsDto>,
    pub movements: Vec<CashMovementDto>,
}

/// What the customer display shows of the payment in progress: the amount,
/// the channel, the state and the code as an image. Nothing else of the
/// day's sales reaches that window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CustomerOrderDto {
    pub order_no: String,
    pub amount: String,
    pub channel: ChannelKind,
    pub state: OrderState,
    /// The payment code as SVG while the customer may still pay.
    pub qr_svg: Option<String>,
}

impl CustomerOrderDto {
    pub fn of(order: &OrderDto) -> Result<CustomerOrderDto, crate::ApiError> {
        let qr_svg = match (&order.qr_payload, order.state.is_final()) {
            (Some(payload), false) => Some(crate::qr::qr_svg(payload)?),
            _ => None,
        };
        Ok(CustomerOrderDto {
            order_no: order.order_no.clone(),
            amount: order.amount.clone(),
            channel: order.channel,
            state: order.state,
            qr_svg,
        })
    }
}
