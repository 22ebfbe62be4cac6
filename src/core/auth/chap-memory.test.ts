import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { seededRandomBytes } from "../login/pair.test-util.js";
import { formatHex } from "../text/values.js";
import { ChapInitiator, REMEMBERED_CHALLENGES } from "./chap.js";
import type { HashFunction } from "./hash.js";
import { Secret } from "./secret.js";

const hash: HashFunction = (algorithm, data) => new Uint8Array(createHash(algorithm).update(data).digest());

function mutualInitiator(sentChallenges: Uint8Array[], seed: number): ChapInitiator {
  return new ChapInitiator({
    username: "alice",
    secret: Secret.fromString("initiator-secret-1"),
    targetUsername: "target",
    targetSecret: Secret.fromString("target-secret-22"),
    algorithms: [5],
    hash,
    randomBytes: seededRandomBytes(seed),
    sentChallenges,
  });
}

describe("mutual CHAP across the logins of one session", () => {
  it("refuses a target challenge that repeats one we sent in an earlier login (reflection across logins)", () => {
    const memory: Uint8Array[] = [];
    const first = mutualInitiator(memory, 1);
    const targetChallenge = new Uint8Array(16).fill(7);
    const outcome = first.answerChallenge([["CHAP_A", "5"], ["CHAP_I", "1"], ["CHAP_C", formatHex(targetChallenge)]]);
    if (outcome.kind !== "respond") throw new Error("test: expected a response");
    const ours = outcome.pairs.find(([k]) => k === "CHAP_C")?.[1] as string;
    expect(memory).toHaveLength(1);
    // Login 2: the "target" hands us our own login-1 challenge to answer.
    const second = mutualInitiator(memory, 2);
    expect(() => second.answerChallenge([["CHAP_A", "5"], ["CHAP_I", "9"], ["CHAP_C", ours]])).toThrow(
      expect.objectContaining({ code: "ISCSI_ERR_MUTUAL_AUTH", message: expect.stringMatching(/one we sent it in an earlier login/) }),
    );
  });

  it("remembers a bounded number of challenges", () => {
    const memory: Uint8Array[] = [];
    for (let i = 0; i < REMEMBERED_CHALLENGES + 5; i++) {
      mutualInitiator(memory, 100 + i).answerChallenge([["CHAP_A", "5"], ["CHAP_I", "1"], ["CHAP_C", formatHex(new Uint8Array(16).fill(i))]]);
    }
    expect(memory).toHaveLength(REMEMBERED_CHALLENGES);
  });
});
