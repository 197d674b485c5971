import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { render, screen, fireEvent, cleanup } from "@testing-library/svelte";
import { mockIPC, clearMocks } from "@tauri-apps/api/mocks";
import { get } from "svelte/store";
import { t } from "../../lib/i18n";
import ShiftOpenDialog from "./ShiftOpenDialog.svelte";
import CashTender from "./CashTender.svelte";

describe("the till's 开班 dialog", () => {
  let calls: { cmd: string; args: Record<string, unknown> }[];
  beforeEach(() => {
    calls = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      if (cmd === "shift_open") return { id: 1, cashier: "王芳", opened_at: "2026-11-21T01:00:00Z", float: "200.00", float_fen: 20000, closed_at: null, movements: [] };
      return null;
    });
  });
  afterEach(() => {
    cleanup();
    clearMocks();
  });

  it("refuses an empty float instead of recording ¥0.00", async () => {
    let opened = false;
    render(ShiftOpenDialog, { props: { who: "王芳", onopened: () => (opened = true), onlater: () => {} } });
    const input = screen.getByTestId("till-float") as HTMLInputElement;
    expect(input.placeholder).toBe("");
    await fireEvent.click(screen.getByTestId("till-shift-open"));
    expect(screen.getByTestId("till-float-error").textContent).toBe(get(t)("err_float_required"));
    expect(calls.some((c) => c.cmd === "shift_open")).toBe(false);
    expect(opened).toBe(false);
  });

  it("opens the shift with the float typed", async () => {
    let opened = false;
    render(ShiftOpenDialog, { props: { who: "王芳", onopened: () => (opened = true), onlater: () => {} } });
    await fireEvent.input(screen.getByTestId("till-float"), { target: { value: "200" } });
    await fireEvent.click(screen.getByTestId("till-shift-open"));
    await new Promise((r) => setTimeout(r, 0));
    expect(calls.find((c) => c.cmd === "shift_open")?.args).toMatchObject({ float: "200" });
    expect(opened).toBe(true);
  });
});

describe("the cash tender", () => {
  afterEach(() => cleanup());

  it("shows the change live and confirms only when enough was handed over", async () => {
    let booked: string | null = null;
    render(CashTender, { props: { amount: "37.8", onconfirm: (x: string) => (booked = x), oncancel: () => {} } });
    expect(screen.getByTestId("tender-due").textContent).toBe("¥37.80");
    const confirm = screen.getByTestId("tender-confirm") as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await fireEvent.input(screen.getByTestId("tendered"), { target: { value: "30" } });
    expect(screen.getByTestId("tender-change-box").textContent).toContain("¥7.80");
    expect(confirm.disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("tender-100.00"));
    expect(screen.getByTestId("tender-change").textContent).toBe("¥62.20");
    await fireEvent.click(confirm);
    expect(booked).toBe("100.00");
  });

  it("offers exact, the next round sum, 50 and 100", () => {
    render(CashTender, { props: { amount: "37.80", onconfirm: () => {}, oncancel: () => {} } });
    expect(screen.getByTestId("tender-exact").textContent).toContain("¥37.80");
    for (const id of ["tender-40.00", "tender-50.00", "tender-100.00"]) expect(screen.getByTestId(id)).toBeTruthy();
  });
});
