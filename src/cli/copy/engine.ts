/**
 * The copy pipeline behind `read`, `write` and `cp`: chunks of `chunkSize` bytes move from a
 * Source to a Sink with up to `queueDepth` chunks in flight (so a LUN sees several commands at
 * once and the network stays busy), each chunk read into one of a fixed pool of buffers and
 * written from it without a copy. Zero chunks go to the sink's cheaper `writeZeros` when it has
 * one (a sparse file seeks over them; a thin LUN unmaps them). With `verify`, a digest of every
 * chunk is kept (16 bytes each, so a 1 TiB copy costs 16 MiB) and the destination is read back
 * and compared afterwards: that checks the destination holds what was sent, even for a source
 * that cannot be read twice (stdin).
 */
import { createHash } from "node:crypto";
import { CliError } from "../errors.js";

export interface Source {
  /** Bytes available, when known up front (a file, a LUN); undefined for a stream. */
  readonly size: number | undefined;
  /**
   * Fills `into` with the bytes at `offset` and returns how many it read: fewer than asked only at
   * the end of the source, 0 past it. A stream source is read in the order the calls are made.
   */
  read(offset: number, into: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

export interface Sink {
  /** How zero chunks are saved, or undefined when they must be written like any other data. */
  readonly zeroMethod: string | undefined;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes [offset, offset + length) read as zeros without writing them (when zeroMethod is set). */
  writeZeros?(offset: number, length: number): Promise<void>;
  /** Reads back what was written (for verify); undefined for a destination that cannot be read. */
  readBack?(offset: number, into: Uint8Array): Promise<number>;
  /** Called once after the last write, with the number of bytes copied: fix the size, flush. */
  finish(bytes: number): Promise<void>;
  /** Called by the command when the copy is complete and verified: a file appears under its name. */
  commit?(): Promise<void>;
  /** Called instead of finish when the copy failed: remove what must not be left behind. */
  abort(): Promise<void>;
  /** Called at the first failure, while other chunks may still wait their turn: reject them. */
  cancel?(reason: unknown): void;
}

export interface CopyOptions {
  readonly chunkSize: number;
  readonly queueDepth: number;
  /** Copy at most this many bytes (default: the source's size, or until it ends). */
  readonly length?: number;
  /** Send zero chunks to sink.writeZeros when the sink has it (default true). */
  readonly skipZeros?: boolean;
  /** Keep digests to verify the destination afterwards. */
  readonly verify?: boolean;
  readonly signal?: AbortSignal;
  /** Called after each chunk is written, with the bytes written so far. */
  readonly onProgress?: (bytes: number) => void;
}

export interface CopyResult {
  readonly bytes: number;
  /** Bytes that were zero and went through writeZeros instead of write. */
  readonly zeroBytes: number;
  readonly elapsedMs: number;
  /** Present with `verify`: the digests, for `verifyCopy`. */
  readonly digests: DigestStore | undefined;
}

const DIGEST_BYTES = 16;

/** A growable array of 16-byte chunk digests (SHA-256, truncated: a check, not a signature). */
export class DigestStore {
  private data: Uint8Array;
  private count = 0;
  constructor(expected: number) {
    this.data = new Uint8Array(Math.max(16, expected) * DIGEST_BYTES);
  }
  set(index: number, chunk: Uint8Array): void {
    const end = (index + 1) * DIGEST_BYTES;
    if (end > this.data.length) {
      const bigger = new Uint8Array(Math.max(end, this.data.length * 2));
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data.set(digest(chunk), index * DIGEST_BYTES);
    this.count = Math.max(this.count, index + 1);
  }
  matches(index: number, chunk: Uint8Array): boolean {
    if (index >= this.count) return false;
    const expected = this.data.subarray(index * DIGEST_BYTES, (index + 1) * DIGEST_BYTES);
    const actual = digest(chunk);
    for (let i = 0; i < DIGEST_BYTES; i++) if (expected[i] !== actual[i]) return false;
    return true;
  }
}

function digest(chunk: Uint8Array): Uint8Array {
  return createHash("sha256").update(chunk).digest().subarray(0, DIGEST_BYTES);
}

/** True when every byte is 0, compared eight bytes at a time where the view allows it. */
export function isAllZero(data: Uint8Array): boolean {
  let i = 0;
  if (data.byteOffset % 8 === 0) {
    const words = new BigUint64Array(data.buffer, data.byteOffset, Math.floor(data.length / 8));
    for (let w = 0; w < words.length; w++) if (words[w] !== 0n) return false;
    i = words.length * 8;
  }
  for (; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

function checkOptions(o: CopyOptions): void {
  if (!Number.isSafeInteger(o.chunkSize) || o.chunkSize < 1) throw new CliError("ISCSI_CLI_USAGE", `chunk size ${o.chunkSize} must be a positive number of bytes`);
  if (!Number.isSafeInteger(o.queueDepth) || o.queueDepth < 1) throw new CliError("ISCSI_CLI_USAGE", `queue depth ${o.queueDepth} must be at least 1`);
}

/**
 * Runs `queueDepth` workers, each claiming the next chunk, reading it, and writing it. Offsets
 * are claimed in order and each read is issued before the worker first waits, so a stream source
 * sees its reads in offset order. The first failure stops every worker from claiming more; the
 * copy then rejects with that failure after the chunks in flight have settled. The source is not
 * closed here: whoever opened it closes it.
 */
export async function runCopy(source: Source, sink: Sink, options: CopyOptions): Promise<CopyResult> {
  checkOptions(options);
  const started = performance.now();
  const skipZeros = (options.skipZeros ?? true) && sink.zeroMethod !== undefined && sink.writeZeros !== undefined;
  let limit = options.length ?? source.size ?? Number.POSITIVE_INFINITY;
  const digests = options.verify ? new DigestStore(Number.isFinite(limit) ? Math.ceil(limit / options.chunkSize) : 1024) : undefined;
  let next = 0;
  let written = 0;
  let zeroBytes = 0;
  let failure: unknown;
  const signal = options.signal;
  const fail = (error: unknown): void => {
    if (failure !== undefined) return;
    failure = error;
    sink.cancel?.(error);
  };

  const worker = async (): Promise<void> => {
    const buffer = new Uint8Array(options.chunkSize);
    for (;;) {
      if (failure !== undefined) return;
      if (signal?.aborted) {
        fail(signal.reason);
        return;
      }
      const offset = next;
      if (offset >= limit) return;
      const want = Math.min(options.chunkSize, limit - offset);
      next += want;
      const view = buffer.subarray(0, want);
      const got = await source.read(offset, view);
      if (got < want) limit = Math.min(limit, offset + got);
      if (got === 0) return;
      const data = view.subarray(0, got);
      digests?.set(offset / options.chunkSize, data);
      if (skipZeros && isAllZero(data)) {
        await (sink.writeZeros as (o: number, l: number) => Promise<void>)(offset, got);
        zeroBytes += got;
      } else {
        await sink.write(offset, data);
      }
      written += got;
      options.onProgress?.(written);
    }
  };

  const workers = Array.from({ length: options.queueDepth }, () => worker().catch(fail));
  await Promise.all(workers);
  // The source is left open: its owner closes it, and may first ask a stream cut short by
  // `length` whether it holds more (a source larger than the destination is a failure).
  try {
    if (failure !== undefined) throw failure;
    await sink.finish(written);
  } catch (error) {
    await sink.abort().catch(() => undefined);
    throw error;
  }
  return { bytes: written, zeroBytes, elapsedMs: performance.now() - started, digests };
}

export interface VerifyOptions {
  readonly chunkSize: number;
  readonly queueDepth: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (bytes: number) => void;
  /** Names the destination in the mismatch message. */
  readonly destination: string;
  /** Block size of the destination, to name the LBAs of a mismatch (LUNs). */
  readonly blockSize?: number;
}

/**
 * Reads `bytes` back from the sink, chunk by chunk as they were written, and compares each with
 * its digest. Rejects with a CliError (ISCSI_CLI_VERIFY_MISMATCH) naming the first chunk that
 * differs.
 */
export async function verifyCopy(sink: Sink, bytes: number, digests: DigestStore, options: VerifyOptions): Promise<void> {
  const readBack = sink.readBack?.bind(sink);
  if (readBack === undefined) throw new CliError("ISCSI_CLI_USAGE", `${options.destination} cannot be read back to verify`);
  let next = 0;
  let done = 0;
  let mismatch: number | undefined;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined || options.signal?.aborted) {
        failure ??= options.signal?.reason;
        return;
      }
      const offset = next;
      if (offset >= bytes) return;
      const want = Math.min(options.chunkSize, bytes - offset);
      next += want;
      // A fresh buffer for every chunk: bytes left from the chunk before can never pass for this
      // one's, whatever the destination's read does.
      const view = new Uint8Array(want);
      const got = await readBack(offset, view);
      if (got !== want || !digests.matches(offset / options.chunkSize, view)) {
        mismatch = Math.min(mismatch ?? offset, offset);
      }
      done += want;
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.queueDepth }, () => worker().catch((e: unknown) => void (failure ??= e))));
  if (failure !== undefined) throw failure;
  if (mismatch !== undefined) {
    const end = Math.min(mismatch + options.chunkSize, bytes) - 1;
    const bs = options.blockSize;
    const lbas = bs === undefined ? "" : ` (LBA ${mismatch / bs} to ${Math.floor(end / bs)})`;
    throw new CliError("ISCSI_CLI_VERIFY_MISMATCH", `verification failed: bytes ${mismatch} to ${end} of ${options.destination}${lbas} differ from what was written`);
  }
}
