import { execFileSync } from "node:child_process";
import { closeSync, constants as fsConstants, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Interrupts, withDeadline } from "../interrupt.js";
import { fileSink, fileSource, streamSink, streamSource, temporaryPathFor } from "./endpoints.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "iscsi-cli-endpoints-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("fileSink", () => {
  it("writes into a hidden temporary file and shows the file only on commit", async () => {
    const path = join(dir, "out.img");
    const sink = await fileSink(path, new Interrupts());
    await sink.write(0, new Uint8Array([1, 2, 3, 4]));
    expect(readdirSync(dir)).toEqual([`.out.img.iscsi-${process.pid}.tmp`]);
    await sink.finish(4);
    await sink.commit?.();
    expect(readdirSync(dir)).toEqual(["out.img"]);
    expect([...readFileSync(path)]).toEqual([1, 2, 3, 4]);
  });

  it("leaves nothing behind when aborted, and keeps an existing file untouched", async () => {
    const path = join(dir, "keep.img");
    writeFileSync(path, "old contents");
    const sink = await fileSink(path, new Interrupts());
    await sink.write(0, new Uint8Array(100).fill(9));
    await sink.abort();
    expect(readdirSync(dir)).toEqual(["keep.img"]);
    expect(readFileSync(path, "utf8")).toBe("old contents");
  });

  it("removes the temporary file in the clean-ups run when the tool must exit at once", async () => {
    const interrupts = new Interrupts();
    const path = join(dir, "partial.img");
    const sink = await fileSink(path, interrupts);
    await sink.write(0, new Uint8Array(10));
    interrupts.runCleanups();
    expect(readdirSync(dir)).toEqual([]);
    await sink.abort();
  });

  it("leaves holes for zero ranges and sets the full size at the end", async () => {
    const path = join(dir, "sparse.img");
    const sink = await fileSink(path, new Interrupts());
    expect(sink.zeroMethod).toBe("sparse file");
    await sink.write(0, new Uint8Array(4096).fill(1));
    await sink.writeZeros?.(4096, 8 << 20);
    await sink.finish(4096 + (8 << 20));
    await sink.commit?.();
    const info = statSync(path);
    expect(info.size).toBe(4096 + (8 << 20));
    expect(info.blocks * 512).toBeLessThan(1 << 20);
    const data = readFileSync(path);
    expect(data[4095]).toBe(1);
    expect(data[4096 + 12345]).toBe(0);
  });

  it("does not skip zeros when told not to", async () => {
    const sink = await fileSink(join(dir, "dense.img"), new Interrupts(), { sparse: false });
    expect(sink.zeroMethod).toBeUndefined();
    expect(sink.writeZeros).toBeUndefined();
    await sink.abort();
  });

  it("refuses a directory and a missing parent directory, naming the path", async () => {
    await expect(fileSink(dir, new Interrupts())).rejects.toThrow(`cannot write ${dir}: is a directory`);
    await expect(fileSink(join(dir, "no", "such", "x.img"), new Interrupts())).rejects.toMatchObject({ code: "ISCSI_CLI_FILE" });
  });

  it("reads back what it wrote (for --verify)", async () => {
    const sink = await fileSink(join(dir, "rb.img"), new Interrupts());
    await sink.write(10, new Uint8Array([5, 6, 7]));
    const back = new Uint8Array(3);
    expect(await sink.readBack?.(10, back)).toBe(3);
    expect([...back]).toEqual([5, 6, 7]);
    await sink.abort();
  });

  it("names its temporary file after the destination, beside it", () => {
    expect(temporaryPathFor("/data/disk.img", 42)).toBe("/data/.disk.img.iscsi-42.tmp");
  });
});

describe("fileSource", () => {
  it("reports a missing file as a file error naming it", async () => {
    const path = join(dir, "missing.bin");
    await expect(fileSource(path, new AbortController().signal)).rejects.toMatchObject({
      code: "ISCSI_CLI_FILE",
      message: `cannot open ${path}: no such file or directory`,
    });
  });

  it("knows a regular file's size and reads it at offsets", async () => {
    const path = join(dir, "in.bin");
    writeFileSync(path, Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff));
    const source = await fileSource(path, new AbortController().signal);
    expect(source.size).toBe(1000);
    const into = new Uint8Array(600);
    expect(await source.read(500, into)).toBe(500);
    expect(into[0]).toBe(500 & 0xff);
    expect(await source.read(1000, into)).toBe(0);
    await source.close();
  });
});

/** A FIFO in the test's directory. */
function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}

/** Lets go of anything still waiting on the FIFO for a writer, so no thread is left blocked. */
function releaseFifo(path: string): void {
  try {
    closeSync(openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
  } catch {
    // ENXIO: no reader is waiting.
  }
}

describe("fileSource on a FIFO", () => {
  it("opens one with no writer at once, and a read waiting for the writer gives up when the signal aborts", async () => {
    const path = fifo("no-writer");
    try {
      const controller = new AbortController();
      const source = await withDeadline(fileSource(path, controller.signal), 2000, "opening a FIFO with no writer");
      expect(source.size).toBeUndefined();
      const reading = source.read(0, new Uint8Array(16));
      setTimeout(() => controller.abort(new Error("interrupted by SIGINT")), 100);
      await expect(withDeadline(reading, 2000, "the read after the abort")).rejects.toThrow(/interrupted by SIGINT/);
      await source.close();
    } finally {
      releaseFifo(path);
    }
  });

  it("reads it through its one opening, so the writer sees no SIGPIPE and every byte arrives", async () => {
    const path = fifo("with-writer");
    const data = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7 + (i >> 10)) & 0xff);
    // The writer's open waits (in a thread-pool thread) until the reader opens.
    const writer = (async () => {
      const handle = await open(path, "w");
      try {
        await handle.write(data);
      } finally {
        await handle.close();
      }
    })();
    try {
      const source = await withDeadline(fileSource(path, new AbortController().signal), 2000, "opening a FIFO");
      const received = new Uint8Array(data.length + 1);
      let got = 0;
      for (;;) {
        const n = await withDeadline(source.read(got, received.subarray(got, Math.min(got + 65536, received.length))), 5000, "a read of the FIFO");
        if (n === 0) break;
        got += n;
      }
      await source.close();
      await writer;
      expect(got).toBe(data.length);
      expect(Buffer.compare(received.subarray(0, got), data)).toBe(0);
    } finally {
      releaseFifo(path);
      await writer.catch(() => undefined);
    }
  });
});

describe("streamSource", () => {
  it("gives up a read waiting on a silent stream when the signal aborts", async () => {
    const controller = new AbortController();
    const source = streamSource(new PassThrough(), controller.signal);
    const reading = source.read(0, new Uint8Array(8));
    setTimeout(() => controller.abort(new Error("interrupted by SIGINT")), 50);
    await expect(withDeadline(reading, 2000, "the read after the abort")).rejects.toThrow(/interrupted by SIGINT/);
  });

  it("reassembles chunks of any size into the reads asked for", async () => {
    const parts = [new Uint8Array([1, 2, 3]), new Uint8Array([4]), new Uint8Array([5, 6, 7, 8, 9])];
    const source = streamSource(Readable.from(parts), new AbortController().signal);
    const a = new Uint8Array(4);
    const b = new Uint8Array(4);
    const c = new Uint8Array(4);
    const [na, nb, nc] = await Promise.all([source.read(0, a), source.read(4, b), source.read(8, c)]);
    expect([na, nb, nc]).toEqual([4, 4, 1]);
    expect([...a, ...b, ...c.subarray(0, 1)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await source.read(9, new Uint8Array(4))).toBe(0);
  });
});

describe("streamSink", () => {
  it("writes chunks in offset order whatever order they arrive in", async () => {
    const out = new PassThrough();
    const received: number[] = [];
    out.on("data", (chunk: Buffer) => received.push(...chunk));
    const sink = streamSink(out);
    await Promise.all([sink.write(4, new Uint8Array([5, 6])), sink.write(6, new Uint8Array([7])), sink.write(0, new Uint8Array([1, 2, 3, 4]))]);
    expect(received).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("rejects the chunks still waiting their turn when the copy is cancelled", async () => {
    const sink = streamSink(new PassThrough());
    const waiting = sink.write(100, new Uint8Array(1));
    sink.cancel?.(new Error("the copy failed"));
    await expect(waiting).rejects.toThrow("the copy failed");
  });
});
