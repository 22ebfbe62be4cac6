/**
 * The fault proxy's data path: one proxied connection is two pipes (initiator to target and back),
 * each a source socket, a PDU boundary stream, a queue that delay and throttle hold bytes in, and a
 * sink socket. The proxy (proxy.ts) decides what happens to each PDU; a pipe carries it out.
 */
import type * as net from "node:net";
import type { LoginWatch } from "./login-watch.js";
import { type PduPiece, PduStream } from "./pdu-stream.js";
import type { CloseMode, Direction, FaultEvent, FaultProxy, Plan } from "./proxy.js";

/** Bytes queued in one direction before reading from the source stops. */
const HIGH_WATER = 8 * 1024 * 1024;

interface Queued {
  readonly bytes: Uint8Array;
  readonly due: number;
  /** Close the connection once these bytes are written. */
  readonly close?: CloseMode;
}

/** One initiator connection and its connection to the target: two pipes. */
export class ProxiedConnection {
  readonly pipes: Record<Direction, Pipe>;
  private closing = false;

  constructor(
    readonly id: number,
    readonly proxy: FaultProxy,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    readonly watch: LoginWatch,
  ) {
    this.pipes = {
      "to-target": new Pipe("to-target", this, client, upstream),
      "to-initiator": new Pipe("to-initiator", this, upstream, client),
    };
  }

  start(): void {
    for (const socket of [this.client, this.upstream]) {
      socket.on("close", (hadError) => {
        // A reset on one side is passed on as a reset; an orderly close ends once flushed.
        if (hadError) this.close("rst");
        else if (this.client.destroyed && this.upstream.destroyed) this.finish();
      });
    }
    this.pipes["to-target"].start();
    this.pipes["to-initiator"].start();
  }

  updateFlow(): void {
    this.pipes["to-target"].updateFlow();
    this.pipes["to-initiator"].updateFlow();
  }

  pump(): void {
    this.pipes["to-target"].pump();
    this.pipes["to-initiator"].pump();
  }

  close(mode: CloseMode): void {
    if (this.closing) return;
    this.closing = true;
    for (const pipe of Object.values(this.pipes)) pipe.stop();
    if (mode === "rst") {
      if (!this.client.destroyed) this.client.resetAndDestroy();
      if (!this.upstream.destroyed) this.upstream.resetAndDestroy();
    } else {
      this.client.end();
      this.upstream.end();
      // A peer that never closes its side must not keep the connection alive.
      setTimeout(() => {
        this.client.destroy();
        this.upstream.destroy();
      }, 2_000).unref();
    }
    this.finish();
  }

  private finish(): void {
    this.proxy.forget(this);
  }
}

/** One direction of a proxied connection: source socket, PDU stream, delay queue, sink socket. */
class Pipe {
  private readonly stream: PduStream;
  private readonly queue: Queued[] = [];
  private head = 0;
  private queuedBytes = 0;
  private plan: Plan | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private sourceEnded = false;
  /** The throttled link's open burst: when it leaves, and how full it is. */
  private burstDue = 0;
  private burstFill = 0;

  constructor(
    readonly direction: Direction,
    private readonly connection: ProxiedConnection,
    private readonly source: net.Socket,
    private readonly sink: net.Socket,
  ) {
    this.stream = new PduStream(() => connection.watch.digests);
  }

  start(): void {
    this.source.on("data", (chunk: Buffer) => this.onData(chunk));
    this.source.on("end", () => {
      this.sourceEnded = true;
      this.pump();
    });
    this.sink.on("drain", () => {
      this.updateFlow();
      this.pump();
    });
    this.updateFlow();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }

  /** Reads from the source only while forwarding and while the backlog is small. */
  updateFlow(): void {
    if (this.stopped) return;
    const hold = this.connection.proxy.stalled || this.queuedBytes > HIGH_WATER || this.sink.writableNeedDrain;
    if (hold) this.source.pause();
    else this.source.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.connection.proxy.countBytes(this.direction, bytes.length);
    this.stream.push(bytes, (piece) => this.onPiece(piece));
    this.updateFlow();
    this.pump();
  }

  private onPiece(piece: PduPiece): void {
    if (this.stopped) return;
    const proxy = this.connection.proxy;
    if (piece.header) {
      proxy.countPdu(this.direction);
      if (proxy.delay(this.direction) > 0) proxy.countHeld("delay");
      if (proxy.rate(this.direction) !== undefined) proxy.countHeld("throttle");
      this.plan = proxy.plan(this.connection, this.direction, piece.pdu);
    }
    // The login is followed as sent, before any fault changes it.
    this.connection.watch.onPiece(piece);
    const plan = this.plan as Plan;
    if (piece.end) this.plan = undefined;
    if (plan.swallow) return;
    let bytes = piece.bytes;
    const from = piece.offset;
    const to = from + bytes.length;
    if (plan.flipAt !== undefined && plan.flipAt >= from && plan.flipAt < to && (plan.cutAt === undefined || plan.flipAt < plan.cutAt)) {
      bytes = bytes.slice();
      bytes[plan.flipAt - from] = (bytes[plan.flipAt - from] as number) ^ plan.flipMask;
      proxy.applied(plan.flipEvent as FaultEvent, plan.flipDone);
      plan.flipAt = undefined;
    }
    if (plan.cutAt !== undefined && to >= plan.cutAt) {
      this.enqueue(bytes.subarray(0, plan.cutAt - from), plan.cutMode);
      proxy.applied(plan.cutEvent as FaultEvent, plan.cutDone);
      plan.cutAt = undefined;
      // Nothing after the cut goes through.
      this.stopped = true;
      return;
    }
    this.enqueue(bytes);
  }

  private enqueue(bytes: Uint8Array, close?: CloseMode): void {
    const proxy = this.connection.proxy;
    const delay = proxy.delay(this.direction);
    const rate = proxy.rate(this.direction);
    const earliest = delay === 0 ? 0 : performance.now() + delay;
    this.queuedBytes += bytes.length;
    if (rate === undefined) {
      this.queue.push({ bytes, due: earliest, ...(close === undefined ? {} : { close }) });
      return;
    }
    // The link carries one burst per burst/rate seconds: bytes join the open burst, which leaves
    // at its due time; a full burst closes and the next one is due a burst's time later.
    const burstMs = (rate.burst / rate.bytesPerSecond) * 1000;
    let at = 0;
    do {
      if (this.burstFill >= rate.burst || this.burstDue < performance.now()) {
        const start = Math.max(this.burstDue, earliest, performance.now());
        this.burstDue = this.burstFill >= rate.burst ? start + burstMs : start;
        this.burstFill = 0;
      }
      const n = Math.min(bytes.length - at, rate.burst - this.burstFill);
      const piece = bytes.subarray(at, at + n);
      at += n;
      this.burstFill += n;
      this.queue.push({ bytes: piece, due: this.burstDue, ...(close !== undefined && at >= bytes.length ? { close } : {}) });
    } while (at < bytes.length);
  }

  /** Writes what is due, in order; closes the connection after a cut. */
  pump(): void {
    if (this.connection.proxy.stalled) return;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = performance.now();
    while (this.head < this.queue.length) {
      const item = this.queue[this.head] as Queued;
      if (item.due > now) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, Math.ceil(item.due - now));
        break;
      }
      this.head++;
      this.queuedBytes -= item.bytes.length;
      if (item.bytes.length > 0 && !this.sink.destroyed) this.sink.write(item.bytes);
      if (item.close !== undefined) {
        const close = item.close;
        this.queue.length = 0;
        this.head = 0;
        // Let the partial PDU leave before the close (a FIN follows the bytes; an RST could overtake them).
        if (close === "fin") this.connection.close("fin");
        else this.sink.write(new Uint8Array(0), () => this.connection.close("rst"));
        return;
      }
      if (this.sink.writableNeedDrain) break;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      if (this.sourceEnded && !this.stopped) {
        // The source closed its side: pass the FIN on once everything before it is written.
        this.stopped = true;
        this.sink.end();
      }
    } else if (this.head > 1024) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.updateFlow();
  }
}
