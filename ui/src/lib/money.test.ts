import { describe, expect, it } from "vitest";
import { yuan } from "./money";

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
