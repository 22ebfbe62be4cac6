/**
 * A session's connections, in shared memory: the worker that runs the session writes each
 * connection's parameters and counters into a SharedArrayBuffer as it answers commands, and
 * the caller's thread reads them when `session.connections` is asked for, synchronously, as
 * the getter of a session on the caller's own thread is, and without a message per command.
 *
 * One writer, any readers, no locks: a sequence number (a seqlock) is odd while the writer is
 * in the middle of an update, so a reader that saw it odd, or saw it change while reading,
 * reads again instead of returning half of one update and half of the next.
 */
import type { ConnectionInfo } from "../index.js";

/** RFC 7143 §13.2 caps MaxConnections at 65535; sessions here use at most 64 (SessionOptions.connections). */
export const MAX_CONNECTIONS = 64;
/** cid, headerDigest, dataDigest, maxRecv, maxSend, commands, bytesIn, bytesOut, outstanding. */
const FIELDS = 9;
/** Int32 words before the numbers: the sequence and the count of connections (8 bytes, so the Float64s stay aligned). */
const HEADER_BYTES = 8;

export function counterBlockBytes(): number {
  return HEADER_BYTES + MAX_CONNECTIONS * FIELDS * 8;
}

export class ConnectionCounters {
  private readonly header: Int32Array;
  private readonly values: Float64Array;

  constructor(readonly memory: SharedArrayBuffer = new SharedArrayBuffer(counterBlockBytes())) {
    this.header = new Int32Array(memory, 0, 2);
    this.values = new Float64Array(memory, HEADER_BYTES, MAX_CONNECTIONS * FIELDS);
  }

  /** The writer's side (the worker): the connections as they are now. */
  write(connections: readonly ConnectionInfo[]): void {
    const count = Math.min(connections.length, MAX_CONNECTIONS);
    Atomics.add(this.header, 0, 1);
    Atomics.store(this.header, 1, count);
    const v = this.values;
    for (let i = 0; i < count; i++) {
      const c = connections[i] as ConnectionInfo;
      const at = i * FIELDS;
      v[at] = c.cid;
      v[at + 1] = c.headerDigest ? 1 : 0;
      v[at + 2] = c.dataDigest ? 1 : 0;
      v[at + 3] = c.maxRecvDataSegmentLength;
      v[at + 4] = c.maxSendDataSegmentLength;
      v[at + 5] = c.commands;
      v[at + 6] = c.bytesIn;
      v[at + 7] = c.bytesOut;
      v[at + 8] = c.outstanding;
    }
    Atomics.add(this.header, 0, 1);
  }

  /** The reader's side: one whole update, never a mix of two. */
  read(): ConnectionInfo[] {
    for (;;) {
      const before = Atomics.load(this.header, 0);
      if ((before & 1) === 1) continue;
      const count = Atomics.load(this.header, 1);
      const list: ConnectionInfo[] = [];
      const v = this.values;
      for (let i = 0; i < count; i++) {
        const at = i * FIELDS;
        list.push({
          cid: v[at] as number,
          headerDigest: v[at + 1] === 1,
          dataDigest: v[at + 2] === 1,
          maxRecvDataSegmentLength: v[at + 3] as number,
          maxSendDataSegmentLength: v[at + 4] as number,
          commands: v[at + 5] as number,
          bytesIn: v[at + 6] as number,
          bytesOut: v[at + 7] as number,
          outstanding: v[at + 8] as number,
        });
      }
      if (Atomics.load(this.header, 0) === before) return list;
    }
  }
}
