/**
 * The Bun host: the client's byte streams on Bun's own TCP sockets (`Bun.connect`), Bun's native
 * hashes, WebCrypto randomness, the native CRC32C through Bun's N-API when it loads and agrees
 * with the pure one, Node-style timers (Bun's have unref) and performance.now.
 *
 * Bun's sockets keep no write queue: `write` returns what the kernel took, and the rest is ours to
 * write on `drain`. The core's pieces may be reused once our `write` returns, so everything that
 * waits is a copy of our own.
 *
 * One limit of `Bun.connect` (Bun 1.4): a connect cannot be abandoned. There is no socket before
 * `open` and no abort signal, so after our connect timeout the stream is closed for the client,
 * but the attempt goes on until the kernel gives up on the SYN (about 2 minutes with Linux's
 * tcp_syn_retries of 6) and holds the process open until then (test/hosts/transport.test.ts).
 */
import { createRequire } from "node:module";
import { hostname } from "node:os";
import type { HashAlgorithm, HashFunction } from "../core/auth/hash.js";
import type { Crc32c } from "../core/digest/crc32c.js";
import { type IscsiError, TimeoutError } from "../core/errors.js";
import type { SessionDeps } from "../core/session/session.js";
import { formatPortal } from "../client/driver.js";
import type { ByteStream, ClientHost, ConnectOptions, HostTimer, Portal, StreamSink } from "../client/host.js";
import { checkedCrc32c, type NativeCrc32c, randomBytesFrom, socketError } from "../client/services.js";
import { type BunApi, type BunSocket, bunApi } from "./bun-api.js";

/** How long an ended socket may wait for the peer's FIN before it is dropped. */
const END_GRACE_MS = 1_000;

/** The staging buffer a batch is gathered in starts at this size and grows to the largest batch. */
const STAGING_BYTES = 64 * 1024;

export function bunHost(deps: SessionDeps = bunSessionDeps()): ClientHost {
  const bun = bunApi();
  return {
    name: "bun",
    deps,
    connect: (portal, sink, options) => connectBun(bun, portal, sink, options),
    setTimer: (delayMs, callback) => bunTimer(setTimeout(callback, delayMs)),
    now: () => performance.now(),
    defer: (callback) => process.nextTick(callback),
    spin: (callback) => void setImmediate(callback),
    machineName: () => hostname(),
  };
}

function bunTimer(timeout: NodeJS.Timeout): HostTimer {
  return {
    cancel: () => clearTimeout(timeout),
    hold: (holdOpen) => {
      if (holdOpen) timeout.ref();
      else timeout.unref();
    },
  };
}

function connectBun(bun: BunApi, portal: Portal, sink: StreamSink, options: ConnectOptions): ByteStream {
  let socket: BunSocket | undefined;
  /** Bytes of ours still to write, oldest first; the first may have been written in part. */
  const waiting: Uint8Array[] = [];
  let staging = new Uint8Array(STAGING_BYTES);
  let ending = false;
  let finSent = false;
  let gone = false;
  let failure: IscsiError | undefined;
  let graceTimer: NodeJS.Timeout | undefined;

  /** Tells the sink once, after the current call returns (a close during our own `destroy` included). */
  const finish = (): void => {
    if (gone) return;
    gone = true;
    clearTimeout(connectTimer);
    clearTimeout(graceTimer);
    waiting.length = 0;
    queueMicrotask(() => sink.closed(failure));
  };

  /**
   * After `end`, the stream is dropped once the peer has neither read for END_GRACE_MS nor, after
   * our FIN, closed its side: a target that never closes must not hold the process, and one that
   * is still reading what we queued must not lose it.
   */
  const armGrace = (): void => {
    clearTimeout(graceTimer);
    graceTimer = setTimeout(() => {
      socket?.terminate();
      finish();
    }, END_GRACE_MS);
    graceTimer.unref();
  };

  /** Writes what waits, as far as the kernel takes it; FIN follows the last byte once `end` was asked. */
  const flush = (s: BunSocket): void => {
    if (ending) armGrace();
    while (waiting.length > 0) {
      const chunk = waiting[0] as Uint8Array;
      const written = s.write(chunk);
      if (written < 0) return;
      if (written < chunk.length) {
        waiting[0] = chunk.subarray(written);
        return;
      }
      waiting.shift();
    }
    if (ending && !finSent) {
      finSent = true;
      s.end();
    }
  };

  const connectTimer = setTimeout(() => {
    failure ??= new TimeoutError(`cannot connect to ${formatPortal(portal)}: no answer within ${options.timeoutMs} ms`);
    socket?.terminate();
    finish();
  }, options.timeoutMs);

  bun
    .connect({
      hostname: portal.host,
      port: portal.port,
      socket: {
        // Plain Uint8Arrays, not Buffers: the core copies with Uint8Array#slice, which Buffer turns into a view.
        binaryType: "uint8array",
        open: (s) => {
          if (gone) {
            s.terminate();
            return;
          }
          socket = s;
          clearTimeout(connectTimer);
          s.setNoDelay(true);
          flush(s);
          sink.connected();
        },
        data: (_s, data) => {
          if (!gone) sink.received(data);
        },
        drain: (s) => {
          if (!gone) flush(s);
        },
        close: (_s, error) => {
          if (error !== undefined) failure ??= socketError(error, portal);
          finish();
        },
        error: (_s, error) => {
          failure ??= socketError(error, portal);
        },
        connectError: (_s, error) => {
          failure ??= socketError(error, portal);
          finish();
        },
      },
    })
    .catch((error: unknown) => {
      // The same failure connectError saw; the rejection itself must not go unhandled.
      failure ??= socketError(error as Error, portal);
      finish();
    });

  return {
    write: (pieces, length) => {
      if (gone || ending) return;
      if (socket === undefined || waiting.length > 0) {
        waiting.push(gather(pieces, length, new Uint8Array(length)));
        return;
      }
      if (length > staging.length) staging = new Uint8Array(length);
      const batch = gather(pieces, length, staging);
      const written = socket.write(batch);
      // What the kernel did not take waits as a view of the staging buffer: while anything waits,
      // later batches are gathered into buffers of their own, so staging is not reused under it.
      if (written >= 0 && written < length) waiting.push(batch.subarray(written));
    },
    end: () => {
      if (gone || ending) return;
      ending = true;
      armGrace();
      if (socket !== undefined) flush(socket);
    },
    destroy: () => {
      socket?.terminate();
      finish();
    },
  };
}

/** Copies a batch's pieces, in order, into the start of `into`; returns that part. */
function gather(pieces: readonly Uint8Array[], length: number, into: Uint8Array): Uint8Array {
  if (pieces.length === 1) {
    into.set(pieces[0] as Uint8Array);
    return into.subarray(0, length);
  }
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] as Uint8Array;
    into.set(piece, at);
    at += piece.length;
  }
  return into.subarray(0, length);
}

// ------------------------------------------------------------------ services for the core

/** Bun.CryptoHasher is synchronous and has all four of CHAP's hashes (md5, sha1, sha256, sha3-256). */
function bunHash(bun: BunApi): HashFunction {
  return (algorithm: HashAlgorithm, data: Uint8Array) => {
    const digest = new bun.CryptoHasher(algorithm).update(data).digest();
    return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
  };
}

/** @node-rs/crc32 (SSE4.2) through Bun's N-API, checked before it is trusted (checkedCrc32c). */
export function loadBunCrc32c(): { readonly fn: Crc32c; readonly native: boolean } {
  try {
    return checkedCrc32c((createRequire(import.meta.url)("@node-rs/crc32") as { crc32c: NativeCrc32c }).crc32c);
  } catch {
    return checkedCrc32c(undefined);
  }
}

/** WebCrypto's CSPRNG, filled in parts of its 64 KiB quota. */
export const webRandomBytes = randomBytesFrom((view) => crypto.getRandomValues(view));

export function bunSessionDeps(): SessionDeps {
  return { crc32c: loadBunCrc32c().fn, randomBytes: webRandomBytes, hash: bunHash(bunApi()) };
}
