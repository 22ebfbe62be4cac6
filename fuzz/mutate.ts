/**
 * Byte-level mutations for corpus fuzzing, in the spirit of libFuzzer's: flip bits, set bytes to
 * interesting values, insert, delete, duplicate and splice ranges, and rewrite big-endian length
 * fields. iSCSI and SCSI put lengths at fixed offsets, so "interesting" values include the edges
 * of 8-, 16-, 24- and 32-bit fields.
 */
import type { SeededRandom } from "../src/faults/random.js";

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_32 = [0, 1, 2, 3, 4, 47, 48, 0xff, 0x100, 0x1ff, 0x200, 0x2000, 0x10000, 0xff_ffff, 0x100_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
/** Inputs never grow past this, so a mutated input stays cheap to run. */
export const MAX_INPUT = 256 * 1024;

function putBE(bytes: Uint8Array, at: number, width: number, value: number): void {
  for (let i = width - 1; i >= 0; i--) {
    if (at + i < bytes.length) bytes[at + i] = value & 0xff;
    value = Math.floor(value / 256);
  }
}

/** One mutation of `input` (never in place). `others` are other inputs to splice from. */
export function mutateOnce(input: Uint8Array, random: SeededRandom, others: readonly Uint8Array[]): Uint8Array {
  const n = input.length;
  const choice = n === 0 ? random.pick([5, 6]) : random.int(0, 9);
  const out = input.slice();
  switch (choice) {
    case 0: {
      const bit = random.int(0, n * 8 - 1);
      out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
      return out;
    }
    case 1:
      out[random.int(0, n - 1)] = random.pick(INTERESTING_8);
      return out;
    case 2:
      out[random.int(0, n - 1)] = random.int(0, 255);
      return out;
    case 3: {
      // A length field: 1, 2, 3 or 4 bytes at a random spot, set to an edge value.
      const width = random.int(1, 4);
      putBE(out, random.int(0, n - 1), width, random.pick(INTERESTING_32) % 2 ** (8 * width));
      return out;
    }
    case 4: {
      // A length field nudged by a little.
      const at = random.int(0, Math.max(0, n - 2));
      const value = ((out[at] as number) << 8) | (out[at + 1] ?? 0);
      putBE(out, at, 2, (value + random.int(-8, 8)) & 0xffff);
      return out;
    }
    case 5: {
      if (n >= MAX_INPUT) return out;
      const at = random.int(0, n);
      const insert = new Uint8Array(random.int(1, 32)).map(() => random.int(0, 255));
      return concat([input.subarray(0, at), insert, input.subarray(at)]);
    }
    case 6: {
      if (others.length === 0 || n >= MAX_INPUT) return out;
      const other = random.pick(others);
      const from = random.int(0, other.length);
      const piece = other.subarray(from, from + random.int(1, 512));
      const at = random.int(0, n);
      return concat([input.subarray(0, at), piece, input.subarray(random.chance(0.5) ? at : Math.min(n, at + piece.length))]);
    }
    case 7: {
      const at = random.int(0, n - 1);
      return concat([input.subarray(0, at), input.subarray(Math.min(n, at + random.int(1, 64)))]);
    }
    case 8: {
      // Truncate: the peer stops mid-way.
      return input.slice(0, random.int(0, n - 1));
    }
    default: {
      if (n >= MAX_INPUT) return out;
      const at = random.int(0, n - 1);
      const piece = input.subarray(at, at + random.int(1, 128));
      return concat([input.subarray(0, at), piece, input.subarray(at)]);
    }
  }
}

/** 1 to 8 stacked mutations. */
export function mutate(input: Uint8Array, random: SeededRandom, others: readonly Uint8Array[]): Uint8Array {
  let out = input;
  const rounds = 1 + Math.floor(-Math.log2(1 - random.next() * 0.996));
  for (let i = 0; i < Math.min(rounds, 8); i++) out = mutateOnce(out, random, others);
  return out.length > MAX_INPUT ? out.subarray(0, MAX_INPUT) : out;
}

export function concat(pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of pieces) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
