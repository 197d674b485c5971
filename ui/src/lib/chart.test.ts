import { describe, it, expect } from "vitest";
import { barHeights, shares, hourAxis } from "./chart";

describe("chart scaling", () => {
  it("gives the largest bar the full height and the rest in proportion", () => {
    expect(barHeights([576628, 288314, 0], 150)).toEqual([150, 75, 0]);
  });

  it("keeps a tiny non-zero bar visible and draws negatives as nothing", () => {
    expect(barHeights([1_000_000, 1, -500], 100)).toEqual([100, 2, 0]);
  });

  it("draws nothing for an empty day", () => {
    expect(barHeights([0, 0], 100)).toEqual([0, 0]);
    expect(barHeights([], 100)).toEqual([]);
  });

  it("splits channels into shares of 100", () => {
    expect(shares([1338519, 1364206, 116174, 457558])).toEqual([40.9, 41.6, 3.5, 14]);
    expect(shares([0, 0])).toEqual([0, 0]);
  });

  it("starts the hour axis at the business day's cut-off", () => {
    const axis = hourAxis("04:00");
    expect(axis).toHaveLength(24);
    expect(axis.slice(0, 3)).toEqual([4, 5, 6]);
    expect(axis[23]).toBe(3);
  });
});
