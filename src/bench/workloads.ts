/**
 * The workloads of the comparison (from the issue), each with the libiscsi tool it is compared
 * against: iscsi-perf for reads (libiscsi itself, the tighter reference), qemu-img bench for
 * writes (iscsi-perf only reads). qemu-img bench has no random mode: its writes go to sequential
 * offsets, so "4 KiB random write" is random on our side only; on tgtd's null LUN the target's
 * cost does not depend on the offset, so the comparison holds for the initiators.
 */
import type { AccessPattern, Direction } from "../perf/engine.js";

export type ReferenceTool = "iscsi-perf" | "qemu-img";

export interface WorkloadDef {
  /** Stable id used in file names, JSON and --workloads. */
  readonly id: string;
  /** As the table shows it. */
  readonly label: string;
  readonly direction: Direction;
  readonly pattern: AccessPattern;
  readonly ioBytes: number;
  readonly queueDepth: number;
  readonly reference: ReferenceTool;
  /** The rate shown: I/Os per second for small I/Os, MiB/s for large ones. */
  readonly figure: "iops" | "throughput";
  /** CPU time is shown per 100K I/Os for small I/Os, per GiB moved for large ones. */
  readonly cpuPer: "100k-ios" | "gib";
  /** iscsi-ts only: busy polling for this many microseconds (SessionOptions.busyPollUs, opt-in). */
  readonly busyPollUs?: number;
}

const KiB = 1024;
const MiB = 1024 * 1024;

function def(
  direction: Direction,
  pattern: AccessPattern,
  ioBytes: number,
  queueDepth: number,
  reference: ReferenceTool,
): WorkloadDef {
  const size = ioBytes >= MiB ? `${ioBytes / MiB}m` : `${ioBytes / KiB}k`;
  const sizeLabel = ioBytes >= MiB ? `${ioBytes / MiB} MiB` : `${ioBytes / KiB} KiB`;
  const kind = `${pattern === "random" ? "rand" : "seq"}${direction}`;
  const words = `${pattern === "random" ? "random" : "seq"} ${direction}`;
  const large = ioBytes >= 64 * KiB;
  const suffix = reference === "qemu-img" && direction === "read" ? "-qemu" : "";
  return {
    id: `${kind}-${size}-qd${queueDepth}${suffix}`,
    label: `${sizeLabel} ${words} QD${queueDepth}`,
    direction,
    pattern,
    ioBytes,
    queueDepth,
    reference,
    figure: large ? "throughput" : "iops",
    cpuPer: large ? "gib" : "100k-ios",
  };
}

/**
 * Busy polling for the QD1 row that shows it: 200 us covers a 4 KiB read's round trip to tgtd
 * on loopback (about 40 us when nobody sleeps) several times over, and stops a spin at a target
 * that has gone quiet soon enough.
 */
export const BENCH_BUSY_POLL_US = 200;

/** A workload of iscsi-ts with busy polling on, beside the same one without. */
function polled(w: WorkloadDef): WorkloadDef {
  return { ...w, id: `${w.id}-poll`, label: `${w.label}, busy poll`, busyPollUs: BENCH_BUSY_POLL_US };
}

/**
 * The seven workloads, 4 KiB reads at QD1 again with busy polling (opt-in, iscsi-ts only:
 * libiscsi runs the same QD1 again beside it), and 1 MiB reads at QD 128 for the memory goal.
 */
export const WORKLOADS: readonly WorkloadDef[] = [
  def("read", "random", 4 * KiB, 1, "iscsi-perf"),
  polled(def("read", "random", 4 * KiB, 1, "iscsi-perf")),
  def("read", "random", 4 * KiB, 32, "iscsi-perf"),
  def("read", "random", 4 * KiB, 128, "iscsi-perf"),
  def("write", "random", 4 * KiB, 32, "qemu-img"),
  def("read", "sequential", 64 * KiB, 8, "iscsi-perf"),
  def("read", "sequential", MiB, 16, "iscsi-perf"),
  def("write", "sequential", MiB, 16, "qemu-img"),
  def("read", "sequential", MiB, 128, "iscsi-perf"),
];

/** The NBD part's workloads (src/bench/nbd.ts): the same ids as their direct runs. */
export const NBD_WORKLOAD_IDS: readonly string[] = ["randread-4k-qd32", "randwrite-4k-qd32", "seqread-1m-qd16", "seqwrite-1m-qd16"];

/** With --qemu-reads: the sequential reads again, against qemu-img bench (QEMU's libiscsi driver). */
export const QEMU_READ_WORKLOADS: readonly WorkloadDef[] = [
  def("read", "sequential", 4 * KiB, 32, "qemu-img"),
  def("read", "sequential", 64 * KiB, 8, "qemu-img"),
  def("read", "sequential", MiB, 16, "qemu-img"),
];

/** Block sizes of the iSCSI-over-local comparison: 512 B to 128 KiB, doubling. */
export const LOCAL_SIZES: readonly number[] = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

export function sizeLabel(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} B`;
}
