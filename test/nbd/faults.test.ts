/**
 * Faults under the bridge, against tgtd, with real NBD clients: fio's nbd engine writing and
 * verifying while tgtd drops the iSCSI connection (tgtadm) or is SIGKILLed and restarted on the
 * same port, and SIGTERM to `iscsi nbd` in the middle of a stream of writes. What must hold: fio
 * finishes without an error and verifies every block (the NBD client saw a pause, not an error),
 * and every write acknowledged to an NBD client is in tgtd's backing file afterwards.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCommand, type RunResult } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { sleep } from "../support/wait.js";
import { Bridge, blocksMissingFrom, RawNbdClient, writeStreamUntilStopped } from "./nbd.test-util.js";

const IQN = "iqn.2026-11.test.nbd:faults";
const MiB = 1 << 20;
const SIZE = 64 * MiB;

interface FioJob {
  readonly error: number;
  readonly write: { readonly io_bytes: number; readonly iops: number };
  readonly read: { readonly io_bytes: number };
}

describe("faults under iscsi nbd, in front of tgtd", () => {
  const tmp = useTempDir("iscsi-ts-nbd-faults-");
  let tgtd: Tgtd;
  let bridge: Bridge | undefined;

  beforeEach(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: SIZE } }] });
  });

  afterEach(async () => {
    if (bridge?.process.running === true) await bridge.stop("SIGKILL");
    bridge = undefined;
    await tgtd?.stop();
  });

  /**
   * fio's nbd engine: 16 MiB of 4 KiB random writes at QD 32, paced to 2000 IOPS so the writing
   * lasts about 2 s and the fault lands in it, then every block read back and checked (crc32c).
   */
  function fioWriteVerify(uri: string): Promise<RunResult> {
    return runCommand(
      "fio",
      [
        "--name=nbd-fault",
        "--ioengine=nbd",
        `--uri=${uri}`,
        "--rw=randwrite",
        "--bs=4k",
        "--iodepth=32",
        "--size=16m",
        "--rate_iops=2000",
        "--verify=crc32c",
        "--do_verify=1",
        "--verify_fatal=1",
        "--verify_state_save=0",
        "--output-format=json",
      ],
      { timeoutMs: 120_000, cwd: tmp().path },
    );
  }

  function fioJob(result: RunResult): FioJob {
    expect(result.code, `fio failed\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr.slice(0, 2000)}`).toBe(0);
    const job = (JSON.parse(result.stdout.slice(result.stdout.indexOf("{"))) as { jobs: FioJob[] }).jobs[0];
    if (job === undefined) throw new Error(`fio printed no job: ${result.stdout.slice(0, 2000)}`);
    return job;
  }

  /** Starts fio through the bridge, injects `fault` once fio is writing, and checks fio's verdict. */
  async function writeThrough(fault: () => Promise<void>): Promise<FioJob> {
    bridge = await Bridge.start(tgtd.url(IQN, 1));
    await tgtd.waitForSessions(1, (s) => s.length === 1, { what: "the bridge's session" });
    const fio = fioWriteVerify(bridge.uri());
    await bridge.log(/client \d+ uses export/);
    await sleep(500);
    await fault();
    const job = fioJob(await fio);
    expect(job.error).toBe(0);
    // Every block written was read back and matched its crc32c.
    expect([job.write.io_bytes, job.read.io_bytes]).toEqual([16 * MiB, 16 * MiB]);
    const log = bridge.stderr();
    expect(log).toMatch(/nbd: iSCSI session lost/);
    expect(log).toMatch(/nbd: iSCSI session re-established after [^:]+: \d+ command\(s\) re-issued, 0 failed/);
    // No request came back to fio as an error.
    expect(log).not.toMatch(/failed \(NBD_E|could not be re-established/);
    return job;
  }

  it("fio writes and verifies without an error while tgtd drops the iSCSI connection (tgtadm --op delete --mode conn)", async () => {
    const job = await writeThrough(async () => {
      const [session] = await tgtd.sessions(1);
      const [connection] = await tgtd.connections(1, session?.sid as number);
      expect(connection).toBeDefined();
      await tgtd.deleteConnection(1, session?.sid as number, connection?.cid as number);
    });
    console.log(`fio through the bridge, connection dropped by tgtadm: ${Math.round(job.write.iops)} IOPS written, all verified; ${/re-established after [^:]+/.exec(bridge?.stderr() ?? "")?.[0] ?? ""}`);
  });

  it("fio writes and verifies without an error while tgtd is SIGKILLed and restarted on the same port", async () => {
    const job = await writeThrough(async () => {
      await tgtd.kill();
      await sleep(1000);
      await tgtd.restart();
    });
    console.log(`fio through the bridge, tgtd killed for 1 s and restarted: ${Math.round(job.write.iops)} IOPS written, all verified; ${/re-established after [^:]+/.exec(bridge?.stderr() ?? "")?.[0] ?? ""}`);
  });

  it("SIGTERM during a stream of writes: every write acknowledged to the NBD client is in tgtd's backing file, and tgtd has no session left", async () => {
    bridge = await Bridge.start(tgtd.url(IQN, 1));
    await tgtd.waitForSessions(1, (s) => s.length === 1, { what: "the bridge's session" });
    const client = await RawNbdClient.connect(bridge.port);
    await client.negotiate();
    const BLOCK = 64 * 1024;
    const SEED = 77;
    const depth = 16;
    const running = bridge;
    const { acknowledged, refused, sent, blocks } = await writeStreamUntilStopped(client, { size: SIZE, block: BLOCK, seed: SEED, depth, stop: () => running.process.signal("SIGTERM") });
    expect(await bridge.process.exited).toEqual({ code: 0, signal: null });
    // The stream was cut by the stop, not finished: writes were acknowledged, and the rest refused or unsent.
    expect(acknowledged.length).toBeGreaterThan(depth);
    expect(acknowledged.length).toBeLessThan(blocks);
    expect([...refused.keys()].filter((errno) => errno !== 108)).toEqual([]);
    const lost = await blocksMissingFrom(tgtd.lunPath(1, 1), acknowledged, BLOCK, SEED);
    expect(lost, `acknowledged blocks missing from tgtd's backing file: ${lost.slice(0, 20).join(", ")}`).toEqual([]);
    expect(bridge.stderr()).toMatch(/nbd: stopped: every request answered, cache flushed; logging out/);
    await tgtd.waitForSessions(1, (s) => s.length === 0, { what: "no session after the bridge stopped" });
    console.log(`SIGTERM during writes: ${acknowledged.length} of ${sent} writes sent acknowledged and all found in the backing file; ${refused.get(108) ?? 0} refused with ESHUTDOWN`);
  });
});
