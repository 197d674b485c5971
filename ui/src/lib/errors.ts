// An ApiError as the screen says it: the code picks the words, the
// backend's message follows for the details. An error that carries fields
// (a line, a column, a date) is said entirely in the screen's language: the
// fields fill the code's words, and a bill file's `reason` picks the words
// for what is wrong with it.
import { isApiError } from "../api/client";
import { hasKey, type Key } from "./i18n";

type Translate = (key: Key, vars?: Record<string, string | number>) => string;

export function describeError(t: Translate, e: unknown): string {
  if (isApiError(e)) {
    const named = `err_${e.code}`;
    const key: Key = hasKey(named) ? named : "err_other";
    const fields = (e as { fields?: Record<string, string> | null }).fields;
    if (fields && Object.keys(fields).length > 0 && key !== "err_other") {
      const vars: Record<string, string> = { ...fields };
      for (const name of ["found", "wanted", "channel"]) {
        const word = vars[name];
        if (word && hasKey(word)) vars[name] = t(word);
      }
      const reason = `bill_reason_${fields.reason ?? ""}`;
      vars.detail = hasKey(reason) ? t(reason, vars) : "";
      return t(key, vars);
    }
    return `${t(key)}：${e.message}`;
  }
  return String(e);
}
