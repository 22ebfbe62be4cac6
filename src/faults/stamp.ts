/**
 * Self-describing blocks for the write-and-verify workload. Every block written carries what it
 * should be: the run, the LBA it was written to, the generation of the write, and a CRC32C over
 * the whole block, so a read tells apart a block that holds the right write, an older write, a
 * write meant for another LBA (misdirected), a torn or bit-flipped block, and one never written.
 *
 *     0   8 bytes  magic "ISTSVRFY"
 *     8   4        run id
 *     12  2        worker (owner of the LBA's stripe)
 *     14  2        reserved (0)
 *     16  8        LBA (big-endian)
 *     24  4        generation (per worker, from 1)
 *     28  4        write id (the write that stamped it, for reports)
 *     32  ...      filler drawn from (run, LBA, generation)
 *     n-4 4        CRC32C of bytes 0..n-4
 */
import type { Crc32c } from "../core/digest/crc32c.js";
import { crc32c as pureCrc32c } from "../core/digest/crc32c.js";
import { LocalProtocolError } from "../core/errors.js";

export const STAMP_MAGIC = Uint8Array.from("ISTSVRFY", (c) => c.charCodeAt(0));
export const MIN_STAMPED_BLOCK = 64;

export interface Stamp {
  readonly runId: number;
  readonly worker: number;
  readonly lba: number;
  readonly generation: number;
  readonly writeId: number;
}

export type BlockReading =
  | { readonly kind: "stamped"; readonly stamp: Stamp }
  /** All zeros: never written (by anyone) since the LUN was created. */
  | { readonly kind: "blank" }
  /** Not one of ours: no magic (other data). */
  | { readonly kind: "foreign" }
  /** Our magic but a checksum that does not match: torn or corrupted. */
  | { readonly kind: "corrupt"; readonly why: string };

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function get32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Writes the stamp of one block into `block` (its whole length). */
export function stampBlock(block: Uint8Array, stamp: Stamp, crc32c: Crc32c = pureCrc32c): void {
  const n = block.length;
  if (n < MIN_STAMPED_BLOCK) throw new LocalProtocolError(`a stamped block needs at least ${MIN_STAMPED_BLOCK} bytes, got ${n}`);
  if (!Number.isSafeInteger(stamp.lba) || stamp.lba < 0) throw new LocalProtocolError(`stamp: LBA ${stamp.lba} is not a non-negative integer`);
  block.set(STAMP_MAGIC, 0);
  put32(block, 8, stamp.runId);
  block[12] = stamp.worker >>> 8;
  block[13] = stamp.worker;
  block[14] = 0;
  block[15] = 0;
  put32(block, 16, Math.floor(stamp.lba / 0x1_0000_0000));
  put32(block, 20, stamp.lba >>> 0);
  put32(block, 24, stamp.generation);
  put32(block, 28, stamp.writeId);
  // xorshift32 filler: a block copied from another LBA or generation differs everywhere.
  let s = (stamp.runId ^ Math.imul(stamp.lba >>> 0, 0x9e3779b1) ^ Math.imul(stamp.generation, 0x85ebca6b)) >>> 0 || 1;
  for (let o = 32; o < n - 4; o += 4) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    put32(block, o, s);
  }
  put32(block, n - 4, crc32c(block.subarray(0, n - 4)));
}

/** Stamps `count` consecutive blocks from `lba`, each with its own LBA. */
export function stampBlocks(blockSize: number, count: number, base: Omit<Stamp, "lba"> & { readonly lba: number }, crc32c?: Crc32c): Uint8Array {
  const out = new Uint8Array(blockSize * count);
  for (let i = 0; i < count; i++) stampBlock(out.subarray(i * blockSize, (i + 1) * blockSize), { ...base, lba: base.lba + i }, crc32c);
  return out;
}

/** What a block read back holds. */
export function readStamp(block: Uint8Array, crc32c: Crc32c = pureCrc32c): BlockReading {
  const n = block.length;
  let magic = n >= MIN_STAMPED_BLOCK;
  for (let i = 0; magic && i < STAMP_MAGIC.length; i++) if (block[i] !== STAMP_MAGIC[i]) magic = false;
  if (!magic) {
    for (let i = 0; i < n; i++) if (block[i] !== 0) return { kind: "foreign" };
    return { kind: "blank" };
  }
  const stored = get32(block, n - 4);
  const computed = crc32c(block.subarray(0, n - 4));
  if (stored !== computed) {
    return { kind: "corrupt", why: `checksum 0x${stored.toString(16).padStart(8, "0")} stored, 0x${computed.toString(16).padStart(8, "0")} computed` };
  }
  return {
    kind: "stamped",
    stamp: {
      runId: get32(block, 8),
      worker: (block[12]! << 8) | block[13]!,
      lba: get32(block, 16) * 0x1_0000_0000 + get32(block, 20),
      generation: get32(block, 24),
      writeId: get32(block, 28),
    },
  };
}
