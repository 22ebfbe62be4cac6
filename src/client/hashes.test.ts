import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { HashAlgorithm } from "../core/auth/hash.js";
import { nobleHash } from "./hashes.js";

const HASH_ALGORITHMS: readonly HashAlgorithm[] = ["md5", "sha1", "sha256", "sha3-256"];

describe("nobleHash", () => {
  it("gives node:crypto's digest for every CHAP algorithm, on empty, short and long inputs", () => {
    const inputs = [new Uint8Array(0), new Uint8Array([1, 2, 3]), Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)];
    for (const algorithm of HASH_ALGORITHMS) {
      for (const input of inputs) {
        const expected = createHash(algorithm).update(input).digest("hex");
        expect(Buffer.from(nobleHash(algorithm, input)).toString("hex"), `${algorithm} of ${input.length} bytes`).toBe(expected);
      }
    }
  });
});
