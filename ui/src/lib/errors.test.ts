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
