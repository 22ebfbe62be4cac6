/**
 * The embedded target's protocol engine, sans I/O: the host accepts TCP connections and hands
 * them to `accept`, feeds their bytes to `TargetConnection.receive`, writes what
 * `pollTransmit` gives, performs the storage requests `nextEvent` hands out (then calls
 * `completeStorage`), and passes time in through `handleTimeout`. Nothing here touches a socket,
 * a clock or a file.
 *
 * The engine owns what is target-wide: the target nodes and their logical units, the session
 * table (TSIH allocation, session reinstatement, connections joining sessions), storage request
 * ids, the event queue and the counters.
 */
import type { ChapAccount } from "../../core/auth/chap.js";
import type { HashFunction, RandomBytes } from "../../core/auth/hash.js";
import type { Crc32c } from "../../core/digest/crc32c.js";
import type { DiscoveredTarget } from "../../core/discovery/send-targets.js";
import { LocalProtocolError, SessionClosedError } from "../../core/errors.js";
import { checkIscsiName } from "../../core/iscsi-name.js";
import type { AuthPolicy, TargetLoginOptions, TargetLoginResult, TargetNode } from "../../core/login/target.js";
import { LoginStatus } from "../../core/login/status.js";
import { readU32 } from "../../core/bytes.js";
import { IntMap } from "../../core/int-map.js";
import { AsyncEvent, Opcode } from "../../core/pdu/opcodes.js";
import type { LoginRequestPdu, Pdu } from "../../core/pdu/types.js";
import { EMBEDDED_TARGET_POLICY, type EngineConfig, type ResolvedEngineConfig, type ResolvedTarget, resolveEngineConfig } from "./config.js";
import { type ConnectionOwner, type FullFeatureHandler, TargetConnection } from "./connection.js";
import type { ConnectionEndpoint, EngineEvent, EngineStats, SessionCloseReason } from "./events.js";
import { executeScsi, needsExclusiveUnit } from "./scsi/executor.js";
import { LogicalUnit } from "./scsi/logical-unit.js";
import type { ScsiResult } from "./scsi/port.js";
import { Sense, checkCondition } from "./scsi/results.js";
import type { ScsiTask } from "./scsi-task.js";
import { type SessionOwner, TargetSession } from "./session.js";
import { type StorageOperation, type StorageOutcome, storageRequest } from "./storage.js";
import { hostileConnections } from "../hostile/index.js";
import { BufferPool } from "./buffer-pool.js";

/** Host services the engine cannot own. */
export interface EngineDeps {
  readonly crc32c: Crc32c;
  readonly hash: HashFunction;
  readonly randomBytes: RandomBytes;
}

export interface EngineOptions {
  /** Every PDU sent and received (for a -v trace or a test). */
  readonly trace?: (direction: "send" | "receive", connectionId: number, pdu: Pdu) => void;
}

interface TargetRuntime {
  readonly def: ResolvedTarget;
  readonly units: ReadonlyMap<number, LogicalUnit>;
}

export interface AsyncNotice {
  /** Seconds (RFC 7143 §11.9.1 Parameter2/3). */
  readonly time2Wait?: number;
  readonly time2Retain?: number;
}

/** At most this many bytes of write buffers are kept for reuse. */
const WRITE_BUFFER_POOL_BYTES = 64 * 1024 * 1024;

export class TargetEngine {
  readonly config: ResolvedEngineConfig;
  readonly #deps: EngineDeps;
  readonly #trace: EngineOptions["trace"];
  readonly #targets = new Map<string, TargetRuntime>();
  readonly #sessions = new Map<number, TargetSession>();
  readonly #connections = new Map<number, TargetConnection>();
  readonly #events: EngineEvent[] = [];
  #eventHead = 0;
  /** Storage requests in flight by id: an IntMap, as every per-command map (core/int-map.ts). */
  readonly #storage = new IntMap<(outcome: StorageOutcome) => void>();
  #nextStorageId = 1;
  #nextConnectionId = 1;
  #nextTsih = 1;
  readonly #stats: EngineStats = {
    connectionsAccepted: 0,
    connectionsOpen: 0,
    sessionsCreated: 0,
    sessionsOpen: 0,
    loginFailures: 0,
    commands: 0,
    bytesRead: 0,
    bytesWritten: 0,
    r2ts: 0,
    rejects: 0,
    taskManagement: 0,
    nopInPings: 0,
    dataDigestErrors: 0,
    snacks: 0,
    dataAcks: 0,
    retransmissions: 0,
    recoveryR2Ts: 0,
    retentionSkips: 0,
  };
  readonly #connectionOwner: ConnectionOwner;
  readonly #sessionOwner: SessionOwner;
  /**
   * Write buffers used again (see buffer-pool.ts). Off when something outside the engine may keep
   * a Data-Out's payload, which is a view of its buffer: a trace, or hostile mode's layer.
   */
  readonly #writeBuffers: BufferPool;

  constructor(config: EngineConfig, deps: EngineDeps, options: EngineOptions = {}) {
    this.config = resolveEngineConfig(config);
    this.#deps = deps;
    this.#trace = options.trace;
    this.#writeBuffers = new BufferPool(options.trace === undefined && this.config.hostile === undefined ? WRITE_BUFFER_POOL_BYTES : 0);
    for (const target of this.config.targets) {
      const units = new Map<number, LogicalUnit>();
      for (const lun of target.luns) units.set(lun.lun, new LogicalUnit(target.iqn, lun, this.config.maxTransferBytes));
      this.#targets.set(target.iqn, { def: target, units });
    }
    this.#connectionOwner = this.#makeConnectionOwner();
    this.#sessionOwner = this.#makeSessionOwner();
  }

  // ---------------------------------------------------------------- the host's side

  /** A new transport connection: it starts in the login phase. */
  accept(endpoint: ConnectionEndpoint, now: number): TargetConnection {
    const connection = new TargetConnection(this.#nextConnectionId++, endpoint, this.#connectionOwner, now);
    this.#connections.set(connection.id, connection);
    this.#stats.connectionsAccepted++;
    this.#stats.connectionsOpen++;
    return connection;
  }

  connection(id: number): TargetConnection | undefined {
    return this.#connections.get(id);
  }

  get connections(): readonly TargetConnection[] {
    return [...this.#connections.values()];
  }

  get sessions(): readonly TargetSession[] {
    return [...this.#sessions.values()];
  }

  session(tsih: number): TargetSession | undefined {
    return this.#sessions.get(tsih);
  }

  /** The logical unit `lun` of `target`, if configured. */
  unit(target: string, lun: number): LogicalUnit | undefined {
    return this.#targets.get(target)?.units.get(lun);
  }

  get units(): readonly LogicalUnit[] {
    return [...this.#targets.values()].flatMap((t) => [...t.units.values()]);
  }

  get stats(): Readonly<EngineStats> {
    return { ...this.#stats };
  }

  nextEvent(): EngineEvent | undefined {
    if (this.#eventHead >= this.#events.length) {
      if (this.#eventHead > 0) {
        this.#events.length = 0;
        this.#eventHead = 0;
      }
      return undefined;
    }
    return this.#events[this.#eventHead++];
  }

  /** The outcome of a storage request from a "storage" event. Unknown ids are ignored. */
  completeStorage(id: number, outcome: StorageOutcome, _now: number): void {
    const then = this.#storage.get(id);
    if (then === undefined) return;
    this.#storage.delete(id);
    then(outcome);
  }

  /** Storage requests handed out and not completed. */
  get storageInFlight(): number {
    return this.#storage.size;
  }

  pollTimeout(): number | undefined {
    let at: number | undefined;
    for (const connection of this.#connections.values()) {
      const t = connection.pollTimeout();
      if (t !== undefined && (at === undefined || t < at)) at = t;
    }
    // ERL 2: Time2Retain of the tasks of lost connections, and of sessions left with none.
    for (const session of this.#sessions.values()) {
      const t = session.pollTimeout();
      if (t !== undefined && (at === undefined || t < at)) at = t;
    }
    return at;
  }

  handleTimeout(now: number): void {
    for (const connection of [...this.#connections.values()]) connection.handleTimeout(now);
    for (const session of [...this.#sessions.values()]) session.handleTimeout(now);
  }

  /** Closes every session and connection (the host then closes its transports). */
  shutdown(now: number): void {
    for (const session of [...this.#sessions.values()]) session.end("shutdown", new SessionClosedError("the target is shutting down"));
    for (const connection of [...this.#connections.values()]) connection.close(new SessionClosedError("the target is shutting down"), now);
  }

  // ---------------------------------------------------------------- controls (tests, fault injection)

  /** RFC 7143 §11.9.1 AsyncEvent 1: asks the initiator to log out within `seconds`. */
  requestLogout(connectionId: number, seconds = 10): void {
    this.#asyncMessage(this.#fullFeature(connectionId), AsyncEvent.LogoutRequest, 0, 0, seconds);
  }

  /**
   * Drops one connection; with `announce`, RFC 7143 §11.9.1 AsyncEvent 2 tells the initiator
   * first (Parameter1 CID, Parameter2 Time2Wait, Parameter3 Time2Retain).
   */
  dropConnection(connectionId: number, now: number, announce = true, notice: AsyncNotice = {}): void {
    const connection = this.#connections.get(connectionId);
    if (connection === undefined) throw new LocalProtocolError(`no connection ${connectionId}`);
    if (announce && connection.phase === "full-feature") {
      this.#asyncMessage(connection, AsyncEvent.DropConnection, connection.cid, notice.time2Wait ?? 0, notice.time2Retain ?? 0);
    }
    connection.close(new SessionClosedError(`connection ${connection.cid} dropped by the target`), now);
  }

  /** Drops every connection of a session; with `announce`, AsyncEvent 3 on each first. */
  dropSession(tsih: number, announce = true, notice: AsyncNotice = {}): void {
    const session = this.#sessions.get(tsih);
    if (session === undefined) throw new LocalProtocolError(`no session with TSIH ${tsih}`);
    if (announce) {
      for (const connection of session.connections) {
        this.#asyncMessage(connection, AsyncEvent.DropAllConnections, 0, notice.time2Wait ?? 0, notice.time2Retain ?? 0);
      }
    }
    session.end("dropped", new SessionClosedError(`session ${tsih} dropped by the target`));
  }

  /** AsyncEvent 4: the target asks for renegotiation (Parameter3: seconds to start it). */
  requestRenegotiation(connectionId: number, seconds = 10): void {
    this.#asyncMessage(this.#fullFeature(connectionId), AsyncEvent.Renegotiate, 0, 0, seconds);
  }

  /** AsyncEvent 0: a SCSI asynchronous event with its sense data, for `lun`. */
  scsiAsyncEvent(connectionId: number, lun: number, sense: Uint8Array): void {
    const data = new Uint8Array(2 + sense.length);
    data[0] = sense.length >> 8;
    data[1] = sense.length & 0xff;
    data.set(sense, 2);
    this.#asyncMessage(this.#fullFeature(connectionId), AsyncEvent.ScsiAsyncEvent, 0, 0, 0, lun, data);
  }

  #fullFeature(connectionId: number): TargetConnection {
    const connection = this.#connections.get(connectionId);
    if (connection === undefined || connection.phase !== "full-feature" || connection.closed) {
      throw new LocalProtocolError(`connection ${connectionId} is not in full feature phase`);
    }
    return connection;
  }

  #asyncMessage(connection: TargetConnection, event: number, p1: number, p2: number, p3: number, lun = 0, data = new Uint8Array(0)): void {
    const session = this.#sessionOf(connection);
    connection.send({
      opcode: Opcode.AsyncMessage,
      lun,
      // RFC 7143 §11.9: an Asynchronous Message carries status: it takes a StatSN.
      statSN: connection.takeStatSN(),
      expCmdSN: session?.expCmdSN ?? 0,
      maxCmdSN: session?.maxCmdSN ?? 0,
      asyncEvent: event,
      asyncVCode: 0,
      parameter1: p1,
      parameter2: p2,
      parameter3: p3,
      data,
    });
  }

  #sessionOf(connection: TargetConnection): TargetSession | undefined {
    for (const session of this.#sessions.values()) if (session.connectionByCid(connection.cid) === connection) return session;
    return undefined;
  }

  // ---------------------------------------------------------------- internals

  #emit(event: EngineEvent): void {
    this.#events.push(event);
  }

  #allocateTsih(): number {
    for (let i = 0; i < 0xffff; i++) {
      const tsih = this.#nextTsih;
      this.#nextTsih = this.#nextTsih >= 0xffff ? 1 : this.#nextTsih + 1;
      if (!this.#sessions.has(tsih)) return tsih;
    }
    throw new LocalProtocolError("no free TSIH: 65535 sessions are open");
  }

  #authPolicy(users: ReadonlyMap<string, ChapAccount> | undefined, mutual: ChapAccount | undefined): AuthPolicy {
    return {
      authMethods: users === undefined ? ["None"] : ["CHAP"],
      chapAlgorithms: this.config.chapAlgorithms,
      ...(mutual === undefined ? {} : { outgoingAccount: mutual }),
    };
  }

  #node(target: ResolvedTarget): TargetNode {
    return {
      name: target.iqn,
      ...(target.alias === undefined ? {} : { alias: target.alias }),
      ...this.#authPolicy(target.chapUsers, target.mutualChap),
      policy: target.policy,
      ...(target.allowedInitiators === undefined ? {} : { authorize: allowedBy(target.allowedInitiators) }),
    };
  }

  #discoveredTargets(connection: TargetConnection): DiscoveredTarget[] {
    const local = unmapIpv4(connection.endpoint.localAddress);
    return [...this.#targets.values()].map((t) => {
      const seen = new Set<string>();
      const addresses = [];
      for (const portal of this.config.portals) {
        // A wildcard listener answers with the address the initiator reached us at.
        const host = isWildcard(portal.host) ? local : portal.host;
        const key = `${host}:${portal.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        addresses.push({ host, port: portal.port, portalGroupTag: this.config.portalGroupTag });
      }
      if (addresses.length === 0) addresses.push({ host: local, port: connection.endpoint.localPort, portalGroupTag: this.config.portalGroupTag });
      return { name: t.def.iqn, ...(t.def.alias === undefined ? {} : { alias: t.def.alias }), addresses };
    });
  }

  #makeConnectionOwner(): ConnectionOwner {
    const hostile = this.config.hostile;
    return {
      hostile:
        hostile === undefined
          ? undefined
          : hostileConnections(hostile, {
              crc32c: this.#deps.crc32c,
              hash: this.#deps.hash,
              lookupSecret: (username) => {
                const discovery = this.config.discovery;
                for (const users of [...this.config.targets.map((t) => t.chapUsers), discovery === false ? undefined : discovery.chapUsers]) {
                  const account = users?.get(username);
                  if (account !== undefined) return account.secret;
                }
                return undefined;
              },
              memory: {},
            }),
      crc32c: this.#deps.crc32c,
      nopIn: this.config.nopIn,
      loginTimeoutMs: this.config.loginTimeoutMs,
      trace: this.#trace,
      loginOptions: (connection, first) => this.#loginOptions(connection, first),
      preLogin: (connection, first) => this.#preLogin(connection, first),
      loginComplete: (connection, result, now) => this.#loginComplete(connection, result, now),
      loginFailed: (connection, error) => {
        this.#stats.loginFailures++;
        this.#emit({ type: "login-failed", connectionId: connection.id, error });
      },
      closed: (connection, error) => {
        if (!this.#connections.delete(connection.id)) return;
        this.#stats.connectionsOpen--;
        this.#emit({ type: "connection-closed", connectionId: connection.id, ...(error === undefined ? {} : { error }) });
      },
      protocolError: (connection, error) => this.#emit({ type: "protocol-error", connectionId: connection.id, error }),
      countPing: () => void this.#stats.nopInPings++,
    };
  }

  #makeSessionOwner(): SessionOwner {
    const stats = this.#stats;
    return {
      maxTransferBytes: this.config.maxTransferBytes,
      writeBuffer: (length) => this.#writeBuffers.take(length),
      recycleWriteBuffer: (buffer) => this.#writeBuffers.give(buffer),
      unitAttentionOnNewNexus: this.config.unitAttentionOnNewNexus,
      retentionBytes: this.config.retentionBytes,
      execute: (session, unit, task) => {
        const target = session.target;
        if (target === undefined) throw new LocalProtocolError("a SCSI command in a session without a target");
        executeScsi({ target, unitAttention: (lun) => session.unitAttention(lun) }, unit, task.request, task);
      },
      exclusive: (task) => needsExclusiveUnit(task.request.cdb),
      storage: (unit, operation, then) => this.#requestStorage(unit, operation, then),
      discoveredTargets: (connection) => this.#discoveredTargets(connection),
      otherSessions: (session) =>
        [...this.#sessions.values()].filter((s) => s !== session && s.target !== undefined && s.target.iqn === session.target?.iqn),
      sessionEnded: (session, reason) => {
        if (this.#sessions.get(session.tsih) !== session) return;
        this.#sessions.delete(session.tsih);
        stats.sessionsOpen--;
        this.#emit({ type: "session-closed", session: session.summary, reason });
      },
      protocolError: (connection, error) => this.#emit({ type: "protocol-error", connectionId: connection.id, error }),
      internalError: (task, error) => this.#internalError(task, error),
      countCommand: () => void stats.commands++,
      countR2T: () => void stats.r2ts++,
      countData: (read, written) => {
        stats.bytesRead += read;
        stats.bytesWritten += written;
      },
      countReject: () => void stats.rejects++,
      countTaskManagement: () => void stats.taskManagement++,
      countDataDigestError: () => void stats.dataDigestErrors++,
      countRecoveryR2T: () => void stats.recoveryR2Ts++,
      countDataAck: () => void stats.dataAcks++,
      countSnack: (pdus) => {
        stats.snacks++;
        stats.retransmissions += pdus;
      },
      countRetentionSkip: () => void stats.retentionSkips++,
      erlFallback: (connection, detail) => this.#emit({ type: "erl-fallback", connectionId: connection.id, detail }),
    };
  }

  #requestStorage(unit: LogicalUnit, operation: StorageOperation, then: (outcome: StorageOutcome) => void): void {
    const id = this.#nextStorageId++;
    this.#storage.set(id, then);
    this.#emit({ type: "storage", request: storageRequest(id, unit.ref, operation) });
  }

  #internalError(task: ScsiTask, error: unknown): ScsiResult {
    const message = error instanceof Error ? error.message : String(error);
    const wrapped = new LocalProtocolError(`internal error running CDB opcode 0x${(task.request.cdb[0] ?? 0).toString(16)} (ITT 0x${task.itt.toString(16)}): ${message}`, { cause: error });
    this.#emit({ type: "internal-error", connectionId: task.connection.id, error: wrapped });
    return checkCondition(Sense.InternalTargetFailure);
  }

  // ---------------------------------------------------------------- login

  #preLogin(connection: TargetConnection, first: LoginRequestPdu): { status: number; detail: string } | undefined {
    if (first.tsih === 0) return undefined;
    const session = this.#sessions.get(first.tsih);
    // Anything else about a missing session is the login machine's to say (0x020a).
    if (session === undefined || session.isid !== first.isid) return undefined;
    const replacing = session.connectionByCid(first.cid) !== undefined;
    const limit = session.type === "Discovery" ? 1 : session.params.maxConnections;
    if (!replacing && session.connections.length >= limit) {
      // RFC 7143 §11.13.5: 0x0206 "Too many connections" (MaxConnections, §13.2).
      return { status: LoginStatus.TooManyConnections, detail: `session ${session.tsih} already has ${session.connections.length} of MaxConnections=${limit} connections` };
    }
    // The login machine answers from the Login Request's CmdSN; a connection joining a session
    // must see the session's window instead (RFC 7143 §4.2.2.1: the window is session-wide).
    connection.rewriteLoginResponses((pdu) => ({ ...pdu, expCmdSN: session.expCmdSN, maxCmdSN: session.maxCmdSN }));
    return undefined;
  }

  #loginOptions(_connection: TargetConnection, _first: LoginRequestPdu): TargetLoginOptions {
    let resolved: string | undefined;
    const discovery = this.config.discovery;
    return {
      portalGroupTag: this.config.portalGroupTag,
      resolveTarget: (name) => {
        const target = this.#targets.get(name);
        if (target === undefined) return { kind: "not-found" };
        resolved = name;
        return { kind: "target", target: this.#node(target.def) };
      },
      ...(discovery === false ? {} : { discovery: this.#authPolicy(discovery.chapUsers, discovery.mutualChap) }),
      lookupAccount: (username, targetName) => {
        const users = targetName === undefined ? (discovery === false ? undefined : discovery.chapUsers) : this.#targets.get(targetName)?.def.chapUsers;
        return users?.get(username)?.secret;
      },
      allocateTsih: () => this.#allocateTsih(),
      findSession: (isid, tsih, initiatorName) => {
        const session = this.#sessions.get(tsih);
        if (session === undefined || session.isid !== isid || session.initiatorName !== initiatorName) return undefined;
        if ((session.target?.iqn ?? undefined) !== resolved) return undefined;
        return session.params;
      },
      policy: EMBEDDED_TARGET_POLICY,
      statSN: readU32(this.#deps.randomBytes(4), 0),
      commandWindow: this.config.queueDepth,
      hash: this.#deps.hash,
      randomBytes: this.#deps.randomBytes,
    };
  }

  #loginComplete(connection: TargetConnection, result: TargetLoginResult, now: number): FullFeatureHandler {
    let session = this.#sessions.get(result.tsih);
    const leading = session === undefined;
    if (session === undefined) {
      const target = result.targetName === undefined ? undefined : this.#targets.get(result.targetName);
      // RFC 7143 §6.3.5: a leading login with the ISID of an existing session of this initiator
      // and target (and TSIH 0) reinstates it: the old session is closed.
      for (const old of [...this.#sessions.values()]) {
        if (old.isid === result.isid && old.initiatorName === result.initiatorName && old.target?.iqn === target?.def.iqn) {
          old.end("reinstated", new SessionClosedError(`session ${old.tsih} reinstated by a new login with the same ISID`));
        }
      }
      session = new TargetSession(
        {
          tsih: result.tsih,
          isid: result.isid,
          initiatorName: result.initiatorName,
          target: target?.def,
          params: result.session,
          policy: target?.def.policy ?? EMBEDDED_TARGET_POLICY,
          units: target?.units ?? new Map(),
          expCmdSN: result.expCmdSN,
          queueDepth: this.config.queueDepth,
        },
        this.#sessionOwner,
      );
      this.#sessions.set(session.tsih, session);
      this.#stats.sessionsCreated++;
      this.#stats.sessionsOpen++;
      this.#emit({ type: "session-created", session: session.summary });
      session.addConnection(connection);
    } else {
      // RFC 7143 §6.3.4: a login with the CID of a live connection replaces it (implicit logout).
      const old = session.connectionByCid(result.cid);
      session.addConnection(connection);
      if (old !== undefined && old !== connection) old.close(new SessionClosedError(`connection ${result.cid} reinstated by a new login`), now);
    }
    this.#emit({ type: "login-complete", connectionId: connection.id, cid: result.cid, session: session.summary, leading });
    return session;
  }
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "" || host === "::0";
}

/** "::ffff:127.0.0.1" (an IPv4 peer on a dual-stack socket) is 127.0.0.1. */
function unmapIpv4(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

export type { SessionCloseReason };

/** RFC 3722: iSCSI names compare after case folding, as the allow list was stored. */
function allowedBy(names: ReadonlySet<string>): (initiatorName: string) => boolean {
  return (initiatorName) => {
    const checked = checkIscsiName(initiatorName);
    return checked.ok && names.has(checked.name);
  };
}
