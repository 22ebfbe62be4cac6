/**
 * RFC 1982 serial number arithmetic with SERIAL_BITS = 32, as RFC 7143 §4.2.2.1 requires for
 * CmdSN, ExpCmdSN, MaxCmdSN, StatSN, DataSN and R2TSN: the counters wrap at 2^32, and "less than"
 * means "fewer than 2^31 steps behind".
 *
 * All inputs are unsigned 32-bit numbers; results are too.
 */
import { LocalProtocolError } from "./errors.js";

const HALF = 0x8000_0000;

/** `(a + n) mod 2^32`. RFC 1982 §3.1: n must be in [0, 2^31 - 1]. */
export function serialAdd(a: number, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= HALF) {
    throw new LocalProtocolError(`serialAdd: increment ${n} is outside [0, 2^31 - 1] (RFC 1982 §3.1)`);
  }
  return (a + n) >>> 0;
}

/**
 * RFC 1982 §3.2: a < b when b is 1 to 2^31 - 1 steps ahead of a. When a and b are exactly 2^31
 * apart the comparison is undefined; we answer false for both lt and gt so that such a number is
 * never taken as inside any window.
 */
export function serialLt(a: number, b: number): boolean {
  const d = (b - a) >>> 0;
  return d !== 0 && d < HALF;
}

export function serialGt(a: number, b: number): boolean {
  return serialLt(b, a);
}

/** a < b or a === b (so false in the undefined half-way case). */
export function serialLte(a: number, b: number): boolean {
  return (a >>> 0) === (b >>> 0) || serialLt(a, b);
}

export function serialGte(a: number, b: number): boolean {
  return serialLte(b, a);
}

/** `(to - from) mod 2^32` as an unsigned number: the steps from `from` forward to `to`. */
export function serialDistance(from: number, to: number): number {
  return (to - from) >>> 0;
}

/**
 * low <= sn <= high in serial order; the window may wrap past 2^32. A window whose high end is
 * behind its low end (such as RFC 7143 §4.2.2.1's MaxCmdSN = ExpCmdSN - 1, "window closed") is
 * empty, as is one wider than 2^31 - 1, which serial arithmetic cannot describe.
 */
export function serialInWindow(sn: number, low: number, high: number): boolean {
  const width = (high - low) >>> 0;
  return width < HALF && ((sn - low) >>> 0) <= width;
}
