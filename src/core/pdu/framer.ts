/**
 * The framer cuts a TCP byte stream into PDUs (RFC 7143 §11.2): BHS (48 bytes), AHS
 * (TotalAHSLength words), optional header digest, data segment padded to 4 bytes, optional data
 * digest. It does not interpret the header beyond those lengths; `decodePdu` does.
 *
 * Copies: a data segment that lies inside one pushed chunk is delivered as a view of that chunk
 * (no copy). One that spans chunks is copied once, either into a buffer of its own or, if the
 * placement hook gives a destination, straight into that destination. Headers that span chunks
 * are assembled (at most 48 + 1020 + 4 bytes).
 *
 * Bounds: DataSegmentLength is checked against the negotiated MaxRecvDataSegmentLength as soon as
 * the header is complete, before a byte of the data segment is consumed; TotalAHSLength is bounded
 * by its 8-bit field (1020 bytes).
 *
 * Failure: after `next()` throws (digest mismatch of a header, oversized data segment, a
 * placement hook that throws), framing is lost and the framer is unusable: every later `push()`
 * or `next()` throws a LocalProtocolError whose `cause` is the first error. The connection must
 * be dropped.
 */
import { DigestError, LocalProtocolError, RemoteProtocolError } from "../errors.js";
import type { Crc32c } from "../digest/crc32c.js";
import { hex } from "../hex.js";
import { BHS_LENGTH, MAX_DATA_SEGMENT_LENGTH_FIELD, opcodeName } from "./opcodes.js";
import { EMPTY, padding, readDigest, readU24, readU32 } from "../bytes.js";

export interface Frame {
  /** bhs[0] & 0x3f */
  readonly opcode: number;
  /** The 48-byte Basic Header Segment. */
  readonly bhs: Uint8Array;
  /** TotalAHSLength * 4 bytes (may be empty). */
  readonly ahs: Uint8Array;
  /** DataSegmentLength bytes, without padding or digest. */
  readonly data: Uint8Array;
  /** True if `data` is a view of the destination returned by the placement hook. */
  readonly dataPlaced: boolean;
  /**
   * True if the data digest was on and did not match. The header was sound, so framing goes on;
   * the session decides what to do (RFC 7143 §7.8: at ErrorRecoveryLevel >= 1 it may SNACK).
   * With placement, the suspect bytes have already been written to the destination.
   */
  readonly dataDigestError: boolean;
}

export interface FramerSettings {
  /** Our MaxRecvDataSegmentLength (RFC 7143 §13.12): the largest data segment we accept. */
  readonly maxDataSegmentLength: number;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
}

/**
 * Asked once per PDU whose DataSegmentLength is not 0, after its header (BHS + AHS + header
 * digest) is complete and verified; return a Uint8Array of exactly `dataSegmentLength` bytes to
 * have the data copied straight there, or undefined to let the framer deliver a view/copy as
 * usual. It is not asked for PDUs without a data segment.
 */
export type DataPlacement = (bhs: Uint8Array, ahs: Uint8Array, dataSegmentLength: number) => Uint8Array | undefined;

const DIGEST_LENGTH = 4;

const enum Phase {
  /** Waiting for a complete header; nothing of the next PDU has been consumed. */
  Header,
  /** The header is consumed; the data segment is being taken. */
  Data,
  /** The data segment is taken; padding and data digest remain. */
  Trailer,
}

export class Framer {
  #maxDataSegmentLength: number;
  #headerDigest: boolean;
  #dataDigest: boolean;
  readonly #crc32c: Crc32c;
  #placement: DataPlacement | undefined;
  #failure: unknown = undefined;

  // Pushed chunks not yet fully consumed: #chunks[#head] from #offset onward, then the rest.
  // Consumed slots before #head are released and compacted away in amortized O(1).
  #chunks: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  /** Unconsumed bytes in #chunks. */
  #queued = 0;
  /** Bytes of the PDU in progress consumed so far (header, data taken so far). */
  #taken = 0;

  // The PDU in progress (valid outside Phase.Header).
  #phase = Phase.Header;
  #bhs: Uint8Array = EMPTY;
  #ahs: Uint8Array = EMPTY;
  #dataLength = 0;
  /** The data digest setting captured when this PDU's header was taken. */
  #pduDataDigest = false;
  /** Where a spanning data segment is being copied (placed or framer-owned), else undefined. */
  #dest: Uint8Array | undefined = undefined;
  #destPlaced = false;
  #filled = 0;
  #data: Uint8Array = EMPTY;
  #crc = 0;
  readonly #trailer = new Uint8Array(8);

  constructor(settings: FramerSettings, crc32c: Crc32c, placement?: DataPlacement) {
    this.#maxDataSegmentLength = checkedMaxDataSegmentLength(settings.maxDataSegmentLength);
    this.#headerDigest = settings.headerDigest;
    this.#dataDigest = settings.dataDigest;
    this.#crc32c = crc32c;
    this.#placement = placement;
  }

  /**
   * Changes settings for the next PDU whose header has not been taken yet. The PDU in progress
   * (if `next()` returned undefined halfway through a data segment) finishes with the settings it
   * started with. The session switches digests on right after taking the last Login Response.
   */
  configure(settings: Partial<FramerSettings>): void {
    if (settings.maxDataSegmentLength !== undefined) {
      this.#maxDataSegmentLength = checkedMaxDataSegmentLength(settings.maxDataSegmentLength);
    }
    if (settings.headerDigest !== undefined) this.#headerDigest = settings.headerDigest;
    if (settings.dataDigest !== undefined) this.#dataDigest = settings.dataDigest;
  }

  setPlacement(placement: DataPlacement | undefined): void {
    this.#placement = placement;
  }

  /** Queues a chunk. The framer keeps a reference to it: the host must not reuse its memory. */
  push(chunk: Uint8Array): void {
    this.#checkUsable();
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
  }

  /**
   * Lets the host reuse the memory of every chunk pushed so far (a socket read buffer): copies
   * what the framer still holds of them (unconsumed bytes, the header of the PDU in progress, a
   * data segment waiting for its trailer). Call it after `next()` returned undefined; frames
   * returned before hold views the caller must be done with by then. Costs nothing when no
   * partial PDU is pending, which is most of the time.
   */
  detach(): void {
    if (this.#queued > 0) {
      const rest = new Uint8Array(this.#queued);
      let at = 0;
      for (let i = this.#head; i < this.#chunks.length; i++) {
        const chunk = this.#chunks[i]!;
        const from = i === this.#head ? this.#offset : 0;
        rest.set(chunk.subarray(from), at);
        at += chunk.length - from;
      }
      this.#chunks = [rest];
      this.#head = 0;
      this.#offset = 0;
    } else if (this.#chunks.length > 0) {
      this.#chunks = [];
      this.#head = 0;
      this.#offset = 0;
    }
    if (this.#phase !== Phase.Header) {
      this.#bhs = this.#bhs.slice();
      if (this.#ahs.length > 0) this.#ahs = this.#ahs.slice();
      if (this.#phase === Phase.Trailer && !this.#destPlaced && this.#data.length > 0 && this.#dest === undefined) {
        this.#data = this.#data.slice();
      }
    }
  }

  /**
   * Where the host may have the transport write the next bytes directly, skipping the framer's
   * own copy: the unfilled rest of a placed data segment (the caller's buffer), when nothing is
   * queued ahead of it. After such a read, call `filledDirectly(n)`. With it, a Data-In payload
   * is copied once in all, by the kernel into the caller's buffer.
   */
  directRoom(): Uint8Array | undefined {
    if (this.#failure !== undefined || this.#phase !== Phase.Data || !this.#destPlaced || this.#queued !== 0) return undefined;
    const dest = this.#dest;
    if (dest === undefined || this.#filled >= this.#dataLength) return undefined;
    return dest.subarray(this.#filled, this.#dataLength);
  }

  /** `n` bytes were written by the transport into the view `directRoom()` returned. */
  filledDirectly(n: number): void {
    this.#checkUsable();
    const dest = this.#dest;
    if (this.#phase !== Phase.Data || dest === undefined || !this.#destPlaced || n < 0 || this.#filled + n > this.#dataLength) {
      throw new LocalProtocolError(`filledDirectly(${n}) without a matching directRoom()`);
    }
    if (this.#pduDataDigest) this.#crc = this.#crc32c(dest.subarray(this.#filled, this.#filled + n), this.#crc);
    this.#filled += n;
    this.#taken += n;
  }

  /**
   * True at a PDU boundary with nothing buffered: the next bytes the transport delivers start a
   * header (and, after a large Data-In, most likely another large Data-In's header).
   */
  get atBoundary(): boolean {
    return this.#failure === undefined && this.#phase === Phase.Header && this.#queued === 0;
  }

  /** The length of the header of the next PDU without AHS: the BHS and, if on, its digest. */
  get plainHeaderLength(): number {
    return BHS_LENGTH + (this.#headerDigest ? DIGEST_LENGTH : 0);
  }

  /** Bytes pushed that are not yet part of a frame returned by `next()`. */
  get bufferedBytes(): number {
    return this.#queued + this.#taken;
  }

  /**
   * One complete PDU, or undefined if more bytes are needed. Pull model: the caller may call
   * `configure()` or `setPlacement()` between calls.
   */
  next(): Frame | undefined {
    this.#checkUsable();
    try {
      return this.#step();
    } catch (error) {
      this.#failure = error;
      throw error;
    }
  }

  #checkUsable(): void {
    if (this.#failure !== undefined) {
      throw new LocalProtocolError("the framer failed earlier and lost framing; the connection must be dropped", {
        cause: this.#failure,
      });
    }
  }

  #step(): Frame | undefined {
    if (this.#phase === Phase.Header && !this.#takeHeader()) return undefined;
    if (this.#phase === Phase.Data && !this.#takeData()) return undefined;
    if (this.#phase === Phase.Trailer) return this.#takeTrailer();
    // A PDU without a data segment completes in #takeHeader.
    return this.#finish(false);
  }

  /** Takes BHS + AHS + header digest if all there; returns false (consuming nothing) if not. */
  #takeHeader(): boolean {
    if (this.#queued < BHS_LENGTH) return false;
    // RFC 7143 §11.2.1: TotalAHSLength counts 4-byte words; 8 bits bound it to 1020 bytes.
    const ahsLength = this.#peekByte(4) * 4;
    const digestLength = this.#headerDigest ? DIGEST_LENGTH : 0;
    const headerLength = BHS_LENGTH + ahsLength + digestLength;
    if (this.#queued < headerLength) return false;

    const header = this.#takeContiguous(headerLength);
    // Without AHS or digest the header is the BHS: no second view.
    const bhs = headerLength === BHS_LENGTH ? header : header.subarray(0, BHS_LENGTH);
    const ahs = ahsLength === 0 ? EMPTY : header.subarray(BHS_LENGTH, BHS_LENGTH + ahsLength);
    if (digestLength !== 0) {
      // RFC 7143 §13.1: the header digest covers BHS and AHS. A mismatch means no length in this
      // header can be trusted, so framing is lost (§7.8).
      const computed = this.#crc32c(header.subarray(0, BHS_LENGTH + ahsLength));
      const received = readDigest(header, BHS_LENGTH + ahsLength);
      if (computed !== received) {
        throw new DigestError(
          "header",
          `header digest mismatch on a PDU with opcode ${opcodeName(bhs[0]! & 0x3f)}: computed ${hex(computed, 8)}, received ${hex(received, 8)}`,
        );
      }
    }

    const dataLength = readU24(bhs, 5);
    if (dataLength > this.#maxDataSegmentLength) {
      throw new RemoteProtocolError(
        `PDU header: DataSegmentLength ${dataLength} exceeds the negotiated MaxRecvDataSegmentLength ${this.#maxDataSegmentLength} (opcode ${opcodeName(bhs[0]! & 0x3f)}, ITT ${hex(readU32(bhs, 16), 8)})`,
      );
    }

    this.#bhs = bhs;
    this.#ahs = ahs;
    this.#dataLength = dataLength;
    this.#pduDataDigest = this.#dataDigest;
    this.#data = EMPTY;
    this.#crc = 0;
    if (dataLength === 0) return true; // #step finishes it: no data segment, no data digest.

    this.#filled = 0;
    this.#dest = undefined;
    this.#destPlaced = false;
    const placement = this.#placement;
    if (placement !== undefined) {
      const dest = placement(bhs, ahs, dataLength);
      if (dest !== undefined) {
        if (dest.length !== dataLength) {
          throw new LocalProtocolError(
            `placement hook returned ${dest.length} bytes for a data segment of ${dataLength} (opcode ${opcodeName(bhs[0]! & 0x3f)})`,
          );
        }
        this.#dest = dest;
        this.#destPlaced = true;
      }
    }
    this.#phase = Phase.Data;
    return true;
  }

  /** Takes as much of the data segment as is queued; true once it is complete. */
  #takeData(): boolean {
    const length = this.#dataLength;
    const digest = this.#pduDataDigest;
    if (this.#dest === undefined) {
      if (this.#queued === 0) return false;
      const chunk = this.#chunks[this.#head]!;
      if (chunk.length - this.#offset >= length) {
        // The whole segment is inside one chunk: deliver a view, copy nothing.
        const view = chunk.subarray(this.#offset, this.#offset + length);
        this.#advance(length);
        if (digest) this.#crc = this.#crc32c(view);
        this.#data = view;
        this.#phase = Phase.Trailer;
        return true;
      }
      // It spans chunks: assemble it, copying each byte once as it arrives.
      this.#dest = new Uint8Array(length);
    }
    const dest = this.#dest;
    let filled = this.#filled;
    while (filled < length && this.#queued > 0) {
      const chunk = this.#chunks[this.#head]!;
      const n = Math.min(chunk.length - this.#offset, length - filled);
      const piece = chunk.subarray(this.#offset, this.#offset + n);
      dest.set(piece, filled);
      if (digest) this.#crc = this.#crc32c(piece, this.#crc);
      filled += n;
      this.#advance(n);
    }
    this.#filled = filled;
    if (filled < length) return false;
    this.#data = dest;
    this.#phase = Phase.Trailer;
    return true;
  }

  /** Takes padding and data digest; returns the frame, or undefined if they are not all there. */
  #takeTrailer(): Frame | undefined {
    const pad = padding(this.#dataLength);
    const digest = this.#pduDataDigest;
    const length = pad + (digest ? DIGEST_LENGTH : 0);
    if (this.#queued < length) return undefined;
    if (!digest) {
      this.#skip(length);
      return this.#finish(false);
    }
    const trailer = this.#trailer;
    this.#copyOut(trailer, length);
    // RFC 7143 §11.2.3, §13.1: the data digest covers the data segment and its padding.
    const computed = pad === 0 ? this.#crc : this.#crc32c(trailer.subarray(0, pad), this.#crc);
    return this.#finish(computed !== readDigest(trailer, pad));
  }

  #finish(dataDigestError: boolean): Frame {
    const bhs = this.#bhs;
    const frame: Frame = {
      opcode: bhs[0]! & 0x3f,
      bhs,
      ahs: this.#ahs,
      data: this.#data,
      dataPlaced: this.#destPlaced,
      dataDigestError,
    };
    this.#phase = Phase.Header;
    this.#taken = 0;
    this.#bhs = EMPTY;
    this.#ahs = EMPTY;
    this.#data = EMPTY;
    this.#dest = undefined;
    this.#destPlaced = false;
    return frame;
  }

  /** The byte `index` places past the read position (index < #queued). */
  #peekByte(index: number): number {
    let i = this.#head;
    let at = this.#offset + index;
    for (;;) {
      const chunk = this.#chunks[i]!;
      if (at < chunk.length) return chunk[at]!;
      at -= chunk.length;
      i++;
    }
  }

  /** Consumes `length` queued bytes as one contiguous array: a view if possible, else a copy. */
  #takeContiguous(length: number): Uint8Array {
    const chunk = this.#chunks[this.#head]!;
    if (chunk.length - this.#offset >= length) {
      const view = chunk.subarray(this.#offset, this.#offset + length);
      this.#advance(length);
      return view;
    }
    const out = new Uint8Array(length);
    this.#copyOut(out, length);
    return out;
  }

  /** Consumes `length` queued bytes into the start of `target`. */
  #copyOut(target: Uint8Array, length: number): void {
    let filled = 0;
    while (filled < length) {
      const chunk = this.#chunks[this.#head]!;
      const n = Math.min(chunk.length - this.#offset, length - filled);
      target.set(chunk.subarray(this.#offset, this.#offset + n), filled);
      filled += n;
      this.#advance(n);
    }
  }

  #skip(length: number): void {
    while (length > 0) {
      const n = Math.min(this.#chunks[this.#head]!.length - this.#offset, length);
      length -= n;
      this.#advance(n);
    }
  }

  /** Moves the read position; n never runs past the head chunk. */
  #advance(n: number): void {
    this.#queued -= n;
    this.#taken += n;
    this.#offset += n;
    const chunks = this.#chunks;
    if (this.#offset < chunks[this.#head]!.length) return;
    // The head chunk is used up: release it so its memory can go.
    chunks[this.#head] = EMPTY;
    this.#head++;
    this.#offset = 0;
    if (this.#head === chunks.length) {
      chunks.length = 0;
      this.#head = 0;
    } else if (this.#head >= 64 && this.#head * 2 >= chunks.length) {
      // Drop released slots in one go; each slot is moved at most once per halving: O(1) amortized.
      chunks.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

function checkedMaxDataSegmentLength(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_DATA_SEGMENT_LENGTH_FIELD) {
    throw new LocalProtocolError(
      `maxDataSegmentLength ${value} is not an integer in [0, ${MAX_DATA_SEGMENT_LENGTH_FIELD}]`,
    );
  }
  return value;
}
