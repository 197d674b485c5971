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

describe("describeError", () => {
  it("says an answer that failed its signature check in its own words", () => {
    const e = { code: "channel_untrusted", message: "bad signature" };
    expect(describeError(zh, e)).toBe("支付渠道的应答验签失败：bad signature");
    expect(describeError(en, e)).toContain("signature check");
  });
  it("tells head office apart from the payment channels", () => {
    expect(describeError(zh, { code: "hq_unreachable", message: "x" })).toBe("无法连接总部：x");
    expect(describeError(en, { code: "hq_refused", message: "revoked" })).toBe(
      "Head office refused the request：revoked",
    );
    expect(describeError(en, { code: "hq_unreachable", message: "x" })).not.toContain("channel");
  });
  it("falls back for a code it does not know", () => {
    expect(describeError(zh, { code: "something_new", message: "m" })).toBe("出错了：m");
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
  it("has words in both languages", () => {
    for (const code of codes) {
      const key = `err_${code}` as Key;
      expect(translate("zh", key), code).not.toBe(key);
      expect(translate("en", key), code).not.toBe(key);
      expect(describeError(zh, { code, message: "m" }), code).not.toContain("出错了");
    }
  });
});
