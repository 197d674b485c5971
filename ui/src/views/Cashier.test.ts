import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { render, screen, fireEvent, cleanup, waitFor } from "@testing-library/svelte";
import { mockIPC, clearMocks } from "@tauri-apps/api/mocks";
import { get } from "svelte/store";
import { t, translate } from "../lib/i18n";
import Cashier from "./Cashier.svelte";
import type { TerminalDto } from "../api/generated/TerminalDto";
import type { OrderDto } from "../api/generated/OrderDto";

const terminal: TerminalDto = {
  store: "测试门店",
  demo: false,
  needs_setup: false,
  terminal: "T01",
  timezone: "Asia/Shanghai",
  day_cutoff: "04:00",
  sale_limit: "50000.00",
  channels: [
    { channel: "alipay", available: false, reason: "offline: no answer", suspended: null },
    { channel: "wechat", available: true, reason: null, suspended: null },
    { channel: "unionpay", available: false, reason: "not configured", suspended: null },
    { channel: "cash", available: true, reason: null, suspended: null },
  ],
  ui_language: { default: "zh", pinned: false },
};

function order(amount: string): OrderDto {
  return {
    id: 1, order_no: "T01_20261121120000_000001", amount, amount_fen: 1230, currency: "CNY",
    channel: "cash", state: "paid", cashier: null, note: null, created_at: "2026-11-21T04:00:00.000Z",
    paid_at: "2026-11-21T04:00:00.000Z", expires_at: null, qr_payload: null, channel_trade_no: null,
    refunded: "0.00", business_date: "2026-11-21", reason: null, approver: null, shift_id: 3, tendered: null, change: null,
  } as OrderDto;
}

describe("the cashier screen", () => {
  let calls: { cmd: string; args: Record<string, unknown> }[];
  beforeEach(() => {
    calls = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      if (cmd === "orders_recent") return [];
      if (cmd === "shift_current") return { id: 3, cashier: "收银员 王芳", opened_at: "2026-11-21T01:00:00Z", float: "200.00", float_fen: 20000, closed_at: null, movements: [] };
      if (cmd === "order_charge") {
        const req = (args as { req: { amount: string; channel: string; tendered?: string } }).req;
        if (req.amount === "12.345") throw { code: "invalid_amount", message: "at most two decimal places (fen) are allowed" };
        if (req.channel === "wechat") {
          return { ...order(req.amount), channel: "wechat", state: "pending", paid_at: null, qr_payload: "weixin://wxpay/bizpayurl?pr=abc" };
        }
        return { ...order(req.amount), tendered: req.tendered ?? null, change: req.tendered ? "37.70" : null };
      }
      if (cmd === "qr_render") return "<svg></svg>";
      if (cmd === "order_cancel") throw { code: "channel_untrusted", message: "the channel's answer did not verify" };
      return null;
    }, { shouldMockEvents: true });
  });
  afterEach(async () => {
    cleanup();
    // Let the component's event unlistening finish before the mocks go.
    await new Promise((r) => setTimeout(r, 10));
    clearMocks();
  });

  it("keys 12.30 and takes it as cash", async () => {
    render(Cashier, { props: { terminal } });
    for (const k of ["1", "2", ".", "3", "0"]) await fireEvent.click(screen.getByTestId(`key-${k}`));
    expect(screen.getByTestId("amount").textContent).toBe("¥12.30");
    await screen.findByTestId("till-shift");
    await fireEvent.click(screen.getByTestId("channel-cash"));
    // The cash handed over first: nothing is booked until it is confirmed.
    await screen.findByTestId("cash-tender");
    expect(calls.some((c) => c.cmd === "order_charge")).toBe(false);
    await fireEvent.click(screen.getByTestId("tender-50.00"));
    expect(screen.getByTestId("tender-change").textContent).toBe("¥37.70");
    await fireEvent.click(screen.getByTestId("tender-confirm"));
    expect((await screen.findByTestId("cash-done")).textContent).toContain("¥37.70");
    const charge = calls.find((c) => c.cmd === "order_charge");
    expect((charge?.args as { req: { amount: string; channel: string } }).req).toMatchObject({ amount: "12.30", channel: "cash", tendered: "50.00" });
    // No cashier's name on the wire: Rust takes it from the session.
    expect(Object.keys((charge?.args as { req: object }).req)).not.toContain("cashier");
    // The amount is cleared for the next customer.
    expect(screen.getByTestId("amount").textContent).toBe("¥0");
  });

  it("stops at the fen and charges nothing without an amount", async () => {
    render(Cashier, { props: { terminal } });
    await fireEvent.click(screen.getByTestId("channel-cash"));
    expect(await screen.findByTestId("error")).toBeTruthy();
    expect(calls.some((c) => c.cmd === "order_charge")).toBe(false);
    for (const k of ["1", "2", ".", "3", "4", "5"]) await fireEvent.click(screen.getByTestId(`key-${k}`));
    expect(screen.getByTestId("amount").textContent).toBe("¥12.34");
  });

  it("disables an offline or unconfigured channel and says why", () => {
    render(Cashier, { props: { terminal } });
    expect((screen.getByTestId("channel-alipay") as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId("channel-unionpay") as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByTestId("channel-wechat") as HTMLButtonElement).disabled).toBe(false);
    expect(screen.getByTestId("channel-alipay").getAttribute("title")).toContain("offline");
  });

  it("shows a channel head office suspended as 暂停使用 with the reason, disabled", () => {
    const suspended: TerminalDto = {
      ...terminal,
      channels: terminal.channels.map((c) =>
        c.channel === "wechat" ? { ...c, available: false, reason: "suspended: 微信通道故障", suspended: "微信通道故障" } : c,
      ),
    };
    render(Cashier, { props: { terminal: suspended } });
    const button = screen.getByTestId("channel-wechat") as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    const words = get(t)("channel_suspended", { reason: "微信通道故障" });
    expect(button.textContent).toContain(words);
    expect(button.getAttribute("title")).toBe(words);
    expect(translate("zh", "channel_suspended", { reason: "微信通道故障" })).toBe("暂停使用 — 微信通道故障");
    expect(translate("en", "channel_suspended", { reason: "x" })).toBe("Suspended — x");
  });

  it("enables UnionPay once the channel is configured, and charges it", async () => {
    const withUnionpay: TerminalDto = {
      ...terminal,
      channels: terminal.channels.map((c) =>
        c.channel === "unionpay" ? { ...c, available: true, reason: null } : c,
      ),
    };
    render(Cashier, { props: { terminal: withUnionpay } });
    const button = screen.getByTestId("channel-unionpay") as HTMLButtonElement;
    expect(button.disabled).toBe(false);
    for (const k of ["8", ".", "8"]) await fireEvent.click(screen.getByTestId(`key-${k}`));
    await fireEvent.click(button);
    await waitFor(() =>
      expect(calls.some((c) => c.cmd === "order_charge" && JSON.stringify(c.args).includes("unionpay"))).toBe(true),
    );
  });

  it("says a cancel answered with a bad signature in its own words", async () => {
    render(Cashier, { props: { terminal } });
    for (const k of ["1", "2", ".", "3", "0"]) await fireEvent.click(screen.getByTestId(`key-${k}`));
    await fireEvent.click(screen.getByTestId("channel-wechat"));
    const cancel = (await screen.findByTestId("cancel")) as HTMLButtonElement;
    await waitFor(() => expect(cancel.disabled).toBe(false));
    await fireEvent.click(cancel);
    const error = await screen.findByTestId("error");
    expect(error.textContent).toContain(get(t)("err_channel_untrusted"));
    expect(error.textContent).not.toContain(get(t)("err_other"));
  });
});
