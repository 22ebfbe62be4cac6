/**
 * Sizes and durations as people type them on a command line (`4k`, `1M`, `256MiB`, `1T`, `10s`,
 * `500ms`), and the reverse: byte counts, rates and times formatted for a human.
 *
 * Sizes use binary multiples for the bare and IEC suffixes (k = KiB = 1024), as dd, qemu-img and
 * fio do for block devices; the SI spellings with a capital B (kB, MB, GB, TB, PB) are decimal,
 * as dd reads them. A fraction is allowed when the result is a whole number of bytes (`1.5k`).
 */
import { ConfigError } from "../core/index.js";

const BINARY: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 2 ** 10,
  ki: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mi: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gi: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  ti: 2 ** 40,
  tib: 2 ** 40,
  p: 2 ** 50,
  pi: 2 ** 50,
  pib: 2 ** 50,
};

/** Decimal units: only with a capital B after the prefix, as dd distinguishes "kB" from "K". */
const DECIMAL: Readonly<Record<string, number>> = {
  kB: 1e3,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  PB: 1e15,
};

/**
 * Parses a byte count: a number with an optional unit. `what` names the option in the error
 * ("--bs"). The result is a safe integer; negative values, fractions of a byte and values beyond
 * 2^53 are refused.
 */
export function parseSize(text: string, what = "size"): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)\s*$/.exec(text);
  if (m === null) throw new ConfigError(`${what} "${text}" is not a size (examples: 4096, 4k, 1M, 256MiB, 1T)`);
  const [, num = "", unit = ""] = m;
  const multiplier = DECIMAL[unit] ?? BINARY[unit.toLowerCase()];
  if (multiplier === undefined) {
    throw new ConfigError(`${what} "${text}": unknown unit "${unit}" (use k, M, G, T, P or KiB, MiB, GiB, TiB; kB, MB, GB for powers of 1000)`);
  }
  const value = exactProduct(num, multiplier);
  if (value === undefined) throw new ConfigError(`${what} "${text}" is not a whole number of bytes`);
  if (!Number.isSafeInteger(value)) throw new ConfigError(`${what} "${text}" is too large`);
  return value;
}

/**
 * `num * multiplier` computed exactly from the decimal digits (so "1.1k" is 1126.4 and refused,
 * and "0.5k" is 512), or undefined when it is not a whole number.
 */
function exactProduct(num: string, multiplier: number): number | undefined {
  const [intPart = "", fracPart = ""] = num.split(".");
  const digits = BigInt((intPart === "" ? "0" : intPart) + fracPart);
  const scale = 10n ** BigInt(fracPart.length);
  const product = digits * BigInt(multiplier);
  if (product % scale !== 0n) return undefined;
  const result = product / scale;
  return result > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(result);
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration into milliseconds: `500ms`, `10s`, `1.5s`, `2m`, `1h`, `250us`. A bare
 * number is seconds, as sleep(1) and timeout(1) read it.
 */
export function parseDuration(text: string, what = "duration"): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zµ]*)\s*$/i.exec(text);
  if (m === null) throw new ConfigError(`${what} "${text}" is not a duration (examples: 500ms, 10s, 1.5s, 2m)`);
  const [, num = "", unit = ""] = m;
  const multiplier = unit === "" ? 1000 : DURATION_UNITS[unit.toLowerCase()];
  if (multiplier === undefined) throw new ConfigError(`${what} "${text}": unknown unit "${unit}" (use ms, s, m or h)`);
  const value = Number(num) * multiplier;
  if (!Number.isFinite(value) || value > 2 ** 31 * 1000) throw new ConfigError(`${what} "${text}" is too long`);
  return value;
}

/** A non-negative integer option (`--lba`, `--count`); `what` names it in the error. */
export function parseCount(text: string, what: string, options: { readonly min?: number; readonly max?: number } = {}): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new ConfigError(`${what} "${text}" is not a whole number`);
  const value = Number(text);
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${what} ${text} is out of range (${min} to ${max})`);
  }
  return value;
}

const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** `16 MiB`, `1.5 GiB`, `512 B`: three significant digits at most, no trailing zeros. */
export function formatBytes(bytes: number | bigint): string {
  let value = typeof bytes === "bigint" ? Number(bytes) : bytes;
  if (!Number.isFinite(value)) return String(bytes);
  let unit = 0;
  // Compare the rounded text, so 1023.9 KiB prints as "1 MiB", not "1024 KiB".
  while (Math.abs(Number(trimNumber(value))) >= 1024 && unit < IEC.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${trimNumber(value)} ${IEC[unit] ?? "B"}`;
}

/**
 * Throughput in binary units per second ("MiB/s"), the family `formatBytes` uses, so one output
 * never shows MiB beside MB (iscsi-perf's "MB/s" are 2^20 bytes too; fio prints MiB/s first).
 */
export function formatRate(bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond)) return "-";
  if (bytesPerSecond >= 2 ** 30) return `${(bytesPerSecond / 2 ** 30).toFixed(2)} GiB/s`;
  if (bytesPerSecond >= 2 ** 20) return `${(bytesPerSecond / 2 ** 20).toFixed(1)} MiB/s`;
  if (bytesPerSecond >= 2 ** 10) return `${(bytesPerSecond / 2 ** 10).toFixed(1)} KiB/s`;
  return `${Math.round(bytesPerSecond)} B/s`;
}

/** A duration for a human: `850 µs`, `12.3 ms`, `4.20 s`, `3m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${trimNumber(ms)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, "0")}s`;
  const minutes = Math.round(totalSeconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/** A count with thousands grouped: 12,345. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** At most three significant digits, trailing zeros dropped: 16, 1.5, 0.123, 123. */
function trimNumber(value: number): string {
  const abs = Math.abs(value);
  const text = abs >= 100 || Number.isInteger(value) ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}
