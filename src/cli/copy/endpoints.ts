/**
 * The ends of a copy: a range of a LUN, a file, standard input, standard output.
 *
 * Nothing is left where nothing should be: a file destination is written to a temporary file in
 * the same directory and renamed over the destination only when the copy is complete; on failure
 * (or an interrupt) the temporary file is removed. A device node (/dev/sdX, /dev/null) is written
 * in place, as there is nothing to rename.
 */
import { close as closeFd, fstat as fstatFd, constants as fsConstants, open as openFd, read as readFd, type Stats, unlinkSync } from "node:fs";
import { type FileHandle, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { Socket } from "node:net";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import type { Lun } from "../../node/index.js";
import { CliError, fileError } from "../errors.js";
import { type Interrupts, sleep, untilAborted } from "../interrupt.js";
import type { Sink, Source } from "./engine.js";

// ---------------------------------------------------------------- LUN

export interface LunRange {
  readonly lun: Lun;
  readonly blockSize: number;
  /** First block of the range. */
  readonly lba: number;
  /** Blocks in the range. */
  readonly blocks: number;
  /** For messages: "LUN 1 of iqn...". */
  readonly name: string;
}

function checkAligned(range: LunRange, offset: number, length: number, what: string): void {
  if (offset % range.blockSize !== 0 || length % range.blockSize !== 0) {
    throw new CliError("ISCSI_CLI_USAGE", `${what} of ${length} bytes at offset ${offset} is not aligned to ${range.name}'s ${range.blockSize}-byte blocks`);
  }
}

export function lunSource(range: LunRange): Source {
  const size = range.blocks * range.blockSize;
  return {
    size,
    async read(offset, into) {
      const length = Math.min(into.length, size - offset);
      if (length <= 0) return 0;
      checkAligned(range, offset, length, "a read");
      await range.lun.read(range.lba + offset / range.blockSize, length / range.blockSize, { into: into.subarray(0, length) });
      return length;
    },
    close: async () => undefined,
  };
}

/** How a LUN destination makes a range read as zeros without receiving them. */
export type LunZeroing =
  /** WRITE SAME(16) with UNMAP of a zero block (SBC-3: LBPWS, and LBPRZ so unmapped reads zero). */
  | { readonly method: "write-same-unmap"; readonly maxBlocks: number }
  /** UNMAP (SBC-3: LBPU, with LBPRZ). */
  | { readonly method: "unmap"; readonly maxBlocks: number }
  | { readonly method: "none" };

/**
 * Chooses how to skip zeros on a LUN: only when unmapped blocks are guaranteed to read as zeros
 * (LBPRZ) may a zero range be unmapped rather than written; otherwise zeros are written.
 */
export async function lunZeroing(lun: Lun): Promise<LunZeroing> {
  const capacity = lun.capacity ?? (await lun.readCapacity());
  if (!capacity.thinProvisioned || !capacity.unmappedReadsZero) return { method: "none" };
  const lbp = await lun.provisioning();
  if (lbp === undefined) return { method: "none" };
  const limits = await lun.blockLimits();
  if (lbp.lbpws) {
    const max = limits?.maximumWriteSameLength;
    const maxBlocks = max === undefined || max === 0 || max === 0n ? 0xffff_ffff : Number(max);
    return { method: "write-same-unmap", maxBlocks: Math.min(maxBlocks, 0xffff_ffff) };
  }
  if (lbp.lbpu) {
    const max = limits?.maximumUnmapLbaCount;
    return { method: "unmap", maxBlocks: max === undefined || max === 0 ? 0xffff_ffff : max };
  }
  return { method: "none" };
}

export function lunSink(range: LunRange, zeroing: LunZeroing, options: { readonly flush?: boolean } = {}): Sink {
  const size = range.blocks * range.blockSize;
  const toLba = (offset: number): number => range.lba + offset / range.blockSize;
  const checkRoom = (offset: number, length: number): void => {
    if (offset + length > size) {
      throw new CliError(
        "ISCSI_CLI_OUT_OF_RANGE",
        `the data does not fit: ${offset + length} bytes would reach past the end of ${range.name} (${range.blocks} blocks of ${range.blockSize} bytes from LBA ${range.lba})`,
      );
    }
  };
  return {
    zeroMethod: zeroing.method === "none" ? undefined : zeroing.method,
    async write(offset, data) {
      let payload = data;
      if (data.length % range.blockSize !== 0) {
        // The last piece of a file that is not a whole number of blocks: the rest of its block
        // is written as zeros.
        payload = new Uint8Array(Math.ceil(data.length / range.blockSize) * range.blockSize);
        payload.set(data);
      }
      checkRoom(offset, payload.length);
      checkAligned(range, offset, payload.length, "a write");
      await range.lun.write(toLba(offset), payload);
    },
    async writeZeros(offset, length) {
      const blocks = Math.ceil(length / range.blockSize);
      checkRoom(offset, blocks * range.blockSize);
      if (zeroing.method === "none") throw new CliError("ISCSI_CLI_USAGE", `${range.name} cannot skip zeros`);
      for (let done = 0; done < blocks; done += zeroing.maxBlocks) {
        const n = Math.min(zeroing.maxBlocks, blocks - done);
        const lba = toLba(offset) + done;
        if (zeroing.method === "write-same-unmap") await range.lun.writeSame(lba, n, { unmap: true });
        else await range.lun.unmap({ lba, blocks: n });
      }
    },
    async readBack(offset, into) {
      const length = Math.min(into.length, size - offset);
      if (length <= 0) return 0;
      // A last piece that was padded to a block is compared only as far as the data went.
      const blocks = Math.ceil(length / range.blockSize);
      const buffer = blocks * range.blockSize === length ? into.subarray(0, length) : new Uint8Array(blocks * range.blockSize);
      await range.lun.read(toLba(offset), blocks, { into: buffer });
      if (buffer.buffer !== into.buffer || buffer.byteOffset !== into.byteOffset) into.set(buffer.subarray(0, length));
      return length;
    },
    async finish() {
      // SBC-3 SYNCHRONIZE CACHE: the copy is done when the data is on the target's medium.
      if (options.flush ?? true) await range.lun.flush();
    },
    abort: async () => undefined,
  };
}

// ---------------------------------------------------------------- files

const openAsync = promisify(openFd);
const fstatAsync = promisify(fstatFd);
const closeAsync = promisify(closeFd);
const readAsync = promisify(readFd);

/** How long a character device that has nothing yet (EAGAIN) is left before it is asked again. */
const DEVICE_POLL_MS = 20;
/** Bytes asked of a character device at a time. */
const DEVICE_READ_BYTES = 1 << 16;

/**
 * A file as a source: a regular file or a block device has a size and is read at offsets; a FIFO
 * or a character device is read as a stream, from the one descriptor opened here (a FIFO opened
 * twice would lose its writer to SIGPIPE between the two).
 *
 * Nothing here ever waits inside a system call: the file is opened with O_NONBLOCK, so a FIFO
 * with no writer yet opens at once (a blocking open would hold a thread-pool thread that even
 * process.exit waits for, so no signal could end the tool); the FIFO is then read through the
 * event loop, which wakes when a writer sends something, and a character device with nothing to
 * give (EAGAIN) is asked again a little later. Either read gives up when `signal` aborts.
 */
export async function fileSource(path: string, signal: AbortSignal): Promise<Source> {
  let fd: number;
  try {
    fd = await openAsync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw fileError(error, path, "open");
  }
  let size: number;
  try {
    const info = await fstatAsync(fd);
    if (info.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    if (info.isFIFO() || info.isSocket()) return streamSource(new Socket({ fd, readable: true, writable: false }), signal);
    if (!info.isFile() && !info.isBlockDevice()) return streamSource(deviceStream(fd, path, signal), signal);
    // A block device has size 0 in stat: its size is in sysfs.
    size = info.isBlockDevice() ? await blockDeviceSize(info.rdev, path) : info.size;
  } catch (error) {
    await closeAsync(fd).catch(() => undefined);
    throw error instanceof CliError ? error : fileError(error, path, "read");
  }
  let closed = false;
  return {
    size,
    async read(offset, into) {
      let got = 0;
      while (got < into.length) {
        let n: number;
        try {
          ({ bytesRead: n } = await readAsync(fd, into, got, into.length - got, offset + got));
        } catch (error) {
          throw fileError(error, path, "read");
        }
        if (n === 0) break;
        got += n;
      }
      return got;
    },
    async close() {
      if (closed) return;
      closed = true;
      await closeAsync(fd);
    },
  };
}

/**
 * A character device (/dev/zero, /dev/urandom, a tty) opened O_NONBLOCK, chunk by chunk until it
 * ends. `destroy` stops it: the descriptor is closed at once when no read is in flight, else as
 * soon as that read (which cannot block) or its short wait is over.
 */
function deviceStream(fd: number, path: string, signal: AbortSignal): AsyncIterable<Uint8Array> & { destroy(): void } {
  let stopping = false;
  let reading = false;
  let closed = false;
  const closeNow = (): void => {
    if (closed) return;
    closed = true;
    closeFd(fd, () => undefined);
  };
  return {
    destroy() {
      stopping = true;
      if (!reading) closeNow();
    },
    async *[Symbol.asyncIterator]() {
      reading = true;
      try {
        while (!stopping) {
          const buffer = new Uint8Array(DEVICE_READ_BYTES);
          let n: number;
          try {
            ({ bytesRead: n } = await readAsync(fd, buffer, 0, buffer.length, null));
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw fileError(error, path, "read");
            await sleep(DEVICE_POLL_MS, signal);
            continue;
          }
          if (n === 0) return;
          yield buffer.subarray(0, n);
        }
      } finally {
        reading = false;
        closeNow();
      }
    },
  };
}

/** Linux: /sys/dev/block/MAJOR:MINOR/size holds the size in 512-byte sectors. */
async function blockDeviceSize(rdev: number, path: string): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  try {
    const text = await readFile(`/sys/dev/block/${major}:${minor}/size`, "utf8");
    return Number(text.trim()) * 512;
  } catch (error) {
    throw new CliError("ISCSI_CLI_FILE", `cannot tell the size of the block device ${path}`, { cause: error });
  }
}

/** Where a file destination is written first: a hidden file beside it. */
export function temporaryPathFor(path: string, pid: number): string {
  return join(dirname(path), `.${basename(path)}.iscsi-${pid}.tmp`);
}

/**
 * A file destination. A regular file (new or existing) is replaced atomically through a
 * temporary file; zero chunks become holes (the temporary file is new, so holes read as zeros).
 * A device node is written in place, zeros included.
 */
export async function fileSink(path: string, interrupts: Interrupts, options: { readonly sparse?: boolean } = {}): Promise<Sink> {
  let existing: Stats | undefined;
  try {
    existing = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw fileError(error, path, "write");
  }
  if (existing?.isDirectory()) throw fileError(Object.assign(new Error("is a directory"), { code: "EISDIR" }), path, "write");
  const inPlace = existing !== undefined && !existing.isFile();
  const target = inPlace ? path : temporaryPathFor(path, process.pid);
  let handle: FileHandle;
  try {
    // O_EXCL on the temporary file: never write into something another process made there.
    handle = inPlace ? await open(path, "r+") : await open(target, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_RDWR, existing === undefined ? 0o666 : existing.mode & 0o777);
  } catch (error) {
    throw fileError(error, inPlace ? path : dirname(path), inPlace ? "open" : "create a file in");
  }
  // If the tool is made to exit at once, the partial file still goes.
  const removeCleanup = inPlace
    ? () => undefined
    : interrupts.addCleanup(() => {
        // Unlinked while open: the data goes with the descriptor when the process exits.
        try {
          unlinkSync(target);
        } catch {
          // already gone
        }
      });
  const sparse = !inPlace && (options.sparse ?? true);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    zeroMethod: sparse ? "sparse file" : undefined,
    async write(offset, data) {
      let done = 0;
      try {
        while (done < data.length) {
          const { bytesWritten } = await handle.write(data, done, data.length - done, offset + done);
          done += bytesWritten;
        }
      } catch (error) {
        throw fileError(error, path, "write");
      }
    },
    ...(sparse ? { writeZeros: async () => undefined } : {}),
    async readBack(offset, into) {
      let got = 0;
      while (got < into.length) {
        const { bytesRead } = await handle.read(into, got, into.length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got;
    },
    async finish(bytes) {
      try {
        // Holes at the end exist only once the size is set.
        if (!inPlace) await handle.truncate(bytes);
        await handle.datasync();
      } catch (error) {
        throw fileError(error, path, "write");
      }
    },
    async abort() {
      removeCleanup();
      await close().catch(() => undefined);
      if (!inPlace) await unlink(target).catch(() => undefined);
    },
    async commit() {
      await close();
      if (!inPlace) {
        try {
          await rename(target, path);
        } catch (error) {
          await unlink(target).catch(() => undefined);
          throw fileError(error, path, "write");
        } finally {
          removeCleanup();
        }
      }
    },
  };
}

// ---------------------------------------------------------------- standard streams

/**
 * Standard input (or a FIFO, or a device) as a source: read in order, as it comes. Chunks arrive
 * in whatever sizes the pipe gives; the leftovers of one read start the next. A read waiting for
 * data gives up when `signal` aborts.
 */
export function streamSource(stream: AsyncIterable<Uint8Array | string>, signal: AbortSignal): Source {
  const iterator = stream[Symbol.asyncIterator]();
  let pending: Uint8Array = new Uint8Array(0);
  let ended = false;
  let chain: Promise<unknown> = Promise.resolve();
  const fill = async (into: Uint8Array): Promise<number> => {
    let got = 0;
    while (got < into.length) {
      if (pending.length === 0) {
        if (ended) break;
        const next = await untilAborted(iterator.next(), signal);
        if (next.done === true) {
          ended = true;
          break;
        }
        pending = typeof next.value === "string" ? new TextEncoder().encode(next.value) : next.value;
      }
      const n = Math.min(pending.length, into.length - got);
      into.set(pending.subarray(0, n), got);
      pending = pending.subarray(n);
      got += n;
    }
    return got;
  };
  return {
    size: undefined,
    read(_offset, into) {
      // Reads are chained: each starts when the one before it has its bytes.
      const result = chain.then(() => fill(into));
      chain = result.catch(() => undefined);
      return result;
    },
    close: async () => {
      // A read may still wait for data that will never come (an interrupted copy): a stream that
      // can be destroyed is, or the iterator's return would wait for that read.
      (stream as { destroy?: () => void }).destroy?.();
      await iterator.return?.();
    },
  };
}

/**
 * Standard output as a sink: writes land in offset order whatever order the chunks finish in,
 * each waiting for its turn and for the pipe to drain (back-pressure).
 */
export function streamSink(stream: NodeJS.WritableStream, what = "standard output"): Sink {
  let nextOffset = 0;
  const waiting = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  let failed: unknown;
  const writeNow = (data: Uint8Array): Promise<void> =>
    new Promise((resolve, reject) => {
      stream.write(data, (error?: Error | null) => {
        if (error) reject(new CliError("ISCSI_CLI_FILE", `cannot write to ${what}: ${(error as NodeJS.ErrnoException).code === "EPIPE" ? "the reader went away (broken pipe)" : error.message}`));
        else resolve();
      });
    });
  return {
    zeroMethod: undefined,
    async write(offset, data) {
      if (offset !== nextOffset) {
        await new Promise<void>((resolve, reject) => {
          if (failed !== undefined) reject(failed);
          else waiting.set(offset, { resolve, reject });
        });
      }
      try {
        await writeNow(data);
      } catch (error) {
        failed ??= error;
        for (const w of waiting.values()) w.reject(error);
        waiting.clear();
        throw error;
      }
      nextOffset = offset + data.length;
      const turn = waiting.get(nextOffset);
      if (turn !== undefined) {
        waiting.delete(nextOffset);
        turn.resolve();
      }
    },
    finish: async () => undefined,
    abort: async () => undefined,
    cancel(reason) {
      failed ??= reason;
      for (const w of waiting.values()) w.reject(reason);
      waiting.clear();
    },
  };
}
