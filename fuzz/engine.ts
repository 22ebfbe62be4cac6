/**
 * Runs a fuzz target over a deterministic sequence of inputs and judges each one:
 * - only IscsiError subclasses may be thrown (a TypeError, RangeError or stack overflow is a
 *   finding, and so is a broken invariant);
 * - no input may take long (a "slow" finding past `slowMs`, confirmed by running it again; the
 *   runner's watchdog catches real hangs);
 * - no single allocation may exceed what the input and the negotiated limits justify.
 *
 * Input `i` of a target is a function of (seed, i) alone, so a finding is replayed from its
 * index: first every corpus seed as it is, then a mix of structure-aware inputs (fast-check) and
 * mutations of seeds and structured inputs.
 */
import fc from "fast-check";
import { IscsiError } from "../src/core/errors.js";
import { SeededRandom } from "../src/faults/random.js";
import { watchAllocations } from "./guard.js";
import { mutate } from "./mutate.js";
import { type FuzzTarget, InvariantError } from "./target.js";

export type FindingKind = "exception" | "invariant" | "allocation" | "slow" | "hang" | "crash";

export interface Finding {
  readonly target: string;
  readonly kind: FindingKind;
  readonly seed: number;
  readonly index: number;
  readonly detail: string;
  readonly input: Uint8Array;
}

export interface TargetStats {
  readonly target: string;
  inputs: number;
  elapsedMs: number;
  /** Inputs the code accepted without throwing. */
  accepted: number;
  /** Inputs refused with an IscsiError, by code. */
  refused: Record<string, number>;
  largestAllocation: number;
  slowestMs: number;
  findings: number;
  /** Distinct findings (same kind and message shape). */
  distinctFindings: number;
}

const BATCH = 200;
const STRUCTURED_SHARE = 0.4;

function mix(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The deterministic input sequence of one target. */
export class InputSource {
  private batchIndex = -1;
  private batch: Uint8Array[] = [];
  private pool: readonly Uint8Array[] | undefined;

  constructor(
    readonly target: FuzzTarget,
    readonly seed: number,
  ) {}

  get seedCount(): number {
    return this.target.seeds().length;
  }

  private structured(n: number): Uint8Array {
    const b = Math.floor(n / BATCH);
    if (b !== this.batchIndex) {
      this.batch = fc.sample(this.target.arbitrary, { seed: mix(this.seed, b) | 0, numRuns: BATCH });
      this.batchIndex = b;
    }
    return this.batch[n % BATCH] as Uint8Array;
  }

  /** Seeds plus a batch of structured inputs: what mutation starts from. */
  private mutationPool(): readonly Uint8Array[] {
    if (this.pool === undefined) {
      const structured = fc.sample(this.target.arbitrary, { seed: mix(this.seed, 0x5eed) | 0, numRuns: 64 });
      this.pool = [...this.target.seeds(), ...structured];
    }
    return this.pool;
  }

  input(index: number): { readonly bytes: Uint8Array; readonly origin: "seed" | "structured" | "mutated" } {
    const seeds = this.target.seeds();
    if (index < seeds.length) return { bytes: seeds[index] as Uint8Array, origin: "seed" };
    const random = new SeededRandom(mix(this.seed, index));
    if (random.chance(STRUCTURED_SHARE)) return { bytes: this.structured(index), origin: "structured" };
    const pool = this.mutationPool();
    return { bytes: mutate(random.pick(pool), random, pool), origin: "mutated" };
  }
}

export type Verdict = { readonly ok: true; readonly code: string | undefined; readonly ms: number; readonly allocated: number } | { readonly ok: false; readonly kind: FindingKind; readonly detail: string; readonly ms: number; readonly allocated: number };

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `${typeof error}: ${String(error)}`;
  const frame = (error.stack ?? "").split("\n").find((l) => l.trim().startsWith("at "))?.trim() ?? "";
  return `${error.name}: ${error.message}${frame === "" ? "" : ` (${frame})`}`;
}

/** Runs one input under the allocation watch and judges it. */
export function judge(target: FuzzTarget, input: Uint8Array, slowMs: number): Verdict {
  const stop = watchAllocations();
  const started = performance.now();
  let error: unknown;
  let threw = false;
  try {
    target.run(input);
  } catch (e) {
    error = e;
    threw = true;
  }
  const allocated = stop();
  const ms = performance.now() - started;
  if (threw && error instanceof InvariantError) return { ok: false, kind: "invariant", detail: error.message, ms, allocated };
  if (threw && !(error instanceof IscsiError)) return { ok: false, kind: "exception", detail: describeError(error), ms, allocated };
  const limit = target.allocationLimit(input);
  if (allocated > limit) {
    return { ok: false, kind: "allocation", detail: `allocated ${allocated} bytes at once for a ${input.length}-byte input (limit ${limit})`, ms, allocated };
  }
  if (ms > slowMs) {
    // A collection pause can make anything slow once: count it only if it happens again.
    const again = performance.now();
    try {
      target.run(input);
    } catch {
      // judged above
    }
    const second = performance.now() - again;
    if (second > slowMs) return { ok: false, kind: "slow", detail: `took ${Math.round(ms)} ms, then ${Math.round(second)} ms (limit ${slowMs} ms)`, ms, allocated };
  }
  return { ok: true, code: threw ? (error as IscsiError).code : undefined, ms, allocated };
}

/** The shape of a finding's message, for counting distinct ones: numbers and hex blurred. */
export function findingKey(kind: FindingKind, detail: string): string {
  return `${kind}:${detail.replace(/0x[0-9a-f]+/gi, "#").replace(/\d+/g, "#").slice(0, 200)}`;
}

export interface RunOptions {
  readonly seed: number;
  readonly inputs: number;
  /** First input index (a worker resuming after a hang). */
  readonly from?: number;
  /** An input slower than this is a finding; 250 ms unless told. */
  readonly slowMs?: number;
  /** Called before each input runs (the runner's watchdog reads it). */
  readonly onInput?: (index: number) => void;
  readonly onFinding?: (finding: Finding) => void;
}

/** Runs inputs [from, from + inputs) of a target. */
export function runTarget(target: FuzzTarget, options: RunOptions): TargetStats {
  const source = new InputSource(target, options.seed);
  const stats: TargetStats = {
    target: target.name,
    inputs: 0,
    elapsedMs: 0,
    accepted: 0,
    refused: {},
    largestAllocation: 0,
    slowestMs: 0,
    findings: 0,
    distinctFindings: 0,
  };
  const seen = new Set<string>();
  const started = performance.now();
  const from = options.from ?? 0;
  for (let index = from; index < from + options.inputs; index++) {
    const { bytes } = source.input(index);
    options.onInput?.(index);
    const verdict = judge(target, bytes, options.slowMs ?? 250);
    stats.inputs++;
    stats.largestAllocation = Math.max(stats.largestAllocation, verdict.allocated);
    stats.slowestMs = Math.max(stats.slowestMs, verdict.ms);
    if (verdict.ok) {
      if (verdict.code === undefined) stats.accepted++;
      else stats.refused[verdict.code] = (stats.refused[verdict.code] ?? 0) + 1;
      continue;
    }
    stats.findings++;
    const key = findingKey(verdict.kind, verdict.detail);
    if (seen.has(key)) continue;
    seen.add(key);
    stats.distinctFindings++;
    options.onFinding?.({ target: target.name, kind: verdict.kind, seed: options.seed, index, detail: verdict.detail, input: bytes });
  }
  stats.elapsedMs = performance.now() - started;
  return stats;
}
