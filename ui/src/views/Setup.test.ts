import { describe, it, expect, afterEach, beforeEach } from "vitest";
import { render, screen, fireEvent, cleanup } from "@testing-library/svelte";
import { mockIPC, clearMocks } from "@tauri-apps/api/mocks";
import Setup from "./Setup.svelte";
import { setLocale } from "../lib/i18n";

beforeEach(() => setLocale("zh"));
afterEach(() => {
  cleanup();
  clearMocks();
});

const MANAGER = { id: 1, name: "店长 陈静", roles: ["manager", "cashier"], active: true, locked_until: null };

describe("first-start set-up", () => {
  it("sends the store, the till, its business day and the first manager, then hands over the manager", async () => {
    let sent: unknown = null;
    mockIPC((cmd, args) => {
      if (cmd === "setup_store") {
        sent = args;
        return MANAGER;
      }
    });
    let ready: unknown = null;
    const terminal = { store: "门店 Store", terminal: "T01", timezone: "Asia/Shanghai", day_cutoff: "04:00" };
    render(Setup, { onready: (u: unknown) => (ready = u), terminal: terminal as never });
    // The placeholder name of a new ledger is not offered as the store's.
    expect((screen.getByTestId("setup-store") as HTMLInputElement).value).toBe("");
    await fireEvent.input(screen.getByTestId("setup-store"), { target: { value: " 老街便利店 " } });
    await fireEvent.input(screen.getByTestId("setup-terminal"), { target: { value: "T07" } });
    await fireEvent.input(screen.getByTestId("setup-cutoff"), { target: { value: "05:00" } });
    await fireEvent.input(screen.getByTestId("setup-name"), { target: { value: " 店长 陈静 " } });
    await fireEvent.input(screen.getByTestId("setup-pin"), { target: { value: "2468" } });
    await fireEvent.input(screen.getByTestId("setup-pin-again"), { target: { value: "2468" } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual({
      req: {
        store: "老街便利店",
        terminal: "T07",
        timezone: "Asia/Shanghai",
        day_cutoff: "05:00",
        manager: "店长 陈静",
        pin: "2468",
        pin_again: "2468",
      },
    });
    expect(ready).toEqual(MANAGER);
  });

  it("says so when the two PINs differ, and sends nothing", async () => {
    let calls = 0;
    mockIPC(() => {
      calls++;
    });
    render(Setup, { onready: () => {} });
    await fireEvent.input(screen.getByTestId("setup-store"), { target: { value: "老街便利店" } });
    await fireEvent.input(screen.getByTestId("setup-name"), { target: { value: "店长" } });
    await fireEvent.input(screen.getByTestId("setup-pin"), { target: { value: "2468" } });
    await fireEvent.input(screen.getByTestId("setup-pin-again"), { target: { value: "2469" } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    expect((await screen.findByTestId("setup-error")).textContent).toBe("两次输入的 PIN 不一致");
    expect(calls).toBe(0);
  });
});
