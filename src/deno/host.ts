/**
 * The Deno host: the client's byte streams on `Deno.connect`, WebCrypto randomness, @noble/hashes
 * for CHAP, the native CRC32C through Deno's N-API when it loads (it needs --allow-ffi and
 * --allow-env) and agrees with the pure one, web timers and performance.now.
 *
 * One read loop per connection on `conn.read` into a reused buffer, or, for the rest of a large
 * Data-In payload, straight into the caller's buffer; one write loop sends what waits, merged
 * into one write when several batches queued behind a slow one. Deno's writes are asynchronous,
 * so every batch is copied (the core reuses its pieces once our `write` returns).
 */
import { createRequire } from "node:module";
import type { Crc32c } from "../core/digest/crc32c.js";
import { type IscsiError, TimeoutError } from "../core/errors.js";
import type { SessionDeps } from "../core/session/session.js";
import { formatPortal } from "../client/driver.js";
import { nobleHash } from "../client/hashes.js";
import type { ByteStream, ClientHost, ConnectOptions, HostTimer, Portal, StreamSink } from "../client/host.js";
import { checkedCrc32c, type NativeCrc32c, randomBytesFrom, socketError } from "../client/services.js";
import { type DenoApi, type DenoConn, denoApi } from "./deno-api.js";

/** Payload still to come above which a read goes straight into the caller's buffer. */
const DIRECT_READ_MIN = 64 * 1024;

/** Size of each connection's read buffer. */
const READ_BUFFER_BYTES = 256 * 1024;

/** How long an ended connection may wait for the peer's FIN before it is dropped. */
const END_GRACE_MS = 1_000;

export function denoHost(deps: SessionDeps = denoSessionDeps()): ClientHost {
  const deno = denoApi();
  return {
    name: "deno",
    deps,
    connect: (portal, sink, options) => connectDeno(deno, portal, sink, options),
    setTimer: (delayMs, callback) => denoTimer(deno, delayMs, callback),
    now: () => performance.now(),
    defer: (callback) => queueMicrotask(callback),
    // Without --allow-sys the name is not ours to read (asking would prompt on a terminal): the
    // default initiator name then says "localhost".
    machineName: () => (granted(deno, "sys") ? deno.hostname() : undefined),
  };
}

/** Whether Deno grants `name` already: checked first, since using it otherwise prompts on a terminal. */
function granted(deno: DenoApi, name: "read" | "env" | "ffi" | "sys"): boolean {
  try {
    return deno.permissions?.querySync?.(name === "sys" ? { name, kind: "hostname" } : { name }).state === "granted";
  } catch {
    return false;
  }
}

function denoTimer(deno: DenoApi, delayMs: number, callback: () => void): HostTimer {
  const timer = setTimeout(callback, delayMs);
  return {
    cancel: () => clearTimeout(timer),
    hold: (holdOpen) => holdTimer(deno, timer, holdOpen),
  };
}

/** Deno 2's timers are Node-style objects with ref/unref; older ones are numbers for Deno.refTimer. */
function holdTimer(deno: DenoApi, timer: unknown, holdOpen: boolean): void {
  if (typeof timer === "number") {
    if (holdOpen) deno.refTimer(timer);
    else deno.unrefTimer(timer);
  } else if (holdOpen) (timer as { ref(): void }).ref();
  else (timer as { unref(): void }).unref();
}

function connectDeno(deno: DenoApi, portal: Portal, sink: StreamSink, options: ConnectOptions): ByteStream {
  let conn: DenoConn | undefined;
  const waiting: Uint8Array[] = [];
  let writing = false;
  let ending = false;
  let gone = false;
  let failure: IscsiError | undefined;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  // A connect that never completes must not hold the process once we gave up on it.
  const connecting = new AbortController();

  /** Closes and tells the sink once, after the current call returns (a close during our own `destroy` included). */
  const finish = (): void => {
    if (gone) return;
    gone = true;
    clearTimeout(connectTimer);
    clearTimeout(graceTimer);
    waiting.length = 0;
    if (conn === undefined) connecting.abort();
    try {
      conn?.close();
    } catch {
      // Already closed by the peer's reset.
    }
    queueMicrotask(() => sink.closed(failure));
  };

  const fail = (error: unknown): void => {
    if (gone) return;
    failure ??= denoSocketError(error as Error, portal);
    finish();
  };

  const readLoop = async (c: DenoConn): Promise<void> => {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    while (!gone) {
      const direct = sink.directTarget(DIRECT_READ_MIN);
      const header = direct === undefined ? sink.headerReadLength(DIRECT_READ_MIN) : 0;
      const count = await c.read(direct ?? (header > 0 ? buffer.subarray(0, header) : buffer));
      if (gone) return;
      // null: the target closed its side in order; `failure` stays unset.
      if (count === null) return finish();
      if (direct !== undefined) sink.receivedDirectly(count);
      else sink.received(buffer.subarray(0, count));
    }
  };

  /**
   * After `end`, the connection is dropped once the peer has neither read for END_GRACE_MS nor,
   * after our FIN, closed its side: a target that never closes must not hold the process, and one
   * that is still reading what we queued must not lose it.
   */
  const armGrace = (): void => {
    clearTimeout(graceTimer);
    graceTimer = setTimeout(finish, END_GRACE_MS);
    holdTimer(deno, graceTimer, false);
  };

  const writeLoop = async (c: DenoConn): Promise<void> => {
    writing = true;
    while (waiting.length > 0 && !gone) {
      // Batches that queued behind the last write leave together.
      const chunk = waiting.length === 1 ? (waiting[0] as Uint8Array) : gather(waiting, total(waiting));
      waiting.length = 0;
      for (let at = 0; at < chunk.length && !gone; ) {
        at += await c.write(chunk.subarray(at));
        if (ending) armGrace();
      }
    }
    writing = false;
    if (ending && !gone) {
      await c.closeWrite();
      armGrace();
    }
  };

  const connectTimer = setTimeout(() => {
    failure ??= new TimeoutError(`cannot connect to ${formatPortal(portal)}: no answer within ${options.timeoutMs} ms`);
    finish();
  }, options.timeoutMs);

  deno.connect({ hostname: portal.host, port: portal.port, transport: "tcp", signal: connecting.signal }).then((c) => {
    if (gone) {
      c.close();
      return;
    }
    conn = c;
    clearTimeout(connectTimer);
    c.setNoDelay(true);
    sink.connected();
    readLoop(c).catch(fail);
    if (!gone && (waiting.length > 0 || ending)) writeLoop(c).catch(fail);
  }, fail);

  return {
    write: (pieces, length) => {
      if (gone || ending) return;
      waiting.push(gather(pieces, length));
      if (conn !== undefined && !writing) writeLoop(conn).catch(fail);
    },
    end: () => {
      if (gone || ending) return;
      ending = true;
      armGrace();
      if (conn !== undefined && !writing) writeLoop(conn).catch(fail);
    },
    destroy: finish,
  };
}

function total(pieces: readonly Uint8Array[]): number {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  return length;
}

/** A copy of a batch's pieces, in order, in one buffer of our own. */
function gather(pieces: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] as Uint8Array;
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/**
 * Deno's errors carry Node's errno codes (ECONNREFUSED, ECONNRESET...); a failed name lookup has
 * none, and only its message tells it apart: named here, at the host's edge, as ENOTFOUND.
 */
function denoSocketError(error: Error & { code?: string }, portal: Portal): IscsiError {
  if (error.code === undefined && /lookup address|Name or service not known|No address associated/i.test(error.message)) {
    return socketError({ code: "ENOTFOUND", message: error.message }, portal);
  }
  return socketError(error, portal);
}

// ------------------------------------------------------------------ services for the core

/** WebCrypto's CSPRNG, filled in parts of its 64 KiB quota. */
const webRandomBytes = randomBytesFrom((view) => crypto.getRandomValues(view));

/**
 * @node-rs/crc32 (SSE4.2) through Deno's N-API, checked before it is trusted (checkedCrc32c).
 * Loading it needs --allow-ffi, --allow-env and --allow-read; without all three (asking would
 * prompt on a terminal) the pure one serves.
 */
export function loadDenoCrc32c(deno: DenoApi = denoApi()): { readonly fn: Crc32c; readonly native: boolean } {
  if (!granted(deno, "ffi") || !granted(deno, "env") || !granted(deno, "read")) return checkedCrc32c(undefined);
  try {
    return checkedCrc32c((createRequire(import.meta.url)("@node-rs/crc32") as { crc32c: NativeCrc32c }).crc32c);
  } catch {
    return checkedCrc32c(undefined);
  }
}

/**
 * CHAP's hashes from @noble/hashes rather than node:crypto (Deno's is Node compatibility): one
 * CHAP response (49 bytes) took, under Deno 2.9 here (test/hosts/chap-hash-bench.ts), MD5 2.2 µs
 * noble vs 2.5 µs node:crypto, SHA-1 3.6 vs 3.6, SHA-256 2.6 vs 3.1, SHA3-256 7.6 vs 2.9: a few
 * microseconds once per login either way, so the pure one, which needs nothing of the runtime.
 */
export function denoSessionDeps(): SessionDeps {
  return { crc32c: loadDenoCrc32c(denoApi()).fn, randomBytes: webRandomBytes, hash: nobleHash };
}
