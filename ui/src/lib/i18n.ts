// zh-CN first (the words of GLOSSARY.md), English beside it. The locale
// follows the system and can be switched; the choice is remembered.
import { writable, derived, get } from "svelte/store";

export type Locale = "zh" | "en";

const zh = {
  app_name: "收银",
  store: "门店",
  terminal: "收银台",
  amount: "金额",
  charge: "收款",
  pay_method: "支付方式",
  alipay: "支付宝",
  wechat: "微信支付",
  unionpay: "银联",
  cash: "现金",
  clear: "清除",
  recent: "今日收款",
  no_sales: "今天还没有收款",
  time: "时间",
  order_no: "订单号",
  state: "状态",
  paid: "已支付",
  pending: "等待付款",
  unknown: "状态确认中",
  created: "已创建",
  closed: "已关闭",
  failed: "支付失败",
  unverified: "待核实",
  part_refunded: "部分退款",
  refunded: "已退款",
  expired: "已过期",
  scan_alipay: "请使用支付宝扫码",
  scan_wechat: "请使用微信扫码",
  scan_unionpay: "请使用云闪付扫码",
  cancel: "取消",
  retry: "重试",
  back: "返回",
  paid_big: "支付成功",
  seconds_left: "秒后过期",
  checking: "正在向支付渠道确认…",
  cash_done: "现金收款完成",
  not_configured: "未配置",
  offline: "离线",
  degraded: "不稳定",
  nav_cashier: "收银",
  nav_history: "订单",
  nav_reports: "报表",
  nav_export: "导出",
  nav_reconcile: "对账",
  nav_shift: "交班",
  nav_settings: "设置",
  customer_display: "顾客显示屏",
  search: "搜索订单号、金额或渠道",
  events: "事件",
  channel_trade_no: "渠道交易号",
  cashier: "收银员",
  synced_all: "已全部同步",
  sync_waiting: "未同步 {n} 条",
  sync_offline_since: "离线，自 {t}",
  sync_not_enrolled: "未连接总部",
  sync_now: "立即同步",
  recovered: "启动时核对了 {n} 笔未完成的收款，其中 {p} 笔已支付",
  alarm: "警报",
  second_charge: "还有一笔收款未完成：{order}。确定要发起新的收款吗？",
  confirm_new_charge: "确认新收款",
  customer_page: "模拟顾客付款页面",
  language: "English",
  cancelled_but_paid: "顾客已付款，订单已支付",
  enter_amount: "请输入金额",
  press_channel: "选择支付方式完成收款",
  err_invalid_amount: "金额无效",
  err_channel_unavailable: "该支付方式暂不可用",
  err_conflict: "操作冲突",
  err_ledger_locked: "账本被其他程序占用",
  err_channel_unreachable: "无法连接支付渠道",
  err_other: "出错了",
  shortcut: "快捷键",
  reason: "原因",
  detail: "详情",
  no_results: "没有找到订单",
} as const;

export type Key = keyof typeof zh;

const en: Record<Key, string> = {
  app_name: "Shouyin",
  store: "Store",
  terminal: "Till",
  amount: "Amount",
  charge: "Charge",
  pay_method: "Payment method",
  alipay: "Alipay",
  wechat: "WeChat Pay",
  unionpay: "UnionPay",
  cash: "Cash",
  clear: "Clear",
  recent: "Today's sales",
  no_sales: "No sales yet today",
  time: "Time",
  order_no: "Order no.",
  state: "Status",
  paid: "Paid",
  pending: "Waiting for payment",
  unknown: "Checking status",
  created: "Created",
  closed: "Closed",
  failed: "Payment failed",
  unverified: "Unverified",
  part_refunded: "Partly refunded",
  refunded: "Refunded",
  expired: "Expired",
  scan_alipay: "Scan with Alipay",
  scan_wechat: "Scan with WeChat",
  scan_unionpay: "Scan with UnionPay",
  cancel: "Cancel",
  retry: "Retry",
  back: "Back",
  paid_big: "Payment received",
  seconds_left: "s left",
  checking: "Checking with the payment channel…",
  cash_done: "Cash sale recorded",
  not_configured: "Not configured",
  offline: "Offline",
  degraded: "Unstable",
  nav_cashier: "Till",
  nav_history: "Orders",
  nav_reports: "Reports",
  nav_export: "Export",
  nav_reconcile: "Reconcile",
  nav_shift: "Shift",
  nav_settings: "Settings",
  customer_display: "Customer display",
  search: "Search order no., amount or channel",
  events: "Events",
  channel_trade_no: "Channel transaction no.",
  cashier: "Cashier",
  synced_all: "All synced",
  sync_waiting: "{n} events waiting",
  sync_offline_since: "Offline since {t}",
  sync_not_enrolled: "Not connected to head office",
  sync_now: "Sync now",
  recovered: "Checked {n} unfinished payments at start; {p} were paid",
  alarm: "Alarm",
  second_charge: "A payment is still open: {order}. Start a new charge anyway?",
  confirm_new_charge: "Confirm new charge",
  customer_page: "Simulated customer payment page",
  language: "中文",
  cancelled_but_paid: "The customer had paid: the order is paid",
  enter_amount: "Enter an amount",
  press_channel: "Pick a payment method to charge",
  err_invalid_amount: "Invalid amount",
  err_channel_unavailable: "This payment method is unavailable",
  err_conflict: "Conflict",
  err_ledger_locked: "The ledger is locked by another program",
  err_channel_unreachable: "Cannot reach the payment channel",
  err_other: "Something went wrong",
  shortcut: "Shortcut",
  reason: "Reason",
  detail: "Details",
  no_results: "No orders found",
};

const dictionaries: Record<Locale, Record<Key, string>> = { zh, en };

function initial(): Locale {
  try {
    const saved = localStorage.getItem("shouyin.locale");
    if (saved === "zh" || saved === "en") return saved;
  } catch {
    // no storage (tests): fall through to the system language
  }
  const lang = typeof navigator !== "undefined" ? navigator.language : "zh-CN";
  return lang.toLowerCase().startsWith("zh") ? "zh" : "en";
}

export const locale = writable<Locale>(initial());

export function setLocale(l: Locale) {
  locale.set(l);
  try {
    localStorage.setItem("shouyin.locale", l);
  } catch {
    // not persisted; fine
  }
}

export function translate(l: Locale, key: Key, vars: Record<string, string | number> = {}): string {
  let text = dictionaries[l][key] ?? key;
  for (const [k, v] of Object.entries(vars)) text = text.replace(`{${k}}`, String(v));
  return text;
}

/** `$t("charge")` in components. */
export const t = derived(locale, (l) => (key: Key, vars?: Record<string, string | number>) =>
  translate(l, key, vars),
);

export function currentLocale(): Locale {
  return get(locale);
}
