/**
 * One TCP connection of the target, sans I/O: bytes in through `receive`, bytes out through
 * `pollTransmit`, time through the engine's `handleTimeout`. It owns the framer and encoder (with
 * the digests negotiated for it), its StatSN (RFC 7143 §4.2.2.2: per connection), the login
 * (through the core's `TargetLogin`), NOP-In pings of its own, and Reject for PDUs it cannot take.
 * Everything session-wide (the command window, tasks, task management, logout) is the session's.
 */
import { IscsiError, RemoteProtocolError, TimeoutError } from "../../core/errors.js";
import type { Crc32c } from "../../core/digest/crc32c.js";
import { TargetLogin, type TargetLoginOptions, type TargetLoginResult } from "../../core/login/target.js";
import { readU32 } from "../../core/bytes.js";
import { decodePdu, UnknownOpcodeError } from "../../core/pdu/decode.js";
import { type DigestSettings, encodePdu } from "../../core/pdu/encode.js";
import { type Frame, Framer } from "../../core/pdu/framer.js";
import { DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, LoginStage, Opcode, RESERVED_TAG, RejectReason, opcodeName } from "../../core/pdu/opcodes.js";
import type { InitiatorPdu, LoginRequestPdu, LoginResponsePdu, NopInPdu, Pdu, TargetPdu } from "../../core/pdu/types.js";
import { type TextPair, encodeText, parseText } from "../../core/text/codec.js";
import { type ConnectionParameters, DEFAULT_CONNECTION_PARAMETERS } from "../../core/text/parameters.js";
import type { NopInSettings } from "./config.js";
import type { ConnectionEndpoint } from "./events.js";
import type { Retention } from "./retention.js";
import type { HostileConnection, HostileLink } from "../hostile/context.js";

export type ConnectionPhase = "login" | "full-feature" | "closed";

/** What the connection needs from the engine and from the session it joins. */
export interface ConnectionOwner {
  readonly crc32c: Crc32c;
  readonly nopIn: NopInSettings | false;
  readonly loginTimeoutMs: number;
  readonly trace: ((direction: "send" | "receive", connectionId: number, pdu: Pdu) => void) | undefined;
  /** Options for this connection's login; the owner wires target lookup, accounts and TSIHs. */
  loginOptions(connection: TargetConnection, first: LoginRequestPdu): TargetLoginOptions;
  /**
   * A check before the login machine runs (RFC 7143 §6.3: a login that adds a connection to a
   * session must find the session with room for it). Returns a refusal status, or undefined.
   */
  preLogin(connection: TargetConnection, first: LoginRequestPdu): { status: number; detail: string } | undefined;
  /** The login completed: the owner binds the connection to a session. */
  loginComplete(connection: TargetConnection, result: TargetLoginResult, now: number): FullFeatureHandler;
  loginFailed(connection: TargetConnection, error: IscsiError): void;
  /** The connection closed (for whatever reason); called once. */
  closed(connection: TargetConnection, error: IscsiError | undefined, now: number): void;
  protocolError(connection: TargetConnection, error: IscsiError): void;
  /** The window fields every target PDU carries, for a connection not yet in a session. */
  countPing(): void;
  /** Hostile mode (tests): a layer that rewrites what the connection sends. */
  readonly hostile: ((link: HostileLink) => HostileConnection) | undefined;
}

/** What handles full-feature PDUs: the session the connection belongs to. */
export interface FullFeatureHandler {
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  receive(connection: TargetConnection, pdu: InitiatorPdu, frame: Frame, now: number): void;
  /** The framer's placement hook: where a Data-Out or immediate data payload goes, if known. */
  place(connection: TargetConnection, bhs: Uint8Array, length: number): Uint8Array | undefined;
  /**
   * A PDU whose data digest failed (its header digest held). True if it was dealt with and the
   * connection goes on (ErrorRecoveryLevel >= 1); false to reject it and drop the connection.
   */
  damaged(connection: TargetConnection, pdu: InitiatorPdu, frame: Frame, now: number): boolean;
  connectionClosed(connection: TargetConnection, now: number): void;
}

export class TargetConnection {
  readonly id: number;
  readonly endpoint: ConnectionEndpoint;
  readonly #owner: ConnectionOwner;
  #phase: ConnectionPhase = "login";
  #cid = -1;
  #params: ConnectionParameters = DEFAULT_CONNECTION_PARAMETERS;
  readonly #framer: Framer;
  #digests: DigestSettings;
  #tx: Uint8Array[] = [];
  #txBytes = 0;
  #statSN = 0;
  #login: TargetLogin | undefined;
  #loginRewrite: ((pdu: LoginResponsePdu) => LoginResponsePdu) | undefined;
  /** Declarations made so far in this login, to drop same-valued repeats (see #withoutRepeats). */
  readonly #declarations = new Map<string, string>();
  #loginTextContinues = false;
  #handler: FullFeatureHandler | undefined;
  #loginDeadline: number | undefined;
  #lastHeard: number;
  #nextPingAt: number | undefined;
  #pingTag: number | undefined;
  #pingDeadline: number | undefined;
  #nextPingTag = 1;
  #closing = false;
  #error: IscsiError | undefined;
  /** Set once a Logout Response went out: nothing but closing follows (RFC 7143 §11.15). */
  #loggedOut = false;
  /** ERL >= 1: what SNACKs may ask for again. */
  #retention: Retention | undefined;
  /** Hostile mode only. */
  readonly #hostile: HostileConnection | undefined;

  constructor(id: number, endpoint: ConnectionEndpoint, owner: ConnectionOwner, now: number) {
    this.id = id;
    this.endpoint = endpoint;
    this.#owner = owner;
    this.#digests = { headerDigest: false, dataDigest: false, crc32c: owner.crc32c };
    // RFC 7143 §13.12: during login every data segment is bounded by the default 8192.
    this.#framer = new Framer(
      { maxDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, headerDigest: false, dataDigest: false },
      owner.crc32c,
      (bhs, _ahs, length) => (this.#handler === undefined ? undefined : this.#handler.place(this, bhs, length)),
    );
    this.#lastHeard = now;
    this.#loginDeadline = now + owner.loginTimeoutMs;
    if (owner.hostile !== undefined) {
      const digests = (): DigestSettings => this.#digests;
      this.#hostile = owner.hostile({
        encode: (pdu) => encodePdu(pdu, this.#digests),
        get digests() {
          return { header: digests().headerDigest, data: digests().dataDigest };
        },
        takeStatSN: () => this.takeStatSN(),
      });
    }
  }

  get phase(): ConnectionPhase {
    return this.#phase;
  }

  /** The CID the initiator gave this connection; -1 before its first Login Request. */
  get cid(): number {
    return this.#cid;
  }

  get params(): ConnectionParameters {
    return this.#params;
  }

  /** True once the connection is closing or closed: the host must close its transport. */
  get closed(): boolean {
    return this.#closing;
  }

  get error(): IscsiError | undefined {
    return this.#error;
  }

  /** Bytes queued for the transport and not yet taken. */
  get pendingBytes(): number {
    return this.#txBytes;
  }

  /** The StatSN the next status will carry (RFC 7143 §4.2.2.2). */
  get statSN(): number {
    return this.#statSN;
  }

  /** ERL >= 1: what this connection keeps for SNACKs (undefined at ERL 0). */
  get retention(): Retention | undefined {
    return this.#retention;
  }

  /** The session runs at ErrorRecoveryLevel >= 1: numbered responses are kept from now on. */
  keepForSnack(retention: Retention): void {
    this.#retention = retention;
  }

  /** Takes a StatSN for a PDU that carries status. */
  takeStatSN(): number {
    const sn = this.#statSN;
    this.#statSN = (this.#statSN + 1) >>> 0;
    return sn;
  }

  /** Everything queued since the last call, in order, or undefined. */
  pollTransmit(): Uint8Array[] | undefined {
    if (this.#tx.length === 0) return undefined;
    const out = this.#tx;
    this.#tx = [];
    this.#txBytes = 0;
    return out;
  }

  /** Queues a PDU. Nothing is queued once a Logout Response went out or the connection failed. */
  send(pdu: TargetPdu): void {
    if (this.#closing && this.#phase === "closed") return;
    this.#owner.trace?.("send", this.id, pdu);
    let pieces = encodePdu(pdu, this.#digests);
    if (this.#hostile !== undefined) pieces = this.#hostile.outgoing(pdu, pieces);
    for (const piece of pieces) {
      this.#tx.push(piece);
      this.#txBytes += piece.length;
    }
    if (this.#retention !== undefined && !this.#closing) this.#retention.sent(pdu);
  }

  /** Queues raw bytes (tests and, later, hostile mode: PDUs no encoder would write). */
  sendRaw(bytes: Uint8Array): void {
    this.#tx.push(bytes);
    this.#txBytes += bytes.length;
  }

  /**
   * Bytes from the transport. The initiator's errors close the connection; this never throws for
   * them. The connection may keep views of `bytes`: the host must not reuse its memory (see
   * `receiveTransient` for a read buffer used again).
   */
  receive(bytes: Uint8Array, now: number): void {
    if (this.#closing) return;
    this.#heard(now);
    this.#pull(bytes, now);
  }

  /**
   * The same for bytes in a buffer the host reads into again (a socket read buffer): `bytes` is
   * only valid during the call. What the framer still holds of it is copied out before it
   * returns; the session copies what it keeps of a PDU (the engine's rule: decoded PDUs hold
   * views that do not outlive the call that delivered them).
   */
  receiveTransient(bytes: Uint8Array, now: number): void {
    if (this.#closing) return;
    this.#heard(now);
    if (this.#pull(bytes, now) && !this.#closing) this.#framer.detach();
  }

  /**
   * Where the host may have the transport write the next bytes straight away, skipping the
   * framer's copy: the rest of a placed data segment (a write's Data-Out going into the buffer
   * the backend write takes), when at least `minimum` bytes of it are still to come. After such a
   * read, call `receivedDirectly`.
   */
  directRoom(minimum: number): Uint8Array | undefined {
    if (this.#closing) return undefined;
    const room = this.#framer.directRoom();
    return room !== undefined && room.length >= minimum ? room : undefined;
  }

  /** `count` bytes were written by the transport into the view `directRoom` returned. */
  receivedDirectly(count: number, now: number): void {
    if (this.#closing) return;
    this.#heard(now);
    this.#pull(undefined, now, count);
  }

  #heard(now: number): void {
    this.#lastHeard = now;
    if (this.#nextPingAt !== undefined && this.#owner.nopIn !== false) this.#nextPingAt = now + this.#owner.nopIn.intervalMs;
  }

  /** Pushes bytes (or counts a direct read) and handles every complete PDU; false if framing failed. */
  #pull(bytes: Uint8Array | undefined, now: number, direct = 0): boolean {
    try {
      if (bytes !== undefined) this.#framer.push(bytes);
      else this.#framer.filledDirectly(direct);
      for (;;) {
        if (this.#closing) return true;
        const frame = this.#framer.next();
        if (frame === undefined) return true;
        this.#frame(frame, now);
      }
    } catch (error) {
      if (!(error instanceof IscsiError)) throw error;
      // The framer lost framing (header digest, oversized segment) or the login machine refused:
      // at ErrorRecoveryLevel 0 the connection is dropped (RFC 7143 §7.1.5, §7.8).
      this.#owner.protocolError(this, error);
      this.close(error, now);
      return false;
    }
  }

  #frame(frame: Frame, now: number): void {
    if (frame.dataDigestError && this.#phase === "full-feature" && this.#handler !== undefined && this.#damaged(frame, now)) return;
    if (frame.dataDigestError) {
      // RFC 7143 §7.8: a data digest error is answered with Reject (Data-Digest-Error). At
      // ErrorRecoveryLevel 0 the PDU cannot be recovered, so the connection goes too.
      const error = new RemoteProtocolError(
        `${opcodeName(frame.opcode)} (ITT 0x${readU32(frame.bhs, 16).toString(16)}): data digest mismatch`,
      );
      this.reject(frame, RejectReason.DataDigestError);
      this.close(error, now);
      return;
    }
    let pdu: Pdu;
    try {
      pdu = decodePdu(frame);
    } catch (error) {
      if (!(error instanceof RemoteProtocolError) || this.#phase === "login") throw error;
      // Framing is intact: refuse the one PDU and go on (RFC 7143 §11.17.1).
      this.reject(frame, error instanceof UnknownOpcodeError ? RejectReason.CommandNotSupported : RejectReason.InvalidPduField);
      this.#owner.protocolError(this, error);
      return;
    }
    this.#owner.trace?.("receive", this.id, pdu);
    if (this.#phase === "login") {
      this.#loginPdu(pdu, now);
      return;
    }
    if (pdu.opcode >= 0x20) {
      const error = new RemoteProtocolError(`the initiator sent ${opcodeName(pdu.opcode)}, a target opcode`);
      this.reject(frame, RejectReason.ProtocolError);
      this.#owner.protocolError(this, error);
      return;
    }
    if (this.#loggedOut) {
      const error = new RemoteProtocolError(`${opcodeName(pdu.opcode)} after the Logout Response on this connection`);
      this.#owner.protocolError(this, error);
      return;
    }
    if (pdu.opcode === Opcode.LoginRequest) {
      const error = new RemoteProtocolError("Login Request in full feature phase (RFC 7143 §6.3)");
      this.reject(frame, RejectReason.ProtocolError);
      this.#owner.protocolError(this, error);
      this.close(error, now);
      return;
    }
    if (pdu.opcode === Opcode.NopOut && pdu.initiatorTaskTag === RESERVED_TAG) {
      this.#nopOutReply(pdu.targetTransferTag, now);
      return;
    }
    this.#hostile?.incoming(pdu as InitiatorPdu);
    (this.#handler as FullFeatureHandler).receive(this, pdu as InitiatorPdu, frame, now);
  }

  /** RFC 7143 §7.8 at ERL >= 1: the header held, so the session may recover the PDU. */
  #damaged(frame: Frame, now: number): boolean {
    let pdu: Pdu;
    try {
      pdu = decodePdu(frame);
    } catch {
      return false;
    }
    if (pdu.opcode >= 0x20 || pdu.opcode === Opcode.LoginRequest || this.#loggedOut) return false;
    this.#owner.trace?.("receive", this.id, pdu);
    return (this.#handler as FullFeatureHandler).damaged(this, pdu as InitiatorPdu, frame, now);
  }

  // ---------------------------------------------------------------- login

  #loginPdu(pdu: Pdu, now: number): void {
    if (pdu.opcode !== Opcode.LoginRequest) {
      // RFC 7143 §6.3: only Login Requests until the login completes; nothing else is answered.
      throw new RemoteProtocolError(`${opcodeName(pdu.opcode)} during login; only Login Requests are allowed (RFC 7143 §6.3)`);
    }
    if (this.#login === undefined) {
      this.#cid = pdu.cid;
      const refusal = this.#owner.preLogin(this, pdu);
      if (refusal !== undefined) {
        this.send(this.#refusal(pdu, refusal.status));
        const error = new RemoteProtocolError(`login refused: ${refusal.detail}`);
        this.#owner.loginFailed(this, error);
        this.close(error, now);
        return;
      }
      const options = this.#owner.loginOptions(this, pdu);
      this.#statSN = options.statSN >>> 0;
      this.#login = new TargetLogin(options);
    }
    const instead = this.#hostile?.loginRequest(pdu);
    if (instead !== undefined) {
      for (const piece of instead) this.sendRaw(piece);
      return;
    }
    const step = this.#login.receive(this.#withoutRepeats(pdu));
    // Every Login Response consumed a StatSN (RFC 7143 §11.13.4); keep ours in step.
    this.#statSN = (step.pdu.statSN + 1) >>> 0;
    const response = this.#loginRewrite === undefined ? step.pdu : this.#loginRewrite(step.pdu);
    this.send(response);
    switch (step.kind) {
      case "send":
        return;
      case "reject":
      case "redirect": {
        const error = step.kind === "reject" ? step.error : new RemoteProtocolError("login redirected");
        this.#owner.loginFailed(this, error);
        this.close(error, now);
        return;
      }
      case "complete": {
        this.#login = undefined;
        this.#loginRewrite = undefined;
        this.#loginDeadline = undefined;
        this.#phase = "full-feature";
        const params = step.result.connection;
        this.#params = params;
        // RFC 7143 §13.1: digests start with the first PDU after the final Login Response.
        this.#digests = { headerDigest: params.headerDigest, dataDigest: params.dataDigest, crc32c: this.#owner.crc32c };
        this.#framer.configure({
          maxDataSegmentLength: params.maxRecvDataSegmentLength,
          headerDigest: params.headerDigest,
          dataDigest: params.dataDigest,
        });
        this.#handler = this.#owner.loginComplete(this, step.result, now);
        if (this.#owner.nopIn !== false) this.#nextPingAt = now + this.#owner.nopIn.intervalMs;
        return;
      }
    }
  }

  /**
   * libiscsi repeats InitiatorName and SessionType (same values) in its first operational-stage
   * request after a security stage; the core's Negotiator takes any repeat as "negotiated twice"
   * (RFC 7143 §6.2). A declaration repeated with the same value changes nothing, so it is dropped
   * here; one with another value still reaches the login machine and is refused there. Only whole
   * texts are looked at (a key cut by the C bit is left alone).
   */
  #withoutRepeats(pdu: LoginRequestPdu): LoginRequestPdu {
    const whole = !pdu.continue && !this.#loginTextContinues;
    this.#loginTextContinues = pdu.continue;
    if (!whole || pdu.data.length === 0) return pdu;
    let pairs: TextPair[];
    try {
      pairs = parseText(pdu.data, { where: "Login Request" });
    } catch {
      // Malformed text is the login machine's to refuse, with its own message.
      return pdu;
    }
    const kept = pairs.filter(([key, value]) => !(REPEATABLE_DECLARATIONS.has(key) && this.#declarations.get(key) === value));
    for (const [key, value] of pairs) if (REPEATABLE_DECLARATIONS.has(key) && !this.#declarations.has(key)) this.#declarations.set(key, value);
    return kept.length === pairs.length ? pdu : { ...pdu, data: encodeText(kept) };
  }

  /** The session's window replaces the login machine's on a connection joining a session. */
  rewriteLoginResponses(rewrite: (pdu: LoginResponsePdu) => LoginResponsePdu): void {
    this.#loginRewrite = rewrite;
  }

  #refusal(req: LoginRequestPdu, status: number): LoginResponsePdu {
    return {
      opcode: Opcode.LoginResponse,
      transit: false,
      continue: false,
      currentStage: req.currentStage,
      nextStage: LoginStage.Security,
      versionMax: 0,
      versionActive: 0,
      isid: req.isid,
      tsih: req.tsih,
      initiatorTaskTag: req.initiatorTaskTag,
      statSN: 0,
      expCmdSN: req.cmdSN,
      maxCmdSN: req.cmdSN,
      statusClass: status >> 8,
      statusDetail: status & 0xff,
      data: new Uint8Array(0),
    };
  }

  /** Updates what the initiator accepts (a Text Request renegotiated MaxRecvDataSegmentLength). */
  updateSendLimit(maxSendDataSegmentLength: number): void {
    this.#params = { ...this.#params, maxSendDataSegmentLength };
  }

  // ---------------------------------------------------------------- replies of the connection's own

  /**
   * RFC 7143 §11.17: refuses one PDU, echoing its header. The Reject consumes a StatSN. A command
   * PDU's CmdSN is the session's business (see the session's reject handling).
   */
  reject(frame: Frame, reason: number): void {
    const header = new Uint8Array(frame.bhs.length + frame.ahs.length);
    header.set(frame.bhs, 0);
    header.set(frame.ahs, frame.bhs.length);
    const window = this.#handler;
    this.send({
      opcode: Opcode.Reject,
      reason,
      statSN: this.takeStatSN(),
      expCmdSN: window?.expCmdSN ?? readU32(frame.bhs, 24),
      maxCmdSN: window?.maxCmdSN ?? readU32(frame.bhs, 24),
      dataSNOrR2TSN: 0,
      data: header,
    });
  }

  /** The initiator's NOP-Out answering our ping (ITT 0xffffffff, RFC 7143 §11.18.1). */
  #nopOutReply(ttt: number, now: number): void {
    if (ttt === this.#pingTag) {
      this.#pingTag = undefined;
      this.#pingDeadline = undefined;
      if (this.#owner.nopIn !== false) this.#nextPingAt = now + this.#owner.nopIn.intervalMs;
    }
    // Otherwise a keep-alive of the initiator's own (TTT 0xffffffff): nothing to answer.
  }

  // ---------------------------------------------------------------- time

  /** The earliest time `handleTimeout` has something to do, or undefined. */
  pollTimeout(): number | undefined {
    if (this.#closing) return undefined;
    let at = this.#loginDeadline;
    const nop = this.#pingDeadline ?? (this.#pingTag === undefined ? this.#nextPingAt : undefined);
    if (nop !== undefined && (at === undefined || nop < at)) at = nop;
    return at;
  }

  handleTimeout(now: number): void {
    if (this.#closing) return;
    if (this.#loginDeadline !== undefined && now >= this.#loginDeadline) {
      const error = new TimeoutError(`login not complete within ${this.#owner.loginTimeoutMs} ms`);
      this.#owner.loginFailed(this, error);
      this.close(error, now);
      return;
    }
    const nop = this.#owner.nopIn;
    if (nop === false || this.#phase !== "full-feature" || this.#handler === undefined) return;
    if (this.#pingDeadline !== undefined && now >= this.#pingDeadline) {
      this.close(new TimeoutError(`no answer to a NOP-In ping within ${nop.timeoutMs} ms (connection ${this.#cid})`), now);
      return;
    }
    if (this.#pingTag === undefined && this.#nextPingAt !== undefined && now >= this.#nextPingAt) {
      // RFC 7143 §11.19: a NOP-In with a valid TTT asks for a NOP-Out; ITT 0xffffffff, and the
      // StatSN it carries is not consumed.
      const tag = this.#nextPingTag;
      this.#nextPingTag = this.#nextPingTag >= 0x7fff_ffff ? 1 : this.#nextPingTag + 1;
      this.#pingTag = tag;
      this.#pingDeadline = now + nop.timeoutMs;
      const ping: NopInPdu = {
        opcode: Opcode.NopIn,
        lun: 0,
        initiatorTaskTag: RESERVED_TAG,
        targetTransferTag: tag,
        statSN: this.#statSN,
        expCmdSN: this.#handler.expCmdSN,
        maxCmdSN: this.#handler.maxCmdSN,
        data: new Uint8Array(0),
      };
      this.#owner.countPing();
      this.send(ping);
    }
  }

  /** Milliseconds since the initiator was last heard from. */
  idleFor(now: number): number {
    return now - this.#lastHeard;
  }

  // ---------------------------------------------------------------- closing

  /** After the Logout Response: the initiator sends nothing more and closes (RFC 7143 §11.15). */
  markLoggedOut(): void {
    this.#loggedOut = true;
  }

  /**
   * Closes the connection: `error` says why (undefined after a logout). The session forgets it;
   * the host writes what is still queued and closes the transport. Idempotent.
   */
  close(error: IscsiError | undefined, now: number): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#error = error;
    const handler = this.#handler;
    this.#handler = undefined;
    // The session looks at what was kept first: at ERL 2 unacknowledged status outlives the
    // connection, for TASK REASSIGN (RFC 7143 §6.2.2).
    handler?.connectionClosed(this, now);
    this.#retention?.clear();
    this.#owner.closed(this, error, now);
  }

  /** The host's transport closed (the initiator went away). */
  transportClosed(now: number): void {
    if (this.#closing) {
      this.#phase = "closed";
      return;
    }
    this.close(this.#loggedOut ? undefined : new RemoteProtocolError(`connection ${this.#cid} closed by the initiator`), now);
    this.#phase = "closed";
  }
}

/** Declarative login keys an initiator may repeat with the same value. */
const REPEATABLE_DECLARATIONS: ReadonlySet<string> = new Set(["InitiatorName", "SessionType", "TargetName", "InitiatorAlias"]);
