/**
 * Shared set-up of the reliability tests: tgtd with a file LUN, a session tuned to notice faults
 * within seconds (keep-alive every second, declared dead after three), the write-and-verify
 * workload on it, the fault proxy when asked, and the figures each scenario reports.
 *
 * Figures go to the test output and to `test-results/reliability/<file>.json` at the repository's
 * root (ignored by git, overwritten by each run), so a test run leaves the tree clean. The figures
 * docs/RELIABILITY.md quotes are a recorded copy in `test/reliability/results/`, written only by
 * `npm run reliability:record`.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FaultProxy } from "../../src/faults/proxy.js";
import { describeReport, lunDevice, type BlockDevice, type WorkloadReport } from "../../src/faults/verify-workload.js";
import { type IscsiSession, type Lun, openSession, type SessionOptions } from "../../src/node/index.js";
import { TraceLog } from "../initiator/interop.test-util.js";
import { Tgtd } from "../support/tgtd.js";

export const IQN = "iqn.2026-11.test.reliability:disk";
export const LUN = 1;
export const BLOCK = 512;
export const LUN_SIZE = 64 * 1024 * 1024;
/** The workload's region: 8 MiB, so the final read-back takes a fraction of a second. */
export const REGION = { start: 2048, blocks: (8 * 1024 * 1024) / BLOCK } as const;

export interface TargetOptions {
  /** DefaultTime2Wait tgtd offers (seconds); 0 unless told, so recovery is quick. */
  readonly time2Wait?: number;
  /** CRC32C header and data digests. */
  readonly digests?: boolean;
}

export async function startTgtd(options: TargetOptions = {}): Promise<Tgtd> {
  const tgtd = await Tgtd.start();
  try {
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: LUN, file: { size: LUN_SIZE } }] });
    await tgtd.setParam(1, "DefaultTime2Wait", options.time2Wait ?? 0);
    if (options.digests === true) {
      await tgtd.setParam(1, "HeaderDigest", "CRC32C");
      await tgtd.setParam(1, "DataDigest", "CRC32C");
    }
  } catch (error) {
    await tgtd.stop();
    throw error;
  }
  return tgtd;
}

/** Session settings for fault tests: faults are noticed and repaired in seconds, not minutes. */
export function faultTolerantOptions(overrides: Partial<SessionOptions> = {}): Partial<SessionOptions> {
  return {
    keepAlive: { intervalMs: 1_000, timeoutMs: 3_000 },
    connectTimeoutMs: 3_000,
    loginTimeoutMs: 5_000,
    taskManagementTimeoutMs: 2_000,
    ...overrides,
    // RFC 7143 §13.15: the larger DefaultTime2Wait of both sides wins; offer 0 so tgtd's decides.
    proposal: { defaultTime2Wait: 0, ...overrides.proposal },
    recovery: { replacementTimeoutMs: 30_000, initialBackoffMs: 100, maxBackoffMs: 1_000, ...overrides.recovery },
  };
}

export interface Client {
  readonly session: IscsiSession;
  readonly lun: Lun;
  readonly device: BlockDevice;
  readonly trace: TraceLog;
  /** When each trace line was written (performance.now()), parallel to `trace.lines`. */
  readonly traceTimes: number[];
  /** Recovery events as they happened, "phase cause" per line. */
  readonly events: string[];
  close(): Promise<void>;
}

/** Logs in at `portal` ("host:port"), to the LUN of the test target. */
export async function connectClient(portal: string, overrides: Partial<SessionOptions> = {}): Promise<Client> {
  const trace = new TraceLog();
  const traceTimes: number[] = [];
  const [host = "127.0.0.1", port = "3260"] = portal.split(":");
  const session = await openSession({
    portal: { host, port: Number(port) },
    targetName: IQN,
    trace: (line) => {
      trace.trace(line);
      traceTimes.push(performance.now());
      // Keep the trace bounded: a long run sends hundreds of thousands of PDUs.
      if (trace.lines.length > 4_000) {
        trace.lines.splice(0, 2_000);
        traceTimes.splice(0, 2_000);
      }
    },
    ...faultTolerantOptions(overrides),
  });
  const events: string[] = [];
  session.on("recovery", (phase, record) => events.push(`${phase} ${record.cause}: ${record.detail}`));
  const lun = session.lun(LUN);
  const device = await lunDevice(lun);
  return {
    session,
    lun,
    device,
    trace,
    traceTimes,
    events,
    close: async () => {
      await session.logout().catch(() => session.close());
    },
  };
}

export async function startProxy(tgtd: Tgtd, seed: number, log?: string[]): Promise<FaultProxy> {
  return FaultProxy.start({
    target: { host: tgtd.host, port: tgtd.port },
    seed,
    ...(log === undefined ? {} : { log: (line: string) => void log.push(line) }),
  });
}

// The scenarios import sleep from here with the rest of their kit; it is the harness's.
export { sleep } from "../support/wait.js";

/** What one scenario did and what it proved, as written to the results file. */
export interface ScenarioFigures {
  readonly scenario: string;
  readonly faultsInjected: number;
  readonly recoveries: number;
  readonly recovered: number;
  readonly retried: number;
  readonly writes: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly failedByCode: Readonly<Record<string, number>>;
  readonly pending: number;
  readonly reads: number;
  readonly ackedBlocksChecked: number;
  readonly lost: number;
  readonly corrupt: number;
  readonly longestStallMs: number;
  readonly durationMs: number;
  readonly notes?: string;
}

export function figuresOf(scenario: string, faultsInjected: number, report: WorkloadReport, notes?: string): ScenarioFigures {
  return {
    scenario,
    faultsInjected,
    recoveries: report.recoveries,
    recovered: report.recovered,
    retried: report.retried,
    writes: report.writes,
    acknowledged: report.acknowledged,
    failed: report.failed,
    failedByCode: report.failedByCode,
    pending: report.pending,
    reads: report.reads,
    ackedBlocksChecked: report.ackedBlocks,
    lost: report.lost,
    corrupt: report.corrupt,
    longestStallMs: report.longestStallMs,
    durationMs: report.durationMs,
    ...(notes === undefined ? {} : { notes }),
  };
}

/** Where a run's figures go: ignored by git (`npm run reliability:record` copies them to the recorded set). */
export const RESULTS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test-results", "reliability");

/** Collects the figures of one test file and writes them out at the end. */
export class FiguresFile {
  private readonly scenarios: ScenarioFigures[] = [];

  constructor(private readonly name: string) {}

  add(figures: ScenarioFigures, report?: WorkloadReport): void {
    this.scenarios.push(figures);
    const line = report === undefined ? JSON.stringify(figures) : describeReport(report);
    console.log(`[reliability] ${figures.scenario}: ${figures.faultsInjected} fault(s) injected; ${line}`);
  }

  async write(): Promise<void> {
    if (this.scenarios.length === 0) return;
    await mkdir(RESULTS, { recursive: true });
    const body = { file: this.name, recordedAt: new Date().toISOString(), node: process.version, scenarios: this.scenarios };
    await writeFile(join(RESULTS, `${this.name}.json`), `${JSON.stringify(body, null, 2)}\n`);
  }
}

/** Message for a failed report: the figures, the problems, the recovery events and the trace's end. */
export function explain(report: WorkloadReport, client?: Client, extra: readonly string[] = []): string {
  return [
    describeReport(report),
    ...report.problems,
    ...(client?.events ?? []),
    ...extra.slice(-30),
    client === undefined ? "" : client.trace.tail(40),
  ].join("\n");
}
