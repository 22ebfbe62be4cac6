/**
 * `perf`: a timed workload against a LUN, run by the shared engine (src/perf/engine.ts) and
 * printed as a table or JSON: a line per interval while it runs (as libiscsi's iscsi-perf and fio
 * print them), then the figures of the whole run and its latency histogram, and with --chart an
 * SVG of the intervals. A workload that writes overwrites the LUN's data, so it runs only with
 * --force. This module also holds the CLI's view of the engine (`runPerfWorkload`): fio-style
 * workload names, a region in bytes, and the result's field names, which `iscsi perf --json` and
 * `iscsi demo --json` have always printed (new fields are only ever added after them).
 */
import { constants } from "node:fs";
import { access, stat, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Command } from "commander";
import { createWorkerPool, formatPortal, openSpreadLun } from "../../node/index.js";
import { intervalChart, type ChartPoint } from "../../perf/chart.js";
import { blockTargetOf, runWorkload, type CpuTimes, type DirectionResult, type LunLike } from "../../perf/engine.js";
import type { LatencyStats, Log2Bucket } from "../../perf/histogram.js";
import { intervalRates, type DirectionInterval, type IntervalReport } from "../../perf/intervals.js";
import { histogramText, intervalTable, type TextUnits } from "../../perf/text.js";
import { addMcsOptions, countersNow, formatShares, mcsSessionOptions, type McsOptions, noteFewerConnections, sharesSince } from "../connection-shares.js";
import type { CliContext } from "../context.js";
import { CliError, fileError } from "../errors.js";
import { untilAborted } from "../interrupt.js";
import { formatFields, toJson } from "../format.js";
import type { Writable } from "../output.js";
import { formatBytes, formatCount, formatDuration, formatRate, parseCount, parseDuration, parseSize } from "../units.js";
import { examples, type Runner } from "./command.js";
import { lunName } from "./io.js";

export type Workload = "randread" | "randwrite" | "read" | "write" | "randrw" | "rw";
export const WORKLOADS: readonly Workload[] = ["randread", "randwrite", "read", "write", "randrw", "rw"];

/** Whether the workload writes (and so overwrites the LUN's data). */
export function isWriteWorkload(rw: Workload): boolean {
  return rw !== "read" && rw !== "randread";
}

/** Reads and writes mixed, as fio's rw and randrw. */
export function isMixedWorkload(rw: Workload): boolean {
  return rw === "rw" || rw === "randrw";
}

/** The shortest --interval: shorter ones measure the clock more than the target. */
const MIN_INTERVAL_MS = 100;

export interface PerfSpec {
  readonly rw: Workload;
  /** Bytes per command; a multiple of the LUN's block size. */
  readonly blockSize: number;
  readonly queueDepth: number;
  readonly durationMs: number;
  /** The region used: `size` bytes from byte `offset` (default: the whole LUN). */
  readonly offset?: number;
  readonly size?: number;
  /** Seed of the offset generator (default 1). */
  readonly seed?: number;
  /** rw and randrw: the share of commands that are reads, 0 to 100 (default 50, as fio's rwmixread). */
  readonly readPercent?: number;
}

/** Latency in microseconds (to 0.01 µs). */
export interface LatencyFigures {
  readonly min: number;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** The reads or the writes of a run. */
export interface DirectionFigures {
  readonly commands: number;
  readonly bytes: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  readonly latencyUs: LatencyFigures;
  readonly latencyHistogram: readonly Log2Bucket[];
}

/** The reads, the writes or both in one interval; no latency when nothing completed in it. */
export interface IntervalFigures {
  readonly commands: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  readonly latencyUs: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number } | null;
}

/** One interval of a run, as `--json` lists it and `--ndjson` prints it when it ends. */
export interface IntervalRecord extends IntervalFigures {
  readonly type: "interval";
  /** Seconds from the start of the run to the interval's end. */
  readonly t: number;
  /** The interval's length in seconds (the last one ends with the run). */
  readonly seconds: number;
  readonly reads: IntervalFigures;
  readonly writes: IntervalFigures;
  /** Commands issued and not yet answered at the interval's end. */
  readonly inFlight: number;
}

export interface PerfResult {
  readonly rw: Workload;
  readonly blockSize: number;
  readonly queueDepth: number;
  /** The region: first byte and length. */
  readonly offset: number;
  readonly size: number;
  readonly commands: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  /** Command latency in microseconds (to 0.01 µs), from issue to completion. */
  readonly latencyUs: LatencyFigures;
  /** CPU used by this process during the run; percent is of one core (200 = two cores busy). */
  readonly cpu: { readonly userSeconds: number; readonly systemSeconds: number; readonly percentOfOneCore: number };
  readonly interrupted: boolean;
  /** The share of commands that were to be reads: 100 for a read workload, 0 for a write one. */
  readonly readPercent: number;
  readonly reads: DirectionFigures;
  readonly writes: DirectionFigures;
  /** Every command's latency, by power of two of a microsecond: [{fromUs, toUs, count}]. */
  readonly latencyHistogram: readonly Log2Bucket[];
  /** With an interval asked for: its length, and each interval of the run. */
  readonly intervalSeconds?: number;
  readonly intervals?: readonly IntervalRecord[];
}

export interface PerfEnvironment {
  readonly signal?: AbortSignal;
  /** Milliseconds from a monotonic clock (default performance.now). */
  readonly now?: () => number;
  /** Process CPU time in microseconds (default process.cpuUsage). */
  readonly cpuUsage?: () => CpuTimes;
  /** Cut the run into intervals this long: kept in the result, and each given to onInterval as it ends. */
  readonly intervalMs?: number;
  readonly onInterval?: (record: IntervalRecord, report: IntervalReport) => void;
  /** The timer that wakes the engine at an interval's end (default setTimeout). */
  readonly wake?: (delayMs: number, fire: () => void) => () => void;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

function latencyFigures(l: LatencyStats): LatencyFigures {
  return { min: round2(l.minUs), mean: round2(l.meanUs), stddev: round2(l.stddevUs), p50: round2(l.p50Us), p90: round2(l.p90Us), p99: round2(l.p99Us), p999: round2(l.p999Us), max: round2(l.maxUs) };
}

function directionFigures(d: DirectionResult): DirectionFigures {
  return { commands: d.ios, bytes: d.bytes, iops: d.iops, bytesPerSecond: d.bytesPerSecond, latencyUs: latencyFigures(d.latency), latencyHistogram: d.latencyBuckets };
}

function intervalFigures(r: IntervalReport, d: DirectionInterval): IntervalFigures {
  const l = d.latency;
  return {
    commands: d.ios,
    ...intervalRates(r, d),
    latencyUs: d.ios === 0 ? null : { mean: round2(l.meanUs), p50: round2(l.p50Us), p99: round2(l.p99Us), max: round2(l.maxUs) },
  };
}

/** An interval the engine reported, under the CLI's field names. */
export function intervalRecord(r: IntervalReport): IntervalRecord {
  return {
    type: "interval",
    t: r.endMs / 1000,
    seconds: (r.endMs - r.startMs) / 1000,
    ...intervalFigures(r, r.all),
    reads: intervalFigures(r, r.reads),
    writes: intervalFigures(r, r.writes),
    inFlight: r.inFlight,
  };
}

/**
 * Runs `spec` against a LUN: no warm-up, so the window is the whole --time; reads into a buffer
 * per command slot, as an application would. The region is checked here in bytes, so a mistake
 * gets the CLI's own error (a region past the end is ISCSI_CLI_OUT_OF_RANGE, exit 3).
 */
export async function runPerfWorkload(lun: LunLike, spec: PerfSpec, env: PerfEnvironment = {}): Promise<PerfResult> {
  const target = await blockTargetOf(lun);
  const lunBlock = target.blockSize;
  const lunBytes = target.blocks * lunBlock;
  const usage = (message: string): CliError => new CliError("ISCSI_CLI_USAGE", message);
  if (!WORKLOADS.includes(spec.rw)) throw usage(`unknown workload "${String(spec.rw)}" (one of ${WORKLOADS.join(", ")})`);
  const mixed = isMixedWorkload(spec.rw);
  const readPercent = mixed ? (spec.readPercent ?? 50) : isWriteWorkload(spec.rw) ? 0 : 100;
  if (!(readPercent >= 0 && readPercent <= 100)) throw usage(`read percentage ${readPercent} is not from 0 to 100`);
  if (env.intervalMs !== undefined && !(env.intervalMs > 0)) throw usage(`interval ${env.intervalMs} ms must be positive`);
  if (!Number.isSafeInteger(spec.blockSize) || spec.blockSize < lunBlock || spec.blockSize % lunBlock !== 0) {
    throw usage(`block size ${spec.blockSize} is not a multiple of the LUN's ${lunBlock}-byte blocks`);
  }
  if (!Number.isSafeInteger(spec.queueDepth) || spec.queueDepth < 1) throw usage(`queue depth ${spec.queueDepth} must be at least 1`);
  if (!(spec.durationMs > 0)) throw usage(`duration ${spec.durationMs} ms must be positive`);
  const offset = spec.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % lunBlock !== 0) throw usage(`offset ${offset} is not a multiple of the LUN's ${lunBlock}-byte blocks`);
  const size = spec.size ?? lunBytes - offset;
  if (offset + size > lunBytes) throw new CliError("ISCSI_CLI_OUT_OF_RANGE", `the region of ${size} bytes at offset ${offset} reaches past the end of the LUN (${lunBytes} bytes)`);
  if (size < spec.blockSize) throw usage(`the region (${size} bytes) is smaller than one ${spec.blockSize}-byte command`);

  const intervals: IntervalRecord[] = [];
  const onInterval = (report: IntervalReport): void => {
    const record = intervalRecord(report);
    intervals.push(record);
    env.onInterval?.(record, report);
  };
  const r = await runWorkload(
    target,
    {
      pattern: spec.rw.startsWith("rand") ? "random" : "sequential",
      direction: mixed ? "mixed" : isWriteWorkload(spec.rw) ? "write" : "read",
      readPercent,
      ioBytes: spec.blockSize,
      queueDepth: spec.queueDepth,
      stop: { kind: "duration", ms: spec.durationMs },
      startLba: offset / lunBlock,
      // Whole commands only: a tail of the region shorter than one command is left out.
      regionBlocks: Math.floor(size / lunBlock),
      seed: spec.seed,
    },
    {
      now: env.now,
      cpuUsage: env.cpuUsage ?? (() => process.cpuUsage()),
      signal: env.signal,
      ...(env.intervalMs === undefined ? {} : { intervalMs: env.intervalMs, onInterval, ...(env.wake === undefined ? {} : { wake: env.wake }) }),
    },
  );
  return {
    rw: spec.rw,
    blockSize: spec.blockSize,
    queueDepth: spec.queueDepth,
    offset,
    size,
    commands: r.ios,
    bytes: r.bytes,
    elapsedMs: r.elapsedMs,
    iops: r.iops,
    bytesPerSecond: r.bytesPerSecond,
    latencyUs: latencyFigures(r.latency),
    cpu: r.cpu ?? { userSeconds: 0, systemSeconds: 0, percentOfOneCore: 0 },
    interrupted: r.interrupted,
    readPercent,
    reads: directionFigures(r.reads),
    writes: directionFigures(r.writes),
    latencyHistogram: r.latencyBuckets,
    ...(env.intervalMs === undefined ? {} : { intervalSeconds: env.intervalMs / 1000, intervals }),
  };
}

interface PerfOptions extends McsOptions {
  readonly rw: string;
  readonly rwmixread?: string;
  readonly bs: string;
  readonly qd: string;
  readonly time: string;
  readonly size?: string;
  readonly force?: boolean;
  readonly interval: string;
  readonly ndjson?: boolean;
  readonly chart?: string;
  readonly workers: string;
  readonly sessions?: string;
}

/** `SIZE` or `SIZE@OFFSET`: the region of the LUN the workload uses. */
export function parseRegion(text: string): { readonly size: number; readonly offset: number } {
  const at = text.indexOf("@");
  const size = parseSize(at < 0 ? text : text.slice(0, at), "--size");
  const offset = at < 0 ? 0 : parseSize(text.slice(at + 1), "--size offset");
  if (size === 0) throw new CliError("ISCSI_CLI_USAGE", "--size must be more than 0 bytes");
  return { size, offset };
}

function latencyText(us: number): string {
  return formatDuration(us / 1000);
}

/** The CLI's units for the interval table and the histogram. */
export const TEXT_UNITS: TextUnits = { micros: latencyText, count: formatCount };

/** "randread", or "randrw (70% reads)". */
function workloadName(r: Pick<PerfResult, "rw" | "readPercent">): string {
  return isMixedWorkload(r.rw) ? `${r.rw} (${r.readPercent}% reads)` : r.rw;
}

function directionLine(d: DirectionFigures): string {
  const l = d.latencyUs;
  return `${formatCount(d.iops)} IOPS  ${formatRate(d.bytesPerSecond)}  ${formatCount(d.commands)} commands  p50 ${latencyText(l.p50)}  p99 ${latencyText(l.p99)}  max ${latencyText(l.max)}`;
}

function histogramBlock(title: string, buckets: readonly Log2Bucket[]): string[] {
  const lines = histogramText(buckets, TEXT_UNITS);
  return lines.length === 0 ? [] : [`  ${title}:`, ...lines.map((line) => `    ${line}`)];
}

export function formatPerfResult(r: PerfResult, what: string): string {
  const mixed = isMixedWorkload(r.rw);
  const head = `${workloadName(r)}, ${formatBytes(r.blockSize)} blocks, QD ${r.queueDepth}, ${formatDuration(r.elapsedMs)} on ${what} (${formatBytes(r.size)} region)${r.interrupted ? ", interrupted" : ""}`;
  const l = r.latencyUs;
  const fields = formatFields(
    [
      ["IOPS", formatCount(r.iops)],
      ["Throughput", formatRate(r.bytesPerSecond)],
      ["Commands", `${formatCount(r.commands)} (${formatBytes(r.bytes)})`],
      ["Reads", mixed ? directionLine(r.reads) : undefined],
      ["Writes", mixed ? directionLine(r.writes) : undefined],
      ["Latency", `min ${latencyText(l.min)}  avg ${latencyText(l.mean)}  max ${latencyText(l.max)}  stddev ${latencyText(l.stddev)}`],
      ["Percentiles", `p50 ${latencyText(l.p50)}  p90 ${latencyText(l.p90)}  p99 ${latencyText(l.p99)}  p99.9 ${latencyText(l.p999)}`],
      ["CPU", `user ${r.cpu.userSeconds.toFixed(2)} s  sys ${r.cpu.systemSeconds.toFixed(2)} s  ${r.cpu.percentOfOneCore.toFixed(0)}% of one core`],
    ],
    "  ",
  );
  // A mixed run's reads and writes are told apart: writes are often the slower tail.
  const histograms = mixed
    ? [...histogramBlock("Read latency histogram", r.reads.latencyHistogram), ...histogramBlock("Write latency histogram", r.writes.latencyHistogram)]
    : histogramBlock("Latency histogram", r.latencyHistogram);
  return [head, fields, ...histograms].join("\n");
}

/**
 * On a terminal, a line under the interval lines that shows how far the run has got, redrawn a
 * few times a second and wiped before anything else is printed (so it never lands in a pipe or
 * a log: it is drawn only when standard output is a terminal).
 */
class LiveStatus {
  private timer: ReturnType<typeof setInterval> | undefined;
  private started: number | undefined;
  private drawn = false;

  constructor(
    private readonly stream: Writable,
    private readonly totalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    this.started = this.now();
    this.draw();
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref?.();
  }

  draw(): void {
    if (this.started === undefined) return;
    const elapsed = Math.min(this.now() - this.started, this.totalMs);
    const width = 24;
    const done = Math.round((elapsed / this.totalMs) * width);
    this.stream.write(`\r\x1b[K  [${"#".repeat(done)}${".".repeat(width - done)}] ${formatDuration(elapsed)} of ${formatDuration(this.totalMs)}`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.started = undefined;
    this.clear();
  }
}

/** Refuses a --chart path that cannot be written, before the run rather than after it. */
async function checkChartPath(path: string): Promise<void> {
  try {
    const existing = await stat(path).catch((error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? undefined : Promise.reject(error)));
    if (existing?.isDirectory() === true) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    await access(existing === undefined ? dirname(resolve(path)) : path, constants.W_OK);
  } catch (error) {
    throw fileError(error, path, "write the chart to");
  }
}

/** The chart's view of an interval record. */
function chartPointOf(record: IntervalRecord): ChartPoint {
  return {
    t: record.t,
    iops: record.iops,
    readIops: record.reads.iops,
    writeIops: record.writes.iops,
    ...(record.latencyUs === null ? {} : { p50Us: record.latencyUs.p50, p99Us: record.latencyUs.p99 }),
  };
}

export function perfCommand(run: Runner): Command {
  return addMcsOptions(new Command("perf"))
    .summary("benchmark a LUN: IOPS, MiB/s, latency percentiles and histogram, CPU, a line per second")
    .description(
      "Keeps --qd commands of --bs bytes in flight for --time, printing a line every --interval (IOPS, MiB/s, latency p50/p99, commands in flight; reads and writes apart for rw and randrw), then the whole run's IOPS, throughput, latency (min/avg/max, p50/p90/p99/p99.9), a latency histogram (powers of two) and the CPU this process used. --json gives one document with every interval in it; --ndjson prints each interval as a JSON line when it ends, then the summary. Workloads that write destroy the data in the region: they need --force.",
    )
    .argument("<lun-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
    .option("--rw <workload>", `one of ${WORKLOADS.join(", ")}`, "randread")
    .option("--rwmixread <percent>", "rw and randrw: the share of commands that are reads, 0 to 100 (default 50)")
    .option("--bs <size>", "bytes per command", "4k")
    .option("--qd <n>", "commands in flight", "32")
    .option("--time <duration>", "how long to run", "10s")
    .option("--size <size[@offset]>", "the region to use (default: the whole LUN), e.g. 1G or 1G@4G")
    .option("-f, --force", "allow workloads that write (they overwrite the LUN's data)")
    .option("--interval <duration>", "how often to print a line of figures while it runs; a bare number is seconds", "1s")
    .option("--ndjson", 'newline-delimited JSON: each interval as a line when it ends ({"type": "interval", ...}), then the summary ({"type": "summary", ...})')
    .option("--chart <file.svg>", "draw IOPS and latency (p50, p99) over time into an SVG file")
    .option("--workers <n>", "run the sessions on n worker threads (0: on the main thread)", "0")
    .option("--sessions <n>", "sessions to the target, the commands spread over them in turn (default: one per worker, at least one)")
    .addHelpText(
      "after",
      examples([
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:disk/1",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --connections 4 --connection-policy least-queue-depth",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --rw read --bs 1M --qd 8 --time 5s",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:scratch/1 --rw randwrite --force --size 1G --json",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:scratch/1 --rw randrw --rwmixread 70 --force --time 60s --chart run.svg",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --time 1h --interval 10s --ndjson > run.ndjson",
      ]),
    )
    .action(async (url: string, opts: PerfOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const rw = opts.rw as Workload;
        if (!WORKLOADS.includes(rw)) throw new CliError("ISCSI_CLI_USAGE", `--rw "${opts.rw}" is not a workload (one of ${WORKLOADS.join(", ")})`);
        if (opts.rwmixread !== undefined && !isMixedWorkload(rw)) {
          throw new CliError("ISCSI_CLI_USAGE", `--rwmixread applies to --rw rw and randrw, not ${rw}`);
        }
        const readPercent = opts.rwmixread === undefined ? undefined : parseCount(opts.rwmixread, "--rwmixread", { min: 0, max: 100 });
        if (isWriteWorkload(rw) && opts.force !== true) {
          throw new CliError("ISCSI_CLI_USAGE", `--rw ${rw} overwrites the data on the LUN: add --force to run it`);
        }
        const blockSize = parseSize(opts.bs, "--bs");
        if (blockSize < 512 || blockSize > 64 << 20) throw new CliError("ISCSI_CLI_USAGE", `--bs ${opts.bs} must be between 512 bytes and 64 MiB`);
        const queueDepth = parseCount(opts.qd, "--qd", { min: 1, max: 1024 });
        const durationMs = parseDuration(opts.time, "--time");
        if (durationMs < 1) throw new CliError("ISCSI_CLI_USAGE", `--time ${opts.time} is too short`);
        const intervalMs = parseDuration(opts.interval, "--interval");
        if (intervalMs < MIN_INTERVAL_MS) throw new CliError("ISCSI_CLI_USAGE", `--interval ${opts.interval} is shorter than ${MIN_INTERVAL_MS} ms`);
        // Two documents' worth of rules on one stdout cannot both hold: one is chosen.
        if (opts.ndjson === true && ctx.out.json) throw new CliError("ISCSI_CLI_USAGE", "--ndjson and --json both shape standard output: give one of them");
        const region = opts.size === undefined ? undefined : parseRegion(opts.size);
        const mcs = mcsSessionOptions(opts);
        const ref = ctx.targetRef(url, true);
        if (opts.chart !== undefined) await checkChartPath(opts.chart);
        const spec: PerfSpec = { rw, blockSize, queueDepth, durationMs, ...(region ?? {}), ...(readPercent === undefined ? {} : { readPercent }) };
        const workers = parseCount(opts.workers, "--workers", { min: 0, max: 64 });
        const sessions = opts.sessions === undefined ? Math.max(1, workers) : parseCount(opts.sessions, "--sessions", { min: 1, max: 256 });
        await perfAgainst(ctx, ref, spec, mcs, { intervalMs, ndjson: opts.ndjson === true, chart: opts.chart, workers, sessions });
      }),
    );
}

interface PerfView {
  readonly intervalMs: number;
  readonly ndjson: boolean;
  readonly chart: string | undefined;
  /** Worker threads the sessions run on (0: this thread) and how many sessions. */
  readonly workers: number;
  readonly sessions: number;
}

type ConnectionShares = ReturnType<typeof sharesSince>;

/**
 * The workload's LUN and its connection shares: one session on this thread as ever, or, with
 * --workers or --sessions, a LUN spread over several sessions (src/node/workers: each on a worker
 * thread where there are workers), the same API either way.
 */
async function withMeasuredLun<T>(
  ctx: CliContext,
  ref: ReturnType<CliContext["targetRef"]>,
  mcs: ReturnType<typeof mcsSessionOptions>,
  view: PerfView,
  onReady: () => void,
  body: (lun: LunLike) => Promise<T>,
): Promise<{ value: T; connections: ConnectionShares; sessions: ConnectionShares[] | undefined }> {
  if (view.workers === 0 && view.sessions === 1) {
    return ctx.withLun(
      ref,
      async (lun, session) => {
        noteFewerConnections(ctx, mcs.connections, session.connections.length);
        let before = countersNow(session.connections);
        // The shares count the workload's reads and writes, from after what it learns first (the
        // capacity, the Block Limits page) to the last command's answer: the commands answered
        // after the window closed are in them too.
        const measured: LunLike = {
          readCapacity: async () => {
            const capacity = await lun.readCapacity();
            await lun.maxTransferSize();
            before = countersNow(session.connections);
            onReady();
            return capacity;
          },
          read: (lba, blocks, options) => lun.read(lba, blocks, options),
          write: (lba, data) => lun.write(lba, data),
        };
        const value = await body(measured);
        return { value, connections: sharesSince(before, session.connections), sessions: undefined };
      },
      { keepAlive: false, ...mcs },
    );
  }
  const options = await ctx.sessionOptions(ref, { keepAlive: false, ...mcs });
  const pool = createWorkerPool({ workers: view.workers });
  try {
    const spread = await untilAborted(openSpreadLun(pool, options, ref.lun, { sessions: view.sessions }), ctx.signal).catch((error: unknown) => {
      throw ctx.explainLoginRefusal(error, options.chap !== undefined, ref.portal);
    });
    try {
      let before = spread.sessions.map((s) => countersNow(s.connections));
      const measured: LunLike = {
        readCapacity: async () => {
          const capacity = await spread.readCapacity();
          await spread.maxTransferSize();
          before = spread.sessions.map((s) => countersNow(s.connections));
          onReady();
          return capacity;
        },
        read: (lba, blocks, options) => spread.read(lba, blocks, options),
        write: (lba, data) => spread.write(lba, data),
      };
      const value = await body(measured);
      // CIDs repeat from one session to the next: the shares are kept per session.
      const sessions = spread.sessions.map((s, i) => sharesSince(before[i] as Parameters<typeof sharesSince>[0], s.connections));
      return { value, connections: sessions.flat(), sessions };
    } finally {
      await spread.close();
    }
  } finally {
    await pool.close();
  }
}

async function perfAgainst(ctx: CliContext, ref: ReturnType<CliContext["targetRef"]>, spec: PerfSpec, mcs: ReturnType<typeof mcsSessionOptions>, view: PerfView): Promise<void> {
  const out = ctx.out;
  const jsonLine = (value: unknown): void => {
    out.stdout.write(`${out.mask(toJson(value, 0))}\n`);
  };
  // Lines while it runs: JSON lines when asked, else text unless --json or -q hold them back.
  const textLines = !view.ndjson && out.progressAllowed;
  const table = intervalTable(isMixedWorkload(spec.rw), TEXT_UNITS);
  const live = textLines && out.stdout.isTTY === true ? new LiveStatus(out.stdout, spec.durationMs) : undefined;
  let headerShown = false;
  const onInterval = (record: IntervalRecord, report: IntervalReport): void => {
    if (view.ndjson) return jsonLine(record);
    if (!textLines) return;
    live?.clear();
    if (!headerShown) for (const line of table.header) out.line(line);
    headerShown = true;
    out.line(table.line(report));
    live?.draw();
  };
  // Keep-alive NOPs would be measured as commands' company on the wire; the workload keeps
  // the connection busy anyway.
  const { value: result, connections, sessions } = await withMeasuredLun(ctx, ref, mcs, view, () => live?.start(), async (measured) => {
    try {
      return await runPerfWorkload(measured, spec, { signal: ctx.signal, intervalMs: view.intervalMs, onInterval });
    } finally {
      live?.stop();
    }
  });
  const doc = {
    target: ref.targetName,
    portal: formatPortal(ref.portal),
    lun: ref.lun,
    ...result,
    connectionPolicy: mcs.connectionPolicy,
    connections,
    ...(sessions === undefined ? {} : { workers: view.workers, sessions: sessions.map((shares, index) => ({ session: index, connections: shares })) }),
  };
  if (view.ndjson) {
    // The intervals went out one by one: the summary does not repeat them. It is the result, so a
    // failure after it (the chart, an interrupt) adds no error line; one before it ends the
    // stream with {"type": "error", ...} (Output.errorDocument), as --json ends with its document.
    const { intervals: _streamed, ...summary } = doc;
    const line = { type: "summary", ...summary };
    out.result(line, () => toJson(line, 0));
  } else {
    out.result(doc, () =>
      sessions !== undefined
        ? `${formatPerfResult(result, lunName(ref))}\n  ${sessions.length} sessions on ${view.workers === 0 ? "this thread" : `${view.workers} worker thread${view.workers === 1 ? "" : "s"}`}, commands spread over them in turn`
        : connections.length > 1
          ? `${formatPerfResult(result, lunName(ref))}\n${formatShares(connections, mcs.connectionPolicy)}`
          : formatPerfResult(result, lunName(ref)),
    );
  }
  if (view.chart !== undefined) await writeChart(view.chart, result, `${lunName(ref)} at ${formatPortal(ref.portal)}`);
  if (result.interrupted) throw ctx.signal.reason;
}

async function writeChart(path: string, result: PerfResult, where: string): Promise<void> {
  const seconds = result.intervalSeconds ?? 1;
  const svg = intervalChart((result.intervals ?? []).map(chartPointOf), {
    title: `iscsi perf: ${workloadName(result)}, ${formatBytes(result.blockSize)} blocks, QD ${result.queueDepth}`,
    subtitle: `${where}; ${formatCount(result.iops)} IOPS, ${formatRate(result.bytesPerSecond)}, p99 ${latencyText(result.latencyUs.p99)} over ${formatDuration(result.elapsedMs)}; a point every ${formatDuration(seconds * 1000)}`,
    mixed: isMixedWorkload(result.rw),
  });
  try {
    await writeFile(path, svg);
  } catch (error) {
    throw fileError(error, path, "write the chart to");
  }
}
