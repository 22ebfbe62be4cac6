import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import type { ConnectionInfo } from "../index.js";
import { ConnectionCounters, MAX_CONNECTIONS } from "./counters.js";
import { typeScriptBootstrap } from "./entry.js";

function connection(cid: number, n: number): ConnectionInfo {
  return { cid, headerDigest: n % 2 === 1, dataDigest: n % 3 === 0, maxRecvDataSegmentLength: n, maxSendDataSegmentLength: n, commands: n, bytesIn: n * 4096, bytesOut: n * 512, outstanding: n % 32 };
}

describe("connection counters in shared memory", () => {
  it("reads back what was written, connection by connection", () => {
    const counters = new ConnectionCounters();
    const list = [connection(0, 7), connection(1, 12), connection(5, 2 ** 40)];
    counters.write(list);
    expect(counters.read()).toEqual(list);
    counters.write([connection(0, 8)]);
    expect(counters.read()).toEqual([connection(0, 8)]);
  });

  it("reads what another view of the same memory wrote (as the caller's thread reads the worker's)", () => {
    const writer = new ConnectionCounters();
    const reader = new ConnectionCounters(writer.memory);
    writer.write([connection(3, 99)]);
    expect(reader.read()).toEqual([connection(3, 99)]);
  });

  it("keeps at most its capacity of connections", () => {
    const counters = new ConnectionCounters();
    counters.write(Array.from({ length: MAX_CONNECTIONS + 3 }, (_, i) => connection(i, i)));
    expect(counters.read()).toHaveLength(MAX_CONNECTIONS);
  });

  it("never gives a reader half of one update and half of the next while a worker thread writes", async () => {
    const counters = new ConnectionCounters();
    const stop = new Int32Array(new SharedArrayBuffer(4));
    // The writer: update n gives every field of four connections the value n (or derived from it).
    const writer = `({ ConnectionCounters }) => {
      const { workerData } = require("node:worker_threads");
      const counters = new ConnectionCounters(workerData.memory);
      const stop = new Int32Array(workerData.stop);
      const c = (cid, n) => ({ cid, headerDigest: n % 2 === 1, dataDigest: n % 3 === 0, maxRecvDataSegmentLength: n, maxSendDataSegmentLength: n, commands: n, bytesIn: n * 4096, bytesOut: n * 512, outstanding: n % 32 });
      for (let n = 1; Atomics.load(stop, 0) === 0; n++) counters.write([c(0, n), c(1, n), c(2, n), c(3, n)]);
    }`;
    const worker = new Worker(typeScriptBootstrap(new URL("./counters.ts", import.meta.url).href, writer), {
      eval: true,
      workerData: { memory: counters.memory, stop: stop.buffer },
    });
    try {
      const seen = new Set<number>();
      const deadline = performance.now() + 10_000;
      while (seen.size < 200 && performance.now() < deadline) {
        const list = counters.read();
        if (list.length === 0) {
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        const n = list[0]?.commands as number;
        expect(list).toEqual([connection(0, n), connection(1, n), connection(2, n), connection(3, n)]);
        seen.add(n);
      }
      // Reads raced a running writer: many different updates were seen, each whole.
      expect(seen.size).toBeGreaterThanOrEqual(200);
    } finally {
      Atomics.store(stop, 0, 1);
      await worker.terminate();
    }
  });
});
