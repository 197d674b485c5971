import { describe, it, expect } from "vitest";
import { businessToday, addDays } from "./dates";

describe("business days", () => {
  it("counts the hours before the cut-off to the day before", () => {
    // 02:30 in Shanghai on the 22nd is still the 21st's business day.
    expect(businessToday("Asia/Shanghai", "04:00", new Date("2026-11-21T18:30:00Z"))).toBe("2026-11-21");
    // 04:30 is the 22nd's.
    expect(businessToday("Asia/Shanghai", "04:00", new Date("2026-11-21T20:30:00Z"))).toBe("2026-11-22");
  });

  it("adds days across months and years", () => {
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
    expect(addDays("2026-03-01", -1)).toBe("2026-02-28");
  });
});
