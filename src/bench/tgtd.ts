/**
 * The suite's own tgtd: on 127.0.0.1 and a free port, a control port of its own, one target with
 * a null LUN (tgtd's `--bstype null`: reads return zeros, writes are dropped, so the target costs
 * as little as it can and the initiators are what is measured) and a file LUN (buffered reads of
 * a file, for the comparison with reading that file locally). tgtd's traps, and how its words are
 * read, are in tgtadm.ts, shared with the test harness.
 */
import { BenchError, tail } from "./errors.js";
import { freeTcpPort, randomControlPort } from "./ports.js";
import { Child, describeExit, listeningAddressesOf, run, runOk, sleep, SS_LISTENING_TCP } from "./process.js";
import { parseTgtadmParams, tgtadmArgs, tgtdArgs, tgtdProbeArgs, tgtdStartProblem } from "./tgtadm.js";

export const BENCH_IQN = "iqn.2026-11.io.iscsi-ts:bench";
export const NULL_LUN = 1;
export const FILE_LUN = 2;
const HOST = "127.0.0.1";

export class BenchTgtd {
  private constructor(
    private readonly child: Child,
    readonly port: number,
    readonly controlPort: number,
  ) {}

  get pid(): number {
    return this.child.pid;
  }

  /** The libiscsi/QEMU URL of a LUN of the bench target. */
  url(lun: number): string {
    return `iscsi://${HOST}:${this.port}/${BENCH_IQN}/${lun}`;
  }

  /** Starts tgtd; tries other ports when a port or control port turns out to be taken. */
  static async start(): Promise<BenchTgtd> {
    const failures: string[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const port = await freeTcpPort(HOST);
      const ctl = randomControlPort();
      const child = new Child("tgtd", tgtdArgs(HOST, port, ctl));
      const outcome = await waitReady(child, port, ctl);
      if (outcome === "ready") return new BenchTgtd(child, port, ctl);
      await child.kill();
      failures.push(outcome);
    }
    throw new BenchError("BENCH_ERR_PEER", `tgtd did not start after 8 attempts: ${failures.join("; ")}`);
  }

  async tgtadm(args: readonly string[]): Promise<string> {
    return (await runOk("tgtadm", tgtadmArgs(this.controlPort, args), { timeoutMs: 15_000 })).stdout;
  }

  /** The bench target: LUN 1 null, LUN 2 the file at `filePath` (which must exist), open to all. */
  async configure(filePath: string): Promise<void> {
    await this.tgtadm(["--op", "new", "--mode", "target", "--tid", "1", "-T", BENCH_IQN]);
    await this.tgtadm(["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", String(NULL_LUN), "--bstype", "null", "-b", "nullstore"]);
    await this.tgtadm(["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", String(FILE_LUN), "-b", filePath]);
    await this.tgtadm(["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"]);
  }

  /** Target parameters tgtd offers (MaxRecvDataSegmentLength, ...), for the record. */
  async params(): Promise<Record<string, string>> {
    return parseTgtadmParams(await this.tgtadm(["--op", "show", "--mode", "target", "--tid", "1"]));
  }

  async stop(): Promise<void> {
    await this.child.kill();
  }
}

type Outcome = "ready" | string;

async function waitReady(child: Child, port: number, ctl: number): Promise<Outcome> {
  const expected = `${HOST}:${port}`;
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const err = child.stderr();
    const problem = tgtdStartProblem(err);
    if (problem === "control-port-taken") return `control port ${ctl} taken`;
    if (problem === "portal-taken") return `portal ${port} taken`;
    if (!child.running) {
      throw new BenchError("BENCH_ERR_PEER", `tgtd ${describeExit(child.exitStatus ?? { code: null, signal: null })}; stderr: ${tail(err)}`);
    }
    const listening = await listeningAddresses(child.pid);
    if (listening.some((a) => a !== expected)) return `tgtd listens on ${listening.join(", ")} instead of ${expected}`;
    if (listening.length > 0) {
      const probe = await run("tgtadm", tgtdProbeArgs(ctl), { timeoutMs: 5_000 });
      if (probe.status.code === 0) return "ready";
    }
    await sleep(50);
  }
  throw new BenchError("BENCH_ERR_TIMEOUT", `tgtd (pid ${child.pid}) did not listen on ${expected} within 10 s; stderr: ${tail(child.stderr())}`);
}

/** The TCP addresses a process listens on, from `ss`. */
async function listeningAddresses(pid: number): Promise<string[]> {
  return listeningAddressesOf((await runOk("ss", SS_LISTENING_TCP, { timeoutMs: 10_000 })).stdout, pid);
}
