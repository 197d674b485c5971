import { describe, expect, it } from "vitest";
import { press, keyFromEvent, displayTyped, retryNeedsConfirmation, RETRY_CONFIRM_WINDOW_MS, type Key } from "./keypad";

function typeKeys(keys: Key[]): string {
  return keys.reduce((amount, k) => press(amount, k), "");
}

describe("keypad", () => {
  it("keys an amount with fen", () => {
    expect(typeKeys(["1", "2", ".", "3", "0"])).toBe("12.30");
  });
  it("refuses a third decimal and a second point", () => {
    expect(typeKeys(["1", ".", "2", "3", "4"])).toBe("1.23");
    expect(typeKeys(["1", ".", ".", "5"])).toBe("1.5");
  });
  it("starts a bare point with a zero and drops leading zeros", () => {
    expect(typeKeys([".", "5"])).toBe("0.5");
    expect(typeKeys(["0", "0", "7"])).toBe("7");
    expect(typeKeys(["00"])).toBe("0");
    expect(typeKeys(["5", "00"])).toBe("500");
  });
  it("backspace and clear", () => {
    expect(typeKeys(["1", "2", "backspace"])).toBe("1");
    expect(typeKeys(["1", "2", "clear"])).toBe("");
    expect(typeKeys(["backspace"])).toBe("");
  });
  it("caps the length", () => {
    const many = Array<Key>(20).fill("9");
    expect(typeKeys(many).length).toBe(11);
  });
  it("maps keyboard and IME keys", () => {
    expect(keyFromEvent("7")).toBe("7");
    expect(keyFromEvent("７")).toBe("7");
    expect(keyFromEvent("。")).toBe(".");
    expect(keyFromEvent("．")).toBe(".");
    expect(keyFromEvent("Backspace")).toBe("backspace");
    expect(keyFromEvent("Escape")).toBe("clear");
    expect(keyFromEvent("Enter")).toBe("enter");
    expect(keyFromEvent("x")).toBeNull();
  });
  it("shows what is being typed", () => {
    expect(displayTyped("")).toBe("¥0");
    expect(displayTyped("12.3")).toBe("¥12.3");
  });
});

describe("retry after a failed payment", () => {
  const at = Date.parse("2026-11-21T06:30:00Z");
  const order = (state: string) => ({ state, created_at: "2026-11-21T06:30:00Z" });
  it("needs the cashier's confirmation within a minute of the failure", () => {
    expect(retryNeedsConfirmation(order("failed"), at + 5_000)).toBe(true);
    expect(retryNeedsConfirmation(order("failed"), at + RETRY_CONFIRM_WINDOW_MS - 1)).toBe(true);
  });
  it("goes straight ahead later, or for a sale that did not fail", () => {
    expect(retryNeedsConfirmation(order("failed"), at + RETRY_CONFIRM_WINDOW_MS)).toBe(false);
    expect(retryNeedsConfirmation(order("closed"), at + 5_000)).toBe(false);
  });
  it("asks when the time cannot be read", () => {
    expect(retryNeedsConfirmation({ state: "failed", created_at: "?" }, at)).toBe(true);
  });
});
