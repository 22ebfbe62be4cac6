/**
 * Renegotiation in full feature phase (RFC 7143 §6.2, §11.10): after an Asynchronous Message with
 * AsyncEvent 4 ("the target requests parameter negotiation", §11.9.1) or at the host's wish, the
 * initiator sends a Text Request with the keys it changes and applies the Text Response. Only
 * keys with Use "ALL" may appear (MaxRecvDataSegmentLength, the aliases, X- keys); a login-only
 * key is a RemoteProtocolError.
 */
import { LocalProtocolError } from "../errors.js";
import type { TextPair } from "./codec.js";
import { Negotiator } from "./negotiation.js";
import type { ConnectionParameters, SessionParameters } from "./parameters.js";

export interface RenegotiationChange {
  /** A new declaration of what we accept (RFC 7143 §13.12). */
  readonly maxRecvDataSegmentLength?: number;
  /** Extension keys to offer (answers come back in `extensions`). */
  readonly extraKeys?: ReadonlyArray<readonly [string, string]>;
}

export interface RenegotiationOutcome {
  readonly connection: ConnectionParameters;
  /** Our answers to keys the target offered: send them in the next Text Request (empty if none). */
  readonly replies: TextPair[];
  /** Whether every key we offered is answered; when false, keep exchanging Text PDUs. */
  readonly complete: boolean;
  readonly extensions: readonly TextPair[];
}

/** The initiator's side of one renegotiation, on one connection. */
export class InitiatorRenegotiation {
  readonly #n: Negotiator;
  readonly #current: ConnectionParameters;
  readonly #change: RenegotiationChange;

  constructor(session: Pick<SessionParameters, "sessionType">, current: ConnectionParameters, change: RenegotiationChange) {
    const mrdsl = change.maxRecvDataSegmentLength;
    if (mrdsl !== undefined && (!Number.isInteger(mrdsl) || mrdsl < 512 || mrdsl > 0xff_ffff)) {
      throw new LocalProtocolError(`MaxRecvDataSegmentLength=${mrdsl} is outside 512..16777215 (RFC 7143 §13.12)`);
    }
    this.#current = current;
    this.#change = change;
    this.#n = new Negotiator({ role: "initiator", sessionType: session.sessionType, leading: true, values: new Map() });
  }

  /** The Text Request's pairs. */
  request(): TextPair[] {
    const out: TextPair[] = [];
    if (this.#change.maxRecvDataSegmentLength !== undefined) {
      out.push(this.#n.declare("MaxRecvDataSegmentLength", String(this.#change.maxRecvDataSegmentLength)));
    }
    for (const [k, v] of this.#change.extraKeys ?? []) out.push(this.#n.offerValue(k, v));
    return out;
  }

  /** Applies one Text Response's pairs (the complete text, C bit resolved by the caller). */
  receive(pairs: readonly TextPair[]): RenegotiationOutcome {
    const replies = this.#n.receive(pairs, "full-feature");
    const ours = this.#n.ourDeclaration("MaxRecvDataSegmentLength");
    const theirs = this.#n.peerDeclaration("MaxRecvDataSegmentLength");
    return {
      connection: {
        ...this.#current,
        ...(ours === undefined ? {} : { maxRecvDataSegmentLength: Number(ours) }),
        ...(theirs === undefined ? {} : { maxSendDataSegmentLength: Number(theirs) }),
      },
      replies,
      complete: this.#n.pending().length === 0,
      extensions: this.#n.extensions(),
    };
  }
}
