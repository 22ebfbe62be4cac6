/**
 * The iscsi-ts side of the benchmark, as a process of its own: logs in with the library, runs one
 * closed-loop workload against the LUN, samples its own /proc/self/stat at the edges of the
 * measured window, prints one report line and logs out. Started by the suite as
 * `node dist/bench/worker.js '<WorkerRequest JSON>'` (with --cpu-prof for --profile).
 */
import { openLun } from "../node/index.js";
import { BenchError } from "./errors.js";
import { clockTicksPerSecond, ownTicks, readCpuTicks, readMemory, sampleSurroundings, type ProcMemory, type Surroundings } from "./procstat.js";
import { REPORT_PREFIX, type WorkerReport, type WorkerRequest, type WorkerResult } from "./worker-protocol.js";
import { blockTargetOf, runWorkload, type WorkloadResult } from "../perf/engine.js";

/** The fields the report has always carried, and no more (the results files keep them). */
function workerResult(r: WorkloadResult): WorkerResult {
  const l = r.latency;
  return {
    ios: r.ios,
    bytes: r.bytes,
    elapsedMs: r.elapsedMs,
    iops: r.iops,
    bytesPerSecond: r.bytesPerSecond,
    latency: { count: l.count, meanUs: l.meanUs, minUs: l.minUs, p50Us: l.p50Us, p90Us: l.p90Us, p99Us: l.p99Us, p999Us: l.p999Us, maxUs: l.maxUs },
    warmupIos: r.warmupIos,
  };
}

function parseRequest(argv: readonly string[]): WorkerRequest {
  const text = argv[2];
  if (text === undefined) throw new BenchError("BENCH_ERR_USAGE", "usage: worker.js '<request JSON>'");
  try {
    return JSON.parse(text) as WorkerRequest;
  } catch (error) {
    throw new BenchError("BENCH_ERR_USAGE", "the worker's request is not JSON", { cause: error });
  }
}

async function main(): Promise<void> {
  const request = parseRequest(process.argv);
  const clkTck = clockTicksPerSecond();
  // No keep-alive: libiscsi's tools send no NOP-Outs either, and a ping would sit in the window.
  const lun = await openLun(request.url, { keepAlive: false, ...(request.busyPollUs === undefined ? {} : { busyPollUs: request.busyPollUs }) });
  const target = await blockTargetOf(lun);
  let startTicks = 0;
  let endTicks = 0;
  let startSystem = 0;
  let endSystem = 0;
  let memory: ProcMemory | undefined;
  let aroundStart: Surroundings | undefined;
  let aroundEnd: Surroundings | undefined;
  const result = await runWorkload(target, request.spec, {
    onWindowStart: () => {
      const cpu = readCpuTicks("self");
      startTicks = ownTicks(cpu);
      startSystem = cpu.stime;
      aroundStart = sampleSurroundings(request.tgtdPid);
    },
    onWindowEnd: () => {
      const cpu = readCpuTicks("self");
      endTicks = ownTicks(cpu);
      endSystem = cpu.stime;
      aroundEnd = sampleSurroundings(request.tgtdPid);
      memory = readMemory("self");
    },
  });
  const params = lun.session.params as unknown as Record<string, unknown>;
  const negotiated: Record<string, number | string | boolean> = {};
  for (const [key, value] of Object.entries(params)) {
    if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") negotiated[key] = value;
  }
  for (const c of lun.session.connections) {
    negotiated[`cid${c.cid}.maxRecvDataSegmentLength`] = c.maxRecvDataSegmentLength;
    negotiated[`cid${c.cid}.maxSendDataSegmentLength`] = c.maxSendDataSegmentLength;
  }
  const report: WorkerReport = {
    blockSize: target.blockSize,
    blocks: target.blocks,
    result: workerResult(result),
    windowCpuTicks: endTicks - startTicks,
    windowSystemTicks: endSystem - startSystem,
    clockTicksPerSecond: clkTck,
    totalCpuTicks: endTicks,
    memory: memory ?? readMemory("self"),
    surroundings: { start: aroundStart ?? sampleSurroundings(request.tgtdPid), end: aroundEnd ?? sampleSurroundings(request.tgtdPid) },
    bufferBytes: (request.spec.direction === "read" && request.spec.sharedReadBuffer === true ? 1 : request.spec.queueDepth) * request.spec.ioBytes,
    negotiated,
  };
  process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(report)}\n`);
  await lun.session.logout();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const e = error as { code?: unknown; message?: unknown; stack?: unknown };
    process.stderr.write(`iscsi-ts worker failed: ${String(e.code ?? "")} ${String(e.stack ?? e.message ?? error)}\n`);
    process.exit(1);
  },
);
