/**
 * The initiator Session after login, fed whatever a hostile target sends. The in-memory pair
 * (src/core/session/session.test-util.ts) logs in through the real TargetLogin; then a READ, a
 * WRITE (both waiting for R2T or status), a TEST UNIT READY, a NOP-Out ping, an ABORT TASK and a
 * SendTargets text request are outstanding, and the input is delivered as target bytes in
 * chunks with time passing between them.
 *
 * With the "fix-up" config bit, each PDU's Initiator Task Tag is mapped onto one of the
 * outstanding tasks and StatSN, ExpCmdSN and MaxCmdSN are made to follow on, so inputs reach the
 * data path instead of failing the first sequence-number check.
 *
 * Besides "only IscsiErrors", two invariants: no request completes twice, and once time has run
 * past every timeout (keep-alive, recovery's replacement timeout) no request is left without an
 * outcome.
 */
import fc from "fast-check";
import { pduArbitraries } from "../../src/core/pdu/arbitraries.test-util.js";
import { scsiResponse } from "../../src/core/pdu/frames.test-util.js";
import { Opcode, TaskManagementFunction } from "../../src/core/pdu/opcodes.js";
import type { TargetPdu } from "../../src/core/pdu/types.js";
import { serialAdd } from "../../src/core/serial.js";
import { buildRead10Cdb, buildTestUnitReadyCdb, buildWrite10Cdb } from "../../src/core/scsi/cdb.js";
import { Pair } from "../../src/core/session/session.test-util.js";
import { corpus, once } from "../corpus.js";
import { concat } from "../mutate.js";
import { chunks, encodeStream, pduLength, randomFor, split, withConfig } from "../stream.js";
import { type FuzzTarget, InvariantError, proportional } from "../target.js";

const arbs = pduArbitraries({ maxDataLength: 4096 });

/** Indices of the outstanding requests; the fix-up maps an ITT k onto request k. */
const READ = 0;
const WRITE = 1;
const TUR = 2;
const PING = 3;
const ABORT = 4;
const TEXT = 5;
const NO_TAG = 0xffff_ffff;
const READ_LENGTH = 4096;
const WRITE_LENGTH = 8192;

const common = { statSN: 0, expCmdSN: 0, maxCmdSN: 0 };

/**
 * Plausible answers to the six requests (Data-In pieces with status, R2T then status, sense,
 * NOP-In, TMF and Text responses) in a shuffled order with a few PDUs dropped, repeated or
 * replaced by any target PDU: enough order to reach completion paths, enough disorder to test them.
 */
const arbScript: fc.Arbitrary<TargetPdu[]> = fc
  .record({
    readPieces: fc.constantFrom(1, 2, 4, 8),
    readStatusInData: fc.boolean(),
    readStatus: fc.constantFrom(0, 0, 2, 8),
    r2t: fc.boolean(),
    r2tLength: fc.constantFrom(WRITE_LENGTH, 4096, 1024, 0, 65536),
    writeStatus: fc.constantFrom(0, 0, 2),
    sense: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 40 }), fc.constant(Uint8Array.of(0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0))),
    tmfResponse: fc.constantFrom(0, 1, 5, 255),
    text: fc.constantFrom("TargetName=iqn.2026-11.test:pair\0TargetAddress=127.0.0.1:3260,1\0", "", "TargetName=\0", "X=1"),
    groups: fc.array(fc.nat(5), { minLength: 6, maxLength: 9 }),
    noise: fc.array(fc.tuple(fc.nat(40), arbs.targetPdu), { maxLength: 2 }),
    drop: fc.option(fc.nat(20), { freq: 4, nil: undefined }),
  })
  .map((o) => {
    const group: TargetPdu[][] = [[], [], [], [], [], []];
    const piece = READ_LENGTH / o.readPieces;
    for (let i = 0; i < o.readPieces; i++) {
      const last = i === o.readPieces - 1;
      group[READ]!.push({
        opcode: Opcode.DataIn,
        final: last,
        acknowledge: false,
        residualOverflow: false,
        residualUnderflow: false,
        hasStatus: last && o.readStatusInData,
        status: last && o.readStatusInData ? o.readStatus : 0,
        lun: 1,
        initiatorTaskTag: READ,
        targetTransferTag: NO_TAG,
        ...common,
        dataSN: i,
        bufferOffset: i * piece,
        residualCount: 0,
        data: new Uint8Array(piece),
      });
    }
    const response = (itt: number, status: number, sense: Uint8Array): TargetPdu => scsiResponse({ status, initiatorTaskTag: itt, ...common, sense });
    if (!o.readStatusInData) group[READ]!.push(response(READ, o.readStatus, o.readStatus === 2 ? o.sense : new Uint8Array(0)));
    if (o.r2t) {
      group[WRITE]!.push({ opcode: Opcode.R2T, lun: 1, initiatorTaskTag: WRITE, targetTransferTag: 0x100, ...common, r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: o.r2tLength });
    }
    group[WRITE]!.push(response(WRITE, o.writeStatus, o.writeStatus === 2 ? o.sense : new Uint8Array(0)));
    group[TUR]!.push(response(TUR, o.sense.length > 0 ? 2 : 0, o.sense));
    group[PING]!.push({ opcode: Opcode.NopIn, lun: 0, initiatorTaskTag: PING, targetTransferTag: NO_TAG, ...common, data: new Uint8Array(0) });
    group[ABORT]!.push({ opcode: Opcode.TaskManagementResponse, response: o.tmfResponse, initiatorTaskTag: ABORT, ...common });
    group[TEXT]!.push({ opcode: Opcode.TextResponse, final: true, continue: false, lun: 0, initiatorTaskTag: TEXT, targetTransferTag: NO_TAG, ...common, data: new TextEncoder().encode(o.text) });
    const order = [...new Set([...o.groups, 0, 1, 2, 3, 4, 5])];
    const out = order.flatMap((g) => group[g] ?? []);
    for (const [at, pdu] of o.noise) out.splice(at % (out.length + 1), 0, pdu);
    if (o.drop !== undefined) out.splice(o.drop % out.length, 1);
    return out;
  });

/** Target PDUs that take a StatSN (RFC 7143 §4.2.2.2). */
function consumesStatSN(bytes: Uint8Array, at: number): boolean {
  const opcode = bytes[at]! & 0x3f;
  switch (opcode) {
    case Opcode.DataIn:
      return (bytes[at + 1]! & 0x01) !== 0;
    case Opcode.NopIn:
      return !(bytes[at + 16] === 0xff && bytes[at + 17] === 0xff && bytes[at + 18] === 0xff && bytes[at + 19] === 0xff);
    case Opcode.R2T:
      return false;
    default:
      return true;
  }
}

function put32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = value >>> 16;
  bytes[at + 2] = value >>> 8;
  bytes[at + 3] = value;
}

function get32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Rewrites tags and sequence numbers in place so the PDUs fit the session's state. */
function fixUp(stream: Uint8Array, tags: readonly number[], statSN: number, expCmdSN: number): void {
  for (let at = 0; at + 48 <= stream.length; at += pduLength(stream, at, { header: false, data: false })) {
    const itt = get32(stream, at + 16);
    if (itt !== 0xffff_ffff) put32(stream, at + 16, tags[itt % tags.length] as number);
    put32(stream, at + 24, statSN);
    if (consumesStatSN(stream, at)) statSN = serialAdd(statSN, 1);
    put32(stream, at + 28, expCmdSN);
    put32(stream, at + 32, serialAdd(expCmdSN, 31));
  }
}

type Outcome = "pending" | "done";

export const sessionTarget: FuzzTarget = {
  name: "session",
  description: "the initiator Session after login, fed target PDUs in chunks with time passing, six requests outstanding",
  arbitrary: withConfig(
    fc.integer({ min: 0, max: 255 }).map((c) => c | 0x80),
    () => fc.oneof({ weight: 3, arbitrary: arbScript }, { weight: 1, arbitrary: fc.array(arbs.targetPdu, { minLength: 1, maxLength: 8 }) }).map((pdus) => encodeStream(pdus)),
  ),
  seeds: once(() => [
    ...corpus("session").map((s) => concat([Uint8Array.of(0x80), s])),
    ...corpus("pdus", (n) => /^(DataIn|ScsiResponse|R2T|NopIn|TaskManagementResponse|TextResponse|Reject|AsyncMessage|LogoutResponse)/.test(n)).map((s) =>
      concat([Uint8Array.of(0x80), s]),
    ),
  ]),
  // The negotiated MaxRecvDataSegmentLength bounds what a spanning data segment may take.
  allocationLimit: (input) => proportional(input, 4, 262_144 + 8192),
  run(input) {
    const { config, payload } = split(input);
    const pair = new Pair({ seed: 7 }).login();
    const session = pair.session;
    const outcomes = new Map<string, Outcome>();
    const tags: number[] = [];
    const track = (context: string, itt: number): void => {
      outcomes.set(context, "pending");
      tags.push(itt);
    };
    track("read", session.submit({ lun: 1, cdb: buildRead10Cdb({ lba: 0, blocks: 8 }), dataIn: new Uint8Array(READ_LENGTH), retry: "safe", context: "read" }, pair.now));
    track("write", session.submit({ lun: 1, cdb: buildWrite10Cdb({ lba: 8, blocks: 16 }), dataOut: new Uint8Array(WRITE_LENGTH), retry: "safe", context: "write" }, pair.now));
    track("tur", session.submit({ lun: 1, cdb: buildTestUnitReadyCdb(), context: "tur" }, pair.now));
    track("ping", session.ping("ping", pair.now));
    track("abort", session.taskManagement(TaskManagementFunction.AbortTask, { lun: 1, referencedTaskTag: tags[2] as number }, "abort", pair.now));
    track("text", session.text([["SendTargets", "All"]], "text", pair.now));
    pair.connection.pollTransmit();

    const stream = payload.slice();
    if ((config & 0x80) !== 0) fixUp(stream, tags, pair.target.statSN, session.commandWindow.cmdSN);
    const random = randomFor(input);
    const drain = (): void => {
      for (const event of pair.events()) {
        if (!("context" in event)) continue;
        const context = event.context as string;
        if (outcomes.get(context) === "done") throw new InvariantError(`request "${context}" completed twice (second: ${event.type})`);
        outcomes.set(context, "done");
      }
      pair.connection.pollTransmit();
    };
    for (const chunk of chunks(stream, config & 7, random)) {
      pair.connection.receive(chunk, pair.now);
      drain();
      if (random.chance(0.3)) pair.advance(random.int(0, 3_000));
      drain();
    }
    // Let every timer run out: keep-alive, logout, recovery's replacement timeout.
    const end = pair.now + 600_000;
    for (let i = 0; i < 10_000; i++) {
      const next = session.pollTimeout();
      if (next === undefined || next > end) break;
      pair.now = Math.max(pair.now, next);
      session.handleTimeout(pair.now);
      drain();
    }
    const left = [...outcomes].filter(([, o]) => o === "pending").map(([c]) => c);
    if (left.length > 0) throw new InvariantError(`request(s) ${left.join(", ")} never completed or failed (session ${session.state})`);
  },
};
