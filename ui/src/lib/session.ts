// Who is logged in at the till. The name goes on every sale (ChargeRequest
// `cashier`), shift and refund request; it is kept for the window's life
// only, so a restart asks for the PIN again.
import { writable, get } from "svelte/store";
import type { UserDto } from "../api/generated/UserDto";

export const session = writable<UserDto | null>(null);

export function logIn(user: UserDto) {
  session.set(user);
}

export function logOut() {
  session.set(null);
}

/** The logged-in user's name, or undefined before anyone logs in. */
export function currentName(): string | undefined {
  return get(session)?.name;
}

export function isManager(user: UserDto | null): boolean {
  return !!user && user.roles.includes("manager");
}
