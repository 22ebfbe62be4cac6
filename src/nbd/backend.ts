/**
 * What the NBD server serves from: the storage operations one export needs, byte-addressed and
 * already checked by the engine (aligned to the minimum block size, inside the export, within
 * the maximum payload). A failure rejects; the server turns it into an NBD error value with
 * nbdErrnoOf (an NbdRequestError carries its own).
 */
import type { NbdExtent } from "./engine/connection.js";
import type { NbdExport } from "./engine/export.js";

export interface NbdBackend {
  /** The export as NBD clients see it. */
  readonly export: NbdExport;
  /** `length` bytes from `offset`, in a buffer the server may send as is. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: a buffer `read` returned, given back once the reply that carried it is with the
   * kernel (never called for a reply that was not sent: such a buffer is simply dropped).
   */
  releaseReadBuffer?(data: Uint8Array): void;
  write(offset: number, data: Uint8Array, fua: boolean): Promise<void>;
  /** Everything completed so far is on stable storage. */
  flush(): Promise<void>;
  trim(offset: number, length: number, fua: boolean): Promise<void>;
  /** Zeros; `noHole`: the range must stay allocated. */
  writeZeroes(offset: number, length: number, noHole: boolean, fua: boolean): Promise<void>;
  /** A hint that the range will be read. */
  cache(offset: number, length: number): Promise<void>;
  /** base:allocation extents from `offset`, covering at least its first block. */
  blockStatus(offset: number, length: number): Promise<readonly NbdExtent[]>;
}
