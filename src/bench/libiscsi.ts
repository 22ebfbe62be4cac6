/**
 * The libiscsi side: `iscsi-perf` (libiscsi's own reader: random or sequential READ16 at a fixed
 * queue depth, until SIGINT) and `qemu-img bench` (QEMU's block layer over its libiscsi driver:
 * reads or writes, a fixed count, sequential offsets only). Each run yields a rate and the CPU
 * time the process spent in the measured window, read from /proc like our worker's.
 *
 * iscsi-perf prints a report about once a second (`\r`-separated): the rate over the last second
 * and the average since its first request. The window here runs from its first report to its
 * (1 + seconds)-th: /proc is sampled as each report arrives, and the I/Os in the window come from
 * the two averages: ios(k) = average(k) x elapsed(k), with elapsed(1) = 1 s and elapsed(n) - elapsed(1)
 * measured on our clock between the reports' arrivals. The first second (start-up, login, ramp)
 * is thus left out, as our worker's warm-up is.
 *
 * qemu-img bench prints only its total time. Its CPU window is from its "Sending ... requests"
 * line (stdout line-buffered by stdbuf, /proc sampled on arrival) to its exit (the ticks the
 * wrapping shell reaped, read from the shell's /proc/<pid>/stat cutime+cstime), so it excludes
 * start-up and login but includes the final flush and logout.
 */
import { BenchError, tail } from "./errors.js";
import { childTicks, contention, ownTicks, parseProcStat, readCpuTicks, readMemory, sampleSurroundings, type Contention, type Surroundings } from "./procstat.js";
import { Child, describeExit, sleep } from "./process.js";

export interface PerfReport {
  readonly currentIops: number;
  /** Average since the first request. */
  readonly averageIops: number;
  /** The average throughput as iscsi-perf prints it: "MB/s", computed with 2^20 bytes. */
  readonly averageMibPerSecond: number;
}

const REPORT = /iops current (\d+) \(\d+ MB\/s\), iops average (\d+) \((\d+) MB\/s\)/g;
const FINAL = /\riops average (\d+) \(\d+ MB\/s\)/;

/** The periodic reports in iscsi-perf's output so far, oldest first (the test harness reads them too). */
export function parseIscsiPerfReports(stdout: string): PerfReport[] {
  return [...stdout.matchAll(REPORT)].map((m) => ({ currentIops: Number(m[1]), averageIops: Number(m[2]), averageMibPerSecond: Number(m[3]) }));
}

/** The average iscsi-perf prints when it stops, if it printed one. */
export function parseIscsiPerfFinal(stdout: string): number | undefined {
  const m = FINAL.exec(stdout);
  return m === null ? undefined : Number(m[1]);
}

/** A libiscsi-side run: the figures the table needs. */
export interface PeerRun {
  readonly tool: "iscsi-perf" | "qemu-img";
  readonly command: string;
  readonly ios: number;
  readonly seconds: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
  /** User+system CPU seconds of the initiator process in the window. */
  readonly cpuSeconds: number;
  /** The system (kernel) part of cpuSeconds: syscalls, copies to and from sockets. */
  readonly systemCpuSeconds: number;
  /** Peak resident set of the initiator process (VmHWM), KiB, as last sampled. */
  readonly peakRssKiB: number;
  /** Mean latency by Little's law (queue depth / IOPS): neither tool reports latencies. */
  readonly meanLatencyUs: number;
  readonly contention: Contention;
}

export interface IscsiPerfOptions {
  readonly url: string;
  readonly queueDepth: number;
  readonly ioBytes: number;
  readonly blockSize: number;
  readonly random: boolean;
  /** Length of the measured window, whole seconds (at least 1). */
  readonly seconds: number;
  readonly clockTicksPerSecond: number;
  readonly tgtdPid?: number;
}

interface Sample {
  readonly atMs: number;
  readonly averageIops: number;
  readonly ticks: number;
  readonly systemTicks: number;
  readonly around: Surroundings;
}

export async function runIscsiPerf(options: IscsiPerfOptions): Promise<PeerRun> {
  const seconds = Math.max(1, Math.round(options.seconds));
  if (options.ioBytes % options.blockSize !== 0) throw new BenchError("BENCH_ERR_USAGE", `iscsi-perf: ${options.ioBytes} bytes is not a whole number of ${options.blockSize}-byte blocks`);
  const blocks = options.ioBytes / options.blockSize;
  const args = ["-m", String(options.queueDepth), "-b", String(blocks), ...(options.random ? ["-r"] : []), options.url];
  const wanted = 1 + seconds;
  const samples: Sample[] = [];
  let peakKiB = 0;
  let reached: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (reached = resolve));
  const onStdout = (stdout: string): void => {
    const reports = parseIscsiPerfReports(stdout);
    if (samples.length >= wanted || reports.length <= samples.length) return;
    // Sample now, as the report arrives: the window's edges are these arrivals.
    const atMs = performance.now();
    const cpu = readCpuTicks(child.pid);
    const around = sampleSurroundings(options.tgtdPid);
    const last = reports[reports.length - 1]!;
    samples.push({ atMs, averageIops: last.averageIops, ticks: ownTicks(cpu), systemTicks: cpu.stime, around });
    if (samples.length >= wanted) {
      peakKiB = readMemory(child.pid).hwmKiB;
      reached();
    }
  };
  // Output events come only after the constructor returns, so `child` is set when onStdout runs.
  const child: Child = new Child("iscsi-perf", args, { onStdout: (stdout) => onStdout(stdout) });
  const limitMs = (wanted + 15) * 1000;
  const outcome = await Promise.race([done.then(() => "done" as const), child.exited.then(() => "exited" as const), sleep(limitMs).then(() => "timeout" as const)]);
  child.signal("SIGINT");
  // iscsi-perf drains its queue after SIGINT; one that reconnected may ignore it.
  const stopped = await Promise.race([child.exited, sleep(5_000).then(() => undefined)]);
  if (stopped === undefined) await child.kill();
  if (outcome !== "done") {
    const why = outcome === "timeout" ? `printed ${samples.length} of ${wanted} reports in ${limitMs / 1000} s` : `${describeExit(child.exitStatus!)} after ${samples.length} reports`;
    throw new BenchError("BENCH_ERR_PEER", `${child.command} ${why}; stdout: ${tail(child.stdout().replace(/\r/g, "\n"))}; stderr: ${tail(child.stderr())}`);
  }
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const spanS = (last.atMs - first.atMs) / 1000;
  // ios(k) = average(k) x elapsed(k); elapsed(1) is 1 s, the reporting period.
  const ios = last.averageIops * (1 + spanS) - first.averageIops * 1;
  if (!(spanS > 0) || !(ios > 0)) throw new BenchError("BENCH_ERR_PARSE", `${child.command}: reports give no I/Os in a ${spanS.toFixed(3)} s window`);
  const iops = ios / spanS;
  return {
    tool: "iscsi-perf",
    command: child.command,
    ios,
    seconds: spanS,
    iops,
    bytesPerSecond: iops * options.ioBytes,
    cpuSeconds: (last.ticks - first.ticks) / options.clockTicksPerSecond,
    systemCpuSeconds: (last.systemTicks - first.systemTicks) / options.clockTicksPerSecond,
    peakRssKiB: peakKiB,
    meanLatencyUs: (options.queueDepth / iops) * 1e6,
    contention: contention(first.around, last.around, last.ticks - first.ticks, options.clockTicksPerSecond),
  };
}

export interface QemuBenchOptions {
  readonly url: string;
  readonly queueDepth: number;
  readonly ioBytes: number;
  readonly write: boolean;
  readonly count: number;
  readonly clockTicksPerSecond: number;
  readonly tgtdPid?: number;
}

/** Seconds from qemu-img bench's "Run completed in X seconds." line. */
export function parseQemuBenchSeconds(stdout: string): number | undefined {
  const m = /Run completed in ([\d.]+) seconds/.exec(stdout);
  return m === null ? undefined : Number(m[1]);
}

// The shell runs qemu-img, says its pid, waits for it, then prints its own /proc stat line,
// whose cutime/cstime now hold qemu-img's whole CPU time (the shell reaped it).
const WRAPPER = 'stdbuf -oL qemu-img "$@" & q=$!; echo "qemu-pid $q"; wait $q; s=$?; echo "shell-stat $(cat /proc/$$/stat)"; exit $s';

export async function runQemuBench(options: QemuBenchOptions): Promise<PeerRun> {
  const qemuArgs = ["bench", "-f", "raw", "-c", String(options.count), "-d", String(options.queueDepth), "-s", String(options.ioBytes)];
  if (options.write) qemuArgs.push("-w", "--pattern=90");
  qemuArgs.push(options.url);
  let qemuPid: number | undefined;
  let startTicks: number | undefined;
  let startSystemTicks = 0;
  let aroundStart: Surroundings | undefined;
  let peakKiB = 0;
  const sampleMemory = (): void => {
    if (qemuPid === undefined) return;
    try {
      peakKiB = Math.max(peakKiB, readMemory(qemuPid).hwmKiB);
    } catch {
      // Exited: the last sample stands.
    }
  };
  const onStdout = (stdout: string): void => {
    if (qemuPid === undefined) {
      const m = /qemu-pid (\d+)/.exec(stdout);
      if (m !== null) qemuPid = Number(m[1]);
    }
    if (startTicks === undefined && qemuPid !== undefined && /Sending \d+ (read|write) requests/.test(stdout)) {
      try {
        const cpu = readCpuTicks(qemuPid);
        startTicks = ownTicks(cpu);
        startSystemTicks = cpu.stime;
      } catch {
        startTicks = 0;
      }
      aroundStart = sampleSurroundings(options.tgtdPid);
      sampleMemory();
    }
  };
  const child = new Child("sh", ["-c", WRAPPER, "sh", ...qemuArgs], { onStdout });
  const poll = setInterval(sampleMemory, 200);
  const timer = setTimeout(() => child.signal("SIGKILL"), 600_000);
  const status = await child.exited;
  const aroundEnd = sampleSurroundings(options.tgtdPid);
  clearInterval(poll);
  clearTimeout(timer);
  const stdout = child.stdout();
  const command = `qemu-img ${qemuArgs.join(" ")}`;
  const seconds = parseQemuBenchSeconds(stdout);
  if (status.code !== 0 || seconds === undefined) {
    throw new BenchError("BENCH_ERR_PEER", `${command} ${describeExit(status)}; stdout: ${tail(stdout)}; stderr: ${tail(child.stderr())}`);
  }
  const statLine = /shell-stat (.*)/.exec(stdout)?.[1];
  if (statLine === undefined || startTicks === undefined || aroundStart === undefined) {
    throw new BenchError("BENCH_ERR_PARSE", `${command}: no start sample or shell stat line; stdout: ${tail(stdout)}`);
  }
  const shell = parseProcStat(statLine);
  const windowTicks = childTicks(shell) - startTicks;
  // qemu-img prints milliseconds; a run that short would make the rates meaningless anyway.
  const span = Math.max(seconds, 0.001);
  const iops = options.count / span;
  return {
    tool: "qemu-img",
    command,
    ios: options.count,
    seconds: span,
    iops,
    bytesPerSecond: iops * options.ioBytes,
    cpuSeconds: windowTicks / options.clockTicksPerSecond,
    systemCpuSeconds: (shell.cstime - startSystemTicks) / options.clockTicksPerSecond,
    peakRssKiB: peakKiB,
    meanLatencyUs: (options.queueDepth / iops) * 1e6,
    contention: contention(aroundStart, aroundEnd, windowTicks, options.clockTicksPerSecond),
  };
}
