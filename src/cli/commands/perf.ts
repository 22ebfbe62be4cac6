/**
 * `perf`: a timed workload against a LUN, run by the shared engine (src/perf/engine.ts) and
 * printed as a table or JSON. A write workload overwrites the LUN's data, so it runs only with
 * --force. This module also holds the CLI's view of the engine (`runPerfWorkload`): fio-style
 * workload names, a region in bytes, and the result's field names, which `iscsi perf --json` and
 * `iscsi demo --json` have always printed.
 */
import { Command } from "commander";
import { formatPortal } from "../../node/index.js";
import { blockTargetOf, runWorkload, type CpuTimes, type LunLike } from "../../perf/engine.js";
import { addMcsOptions, countersNow, formatShares, mcsSessionOptions, type McsOptions, noteFewerConnections, sharesSince } from "../connection-shares.js";
import type { CliContext } from "../context.js";
import { CliError } from "../errors.js";
import { formatFields } from "../format.js";
import { formatBytes, formatCount, formatDuration, formatRate, parseCount, parseDuration, parseSize } from "../units.js";
import { examples, type Runner } from "./command.js";
import { lunName } from "./io.js";

export type Workload = "randread" | "randwrite" | "read" | "write";
export const WORKLOADS: readonly Workload[] = ["randread", "randwrite", "read", "write"];

export function isWriteWorkload(rw: Workload): boolean {
  return rw === "write" || rw === "randwrite";
}

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
  readonly latencyUs: {
    readonly min: number;
    readonly mean: number;
    readonly stddev: number;
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
  };
  /** CPU used by this process during the run; percent is of one core (200 = two cores busy). */
  readonly cpu: { readonly userSeconds: number; readonly systemSeconds: number; readonly percentOfOneCore: number };
  readonly interrupted: boolean;
}

export interface PerfEnvironment {
  readonly signal?: AbortSignal;
  /** Milliseconds from a monotonic clock (default performance.now). */
  readonly now?: () => number;
  /** Process CPU time in microseconds (default process.cpuUsage). */
  readonly cpuUsage?: () => CpuTimes;
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

  const r = await runWorkload(
    target,
    {
      pattern: spec.rw === "randread" || spec.rw === "randwrite" ? "random" : "sequential",
      direction: isWriteWorkload(spec.rw) ? "write" : "read",
      ioBytes: spec.blockSize,
      queueDepth: spec.queueDepth,
      stop: { kind: "duration", ms: spec.durationMs },
      startLba: offset / lunBlock,
      // Whole commands only: a tail of the region shorter than one command is left out.
      regionBlocks: Math.floor(size / lunBlock),
      seed: spec.seed,
    },
    { now: env.now, cpuUsage: env.cpuUsage ?? (() => process.cpuUsage()), signal: env.signal },
  );
  const us = (value: number): number => Math.round(value * 100) / 100;
  const l = r.latency;
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
    latencyUs: { min: us(l.minUs), mean: us(l.meanUs), stddev: us(l.stddevUs), p50: us(l.p50Us), p90: us(l.p90Us), p99: us(l.p99Us), p999: us(l.p999Us), max: us(l.maxUs) },
    cpu: r.cpu ?? { userSeconds: 0, systemSeconds: 0, percentOfOneCore: 0 },
    interrupted: r.interrupted,
  };
}

interface PerfOptions extends McsOptions {
  readonly rw: string;
  readonly bs: string;
  readonly qd: string;
  readonly time: string;
  readonly size?: string;
  readonly force?: boolean;
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

export function formatPerfResult(r: PerfResult, what: string): string {
  const head = `${r.rw}, ${formatBytes(r.blockSize)} blocks, QD ${r.queueDepth}, ${formatDuration(r.elapsedMs)} on ${what} (${formatBytes(r.size)} region)${r.interrupted ? ", interrupted" : ""}`;
  const l = r.latencyUs;
  return `${head}\n${formatFields(
    [
      ["IOPS", formatCount(r.iops)],
      ["Throughput", formatRate(r.bytesPerSecond)],
      ["Commands", `${formatCount(r.commands)} (${formatBytes(r.bytes)})`],
      ["Latency", `min ${latencyText(l.min)}  avg ${latencyText(l.mean)}  max ${latencyText(l.max)}  stddev ${latencyText(l.stddev)}`],
      ["Percentiles", `p50 ${latencyText(l.p50)}  p90 ${latencyText(l.p90)}  p99 ${latencyText(l.p99)}  p99.9 ${latencyText(l.p999)}`],
      ["CPU", `user ${r.cpu.userSeconds.toFixed(2)} s  sys ${r.cpu.systemSeconds.toFixed(2)} s  ${r.cpu.percentOfOneCore.toFixed(0)}% of one core`],
    ],
    "  ",
  )}`;
}

export function perfCommand(run: Runner): Command {
  return addMcsOptions(new Command("perf"))
    .summary("benchmark a LUN: IOPS, MiB/s, latency percentiles, CPU")
    .description(
      "Keeps --qd commands of --bs bytes in flight for --time and reports IOPS, throughput, latency (min/avg/max, p50/p90/p99/p99.9) and the CPU this process used. Write workloads destroy the data in the region: they need --force.",
    )
    .argument("<lun-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
    .option("--rw <workload>", `one of ${WORKLOADS.join(", ")}`, "randread")
    .option("--bs <size>", "bytes per command", "4k")
    .option("--qd <n>", "commands in flight", "32")
    .option("--time <duration>", "how long to run", "10s")
    .option("--size <size[@offset]>", "the region to use (default: the whole LUN), e.g. 1G or 1G@4G")
    .option("-f, --force", "allow write workloads (they overwrite the LUN's data)")
    .addHelpText(
      "after",
      examples([
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:disk/1",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --connections 4 --connection-policy least-queue-depth",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --rw read --bs 1M --qd 8 --time 5s",
        "iscsi perf iscsi://127.0.0.1/iqn.2026-11.example:scratch/1 --rw randwrite --force --size 1G --json",
      ]),
    )
    .action(async (url: string, opts: PerfOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const rw = opts.rw as Workload;
        if (!WORKLOADS.includes(rw)) throw new CliError("ISCSI_CLI_USAGE", `--rw "${opts.rw}" is not a workload (one of ${WORKLOADS.join(", ")})`);
        if (isWriteWorkload(rw) && opts.force !== true) {
          throw new CliError("ISCSI_CLI_USAGE", `--rw ${rw} overwrites the data on the LUN: add --force to run it`);
        }
        const blockSize = parseSize(opts.bs, "--bs");
        if (blockSize < 512 || blockSize > 64 << 20) throw new CliError("ISCSI_CLI_USAGE", `--bs ${opts.bs} must be between 512 bytes and 64 MiB`);
        const queueDepth = parseCount(opts.qd, "--qd", { min: 1, max: 1024 });
        const durationMs = parseDuration(opts.time, "--time");
        if (durationMs < 1) throw new CliError("ISCSI_CLI_USAGE", `--time ${opts.time} is too short`);
        const region = opts.size === undefined ? undefined : parseRegion(opts.size);
        const mcs = mcsSessionOptions(opts);
        const ref = ctx.targetRef(url, true);
        await perfAgainst(ctx, ref, { rw, blockSize, queueDepth, durationMs, ...(region ?? {}) }, mcs);
      }),
    );
}

async function perfAgainst(ctx: CliContext, ref: ReturnType<CliContext["targetRef"]>, spec: PerfSpec, mcs: ReturnType<typeof mcsSessionOptions>): Promise<void> {
  // Keep-alive NOPs would be measured as commands' company on the wire; the workload keeps
  // the connection busy anyway.
  const { result, connections } = await ctx.withLun(
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
          return capacity;
        },
        read: (lba, blocks, options) => lun.read(lba, blocks, options),
        write: (lba, data) => lun.write(lba, data),
      };
      const result = await runPerfWorkload(measured, spec, { signal: ctx.signal });
      return { result, connections: sharesSince(before, session.connections) };
    },
    { keepAlive: false, ...mcs },
  );
  ctx.out.result({ target: ref.targetName, portal: formatPortal(ref.portal), lun: ref.lun, ...result, connectionPolicy: mcs.connectionPolicy, connections }, () =>
    connections.length > 1 ? `${formatPerfResult(result, lunName(ref))}\n${formatShares(connections, mcs.connectionPolicy)}` : formatPerfResult(result, lunName(ref)),
  );
  if (result.interrupted) throw ctx.signal.reason;
}
