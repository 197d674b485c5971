import { describe, expect, it } from "vitest";
import { ScanDetector, codeShape, isOrderReference, mmss, failureKey, SCAN_MAX_GAP_MS } from "./scanner";

/** Type `text` into the detector `gap` ms apart from `start`, then Enter after `enterGap`. */
function type(d: ScanDetector, text: string, start: number, gap: number, amount = "", enterGap = gap) {
  let at = start;
  const results = [];
  for (const ch of text) {
    results.push(d.key(ch, at, amount));
    at += gap;
  }
  results.push(d.key("Enter", at - gap + enterGap, amount));
  return results[results.length - 1];
}

describe("code shapes", () => {
  it("knows each channel's code", () => {
    expect(codeShape("134567890123456789")).toBe("wechat");
    expect(codeShape("103456789012345678")).toBe("wechat");
    expect(codeShape("2834567890123456")).toBe("alipay");
    expect(codeShape("301234567890123456789012")).toBe("alipay");
    expect(codeShape("6212345678901234567")).toBe("unionpay");
  });
  it("refuses other shapes", () => {
    for (const s of ["", "1234", "183456789012345678", "13456789012345678", "283456789012345", "3012345678901234567890123", "12a456789012345678"]) {
      expect(codeShape(s)).toBeNull();
    }
  });
});

describe("scanner bursts", () => {
  it("a scanner's burst ending in Enter is a scan", () => {
    const d = new ScanDetector();
    expect(type(d, "134567890123456789", 1000, 8, "12.30")).toEqual({
      kind: "scan",
      code: "134567890123456789",
      channel: "wechat",
      amountBefore: "12.30",
    });
  });
  it("a person typing the same digits is not", () => {
    const d = new ScanDetector();
    expect(type(d, "134567890123456789", 1000, 140)).toEqual({ kind: "enter" });
  });
  it("a fast burst of the wrong shape is not a scan", () => {
    const d = new ScanDetector();
    expect(type(d, "1234567890", 1000, 5)).toEqual({ kind: "enter" });
    expect(type(d, "993456789012345678", 5000, 5)).toEqual({ kind: "enter" });
  });
  it("digits the cashier typed before the burst are not part of the code", () => {
    const d = new ScanDetector();
    // The cashier keys 8, 8 slowly (the amount), then scans.
    d.key("8", 0, "");
    d.key("8", 300, "8");
    const r = type(d, "283456789012345678", 2000, 10, "88");
    expect(r).toEqual({ kind: "scan", code: "283456789012345678", channel: "alipay", amountBefore: "88" });
  });
  it("a pause inside the burst breaks it", () => {
    const d = new ScanDetector();
    let at = 0;
    for (const ch of "134567890") { d.key(ch, at, ""); at += 10; }
    at += SCAN_MAX_GAP_MS + 100;
    for (const ch of "123456789") { d.key(ch, at, ""); at += 10; }
    expect(d.key("Enter", at, "")).toEqual({ kind: "enter" });
  });
  it("an Enter long after the digits is the cashier's own", () => {
    const d = new ScanDetector();
    expect(type(d, "134567890123456789", 0, 8, "", 600)).toEqual({ kind: "enter" });
  });
  it("UnionPay codes are recognised (the backend says it is not enabled)", () => {
    const d = new ScanDetector();
    expect(type(d, "6212345678901234567", 0, 6)).toMatchObject({ kind: "scan", channel: "unionpay" });
  });
  it("full-width digits from an input method count", () => {
    const d = new ScanDetector();
    expect(type(d, "１３４５６７８９０１２３４５６７８９", 0, 6)).toMatchObject({ kind: "scan", code: "134567890123456789" });
  });
  it("another key in between resets the burst", () => {
    const d = new ScanDetector();
    let at = 0;
    for (const ch of "13456789") { d.key(ch, at, ""); at += 5; }
    expect(d.key("+", at, "")).toEqual({ kind: "other" });
    for (const ch of "0123456789") { d.key(ch, (at += 5), ""); }
    expect(d.key("Enter", at + 5, "")).toEqual({ kind: "enter" });
  });
});

describe("scanning a receipt or a transaction number", () => {
  it("knows an order number and a channel's transaction number", () => {
    expect(isOrderReference("T07_20261130143012_000042")).toBe(true);
    expect(isOrderReference("2026113022001412345678901234")).toBe(true);
    expect(isOrderReference("4200001234202611301234567890")).toBe(true);
    expect(isOrderReference("T07_2026113014301_000042")).toBe(false);
    expect(isOrderReference("12.30")).toBe(false);
    expect(isOrderReference("134567890123456789")).toBe(false);
  });
  it("a receipt's barcode scanned at the till is a lookup, its letters part of the burst", () => {
    const d = new ScanDetector();
    const results = [];
    let at = 1000;
    for (const ch of "T07_20261130143012_000042") results.push(d.key(ch, (at += 4), "12"));
    // The first letter may be a shortcut until the next key says otherwise;
    // every later letter or underscore is part of the burst.
    expect(results[0]).toEqual({ kind: "other" });
    expect(results[3]).toEqual({ kind: "burst" });
    expect(d.key("Enter", at + 10, "")).toEqual({ kind: "lookup", code: "T07_20261130143012_000042", amountBefore: "12" });
  });
  it("a transaction number scanned is a lookup, typed slowly it is not", () => {
    const d = new ScanDetector();
    expect(type(d, "2026113022001412345678901234", 0, 5)).toMatchObject({ kind: "lookup", code: "2026113022001412345678901234" });
    expect(type(d, "2026113022001412345678901234", 5000, 150)).toEqual({ kind: "enter" });
  });
  it("a shortcut letter right after the amount's digits is a shortcut, not a burst", () => {
    const d = new ScanDetector();
    d.key("2", 0, "");
    d.key("0", 5, "2");
    expect(d.key("w", 10, "20")).toEqual({ kind: "other" });
  });
  it("a person's shortcut letter alone is not a burst", () => {
    const d = new ScanDetector();
    expect(d.key("W", 0, "")).toEqual({ kind: "other" });
    expect(d.key("A", 500, "")).toEqual({ kind: "other" });
  });
});

describe("panel helpers", () => {
  it("counts down as mm:ss", () => {
    expect(mmss(45)).toBe("00:45");
    expect(mmss(61.7)).toBe("01:01");
    expect(mmss(-3)).toBe("00:00");
  });
  it("says a failure in plain words from the channel's code", () => {
    expect(failureKey("NOT_ENOUGH: 用户账户余额不足")).toBe("pc_reason_not_enough");
    expect(failureKey("ACQ.BUYER_BALANCE_NOT_ENOUGH: 买家余额不足")).toBe("pc_reason_not_enough");
    expect(failureKey("AUTHCODEEXPIRE: 付款码已过期")).toBe("pc_reason_code_expired");
    expect(failureKey("ACQ.PAYMENT_AUTH_CODE_INVALID: 付款码已使用")).toBe("pc_reason_code_invalid");
    expect(failureKey("the customer's payment failed or was declined; reversed at the channel, nothing was taken")).toBe("pc_reason_declined");
    expect(failureKey("the customer did not confirm in time; reversed at the channel, nothing was taken")).toBe("pc_reason_timeout");
    expect(failureKey("cancelled by the cashier; cancelled at the channel, nothing was taken")).toBe("pc_reason_cancelled");
    expect(failureKey("SOMETHING: else")).toBe("pc_reason_other");
    expect(failureKey(null)).toBe("pc_reason_other");
  });
});
