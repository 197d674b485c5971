// An ApiError as the screen says it: the words come from the code and its
// fields through the dictionary; the backend's English message is for logs.
import { isApiError } from "../api/client";
import { hasKey, type Key } from "./i18n";
import { yuan } from "./money";

type T = (key: Key, vars?: Record<string, string | number>) => string;

// Fields that are themselves words (a channel, a state, a role) or money.
function fieldWords(t: T, fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (name === "role" && hasKey(`role_${value}`)) out[name] = t(`role_${value}` as Key);
    else if (["channel", "state", "found", "wanted"].includes(name) && hasKey(value)) out[name] = t(value as Key);
    else if (name === "field" && hasKey(`chf_${value}`)) out[name] = t(`chf_${value}` as Key);
    else if (name === "amount" || name === "limit") out[name] = yuan(value);
    else out[name] = value;
  }
  return out;
}

export function describeError(t: T, e: unknown): string {
  if (isApiError(e)) {
    const fields = (e as { fields?: Record<string, string> }).fields ?? {};
    const detailed = fields.detail ? `err_${e.code}_${fields.detail}` : "";
    const named = `err_${e.code}`;
    const key: Key = hasKey(detailed) ? detailed : hasKey(named) ? named : "err_other";
    const words = fieldWords(t, fields);
    // A bill file's `reason` picks the words for what is wrong with it.
    const reason = `bill_reason_${fields.reason ?? ""}`;
    if (hasKey(reason)) words.detail = t(reason, words);
    return t(key, words);
  }
  // Not from the backend (a bug in the page): say so without its text.
  return t("err_other");
}
