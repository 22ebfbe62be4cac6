/**
 * The NBD hop: fio's nbd engine (libnbd) against two NBD servers that serve tgtd's null LUN,
 * `qemu-nbd` (QEMU's block layer on libiscsi) and `iscsi nbd` (the bridge), alternating per
 * workload and round like the direct comparison. Each server runs for the whole part, logged in
 * once; a run's CPU is the server process's utime+stime from /proc over fio's whole run (fio
 * connects, runs `seconds` time-based and leaves; the servers idle otherwise), so CPU per I/O is
 * the server's alone, fio's own CPU is charged to neither. The direct figures of the same
 * invocation (iscsi-perf or qemu-img bench, and our worker, straight to the LUN) stand beside
 * them, so the cost of the hop shows.
 */
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { BenchError, tail } from "./errors.js";
import { parseFioJson } from "./fio.js";
import { ownTicks, readCpuTicks, readMemory, contention, sampleSurroundings } from "./procstat.js";
import { Child, describeExit, run, sleep } from "./process.js";
import { cpuPerUnit, summarize, type NbdComparison, type NbdServerName, type RunFigures, type WorkloadOutcome } from "./report.js";
import { ratio } from "./stats.js";
import { beforeRun, type SuiteContext } from "./suite.js";
import { formatIops, formatMiBps } from "./table.js";
import { freeTcpPort } from "./ports.js";
import { NBD_WORKLOAD_IDS, WORKLOADS, type WorkloadDef } from "./workloads.js";

export const NBD_WORKLOADS: readonly WorkloadDef[] = NBD_WORKLOAD_IDS.map((id) => {
  const found = WORKLOADS.find((w) => w.id === id);
  if (found === undefined) throw new BenchError("BENCH_ERR_USAGE", `no workload ${id}`);
  return found;
});

/** A server serving the LUN as export "lun" on a loopback port. */
interface RunningServer {
  readonly name: NbdServerName;
  readonly child: Child;
  readonly uri: string;
  readonly command: string;
}

/** src/cli/main.ts or dist/cli/main.js, matching how the suite itself runs. */
export function cliPath(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/bench\/nbd\.(ts|js)$/, (_m, ext: string) => `cli/main.${ext}`);
}

async function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitListening(child: Child, port: number, ready: () => boolean): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    if (!child.running) throw new BenchError("BENCH_ERR_PEER", `${child.command} ${describeExit(child.exitStatus!)}; stderr: ${tail(child.stderr())}`);
    if (ready() && (await portAnswers(port))) return;
    await sleep(50);
  }
  await child.kill();
  throw new BenchError("BENCH_ERR_TIMEOUT", `${child.command} did not listen on 127.0.0.1:${port} within 20 s; stderr: ${tail(child.stderr())}`);
}

async function startQemuNbd(lunUrl: string): Promise<RunningServer> {
  const port = await freeTcpPort();
  const args = ["-t", "-f", "raw", "-b", "127.0.0.1", "-p", String(port), "-x", "lun", lunUrl];
  const child = new Child("qemu-nbd", args);
  await waitListening(child, port, () => true);
  return { name: "qemu-nbd", child, uri: `nbd://127.0.0.1:${port}/lun`, command: child.command };
}

async function startBridge(lunUrl: string): Promise<RunningServer> {
  const port = await freeTcpPort();
  const args = [...process.execArgv.filter((a) => !a.startsWith("--cpu-prof")), cliPath(), "nbd", lunUrl, "--listen", `127.0.0.1:${port}`, "--name", "lun", "--json"];
  const child = new Child(process.execPath, args);
  // The JSON document is printed once the export listens.
  await waitListening(child, port, () => /^}$/m.test(child.stdout()));
  return { name: "iscsi-ts", child, uri: `nbd://127.0.0.1:${port}/lun`, command: `iscsi nbd ${lunUrl} --listen 127.0.0.1:${port}` };
}

export function fioNbdArgs(w: Pick<WorkloadDef, "direction" | "pattern" | "ioBytes" | "queueDepth">, uri: string, seconds: number, sizeBytes: number): string[] {
  const rw = `${w.pattern === "random" ? "rand" : ""}${w.direction}`;
  return [
    "--name=nbd",
    "--ioengine=nbd",
    `--uri=${uri}`,
    `--rw=${rw}`,
    `--bs=${w.ioBytes}`,
    `--iodepth=${w.queueDepth}`,
    `--size=${sizeBytes}`,
    "--time_based",
    `--runtime=${seconds}`,
    "--output-format=json",
  ];
}

/** fio's JSON for one direction: I/Os and runtime come from the job's read or write part. */
function parseFioNbd(stdout: string, direction: "read" | "write", command: string): { ios: number; seconds: number; iops: number; bytesPerSecond: number } {
  if (direction === "read") {
    const r = parseFioJson(stdout, command);
    const parsed = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { jobs: { read: { total_ios: number; runtime: number } }[] };
    const job = parsed.jobs[0]!.read;
    return { ios: job.total_ios, seconds: job.runtime / 1000, iops: r.iops, bytesPerSecond: r.bytesPerSecond };
  }
  const parsed = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { jobs?: { write?: { total_ios?: number; runtime?: number; iops?: number; bw_bytes?: number } }[] };
  const job = parsed.jobs?.[0]?.write;
  if (job?.total_ios === undefined || job.runtime === undefined || job.iops === undefined || job.bw_bytes === undefined) {
    throw new BenchError("BENCH_ERR_PARSE", `${command}: JSON has no jobs[0].write figures`);
  }
  return { ios: job.total_ios, seconds: job.runtime / 1000, iops: job.iops, bytesPerSecond: job.bw_bytes };
}

/** One fio run through `server`, with the server's CPU over fio's whole run. */
async function runThrough(ctx: SuiteContext, server: RunningServer, w: WorkloadDef, round: number, seconds: number, sizeBytes: number): Promise<RunFigures> {
  const args = fioNbdArgs(w, server.uri, seconds, sizeBytes);
  const command = `fio ${args.join(" ")} (server: ${server.command})`;
  const before = readCpuTicks(server.child.pid);
  const aroundBefore = sampleSurroundings(ctx.tgtd.pid);
  const result = await run("fio", args, { timeoutMs: (seconds + 60) * 1000 });
  const after = readCpuTicks(server.child.pid);
  const aroundAfter = sampleSurroundings(ctx.tgtd.pid);
  if (result.status.code !== 0 || result.timedOut) {
    throw new BenchError("BENCH_ERR_PEER", `${command} ${result.timedOut ? "timed out" : describeExit(result.status)}; stderr: ${tail(result.stderr)}; server stderr: ${tail(server.child.stderr())}`);
  }
  const figures = parseFioNbd(result.stdout, w.direction, command);
  if (!(figures.ios > 0)) throw new BenchError("BENCH_ERR_PEER", `${command}: no I/O completed`);
  const ticks = ownTicks(after) - ownTicks(before);
  const cpuSeconds = ticks / ctx.clockTicksPerSecond;
  const around = contention(aroundBefore, aroundAfter, ticks, ctx.clockTicksPerSecond);
  return {
    round,
    command,
    ios: figures.ios,
    seconds: figures.seconds,
    iops: figures.iops,
    bytesPerSecond: figures.bytesPerSecond,
    cpuSeconds,
    systemCpuSeconds: (after.stime - before.stime) / ctx.clockTicksPerSecond,
    cpuPerUnit: cpuPerUnit(cpuSeconds, figures.ios, w.ioBytes, w.cpuPer),
    peakRssKiB: readMemory(server.child.pid).hwmKiB,
    meanLatencyUs: (w.queueDepth / figures.iops) * 1e6,
    tgtdCpuSeconds: around.tgtdCpuSeconds,
    otherCpuPercent: around.otherCpuPercent,
    irqCpuSeconds: around.irqCpuSeconds,
  };
}

function describe(w: WorkloadDef, r: RunFigures | undefined): string {
  if (r === undefined) return "failed";
  const rate = w.figure === "iops" ? `${formatIops(r.iops)} IOPS` : `${formatMiBps(r.bytesPerSecond)} MiB/s`;
  return `${rate} cpu ${r.cpuSeconds.toFixed(2)} s`;
}

/**
 * Runs the NBD workloads through qemu-nbd and through the bridge, alternating, `ctx.rounds`
 * rounds; `direct` holds this invocation's direct outcomes to set beside them.
 */
export async function runNbdComparison(ctx: SuiteContext, workloads: readonly WorkloadDef[], lunUrl: string, direct: readonly WorkloadOutcome[]): Promise<NbdComparison> {
  const sizeBytes = 1 << 30;
  const runs = new Map<string, { qemu: RunFigures[]; bridge: RunFigures[] }>(workloads.map((w) => [w.id, { qemu: [], bridge: [] }]));
  const servers: RunningServer[] = [];
  try {
    servers.push(await startQemuNbd(lunUrl));
    servers.push(await startBridge(lunUrl));
    ctx.log(`nbd: qemu-nbd pid ${servers[0]!.child.pid} at ${servers[0]!.uri}, iscsi nbd pid ${servers[1]!.child.pid} at ${servers[1]!.uri}`);
    // A warm-up run through each (not counted): the bridge's JIT, both sessions' first commands.
    for (const server of servers) {
      await runThrough(ctx, server, workloads[0] ?? NBD_WORKLOADS[0]!, 0, 1, sizeBytes).catch((error: unknown) => {
        throw new BenchError("BENCH_ERR_PEER", `nbd warm-up through ${server.name} failed: ${(error as Error).message}`, { cause: error });
      });
    }
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const w of workloads) {
        const got: Partial<Record<NbdServerName, RunFigures>> = {};
        for (const server of servers) {
          const what = `nbd round ${round} ${w.id} ${server.name}`;
          await beforeRun(ctx, what);
          try {
            const r = await runThrough(ctx, server, w, round, ctx.seconds, sizeBytes);
            got[server.name] = r;
            runs.get(w.id)![server.name === "qemu-nbd" ? "qemu" : "bridge"].push(r);
          } catch (error) {
            const line = `${what} failed: ${(error as Error).message}`;
            ctx.failures.push(line);
            ctx.log(`  ${line}`);
          }
        }
        ctx.log(`[nbd ${round}/${ctx.rounds}] ${w.label.padEnd(26)} qemu-nbd ${describe(w, got["qemu-nbd"])} | iscsi nbd ${describe(w, got["iscsi-ts"])}`);
      }
    }
  } finally {
    for (const server of servers) {
      server.child.signal("SIGTERM");
      const stopped = await Promise.race([server.child.exited, sleep(15_000).then(() => undefined)]);
      if (stopped === undefined) await server.child.kill();
    }
  }
  return {
    servers: { qemuNbd: servers[0]?.command ?? "qemu-nbd", bridge: servers[1]?.command ?? "iscsi nbd" },
    fioSizeBytes: sizeBytes,
    outcomes: workloads.map((w) => {
      const r = runs.get(w.id)!;
      const qemuNbd = summarize(r.qemu);
      const bridge = summarize(r.bridge);
      return {
        workload: w,
        qemuNbd: { runs: r.qemu, summary: qemuNbd },
        bridge: { runs: r.bridge, summary: bridge },
        ratio: ratio(bridge.iops.median, qemuNbd.iops.median),
        cpuRatio: ratio(bridge.cpuPerUnit.median, qemuNbd.cpuPerUnit.median),
        direct: direct.find((o) => o.workload.id === w.id),
      };
    }),
  };
}
