/**
 * `null:<size>`: reads return zeros and writes are dropped, like tgtd's null backing store. A
 * peer for benchmarks: it measures the protocol path and nothing else.
 */
import { LocalProtocolError } from "../../core/errors.js";
import type { BlockBackend } from "./backend.js";

/** Zeros shared by every read up to this size; larger reads get their own. */
const SHARED_ZEROS = 1024 * 1024;

export class NullBackend implements BlockBackend {
  readonly description: string;
  readonly size: number;
  /**
   * Not reported as thin: a thin unit must say which blocks were written (GET LBA STATUS), and a
   * store that keeps nothing cannot.
   */
  readonly thinProvisioned = false;
  readonly readOnly = false;
  readonly #zeros = new Uint8Array(SHARED_ZEROS);

  constructor(size: number, description?: string) {
    if (!Number.isSafeInteger(size) || size < 0) throw new LocalProtocolError(`null backend size ${size} is not a byte count`);
    this.size = size;
    this.description = description ?? `null:${size}`;
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    return length <= SHARED_ZEROS ? this.#zeros.subarray(0, length) : new Uint8Array(length);
  }

  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
  }

  flush(): void {}

  unmap(offset: number, length: number): void {
    this.#check(offset, length);
  }

  writeSame(offset: number, length: number): void {
    this.#check(offset, length);
  }

  close(): void {}

  #check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new LocalProtocolError(`${this.description}: range [${offset}, ${offset + length}) is outside its ${this.size} bytes`);
    }
  }
}
