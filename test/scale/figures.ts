/**
 * Figures of the scale tests: latency percentiles, the memory a process holds, and the JSON file
 * they go to (`test-results/<name>.json` at the repository's root, ignored by git, overwritten by
 * each run), so a run leaves the tree clean and the figures can still be read after it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export interface LatencySummary {
  readonly ops: number;
  /** Commands completed per second over the window. */
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export function summarise(latenciesMs: readonly number[], windowMs: number): LatencySummary {
  const round = (v: number): number => Math.round(v * 100) / 100;
  return {
    ops: latenciesMs.length,
    opsPerSecond: Math.round((latenciesMs.length * 1000) / windowMs),
    p50Ms: round(percentile(latenciesMs, 50)),
    p99Ms: round(percentile(latenciesMs, 99)),
    maxMs: round(latenciesMs.reduce((m, v) => Math.max(m, v), 0)),
  };
}

/**
 * A full garbage collection, if one can be had: `global.gc` when node runs with --expose-gc, else
 * the flag set at run time and `gc` taken from a fresh context (V8 installs it there once the flag
 * is on). Undefined when neither works: memory figures are then approximate.
 */
export function findGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === "function") return existing;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    return typeof gc === "function" ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export interface MemorySample {
  readonly heapUsed: number;
  /** Memory outside the JS heap held by JS objects: ArrayBuffers (socket and PDU buffers) and native handles. */
  readonly external: number;
  readonly rss: number;
}

/** The process's memory now, after settling and (when it can) collecting garbage twice. */
export async function sampleMemory(gc: (() => void) | undefined): Promise<MemorySample> {
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc?.();
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, rss: m.rss };
}

/** Writes `figures` to test-results/<name>.json at the repository's root; returns the path. */
export async function writeFigures(name: string, figures: unknown): Promise<string> {
  const dir = fileURLToPath(new URL("../../test-results/", import.meta.url));
  await mkdir(dir, { recursive: true });
  const path = `${dir}${name}.json`;
  await writeFile(path, `${JSON.stringify(figures, null, 2)}\n`);
  return path;
}
