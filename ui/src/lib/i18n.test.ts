import { describe, expect, it } from "vitest";
import { get } from "svelte/store";
import { translate, setLocale, t, locale, applyStartLanguage } from "./i18n";

describe("i18n", () => {
  it("speaks the glossary's words", () => {
    expect(translate("zh", "charge")).toBe("收款");
    expect(translate("zh", "alipay")).toBe("支付宝");
    expect(translate("zh", "unknown")).toBe("状态确认中");
    expect(translate("en", "charge")).toBe("Charge");
  });
  it("fills in values", () => {
    expect(translate("zh", "sync_waiting", { n: 5 })).toBe("未同步 5 条");
    expect(translate("en", "sync_waiting", { n: 5 })).toBe("5 events waiting");
  });
  it("switches and remembers the language", () => {
    setLocale("en");
    expect(get(locale)).toBe("en");
    expect(get(t)("cash")).toBe("Cash");
    setLocale("zh");
    expect(get(t)("cash")).toBe("现金");
    expect(localStorage.getItem("shouyin.locale")).toBe("zh");
  });
  it("starts in the store's language unless the user chose, and a pin beats both", () => {
    localStorage.removeItem("shouyin.locale");
    locale.set("en");
    applyStartLanguage({ default: "zh", pinned: false });
    expect(get(locale)).toBe("zh");
    setLocale("en"); // the user picks English: the store default no longer applies
    applyStartLanguage({ default: "zh", pinned: false });
    expect(get(locale)).toBe("en");
    applyStartLanguage({ default: "zh", pinned: true });
    expect(get(locale)).toBe("zh");
    applyStartLanguage({ default: null, pinned: false });
    expect(get(locale)).toBe("zh");
  });
});
