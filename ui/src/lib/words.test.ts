/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { countdown, orderReason, orList, eventName, stateWords } from "./words";
import { translate, type Key } from "./i18n";

const zh = (key: Key, vars?: Record<string, string | number>) => translate("zh", key, vars);
const en = (key: Key, vars?: Record<string, string | number>) => translate("en", key, vars);

describe("words built from facts", () => {
  it("reads a countdown as minutes and seconds", () => {
    expect(countdown(299)).toBe("4:59");
    expect(countdown(60)).toBe("1:00");
    expect(countdown(5)).toBe("0:05");
    expect(countdown(-3)).toBe("0:00");
    expect(zh("expires_in", { t: countdown(125) })).toBe("2:05 后过期");
  });
  it("says why an order ended in the screen's language, never the ledger's English", () => {
    expect(orderReason(zh, { reason: "cancelled by the cashier", state: "closed" })).toBe("收银员已取消");
    expect(orderReason(en, { reason: "cancelled by the cashier", state: "closed" })).toBe("cancelled by the cashier");
    expect(orderReason(zh, { reason: "expired: not paid in time", state: "closed" })).toBe("顾客未在时限内付款，已过期");
    expect(orderReason(zh, { reason: "ACQ.TRADE_HAS_CLOSE: 交易已经关闭", state: "failed" })).toBe("支付渠道拒绝（ACQ.TRADE_HAS_CLOSE）");
    expect(orderReason(zh, { reason: "error sending request: Connection refused (os error 111)", state: "unknown" })).toBe("支付渠道没有应答");
    expect(orderReason(zh, { reason: "something new", state: "closed" })).toBe("详见订单记录");
  });
  it("joins alternatives as the language does", () => {
    expect(orList(zh, ["现金", "微信支付"])).toBe("现金或微信支付");
    expect(orList(en, ["Cash", "WeChat Pay", "UnionPay"])).toBe("Cash, WeChat Pay or UnionPay");
    expect(zh("use_instead", { channels: orList(zh, ["现金", "微信支付"]) })).toBe("请改用现金或微信支付");
  });
  it("gets plurals right in English", () => {
    expect(en("rc_differences", { n: 1 })).toBe("1 difference");
    expect(en("rc_differences", { n: 2 })).toBe("2 differences");
    expect(zh("rc_differences", { n: 1 })).toBe("1 条差异");
    expect(en("sync_waiting", { n: 1 })).toBe("1 event waiting");
  });
  it("names event kinds through the dictionary", () => {
    expect(eventName(zh, "order_paid")).toBe("订单：已支付");
    expect(eventName(en, "order_part_refunded")).toBe("Order Partly refunded".replace("Partly refunded", en("part_refunded")));
  });
});

import { EVENT_KINDS, AUDIT_ACTIONS } from "../api/generated/EventKinds";
import orderStates from "../api/generated/OrderState.ts?raw";
import refundStates from "../api/generated/RefundStateDto.ts?raw";
import reconcileClasses from "../api/generated/ReconcileClass.ts?raw";
import { hasKey } from "./i18n";

const names = (raw: string) => [...raw.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);

describe("every event kind, order state and reconcile state has words in both languages", () => {
  it("reads the lists the Rust side exports", () => {
    expect(EVENT_KINDS).toContain("order_created");
    expect(AUDIT_ACTIONS).toContain("refund_requested");
    expect(names(orderStates)).toContain("part_refunded");
    expect(names(refundStates)).toContain("succeeded");
  });
  it("names each event kind (order_<state>, audit_<action> and the rest)", () => {
    const kinds = [
      ...EVENT_KINDS,
      ...names(orderStates).map((s) => `order_${s}`),
      ...AUDIT_ACTIONS.map((a) => `audit_${a}`),
    ];
    for (const kind of kinds) {
      for (const t of [zh, en]) {
        const words = eventName(t, kind);
        expect(words, kind).not.toContain(kind);
        expect(words, kind).not.toMatch(/[a-z]+_[a-z]+/);
      }
      expect(eventName(zh, kind), kind).not.toMatch(/[a-z]{3,}/);
    }
  });
  it("names each order state and each refund state as a reconcile line shows it", () => {
    const states = [...names(orderStates), ...names(refundStates).map((s) => `refund_${s}`)];
    for (const s of states) {
      expect(hasKey(s), s).toBe(true);
      expect(stateWords(zh, s), s).not.toMatch(/[a-z]{3,}/);
      expect(stateWords(en, s), s).not.toContain("_");
    }
    for (const c of names(reconcileClasses)) expect(hasKey(`rc_${c}`), c).toBe(true);
  });
});

import syncStates from "../api/generated/SyncState.ts?raw";

describe("sync problems", () => {
  it("have words for every state that can carry one, in both languages", () => {
    for (const s of names(syncStates).filter((s) => !["not_enrolled", "caught_up"].includes(s))) {
      expect(hasKey(`sync_problem_${s}`), s).toBe(true);
      expect(zh(`sync_problem_${s}` as Key), s).toContain("总部");
      expect(en(`sync_problem_${s}` as Key).toLowerCase(), s).toMatch(/head office|sync/);
    }
  });
});
