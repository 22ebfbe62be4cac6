/**
 * A LUN of a session that runs on a worker thread, with the API of the client's `Lun`: each call
 * runs the worker's own `Lun` method (the same code as on any thread) and answers here. Reads and
 * writes move their data as ./buffers.ts says; the other calls' small arguments and results are
 * cloned.
 */
import type { AbortSignalLike } from "../../client/abort.js";
import type { Capacity, IoOptions, ScsiResult } from "../index.js";
import type { InquiryData } from "../../core/scsi/inquiry.js";
import type { ModeSenseData } from "../../core/scsi/mode-sense.js";
import type { UnmapDescriptor } from "../../core/scsi/unmap.js";
import type { BlockLimitsPage, LogicalBlockProvisioningPage } from "../../core/scsi/vpd.js";
import type { LunApi, ReadOptions, WorkerExecuteOptions, WriteOptions } from "./api.js";
import { isShared, movable, outgoing, prefix } from "./buffers.js";
import type { LunMethod } from "./protocol.js";
import type { WorkerSession } from "./session.js";

export class WorkerLun implements LunApi {
  private capacityValue: Capacity | undefined;
  /** Told with every answer that changed it: the worker's Lun learns the capacity on its first read too. */
  private readonly learn = (capacity: Capacity): void => {
    this.capacityValue = capacity;
  };

  /** What every call without a signal passes to the link: one object, not one per I/O. */
  private readonly plain = { onCapacity: this.learn };

  /** @internal use session.lun(n) */
  constructor(
    readonly session: WorkerSession,
    readonly number: number,
  ) {}

  /** Capacity from the last READ CAPACITY, if one was read. */
  get capacity(): Capacity | undefined {
    return this.capacityValue;
  }

  execute(cdb: Uint8Array, options: WorkerExecuteOptions = {}): Promise<ScsiResult> {
    return this.session.execute(this.number, cdb, options);
  }

  /**
   * Reads `blocks` blocks at `lba` (see Lun.read). `into` in shared memory is read into where it
   * is; a plain `into` is filled by one copy (out of a staging slot for a small read, out of a
   * buffer moved from the worker for a large one), or moved there and back with `transfer: true`
   * (the result is then the data, and `into` is detached). Without `into`, a small read is
   * copied out of a staging slot into a new array, a large one arrives in the worker's buffer,
   * moved.
   */
  async read(lba: number, blocks: number, options: ReadOptions = {}): Promise<Uint8Array> {
    const { link, id: session, staging } = this.session;
    const into = options.into;
    const call = options.signal === undefined ? this.plain : { signal: options.signal, onCapacity: this.learn };
    if (into === undefined || (!isShared(into) && !movable(into, options.transfer))) {
      // The hot path (a queue of small reads into plain buffers): once the block size is known,
      // a slot of the staging area, no allocation on either thread, one copy.
      const length = this.capacityValue === undefined ? -1 : blocks * this.capacityValue.blockSize;
      const slot = length >= 0 && length <= staging.slotBytes && (into === undefined || into.length >= length) ? staging.take() : undefined;
      if (slot !== undefined) {
        try {
          const request = plainIo(options)
            ? { t: "read" as const, id: link.id(), session, lun: this.number, lba, blocks, slot }
            : { t: "read" as const, id: link.id(), session, lun: this.number, lba, blocks, slot, ...io(options) };
          const n = (await link.call(request, undefined, call)).value as number;
          const out = into ?? new Uint8Array(n);
          out.set(staging.bytes.subarray(slot, slot + n));
          return prefix(out, n);
        } finally {
          staging.give(slot);
        }
      }
    }
    const base = { t: "read" as const, id: link.id(), session, lun: this.number, lba, blocks, ...io(options) };
    if (into === undefined) return (await link.call(base, undefined, call)).data as Uint8Array;
    if (isShared(into)) return prefix(into, (await link.call({ ...base, into }, undefined, call)).value as number);
    if (movable(into, options.transfer)) return (await link.call({ ...base, into }, into.buffer as ArrayBuffer, call)).data as Uint8Array;
    const data = (await link.call({ ...base, intoLength: into.length }, undefined, call)).data as Uint8Array;
    into.set(data);
    return prefix(into, data.length);
  }

  /**
   * Writes `data` (a whole number of blocks) at `lba` (see Lun.write). Shared memory is sent from
   * where it is; a plain buffer is moved with `transfer: true`, else copied once (into a staging
   * slot when small).
   */
  async write(lba: number, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const { link, id: session, staging } = this.session;
    const call = options.signal === undefined ? this.plain : { signal: options.signal, onCapacity: this.learn };
    if (data.length <= staging.slotBytes && !isShared(data) && !movable(data, options.transfer)) {
      const slot = staging.take();
      if (slot !== undefined) {
        try {
          staging.bytes.set(data, slot);
          const request = plainIo(options)
            ? { t: "write" as const, id: link.id(), session, lun: this.number, lba, slot, length: data.length }
            : { t: "write" as const, id: link.id(), session, lun: this.number, lba, slot, length: data.length, ...io(options) };
          await link.call(request, undefined, call);
          return;
        } finally {
          staging.give(slot);
        }
      }
    }
    const out = outgoing(data, options.transfer);
    await link.call({ t: "write", id: link.id(), session, lun: this.number, lba, data: out.view, ...io(options) }, out.transfer, call);
  }

  testUnitReady(): Promise<void> {
    return this.call("testUnitReady") as Promise<void>;
  }
  inquiry(): Promise<InquiryData> {
    return this.call("inquiry") as Promise<InquiryData>;
  }
  vpdRaw(page: number): Promise<Uint8Array> {
    return this.call("vpdRaw", [page]) as Promise<Uint8Array>;
  }
  vpd(page: number): Promise<unknown> {
    return this.call("vpd", [page]);
  }
  blockLimits(): Promise<BlockLimitsPage | undefined> {
    return this.call("blockLimits") as Promise<BlockLimitsPage | undefined>;
  }
  provisioning(): Promise<LogicalBlockProvisioningPage | undefined> {
    return this.call("provisioning") as Promise<LogicalBlockProvisioningPage | undefined>;
  }
  readCapacity(): Promise<Capacity> {
    return this.call("readCapacity") as Promise<Capacity>;
  }
  maxTransferSize(): Promise<number> {
    return this.call("maxTransferSize") as Promise<number>;
  }
  flush(): Promise<void> {
    return this.call("flush") as Promise<void>;
  }
  unmap(ranges: readonly UnmapDescriptor[] | UnmapDescriptor): Promise<void> {
    return this.call("unmap", [ranges]) as Promise<void>;
  }
  writeSame(lba: number, blocks: number, options: { readonly pattern?: Uint8Array; readonly unmap?: boolean } = {}): Promise<void> {
    const pattern = options.pattern === undefined ? undefined : outgoing(options.pattern, false).view;
    return this.call("writeSame", [lba, blocks, { ...options, ...(pattern === undefined ? {} : { pattern }) }]) as Promise<void>;
  }
  /** COMPARE AND WRITE (see Lun.compareAndWrite): `expected` and `data` are copied (the command sends a copy of both anyway). */
  compareAndWrite(lba: number, expected: Uint8Array, data: Uint8Array, options: IoOptions = {}): Promise<void> {
    const { signal, ...rest } = options;
    return this.call("compareAndWrite", [lba, outgoing(expected, false).view, outgoing(data, false).view, rest], signal) as Promise<void>;
  }
  modeSense(page = 0x3f, subpage = 0): Promise<ModeSenseData> {
    return this.call("modeSense", [page, subpage]) as Promise<ModeSenseData>;
  }

  /**
   * One of the Lun's other methods, on the worker, its arguments cloned. A signal cannot be
   * cloned: the worker puts one of its own, aborted when this one is, into the last argument.
   */
  private async call(method: LunMethod, args: readonly unknown[] = [], signal?: AbortSignalLike): Promise<unknown> {
    const { link, id: session } = this.session;
    const abortable = signal === undefined ? {} : { abortable: true, aborted: signal.aborted };
    return (await link.call({ t: "lun", id: link.id(), session, lun: this.number, method, args, ...abortable }, undefined, { onCapacity: this.learn, signal })).value;
  }
}

/** No FUA, timeout or signal: the request needs none of io()'s fields. */
function plainIo(options: IoOptions): boolean {
  return options.fua === undefined && options.timeoutMs === undefined && options.signal === undefined;
}

/** A read's or write's options as they cross: flags only (the signal stays here; see WorkerLink.call). */
function io(options: IoOptions): { fua?: boolean; timeoutMs?: number; abortable?: boolean; aborted?: boolean } {
  return {
    ...(options.fua === undefined ? {} : { fua: options.fua }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { abortable: true, aborted: options.signal.aborted }),
  };
}
