// Words built from the backend's facts (an order's reason, a countdown),
// so nothing the Rust side writes for its logs reaches the screen.
import type { OrderDto } from "../api/client";
import { hasKey, type Key } from "./i18n";

type T = (key: Key, vars?: Record<string, string | number>) => string;

/** A countdown as minutes and seconds: 299 → "4:59". */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// The reasons the ledger stores, by how they start (crates/api/src/payments.rs).
const REASONS: [string, Key][] = [
  ["cancelled by the cashier", "reason_cancelled"],
  ["closed before a new charge", "reason_replaced"],
  ["closed on recovery", "reason_recovery"],
  ["interrupted before the cash sale", "reason_interrupted"],
  ["expired", "reason_expired"],
  ["the create call was not answered", "reason_no_answer"],
  ["the channel reports the payment failed", "reason_channel_failed"],
  ["refunded at the channel", "reason_refunded_at_channel"],
  ["manually confirmed", "reason_manual"],
  ["the channel could not confirm", "reason_manual"],
];

/** Why an order ended (or is unknown), in the screen's language. */
export function orderReason(t: T, order: Pick<OrderDto, "reason" | "state">): string {
  const reason = order.reason ?? "";
  for (const [start, key] of REASONS) if (reason.startsWith(start)) return t(key);
  // A channel's refusal is stored as "<channel code>: <its message>"; the code
  // is what a support call needs, the message is in the channel's language.
  const code = /^([A-Za-z][A-Za-z0-9_.]*[A-Z_][A-Za-z0-9_.]*):/.exec(reason)?.[1];
  if (code) return t("reason_rejected", { code });
  if (order.state === "unknown" || order.state === "created") return t("reason_no_answer");
  return t("reason_other");
}

/** A list joined the way the language says "A, B or C". */
export function orList(t: T, items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(t("list_sep"))}${t("list_or")}${items[items.length - 1]}`;
}

/** The words for an event kind as the ledger records it. */
export function eventName(t: T, kind: string): string {
  const named = `ev_${kind}`;
  if (hasKey(named)) return t(named);
  const order = /^order_(.+)$/.exec(kind)?.[1];
  if (order && hasKey(order)) return t("ev_order_state", { state: t(order) });
  const audit = /^audit_(.+)$/.exec(kind)?.[1];
  if (audit) return t("ev_audit", { action: hasKey(`ev_${audit}`) ? t(`ev_${audit}` as Key) : audit });
  return kind;
}

/** A ledger state as the reconcile lines carry it: an order's state, or a
 *  refund's as `refund_<state>`. */
export function stateWords(t: T, state: string): string {
  return hasKey(state) ? t(state) : state;
}
