/**
 * iSNS on Node (RFC 4171): a TCP link to an iSNS server driving the sans-I/O IsnsConnection, and
 * what the library offers on top of it: `discoverIsns` (every target and portal the server knows,
 * in SendTargets' shape), `registerWithIsns` (an entity registered, refreshed before its period
 * ends, deregistered on close) and `IsnsClient.watch()` (State Change Notifications, delivered by
 * the server to an SCN port we listen on).
 */
import * as net from "node:net";
import { hostname } from "node:os";
import type { DiscoveredTarget } from "../core/discovery/send-targets.js";
import { ConfigError, type IscsiError, TimeoutError, TransportError } from "../core/errors.js";
import { IsnsConnection } from "../core/isns/client.js";
import type { IsnsMessage } from "../core/isns/codec.js";
import { functionName, IsnsFunction, NodeType, ScnBit } from "../core/isns/constants.js";
import { IsnsProtocolError } from "../core/isns/errors.js";
import {
  checkResponse,
  deregistrationRequest,
  type EntityRegistration,
  type IsnsRequest,
  notSupportedResponse,
  parseRegistrationResponse,
  parseScn,
  parseTargetQueryResponse,
  refreshDelayMs,
  registrationRequest,
  scnRegistrationRequest,
  scnResponse,
  targetQuery,
} from "../core/isns/messages.js";
import { type IsnsServerAddress, parseIsnsServer } from "../core/isns/server-address.js";
import { checkIscsiName } from "../core/iscsi-name.js";
import { defaultInitiatorName } from "../client/options.js";
import { formatHostPort } from "../core/url.js";

export type { EntityRegistration } from "../core/isns/messages.js";
export type { IsnsServerAddress } from "../core/isns/server-address.js";

export interface IsnsOptions {
  /** Our iSCSI name, the Source Attribute of queries; the library's default initiator name unless told. */
  readonly initiatorName?: string;
  /** Time to connect and for each request's answer; 10 s unless told. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function toServer(server: string | IsnsServerAddress): IsnsServerAddress {
  return typeof server === "string" ? parseIsnsServer(server) : server;
}

function where(server: IsnsServerAddress): string {
  return formatHostPort(server.host, server.port);
}

function sourceName(options: IsnsOptions): string {
  if (options.initiatorName === undefined) return defaultInitiatorName(hostname());
  const checked = checkIscsiName(options.initiatorName);
  if (!checked.ok) throw new ConfigError(`initiatorName ${JSON.stringify(options.initiatorName)} is not an iSCSI name: ${checked.reason}`);
  return checked.name;
}

function socketError(error: NodeJS.ErrnoException, server: string): IscsiError {
  switch (error.code) {
    case "ECONNREFUSED":
      return new TransportError(`cannot connect to the iSNS server at ${server}: connection refused (is isnsd listening there?)`, { cause: error });
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new TransportError(`cannot connect to the iSNS server at ${server}: unknown host`, { cause: error });
    case "ECONNRESET":
      return new TransportError(`connection to the iSNS server at ${server} reset`, { cause: error });
    default:
      return new TransportError(`connection to the iSNS server at ${server} failed: ${error.message}`, { cause: error });
  }
}

/** One TCP connection to an iSNS server; requests are answered in any order, matched by transaction ID. */
export class IsnsLink {
  readonly server: IsnsServerAddress;
  readonly #socket: net.Socket;
  readonly #core = new IsnsConnection();
  readonly #timeoutMs: number;
  readonly #waiting = new Map<number, { resolve: (m: IsnsMessage) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();
  #failure: IscsiError | undefined;

  private constructor(server: IsnsServerAddress, socket: net.Socket, timeoutMs: number) {
    this.server = server;
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => this.#fail(socketError(error, where(server))));
    socket.on("close", () =>
      this.#fail(new TransportError(`the iSNS server at ${where(server)} closed the connection${this.#core.midMessage ? " in the middle of a message" : ""}`)),
    );
  }

  static connect(server: string | IsnsServerAddress, options: Pick<IsnsOptions, "timeoutMs"> = {}): Promise<IsnsLink> {
    const address = toServer(server);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: address.host, port: address.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TimeoutError(`cannot connect to the iSNS server at ${where(address)}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(socketError(error, where(address)));
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new IsnsLink(address, socket, timeoutMs));
      });
    });
  }

  /** Our end's address (what a registration names when we listen on a wildcard). */
  get localAddress(): string {
    return (this.#socket.localAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
  }

  /** Sends a request and resolves with its response (any status: the caller checks it). */
  request(request: IsnsRequest): Promise<IsnsMessage> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#core.send(request);
    const promise = new Promise<IsnsMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new TimeoutError(`the iSNS server at ${where(this.server)} did not answer ${functionName(request.functionId)} in ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiting.set(id, { resolve, reject, timer });
    });
    this.#flush();
    return promise;
  }

  close(): void {
    this.#socket.destroy();
  }

  #receive(chunk: Uint8Array): void {
    try {
      this.#core.receive(chunk);
    } catch (error) {
      const e = error as IscsiError;
      e.message = `iSNS server at ${where(this.server)}: ${e.message}`;
      this.#fail(e);
      this.#socket.destroy();
      return;
    }
    for (let event = this.#core.nextEvent(); event !== undefined; event = this.#core.nextEvent()) {
      if (event.type === "response") {
        const w = this.#waiting.get(event.message.transactionId);
        if (w === undefined) continue; // timed out already
        this.#waiting.delete(event.message.transactionId);
        clearTimeout(w.timer);
        w.resolve(event.message);
      } else {
        // A server request on a client connection (ESI, when we registered no ESI port): refuse it.
        this.#core.respond(notSupportedResponse(event.message));
      }
    }
    this.#flush();
  }

  #flush(): void {
    const out = this.#core.pollTransmit();
    if (out === undefined || this.#socket.destroyed) return;
    for (const pdu of out) this.#socket.write(pdu);
  }

  #fail(error: IscsiError): void {
    this.#failure ??= error;
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer);
      w.reject(this.#failure);
    }
    this.#waiting.clear();
  }
}

async function withLink<T>(server: string | IsnsServerAddress, options: IsnsOptions, body: (link: IsnsLink) => Promise<T>): Promise<T> {
  const link = await IsnsLink.connect(server, options);
  try {
    return await body(link);
  } finally {
    link.close();
  }
}

function named(error: unknown, server: IsnsServerAddress): never {
  if (error instanceof IsnsProtocolError || (error instanceof Error && "status" in error && !error.message.includes(where(server)))) {
    (error as Error).message = `iSNS server at ${where(server)}: ${(error as Error).message}`;
  }
  throw error;
}

/**
 * The targets an iSNS server knows (DevAttrQry for every node of type Target, RFC 4171
 * §5.6.5.2), each with its portals and portal group tags: what `discover()` gives for SendTargets.
 * An iSNS server shows a source only the nodes of its discovery domains (open-isns: a node in no
 * domain sees the others only with `DefaultDiscoveryDomain = 1`).
 */
export async function discoverIsns(server: string | IsnsServerAddress, options: IsnsOptions = {}): Promise<DiscoveredTarget[]> {
  const source = sourceName(options);
  const address = toServer(server);
  return withLink(address, options, async (link) => {
    try {
      return parseTargetQueryResponse(await link.request(targetQuery(source)));
    } catch (error) {
      return named(error, address);
    }
  });
}

export interface IsnsRegistration {
  readonly server: IsnsServerAddress;
  readonly entityId: string;
  /** Seconds the server granted (or what we asked, when its answer did not say). */
  readonly registrationPeriod: number | undefined;
  /** Refreshes done since the first registration. */
  readonly refreshes: number;
  /** The last refresh's failure, if the last one failed (the next is tried at the same pace). */
  readonly lastError: IscsiError | undefined;
  /** Deregisters (DevDereg) and stops refreshing. */
  close(): Promise<void>;
}

export interface RegisterOptions extends Pick<IsnsOptions, "timeoutMs"> {
  /** A refresh failed (the registration goes on trying). */
  readonly onError?: (error: IscsiError) => void;
}

/**
 * Registers an entity (DevAttrReg, §5.6.5.1), then refreshes it at two thirds of the period the
 * server granted, each time on a new connection (a restarted server gets it back), and
 * deregisters it on `close()`. Portals on a wildcard address are registered with the address we
 * reach the server from. The source is the entity's first node.
 */
export async function registerWithIsns(server: string | IsnsServerAddress, registration: EntityRegistration, options: RegisterOptions = {}): Promise<IsnsRegistration> {
  const address = toServer(server);
  const source = registration.nodes[0]?.name;
  if (source === undefined) throw new ConfigError("an iSNS registration needs at least one node");
  let reg = registration;
  const register = async (): Promise<number | undefined> =>
    withLink(address, options, async (link) => {
      reg = withConcreteAddresses(registration, link.localAddress);
      try {
        return parseRegistrationResponse(await link.request(registrationRequest(source, reg))).registrationPeriod;
      } catch (error) {
        return named(error, address);
      }
    });
  const granted = await register();
  const handle = {
    server: address,
    entityId: registration.entityId,
    registrationPeriod: granted ?? registration.registrationPeriod,
    refreshes: 0,
    lastError: undefined as IscsiError | undefined,
    close: async (): Promise<void> => undefined,
  };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = (): void => {
    const period = handle.registrationPeriod;
    // A period of 0 (or none stated) never expires (§6.2.6): nothing to refresh.
    if (closed || period === undefined || period === 0) return;
    timer = setTimeout(() => {
      register().then(
        (p) => {
          handle.refreshes++;
          handle.lastError = undefined;
          if (p !== undefined) handle.registrationPeriod = p;
          schedule();
        },
        (error: IscsiError) => {
          handle.lastError = error;
          options.onError?.(error);
          schedule();
        },
      );
    }, refreshDelayMs(period));
    timer.unref();
  };
  schedule();
  handle.close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    await withLink(address, options, async (link) => {
      try {
        checkResponse(await link.request(deregistrationRequest(source, reg.entityId)), IsnsFunction.DevDereg);
      } catch (error) {
        named(error, address);
      }
    });
  };
  return handle;
}

function withConcreteAddresses(reg: EntityRegistration, local: string): EntityRegistration {
  const concrete = (host: string): string => (host === "0.0.0.0" || host === "::" || host === "" ? local : host);
  return {
    ...reg,
    portals: reg.portals.map((p) => ({ ...p, host: concrete(p.host) })),
    ...(reg.portalGroups === undefined ? {} : { portalGroups: reg.portalGroups.map((g) => ({ ...g, host: concrete(g.host) })) }),
  };
}

// ---------------------------------------------------------------- SCN

export interface IsnsChange {
  readonly kind: "added" | "removed" | "updated";
  /** The node that came, went or changed. */
  readonly name: string;
  /** The SCN bitmap as the server sent it (RFC 4171 §6.4.4). */
  readonly bitmap: number;
}

export interface WatchOptions {
  /** The entity our watching node registers in; `<initiatorName>:isns-watch` unless told. */
  readonly entityId?: string;
  /** Registration period to ask for, seconds; the server's grant is honoured. */
  readonly registrationPeriod?: number;
  /** Address to listen on for the server's SCN connections; 127.0.0.1 unless told. */
  readonly listenHost?: string;
  readonly signal?: AbortSignal;
}

/**
 * An iSNS client for an initiator: queries, and State Change Notifications. An SCN goes to an SCN
 * port of a portal of the registered node (§5.6.5.5, open-isns connects to it over TCP), so
 * watching registers our node as an initiator with a portal whose SCN Port we listen on, then
 * SCNReg for targets added, removed or updated; leaving the iteration deregisters.
 */
export class IsnsClient {
  readonly server: IsnsServerAddress;
  readonly #options: IsnsOptions;

  constructor(server: string | IsnsServerAddress, options: IsnsOptions = {}) {
    this.server = toServer(server);
    this.#options = options;
    sourceName(options);
  }

  discover(): Promise<DiscoveredTarget[]> {
    return discoverIsns(this.server, this.#options);
  }

  async *watch(options: WatchOptions = {}): AsyncGenerator<IsnsChange, void, undefined> {
    const source = sourceName(this.#options);
    const queue: IsnsChange[] = [];
    let wake: (() => void) | undefined;
    let failure: unknown;
    const listener = net.createServer((socket) => serveScn(socket, source, (changes) => {
      queue.push(...changes);
      wake?.();
    }));
    const host = options.listenHost ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen({ host, port: 0 }, () => resolve());
    });
    const address = listener.address();
    const scnPort = typeof address === "object" && address !== null ? address.port : 0;
    let registration: IsnsRegistration | undefined;
    const onAbort = (): void => wake?.();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      registration = await registerWithIsns(
        this.server,
        {
          entityId: options.entityId ?? `${source}:isns-watch`,
          ...(options.registrationPeriod === undefined ? {} : { registrationPeriod: options.registrationPeriod }),
          portals: [{ host, port: scnPort, scnPort }],
          nodes: [{ name: source, type: NodeType.Initiator }],
        },
        { ...(this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs }), onError: (e) => ((failure = e), wake?.()) },
      );
      await withLink(this.server, this.#options, async (link) => {
        const bitmap = ScnBit.ObjectAdded | ScnBit.ObjectRemoved | ScnBit.ObjectUpdated | ScnBit.TargetAndSelfOnly;
        try {
          checkResponse(await link.request(scnRegistrationRequest(source, bitmap)), IsnsFunction.SCNReg);
        } catch (error) {
          named(error, this.server);
        }
      });
      for (;;) {
        while (queue.length > 0) yield queue.shift() as IsnsChange;
        if (options.signal?.aborted === true) return;
        if (failure !== undefined) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      listener.close();
      await registration?.close().catch(() => undefined);
    }
  }
}

/** One connection the server opened to our SCN port: answer each SCN and hand its changes on. */
function serveScn(socket: net.Socket, destination: string, deliver: (changes: IsnsChange[]) => void): void {
  const core = new IsnsConnection();
  socket.on("error", () => undefined);
  socket.on("data", (chunk: Buffer) => {
    try {
      core.receive(chunk);
    } catch {
      socket.destroy();
      return;
    }
    for (let event = core.nextEvent(); event !== undefined; event = core.nextEvent()) {
      if (event.type !== "request") continue;
      const m = event.message;
      if (m.functionId !== IsnsFunction.SCN) {
        core.respond(notSupportedResponse(m));
        continue;
      }
      let scn;
      try {
        scn = parseScn(m);
      } catch {
        core.respond({ ...notSupportedResponse(m), status: 16 /* SCN Event Rejected */ });
        continue;
      }
      core.respond(scnResponse(m.transactionId, destination));
      deliver(
        scn.changes.flatMap((c): IsnsChange[] => {
          const kind = (c.bitmap & ScnBit.ObjectRemoved) !== 0 ? "removed" : (c.bitmap & ScnBit.ObjectAdded) !== 0 ? "added" : (c.bitmap & ScnBit.ObjectUpdated) !== 0 ? "updated" : undefined;
          return kind === undefined || c.name === destination ? [] : [{ kind, name: c.name, bitmap: c.bitmap }];
        }),
      );
    }
    const out = core.pollTransmit();
    if (out !== undefined) for (const pdu of out) socket.write(pdu);
  });
}
