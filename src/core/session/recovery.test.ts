import { describe, expect, it } from "vitest";
import { TransportError } from "../errors.js";
import { AsyncEvent, Opcode, TaskManagementFunction } from "../pdu/opcodes.js";
import { RecoveryTracker } from "./recovery.js";
import { Pair } from "./session.test-util.js";

const READ10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
const CAW = new Uint8Array([0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);

function recoveringPair(extra: Record<string, unknown> = {}) {
  return new Pair({
    config: { keepAlive: false, recovery: { initialBackoffMs: 100, maxBackoffMs: 1000, replacementTimeoutMs: 10_000 }, ...extra },
  }).login();
}

describe("Session recovery (ERL 0 session reinstatement)", () => {
  it("holds a command in flight when the connection drops and re-issues it after reinstatement", () => {
    const pair = recoveringPair();
    const buffer = new Uint8Array(512);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: buffer, retry: "safe", context: "read" }, 0);
    const first = pair.target.take(Opcode.ScsiCommand);
    pair.connection.fail(new TransportError("connection reset"), pair.now);
    const events = pair.events();
    expect(events.map((e) => e.type)).toEqual(["connection-closed", "recovery"]);
    expect(pair.session.state).toBe("FAILED");
    expect(pair.session.outstanding).toBe(1);
    // DefaultTime2Wait (2 s by default) comes before the first attempt.
    pair.advance(1999);
    expect(pair.events().map((e) => e.type)).not.toContain("reconnect");
    pair.advance(1);
    expect(pair.events().map((e) => e.type)).toContain("reconnect");
    pair.reconnect();
    expect(pair.session.state).toBe("LOGGED_IN");
    const again = pair.target.take(Opcode.ScsiCommand);
    expect(again.initiatorTaskTag).toBe(first.initiatorTaskTag);
    pair.target.accept(again);
    pair.target.deliver(pair.target.dataIn(again, new Uint8Array(512).fill(7), { hasStatus: true }));
    const after = pair.events();
    expect(after.map((e) => e.type)).toEqual(["login-complete", "recovery", "command-complete"]);
    expect(buffer[0]).toBe(7);
    const [record] = pair.session.recoveries;
    expect(record).toMatchObject({ cause: "connection-lost", outcome: "recovered", retried: 1, failed: 0, attempts: 1 });
  });

  it("reinstates with the same ISID and a TSIH of 0", () => {
    const pair = recoveringPair();
    const isid = pair.session.isid;
    pair.connection.fail(new TransportError("reset"), 0);
    pair.advance(5000);
    pair.connection = pair.session.openConnection(pair.now);
    pair.session.transportConnected(pair.connection, pair.now);
    const pieces = pair.connection.pollTransmit();
    expect(pieces).toBeDefined();
    const bhs = pieces?.[0] as Uint8Array;
    expect(bhs[0] as number & 0x3f).toBe(0x43);
    const view = new DataView(bhs.buffer, bhs.byteOffset);
    expect(view.getUint32(8) * 65536 + view.getUint16(12)).toBe(isid);
    expect(view.getUint16(14)).toBe(0); // TSIH
  });

  it("fails a command that is not safe to repeat instead of re-issuing it", () => {
    const pair = recoveringPair();
    pair.session.submit({ lun: 1, cdb: CAW, dataOut: new Uint8Array(1024), context: "caw" }, 0);
    pair.target.take(Opcode.ScsiCommand);
    pair.connection.fail(new TransportError("reset"), 0);
    pair.advance(3000);
    pair.events();
    pair.reconnect();
    const failed = pair.events().find((e) => e.type === "command-failed");
    expect(failed?.type === "command-failed" && failed.error.code).toBe("ISCSI_ERR_NOT_RETRYABLE");
    expect(failed?.type === "command-failed" && failed.error.message).toMatch(/not safe to repeat/);
    pair.target.pull();
    expect(pair.target.received.filter((p) => p.opcode === Opcode.ScsiCommand)).toHaveLength(0);
  });

  it("backs off between failed attempts and gives up after the replacement timeout", () => {
    const pair = recoveringPair();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "r" }, 0);
    pair.connection.fail(new TransportError("reset"), 0);
    pair.events();
    const attemptTimes: number[] = [];
    while (pair.now < 12_000) {
      pair.advance(10);
      for (const e of pair.events()) {
        if (e.type === "reconnect") {
          attemptTimes.push(pair.now);
          const c = pair.session.openConnection(pair.now);
          c.fail(new TransportError("connection refused"), pair.now);
        }
      }
      if (pair.session.state === "CLOSED") break;
    }
    expect(attemptTimes.length).toBeGreaterThan(3);
    // No attempt comes sooner than DefaultTime2Wait after the previous one, none in a busy loop.
    for (let i = 1; i < attemptTimes.length; i++) expect((attemptTimes[i] as number) - (attemptTimes[i - 1] as number)).toBeGreaterThanOrEqual(2000);
    expect(pair.session.state).toBe("CLOSED");
    expect(pair.now).toBeGreaterThanOrEqual(10_000);
    const record = pair.session.recoveries[0];
    expect(record?.outcome).toBe("gave-up");
    expect(record?.failed).toBe(1);
  });

  it("fails held commands with a message naming the target when the session does not come back", () => {
    const pair = recoveringPair();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "r" }, 0);
    pair.connection.fail(new TransportError("reset"), 0);
    pair.events();
    pair.advance(10_000);
    const failed = pair.events().find((e) => e.type === "command-failed");
    expect(failed?.type === "command-failed" && failed.error.message).toMatch(/could not be re-established within 10 s/);
  });

  it("does not try again after a login refused for authentication", () => {
    const pair = recoveringPair();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "r" }, 0);
    pair.connection.fail(new TransportError("reset"), 0);
    pair.advance(3000);
    const c = pair.session.openConnection(pair.now);
    c.fail(new (class extends TransportError {})("x"), pair.now); // transient: keeps going
    expect(pair.session.state).toBe("FAILED");
  });

  it("logs out when the target asks, after what is in flight completes, then comes back", () => {
    const pair = recoveringPair();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "r1" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(pair.target.asyncMessage(AsyncEvent.LogoutRequest, { parameter3: 10 }));
    // New commands wait while the session drains for the logout.
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "r2" }, 0);
    pair.target.pull();
    expect(pair.target.received.filter((p) => p.opcode === Opcode.ScsiCommand)).toHaveLength(0);
    expect(pair.target.received.filter((p) => p.opcode === Opcode.LogoutRequest)).toHaveLength(0);
    pair.target.deliver(pair.target.response(command));
    const logout = pair.target.take(Opcode.LogoutRequest);
    pair.target.deliver({
      opcode: Opcode.LogoutResponse,
      response: 0,
      initiatorTaskTag: logout.initiatorTaskTag,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      time2Wait: 1,
      time2Retain: 0,
    });
    expect(pair.session.state).toBe("FAILED");
    pair.events();
    pair.advance(1000);
    expect(pair.events().map((e) => e.type)).toContain("reconnect");
    pair.reconnect();
    const r2 = pair.target.take(Opcode.ScsiCommand);
    expect(r2.expectedDataTransferLength).toBe(512);
    expect(pair.session.recoveries[0]?.cause).toBe("target-logout-request");
  });
});

describe("Logout when the target is gone", () => {
  it("ends the session after the logout timeout instead of re-establishing it", () => {
    const pair = new Pair({ config: { keepAlive: false, logoutTimeoutMs: 3000 } }).login();
    pair.session.logout(0);
    pair.target.take(Opcode.LogoutRequest); // never answered
    pair.advance(3000);
    const events = pair.events().map((e) => e.type);
    expect(events).toContain("session-closed");
    expect(pair.session.state).toBe("CLOSED");
    pair.advance(60_000);
    expect(pair.events().map((e) => e.type)).not.toContain("reconnect");
    expect(pair.session.recoveries).toHaveLength(0);
  });
});

describe("Escalation of a stuck command", () => {
  function stuck() {
    const pair = new Pair({ config: { keepAlive: false, taskManagementTimeoutMs: 1000, recovery: { initialBackoffMs: 100 } } }).login();
    pair.session.submit({ lun: 3, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", timeoutMs: 2000, context: "slow" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    return { pair, command };
  }

  it("sends ABORT TASK at the deadline and fails the command with a timeout once the target confirms", () => {
    const { pair, command } = stuck();
    pair.advance(1999);
    pair.target.pull();
    expect(pair.target.received).toHaveLength(0);
    pair.advance(250);
    const abort = pair.target.take(Opcode.TaskManagementRequest);
    expect(abort.function).toBe(TaskManagementFunction.AbortTask);
    expect(abort.referencedTaskTag).toBe(command.initiatorTaskTag);
    expect(pair.events()).toHaveLength(0); // not failed before the target confirms
    pair.target.deliver({
      opcode: Opcode.TaskManagementResponse,
      response: 0,
      initiatorTaskTag: abort.initiatorTaskTag,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
    });
    const [failed] = pair.events();
    expect(failed?.type === "command-failed" && failed.error.code).toBe("ISCSI_ERR_TIMEOUT");
    expect(failed?.type === "command-failed" && failed.error.message).toMatch(/timed out after 2000 ms and was aborted/);
  });

  it("drops the connection when the aborted command never reached the target (a CmdSN hole nothing else fills)", () => {
    const pair = new Pair({ config: { keepAlive: false, taskManagementTimeoutMs: 1000 } }).login();
    pair.session.submit({ lun: 3, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", timeoutMs: 2000, context: "lost" }, 0);
    pair.target.take(Opcode.ScsiCommand); // taken, but the target never saw it: ExpCmdSN stays
    pair.advance(2250);
    const abort = pair.target.take(Opcode.TaskManagementRequest);
    pair.target.deliver({
      opcode: Opcode.TaskManagementResponse,
      response: 1,
      initiatorTaskTag: abort.initiatorTaskTag,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
    });
    expect(pair.connection.closed).toBe(true);
    expect(pair.session.recoveries[0]?.cause).toBe("command-timeout");
    expect(pair.events().some((e) => e.type === "command-failed")).toBe(false);
  });

  it("escalates to LOGICAL UNIT RESET when ABORT TASK is not answered, then drops the connection", () => {
    const { pair } = stuck();
    pair.advance(2250);
    pair.target.take(Opcode.TaskManagementRequest);
    pair.advance(1250);
    const reset = pair.target.take(Opcode.TaskManagementRequest);
    expect(reset.function).toBe(TaskManagementFunction.LogicalUnitReset);
    expect(reset.lun).toBe(3);
    pair.advance(1250);
    expect(pair.connection.closed).toBe(true);
    expect(pair.session.state).toBe("FAILED");
    expect(pair.session.recoveries[0]?.cause).toBe("command-timeout");
    // The command is held and goes again after reinstatement (it is safe to repeat).
    pair.advance(5000);
    pair.events();
    pair.reconnect();
    const again = pair.target.take(Opcode.ScsiCommand);
    expect(again.lun).toBe(3);
  });
});

describe("What a recovery record says", () => {
  it("names the keep-alive as the cause when the NOP-Out times out while an ABORT TASK is outstanding", () => {
    const pair = new Pair({
      config: { keepAlive: { intervalMs: 1000, timeoutMs: 3000 }, taskManagementTimeoutMs: 10_000, recovery: { initialBackoffMs: 100 } },
    }).login();
    pair.session.submit({ lun: 3, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", timeoutMs: 2000, context: "stuck" }, 0);
    pair.target.accept(pair.target.take(Opcode.ScsiCommand));
    // The target goes silent: the command's deadline sends ABORT TASK, then the keep-alive ends it.
    while (!pair.connection.closed && pair.now < 10_000) {
      pair.advance(250);
      pair.target.pull();
    }
    const tmfs = pair.target.received.flatMap((p) => (p.opcode === Opcode.TaskManagementRequest ? [p.function] : []));
    expect(tmfs).toEqual([TaskManagementFunction.AbortTask]);
    const [record] = pair.session.recoveries;
    expect(record?.detail).toMatch(/nothing received for 3000 ms after a NOP-Out ping/);
    expect(record?.cause).toBe("keepalive-timeout");
    // The ABORT TASK failing with the connection escalates nothing more: the command is held.
    expect(pair.session.outstanding).toBe(1);
  });
});

describe("A command given up on after reconnects", () => {
  it("fails with the code and text of what first lost it, naming it as the cause, not with a timeout", () => {
    const pair = new Pair({ config: { keepAlive: false, recovery: { initialBackoffMs: 100, maxAttempts: 2 } }, policy: { defaultTime2Wait: 0 } }).login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "r" }, 0);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const command = pair.target.take(Opcode.ScsiCommand);
      pair.target.accept(command);
      // A status whose StatSN jumps: a protocol violation, on every connection.
      pair.target.statSN += 5;
      pair.target.deliver(pair.target.response(command));
      expect(pair.connection.closed).toBe(true);
      pair.advance(3000);
      pair.events();
      pair.reconnect();
    }
    const failed = pair.events().find((e) => e.type === "command-failed");
    if (failed?.type !== "command-failed") throw new Error("test: the read did not fail");
    expect(failed.error.code).toBe("ISCSI_ERR_REMOTE_PROTOCOL");
    expect(failed.error.message).toMatch(/^command 0x28 \(ITT 0x[0-9a-f]+\) failed 2 times across reconnects; giving up; first failure: connection 0: StatSN jumped/);
    expect((failed.error.cause as Error | undefined)?.message).toMatch(/^connection 0: StatSN jumped/);
  });
});

describe("A command's budget (budgetMs)", () => {
  it("fails a command held for a reconnect when its budget runs out, without waiting for the replacement timeout", () => {
    const pair = recoveringPair();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", budgetMs: 2000, context: "r" }, 0);
    pair.target.take(Opcode.ScsiCommand);
    pair.connection.fail(new TransportError("connection reset"), 0);
    pair.events();
    pair.advance(1750);
    expect(pair.events().filter((e) => e.type === "command-failed")).toHaveLength(0);
    pair.advance(250);
    const failed = pair.events().find((e) => e.type === "command-failed");
    if (failed?.type !== "command-failed") throw new Error("test: the held read did not fail at its budget");
    expect(failed.error.code).toBe("ISCSI_ERR_TIMEOUT");
    expect(failed.error.message).toMatch(/^READ\(10\) \(ITT 0x[0-9a-f]+\) on LUN 1 did not complete within 2000 ms \(1 attempt\); its connection was lost before: connection reset$/);
    expect(pair.session.outstanding).toBe(0);
  });

  it("counts the time before a reconnect in the budget of a re-issued command", () => {
    const pair = recoveringPair();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", timeoutMs: 60_000, budgetMs: 4000, context: "r" }, 0);
    pair.target.take(Opcode.ScsiCommand);
    pair.connection.fail(new TransportError("connection reset"), 0);
    pair.advance(2000);
    pair.events();
    pair.reconnect();
    pair.target.accept(pair.target.take(Opcode.ScsiCommand)); // re-issued at 2 s; never answered
    pair.advance(1750);
    expect(pair.events().filter((e) => e.type === "command-failed")).toHaveLength(0);
    pair.advance(250);
    const failed = pair.events().find((e) => e.type === "command-failed");
    if (failed?.type !== "command-failed") throw new Error("test: the re-issued read did not fail at its budget");
    expect(failed.error.message).toMatch(/did not complete within 4000 ms \(2 attempts\)/);
    // Sent, the command may still get data: its connection is dropped before the failure is seen.
    expect(pair.connection.closed).toBe(true);
    expect(pair.session.recoveries[1]?.cause).toBe("command-timeout");
  });
});

describe("RecoveryTracker", () => {
  it("keeps backoff within half and all of a doubling, capped delay", () => {
    let r = 0;
    const tracker = new RecoveryTracker(
      { enabled: true, replacementTimeoutMs: 1000, initialBackoffMs: 100, maxBackoffMs: 800, maxAttempts: 3 },
      () => (r = (r + 0.37) % 1),
    );
    for (let n = 0; n < 10; n++) {
      const base = Math.min(800, 100 * 2 ** n);
      const d = tracker.backoff(n);
      expect(d).toBeGreaterThanOrEqual(base / 2);
      expect(d).toBeLessThanOrEqual(base);
    }
  });
});
