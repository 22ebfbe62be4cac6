import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { type Batch, deliver, Outbox } from "./outbox.js";

/** Every batch that reaches the other end of a real MessageChannel, in order. */
function receiver<M>(port: MessagePort): { readonly batches: Batch<M>[]; next(): Promise<Batch<M>> } {
  const batches: Batch<M>[] = [];
  const waiting: Array<(batch: Batch<M>) => void> = [];
  port.on("message", (batch: Batch<M>) => {
    batches.push(batch);
    waiting.shift()?.(batch);
  });
  return { batches, next: () => new Promise((resolve) => waiting.push(resolve)) };
}

/** A batch as the receiver sees it: messages and records ([...] of each record's numbers) in the order sent. */
function unpack<M>(batch: Batch<M>, width: number): Array<M | number[]> {
  const seen: Array<M | number[]> = [];
  deliver(
    batch,
    width,
    (message) => seen.push(message),
    (records, at) => seen.push([...records.subarray(at, at + width)]),
  );
  return seen;
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

  it("posts the messages sent in one turn as one batch, in order", async () => {
    const { port1, port2 } = channel();
    const got = receiver<number>(port2);
    const outbox = new Outbox<number>(port1, 2, () => undefined);
    for (let i = 0; i < 32; i++) outbox.send(i);
    expect(unpack(await got.next(), 2)).toEqual(Array.from({ length: 32 }, (_, i) => i));
    outbox.send(99);
    expect(unpack(await got.next(), 2)).toEqual([99]);
    expect(got.batches).toHaveLength(2);
  });

  it("carries records as rows of numbers in one Float64Array, in order with the messages", async () => {
    const { port1, port2 } = channel();
    const got = receiver<string>(port2);
    const outbox = new Outbox<string>(port1, 3, () => undefined);
    outbox.record(1, 2, 3);
    outbox.send("after one record");
    outbox.record(4, 5, 6, 99);
    outbox.record(7, 8);
    outbox.send("after three");
    const batch = await got.next();
    expect(batch.records).toBeInstanceOf(Float64Array);
    expect(batch.records?.length).toBe(9);
    expect(unpack(batch, 3)).toEqual([[1, 2, 3], "after one record", [4, 5, 6], [7, 8, 0], "after three"]);
  });

  it("moves a transferred buffer instead of copying it, once even when two messages name it", async () => {
    const { port1, port2 } = channel();
    const got = receiver<Uint8Array>(port2);
    const outbox = new Outbox<Uint8Array>(port1, 2, () => undefined);
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    outbox.send(data.subarray(0, 4), data.buffer);
    outbox.send(data.subarray(4), data.buffer);
    const [a, b] = (await got.next()).messages as Uint8Array[];
    expect(data.byteLength).toBe(0);
    expect([...(a as Uint8Array)]).toEqual([1, 2, 3, 4]);
    expect([...(b as Uint8Array)]).toEqual([5, 6, 7, 8]);
    expect((a as Uint8Array).buffer).toBe((b as Uint8Array).buffer);
  });

  it("runs beforeFlush before each post, so what it writes is there when the batch arrives", async () => {
    const { port1, port2 } = channel();
    const got = receiver<number>(port2);
    const shared = new Int32Array(new SharedArrayBuffer(4));
    let n = 0;
    const outbox = new Outbox<number>(port1, 2, () => undefined, () => Atomics.store(shared, 0, ++n));
    outbox.record(1, 1);
    await got.next();
    expect(Atomics.load(shared, 0)).toBe(1);
  });

  it("posts the rest of a batch on its own when one message cannot be cloned, and hands that one back", async () => {
    const { port1, port2 } = channel();
    const got = receiver<unknown>(port2);
    const refused: unknown[] = [];
    const outbox = new Outbox<unknown>(port1, 2, (message, error) => refused.push([message, (error as Error).name]));
    const spoiled = { id: 2, callback: () => 1 };
    outbox.send({ id: 1 });
    outbox.send(spoiled);
    outbox.record(5, 6);
    outbox.send({ id: 3 });
    const seen = [...unpack(await got.next(), 2), ...unpack(await got.next(), 2), ...unpack(await got.next(), 2)];
    expect(seen).toEqual([[5, 6], { id: 1 }, { id: 3 }]);
    expect(refused).toEqual([[spoiled, "DataCloneError"]]);
  });
});
