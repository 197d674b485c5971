// Who is logged in at the till, as the UI knows it. The Rust side holds the
// real session (per window) and decides what each role may do; the UI only
// shows each role its own screens. It is kept for the window's life only,
// so a restart asks for the PIN again.
import { writable, get } from "svelte/store";
import type { UserDto } from "../api/generated/UserDto";
import type { UserRole } from "../api/generated/UserRole";

export const session = writable<UserDto | null>(null);

export function logIn(user: UserDto) {
  session.set(user);
}

export function logOut() {
  session.set(null);
}

/** The logged-in user's name, or undefined before anyone logs in. */
export function currentName(): string | undefined {
  return get(session)?.name;
}

export function isManager(user: UserDto | null): boolean {
  return !!user && user.roles.includes("manager");
}

export type View = "cashier" | "history" | "reports" | "export" | "reconcile" | "shift" | "settings";

/** The screens in the nav's order. */
export const VIEWS: View[] = ["cashier", "history", "reports", "export", "reconcile", "shift", "settings"];

// Each role's screens, as crates/api/commands.list lets it use them: the
// cashier the till and her shift; the manager also orders (refunds, voids),
// reports and settings; the accountant reports, orders (read only), export
// and reconcile.
const SCREENS: Record<UserRole, View[]> = {
  cashier: ["cashier", "shift"],
  manager: ["cashier", "history", "reports", "shift", "settings"],
  accountant: ["history", "reports", "export", "reconcile"],
};

/**
 * A screen asked for by another screen: the till that scanned a receipt
 * opens that order in Orders. App switches view; the screen takes `order`.
 */
export const navigation = writable<{ view: View; order?: string } | null>(null);

/** The screens a user's roles open, in nav order; none before login. */
export function viewsFor(user: UserDto | null): View[] {
  if (!user) return [];
  const open = new Set(user.roles.flatMap((r) => SCREENS[r] ?? []));
  return VIEWS.filter((v) => open.has(v));
}

/** Where a user lands after login: the till for whoever sells, the reports
 *  for an accountant. */
export function homeView(user: UserDto | null): View | null {
  const views = viewsFor(user);
  if (views.includes("cashier")) return "cashier";
  if (views.includes("reports")) return "reports";
  return views[0] ?? null;
}

/** Whether the user may change orders (refund, void): a manager. */
export function mayChangeOrders(user: UserDto | null): boolean {
  return isManager(user);
}
