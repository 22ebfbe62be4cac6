/**
 * The fault proxy: a TCP proxy between an iSCSI initiator and a target that forwards bytes
 * unchanged until told to misbehave. It finds PDU boundaries in both directions (pdu-stream.ts,
 * with digests learnt from the login: login-watch.ts), so a fault can hit "the next Data-In" or
 * cut a PDU half way, and it counts everything it did.
 *
 * Faults:
 * - drop: close every proxied connection now, with RST or FIN;
 * - stall: stop forwarding (sockets stay open, reading stops so TCP backs up) for N ms or until
 *   released;
 * - delay: hold every byte N ms before forwarding it;
 * - throttle: forward at most N bytes a second, in bursts (a slow link that is still busy);
 * - cut: forward only part of the next matching PDU, then close the connection;
 * - flip: flip one bit in the header or the data segment of the next matching PDU (with digests
 *   on, the receiver must notice: RFC 7143 §7.8);
 * - swallow: forward nothing of the next matching PDUs (a command the target never sees, a task
 *   management request that is never answered);
 * - refuse: reset new connections at once (a target that is down, counted).
 *
 * Bit positions and cut points come from a seeded generator, so a run replays. The proxy is a
 * test tool: it listens on loopback unless told otherwise and bounds what it buffers.
 */
import * as net from "node:net";
import { LocalProtocolError } from "../core/errors.js";
import { BHS_LENGTH, opcodeName } from "../core/pdu/opcodes.js";
import { LoginWatch } from "./login-watch.js";
import type { DigestPresence, PduHeader } from "./pdu-stream.js";
import { ProxiedConnection } from "./proxy-connection.js";
import { SeededRandom } from "./random.js";

export type Direction = "to-target" | "to-initiator";
export type CloseMode = "rst" | "fin";
export type FaultKind = "drop" | "stall" | "delay" | "throttle" | "cut" | "flip" | "swallow" | "refuse";

export const DIRECTIONS: readonly Direction[] = ["to-target", "to-initiator"];

/** Which PDUs a one-shot fault applies to; every given field must match. */
export interface PduMatch {
  readonly opcode?: number;
  /** First CDB byte of a SCSI Command (0x28 READ(10), 0x2a WRITE(10), ...). */
  readonly scsiOpcode?: number;
  /** Function of a Task Management Request (1 ABORT TASK, 5 LOGICAL UNIT RESET, ...). */
  readonly tmfFunction?: number;
  readonly initiatorTaskTag?: number;
  /** Skip this many matching PDUs first. */
  readonly skip?: number;
  readonly test?: (pdu: PduHeader) => boolean;
}

export interface FaultEvent {
  readonly kind: FaultKind;
  /** Milliseconds since the proxy started. */
  readonly at: number;
  /** Proxied connection number (from 1), when the fault hit one. */
  readonly connection?: number;
  readonly direction?: Direction;
  readonly pdu?: { readonly index: number; readonly opcode: number; readonly initiatorTaskTag: number };
  readonly detail: string;
}

/** A one-shot fault waiting for its PDU. */
export interface FaultHandle {
  /** Resolves when the fault has been applied (once, or `count` times for swallow). */
  readonly applied: Promise<FaultEvent>;
  /** Withdraws the fault if it has not been applied yet. */
  cancel(): void;
}

export interface StallHandle {
  /** Resolves when forwarding resumes. */
  readonly released: Promise<void>;
  release(): void;
}

export interface ProxyStats {
  /** Connections accepted from initiators (including those refused or failing upstream). */
  readonly connections: number;
  /** Connections that could not reach the target (it was down). */
  readonly upstreamFailures: number;
  readonly refused: number;
  readonly active: number;
  readonly pdus: Readonly<Record<Direction, number>>;
  readonly bytes: Readonly<Record<Direction, number>>;
  /** Faults applied, by kind (delay and throttle count once per PDU they held). */
  readonly faults: Readonly<Record<FaultKind, number>>;
}

export interface FaultProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Where to listen; 127.0.0.1 unless told. */
  readonly listenHost?: string;
  /** 0 (a free port) unless told. */
  readonly listenPort?: number;
  /** Seed of bit positions and cut points; 1 unless told. */
  readonly seed?: number;
  /** Digests after login: learnt from the login text ("auto", the default) or forced. */
  readonly digests?: "auto" | DigestPresence;
  /** Milliseconds to wait for the target's TCP handshake; 5 s unless told. */
  readonly connectTimeoutMs?: number;
  /** Called with a line for each fault applied and each connection opened or closed. */
  readonly log?: (line: string) => void;
  /** Called with every PDU header as it passes (to check framing, or to watch a session). */
  readonly observe?: (direction: Direction, pdu: PduHeader, connection: number) => void;
}

const MAX_EVENTS = 10_000;

type Rule =
  | { readonly kind: "cut"; readonly direction: Direction; readonly match: PduMatch; readonly at: number | undefined; readonly mode: CloseMode; skipped: number; done: (e: FaultEvent) => void }
  | {
      readonly kind: "flip";
      readonly direction: Direction;
      readonly match: PduMatch;
      readonly where: "header" | "data";
      readonly offset: number | undefined;
      readonly bit: number | undefined;
      skipped: number;
      done: (e: FaultEvent) => void;
    }
  | { readonly kind: "swallow"; readonly direction: Direction; readonly match: PduMatch; remaining: number; skipped: number; done: (e: FaultEvent) => void };

/** What happens to the PDU in progress in one direction. @internal */
export interface Plan {
  swallow: boolean;
  flipAt: number | undefined;
  flipMask: number;
  flipEvent: FaultEvent | undefined;
  flipDone: ((e: FaultEvent) => void) | undefined;
  cutAt: number | undefined;
  cutMode: CloseMode;
  cutEvent: FaultEvent | undefined;
  cutDone: ((e: FaultEvent) => void) | undefined;
}


export class FaultProxy {
  private readonly server: net.Server;
  private readonly random: SeededRandom;
  private readonly connections = new Set<ProxiedConnection>();
  private readonly rules: Rule[] = [];
  private readonly eventLog: FaultEvent[] = [];
  private readonly startedAt = performance.now();
  private nextConnection = 1;
  private stalledValue = false;
  private stallWaiters: Array<() => void> = [];
  private stallTimer: NodeJS.Timeout | undefined;
  private delays: Record<Direction, number> = { "to-target": 0, "to-initiator": 0 };
  private rates: Record<Direction, { readonly bytesPerSecond: number; readonly burst: number } | undefined> = { "to-target": undefined, "to-initiator": undefined };
  private refusing = false;
  private closed = false;
  private readonly counters = {
    connections: 0,
    upstreamFailures: 0,
    refused: 0,
    pdus: { "to-target": 0, "to-initiator": 0 } as Record<Direction, number>,
    bytes: { "to-target": 0, "to-initiator": 0 } as Record<Direction, number>,
    faults: { drop: 0, stall: 0, delay: 0, throttle: 0, cut: 0, flip: 0, swallow: 0, refuse: 0 } as Record<FaultKind, number>,
  };

  private constructor(
    readonly options: FaultProxyOptions,
    private listenPort: number,
  ) {
    this.random = new SeededRandom(options.seed ?? 1);
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options, options.listenPort ?? 0);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen({ host: options.listenHost ?? "127.0.0.1", port: proxy.listenPort }, () => {
        proxy.server.off("error", reject);
        const address = proxy.server.address();
        if (address !== null && typeof address === "object") proxy.listenPort = address.port;
        resolve();
      });
    });
    return proxy;
  }

  get host(): string {
    return this.options.listenHost ?? "127.0.0.1";
  }

  get port(): number {
    return this.listenPort;
  }

  /** "host:port" to give the initiator instead of the target's portal. */
  get portal(): string {
    return `${this.host}:${this.port}`;
  }

  get stalled(): boolean {
    return this.stalledValue;
  }

  /** Everything the proxy did, oldest first (the last 10,000 events). */
  get events(): readonly FaultEvent[] {
    return this.eventLog;
  }

  get stats(): ProxyStats {
    const c = this.counters;
    return {
      connections: c.connections,
      upstreamFailures: c.upstreamFailures,
      refused: c.refused,
      active: this.connections.size,
      pdus: { ...c.pdus },
      bytes: { ...c.bytes },
      faults: { ...c.faults },
    };
  }

  /** Total faults applied, all kinds together. */
  get faultsInjected(): number {
    return Object.values(this.counters.faults).reduce((a, b) => a + b, 0);
  }

  /** Milliseconds since the proxy started: the time base of events. */
  now(): number {
    return performance.now() - this.startedAt;
  }

  // ------------------------------------------------------------------ faults

  /** Closes every proxied connection now: RST (an abortive close) or FIN. Returns how many. */
  drop(options: { readonly mode?: CloseMode } = {}): number {
    const mode = options.mode ?? "rst";
    const victims = [...this.connections];
    for (const connection of victims) {
      this.record({ kind: "drop", connection: connection.id, detail: `dropped connection ${connection.id} with ${mode.toUpperCase()}` });
      connection.close(mode);
    }
    return victims.length;
  }

  /** Stops forwarding in both directions, for `durationMs` or until `release()`. */
  stall(options: { readonly durationMs?: number } = {}): StallHandle {
    if (!this.stalledValue) {
      this.stalledValue = true;
      const forWhat = options.durationMs === undefined ? "until released" : `for ${options.durationMs} ms`;
      this.record({ kind: "stall", detail: `stalled ${forWhat}` });
      for (const connection of this.connections) connection.updateFlow();
    }
    if (options.durationMs !== undefined) {
      if (this.stallTimer !== undefined) clearTimeout(this.stallTimer);
      this.stallTimer = setTimeout(() => this.release(), options.durationMs);
    }
    const released = new Promise<void>((resolve) => {
      if (!this.stalledValue) resolve();
      else this.stallWaiters.push(resolve);
    });
    return { released, release: () => this.release() };
  }

  /** Ends a stall: forwarding resumes with what was held. */
  release(): void {
    if (this.stallTimer !== undefined) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (!this.stalledValue) return;
    this.stalledValue = false;
    this.log(`released the stall`);
    for (const connection of this.connections) {
      connection.updateFlow();
      connection.pump();
    }
    const waiters = this.stallWaiters;
    this.stallWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Holds every byte `ms` milliseconds before forwarding it (0 turns the delay off). */
  setDelay(ms: number, direction: Direction | "both" = "both"): void {
    if (!Number.isFinite(ms) || ms < 0) throw new LocalProtocolError(`delay must be a non-negative number of milliseconds, got ${ms}`);
    for (const d of DIRECTIONS) if (direction === "both" || direction === d) this.delays[d] = ms;
    this.log(`delay ${direction}: ${ms} ms`);
  }

  delay(direction: Direction): number {
    return this.delays[direction];
  }

  /**
   * Forwards at most `bytesPerSecond` in `direction`, in bursts of `burst` bytes (16 KiB unless
   * told): a slow link that is busy. Undefined (or 0) lifts the limit.
   */
  throttle(bytesPerSecond: number | undefined, direction: Direction | "both" = "both", burst = 16 * 1024): void {
    if (bytesPerSecond !== undefined && (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0)) {
      throw new LocalProtocolError(`throttle must be a non-negative number of bytes a second, got ${bytesPerSecond}`);
    }
    if (!Number.isInteger(burst) || burst < 1) throw new LocalProtocolError(`throttle burst must be a positive number of bytes, got ${burst}`);
    const rate = bytesPerSecond === undefined || bytesPerSecond === 0 ? undefined : { bytesPerSecond, burst };
    for (const d of DIRECTIONS) if (direction === "both" || direction === d) this.rates[d] = rate;
    this.log(rate === undefined ? `throttle ${direction}: off` : `throttle ${direction}: ${bytesPerSecond} bytes/s in bursts of ${burst}`);
  }

  rate(direction: Direction): { readonly bytesPerSecond: number; readonly burst: number } | undefined {
    return this.rates[direction];
  }

  /**
   * Forwards only the first `at` bytes of the next matching PDU (a random point inside it unless
   * told), then closes that connection with FIN (default) or RST.
   */
  cut(options: { readonly direction: Direction; readonly match?: PduMatch; readonly at?: number; readonly mode?: CloseMode }): FaultHandle {
    if (options.at !== undefined && (!Number.isInteger(options.at) || options.at < 1)) {
      throw new LocalProtocolError(`cut: "at" must be a positive number of bytes, got ${options.at}`);
    }
    return this.addRule((done) => ({
      kind: "cut",
      direction: options.direction,
      match: options.match ?? {},
      at: options.at,
      mode: options.mode ?? "fin",
      skipped: 0,
      done,
    }));
  }

  /**
   * Flips one bit of the next matching PDU: in its header (BHS byte `offset`, random unless
   * told) or its data segment (only PDUs with one match). `bit` 0-7, random unless told.
   */
  flip(options: {
    readonly direction: Direction;
    readonly where: "header" | "data";
    readonly match?: PduMatch;
    readonly offset?: number;
    readonly bit?: number;
  }): FaultHandle {
    if (options.bit !== undefined && (!Number.isInteger(options.bit) || options.bit < 0 || options.bit > 7)) {
      throw new LocalProtocolError(`flip: bit must be 0-7, got ${options.bit}`);
    }
    if (options.offset !== undefined && (!Number.isInteger(options.offset) || options.offset < 0)) {
      throw new LocalProtocolError(`flip: offset must be a non-negative integer, got ${options.offset}`);
    }
    if (options.where === "header" && options.offset !== undefined && options.offset >= BHS_LENGTH) {
      throw new LocalProtocolError(`flip: a header offset must be inside the ${BHS_LENGTH}-byte BHS, got ${options.offset}`);
    }
    return this.addRule((done) => ({
      kind: "flip",
      direction: options.direction,
      match: options.match ?? {},
      where: options.where,
      offset: options.offset,
      bit: options.bit,
      skipped: 0,
      done,
    }));
  }

  /** Forwards nothing of the next `count` (default 1) matching PDUs. */
  swallow(options: { readonly direction: Direction; readonly match?: PduMatch; readonly count?: number }): FaultHandle {
    const count = options.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new LocalProtocolError(`swallow: count must be a positive integer, got ${count}`);
    return this.addRule((done) => ({ kind: "swallow", direction: options.direction, match: options.match ?? {}, remaining: count, skipped: 0, done }));
  }

  /** While on, new connections are reset as soon as they are accepted. */
  refuse(on: boolean): void {
    this.refusing = on;
    this.log(on ? "refusing new connections" : "accepting new connections");
  }

  /** Withdraws every pending one-shot fault, ends a stall and any delay. */
  clearFaults(): void {
    this.rules.length = 0;
    this.delays = { "to-target": 0, "to-initiator": 0 };
    this.rates = { "to-target": undefined, "to-initiator": undefined };
    this.refusing = false;
    this.release();
  }

  /** Stops listening and resets every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.release();
    for (const connection of [...this.connections]) connection.close("rst");
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------------ internals used by connections

  /** @internal */
  record(event: Omit<FaultEvent, "at">): FaultEvent {
    const full: FaultEvent = { at: Math.round(this.now()), ...event };
    this.counters.faults[event.kind]++;
    this.eventLog.push(full);
    if (this.eventLog.length > MAX_EVENTS) this.eventLog.splice(0, this.eventLog.length - MAX_EVENTS);
    this.log(`${event.kind}: ${event.detail}`);
    return full;
  }

  /** @internal */
  log(line: string): void {
    this.options.log?.(`[proxy ${this.port} +${Math.round(this.now())}ms] ${line}`);
  }

  /** @internal */
  countPdu(direction: Direction): void {
    this.counters.pdus[direction]++;
  }

  /** @internal A PDU held back by the delay or throttle fault. */
  countHeld(kind: "delay" | "throttle"): void {
    this.counters.faults[kind]++;
  }

  /** @internal */
  countBytes(direction: Direction, n: number): void {
    this.counters.bytes[direction] += n;
  }

  /** @internal Decides what happens to a PDU whose header just arrived. */
  plan(connection: ProxiedConnection, direction: Direction, pdu: PduHeader): Plan {
    this.options.observe?.(direction, pdu, connection.id);
    const plan: Plan = {
      swallow: false,
      flipAt: undefined,
      flipMask: 0,
      flipEvent: undefined,
      flipDone: undefined,
      cutAt: undefined,
      cutMode: "fin",
      cutEvent: undefined,
      cutDone: undefined,
    };
    const where = { connection: connection.id, direction, pdu: { index: pdu.index, opcode: pdu.opcode, initiatorTaskTag: pdu.initiatorTaskTag } };
    const name = `${opcodeName(pdu.opcode)} #${pdu.index} (ITT 0x${pdu.initiatorTaskTag.toString(16)})`;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i] as Rule;
      if (rule.direction !== direction || !matches(rule.match, pdu)) continue;
      if (rule.kind === "flip" && rule.where === "data" && pdu.dataLength === 0) continue;
      if (rule.kind === "swallow" && plan.swallow) continue;
      if (rule.kind === "flip" && plan.flipAt !== undefined) continue;
      if (rule.kind === "cut" && plan.cutAt !== undefined) continue;
      if (rule.skipped < (rule.match.skip ?? 0)) {
        rule.skipped++;
        continue;
      }
      switch (rule.kind) {
        case "swallow": {
          plan.swallow = true;
          rule.remaining--;
          const event = this.record({ kind: "swallow", ...where, detail: `swallowed ${name} on connection ${connection.id} ${direction}` });
          if (rule.remaining === 0) {
            this.rules.splice(i--, 1);
            rule.done(event);
          }
          break;
        }
        case "flip": {
          this.rules.splice(i--, 1);
          const bit = rule.bit ?? this.random.int(0, 7);
          let at: number;
          if (rule.where === "header") at = rule.offset ?? this.random.int(0, BHS_LENGTH - 1);
          else at = pdu.headerLength + (rule.offset === undefined ? this.random.int(0, pdu.dataLength - 1) : Math.min(rule.offset, pdu.dataLength - 1));
          plan.flipAt = at;
          plan.flipMask = 1 << bit;
          plan.flipDone = rule.done;
          plan.flipEvent = {
            kind: "flip",
            ...where,
            at: 0,
            detail: `flipped bit ${bit} of ${rule.where} byte ${rule.where === "header" ? at : at - pdu.headerLength} in ${name} on connection ${connection.id} ${direction} (header digest ${pdu.headerDigest ? "on" : "off"}, data digest ${pdu.dataDigest ? "on" : "off"})`,
          };
          break;
        }
        case "cut": {
          this.rules.splice(i--, 1);
          // Every PDU has at least its 48-byte BHS, so there is always a point inside it.
          const at = rule.at === undefined ? this.random.int(1, pdu.totalLength - 1) : Math.min(rule.at, pdu.totalLength - 1);
          plan.cutAt = Math.max(1, at);
          plan.cutMode = rule.mode;
          plan.cutDone = rule.done;
          plan.cutEvent = {
            kind: "cut",
            ...where,
            at: 0,
            detail: `cut ${name} after ${plan.cutAt} of ${pdu.totalLength} bytes on connection ${connection.id} ${direction}, then ${rule.mode.toUpperCase()}`,
          };
          break;
        }
      }
    }
    return plan;
  }

  /** @internal */
  applied(event: FaultEvent, done: ((e: FaultEvent) => void) | undefined): void {
    const { at: _at, ...rest } = event;
    done?.(this.record(rest));
  }

  /** @internal */
  forget(connection: ProxiedConnection): void {
    if (this.connections.delete(connection)) this.log(`connection ${connection.id} closed`);
  }

  private addRule(make: (done: (e: FaultEvent) => void) => Rule): FaultHandle {
    let done!: (e: FaultEvent) => void;
    const applied = new Promise<FaultEvent>((resolve) => {
      done = resolve;
    });
    const rule = make(done);
    this.rules.push(rule);
    this.log(`armed ${rule.kind} ${rule.direction}`);
    return {
      applied,
      cancel: () => {
        const at = this.rules.indexOf(rule);
        if (at >= 0) this.rules.splice(at, 1);
      },
    };
  }

  private accept(client: net.Socket): void {
    this.counters.connections++;
    client.setNoDelay(true);
    client.on("error", () => undefined);
    if (this.closed || this.refusing) {
      if (this.refusing) {
        this.counters.refused++;
        this.record({ kind: "refuse", detail: `refused a connection from ${client.remoteAddress}:${client.remotePort}` });
      }
      client.resetAndDestroy();
      return;
    }
    const id = this.nextConnection++;
    client.pause();
    const upstream = net.connect({ host: this.options.target.host, port: this.options.target.port, allowHalfOpen: true, noDelay: true });
    upstream.on("error", () => undefined);
    const timer = setTimeout(() => upstream.destroy(), this.options.connectTimeoutMs ?? 5_000);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      clearTimeout(timer);
      if (client.destroyed) {
        upstream.resetAndDestroy();
        return;
      }
      const watch = new LoginWatch(this.options.digests === undefined || this.options.digests === "auto" ? undefined : this.options.digests);
      const connection = new ProxiedConnection(id, this, client, upstream, watch);
      this.connections.add(connection);
      this.log(`connection ${id} from ${client.remoteAddress}:${client.remotePort} to ${this.options.target.host}:${this.options.target.port}`);
      connection.start();
    });
    upstream.once("close", () => {
      if (connected) return;
      clearTimeout(timer);
      this.counters.upstreamFailures++;
      this.log(`connection ${id}: the target at ${this.options.target.host}:${this.options.target.port} is unreachable; resetting the initiator`);
      client.resetAndDestroy();
    });
  }
}

function matches(match: PduMatch, pdu: PduHeader): boolean {
  if (match.opcode !== undefined && match.opcode !== pdu.opcode) return false;
  if (match.scsiOpcode !== undefined && match.scsiOpcode !== pdu.scsiOpcode) return false;
  if (match.tmfFunction !== undefined && match.tmfFunction !== pdu.tmfFunction) return false;
  if (match.initiatorTaskTag !== undefined && match.initiatorTaskTag !== pdu.initiatorTaskTag) return false;
  if (match.test !== undefined && !match.test(pdu)) return false;
  return true;
}
