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

/** The kernel's clock ticks per second for /proc times (`getconf CLK_TCK`, 100 on Linux). */
export function clockTicksPerSecond(): number {
  const text = execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim();
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new BenchError("BENCH_ERR_PARSE", `getconf CLK_TCK printed ${JSON.stringify(text)}`);
  return value;
}
