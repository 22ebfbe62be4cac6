/**
 * How long one CHAP response takes to hash under the runtime running this file, with @noble/hashes
 * (pure JavaScript) and with node:crypto (native under Node and Bun, Node compatibility under
 * Deno): the figure behind the Deno host's choice of hash (src/deno/host.ts). A CHAP response hashes
 * the identifier, the secret and the challenge: here 1 + 16 + 32 bytes.
 * Run: `deno run test/hosts/chap-hash-bench.ts` (or bun, or `npx tsx` under Node).
 */
import { createHash } from "node:crypto";
import { nobleHash } from "../../src/client/hashes.js";

const ALGORITHMS = ["md5", "sha1", "sha256", "sha3-256"] as const;
const input = new Uint8Array(49).map((_, i) => i * 31);
const ROUNDS = 20_000;

function microseconds(hash: (algorithm: (typeof ALGORITHMS)[number], data: Uint8Array) => Uint8Array, algorithm: (typeof ALGORITHMS)[number]): number {
  for (let i = 0; i < 2_000; i++) hash(algorithm, input);
  const start = performance.now();
  for (let i = 0; i < ROUNDS; i++) hash(algorithm, input);
  return ((performance.now() - start) * 1000) / ROUNDS;
}

const nodeCrypto = (algorithm: string, data: Uint8Array): Uint8Array => createHash(algorithm).update(data).digest();
const rows = ALGORITHMS.map((algorithm) => ({
  algorithm,
  nobleUs: Number(microseconds(nobleHash, algorithm).toFixed(2)),
  nodeCryptoUs: Number(microseconds(nodeCrypto, algorithm).toFixed(2)),
}));
console.log(JSON.stringify({ runtime: "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node", rows }));
