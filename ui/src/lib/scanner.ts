// A USB barcode scanner is a keyboard: it types the code's digits very fast
// and presses Enter. Telling its burst apart from a person typing is a
// matter of keystroke timing plus the code's shape (docs/PROTOCOLS.md §6.1):
// WeChat 18 digits starting 10–15, Alipay 16–24 digits starting 25–30,
// UnionPay 19 digits starting 62. Pure logic; the cashier screen feeds it keys.

export type CodeChannel = "alipay" | "wechat" | "unionpay";

/** Scanners type a character every few milliseconds; no person keeps 16 or more keys under 50 ms apart. */
export const SCAN_MAX_GAP_MS = 50;
/** Enter may come a little later than the digits (some scanners pause before the suffix). */
export const SCAN_MAX_ENTER_GAP_MS = 120;

/** Which channel's code a string of digits is, if any. */
export function codeShape(digits: string): CodeChannel | null {
  if (!/^[0-9]+$/.test(digits)) return null;
  const prefix = Number(digits.slice(0, 2));
  const n = digits.length;
  if (n === 18 && prefix >= 10 && prefix <= 15) return "wechat";
  if (n >= 16 && n <= 24 && prefix >= 25 && prefix <= 30) return "alipay";
  if (n === 19 && prefix === 62) return "unionpay";
  return null;
}

/** Full-width digits from a Chinese input method count as digits. */
export function asDigit(key: string): string | null {
  if (/^[0-9]$/.test(key)) return key;
  const i = "０１２３４５６７８９".indexOf(key);
  return i >= 0 ? String(i) : null;
}

/**
 * A receipt's barcode (the order number, `T07_20261130143012_000042`) or a
 * channel's transaction number (28 digits: Alipay trade_no, WeChat
 * transaction_id): scanning one at the till opens that order.
 */
export function isOrderReference(text: string): boolean {
  return /^[A-Za-z0-9]{1,16}_\d{14}_\d{6}$/.test(text) || /^\d{28}$/.test(text);
}

/** Letters and the underscore of an order number, as a scanner types them. */
function asOrderChar(key: string): string | null {
  return /^[A-Za-z_]$/.test(key) ? key : null;
}

export type ScanResult =
  /** A scanner's burst ended with Enter: take a code payment; put the amount back as it was before the burst. */
  | { kind: "scan"; code: string; channel: CodeChannel; amountBefore: string }
  /** A burst ended with Enter and was a receipt's order number or a transaction number: open that order. */
  | { kind: "lookup"; code: string; amountBefore: string }
  /**
   * A letter or underscore inside a burst: part of a scanned order number,
   * not a shortcut. (`other` for one that starts a burst: a shortcut may
   * still wait SCAN_MAX_GAP_MS to see whether a burst follows.)
   */
  | { kind: "burst" }
  /** An Enter that is not the end of a scan (a person pressed it). */
  | { kind: "enter" }
  /** A digit: the screen handles it as usual (it may be the start of a burst). */
  | { kind: "digit" }
  | { kind: "other" };

/**
 * Watches keystrokes. Each digit joins the current burst when it follows the
 * previous one within SCAN_MAX_GAP_MS, else it starts a new burst and the
 * amount as it stood is remembered (the burst's digits also reach the amount
 * keypad until the burst is recognised, and are then taken back).
 */
export class ScanDetector {
  private digits = "";
  private last = -Infinity;
  private amountBefore = "";

  /** `amount` is the amount on screen before this key is applied. */
  key(key: string, at: number, amount: string): ScanResult {
    const d = asDigit(key);
    if (d !== null) {
      if (at - this.last > SCAN_MAX_GAP_MS || this.digits === "") {
        this.digits = "";
        this.amountBefore = amount;
      }
      this.digits += d;
      this.last = at;
      return { kind: "digit" };
    }
    if (key === "Enter") {
      const burst = this.digits;
      const quick = at - this.last <= SCAN_MAX_ENTER_GAP_MS;
      const before = this.amountBefore;
      this.reset();
      const channel = codeShape(burst);
      if (quick && channel) return { kind: "scan", code: burst, channel, amountBefore: before };
      if (quick && isOrderReference(burst)) return { kind: "lookup", code: burst, amountBefore: before };
      return { kind: "enter" };
    }
    const c = asOrderChar(key);
    if (c !== null) {
      // An order number starts with its till's letters (T07_…); a letter
      // right after a burst of digits is a shortcut typed after an amount.
      const continues =
        this.digits !== "" && at - this.last <= SCAN_MAX_GAP_MS && (c === "_" || /^[A-Za-z]/.test(this.digits));
      if (!continues) {
        this.digits = "";
        this.amountBefore = amount;
      }
      this.digits += c;
      this.last = at;
      return continues ? { kind: "burst" } : { kind: "other" };
    }
    this.reset();
    return { kind: "other" };
  }

  reset() {
    this.digits = "";
    this.last = -Infinity;
  }
}

/** Seconds as mm:ss for the countdown. */
export function mmss(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** The i18n key for a failed code payment's reason (the channel's code first). */
export function failureKey(reason: string | null | undefined): string {
  const r = (reason ?? "").toUpperCase();
  if (r.includes("NOT_ENOUGH") || r.includes("BALANCE")) return "pc_reason_not_enough";
  if (r.includes("EXPIRE")) return "pc_reason_code_expired";
  if (r.includes("AUTH_CODE") || r.includes("AUTHCODE")) return "pc_reason_code_invalid";
  if (r.includes("DECLINED") || r.includes("PAYERROR")) return "pc_reason_declined";
  if (r.includes("DID NOT CONFIRM IN TIME")) return "pc_reason_timeout";
  if (r.includes("CANCELLED BY THE CASHIER")) return "pc_reason_cancelled";
  return "pc_reason_other";
}
