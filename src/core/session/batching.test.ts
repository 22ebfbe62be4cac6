import { describe, expect, it } from "vitest";
import { Opcode } from "../pdu/opcodes.js";
import type { ScsiCommandPdu } from "../pdu/types.js";
import { batchingOf, type CommandBatching, DEFAULT_COMMAND_BATCHING, mayWait } from "./batching.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../text/parameters.js";
import { digestPair, Pair } from "./session.test-util.js";

const FOUR_AT_EIGHT: CommandBatching = { depth: 8, batch: 4 };

describe("mayWait", () => {
  it("lets a few new commands wait only behind a queue at least `depth` deep", () => {
    expect(mayWait(FOUR_AT_EIGHT, 1, false, 9)).toBe(true);
    expect(mayWait(FOUR_AT_EIGHT, 3, false, 11)).toBe(true);
    expect(mayWait(FOUR_AT_EIGHT, 1, false, 8)).toBe(false);
    expect(mayWait(FOUR_AT_EIGHT, 3, false, 10)).toBe(false);
  });

  it("sends a whole batch, anything else queued, or an empty queue at once", () => {
    expect(mayWait(FOUR_AT_EIGHT, 4, false, 100)).toBe(false);
    expect(mayWait(FOUR_AT_EIGHT, 1, true, 100)).toBe(false);
    expect(mayWait(FOUR_AT_EIGHT, 0, false, 100)).toBe(false);
  });

  it("never lets anything wait when batching is off", () => {
    expect(batchingOf(false)).toBeUndefined();
    expect(mayWait(batchingOf(false), 1, false, 1000)).toBe(false);
    expect(batchingOf(undefined)).toBe(DEFAULT_COMMAND_BATCHING);
  });
});

const BLOCK = 512;

function read(pair: Pair, lba: number): void {
  const cdb = new Uint8Array([0x28, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, 1, 0]);
  pair.session.submit({ lun: 1, cdb, dataIn: new Uint8Array(BLOCK), context: `r${lba}` }, pair.now);
}

/** Commands the target has received, in order (taking them from the pair's scripted target). */
function takeCommands(pair: Pair): ScsiCommandPdu[] {
  pair.target.pull();
  const out: ScsiCommandPdu[] = [];
  for (;;) {
    const index = pair.target.received.findIndex((p) => p.opcode === Opcode.ScsiCommand);
    if (index < 0) return out;
    const [pdu] = pair.target.received.splice(index, 1);
    const command = pdu as ScsiCommandPdu;
    pair.target.accept(command);
    out.push(command);
  }
}

/** Completes a read with its data and status in one Data-In. */
function complete(pair: Pair, command: ScsiCommandPdu): void {
  pair.target.deliver(pair.target.dataIn(command, new Uint8Array(BLOCK), { hasStatus: true, final: true }));
}

describe("a connection at queue depth", () => {
  it("holds new commands behind `depth` outstanding until a batch has gathered, then writes them together", () => {
    const pair = new Pair({ config: { commandBatching: FOUR_AT_EIGHT }, window: 64 }).login();
    for (let i = 0; i < 8; i++) read(pair, i);
    // Below the depth nothing waits: the first eight go as they come.
    expect(pair.connection.mayWait).toBe(false);
    const first = takeCommands(pair);
    expect(first).toHaveLength(8);

    for (let i = 8; i < 11; i++) {
      read(pair, i);
      expect(pair.connection.mayWait).toBe(true);
    }
    read(pair, 11);
    expect(pair.connection.mayWait).toBe(false);
    expect(takeCommands(pair).map((c) => c.cdb[5])).toEqual([8, 9, 10, 11]);
  });

  it("lets waiting commands go once completions bring the queue below the depth", () => {
    const pair = new Pair({ config: { commandBatching: FOUR_AT_EIGHT }, window: 64 }).login();
    for (let i = 0; i < 8; i++) read(pair, i);
    const sent = takeCommands(pair);
    read(pair, 8);
    expect(pair.connection.mayWait).toBe(true);
    complete(pair, sent[0] as ScsiCommandPdu);
    expect(pair.events().map((e) => e.type)).toEqual(["command-complete"]);
    expect(pair.connection.mayWait).toBe(false);
    expect(takeCommands(pair).map((c) => c.cdb[5])).toEqual([8]);
  });

  it("does not hold a command behind anything else that must go: a ping releases it", () => {
    const pair = new Pair({ config: { commandBatching: FOUR_AT_EIGHT }, window: 64 }).login();
    for (let i = 0; i < 8; i++) read(pair, i);
    takeCommands(pair);
    read(pair, 8);
    expect(pair.connection.mayWait).toBe(true);
    pair.session.ping("p", pair.now);
    expect(pair.connection.mayWait).toBe(false);
    pair.target.pull();
    expect(pair.target.received.map((p) => p.opcode)).toEqual([Opcode.ScsiCommand, Opcode.NopOut]);
  });

  it("writes every command at once with batching off", () => {
    const pair = new Pair({ config: { commandBatching: false }, window: 64 }).login();
    for (let i = 0; i < 40; i++) {
      read(pair, i);
      expect(pair.connection.mayWait).toBe(false);
    }
  });

  it("batches by default from sixteen outstanding, four to a write", () => {
    const pair = new Pair({ window: 64 }).login();
    for (let i = 0; i < 16; i++) read(pair, i);
    expect(pair.connection.mayWait).toBe(false);
    takeCommands(pair);
    read(pair, 16);
    expect(pair.connection.mayWait).toBe(true);
  });

  it("sends a command going again with its own CmdSN at once: the target's later commands wait behind it", () => {
    const pair = digestPair(1, { config: { commandBatching: { depth: 1, batch: 4 } }, window: 64 });
    const write = (lba: number): void => {
      pair.session.submit({ lun: 1, cdb: new Uint8Array([0x2a, 0, 0, 0, 0, lba, 0, 0, 1, 0]), dataOut: new Uint8Array(BLOCK).fill(lba), context: `w${lba}` }, pair.now);
    };
    write(1);
    const [first] = takeCommands(pair);
    write(2);
    // A new command behind one at the target waits (depth 1)...
    expect(pair.connection.mayWait).toBe(true);
    takeCommands(pair);
    // ...but the first, whose immediate data the target found damaged and discarded (RFC 7143
    // §6.2.1), goes again with its CmdSN, which the second waits behind at the target.
    pair.target.rejectForDataDigest(Opcode.ScsiCommand, (first as ScsiCommandPdu).initiatorTaskTag);
    expect(pair.connection.mayWait).toBe(false);
    const [again] = takeCommands(pair);
    expect(again).toMatchObject({ initiatorTaskTag: first?.initiatorTaskTag, cmdSN: first?.cmdSN });
  });

  it("with several connections writes every connection's queue or none, so written commands never leave a CmdSN hole", () => {
    const pair = new Pair({
      window: 64,
      config: {
        proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: 2 },
        recovery: { enabled: false },
        keepAlive: false,
        commandBatching: { depth: 1, batch: 4 },
      },
      policy: { maxConnections: 2 },
    }).login();
    const second = pair.addConnection();
    // Round robin: 1 to each connection, then 2 and 3 behind them, which may wait.
    for (let i = 0; i < 2; i++) read(pair, i);
    expect(pair.session.transmitMayWait).toBe(false);
    takeCommands(pair);
    second.pull();
    second.received.length = 0;
    read(pair, 2);
    read(pair, 3);
    expect(pair.connection.mayWait && second.connection.mayWait).toBe(true);
    expect(pair.session.transmitMayWait).toBe(true);
    // A ping that must go on one connection makes both write what they hold.
    pair.session.ping("p", pair.now);
    expect(pair.session.transmitMayWait).toBe(false);
  });
});
