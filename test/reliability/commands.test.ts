/**
 * What happens to particular commands across a fault: a COMPARE AND WRITE in flight when the
 * connection drops must fail with ISCSI_ERR_NOT_RETRYABLE (repeating it could compare against its
 * own write: RFC 7143 §7.1.1 leaves retry to the initiator, SBC-3 makes it unsafe), while READ and
 * WRITE in flight beside it are re-issued and complete; and a command the target never answers is
 * escalated: ABORT TASK, then LOGICAL UNIT RESET, then dropping the connection and reinstating
 * the session. The stuck command is made by the proxy swallowing it (tgtd never sees it), and
 * the escalation steps by swallowing the task management requests as well.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Opcode, TaskManagementFunction } from "../../src/core/pdu/opcodes.js";
import type { FaultProxy } from "../../src/faults/proxy.js";
import { readStamp, stampBlocks } from "../../src/faults/stamp.js";
import { rejectionOf, settle } from "../initiator/interop.test-util.js";
import type { Tgtd } from "../support/tgtd.js";
import { BLOCK, type Client, connectClient, FiguresFile, sleep, startProxy, startTgtd } from "./reliability.test-util.js";

const figures = new FiguresFile("commands");
afterAll(() => figures.write());

const READ10 = 0x28;

describe("commands caught in a fault", () => {
  let tgtd: Tgtd;
  let proxy: FaultProxy;
  let client: Client | undefined;
  const proxyLog: string[] = [];

  beforeAll(async () => {
    tgtd = await startTgtd();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await proxy?.close();
    proxyLog.length = 0;
  });
  afterAll(async () => {
    await tgtd?.stop();
  });

  function stamp(lba: number, generation: number): Uint8Array {
    return stampBlocks(BLOCK, 1, { runId: 0xc0ffee, worker: 0, lba, generation, writeId: generation });
  }

  it("fails a COMPARE AND WRITE in flight at a drop with ISCSI_ERR_NOT_RETRYABLE, and re-issues the READ and WRITE beside it", async () => {
    proxy = await startProxy(tgtd, 0xca5_0001, proxyLog);
    client = await connectClient(proxy.portal);
    const lun = client.lun;
    await lun.write(100, stamp(100, 1));
    await lun.write(200, stamp(200, 1));
    // Hold everything in the proxy, so the three commands are sent but not answered.
    const stall = proxy.stall();
    const caw = lun.compareAndWrite(100, stamp(100, 1), stamp(100, 2));
    const read = lun.read(200, 1);
    const write = lun.write(300, stamp(300, 1));
    await sleep(300);
    expect(client.session.host.session.outstanding).toBe(3);
    proxy.drop({ mode: "rst" });
    stall.release();
    const error = await rejectionOf(caw, "COMPARE AND WRITE across a drop");
    expect(error).toMatchObject({ code: "ISCSI_ERR_NOT_RETRYABLE" });
    expect(String((error as Error).message)).toMatch(/command 0x89 .* was in flight when the connection was lost and is not safe to repeat/);
    expect(readStamp(await settle(read, "READ across the drop"))).toMatchObject({ kind: "stamped", stamp: { lba: 200, generation: 1 } });
    await settle(write, "WRITE across the drop");
    // The COMPARE AND WRITE never reached tgtd: block 100 still holds generation 1.
    expect(readStamp(await lun.read(100, 1))).toMatchObject({ kind: "stamped", stamp: { lba: 100, generation: 1 } });
    expect(readStamp(await lun.read(300, 1))).toMatchObject({ kind: "stamped", stamp: { lba: 300, generation: 1 } });
    const record = client.session.recoveries[0];
    expect(record).toMatchObject({ outcome: "recovered", retried: 2, failed: 1 });
    figures.add({
      scenario: "COMPARE AND WRITE, READ and WRITE in flight at a drop",
      faultsInjected: 1,
      recoveries: 1,
      recovered: 1,
      retried: record?.retried ?? 0,
      writes: 2,
      acknowledged: 1,
      failed: 1,
      failedByCode: { ISCSI_ERR_NOT_RETRYABLE: 1 },
      pending: 0,
      reads: 1,
      ackedBlocksChecked: 3,
      lost: 0,
      corrupt: 0,
      longestStallMs: 0,
      durationMs: 0,
      notes: "the COMPARE AND WRITE fails NOT_RETRYABLE and never reaches the target; READ and WRITE are re-issued",
    });
  });

  it("escalates a command tgtd holds because it is frozen (SIGSTOP): ABORT TASK, LUN RESET, drop, then reinstates once it runs again", async () => {
    client = await connectClient(tgtd.portal, { taskManagementTimeoutMs: 1_000, keepAlive: { intervalMs: 5_000, timeoutMs: 10_000 } });
    await client.lun.write(500, stamp(500, 3));
    const pid = tgtd.pid;
    if (pid === undefined) throw new Error("test: tgtd is not running");
    process.kill(pid, "SIGSTOP");
    let read: Promise<Uint8Array>;
    const started = performance.now();
    try {
      read = client.lun.read(500, 1, { timeoutMs: 1_000 });
      // Timeout 1 s, then ABORT TASK (1 s), LUN RESET (1 s), drop: about 3.5 s; leave tgtd frozen past that.
      await sleep(5_000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const data = await settle(read, "a READ held by a frozen tgtd", 20_000);
    expect(readStamp(data)).toMatchObject({ kind: "stamped", stamp: { lba: 500, generation: 3 } });
    const record = client.session.recoveries[0];
    expect(record).toMatchObject({ cause: "command-timeout", outcome: "recovered", retried: 1 });
    const sent = client.trace.of("TaskManagementRequest", "send").map((e) => e.fields["function"]);
    expect(sent).toEqual(["AbortTask", "LUReset"]);
    commandFigures(
      "stuck command on a frozen tgtd (SIGSTOP 5 s): ABORT TASK, LUN RESET, drop",
      1,
      performance.now() - started,
      "command timeout 1 s, TMF timeout 1 s; the READ completes after reinstatement",
      1,
    );
  });

  /** Figures of a single-command scenario (one WRITE, `reads` READs, one recovery at most). */
  function commandFigures(scenario: string, faults: number, durationMs: number, notes: string, reads = 2): void {
    const records = (client as Client).session.recoveries;
    figures.add({
      scenario,
      faultsInjected: faults,
      recoveries: records.length,
      recovered: records.filter((r) => r.outcome === "recovered").length,
      retried: records.reduce((n, r) => n + r.retried, 0),
      writes: 1,
      acknowledged: 1,
      failed: 0,
      failedByCode: {},
      pending: 0,
      reads,
      ackedBlocksChecked: 1,
      lost: 0,
      corrupt: 0,
      longestStallMs: Math.round(durationMs),
      durationMs: Math.round(durationMs),
      notes,
    });
  }

  /** A READ(10) of one block with a deadline; tgtd never sees it (the proxy swallows it). */
  async function stuckRead(timeoutMs: number): Promise<{ result: Promise<unknown>; started: number }> {
    proxy.swallow({ direction: "to-target", match: { opcode: Opcode.ScsiCommand, scsiOpcode: READ10 } });
    const started = performance.now();
    const result = (client as Client).lun.read(400, 1, { timeoutMs });
    return { result, started };
  }

  it("aborts a command the target never received with ABORT TASK, then drops and reinstates to close the CmdSN hole, and re-issues it", async () => {
    proxy = await startProxy(tgtd, 0xca5_0002, proxyLog);
    client = await connectClient(proxy.portal, { taskManagementTimeoutMs: 2_000 });
    await client.lun.write(400, stamp(400, 1));
    const { result, started } = await stuckRead(1_000);
    // tgtd answers "task does not exist" and its ExpCmdSN stays on the READ's CmdSN: a hole no
    // ERL 0 initiator can fill but by a new session (RFC 7143 §11.5.1 would have the target count
    // it as received; tgtd does not). The READ is safe to repeat, so it completes after all.
    const data = (await settle(result, "a READ tgtd never saw", 15_000)) as Uint8Array;
    const tookMs = performance.now() - started;
    expect(readStamp(data)).toMatchObject({ kind: "stamped", stamp: { lba: 400, generation: 1 } });
    expect(tookMs).toBeGreaterThanOrEqual(1_000);
    const tmfs = client.trace.of("TaskManagementRequest", "send").map((e) => e.fields["function"]);
    expect(tmfs).toEqual(["AbortTask"]);
    expect(client.session.recoveries).toHaveLength(1);
    expect(client.session.recoveries[0]).toMatchObject({ cause: "command-timeout", outcome: "recovered", retried: 1 });
    // The session goes on: a later command is not left waiting behind the hole.
    expect(readStamp(await settle(client.lun.read(400, 1), "a READ after the recovery", 10_000))).toMatchObject({ kind: "stamped" });
    commandFigures("command lost on the way (proxy swallows it): ABORT TASK, then drop and reinstate", 1, tookMs, "tgtd answers 'task does not exist' and leaves a CmdSN hole; the READ completes after reinstatement");
  });

  it("escalates to LOGICAL UNIT RESET when ABORT TASK is not answered, then drops and reinstates for the same hole", async () => {
    proxy = await startProxy(tgtd, 0xca5_0003, proxyLog);
    client = await connectClient(proxy.portal, { taskManagementTimeoutMs: 1_000 });
    await client.lun.write(400, stamp(400, 2));
    proxy.swallow({ direction: "to-target", match: { opcode: Opcode.TaskManagementRequest, tmfFunction: TaskManagementFunction.AbortTask } });
    const { result, started } = await stuckRead(1_000);
    const data = (await settle(result, "a READ tgtd never saw", 15_000)) as Uint8Array;
    const tookMs = performance.now() - started;
    expect(readStamp(data)).toMatchObject({ kind: "stamped", stamp: { lba: 400, generation: 2 } });
    expect(client.trace.of("TaskManagementRequest", "send").map((e) => e.fields["function"])).toEqual(["AbortTask", "LUReset"]);
    expect(client.session.recoveries).toHaveLength(1);
    expect(client.session.recoveries[0]).toMatchObject({ cause: "command-timeout", outcome: "recovered" });
    expect(readStamp(await settle(client.lun.read(400, 1), "a READ after the recovery", 10_000))).toMatchObject({ kind: "stamped" });
    commandFigures("command lost on the way, ABORT TASK unanswered: LUN RESET, then drop and reinstate", 2, tookMs, "the READ completes after reinstatement");
  });

  it("drops the connection and reinstates the session when neither ABORT TASK nor LOGICAL UNIT RESET is answered, then re-issues the command", async () => {
    proxy = await startProxy(tgtd, 0xca5_0004, proxyLog);
    client = await connectClient(proxy.portal, { taskManagementTimeoutMs: 1_000 });
    await client.lun.write(400, stamp(400, 7));
    proxy.swallow({ direction: "to-target", match: { opcode: Opcode.TaskManagementRequest }, count: 2 });
    const { result, started } = await stuckRead(1_000);
    const data = (await settle(result, "a READ re-issued after reinstatement", 20_000)) as Uint8Array;
    expect(readStamp(data)).toMatchObject({ kind: "stamped", stamp: { lba: 400, generation: 7 } });
    const tookMs = performance.now() - started;
    const record = client.session.recoveries[0];
    expect(record).toMatchObject({ cause: "command-timeout", outcome: "recovered", retried: 1 });
    expect(record?.detail).toMatch(/neither ABORT TASK nor LOGICAL UNIT RESET cleared it/);
    expect(client.trace.of("TaskManagementRequest", "send")).toHaveLength(2);
    commandFigures(
      "stuck command: ABORT TASK and LUN RESET unanswered, connection dropped",
      3,
      tookMs,
      "command timeout 1 s, TMF timeout 1 s; the READ completes after reinstatement",
      1,
    );
  });
});
