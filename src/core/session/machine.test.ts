import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../errors.js";
import { AsyncEvent, Opcode } from "../pdu/opcodes.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../text/parameters.js";
import {
  closingEvents,
  CONNECTION_TABLE,
  connectionNext,
  ConnectionTrigger,
  type MachineTable,
  SESSION_TABLE,
  SessionMachine,
  SessionPhase,
  SessionTrigger,
} from "./machine.js";
import { Pair } from "./session.test-util.js";
import { ConnectionState } from "./states.js";

const READ10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);

function reachable<St extends string, Ev extends string>(table: MachineTable<St, Ev>, start: St): Set<St> {
  const seen = new Set<St>([start]);
  const queue = [start];
  for (let state = queue.shift(); state !== undefined; state = queue.shift()) {
    for (const next of Object.values(table[state]) as { to: St }[]) {
      if (!seen.has(next.to)) {
        seen.add(next.to);
        queue.push(next.to);
      }
    }
  }
  return seen;
}

describe("The session's table", () => {
  it("refuses an event it does not list for the current state with a LocalProtocolError", () => {
    const machine = new SessionMachine();
    expect(() => machine.handle(SessionTrigger.ConnectionLost)).toThrow(LocalProtocolError);
    expect(() => machine.handle(SessionTrigger.ConnectionLost)).toThrow(/no transition for connection-lost in FREE/);
    expect(machine.phase).toBe(SessionPhase.Free);
  });

  it("reports the sub-states of LOGGED_IN as the RFC's LOGGED_IN", () => {
    const machine = new SessionMachine();
    machine.handle(SessionTrigger.LoggedIn);
    machine.handle(SessionTrigger.TargetLogoutRequest);
    expect(machine.phase).toBe(SessionPhase.Draining);
    expect(machine.state).toBe("LOGGED_IN");
    machine.handle(SessionTrigger.LogoutToReturn);
    expect(machine.state).toBe("LOGGED_IN");
    machine.handle(SessionTrigger.ConnectionLost);
    expect(machine.state).toBe("FAILED");
  });

  it("has no recovery from a connection lost while logging out for good: only giving up", () => {
    const machine = new SessionMachine();
    machine.handle(SessionTrigger.LoggedIn);
    machine.handle(SessionTrigger.Logout);
    expect(machine.can(SessionTrigger.ConnectionLost)).toBe(false);
    expect(machine.can(SessionTrigger.GiveUp)).toBe(true);
  });

  it("reaches every phase from FREE, and leaves CLOSED by no event", () => {
    expect([...reachable(SESSION_TABLE, SessionPhase.Free)].sort()).toEqual(Object.values(SessionPhase).sort());
    expect(SESSION_TABLE[SessionPhase.Closed]).toEqual({});
    for (const phase of Object.values(SessionPhase)) {
      if (phase !== SessionPhase.Closed) expect(SESSION_TABLE[phase][SessionTrigger.GiveUp]?.to).toBe(SessionPhase.Closed);
    }
  });
});

describe("A connection's table", () => {
  it("refuses an event it does not list for the current state with a LocalProtocolError", () => {
    expect(() => connectionNext(ConnectionState.Free, ConnectionTrigger.LoginAccepted, 3)).toThrow(
      /connection 3: no transition for login-accepted in FREE \(RFC 7143 §8.1.3\)/,
    );
  });

  it("reaches every state from FREE", () => {
    expect([...reachable(CONNECTION_TABLE, ConnectionState.Free)].sort()).toEqual(Object.values(ConnectionState).sort());
  });

  it("brings a connection that closes back to FREE from any state, cleanly or not", () => {
    for (const state of Object.values(ConnectionState)) {
      for (const clean of [true, false]) {
        let at: ConnectionState = state;
        for (const trigger of closingEvents(state, clean)) at = connectionNext(at, trigger, 0);
        expect(at, `${state}, ${clean ? "clean" : "failed"}`).toBe(ConnectionState.Free);
      }
    }
  });
});

describe("The session driven by its table", () => {
  it("keeps holding new commands when a connection joins while a target-requested logout drains", () => {
    const pair = new Pair({
      config: { keepAlive: false, proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: 2 }, recovery: { initialBackoffMs: 100 } },
      policy: { maxConnections: 2 },
    }).login();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "in flight" }, 0);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(pair.target.asyncMessage(AsyncEvent.LogoutRequest, { parameter3: 10 }));
    const second = pair.addConnection();
    pair.session.submit({ lun: 1, cdb: READ10, dataIn: new Uint8Array(512), retry: "safe", context: "new" }, 0);
    pair.target.pull();
    second.pull();
    expect([...pair.target.received, ...second.received].filter((p) => p.opcode === Opcode.ScsiCommand)).toHaveLength(0);
    pair.target.deliver(pair.target.response(command));
    expect(pair.target.take(Opcode.LogoutRequest).reason).toBe(0);
  });
});

describe("The state diagrams in docs/ARCHITECTURE.md", () => {
  it("are the ones the tables draw (node scripts/state-diagram.mjs --check)", () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
    const out = execFileSync(process.execPath, [join(root, "scripts", "state-diagram.mjs"), "--check"], { cwd: root, encoding: "utf8" });
    expect(out).toMatch(/up to date/);
  });
});
