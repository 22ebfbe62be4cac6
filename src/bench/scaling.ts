/**
 * `npm run bench -- --only scaling` (and the end of the full run): how aggregate IOPS and
 * throughput grow with connections per session (MC/S), with sessions, and with worker threads,
 * each row beside libiscsi in the same run. Two tgtd instances of its own, each with a null LUN
 * and MaxConnections raised to 4 (tgtd offers 1 by default).
 *
 * - connections: one session with 1, 2 and 4 TCP connections (SessionOptions.connections) to one
 *   tgtd. iscsi-perf has no MC/S: each is compared with one iscsi-perf process, and the table says so.
 * - sessions: N sessions (2, 4) from this one process, split alternately over the two tgtds,
 *   beside N iscsi-perf processes split the same way (1 session is the 1-connection row).
 * - workers: 2 sessions, split over the two tgtds, held by a pool of 1 and of 2 worker threads
 *   (src/node/workers, as bench/workers.ts measures them), beside 2 iscsi-perf processes.
 *
 * Each session (and each iscsi-perf) keeps the workload's queue depth: N sessions at QD32 have 32N
 * commands outstanding, as N iscsi-perf processes at -m 32 do. Our side runs in this process (as
 * bench/workers.ts does: a pool's threads are this process's), its CPU from process.cpuUsage()
 * over the measured window, every thread; iscsi-perf's from /proc as in the main suite.
 */
import { readFileSync } from "node:fs";
import { writePartFiles } from "./part-files.js";
import { createWorkerPool, type SessionApi } from "../node/workers/index.js";
import { blockTargetOf, runWorkload, type BlockTarget } from "../perf/engine.js";
import type { BenchOptions } from "./args.js";
import { BenchError } from "./errors.js";
import { runIscsiPerf, type PeerRun } from "./libiscsi.js";
import { contention, ownTicks, readCpuTicks, readMachineTicks, type Surroundings } from "./procstat.js";
import { waitForQuiet, type QuietOptions } from "./quiet.js";
import { median, ratio } from "./stats.js";
import { alignColumns, formatIops, formatMiBps, formatRatio, markdownTable } from "./table.js";
import { BENCH_IQN, BenchTgtd } from "./tgtd.js";
import { WORKLOADS, type WorkloadDef } from "./workloads.js";

/** The LUN of a part's tgtd: tgtd's null backing store (reads return zeros, writes are dropped). */
export const PART_NULL_LUN = 1;

export interface ScalingRowDef {
  readonly id: string;
  readonly label: string;
  readonly group: "connections" | "sessions" | "workers";
  readonly sessions: number;
  /** TCP connections per session (MC/S). */
  readonly connections: number;
  /** Worker threads holding the sessions; 0: this thread. */
  readonly workers: number;
  /** iscsi-perf processes run beside it (one session, one connection each). */
  readonly peers: number;
  /** tgtd instances the sessions and the iscsi-perf processes are spread over, alternately. */
  readonly targets: 1 | 2;
}

function row(group: ScalingRowDef["group"], sessions: number, connections: number, workers: number, targets: 1 | 2): ScalingRowDef {
  const where = workers === 0 ? "" : ` on ${workers} worker${workers === 1 ? "" : "s"}`;
  const label =
    group === "connections"
      ? `1 session, ${connections} connection${connections === 1 ? "" : "s"}`
      : `${sessions} sessions${where}, ${targets} tgtd`;
  return { id: `${group}-${group === "connections" ? connections : group === "workers" ? workers : sessions}`, label, group, sessions, connections, workers, peers: sessions, targets };
}

export const SCALING_ROWS: readonly ScalingRowDef[] = [
  row("connections", 1, 1, 0, 1),
  row("connections", 1, 2, 0, 1),
  row("connections", 1, 4, 0, 1),
  row("sessions", 2, 1, 0, 2),
  row("sessions", 4, 1, 0, 2),
  row("workers", 2, 1, 1, 2),
  row("workers", 2, 1, 2, 2),
];

/** The two workloads of the table: 4 KiB random reads at QD32 (IOPS) and 1 MiB sequential reads at QD16 (MiB/s). */
export const SCALING_WORKLOADS: readonly WorkloadDef[] = ["randread-4k-qd32", "seqread-1m-qd16"].map((id) => {
  const found = WORKLOADS.find((w) => w.id === id);
  if (found === undefined) throw new BenchError("BENCH_ERR_USAGE", `workload ${id} is gone from workloads.ts`);
  return found;
});

/** One side's figures in one run of one row (summed over its sessions or processes). */
export interface ScalingSample {
  readonly round: number;
  readonly ios: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  /** Initiator CPU (user+system) in the window, seconds, all processes or threads of the side. */
  readonly cpuSeconds: number;
  /** CPU the tgtd instances used per second of the window (1 = one core busy). */
  readonly tgtdCores: number;
  /** CPU the initiator side used per second of the window. */
  readonly initiatorCores: number;
  /** The rest of the machine, share of all its CPUs, percent (undefined when it cannot be told apart). */
  readonly othersPercent: number | undefined;
  /** TCP connections our sessions had in the window (MC/S may be refused, silently). */
  readonly connections?: number;
}

export interface ScalingCell {
  readonly row: string;
  readonly workload: string;
  readonly libiscsi: ScalingSample[];
  readonly ours: ScalingSample[];
}

export interface ScalingResults {
  readonly schema: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly cores: number;
  readonly settings: { readonly rounds: number; readonly seconds: number; readonly warmupSeconds: number };
  readonly tgtdParams: Readonly<Record<string, string>>;
  readonly cells: readonly ScalingCell[];
  readonly failures: readonly string[];
  readonly noisyRuns: readonly string[];
}

/** A row's medians on one side, with CPU per I/O in microseconds. */
export interface ScalingSideSummary {
  readonly runs: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  readonly cpuPerIoUs: number;
  readonly initiatorCores: number;
  readonly tgtdCores: number;
  readonly maxOthersPercent: number | undefined;
  readonly connections: number | undefined;
}

export function summarizeSide(samples: readonly ScalingSample[]): ScalingSideSummary {
  const others = samples.map((s) => s.othersPercent).filter((p): p is number => p !== undefined);
  const conns = samples.map((s) => s.connections).filter((c): c is number => c !== undefined);
  return {
    runs: samples.length,
    iops: median(samples.map((s) => s.iops)),
    bytesPerSecond: median(samples.map((s) => s.bytesPerSecond)),
    cpuPerIoUs: median(samples.map((s) => (s.ios > 0 ? (s.cpuSeconds / s.ios) * 1e6 : Number.NaN))),
    initiatorCores: median(samples.map((s) => s.initiatorCores)),
    tgtdCores: median(samples.map((s) => s.tgtdCores)),
    maxOthersPercent: others.length === 0 ? undefined : Math.max(...others),
    connections: conns.length === 0 ? undefined : Math.min(...conns),
  };
}

function comparedWith(r: ScalingRowDef): string {
  const n = `${r.peers} iscsi-perf${r.peers === 1 ? "" : " processes"}`;
  return r.group === "connections" && r.connections > 1 ? `${n} (no MC/S)` : n;
}

function fmtUs(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(1)} us` : "n/a";
}

function fmtCores(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "n/a";
}

const HEADERS = ["configuration", "libiscsi side", "iscsi-ts", "libiscsi", "x", "CPU/IO ours", "CPU/IO lib", "x", "cores ours+tgtd", "cores lib+tgtd", "others"];

/** The rows of one workload's table: medians, ratios ours/libiscsi. */
export function scalingRows(results: Pick<ScalingResults, "cells">, workload: WorkloadDef, rows: readonly ScalingRowDef[] = SCALING_ROWS): string[][] {
  const out: string[][] = [];
  for (const r of rows) {
    const cell = results.cells.find((c) => c.row === r.id && c.workload === workload.id);
    if (cell === undefined) continue;
    const ours = summarizeSide(cell.ours);
    const lib = summarizeSide(cell.libiscsi);
    const rate = (s: ScalingSideSummary): number => (workload.figure === "iops" ? s.iops : s.bytesPerSecond);
    const fmt = workload.figure === "iops" ? formatIops : formatMiBps;
    const shortConns = ours.connections !== undefined && ours.connections < r.sessions * r.connections ? ` (only ${ours.connections} connections)` : "";
    const others = [ours.maxOthersPercent, lib.maxOthersPercent].filter((p): p is number => p !== undefined);
    out.push([
      `${r.label}${shortConns}`,
      comparedWith(r),
      ours.runs === 0 ? "failed" : fmt(rate(ours)),
      lib.runs === 0 ? "failed" : fmt(rate(lib)),
      formatRatio(ratio(rate(ours), rate(lib))),
      fmtUs(ours.cpuPerIoUs),
      fmtUs(lib.cpuPerIoUs),
      formatRatio(ratio(ours.cpuPerIoUs, lib.cpuPerIoUs)),
      `${fmtCores(ours.initiatorCores)}+${fmtCores(ours.tgtdCores)}`,
      `${fmtCores(lib.initiatorCores)}+${fmtCores(lib.tgtdCores)}`,
      others.length === 0 ? "n/a" : `${Math.max(...others).toFixed(0)}%`,
    ]);
  }
  return out;
}

function workloadTitle(w: WorkloadDef): string {
  // Not starting with the workload's label: the main table's rows do, and readers of stdout find them so.
  return `Scaling at ${w.label}: ${w.figure === "iops" ? "aggregate IOPS" : "aggregate MiB/s"} (QD${w.queueDepth} per session or process)`;
}

export const SCALING_NOTES: readonly string[] = [
  "x: iscsi-ts / libiscsi, of medians (above 1.00x is better for the rate, below 1.00x for CPU per I/O).",
  "CPU/IO: initiator CPU (user+system) per I/O in the window, all threads or processes of the side; cores: initiator + tgtd CPU per second of the window (1.00 = one core).",
  "iscsi-perf has no MC/S: the 2- and 4-connection rows are compared with one iscsi-perf on one connection.",
  "others: the most the rest of the machine used in any window of the row, share of all CPUs (n/a when several peer processes cannot be told apart).",
];

/**
 * What the 2-core machine hides, and what the design does on 32 cores. Figures in it come from
 * the run's own rows (the 1-session row and the widest rows), never from memory.
 */
export function scalingFindings(results: ScalingResults): string[] {
  const lines: string[] = [];
  const w = SCALING_WORKLOADS[0]!;
  const base = results.cells.find((c) => c.row === "connections-1" && c.workload === w.id);
  const wide = results.cells.find((c) => c.row === "sessions-4" && c.workload === w.id);
  if (base !== undefined && wide !== undefined) {
    const b = summarizeSide(base.ours);
    const s = summarizeSide(wide.ours);
    const lb = summarizeSide(base.libiscsi);
    const ls = summarizeSide(wide.libiscsi);
    lines.push(
      `On this ${results.cores}-core machine the initiator and tgtd share the cores: at 1 session ours used ${fmtCores(b.initiatorCores)} core and tgtd ${fmtCores(b.tgtdCores)}; at 4 sessions ${fmtCores(s.initiatorCores)} and ${fmtCores(s.tgtdCores)} (libiscsi's 4 processes ${fmtCores(ls.initiatorCores)}, tgtd ${fmtCores(ls.tgtdCores)}). ` +
        `4 sessions gave ${formatRatio(ratio(s.iops, b.iops))} the IOPS of 1 for us and ${formatRatio(ratio(ls.iops, lb.iops))} for libiscsi: once initiator + target fill both cores, a row can only trade CPU between them, so every scaling row measures CPU per I/O more than parallelism.`,
    );
  }
  lines.push(
    "tgtd needs a core of its own (its event loop is one thread per instance, and the loopback TCP stack's softirq time lands on the same two cores); two tgtds and two worker threads on 2 cores oversubscribe the machine, so the worker rows show the cost of the hand-off between threads, not its gain.",
    "On 32 cores: each session (or worker's sessions) runs its own event loop with no shared state but the pool's placement, so throughput should grow with sessions until the target or the NIC saturates; MC/S spreads one session's commands over connections that all complete on the one thread holding the session, so it adds TCP streams (and target threads, where the target has them) but not initiator cores: beyond one core per session, the worker pool with a session per worker is the design's way to scale, MC/S the way to fill a fat link from one session.",
  );
  return lines;
}

export function renderScalingText(results: ScalingResults): string {
  const parts: string[] = [];
  parts.push(`Scaling (${results.settings.rounds} rounds of ${results.settings.seconds} s, ${results.cores} cores; tgtd MaxConnections=${results.tgtdParams["MaxConnections"] ?? "?"})`);
  for (const w of SCALING_WORKLOADS) {
    parts.push("", workloadTitle(w), alignColumns([HEADERS, ...scalingRows(results, w)], 2));
  }
  parts.push("", ...SCALING_NOTES, "", ...scalingFindings(results));
  if (results.failures.length > 0) parts.push("", `failed runs: ${results.failures.join("; ")}`);
  return `${parts.join("\n")}\n`;
}

export function renderScalingMarkdown(results: ScalingResults): string {
  const parts: string[] = [];
  parts.push(
    "### Scaling: connections, sessions, worker threads",
    "",
    `${results.startedAt.slice(0, 16).replace("T", " ")} UTC, ${results.settings.rounds} rounds of ${results.settings.seconds} s, ${results.cores} cores, tgtd null LUNs with MaxConnections=${results.tgtdParams["MaxConnections"] ?? "?"}; medians.`,
  );
  for (const w of SCALING_WORKLOADS) parts.push("", `**${workloadTitle(w)}**`, "", markdownTable(HEADERS, scalingRows(results, w), 2));
  parts.push("", ...SCALING_NOTES.map((n) => `- ${n}`), "", ...scalingFindings(results).map((n) => `- ${n}`));
  if (results.failures.length > 0) parts.push("", `Failed runs: ${results.failures.join("; ")}`);
  return `${parts.join("\n")}\n`;
}

// ---- measuring ----

export interface PartContext {
  readonly rounds: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly clockTicksPerSecond: number;
  readonly quiet: QuietOptions;
  readonly log: (line: string) => void;
  readonly failures: string[];
  readonly noisyRuns: string[];
}

/** Waits for a quiet machine (as the main suite does before each run) and notes a noisy start. */
export async function settle(ctx: PartContext, what: string): Promise<void> {
  const q = await waitForQuiet(ctx.quiet);
  if (!q.quiet) ctx.noisyRuns.push(`${what}: machine ${q.busyPercent.toFixed(0)}% busy after waiting ${(q.waitedMs / 1000).toFixed(0)} s`);
}

export async function attemptRun<T>(ctx: PartContext, what: string, body: () => Promise<T>): Promise<T | undefined> {
  try {
    return await body();
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown };
    const line = `${what} failed: ${String(e.code ?? "")} ${String(e.message ?? error)}`;
    ctx.failures.push(line);
    ctx.log(`  ${line}`);
    return undefined;
  }
}

/** A tgtd of the part's own: one target with a null LUN, open to all, MaxConnections as given. */
export async function startNullTgtd(maxConnections: number): Promise<BenchTgtd> {
  const tgtd = await BenchTgtd.start();
  try {
    await tgtd.tgtadm(["--op", "new", "--mode", "target", "--tid", "1", "-T", BENCH_IQN]);
    await tgtd.tgtadm(["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", String(PART_NULL_LUN), "--bstype", "null", "-b", "nullstore"]);
    await tgtd.tgtadm(["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"]);
    if (maxConnections !== 1) await tgtd.tgtadm(["--op", "update", "--mode", "target", "--tid", "1", "--name", "MaxConnections", "--value", String(maxConnections)]);
    return tgtd;
  } catch (error) {
    await tgtd.stop();
    throw error;
  }
}

function tgtdTicksOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += ownTicks(readCpuTicks(pid));
    } catch {
      // Gone: the run fails on its own.
    }
  }
  return sum;
}

function surroundings(pids: readonly number[]): Surroundings {
  return { machine: readMachineTicks(), tgtdTicks: tgtdTicksOf(pids) };
}

/** N iscsi-perf processes at once, split alternately over the tgtds; figures summed. */
async function runPeers(ctx: PartContext, r: ScalingRowDef, w: WorkloadDef, tgtds: readonly BenchTgtd[], round: number): Promise<ScalingSample> {
  const used = tgtds.slice(0, r.targets);
  // Every process settles before the row goes on, so a failed one leaves no other running into the next run.
  const settled = await Promise.allSettled(
    Array.from({ length: r.peers }, (_, i) => {
      const tgtd = used[i % used.length]!;
      return runIscsiPerf({
        url: tgtd.url(PART_NULL_LUN),
        queueDepth: w.queueDepth,
        ioBytes: w.ioBytes,
        blockSize: 512,
        random: w.pattern === "random",
        seconds: ctx.seconds,
        clockTicksPerSecond: ctx.clockTicksPerSecond,
        tgtdPid: tgtd.pid,
      });
    }),
  );
  const failed = settled.find((x): x is PromiseRejectedResult => x.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  const runs: PeerRun[] = settled.map((x) => (x as PromiseFulfilledResult<PeerRun>).value);
  const ios = runs.reduce((a, x) => a + x.ios, 0);
  const cpu = runs.reduce((a, x) => a + x.cpuSeconds, 0);
  // Each tgtd's CPU from the first run that went to it (its own window); the processes overlap.
  const tgtdCores = used.reduce((a, _t, i) => {
    const first = runs[i];
    return first === undefined ? a : a + first.contention.tgtdCpuSeconds / first.seconds;
  }, 0);
  return {
    round,
    ios,
    iops: runs.reduce((a, x) => a + x.iops, 0),
    bytesPerSecond: runs.reduce((a, x) => a + x.bytesPerSecond, 0),
    cpuSeconds: cpu,
    tgtdCores,
    initiatorCores: runs.reduce((a, x) => a + x.cpuSeconds / x.seconds, 0),
    // With one process the rest of the machine is told apart; with several, each sees the others as "others".
    othersPercent: runs.length === 1 ? runs[0]!.contention.otherCpuPercent : undefined,
  };
}

/** Our side in this process: the row's sessions (on a pool of its workers) driven as one LUN, round robin. */
async function runOursRow(ctx: PartContext, r: ScalingRowDef, w: WorkloadDef, tgtds: readonly BenchTgtd[], round: number): Promise<ScalingSample> {
  const used = tgtds.slice(0, r.targets);
  const pool = createWorkerPool({ workers: r.workers });
  const sessions: SessionApi[] = [];
  try {
    // Opened one after another, so that the pool's least-loaded placement sees each one placed.
    for (let i = 0; i < r.sessions; i++) {
      sessions.push(await pool.openSession(used[i % used.length]!.url(PART_NULL_LUN), { connections: r.connections, keepAlive: false }));
    }
    const luns = sessions.map((s) => s.lun(PART_NULL_LUN));
    await Promise.all(luns.map(async (l) => Promise.all([l.readCapacity(), l.maxTransferSize()])));
    const first = await blockTargetOf(luns[0]!);
    // On a worker, reads land in shared memory (no copy between threads): iscsi-perf keeps no data either.
    const twins = new WeakMap<Uint8Array, Uint8Array>();
    const sink = (into: Uint8Array): Uint8Array => {
      if (r.workers === 0) return into;
      let twin = twins.get(into);
      if (twin === undefined) twins.set(into, (twin = pool.allocate(into.length)));
      return twin;
    };
    let next = 0;
    const pick = (): (typeof luns)[number] => {
      const chosen = luns[next]!;
      next = (next + 1) % luns.length;
      return chosen;
    };
    const target: BlockTarget = {
      blockSize: first.blockSize,
      blocks: first.blocks,
      read: (lba, blocks, options) => pick().read(lba, blocks, { into: sink(options.into) }),
      write: (lba, data) => pick().write(lba, data),
    };
    const pids = used.map((t) => t.pid);
    let start: Surroundings | undefined;
    let end: Surroundings | undefined;
    let selfStart = 0;
    let selfEnd = 0;
    const result = await runWorkload(
      target,
      {
        pattern: w.pattern,
        direction: "read",
        ioBytes: w.ioBytes,
        queueDepth: w.queueDepth * r.sessions,
        warmupMs: ctx.warmupSeconds * 1000,
        stop: { kind: "duration", ms: ctx.seconds * 1000 },
        seed: round,
        sharedReadBuffer: true,
      },
      {
        cpuUsage: () => process.cpuUsage(),
        onWindowStart: () => {
          start = surroundings(pids);
          selfStart = ownTicks(readCpuTicks("self"));
        },
        onWindowEnd: () => {
          end = surroundings(pids);
          selfEnd = ownTicks(readCpuTicks("self"));
        },
      },
    );
    const seconds = result.elapsedMs / 1000;
    const cpu = result.cpu === undefined ? Number.NaN : result.cpu.userSeconds + result.cpu.systemSeconds;
    const around = start === undefined || end === undefined ? undefined : contention(start, end, selfEnd - selfStart, ctx.clockTicksPerSecond);
    return {
      round,
      ios: result.ios,
      iops: result.iops,
      bytesPerSecond: result.bytesPerSecond,
      cpuSeconds: cpu,
      tgtdCores: (around?.tgtdCpuSeconds ?? Number.NaN) / seconds,
      initiatorCores: cpu / seconds,
      othersPercent: around?.otherCpuPercent,
      connections: sessions.reduce((a, s) => a + s.connections.length, 0),
    };
  } finally {
    await Promise.allSettled(sessions.map((s) => s[Symbol.asyncDispose]()));
    await pool.close();
  }
}

function describe(w: WorkloadDef, s: ScalingSample): string {
  const rate = w.figure === "iops" ? `${formatIops(s.iops)} IOPS` : `${formatMiBps(s.bytesPerSecond)} MiB/s`;
  return `${rate}, ${((s.cpuSeconds / s.ios) * 1e6).toFixed(1)} us CPU/IO`;
}

/** Every row and workload, libiscsi then ours, `rounds` times; tgtds started and stopped here. */
export async function measureScaling(ctx: PartContext, rows: readonly ScalingRowDef[] = SCALING_ROWS, workloads: readonly WorkloadDef[] = SCALING_WORKLOADS): Promise<ScalingResults> {
  const startedAt = new Date().toISOString();
  const tgtds: BenchTgtd[] = [];
  try {
    tgtds.push(await startNullTgtd(4), await startNullTgtd(4));
    ctx.log(`scaling: tgtd pids ${tgtds.map((t) => `${t.pid} on ${t.port}`).join(", ")}, null LUNs, MaxConnections=4`);
    const tgtdParams = await tgtds[0]!.params();
    const cells: ScalingCell[] = [];
    for (const r of rows) for (const w of workloads) cells.push({ row: r.id, workload: w.id, libiscsi: [], ours: [] });
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const r of rows) {
        for (const w of workloads) {
          const cell = cells.find((c) => c.row === r.id && c.workload === w.id)!;
          const what = `scaling round ${round} ${r.id} ${w.id}`;
          await settle(ctx, `${what} libiscsi`);
          const lib = await attemptRun(ctx, `${what} libiscsi`, () => runPeers(ctx, r, w, tgtds, round));
          if (lib !== undefined) cell.libiscsi.push(lib);
          await settle(ctx, `${what} iscsi-ts`);
          const ours = await attemptRun(ctx, `${what} iscsi-ts`, () => runOursRow(ctx, r, w, tgtds, round));
          if (ours !== undefined) cell.ours.push(ours);
          ctx.log(`[scaling ${round}/${ctx.rounds}] ${r.label.padEnd(30)} ${w.label.padEnd(24)} libiscsi ${lib === undefined ? "failed" : describe(w, lib)} | iscsi-ts ${ours === undefined ? "failed" : describe(w, ours)}`);
        }
      }
    }
    return {
      schema: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      cores: cpuCount(),
      settings: { rounds: ctx.rounds, seconds: ctx.seconds, warmupSeconds: ctx.warmupSeconds },
      tgtdParams,
      cells,
      failures: ctx.failures,
      noisyRuns: ctx.noisyRuns,
    };
  } finally {
    await Promise.allSettled(tgtds.map((t) => t.stop()));
  }
}

function cpuCount(): number {
  try {
    return readFileSync("/proc/cpuinfo", "latin1").split("\n").filter((l) => /^processor\s*:/.test(l)).length || 1;
  } catch {
    return 1;
  }
}

/** A part's context from the suite's options. */
export function partContext(options: BenchOptions, clockTicksPerSecond: number, log: (line: string) => void): PartContext {
  return {
    rounds: options.rounds,
    seconds: options.seconds,
    warmupSeconds: options.warmupSeconds,
    clockTicksPerSecond,
    quiet: { thresholdPercent: options.quietPercent, maxWaitMs: options.quietWaitSeconds * 1000 },
    log,
    failures: [],
    noisyRuns: [],
  };
}

/**
 * Runs the part and writes `<stamp>-scaling.json` and `.md` into `outDir` for each stamp given
 * (a full run also writes them as "latest"); prints the table; returns the files written.
 */
export async function runScalingPart(ctx: PartContext, outDir: string, stamps: readonly string[]): Promise<{ readonly results: ScalingResults; readonly files: string[] }> {
  const results = await measureScaling(ctx);
  const files = await writePartFiles(outDir, stamps, "scaling", results, renderScalingMarkdown(results));
  process.stdout.write(renderScalingText(results));
  return { results, files };
}
