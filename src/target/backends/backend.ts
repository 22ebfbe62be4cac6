/**
 * The storage behind a logical unit, as the host sees it: byte-addressed reads and writes, a
 * flush, deallocation and pattern fills. Memory and null stores answer synchronously; files
 * through promises. `performStorage` maps the engine's storage requests onto a backend and turns
 * its failures into the outcomes the engine turns into sense data.
 */
import type { MapExtent, StorageFailureKind, StorageOutcome, StorageRequest } from "../engine/storage.js";

type MaybePromise<T> = T | Promise<T>;

export interface BlockBackend {
  /** What it is, for messages: "mem:256MiB", "file:/tmp/disk.img". */
  readonly description: string;
  /** Capacity in bytes. */
  readonly size: number;
  /** Deallocation is real (reads of unmapped ranges cost nothing): report thin provisioning. */
  readonly thinProvisioned: boolean;
  /** The store cannot be written (a file opened read-only). */
  readonly readOnly: boolean;
  /**
   * `length` bytes from `offset`. The result may be a view of the backend's own memory: the
   * caller only reads it, and only until the next write to that range.
   */
  read(offset: number, length: number): MaybePromise<Uint8Array>;
  /** Writes `data` at `offset`; with `durable`, it is on stable storage when this completes. */
  write(offset: number, data: Uint8Array, durable: boolean): MaybePromise<void>;
  /** Makes every completed write durable. */
  flush(): MaybePromise<void>;
  /** Deallocates a range: it reads as zeros afterwards. */
  unmap(offset: number, length: number): MaybePromise<void>;
  /** Fills `length` bytes from `offset` with `block` repeated (offset and length are multiples of its size). */
  writeSame(offset: number, length: number, block: Uint8Array): MaybePromise<void>;
  /**
   * Which parts of a range hold data, in order and covering it; stores that cannot tell leave it
   * out and everything counts as mapped.
   */
  map?(offset: number, length: number): MaybePromise<readonly MapExtent[]>;
  close(): MaybePromise<void>;
}

function mapOf(backend: BlockBackend, offset: number, length: number): MaybePromise<readonly MapExtent[]> {
  return backend.map === undefined ? [{ offset, length, mapped: true }] : backend.map(offset, length);
}

/** Errno codes, as Node reports them, to the sense the initiator gets. */
export function failureKind(error: unknown): StorageFailureKind {
  const code = typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "";
  switch (code) {
    case "EIO":
    case "ENXIO":
    case "EMEDIUMTYPE":
      return "medium-error";
    case "ENOSPC":
    case "EDQUOT":
      return "no-space";
    default:
      return "failure";
  }
}

/** Runs one engine storage request against `backend`. Never rejects: failures are outcomes. */
export async function performStorage(backend: BlockBackend, request: StorageRequest): Promise<StorageOutcome> {
  try {
    switch (request.op) {
      case "read":
        return { ok: true, data: await backend.read(request.offset, request.length) };
      case "write":
        await backend.write(request.offset, request.data, request.fua);
        return { ok: true };
      case "flush":
        await backend.flush();
        return { ok: true };
      case "unmap":
        for (const extent of request.extents) await backend.unmap(extent.offset, extent.length);
        return { ok: true };
      case "write-same":
        await backend.writeSame(request.offset, request.length, request.block);
        return { ok: true };
      case "map":
        return { ok: true, extents: await mapOf(backend, request.offset, request.length) };
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, kind: failureKind(error), message: `${backend.description}: ${request.op} failed: ${message}` };
  }
}

/**
 * The same, synchronously when the backend answers synchronously (memory, null): the in-memory
 * test harness and the host's fast path use it to skip a promise per request.
 */
export function performStorageSync(backend: BlockBackend, request: StorageRequest): StorageOutcome | Promise<StorageOutcome> {
  try {
    let result: MaybePromise<unknown>;
    switch (request.op) {
      case "read": {
        const data = backend.read(request.offset, request.length);
        if (data instanceof Promise) return performStorage(backend, request);
        return { ok: true, data };
      }
      case "write":
        result = backend.write(request.offset, request.data, request.fua);
        break;
      case "flush":
        result = backend.flush();
        break;
      case "unmap": {
        const extents = request.extents;
        let i = 0;
        for (; i < extents.length; i++) {
          result = backend.unmap(extents[i]!.offset, extents[i]!.length);
          if (result instanceof Promise) break;
        }
        if (result instanceof Promise && i + 1 < extents.length) {
          // An asynchronous backend: finish the rest one by one.
          const rest = extents.slice(i + 1);
          result = result.then(async () => {
            for (const extent of rest) await backend.unmap(extent.offset, extent.length);
          });
        }
        break;
      }
      case "write-same":
        result = backend.writeSame(request.offset, request.length, request.block);
        break;
      case "map": {
        const extents = mapOf(backend, request.offset, request.length);
        if (extents instanceof Promise) return performStorage(backend, request);
        return { ok: true, extents };
      }
    }
    if (result instanceof Promise) {
      return result.then(
        (): StorageOutcome => ({ ok: true }),
        (error: unknown): StorageOutcome => ({ ok: false, kind: failureKind(error), message: `${backend.description}: ${request.op} failed: ${String(error)}` }),
      );
    }
    return { ok: true };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, kind: failureKind(error), message: `${backend.description}: ${request.op} failed: ${message}` };
  }
}
