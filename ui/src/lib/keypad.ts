// The amount as the cashier keys it. It stays a string until the backend
// parses it: money is never a float, not even in the UI.

/** Longest input accepted from the keypad (¥99,999,999.99 has 11 characters). */
const MAX_LENGTH = 11;

export type Key =
  | "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"
  | "." | "00" | "backspace" | "clear";

/** Apply one key to the amount being typed. Impossible keys are ignored. */
export function press(amount: string, key: Key): string {
  switch (key) {
    case "clear":
      return "";
    case "backspace":
      return amount.slice(0, -1);
    case ".":
      if (amount.includes(".")) return amount;
      return amount === "" ? "0." : amount + ".";
    default: {
      const next = amount === "0" && key !== "00" ? key : amount + key;
      if (next === "00") return "0";
      const dot = next.indexOf(".");
      if (dot >= 0 && next.length - dot - 1 > 2) return amount; // fen is the last place
      if (next.length > MAX_LENGTH) return amount;
      return next;
    }
  }
}

/** Map a keyboard event to a keypad key (full-width digits from an IME too). */
export function keyFromEvent(key: string): Key | "enter" | null {
  const fullWidth = "０１２３４５６７８９";
  const idx = fullWidth.indexOf(key);
  if (idx >= 0) return String(idx) as Key;
  if (/^[0-9]$/.test(key)) return key as Key;
  if (key === "." || key === "。" || key === "．" || key === "Decimal") return ".";
  if (key === "Backspace") return "backspace";
  if (key === "Escape") return "clear";
  if (key === "Enter") return "enter";
  return null;
}

/** "12.3" shown as the cashier expects while typing: ¥12.3 */
export function displayTyped(amount: string): string {
  return "¥" + (amount === "" ? "0" : amount);
}

/** How long after a failed payment a new charge needs the cashier's word. */
export const RETRY_CONFIRM_WINDOW_MS = 60_000;

/**
 * Whether "retry" on an ended sale must be confirmed first. A payment the
 * channel called failed a moment ago may still be on the customer's phone;
 * a habitual Enter must not start a second charge of the same amount.
 */
export function retryNeedsConfirmation(order: { state: string; created_at: string }, nowMs: number): boolean {
  if (order.state !== "failed") return false;
  const at = Date.parse(order.created_at);
  return Number.isNaN(at) || nowMs - at < RETRY_CONFIRM_WINDOW_MS;
}
