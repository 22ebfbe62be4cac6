import { describe, expect, it } from "vitest";
import { crc32c } from "../digest/crc32c.js";
import { encodePdu } from "../pdu/encode.js";
import { Opcode } from "../pdu/opcodes.js";
import type { ScsiCommandPdu } from "../pdu/types.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../text/parameters.js";
import { Pair } from "./session.test-util.js";

/**
 * A host that reads as Node's `onread` does (src/node/transport.ts): straight into the caller's
 * buffer when the connection offers a view, a header alone when it asks for one, else as much as
 * the "kernel" has into its own buffer. The kernel holds each PDU the target sent as one chunk.
 */
const MIN = 64 * 1024;
const SEGMENT = 128 * 1024;
const SEGMENTS = 4;

function readCommand(pair: Pair): { command: ScsiCommandPdu; into: Uint8Array } {
  const into = new Uint8Array(SEGMENT * SEGMENTS);
  const blocks = into.length / 512;
  const cdb = new Uint8Array([0x28, 0, 0, 0, 0, 0, 0, blocks >> 8, blocks & 0xff, 0]);
  pair.session.submit({ lun: 1, cdb, dataIn: into, context: "r" }, 0);
  const command = pair.target.take(Opcode.ScsiCommand);
  pair.target.accept(command);
  return { command, into };
}

function pattern(offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = ((offset + i) * 7 + 3) & 0xff;
  return bytes;
}

/** Feeds the chunks as the host would read them; returns the bytes that went each way. */
function hostReads(pair: Pair, chunks: Uint8Array[], askHeaders: boolean): { copied: number; direct: number; headerReads: number[] } {
  const connection = pair.connection;
  let copied = 0;
  let direct = 0;
  const headerReads: number[] = [];
  for (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      const room = connection.directReadTarget(MIN);
      if (room !== undefined) {
        const n = Math.min(room.length, chunk.length - at);
        room.set(chunk.subarray(at, at + n));
        connection.receivedDirectly(n, pair.now);
        direct += n;
        at += n;
        continue;
      }
      const header = askHeaders ? connection.headerReadLength(MIN) : 0;
      const n = header > 0 ? Math.min(header, chunk.length - at) : chunk.length - at;
      if (header > 0) headerReads.push(n);
      // The host's own buffer is reused: the connection must copy what it keeps.
      const own = chunk.slice(at, at + n);
      connection.receive(own, pair.now, true);
      own.fill(0xee);
      copied += n;
      at += n;
    }
  }
  return { copied, direct, headerReads };
}

function dataInChunks(pair: Pair, command: ScsiCommandPdu, digests: { headerDigest: boolean; dataDigest: boolean }): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < SEGMENTS; i++) {
    const last = i === SEGMENTS - 1;
    const pdu = pair.target.dataIn(command, pattern(i * SEGMENT, SEGMENT), { dataSN: i, bufferOffset: i * SEGMENT, hasStatus: last, final: last });
    const pieces = encodePdu(pdu, { ...digests, crc32c });
    const bytes = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of pieces) {
      bytes.set(p, at);
      at += p.length;
    }
    chunks.push(bytes);
  }
  return chunks;
}

/** The first index where `bytes` differs from the pattern, or -1 (toEqual on 512 KiB is slow). */
function firstWrong(bytes: Uint8Array): number {
  const expected = pattern(0, bytes.length);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== expected[i]) return i;
  return -1;
}

function completed(pair: Pair): number {
  const done = pair.events().find((e) => e.type === "command-complete");
  if (done?.type !== "command-complete") throw new Error("test: the READ did not complete");
  return done.result.bytesIn;
}

describe("reading large Data-In straight into the caller's buffer", () => {
  it("asks for a header alone after a large Data-In, so every later payload goes direct", () => {
    const pair = new Pair().login();
    const { command, into } = readCommand(pair);
    const moved = hostReads(pair, dataInChunks(pair, command, { headerDigest: false, dataDigest: false }), true);
    expect(completed(pair)).toBe(SEGMENT * SEGMENTS);
    expect(firstWrong(into)).toBe(-1);
    // The first PDU comes whole into the host's buffer; after it, headers alone and direct payloads.
    expect(moved.headerReads).toEqual([48, 48, 48]);
    expect(moved.direct).toBe(SEGMENT * (SEGMENTS - 1));
    expect(moved.copied).toBe(48 + SEGMENT + 3 * 48);
  });

  it("copies every payload when the host never asks for a header alone", () => {
    const pair = new Pair().login();
    const { command, into } = readCommand(pair);
    const moved = hostReads(pair, dataInChunks(pair, command, { headerDigest: false, dataDigest: false }), false);
    expect(completed(pair)).toBe(SEGMENT * SEGMENTS);
    expect(firstWrong(into)).toBe(-1);
    expect(moved.direct).toBe(0);
  });

  const digests = { headerDigest: true, dataDigest: true };
  const withDigests = (): Pair => {
    const proposal = { ...DEFAULT_INITIATOR_PROPOSAL, headerDigest: ["CRC32C" as const], dataDigest: ["CRC32C" as const] };
    return new Pair({ config: { proposal }, policy: { headerDigest: ["CRC32C"], dataDigest: ["CRC32C"] } }).login();
  };

  it("reads the header digest with the header when digests are on", () => {
    const pair = withDigests();
    expect(pair.connection.params.headerDigest).toBe(true);
    const { command, into } = readCommand(pair);
    const moved = hostReads(pair, dataInChunks(pair, command, digests), true);
    expect(completed(pair)).toBe(SEGMENT * SEGMENTS);
    expect(firstWrong(into)).toBe(-1);
    expect(moved.headerReads).toEqual([52, 52, 52]);
    expect(moved.direct).toBe(SEGMENT * (SEGMENTS - 1));
  });

  it("still checks the data digest of a payload read direct after a header read alone", () => {
    const pair = withDigests();
    const { command } = readCommand(pair);
    const chunks = dataInChunks(pair, command, digests);
    const third = chunks[2] as Uint8Array;
    third[52 + 1000] = (third[52 + 1000] as number) ^ 0x01;
    const moved = hostReads(pair, chunks, true);
    expect(moved.headerReads.length).toBeGreaterThan(0);
    // ERL 0: a data digest error drops the connection (RFC 7143 §7.8); the READ never completes.
    expect(pair.events().some((e) => e.type === "command-complete")).toBe(false);
    expect(pair.connection.error?.message).toBe("connection 0: data digest error in DataIn");
  });

  it("reads no header alone after small Data-In", () => {
    const pair = new Pair().login();
    const { command } = readCommand(pair);
    const chunks = dataInChunks(pair, command, { headerDigest: false, dataDigest: false });
    hostReads(pair, chunks.slice(0, 1), true);
    expect(pair.connection.headerReadLength(MIN)).toBe(48);
    expect(pair.connection.headerReadLength(SEGMENT + 1)).toBe(0);
  });
});
