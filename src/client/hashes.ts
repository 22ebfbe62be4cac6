/**
 * CHAP's hashes (MD5, SHA-1, SHA-256, SHA3-256; RFC 7143 §12.1.3, RFC 9266's algorithms) for
 * hosts that have no synchronous native ones: a browser's WebCrypto is asynchronous and has
 * neither MD5 nor SHA3. @noble/hashes is pure JavaScript, audited and dependency-free; CHAP
 * hashes a few dozen bytes once per login, so its speed does not matter here (measured in
 * src/client/hashes.test.ts against node:crypto).
 */
import { md5, sha1 } from "@noble/hashes/legacy.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import type { HashAlgorithm, HashFunction } from "../core/auth/hash.js";

const NOBLE: Record<HashAlgorithm, (data: Uint8Array) => Uint8Array> = {
  md5,
  sha1,
  sha256,
  "sha3-256": sha3_256,
};

export const nobleHash: HashFunction = (algorithm, data) => NOBLE[algorithm](data);
