/**
 * Text Request / Text Response in full feature phase (RFC 7143 §11.10, §11.11): SendTargets
 * (§13.3, Appendix D) and the few keys that may be renegotiated (§6.2; MaxRecvDataSegmentLength
 * above all). Long text goes both ways in pieces: the initiator's pieces (C bit) are gathered with
 * a bound; ours are sent one per request, the initiator asking for each next one with an empty
 * Text Request that echoes our Target Transfer Tag.
 */
import { RemoteProtocolError } from "../../core/errors.js";
import { RESERVED_TAG } from "../../core/pdu/opcodes.js";
import type { TextRequestPdu } from "../../core/pdu/types.js";
import type { DiscoveredTarget } from "../../core/discovery/send-targets.js";
import { buildSendTargetsResponse } from "../../core/discovery/send-targets.js";
import { type TextPair, TextAccumulator, encodeText, splitText } from "../../core/text/codec.js";
import { Negotiator } from "../../core/text/negotiation.js";
import type { TargetPolicy } from "../../core/text/parameters.js";
import { proposalValues } from "../../core/text/parameters.js";
import { parseNumber } from "../../core/text/values.js";

/** What a text exchange needs to know of its session and connection. */
export interface TextContext {
  readonly sessionType: "Normal" | "Discovery";
  readonly currentTarget: string | undefined;
  readonly policy: TargetPolicy;
  /** Targets this initiator may see, each with its addresses (for this connection). */
  targets(): readonly DiscoveredTarget[];
  /** The initiator declared a new MaxRecvDataSegmentLength. */
  updateSendLimit(bytes: number): void;
}

/** The Text Response to send for one request: one piece of our text. */
export interface TextReply {
  readonly data: Uint8Array;
  /** F bit: this exchange is complete. */
  readonly final: boolean;
  /** C bit: more of our text follows. */
  readonly continue: boolean;
  readonly targetTransferTag: number;
}

/** Text exchanges one session may have unfinished at once. */
const MAX_EXCHANGES = 16;

/** Bound on an initiator's text in one exchange (RFC 7143 §6.1 asks for at least 8192). */
const MAX_REQUEST_TEXT = 64 * 1024;

interface Exchange {
  incoming: TextAccumulator;
  outgoing: Uint8Array[];
  ttt: number;
}

/** The text exchanges of one session, keyed by Initiator Task Tag. */
export class TextExchanges {
  readonly #exchanges = new Map<number, Exchange>();
  readonly #allocateTag: () => number;

  constructor(allocateTag: () => number) {
    this.#allocateTag = allocateTag;
  }

  /**
   * Answers one Text Request. Throws RemoteProtocolError for a request that breaks the rules (a
   * wrong Target Transfer Tag, a login-only key, too much text); the caller rejects it.
   */
  handle(pdu: TextRequestPdu, maxSegment: number, context: TextContext): TextReply {
    const itt = pdu.initiatorTaskTag;
    let exchange = this.#exchanges.get(itt);
    if (pdu.targetTransferTag !== RESERVED_TAG) {
      // A continuation: the initiator asks for our next piece, or sends its next one.
      if (exchange === undefined || exchange.ttt !== pdu.targetTransferTag) {
        throw new RemoteProtocolError(
          `Text Request (ITT 0x${itt.toString(16)}): Target Transfer Tag 0x${pdu.targetTransferTag.toString(16)} does not continue any exchange of ours`,
        );
      }
      if (exchange.outgoing.length > 0) {
        if (pdu.data.length !== 0) throw new RemoteProtocolError(`Text Request (ITT 0x${itt.toString(16)}): text while our response continues`);
        return this.#nextPiece(itt, exchange);
      }
    } else if (exchange !== undefined && exchange.outgoing.length > 0) {
      // RFC 7143 §11.10.4: TTT 0xffffffff with an ITT in progress resets the exchange.
      this.#exchanges.delete(itt);
      exchange = undefined;
    }
    if (exchange === undefined) {
      if (this.#exchanges.size >= MAX_EXCHANGES) {
        throw new RemoteProtocolError(`Text Request (ITT 0x${itt.toString(16)}): ${MAX_EXCHANGES} text exchanges are already in progress`);
      }
      exchange = { incoming: new TextAccumulator({ maxBytes: MAX_REQUEST_TEXT, where: "Text Request" }), outgoing: [], ttt: RESERVED_TAG };
      this.#exchanges.set(itt, exchange);
    }
    try {
      exchange.incoming.append(pdu.data);
      if (pdu.continue) {
        // RFC 7143 §11.10.2: more of the initiator's text follows; answer empty and wait for it.
        exchange.ttt = this.#allocateTag();
        return { data: EMPTY, final: false, continue: false, targetTransferTag: exchange.ttt };
      }
      const pairs = exchange.incoming.finish({ where: "Text Request" });
      const reply = encodeText(answer(pairs, context));
      exchange.outgoing = splitText(reply, Math.max(1, maxSegment));
      return this.#nextPiece(itt, exchange);
    } catch (error) {
      this.#exchanges.delete(itt);
      throw error;
    }
  }

  #nextPiece(itt: number, exchange: Exchange): TextReply {
    const piece = exchange.outgoing.shift() as Uint8Array;
    if (exchange.outgoing.length === 0) {
      this.#exchanges.delete(itt);
      return { data: piece, final: true, continue: false, targetTransferTag: RESERVED_TAG };
    }
    exchange.ttt = this.#allocateTag();
    return { data: piece, final: false, continue: true, targetTransferTag: exchange.ttt };
  }

  get size(): number {
    return this.#exchanges.size;
  }
}

/** Our answer to one complete request: SendTargets records, then negotiation answers. */
function answer(pairs: readonly TextPair[], context: TextContext): TextPair[] {
  const out: TextPair[] = [];
  const rest: TextPair[] = [];
  for (const pair of pairs) {
    if (pair[0] === "SendTargets") {
      out.push(
        ...buildSendTargetsResponse(pair[1], context.targets(), {
          sessionType: context.sessionType,
          ...(context.currentTarget === undefined ? {} : { currentTarget: context.currentTarget }),
        }),
      );
    } else {
      rest.push(pair);
    }
  }
  if (rest.length > 0) {
    const negotiator = new Negotiator({ role: "target", sessionType: context.sessionType, leading: true, values: proposalValues(context.policy) });
    out.push(...negotiator.receive(rest, "full-feature"));
    const declared = negotiator.peerDeclaration("MaxRecvDataSegmentLength");
    if (declared !== undefined) {
      const bytes = parseNumber(declared);
      if (bytes !== undefined) context.updateSendLimit(bytes);
    }
  }
  return out;
}

const EMPTY = new Uint8Array(0);
