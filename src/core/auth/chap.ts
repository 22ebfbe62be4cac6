/**
 * CHAP for iSCSI (RFC 7143 §12.1.3 over RFC 1994), both sides. Hashes and randomness are
 * injected. The response to a challenge is H(identifier byte || secret || challenge).
 *
 * What we refuse, and why:
 * - a challenge shorter than 16 bytes or longer than 1024 (RFC 7143 §12.1.3 caps it at 1024; a
 *   short one makes the response a cheap dictionary target);
 * - a response whose length is not the digest length;
 * - a challenge identical to the one we sent (a reflection: the peer would get us to compute the
 *   response to its own challenge, §12.1.3);
 * - a response equal to the one our own secret gives for that challenge: RFC 3720 §8.2.1 (kept in
 *   RFC 7143 §12.1.3) forbids one secret for both directions, and this is how an endpoint sees it;
 * - configuring the same secret for both directions (refused up front, see ChapInitiator).
 */
import { AuthenticationError, ConfigError, RemoteProtocolError } from "../errors.js";
import type { TextPair } from "../text/codec.js";
import { formatHex, parseBinary, parseList, parseNumber } from "../text/values.js";
import type { ChapAlgorithm, ChapAlgorithmInfo, HashFunction, RandomBytes } from "./hash.js";
import { CHAP_ALGORITHMS, DEFAULT_CHAP_ALGORITHMS, isChapAlgorithm } from "./hash.js";
import { Secret, timingSafeEqual } from "./secret.js";

export const MIN_CHALLENGE_LENGTH = 16;
export const MAX_CHALLENGE_LENGTH = 1024;
/** What we send: at least the digest length, and never below 32 bytes. */
export const DEFAULT_CHALLENGE_LENGTH = 32;

function info(algorithm: ChapAlgorithm): ChapAlgorithmInfo {
  return CHAP_ALGORITHMS.get(algorithm) as ChapAlgorithmInfo;
}

/** RFC 1994 §4.1: Response = H(Identifier || secret || Challenge). */
export function chapResponse(
  hash: HashFunction,
  algorithm: ChapAlgorithm,
  identifier: number,
  secret: Secret,
  challenge: Uint8Array,
): Uint8Array {
  const s = secret.reveal();
  const input = new Uint8Array(1 + s.length + challenge.length);
  input[0] = identifier & 0xff;
  input.set(s, 1);
  input.set(challenge, 1 + s.length);
  const digest = hash(info(algorithm).hash, input);
  input.fill(0);
  return digest;
}

export function generateChallenge(randomBytes: RandomBytes, algorithm: ChapAlgorithm, length = DEFAULT_CHALLENGE_LENGTH): Uint8Array {
  const n = Math.max(length, info(algorithm).digestLength);
  if (n < MIN_CHALLENGE_LENGTH || n > MAX_CHALLENGE_LENGTH) throw new ConfigError(`CHAP challenge length ${n} is outside 16..1024`);
  const bytes = randomBytes(n);
  if (bytes.length !== n) throw new ConfigError(`randomBytes(${n}) returned ${bytes.length} bytes`);
  return bytes;
}

/** CHAP_I: a number 0..255 (decimal, or any RFC 7143 §6.1 numerical form). */
export function parseChapIdentifier(value: string | undefined, where: string): number {
  const n = value === undefined ? undefined : parseNumber(value);
  if (n === undefined || n > 255) throw new RemoteProtocolError(`${where}: CHAP_I=${value ?? "(missing)"} is not a number 0..255`);
  return n;
}

export function parseChapChallenge(value: string | undefined, where: string): Uint8Array {
  const bytes = value === undefined ? undefined : parseBinary(value);
  if (bytes === undefined) throw new RemoteProtocolError(`${where}: CHAP_C is ${value === undefined ? "missing" : "not a hex or base64 value"}`);
  if (bytes.length < MIN_CHALLENGE_LENGTH || bytes.length > MAX_CHALLENGE_LENGTH) {
    throw new AuthenticationError(`${where}: CHAP_C of ${bytes.length} bytes refused (we accept 16..1024)`);
  }
  return bytes;
}

function parseChapResponse(value: string | undefined, algorithm: ChapAlgorithm, where: string, mutual: boolean): Uint8Array {
  const bytes = value === undefined ? undefined : parseBinary(value);
  if (bytes === undefined) throw new RemoteProtocolError(`${where}: CHAP_R is ${value === undefined ? "missing" : "not a hex or base64 value"}`);
  const expected = info(algorithm).digestLength;
  if (bytes.length !== expected) {
    throw new AuthenticationError(`${where}: CHAP_R of ${bytes.length} bytes, ${info(algorithm).name} gives ${expected}`, { mutual });
  }
  return bytes;
}

function lookup(pairs: readonly TextPair[], key: string): string | undefined {
  return pairs.find(([k]) => k === key)?.[1];
}

export interface ChapInitiatorOptions {
  readonly username: string;
  readonly secret: Secret;
  /** Both set: mutual CHAP, the target must prove it knows `targetSecret`. */
  readonly targetUsername?: string;
  readonly targetSecret?: Secret;
  /** Offered in this order (strongest first by default). */
  readonly algorithms?: readonly ChapAlgorithm[];
  readonly hash: HashFunction;
  readonly randomBytes: RandomBytes;
  /**
   * The challenges we sent in earlier logins of the same session (mutual CHAP). A target whose
   * challenge equals one of them is refused: it would get us to answer our own challenge, the
   * reflection RFC 7143 §12.1.3 forbids, carried across logins. Ours are added to it.
   */
  readonly sentChallenges?: Uint8Array[];
}

/** How many of our own challenges a session remembers. */
export const REMEMBERED_CHALLENGES = 16;

/** The outcome of reading the target's CHAP_A/CHAP_I/CHAP_C. */
export type ChapChallengeOutcome =
  | { readonly kind: "respond"; readonly pairs: TextPair[]; readonly algorithm: ChapAlgorithm }
  /** The target refused or misread our algorithm list: retry the login offering MD5 only. */
  | { readonly kind: "retry"; readonly reason: string };

/** The initiator's half of CHAP. */
export class ChapInitiator {
  readonly algorithms: readonly ChapAlgorithm[];
  readonly mutual: boolean;
  readonly #o: ChapInitiatorOptions;
  #algorithm: ChapAlgorithm | undefined;
  #ourIdentifier = 0;
  #ourChallenge: Uint8Array | undefined;
  #targetChallenge: Uint8Array | undefined;

  constructor(options: ChapInitiatorOptions) {
    this.#o = options;
    this.algorithms = options.algorithms ?? DEFAULT_CHAP_ALGORITHMS;
    if (this.algorithms.length === 0 || this.algorithms.some((a) => !isChapAlgorithm(a))) {
      throw new ConfigError(`CHAP algorithms must be a non-empty list of 5, 6, 7, 8; got ${this.algorithms.join(",")}`);
    }
    if ((options.targetUsername === undefined) !== (options.targetSecret === undefined)) {
      throw new ConfigError("mutual CHAP needs both targetUsername and targetSecret");
    }
    this.mutual = options.targetSecret !== undefined;
    // RFC 7143 §12.1.3 (RFC 3720 §8.2.1): a secret used to authenticate initiators MUST NOT be
    // used to authenticate targets. We refuse the configuration rather than warn.
    if (options.targetSecret !== undefined && options.targetSecret.equals(options.secret)) {
      throw new ConfigError("mutual CHAP: the target's secret must differ from the initiator's (RFC 7143 §12.1.3)");
    }
  }

  get algorithm(): ChapAlgorithm | undefined {
    return this.#algorithm;
  }

  algorithmOffer(): TextPair {
    return ["CHAP_A", this.algorithms.join(",")];
  }

  /** Reads the target's CHAP_A, CHAP_I and CHAP_C and answers with CHAP_N, CHAP_R (and our challenge). */
  answerChallenge(pairs: readonly TextPair[]): ChapChallengeOutcome {
    const where = "CHAP (target's challenge)";
    const a = lookup(pairs, "CHAP_A");
    const picked = a === undefined ? undefined : parseNumber(a);
    if (a === undefined || a === "Reject" || picked === undefined || !isChapAlgorithm(picked) || !this.algorithms.includes(picked)) {
      const reason = a === undefined ? "the target sent no CHAP_A" : `the target answered CHAP_A=${a} to our CHAP_A=${this.algorithms.join(",")}`;
      if (this.algorithms.length === 1 && this.algorithms[0] === 5) {
        throw new AuthenticationError(`${reason}, and MD5 is all we offered: no common CHAP algorithm`);
      }
      return { kind: "retry", reason };
    }
    this.#algorithm = picked;
    const id = parseChapIdentifier(lookup(pairs, "CHAP_I"), where);
    const challenge = parseChapChallenge(lookup(pairs, "CHAP_C"), where);
    const sent = this.#o.sentChallenges;
    if (sent !== undefined && sent.some((earlier) => timingSafeEqual(earlier, challenge))) {
      throw new AuthenticationError("the target's CHAP challenge is one we sent it in an earlier login (reflection, RFC 7143 §12.1.3)", {
        mutual: true,
      });
    }
    this.#targetChallenge = challenge;
    const response = chapResponse(this.#o.hash, picked, id, this.#o.secret, challenge);
    const out: TextPair[] = [
      ["CHAP_N", this.#o.username],
      ["CHAP_R", formatHex(response)],
    ];
    if (this.mutual) {
      this.#ourIdentifier = this.#o.randomBytes(1)[0] ?? 0;
      let ours = generateChallenge(this.#o.randomBytes, picked);
      // Never send the target its own challenge back (reflection, RFC 7143 §12.1.3).
      if (timingSafeEqual(ours, challenge)) ours = generateChallenge(this.#o.randomBytes, picked);
      if (timingSafeEqual(ours, challenge)) throw new ConfigError("randomBytes keeps returning the target's challenge");
      this.#ourChallenge = ours;
      if (sent !== undefined) {
        sent.push(ours);
        if (sent.length > REMEMBERED_CHALLENGES) sent.splice(0, sent.length - REMEMBERED_CHALLENGES);
      }
      out.push(["CHAP_I", String(this.#ourIdentifier)], ["CHAP_C", formatHex(ours)]);
    }
    return { kind: "respond", pairs: out, algorithm: picked };
  }

  /** Checks the target's CHAP_N and CHAP_R (mutual CHAP); throws AuthenticationError (mutual) if wrong. */
  verifyTarget(pairs: readonly TextPair[]): void {
    const where = "mutual CHAP (target's response)";
    if (!this.mutual || this.#ourChallenge === undefined || this.#algorithm === undefined) return;
    const name = lookup(pairs, "CHAP_N");
    const r = lookup(pairs, "CHAP_R");
    if (name === undefined || r === undefined) {
      throw new AuthenticationError(`${where}: the target did not answer our challenge`, { mutual: true });
    }
    if (name !== this.#o.targetUsername) {
      throw new AuthenticationError(`${where}: the target named itself "${name}", expected "${this.#o.targetUsername ?? ""}"`, { mutual: true });
    }
    const got = parseChapResponse(r, this.#algorithm, where, true);
    const expected = chapResponse(this.#o.hash, this.#algorithm, this.#ourIdentifier, this.#o.targetSecret as Secret, this.#ourChallenge);
    const own = chapResponse(this.#o.hash, this.#algorithm, this.#ourIdentifier, this.#o.secret, this.#ourChallenge);
    const ok = timingSafeEqual(got, expected);
    const reflected = timingSafeEqual(got, own);
    if (!ok || reflected) {
      throw new AuthenticationError(`${where}: the target's CHAP_R does not verify`, { mutual: true });
    }
  }
}

/** An account the target checks initiators against, or presents for mutual CHAP. */
export interface ChapAccount {
  readonly username: string;
  readonly secret: Secret;
}

export interface ChapAuthenticatorOptions {
  /** Algorithms the target allows; it picks the first of the initiator's list that is here. */
  readonly algorithms?: readonly ChapAlgorithm[];
  /** The secret for an initiator's CHAP_N, or undefined for an unknown user. */
  readonly lookupAccount: (username: string) => Secret | undefined;
  /** The target's own account for mutual CHAP; without it, mutual CHAP fails. */
  readonly outgoing?: ChapAccount;
  readonly hash: HashFunction;
  readonly randomBytes: RandomBytes;
  readonly challengeLength?: number;
}

export type ChapVerdict =
  | { readonly ok: true; readonly username: string; readonly mutual: boolean; readonly replies: TextPair[] }
  | { readonly ok: false; readonly reason: string };

/** The target's half of CHAP. */
export class ChapAuthenticator {
  readonly #o: ChapAuthenticatorOptions;
  readonly #allowed: readonly ChapAlgorithm[];
  #algorithm: ChapAlgorithm | undefined;
  #identifier = 0;
  #challenge: Uint8Array | undefined;

  constructor(options: ChapAuthenticatorOptions) {
    this.#o = options;
    this.#allowed = options.algorithms ?? DEFAULT_CHAP_ALGORITHMS;
  }

  get algorithm(): ChapAlgorithm | undefined {
    return this.#algorithm;
  }

  /**
   * Answers the initiator's CHAP_A list: the first algorithm it offered that we allow, with our
   * identifier and challenge; or CHAP_A=Reject when there is none (RFC 7143 §12.1.3).
   */
  challenge(offered: string | undefined): { readonly pairs: TextPair[]; readonly chosen: ChapAlgorithm | undefined } {
    const list = (offered === undefined ? undefined : parseList(offered)) ?? [];
    const chosen = list.map((v) => parseNumber(v)).find((n): n is ChapAlgorithm => n !== undefined && isChapAlgorithm(n) && this.#allowed.includes(n));
    if (chosen === undefined) return { pairs: [["CHAP_A", "Reject"]], chosen: undefined };
    this.#algorithm = chosen;
    this.#identifier = this.#o.randomBytes(1)[0] ?? 0;
    this.#challenge = generateChallenge(this.#o.randomBytes, chosen, this.#o.challengeLength);
    return {
      pairs: [
        ["CHAP_A", String(chosen)],
        ["CHAP_I", String(this.#identifier)],
        ["CHAP_C", formatHex(this.#challenge)],
      ],
      chosen,
    };
  }

  /** Checks CHAP_N/CHAP_R and, if the initiator sent CHAP_I/CHAP_C, answers them (mutual CHAP). */
  verify(pairs: readonly TextPair[]): ChapVerdict {
    const where = "CHAP (initiator's response)";
    if (this.#algorithm === undefined || this.#challenge === undefined) return { ok: false, reason: "no CHAP challenge was sent" };
    const name = lookup(pairs, "CHAP_N");
    const r = lookup(pairs, "CHAP_R");
    if (name === undefined || r === undefined) return { ok: false, reason: "CHAP_N or CHAP_R missing" };
    let got: Uint8Array;
    try {
      got = parseChapResponse(r, this.#algorithm, where, false);
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    const secret = this.#o.lookupAccount(name);
    // Compute against a dummy secret for unknown users, so both paths cost the same.
    const expected = chapResponse(this.#o.hash, this.#algorithm, this.#identifier, secret ?? this.#o.outgoing?.secret ?? EMPTY, this.#challenge);
    const ok = timingSafeEqual(got, expected) && secret !== undefined;
    if (!ok) return { ok: false, reason: `CHAP response for user "${name}" does not verify` };
    if (this.#o.outgoing !== undefined) {
      const own = chapResponse(this.#o.hash, this.#algorithm, this.#identifier, this.#o.outgoing.secret, this.#challenge);
      if (timingSafeEqual(got, own)) return { ok: false, reason: "the initiator used the target's own secret (RFC 7143 §12.1.3)" };
    }
    const i = lookup(pairs, "CHAP_I");
    const c = lookup(pairs, "CHAP_C");
    if (i === undefined && c === undefined) return { ok: true, username: name, mutual: false, replies: [] };
    if (i === undefined || c === undefined) return { ok: false, reason: "mutual CHAP needs both CHAP_I and CHAP_C" };
    let id: number;
    let challenge: Uint8Array;
    try {
      id = parseChapIdentifier(i, where);
      challenge = parseChapChallenge(c, where);
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    if (timingSafeEqual(challenge, this.#challenge)) {
      return { ok: false, reason: "the initiator's CHAP_C reflects our own challenge (RFC 7143 §12.1.3)" };
    }
    const outgoing = this.#o.outgoing;
    if (outgoing === undefined) return { ok: false, reason: "mutual CHAP requested but the target has no outgoing account" };
    const response = chapResponse(this.#o.hash, this.#algorithm, id, outgoing.secret, challenge);
    return {
      ok: true,
      username: name,
      mutual: true,
      replies: [
        ["CHAP_N", outgoing.username],
        ["CHAP_R", formatHex(response)],
      ],
    };
  }
}

const EMPTY = Secret.fromBytes(new Uint8Array(0));
