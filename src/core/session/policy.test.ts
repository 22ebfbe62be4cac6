import { describe, expect, it } from "vitest";
import { TransportError } from "../errors.js";
import { LogoutReason, Opcode } from "../pdu/opcodes.js";
import type { ScsiCommandPdu } from "../pdu/types.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../text/parameters.js";
import { type Candidate, chooseConnection, ConnectionCounters, type ConnectionPolicy } from "./policy.js";
import { Pair, type ScriptedTarget } from "./session.test-util.js";

const READ10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]);
const WRITE10 = new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]);

/** A session of `connections` connections (MC/S), each with its scripted target, under `policy`. */
function session(policy: ConnectionPolicy | undefined, connections: number, target: { initialR2T?: boolean; immediateData?: boolean } = {}) {
  const pair = new Pair({
    window: 64,
    config: {
      proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: connections },
      recovery: { enabled: false },
      keepAlive: false,
      ...(policy === undefined ? {} : { connectionPolicy: policy }),
    },
    policy: { maxConnections: connections, ...target },
  }).login();
  const targets: ScriptedTarget[] = [pair.target];
  for (let i = 1; i < connections; i++) targets.push(pair.addConnection());
  return { pair, targets };
}

/** Takes every SCSI command sent on this target's connection so far. */
function commandsOn(target: ScriptedTarget): ScsiCommandPdu[] {
  target.pull();
  return target.received.splice(0).filter((p): p is ScsiCommandPdu => p.opcode === Opcode.ScsiCommand);
}

/** Submits `n` reads of 4 KiB. */
function reads(pair: Pair, n: number, tag = "r"): void {
  for (let i = 0; i < n; i++) pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(4096), context: `${tag}${i}` }, pair.now);
}

/** Answers a read with its data and status on the connection it came on. */
function answer(target: ScriptedTarget, command: ScsiCommandPdu): void {
  target.accept(command);
  target.deliver(target.dataIn(command, new Uint8Array(command.expectedDataTransferLength), { hasStatus: true, final: true }));
}

/** Which connection (index into `targets`) carried each command, in CmdSN order. */
function placement(targets: readonly ScriptedTarget[]): number[] {
  const sent = targets.flatMap((t, index) => commandsOn(t).map((c) => ({ index, cmdSN: c.cmdSN })));
  sent.sort((a, b) => ((a.cmdSN - b.cmdSN) | 0));
  return sent.map((s) => s.index);
}

describe("chooseConnection", () => {
  const candidate = (cid: number, outstanding: number, usable = true): Candidate => {
    const counters = new ConnectionCounters();
    counters.outstanding = outstanding;
    return { cid, usable, counters };
  };

  it("goes round robin to the next CID after the last one, wrapping", () => {
    const list = [candidate(0, 5), candidate(1, 0), candidate(2, 9)];
    expect(chooseConnection(list, "round-robin", -1)?.cid).toBe(0);
    expect(chooseConnection(list, "round-robin", 0)?.cid).toBe(1);
    expect(chooseConnection(list, "round-robin", 1)?.cid).toBe(2);
    expect(chooseConnection(list, "round-robin", 2)?.cid).toBe(0);
  });

  it("takes the connection with the fewest tasks outstanding, and breaks ties in turn after the last one", () => {
    expect(chooseConnection([candidate(0, 3), candidate(1, 1), candidate(2, 2)], "least-queue-depth", 1)?.cid).toBe(1);
    const tied = [candidate(0, 2), candidate(1, 2), candidate(2, 2)];
    expect(chooseConnection(tied, "least-queue-depth", 0)?.cid).toBe(1);
    expect(chooseConnection(tied, "least-queue-depth", 2)?.cid).toBe(0);
  });

  it("never takes a connection that is not usable, however idle, and gives none when none is", () => {
    const list = [candidate(0, 8), candidate(1, 0, false)];
    expect(chooseConnection(list, "least-queue-depth", 0)?.cid).toBe(0);
    expect(chooseConnection(list, "round-robin", 0)?.cid).toBe(0);
    expect(chooseConnection([candidate(3, 0, false)], "round-robin", -1)).toBeUndefined();
  });
});

describe("Connection policies on a session of several connections (MC/S)", () => {
  it("round robin sends commands to each connection in turn", () => {
    const { pair, targets } = session("round-robin", 2);
    reads(pair, 6);
    expect(placement(targets)).toEqual([0, 1, 0, 1, 0, 1]);
  });

  /**
   * Four reads over two connections, the second connection's two answered, then two more: where
   * the two new commands go, as [on the first, on the second].
   */
  function afterTheSecondFinishes(policy: ConnectionPolicy | undefined): [number, number] {
    const { pair, targets } = session(policy, 2);
    const [first, second] = targets as [ScriptedTarget, ScriptedTarget];
    reads(pair, 4);
    const onFirst = commandsOn(first);
    const onSecond = commandsOn(second);
    expect([onFirst.length, onSecond.length]).toEqual([2, 2]);
    for (const c of onSecond) answer(second, c);
    expect(pair.session.connectionList.map((c) => c.counters.outstanding)).toEqual([2, 0]);
    reads(pair, 2, "next");
    return [commandsOn(first).length, commandsOn(second).length];
  }

  it("least queue depth sends new commands to the idle connection while the other is busy", () => {
    expect(afterTheSecondFinishes("least-queue-depth")).toEqual([0, 2]);
  });

  it("least queue depth is the default: new commands go where earlier ones have finished", () => {
    expect(afterTheSecondFinishes(undefined)).toEqual([0, 2]);
  });

  it("round robin, in the same state, still gives the busy connection its turn", () => {
    expect(afterTheSecondFinishes("round-robin")).toEqual([1, 1]);
  });

  for (const policy of ["round-robin", "least-queue-depth"] as const) {
    it(`${policy} never picks a connection that is logging out, still logging in, or closed`, () => {
      const { pair, targets } = session(policy, 4);
      const [first, second, third, fourth] = targets as [ScriptedTarget, ScriptedTarget, ScriptedTarget, ScriptedTarget];
      reads(pair, 4, "busy");
      const secondsOwn = commandsOn(second);
      for (const t of [first, third, fourth]) commandsOn(t);
      for (const c of secondsOwn) answer(second, c);
      // One command outstanding on the first, third and fourth; the second's is done and it logs
      // out, the third is reset, a fifth is still logging in: to least queue depth, the second
      // and the fifth would look the idlest.
      pair.session.logout(pair.now, LogoutReason.CloseConnection, second.connection.cid);
      third.connection.fail(new TransportError("test: connection reset"), pair.now);
      const joining = pair.session.openConnection(pair.now);
      pair.events();
      expect(second.connection.usable).toBe(false);
      expect(pair.session.connectionList).toContain(second.connection);
      expect(pair.session.connectionList).toContain(joining);
      reads(pair, 6, "after");
      const [onFirst, onSecond, onFourth] = [first, second, fourth].map((t) => commandsOn(t).length) as [number, number, number];
      expect(onSecond).toBe(0);
      expect(onFirst + onFourth).toBe(6);
      expect(joining.pollTransmit()).toBeUndefined();
    });
  }

  it("counts each connection's commands, data in and data out, and its queue depth back to zero", () => {
    const { pair, targets } = session("round-robin", 2, { initialR2T: true, immediateData: false });
    const [first, second] = targets as [ScriptedTarget, ScriptedTarget];
    reads(pair, 1);
    pair.session.submit({ lun: 1, cdb: WRITE10, dataOut: new Uint8Array(8192), context: "w" }, pair.now);
    reads(pair, 1, "again");
    const [r0, r1] = commandsOn(first) as [ScsiCommandPdu, ScsiCommandPdu];
    const [w] = commandsOn(second) as [ScsiCommandPdu];
    const [c0, c1] = pair.session.connectionList.map((c) => c.counters) as [ConnectionCounters, ConnectionCounters];
    expect({ commands: c0.commands, outstanding: c0.outstanding, commands1: c1.commands, outstanding1: c1.outstanding }).toEqual({
      commands: 2,
      outstanding: 2,
      commands1: 1,
      outstanding1: 1,
    });
    answer(first, r0);
    answer(first, r1);
    second.accept(w);
    second.deliver({
      opcode: Opcode.R2T,
      lun: 1,
      initiatorTaskTag: w.initiatorTaskTag,
      targetTransferTag: 7,
      statSN: second.statSN,
      expCmdSN: second.expCmdSN,
      maxCmdSN: second.maxCmdSN,
      r2tSN: 0,
      bufferOffset: 0,
      desiredDataTransferLength: 8192,
    });
    second.take(Opcode.DataOut);
    second.deliver(second.response(w));
    expect(pair.events().filter((e) => e.type === "command-complete")).toHaveLength(3);
    expect({ ...c0 }).toEqual({ commands: 2, bytesIn: 8192, bytesOut: 0, outstanding: 0 });
    expect({ ...c1 }).toEqual({ commands: 1, bytesIn: 0, bytesOut: 8192, outstanding: 0 });
  });

  it("takes a failed command out of its connection's queue depth", () => {
    const { pair, targets } = session("least-queue-depth", 2);
    const [first] = targets as [ScriptedTarget, ScriptedTarget];
    reads(pair, 2);
    const [command] = commandsOn(first) as [ScsiCommandPdu];
    first.accept(command);
    first.deliver(first.response(command, { response: 1 }));
    expect(pair.events().map((e) => e.type)).toEqual(["command-failed"]);
    expect(pair.session.connectionList.map((c) => c.counters.outstanding)).toEqual([0, 1]);
  });
});
