/**
 * A closed loop of verified I/O on one session: write a slot, read it back, compare, next slot.
 * Each session owns a region of its LUN, cut into slots; each block written carries a stamp
 * (session, LBA, generation) and pattern bytes seeded by the same, so a block from another
 * session, another place or another generation never matches by accident. The loop keeps, per
 * slot, the last generation the target acknowledged and the one in flight, so that whatever was
 * acknowledged can be checked at the end: through the session, or in the target's backing file
 * when the target is gone.
 */
import { IscsiError, type Lun } from "../../src/node/index.js";
import { fillPattern, firstDifference } from "../support/pattern.js";

export const BLOCK = 512;
const STAMP_MAGIC = 0x5ca1_e011;
const STAMP_BYTES = 16;

/** The blocks a session owns: `slots` slots of `slotBlocks` blocks from `startLba`. */
export interface Region {
  readonly startLba: number;
  readonly slots: number;
  readonly slotBlocks: number;
}

/** One completed command: when it was issued (performance.now()) and how long it took. */
export interface OpRecord {
  readonly kind: "write" | "read";
  readonly startedAt: number;
  readonly ms: number;
}

function seedOf(session: number, generation: number): number {
  return (Math.imul(session + 1, 0x9e37_79b1) ^ Math.imul(generation, 0x85eb_ca6b)) | 0;
}

/** The bytes of one block as session `session` writes it at `lba` in `generation` (0: never written, zeros). */
export function fillBlock(target: Uint8Array, session: number, lba: number, generation: number): void {
  if (generation === 0) {
    target.fill(0);
    return;
  }
  const view = new DataView(target.buffer, target.byteOffset, STAMP_BYTES);
  view.setUint32(0, STAMP_MAGIC);
  view.setUint32(4, session);
  view.setUint32(8, lba);
  view.setUint32(12, generation);
  fillPattern(target.subarray(STAMP_BYTES, BLOCK), lba * BLOCK + STAMP_BYTES, seedOf(session, generation));
}

/** What a block holds, read from its stamp, for failure messages. */
export function describeBlock(block: Uint8Array): string {
  const view = new DataView(block.buffer, block.byteOffset, STAMP_BYTES);
  if (block.every((b) => b === 0)) return "zeros";
  if (view.getUint32(0) !== STAMP_MAGIC) return "no stamp";
  return `stamp of session ${view.getUint32(4)}, LBA ${view.getUint32(8)}, generation ${view.getUint32(12)}`;
}

export interface LoopFailure {
  readonly error: unknown;
  /** performance.now() when the loop saw it. */
  readonly at: number;
}

export class VerifiedLoop {
  /** Every command completed, in order of completion. */
  readonly ops: OpRecord[] = [];
  /** Read-backs that did not match what was just written (each a description). */
  readonly mismatches: string[] = [];
  /** Errors, in the order the workers met them; the first one stops the loop. */
  readonly failures: LoopFailure[] = [];
  /** Per slot: the last generation the target acknowledged (0: never written). */
  private readonly acked: Uint32Array;
  /** Per slot: a generation written and not acknowledged (0: none). */
  private readonly unacked: Uint32Array;
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(
    readonly id: number,
    readonly lun: Lun,
    readonly region: Region,
    /** Commands in flight at once: workers, each on its own slots. */
    readonly depth: number,
  ) {
    this.acked = new Uint32Array(region.slots);
    this.unacked = new Uint32Array(region.slots);
  }

  get failed(): boolean {
    return this.failures.length > 0;
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.depth }, (_, w) => this.work(w));
  }

  /** Stops issuing and resolves once every command in flight has completed or failed. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  /** Resolves once the loop has failed (the first error seen). */
  async whenFailed(): Promise<LoopFailure> {
    for (;;) {
      const first = this.failures[0];
      if (first !== undefined) return first;
      if (!this.running) throw new Error(`session ${this.id}'s loop stopped without failing`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Verified write+read pairs whose write was issued in [from, to). */
  pairsIssuedBetween(from: number, to: number): number {
    return this.ops.filter((op) => op.kind === "write" && op.startedAt >= from && op.startedAt < to).length;
  }

  private fillSlot(bytes: Uint8Array, slot: number, generation: number): void {
    const lba = this.region.startLba + slot * this.region.slotBlocks;
    for (let b = 0; b < this.region.slotBlocks; b++) fillBlock(bytes.subarray(b * BLOCK, (b + 1) * BLOCK), this.id, lba + b, generation);
  }

  private async work(worker: number): Promise<void> {
    const { slotBlocks, slots, startLba } = this.region;
    const data = new Uint8Array(slotBlocks * BLOCK);
    const back = new Uint8Array(slotBlocks * BLOCK);
    // Worker w owns slots w, w + depth, w + 2 depth, ...: no two commands in flight touch one slot.
    for (let slot = worker; this.running && !this.failed; slot = slot + this.depth >= slots ? worker : slot + this.depth) {
      const lba = startLba + slot * slotBlocks;
      const generation = (this.acked[slot] as number) + 1;
      this.fillSlot(data, slot, generation);
      try {
        this.unacked[slot] = generation;
        let t0 = performance.now();
        await this.lun.write(lba, data);
        let t1 = performance.now();
        this.acked[slot] = generation;
        this.unacked[slot] = 0;
        this.ops.push({ kind: "write", startedAt: t0, ms: t1 - t0 });
        t0 = performance.now();
        await this.lun.read(lba, slotBlocks, { into: back });
        t1 = performance.now();
        this.ops.push({ kind: "read", startedAt: t0, ms: t1 - t0 });
      } catch (error) {
        this.failures.push({ error, at: performance.now() });
        return;
      }
      const at = firstDifference(data, back);
      if (at >= 0) {
        const block = Math.floor(at / BLOCK);
        this.mismatches.push(
          `session ${this.id}, LBA ${lba + block}: read back ${describeBlock(back.subarray(block * BLOCK, (block + 1) * BLOCK))} ` +
            `right after writing generation ${generation} (first difference at byte ${at % BLOCK} of the block)`,
        );
        this.failures.push({ error: new Error(this.mismatches[this.mismatches.length - 1]), at: performance.now() });
        return;
      }
    }
  }

  /**
   * Checks a copy of the whole region (from the session, or from a backing file): each block must
   * hold its slot's last acknowledged generation, or the unacknowledged one written after it (a
   * write cut by a failure may or may not have reached the medium). Returns the problems found.
   */
  checkRegion(bytes: Uint8Array): string[] {
    const { slotBlocks, slots, startLba } = this.region;
    if (bytes.length !== slots * slotBlocks * BLOCK) return [`session ${this.id}: region copy is ${bytes.length} bytes, not ${slots * slotBlocks * BLOCK}`];
    const problems: string[] = [];
    const expected = new Uint8Array(BLOCK);
    for (let slot = 0; slot < slots && problems.length < 5; slot++) {
      const acked = this.acked[slot] as number;
      const unacked = this.unacked[slot] as number;
      for (let b = 0; b < slotBlocks; b++) {
        const lba = startLba + slot * slotBlocks + b;
        const got = bytes.subarray((slot * slotBlocks + b) * BLOCK, (slot * slotBlocks + b + 1) * BLOCK);
        fillBlock(expected, this.id, lba, acked);
        if (firstDifference(expected, got) < 0) continue;
        if (unacked !== 0) {
          fillBlock(expected, this.id, lba, unacked);
          if (firstDifference(expected, got) < 0) continue;
        }
        problems.push(
          `session ${this.id}, LBA ${lba}: holds ${describeBlock(got)}, expected generation ${acked}` +
            (unacked === 0 ? "" : ` or the unacknowledged ${unacked}`),
        );
        break;
      }
    }
    return problems;
  }

  /** Reads the whole region back through the session and checks it (see checkRegion). */
  async verifyThroughSession(): Promise<string[]> {
    const { slotBlocks, slots, startLba } = this.region;
    return this.checkRegion(await this.lun.read(startLba, slots * slotBlocks));
  }

  /** Acknowledged slots (written at least once) and slots whose last write was not acknowledged. */
  get slotCounts(): { readonly written: number; readonly unacknowledged: number } {
    let written = 0;
    let unacknowledged = 0;
    for (let s = 0; s < this.region.slots; s++) {
      if ((this.acked[s] as number) > 0) written++;
      if ((this.unacked[s] as number) > 0) unacknowledged++;
    }
    return { written, unacknowledged };
  }
}

/** The code of an IscsiError, or a description of what else was thrown. */
export function errorCode(error: unknown): string {
  if (error instanceof IscsiError) return error.code;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
