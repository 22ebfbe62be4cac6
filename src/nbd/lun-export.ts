/**
 * One iSCSI LUN as an NBD export: the export's geometry read from the LUN (READ CAPACITY, VPD
 * Block Limits and Logical Block Provisioning, MODE SENSE's write-protect bit), and each NBD
 * operation mapped onto SCSI commands through the library's `Lun`:
 *
 *   READ -> READ(10/16)          WRITE (FUA) -> WRITE(10/16) with FUA      FLUSH -> SYNCHRONIZE CACHE
 *   TRIM -> UNMAP (thin LUNs)    WRITE_ZEROES -> WRITE SAME(16), UNMAP unless NO_HOLE
 *   CACHE -> PRE-FETCH(16)       BLOCK_STATUS -> GET LBA STATUS (thin LUNs), else "allocated, data"
 *
 * Commands the LUN turns out not to have (WRITE SAME, PRE-FETCH, GET LBA STATUS) are noticed once
 * and replaced: zeros written as data, CACHE answered without effect (the document allows a
 * hint to do nothing), every block reported allocated.
 */
import type { Lun } from "../client/lun.js";
import { getLbaStatus, isUnsupportedCommand, preFetch } from "../client/lun-status.js";
import { ProvisioningStatus } from "../core/scsi/lba-status.js";
import type { NbdBackend } from "./backend.js";
import { BufferPool } from "./buffer-pool.js";
import { NBD_STATE_HOLE, NBD_STATE_ZERO } from "./engine/constants.js";
import type { NbdExtent } from "./engine/connection.js";
import type { NbdExport } from "./engine/export.js";

/** The largest READ or WRITE one NBD request may carry (the document's "SHOULD accept" size). */
export const MAX_NBD_PAYLOAD = 32 * 1024 * 1024;
/** Zeros written as data at most this much per WRITE when WRITE SAME is missing. */
const ZERO_CHUNK_BYTES = 1024 * 1024;
/** Blocks one WRITE SAME covers at most when the LUN gives no limit (bounds each command's time). */
const DEFAULT_WRITE_SAME_BLOCKS = 1 << 21;
/** GET LBA STATUS descriptors asked for at once. */
const LBA_STATUS_DESCRIPTORS = 128;

export interface LunExportOptions {
  readonly name: string;
  readonly description?: string;
  /** Serve read-only even if the LUN is writable. */
  readonly readOnly?: boolean;
  /** Cap on the maximum payload; 32 MiB unless told. */
  readonly maxPayload?: number;
}

/** What was learnt from the LUN, for the export and for the messages. */
export interface LunGeometry {
  readonly blockSize: number;
  readonly blocks: number;
  /** LBPME: the LUN is thin-provisioned and answers GET LBA STATUS. */
  readonly thin: boolean;
  /** Unmapped blocks read as zeros (LBPRZ). */
  readonly unmappedReadsZero: boolean;
  /** UNMAP works (LBPU). */
  readonly unmap: boolean;
  /** WRITE SAME(16) with UNMAP works (LBPWS). */
  readonly writeSameUnmap: boolean;
  /** The LUN itself is write-protected (MODE SENSE WP). */
  readonly writeProtected: boolean;
  readonly maxUnmapBlocks: number;
  readonly maxUnmapDescriptors: number;
  readonly maxWriteSameBlocks: number;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Reads the LUN's geometry: the commands every block device has, and the VPD pages where present. */
export async function readGeometry(lun: Lun): Promise<{ readonly geometry: LunGeometry; readonly maxTransferBytes: number; readonly granularityBytes: number }> {
  const capacity = await lun.readCapacity();
  if (typeof capacity.blocks === "bigint") throw new RangeError(`LUN ${lun.number} has more than 2^53 blocks`);
  const blockSize = capacity.blockSize;
  const limits = await lun.blockLimits();
  const provisioning = capacity.thinProvisioned ? await lun.provisioning() : undefined;
  let writeProtected = false;
  try {
    writeProtected = (await lun.modeSense(0x3f)).writeProtect;
  } catch {
    // MODE SENSE is optional for our purpose: a LUN without it is taken as writable, and a write
    // it refuses still comes back to the client as EPERM.
  }
  const maxWriteSame = limits?.maximumWriteSameLength;
  const geometry: LunGeometry = {
    blockSize,
    blocks: capacity.blocks,
    thin: capacity.thinProvisioned,
    unmappedReadsZero: capacity.unmappedReadsZero || provisioning?.lbprz === 1,
    unmap: provisioning?.lbpu === true,
    writeSameUnmap: provisioning?.lbpws === true,
    writeProtected,
    maxUnmapBlocks: limits?.maximumUnmapLbaCount !== undefined && limits.maximumUnmapLbaCount > 0 ? limits.maximumUnmapLbaCount : 0xffff_ffff,
    maxUnmapDescriptors: limits?.maximumUnmapBlockDescriptorCount !== undefined && limits.maximumUnmapBlockDescriptorCount > 0 ? Math.min(limits.maximumUnmapBlockDescriptorCount, 256) : 1,
    maxWriteSameBlocks: typeof maxWriteSame === "number" && maxWriteSame > 0 ? Math.min(maxWriteSame, 0xffff_ffff) : DEFAULT_WRITE_SAME_BLOCKS,
  };
  return {
    geometry,
    maxTransferBytes: (limits?.maximumTransferLength ?? 0) * blockSize,
    granularityBytes: (limits?.optimalTransferLengthGranularity ?? 0) * blockSize,
  };
}

/**
 * The NBD size constraints of a LUN: minimum = its logical block size; preferred = its optimal
 * transfer length granularity when that is a usable power of two, else max(4096, block size);
 * maximum = its maximum transfer length, capped (32 MiB by default), or the cap when it gives none.
 */
export function sizeConstraints(blockSize: number, maxTransferBytes: number, granularityBytes: number, cap: number): { readonly minimum: number; readonly preferred: number; readonly maximum: number } {
  const minimum = blockSize;
  let maximum = maxTransferBytes > 0 ? Math.min(maxTransferBytes, cap) : cap;
  maximum -= maximum % blockSize;
  maximum = Math.max(maximum, blockSize);
  let preferred = isPowerOfTwo(granularityBytes) && granularityBytes >= Math.max(512, blockSize) ? granularityBytes : Math.max(4096, blockSize);
  // The preferred size may not exceed the maximum payload: the largest power of two that fits.
  while (preferred > maximum && preferred > Math.max(512, blockSize)) preferred /= 2;
  return { minimum, preferred, maximum: Math.max(maximum, preferred) };
}

export class LunExport implements NbdBackend {
  readonly export: NbdExport;
  private writeSameWorks = true;
  private preFetchWorks = true;
  private lbaStatusWorks: boolean;
  private zeros: Uint8Array | undefined;
  private readonly readBuffers = new BufferPool();

  private constructor(
    readonly lun: Lun,
    readonly geometry: LunGeometry,
    nbdExport: NbdExport,
  ) {
    this.export = nbdExport;
    this.lbaStatusWorks = geometry.thin;
  }

  static async open(lun: Lun, options: LunExportOptions): Promise<LunExport> {
    const { geometry, maxTransferBytes, granularityBytes } = await readGeometry(lun);
    const sizes = sizeConstraints(geometry.blockSize, maxTransferBytes, granularityBytes, options.maxPayload ?? MAX_NBD_PAYLOAD);
    const nbdExport: NbdExport = {
      name: options.name,
      ...(options.description === undefined ? {} : { description: options.description }),
      size: geometry.blocks * geometry.blockSize,
      minimumBlockSize: sizes.minimum,
      preferredBlockSize: sizes.preferred,
      maximumPayload: sizes.maximum,
      readOnly: options.readOnly === true || geometry.writeProtected,
      flush: true,
      trim: geometry.unmap,
      writeZeroes: true,
      cache: true,
      // One session serves every NBD connection, and SYNCHRONIZE CACHE covers the whole LUN: a
      // FLUSH on any connection covers the writes completed on all of them.
      multiConn: true,
      rotational: false,
    };
    return new LunExport(lun, geometry, nbdExport);
  }

  private lba(offset: number): number {
    return offset / this.geometry.blockSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const blocks = length / this.geometry.blockSize;
    // Data-In lands straight in the buffer the reply will send; a failed read's buffer is
    // dropped, not reused (a late Data-In could not reach it, but nothing is gained by betting).
    return this.lun.read(this.lba(offset), blocks, { into: this.readBuffers.take(length) });
  }

  releaseReadBuffer(data: Uint8Array): void {
    this.readBuffers.release(data);
  }

  async write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    await this.lun.write(this.lba(offset), data, fua ? { fua: true } : {});
  }

  async flush(): Promise<void> {
    await this.lun.flush();
  }

  async trim(offset: number, length: number, fua: boolean): Promise<void> {
    const g = this.geometry;
    let lba = this.lba(offset);
    let left = length / g.blockSize;
    const work: Promise<void>[] = [];
    while (left > 0) {
      const ranges: { lba: number; blocks: number }[] = [];
      while (left > 0 && ranges.length < g.maxUnmapDescriptors) {
        const blocks = Math.min(left, g.maxUnmapBlocks);
        ranges.push({ lba, blocks });
        lba += blocks;
        left -= blocks;
      }
      work.push(this.lun.unmap(ranges));
    }
    await Promise.all(work);
    if (fua) await this.lun.flush();
  }

  async writeZeroes(offset: number, length: number, noHole: boolean, fua: boolean): Promise<void> {
    const g = this.geometry;
    // UNMAP only where unmapped blocks are known to read as zeros, and the client allows a hole.
    const unmap = !noHole && g.writeSameUnmap && g.unmappedReadsZero;
    if (this.writeSameWorks) {
      try {
        const work: Promise<void>[] = [];
        for (let lba = this.lba(offset), left = length / g.blockSize; left > 0; ) {
          const blocks = Math.min(left, g.maxWriteSameBlocks);
          work.push(this.lun.writeSame(lba, blocks, { unmap }));
          lba += blocks;
          left -= blocks;
        }
        await Promise.all(work);
        if (fua) await this.lun.flush();
        return;
      } catch (error) {
        if (!isUnsupportedCommand(error)) throw error;
        this.writeSameWorks = false;
      }
    }
    await this.writeZeroData(offset, length, fua);
  }

  /** Zeros as plain WRITEs, one shared zero buffer at a time. */
  private async writeZeroData(offset: number, length: number, fua: boolean): Promise<void> {
    const chunk = Math.min(ZERO_CHUNK_BYTES, this.export.maximumPayload);
    this.zeros ??= new Uint8Array(chunk);
    const work: Promise<void>[] = [];
    for (let at = offset, end = offset + length; at < end; at += chunk) {
      work.push(this.lun.write(this.lba(at), this.zeros.subarray(0, Math.min(chunk, end - at)), fua ? { fua: true } : {}));
    }
    await Promise.all(work);
  }

  async cache(offset: number, length: number): Promise<void> {
    if (!this.preFetchWorks || length === 0) return;
    if ((await preFetch(this.lun, this.lba(offset), length / this.geometry.blockSize)) === "unsupported") this.preFetchWorks = false;
  }

  async blockStatus(offset: number, length: number): Promise<readonly NbdExtent[]> {
    const g = this.geometry;
    const whole = [{ length, flags: 0 }];
    if (!this.lbaStatusWorks) return whole;
    let descriptors;
    try {
      descriptors = await getLbaStatus(this.lun, this.lba(offset), LBA_STATUS_DESCRIPTORS);
    } catch (error) {
      if (!isUnsupportedCommand(error)) throw error;
      this.lbaStatusWorks = false;
      return whole;
    }
    const extents: NbdExtent[] = [];
    let at = this.lba(offset);
    const end = this.lba(offset + length);
    for (const d of descriptors) {
      if (typeof d.lba !== "number") break;
      // Consecutive from the starting LBA; a descriptor that begins before it is cut.
      if (d.lba > at || d.lba + d.blocks <= at) break;
      const blocks = Math.min(d.lba + d.blocks, end) - at;
      if (blocks <= 0) break;
      extents.push({ length: blocks * g.blockSize, flags: this.flagsOf(d.provisioningStatus) });
      at += blocks;
      if (at >= end) break;
    }
    // A unit that said nothing usable about the first block: "allocated, data" is always safe.
    return extents.length > 0 ? extents : whole;
  }

  private flagsOf(status: number): number {
    const zero = this.geometry.unmappedReadsZero ? NBD_STATE_ZERO : 0;
    if (status === ProvisioningStatus.Deallocated) return NBD_STATE_HOLE | zero;
    // Anchored blocks have their space reserved (no hole) but no data yet.
    if (status === ProvisioningStatus.Anchored) return zero;
    return 0;
  }
}
