/**
 * Writing a file to the LUN: in chunks, a few in flight so the link stays busy, with progress
 * after each; then, if asked, reading it all back and comparing byte for byte. CRC32C of what was
 * written and of what came back are shown side by side: a person compares two numbers faster
 * than a sentence.
 */
import { crc32c, type Lun } from "../browser/index.js";

const CHUNK_BYTES = 256 * 1024;
const IN_FLIGHT = 4;

export interface TransferProgress {
  readonly phase: "writing" | "verifying";
  readonly done: number;
  readonly total: number;
}

export interface TransferResult {
  readonly bytes: number;
  /** Zero bytes added to fill the last block. */
  readonly padding: number;
  readonly blocks: number;
  readonly writeMs: number;
  readonly crcWritten: number;
  /** Present when verified. */
  readonly crcRead?: number;
  /** Byte offset of the first difference, -1 when identical; undefined when not verified. */
  readonly firstDifference?: number;
}

/** Runs `work(offset, length)` over `total` bytes in chunks, IN_FLIGHT at a time, in order of offset. */
async function chunked(total: number, work: (offset: number, length: number) => Promise<void>, progress: (done: number) => void): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const offset = next;
      const length = Math.min(CHUNK_BYTES, total - offset);
      next += length;
      await work(offset, length);
      done += length;
      progress(done);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

export async function writeFile(lun: Lun, file: Uint8Array, lba: number, blockSize: number, blocks: number, verify: boolean, onProgress: (p: TransferProgress) => void): Promise<TransferResult> {
  const padding = (blockSize - (file.length % blockSize)) % blockSize;
  const data = padding === 0 ? file : new Uint8Array(file.length + padding);
  if (data !== file) data.set(file);
  const count = data.length / blockSize;
  if (count === 0) throw new RangeError("the file is empty");
  if (lba + count > blocks) throw new RangeError(`the file needs ${count} blocks from LBA ${lba}, past the LUN's last block ${blocks - 1}`);
  const started = performance.now();
  await chunked(
    data.length,
    (offset, length) => lun.write(lba + offset / blockSize, data.subarray(offset, offset + length)),
    (done) => onProgress({ phase: "writing", done, total: data.length }),
  );
  const writeMs = performance.now() - started;
  const crcWritten = crc32c(data);
  if (!verify) return { bytes: file.length, padding, blocks: count, writeMs, crcWritten };
  const back = new Uint8Array(data.length);
  await chunked(
    data.length,
    async (offset, length) => {
      await lun.read(lba + offset / blockSize, length / blockSize, { into: back.subarray(offset, offset + length) });
    },
    (done) => onProgress({ phase: "verifying", done, total: data.length }),
  );
  let firstDifference = -1;
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== back[i]) {
      firstDifference = i;
      break;
    }
  }
  return { bytes: file.length, padding, blocks: count, writeMs, crcWritten, crcRead: crc32c(back), firstDifference };
}
