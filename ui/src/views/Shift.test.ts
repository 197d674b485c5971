import { describe, it, expect, afterEach, beforeEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/svelte";
import { mockIPC, clearMocks } from "@tauri-apps/api/mocks";
import Shift from "./Shift.svelte";
import { setLocale } from "../lib/i18n";
import { logIn, logOut } from "../lib/session";

const OPEN = {
  id: 7, cashier: "收银员 王芳", opened_at: "2026-11-21T01:00:00Z", float: "200.00", float_fen: 20000,
  closed_at: null, movements: [],
};
const Z = {
  shift_id: 7, store: "演示门店", terminal: "T01", cashier: "收银员 王芳", closed_by: "收银员 王芳",
  opened_at: "2026-11-21T01:00:00Z", closed_at: "2026-11-21T10:00:00Z", business_date: "2026-11-21",
  float: "200.00", float_fen: 20000, cash_sales: "312.00", cash_sales_fen: 31200, cash_sales_count: 9,
  cash_refunds: "0.00", cash_refunds_fen: 0, cash_refunds_count: 0, pay_ins: "0.00", pay_ins_fen: 0,
  pay_outs: "30.00", pay_outs_fen: 3000, expected: "482.00", expected_fen: 48200, counted: "478.50",
  counted_fen: 47850, over_short: "-3.50", over_short_fen: -350, over_short_kind: "short", channels: [], movements: [],
};

let calls: { cmd: string; args: Record<string, unknown> }[] = [];

beforeEach(() => {
  setLocale("zh");
  logIn({ id: 1, name: "收银员 王芳", roles: ["cashier"], active: true, locked_until: null });
  calls = [];
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
    if (cmd === "shift_current") return OPEN;
    if (cmd === "shift_close") return Z;
    if (cmd === "shift_report_text") return "      交班报表\n应有现金          ¥482.00\n";
    return undefined;
  });
});
afterEach(() => {
  cleanup();
  clearMocks();
  logOut();
});

describe("shift close with a blind count", () => {
  it("asks for the counted cash before anything reveals the expected cash", async () => {
    render(Shift);
    await screen.findByTestId("blind-count");
    // Before the close, no expected figure anywhere on the screen.
    expect(screen.queryByTestId("expected")).toBeNull();
    expect(screen.queryByTestId("over-short")).toBeNull();
    expect(document.body.textContent).not.toContain("482.00");
    expect(calls.map((c) => c.cmd)).not.toContain("shift_close");

    await fireEvent.input(screen.getByTestId("counted"), { target: { value: "478.50" } });
    await fireEvent.click(screen.getByTestId("close-next"));
    // The confirmation step still hides it.
    expect(document.body.textContent).not.toContain("482.00");
    await fireEvent.click(screen.getByTestId("close-confirm"));

    await screen.findByTestId("shift-closed");
    const close = calls.find((c) => c.cmd === "shift_close");
    // The name on the close is the Rust session's; the UI sends none.
    expect(close?.args).toEqual({ counted: "478.50" });
    expect(screen.getByTestId("expected").textContent).toBe("¥482.00");
    const overShort = screen.getByTestId("over-short");
    expect(overShort.textContent).toContain("短款");
    expect(overShort.textContent).toContain("-¥3.50");
    await waitFor(() => expect(screen.getByTestId("z-text").textContent).toContain("交班报表"));
    expect(calls.find((c) => c.cmd === "shift_report_text")?.args).toMatchObject({ shiftId: 7 });
  });

  it("does not close without a count", async () => {
    render(Shift);
    await screen.findByTestId("blind-count");
    await fireEvent.click(screen.getByTestId("close-next"));
    expect(screen.queryByTestId("close-confirm")).toBeNull();
    expect(screen.getByTestId("shift-error").textContent).toContain("请输入实点现金");
  });
});

describe("shift open and the count by note", () => {
  it("refuses an empty float instead of recording ¥0.00", async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      return undefined; // no shift open
    });
    render(Shift);
    const float = (await screen.findByTestId("float")) as HTMLInputElement;
    expect(float.placeholder).toBe("");
    await fireEvent.click(screen.getByTestId("shift-open"));
    expect((await screen.findByTestId("shift-error")).textContent).toContain("备用金");
    expect(calls.map((c) => c.cmd)).not.toContain("shift_open");
  });

  it("sums the notes live and closes with that total", async () => {
    render(Shift);
    await screen.findByTestId("blind-count");
    await fireEvent.click(screen.getByTestId("count-notes-mode"));
    for (const [face, n] of [["10000", "4"], ["5000", "1"], ["2000", "1"], ["100", "8"], ["50", "1"]]) {
      await fireEvent.input(screen.getByTestId(`denom-${face}`), { target: { value: n } });
    }
    // 400 + 50 + 20 + 8 + 0.50
    expect(screen.getByTestId("denom-total").textContent).toBe("¥478.50");
    await fireEvent.click(screen.getByTestId("close-next"));
    await fireEvent.click(screen.getByTestId("close-confirm"));
    await screen.findByTestId("shift-closed");
    expect(calls.find((c) => c.cmd === "shift_close")?.args).toEqual({ counted: "478.50" });
    // A zero refund has no minus sign.
    expect(screen.getByTestId("shift-closed").textContent).not.toContain("-¥0.00");
  });
});
