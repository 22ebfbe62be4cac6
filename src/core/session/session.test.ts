import { describe, expect, it } from "vitest";
import { Opcode, RESERVED_TAG, TaskManagementFunction } from "../pdu/opcodes.js";
import type { R2TPdu, ScsiCommandPdu } from "../pdu/types.js";
import { serialAdd } from "../serial.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../text/parameters.js";
import { Pair, type ScriptedTarget } from "./session.test-util.js";

const READ10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]);
const WRITE10 = new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]);

function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe("Session login", () => {
  it("logs in through the target login machine and takes the target's window", () => {
    const pair = new Pair({ window: 4 }).login();
    expect(pair.session.state).toBe("LOGGED_IN");
    expect(pair.session.tsih).toBe(0x1234);
    const w = pair.session.commandWindow;
    expect(w.expCmdSN).toBe(w.cmdSN);
    expect(w.maxCmdSN).toBe(serialAdd(w.cmdSN, 3));
  });

  it("reports a login-complete event for the connection", () => {
    const pair = new Pair();
    pair.session.transportConnected(pair.connection, 0);
    for (let i = 0; i < 8; i++) pair.target.pull();
    expect(pair.events().map((e) => e.type)).toContain("login-complete");
  });
});

describe("Session data path", () => {
  it("places Data-In straight into the caller's buffer and completes on the status in the last PDU", () => {
    const pair = new Pair().login();
    const buffer = new Uint8Array(4096);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: buffer, context: "read" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    expect(command.read).toBe(true);
    expect(command.expectedDataTransferLength).toBe(4096);
    pair.target.accept(command);
    const data = pattern(4096);
    pair.target.deliver(pair.target.dataIn(command, data.subarray(0, 1024), { dataSN: 0, bufferOffset: 0 }), 7);
    pair.target.deliver(
      pair.target.dataIn(command, data.subarray(1024), { dataSN: 1, bufferOffset: 1024, hasStatus: true, final: true }),
      100,
    );
    const events = pair.events();
    expect(events).toHaveLength(1);
    const done = events[0];
    expect(done?.type).toBe("command-complete");
    if (done?.type !== "command-complete") return;
    expect(done.context).toBe("read");
    expect(done.result.status).toBe(0);
    expect(done.result.bytesIn).toBe(4096);
    expect(buffer).toEqual(data);
  });

  it("reports a residual underflow and the bytes actually received", () => {
    const pair = new Pair().login();
    const buffer = new Uint8Array(255);
    pair.session.submit({ lun: 0, cdb: new Uint8Array([0x12, 0, 0, 0, 255, 0]), dataIn: buffer, context: "inq" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(
      pair.target.dataIn(command, pattern(36), { hasStatus: true, residualUnderflow: true, residualCount: 219 }),
    );
    const [done] = pair.events();
    expect(done?.type === "command-complete" && done.result).toMatchObject({ bytesIn: 36, residualUnderflow: true, residualCount: 219 });
  });

  it("returns a copy of the sense data of a CHECK CONDITION", () => {
    const pair = new Pair().login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(4096), context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    const sense = new Uint8Array([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x21, 0, 0, 0, 0, 0]);
    pair.target.deliver(pair.target.response(command, { status: 2, sense }));
    const [done] = pair.events();
    expect(done?.type).toBe("command-complete");
    if (done?.type !== "command-complete") return;
    expect(done.result.status).toBe(2);
    expect(done.result.sense).toEqual(sense);
  });

  it("sends immediate data, unsolicited Data-Out up to FirstBurstLength, and the rest on R2T", () => {
    const pair = new Pair({
      policy: { initialR2T: false, immediateData: true, firstBurstLength: 16384, maxRecvDataSegmentLength: 4096 },
    }).login();
    const data = pattern(40960);
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: data, context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    expect(command.write).toBe(true);
    expect(command.final).toBe(false);
    // Immediate data is bounded by the target's MaxRecvDataSegmentLength (4096).
    expect(command.data).toEqual(data.subarray(0, 4096));
    const unsolicited = [1, 2, 3].map(() => pair.target.take(Opcode.DataOut));
    expect(unsolicited.map((d) => [d.bufferOffset, d.data.length, d.dataSN, d.final, d.targetTransferTag])).toEqual([
      [4096, 4096, 0, false, RESERVED_TAG],
      [8192, 4096, 1, false, RESERVED_TAG],
      [12288, 4096, 2, true, RESERVED_TAG],
    ]);
    pair.target.deliver({
      opcode: Opcode.R2T,
      lun: 1,
      initiatorTaskTag: command.initiatorTaskTag,
      targetTransferTag: 0x77,
      statSN: pair.target.statSN,
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      r2tSN: 0,
      bufferOffset: 16384,
      desiredDataTransferLength: 24576,
    });
    pair.target.pull();
    const solicited = pair.target.received.filter((p) => p.opcode === Opcode.DataOut);
    expect(solicited).toHaveLength(6);
    let expectOffset = 16384;
    solicited.forEach((d, i) => {
      if (d.opcode !== Opcode.DataOut) return;
      expect(d.targetTransferTag).toBe(0x77);
      expect(d.dataSN).toBe(i);
      expect(d.bufferOffset).toBe(expectOffset);
      expect(d.data).toEqual(data.subarray(expectOffset, expectOffset + 4096));
      expect(d.final).toBe(i === 5);
      expectOffset += d.data.length;
    });
  });

  it("sends no data before the R2T when InitialR2T=Yes and ImmediateData=No", () => {
    const pair = new Pair({ config: { proposal: undefined }, policy: { initialR2T: true, immediateData: false } }).login();
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: pattern(8192), context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    expect(command.data.length).toBe(0);
    expect(command.final).toBe(true);
    pair.target.pull();
    expect(pair.target.received.filter((p) => p.opcode === Opcode.DataOut)).toHaveLength(0);
  });

  it("holds commands while the window is closed and sends them as MaxCmdSN opens it", () => {
    const pair = new Pair({ window: 2 }).login();
    for (let i = 0; i < 5; i++) pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: `c${i}` }, 0);
    pair.target.pull();
    const sent = () => pair.target.received.filter((p) => p.opcode === Opcode.ScsiCommand);
    expect(sent()).toHaveLength(2);
    const first = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(first);
    pair.target.deliver(pair.target.response(first));
    pair.target.pull();
    // The response moved MaxCmdSN by one: exactly one more command may go.
    expect(sent()).toHaveLength(2);
    const cmdSNs = sent().map((p) => (p.opcode === Opcode.ScsiCommand ? p.cmdSN : -1));
    expect(cmdSNs[1]).toBe(serialAdd(cmdSNs[0] as number, 1));
  });

  it("numbers commands across the 2^32 CmdSN wrap", () => {
    // Seed chosen so the session's random initial CmdSN is close to 2^32 - 1 is not guaranteed;
    // instead drive many commands through a window of one and check consecutive numbering.
    const pair = new Pair({ window: 1, seed: 12345 }).login();
    let previous: number | undefined;
    for (let i = 0; i < 20; i++) {
      pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: `c${i}` }, 0);
      const command = pair.target.take(Opcode.ScsiCommand);
      if (previous !== undefined) expect(command.cmdSN).toBe(serialAdd(previous, 1));
      previous = command.cmdSN;
      pair.target.accept(command);
      pair.target.deliver(pair.target.dataIn(command, new Uint8Array(512), { hasStatus: true }));
    }
    expect(pair.events().filter((e) => e.type === "command-complete")).toHaveLength(20);
  });
});

describe("Session refuses a misbehaving target", () => {
  function withRead() {
    const pair = new Pair({ config: { recovery: { enabled: false } } }).login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(4096), context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    return { pair, command };
  }

  it("closes the connection on Data-In beyond the buffer and fails the command", () => {
    const { pair, command } = withRead();
    pair.target.deliver(pair.target.dataIn(command, pattern(1024), { bufferOffset: 4000 }));
    expect(pair.connection.closed).toBe(true);
    expect(pair.connection.error?.code).toBe("ISCSI_ERR_REMOTE_PROTOCOL");
    expect(pair.connection.error?.message).toMatch(/beyond the buffer/);
    const types = pair.events().map((e) => e.type);
    expect(types).toContain("command-failed");
    expect(types).toContain("connection-closed");
  });

  it("closes the connection on a response for an unknown task tag", () => {
    const { pair, command } = withRead();
    pair.target.deliver(pair.target.response({ ...command, initiatorTaskTag: 0xabcdef }));
    expect(pair.connection.error?.message).toMatch(/unknown Initiator Task Tag 0xabcdef/);
  });

  it("closes the connection when StatSN jumps", () => {
    const { pair, command } = withRead();
    pair.target.statSN += 5;
    pair.target.deliver(pair.target.response(command));
    expect(pair.connection.error?.message).toMatch(/StatSN jumped/);
  });

  it("closes the connection on an R2T beyond the transfer length", () => {
    const pair = new Pair({ policy: { initialR2T: true, immediateData: false } }).login();
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: pattern(4096), context: "w" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.deliver({
      opcode: Opcode.R2T,
      lun: 1,
      initiatorTaskTag: command.initiatorTaskTag,
      targetTransferTag: 1,
      statSN: pair.target.statSN,
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      r2tSN: 0,
      bufferOffset: 0,
      desiredDataTransferLength: 8192,
    });
    expect(pair.connection.error?.message).toMatch(/R2T beyond the transfer/);
  });

  it("closes the connection when a newer PDU (ExpCmdSN moved on) brings MaxCmdSN back below a command already sent", () => {
    const pair = new Pair({ window: 2 }).login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "a" }, 0);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "b" }, 0);
    const first = pair.target.take(Opcode.ScsiCommand);
    pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(first);
    pair.target.maxCmdSN = first.cmdSN; // still >= ExpCmdSN - 1, but below the second command
    pair.target.deliver(pair.target.response(first));
    expect(pair.connection.error?.message).toMatch(/MaxCmdSN went back/);
  });

  it("ignores a MaxCmdSN that goes backwards (RFC 7143 §4.2.2.1)", () => {
    const pair = new Pair({ window: 8 }).login();
    const before = pair.session.commandWindow.maxCmdSN;
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "r" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.maxCmdSN = (before - 3) >>> 0;
    pair.target.deliver(pair.target.response(command));
    expect(pair.session.commandWindow.maxCmdSN).toBe(before);
    expect(pair.connection.closed).toBe(false);
  });
});

/** Takes every SCSI command the initiator sent on this target's connection so far. */
function commandsOn(target: ScriptedTarget): ScsiCommandPdu[] {
  target.pull();
  return target.received.splice(0).filter((p): p is ScsiCommandPdu => p.opcode === Opcode.ScsiCommand);
}

/** A session of two connections (MC/S), each with a scripted target; the window is session-wide. */
function twoConnections(window: number): { pair: Pair; first: ScriptedTarget; second: ScriptedTarget } {
  const pair = new Pair({
    window,
    config: { proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: 2 }, recovery: { enabled: false } },
    policy: { maxConnections: 2 },
  }).login();
  const first = pair.target;
  const second = pair.addConnection();
  expect(pair.session.connectionList).toHaveLength(2);
  return { pair, first, second };
}

describe("Session command window with updates out of order (RFC 7143 §4.2.2.1)", () => {
  it("takes quietly a stale MaxCmdSN on one connection after a higher one came on another, with a command sent above it", () => {
    const { pair, first, second } = twoConnections(4);
    const c0 = pair.session.commandWindow.cmdSN;
    for (let i = 0; i < 5; i++) pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: `r${i}` }, 0);
    const onFirst = commandsOn(first);
    const onSecond = commandsOn(second);
    // Round robin over both connections; the fifth waits for the window [c0, c0 + 3].
    expect(onFirst).toHaveLength(2);
    expect(onSecond).toHaveLength(2);
    // The target has all four (ExpCmdSN c0 + 4), none finished (MaxCmdSN c0 + 3). A Data-In with
    // status stamped now on the second connection goes out later (a target answering from
    // several threads).
    for (const t of [first, second]) t.expCmdSN = serialAdd(c0, 4);
    second.maxCmdSN = serialAdd(c0, 3);
    const stale = second.dataIn(onSecond[0] as ScsiCommandPdu, pattern(512), { hasStatus: true });
    // Meanwhile a command finishes on the first connection: MaxCmdSN c0 + 4, and the fifth goes.
    first.maxCmdSN = serialAdd(c0, 4);
    first.deliver(first.dataIn(onFirst[0] as ScsiCommandPdu, pattern(512), { hasStatus: true }));
    const fifth = [...commandsOn(first), ...commandsOn(second)];
    expect(fifth.map((c) => c.cmdSN)).toEqual([serialAdd(c0, 4)]);
    // Now the older PDU: its MaxCmdSN (c0 + 3) is below CmdSN c0 + 4, already sent.
    second.deliver(stale);
    expect(first.connection.closed).toBe(false);
    expect(second.connection.closed).toBe(false);
    // The window kept its highest values: the stale ones moved nothing back.
    expect(pair.session.commandWindow).toMatchObject({ expCmdSN: serialAdd(c0, 4), maxCmdSN: serialAdd(c0, 4) });
    // Both commands answered completed: the one on the first connection, then the stale one's.
    const contextOf = (c: ScsiCommandPdu | undefined): string => `r${((c?.cmdSN ?? 0) - c0) >>> 0}`;
    expect(pair.events().map((e) => (e.type === "command-complete" ? e.context : e.type))).toEqual([contextOf(onFirst[0]), contextOf(onSecond[0])]);
  });

  it("takes quietly an R2T stamped before a SCSI Response that overtook it on the same connection", () => {
    // istgt does this on one connection: the R2T carries the window from before the response.
    const pair = new Pair({ window: 2, policy: { initialR2T: true, immediateData: false }, config: { recovery: { enabled: false } } }).login();
    const target = pair.target;
    const c0 = pair.session.commandWindow.cmdSN;
    const data = pattern(4096);
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: data, context: "w" }, 0);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "r1" }, 0);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "r2" }, 0);
    const [write, read] = commandsOn(target) as [ScsiCommandPdu, ScsiCommandPdu];
    expect([write.cmdSN, read.cmdSN]).toEqual([c0, serialAdd(c0, 1)]);
    // Both received (ExpCmdSN c0 + 2), none finished (MaxCmdSN c0 + 1): the R2T is stamped now.
    target.expCmdSN = serialAdd(c0, 2);
    target.maxCmdSN = serialAdd(c0, 1);
    const r2t: R2TPdu = {
      opcode: Opcode.R2T,
      lun: 1,
      initiatorTaskTag: write.initiatorTaskTag,
      targetTransferTag: 0x51,
      statSN: target.statSN,
      expCmdSN: target.expCmdSN,
      maxCmdSN: target.maxCmdSN,
      r2tSN: 0,
      bufferOffset: 0,
      desiredDataTransferLength: 4096,
    };
    // The read finishes and its response goes out first: MaxCmdSN c0 + 2, the third command goes.
    target.maxCmdSN = serialAdd(c0, 2);
    target.deliver(target.dataIn(read, pattern(512), { hasStatus: true }));
    expect(commandsOn(target).map((c) => c.cmdSN)).toEqual([serialAdd(c0, 2)]);
    // Then the R2T, whose MaxCmdSN (c0 + 1) is below CmdSN c0 + 2, already sent.
    target.deliver(r2t);
    expect(pair.connection.closed).toBe(false);
    expect(pair.session.commandWindow.maxCmdSN).toBe(serialAdd(c0, 2));
    const dataOut = target.take(Opcode.DataOut);
    expect(dataOut).toMatchObject({ targetTransferTag: 0x51, bufferOffset: 0, final: true });
    expect(dataOut.data).toEqual(data);
    target.deliver(target.response(write));
    expect(pair.events().map((e) => (e.type === "command-complete" ? e.context : e.type))).toEqual(["r1", "w"]);
  });

  it("closes the connection when a newer PDU on either connection shuts out a command already sent", () => {
    const { pair, first, second } = twoConnections(4);
    const c0 = pair.session.commandWindow.cmdSN;
    for (let i = 0; i < 4; i++) pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: `r${i}` }, 0);
    const onSecond = commandsOn(second);
    expect([...commandsOn(first), ...onSecond]).toHaveLength(4);
    // ExpCmdSN c0 + 2 acknowledges more than anything before (the login's c0): this is the
    // target's window now, and MaxCmdSN c0 + 1 leaves CmdSN c0 + 2 and c0 + 3 out of it.
    second.expCmdSN = serialAdd(c0, 2);
    second.maxCmdSN = serialAdd(c0, 1);
    second.deliver(second.dataIn(onSecond[0] as ScsiCommandPdu, pattern(512), { hasStatus: true }));
    expect(second.connection.closed).toBe(true);
    expect(second.connection.error?.code).toBe("ISCSI_ERR_REMOTE_PROTOCOL");
    expect(second.connection.error?.message).toMatch(/MaxCmdSN went back to \d+ \(from \d+\) in a PDU newer than any before/);
  });
});

describe("Session NOP and keep-alive", () => {
  it("answers the target's NOP-In ping with a NOP-Out echoing its Target Transfer Tag", () => {
    const pair = new Pair().login();
    pair.target.deliver({
      opcode: Opcode.NopIn,
      lun: 0,
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: 0x55,
      statSN: pair.target.statSN,
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      data: new Uint8Array([1, 2, 3]),
    });
    const nop = pair.target.take(Opcode.NopOut);
    expect(nop.targetTransferTag).toBe(0x55);
    expect(nop.initiatorTaskTag).toBe(RESERVED_TAG);
    expect(nop.immediate).toBe(true);
    expect(nop.data).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("pings an idle connection and declares it dead when nothing at all comes back", () => {
    const pair = new Pair({ config: { keepAlive: { intervalMs: 1000, timeoutMs: 3000 } } }).login();
    pair.advance(1000);
    const nop = pair.target.take(Opcode.NopOut);
    expect(nop.initiatorTaskTag).not.toBe(RESERVED_TAG);
    pair.advance(2000);
    expect(pair.connection.closed).toBe(false);
    pair.advance(1000);
    expect(pair.connection.closed).toBe(true);
    expect(pair.connection.error?.code).toBe("ISCSI_ERR_TIMEOUT");
  });

  it("keeps a busy connection whose NOP-In is late because data keeps arriving", () => {
    const pair = new Pair({ config: { keepAlive: { intervalMs: 1000, timeoutMs: 3000 } } }).login();
    pair.advance(1000);
    pair.target.take(Opcode.NopOut);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(8192), context: "r" }, pair.now);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    for (let i = 0; i < 8; i++) {
      pair.advance(900);
      pair.target.deliver(pair.target.dataIn(command, pattern(1024), { dataSN: i, bufferOffset: i * 1024 }));
    }
    expect(pair.connection.closed).toBe(false);
  });

  it("completes a caller's ping with its round trip time", () => {
    const pair = new Pair({ config: { keepAlive: false } }).login();
    pair.session.ping("p", 10);
    const nop = pair.target.take(Opcode.NopOut);
    pair.now = 17;
    pair.target.deliver({
      opcode: Opcode.NopIn,
      lun: 0,
      initiatorTaskTag: nop.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      data: new Uint8Array(0),
    });
    const [done] = pair.events();
    expect(done?.type === "ping-complete" && done.result.roundTripMs).toBe(7);
  });
});

describe("Session task management and logout", () => {
  it("fails the aborted command when ABORT TASK completes", () => {
    const pair = new Pair().login();
    const itt = pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(4096), context: "victim" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.session.taskManagement(TaskManagementFunction.AbortTask, { referencedTaskTag: itt }, "abort", 0);
    const tmf = pair.target.take(Opcode.TaskManagementRequest);
    expect(tmf.referencedTaskTag).toBe(itt);
    expect(tmf.refCmdSN).toBe(command.cmdSN);
    expect(tmf.lun).toBe(1);
    pair.target.deliver({
      opcode: Opcode.TaskManagementResponse,
      response: 0,
      initiatorTaskTag: tmf.initiatorTaskTag,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
    });
    const events = pair.events();
    expect(events.map((e) => e.type)).toEqual(["command-failed", "tmf-complete"]);
    const failed = events[0];
    expect(failed?.type === "command-failed" && failed.error.code).toBe("ISCSI_ERR_ABORTED");
  });

  it("fails only the tasks of the reset LUN on LOGICAL UNIT RESET", () => {
    const pair = new Pair().login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "lun1" }, 0);
    pair.session.submit({ lun: 2, cdb: READ10, dataIn: new Uint8Array(512), context: "lun2" }, 0);
    pair.session.taskManagement(TaskManagementFunction.LogicalUnitReset, { lun: 1 }, "reset", 0);
    const tmf = pair.target.take(Opcode.TaskManagementRequest);
    pair.target.deliver({
      opcode: Opcode.TaskManagementResponse,
      response: 0,
      initiatorTaskTag: tmf.initiatorTaskTag,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
    });
    const failed = pair.events().filter((e) => e.type === "command-failed");
    expect(failed.map((e) => (e.type === "command-failed" ? e.context : ""))).toEqual(["lun1"]);
    expect(pair.session.outstanding).toBe(1);
  });

  it("closes the session on logout and fails what was still queued", () => {
    const pair = new Pair({ window: 1 }).login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "sent" }, 0);
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), context: "queued" }, 0);
    pair.session.logout(0);
    const logout = pair.target.take(Opcode.LogoutRequest);
    expect(logout.reason).toBe(0);
    expect(pair.events().map((e) => (e.type === "command-failed" ? e.context : e.type))).toEqual(["queued"]);
    pair.target.deliver({
      opcode: Opcode.LogoutResponse,
      response: 0,
      initiatorTaskTag: logout.initiatorTaskTag,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      time2Wait: 0,
      time2Retain: 0,
    });
    const types = pair.events().map((e) => e.type);
    expect(types).toContain("logout-complete");
    expect(types).toContain("session-closed");
    expect(pair.session.state).toBe("CLOSED");
    expect(() => pair.session.submit({ lun: 1, cdb: READ10, context: "late" }, 0)).toThrow(/closed/);
  });

  it("gathers a Text Response sent in several PDUs (C bit) into one answer", () => {
    const pair = new Pair().login();
    pair.session.text([["SendTargets", "All"]], "st", 0);
    const first = pair.target.take(Opcode.TextRequest);
    const text = new TextEncoder().encode("TargetName=iqn.2026-11.test:a\0TargetAddress=127.0.0.1:3260,1\0");
    pair.target.deliver({
      opcode: Opcode.TextResponse,
      final: false,
      continue: true,
      lun: 0,
      initiatorTaskTag: first.initiatorTaskTag,
      targetTransferTag: 9,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      data: text.subarray(0, 20),
    });
    const more = pair.target.take(Opcode.TextRequest);
    expect(more.targetTransferTag).toBe(9);
    expect(more.data.length).toBe(0);
    pair.target.deliver({
      opcode: Opcode.TextResponse,
      final: true,
      continue: false,
      lun: 0,
      initiatorTaskTag: first.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      data: text.subarray(20),
    });
    const [done] = pair.events();
    expect(done?.type === "text-complete" && done.pairs).toEqual([
      ["TargetName", "iqn.2026-11.test:a"],
      ["TargetAddress", "127.0.0.1:3260,1"],
    ]);
  });

  it("fails a pending text request when its response breaks the protocol, instead of leaving it hanging", () => {
    const pair = new Pair({ config: { sessionType: "Discovery", targetName: undefined } }).login();
    pair.session.text([["SendTargets", "All"]], "st", 0);
    const request = pair.target.take(Opcode.TextRequest);
    pair.target.deliver({
      opcode: Opcode.TextResponse,
      final: true,
      continue: false,
      lun: 0,
      initiatorTaskTag: request.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      data: new TextEncoder().encode("MaxBurstLength=1\0MaxBurstLength=2\0"),
    });
    const failed = pair.events().find((e) => e.type === "request-failed");
    expect(failed?.type === "request-failed" && failed.error.code).toBe("ISCSI_ERR_REMOTE_PROTOCOL");
    expect(pair.connection.closed).toBe(true);
  });

  it("fails a ping with no answer after the request timeout and ignores the late NOP-In", () => {
    const pair = new Pair({ config: { keepAlive: false, requestTimeoutMs: 1000 } }).login();
    pair.session.ping("p", 0);
    const nop = pair.target.take(Opcode.NopOut);
    pair.advance(500);
    expect(pair.events()).toHaveLength(0);
    pair.advance(750);
    const [failed] = pair.events();
    expect(failed?.type === "request-failed" && failed.error.code).toBe("ISCSI_ERR_TIMEOUT");
    pair.target.deliver({
      opcode: Opcode.NopIn,
      lun: 0,
      initiatorTaskTag: nop.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: pair.target.nextStatSN(),
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      data: new Uint8Array(0),
    });
    expect(pair.connection.closed).toBe(false);
    expect(pair.events()).toHaveLength(0);
  });
});

