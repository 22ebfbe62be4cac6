/**
 * The client's side of the NBD wire, for tests: what a client sends (flags, options, requests)
 * and a reader for what the server sends back (greeting, option replies, simple replies,
 * structured chunks). Written from the protocol document, independently of the server's
 * encoders, so a test that compares the two can fail.
 */
import { NbdServerConnection, type NbdEvent, type NbdServerConfig } from "./connection.js";
import type { NbdExport } from "./export.js";
import { IHAVEOPT, NBD_REQUEST_MAGIC, NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC, NBDMAGIC, OPTION_REPLY_MAGIC } from "./constants.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function clientFlags(flags: number): Uint8Array {
  const out = new Uint8Array(4);
  dv(out).setUint32(0, flags);
  return out;
}

export function option(opt: number, data: Uint8Array = new Uint8Array(0), magic: bigint = IHAVEOPT): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  dv(out).setBigUint64(0, magic);
  dv(out).setUint32(8, opt);
  dv(out).setUint32(12, data.length);
  out.set(data, 16);
  return out;
}

/** NBD_OPT_INFO / NBD_OPT_GO data. */
export function infoData(name: string, requests: readonly number[] = []): Uint8Array {
  const n = enc.encode(name);
  const out = new Uint8Array(4 + n.length + 2 + 2 * requests.length);
  dv(out).setUint32(0, n.length);
  out.set(n, 4);
  dv(out).setUint16(4 + n.length, requests.length);
  requests.forEach((r, i) => dv(out).setUint16(6 + n.length + 2 * i, r));
  return out;
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data. */
export function metaData(name: string, queries: readonly string[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const n = enc.encode(name);
  const head = new Uint8Array(4);
  dv(head).setUint32(0, n.length);
  parts.push(head, n);
  const count = new Uint8Array(4);
  dv(count).setUint32(0, queries.length);
  parts.push(count);
  for (const q of queries) {
    const b = enc.encode(q);
    const l = new Uint8Array(4);
    dv(l).setUint32(0, b.length);
    parts.push(l, b);
  }
  return concat(parts);
}

export function request(r: { readonly type: number; readonly flags?: number; readonly cookie?: bigint; readonly offset?: bigint | number; readonly length?: number; readonly magic?: number }, payload?: Uint8Array): Uint8Array {
  const out = new Uint8Array(28 + (payload?.length ?? 0));
  const v = dv(out);
  v.setUint32(0, r.magic ?? NBD_REQUEST_MAGIC);
  v.setUint16(4, r.flags ?? 0);
  v.setUint16(6, r.type);
  v.setBigUint64(8, r.cookie ?? 1n);
  v.setBigUint64(16, BigInt(r.offset ?? 0));
  v.setUint32(24, r.length ?? 0);
  if (payload !== undefined) out.set(payload, 28);
  return out;
}

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly data: Uint8Array;
  /** The data as text (error messages). */
  readonly text: string;
}

export type TransmissionReply =
  | { readonly kind: "simple"; readonly error: number; readonly cookie: bigint; readonly data: Uint8Array }
  | { readonly kind: "structured"; readonly flags: number; readonly type: number; readonly cookie: bigint; readonly payload: Uint8Array };

/**
 * Reads what the server sent, one message at a time; throws a RangeError when a message is
 * incomplete. Reading gives views: a large READ reply is not copied again.
 */
export class ServerReader {
  private bytes: Uint8Array = new Uint8Array(0);
  private offset = 0;

  /** A reader over `bytes` as they are (no copy). */
  static over(bytes: Uint8Array): ServerReader {
    const reader = new ServerReader();
    reader.bytes = bytes;
    return reader;
  }

  push(more: Uint8Array | readonly Uint8Array[]): void {
    this.bytes = concat([this.bytes.subarray(this.offset), ...(more instanceof Uint8Array ? [more] : more)]);
    this.offset = 0;
  }

  /** Everything not yet read, left in place. */
  unread(): Uint8Array {
    return this.bytes.slice(this.offset);
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private take(n: number): Uint8Array {
    if (this.remaining < n) throw new RangeError(`expected ${n} more bytes from the server, have ${this.remaining}`);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  greeting(): { readonly flags: number } {
    const b = this.take(18);
    if (dv(b).getBigUint64(0) !== NBDMAGIC || dv(b).getBigUint64(8) !== IHAVEOPT) throw new Error("not a newstyle greeting");
    return { flags: dv(b).getUint16(16) };
  }

  optionReply(): OptionReply {
    const h = this.take(20);
    if (dv(h).getBigUint64(0) !== OPTION_REPLY_MAGIC) throw new Error(`bad option reply magic ${dv(h).getBigUint64(0).toString(16)}`);
    const data = this.take(dv(h).getUint32(16));
    return { option: dv(h).getUint32(8), type: dv(h).getUint32(12), data, text: dec.decode(data) };
  }

  /** Option replies up to and including the first final one (ACK or an error). */
  optionReplies(): OptionReply[] {
    const out: OptionReply[] = [];
    for (;;) {
      const r = this.optionReply();
      out.push(r);
      if (r.type === 1 || r.type >= 0x8000_0000) return out;
    }
  }

  exportNameReply(noZeroes: boolean): { readonly size: bigint; readonly flags: number; readonly zeroes: Uint8Array } {
    const b = this.take(noZeroes ? 10 : 134);
    return { size: dv(b).getBigUint64(0), flags: dv(b).getUint16(8), zeroes: b.slice(10) };
  }

  /** One reply; `readLength` is the data a successful simple READ reply carries. */
  reply(readLength = 0): TransmissionReply {
    if (this.remaining < 4) throw new RangeError("expected a reply");
    const magic = dv(this.bytes).getUint32(this.offset);
    if (magic === NBD_SIMPLE_REPLY_MAGIC) {
      const h = this.take(16);
      const error = dv(h).getUint32(4);
      return { kind: "simple", error, cookie: dv(h).getBigUint64(8), data: error === 0 ? this.take(readLength) : new Uint8Array(0) };
    }
    if (magic === NBD_STRUCTURED_REPLY_MAGIC) {
      const h = this.take(20);
      return { kind: "structured", flags: dv(h).getUint16(4), type: dv(h).getUint16(6), cookie: dv(h).getBigUint64(8), payload: this.take(dv(h).getUint32(16)) };
    }
    throw new Error(`bad reply magic 0x${magic.toString(16)}`);
  }
}

/** An error chunk's error value and message. */
export function errorChunk(payload: Uint8Array): { readonly error: number; readonly message: string } {
  const length = dv(payload).getUint16(4);
  return { error: dv(payload).getUint32(0), message: dec.decode(payload.subarray(6, 6 + length)) };
}

/** A BLOCK_STATUS chunk's context id and extents. */
export function blockStatusChunk(payload: Uint8Array): { readonly id: number; readonly extents: Array<[number, number]> } {
  const extents: Array<[number, number]> = [];
  for (let at = 4; at < payload.length; at += 8) extents.push([dv(payload).getUint32(at), dv(payload).getUint32(at + 4)]);
  return { id: dv(payload).getUint32(0), extents };
}

/** NBD_INFO_EXPORT / NBD_INFO_BLOCK_SIZE data read back. */
export function infoOf(data: Uint8Array): { readonly type: number; readonly size?: bigint; readonly flags?: number; readonly min?: number; readonly preferred?: number; readonly max?: number; readonly text?: string } {
  const type = dv(data).getUint16(0);
  if (type === 0) return { type, size: dv(data).getBigUint64(2), flags: dv(data).getUint16(10) };
  if (type === 3) return { type, min: dv(data).getUint32(2), preferred: dv(data).getUint32(6), max: dv(data).getUint32(10) };
  return { type, text: dec.decode(data.subarray(2)) };
}

// ------------------------------------------------------------------ an engine under test


export const EXPORT: NbdExport = {
  name: "iqn.2026-11.test:disk/1",
  description: "LUN 1 of iqn.2026-11.test:disk",
  size: 64 << 20,
  minimumBlockSize: 512,
  preferredBlockSize: 4096,
  maximumPayload: 1 << 20,
  readOnly: false,
  flush: true,
  trim: true,
  writeZeroes: true,
  cache: true,
  multiConn: true,
  rotational: false,
};

/** An engine, the bytes it sent read back, and the events it gave. */
export class Harness {
  readonly engine: NbdServerConnection;
  readonly server = new ServerReader();
  readonly events: NbdEvent[] = [];

  constructor(config: Partial<NbdServerConfig> = {}, now = 0) {
    this.engine = new NbdServerConnection({ exports: [EXPORT], ...config }, now);
    this.pump();
  }

  /** Bytes from the client, then everything the engine sent and emitted. */
  send(...parts: Uint8Array[]): this {
    for (const p of parts) this.engine.receive(p);
    return this.pump();
  }

  pump(): this {
    this.server.push(this.engine.pollTransmit());
    for (let e = this.engine.nextEvent(); e !== undefined; e = this.engine.nextEvent()) this.events.push(e);
    return this;
  }

  /** Events of one type given so far. */
  of<T extends NbdEvent["type"]>(type: T): Extract<NbdEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<NbdEvent, { type: T }> => e.type === type);
  }

  /** Greeting read, fixed newstyle flags sent, and (with `go`) NBD_OPT_GO for the export. */
  static negotiated(options: { readonly structured?: boolean; readonly meta?: boolean; readonly config?: Partial<NbdServerConfig> } = {}): Harness {
    const h = new Harness(options.config);
    h.server.greeting();
    h.send(clientFlags(3));
    if (options.structured === true) {
      h.send(option(8));
      h.server.optionReplies();
    }
    if (options.meta === true) {
      h.send(option(10, metaData("", ["base:allocation"])));
      h.server.optionReplies();
    }
    h.send(option(7, infoData("", [3])));
    h.server.optionReplies();
    return h;
  }
}
