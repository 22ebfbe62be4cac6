/**
 * `perf`: a timed workload against a LUN (src/cli/perf/engine.ts), printed as a table or JSON.
 * A write workload overwrites the LUN's data, so it runs only with --force.
 */
import { Command } from "commander";
import { formatPortal } from "../../node/host.js";
import type { CliContext } from "../context.js";
import { CliError } from "../errors.js";
import { formatFields } from "../format.js";
import { isWriteWorkload, runWorkload, type Workload, type WorkloadResult, WORKLOADS } from "../perf/engine.js";
import { formatBytes, formatCount, formatDuration, formatRate, parseCount, parseDuration, parseSize } from "../units.js";
import { examples, type Runner } from "./command.js";
import { lunName } from "./io.js";

interface PerfOptions {
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

export function formatPerfResult(r: WorkloadResult, what: string): string {
  const head = `${r.rw}, ${formatBytes(r.blockSize)} blocks, QD ${r.queueDepth}, ${formatDuration(r.elapsedMs)} on ${what} (${formatBytes(r.size)} region)${r.interrupted ? ", interrupted" : ""}`;
  const l = r.latencyUs;
  return `${head}\n${formatFields(
    [
      ["IOPS", formatCount(r.iops)],
      ["Throughput", `${formatRate(r.bytesPerSecond)} (${(r.bytesPerSecond / 2 ** 20).toFixed(1)} MiB/s)`],
      ["Commands", `${formatCount(r.commands)} (${formatBytes(r.bytes)})`],
      ["Latency", `min ${latencyText(l.min)}  avg ${latencyText(l.mean)}  max ${latencyText(l.max)}  stddev ${latencyText(l.stddev)}`],
      ["Percentiles", `p50 ${latencyText(l.p50)}  p90 ${latencyText(l.p90)}  p99 ${latencyText(l.p99)}  p99.9 ${latencyText(l.p999)}`],
      ["CPU", `user ${r.cpu.userSeconds.toFixed(2)} s  sys ${r.cpu.systemSeconds.toFixed(2)} s  ${r.cpu.percentOfOneCore.toFixed(0)}% of one core`],
    ],
    "  ",
  )}`;
}

export function perfCommand(run: Runner): Command {
  return new Command("perf")
    .summary("benchmark a LUN: IOPS, MB/s, latency percentiles, CPU")
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
        const ref = ctx.targetRef(url, true);
        await runPerf(ctx, ref, { rw, blockSize, queueDepth, durationMs, ...(region ?? {}) });
      }),
    );
}

async function runPerf(ctx: CliContext, ref: ReturnType<CliContext["targetRef"]>, spec: Parameters<typeof runWorkload>[1]): Promise<void> {
  // Keep-alive NOPs would be measured as commands' company on the wire; the workload keeps
  // the connection busy anyway.
  const result = await ctx.withLun(ref, (lun) => runWorkload(lun, spec, { signal: ctx.signal }), { keepAlive: false });
  ctx.out.result({ target: ref.targetName, portal: formatPortal(ref.portal), lun: ref.lun, ...result }, () => formatPerfResult(result, lunName(ref)));
  if (result.interrupted) throw ctx.signal.reason;
}
