/**
 * Sessions on worker threads against sessions on the main thread, side by side in one run:
 * 4 KiB random reads at a queue depth of 32 spread over 2 sessions to tgtd's null LUN, with the
 * sessions on the main thread (a pool of 0 workers), on 1 worker, and on 2 workers. Each
 * configuration runs `--rounds` times, interleaved, so a slow spell of the machine falls on all
 * of them; the table gives each one's median IOPS and the CPU of this process (every thread)
 * and of tgtd, and their ratios to the main thread's.
 *
 *   npm run build && node dist/bench/workers.js [--seconds 5] [--rounds 3] [--qd 32] [--sessions 2] [--workers 0,1,2] [--into plain|shared]
 *
 * `--into shared` reads into SharedArrayBuffer-backed buffers (no copy between threads); the
 * default reads into each loop's plain buffer as `iscsi perf` does (one 4 KiB copy per read
 * when the session is on a worker).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorkerPool, openSpreadLun, type SpreadLun } from "../node/workers/index.js";
import { type BlockTarget, blockTargetOf, runWorkload } from "../perf/engine.js";
import { readFileSync } from "node:fs";
import { clockTicksPerSecond, contention, ownTicks, parseProcStat, readCpuTicks, sampleSurroundings, type Surroundings } from "./procstat.js";
import { BenchTgtd, NULL_LUN } from "./tgtd.js";

interface Options {
  readonly seconds: number;
  readonly rounds: number;
  readonly queueDepth: number;
  readonly sessions: number;
  readonly workers: readonly number[];
  readonly into: "plain" | "shared";
}

interface Sample {
  readonly iops: number;
  /** This process's CPU, every thread, in the window: seconds of CPU per second. */
  readonly cores: number;
  readonly tgtdCores: number;
  /** The main thread's own CPU (the thread an application's code runs on), cores. */
  readonly mainCores: number;
  /** The share of the machine's CPU that everything else used in the window: above a few percent, distrust the sample. */
  readonly othersPercent: number;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (name: string, fallback: string): string => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 && argv[at + 1] !== undefined ? (argv[at + 1] as string) : fallback;
  };
  const into = value("into", "plain");
  if (into !== "plain" && into !== "shared") throw new Error(`--into is ${into}: plain or shared`);
  return {
    seconds: Number(value("seconds", "5")),
    rounds: Number(value("rounds", "3")),
    queueDepth: Number(value("qd", "32")),
    sessions: Number(value("sessions", "2")),
    workers: value("workers", "0,1,2").split(",").map(Number),
    into,
  };
}

/** The spread LUN as the engine's target; with `shared`, each loop's buffer has a twin in shared memory that the read fills instead. */
async function targetOf(spread: SpreadLun, into: "plain" | "shared", allocate: (bytes: number) => Uint8Array): Promise<BlockTarget> {
  const target = await blockTargetOf(spread);
  await spread.maxTransferSize();
  if (into === "plain") return target;
  const twins = new WeakMap<Uint8Array, Uint8Array>();
  return {
    ...target,
    read: (lba, blocks, options) => {
      let twin = twins.get(options.into);
      if (twin === undefined) twins.set(options.into, (twin = allocate(options.into.length)));
      return spread.read(lba, blocks, { into: twin });
    },
  };
}

async function measure(tgtd: BenchTgtd, workers: number, options: Options, ticksPerSecond: number): Promise<Sample> {
  const pool = createWorkerPool({ workers });
  try {
    const spread = await openSpreadLun(pool, tgtd.url(NULL_LUN), NULL_LUN, { sessions: options.sessions, overrides: { keepAlive: false } });
    try {
      const target = await targetOf(spread, options.into, (bytes) => pool.allocate(bytes));
      let start: Surroundings | undefined;
      let end: Surroundings | undefined;
      let selfStart = 0;
      let selfEnd = 0;
      let mainStart = 0;
      let mainEnd = 0;
      const result = await runWorkload(
        target,
        {
          pattern: "random",
          direction: "read",
          ioBytes: 4096,
          queueDepth: options.queueDepth,
          warmupMs: 1000,
          stop: { kind: "duration", ms: options.seconds * 1000 },
          // The null LUN is 1 TiB of zeros: the first 16 GiB are plenty of addresses.
          regionBlocks: (16 * 1024 ** 3) / target.blockSize,
        },
        {
          cpuUsage: () => process.cpuUsage(),
          onWindowStart: () => {
            start = sampleSurroundings(tgtd.pid);
            selfStart = ownTicks(readCpuTicks("self"));
            mainStart = mainThreadTicks();
          },
          onWindowEnd: () => {
            end = sampleSurroundings(tgtd.pid);
            selfEnd = ownTicks(readCpuTicks("self"));
            mainEnd = mainThreadTicks();
          },
        },
      );
      const seconds = result.elapsedMs / 1000;
      const cpu = result.cpu;
      const around = start === undefined || end === undefined ? undefined : contention(start, end, selfEnd - selfStart, ticksPerSecond);
      return {
        iops: result.iops,
        cores: cpu === undefined ? 0 : (cpu.userSeconds + cpu.systemSeconds) / seconds,
        tgtdCores: (around?.tgtdCpuSeconds ?? 0) / seconds,
        mainCores: (mainEnd - mainStart) / ticksPerSecond / seconds,
        othersPercent: around?.otherCpuPercent ?? 0,
      };
    } finally {
      await spread.close();
    }
  } finally {
    await pool.close();
  }
}

/** The main thread's user+system ticks: its task's /proc entry has the process's id. */
function mainThreadTicks(): number {
  return ownTicks(parseProcStat(readFileSync(`/proc/self/task/${process.pid}/stat`, "latin1")));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function label(workers: number): string {
  return workers === 0 ? "main thread" : `${workers} worker${workers === 1 ? "" : "s"}`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), "iscsi-ts-bench-workers-"));
  const file = join(dir, "file-lun.img");
  await writeFile(file, new Uint8Array(1024 * 1024));
  const tgtd = await BenchTgtd.start();
  const ticksPerSecond = clockTicksPerSecond();
  const samples = new Map<number, Sample[]>(options.workers.map((w) => [w, []]));
  try {
    await tgtd.configure(file);
    for (let round = 1; round <= options.rounds; round++) {
      for (const workers of options.workers) {
        const sample = await measure(tgtd, workers, options, ticksPerSecond);
        samples.get(workers)?.push(sample);
        console.error(
          `round ${round}/${options.rounds} ${label(workers)}: ${Math.round(sample.iops)} IOPS, ${(sample.cores * 100).toFixed(0)}% CPU, tgtd ${(sample.tgtdCores * 100).toFixed(0)}%, others ${sample.othersPercent.toFixed(0)}% of the machine`,
        );
      }
    }
  } finally {
    await tgtd.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const rows = options.workers.map((workers) => {
    const list = samples.get(workers) ?? [];
    const iops = median(list.map((s) => s.iops));
    const cores = median(list.map((s) => s.cores));
    return {
      workers,
      iops,
      cores,
      tgtdCores: median(list.map((s) => s.tgtdCores)),
      othersPercent: Math.max(...list.map((s) => s.othersPercent)),
      mainPerIoUs: (median(list.map((s) => s.mainCores)) / iops) * 1e6,
      cpuPerIoUs: (cores / iops) * 1e6,
      runs: list.map((s) => Math.round(s.iops)),
    };
  });
  const base = rows[0];
  console.log(
    `4 KiB random reads, QD${options.queueDepth} over ${options.sessions} sessions to tgtd's null LUN, ${options.seconds} s windows, median of ${options.rounds}, reads into ${options.into} buffers`,
  );
  console.log(["sessions on".padEnd(12), "IOPS".padStart(8), "x".padStart(6), "CPU".padStart(6), "x".padStart(6), "CPU/IO".padStart(8), "x".padStart(6), "main/IO".padStart(8), "tgtd CPU".padStart(9), "others".padStart(7), "  runs (IOPS)"].join(" "));
  for (const row of rows) {
    const ratio = (value: number, baseValue: number | undefined): string => (baseValue === undefined || baseValue === 0 ? "" : `${(value / baseValue).toFixed(2)}x`);
    console.log(
      [
        label(row.workers).padEnd(12),
        String(Math.round(row.iops)).padStart(8),
        ratio(row.iops, base?.iops).padStart(6),
        `${(row.cores * 100).toFixed(0)}%`.padStart(6),
        ratio(row.cores, base?.cores).padStart(6),
        `${row.cpuPerIoUs.toFixed(1)}us`.padStart(8),
        ratio(row.cpuPerIoUs, base?.cpuPerIoUs).padStart(6),
        `${row.mainPerIoUs.toFixed(1)}us`.padStart(8),
        `${(row.tgtdCores * 100).toFixed(0)}%`.padStart(9),
        `${row.othersPercent.toFixed(0)}%`.padStart(7),
        `  ${row.runs.join(", ")}`,
      ].join(" "),
    );
  }
  console.log("CPU: this process, every thread (process.cpuUsage), in cores (100% = one core busy); CPU/IO: per I/O; main/IO: the main thread's own CPU per I/O (/proc/self/task), what is left on the thread an application runs on; tgtd's from /proc.");
  console.log("others: the most the rest of the machine used in any window of that row, as a share of all its CPUs (above a few percent, distrust the row).");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
