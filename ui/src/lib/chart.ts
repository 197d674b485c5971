// Drawing only: bar sizes from the DTOs' integer fen fields. No figure on
// screen comes from here; labels use the backend's decimal strings.

/** Heights in pixels, proportional to `values`, the largest filling `height`.
 *  A non-zero value gets at least 2 px so it stays visible; negatives draw as 0. */
export function barHeights(values: number[], height: number): number[] {
  const max = Math.max(0, ...values);
  if (max <= 0) return values.map(() => 0);
  return values.map((v) => (v <= 0 ? 0 : Math.max(2, Math.round((v / max) * height))));
}

/** Each value's share of the total, 0–100, rounded to one decimal. */
export function shares(values: number[]): number[] {
  const total = values.reduce((a, v) => a + Math.max(0, v), 0);
  if (total <= 0) return values.map(() => 0);
  return values.map((v) => Math.round((Math.max(0, v) / total) * 1000) / 10);
}

/** A full day of hours from the cut-off hour on (04:00 … 03:00), so empty
 *  hours keep their place on the axis. */
export function hourAxis(cutoff: string | undefined): number[] {
  const start = Number((cutoff || "00:00").split(":")[0]) || 0;
  return Array.from({ length: 24 }, (_, i) => (start + i) % 24);
}

export const CHANNEL_COLOURS: Record<string, string> = {
  alipay: "#1677ff",
  wechat: "#07c160",
  unionpay: "#d7000f",
  cash: "#d69e2e",
};
