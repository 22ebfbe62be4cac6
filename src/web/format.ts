/** Numbers as the page shows them. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** `16 MiB`, `1.5 GiB`, `512 B`: three significant digits at most. */
export function formatBytes(bytes: number | bigint): string {
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${UNITS[unit]}`;
}

/** `12,345` (thin grouping, whatever the locale, so screenshots read the same). */
export function formatCount(n: number | bigint): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** `850 µs`, `12.3 ms`, `2.4 s`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, "0");
}
