/**
 * Text layout for humans (aligned tables and "key: value" lists) and JSON for machines (bigints
 * and byte arrays made representable). Pure functions: the commands build strings, `Output`
 * (output.ts) writes them.
 */
import { hex as coreHex } from "../core/index.js";

export type Align = "left" | "right";

export interface Column {
  readonly header: string;
  readonly align?: Align;
}

/** Visible width: counts code points, so "µs" is two columns, not three bytes. */
function width(text: string): number {
  return [...text].length;
}

function pad(text: string, to: number, align: Align): string {
  const fill = " ".repeat(Math.max(0, to - width(text)));
  return align === "right" ? fill + text : text + fill;
}

/**
 * An aligned table: a header row, then one row per entry, columns two spaces apart. The last
 * column is not padded (no trailing blanks).
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ""))));
  const line = (cells: readonly string[]): string =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? "";
        return i === columns.length - 1 && (c.align ?? "left") === "left" ? cell : pad(cell, widths[i] ?? 0, c.align ?? "left");
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join("\n");
}

/** "Key:   value" lines with the values aligned; an undefined value drops its line. */
export function formatFields(fields: readonly (readonly [string, string | undefined])[], indent = ""): string {
  const shown = fields.filter((f): f is readonly [string, string] => f[1] !== undefined);
  const keyWidth = Math.max(0, ...shown.map(([k]) => width(k) + 1));
  return shown.map(([k, v]) => `${indent}${pad(`${k}:`, keyWidth, "left")}  ${v}`).join("\n");
}

export function yesNo(value: boolean | undefined): string | undefined {
  return value === undefined ? undefined : value ? "yes" : "no";
}

/** The core's hex, at two digits unless told: the CLI prints bytes (opcodes, ASC/ASCQ) with it. */
export function hex(value: number, digits = 2): string {
  return coreHex(value, digits);
}

/**
 * Decimals a measured figure means, by its field's name: milliseconds and microseconds to 3
 * (whole microseconds, whole nanoseconds), seconds to 6, rates in bytes per second to whole bytes,
 * IOPS to 3, percentages to 1; anything else to 6 at most (float noise is not data).
 */
export function decimalsFor(key: string): number {
  if (/(Ms|Us|Ns)$/.test(key) || /^(elapsed|latency|rtt|min|max|avg|mean|mdev|stddev|p\d+)/i.test(key)) return 3;
  if (/Seconds$/.test(key)) return 6;
  if (/PerSecond$/.test(key)) return 0;
  // IOPS to 3 (so iops x block size stays within a few bytes of bytesPerSecond); percentages to 1.
  if (key === "iops") return 3;
  if (/[Pp]ercent/.test(key)) return 1;
  return 6;
}

function roundNumber(v: number, digits: number): number {
  if (!Number.isFinite(v) || Number.isInteger(v)) return v;
  const scale = 10 ** digits;
  return Math.round(v * scale) / scale;
}

/**
 * JSON with the values JSON lacks made representable: a bigint as a number when it is exact,
 * else as a decimal string; a byte array as lower-case hex; undefined fields dropped; fractions
 * rounded to what they mean (`decimalsFor`; the fields of an object named `...Us`/`...Ms` take its
 * unit).
 */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(
    value,
    function (this: unknown, key: string, v: unknown) {
      if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
      if (typeof v === "number") return roundNumber(v, decimalsFor(key));
      // latencyUs: { min, p50, ... } are microseconds, whatever their own names say.
      if (/(Ms|Us)$/.test(key) && typeof v === "object" && v !== null && !Array.isArray(v)) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === "number" ? roundNumber(x, 3) : x]));
      }
      return v;
    },
    indent,
  );
}

/** camelCase to words: "maximumTransferLength" -> "maximum transfer length". */
export function words(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase();
}

/** The first letter upper-cased: "maximum transfer length" -> "Maximum transfer length". */
export function capitalise(text: string): string {
  return text.length === 0 ? text : (text[0] ?? "").toUpperCase() + text.slice(1);
}
