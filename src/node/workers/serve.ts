/**
 * The worker's side: ordinary sessions, opened with the Node library's own `openSession`
 * (../index.js: the same client and core as on any thread), driven by the requests the pool
 * sends. Each answer goes back in the next batch with the session's counters written to shared
 * memory first; each session event is forwarded. Buffers that came as shared memory are read
 * into and sent from where they are; buffers this worker allocated (a read without a
 * destination) are moved back by transfer, never copied.
 */
import { ConfigError, LocalProtocolError, SessionClosedError } from "../../core/errors.js";
import { type Capacity, type IscsiSession, type Lun, openSession, type SessionOptions } from "../index.js";
import { ConnectionCounters } from "./counters.js";
import { toWireError } from "./errors.js";
import { type MessageTarget, Outbox } from "./outbox.js";
import { fromWireOptions, LUN_METHODS, type OpenedSession, type Reply, type Request, SESSION_METHODS, type SessionState } from "./protocol.js";

interface Entry {
  readonly session: IscsiSession;
  readonly counters: ConnectionCounters;
  /** The staging area the caller's thread hands slots of (./staging.ts). */
  readonly staging: Uint8Array;
  readonly slotBytes: number;
  /** Each LUN's capacity as last told to the caller's thread. */
  readonly capacityTold: Map<number, Capacity | undefined>;
}

/** The port to the pool: the worker's parentPort. */
export interface RequestSource extends MessageTarget {
  on(event: "message", listener: (batch: readonly Request[]) => void): unknown;
}

export function serveSessions(port: RequestSource): void {
  const entries = new Map<number, Entry>();
  const controllers = new Map<number, AbortController>();
  const touched = new Set<Entry>();
  const out = new Outbox<Reply>(
    port,
    (reply, error) => {
      if (reply.t === "ok") fail(reply.id, new LocalProtocolError(`the answer could not be posted to the caller's thread: ${(error as Error).message}`));
    },
    () => {
      // Before each batch leaves: the counters of each session it answers for, so that the
      // caller reads them at least as new as the answers.
      for (const entry of touched) entry.counters.write(entry.session.connections);
      touched.clear();
    },
  );

  const ok = (id: number, value?: unknown, data?: Uint8Array, capacity?: Capacity): void => {
    if (data === undefined && capacity === undefined) {
      // The usual answer (a read into shared memory, a write), without building it by spreads.
      out.send(value === undefined ? { t: "ok", id } : { t: "ok", id, value });
      return;
    }
    const reply: Reply = { t: "ok", id, ...(value === undefined ? {} : { value }), ...(data === undefined ? {} : { data }), ...(capacity === undefined ? {} : { capacity }) };
    // Shared memory is already where the caller sees it; an ArrayBuffer of ours is moved.
    out.send(reply, data !== undefined && !(data.buffer instanceof SharedArrayBuffer) ? (data.buffer as ArrayBuffer) : undefined);
  };
  const fail = (id: number, error: unknown, capacity?: Capacity): void => {
    out.send({ t: "error", id, error: toWireError(error), ...(capacity === undefined ? {} : { capacity }) });
  };

  const entryOf = (session: number): Entry => {
    const entry = entries.get(session);
    if (entry === undefined) throw new SessionClosedError("the session is closed (logged out, dropped, or its worker pool closed)");
    touched.add(entry);
    return entry;
  };

  /** The LUN's capacity if the caller's thread has not been told it yet. */
  const newCapacity = (entry: Entry, lun: Lun): Capacity | undefined => {
    const capacity = lun.capacity;
    if (capacity === entry.capacityTold.get(lun.number)) return undefined;
    entry.capacityTold.set(lun.number, capacity);
    return capacity;
  };

  const signalFor = (request: { readonly id: number; readonly abortable?: boolean; readonly aborted?: boolean }): AbortSignal | undefined => {
    if (request.abortable !== true) return undefined;
    const controller = new AbortController();
    if (request.aborted === true) controller.abort();
    else controllers.set(request.id, controller);
    return controller.signal;
  };

  /** Runs one operation to its answer: an error is answered too, and its abort controller goes. */
  const settle = async (id: number, work: () => Promise<void>, capacityOnError?: () => Capacity | undefined): Promise<void> => {
    try {
      await work();
    } catch (error) {
      fail(id, error, capacityOnError?.());
    } finally {
      controllers.delete(id);
    }
  };

  /** Runs one LUN operation; its answer carries the capacity when it changed, failed or not. */
  const onLun = (id: number, session: number, number: number, work: (lun: Lun, entry: Entry) => Promise<void>): Promise<void> => {
    let entry: Entry | undefined;
    let lun: Lun | undefined;
    return settle(
      id,
      async () => {
        entry = entryOf(session);
        lun = entry.session.lun(number);
        await work(lun, entry);
      },
      () => (entry === undefined || lun === undefined ? undefined : newCapacity(entry, lun)),
    );
  };

  const open = async (request: Extract<Request, { t: "open" }>): Promise<void> => {
    try {
      const signal = signalFor(request);
      const id = request.session;
      const overrides: Partial<SessionOptions> = {
        ...fromWireOptions(request.overrides),
        ...(request.trace ? { trace: (line: string) => out.send({ t: "trace", session: id, line }) } : {}),
        ...(signal === undefined ? {} : { signal }),
      };
      const target = typeof request.target === "string" ? request.target : (fromWireOptions(request.target) as SessionOptions);
      const session = await openSession(target, overrides);
      const entry: Entry = { session, counters: new ConnectionCounters(request.counters), staging: new Uint8Array(request.staging), slotBytes: request.slotBytes, capacityTold: new Map() };
      entries.set(id, entry);
      touched.add(entry);
      const event = (e: Extract<Reply, { t: "event" }>["event"], state?: SessionState): void => out.send({ t: "event", session: id, event: e, ...(state === undefined ? {} : { state }) });
      session.on("async-event", (info) => event({ name: "async-event", args: [info] }));
      session.on("unit-attention", (lun, description) => event({ name: "unit-attention", args: [lun, description] }));
      // The record is the session's own and changes as recovery goes on: send it as it is now.
      session.on("recovery", (phase, record) => {
        touched.add(entry);
        event({ name: "recovery", args: [phase, { ...record }] }, stateOf(session));
      });
      session.on("closed", (error) => {
        entries.delete(id);
        event({ name: "closed", error: error === undefined ? undefined : toWireError(error) }, stateOf(session));
      });
      const opened: OpenedSession = { targetName: session.targetName, portal: session.portal, initiatorName: session.initiatorName, ...stateOf(session) };
      ok(request.id, opened);
    } catch (error) {
      fail(request.id, error);
    } finally {
      controllers.delete(request.id);
    }
  };

  const handle = (request: Request): void => {
    switch (request.t) {
      case "open":
        void open(request);
        return;
      case "read": {
        const entry = entries.get(request.session);
        if (request.slot !== undefined && request.abortable !== true && entry !== undefined) {
          // The hot path, a small read into a staging slot: no wrapper around Lun.read's own promise.
          touched.add(entry);
          const lun = entry.session.lun(request.lun);
          const into = entry.staging.subarray(request.slot, request.slot + entry.slotBytes);
          lun.read(request.lba, request.blocks, { into, fua: request.fua, timeoutMs: request.timeoutMs }).then(
            (view) => ok(request.id, view.length, undefined, newCapacity(entry, lun)),
            (error: unknown) => fail(request.id, error, newCapacity(entry, lun)),
          );
          return;
        }
        const signal = signalFor(request);
        void onLun(request.id, request.session, request.lun, async (lun, entry) => {
          const io = { fua: request.fua, timeoutMs: request.timeoutMs, signal };
          if (request.intoLength !== undefined) {
            // The caller's buffer stayed on its thread: refuse a read it cannot hold before reading.
            const blockSize = (lun.capacity ?? (await lun.readCapacity())).blockSize;
            if (request.intoLength < request.blocks * blockSize) {
              throw new ConfigError(`read buffer of ${request.intoLength} bytes is smaller than ${request.blocks} blocks of ${blockSize}`);
            }
          }
          const into = request.slot === undefined ? request.into : entry.staging.subarray(request.slot, request.slot + entry.slotBytes);
          const view = await lun.read(request.lba, request.blocks, into === undefined ? io : { ...io, into });
          const shared = view.buffer instanceof SharedArrayBuffer;
          ok(request.id, view.length, shared ? undefined : view, newCapacity(entry, lun));
        });
        return;
      }
      case "write": {
        const entry = entries.get(request.session);
        if (request.slot !== undefined && request.abortable !== true && entry !== undefined) {
          touched.add(entry);
          const lun = entry.session.lun(request.lun);
          const data = entry.staging.subarray(request.slot, request.slot + (request.length as number));
          lun.write(request.lba, data, { fua: request.fua, timeoutMs: request.timeoutMs }).then(
            () => ok(request.id, undefined, undefined, newCapacity(entry, lun)),
            (error: unknown) => fail(request.id, error, newCapacity(entry, lun)),
          );
          return;
        }
        const signal = signalFor(request);
        void onLun(request.id, request.session, request.lun, async (lun, entry) => {
          const data = request.slot === undefined ? (request.data as Uint8Array) : entry.staging.subarray(request.slot, request.slot + (request.length as number));
          await lun.write(request.lba, data, { fua: request.fua, timeoutMs: request.timeoutMs, signal });
          ok(request.id, undefined, undefined, newCapacity(entry, lun));
        });
        return;
      }
      case "execute": {
        const signal = signalFor(request);
        void settle(request.id, async () => {
          const { session } = entryOf(request.session);
          const result = await session.execute(request.lun, request.cdb, {
            dataIn: request.dataIn,
            dataOut: request.dataOut,
            allowStatus: request.allowStatus,
            retry: request.retry,
            timeoutMs: request.timeoutMs,
            budgetMs: request.budgetMs,
            shortTransfer: request.shortTransfer,
            signal,
            onTag: request.tag === true ? (tag) => out.send({ t: "tag", id: request.id, tag }) : undefined,
          });
          const { data, ...rest } = result;
          // Data placed in shared memory is already the caller's; data in a buffer of ours (or one the caller moved here) goes back.
          const placed = request.dataIn !== undefined && typeof request.dataIn !== "number" && request.dataIn.buffer instanceof SharedArrayBuffer;
          ok(request.id, rest, request.dataIn === undefined || placed ? undefined : data);
        });
        return;
      }
      case "lun": {
        const signal = signalFor(request);
        void onLun(request.id, request.session, request.lun, async (lun, entry) => {
          if (!LUN_METHODS.includes(request.method)) throw new ConfigError(`no LUN method ${String(request.method)}`);
          const method = lun[request.method] as (...args: unknown[]) => Promise<unknown>;
          const args = [...request.args];
          if (signal !== undefined) args[args.length - 1] = { ...(args[args.length - 1] as object), signal };
          const value = await method.apply(lun, args);
          ok(request.id, value, undefined, newCapacity(entry, lun));
        });
        return;
      }
      case "session":
        void settle(request.id, async () => {
          const { session } = entryOf(request.session);
          if (!SESSION_METHODS.includes(request.method)) throw new ConfigError(`no session method ${String(request.method)}`);
          const method = session[request.method] as (...args: unknown[]) => Promise<unknown>;
          ok(request.id, await method.apply(session, [...request.args]));
        });
        return;
      case "close":
        entries.get(request.session)?.session.close();
        return;
      case "abort":
        controllers.get(request.id)?.abort();
        controllers.delete(request.id);
        return;
      case "shutdown":
        void (async () => {
          // Each session logs out as a session on any thread does at the end of its scope.
          await Promise.allSettled([...entries.values()].map(({ session }) => session[Symbol.asyncDispose]()));
          ok(request.id);
        })();
        return;
    }
  };

  port.on("message", (batch) => {
    for (const request of batch) handle(request);
  });
}

function stateOf(session: IscsiSession): SessionState {
  return { params: session.params, isid: session.isid, tsih: session.tsih, recoveries: session.recoveries.map((r) => ({ ...r })) };
}
