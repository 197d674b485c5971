/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
// The codes as the Rust side exports them (ts-rs): a new code without
// words in both languages fails here.
import generated from "../api/generated/ErrorCode.ts?raw";
import { describeError } from "./errors";
import { translate } from "./i18n";
import type { Key } from "./i18n";

const zh = (key: Key, vars?: Record<string, string | number>) => translate("zh", key, vars);
const en = (key: Key, vars?: Record<string, string | number>) => translate("en", key, vars);

const latin = /[a-z]{3,}/;

describe("describeError", () => {
  it("says an answer that failed its signature check in its own words, without the backend's text", () => {
    const e = { code: "channel_untrusted", message: "bad signature", fields: {} };
    expect(describeError(zh, e)).toBe("支付渠道的应答验签失败");
    expect(describeError(en, e)).toContain("signature check");
  });
  it("tells head office apart from the payment channels", () => {
    expect(describeError(zh, { code: "hq_unreachable", message: "x" })).toBe("无法连接总部");
    expect(describeError(en, { code: "hq_refused", message: "revoked" })).toBe("Head office refused the request");
    expect(describeError(en, { code: "hq_unreachable", message: "x" })).not.toContain("channel");
  });
  it("says enrolment failures are head office's, never the payment channel's", () => {
    for (const detail of ["enrol_code", "enrol_refused", "enrol_code_empty"]) {
      const e = { code: "invalid_input", message: "head office refused the enrolment (403): bad code", fields: { detail } };
      expect(describeError(zh, e)).toContain("总部");
      expect(describeError(zh, e)).not.toContain("支付渠道");
      expect(describeError(en, e).toLowerCase()).toContain("head office");
    }
    for (const detail of ["terminal_id_taken", "already_enrolled", "enrolled_other_terminal"]) {
      const e = { code: "conflict", message: "m", fields: { detail, terminal: "T01" } };
      expect(describeError(zh, e)).toContain("总部");
      expect(describeError(zh, e)).toContain("T01");
    }
  });
  it("falls back for a code it does not know", () => {
    expect(describeError(zh, { code: "something_new", message: "m" })).toBe("出错了");
  });
  it("builds a wrong PIN from its fields, with the plural right in English", () => {
    const e = (n: string) => ({
      code: "pin_wrong",
      message: `wrong PIN for 收银员 王芳; ${n} attempt(s) left before a lock`,
      fields: { detail: "attempts_left", attempts_left: n, name: "收银员 王芳" },
    });
    expect(describeError(zh, e("4"))).toBe("PIN 错误，还可再试 4 次");
    expect(describeError(en, e("4"))).toBe("Wrong PIN; 4 attempts left");
    expect(describeError(en, e("1"))).toBe("Wrong PIN; 1 attempt left");
    expect(describeError(zh, e("1"))).not.toMatch(latin);
  });
  it("formats the per-sale limit as money", () => {
    const e = { code: "invalid_amount", message: "the amount is over the per-sale limit of 50000.00", fields: { detail: "over_limit", limit: "50000.00" } };
    expect(describeError(zh, e)).toBe("金额超过单笔上限 ¥50,000.00");
    expect(describeError(en, e)).toBe("The amount is over the per-sale limit of ¥50,000.00");
  });
  it("never shows a system error's text (os error 111)", () => {
    const e = { code: "channel_unreachable", message: "error sending request: Connection refused (os error 111)", fields: {} };
    expect(describeError(zh, e)).toBe("无法连接支付渠道");
    expect(describeError(en, e)).not.toContain("os error");
  });
  it("names the channel and the open payment in the screen's language", () => {
    const e = { code: "conflict", message: "order T01_1 (alipay, ¥12.30) is still pending", fields: { detail: "payment_open", channel: "alipay", amount: "12.30", order_no: "T01_1", state: "pending" } };
    expect(describeError(zh, e)).toBe("还有一笔支付宝收款未完成（¥12.30）");
    expect(describeError(en, e)).toBe("Another payment is still open: Alipay, ¥12.30");
    const close = { code: "channel_unreachable", message: "m", fields: { detail: "close", channel: "wechat" } };
    expect(describeError(zh, close)).toContain("微信支付");
  });
});

describe("bill file errors", () => {
  it("are said from their fields in the screen's language, without the English message", () => {
    const wrongChannel = {
      code: "bill_wrong_channel",
      message: "this is a WeChat Pay bill, not an Alipay bill",
      fields: { found: "wechat", wanted: "alipay" },
    };
    expect(describeError(zh, wrongChannel)).toBe("这是微信支付的账单，不是支付宝的账单；请选择对应的支付渠道");
    expect(describeError(en, wrongChannel)).toBe("This bill comes from WeChat Pay, not from Alipay; choose its payment channel");
    const badAmount = {
      code: "bill_unreadable",
      message: "line 4: \"8.0x\" under 应结订单金额 is not an amount",
      fields: { reason: "bad_amount", line: "4", column: "应结订单金额", value: "8.0x" },
    };
    expect(describeError(zh, badAmount)).toBe("无法读取账单文件：第 4 行“应结订单金额”的“8.0x”不是金额");
    expect(describeError(en, badAmount)).toBe('Cannot read the bill file: line 4: "8.0x" under 应结订单金额 is not an amount');
    const wrongDay = {
      code: "bill_wrong_day",
      message: "the bill is for another day (2026-11-21), not 2026-11-20",
      fields: { found: "2026-11-21", wanted: "2026-11-20", bill_type: "wechat_refund" },
    };
    expect(describeError(zh, wrongDay)).toBe(
      "账单是 2026-11-21 的，不是 2026-11-20 的；请把账单日期改为 2026-11-21（退款账单按退款成功的日期）",
    );
    // UnionPay's fixed-width file cut off: its line, in the screen's words.
    const badRow = {
      code: "bill_unreadable",
      message: "not a readable UnionPay bill: line 10: not a row of the 一般交易流水 (ZM) layout",
      fields: { reason: "bad_row", line: "10", layout: "一般交易流水 (ZM)" },
    };
    expect(describeError(zh, badRow)).toBe("无法读取账单文件：第 10 行不符合银联对账文件的定长格式（可能被截断或改动过）");
    expect(describeError(en, badRow)).toContain("line 10 does not follow the fixed-width layout of UnionPay's file");
    const unionpayWrongChannel = { code: "bill_wrong_channel", message: "x", fields: { found: "alipay", wanted: "unionpay" } };
    expect(describeError(zh, unionpayWrongChannel)).toBe("这是支付宝的账单，不是银联的账单；请选择对应的支付渠道");
    const accountLog = { code: "bill_account_log", message: "x" };
    expect(describeError(zh, accountLog)).toContain("业务明细");
    expect(describeError(en, accountLog)).toContain("业务明细");
  });
});

describe("every error code", () => {
  const codes = [...generated.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  it("is read from the generated bindings", () => {
    expect(codes.length).toBeGreaterThan(20);
    expect(codes).toContain("forbidden");
  });
  it("has words in both languages, and the Chinese words are Chinese", () => {
    for (const code of codes) {
      const key = `err_${code}` as Key;
      expect(translate("zh", key), code).not.toBe(key);
      expect(translate("en", key), code).not.toBe(key);
      expect(describeError(zh, { code, message: "some English text" }), code).not.toContain("出错了");
      expect(describeError(zh, { code, message: "some English text" }), code).not.toContain("English");
    }
  });
});
