import { createHash, randomBytes as nodeRandomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type { HashAlgorithm, HashFunction } from "../core/auth/hash.js";
import { type Crc32c, crc32c as pureCrc32c } from "../core/digest/crc32c.js";
import type { SessionDeps } from "../core/session/session.js";

/**
 * The host services the core is given on Node: a native CRC32C (SSE4.2/ARMv8 through
 * @node-rs/crc32) with the pure one as fallback, node:crypto hashes and randomness, and a
 * monotonic clock.
 */

let cachedCrc: { readonly fn: Crc32c; readonly native: boolean } | undefined;

export function loadCrc32c(): { readonly fn: Crc32c; readonly native: boolean } {
  if (cachedCrc !== undefined) return cachedCrc;
  try {
    const require = createRequire(import.meta.url);
    const mod = require("@node-rs/crc32") as { crc32c: (input: Uint8Array, initial?: number) => number };
    const native = mod.crc32c;
    // Check it agrees with the pure implementation before trusting it (RFC 3720 B.4 vector).
    if (native(new Uint8Array(32)) !== 0x8a9136aa) throw new Error("native crc32c disagrees");
    // The native call costs more than the pure table loop on a 48-byte header; it wins on data.
    const fn: Crc32c = (data, previous) =>
      data.length < 256 ? pureCrc32c(data, previous) : (previous === undefined ? native(data) : native(data, previous)) >>> 0;
    cachedCrc = { fn, native: true };
  } catch {
    cachedCrc = { fn: pureCrc32c, native: false };
  }
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
