import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, cleanup, fireEvent } from "@testing-library/svelte";
import { setLocale } from "../../lib/i18n";
import PaymentPanel from "./PaymentPanel.svelte";
import type { OrderDto } from "../../api/generated/OrderDto";

function order(state: string, qr: string | null): OrderDto {
  return {
    id: 1, order_no: "T01_20261130100000_000001", amount: "12.30", amount_fen: 1230, currency: "CNY",
    channel: "wechat", state, cashier: null, note: null, created_at: "2026-11-30T02:00:00.000Z",
    paid_at: null, expires_at: null, qr_payload: qr, channel_trade_no: null,
    refunded: "0.00", business_date: "2026-11-30", reason: qr ? null : "error sending request (os error 111)", approver: null,
  } as unknown as OrderDto;
}

function props(o: OrderDto | null, over: Record<string, unknown> = {}) {
  return {
    order: o, requesting: o ? null : { channel: "wechat" as const, amount: "12.30" }, qrSvg: "<svg></svg>", error: null,
    notice: null, cancelling: false, secondsLeft: 125, canManual: true, alternatives: ["cash", "alipay"] as ("cash" | "alipay")[],
    onCancel: vi.fn(), onBack: vi.fn(), onFinish: vi.fn(), onRetry: vi.fn(), onManual: vi.fn(), ...over,
  };
}

describe("the payment panel", () => {
  afterEach(() => cleanup());
  it("offers manual confirmation only when a code was shown", () => {
    setLocale("zh");
    render(PaymentPanel, props(order("unknown", null)));
    expect(screen.queryByTestId("manual-confirm")).toBeNull();
    cleanup();
    render(PaymentPanel, props(order("unknown", "weixin://wxpay/x")));
    expect(screen.getByTestId("manual-confirm")).toBeTruthy();
  });
  it("with no code and no answer says so, the way back and the way forward, in Chinese only", async () => {
    setLocale("zh");
    const p = props(order("unknown", null));
    render(PaymentPanel, p);
    const text = screen.getByTestId("qr-panel").textContent ?? "";
    expect(text).toContain("微信支付暂时无法连接");
    expect(text).toContain("请改用现金或支付宝");
    expect(text).not.toMatch(/[a-z]{3,}/);
    await fireEvent.click(screen.getByTestId("back"));
    expect(p.onBack).toHaveBeenCalled();
  });
  it("while the code is asked for, the way back is there at once", () => {
    setLocale("en");
    render(PaymentPanel, props(null));
    expect(screen.getByTestId("requesting").textContent).toBe("Asking WeChat Pay for a payment code…");
    expect(screen.getByTestId("back")).toBeTruthy();
    setLocale("zh");
  });
  it("shows the countdown as minutes and seconds", () => {
    setLocale("zh");
    render(PaymentPanel, props(order("pending", "weixin://wxpay/x")));
    expect(screen.getByTestId("countdown").textContent).toBe("2:05 后过期");
  });
});
