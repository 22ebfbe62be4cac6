import { createHash, randomBytes as nodeRandomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { HashAlgorithm, HashFunction } from "../core/auth/hash.js";
import type { Crc32c } from "../core/digest/crc32c.js";
import { checkedCrc32c, type NativeCrc32c } from "../client/services.js";
import type { SessionDeps } from "../core/session/session.js";

/**
 * The host services the core is given on Node: a native CRC32C (SSE4.2/ARMv8 through
 * @node-rs/crc32) with the pure one as fallback, node:crypto hashes and randomness, and a
 * monotonic clock.
 */

let cachedCrc: { readonly fn: Crc32c; readonly native: boolean } | undefined;

export function loadCrc32c(): { readonly fn: Crc32c; readonly native: boolean } {
  if (cachedCrc !== undefined) return cachedCrc;
  let native: NativeCrc32c | undefined;
  try {
    native = (createRequire(import.meta.url)("@node-rs/crc32") as { crc32c: NativeCrc32c }).crc32c;
  } catch {
    native = undefined;
  }
  cachedCrc = checkedCrc32c(native);
  return cachedCrc;
}

const NODE_HASH_NAMES: Record<HashAlgorithm, string> = {
  md5: "md5",
  sha1: "sha1",
  sha256: "sha256",
  "sha3-256": "sha3-256",
};

export const nodeHash: HashFunction = (algorithm, data) => {
  const hash = createHash(NODE_HASH_NAMES[algorithm]);
  hash.update(data);
  const digest = hash.digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
};

export function nodeRandom(length: number): Uint8Array {
  const bytes = nodeRandomBytes(length);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function nodeSessionDeps(): SessionDeps {
  return { crc32c: loadCrc32c().fn, randomBytes: nodeRandom, hash: nodeHash };
}

/** Milliseconds from a monotonic clock: the core's notion of `now`. */
export function monotonicNow(): number {
  return performance.now();
}
