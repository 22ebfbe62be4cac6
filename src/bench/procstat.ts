/**
 * CPU time and memory of a process from /proc, read the same way for every initiator (iscsi-perf,
 * qemu-img, our worker): utime+stime from /proc/<pid>/stat in clock ticks, peak resident set
 * (VmHWM) from /proc/<pid>/status. Reads are synchronous so a sample is taken at the instant it
 * is asked for, not a tick later.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { BenchError } from "./errors.js";

export interface CpuTicks {
  /** User and system time of the process itself. */
  readonly utime: number;
  readonly stime: number;
  /** User and system time of its children that it has waited for. */
  readonly cutime: number;
  readonly cstime: number;
}

export interface ProcMemory {
  /** Peak resident set size (VmHWM), KiB. */
  readonly hwmKiB: number;
  /** Resident set size now (VmRSS), KiB. */
  readonly rssKiB: number;
}

/**
 * Parses /proc/<pid>/stat (proc(5)). The command name (field 2) is in parentheses and may hold
 * spaces or parentheses itself, so fields are counted from the last ')'.
 */
export function parseProcStat(text: string): CpuTicks {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new BenchError("BENCH_ERR_PARSE", `/proc stat line has no ')' after the command name: ${JSON.stringify(text.slice(0, 120))}`);
  // After ") ": field 3 (state) is index 0, so field N is index N - 3.
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): number => {
    const value = Number(fields[n - 3]);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new BenchError("BENCH_ERR_PARSE", `/proc stat field ${n} is ${JSON.stringify(fields[n - 3])}, not a tick count`);
    }
    return value;
  };
  return { utime: field(14), stime: field(15), cutime: field(16), cstime: field(17) };
}

/** Parses VmHWM and VmRSS from /proc/<pid>/status. */
export function parseProcStatus(text: string): ProcMemory {
  const read = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, "m").exec(text);
    if (m === null) throw new BenchError("BENCH_ERR_PARSE", `/proc status has no ${name} line`);
    return Number(m[1]);
  };
  return { hwmKiB: read("VmHWM"), rssKiB: read("VmRSS") };
}

function readProc(pid: number | "self", file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "latin1");
  } catch (error) {
    throw new BenchError("BENCH_ERR_PROC", `cannot read /proc/${pid}/${file} (the process has exited?)`, { cause: error });
  }
}

export function readCpuTicks(pid: number | "self"): CpuTicks {
  return parseProcStat(readProc(pid, "stat"));
}

export function readMemory(pid: number | "self"): ProcMemory {
  return parseProcStatus(readProc(pid, "status"));
}

/** The process's own user+system ticks (children excluded). */
export function ownTicks(t: CpuTicks): number {
  return t.utime + t.stime;
}

/** Ticks of the children the process has reaped. */
export function childTicks(t: CpuTicks): number {
  return t.cutime + t.cstime;
}

/** Ticks of every CPU of the machine, from the first line of /proc/stat. */
export interface MachineTicks {
  /** Time in processes: user, nice, system, and steal (time the hypervisor gave to others). */
  readonly busy: number;
  /**
   * Time in interrupts and softirqs. With IRQ time accounting it is charged to no process, and on
   * loopback it is largely the network stack carrying the initiator's own traffic.
   */
  readonly irq: number;
  readonly idle: number;
}

/** Parses /proc/stat's "cpu" line: user nice system idle iowait irq softirq steal (guest time is inside user). */
export function parseMachineStat(text: string): MachineTicks {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  const fields = line?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  if (fields.length < 8 || fields.slice(0, 8).some((v) => !Number.isSafeInteger(v) || v < 0)) {
    throw new BenchError("BENCH_ERR_PARSE", `/proc/stat has no readable "cpu" line: ${JSON.stringify(line ?? text.slice(0, 80))}`);
  }
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return { busy: user + nice + system + steal, irq: irq + softirq, idle: idle + iowait };
}

export function readMachineTicks(): MachineTicks {
  try {
    return parseMachineStat(readFileSync("/proc/stat", "latin1"));
  } catch (error) {
    if (error instanceof BenchError) throw error;
    throw new BenchError("BENCH_ERR_PROC", "cannot read /proc/stat", { cause: error });
  }
}

/** The machine and the target at one instant: taken at both edges of an initiator's window. */
export interface Surroundings {
  readonly machine: MachineTicks;
  /** tgtd's user+system ticks (0 if it is not known or gone). */
  readonly tgtdTicks: number;
}

export function sampleSurroundings(tgtdPid: number | undefined): Surroundings {
  let tgtdTicks = 0;
  if (tgtdPid !== undefined) {
    try {
      tgtdTicks = ownTicks(readCpuTicks(tgtdPid));
    } catch {
      // tgtd gone: the run will fail on its own; contention is then moot.
    }
  }
  return { machine: readMachineTicks(), tgtdTicks };
}

/** Who else used the CPUs during a window: the target, and everything but the target and the initiator. */
export interface Contention {
  /** CPU seconds tgtd spent serving the initiator. */
  readonly tgtdCpuSeconds: number;
  /** CPU seconds used by all other processes (other tests, the suite itself), never below 0. */
  readonly otherCpuSeconds: number;
  /** CPU seconds in interrupts and softirqs (mostly loopback TCP for both sides), charged to no process. */
  readonly irqCpuSeconds: number;
  /** otherCpuSeconds as a share of the machine's capacity over the window (all CPUs), percent. */
  readonly otherCpuPercent: number;
}

export function contention(start: Surroundings, end: Surroundings, initiatorTicks: number, clockTicksPerSecond: number): Contention {
  const busy = end.machine.busy - start.machine.busy;
  const irq = end.machine.irq - start.machine.irq;
  const total = busy + irq + (end.machine.idle - start.machine.idle);
  const tgtd = Math.max(0, end.tgtdTicks - start.tgtdTicks);
  const other = Math.max(0, busy - tgtd - initiatorTicks);
  return {
    tgtdCpuSeconds: tgtd / clockTicksPerSecond,
    otherCpuSeconds: other / clockTicksPerSecond,
    irqCpuSeconds: irq / clockTicksPerSecond,
    otherCpuPercent: total > 0 ? (100 * other) / total : 0,
  };
}

/** The kernel's clock ticks per second for /proc times (`getconf CLK_TCK`, 100 on Linux). */
export function clockTicksPerSecond(): number {
  const text = execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim();
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new BenchError("BENCH_ERR_PARSE", `getconf CLK_TCK printed ${JSON.stringify(text)}`);
  return value;
}
