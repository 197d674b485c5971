import { describe, it, expect, afterEach, beforeEach, vi } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/svelte";
import { mockIPC, clearMocks } from "@tauri-apps/api/mocks";
import ApprovalDialog from "./ApprovalDialog.svelte";
import { setLocale } from "./i18n";

const USERS = [
  { id: 1, name: "收银员 王芳", roles: ["cashier"], active: true, locked_until: null },
  { id: 2, name: "店长 李娜", roles: ["manager", "cashier"], active: true, locked_until: null },
];

beforeEach(() => {
  setLocale("zh");
  mockIPC((cmd) => (cmd === "users_list" ? USERS : undefined));
});
afterEach(() => {
  cleanup();
  clearMocks();
});

async function typePin(pin: string) {
  for (const d of pin) await fireEvent.click(screen.getByTestId(`pin-${d}`));
}

describe("manager approval dialog", () => {
  it("offers only managers and runs the action with their name and PIN", async () => {
    const run = vi.fn().mockResolvedValue(undefined);
    const onclose = vi.fn();
    render(ApprovalDialog, { title: "退款", run, onclose });
    // Only the manager is offered, and picked already.
    await waitFor(() => expect(screen.getByTestId("approval-name").tagName).toBe("SELECT"));
    const select = screen.getByTestId("approval-name") as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(["店长 李娜"]);
    expect(select.value).toBe("店长 李娜");

    const ok = screen.getByTestId("approval-ok") as HTMLButtonElement;
    await typePin("999");
    expect(ok.disabled).toBe(true);
    await typePin("9");
    expect(ok.disabled).toBe(false);
    await fireEvent.click(ok);

    await waitFor(() => expect(onclose).toHaveBeenCalledWith(true));
    expect(run).toHaveBeenCalledWith({ approver_name: "店长 李娜", pin: "9999" });
  });

  it("stays open on a wrong PIN, says so and clears the PIN", async () => {
    const run = vi.fn().mockRejectedValue({ code: "pin_wrong", message: "wrong PIN for 店长 李娜; 4 attempt(s) left" });
    const onclose = vi.fn();
    render(ApprovalDialog, { title: "撤销", run, onclose });
    await screen.findByTestId("approval-name");
    await waitFor(() => expect((screen.getByTestId("approval-name") as HTMLSelectElement).value).toBe("店长 李娜"));
    await typePin("1234");
    await fireEvent.click(screen.getByTestId("approval-ok"));

    const error = await screen.findByTestId("approval-error");
    expect(error.textContent).toContain("PIN 错误");
    expect(onclose).not.toHaveBeenCalled();
    expect((screen.getByTestId("approval-ok") as HTMLButtonElement).disabled).toBe(true);
  });

  it("shows the lock's seconds when the manager is locked", async () => {
    const run = vi.fn().mockRejectedValue({ code: "user_locked", message: "店长 李娜 is locked after too many wrong PINs; try again in 60 s (until x)" });
    render(ApprovalDialog, { title: "开钱箱", run, onclose: vi.fn() });
    await waitFor(() => expect((screen.getByTestId("approval-name") as HTMLSelectElement).value).toBe("店长 李娜"));
    await typePin("0000");
    await fireEvent.click(screen.getByTestId("approval-ok"));
    expect((await screen.findByTestId("approval-error")).textContent).toContain("已锁定 60 秒");
  });
});
