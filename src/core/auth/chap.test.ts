import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AuthenticationError, ConfigError, RemoteProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import { formatBase64, formatHex, parseBinary } from "../text/values.js";
import { seededRandomBytes } from "../login/pair.test-util.js";
import { ChapAuthenticator, ChapInitiator, chapResponse, generateChallenge, parseChapChallenge, parseChapIdentifier } from "./chap.js";
import type { ChapAlgorithm, HashFunction } from "./hash.js";
import { Secret } from "./secret.js";

const hash: HashFunction = (algorithm, data) => new Uint8Array(createHash(algorithm).update(data).digest());
const sequence16 = Uint8Array.from({ length: 16 }, (_, i) => i);

describe("chapResponse = H(id || secret || challenge)", () => {
  // Expected values computed independently while writing this test, with
  //   printf '\x01secret12chars\x00\x01...\x0f' > v.bin; openssl dgst -md5|-sha1|-sha256|-sha3-256 v.bin
  // (RFC 1994 publishes no vectors).
  const vectors: Array<[ChapAlgorithm, string]> = [
    [5, "bb622a912f2f1c96044bb41c295f1bfa"],
    [6, "3da1fbf434de801b1615a0fea7569f734d8b1076"],
    [7, "d2793539268994ff7f51b13984729ff71bdd0a84f38dfb137d29e7e43e8f3371"],
    [8, "99b3b6da8a09f7c8f1aba6bd646c1e078b66bf87bddb9c7146e1982f7765df29"],
  ];
  for (const [alg, expected] of vectors) {
    it(`matches openssl for algorithm ${alg} (id 1, "secret12chars", challenge 00..0f)`, () => {
      expect(hexOf(chapResponse(hash, alg, 1, Secret.fromString("secret12chars"), sequence16))).toBe(expected);
    });
  }

  // A second set with identifier 0x2a, secret "tgtsecret123", challenge ff x 20 (openssl, as above).
  const vectors2: Array<[ChapAlgorithm, string]> = [
    [5, "6230831344f22e31d7386a9ce6147428"],
    [6, "653b7a8894bcbe41b068c1d214b2815cb58489ba"],
    [7, "6cd4907c6a25fea9d309f77f15d770fd70db9c3f8992ccd413c9951bf4ed5a41"],
    [8, "412e4944291f45f36a107eeae2da571d7d61fb3aa4e3e8f8ac1e5d677dc71373"],
  ];
  for (const [alg, expected] of vectors2) {
    it(`matches openssl for algorithm ${alg} (id 42, "tgtsecret123", challenge ff x 20)`, () => {
      expect(hexOf(chapResponse(hash, alg, 0x2a, Secret.fromString("tgtsecret123"), new Uint8Array(20).fill(0xff)))).toBe(expected);
    });
  }

  it("agrees with libiscsi and tgtd on a captured MD5 login (both directions)", () => {
    // Captured on loopback: tgtd challenged libiscsi's iscsi-inq (CHAP_I=1), and libiscsi
    // challenged tgtd for mutual CHAP (CHAP_I=1); the responses below are theirs.
    const c1 = parseBinary("0x2e375a0e4305b4378aad1aa2c4abb419f17f9fbe973c018022c1bc1ca2400e176427816f50c2fbee5460f1a25fec7e045524") as Uint8Array;
    expect(formatHex(chapResponse(hash, 5, 1, Secret.fromString("secret12chars"), c1))).toBe("0x56069370b9944ed773d6cff9ea727ecc");
    const c2 = parseBinary("0xB83AE916F811963B21FF79874FF88D9699617D83C567CF081A84320CC9B29382") as Uint8Array;
    expect(formatHex(chapResponse(hash, 5, 1, Secret.fromString("tgtsecret123"), c2))).toBe("0xb2855e389dde263aacb39530c675d774");
  });
});

describe("CHAP value bounds", () => {
  it("reads CHAP_I as a number 0..255", () => {
    expect(parseChapIdentifier("255", "t")).toBe(255);
    expect(parseChapIdentifier("0x10", "t")).toBe(16);
    expect(() => parseChapIdentifier("256", "t")).toThrow(RemoteProtocolError);
    expect(() => parseChapIdentifier(undefined, "t")).toThrow(/missing/);
  });

  it("reads CHAP_C in hex or base64 and refuses fewer than 16 or more than 1024 bytes", () => {
    expect(parseChapChallenge(formatBase64(sequence16), "t")).toEqual(sequence16);
    expect(() => parseChapChallenge(formatHex(new Uint8Array(15)), "t")).toThrow(AuthenticationError);
    expect(parseChapChallenge(formatHex(new Uint8Array(1024)), "t")).toHaveLength(1024);
    expect(() => parseChapChallenge(formatHex(new Uint8Array(1025)), "t")).toThrow(AuthenticationError);
    expect(() => parseChapChallenge("abc", "t")).toThrow(RemoteProtocolError);
  });

  it("generates challenges at least as long as the digest", () => {
    const rnd = seededRandomBytes(1);
    expect(generateChallenge(rnd, 5)).toHaveLength(32);
    expect(generateChallenge(rnd, 7, 16)).toHaveLength(32);
    expect(() => generateChallenge(rnd, 5, 2000)).toThrow(ConfigError);
  });
});

function sides(options: { mutual?: boolean; targetAlgorithms?: ChapAlgorithm[]; initiatorAlgorithms?: ChapAlgorithm[]; wrong?: boolean } = {}) {
  const initiator = new ChapInitiator({
    username: "alice",
    secret: Secret.fromString(options.wrong === true ? "wrong-secret" : "secret12chars"),
    ...(options.mutual === true ? { targetUsername: "tgt", targetSecret: Secret.fromString("tgtsecret123") } : {}),
    ...(options.initiatorAlgorithms === undefined ? {} : { algorithms: options.initiatorAlgorithms }),
    hash,
    randomBytes: seededRandomBytes(7),
  });
  const target = new ChapAuthenticator({
    ...(options.targetAlgorithms === undefined ? {} : { algorithms: options.targetAlgorithms }),
    lookupAccount: (u) => (u === "alice" ? Secret.fromString("secret12chars") : undefined),
    outgoing: { username: "tgt", secret: Secret.fromString("tgtsecret123") },
    hash,
    randomBytes: seededRandomBytes(11),
  });
  return { initiator, target };
}

describe("CHAP exchange", () => {
  it("authenticates one way with the strongest common algorithm", () => {
    const { initiator, target } = sides({ targetAlgorithms: [5, 7] });
    const challenge = target.challenge(initiator.algorithmOffer()[1]);
    expect(challenge.chosen).toBe(7);
    const answer = initiator.answerChallenge(challenge.pairs);
    expect(answer.kind).toBe("respond");
    if (answer.kind !== "respond") return;
    const verdict = target.verify(answer.pairs);
    expect(verdict).toMatchObject({ ok: true, username: "alice", mutual: false });
  });

  it("authenticates both ways (mutual CHAP)", () => {
    const { initiator, target } = sides({ mutual: true });
    const answer = initiator.answerChallenge(target.challenge("8,7,6,5").pairs);
    if (answer.kind !== "respond") throw new Error("expected a response");
    const verdict = target.verify(answer.pairs);
    if (!verdict.ok) throw new Error(verdict.reason);
    expect(() => initiator.verifyTarget(verdict.replies)).not.toThrow();
  });

  it("refuses a wrong secret", () => {
    const { initiator, target } = sides({ wrong: true });
    const answer = initiator.answerChallenge(target.challenge("5").pairs);
    if (answer.kind !== "respond") throw new Error("expected a response");
    expect(target.verify(answer.pairs)).toMatchObject({ ok: false });
  });

  it("refuses a response of the wrong length", () => {
    const { target } = sides();
    target.challenge("7");
    expect(target.verify([["CHAP_N", "alice"], ["CHAP_R", formatHex(new Uint8Array(16))]])).toMatchObject({ ok: false, reason: expect.stringMatching(/16 bytes/) });
  });

  it("refuses an initiator challenge identical to the target's (reflection)", () => {
    const { initiator, target } = sides();
    const challenge = target.challenge("5").pairs;
    const answer = initiator.answerChallenge(challenge);
    if (answer.kind !== "respond") throw new Error("expected a response");
    const reflected = [...answer.pairs, ["CHAP_I", "1"] as const, ["CHAP_C", challenge.find(([k]) => k === "CHAP_C")?.[1] as string] as const];
    expect(target.verify(reflected)).toMatchObject({ ok: false, reason: expect.stringMatching(/reflects our own challenge/) });
  });

  it("refuses a target proof made with the initiator's own secret", () => {
    const { initiator, target } = sides({ mutual: true });
    const answer = initiator.answerChallenge(target.challenge("5").pairs);
    if (answer.kind !== "respond") throw new Error("expected a response");
    const id = Number(answer.pairs.find(([k]) => k === "CHAP_I")?.[1]);
    const c = parseBinary(answer.pairs.find(([k]) => k === "CHAP_C")?.[1] as string) as Uint8Array;
    const forged = formatHex(chapResponse(hash, 5, id, Secret.fromString("secret12chars"), c));
    expect(() => initiator.verifyTarget([["CHAP_N", "tgt"], ["CHAP_R", forged]])).toThrow(expect.objectContaining({ code: "ISCSI_ERR_MUTUAL_AUTH" }));
  });

  it("asks for a retry with MD5 when the target rejects the algorithm list or picks one not offered", () => {
    const { initiator } = sides();
    expect(initiator.answerChallenge([["CHAP_A", "Reject"]])).toMatchObject({ kind: "retry" });
    expect(initiator.answerChallenge([["CHAP_A", "9"], ["CHAP_I", "1"], ["CHAP_C", formatHex(sequence16)]])).toMatchObject({ kind: "retry" });
  });

  it("fails outright when MD5 alone was offered and refused", () => {
    const { initiator } = sides({ initiatorAlgorithms: [5] });
    expect(() => initiator.answerChallenge([["CHAP_A", "Reject"]])).toThrow(AuthenticationError);
  });

  it("answers CHAP_A=Reject when no offered algorithm is allowed", () => {
    const { target } = sides({ targetAlgorithms: [5] });
    expect(target.challenge("8,7")).toEqual({ pairs: [["CHAP_A", "Reject"]], chosen: undefined });
  });

  it("refuses the same secret for both directions at configuration time", () => {
    expect(
      () =>
        new ChapInitiator({
          username: "a",
          secret: Secret.fromString("same-secret-1"),
          targetUsername: "t",
          targetSecret: Secret.fromString("same-secret-1"),
          hash,
          randomBytes: seededRandomBytes(1),
        }),
    ).toThrow(ConfigError);
  });
});
