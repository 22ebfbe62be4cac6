/** The suite's command line (`npm run bench -- [options]`). */
import { parseArgs } from "node:util";
import { BenchError } from "./errors.js";
import { LOCAL_SIZES, NBD_WORKLOAD_IDS, QEMU_READ_WORKLOADS, WORKLOADS, type WorkloadDef } from "./workloads.js";

export interface BenchOptions {
  readonly rounds: number;
  /** Length of each run's measured window. */
  readonly seconds: number;
  /** Our worker's warm-up before its window (iscsi-perf's window starts after its first second). */
  readonly warmupSeconds: number;
  readonly quick: boolean;
  readonly profile: boolean;
  readonly workloads: readonly WorkloadDef[];
  readonly local: boolean;
  /** The NBD part: qemu-nbd and iscsi nbd through fio's nbd engine. */
  readonly nbd: boolean;
  /** --only nbd: a partial run, whose results never replace the latest full run's. */
  readonly onlyNbd: boolean;
  /** --only scaling / --only target: that part alone (src/bench/scaling.ts, src/bench/target.ts). */
  readonly only: "nbd" | "scaling" | "target" | undefined;
  /** The scaling part (connections, sessions, workers) at the end of a full run. */
  readonly scaling: boolean;
  readonly localSizes: readonly number[];
  readonly localQueueDepth: number;
  readonly localFileBytes: number;
  /** Busy share of the machine (percent) under which a run may start; 0 never waits. */
  readonly quietPercent: number;
  /** Longest wait for a quiet machine before a run, seconds. */
  readonly quietWaitSeconds: number;
  /** Where results go; bench/results in the repository unless told. */
  readonly outDir: string | undefined;
  /** Re-render the table, Markdown and charts of this results JSON instead of measuring. */
  readonly render: string | undefined;
  readonly help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

Runs each workload with libiscsi (iscsi-perf, qemu-img bench) and with iscsi-ts against a tgtd of
its own, alternating, several rounds; prints one table and writes JSON and SVG to bench/results/.

  --rounds N            rounds (3)
  --seconds S           measured seconds per run, whole seconds (4)
  --warmup S            iscsi-ts warm-up before its window, seconds (1)
  --quick               smoke run: 1 round of 1 s, 3 block sizes in the local sweep
  --profile             also run the iscsi-ts worker once per workload under --cpu-prof and
                        write .cpuprofile files and self-time summaries to the results folder
  --workloads LIST      comma-separated workload ids, or "none" (all):
                        ${[...WORKLOADS, ...QEMU_READ_WORKLOADS].map((w) => w.id).join(", ")}
  --qemu-reads          add the sequential reads against qemu-img bench too
  --no-local            skip the iSCSI-over-local sweep
  --no-nbd              skip the NBD part (fio's nbd engine through qemu-nbd and iscsi nbd)
  --only nbd            only the NBD part, with the direct runs of its four workloads beside it
                        (4k random read and write QD32, 1 MiB sequential read and write QD16)
  --only scaling        only the scaling table: 1 session with 1, 2, 4 connections (MC/S), 2 and
                        4 sessions over two tgtds, 2 sessions on 1 and 2 worker threads, each
                        beside iscsi-perf processes (4k random read QD32, 1 MiB seq read QD16)
  --only target         only the embedded target as a server (memory LUN) against tgtd (null
                        LUN), both serving iscsi-perf (reads) and qemu-img bench (writes)
  --no-scaling          skip the scaling table at the end of a full run (--quick skips it too)
  --local-sizes LIST    block sizes of the sweep in bytes (512,1024,...,131072)
  --local-qd N          queue depth of the sweep (16)
  --local-file-mib N    size of the file tgtd serves and fio reads (1024; --quick: 256)
  --quiet-percent P     before each run, wait until the machine's CPUs are less than P% busy
                        (others' work: between runs nothing of ours runs); 0 never waits (15)
  --quiet-wait S        but wait at most S seconds, then run and note it (30; --quick: 0)
  --out DIR             results folder (bench/results)
  --render FILE.json    measure nothing: print the table of a results file and write its
                        Markdown and charts again beside it (after a change to their format)
  --help`;

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new BenchError("BENCH_ERR_USAGE", `${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

function positiveNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new BenchError("BENCH_ERR_USAGE", `${name} must be a non-negative number, got ${JSON.stringify(text)}`);
  return value;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        rounds: { type: "string" },
        seconds: { type: "string" },
        warmup: { type: "string" },
        quick: { type: "boolean", default: false },
        profile: { type: "boolean", default: false },
        workloads: { type: "string" },
        "qemu-reads": { type: "boolean", default: false },
        "no-local": { type: "boolean", default: false },
        "no-nbd": { type: "boolean", default: false },
        "no-scaling": { type: "boolean", default: false },
        only: { type: "string" },
        "local-sizes": { type: "string" },
        "local-qd": { type: "string" },
        "local-file-mib": { type: "string" },
        "quiet-percent": { type: "string" },
        "quiet-wait": { type: "string" },
        out: { type: "string" },
        render: { type: "string" },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new BenchError("BENCH_ERR_USAGE", `${(error as Error).message}\n${USAGE}`, { cause: error });
  }
  const v = parsed.values;
  const quick = v.quick === true;
  const all = [...WORKLOADS, ...QEMU_READ_WORKLOADS];
  let workloads: readonly WorkloadDef[] = v["qemu-reads"] === true ? all : WORKLOADS;
  if (v.workloads !== undefined) {
    const ids = v.workloads.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (ids.length === 1 && ids[0] === "none") {
      workloads = [];
    } else {
      workloads = ids.map((id) => {
        const found = all.find((w) => w.id === id);
        if (found === undefined) throw new BenchError("BENCH_ERR_USAGE", `unknown workload ${JSON.stringify(id)}; known: ${all.map((w) => w.id).join(", ")}`);
        return found;
      });
    }
  }
  const only = v.only;
  if (only !== undefined && only !== "nbd" && only !== "scaling" && only !== "target") {
    throw new BenchError("BENCH_ERR_USAGE", `--only takes "nbd", got ${JSON.stringify(only)}; "scaling" and "target" too`);
  }
  const onlyNbd = only === "nbd";
  if (onlyNbd && v.workloads === undefined) workloads = WORKLOADS.filter((w) => NBD_WORKLOAD_IDS.includes(w.id));
  const localSizes =
    v["local-sizes"] !== undefined
      ? v["local-sizes"].split(",").map((s) => {
          const size = positiveInt("--local-sizes", s.trim(), 0);
          if (size % 512 !== 0) throw new BenchError("BENCH_ERR_USAGE", `--local-sizes: ${size} is not a multiple of 512 bytes`);
          return size;
        })
      : quick
        ? [512, 4096, 131072]
        : LOCAL_SIZES;
  return {
    rounds: positiveInt("--rounds", v.rounds, quick ? 1 : 3),
    seconds: positiveInt("--seconds", v.seconds, quick ? 1 : 4),
    warmupSeconds: positiveNumber("--warmup", v.warmup, quick ? 0.5 : 1),
    quick,
    profile: v.profile === true,
    workloads,
    local: v["no-local"] !== true && !onlyNbd,
    nbd: v["no-nbd"] !== true,
    onlyNbd,
    only,
    // A smoke run (--quick) checks the main suite; the scaling part runs in full runs and alone.
    scaling: v["no-scaling"] !== true && only === undefined && !quick,
    localSizes,
    localQueueDepth: positiveInt("--local-qd", v["local-qd"], 16),
    localFileBytes: positiveInt("--local-file-mib", v["local-file-mib"], quick ? 256 : 1024) * 1024 * 1024,
    quietPercent: positiveNumber("--quiet-percent", v["quiet-percent"], 15),
    quietWaitSeconds: positiveNumber("--quiet-wait", v["quiet-wait"], quick ? 0 : 30),
    outDir: v.out,
    render: v.render,
    help: v.help === true,
  };
}
