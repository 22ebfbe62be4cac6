/**
 * Test support: an initiator `Session` wired in memory to a scripted target. The target logs in
 * with the real `TargetLogin` machine and the real codec; after login the test decides what the
 * target answers. A simulated clock drives time. No node: imports (this is core code): the
 * target logs in without CHAP, so no hash is ever needed.
 */
import type { HashFunction } from "../auth/hash.js";
import { crc32c } from "../digest/crc32c.js";
import { seededRandomBytes } from "../login/pair.test-util.js";
import { TargetLogin } from "../login/target.js";
import { decodePdu } from "../pdu/decode.js";
import { encodePdu } from "../pdu/encode.js";
import { Framer } from "../pdu/framer.js";
import { scsiResponse } from "../pdu/frames.test-util.js";
import { Opcode, RejectReason, RESERVED_TAG } from "../pdu/opcodes.js";
import type {
  AsyncMessagePdu,
  DataInPdu,
  InitiatorPdu,
  LoginRequestPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  TargetPdu,
} from "../pdu/types.js";
import { serialAdd } from "../serial.js";
import type { ConnectionParameters, TargetPolicy } from "../text/parameters.js";
import { DEFAULT_INITIATOR_PROPOSAL, DEFAULT_TARGET_POLICY } from "../text/parameters.js";
import type { Connection } from "./connection.js";
import { Session, type SessionConfig } from "./session.js";

/** The pair's hash: never called, since its target offers AuthMethod=None only. */
const noHash: HashFunction = (algorithm) => {
  throw new Error(`test: the scripted target logs in without CHAP, yet ${algorithm} was asked for`);
};

export const TARGET_NAME = "iqn.2026-11.test:pair";

export interface PairSetup {
  readonly config?: Partial<SessionConfig>;
  readonly policy?: Partial<TargetPolicy>;
  /** Seed of the initiator's random bytes: decides the initial CmdSN. */
  readonly seed?: number;
  /** Initial window of the target (MaxCmdSN - ExpCmdSN + 1). */
  readonly window?: number;
}

/** A scripted target on one connection: the pair's current one, or one given (MC/S). */
export class ScriptedTarget {
  readonly received: InitiatorPdu[] = [];
  private readonly framer: Framer;
  statSN = 1000;
  expCmdSN = 0;
  maxCmdSN = 0;
  params: ConnectionParameters | undefined;
  private digests = { headerDigest: false, dataDigest: false, crc32c };

  constructor(
    private readonly pair: Pair,
    private readonly login: TargetLogin,
    private readonly bound?: Connection,
  ) {
    this.framer = new Framer({ maxDataSegmentLength: 0xff_ffff, headerDigest: false, dataDigest: false }, crc32c);
  }

  /** The initiator connection this target talks to. */
  get connection(): Connection {
    return this.bound ?? this.pair.connection;
  }

  /** Takes what the initiator transmitted and handles login PDUs itself. */
  pull(): void {
    const pieces = this.connection.pollTransmit();
    if (pieces === undefined) return;
    for (const piece of pieces) this.framer.push(piece.slice());
    for (;;) {
      const frame = this.framer.next();
      if (frame === undefined) break;
      const pdu = decodePdu(frame) as InitiatorPdu;
      if (pdu.opcode === Opcode.LoginRequest) {
        this.onLogin(pdu);
        continue;
      }
      this.received.push(pdu);
    }
  }

  private onLogin(pdu: LoginRequestPdu): void {
    const step = this.login.receive(pdu);
    this.deliver(step.pdu);
    if (step.kind === "complete") {
      this.params = step.result.connection;
      this.statSN = serialAdd(step.result.statSN, 1);
      this.expCmdSN = step.result.expCmdSN;
      this.maxCmdSN = step.result.maxCmdSN;
      this.digests = { headerDigest: step.result.connection.headerDigest, dataDigest: step.result.connection.dataDigest, crc32c };
      this.framer.configure({ headerDigest: this.digests.headerDigest, dataDigest: this.digests.dataDigest });
    }
  }

  /** Encodes a target PDU and hands its bytes to the initiator connection. */
  deliver(pdu: TargetPdu, split = 0, corruptDataByte?: number): void {
    const pieces = encodePdu(pdu, this.digests);
    if (corruptDataByte !== undefined) {
      // Flip a bit in the data segment (piece 1): the data digest no longer matches.
      const data = (pieces[1] as Uint8Array).slice();
      data[corruptDataByte] = (data[corruptDataByte] as number) ^ 0x10;
      pieces[1] = data;
    }
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const p of pieces) {
      bytes.set(p, at);
      at += p.length;
    }
    if (split > 0) {
      for (let i = 0; i < bytes.length; i += split) this.connection.receive(bytes.slice(i, i + split), this.pair.now);
    } else {
      this.connection.receive(bytes, this.pair.now);
    }
  }

  /** Takes the next PDU the initiator sent (after pull()). */
  take<O extends InitiatorPdu["opcode"]>(opcode: O): Extract<InitiatorPdu, { opcode: O }> {
    this.pull();
    const index = this.received.findIndex((p) => p.opcode === opcode);
    if (index < 0) throw new Error(`test: no PDU with opcode 0x${opcode.toString(16)} was sent (have ${this.received.map((p) => p.opcode).join(",")})`);
    const [pdu] = this.received.splice(index, 1);
    return pdu as Extract<InitiatorPdu, { opcode: O }>;
  }

  /** Accounts a command in CmdSN order (non-immediate ones advance ExpCmdSN and MaxCmdSN). */
  accept(command: { readonly immediate: boolean }): void {
    if (!command.immediate) {
      this.expCmdSN = serialAdd(this.expCmdSN, 1);
      this.maxCmdSN = serialAdd(this.maxCmdSN, 1);
    }
  }

  nextStatSN(): number {
    const sn = this.statSN;
    this.statSN = serialAdd(this.statSN, 1);
    return sn;
  }

  response(command: ScsiCommandPdu, fields: Partial<ScsiResponsePdu> = {}): ScsiResponsePdu {
    return scsiResponse({
      initiatorTaskTag: command.initiatorTaskTag,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      ...fields,
    });
  }

  /** An Asynchronous Message (RFC 7143 §11.9) with the next StatSN. */
  asyncMessage(asyncEvent: number, fields: Partial<AsyncMessagePdu> = {}): AsyncMessagePdu {
    return {
      opcode: Opcode.AsyncMessage,
      lun: 0,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      asyncEvent,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 0,
      data: new Uint8Array(0),
      ...fields,
    };
  }

  /** The target's Reject of a PDU whose data digest failed (RFC 7143 §11.17): its header, with the ITT, as data. */
  rejectForDataDigest(rejected: number, itt: number): void {
    const header = new Uint8Array(48);
    header[0] = rejected;
    new DataView(header.buffer).setUint32(16, itt);
    this.deliver({
      opcode: Opcode.Reject,
      reason: RejectReason.DataDigestError,
      statSN: this.nextStatSN(),
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      dataSNOrR2TSN: 0,
      data: header,
    });
  }

  dataIn(command: ScsiCommandPdu, data: Uint8Array, fields: Partial<DataInPdu> = {}): DataInPdu {
    const withStatus = fields.hasStatus === true;
    return {
      opcode: Opcode.DataIn,
      final: withStatus,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      hasStatus: false,
      status: 0,
      lun: command.lun,
      initiatorTaskTag: command.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      statSN: withStatus ? this.nextStatSN() : 0,
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 0,
      data,
      ...fields,
    };
  }
}

export class Pair {
  now = 0;
  readonly session: Session<string>;
  connection: Connection;
  target: ScriptedTarget;
  private readonly setup: PairSetup;
  private tsih = 0x1234;

  constructor(setup: PairSetup = {}) {
    const random = seededRandomBytes(setup.seed ?? 7);
    this.session = new Session<string>(
      {
        initiatorName: "iqn.2026-11.test:initiator",
        targetName: TARGET_NAME,
        sessionType: "Normal",
        ...setup.config,
      },
      { crc32c, randomBytes: random, hash: noHash },
    );
    this.setup = setup;
    this.connection = this.session.openConnection(this.now);
    this.target = new ScriptedTarget(this, this.targetLogin());
  }

  private targetLogin(): TargetLogin {
    const policy: TargetPolicy = { ...DEFAULT_TARGET_POLICY, ...this.setup.policy };
    const tsih = this.tsih++;
    return new TargetLogin({
      portalGroupTag: 1,
      resolveTarget: (name) =>
        name === TARGET_NAME ? { kind: "target", target: { name, authMethods: ["None"] } } : { kind: "not-found" },
      lookupAccount: () => undefined,
      discovery: { authMethods: ["None"] },
      allocateTsih: () => tsih,
      // A connection joining the session (MC/S): the target's session is the one negotiated.
      findSession: (isid, sessionTsih) => (isid === this.session.isid && sessionTsih === this.session.tsih ? this.session.params : undefined),
      policy,
      statSN: 500,
      commandWindow: this.setup.window ?? 32,
      hash: noHash,
      randomBytes: seededRandomBytes(99),
    });
  }

  /** A new connection and a fresh target side for it (the host's answer to a reconnect event). */
  reconnect(): this {
    this.connection = this.session.openConnection(this.now);
    this.target = new ScriptedTarget(this, this.targetLogin());
    return this.login(false);
  }

  /**
   * Logs one more connection into the session (MC/S, RFC 7143 §4.3.1), with a scripted target of
   * its own: the session must have negotiated MaxConnections above its connections. The pair's
   * `connection` and `target` stay the leading ones.
   */
  addConnection(): ScriptedTarget {
    const connection = this.session.openConnection(this.now);
    const target = new ScriptedTarget(this, this.targetLogin(), connection);
    this.session.transportConnected(connection, this.now);
    for (let i = 0; i < 16 && !connection.usable && !connection.closed; i++) target.pull();
    if (!connection.usable) throw new Error(`test: connection ${connection.cid} did not log in (${connection.error?.message})`);
    this.events();
    return target;
  }

  /** Runs the login to completion. */
  login(drainEvents = true): this {
    this.session.transportConnected(this.connection, this.now);
    for (let i = 0; i < 16 && !this.connection.usable && !this.connection.closed; i++) this.target.pull();
    if (this.session.state !== "LOGGED_IN") throw new Error(`test: login did not complete (${this.connection.error?.message})`);
    if (drainEvents) this.events();
    return this;
  }

  /** Drains the session's events. */
  events(): Array<ReturnType<Session<string>["nextEvent"]> & object> {
    const out: Array<ReturnType<Session<string>["nextEvent"]> & object> = [];
    for (;;) {
      const e = this.session.nextEvent();
      if (e === undefined) return out;
      out.push(e);
    }
  }

  advance(ms: number): void {
    this.now += ms;
    this.session.handleTimeout(this.now);
  }
}

/**
 * A logged-in pair with CRC32C header and data digests at `erl` on both sides, keep-alive and
 * recovery off; `setup` adds to it (a session option, the target's window).
 */
export function digestPair(erl: number, setup: { readonly config?: Partial<SessionConfig>; readonly window?: number } = {}): Pair {
  const digests = { headerDigest: ["CRC32C" as const], dataDigest: ["CRC32C" as const], errorRecoveryLevel: erl };
  return new Pair({
    config: { keepAlive: false, recovery: { enabled: false }, proposal: { ...DEFAULT_INITIATOR_PROPOSAL, ...digests }, ...setup.config },
    policy: digests,
    ...(setup.window === undefined ? {} : { window: setup.window }),
  }).login();
}
