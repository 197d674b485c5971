import { describe, expect, it } from "vitest";
import { viewsFor, homeView, mayChangeOrders } from "./session";
import type { UserDto } from "../api/generated/UserDto";

const user = (roles: UserDto["roles"]): UserDto => ({ id: 1, name: "x", roles, active: true, locked_until: null });

describe("the nav by role", () => {
  it("shows a cashier the till and her shift only", () => {
    expect(viewsFor(user(["cashier"]))).toEqual(["cashier", "shift"]);
    expect(homeView(user(["cashier"]))).toBe("cashier");
  });
  it("shows a manager the till, orders, reports, shift and settings, not export or reconcile", () => {
    expect(viewsFor(user(["manager", "cashier"]))).toEqual(["cashier", "history", "reports", "shift", "settings"]);
    expect(homeView(user(["manager"]))).toBe("cashier");
  });
  it("lands an accountant on the reports, with no till", () => {
    const views = viewsFor(user(["accountant"]));
    expect(views).toEqual(["history", "reports", "export", "reconcile"]);
    expect(views).not.toContain("cashier");
    expect(homeView(user(["accountant"]))).toBe("reports");
  });
  it("opens nothing before login", () => {
    expect(viewsFor(null)).toEqual([]);
    expect(homeView(null)).toBeNull();
  });
  it("lets only a manager change orders", () => {
    expect(mayChangeOrders(user(["manager"]))).toBe(true);
    expect(mayChangeOrders(user(["accountant"]))).toBe(false);
    expect(mayChangeOrders(user(["cashier"]))).toBe(false);
  });
});
