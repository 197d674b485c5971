// Amounts arrive from the backend as decimal strings ("12.30"); we only add
// the sign and group the thousands, never parse them into numbers.

export function yuan(decimal: string): string {
  const negative = decimal.startsWith("-");
  const body = negative ? decimal.slice(1) : decimal;
  const [whole, fraction = "00"] = body.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  // Zero has no sign: "-0.00" (an over/short that came out even) is ¥0.00.
  const zero = /^[0,]*$/.test(whole) && /^0*$/.test(fraction);
  return `${negative && !zero ? "-" : ""}¥${grouped}.${fraction.padEnd(2, "0")}`;
}

// Every time on screen is on the store's clock, whatever the machine's
// zone: the terminal tells the UI its zone once it is known.
let storeTimeZone = "Asia/Shanghai";

/** Sets the zone that times are shown in (the store's IANA zone). */
export function setStoreTimeZone(timeZone: string | undefined) {
  if (!timeZone) return;
  try {
    new Intl.DateTimeFormat("en-CA", { timeZone });
    storeTimeZone = timeZone;
  } catch {
    // an unknown zone name: keep the previous one
  }
}

function partsOf(iso: string): Record<string, string> | null {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  const f = new Intl.DateTimeFormat("en-CA", {
    timeZone: storeTimeZone,
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(d)) p[part.type] = part.value;
  return p;
}

/** 24-hour time of an RFC 3339 instant on the store's clock: 14:05 */
export function hhmm(iso: string | null | undefined): string {
  const p = iso ? partsOf(iso) : null;
  return p ? `${p.hour}:${p.minute}` : "";
}

/** Date and time on the store's clock: 2026-11-21 14:05:09 */
export function dateTime(iso: string | null | undefined): string {
  const p = iso ? partsOf(iso) : null;
  return p ? `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}` : "";
}
