// The PIN pad's rules: digits only, 4 to 6 of them.
export const PIN_MIN = 4;
export const PIN_MAX = 6;

export type PinKey = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "back" | "clear";

export function pinPress(pin: string, key: PinKey): string {
  if (key === "back") return pin.slice(0, -1);
  if (key === "clear") return "";
  return pin.length >= PIN_MAX ? pin : pin + key;
}

export function pinReady(pin: string): boolean {
  return /^\d+$/.test(pin) && pin.length >= PIN_MIN && pin.length <= PIN_MAX;
}

/** Seconds left of a lock, from the api's message ("… try again in 30 s …")
 *  or the user's `locked_until`; null when not locked. */
export function lockSeconds(message: string | null, lockedUntil: string | null, now: number): number | null {
  if (lockedUntil) {
    const left = Math.ceil((new Date(lockedUntil).getTime() - now) / 1000);
    if (left > 0) return left;
  }
  const m = message?.match(/in (\d+) s\b/);
  return m ? Number(m[1]) : null;
}
