//! What goes on the paper: the sale receipt (小票), the refund slip, the Z
//! report and the test page, as ESC/POS jobs. Times are the store's local
//! time; amounts are integer fen printed as yuan.

use chrono::{DateTime, Utc};
use shouyin_core::{format_fen, BusinessCalendar, ChannelKind};
use shouyin_escpos::encode::Justify;
use shouyin_escpos::{Paper, Receipt};
use shouyin_ledger::refunds::{Refund, RefundState};
use shouyin_ledger::Order;

use super::DeviceSettings;

/// The store and terminal the paper is printed for.
#[derive(Debug, Clone)]
pub struct PaperContext {
    pub store: String,
    pub terminal: String,
    pub calendar: BusinessCalendar,
    pub settings: DeviceSettings,
}

impl PaperContext {
    fn paper(&self) -> Paper {
        Paper::from_mm(self.settings.paper_mm).unwrap_or(Paper::Mm80)
    }

    fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.calendar.timezone)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// Store name, header lines and terminal.
    fn head(&self, r: &mut Receipt, title: &str) {
        r.justify(Justify::Centre).bold(true).double(true);
        r.wrapped(&self.store);
        r.double(false).bold(false);
        for line in &self.settings.header_lines {
            r.wrapped(line);
        }
        r.bold(true).line(title).bold(false);
        r.justify(Justify::Left).rule();
        r.row("终端 Terminal", &self.terminal);
    }

    fn foot(&self, r: &mut Receipt) {
        r.justify(Justify::Centre);
        for line in &self.settings.footer_lines {
            r.wrapped(line);
        }
        r.justify(Justify::Left).feed(3).cut();
    }
}

fn yuan(fen: i64) -> String {
    if fen < 0 {
        format!("-￥{}", format_fen(-fen))
    } else {
        format!("￥{}", format_fen(fen))
    }
}

pub fn channel_label(c: ChannelKind) -> &'static str {
    match c {
        ChannelKind::Alipay => "支付宝 Alipay",
        ChannelKind::Wechat => "微信支付 WeChat Pay",
        ChannelKind::Unionpay => "云闪付 UnionPay",
        ChannelKind::Cash => "现金 Cash",
    }
}

/// One copy of a sale's receipt.
fn sale_copy(order: &Order, refunds: &[Refund], ctx: &PaperContext, reprint: bool) -> Receipt {
    let mut r = Receipt::new(ctx.paper());
    ctx.head(
        &mut r,
        if reprint {
            "重印 REPRINT"
        } else {
            "销售小票 RECEIPT"
        },
    );
    r.row("收银员 Cashier", order.cashier.as_deref().unwrap_or("-"));
    r.row(
        "时间 Time",
        &ctx.local(order.paid_at.unwrap_or(order.created_at)),
    );
    r.line("订单号 Order No.");
    r.line(&format!("  {}", order.out_trade_no));
    r.row("支付方式 Paid by", channel_label(order.channel));
    if let Some(no) = &order.channel_trade_no {
        r.line("交易号 Transaction No.");
        r.wrapped(&format!("  {no}"));
    }
    if let Some(note) = &order.note {
        r.wrapped(&format!("备注 Note: {note}"));
    }
    r.rule();
    r.bold(true).double(true);
    r.row("金额", &yuan(order.amount.fen()));
    r.double(false).bold(false);
    if let Some(tender) = &order.tender {
        r.row("收现 Tendered", &yuan(tender.tendered_fen()));
        r.row("找零 Change", &yuan(tender.change_fen()));
    }
    let done: Vec<&Refund> = refunds
        .iter()
        .filter(|f| f.state == RefundState::Succeeded)
        .collect();
    for f in &done {
        r.row(
            &format!(
                "退款 Refund {}",
                ctx.local(f.settled_at.unwrap_or(f.requested_at))
            ),
            &yuan(-f.amount_fen),
        );
    }
    if !done.is_empty() {
        r.row("实收 Net", &yuan(order.amount.fen() - order.refunded_fen));
    }
    r.rule();
    // The order number to scan when a refund starts from the receipt.
    r.justify(Justify::Centre);
    let fits = Receipt::barcode_dots(&order.out_trade_no)
        .is_some_and(|dots| dots <= ctx.paper().columns() * 12);
    if fits {
        // Checked above: short ASCII order numbers only.
        if r.barcode(&order.out_trade_no).is_err() {
            tracing::warn!(order_no = %order.out_trade_no, "order number not printable as a barcode");
        }
    }
    if r.qr(&order.out_trade_no).is_err() {
        tracing::warn!(order_no = %order.out_trade_no, "order number not printable as a QR code");
    }
    ctx.foot(&mut r);
    r
}

/// A sale's receipt, in as many copies as the settings say.
pub fn sale_receipt(
    order: &Order,
    refunds: &[Refund],
    ctx: &PaperContext,
    reprint: bool,
) -> Vec<u8> {
    let one = sale_copy(order, refunds, ctx, reprint);
    let mut all = Receipt::bare(ctx.paper());
    for _ in 0..ctx.settings.copies.max(1) {
        all.append(&one);
    }
    all.into_bytes()
}

/// The slip for a refund: the customer signs or keeps it.
pub fn refund_slip(refund: &Refund, order: &Order, ctx: &PaperContext) -> Vec<u8> {
    let mut r = Receipt::new(ctx.paper());
    ctx.head(&mut r, "退款单 REFUND");
    r.row(
        "时间 Time",
        &ctx.local(refund.settled_at.unwrap_or(refund.requested_at)),
    );
    r.line("原订单号 Order No.");
    r.line(&format!("  {}", order.out_trade_no));
    r.line("退款单号 Refund No.");
    r.line(&format!("  {}", refund.out_refund_no));
    r.row("支付方式 Paid by", channel_label(order.channel));
    if let Some(no) = &refund.channel_refund_no {
        r.line("渠道退款号 Channel refund No.");
        r.wrapped(&format!("  {no}"));
    }
    r.row("原金额 Paid", &yuan(order.amount.fen()));
    r.bold(true).double(true);
    r.row("退款", &yuan(refund.amount_fen));
    r.double(false).bold(false);
    if let Some(reason) = &refund.reason {
        r.wrapped(&format!("原因 Reason: {reason}"));
    }
    r.row("申请人 By", refund.requested_by.as_deref().unwrap_or("-"));
    r.row("批准人 Approved", refund.approver.as_deref().unwrap_or("-"));
    r.rule();
    r.line("顾客签名 Customer signature:");
    r.feed(2);
    ctx.foot(&mut r);
    r.into_bytes()
}

/// Text already laid out in receipt columns (the Z report), printed as is.
pub fn text_slip(text: &str, ctx: &PaperContext) -> Vec<u8> {
    let mut r = Receipt::new(ctx.paper());
    for line in text.lines() {
        r.line(line);
    }
    r.feed(3).cut();
    r.into_bytes()
}

/// A page that shows the printer, the paper width and the Chinese mode work.
pub fn test_page(ctx: &PaperContext, now: DateTime<Utc>) -> Vec<u8> {
    let mut r = Receipt::new(ctx.paper());
    ctx.head(&mut r, "打印测试 TEST PAGE");
    r.row("时间 Time", &ctx.local(now));
    r.row("纸宽 Paper", &format!("{} mm", ctx.settings.paper_mm));
    r.line(&"一二三四五六七八九十".repeat(3));
    r.line(&"1234567890".repeat(5));
    r.row("中文 English 123", &yuan(1230));
    r.rule();
    ctx.foot(&mut r);
    r.into_bytes()
}

/// The drawer's kick pulse and nothing else.
pub fn drawer_pulse(ctx: &PaperContext) -> Vec<u8> {
    let mut r = Receipt::bare(ctx.paper());
    r.drawer_kick();
    r.into_bytes()
}
