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

describe("first-start channels entered by hand", () => {
  it("sends only the channels ticked, keys as pasted, and names the refused field in words", async () => {
    const sent: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "setup_store") {
        sent.push(args);
        throw { code: "channel_check_failed", message: "wechat: apiv3_key must be 32 characters", fields: { detail: "bad_field", channel: "wechat", field: "apiv3_key" } };
      }
    });
    render(Setup, { onready: () => {} });
    await fillStore();
    // Nothing of a channel is shown until it is ticked.
    expect(screen.queryByTestId("ch-wechat")).toBeNull();
    await fireEvent.click(screen.getByTestId("ch-wechat-on"));
    await fireEvent.input(screen.getByTestId("ch-wechat-mchid"), { target: { value: "1900000109" } });
    await fireEvent.input(screen.getByTestId("ch-wechat-appid"), { target: { value: "wxd678efh567hg6787" } });
    await fireEvent.input(screen.getByTestId("ch-wechat-serial"), { target: { value: "5157F09EFDC096DE15EBE81A47057A72" } });
    await fireEvent.input(screen.getByTestId("ch-wechat-apiv3"), { target: { value: "short" } });
    await fireEvent.input(screen.getByTestId("ch-wechat-private-key"), { target: { value: "/home/shop/apiclient_key.pem" } });
    await fireEvent.input(screen.getByTestId("ch-wechat-public-key"), { target: { value: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----" } });
    await fireEvent.input(screen.getByTestId("ch-wechat-public-key-id"), { target: { value: "PUB_KEY_ID_0114" } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await tick();
    expect(sent).toHaveLength(1);
    const req = (sent[0] as { req: Record<string, unknown> }).req;
    expect(req.channels).toEqual({
      wechat: {
        mchid: "1900000109",
        appid: "wxd678efh567hg6787",
        serial_no: "5157F09EFDC096DE15EBE81A47057A72",
        apiv3_key: "short",
        private_key: "/home/shop/apiclient_key.pem",
        platform_public_key: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        platform_public_key_id: "PUB_KEY_ID_0114",
        base_url: "https://api.mch.weixin.qq.com",
      },
    });
    expect(req.channels).not.toHaveProperty("alipay");
    expect((await screen.findByTestId("setup-error")).textContent).toBe("微信支付：「APIv3 密钥」填写得不对，未发送任何请求");
    // The same refusal on an English screen.
    cleanup();
    setLocale("en");
    render(Setup, { onready: () => {} });
    await fillStore();
    await fireEvent.click(screen.getByTestId("ch-wechat-on"));
    await fireEvent.click(screen.getByTestId("setup-submit"));
    expect((await screen.findByTestId("setup-error")).textContent).toBe("WeChat Pay: APIv3 key is not right; nothing was sent");
  });

  it("sends Alipay with its production gateway unless changed, and no channels when none is ticked", async () => {
    const sent: Array<{ req: Record<string, unknown> }> = [];
    mockIPC((cmd, args) => {
      if (cmd === "setup_store") {
        sent.push(args as never);
        return MANAGER;
      }
    });
    render(Setup, { onready: () => {} });
    await fillStore();
    await fireEvent.click(screen.getByTestId("ch-alipay-on"));
    await fireEvent.input(screen.getByTestId("ch-alipay-app-id"), { target: { value: "2021000000000001" } });
    await fireEvent.input(screen.getByTestId("ch-alipay-private-key"), { target: { value: "MIIEvQIBADANBg" } });
    await fireEvent.input(screen.getByTestId("ch-alipay-public-key"), { target: { value: "/home/shop/alipay_public.pem" } });
    // Ticked off again before sending: nothing of it goes.
    await fireEvent.click(screen.getByTestId("ch-alipay-on"));
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await tick();
    expect(sent[0].req.channels).toBeUndefined();
    cleanup();
    render(Setup, { onready: () => {} });
    await fillStore();
    await fireEvent.click(screen.getByTestId("ch-alipay-on"));
    await fireEvent.input(screen.getByTestId("ch-alipay-app-id"), { target: { value: "2021000000000001" } });
    await fireEvent.input(screen.getByTestId("ch-alipay-private-key"), { target: { value: "MIIEvQIBADANBg" } });
    await fireEvent.input(screen.getByTestId("ch-alipay-public-key"), { target: { value: "/home/shop/alipay_public.pem" } });
    await fireEvent.click(screen.getByTestId("setup-submit"));
    await tick();
    expect(sent[1].req.channels).toEqual({
      alipay: {
        app_id: "2021000000000001",
        private_key: "MIIEvQIBADANBg",
        alipay_public_key: "/home/shop/alipay_public.pem",
        gateway: "https://openapi.alipay.com/gateway.do",
      },
    });
  });
});
