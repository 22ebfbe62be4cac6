/** Synthetic results for tests of the report, the tables and the charts. */
import type { MachineInfo } from "./machine.js";
import { cpuPerUnit, judgeGoals, outcome, type BenchResults, type LocalComparison, type RunFigures, type WorkloadOutcome } from "./report.js";
import { ratio, spread } from "./stats.js";
import { WORKLOADS, type WorkloadDef } from "./workloads.js";

export interface SideFigures {
  readonly iops: readonly number[];
  /** CPU seconds per run (same for every run unless a list). */
  readonly cpuSeconds?: number;
  readonly rssMiB?: number;
  readonly latencyUs?: number;
}

export function runsOf(w: WorkloadDef, side: SideFigures, measured: boolean): RunFigures[] {
  return side.iops.map((iops, i) => {
    const seconds = 4;
    const ios = iops * seconds;
    const cpu = side.cpuSeconds ?? 1;
    const mean = side.latencyUs ?? (w.queueDepth / iops) * 1e6;
    return {
      round: i + 1,
      command: measured ? "node worker" : w.reference,
      ios,
      seconds,
      iops,
      bytesPerSecond: iops * w.ioBytes,
      cpuSeconds: cpu,
      cpuPerUnit: cpuPerUnit(cpu, ios, w.ioBytes, w.cpuPer),
      peakRssKiB: (side.rssMiB ?? 50) * 1024,
      meanLatencyUs: mean,
      ...(measured ? { latency: { count: ios, meanUs: mean, minUs: mean / 2, p50Us: mean, p90Us: mean * 1.5, p99Us: mean * 3, p999Us: mean * 5, maxUs: mean * 9 } } : {}),
    };
  });
}

export function fakeOutcome(id: string, lib: SideFigures, ours: SideFigures): WorkloadOutcome {
  const w = WORKLOADS.find((x) => x.id === id);
  if (w === undefined) throw new RangeError(`no workload ${id}`);
  return outcome(w, runsOf(w, lib, false), runsOf(w, ours, true));
}

export const MACHINE: MachineInfo = {
  cpuModel: "Test CPU <9000>",
  cores: 2,
  memoryGiB: 16,
  kernel: "Linux 6.1.0",
  node: "v20.0.0",
  loadAverage: [0.5, 0.4, 0.3],
  versions: { tgt: "1:1.0.85-1", libiscsi: "1.19.0-3", "qemu-utils": "1:7.2+dfsg-7", fio: "3.33-3" },
};

export function fakeLocal(): LocalComparison {
  const sizes = [512, 4096, 131072];
  return {
    file: "/tmp/lun.img",
    fileBytes: 256 << 20,
    queueDepth: 16,
    direct: false,
    directIoPossible: true,
    points: sizes.map((ioBytes, i) => {
      const local = [300_000 / (i + 1)];
      const lib = [30_000 / (i + 1)];
      const ours = [25_000 / (i + 1)];
      const w: WorkloadDef = { ...WORKLOADS[0]!, ioBytes };
      return {
        ioBytes,
        local: { runs: [{ round: 1, iops: local[0]!, command: "fio" }], iops: spread(local) },
        libiscsi: { runs: runsOf(w, { iops: lib }, false), iops: spread(lib) },
        ours: { runs: runsOf(w, { iops: ours }, true), iops: spread(ours) },
        oursOverLocal: ratio(ours[0]!, local[0]!),
        libiscsiOverLocal: ratio(lib[0]!, local[0]!),
      };
    }),
  };
}

/** Every workload, ours at `factor` times libiscsi's rate, three rounds. */
export function fakeResults(factor = 0.9, options: { readonly local?: boolean } = {}): BenchResults {
  const workloads = WORKLOADS.map((w) => {
    const base = w.figure === "iops" ? 50_000 : 1_500;
    return fakeOutcome(w.id, { iops: [base, base * 1.02, base * 0.98], rssMiB: 4 }, { iops: [base * factor, base * factor * 1.01, base * factor * 0.99], cpuSeconds: 1.2, rssMiB: 90 });
  });
  return {
    schema: 1,
    startedAt: "2026-11-25T18:00:00.000Z",
    finishedAt: "2026-11-25T18:10:00.000Z",
    machine: MACHINE,
    loadAverageAtEnd: [1.5, 1, 0.5],
    settings: { rounds: 3, seconds: 4, warmupSeconds: 1, quick: false, profile: false, workloads: WORKLOADS.map((w) => w.id), localSizes: [512, 4096, 131072], localQueueDepth: 16, quietPercent: 15, quietWaitSeconds: 30 },
    target: { tgtdParams: {}, negotiated: {} },
    workloads,
    local: options.local === false ? undefined : fakeLocal(),
    goals: judgeGoals(workloads),
    profiles: [],
    failures: [],
    noisyRuns: [],
  };
}
