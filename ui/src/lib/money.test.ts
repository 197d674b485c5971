import { describe, expect, it } from "vitest";
import { yuan, hhmm, dateTime, setStoreTimeZone } from "./money";

describe("yuan", () => {
  it("formats the backend's decimal strings without arithmetic", () => {
    expect(yuan("12.30")).toBe("¥12.30");
    expect(yuan("0.05")).toBe("¥0.05");
    expect(yuan("1234567.80")).toBe("¥1,234,567.80");
    expect(yuan("-12.30")).toBe("-¥12.30");
    expect(yuan("7")).toBe("¥7.00");
  });
  it("keeps every fen of large amounts (no float rounding)", () => {
    expect(yuan("90071992547409.93")).toBe("¥90,071,992,547,409.93");
  });
});

describe("zero", () => {
  it("has no sign", () => {
    expect(yuan("-0.00")).toBe("¥0.00");
    expect(yuan("-0")).toBe("¥0.00");
    expect(yuan("-0.01")).toBe("-¥0.01");
  });
});

describe("times", () => {
  it("are shown on the store's clock, not the machine's", () => {
    setStoreTimeZone("Asia/Shanghai");
    expect(hhmm("2026-11-30T06:37:00Z")).toBe("14:37");
    expect(dateTime("2026-11-30T20:05:09Z")).toBe("2026-12-01 04:05:09");
    setStoreTimeZone("Europe/London");
    expect(hhmm("2026-11-30T06:37:00Z")).toBe("06:37");
    setStoreTimeZone("Not/AZone");
    expect(hhmm("2026-11-30T06:37:00Z")).toBe("06:37");
    setStoreTimeZone("Asia/Shanghai");
    expect(hhmm("")).toBe("");
    expect(hhmm("garbage")).toBe("");
  });
});
