/**
 * Test support: wires an InitiatorLogin to a TargetLogin in memory, optionally through the real
 * PDU codec (encode, frame, decode) so the login PDUs are proven on the wire format too.
 * No node: imports here (this file is type-checked as core code): hashes come from the test.
 */
import { crc32c } from "../digest/crc32c.js";
import { Framer, decodePdu, encodePdu } from "../pdu/index.js";
import type { LoginRequestPdu, LoginResponsePdu, Pdu } from "../pdu/types.js";
import type { LoginStep } from "./initiator.js";
import { InitiatorLogin } from "./initiator.js";
import type { TargetLoginStep } from "./target.js";
import { TargetLogin } from "./target.js";

/** A deterministic byte source (xorshift32), so failures replay. */
export function seededRandomBytes(seed: number): (n: number) => Uint8Array {
  let s = seed >>> 0 || 0x9e3779b9;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      out[i] = s & 0xff;
    }
    return out;
  };
}

function viaWire<P extends Pdu>(pdu: P): P {
  const pieces = encodePdu(pdu, { headerDigest: false, dataDigest: false, crc32c });
  const framer = new Framer({ maxDataSegmentLength: 0xff_ffff, headerDigest: false, dataDigest: false }, crc32c);
  for (const p of pieces) framer.push(p.slice());
  const frame = framer.next();
  if (frame === undefined) throw new Error("test harness: the framer did not give back the PDU");
  return decodePdu(frame) as P;
}

export interface Transcript {
  readonly requests: LoginRequestPdu[];
  readonly responses: LoginResponsePdu[];
}

export interface PairOutcome {
  /** The initiator's last step (never "send"). */
  readonly initiator: LoginStep;
  /** The target's last step. */
  readonly target: TargetLoginStep;
  readonly transcript: Transcript;
}

export interface PairOptions {
  /** Route every PDU through encodePdu/Framer/decodePdu. */
  readonly wire?: boolean;
  /** Change a response before the initiator sees it (to play a misbehaving target). */
  readonly tamperResponse?: (pdu: LoginResponsePdu, index: number) => LoginResponsePdu;
  readonly tamperRequest?: (pdu: LoginRequestPdu, index: number) => LoginRequestPdu;
  readonly maxSteps?: number;
}

/**
 * Runs a login to its end. Errors thrown by the initiator propagate; a target "reject"/"redirect"
 * PDU is handed to the initiator like any response.
 */
export function runLogin(initiator: InitiatorLogin, target: TargetLogin, options: PairOptions = {}): PairOutcome {
  const transcript: Transcript = { requests: [], responses: [] };
  const wire = <P extends Pdu>(p: P): P => (options.wire === true ? viaWire(p) : p);
  let request = initiator.start();
  for (let step = 0; step < (options.maxSteps ?? 64); step++) {
    request = options.tamperRequest?.(request, transcript.requests.length) ?? request;
    request = wire(request);
    transcript.requests.push(request);
    const t = target.receive(request);
    let response = wire(t.pdu);
    response = options.tamperResponse?.(response, transcript.responses.length) ?? response;
    transcript.responses.push(response);
    const i = initiator.receive(response);
    if (i.kind !== "send") return { initiator: i, target: t, transcript };
    if (t.kind !== "send") throw new Error(`test harness: the target ended (${t.kind}) but the initiator goes on`);
    request = i.pdu;
  }
  throw new Error("test harness: the login did not end");
}

export { InitiatorLogin, TargetLogin };
