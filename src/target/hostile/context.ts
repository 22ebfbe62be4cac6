/**
 * What the hostile layer needs: from the target (hashes, the initiators' CHAP secrets, a memory
 * shared by its connections) and from the one connection it misbehaves on.
 */
import type { HashFunction } from "../../core/auth/hash.js";
import type { Secret } from "../../core/auth/secret.js";
import type { Crc32c } from "../../core/digest/crc32c.js";
import type { InitiatorPdu, LoginRequestPdu, TargetPdu } from "../../core/pdu/types.js";

export interface HostileContext {
  readonly crc32c: Crc32c;
  readonly hash: HashFunction;
  /** The secret of an initiator's CHAP account (the target knows it: it checks it). */
  lookupSecret(username: string): Secret | undefined;
  /** Shared by the target's connections: the last CHAP challenge an initiator sent (chap-reflect). */
  readonly memory: { lastChallenge?: { readonly id: string; readonly challenge: string } };
}

/** The connection, as the hostile layer sees it. */
export interface HostileLink {
  /** Encodes with the connection's digests in force now. */
  encode(pdu: TargetPdu): Uint8Array[];
  readonly digests: { readonly header: boolean; readonly data: boolean };
  /** Takes a StatSN for a status PDU of the layer's own. */
  takeStatSN(): number;
}

/** The hostile layer of one connection. */
export interface HostileConnection {
  /** A Login Request before the login machine: bytes to answer with instead, or undefined. */
  loginRequest(pdu: LoginRequestPdu): Uint8Array[] | undefined;
  /** What goes on the wire for `pdu` (encoded as `pieces`): those, changed, or more. */
  outgoing(pdu: TargetPdu, pieces: Uint8Array[]): Uint8Array[];
  /** Sees each full-feature PDU the initiator sent, before the engine does (to learn its commands). */
  incoming(pdu: InitiatorPdu): void;
}
