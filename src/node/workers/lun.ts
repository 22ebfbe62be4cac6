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
   * is; a plain `into` is filled by one copy, or moved there and back with `transfer: true`
   * (the result is then the data, and `into` is detached). Without `into` the worker's buffer is
   * moved here.
   */
  async read(lba: number, blocks: number, options: ReadOptions = {}): Promise<Uint8Array> {
    const { link, id: session } = this.session;
    const into = options.into;
    const base = { t: "read" as const, id: link.id(), session, lun: this.number, lba, blocks, ...io(options) };
    const call = { signal: options.signal, onCapacity: this.learn };
    if (into === undefined) return (await link.call(base, undefined, call)).data as Uint8Array;
    if (isShared(into)) return prefix(into, (await link.call({ ...base, into }, undefined, call)).value as number);
    if (movable(into, options.transfer)) return (await link.call({ ...base, into }, into.buffer as ArrayBuffer, call)).data as Uint8Array;
    const data = (await link.call({ ...base, intoLength: into.length }, undefined, call)).data as Uint8Array;
    into.set(data);
    return prefix(into, data.length);
  }

  /** Writes `data` (a whole number of blocks) at `lba` (see Lun.write); shared memory is sent from where it is. */
  async write(lba: number, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const { link, id: session } = this.session;
    const out = outgoing(data, options.transfer);
    await link.call({ t: "write", id: link.id(), session, lun: this.number, lba, data: out.view, ...io(options) }, out.transfer, { signal: options.signal, onCapacity: this.learn });
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

/** A read's or write's options as they cross: flags only (the signal stays here; see WorkerLink.call). */
function io(options: IoOptions): { fua?: boolean; timeoutMs?: number; abortable?: boolean; aborted?: boolean } {
  return {
    ...(options.fua === undefined ? {} : { fua: options.fua }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { abortable: true, aborted: options.signal.aborted }),
  };
}
