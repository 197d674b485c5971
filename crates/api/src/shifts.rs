//! Shifts (班次) and the shift close (交班, Z report).
//!
//! Open with a counted float (备用金); pay-ins (存入) and pay-outs (支出)
//! with reasons; close with a blind count: [`Counter::shift_close`] takes the
//! counted cash first, and only its answer reveals the expected cash and the
//! over/short (长款/短款), recorded as they are. Nothing before the close
//! shows the expected figure. A closed shift is frozen in the ledger and can
//! be reprinted ([`Counter::shift_report_text`], 40 columns for a receipt
//! printer) without changing.
//!
//! Pay-outs and opening the drawer without a sale take money out of reach
//! of the count, so they need a manager's approval; a pay-in does not.

use chrono::{DateTime, Utc};
use shouyin_core::{format_fen, AmountRules, BusinessCalendar, ChannelKind, Money};
use shouyin_ledger::shifts::{CashMovement, MovementKind, Shift, ZReport};

use crate::dto::{
    Approval, CashMovementDto, CashMovementKind, ShiftChannelTakingsDto, ShiftDto, ZReportDto,
};
use crate::{ApiError, Counter, ErrorCode};

/// The receipt printer's width in columns (a CJK character takes two).
pub const RECEIPT_COLUMNS: usize = 40;

impl From<&CashMovement> for CashMovementDto {
    fn from(m: &CashMovement) -> Self {
        CashMovementDto {
            id: m.id,
            kind: match m.kind {
                MovementKind::PayIn => CashMovementKind::PayIn,
                MovementKind::PayOut => CashMovementKind::PayOut,
                MovementKind::DrawerOpen => CashMovementKind::DrawerOpen,
            },
            amount: format_fen(m.amount_fen),
            amount_fen: m.amount_fen,
            reason: m.reason.clone(),
            actor: m.actor.clone(),
            approver: m.approver.clone(),
            at: shouyin_ledger::ts(m.at),
        }
    }
}

fn shift_dto(shift: &Shift, movements: &[CashMovement]) -> ShiftDto {
    ShiftDto {
        id: shift.id,
        cashier: shift.cashier.clone(),
        opened_at: shouyin_ledger::ts(shift.opened_at),
        float: format_fen(shift.float_fen),
        float_fen: shift.float_fen,
        closed_at: shift.closed_at.map(shouyin_ledger::ts),
        movements: movements.iter().map(CashMovementDto::from).collect(),
    }
}

impl From<&ZReport> for ZReportDto {
    fn from(r: &ZReport) -> Self {
        ZReportDto {
            shift_id: r.shift_id,
            store: r.store.clone(),
            terminal: r.terminal.clone(),
            cashier: r.cashier.clone(),
            closed_by: r.closed_by.clone(),
            opened_at: r.opened_at.clone(),
            closed_at: r.closed_at.clone(),
            business_date: r.business_date.clone(),
            float: format_fen(r.float_fen),
            float_fen: r.float_fen,
            cash_sales: format_fen(r.cash_sales_fen),
            cash_sales_fen: r.cash_sales_fen,
            cash_sales_count: r.cash_sales_count,
            cash_refunds: format_fen(r.cash_refunds_fen),
            cash_refunds_fen: r.cash_refunds_fen,
            cash_refunds_count: r.cash_refunds_count,
            pay_ins: format_fen(r.pay_ins_fen),
            pay_ins_fen: r.pay_ins_fen,
            pay_outs: format_fen(r.pay_outs_fen),
            pay_outs_fen: r.pay_outs_fen,
            expected: format_fen(r.expected_fen),
            expected_fen: r.expected_fen,
            counted: format_fen(r.counted_fen),
            counted_fen: r.counted_fen,
            over_short: format_fen(r.over_short_fen),
            over_short_fen: r.over_short_fen,
            over_short_kind: match r.over_short_fen {
                0 => "even",
                f if f > 0 => "over",
                _ => "short",
            }
            .to_owned(),
            channels: r
                .channels
                .iter()
                .map(|c| ShiftChannelTakingsDto {
                    channel: c.channel,
                    confirmed: format_fen(c.confirmed_fen),
                    confirmed_fen: c.confirmed_fen,
                    confirmed_count: c.confirmed_count,
                    unconfirmed: format_fen(c.unconfirmed_fen),
                    unconfirmed_fen: c.unconfirmed_fen,
                    unconfirmed_count: c.unconfirmed_count,
                    unresolved_count: c.unresolved_count,
                    refunds: format_fen(c.refunds_fen),
                    refunds_fen: c.refunds_fen,
                    refunds_count: c.refunds_count,
                })
                .collect(),
            movements: r.movements.iter().map(CashMovementDto::from).collect(),
        }
    }
}

fn parse_cash(text: &str, what: &str, allow_zero: bool) -> Result<i64, ApiError> {
    let rules = AmountRules {
        allow_zero,
        ..AmountRules::sale(i64::MAX)
    };
    Money::parse(text, &rules)
        .map(|m| m.fen())
        .map_err(|e| ApiError::new(ErrorCode::InvalidAmount, format!("{what}: {e}")))
}

impl Counter {
    /// Open a shift with the float as counted ("200.00"). The float is
    /// required (`float_required`): an empty box is not ¥0.00; a drawer
    /// that starts empty says "0". The cashier must be a user of this till
    /// once any users exist.
    pub async fn shift_open(&self, cashier: String, float: String) -> Result<ShiftDto, ApiError> {
        if float.trim().is_empty() {
            return Err(ApiError::new(
                ErrorCode::FloatRequired,
                "the float (the cash counted into the drawer at the start) is required; 0 if there is none",
            ));
        }
        let float_fen = parse_cash(&float, "the float", true)?;
        let now = self.now();
        self.with_ledger(move |ledger| {
            if ledger.user_count()? > 0 && ledger.user(&cashier)?.is_none_or(|(u, _)| !u.active) {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("{} is not an active user of this till", cashier.trim()),
                ));
            }
            let shift = ledger.open_shift(&cashier, float_fen, now)?;
            Ok(shift_dto(&shift, &[]))
        })
        .await
    }

    /// The open shift, if any. Deliberately without the expected cash: the
    /// count at close is blind.
    pub async fn shift_current(&self) -> Result<Option<ShiftDto>, ApiError> {
        self.with_ledger(|ledger| {
            Ok(match ledger.current_shift()? {
                Some(shift) => {
                    let movements = ledger.shift_movements(shift.id)?;
                    Some(shift_dto(&shift, &movements))
                }
                None => None,
            })
        })
        .await
    }

    /// A pay-in (存入), pay-out (支出) or drawer opening in the open shift.
    /// Pay-outs and drawer openings need a manager's approval.
    pub async fn shift_cash_movement(
        &self,
        kind: CashMovementKind,
        amount: String,
        reason: String,
        actor: String,
        approval: Option<Approval>,
    ) -> Result<CashMovementDto, ApiError> {
        let (kind, amount_fen) = match kind {
            CashMovementKind::PayIn => (
                MovementKind::PayIn,
                parse_cash(&amount, "the amount", false)?,
            ),
            CashMovementKind::PayOut => (
                MovementKind::PayOut,
                parse_cash(&amount, "the amount", false)?,
            ),
            CashMovementKind::DrawerOpen => (MovementKind::DrawerOpen, 0),
        };
        let approver = match (kind, approval) {
            (MovementKind::PayIn, None) => None,
            (MovementKind::PayIn, Some(a)) => Some(self.approval_check(&a).await?),
            (_, approval) => Some(
                self.require_approval(approval.as_ref(), "taking cash out or opening the drawer")
                    .await?,
            ),
        };
        let now = self.now();
        let pulse_by = actor.trim().to_owned();
        let movement = self
            .with_ledger(move |ledger| {
                let m = ledger.cash_movement(
                    kind,
                    amount_fen,
                    &reason,
                    actor.trim(),
                    approver.as_deref(),
                    now,
                )?;
                Ok(CashMovementDto::from(&m))
            })
            .await?;
        // Recorded first; then the drawer opens by the printer's pulse.
        self.after_cash_movement(&pulse_by);
        Ok(movement)
    }

    /// Open the cash drawer without a sale (needs a manager's approval; the
    /// opening goes to the audit log).
    pub async fn cash_drawer_open(
        &self,
        actor: String,
        reason: String,
        approval: Approval,
    ) -> Result<CashMovementDto, ApiError> {
        self.shift_cash_movement(
            CashMovementKind::DrawerOpen,
            "0".into(),
            reason,
            actor,
            Some(approval),
        )
        .await
    }

    /// Close the open shift with the blind count. The count goes in first;
    /// the answer is the frozen Z report with expected cash and over/short.
    pub async fn shift_close(
        &self,
        counted: String,
        closed_by: String,
    ) -> Result<ZReportDto, ApiError> {
        let counted_fen = parse_cash(&counted, "the counted cash", true)?;
        let now = self.now();
        let report = self
            .with_ledger(move |ledger| {
                Ok(ZReportDto::from(&ledger.close_shift(
                    counted_fen,
                    &closed_by,
                    now,
                )?))
            })
            .await?;
        // A closed shift is a natural point to keep a copy of the day.
        self.backup_after_shift();
        Ok(report)
    }

    /// Recent shifts, newest first.
    pub async fn shifts_list(&self, limit: u32) -> Result<Vec<ShiftDto>, ApiError> {
        self.with_ledger(move |ledger| {
            ledger
                .shifts(limit)?
                .iter()
                .map(|s| Ok(shift_dto(s, &ledger.shift_movements(s.id)?)))
                .collect()
        })
        .await
    }

    /// The frozen Z report of a closed shift.
    pub async fn shift_report(&self, shift_id: i64) -> Result<ZReportDto, ApiError> {
        let (report, _) = self.closed_report(shift_id).await?;
        Ok(ZReportDto::from(&report))
    }

    /// The Z report as plain text for the receipt printer: 40 columns,
    /// Chinese labels, times in the store's time zone.
    pub async fn shift_report_text(&self, shift_id: i64) -> Result<String, ApiError> {
        let (report, calendar) = self.closed_report(shift_id).await?;
        Ok(render_z_report(&report, &calendar))
    }

    async fn closed_report(&self, shift_id: i64) -> Result<(ZReport, BusinessCalendar), ApiError> {
        self.with_ledger(move |ledger| {
            let shift = ledger
                .shift(shift_id)
                .map_err(|e| ApiError::new(ErrorCode::NotFound, e.to_string()))?;
            let report = shift.report.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Conflict,
                    format!("shift {shift_id} is still open; close it with the count first"),
                )
            })?;
            Ok((report, *ledger.calendar()))
        })
        .await
    }
}

/// Columns a character takes on a receipt printer: CJK and full-width forms
/// take two.
fn char_columns(c: char) -> usize {
    let u = c as u32;
    let wide = matches!(u,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

/// Display width of a string in printer columns.
pub fn text_columns(s: &str) -> usize {
    s.chars().map(char_columns).sum()
}

/// Cut a string to at most `max` columns.
fn fit(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_columns(c);
        if used + w > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

/// `label ......... value`, right-aligned to the receipt width.
fn row(label: &str, value: &str) -> String {
    let value = fit(value, RECEIPT_COLUMNS);
    let room = RECEIPT_COLUMNS.saturating_sub(text_columns(&value) + 1);
    let label = fit(label, room);
    let pad = RECEIPT_COLUMNS - text_columns(&label) - text_columns(&value);
    format!("{label}{}{value}", " ".repeat(pad))
}

fn centred(s: &str) -> String {
    let s = fit(s, RECEIPT_COLUMNS);
    let pad = (RECEIPT_COLUMNS - text_columns(&s)) / 2;
    format!("{}{s}", " ".repeat(pad))
}

fn yuan(fen: i64) -> String {
    if fen < 0 {
        format!("-¥{}", format_fen(-fen))
    } else {
        format!("¥{}", format_fen(fen))
    }
}

fn local_time(text: &str, calendar: &BusinessCalendar) -> String {
    match shouyin_ledger::parse_ts(text) {
        Some(at) => local(at, calendar),
        None => text.to_owned(),
    }
}

fn local(at: DateTime<Utc>, calendar: &BusinessCalendar) -> String {
    at.with_timezone(&calendar.timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn channel_zh(c: ChannelKind) -> &'static str {
    match c {
        ChannelKind::Alipay => "支付宝",
        ChannelKind::Wechat => "微信支付",
        ChannelKind::Unionpay => "银联",
        ChannelKind::Cash => "现金",
    }
}

/// The printable Z report. Every line is at most [`RECEIPT_COLUMNS`] wide.
pub fn render_z_report(r: &ZReport, calendar: &BusinessCalendar) -> String {
    let rule = "-".repeat(RECEIPT_COLUMNS);
    let mut lines = vec![
        centred("交班报表"),
        centred(&r.store),
        rule.clone(),
        row("终端号", &r.terminal),
        row("班次", &r.shift_id.to_string()),
        row("营业日", &r.business_date),
        row("收银员", &r.cashier),
        row("交班人", &r.closed_by),
        row("开班", &local_time(&r.opened_at, calendar)),
        row("交班", &local_time(&r.closed_at, calendar)),
        rule.clone(),
        row("备用金", &yuan(r.float_fen)),
        row(
            &format!("现金收款 {}笔", r.cash_sales_count),
            &yuan(r.cash_sales_fen),
        ),
        row(
            &format!("现金退款 {}笔", r.cash_refunds_count),
            &yuan(-r.cash_refunds_fen),
        ),
        row("存入", &yuan(r.pay_ins_fen)),
        row("支出", &yuan(-r.pay_outs_fen)),
        rule.clone(),
        row("应有现金", &yuan(r.expected_fen)),
        row("实点现金", &yuan(r.counted_fen)),
        match r.over_short_fen {
            0 => row("长短款", &yuan(0)),
            f if f > 0 => row("长款", &yuan(f)),
            f => row("短款", &yuan(f)),
        },
        rule.clone(),
    ];
    for c in r.channels.iter().filter(|c| c.channel != ChannelKind::Cash) {
        if c.confirmed_count == 0
            && c.unconfirmed_count == 0
            && c.refunds_count == 0
            && c.unresolved_count == 0
        {
            continue;
        }
        lines.push(channel_zh(c.channel).to_owned());
        lines.push(row(
            &format!("  已支付 {}笔", c.confirmed_count),
            &yuan(c.confirmed_fen),
        ));
        if c.unconfirmed_count > 0 {
            lines.push(row(
                &format!("  待核实 {}笔", c.unconfirmed_count),
                &yuan(c.unconfirmed_fen),
            ));
        }
        if c.refunds_count > 0 {
            lines.push(row(
                &format!("  退款 {}笔", c.refunds_count),
                &yuan(-c.refunds_fen),
            ));
        }
        if c.unresolved_count > 0 {
            lines.push(row("  状态确认中", &format!("{}笔", c.unresolved_count)));
        }
    }
    if !r.movements.is_empty() {
        lines.push(rule.clone());
        for m in &r.movements {
            let (label, fen) = match m.kind {
                MovementKind::PayIn => ("存入", m.amount_fen),
                MovementKind::PayOut => ("支出", -m.amount_fen),
                MovementKind::DrawerOpen => ("开钱箱", 0),
            };
            let when =
                m.at.with_timezone(&calendar.timezone)
                    .format("%H:%M")
                    .to_string();
            lines.push(row(&format!("{when} {label} {}", m.reason), &yuan(fen)));
        }
    }
    lines.push(rule);
    lines.push(centred("店长签字:____________"));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
