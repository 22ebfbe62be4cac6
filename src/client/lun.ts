import { ConfigError, IscsiError, LocalProtocolError, ScsiError } from "../core/errors.js";
import {
  buildCompareAndWriteCdb,
  buildInquiryCdb,
  buildModeSense10Cdb,
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  buildSynchronizeCache10Cdb,
  buildSynchronizeCache16Cdb,
  buildTestUnitReadyCdb,
  buildUnmapCdb,
  buildWrite10Cdb,
  buildWrite16Cdb,
  buildWriteSame16Cdb,
} from "../core/scsi/cdb.js";
import { parseReadCapacity10Data, parseReadCapacity16Data } from "../core/scsi/capacity.js";
import { type InquiryData, parseInquiryData } from "../core/scsi/inquiry.js";
import { type ModeSenseData, parseModeSense10Data } from "../core/scsi/mode-sense.js";
import { buildUnmapParameterList, type UnmapDescriptor } from "../core/scsi/unmap.js";
import {
  type BlockLimitsPage,
  type LogicalBlockProvisioningPage,
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
} from "../core/scsi/vpd.js";
import { parseDeviceIdentificationPage } from "../core/scsi/vpd-device-id.js";
import type { AbortSignalLike } from "./abort.js";
import type { ExecuteOptions, IscsiSession, ScsiResult } from "./session.js";

export interface Capacity {
  /** Number of logical blocks (a bigint only beyond 2^53). */
  readonly blocks: number | bigint;
  readonly blockSize: number;
  /** blocks x blockSize, as a number of bytes when it fits in 2^53, else bigint. */
  readonly bytes: number | bigint;
  /** Thin provisioning (LBPME) and whether unmapped blocks read as zeros (LBPRZ). */
  readonly thinProvisioned: boolean;
  readonly unmappedReadsZero: boolean;
  readonly logicalBlocksPerPhysicalBlock: number;
}

export interface IoOptions {
  /** FUA: the target writes (or reads) through its cache (SBC-3 §5.11). */
  readonly fua?: boolean;
  readonly timeoutMs?: number;
  /** Aborts the I/O (see ExecuteOptions.signal): every command of it still running gets an ABORT TASK. */
  readonly signal?: AbortSignalLike;
}

/** Most data one SCSI command carries when the target does not say (VPD 0xB0). */
const DEFAULT_MAX_TRANSFER_BYTES = 8 * 1024 * 1024;

/**
 * One logical unit of a session. Block addresses and counts are in logical blocks of the LUN's
 * block size, learned from READ CAPACITY on first use.
 */
export class Lun {
  private capacityValue: Capacity | undefined;
  private maxTransferBytes: number | undefined;
  private limitsAsked: Promise<Awaited<ReturnType<Lun["blockLimits"]>>> | undefined;

  /** @internal use session.lun(n) */
  constructor(
    readonly session: IscsiSession,
    readonly number: number,
  ) {}

  /** Capacity from the last READ CAPACITY, if one was read. */
  get capacity(): Capacity | undefined {
    return this.capacityValue;
  }

  execute(cdb: Uint8Array, options: ExecuteOptions = {}): Promise<ScsiResult> {
    return this.session.execute(this.number, cdb, options);
  }

  async testUnitReady(): Promise<void> {
    await this.execute(buildTestUnitReadyCdb());
  }

  async inquiry(): Promise<InquiryData> {
    const result = await this.execute(buildInquiryCdb({ allocationLength: 255 }), { dataIn: 255 });
    return parseInquiryData(result.data);
  }

  /** The raw bytes of a VPD page (SPC-4 §7.8). */
  async vpdRaw(page: number): Promise<Uint8Array> {
    let allocation = 512;
    for (;;) {
      const result = await this.execute(buildInquiryCdb({ vpdPage: page, allocationLength: allocation }), { dataIn: allocation });
      const data = result.data;
      const pageLength = data.length >= 4 ? (((data[2] as number) << 8) | (data[3] as number)) + 4 : 0;
      if (pageLength > allocation && allocation < 0xffff) {
        allocation = Math.min(pageLength, 0xffff);
        continue;
      }
      return data;
    }
  }

  /** A VPD page decoded where the page is known (0x00, 0x80, 0x83, 0xB0, 0xB2), else raw. */
  async vpd(page: number): Promise<unknown> {
    const data = await this.vpdRaw(page);
    switch (page) {
      case 0x00:
        return parseSupportedVpdPages(data);
      case 0x80:
        return parseUnitSerialNumberPage(data);
      case 0x83:
        return parseDeviceIdentificationPage(data);
      case 0xb0:
        return parseBlockLimitsPage(data);
      case 0xb2:
        return parseLogicalBlockProvisioningPage(data);
      default:
        return data;
    }
  }

  /** VPD 0xB0, or undefined when the LUN does not have the page (any other failure rejects). */
  async blockLimits(): Promise<BlockLimitsPage | undefined> {
    try {
      return parseBlockLimitsPage(await this.vpdRaw(0xb0));
    } catch (error) {
      if (isScsiOrMalformed(error)) return undefined;
      throw error;
    }
  }

  /** VPD 0xB2, or undefined when the LUN does not have the page (any other failure rejects). */
  async provisioning(): Promise<LogicalBlockProvisioningPage | undefined> {
    try {
      return parseLogicalBlockProvisioningPage(await this.vpdRaw(0xb2));
    } catch (error) {
      if (isScsiOrMalformed(error)) return undefined;
      throw error;
    }
  }

  /** READ CAPACITY(16), falling back to (10) for targets without it (SBC-3 §5.16). */
  async readCapacity(): Promise<Capacity> {
    let capacity: Capacity;
    try {
      const result = await this.execute(buildReadCapacity16Cdb({ allocationLength: 32 }), { dataIn: 32 });
      const data = parseReadCapacity16Data(result.data);
      capacity = {
        blocks: data.blocks,
        blockSize: data.blockLength,
        bytes: multiply(data.blocks, data.blockLength),
        thinProvisioned: data.lbpme,
        unmappedReadsZero: data.lbprz,
        logicalBlocksPerPhysicalBlock: 2 ** data.logicalBlocksPerPhysicalBlockExponent,
      };
    } catch (error) {
      // SBC-3: a target without READ CAPACITY(16) answers INVALID COMMAND OPERATION CODE (or
      // INVALID FIELD for the service action); anything else (a missing LUN) is the real answer.
      if (!isUnsupportedCommand(error)) throw error;
      const result = await this.execute(buildReadCapacity10Cdb(), { dataIn: 8 });
      const data = parseReadCapacity10Data(result.data);
      const blocks = data.lastLba + 1;
      capacity = {
        blocks,
        blockSize: data.blockLength,
        bytes: multiply(blocks, data.blockLength),
        thinProvisioned: false,
        unmappedReadsZero: false,
        logicalBlocksPerPhysicalBlock: 1,
      };
    }
    if (capacity.blockSize === 0) throw new LocalProtocolError(`LUN ${this.number} reports a block size of 0`);
    this.capacityValue = capacity;
    return capacity;
  }

  private async blockSize(): Promise<number> {
    return (this.capacityValue ?? (await this.readCapacity())).blockSize;
  }

  private async transferLimit(blockSize: number): Promise<number> {
    if (this.maxTransferBytes === undefined || this.maxTransferBytes % blockSize !== 0) {
      // The first reads and writes often start together (a queue depth of them): they share one
      // look at the Block Limits page instead of each asking the target.
      this.limitsAsked ??= this.blockLimits().finally(() => (this.limitsAsked = undefined));
      const limits = await this.limitsAsked;
      const maxBlocks = limits?.maximumTransferLength ?? 0;
      this.maxTransferBytes = maxBlocks > 0 ? Math.min(maxBlocks * blockSize, DEFAULT_MAX_TRANSFER_BYTES) : DEFAULT_MAX_TRANSFER_BYTES;
      this.maxTransferBytes = Math.max(blockSize, this.maxTransferBytes - (this.maxTransferBytes % blockSize));
    }
    return this.maxTransferBytes;
  }

  /**
   * The most bytes one READ or WRITE carries: the target's maximum transfer length (Block
   * Limits VPD page) capped at 8 MiB, learned once. Larger reads and writes are split at it.
   */
  async maxTransferSize(): Promise<number> {
    return this.maxTransferBytes ?? this.transferLimit(await this.blockSize());
  }

  /**
   * Reads `blocks` blocks at `lba`. Large reads are split at the target's maximum transfer length
   * and sent together (the command window paces them). Pass `into` to read into your buffer.
   */
  read(lba: number, blocks: number, options: IoOptions & { readonly into?: Uint8Array } = {}): Promise<Uint8Array> {
    // The hot path: one command, limits known, no signal: no async frame of its own.
    const blockSize = this.capacityValue?.blockSize;
    const limit = this.maxTransferBytes;
    const into = options.into;
    if (blockSize !== undefined && limit !== undefined && options.signal === undefined && isRange(lba, blocks)) {
      const length = blocks * blockSize;
      const buffer = into ?? new Uint8Array(length);
      if (length <= limit && buffer.length >= length) {
        const cdb = useLong(lba, blocks) ? buildRead16Cdb({ lba, blocks, fua: options.fua }) : buildRead10Cdb({ lba, blocks, fua: options.fua });
        const view = buffer.length === length ? buffer : buffer.subarray(0, length);
        return this.session.transfer(this.number, cdb, view, undefined, options.timeoutMs, view);
      }
    }
    return this.readAny(lba, blocks, options);
  }

  private async readAny(lba: number, blocks: number, options: IoOptions & { readonly into?: Uint8Array }): Promise<Uint8Array> {
    checkRange(lba, blocks);
    // The hot path: no await before the command when capacity and limits are known.
    const blockSize = this.capacityValue?.blockSize ?? (await this.blockSize());
    const length = blocks * blockSize;
    const buffer = options.into ?? new Uint8Array(length);
    if (buffer.length < length) throw new ConfigError(`read buffer of ${buffer.length} bytes is smaller than ${blocks} blocks of ${blockSize}`);
    const limit = this.maxTransferBytes ?? (await this.transferLimit(blockSize));
    const step = limit / blockSize;
    if (blocks <= step) {
      const cdb = useLong(lba, blocks) ? buildRead16Cdb({ lba, blocks, fua: options.fua }) : buildRead10Cdb({ lba, blocks, fua: options.fua });
      const view = buffer.length === length ? buffer : buffer.subarray(0, length);
      await this.session.execute(this.number, cdb, { dataIn: view, retry: "safe", timeoutMs: options.timeoutMs, signal: options.signal });
      return view;
    }
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < blocks; done += step) {
      const n = Math.min(step, blocks - done);
      const at = lba + done;
      const cdb = useLong(at, n) ? buildRead16Cdb({ lba: at, blocks: n, fua: options.fua }) : buildRead10Cdb({ lba: at, blocks: n, fua: options.fua });
      const view = buffer.subarray(done * blockSize, (done + n) * blockSize);
      parts.push(this.execute(cdb, { dataIn: view, retry: "safe", ...timeout(options) }));
    }
    await Promise.all(parts);
    return buffer.subarray(0, length);
  }

  /** Writes `data` (a whole number of blocks) at `lba`. */
  write(lba: number, data: Uint8Array, options: IoOptions = {}): Promise<void> {
    // The hot path, as for read.
    const blockSize = this.capacityValue?.blockSize;
    const limit = this.maxTransferBytes;
    if (blockSize !== undefined && limit !== undefined && options.signal === undefined && data.length <= limit && data.length % blockSize === 0) {
      const blocks = data.length / blockSize;
      if (isRange(lba, blocks)) {
        const cdb = useLong(lba, blocks) ? buildWrite16Cdb({ lba, blocks, fua: options.fua }) : buildWrite10Cdb({ lba, blocks, fua: options.fua });
        return this.session.transfer(this.number, cdb, undefined, data, options.timeoutMs, undefined);
      }
    }
    return this.writeAny(lba, data, options);
  }

  private async writeAny(lba: number, data: Uint8Array, options: IoOptions): Promise<void> {
    const blockSize = this.capacityValue?.blockSize ?? (await this.blockSize());
    if (data.length % blockSize !== 0) {
      throw new ConfigError(`write of ${data.length} bytes is not a whole number of ${blockSize}-byte blocks`);
    }
    const blocks = data.length / blockSize;
    checkRange(lba, blocks);
    const limit = this.maxTransferBytes ?? (await this.transferLimit(blockSize));
    const step = limit / blockSize;
    if (blocks <= step) {
      const cdb = useLong(lba, blocks) ? buildWrite16Cdb({ lba, blocks, fua: options.fua }) : buildWrite10Cdb({ lba, blocks, fua: options.fua });
      await this.session.execute(this.number, cdb, { dataOut: data, retry: "safe", timeoutMs: options.timeoutMs, signal: options.signal });
      return;
    }
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < blocks; done += step) {
      const n = Math.min(step, blocks - done);
      const at = lba + done;
      const cdb = useLong(at, n) ? buildWrite16Cdb({ lba: at, blocks: n, fua: options.fua }) : buildWrite10Cdb({ lba: at, blocks: n, fua: options.fua });
      parts.push(this.execute(cdb, { dataOut: data.subarray(done * blockSize, (done + n) * blockSize), retry: "safe", ...timeout(options) }));
    }
    await Promise.all(parts);
  }

  /** SYNCHRONIZE CACHE over the whole LUN (SBC-3 §5.22). */
  async flush(): Promise<void> {
    try {
      await this.execute(buildSynchronizeCache16Cdb({}), { retry: "safe" });
    } catch (error) {
      if (!isUnsupportedCommand(error)) throw error;
      await this.execute(buildSynchronizeCache10Cdb({}), { retry: "safe" });
    }
  }

  /** UNMAP (SBC-3 §5.28): tells a thin LUN these ranges are free. */
  async unmap(ranges: readonly UnmapDescriptor[] | UnmapDescriptor): Promise<void> {
    const list = Array.isArray(ranges) ? ranges : [ranges as UnmapDescriptor];
    if (list.length === 0) return;
    const parameters = buildUnmapParameterList(list);
    await this.execute(buildUnmapCdb({ parameterListLength: parameters.length }), { dataOut: parameters, retry: "safe" });
  }

  /** WRITE SAME(16) of one block of `pattern` (zeros by default) over `blocks` blocks; with unmap, deallocates. */
  async writeSame(lba: number, blocks: number, options: { readonly pattern?: Uint8Array; readonly unmap?: boolean } = {}): Promise<void> {
    checkRange(lba, blocks);
    const blockSize = await this.blockSize();
    const pattern = options.pattern ?? new Uint8Array(blockSize);
    if (pattern.length !== blockSize) throw new ConfigError(`WRITE SAME pattern must be one ${blockSize}-byte block`);
    await this.execute(buildWriteSame16Cdb({ lba, blocks, unmap: options.unmap }), { dataOut: pattern, retry: "safe" });
  }

  /**
   * COMPARE AND WRITE (SBC-3 §5.3): writes `data` only if the blocks hold `expected`; rejects
   * with a ScsiError (MISCOMPARE) otherwise. Never re-issued after a reconnect.
   */
  async compareAndWrite(lba: number, expected: Uint8Array, data: Uint8Array, options: IoOptions = {}): Promise<void> {
    const blockSize = await this.blockSize();
    if (expected.length !== data.length || data.length % blockSize !== 0) {
      throw new ConfigError("COMPARE AND WRITE needs verify and write data of the same whole number of blocks");
    }
    const blocks = data.length / blockSize;
    checkRange(lba, blocks);
    const payload = new Uint8Array(data.length * 2);
    payload.set(expected, 0);
    payload.set(data, data.length);
    await this.execute(buildCompareAndWriteCdb({ lba, blocks, fua: options.fua }), { dataOut: payload, retry: "never", ...timeout(options) });
  }

  /** MODE SENSE(10) of a page (0x3f: all pages). */
  async modeSense(page = 0x3f, subpage = 0): Promise<ModeSenseData> {
    const result = await this.execute(buildModeSense10Cdb({ page, subpage, allocationLength: 4096 }), { dataIn: 4096 });
    return parseModeSense10Data(result.data);
  }
}

function isRange(lba: number, blocks: number): boolean {
  return Number.isSafeInteger(lba) && lba >= 0 && Number.isSafeInteger(blocks) && blocks >= 0;
}

function checkRange(lba: number, blocks: number): void {
  if (!Number.isSafeInteger(lba) || lba < 0) throw new ConfigError(`LBA ${lba} is not a non-negative integer`);
  if (!Number.isSafeInteger(blocks) || blocks < 0) throw new ConfigError(`block count ${blocks} is not a non-negative integer`);
}

function useLong(lba: number, blocks: number): boolean {
  return lba + blocks > 0xffff_ffff || blocks > 0xffff;
}

function timeout(options: IoOptions): { timeoutMs?: number; signal?: AbortSignalLike } {
  return { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), ...(options.signal === undefined ? {} : { signal: options.signal }) };
}

function multiply(blocks: number | bigint, size: number): number | bigint {
  const product = BigInt(blocks) * BigInt(size);
  return product <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(product) : product;
}

/** ILLEGAL REQUEST with INVALID COMMAND OPERATION CODE or INVALID FIELD IN CDB (SPC-4). */
function isUnsupportedCommand(error: unknown): boolean {
  if (!(error instanceof ScsiError) || error.sense === undefined) return false;
  return error.sense.key === 0x05 && (error.sense.asc === 0x20 || error.sense.asc === 0x24);
}

/** The page is absent (CHECK CONDITION) or its data unusable: treat as "not supported". */
function isScsiOrMalformed(error: unknown): boolean {
  return error instanceof IscsiError && (error.code === "ISCSI_ERR_SCSI" || error.code === "ISCSI_ERR_REMOTE_PROTOCOL");
}
