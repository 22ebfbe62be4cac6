/**
 * Test support: the real initiator core (`Session`, with the Node host's deps) wired in memory to
 * a `TargetEngine`, with memory backends and a simulated clock. Bytes move between the two
 * connection objects exactly as a host would move them through a socket; `split` cuts them into
 * small chunks to exercise the framers. Storage completes at once ("sync") or when the test says
 * ("manual"), so windows, aborts and ordering can be observed with commands in flight.
 */
import { SessionClosedError } from "../../core/errors.js";
import type { TaskManagementFunction } from "../../core/pdu/opcodes.js";
import type { Pdu } from "../../core/pdu/types.js";
import type { CommandResult, SessionEvent } from "../../core/session/command.js";
import type { Connection } from "../../core/session/connection.js";
import { Session, type SessionConfig } from "../../core/session/session.js";
import type { TextPair } from "../../core/text/codec.js";
import { nodeSessionDeps } from "../../node/deps.js";
import { performStorageSync } from "../backends/backend.js";
import { MemoryBackend } from "../backends/memory.js";
import type { EngineConfig, LunDefinition, TargetDefinition } from "./config.js";
import type { TargetConnection } from "./connection.js";
import { TargetEngine } from "./engine.js";
import type { EngineEvent } from "./events.js";
import type { StorageOutcome, StorageRequest } from "./storage.js";

export const TARGET = "iqn.2026-11.test:pair";
export const INITIATOR = "iqn.2026-11.test:initiator";

export interface PairOptions {
  /** Engine settings over the defaults (one target, LUN 0 of 4 MiB, no NOP-In pings). */
  readonly engine?: Partial<EngineConfig>;
  /** The default target's definition, over one LUN 0 of 8192 blocks of 512 bytes. */
  readonly target?: Partial<TargetDefinition>;
  readonly storage?: "sync" | "manual";
  /** Deliver bytes in chunks of this size (0: as the sender queued them). */
  readonly split?: number;
  /** Record every PDU the target sends and receives in `pair.trace`. */
  readonly trace?: boolean;
  /**
   * Deliver to the target as a host with one reused read buffer does (`receiveTransient`): each
   * chunk goes through the same buffer, scribbled over after every call, so a view the engine kept
   * of received bytes would show garbage.
   */
  readonly transient?: boolean;
}

export const DEFAULT_LUN: LunDefinition = { lun: 0, blocks: 8192, thinProvisioned: true };

export type PairDirection = "to-target" | "to-initiator";

/** Sees (and may change) every batch of bytes a link moves; batches hold whole PDUs. */
export type Tamper = (direction: PairDirection, pieces: readonly Uint8Array[], link: PairLink) => readonly Uint8Array[];

export interface PairLink {
  readonly initiator: Connection;
  readonly target: TargetConnection;
  readonly side: InitiatorSide;
  targetToldClosed: boolean;
  initiatorToldClosed: boolean;
  /** A frozen link moves no bytes (a network that went silent). */
  frozen: boolean;
}

export class TargetPair {
  readonly engine: TargetEngine;
  readonly backends = new Map<number, MemoryBackend>();
  readonly engineEvents: EngineEvent[] = [];
  readonly pending: StorageRequest[] = [];
  readonly trace: Array<{ readonly direction: "send" | "receive"; readonly connectionId: number; readonly pdu: Pdu }> = [];
  readonly #links: PairLink[] = [];
  /** Changes bytes in flight (bit flips); none unless set. */
  tamper: Tamper | undefined;
  readonly #sides: InitiatorSide[] = [];
  readonly #mode: "sync" | "manual";
  readonly #split: number;
  readonly #transient: boolean;
  readonly #readBuffer = new Uint8Array(256 * 1024);
  now = 0;

  constructor(options: PairOptions = {}) {
    const target: TargetDefinition = { iqn: TARGET, luns: [DEFAULT_LUN], ...options.target };
    const config: EngineConfig = {
      targets: [target],
      portals: [{ host: "127.0.0.1", port: 3260 }],
      nopIn: false,
      ...options.engine,
    };
    const deps = nodeSessionDeps();
    const trace = options.trace === true ? (direction: "send" | "receive", connectionId: number, pdu: Pdu) => void this.trace.push({ direction, connectionId, pdu }) : undefined;
    this.engine = new TargetEngine(config, { crc32c: deps.crc32c, hash: deps.hash, randomBytes: deps.randomBytes }, trace === undefined ? {} : { trace });
    for (const unit of this.engine.units) this.backends.set(unit.def.index, new MemoryBackend(unit.size));
    this.#mode = options.storage ?? "sync";
    this.#split = options.split ?? 0;
    this.#transient = options.transient === true;
  }

  /** The memory behind LUN `lun` of the default target. */
  memory(lun = 0, target = TARGET): MemoryBackend {
    const unit = this.engine.unit(target, lun);
    if (unit === undefined) throw new SessionClosedError(`test: no LUN ${lun}`);
    return this.backends.get(unit.def.index) as MemoryBackend;
  }

  /** A new initiator session (not connected yet). */
  initiator(config: Partial<SessionConfig> = {}): InitiatorSide {
    const side = new InitiatorSide(this, {
      initiatorName: INITIATOR,
      targetName: TARGET,
      sessionType: "Normal",
      keepAlive: false,
      recovery: { enabled: false },
      ...config,
    } as SessionConfig);
    this.#sides.push(side);
    return side;
  }

  /** Opens a transport connection for `side` and runs its login. */
  connect(side: InitiatorSide, endpoint = { localAddress: "127.0.0.1", localPort: 3260, remoteAddress: "127.0.0.1", remotePort: 40000 + this.#links.length }): PairLink {
    const initiator = side.session.openConnection(this.now);
    const target = this.engine.accept(endpoint, this.now);
    const link: PairLink = { initiator, target, side, targetToldClosed: false, initiatorToldClosed: false, frozen: false };
    this.#links.push(link);
    side.session.transportConnected(initiator, this.now);
    this.pump();
    return link;
  }

  /** Moves bytes, storage and events until nothing moves. */
  pump(): void {
    for (let rounds = 0; rounds < 100_000; rounds++) {
      let progress = false;
      for (const link of this.#links) progress = this.#move(link) || progress;
      for (;;) {
        const event = this.engine.nextEvent();
        if (event === undefined) break;
        progress = true;
        if (event.type !== "storage") {
          this.engineEvents.push(event);
          continue;
        }
        if (this.#mode === "manual") {
          this.pending.push(event.request);
          continue;
        }
        this.#perform(event.request);
      }
      for (const side of this.#sides) progress = side.drain() || progress;
      if (!progress) return;
    }
    throw new SessionClosedError("test: the pair never went quiet");
  }

  #perform(request: StorageRequest): void {
    const backend = this.backends.get(request.unit.index) as MemoryBackend;
    const outcome = performStorageSync(backend, request);
    if (outcome instanceof Promise) throw new SessionClosedError("test: a memory backend answered asynchronously");
    this.engine.completeStorage(request.id, outcome, this.now);
  }

  /** Manual storage: completes the first `count` pending requests (all by default), in order. */
  completeStorage(count = this.pending.length, outcome?: StorageOutcome): void {
    for (const request of this.pending.splice(0, count)) {
      if (outcome === undefined) this.#perform(request);
      else this.engine.completeStorage(request.id, outcome, this.now);
    }
    this.pump();
  }

  #move(link: PairLink): boolean {
    if (link.frozen) return false;
    let progress = false;
    const out = link.initiator.pollTransmit();
    if (out !== undefined && !link.target.closed) {
      progress = true;
      const pieces = this.tamper === undefined ? out : this.tamper("to-target", out, link);
      for (const piece of this.#chunks(pieces)) this.#deliver(link.target, piece);
    }
    const back = link.target.pollTransmit();
    if (back !== undefined) {
      progress = true;
      const pieces = this.tamper === undefined ? back : this.tamper("to-initiator", back, link);
      if (!link.initiator.closed) for (const piece of this.#chunks(pieces)) link.initiator.receive(piece, this.now);
    }
    if (link.target.closed && !link.targetToldClosed) {
      link.targetToldClosed = true;
      progress = true;
      if (!link.initiator.closed) link.side.session.transportClosed(link.initiator, undefined, this.now);
    }
    if (link.initiator.closed && !link.initiatorToldClosed) {
      link.initiatorToldClosed = true;
      progress = true;
      link.target.transportClosed(this.now);
    }
    return progress;
  }

  #deliver(target: TargetConnection, piece: Uint8Array): void {
    if (!this.#transient) {
      target.receive(piece, this.now);
      return;
    }
    for (let at = 0; at < piece.length; at += this.#readBuffer.length) {
      const n = Math.min(this.#readBuffer.length, piece.length - at);
      this.#readBuffer.set(piece.subarray(at, at + n));
      target.receiveTransient(this.#readBuffer.subarray(0, n), this.now);
      this.#readBuffer.fill(0xee, 0, n);
    }
  }

  *#chunks(pieces: readonly Uint8Array[]): Iterable<Uint8Array> {
    if (this.#split <= 0) {
      yield* pieces;
      return;
    }
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of pieces) {
      all.set(p, at);
      at += p.length;
    }
    for (let i = 0; i < total; i += this.#split) yield all.slice(i, i + this.#split);
  }

  /** Moves the clock and runs both sides' timers. */
  advance(ms: number): void {
    this.now += ms;
    this.engine.handleTimeout(this.now);
    for (const side of this.#sides) side.session.handleTimeout(this.now);
    this.pump();
  }

  /** Engine events of one type, in order. */
  events<T extends EngineEvent["type"]>(type: T): Extract<EngineEvent, { type: T }>[] {
    return this.engineEvents.filter((e): e is Extract<EngineEvent, { type: T }> => e.type === type);
  }

  links(): readonly PairLink[] {
    return this.#links;
  }

  /** PDUs the target sent (with `trace: true`), of one opcode. */
  sent<O extends Pdu["opcode"]>(opcode: O): Extract<Pdu, { opcode: O }>[] {
    return this.trace.filter((t) => t.direction === "send" && t.pdu.opcode === opcode).map((t) => t.pdu as Extract<Pdu, { opcode: O }>);
  }

  /** PDUs the target received (with `trace: true`), of one opcode. */
  received<O extends Pdu["opcode"]>(opcode: O): Extract<Pdu, { opcode: O }>[] {
    return this.trace.filter((t) => t.direction === "receive" && t.pdu.opcode === opcode).map((t) => t.pdu as Extract<Pdu, { opcode: O }>);
  }
}

/** One initiator session and what it has been told. */
export class InitiatorSide {
  readonly session: Session<number>;
  readonly events: SessionEvent<number>[] = [];
  readonly #itts = new Map<number, number>();
  readonly #pair: TargetPair;
  #nextId = 1;

  constructor(pair: TargetPair, config: SessionConfig) {
    this.#pair = pair;
    this.session = new Session<number>(config, nodeSessionDeps());
  }

  drain(): boolean {
    let any = false;
    for (;;) {
      const event = this.session.nextEvent();
      if (event === undefined) return any;
      any = true;
      this.events.push(event);
    }
  }

  /** Connects and logs in; throws if the login did not complete. */
  login(): this {
    const link = this.#pair.connect(this);
    const done = this.events.find((e) => e.type === "login-complete" && e.cid === link.initiator.cid);
    if (done === undefined) {
      const failed = this.events.find((e) => e.type === "login-failed" || e.type === "connection-closed");
      throw failed !== undefined && "error" in failed && failed.error !== undefined ? failed.error : new SessionClosedError("test: the login did not complete");
    }
    return this;
  }

  /** Submits a command; returns its id (the context of its events). */
  submit(request: {
    lun?: number;
    cdb: Uint8Array;
    dataIn?: Uint8Array;
    dataOut?: Uint8Array;
    attribute?: number;
    /** "allow" to see what a target does with a transfer longer than its CDB asks for. */
    shortTransfer?: "fail" | "allow";
  }): number {
    const id = this.#nextId++;
    const itt = this.session.submit(
      {
        lun: request.lun ?? 0,
        cdb: request.cdb,
        dataIn: request.dataIn,
        dataOut: request.dataOut,
        attribute: request.attribute as never,
        ...(request.shortTransfer === undefined ? {} : { shortTransfer: request.shortTransfer }),
        context: id,
      },
      this.#pair.now,
    );
    this.#itts.set(id, itt);
    return id;
  }

  /** The Initiator Task Tag of command `id`. */
  itt(id: number): number {
    return this.#itts.get(id) as number;
  }

  /** The outcome of request `id`, if it has one yet. */
  outcome(id: number): SessionEvent<number> | undefined {
    return this.events.find((e) => "context" in e && e.context === id);
  }

  /** Submits, pumps, and returns the command's result; throws if it failed or is still running. */
  run(request: Parameters<InitiatorSide["submit"]>[0]): CommandResult {
    const id = this.submit(request);
    this.#pair.pump();
    return this.result(id);
  }

  result(id: number): CommandResult {
    const event = this.outcome(id);
    if (event?.type === "command-complete") return event.result;
    if (event?.type === "command-failed") throw event.error;
    throw new SessionClosedError(`test: command ${id} has not completed`);
  }

  ping(data?: Uint8Array): number {
    const id = this.#nextId++;
    this.session.ping(id, this.#pair.now, data);
    this.#pair.pump();
    return id;
  }

  taskManagement(fn: TaskManagementFunction, target: { lun?: number; referencedTaskTag?: number }): number {
    const id = this.#nextId++;
    this.session.taskManagement(fn, target, id, this.#pair.now);
    this.#pair.pump();
    return id;
  }

  text(pairs: readonly TextPair[]): ReadonlyArray<readonly [string, string]> {
    const id = this.#nextId++;
    this.session.text(pairs, id, this.#pair.now);
    this.#pair.pump();
    const event = this.outcome(id);
    if (event?.type === "text-complete") return event.pairs;
    if (event?.type === "request-failed") throw event.error;
    throw new SessionClosedError("test: the text exchange did not complete");
  }

  logout(reason?: number, cid?: number): void {
    this.session.logout(this.#pair.now, reason as never, cid);
    this.#pair.pump();
  }

  /** Event types seen, in order (for assertions). */
  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

/** Reproducible test bytes (xorshift32 from `seed`): the engine tests' data to write and check. */
export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
