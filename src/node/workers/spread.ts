/**
 * One LUN reached through several sessions, each on its own worker where the pool has them: a
 * read or write goes to the next session in turn. It is what `iscsi perf --workers N` measures
 * (one session per worker, the queue depth spread over them) and what the benchmark compares
 * against the same sessions on the caller's thread. The shape is perf's `LunLike`, so the
 * workload engine drives it as it drives one Lun.
 */
import { ConfigError } from "../../core/errors.js";
import type { Capacity, SessionOptions } from "../index.js";
import type { LunApi, ReadOptions, SessionApi, WriteOptions } from "./api.js";
import { createWorkerPool, type WorkerPool } from "./pool.js";

export interface SpreadLun {
  readonly sessions: readonly SessionApi[];
  readonly luns: readonly LunApi[];
  /** READ CAPACITY through every session (each learns it, so no read waits for it later); the first's answer. */
  readCapacity(): Promise<Capacity>;
  /** The largest transfer, learned through every session likewise. */
  maxTransferSize(): Promise<number>;
  read(lba: number, blocks: number, options?: ReadOptions): Promise<Uint8Array>;
  write(lba: number, data: Uint8Array, options?: WriteOptions): Promise<void>;
  /** Logs every session out (dropping those that will not). */
  close(): Promise<void>;
}

export interface SpreadOptions {
  /** Sessions to open; default one per worker (one when the pool has none). */
  readonly sessions?: number;
  readonly overrides?: Partial<SessionOptions>;
}

/** Opens `sessions` sessions to the same target through `pool` and spreads I/O to `lun` over them. */
export async function openSpreadLun(pool: WorkerPool, target: string | SessionOptions, lun: number, options: SpreadOptions = {}): Promise<SpreadLun> {
  const count = options.sessions ?? Math.max(1, pool.workers);
  if (!Number.isInteger(count) || count < 1 || count > 1024) throw new ConfigError(`sessions is ${String(count)}: it must be a whole number from 1 to 1024`);
  // Opened one after another, so that the pool's least-loaded choice sees each one placed.
  const sessions: SessionApi[] = [];
  try {
    for (let i = 0; i < count; i++) sessions.push(await pool.openSession(target, options.overrides));
  } catch (error) {
    await Promise.allSettled(sessions.map((s) => s[Symbol.asyncDispose]()));
    throw error;
  }
  const luns = sessions.map((s) => s.lun(lun));
  let next = 0;
  const pick = (): LunApi => {
    const chosen = luns[next] as LunApi;
    next = (next + 1) % luns.length;
    return chosen;
  };
  return {
    sessions,
    luns,
    readCapacity: async () => (await Promise.all(luns.map((l) => l.readCapacity())))[0] as Capacity,
    maxTransferSize: async () => Math.min(...(await Promise.all(luns.map((l) => l.maxTransferSize())))),
    read: (lba, blocks, readOptions) => pick().read(lba, blocks, readOptions),
    write: (lba, data, writeOptions) => pick().write(lba, data, writeOptions),
    close: async () => {
      await Promise.allSettled(sessions.map((s) => s[Symbol.asyncDispose]()));
    },
  };
}

/**
 * `body` with a LUN spread over sessions on `workers` worker threads (0: on this thread), one
 * session per worker unless `sessions` says otherwise; every session is logged out and every
 * worker ended when `body` settles. What `iscsi perf --workers N` calls.
 */
export async function withSpreadLun<T>(
  target: string | SessionOptions,
  lun: number,
  options: SpreadOptions & { readonly workers: number },
  body: (spread: SpreadLun) => Promise<T>,
): Promise<T> {
  const pool = createWorkerPool({ workers: options.workers });
  try {
    const spread = await openSpreadLun(pool, target, lun, options);
    try {
      return await body(spread);
    } finally {
      await spread.close();
    }
  } finally {
    await pool.close();
  }
}
