//! The head-office page: stores, terminals and today's takings, rendered on
//! the server as plain HTML (no scripts), labels in Chinese with English.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::channel_metrics::HealthTable;
use crate::wire::{self, DailyReport, SuspensionList, TerminalInfo};

const STYLE: &str = "\
body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;\
margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2933;background:#f7f8fa}\
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:2rem}\
.sub{color:#616e7c;margin-top:0}\
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}\
th,td{padding:.5rem .75rem;border-bottom:1px solid #e4e7eb;text-align:left}\
th{background:#eef1f4;font-weight:600;font-size:.9rem}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
tr.total td{font-weight:700;background:#f0f4f8}\
.en{color:#7b8794;font-weight:400;font-size:.8em;display:block}\
.ok{color:#1b873f}.warn{color:#b44d12}.bad{color:#c81e1e}\
td.failing{background:#fde8e8;color:#9b1c1c;font-weight:600}\
form.control{margin-top:.75rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}\
form.control label{display:flex;flex-direction:column;font-size:.9rem}";

/// Escape text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn label(zh: &str, en: &str) -> String {
    format!("{zh}<span class=\"en\">{en}</span>")
}

fn time(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => "—".to_owned(),
    }
}

pub fn login_required() -> axum::response::Html<String> {
    axum::response::Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>收银 总部 Shouyin head office</title>\
         <style>{STYLE}</style></head><body><h1>需要登录 <span class=\"en\">Sign-in required</span></h1>\
         <p>请使用管理员令牌作为密码。<span class=\"en\">Use the admin token as the password.</span></p></body></html>"
    ))
}

/// A store as people know it: its name from the tills, then its code.
fn store_label(code: &str, health: &HealthTable) -> String {
    match health.names.get(code) {
        Some(name) => format!("{} <span class=\"en\">{}</span>", esc(name), esc(code)),
        None => esc(code),
    }
}

fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "untrusted" => "验签失败 untrusted answer",
        "indeterminate" => "无应答/5xx indeterminate",
        _ => "—",
    }
}

/// Store × channel: today's calls, error ratio, p95 latency, last problem;
/// failing cells marked.
fn channel_health(h: &mut String, health: &HealthTable) {
    let _ = write!(
        h,
        "<h2>支付通道健康 <span class=\"en\">Payment channel health (today)</span></h2><table id=\"channel-health\"><thead><tr>\
         <th>{}</th><th>{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th>{}</th>\
         <th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th></tr></thead><tbody>",
        label("门店", "Store"),
        label("通道", "Channel"),
        label("调用次数", "Calls"),
        label("错误率", "Error ratio"),
        label("P95 延迟", "p95 latency"),
        label("最近问题", "Last problem"),
        label("状态未知的订单", "Orders gone unknown"),
        label("其后支付成功", "→ paid after all"),
        label("其后关闭", "→ closed"),
        label("其后失败", "→ failed"),
    );
    if health.cells.is_empty() {
        h.push_str("<tr><td colspan=\"10\">今日尚无通道调用 <span class=\"en\">No channel calls reported today</span></td></tr>");
    }
    for (store, channels) in &health.cells {
        for (channel, cell) in channels {
            let channel_name = channel_name(channel);
            let class = if cell.failing() {
                " class=\"num failing\""
            } else {
                " class=\"num\""
            };
            let mark = if cell.failing() { "⚠ " } else { "" };
            let p95 = match cell.p95_seconds() {
                Some(s) if s < 1.0 => format!("≤ {} ms", (s * 1000.0).round()),
                Some(s) => format!("≤ {s} s"),
                None if cell.calls > 0 => "> 30 s".to_owned(),
                None => "—".to_owned(),
            };
            let problem = match cell.last_problem {
                Some((at, outcome)) => format!("{} · {}", time(Some(at)), outcome_label(outcome)),
                None => "—".to_owned(),
            };
            let u = &cell.unknown;
            let share = |n: u64| {
                if u.entered == 0 {
                    "—".to_owned()
                } else {
                    format!("{n} ({}%)", u.percent(n))
                }
            };
            let _ = write!(
                h,
                "<tr data-store=\"{}\" data-channel=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td{class}>{mark}{}%</td><td class=\"num\">{}</td><td>{}</td>\
                 <td class=\"num\" data-unknown=\"entered\">{}</td><td class=\"num\" data-unknown=\"resolved\">{}</td>\
                 <td class=\"num\" data-unknown=\"closed\">{}</td><td class=\"num\" data-unknown=\"failed\">{}</td></tr>",
                esc(store),
                esc(channel),
                store_label(store, health),
                esc(channel_name),
                cell.calls,
                cell.error_percent(),
                esc(&p95),
                esc(&problem),
                u.entered,
                share(u.resolved),
                share(u.closed),
                share(u.failed),
            );
        }
    }
    h.push_str("</tbody></table>");
}

fn channel_name(channel: &str) -> &str {
    match channel {
        "wechat" => "微信支付 WeChat Pay",
        "alipay" => "支付宝 Alipay",
        "unionpay" => "银联 UnionPay",
        other => other,
    }
}

/// Where the page's suspend/lift form posts.
pub const CONTROL_FORM_PATH: &str = "/channels/control";

/// A suspend or lift from the page that was not done, and why.
pub fn control_refused(why: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>收银 总部 Shouyin head office</title>\
         <style>{STYLE}</style></head><body><h1>未执行 <span class=\"en\">Not done</span></h1>\
         <p class=\"bad\" id=\"control-refused\">{}</p><p><a href=\"/\">返回 <span class=\"en\">Back</span></a></p></body></html>",
        esc(why)
    )
}

/// The form that suspends a channel for a store (or all) or lifts it.
fn control_form(h: &mut String, stores: &[String], health: &HealthTable) {
    let _ = write!(
        h,
        "<form method=\"post\" action=\"{CONTROL_FORM_PATH}\" id=\"channel-control-form\" class=\"control\">\
         <label>{} <select name=\"store\"><option value=\"*\">全部门店 All stores</option>",
        label("门店", "Store")
    );
    for code in stores {
        let name = health
            .names
            .get(code)
            .map(|n| format!("{} ", esc(n)))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<option value=\"{}\">{name}{}</option>",
            esc(code),
            esc(code)
        );
    }
    let _ = write!(
        h,
        "</select></label> <label>{} <select name=\"channel\">\
         <option value=\"wechat\">微信支付 WeChat Pay</option><option value=\"alipay\">支付宝 Alipay</option>\
         <option value=\"unionpay\">银联 UnionPay</option></select></label> \
         <label>{} <input name=\"reason\" maxlength=\"{}\" placeholder=\"收银员会看到 shown to cashiers\"></label> \
         <label>{} <input name=\"by\" maxlength=\"{}\" required></label> \
         <button name=\"action\" value=\"suspend\">暂停 Suspend</button> \
         <button name=\"action\" value=\"lift\">恢复 Lift</button></form>",
        label("通道", "Channel"),
        label("原因", "Reason"),
        wire::SUSPENSION_REASON_MAX_CHARS,
        label("操作人", "By"),
        wire::CONTROL_ACTOR_MAX_CHARS,
    );
}

/// The channels suspended now and the latest suspend/lift changes.
fn channel_control(h: &mut String, list: &SuspensionList, stores: &[String], health: &HealthTable) {
    let scope = |store: Option<&crate::wire::StoreCode>| match store {
        Some(code) => store_label(code.as_str(), health),
        None => "全部门店 <span class=\"en\">All stores</span>".to_owned(),
    };
    let _ = write!(
        h,
        "<h2>暂停的通道 <span class=\"en\">Suspended channels</span></h2><table id=\"channel-suspensions\"><thead><tr>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        label("门店", "Store"),
        label("通道", "Channel"),
        label("原因", "Reason"),
        label("暂停于", "Since"),
        label("操作人", "By"),
    );
    if list.suspensions.is_empty() {
        h.push_str("<tr><td colspan=\"5\">没有暂停的通道 <span class=\"en\">No channel is suspended</span></td></tr>");
    }
    for s in &list.suspensions {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"bad\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            scope(s.store.as_ref()),
            esc(channel_name(&s.channel)),
            esc(&s.reason),
            time(Some(s.since)),
            esc(&s.by),
        );
    }
    h.push_str("</tbody></table>");
    control_form(h, stores, health);
    if list.log.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>通道管理记录 <span class=\"en\">Channel control log</span></h2><table id=\"channel-control-log\"><thead><tr>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        label("时间", "When"),
        label("操作人", "By"),
        label("操作", "Action"),
        label("门店", "Store"),
        label("通道", "Channel"),
        label("原因", "Reason"),
    );
    for l in list.log.iter().take(10) {
        let action = if l.action == "suspend" {
            "暂停 suspend"
        } else {
            "恢复 lift"
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} <span class=\"en\">{}</span></td><td>{action}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(Some(l.at)),
            esc(&l.by),
            esc(&l.via),
            scope(l.store.as_ref()),
            esc(channel_name(&l.channel)),
            esc(l.reason.as_deref().unwrap_or("—")),
        );
    }
    h.push_str("</tbody></table>");
}

pub fn dashboard(
    now: DateTime<Utc>,
    terminals: &[TerminalInfo],
    report: &DailyReport,
    health: &HealthTable,
    suspensions: &SuspensionList,
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>收银 总部 Shouyin head office</title><style>{STYLE}</style></head><body>\
         <h1>收银 总部 <span class=\"en\">Shouyin head office</span></h1>\
         <p class=\"sub\">营业日 Business day {} ({}) · 生成于 generated {}</p>",
        report.date,
        esc(&report.timezone),
        now.format("%Y-%m-%d %H:%M:%S UTC")
    );

    let _ = write!(
        h,
        "<h2>今日营业额 <span class=\"en\">Today's takings</span></h2><table><thead><tr>\
         <th>{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th>\
         <th class=\"num\">{}</th><th class=\"num\">{}</th></tr></thead><tbody>",
        label("门店", "Store"),
        label("终端", "Terminals"),
        label("笔数", "Sales"),
        label("收款 (元)", "Gross (¥)"),
        label("退款 (元)", "Refunds (¥)"),
        label("净额 (元)", "Net (¥)"),
    );
    for s in &report.stores {
        let n = terminals.iter().filter(|t| t.store == s.store).count();
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{n}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            store_label(s.store.as_str(), health),
            s.takings.count,
            esc(&s.takings.gross),
            esc(&s.takings.refunds),
            esc(&s.takings.net)
        );
    }
    let t = &report.total;
    let _ = write!(
        h,
        "<tr class=\"total\"><td>合计 All stores</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr></tbody></table>",
        terminals.len(),
        t.count,
        esc(&t.gross),
        esc(&t.refunds),
        esc(&t.net)
    );
    if report.unreadable_events > 0 {
        let _ = write!(
            h,
            "<p class=\"warn\">{} 条收款/退款事件金额无法读取，未计入。<span class=\"en\">{} payment or refund events had no readable amount and are not counted.</span></p>",
            report.unreadable_events, report.unreadable_events
        );
    }

    channel_health(&mut h, health);
    let mut stores: Vec<String> = terminals.iter().map(|t| t.store.to_string()).collect();
    stores.sort();
    stores.dedup();
    channel_control(&mut h, suspensions, &stores, health);

    let _ = write!(
        h,
        "<h2>终端 <span class=\"en\">Terminals</span></h2><table><thead><tr>\
         <th>{}</th><th>{}</th><th>{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th>\
         <th class=\"num\">{}</th><th>{}</th></tr></thead><tbody>",
        label("终端", "Terminal"),
        label("门店", "Store"),
        label("最后同步", "Last sync"),
        label("已确认序号", "Acked seq"),
        label("缺口", "Gap at HQ"),
        label("未同步", "Backlog"),
        label("状态", "Status"),
    );
    if terminals.is_empty() {
        h.push_str("<tr><td colspan=\"7\">尚无终端 <span class=\"en\">No terminals enrolled yet</span></td></tr>");
    }
    for t in terminals {
        let gap = t.highest_seq.saturating_sub(t.acked_seq);
        let backlog = t
            .outbox_remaining
            .map(|n| n.to_string())
            .unwrap_or_else(|| "—".to_owned());
        let status = if t.revoked {
            "<span class=\"bad\">已撤销 revoked</span>"
        } else if t.last_sync_at.is_none() {
            "<span class=\"warn\">未同步 never synced</span>"
        } else {
            "<span class=\"ok\">正常 active</span>"
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{status}</td></tr>",
            esc(t.id.as_str()),
            store_label(t.store.as_str(), health),
            time(t.last_sync_at),
            t.acked_seq,
            if gap > 0 { format!("<span class=\"warn\">{gap}</span>") } else { "0".into() },
            esc(&backlog),
        );
    }
    h.push_str("</tbody></table></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
