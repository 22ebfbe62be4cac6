/**
 * Messages to the other thread, gathered over one turn of the event loop and posted as one
 * array. A postMessage costs a few microseconds whatever it carries, and a queue depth of 32
 * reads issued in one turn (or 32 answers read from one socket chunk) would otherwise pay it 32
 * times on each side. The batch goes when the turn's microtasks are done, so nothing waits for
 * a later turn.
 */

export interface MessageTarget {
  postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void;
}

export type Transfer = ArrayBuffer | readonly ArrayBuffer[] | undefined;

export class Outbox<M> {
  private batch: M[] = [];
  private transfers: ArrayBuffer[] = [];
  /** Each message's own buffers, for posting it alone if the batch cannot go. */
  private own: Transfer[] = [];
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  /**
   * `beforeFlush` runs just before each post (the worker writes its shared counters there);
   * `undeliverable` gets a message that cannot be posted (a buffer that cannot be moved).
   */
  constructor(
    private readonly target: MessageTarget,
    private readonly undeliverable: (message: M, error: unknown) => void,
    private readonly beforeFlush?: () => void,
  ) {}

  /**
   * Queues a message; `transfer` moves those buffers with it. A buffer named twice in one batch
   * (two writes from one moved array) is moved once and both messages see it.
   */
  send(message: M, transfer?: Transfer): void {
    this.batch.push(message);
    this.own.push(transfer);
    if (transfer !== undefined) {
      for (const buffer of Array.isArray(transfer) ? (transfer as readonly ArrayBuffer[]) : [transfer as ArrayBuffer]) {
        if (!this.transfers.includes(buffer)) this.transfers.push(buffer);
      }
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  flush(): void {
    this.scheduled = false;
    this.beforeFlush?.();
    if (this.batch.length === 0) return;
    const { batch, transfers, own } = this;
    this.batch = [];
    this.transfers = [];
    this.own = [];
    try {
      this.target.postMessage(batch, transfers);
    } catch {
      // One message spoiled the batch (a buffer that cannot be moved or cloned): the others go
      // alone, and that one is refused to whoever sent it.
      for (let i = 0; i < batch.length; i++) {
        const message = batch[i] as M;
        const transfer = own[i];
        try {
          this.target.postMessage([message], transfer === undefined ? [] : Array.isArray(transfer) ? transfer : [transfer]);
        } catch (error) {
          this.undeliverable(message, error);
        }
      }
    }
  }
}
