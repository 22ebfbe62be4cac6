import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { Outbox } from "./outbox.js";

/** Every batch that reaches the other end of a real MessageChannel, in order. */
function receiver(port: MessagePort): { readonly batches: unknown[][]; next(): Promise<unknown[]> } {
  const batches: unknown[][] = [];
  const waiting: Array<(batch: unknown[]) => void> = [];
  port.on("message", (batch: unknown[]) => {
    batches.push(batch);
    waiting.shift()?.(batch);
  });
  return { batches, next: () => new Promise((resolve) => waiting.push(resolve)) };
}

describe("Outbox", () => {
  const channels: MessageChannel[] = [];
  const channel = (): MessageChannel => {
    const c = new MessageChannel();
    channels.push(c);
    return c;
  };
  afterEach(() => {
    for (const c of channels.splice(0)) {
      c.port1.close();
      c.port2.close();
    }
  });

  it("posts the messages sent in one turn as one array, in order", async () => {
    const { port1, port2 } = channel();
    const got = receiver(port2);
    const outbox = new Outbox<number>(port1, () => undefined);
    for (let i = 0; i < 32; i++) outbox.send(i);
    expect(await got.next()).toEqual(Array.from({ length: 32 }, (_, i) => i));
    outbox.send(99);
    expect(await got.next()).toEqual([99]);
    expect(got.batches).toHaveLength(2);
  });

  it("moves a transferred buffer instead of copying it, once even when two messages name it", async () => {
    const { port1, port2 } = channel();
    const got = receiver(port2);
    const outbox = new Outbox<Uint8Array>(port1, () => undefined);
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    outbox.send(data.subarray(0, 4), data.buffer);
    outbox.send(data.subarray(4), data.buffer);
    const [a, b] = (await got.next()) as Uint8Array[];
    expect(data.byteLength).toBe(0);
    expect([...(a as Uint8Array)]).toEqual([1, 2, 3, 4]);
    expect([...(b as Uint8Array)]).toEqual([5, 6, 7, 8]);
    expect((a as Uint8Array).buffer).toBe((b as Uint8Array).buffer);
  });

  it("runs beforeFlush before each post, so what it writes is there when the batch arrives", async () => {
    const { port1, port2 } = channel();
    const got = receiver(port2);
    const shared = new Int32Array(new SharedArrayBuffer(4));
    let n = 0;
    const outbox = new Outbox<number>(port1, () => undefined, () => Atomics.store(shared, 0, ++n));
    outbox.send(1);
    await got.next();
    expect(Atomics.load(shared, 0)).toBe(1);
  });

  it("posts the rest of a batch alone when one message cannot be cloned, and hands that one back", async () => {
    const { port1, port2 } = channel();
    const got = receiver(port2);
    const refused: unknown[] = [];
    const outbox = new Outbox<unknown>(port1, (message, error) => refused.push([message, (error as Error).name]));
    const spoiled = { id: 2, callback: () => 1 };
    outbox.send({ id: 1 });
    outbox.send(spoiled);
    outbox.send({ id: 3 });
    const first = await got.next();
    const second = await got.next();
    expect([first, second]).toEqual([[{ id: 1 }], [{ id: 3 }]]);
    expect(refused).toEqual([[spoiled, "DataCloneError"]]);
  });
});
