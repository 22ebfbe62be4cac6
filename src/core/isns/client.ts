/**
 * One iSNSP connection, sans I/O: requests in (each gets a transaction ID, RFC 4171 §5.1.5),
 * bytes out (`pollTransmit`), bytes in (`receive`), events out (`nextEvent`): a response matched to
 * its request, or a request the server sent us (an SCN on the connection it opened to our SCN port,
 * an ESI). Time is the host's business: it bounds each request itself.
 */
import { IsnsFlag, functionName } from "./constants.js";
import { encodeMessage, IsnsFramer, isResponse, type IsnsMessage } from "./codec.js";
import { IsnsProtocolError } from "./errors.js";
import type { IsnsRequest } from "./messages.js";

export type IsnsEvent =
  | { readonly type: "response"; readonly request: number; readonly message: IsnsMessage }
  | { readonly type: "request"; readonly message: IsnsMessage };

export interface IsnsConnectionOptions {
  /** The first transaction ID (then counting up, wrapping at 16 bits); 1 unless told. */
  readonly firstTransactionId?: number;
  readonly maxMessageBytes?: number;
}

export class IsnsConnection {
  readonly #framer: IsnsFramer;
  readonly #pending = new Map<number, number>();
  #out: Uint8Array[] = [];
  readonly #events: IsnsEvent[] = [];
  #nextId: number;

  constructor(options: IsnsConnectionOptions = {}) {
    this.#framer = new IsnsFramer(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes });
    this.#nextId = (options.firstTransactionId ?? 1) & 0xffff;
  }

  /** Queues a request; returns its transaction ID. */
  send(request: IsnsRequest): number {
    let id = this.#nextId;
    while (this.#pending.has(id)) id = (id + 1) & 0xffff;
    this.#nextId = (id + 1) & 0xffff;
    this.#pending.set(id, request.functionId);
    const flags = IsnsFlag.Client | (request.replace === true ? IsnsFlag.Replace : 0);
    this.#out.push(...encodeMessage({ functionId: request.functionId, transactionId: id, flags, attributes: request.attributes }));
    return id;
  }

  /** Queues our answer to a request the server sent. */
  respond(message: IsnsMessage): void {
    this.#out.push(...encodeMessage({ ...message, flags: message.flags | IsnsFlag.Client }));
  }

  /** Bytes received. Throws IsnsProtocolError when they are not iSNSP: the connection is then done. */
  receive(bytes: Uint8Array): void {
    this.#framer.push(bytes);
    for (let m = this.#framer.next(); m !== undefined; m = this.#framer.next()) {
      if (!isResponse(m.functionId)) {
        this.#events.push({ type: "request", message: m });
        continue;
      }
      const request = this.#pending.get(m.transactionId);
      if (request === undefined) throw new IsnsProtocolError(`${functionName(m.functionId)} for transaction ${m.transactionId}, which we never sent or was answered already`);
      this.#pending.delete(m.transactionId);
      this.#events.push({ type: "response", request, message: m });
    }
  }

  /** True when the peer's close would cut a message short. */
  get midMessage(): boolean {
    return this.#framer.midMessage;
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.#pending.size;
  }

  pollTransmit(): Uint8Array[] | undefined {
    if (this.#out.length === 0) return undefined;
    const out = this.#out;
    this.#out = [];
    return out;
  }

  nextEvent(): IsnsEvent | undefined {
    return this.#events.shift();
  }
}
