import { describe, it, expect, afterEach, beforeEach } from "vitest";
import { render, screen, fireEvent, cleanup } from "@testing-library/svelte";
import { mockIPC, clearMocks } from "@tauri-apps/api/mocks";
import { get } from "svelte/store";
import Login from "./Login.svelte";
import { setLocale } from "../lib/i18n";
import { session, logOut } from "../lib/session";

const USERS = [
  { id: 1, name: "收银员 王芳", roles: ["cashier"], active: true, locked_until: null },
  { id: 2, name: "店长 李娜", roles: ["manager", "cashier"], active: true, locked_until: null },
];

beforeEach(() => setLocale("zh"));
afterEach(() => {
  cleanup();
  clearMocks();
  logOut();
});

async function pickAndType(name: string, pin: string) {
  const users = await screen.findAllByTestId("login-user");
  await fireEvent.click(users.find((u) => u.dataset.name === name)!);
  for (const d of pin) await fireEvent.click(screen.getByTestId(`pin-${d}`));
  await fireEvent.click(screen.getByTestId("login-submit"));
}

describe("PIN login", () => {
  it("logs the user in; their name is the session's", async () => {
    mockIPC((cmd, args) => {
      if (cmd === "users_list") return USERS;
      if (cmd === "user_login") {
        const a = args as { name: string; pin: string };
        expect(a).toEqual({ name: "收银员 王芳", pin: "1111" });
        return USERS[0];
      }
    });
    render(Login);
    await pickAndType("收银员 王芳", "1111");
    await screen.findByTestId("login-submit");
    await new Promise((r) => setTimeout(r, 0));
    expect(get(session)?.name).toBe("收银员 王芳");
  });

  it("shows the lock and its seconds when the api says locked", async () => {
    mockIPC((cmd) => {
      if (cmd === "users_list") return USERS;
      if (cmd === "user_login")
        return Promise.reject({ code: "user_locked", message: "收银员 王芳 is locked after too many wrong PINs; try again in 30 s (until x)" });
    });
    render(Login);
    await pickAndType("收银员 王芳", "0000");
    const locked = await screen.findByTestId("login-locked");
    expect(locked.textContent).toMatch(/已锁定 30 秒/);
    expect((screen.getByTestId("login-submit") as HTMLButtonElement).disabled).toBe(true);
    expect(get(session)).toBeNull();
  });
});
