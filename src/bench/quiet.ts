/**
 * Waiting for a quiet machine. The suite shares its machine (other test runs, builds); a run
 * measured while something else holds a core says little. Between runs neither initiator runs
 * and tgtd is idle, so whatever keeps the CPUs busy then is someone else: before each run the
 * suite samples /proc/stat briefly and waits, up to a limit, until that share is below a threshold.
 */
import { readMachineTicks } from "./procstat.js";
import { sleep } from "./process.js";

export interface QuietOptions {
  /** Busy share of all CPUs, percent, below which the machine counts as quiet (0: never wait). */
  readonly thresholdPercent: number;
  /** Give up waiting after this long and run anyway. */
  readonly maxWaitMs: number;
  /** Length of each sample. */
  readonly sampleMs?: number;
}

export interface QuietResult {
  readonly waitedMs: number;
  /** Busy share in the last sample, percent. */
  readonly busyPercent: number;
  readonly quiet: boolean;
}

/** Busy share of all CPUs (processes, interrupts) over `ms`, percent. */
export async function busyPercentOver(ms: number): Promise<number> {
  const a = readMachineTicks();
  await sleep(ms);
  const b = readMachineTicks();
  const busy = b.busy + b.irq - (a.busy + a.irq);
  const total = busy + (b.idle - a.idle);
  return total > 0 ? (100 * busy) / total : 0;
}

export async function waitForQuiet(options: QuietOptions): Promise<QuietResult> {
  if (options.thresholdPercent <= 0) return { waitedMs: 0, busyPercent: 0, quiet: true };
  const started = performance.now();
  for (;;) {
    const busyPercent = await busyPercentOver(options.sampleMs ?? 400);
    const waitedMs = performance.now() - started;
    if (busyPercent < options.thresholdPercent) return { waitedMs, busyPercent, quiet: true };
    if (waitedMs >= options.maxWaitMs) return { waitedMs, busyPercent, quiet: false };
  }
}
