/**
 * Deterministic test data and fast comparison. The pattern's bytes depend on their absolute
 * offset and a seed, so any range of a file (or of a LUN) can be regenerated and checked on its
 * own, and data written to the wrong place never matches by accident: each 4-byte word is a
 * bijective mix (MurmurHash3's finaliser) of its word index and the seed.
 */
import { open } from "node:fs/promises";

const CHUNK = 1 << 20;

function mixWord(wordIndex: number, seed: number): number {
  const lo = wordIndex >>> 0;
  const hi = Math.floor(wordIndex / 0x1_0000_0000) >>> 0;
  let h = (lo ^ Math.imul(hi, 0x27d4eb2f) ^ Math.imul(seed | 0, 0x9e3779b9)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fills `target` with the pattern bytes of absolute offsets [offset, offset + target.length). */
export function fillPattern(target: Uint8Array, offset: number, seed: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`pattern offset ${offset} is not a safe non-negative integer`);
  let i = 0;
  // A leading partial word, then whole words (little-endian), then a trailing partial word.
  while (i < target.length && (offset + i) % 4 !== 0) {
    const at = offset + i;
    target[i] = (mixWord(Math.floor(at / 4), seed) >>> ((at % 4) * 8)) & 0xff;
    i++;
  }
  let word = (offset + i) / 4;
  for (; i + 4 <= target.length; i += 4, word++) {
    const w = mixWord(word, seed);
    target[i] = w & 0xff;
    target[i + 1] = (w >>> 8) & 0xff;
    target[i + 2] = (w >>> 16) & 0xff;
    target[i + 3] = w >>> 24;
  }
  if (i < target.length) {
    const w = mixWord(word, seed);
    for (let k = 0; i < target.length; i++, k++) target[i] = (w >>> (k * 8)) & 0xff;
  }
}

/** The pattern bytes of absolute offsets [offset, offset + length). */
export function patternBytes(offset: number, length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  fillPattern(bytes, offset, seed);
  return bytes;
}

/** Writes `size` pattern bytes to `path` (created or truncated), 1 MiB at a time. */
export async function writePatternFile(path: string, size: number, seed: number): Promise<void> {
  const file = await open(path, "w");
  try {
    const chunk = new Uint8Array(Math.min(CHUNK, size));
    for (let at = 0; at < size; at += CHUNK) {
      const view = chunk.subarray(0, Math.min(CHUNK, size - at));
      fillPattern(view, at, seed);
      await file.write(view, 0, view.length, at);
    }
  } finally {
    await file.close();
  }
}

/**
 * The first offset at which `a` and `b` differ, or -1 if they are equal. If one is a prefix of
 * the other, that is the shorter one's length. Compares 64 KiB at a time with memcmp
 * (`Buffer.compare`) and looks byte by byte only inside the first chunk that differs.
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const common = Math.min(a.length, b.length);
  const step = 1 << 16;
  for (let at = 0; at < common; at += step) {
    const end = Math.min(at + step, common);
    if (Buffer.compare(a.subarray(at, end), b.subarray(at, end)) !== 0) {
      for (let i = at; i < end; i++) if (a[i] !== b[i]) return i;
    }
  }
  return a.length === b.length ? -1 : common;
}

/** Where two byte sources first differ; a byte is undefined where its source had ended. */
export interface Mismatch {
  readonly offset: number;
  readonly expected: number | undefined;
  readonly actual: number | undefined;
}

export function describeMismatch(m: Mismatch): string {
  const show = (v: number | undefined): string => (v === undefined ? "end of data" : `0x${v.toString(16).padStart(2, "0")}`);
  return `first difference at offset ${m.offset} (0x${m.offset.toString(16)}): expected ${show(m.expected)}, got ${show(m.actual)}`;
}

function mismatchIn(expected: Uint8Array, actual: Uint8Array, base: number): Mismatch | undefined {
  const at = firstDifference(expected, actual);
  return at < 0 ? undefined : { offset: base + at, expected: expected[at], actual: actual[at] };
}

export interface CompareOptions {
  /** Compare only this many bytes (both sources must have them); else whole files of equal size. */
  readonly length?: number;
}

/** Compares two files chunk by chunk; undefined if they are equal. */
export async function compareFiles(expectedPath: string, actualPath: string, options: CompareOptions = {}): Promise<Mismatch | undefined> {
  const [fe, fa] = [await open(expectedPath, "r"), await open(actualPath, "r")];
  try {
    const [se, sa] = [(await fe.stat()).size, (await fa.stat()).size];
    const length = options.length ?? Math.min(se, sa);
    const be = new Uint8Array(CHUNK);
    const ba = new Uint8Array(CHUNK);
    for (let at = 0; at < length; at += CHUNK) {
      const want = Math.min(CHUNK, length - at);
      const ne = (await fe.read(be, 0, want, at)).bytesRead;
      const na = (await fa.read(ba, 0, want, at)).bytesRead;
      const m = mismatchIn(be.subarray(0, ne), ba.subarray(0, na), at);
      if (m !== undefined) return m;
    }
    if (options.length === undefined && se !== sa) {
      return { offset: length, expected: se > sa ? await byteAt(fe, length) : undefined, actual: sa > se ? await byteAt(fa, length) : undefined };
    }
    return undefined;
  } finally {
    await fe.close();
    await fa.close();
  }
}

/** Checks that `path` holds `length` pattern bytes of `seed` from `offset`; undefined if it does. */
export async function verifyPatternFile(path: string, length: number, seed: number, offset = 0): Promise<Mismatch | undefined> {
  const file = await open(path, "r");
  try {
    const expected = new Uint8Array(CHUNK);
    const actual = new Uint8Array(CHUNK);
    for (let at = 0; at < length; at += CHUNK) {
      const want = Math.min(CHUNK, length - at);
      fillPattern(expected.subarray(0, want), offset + at, seed);
      const got = (await file.read(actual, 0, want, offset + at)).bytesRead;
      const m = mismatchIn(expected.subarray(0, want), actual.subarray(0, got), offset + at);
      if (m !== undefined) return m;
    }
    return undefined;
  } finally {
    await file.close();
  }
}

async function byteAt(file: Awaited<ReturnType<typeof open>>, offset: number): Promise<number | undefined> {
  const one = new Uint8Array(1);
  const { bytesRead } = await file.read(one, 0, 1, offset);
  return bytesRead === 1 ? one[0] : undefined;
}
