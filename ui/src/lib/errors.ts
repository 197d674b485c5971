// An ApiError as the screen says it: the code picks the words, the
// backend's message follows for the details.
import { isApiError } from "../api/client";
import { hasKey, type Key } from "./i18n";

export function describeError(t: (key: Key, vars?: Record<string, string | number>) => string, e: unknown): string {
  if (isApiError(e)) {
    const named = `err_${e.code}`;
    const key: Key = hasKey(named) ? named : "err_other";
    return `${t(key)}：${e.message}`;
  }
  return String(e);
}
