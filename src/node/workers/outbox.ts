/**
 * Messages to the other thread, gathered over one turn of the event loop and posted as one
 * batch. A postMessage costs a few microseconds whatever it carries, and a queue depth of 32
 * reads issued in one turn (or 32 answers read from one socket chunk) would otherwise pay it 32
 * times on each side. The batch goes when the turn's microtasks are done, so nothing waits for
 * a later turn.
 *
 * A batch has two lanes. Messages are objects, cloned. Records are fixed-width rows of numbers
 * in one Float64Array, for the hot path (a small read or write and its answer): cloning an object
 * per I/O, and collecting it after, cost more than the rest of the thread crossing (measured:
 * the worker spent twice the main thread's JavaScript per I/O on them). The receiver takes both
 * lanes in the order they were sent (./outbox.ts `deliver`).
 */

export interface MessageTarget {
  postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void;
}

export type Transfer = ArrayBuffer | readonly ArrayBuffer[] | undefined;

/** What one postMessage carries. */
export interface Batch<M> {
  readonly messages: readonly M[];
  /** For each message, how many records were sent before it (the two lanes' order). */
  readonly at: readonly number[];
  /** The records, `width` numbers each; absent when there are none. */
  readonly records: Float64Array | undefined;
}

export class Outbox<M> {
  private batch: M[] = [];
  private at: number[] = [];
  private rows: number[] = [];
  private transfers: ArrayBuffer[] = [];
  /** Each message's own buffers, for posting it alone if the batch cannot go. */
  private own: Transfer[] = [];
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  /**
   * `width`: numbers per record. `undeliverable` gets a message that cannot be posted (a buffer
   * that cannot be moved); `beforeFlush` runs just before each post (the worker writes its
   * shared counters there).
   */
  constructor(
    private readonly target: MessageTarget,
    readonly width: number,
    private readonly undeliverable: (message: M, error: unknown) => void,
    private readonly beforeFlush?: () => void,
  ) {}

  /**
   * Queues a message; `transfer` moves those buffers with it. A buffer named twice in one batch
   * (two writes from one moved array) is moved once and both messages see it.
   */
  send(message: M, transfer?: Transfer): void {
    this.batch.push(message);
    this.at.push(this.rows.length / this.width);
    this.own.push(transfer);
    if (transfer !== undefined) {
      for (const buffer of Array.isArray(transfer) ? (transfer as readonly ArrayBuffer[]) : [transfer as ArrayBuffer]) {
        if (!this.transfers.includes(buffer)) this.transfers.push(buffer);
      }
    }
    this.schedule();
  }

  /** Queues a record: `width` numbers (those past the width are ignored, missing ones are 0). */
  record(a: number, b: number, c = 0, d = 0, e = 0, f = 0, g = 0): void {
    const rows = this.rows;
    rows.push(a, b, c, d, e, f, g);
    // Seven pushed; keep `width`.
    rows.length -= 7 - this.width;
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  flush(): void {
    this.scheduled = false;
    this.beforeFlush?.();
    if (this.batch.length === 0 && this.rows.length === 0) return;
    const { batch, at, transfers, own } = this;
    const records = this.rows.length === 0 ? undefined : Float64Array.from(this.rows);
    this.batch = [];
    this.at = [];
    this.rows = [];
    this.transfers = [];
    this.own = [];
    const out: Batch<M> = { messages: batch, at, records };
    try {
      this.target.postMessage(out, records === undefined ? transfers : [...transfers, records.buffer]);
    } catch {
      // One message spoiled the batch (a buffer that cannot be moved or cloned): the records
      // and the other messages go on their own, and that one is refused to whoever sent it.
      if (records !== undefined) this.target.postMessage({ messages: [], at: [], records } satisfies Batch<M>, [records.buffer]);
      for (let i = 0; i < batch.length; i++) {
        const message = batch[i] as M;
        const transfer = own[i];
        try {
          this.target.postMessage({ messages: [message], at: [0], records: undefined } satisfies Batch<M>, transfer === undefined ? [] : Array.isArray(transfer) ? transfer : [transfer]);
        } catch (error) {
          this.undeliverable(message, error);
        }
      }
    }
  }
}

/** Hands a batch's messages and records to their handlers in the order they were sent. */
export function deliver<M>(batch: Batch<M>, width: number, onMessage: (message: M) => void, onRecord: (records: Float64Array, offset: number) => void): void {
  const records = batch.records;
  const count = records === undefined ? 0 : records.length / width;
  let next = 0;
  for (let i = 0; i < batch.messages.length; i++) {
    const before = batch.at[i] as number;
    for (; next < before; next++) onRecord(records as Float64Array, next * width);
    onMessage(batch.messages[i] as M);
  }
  for (; next < count; next++) onRecord(records as Float64Array, next * width);
}
