/**
 * What every host would otherwise write again around its own sockets and libraries: socket
 * errors as the client's typed errors, a native CRC32C checked before it is trusted, and random
 * bytes from a fill function with a per-call quota. Host-free: each host passes in its own parts.
 */
import type { RandomBytes } from "../core/auth/hash.js";
import { crc32c as pureCrc32c, type Crc32c } from "../core/digest/crc32c.js";
import { type IscsiError, TimeoutError, TransportError } from "../core/errors.js";
import { formatHostPort } from "../core/url.js";
import type { Portal } from "./host.js";

/**
 * A socket failure, named by Node's errno codes (which Bun and Deno use too), as a TransportError
 * (or a TimeoutError) naming the portal and what happened.
 */
export function socketError(error: { readonly code?: string; readonly message: string }, portal: Portal): IscsiError {
  const where = formatHostPort(portal.host, portal.port);
  const options = { cause: error };
  switch (error.code) {
    case "ECONNREFUSED":
      return new TransportError(`cannot connect to ${where}: connection refused (is a target listening there?)`, options);
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return new TransportError(`cannot connect to ${where}: unknown host "${portal.host}"`, options);
    case "ETIMEDOUT":
      return new TimeoutError(`cannot connect to ${where}: timed out`, { ...options, kind: "connect" });
    case "ECONNRESET":
      return new TransportError(`connection to ${where} reset by the target`, options);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new TransportError(`cannot connect to ${where}: no route to host`, options);
    case "EPIPE":
      return new TransportError(`connection to ${where} broken (EPIPE)`, options);
    default:
      return new TransportError(`connection to ${where} failed: ${error.message}`, options);
  }
}

/** A native CRC32C as a host loads it (for example @node-rs/crc32's): (data, previous?) => crc. */
export type NativeCrc32c = (data: Uint8Array, initial?: number) => number;

/**
 * The core's CRC32C from a native one, trusted only once it agrees with the pure one on RFC 3720
 * B.4's vector; below 256 bytes (a 48-byte header) the pure table loop stays, as the native
 * call costs more there. `undefined` (none could be loaded) gives the pure one.
 */
export function checkedCrc32c(native: NativeCrc32c | undefined): { readonly fn: Crc32c; readonly native: boolean } {
  if (native === undefined) return { fn: pureCrc32c, native: false };
  try {
    const vector = new Uint8Array(32);
    if (native(vector) >>> 0 !== 0x8a9136aa) return { fn: pureCrc32c, native: false };
  } catch {
    return { fn: pureCrc32c, native: false };
  }
  const fn: Crc32c = (data, previous) =>
    data.length < 256 ? pureCrc32c(data, previous) : (previous === undefined ? native(data) : native(data, previous)) >>> 0;
  return { fn, native: true };
}

/** WebCrypto's getRandomValues fills at most 64 KiB a call: larger requests are filled in parts. */
export function randomBytesFrom(fill: (view: Uint8Array<ArrayBuffer>) => unknown): RandomBytes {
  return (length) => {
    const bytes = new Uint8Array(length);
    for (let at = 0; at < length; at += 65_536) fill(bytes.subarray(at, Math.min(length, at + 65_536)));
    return bytes;
  };
}
