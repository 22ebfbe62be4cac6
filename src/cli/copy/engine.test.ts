import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors.js";
import { DigestStore, isAllZero, runCopy, type Sink, type Source, verifyCopy } from "./engine.js";

/** A source over bytes, optionally a stream (reads must come in order), with a delay per read. */
function bytesSource(data: Uint8Array, options: { stream?: boolean; failAt?: number } = {}): Source & { reads: number[] } {
  const reads: number[] = [];
  let expected = 0;
  return {
    size: options.stream ? undefined : data.length,
    reads,
    async read(offset, into) {
      reads.push(offset);
      if (options.stream) {
        expect(offset).toBe(expected);
        expected += into.length;
      }
      if (options.failAt !== undefined && offset >= options.failAt) throw new TransportError("connection to 127.0.0.1:3260 reset by the target");
      await new Promise((r) => setImmediate(r));
      const n = Math.max(0, Math.min(into.length, data.length - offset));
      into.set(data.subarray(offset, offset + n));
      return n;
    },
    close: async () => undefined,
  };
}

/** A sink into memory; zero chunks recorded separately when it can skip them. */
function memorySink(options: { zeros?: boolean; corruptAt?: number } = {}) {
  const data = new Uint8Array(1 << 22);
  const zeroRanges: [number, number][] = [];
  const state = { finished: -1, aborted: false, committed: false, maxOffset: 0 };
  const sink: Sink = {
    zeroMethod: options.zeros ? "test zeros" : undefined,
    async write(offset, chunk) {
      await new Promise((r) => setImmediate(r));
      data.set(chunk, offset);
      state.maxOffset = Math.max(state.maxOffset, offset + chunk.length);
    },
    ...(options.zeros
      ? {
          async writeZeros(offset: number, length: number) {
            zeroRanges.push([offset, length]);
            data.fill(0, offset, offset + length);
          },
        }
      : {}),
    async readBack(offset, into) {
      into.set(data.subarray(offset, offset + into.length));
      if (options.corruptAt !== undefined && options.corruptAt >= offset && options.corruptAt < offset + into.length) {
        into[options.corruptAt - offset] = (into[options.corruptAt - offset] ?? 0) ^ 1;
      }
      return into.length;
    },
    async finish(bytes) {
      state.finished = bytes;
    },
    async abort() {
      state.aborted = true;
    },
  };
  return { sink, data, zeroRanges, state };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe("runCopy", () => {
  it("copies every byte whatever the chunk size, queue depth and length", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 1, max: 70_000 }), fc.integer({ min: 1, max: 9 }), async (size, chunk, qd) => {
        const src = randomBytes(size, size + 1);
        const { sink, data, state } = memorySink();
        const result = await runCopy(bytesSource(src), sink, { chunkSize: chunk, queueDepth: qd });
        expect(result.bytes).toBe(size);
        expect(state.finished).toBe(size);
        expect(Buffer.compare(data.subarray(0, size), src)).toBe(0);
      }),
      { numRuns: 30 },
    );
  });

  it("reads a stream source in order and stops where it ends", async () => {
    const src = randomBytes(100_000, 3);
    const source = bytesSource(src, { stream: true });
    const { sink, data } = memorySink();
    const result = await runCopy(source, sink, { chunkSize: 4096, queueDepth: 8 });
    expect(result.bytes).toBe(100_000);
    expect(Buffer.compare(data.subarray(0, 100_000), src)).toBe(0);
  });

  it("copies only `length` bytes when told", async () => {
    const { sink, state } = memorySink();
    const result = await runCopy(bytesSource(randomBytes(50_000, 1)), sink, { chunkSize: 4096, queueDepth: 3, length: 10_000 });
    expect(result.bytes).toBe(10_000);
    expect(state.maxOffset).toBe(10_000);
  });

  it("leaves the source open for its owner, so a stream cut short by `length` can still be asked whether it holds more", async () => {
    let closed = false;
    const source: Source = { ...bytesSource(randomBytes(50_000, 3), { stream: true }), close: async () => void (closed = true) };
    const { sink } = memorySink();
    const result = await runCopy(source, sink, { chunkSize: 4096, queueDepth: 3, length: 8192 });
    expect(result.bytes).toBe(8192);
    expect(closed).toBe(false);
    expect(await source.read(8192, new Uint8Array(1))).toBe(1);
  });

  it("sends zero chunks to writeZeros when the sink has it, and counts them", async () => {
    const src = new Uint8Array(64 * 1024);
    src.fill(7, 16 * 1024, 20 * 1024);
    const { sink, zeroRanges } = memorySink({ zeros: true });
    const result = await runCopy(bytesSource(src), sink, { chunkSize: 8192, queueDepth: 4 });
    expect(result.zeroBytes).toBe(56 * 1024);
    expect(zeroRanges.map(([o]) => o).sort((a, b) => a - b)).toEqual([0, 8192, 24576, 32768, 40960, 49152, 57344]);
  });

  it("writes zeros as data when skipping is off or the sink cannot skip", async () => {
    const src = new Uint8Array(32 * 1024);
    const off = memorySink({ zeros: true });
    expect((await runCopy(bytesSource(src), off.sink, { chunkSize: 8192, queueDepth: 2, skipZeros: false })).zeroBytes).toBe(0);
    expect(off.zeroRanges).toHaveLength(0);
    const plain = memorySink();
    expect((await runCopy(bytesSource(src), plain.sink, { chunkSize: 8192, queueDepth: 2 })).zeroBytes).toBe(0);
  });

  it("rejects with the first failure, aborts the sink and does not finish it", async () => {
    const { sink, state } = memorySink();
    await expect(runCopy(bytesSource(randomBytes(100_000, 1), { failAt: 40_960 }), sink, { chunkSize: 4096, queueDepth: 4 })).rejects.toThrow(/reset by the target/);
    expect(state.aborted).toBe(true);
    expect(state.finished).toBe(-1);
  });

  it("stops claiming chunks once the signal aborts", async () => {
    const controller = new AbortController();
    const source = bytesSource(randomBytes(1 << 20, 1));
    const { sink, state } = memorySink();
    const copy = runCopy(source, sink, {
      chunkSize: 4096,
      queueDepth: 2,
      signal: controller.signal,
      onProgress: (bytes) => {
        if (bytes >= 40_960) controller.abort(new Error("interrupted by SIGINT"));
      },
    });
    await expect(copy).rejects.toThrow(/SIGINT/);
    expect(source.reads.length).toBeLessThan(20);
    expect(state.aborted).toBe(true);
  });

  it("refuses a zero chunk size or queue depth", async () => {
    const { sink } = memorySink();
    await expect(runCopy(bytesSource(new Uint8Array(10)), sink, { chunkSize: 0, queueDepth: 1 })).rejects.toThrow(/chunk size/);
    await expect(runCopy(bytesSource(new Uint8Array(10)), sink, { chunkSize: 10, queueDepth: 0 })).rejects.toThrow(/queue depth/);
  });
});

describe("verifyCopy", () => {
  it("passes when the destination holds what was sent, zero chunks included", async () => {
    const src = randomBytes(300_000, 9);
    src.fill(0, 65536, 131072);
    const { sink } = memorySink({ zeros: true });
    const result = await runCopy(bytesSource(src), sink, { chunkSize: 65536, queueDepth: 4, verify: true });
    await expect(verifyCopy(sink, result.bytes, result.digests as DigestStore, { chunkSize: 65536, queueDepth: 4, destination: "dst" })).resolves.toBeUndefined();
  });

  it("names the first chunk that differs, with its LBAs", async () => {
    const { sink } = memorySink({ corruptAt: 200_000 });
    const result = await runCopy(bytesSource(randomBytes(300_000, 2)), sink, { chunkSize: 65536, queueDepth: 4, verify: true });
    const check = verifyCopy(sink, result.bytes, result.digests as DigestStore, { chunkSize: 65536, queueDepth: 4, destination: "LUN 1 of iqn.x", blockSize: 512 });
    await expect(check).rejects.toMatchObject({ code: "ISCSI_CLI_VERIFY_MISMATCH" });
    await expect(check).rejects.toThrow("verification failed: bytes 196608 to 262143 of LUN 1 of iqn.x (LBA 384 to 511) differ from what was written");
  });

  it("refuses a destination that cannot be read back", async () => {
    const { sink } = memorySink();
    const { readBack: _dropped, ...writeOnly } = sink;
    await expect(verifyCopy(writeOnly, 10, new DigestStore(1), { chunkSize: 10, queueDepth: 1, destination: "standard output" })).rejects.toThrow(/cannot be read back/);
  });
});

describe("isAllZero", () => {
  it("agrees with a byte loop at every alignment and length", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 100 }), fc.option(fc.nat(99)), (start, length, hit) => {
        const buffer = new Uint8Array(128);
        if (hit !== null && hit < length) buffer[start + hit] = 1;
        const view = buffer.subarray(start, start + length);
        expect(isAllZero(view)).toBe(view.every((b) => b === 0));
      }),
    );
  });
});
