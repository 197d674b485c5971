import { describe, it, expect } from "vitest";
import { pinPress, pinReady, lockSeconds } from "./pin";

describe("PIN pad", () => {
  it("takes digits up to six and no more", () => {
    let pin = "";
    for (const k of ["1", "2", "3", "4", "5", "6", "7"] as const) pin = pinPress(pin, k);
    expect(pin).toBe("123456");
    expect(pinPress(pin, "back")).toBe("12345");
    expect(pinPress(pin, "clear")).toBe("");
  });

  it("is ready with four to six digits only", () => {
    expect(pinReady("123")).toBe(false);
    expect(pinReady("1234")).toBe(true);
    expect(pinReady("123456")).toBe(true);
    expect(pinReady("1234567")).toBe(false);
    expect(pinReady("12a4")).toBe(false);
  });

  it("reads the lock's seconds from the api's message or locked_until", () => {
    expect(lockSeconds("收银员 王芳 is locked after too many wrong PINs; try again in 30 s (until …)", null, 0)).toBe(30);
    const now = Date.parse("2026-11-21T10:00:00Z");
    expect(lockSeconds(null, "2026-11-21T10:00:45Z", now)).toBe(45);
    expect(lockSeconds(null, "2026-11-21T09:59:00Z", now)).toBeNull();
    expect(lockSeconds("wrong PIN", null, now)).toBeNull();
  });
});
