/**
 * One remembered target kept alive by `iscsi up`: log in (retrying with capped backoff while the
 * network, the portal or the target is not there yet: a machine boots before its storage), open
 * the LUN, serve it over NBD, and, should the library give up re-establishing the session, start
 * over. Stopping: no new I/O (NBD_ESHUTDOWN), finish what is in flight, SYNCHRONIZE CACHE, log
 * out, all within a deadline; what could not be done is reported, not hidden.
 */
import { join } from "node:path";
import type { RecoveryRecord } from "../core/session/recovery.js";
import { LunExport } from "../nbd/lun-export.js";
import { type NbdListen, NbdServer } from "../nbd/server.js";
import { formatPortal } from "../client/driver.js";
import type { Lun } from "../client/lun.js";
import type { SessionOptions } from "../client/options.js";
import { type NodeRecord, recordUrl } from "../node/records/record.js";
import { openSession, type IscsiSession } from "../node/index.js";
import { CountingBackend, type IoCounters } from "./counting-backend.js";

export type NodeState = "connecting" | "waiting" | "exporting" | "stopping" | "stopped";

export interface BackoffSettings {
  readonly initialMs: number;
  readonly maxMs: number;
}

export interface NodeRunnerDeps {
  /** Session options for the record: initiator name, credentials, timeouts. */
  readonly sessionOptions: (record: NodeRecord) => Promise<SessionOptions>;
  /** Where a record without NBD settings gets its Unix socket. */
  readonly runtimeDir: string;
  readonly backoff: BackoffSettings;
  readonly log: (line: string) => void;
}

export interface NodeStatus {
  readonly name: string;
  readonly url: string;
  readonly startup: string;
  readonly state: NodeState;
  readonly since: string;
  readonly loginAttempts: number;
  readonly logins: number;
  readonly lastError: string | undefined;
  readonly nextAttemptInMs: number | undefined;
  readonly session:
    | {
        readonly initiatorName: string;
        readonly targetName: string;
        readonly portal: string;
        readonly isid: string;
        readonly tsih: number;
        readonly loggedInAt: string;
        readonly connections: readonly { readonly cid: number; readonly headerDigest: boolean; readonly dataDigest: boolean }[];
        readonly recoveries: readonly { readonly cause: string; readonly outcome: string; readonly retried: number; readonly failed: number; readonly durationMs: number | undefined }[];
      }
    | undefined;
  readonly nbd:
    | {
        readonly uri: string;
        readonly export: string;
        readonly listen: unknown;
        readonly size: number;
        readonly readOnly: boolean;
        readonly clients: number;
        readonly clientsServed: number;
        readonly io: IoCounters;
      }
    | undefined;
}

export interface NodeStopReport {
  readonly name: string;
  /** Every step done within the deadline. */
  readonly clean: boolean;
  readonly unfinishedRequests: number;
  readonly clientsCutOff: number;
  readonly flushed: boolean;
  readonly loggedOut: boolean;
  readonly problems: readonly string[];
}

interface Live {
  readonly session: IscsiSession;
  readonly lun: Lun;
  readonly backend: CountingBackend;
  readonly server: NbdServer;
  readonly loggedInAt: Date;
  clientsServed: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Promise settled or `ms` passed: which one. */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ readonly done: true; readonly value: T } | { readonly done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: false }>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise.then((value) => ({ done: true as const, value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class NodeRunner {
  private state: NodeState = "connecting";
  private since = new Date();
  private attempts = 0;
  private logins = 0;
  private lastError: string | undefined;
  private nextAttemptAt: number | undefined;
  private live: Live | undefined;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private lost: (() => void) | undefined;

  constructor(
    readonly record: NodeRecord,
    private readonly deps: NodeRunnerDeps,
  ) {}

  get name(): string {
    return this.record.name;
  }

  /** The NBD address the record asks for (a Unix socket in the runtime directory when it names none). */
  get listen(): NbdListen {
    const nbd = this.record.nbd;
    if (nbd?.socket !== undefined) return { socket: nbd.socket };
    if (nbd?.listen !== undefined) return nbd.listen;
    return { socket: join(this.deps.runtimeDir, `${this.record.name}.sock`) };
  }

  start(): void {
    this.loop ??= this.run();
  }

  private setState(state: NodeState): void {
    this.state = state;
    this.since = new Date();
  }

  private async run(): Promise<void> {
    let backoff = this.deps.backoff.initialMs;
    const signal = this.stopping.signal;
    const where = `${this.record.targetName} at ${formatPortal(this.record.portal)}`;
    while (!signal.aborted) {
      this.setState("connecting");
      this.attempts++;
      try {
        await this.bringUp();
        backoff = this.deps.backoff.initialMs;
        this.lastError = undefined;
        await this.untilLost();
        if (signal.aborted) return;
        // The library gave up re-establishing the session: close the export and start over.
        this.deps.log(`${this.name}: session to ${where} lost for good; closing the NBD export and logging in again`);
        await this.tearDown(0);
        continue;
      } catch (error) {
        if (signal.aborted) return;
        const text = message(error);
        // One line per new failure, not one per attempt: a target down for an hour is one line.
        if (text !== this.lastError) this.deps.log(`${this.name}: cannot bring up ${where}: ${text}; retrying (every ${Math.round(this.deps.backoff.maxMs / 1000)} s at most)`);
        this.lastError = text;
      }
      this.setState("waiting");
      this.nextAttemptAt = performance.now() + backoff;
      await sleep(backoff, signal);
      this.nextAttemptAt = undefined;
      backoff = Math.min(backoff * 2, this.deps.backoff.maxMs);
    }
  }

  private async bringUp(): Promise<void> {
    const options = await this.deps.sessionOptions(this.record);
    const session = await openSession(options);
    try {
      if (this.stopping.signal.aborted) throw new Error("stopping");
      const lunNumber = this.record.lun ?? (await firstDisk(session));
      const lun = session.lun(lunNumber);
      const exportBackend = await LunExport.open(lun, {
        name: `${this.record.targetName}/${lunNumber}`,
        description: `LUN ${lunNumber} of ${this.record.targetName} at ${formatPortal(this.record.portal)} (node ${this.name})`,
        readOnly: this.record.nbd?.readOnly === true,
      });
      const backend = new CountingBackend(exportBackend);
      const server = await NbdServer.listen({ listen: this.listen, backends: [backend] });
      const live: Live = { session, lun, backend, server, loggedInAt: new Date(), clientsServed: 0 };
      server.on("client-connected", () => live.clientsServed++);
      session.on("recovery", (phase: "started" | "recovered" | "gave-up", record: RecoveryRecord) => {
        const took = record.endedAt === undefined ? "" : ` after ${((record.endedAt - record.startedAt) / 1000).toFixed(1)} s`;
        this.deps.log(
          phase === "started"
            ? `${this.name}: session lost (${record.cause}): ${record.detail}; NBD requests wait while it is re-established`
            : phase === "recovered"
              ? `${this.name}: session re-established${took}: ${record.retried} command(s) re-issued, ${record.failed} failed`
              : `${this.name}: session could not be re-established${took}`,
        );
      });
      this.live = live;
      this.logins++;
      this.setState("exporting");
      this.deps.log(`${this.name}: logged in to ${this.record.targetName} at ${formatPortal(this.record.portal)} as ${session.initiatorName}; LUN ${lunNumber} served at ${server.uri()}`);
    } catch (error) {
      await session.logout().catch(() => session.close());
      throw error;
    }
  }

  private untilLost(): Promise<void> {
    const live = this.live;
    if (live === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.lost = resolve;
      live.session.once("closed", () => resolve());
    });
  }

  /** Closes the export and the session now (`deadlineMs` for requests in flight). */
  private async tearDown(deadlineMs: number): Promise<void> {
    const live = this.live;
    this.live = undefined;
    if (live === undefined) return;
    await live.server.close(deadlineMs);
    live.session.close();
  }

  status(): NodeStatus {
    const live = this.live;
    return {
      name: this.name,
      url: recordUrl(this.record),
      startup: this.record.startup,
      state: this.state,
      since: this.since.toISOString(),
      loginAttempts: this.attempts,
      logins: this.logins,
      lastError: this.lastError,
      nextAttemptInMs: this.nextAttemptAt === undefined ? undefined : Math.max(0, Math.round(this.nextAttemptAt - performance.now())),
      session:
        live === undefined
          ? undefined
          : {
              initiatorName: live.session.initiatorName,
              targetName: live.session.targetName,
              portal: formatPortal(live.session.portal),
              isid: live.session.isid.toString(16).padStart(12, "0"),
              tsih: live.session.tsih,
              loggedInAt: live.loggedInAt.toISOString(),
              connections: live.session.connections.map((c) => ({ cid: c.cid, headerDigest: c.headerDigest, dataDigest: c.dataDigest })),
              recoveries: live.session.recoveries.map((r) => ({
                cause: r.cause,
                outcome: r.outcome,
                retried: r.retried,
                failed: r.failed,
                durationMs: r.endedAt === undefined ? undefined : Math.round(r.endedAt - r.startedAt),
              })),
            },
      nbd:
        live === undefined
          ? undefined
          : {
              uri: live.server.uri(),
              export: live.backend.export.name,
              listen: live.server.address,
              size: live.backend.export.size,
              readOnly: live.backend.export.readOnly,
              clients: live.server.clientCount,
              clientsServed: live.clientsServed,
              io: { ...live.backend.counters },
            },
    };
  }

  /**
   * Stops within `deadlineMs`: the NBD export refuses new requests and finishes those in flight,
   * the LUN's cache is synchronised, the session logs out. Each step gets what is left of the time.
   */
  async stop(deadlineMs: number): Promise<NodeStopReport> {
    const started = performance.now();
    const left = (): number => Math.max(1, deadlineMs - (performance.now() - started));
    this.setState("stopping");
    this.stopping.abort();
    this.lost?.();
    // A login in progress either ends soon (then bringUp sees the abort and logs out) or is cut off.
    if (this.loop !== undefined) await within(this.loop, left());
    const live = this.live;
    this.live = undefined;
    const problems: string[] = [];
    let unfinished = 0;
    let cutOff = 0;
    let flushed = false;
    let loggedOut = false;
    if (live === undefined) {
      this.setState("stopped");
      return { name: this.name, clean: true, unfinishedRequests: 0, clientsCutOff: 0, flushed: false, loggedOut: false, problems };
    }
    const closed = await live.server.close(left());
    unfinished = closed.unfinished;
    cutOff = closed.forced;
    if (closed.forced > 0) problems.push(`${closed.unfinished} NBD request(s) on ${closed.forced} connection(s) were still in flight at the deadline; those clients were cut off`);
    if (live.backend.export.readOnly) flushed = true;
    else {
      const flush = await within(
        live.lun.flush().then(
          () => undefined,
          (error: unknown) => message(error),
        ),
        left(),
      );
      if (!flush.done) problems.push("SYNCHRONIZE CACHE did not complete before the deadline");
      else if (flush.value !== undefined) problems.push(`SYNCHRONIZE CACHE failed: ${flush.value}`);
      else flushed = true;
    }
    const logout = await within(
      live.session.logout().then(
        () => undefined,
        (error: unknown) => message(error),
      ),
      left(),
    );
    if (!logout.done) problems.push("the logout did not complete before the deadline; the connection was closed");
    else if (logout.value !== undefined) problems.push(`the logout failed: ${logout.value}`);
    else loggedOut = true;
    if (!loggedOut) live.session.close();
    this.setState("stopped");
    return { name: this.name, clean: problems.length === 0, unfinishedRequests: unfinished, clientsCutOff: cutOff, flushed, loggedOut, problems };
  }
}

/** The first LUN REPORT LUNS lists whose INQUIRY says "connected direct-access block device". */
async function firstDisk(session: IscsiSession): Promise<number> {
  const luns = await session.reportLuns();
  for (const n of luns) {
    const inquiry = await session.lun(n).inquiry();
    if (inquiry.peripheralQualifier === 0 && inquiry.peripheralDeviceType === 0) return n;
  }
  throw new Error(`the target lists no disk among its LUNs (${luns.join(", ") || "none"}); give the LUN in the node's URL`);
}
