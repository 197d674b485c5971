//! The customer page: what a demo user uses instead of a phone.
//!
//! `/` lists every QR payment waiting for a buyer, with Pay and Decline
//! buttons, and the last few finished ones; it reloads itself every few
//! seconds. `/pay?code=<qr payload>` opens one code, as scanning it would
//! (for Alipay, opening it *is* the scan that makes the trade exist).
//! The buttons are plain forms posting to the control API, so the page works
//! without JavaScript.
//!
//! The "付款码" section plays the other way round: it shows the customer's
//! payment code (a Code 128 barcode and its digits) for the till to scan or
//! type, and, when the till's charge needs the password, Confirm and Decline
//! buttons standing in for the password step on the phone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use shouyin_core::Money;

use crate::control::all_trades;
use crate::paycode::PayCode;
use crate::trade::{china_time, Channel, CloseReason, Phase, Shown, Trade, CHINA};
use crate::{SimError, SimState};
use barcoders::generators::svg::SVG;
use barcoders::sym::code128::Code128;
use chrono::{DateTime, Utc};

/// Seconds between automatic reloads.
const REFRESH_SECS: u32 = 3;
/// Finished trades shown under the pending ones.
const RECENT: usize = 8;

pub async fn index(State(sim): State<SimState>) -> Response {
    let trades = match all_trades(&sim) {
        Ok(t) => t,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let pending: Vec<&Trade> = trades
        .iter()
        .filter(|t| t.is_pending() && !t.is_code_payment())
        .collect();
    let recent: Vec<&Trade> = trades
        .iter()
        .filter(|t| !t.is_pending())
        .take(RECENT)
        .collect();
    let mut body = String::new();
    if let Err(e) = paycode_section(&mut body, &sim, &trades) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    body.push_str("<section><h2>待支付 <span class=en>Waiting for payment</span></h2>");
    if pending.is_empty() {
        body.push_str(
            "<div class=empty><p>暂无待支付的订单</p><p class=en>No payments waiting. \
             Start a QR charge at the counter and it appears here.</p></div>",
        );
    } else {
        body.push_str("<div class=cards>");
        for t in &pending {
            card(&mut body, &sim, t, "/");
        }
        body.push_str("</div>");
    }
    body.push_str("</section>");
    if !recent.is_empty() {
        body.push_str(
            "<section><h2>最近 <span class=en>Recent</span></h2><table><thead><tr>\
             <th>渠道 Channel</th><th>订单号 Order no.</th><th class=num>金额 Amount</th>\
             <th>状态 Status</th><th>时间 Time</th></tr></thead><tbody>",
        );
        for t in &recent {
            let _ = write!(
                body,
                "<tr><td><span class='dot {cls}'></span>{name}</td><td class=mono>{no}</td>\
                 <td class=num>{amount}</td><td>{status}</td><td>{time}</td></tr>",
                cls = channel_class(t.channel),
                name = channel_name(t.channel),
                no = esc(&t.out_trade_no),
                amount = Money::cny(t.amount_fen),
                status = status_label(t),
                time = china_time(t.created_at),
            );
        }
        body.push_str("</tbody></table></section>");
    }
    Html(layout("顾客手机 Customer phone", &sim, &body)).into_response()
}

pub async fn open_code(
    State(sim): State<SimState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return not_found(&sim, "缺少二维码内容 No code given");
    };
    let now = sim.now();
    let found = {
        let mut store = sim.store();
        match store.trade_by_qr(code) {
            Ok(Some(mut t)) => {
                let mut changed = t.settle(now);
                // Opening an Alipay code is the scan that makes the trade
                // exist at the channel.
                if t.channel == Channel::Alipay && t.phase == Phase::Created {
                    changed |= t.scan(now).is_ok();
                }
                if changed {
                    if let Err(e) = store.update_trade(&t) {
                        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
                    }
                }
                Some(t)
            }
            Ok(None) => None,
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    };
    let Some(t) = found else {
        return not_found(&sim, "未知的二维码 Unknown QR code");
    };
    let back = format!(
        "/pay?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", code)
            .finish()
    );
    let mut body = String::from("<section class=single><div class=cards>");
    card(&mut body, &sim, &t, &back);
    body.push_str("</div><p class=back><a href='/'>← 全部订单 All payments</a></p></section>");
    Html(layout("扫码支付 Scan to pay", &sim, &body)).into_response()
}

/// Codes shown in the last few minutes, newest first, and the form that
/// shows a new one.
const PAYCODES_SHOWN: usize = 4;

fn paycode_section(out: &mut String, sim: &SimState, trades: &[Trade]) -> Result<(), SimError> {
    let now = sim.now();
    let codes = sim.store().paycodes()?;
    out.push_str(
        "<section><h2>付款码 <span class=en>Payment code (the customer shows it, the till scans it)</span></h2>\
         <form class=newcode method=post action='/_sim/paycodes'>\
         <input type=hidden name=return_to value='/'>\
         <select name=channel><option value=alipay>支付宝 Alipay</option>\
         <option value=wechat>微信支付 WeChat Pay</option>\
         <option value=unionpay>云闪付 UnionPay</option></select>\
         <label><input type=checkbox name=password value=true> 需要输入密码 Needs password</label>\
         <label>余额 Balance (分 fen) <input name=balance_fen inputmode=numeric size=8 placeholder='不限 any'></label>\
         <button class=show type=submit>出示付款码 Show code</button></form>",
    );
    let recent: Vec<&PayCode> = codes
        .iter()
        .filter(|c| now - c.issued_at < chrono::Duration::minutes(5))
        .take(PAYCODES_SHOWN)
        .collect();
    if !recent.is_empty() {
        out.push_str("<div class=cards>");
        for c in recent {
            let trade = c.out_trade_no.as_deref().and_then(|no| {
                trades
                    .iter()
                    .find(|t| t.channel == c.channel && t.out_trade_no == no)
            });
            paycode_card(out, c, trade, now);
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
    Ok(())
}

fn paycode_card(out: &mut String, c: &PayCode, trade: Option<&Trade>, now: DateTime<Utc>) {
    let status = match trade {
        Some(t) if t.phase == Phase::Waiting => "请输入支付密码 Enter password".to_owned(),
        Some(t) if t.reversed_after_payment() => "已撤销并退款 Reversed, refunded".to_owned(),
        Some(t) => status_label(t).to_owned(),
        None if now >= c.expires_at => "已过期 Expired".to_owned(),
        None => format!(
            "有效 {} 秒 Valid {} s",
            (c.expires_at - now).num_seconds(),
            (c.expires_at - now).num_seconds()
        ),
    };
    let _ = write!(
        out,
        "<article class='card {cls}' data-code='{code}'><header><span class=brand>{name}</span>\
         <span class=pill>{status}</span></header>\
         <div class=barcode>{svg}</div><div class='digits mono'>{digits}</div>",
        cls = channel_class(c.channel),
        name = channel_name(c.channel),
        code = esc(&c.code),
        status = esc(&status),
        svg = barcode_svg(&c.code),
        digits = esc(&spaced(&c.code)),
    );
    if let Some(t) = trade {
        let _ = write!(
            out,
            "<div class=amount>{}</div><dl><dt>订单号 Order no.</dt><dd class=mono>{}</dd></dl>",
            Money::cny(t.amount_fen),
            esc(&t.out_trade_no)
        );
        if t.phase == Phase::Waiting {
            let action = |verb: &str| {
                format!(
                    "/_sim/paycodes/{}/{verb}",
                    url::form_urlencoded::byte_serialize(c.code.as_bytes()).collect::<String>()
                )
            };
            let _ = write!(
                out,
                "<div class=actions>\
                 <form method=post action='{confirm}'><input type=hidden name=return_to value='/'>\
                 <button class=pay type=submit>输入密码并支付 Confirm</button></form>\
                 <form method=post action='{decline}'><input type=hidden name=return_to value='/'>\
                 <button class=decline type=submit>取消 Decline</button></form></div>",
                confirm = esc(&action("confirm")),
                decline = esc(&action("decline")),
            );
        }
    }
    out.push_str("</article>");
}

/// Digits in groups of four, as the phones print them under the barcode.
fn spaced(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The code as a Code 128 barcode (character set C: pairs of digits).
fn barcode_svg(code: &str) -> String {
    let data = format!("\u{0106}{code}");
    let encoded = match Code128::new(data) {
        Ok(b) => b.encode(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a payment code as a barcode");
            return String::new();
        }
    };
    SVG::new(80).xdim(2).generate(&encoded).unwrap_or_default()
}

fn not_found(sim: &SimState, message: &str) -> Response {
    let body = format!(
        "<div class=empty><p>{}</p><p class=back><a href='/'>← 全部订单 All payments</a></p></div>",
        esc(message)
    );
    (
        StatusCode::NOT_FOUND,
        Html(layout("未找到 Not found", sim, &body)),
    )
        .into_response()
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Alipay => "支付宝 Alipay",
        Channel::Wechat => "微信支付 WeChat Pay",
        Channel::Unionpay => "云闪付 UnionPay",
    }
}

fn channel_class(c: Channel) -> &'static str {
    match c {
        Channel::Alipay => "alipay",
        Channel::Wechat => "wechat",
        Channel::Unionpay => "unionpay",
    }
}

fn status_label(t: &Trade) -> &'static str {
    match t.shown() {
        Shown::Created => "待扫码 Not scanned",
        Shown::Waiting => "待支付 Waiting",
        Shown::Paid => "已支付 Paid",
        Shown::PartRefunded => "部分退款 Part refunded",
        Shown::Refunded => "已退款 Refunded",
        Shown::Closed => match t.close_reason {
            Some(CloseReason::Timeout) => "已过期 Expired",
            Some(CloseReason::Declined) => "已拒绝 Declined",
            Some(CloseReason::Cancelled) => "已撤销 Cancelled",
            _ => "已关闭 Closed",
        },
    }
}

/// One payment card, with buttons while it can still be paid.
fn card(out: &mut String, sim: &SimState, t: &Trade, return_to: &str) {
    let cls = channel_class(t.channel);
    let action = |verb: &str| {
        format!(
            "/_sim/trades/{}/{verb}?channel={}",
            url::form_urlencoded::byte_serialize(t.out_trade_no.as_bytes()).collect::<String>(),
            t.channel.as_str()
        )
    };
    let _ = write!(
        out,
        "<article class='card {cls}'><header><span class=brand>{name}</span>\
         <span class=pill>{status}</span></header>\
         <div class=amount>{amount}</div>\
         <div class=subject>{subject}</div>\
         <dl><dt>商户 Merchant</dt><dd>{merchant}</dd>\
         <dt>订单号 Order no.</dt><dd class=mono>{no}</dd>\
         <dt>有效期至 Expires</dt><dd>{expires}</dd></dl>",
        name = channel_name(t.channel),
        status = status_label(t),
        amount = Money::cny(t.amount_fen),
        subject = esc(&t.subject),
        merchant = esc(&sim.keys().merchant_name),
        no = esc(&t.out_trade_no),
        expires = t.expires_at.with_timezone(&CHINA).format("%H:%M:%S"),
    );
    if t.is_pending() {
        let rt = esc(return_to);
        let _ = write!(
            out,
            "<div class=actions>\
             <form method=post action='{pay}'><input type=hidden name=return_to value='{rt}'>\
             <button class=pay type=submit>确认支付 Pay</button></form>\
             <form method=post action='{decline}'><input type=hidden name=return_to value='{rt}'>\
             <button class=decline type=submit>拒绝 Decline</button></form></div>",
            pay = esc(&action("pay")),
            decline = esc(&action("decline")),
        );
    }
    out.push_str("</article>");
}

fn layout(title: &str, sim: &SimState, body: &str) -> String {
    format!(
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>\
         <meta name=viewport content='width=device-width,initial-scale=1'>\
         <meta http-equiv=refresh content='{REFRESH_SECS}'>\
         <title>{title} · 收银模拟器</title><style>{CSS}</style></head><body>\
         <header class=top><div><h1>收银模拟器 · 顾客手机</h1>\
         <p class=en>Shouyin payment simulator · customer phone</p></div>\
         <div class=host>{host}</div></header><main>{body}</main>\
         <footer>此页面每 {REFRESH_SECS} 秒自动刷新 · This page refreshes every {REFRESH_SECS} s. \
         仅用于演示与测试，不会产生真实扣款 · Demo only, no real money moves.</footer>\
         </body></html>",
        title = esc(title),
        host = esc(sim.base_url()),
    )
}

/// HTML-escape text for element content and single- or double-quoted
/// attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--alipay:#1677FF;--wechat:#07C160;--unionpay:#D7000F;--ink:#1f2329;--muted:#646a73;--line:#e5e6eb;--bg:#f5f6f8}
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei","Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header.top{display:flex;justify-content:space-between;align-items:center;padding:16px 32px;background:#fff;border-bottom:1px solid var(--line)}
header.top h1{font-size:20px;margin:0}
header.top p{margin:2px 0 0}
.host{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;color:var(--muted)}
.en{color:var(--muted);font-weight:normal;font-size:.85em}
main{max-width:1100px;margin:0 auto;padding:8px 32px 24px}
h2{font-size:17px;margin:24px 0 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px}
.card{background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.08);overflow:hidden;border-top:6px solid var(--brand)}
.card.alipay{--brand:var(--alipay)}
.card.wechat{--brand:var(--wechat)}
.card.unionpay{--brand:var(--unionpay)}
.card header{display:flex;justify-content:space-between;align-items:center;padding:14px 18px 0}
.brand{font-weight:600;color:var(--brand)}
.pill{font-size:12px;padding:2px 8px;border-radius:10px;background:var(--bg);color:var(--muted)}
.amount{font-size:38px;font-weight:700;padding:10px 18px 0;letter-spacing:.5px}
.subject{padding:2px 18px 0;color:var(--muted)}
dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:14px 18px;font-size:13px;align-items:baseline}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace}
dd.mono{font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.actions{display:flex;gap:10px;padding:0 18px 18px}
.actions form{flex:1;margin:0}
button{width:100%;padding:11px 0;font-size:15px;border-radius:8px;cursor:pointer;font-family:inherit}
button.pay{background:var(--brand);color:#fff;border:1px solid var(--brand);font-weight:600}
button.decline{background:#fff;color:var(--muted);border:1px solid var(--line)}
button:hover{filter:brightness(.95)}
.empty{background:#fff;border-radius:12px;padding:32px;text-align:center;color:var(--muted)}
.empty p{margin:4px 0}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:12px;overflow:hidden;font-size:14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
th,td{text-align:left;padding:9px 14px;border-bottom:1px solid var(--line)}
th{font-weight:600;color:var(--muted);font-size:13px;background:#fafbfc}
tr:last-child td{border-bottom:none}
.num{text-align:right;font-variant-numeric:tabular-nums}
.dot{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:8px;vertical-align:middle}
.dot.alipay{background:var(--alipay)}
.dot.wechat{background:var(--wechat)}
.dot.unionpay{background:var(--unionpay)}
.single{padding-top:28px}
.single .cards{grid-template-columns:minmax(300px,420px);justify-content:center}
.back{text-align:center;margin-top:18px}
a{color:var(--alipay)}
.newcode{display:flex;flex-wrap:wrap;gap:12px;align-items:center;background:#fff;border-radius:12px;padding:12px 18px;margin-bottom:16px;font-size:14px}
.newcode select,.newcode input[name=balance_fen]{font:inherit;padding:6px 8px;border:1px solid var(--line);border-radius:6px}
.newcode button.show{width:auto;padding:8px 18px;background:var(--ink);color:#fff;border:none;font-weight:600}
.barcode{padding:14px 18px 0;text-align:center}
.barcode svg{max-width:100%;height:80px}
.digits{text-align:center;font-size:20px;letter-spacing:1px;padding:6px 18px 0}
footer{text-align:center;color:var(--muted);font-size:12px;padding:16px 32px 32px}
"#;
