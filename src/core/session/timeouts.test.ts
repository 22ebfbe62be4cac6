import { describe, expect, it } from "vitest";
import { SessionClosedError, TimeoutError } from "../errors.js";
import { AsyncEvent, Opcode, RESERVED_TAG } from "../pdu/opcodes.js";
import { Pair } from "./session.test-util.js";

const READ10 = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);

describe("Session timers (one table, nothing polled)", () => {
  it("asks to be woken at a command's deadline, not on a tick, and not at all once it completed", () => {
    const pair = new Pair({ config: { keepAlive: false } }).login();
    expect(pair.session.pollTimeout()).toBeUndefined();
    pair.session.submit({ lun: 0, cdb: READ10, dataIn: new Uint8Array(512), timeoutMs: 2000, budgetMs: 9000, context: "r" }, 0);
    expect(pair.session.pollTimeout()).toBe(2000);
    const command = pair.target.take(Opcode.ScsiCommand);
    pair.target.accept(command);
    pair.target.deliver(pair.target.dataIn(command, new Uint8Array(512), { hasStatus: true }));
    expect(pair.events().map((e) => e.type)).toEqual(["command-complete"]);
    expect(pair.session.pollTimeout()).toBeUndefined();
  });

  it("wakes for the login bound of a connection still connecting, then of its login", () => {
    const pair = new Pair({ config: { keepAlive: false, loginTimeoutMs: 5000 } });
    expect(pair.session.pollTimeout()).toBe(5000);
    pair.now = 1200;
    pair.session.transportConnected(pair.connection, pair.now);
    expect(pair.session.pollTimeout()).toBe(6200);
    pair.advance(5000);
    expect(pair.connection.closed).toBe(true);
    expect(pair.connection.error?.message).toBe("connection 0: login timed out");
  });

  it("moves the keep-alive to the interval after the last PDU received instead of pinging a connection that is not idle", () => {
    const pair = new Pair({ config: { keepAlive: { intervalMs: 1000, timeoutMs: 3000 } } }).login();
    expect(pair.session.pollTimeout()).toBe(1000);
    pair.now = 600;
    pair.target.deliver({
      opcode: Opcode.NopIn,
      lun: 0,
      initiatorTaskTag: RESERVED_TAG,
      targetTransferTag: RESERVED_TAG,
      statSN: pair.target.statSN,
      expCmdSN: pair.target.expCmdSN,
      maxCmdSN: pair.target.maxCmdSN,
      data: new Uint8Array(0),
    });
    pair.advance(400);
    pair.target.pull();
    expect(pair.target.received).toHaveLength(0);
    expect(pair.session.pollTimeout()).toBe(1600);
    pair.advance(600);
    expect(pair.target.take(Opcode.NopOut).initiatorTaskTag).not.toBe(RESERVED_TAG);
    expect(pair.session.pollTimeout()).toBe(1600 + 3000);
  });

  it("keeps no timer of a connection that closed", () => {
    const pair = new Pair({ config: { keepAlive: { intervalMs: 1000, timeoutMs: 3000 }, recovery: { enabled: false } } }).login();
    pair.session.close(new SessionClosedError("closed by the test"), 0);
    expect(pair.connection.closed).toBe(true);
    expect(pair.session.pollTimeout()).toBeUndefined();
  });
});

describe("Session timeouts told apart (TimeoutError.kind, one code ISCSI_ERR_TIMEOUT)", () => {
  function timeoutOf(error: unknown): { code: string; kind: string } {
    if (!(error instanceof TimeoutError)) throw new Error(`test: not a TimeoutError: ${String(error)}`);
    return { code: error.code, kind: error.kind };
  }

  it("names a connection that never connected a connect timeout, and one that never logged in a login timeout", () => {
    const connecting = new Pair({ config: { keepAlive: false, loginTimeoutMs: 1000 } });
    connecting.advance(1000);
    expect(timeoutOf(connecting.connection.error)).toEqual({ code: "ISCSI_ERR_TIMEOUT", kind: "connect" });
    const login = new Pair({ config: { keepAlive: false, loginTimeoutMs: 1000 } });
    login.session.transportConnected(login.connection, 0);
    login.advance(1000);
    expect(timeoutOf(login.connection.error)).toEqual({ code: "ISCSI_ERR_TIMEOUT", kind: "login" });
  });

  it("names an unanswered logout a logout timeout and a silent connection a keep-alive timeout", () => {
    const logout = new Pair({ config: { keepAlive: false, logoutTimeoutMs: 1000 } }).login();
    logout.session.logout(0);
    logout.advance(1000);
    expect(timeoutOf(logout.connection.error).kind).toBe("logout");
    const silent = new Pair({ config: { keepAlive: { intervalMs: 1000, timeoutMs: 2000 }, recovery: { enabled: false } } }).login();
    silent.advance(1000);
    silent.advance(2000);
    expect(timeoutOf(silent.connection.error).kind).toBe("keep-alive");
  });

  it("names a command that passed its budget a command timeout and an unanswered ping a request timeout", () => {
    const pair = new Pair({ config: { keepAlive: false, requestTimeoutMs: 500 } }).login();
    pair.session.ping("p", 0);
    pair.session.submit({ lun: 0, cdb: READ10, dataIn: new Uint8Array(512), budgetMs: 800, context: "r" }, 0);
    pair.advance(500);
    pair.advance(300);
    const failures = pair.events().flatMap((e) => (e.type === "command-failed" || e.type === "request-failed" ? [[e.context, timeoutOf(e.error).kind]] : []));
    expect(failures).toEqual([
      ["p", "request"],
      ["r", "command"],
    ]);
  });

  it("records a keep-alive timeout as the cause of the recovery it starts, with the Time2Wait the target announced", () => {
    const pair = new Pair({ config: { keepAlive: { intervalMs: 1000, timeoutMs: 2000 }, recovery: { initialBackoffMs: 10, maxBackoffMs: 10 } } }).login();
    pair.target.deliver(pair.target.asyncMessage(AsyncEvent.DropConnection, { parameter2: 7 }));
    pair.advance(1000);
    pair.advance(2000);
    const [record] = pair.session.recoveries;
    expect(record?.cause).toBe("keepalive-timeout");
    pair.events();
    pair.advance(6999);
    expect(pair.events().map((e) => e.type)).not.toContain("reconnect");
    pair.advance(1);
    expect(pair.events().map((e) => e.type)).toContain("reconnect");
  });
});
