// Cash at the counter in integer fen: the change for a tendered amount, the
// quick tender buttons, and the drawer counted note by note. Amounts arrive
// and leave as decimal strings ("12.30"); nothing here is a float.

/** Fen of a decimal yuan string ("12.3" → 1230), or null if it is not one. */
export function parseFen(text: string): number | null {
  const s = text.trim().replace(/^[¥￥]/, "").replace(/,/g, "");
  const m = /^(\d{1,9})(?:\.(\d{0,2}))?$/.exec(s);
  if (!m) return null;
  const whole = Number(m[1]);
  const fraction = Number((m[2] ?? "").padEnd(2, "0"));
  return whole * 100 + fraction;
}

/** "12.30" for 1230 fen (negative gets a leading "-"). */
export function formatFen(fen: number): string {
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** Change (找零) for what was handed over, or null while it is not enough. */
export function changeFen(amountFen: number, tenderedFen: number | null): number | null {
  if (tenderedFen === null || tenderedFen < amountFen) return null;
  return tenderedFen - amountFen;
}

/**
 * The quick buttons for what a customer hands over, ascending: the exact
 * amount, the next round sum a customer pays with (the next whole ten
 * yuan), then the ¥50 and ¥100 notes, and for large sales the next whole
 * hundred. Only sums that cover the amount, each once.
 */
export function quickTenders(amountFen: number): number[] {
  if (amountFen <= 0) return [];
  const up = (step: number) => Math.ceil(amountFen / step) * step;
  const candidates = [amountFen, up(1000), 5000, 10000, up(10000)];
  return [...new Set(candidates.filter((f) => f >= amountFen))].sort((a, b) => a - b);
}

/** The notes and coins of a Chinese cash drawer, in fen, largest first. */
export const DENOMINATIONS: readonly number[] = [10000, 5000, 2000, 1000, 500, 100, 50, 10];

/** How many pieces as typed: a whole number, empty meaning none; else null. */
export function parseCount(text: string): number | null {
  const s = text.trim();
  if (s === "") return 0;
  if (!/^\d{1,6}$/.test(s)) return null;
  return Number(s);
}

export interface DrawerCount {
  /** Sum of count × face value over every valid line, in fen. */
  totalFen: number;
  /** The denominations whose count is not a whole number. */
  invalid: number[];
}

/** The drawer's total from counts per denomination (fen → count as typed). */
export function countDrawer(counts: Record<number, string>): DrawerCount {
  let totalFen = 0;
  const invalid: number[] = [];
  for (const face of DENOMINATIONS) {
    const n = parseCount(counts[face] ?? "");
    if (n === null) invalid.push(face);
    else totalFen += n * face;
  }
  return { totalFen, invalid };
}

/** A denomination as people say it: "100 元", "5 角" / "¥100", "¥0.50". */
export function denominationLabel(face: number, locale: "zh" | "en"): string {
  if (locale === "en") return `¥${face >= 100 ? face / 100 : formatFen(face)}`;
  return face >= 100 ? `${face / 100} 元` : `${face / 10} 角`;
}
