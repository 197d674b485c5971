import { describe, expect, it } from "vitest";
import {
  changeFen,
  countDrawer,
  denominationLabel,
  DENOMINATIONS,
  formatFen,
  parseCount,
  parseFen,
  quickTenders,
} from "./cash";

describe("fen", () => {
  it("parses decimal yuan into integer fen without floats", () => {
    expect(parseFen("12.30")).toBe(1230);
    expect(parseFen("12.3")).toBe(1230);
    expect(parseFen("0.1")).toBe(10);
    expect(parseFen("100")).toBe(10000);
    expect(parseFen("¥1,234.05")).toBe(123405);
    // 0.1 + 0.2 is not 0.3 in floats; in fen it is.
    expect((parseFen("0.1") ?? 0) + (parseFen("0.2") ?? 0)).toBe(parseFen("0.3"));
  });
  it("refuses what is not an amount", () => {
    for (const bad of ["", "abc", "1.234", "-5", "1e3", "."]) expect(parseFen(bad)).toBeNull();
  });
  it("formats fen as a decimal string", () => {
    expect(formatFen(1230)).toBe("12.30");
    expect(formatFen(5)).toBe("0.05");
    expect(formatFen(0)).toBe("0.00");
    expect(formatFen(-250)).toBe("-2.50");
  });
});

describe("cash tender", () => {
  it("gives the change only once enough was handed over", () => {
    expect(changeFen(3780, 10000)).toBe(6220);
    expect(changeFen(3780, 3780)).toBe(0);
    expect(changeFen(3780, 3779)).toBeNull();
    expect(changeFen(3780, null)).toBeNull();
  });
  it("offers exact, the next round sum, 50 and 100", () => {
    expect(quickTenders(3780)).toEqual([3780, 4000, 5000, 10000]);
    expect(quickTenders(5000)).toEqual([5000, 10000]);
    expect(quickTenders(800)).toEqual([800, 1000, 5000, 10000]);
    expect(quickTenders(12850)).toEqual([12850, 13000, 20000]);
    expect(quickTenders(0)).toEqual([]);
  });
});

describe("drawer count by denomination", () => {
  it("knows the eight notes and coins from 100 yuan to 1 jiao", () => {
    expect(DENOMINATIONS).toEqual([10000, 5000, 2000, 1000, 500, 100, 50, 10]);
  });
  it("sums count × face value in fen", () => {
    const c = countDrawer({ 10000: "2", 5000: "1", 2000: "3", 1000: "", 500: "1", 100: "7", 50: "3", 10: "4" });
    // 200 + 50 + 60 + 0 + 5 + 7 + 1.50 + 0.40
    expect(c.totalFen).toBe(32390);
    expect(c.invalid).toEqual([]);
    expect(formatFen(c.totalFen)).toBe("323.90");
  });
  it("an empty count is zero, a bad one is flagged and left out", () => {
    expect(countDrawer({}).totalFen).toBe(0);
    const c = countDrawer({ 10000: "1", 50: "1.5", 10: "-2" });
    expect(c.totalFen).toBe(10000);
    expect(c.invalid).toEqual([50, 10]);
    expect(parseCount(" 12 ")).toBe(12);
    expect(parseCount("x")).toBeNull();
  });
  it("names denominations as people say them", () => {
    expect(denominationLabel(10000, "zh")).toBe("100 元");
    expect(denominationLabel(50, "zh")).toBe("5 角");
    expect(denominationLabel(10, "zh")).toBe("1 角");
    expect(denominationLabel(500, "en")).toBe("¥5");
    expect(denominationLabel(50, "en")).toBe("¥0.50");
  });
});
