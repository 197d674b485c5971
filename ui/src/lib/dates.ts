// Business days as YYYY-MM-DD strings. The store's clock (time zone and
// cut-off) decides which day it is: before 04:00 it is still yesterday.

function partsIn(timeZone: string, at: Date): { y: number; m: number; d: number; h: number; min: number } {
  const f = new Intl.DateTimeFormat("en-CA", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(at)) p[part.type] = part.value;
  return { y: +p.year, m: +p.month, d: +p.day, h: +p.hour, min: +p.minute };
}

export function isoDay(y: number, m: number, d: number): string {
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.toISOString().slice(0, 10);
}

/** Add `n` days to a YYYY-MM-DD date. */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split("-").map(Number);
  return isoDay(y, m, d + n);
}

/** Today's business day on the store's clock. */
export function businessToday(timeZone: string | undefined, cutoff: string | undefined, at: Date = new Date()): string {
  let p;
  try {
    p = partsIn(timeZone || "Asia/Shanghai", at);
  } catch {
    p = partsIn("UTC", at);
  }
  const [ch, cm] = (cutoff || "00:00").split(":").map(Number);
  const before = p.h * 60 + p.min < ch * 60 + (cm || 0);
  return isoDay(p.y, p.m, p.d - (before ? 1 : 0));
}
