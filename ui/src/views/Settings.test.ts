import { describe, it, expect, afterEach, beforeEach } from "vitest";
import { render, screen, fireEvent, cleanup } from "@testing-library/svelte";
import { mockIPC, clearMocks } from "@tauri-apps/api/mocks";
import Settings from "./Settings.svelte";
import { setLocale } from "../lib/i18n";
import type { ChannelsStatusDto } from "../api/client";

beforeEach(() => setLocale("zh"));
afterEach(() => {
  cleanup();
  clearMocks();
});

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("settings: payment channels", () => {
  it("says where keys are kept, and sends the ticked channel for checking", async () => {
    const sent: unknown[] = [];
    let status: ChannelsStatusDto = { secret_store: "secret_service", alipay_app_id: "2021000000000001", wechat_mchid: null, wechat_serial_no: null };
    mockIPC((cmd, args) => {
      if (cmd === "channels_status") return status;
      if (cmd === "channels_configure") {
        sent.push(args);
        status = { ...status, wechat_mchid: "1900000109", wechat_serial_no: "ABC" };
        return status;
      }
      if (cmd === "sync_status") return { state: "not_enrolled", enrolled: false, acked_seq: 0, last_seq: 0, waiting: 0, notifications_live: false };
      return null;
    });
    render(Settings);
    await tick();
    await tick();
    expect(screen.getByTestId("secret-store").textContent).toBe("系统密钥环（Secret Service）");
    expect(screen.getByTestId("channels-alipay").textContent).toBe("2021000000000001");
    expect(screen.getByTestId("channels-wechat").textContent).toBe("未配置");
    expect((screen.getByTestId("channels-save") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("ch-wechat-on"));
    await fireEvent.input(screen.getByTestId("ch-wechat-mchid"), { target: { value: "1900000109" } });
    await fireEvent.click(screen.getByTestId("channels-save"));
    await tick();
    expect(sent).toHaveLength(1);
    const entries = (sent[0] as { entries: Record<string, unknown> }).entries;
    expect(Object.keys(entries)).toEqual(["wechat"]);
    expect((entries.wechat as { mchid: string }).mchid).toBe("1900000109");
    expect(screen.getByTestId("channels-wechat").textContent).toBe("1900000109");
    expect(screen.getByTestId("channels-saved").textContent).toBe("已核验并保存，渠道已启用");
    // The form is emptied: the keys do not stay on screen.
    expect(screen.queryByTestId("ch-wechat")).toBeNull();
  });

  it("says keys are in private files where there is no Secret Service, in English too", async () => {
    setLocale("en");
    mockIPC((cmd) => {
      if (cmd === "channels_status") return { secret_store: "private_files", alipay_app_id: null, wechat_mchid: null, wechat_serial_no: null };
      return null;
    });
    render(Settings);
    await tick();
    await tick();
    expect(screen.getByTestId("secret-store").textContent).toBe("files only this system user can read (0600)");
  });
});
