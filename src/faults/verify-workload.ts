/**
 * The write-and-verify workload: drives a block device (a LUN through the library) with N workers
 * while faults happen, keeps a ledger of every write (acknowledged, failed with its error code, or
 * still pending), and proves at the end that every acknowledged write reads back and that no
 * write was left without an answer.
 *
 * Concurrent writes to one LBA would make "what should be there" ambiguous, so they are avoided by
 * design: each worker owns a stripe of the region and has one I/O in flight at a time. Per LBA the
 * ledger then knows the last acknowledged generation, and the generations of later writes that
 * failed (those may or may not have reached the medium: RFC 7143 §7.1.1 gives no guarantee for a
 * command whose status was lost). A block reads back correctly when it holds the last acknowledged
 * generation or one of those later failed ones; it is lost when it holds an older generation, no
 * stamp, or a stamp for another LBA; it is corrupt when its checksum fails.
 */
import type { Crc32c } from "../core/digest/crc32c.js";
import { IscsiError, LocalProtocolError } from "../core/errors.js";
import type { RecoveryRecord } from "../core/session/recovery.js";
import type { Lun } from "../client/lun.js";
import { SeededRandom } from "./random.js";
import { readStamp, stampBlocks } from "./stamp.js";

/** What the workload needs of a LUN. */
export interface BlockDevice {
  readonly blockSize: number;
  /** Number of blocks on the device. */
  readonly blocks: number;
  write(lba: number, data: Uint8Array): Promise<void>;
  read(lba: number, blocks: number): Promise<Uint8Array>;
  /** The session's recovery episodes, for the figures (retried, recovered). */
  recoveries?(): readonly RecoveryRecord[];
}

/** A library LUN as a BlockDevice (reads its capacity first). */
export async function lunDevice(lun: Lun, options: { readonly timeoutMs?: number } = {}): Promise<BlockDevice> {
  const capacity = lun.capacity ?? (await lun.readCapacity());
  const io = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  const blocks = typeof capacity.blocks === "bigint" ? Number.MAX_SAFE_INTEGER : capacity.blocks;
  return {
    blockSize: capacity.blockSize,
    blocks,
    write: (lba, data) => lun.write(lba, data, io),
    read: (lba, count) => lun.read(lba, count, io),
    recoveries: () => lun.session.recoveries,
  };
}

export interface WorkloadOptions {
  readonly device: BlockDevice;
  /** Workers, each with one I/O in flight: the queue depth. */
  readonly queueDepth: number;
  /** The LBAs used: `blocks` blocks from `start`; the first 16 MiB of the device unless told. */
  readonly region?: { readonly start: number; readonly blocks: number };
  /** Largest write, in blocks (each write takes 1..max, random); 16 unless told. */
  readonly maxBlocksPerWrite?: number;
  /** Share of I/Os that read back and check a worker's own blocks while running; 0.2 unless told. */
  readonly readFraction?: number;
  /** Seed of LBAs, sizes and the run id; the run id is drawn from it unless given. */
  readonly seed?: number;
  readonly runId?: number;
  /**
   * Pause of a worker after a failed I/O, so a session that is gone (every call fails at once)
   * does not turn the workload into a busy loop; 20 ms unless told.
   */
  readonly failurePauseMs?: number;
  /** How long `stop()` waits for I/O in flight to be answered; 60 s unless told. */
  readonly settleTimeoutMs?: number;
  /** Device for the final read-back (the session may have given up); the workload's device unless told. */
  readonly verifyDevice?: () => Promise<BlockDevice>;
  /** Blocks read per command in the final pass; 256 unless told. */
  readonly verifyChunkBlocks?: number;
  readonly crc32c?: Crc32c;
}

export interface WorkloadReport {
  readonly runId: number;
  readonly queueDepth: number;
  readonly region: { readonly start: number; readonly blocks: number };
  readonly durationMs: number;
  readonly writes: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly failedByCode: Readonly<Record<string, number>>;
  /** Writes and reads with no answer when the run was stopped and settled (must be 0). */
  readonly pending: number;
  /** Rejections that were not IscsiErrors (must be 0: the library throws only its own errors). */
  readonly unexpectedErrors: number;
  readonly reads: number;
  readonly readFailures: number;
  /** Reads during the run that returned something other than what the ledger allows (must be 0). */
  readonly readMismatches: number;
  /** Blocks whose last write was acknowledged, checked in the final pass. */
  readonly ackedBlocks: number;
  /** Blocks whose content came from a write that failed (it reached the medium after all). */
  readonly failedWritesLanded: number;
  /** Acknowledged blocks that did not read back (must be 0). */
  readonly lost: number;
  /** Blocks with our stamp and a bad checksum, or a generation never written there (must be 0). */
  readonly corrupt: number;
  /** Longest time with no I/O answered, in ms (how long I/O was held through a fault). */
  readonly longestStallMs: number;
  /** From the session: recovery episodes, those that ended with the session back, commands retried. */
  readonly recoveries: number;
  readonly recovered: number;
  readonly retried: number;
  readonly recoveryFailed: number;
  /** Up to 10 descriptions of what went wrong, for the test's message. */
  readonly problems: readonly string[];
  /** lost, corrupt, pending, readMismatches and unexpectedErrors are all 0. */
  readonly ok: boolean;
}

interface Worker {
  readonly id: number;
  readonly start: number;
  readonly blocks: number;
  generation: number;
  busy: Promise<boolean> | undefined;
}

function errorCode(error: unknown): string {
  return error instanceof IscsiError ? error.code : `NOT_ISCSI:${error instanceof Error ? error.name : typeof error}`;
}

const MAX_PROBLEMS = 10;
const DEFAULT_REGION_BYTES = 16 * 1024 * 1024;

export class VerifyWorkload {
  readonly runId: number;
  readonly region: { readonly start: number; readonly blocks: number };
  private readonly device: BlockDevice;
  private readonly random: SeededRandom;
  private readonly workers: Worker[] = [];
  /** Per block of the region: generation of the last acknowledged write (0: none). */
  private readonly acked: Uint32Array;
  /** Per block: generations of writes that failed after the last acknowledged one. */
  private readonly uncertain = new Map<number, number[]>();
  private stopping = false;
  private running: Promise<void> | undefined;
  private startedAt = 0;
  private lastAnswerAt = 0;
  private writeIds = 0;
  private readonly counts = {
    writes: 0,
    acknowledged: 0,
    failed: 0,
    unexpectedErrors: 0,
    reads: 0,
    readFailures: 0,
    readMismatches: 0,
    longestStallMs: 0,
  };
  private readonly failedByCode: Record<string, number> = {};
  private readonly problems: string[] = [];
  private readonly ackWaiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(private readonly options: WorkloadOptions) {
    const device = options.device;
    this.device = device;
    this.random = new SeededRandom(options.seed ?? 1);
    this.runId = options.runId ?? this.random.nextU32();
    const blocks = options.region?.blocks ?? Math.min(device.blocks, Math.floor(DEFAULT_REGION_BYTES / device.blockSize));
    this.region = { start: options.region?.start ?? 0, blocks };
    if (!Number.isInteger(options.queueDepth) || options.queueDepth < 1) {
      throw new LocalProtocolError(`queue depth must be a positive integer, got ${options.queueDepth}`);
    }
    if (this.region.start < 0 || this.region.start + blocks > device.blocks || blocks < options.queueDepth) {
      throw new LocalProtocolError(`region ${this.region.start}+${blocks} does not fit ${options.queueDepth} stripes on a device of ${device.blocks} blocks`);
    }
    this.acked = new Uint32Array(blocks);
    const stripe = Math.floor(blocks / options.queueDepth);
    for (let i = 0; i < options.queueDepth; i++) {
      const last = i === options.queueDepth - 1;
      this.workers.push({ id: i, start: this.region.start + i * stripe, blocks: last ? blocks - i * stripe : stripe, generation: 0, busy: undefined });
    }
  }

  get acknowledged(): number {
    return this.counts.acknowledged;
  }

  get writes(): number {
    return this.counts.writes;
  }

  /** Resolves once `count` writes in all have been acknowledged (to time a fault inside traffic). */
  whenAcknowledged(count: number): Promise<void> {
    if (this.counts.acknowledged >= count) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push({ count, resolve }));
  }

  /** Starts the workers. */
  start(): void {
    if (this.running !== undefined) throw new LocalProtocolError("the workload is already running");
    this.startedAt = performance.now();
    this.lastAnswerAt = this.startedAt;
    this.running = Promise.all(this.workers.map((w) => this.loop(w))).then(() => undefined);
  }

  /**
   * Stops issuing, waits (up to the settle timeout) for every I/O in flight to be answered, then
   * reads the whole region back and reports.
   */
  async stop(): Promise<WorkloadReport> {
    if (this.running === undefined) throw new LocalProtocolError("the workload was not started");
    this.stopping = true;
    const settleMs = this.options.settleTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.running.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), settleMs);
      }),
    ]);
    clearTimeout(timer);
    const pending = settled ? 0 : this.workers.filter((w) => w.busy !== undefined).length;
    if (!settled) this.problem(`${pending} I/O(s) still had no answer ${settleMs} ms after the run stopped`);
    const durationMs = performance.now() - this.startedAt;
    const verify = await this.verify();
    const records = this.device.recoveries?.() ?? [];
    const report: WorkloadReport = {
      runId: this.runId,
      queueDepth: this.workers.length,
      region: this.region,
      durationMs: Math.round(durationMs),
      writes: this.counts.writes,
      acknowledged: this.counts.acknowledged,
      failed: this.counts.failed,
      failedByCode: { ...this.failedByCode },
      pending,
      unexpectedErrors: this.counts.unexpectedErrors,
      reads: this.counts.reads,
      readFailures: this.counts.readFailures,
      readMismatches: this.counts.readMismatches,
      ackedBlocks: verify.ackedBlocks,
      failedWritesLanded: verify.failedWritesLanded,
      lost: verify.lost,
      corrupt: verify.corrupt,
      longestStallMs: Math.round(this.counts.longestStallMs),
      recoveries: records.length,
      recovered: records.filter((r) => r.outcome === "recovered").length,
      retried: records.reduce((n, r) => n + r.retried, 0),
      recoveryFailed: records.reduce((n, r) => n + r.failed, 0),
      problems: [...this.problems],
      ok: verify.lost === 0 && verify.corrupt === 0 && pending === 0 && this.counts.readMismatches === 0 && this.counts.unexpectedErrors === 0,
    };
    return report;
  }

  /** Runs for `durationMs` and reports. */
  async run(durationMs: number): Promise<WorkloadReport> {
    this.start();
    await new Promise((resolve) => setTimeout(resolve, durationMs));
    return this.stop();
  }

  private problem(text: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text);
  }

  private answered(): void {
    const now = performance.now();
    this.counts.longestStallMs = Math.max(this.counts.longestStallMs, now - this.lastAnswerAt);
    this.lastAnswerAt = now;
  }

  private async loop(worker: Worker): Promise<void> {
    const random = this.random.fork();
    const maxBlocks = Math.max(1, Math.min(this.options.maxBlocksPerWrite ?? 16, worker.blocks));
    const readFraction = this.options.readFraction ?? 0.2;
    while (!this.stopping) {
      const count = random.int(1, maxBlocks);
      const lba = worker.start + random.int(0, worker.blocks - count);
      const io = worker.generation > 0 && random.chance(readFraction) ? this.readBack(lba, count) : this.write(worker, lba, count);
      worker.busy = io;
      const ok = await io;
      worker.busy = undefined;
      if (!ok) await new Promise((resolve) => setTimeout(resolve, this.options.failurePauseMs ?? 20));
    }
  }

  /** One write; resolves with whether it was acknowledged. */
  private async write(worker: Worker, lba: number, count: number): Promise<boolean> {
    const generation = ++worker.generation;
    const writeId = ++this.writeIds;
    const data = stampBlocks(this.device.blockSize, count, { runId: this.runId, worker: worker.id, lba, generation, writeId }, this.options.crc32c);
    this.counts.writes++;
    try {
      await this.device.write(lba, data);
    } catch (error) {
      this.answered();
      this.counts.failed++;
      const code = errorCode(error);
      this.failedByCode[code] = (this.failedByCode[code] ?? 0) + 1;
      if (!(error instanceof IscsiError)) {
        this.counts.unexpectedErrors++;
        this.problem(`write ${writeId} (LBA ${lba}+${count}) failed with a non-library error: ${String(error)}`);
      }
      for (let i = 0; i < count; i++) {
        const key = lba + i - this.region.start;
        const list = this.uncertain.get(key);
        if (list === undefined) this.uncertain.set(key, [generation]);
        else list.push(generation);
      }
      return false;
    }
    this.answered();
    this.counts.acknowledged++;
    for (let i = 0; i < count; i++) {
      const key = lba + i - this.region.start;
      this.acked[key] = generation;
      this.uncertain.delete(key);
    }
    for (let i = this.ackWaiters.length - 1; i >= 0; i--) {
      const waiter = this.ackWaiters[i] as { count: number; resolve: () => void };
      if (this.counts.acknowledged >= waiter.count) {
        this.ackWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
    return true;
  }

  /** One read, checked against the ledger; resolves with whether it was answered. */
  private async readBack(lba: number, count: number): Promise<boolean> {
    this.counts.reads++;
    let data: Uint8Array;
    try {
      data = await this.device.read(lba, count);
    } catch (error) {
      this.answered();
      this.counts.readFailures++;
      if (!(error instanceof IscsiError)) {
        this.counts.unexpectedErrors++;
        this.problem(`read of LBA ${lba}+${count} failed with a non-library error: ${String(error)}`);
      }
      return false;
    }
    this.answered();
    const size = this.device.blockSize;
    for (let i = 0; i < count; i++) {
      const verdict = this.judge(lba + i, data.subarray(i * size, (i + 1) * size));
      if (verdict.kind !== "ok" && verdict.kind !== "landed") {
        this.counts.readMismatches++;
        this.problem(`read during the run: LBA ${lba + i}: ${verdict.detail}`);
      }
    }
    return true;
  }

  /** What the ledger says of one block's content. */
  private judge(lba: number, block: Uint8Array): { kind: "ok" | "landed" | "lost" | "corrupt"; detail: string } {
    const key = lba - this.region.start;
    const acked = this.acked[key] as number;
    const uncertain = this.uncertain.get(key) ?? [];
    const reading = readStamp(block, this.options.crc32c);
    const expected = acked === 0 ? "no acknowledged write" : `generation ${acked} (acknowledged)`;
    if (reading.kind === "corrupt") return { kind: "corrupt", detail: `corrupt block (${reading.why}); expected ${expected}` };
    const ours = reading.kind === "stamped" && reading.stamp.runId === this.runId;
    if (!ours) {
      if (acked === 0) return { kind: "ok", detail: "" };
      return { kind: "lost", detail: `holds ${reading.kind === "stamped" ? `a block of run ${reading.stamp.runId}` : reading.kind} data; expected ${expected}` };
    }
    const stamp = reading.stamp;
    if (stamp.lba !== lba) return { kind: "corrupt", detail: `holds the block written to LBA ${stamp.lba} (write ${stamp.writeId}); expected ${expected}` };
    if (stamp.generation === acked) return { kind: "ok", detail: "" };
    if (uncertain.includes(stamp.generation)) return { kind: "landed", detail: "" };
    if (stamp.generation < acked) {
      return { kind: "lost", detail: `holds generation ${stamp.generation} (write ${stamp.writeId}); expected ${expected}` };
    }
    return { kind: "corrupt", detail: `holds generation ${stamp.generation} (write ${stamp.writeId}), never written there; expected ${expected}` };
  }

  private async verify(): Promise<{ ackedBlocks: number; failedWritesLanded: number; lost: number; corrupt: number }> {
    const device = this.options.verifyDevice === undefined ? this.device : await this.options.verifyDevice();
    const chunk = this.options.verifyChunkBlocks ?? 256;
    const size = device.blockSize;
    let ackedBlocks = 0;
    let failedWritesLanded = 0;
    let lost = 0;
    let corrupt = 0;
    for (let done = 0; done < this.region.blocks; done += chunk) {
      const count = Math.min(chunk, this.region.blocks - done);
      const lba = this.region.start + done;
      const data = await device.read(lba, count);
      for (let i = 0; i < count; i++) {
        if ((this.acked[done + i] as number) > 0) ackedBlocks++;
        const verdict = this.judge(lba + i, data.subarray(i * size, (i + 1) * size));
        if (verdict.kind === "landed") failedWritesLanded++;
        else if (verdict.kind === "lost") lost++;
        else if (verdict.kind === "corrupt") corrupt++;
        if (verdict.kind === "lost" || verdict.kind === "corrupt") this.problem(`final read-back: LBA ${lba + i}: ${verdict.detail}`);
      }
    }
    return { ackedBlocks, failedWritesLanded, lost, corrupt };
  }
}

/** One line of figures for a test's output. */
export function describeReport(report: WorkloadReport): string {
  const failed = Object.entries(report.failedByCode)
    .map(([code, n]) => `${code} x${n}`)
    .join(", ");
  return (
    `${report.writes} writes (${report.acknowledged} acknowledged, ${report.failed} failed${failed === "" ? "" : `: ${failed}`}, ${report.pending} pending), ` +
    `${report.reads} reads (${report.readMismatches} mismatched), ${report.recoveries} recoveries (${report.recovered} recovered), ` +
    `${report.retried} I/Os retried, longest stall ${report.longestStallMs} ms, ${report.ackedBlocks} acknowledged blocks checked, ` +
    `${report.lost} lost, ${report.corrupt} corrupt`
  );
}
