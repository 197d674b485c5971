// An ApiError as the screen says it: the code picks the words, the
// backend's message follows for the details.
import { isApiError } from "../api/client";
import type { Key } from "./i18n";

const KNOWN = new Set([
  "invalid_amount", "invalid_input", "channel_unavailable", "not_found", "conflict", "ledger_locked",
  "storage", "channel_rejected", "channel_unreachable", "pin_wrong", "user_locked", "not_permitted",
  "over_refund", "approval_required", "export_path_forbidden", "export_file_exists", "insecure_hq_url",
  "forbidden", "not_logged_in", "channel_untrusted", "hq_unreachable", "hq_refused",
]);

export function describeError(t: (key: Key, vars?: Record<string, string | number>) => string, e: unknown): string {
  if (isApiError(e)) {
    const key = (KNOWN.has(e.code) ? `err_${e.code}` : "err_other") as Key;
    return `${t(key)}：${e.message}`;
  }
  return String(e);
}
