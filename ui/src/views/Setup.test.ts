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

async function fillStore() {
  await fireEvent.input(screen.getByTestId("setup-store"), { target: { value: "老街便利店" } });
  await fireEvent.input(screen.getByTestId("setup-name"), { target: { value: "店长 陈静" } });
  await fireEvent.input(screen.getByTestId("setup-pin"), { target: { value: "2468" } });
  await fireEvent.input(screen.getByTestId("setup-pin-again"), { target: { value: "2468" } });
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("first-start channels and head office", () => {
  it("sends the typed channels file path with the set-up and shows the backend's refusal in words", async () => {
    const sent: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "setup_store") {
        sent.push(args);
        throw {
          code: "channel_check_failed",
          message: "alipay: refused",
          fields: { detail: "bad_signature", channel: "alipay", channel_code: "isv.invalid-signature" },
        };
      }
    });
    let ready: unknown = null;
    render(Setup, { onready: (u: unknown) => (ready = u) });
    await fillStore();
    await fireEvent.input(screen.getByTestId("setup-channels-file"), { target: { value: " /srv/keys/channels.json " } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await tick();
    expect((sent[0] as { req: { channels_file: string } }).req.channels_file).toBe("/srv/keys/channels.json");
    const shown = (await screen.findByTestId("setup-error")).textContent ?? "";
    expect(shown).toContain("支付宝拒绝了签名");
    expect(shown).toContain("isv.invalid-signature");
    expect(ready).toBeNull();
  });

  it("enrols with head office as the new manager; a refusal keeps the store set up and offers retry or skip", async () => {
    const calls: string[] = [];
    let enrolOk = false;
    mockIPC((cmd, args) => {
      calls.push(cmd);
      if (cmd === "setup_store") return MANAGER;
      if (cmd === "sync_enroll") {
        expect(args).toEqual({ hqUrl: "https://hq.example.cn", code: "ABCD-1234" });
        if (!enrolOk) throw { code: "hq_unreachable", message: "no answer", fields: {} };
        return { enrolled: true };
      }
    });
    let ready: unknown = null;
    render(Setup, { onready: (u: unknown) => (ready = u) });
    await fillStore();
    // Only one of the two: said at once, nothing sent.
    await fireEvent.input(screen.getByTestId("setup-hq-url"), { target: { value: "https://hq.example.cn" } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    expect((await screen.findByTestId("setup-error")).textContent).toBe("请填写总部地址和注册码");
    expect(calls).toEqual([]);
    await fireEvent.input(screen.getByTestId("setup-hq-code"), { target: { value: " ABCD-1234 " } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await tick();
    expect(calls).toEqual(["setup_store", "sync_enroll"]);
    expect(ready).toBeNull();
    expect(screen.getByTestId("setup-hq-failed")).toBeTruthy();
    expect(screen.getByTestId("setup-store").matches(":disabled")).toBe(true);
    // Retrying enrols only; the store is not set up twice.
    enrolOk = true;
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await tick();
    expect(calls).toEqual(["setup_store", "sync_enroll", "sync_enroll"]);
    expect(ready).toEqual(MANAGER);
  });

  it("can skip head office after a failed enrolment", async () => {
    mockIPC((cmd) => {
      if (cmd === "setup_store") return MANAGER;
      if (cmd === "sync_enroll") throw { code: "hq_refused", message: "no", fields: {} };
    });
    let ready: unknown = null;
    render(Setup, { onready: (u: unknown) => (ready = u) });
    await fillStore();
    await fireEvent.input(screen.getByTestId("setup-hq-url"), { target: { value: "https://hq.example.cn" } });
    await fireEvent.input(screen.getByTestId("setup-hq-code"), { target: { value: "ABCD" } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await screen.findByTestId("setup-hq-skip");
    await fireEvent.click(screen.getByTestId("setup-hq-skip"));
    expect(ready).toEqual(MANAGER);
  });
});
