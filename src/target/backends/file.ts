/**
 * `file:<path>`: a regular file or a block device, read and written at positions through one
 * `FileHandle`. FUA and SYNCHRONIZE CACHE become `fdatasync`. Node offers no hole punching, so
 * UNMAP writes zeros; the unit therefore does not report thin provisioning unless told to.
 *
 * Size: a regular file's own (or `size`, extending the file when `create` allows); a block
 * device's from sysfs (Linux), unless `size` is given.
 */
import { constants, type FileHandle, open, readFile, stat } from "node:fs/promises";
import { ConfigError } from "../../core/errors.js";
import type { BlockBackend } from "./backend.js";

export interface FileBackendOptions {
  readonly path: string;
  /** Bytes; required to create a file, optional otherwise (a larger size extends the file). */
  readonly size?: number;
  /** Create the file if it does not exist, and extend it to `size` if it is shorter. */
  readonly create?: boolean;
  readonly readOnly?: boolean;
  /** Report thin provisioning (UNMAP is accepted; it writes zeros). */
  readonly thinProvisioned?: boolean;
}

/** Zeros for UNMAP and short reads, written or copied in pieces of this size. */
const ZERO_PIECE = 1024 * 1024;

export class FileBackend implements BlockBackend {
  readonly description: string;
  readonly size: number;
  readonly thinProvisioned: boolean;
  readonly readOnly: boolean;
  readonly #handle: FileHandle;
  #zeros: Uint8Array | undefined;

  private constructor(handle: FileHandle, size: number, options: FileBackendOptions) {
    this.#handle = handle;
    this.size = size;
    this.readOnly = options.readOnly ?? false;
    this.thinProvisioned = options.thinProvisioned ?? false;
    this.description = `file:${options.path}`;
  }

  static async open(options: FileBackendOptions): Promise<FileBackend> {
    const { path } = options;
    if (options.size !== undefined && (!Number.isSafeInteger(options.size) || options.size <= 0)) {
      throw new ConfigError(`file ${path}: size ${options.size} is not a positive byte count`);
    }
    let info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw new ConfigError(`file ${path}: ${error.message}`, { cause: error });
    });
    if (info === undefined && !(options.create ?? false)) throw new ConfigError(`file ${path} does not exist (give create: true and a size to make it)`);
    if (info === undefined && options.size === undefined) throw new ConfigError(`file ${path}: a size is needed to create it`);
    const flags = options.readOnly === true ? constants.O_RDONLY : constants.O_RDWR | (info === undefined ? constants.O_CREAT : 0);
    let handle: FileHandle;
    try {
      handle = await open(path, flags, 0o644);
    } catch (error) {
      throw new ConfigError(`file ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      info ??= await handle.stat();
      let size: number;
      if (info.isBlockDevice()) {
        size = options.size ?? (await blockDeviceSize(path, info.rdev));
      } else if (info.isFile()) {
        size = options.size ?? info.size;
        if (info.size < size) {
          if (!(options.create ?? false) || options.readOnly === true) {
            throw new ConfigError(`file ${path} is ${info.size} bytes, shorter than the size ${size} asked for (give create: true to extend it)`);
          }
          await handle.truncate(size);
        }
      } else {
        throw new ConfigError(`${path} is neither a regular file nor a block device`);
      }
      if (size === 0) throw new ConfigError(`file ${path} is empty: give a size (and create: true) to use it`);
      return new FileBackend(handle, size, options);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.#handle.read(buffer, filled, length - filled, offset + filled);
      if (bytesRead === 0) {
        // Past the end of a file that is shorter than the unit: those blocks read as zeros.
        buffer.fill(0, filled);
        break;
      }
      filled += bytesRead;
    }
    return buffer;
  }

  async write(offset: number, data: Uint8Array, durable: boolean): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.#handle.write(data, written, data.length - written, offset + written);
      written += bytesWritten;
    }
    // SBC-3 FUA: the data is on the medium before the command completes.
    if (durable) await this.#handle.datasync();
  }

  async flush(): Promise<void> {
    await this.#handle.datasync();
  }

  async unmap(offset: number, length: number): Promise<void> {
    this.#zeros ??= new Uint8Array(ZERO_PIECE);
    for (let at = 0; at < length; at += ZERO_PIECE) {
      await this.write(offset + at, this.#zeros.subarray(0, Math.min(ZERO_PIECE, length - at)), false);
    }
  }

  async writeSame(offset: number, length: number, block: Uint8Array): Promise<void> {
    const piece = Math.min(length, Math.max(block.length, Math.floor(ZERO_PIECE / block.length) * block.length));
    const pattern = new Uint8Array(piece);
    for (let i = 0; i < piece; i += block.length) pattern.set(block, i);
    for (let at = 0; at < length; at += piece) await this.write(offset + at, pattern.subarray(0, Math.min(piece, length - at)), false);
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

/** Linux: /sys/dev/block/MAJOR:MINOR/size counts 512-byte sectors. */
async function blockDeviceSize(path: string, rdev: number): Promise<number> {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 0x100000) & ~0xff);
  try {
    const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, "utf8")).trim());
    if (Number.isSafeInteger(sectors) && sectors > 0) return sectors * 512;
  } catch {
    // No sysfs (not Linux, or a container without it): the caller must say.
  }
  throw new ConfigError(`block device ${path}: cannot tell its size; give a size`);
}
