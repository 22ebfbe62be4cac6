/**
 * Hostile behaviours of the login phase: the Login Responses the core's `TargetLogin` writes are
 * rewritten on their way out (negotiation values out of range, garbage keys, CHAP values of the
 * wrong size, a reflected CHAP response, a DataSegmentLength past 8192). Text longer than one
 * login PDU (8192 bytes, RFC 7143 §13.12) goes out in pieces with the C bit, and the initiator's
 * empty Login Requests asking for the rest are answered here, without the login machine.
 *
 * Text is written by hand (not `encodeText`, which refuses what these behaviours must send).
 */
import { chapResponse } from "../../core/auth/chap.js";
import { type ChapAlgorithm, isChapAlgorithm } from "../../core/auth/hash.js";
import type { Secret } from "../../core/auth/secret.js";
import { writeDigest } from "../../core/bytes.js";
import { DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, LoginStage } from "../../core/pdu/opcodes.js";
import type { LoginRequestPdu, LoginResponsePdu } from "../../core/pdu/types.js";
import { formatHex, parseBinary } from "../../core/text/values.js";
import type { HostileBehaviour } from "./behaviour.js";
import type { HostileContext, HostileLink } from "./context.js";

type Pair = [key: string, value: string | Uint8Array];

const utf8 = new TextEncoder();

/** Splits text at NULs and at the first "=", accepting anything (what a strict parser would refuse is the point). */
function looseParse(data: Uint8Array): Pair[] {
  const out: Pair[] = [];
  const text = new TextDecoder("utf-8", { fatal: false }).decode(data);
  for (const item of text.split("\0")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    out.push(eq < 0 ? [item, ""] : [item.slice(0, eq), item.slice(eq + 1)]);
  }
  return out;
}

function rawText(pairs: readonly Pair[], extra: readonly Uint8Array[] = []): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of pairs) {
    parts.push(utf8.encode(`${key}=`), typeof value === "string" ? utf8.encode(value) : value, Uint8Array.of(0));
  }
  parts.push(...extra);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function get(pairs: readonly Pair[], key: string): string | undefined {
  const found = pairs.find(([k]) => k === key)?.[1];
  return typeof found === "string" ? found : undefined;
}

function set(pairs: Pair[], key: string, value: string | Uint8Array): void {
  const at = pairs.findIndex(([k]) => k === key);
  if (at >= 0) pairs[at] = [key, value];
  else pairs.push([key, value]);
}

/** Bytes of a value of `n` bytes written as hex (CHAP_C, CHAP_R), from a fixed pattern. */
function hexValue(n: number): string {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 37 + 11) & 0xff;
  return formatHex(bytes);
}

/** Garbage for the first Login Response's text. */
function garbage(variant: Extract<HostileBehaviour, { kind: "garbage-login-keys" }>["variant"], count: number | undefined): Uint8Array {
  switch (variant) {
    case "non-utf8":
      return Uint8Array.of(0x58, 0x2d, 0x42, 0x61, 0x64, 0x3d, 0xff, 0xfe, 0xc3, 0x28, 0x00);
    case "no-equals":
      return utf8.encode("ThisPairHasNoEqualsSign\0");
    case "long-key":
      return utf8.encode(`X-${"K".repeat(70)}=1\0`);
    case "long-value":
      return utf8.encode(`X-LongValue=${"v".repeat(9000)}\0`);
    case "many-keys": {
      const n = count ?? 5000;
      const parts: string[] = [];
      for (let i = 0; i < n; i++) parts.push(`X-Key${i}=value${i}\0`);
      return utf8.encode(parts.join(""));
    }
  }
}

export class HostileLogin {
  readonly #behaviour: HostileBehaviour;
  readonly #context: HostileContext;
  readonly #link: HostileLink;
  /** Login Responses still to send, one per empty Login Request of the initiator (C bit). */
  #pending: LoginResponsePdu[] = [];
  #done = false;
  #algorithm: ChapAlgorithm | undefined;
  #request: Pair[] = [];

  constructor(behaviour: HostileBehaviour, context: HostileContext, link: HostileLink) {
    this.#behaviour = behaviour;
    this.#context = context;
    this.#link = link;
  }

  /** A Login Request before the login machine: the rest of a long text, or undefined to go on. */
  request(pdu: LoginRequestPdu): Uint8Array[] | undefined {
    const next = this.#pending.shift();
    if (next !== undefined) return this.#link.encode(next);
    if (pdu.data.length > 0) {
      this.#request = looseParse(pdu.data);
      const challenge = get(this.#request, "CHAP_C");
      const id = get(this.#request, "CHAP_I");
      if (this.#behaviour.kind === "chap-reflect" && challenge !== undefined && id !== undefined) this.#context.memory.lastChallenge = { id, challenge };
    }
    return undefined;
  }

  /** A Login Response of the login machine, as it goes on the wire. */
  response(pdu: LoginResponsePdu, pieces: Uint8Array[]): Uint8Array[] {
    const b = this.#behaviour;
    const pairs = looseParse(pdu.data);
    const algorithm = Number(get(pairs, "CHAP_A"));
    if (isChapAlgorithm(algorithm)) this.#algorithm = algorithm;
    let extra: Uint8Array[] = [];
    let changed = false;
    switch (b.kind) {
      case "huge-data-segment":
        if (b.phase !== "login" || this.#done) return pieces;
        this.#done = true;
        return this.#huge(pieces, b.length ?? 0xff_ffff);
      case "negotiation-out-of-range":
        if (this.#done || pdu.currentStage !== LoginStage.Operational) return pieces;
        set(pairs, b.key, b.value);
        changed = true;
        break;
      case "garbage-login-keys":
        if (this.#done) return pieces;
        extra = [garbage(b.variant, b.count)];
        changed = true;
        break;
      case "chap-value":
        if (this.#done || get(pairs, b.key) === undefined) return pieces;
        set(pairs, b.key, hexValue(b.bytes));
        changed = true;
        break;
      case "chap-reflect":
        changed = this.#reflect(pairs);
        break;
      default:
        return pieces;
    }
    if (!changed) return pieces;
    this.#done = true;
    return this.#send(pdu, rawText(pairs, extra));
  }

  /** RFC 7143 §12.1.3 reflection, both ways this target can try it. */
  #reflect(pairs: Pair[]): boolean {
    const memory = this.#context.memory.lastChallenge;
    if (get(pairs, "CHAP_C") !== undefined && get(pairs, "CHAP_R") === undefined && memory !== undefined) {
      // The challenge step of a later login: the initiator's own last challenge comes back.
      set(pairs, "CHAP_I", memory.id);
      set(pairs, "CHAP_C", memory.challenge);
      return true;
    }
    const name = get(this.#request, "CHAP_N");
    const id = Number(get(this.#request, "CHAP_I"));
    const challenge = parseBinary(get(this.#request, "CHAP_C") ?? "");
    if (get(pairs, "CHAP_R") === undefined || name === undefined || challenge === undefined || this.#algorithm === undefined) return false;
    const secret: Secret | undefined = this.#context.lookupSecret(name);
    if (secret === undefined) return false;
    // The target proves itself with what the initiator's own secret gives for its own challenge.
    set(pairs, "CHAP_R", formatHex(chapResponse(this.#context.hash, this.#algorithm, id, secret, challenge)));
    set(pairs, "CHAP_I", String(id));
    set(pairs, "CHAP_C", formatHex(challenge));
    return true;
  }

  /** Sends `text` in `pdu`, in pieces of at most 8192 bytes with the C bit when it is longer. */
  #send(pdu: LoginResponsePdu, text: Uint8Array): Uint8Array[] {
    const max = DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH;
    if (text.length <= max) return this.#link.encode({ ...pdu, data: text });
    const chunks: LoginResponsePdu[] = [];
    for (let at = 0; at < text.length; at += max) {
      const last = at + max >= text.length;
      const data = text.subarray(at, Math.min(text.length, at + max));
      // RFC 7143 §11.13.2: C=1 with T=0 until the last piece, which carries the real flags.
      chunks.push(last ? { ...pdu, data } : { ...pdu, data, continue: true, transit: false });
    }
    const first = chunks.shift() as LoginResponsePdu;
    this.#pending = chunks;
    return this.#link.encode(first);
  }

  /** A header claiming `length` bytes of data, then only a little of it. */
  #huge(pieces: Uint8Array[], length: number): Uint8Array[] {
    return hugeHeader(pieces, length, this.#link, this.#context);
  }
}

/** Rewrites the DataSegmentLength of an encoded PDU (fixing its header digest) and sends at most 4 KiB after it. */
export function hugeHeader(pieces: readonly Uint8Array[], length: number, link: HostileLink, context: HostileContext): Uint8Array[] {
  const header = (pieces[0] as Uint8Array).slice();
  header[5] = (length >>> 16) & 0xff;
  header[6] = (length >>> 8) & 0xff;
  header[7] = length & 0xff;
  if (link.digests.header) {
    const covered = header.length - 4;
    writeDigest(header, covered, context.crc32c(header.subarray(0, covered)));
  }
  return [header, new Uint8Array(Math.min(length, 4096)).fill(0x5a)];
}
