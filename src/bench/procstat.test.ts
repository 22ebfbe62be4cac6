import { describe, expect, it } from "vitest";
import { BenchError } from "./errors.js";
import { childTicks, clockTicksPerSecond, contention, ownTicks, parseMachineStat, parseProcStat, parseProcStatus, readCpuTicks, readMachineTicks, readMemory } from "./procstat.js";

// A /proc/<pid>/stat line of qemu-img (fields 14-17: utime stime cutime cstime).
const QEMU_STAT =
  "31337 (qemu-img) S 31330 31330 31330 0 -1 4194560 2313 0 0 0 13 112 4 7 20 0 3 0 123456 1234567890 5000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0";

describe("parseProcStat", () => {
  it("reads utime, stime, cutime and cstime", () => {
    expect(parseProcStat(QEMU_STAT)).toEqual({ utime: 13, stime: 112, cutime: 4, cstime: 7 });
    expect(ownTicks(parseProcStat(QEMU_STAT))).toBe(125);
    expect(childTicks(parseProcStat(QEMU_STAT))).toBe(11);
  });

  it("counts fields from the last parenthesis when the command name holds spaces and parentheses", () => {
    const line = QEMU_STAT.replace("(qemu-img)", "(a) b (c) d)");
    expect(parseProcStat(line)).toEqual({ utime: 13, stime: 112, cutime: 4, cstime: 7 });
  });

  it("refuses a line without a command name or with a non-numeric time, naming the field", () => {
    expect(() => parseProcStat("31337 qemu-img S 1 2 3")).toThrow(BenchError);
    expect(() => parseProcStat(QEMU_STAT.replace(" 13 112 ", " x 112 "))).toThrow(/field 14 is "x"/);
  });
});

describe("parseProcStatus", () => {
  it("reads VmHWM and VmRSS in KiB", () => {
    const text = "Name:\tnode\nVmPeak:\t 1000000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\nThreads:\t7\n";
    expect(parseProcStatus(text)).toEqual({ hwmKiB: 123456, rssKiB: 100000 });
  });

  it("refuses a status without VmHWM (a kernel thread or a zombie)", () => {
    expect(() => parseProcStatus("Name:\tkthreadd\nState:\tS\n")).toThrow(/VmHWM/);
  });
});

describe("reading /proc", () => {
  it("reads this process's own CPU ticks and memory", () => {
    const before = readCpuTicks("self");
    let x = 0;
    for (let i = 0; i < 2e7; i++) x += i % 7;
    const after = readCpuTicks("self");
    expect(x).toBeGreaterThan(0);
    expect(ownTicks(after)).toBeGreaterThanOrEqual(ownTicks(before));
    const memory = readMemory("self");
    expect(memory.hwmKiB).toBeGreaterThanOrEqual(memory.rssKiB);
    expect(memory.rssKiB).toBeGreaterThan(1000);
  });

  it("fails with BENCH_ERR_PROC for a process that does not exist", () => {
    expect(() => readCpuTicks(2 ** 30)).toThrow(expect.objectContaining({ code: "BENCH_ERR_PROC" }));
  });

  it("knows the kernel's clock tick rate", () => {
    expect(clockTicksPerSecond()).toBeGreaterThanOrEqual(100);
  });
});

describe("the machine around a run", () => {
  it("reads busy and idle ticks of all CPUs from /proc/stat, iowait counted as idle", () => {
    const text = "cpu  242219 5 135687 347920 926 3 14930 647 0 0\ncpu0 118349 0 65211 179607 120 0 7493 351 0 0\nintr 1 2 3\n";
    expect(parseMachineStat(text)).toEqual({ busy: 242219 + 5 + 135687 + 647, irq: 3 + 14930, idle: 347920 + 926 });
  });

  it("refuses a /proc/stat without its cpu line", () => {
    expect(() => parseMachineStat("cpu0 1 2 3 4 5 6 7 8\n")).toThrow(/no readable "cpu" line/);
  });

  it("reads this machine's counters, which only grow", () => {
    const a = readMachineTicks();
    const b = readMachineTicks();
    expect(b.busy + b.idle).toBeGreaterThanOrEqual(a.busy + a.idle);
  });

  it("charges the busy time that neither the initiator nor tgtd used to other processes", () => {
    const start = { machine: { busy: 1000, irq: 10, idle: 5000 }, tgtdTicks: 50 };
    const end = { machine: { busy: 1300, irq: 60, idle: 5050 }, tgtdTicks: 150 };
    // 300 busy ticks: 100 tgtd, 150 initiator, 50 others; 50 in softirqs; of 400 ticks of capacity.
    const c = contention(start, end, 150, 100);
    expect(c.tgtdCpuSeconds).toBeCloseTo(1, 9);
    expect(c.otherCpuSeconds).toBeCloseTo(0.5, 9);
    expect(c.irqCpuSeconds).toBeCloseTo(0.5, 9);
    expect(c.otherCpuPercent).toBeCloseTo(12.5, 9);
  });

  it("never reports negative use by others when tick sampling rounds the other way", () => {
    const start = { machine: { busy: 1000, irq: 0, idle: 0 }, tgtdTicks: 0 };
    const end = { machine: { busy: 1100, irq: 0, idle: 0 }, tgtdTicks: 60 };
    expect(contention(start, end, 50, 100).otherCpuSeconds).toBe(0);
  });
});
