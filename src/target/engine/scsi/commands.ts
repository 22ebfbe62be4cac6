/**
 * The commands this device server implements: one table, which the executor dispatches through
 * and REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35) reports from, so the list it gives cannot
 * drift from what runs. An opcode (or service action) not in the table, or not available on the
 * unit, is INVALID COMMAND OPERATION CODE.
 *
 * Each entry carries its CDB USAGE DATA (SPC-4 §6.35.3): byte 0 the opcode, the service action
 * where the CDB has one, and elsewhere a one for every bit the device server evaluates (checks,
 * or acts on) and a zero for every bit it ignores or treats as reserved; a field is all ones or
 * all zeros. GROUP NUMBER is ignored everywhere; in the CONTROL byte only NACA is evaluated (it
 * is refused: no ACA). DPO is marked used where the CDB has it: it is accepted (the Caching mode
 * page reports DPOFUA=1), and with no cache to spare, honoured by doing nothing.
 */
import type { InvalidCdb, ParsedCdb } from "../../../core/scsi/parse-cdb.js";
import { SenseKey } from "../../../core/scsi/status.js";
import type { ExecutionContext } from "./executor.js";
import { type PreFetchCdb, type WriteAndVerifyCdb, parsePreFetchCdb, parseReportSupportedOpcodesCdb, parseWriteAndVerifyCdb } from "./local-cdb.js";
import type { LogicalUnit } from "./logical-unit.js";
import type { ScsiPort, ScsiRequest } from "./port.js";
import { GOOD, Sense, checkCondition, invalidFieldInCdb } from "./results.js";
import {
  compareAndWrite,
  getLbaStatus,
  preFetch,
  read,
  readCapacity10,
  readCapacity16,
  synchronizeCache,
  unmap,
  verify,
  write,
  writeAndVerify,
  writeSame,
} from "./sbc.js";
import { inquiry, modeSense, reportLuns, requestSense } from "./spc.js";
import { reportSupportedOperationCodes } from "./supported-opcodes.js";

/**
 * Runs a command on `unit`. `cdb` is what core/scsi's parseCdb made of it (neither "unknown" for
 * what it knows nor "invalid": the executor has answered those); commands it does not know parse
 * `request.cdb` themselves (local-cdb.ts). Arguments are positional: this runs once per command.
 */
export type RunCommand = (cdb: ParsedCdb, unit: LogicalUnit, request: ScsiRequest, port: ScsiPort, context: ExecutionContext) => void;

export interface ScsiCommand {
  readonly opcode: number;
  /** The service action, for opcodes whose CDB has one (SERVACTV in the command descriptor). */
  readonly serviceAction?: number;
  readonly name: string;
  /** CDB USAGE DATA: as long as the CDB. */
  readonly usage: readonly number[];
  /** Whether the unit has this command (some need thin provisioning); every unit when absent. */
  readonly available?: (unit: LogicalUnit) => boolean;
  /** Holds the unit alone while it runs (see LogicalUnit). */
  readonly exclusive?: boolean;
  /** Bytes of write data the CDB calls for, so that a unit attention's residual is right. */
  readonly writeLength?: (cdb: ParsedCdb, request: ScsiRequest, unit: LogicalUnit) => number | undefined;
  readonly run: RunCommand;
}

type Kind = ParsedCdb["kind"];
type Of<K extends Kind> = Extract<ParsedCdb, { kind: K }>;

type Run<C> = (cdb: C, unit: LogicalUnit, request: ScsiRequest, port: ScsiPort, context: ExecutionContext) => void;

/** A `run` for a command parseCdb knows as `kind`. */
function on<K extends Kind>(kind: K, run: Run<Of<K>>): RunCommand {
  return (cdb, unit, request, port, context) => {
    // parseCdb gives one kind per opcode: another kind here is a table entry under the wrong opcode.
    if (cdb.kind !== kind) return port.finish(checkCondition(Sense.InvalidCommandOperationCode));
    run(cdb as Of<K>, unit, request, port, context);
  };
}

const thin = (unit: LogicalUnit): boolean => unit.def.thinProvisioned;
const blocksOf = (unit: LogicalUnit, blocks: number): number => blocks * unit.def.blockSize;

/** A `run` for a command whose CDB local-cdb.ts parses; an invalid field is answered as parseCdb's are. */
function local<T extends object>(parse: (cdb: Uint8Array) => T | InvalidCdb, run: Run<T>): RunCommand {
  return (_parsed, unit, request, port, context) => {
    const cdb = parse(request.cdb);
    if ("kind" in cdb && cdb.kind === "invalid") return port.finish(invalidFieldInCdb(cdb.field, cdb.bit));
    run(cdb as T, unit, request, port, context);
  };
}

const writeAndVerifyCommand = (opcode: number, name: string, usage: readonly number[]): ScsiCommand => ({
  opcode,
  name,
  usage,
  exclusive: true,
  writeLength: (_cdb, request, unit) => {
    const parsed = parseWriteAndVerifyCdb(request.cdb);
    return "kind" in parsed ? undefined : blocksOf(unit, parsed.blocks);
  },
  run: local<WriteAndVerifyCdb>(parseWriteAndVerifyCdb, (cdb, unit, request, port) => writeAndVerify(request, cdb, unit, unit.limits, port)),
});

const preFetchCommand = (opcode: number, name: string, usage: readonly number[]): ScsiCommand => ({
  opcode,
  name,
  usage,
  run: local<PreFetchCdb>(parsePreFetchCdb, (cdb, unit, _request, port) => preFetch(cdb, unit, unit.limits, port)),
});

const rw = (kind: "read" | "write"): RunCommand =>
  kind === "read"
    ? on("read", (cdb, unit, _request, port) => read(cdb, unit, unit.limits, port))
    : on("write", (cdb, unit, request, port) => write(request, cdb, unit, unit.limits, port));
const writeBlocks: ScsiCommand["writeLength"] = (cdb, _request, unit) => (cdb.kind === "write" ? blocksOf(unit, cdb.blocks) : undefined);
const verifyRun = on("verify", (cdb, unit, request, port) => verify(request, cdb, unit, unit.limits, port));
const verifyLength: ScsiCommand["writeLength"] = (cdb, _request, unit) =>
  cdb.kind !== "verify" ? undefined : cdb.byteCheck === 1 ? blocksOf(unit, cdb.blocks) : cdb.byteCheck === 3 ? unit.def.blockSize : undefined;
const writeSameRun = on("write-same", (cdb, unit, request, port) => writeSame(request, cdb, unit, unit.limits, port));
const writeSameLength: ScsiCommand["writeLength"] = (cdb, _request, unit) => (cdb.kind === "write-same" && !cdb.ndob ? unit.def.blockSize : undefined);
const syncRun = on("synchronize-cache", (cdb, unit, _request, port) => synchronizeCache(cdb, unit, port));
const modeSenseRun = on("mode-sense", (cdb, unit, _request, port) => port.finish(modeSense(cdb, unit)));

/** Every command, in opcode order (the order REPORT SUPPORTED OPERATION CODES lists them in). */
export const COMMANDS: readonly ScsiCommand[] = [
  { opcode: 0x00, name: "TEST UNIT READY", usage: [0x00, 0, 0, 0, 0, 0x04], run: on("test-unit-ready", (_cdb, _unit, _request, port) => port.finish(GOOD)) },
  {
    opcode: 0x03,
    name: "REQUEST SENSE",
    usage: [0x03, 0x01, 0, 0, 0xff, 0x04],
    run: on("request-sense", (cdb, _unit, request, port, context) => {
      const pending = context.unitAttention(request.lun)?.shift();
      port.finish(requestSense(cdb, pending === undefined ? undefined : { key: SenseKey.UnitAttention, ...pending }));
    }),
  },
  { opcode: 0x08, name: "READ(6)", usage: [0x08, 0x1f, 0xff, 0xff, 0xff, 0x04], run: rw("read") },
  { opcode: 0x0a, name: "WRITE(6)", usage: [0x0a, 0x1f, 0xff, 0xff, 0xff, 0x04], writeLength: writeBlocks, run: rw("write") },
  {
    opcode: 0x12,
    name: "INQUIRY",
    // CMDDT (obsolete) is evaluated: it must be zero.
    usage: [0x12, 0x03, 0xff, 0xff, 0xff, 0x04],
    run: on("inquiry", (cdb, unit, _request, port, context) => port.finish(inquiry(cdb, context.target, unit, unit.limits))),
  },
  { opcode: 0x1a, name: "MODE SENSE(6)", usage: [0x1a, 0x08, 0xff, 0xff, 0xff, 0x04], run: modeSenseRun },
  // A fixed, always-ready medium: there is nothing to start, stop, lock or eject, so no field matters.
  { opcode: 0x1b, name: "START STOP UNIT", usage: [0x1b, 0, 0, 0, 0, 0x04], run: on("start-stop-unit", (_cdb, _unit, _request, port) => port.finish(GOOD)) },
  {
    opcode: 0x1e,
    name: "PREVENT ALLOW MEDIUM REMOVAL",
    usage: [0x1e, 0, 0, 0, 0, 0x04],
    run: on("prevent-allow-medium-removal", (_cdb, _unit, _request, port) => port.finish(GOOD)),
  },
  {
    opcode: 0x25,
    name: "READ CAPACITY(10)",
    // LOGICAL BLOCK ADDRESS is checked (zero unless PMI).
    usage: [0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0x04],
    run: on("read-capacity-10", (_cdb, unit, _request, port) => port.finish(readCapacity10(unit))),
  },
  { opcode: 0x28, name: "READ(10)", usage: [0x28, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04], run: rw("read") },
  { opcode: 0x2a, name: "WRITE(10)", usage: [0x2a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04], writeLength: writeBlocks, run: rw("write") },
  writeAndVerifyCommand(0x2e, "WRITE AND VERIFY(10)", [0x2e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04]),
  { opcode: 0x2f, name: "VERIFY(10)", usage: [0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04], writeLength: verifyLength, run: verifyRun },
  preFetchCommand(0x34, "PRE-FETCH(10)", [0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04]),
  // IMMED is ignored: the cache is flushed before status either way.
  { opcode: 0x35, name: "SYNCHRONIZE CACHE(10)", usage: [0x35, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04], run: syncRun },
  { opcode: 0x41, name: "WRITE SAME(10)", usage: [0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0x04], writeLength: writeSameLength, run: writeSameRun },
  {
    opcode: 0x42,
    name: "UNMAP",
    usage: [0x42, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04],
    available: thin,
    writeLength: (cdb) => (cdb.kind === "unmap" ? cdb.parameterListLength : undefined),
    run: on("unmap", (cdb, unit, request, port) => unmap(request, cdb, unit, unit.limits, port)),
  },
  { opcode: 0x5a, name: "MODE SENSE(10)", usage: [0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x04], run: modeSenseRun },
  { opcode: 0x88, name: "READ(16)", usage: [0x88, 0xf8, ...ones(8), ...ones(4), 0, 0x04], run: rw("read") },
  {
    opcode: 0x89,
    name: "COMPARE AND WRITE",
    usage: [0x89, 0xf8, ...ones(8), 0, 0, 0, 0xff, 0, 0x04],
    exclusive: true,
    writeLength: (cdb, _request, unit) => (cdb.kind === "compare-and-write" ? 2 * blocksOf(unit, cdb.blocks) : undefined),
    run: on("compare-and-write", (cdb, unit, request, port) => compareAndWrite(request, cdb, unit, unit.limits, port)),
  },
  { opcode: 0x8a, name: "WRITE(16)", usage: [0x8a, 0xf8, ...ones(8), ...ones(4), 0, 0x04], writeLength: writeBlocks, run: rw("write") },
  writeAndVerifyCommand(0x8e, "WRITE AND VERIFY(16)", [0x8e, 0xf6, ...ones(8), ...ones(4), 0, 0x04]),
  { opcode: 0x8f, name: "VERIFY(16)", usage: [0x8f, 0xf6, ...ones(8), ...ones(4), 0, 0x04], writeLength: verifyLength, run: verifyRun },
  preFetchCommand(0x90, "PRE-FETCH(16)", [0x90, 0x02, ...ones(8), ...ones(4), 0, 0x04]),
  { opcode: 0x91, name: "SYNCHRONIZE CACHE(16)", usage: [0x91, 0, ...ones(8), ...ones(4), 0, 0x04], run: syncRun },
  { opcode: 0x93, name: "WRITE SAME(16)", usage: [0x93, 0xf9, ...ones(8), ...ones(4), 0, 0x04], writeLength: writeSameLength, run: writeSameRun },
  {
    opcode: 0x9e,
    serviceAction: 0x10,
    name: "READ CAPACITY(16)",
    // LOGICAL BLOCK ADDRESS is checked (zero unless PMI).
    usage: [0x9e, 0x10, ...ones(8), ...ones(4), 0x01, 0x04],
    run: on("read-capacity-16", (cdb, unit, _request, port) => port.finish(readCapacity16(cdb, unit))),
  },
  {
    opcode: 0x9e,
    serviceAction: 0x12,
    name: "GET LBA STATUS",
    usage: [0x9e, 0x12, ...ones(8), ...ones(4), 0, 0x04],
    available: thin,
    run: (_cdb, unit, request, port) => getLbaStatus(request.cdb, unit, port),
  },
  {
    opcode: 0xa0,
    name: "REPORT LUNS",
    usage: [0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04],
    run: on("report-luns", (cdb, _unit, _request, port, context) => port.finish(reportLuns(cdb, context.target))),
  },
  {
    opcode: 0xa3,
    serviceAction: 0x0c,
    name: "REPORT SUPPORTED OPERATION CODES",
    usage: [0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04],
    run: (_cdb, unit, request, port) =>
      port.finish(reportSupportedOperationCodes(parseReportSupportedOpcodesCdb(request.cdb), commandsOf(unit))),
  },
  { opcode: 0xa8, name: "READ(12)", usage: [0xa8, 0xf8, ...ones(4), ...ones(4), 0, 0x04], run: rw("read") },
  { opcode: 0xaa, name: "WRITE(12)", usage: [0xaa, 0xf8, ...ones(4), ...ones(4), 0, 0x04], writeLength: writeBlocks, run: rw("write") },
  writeAndVerifyCommand(0xae, "WRITE AND VERIFY(12)", [0xae, 0xf6, ...ones(4), ...ones(4), 0, 0x04]),
  { opcode: 0xaf, name: "VERIFY(12)", usage: [0xaf, 0xf6, ...ones(4), ...ones(4), 0, 0x04], writeLength: verifyLength, run: verifyRun },
];

function ones(n: number): number[] {
  return new Array<number>(n).fill(0xff);
}

/**
 * The table by opcode; for opcodes with service actions (SERVICE ACTION IN(16), MAINTENANCE IN:
 * in byte 1, bits 4-0), by service action under it.
 */
const BY_OPCODE: ReadonlyArray<ScsiCommand | ReadonlyMap<number, ScsiCommand> | undefined> = (() => {
  const table: Array<ScsiCommand | Map<number, ScsiCommand> | undefined> = new Array(256).fill(undefined);
  for (const command of COMMANDS) {
    if (command.serviceAction === undefined) {
      table[command.opcode] = command;
      continue;
    }
    const actions = table[command.opcode];
    const map = actions instanceof Map ? actions : new Map<number, ScsiCommand>();
    map.set(command.serviceAction, command);
    table[command.opcode] = map;
  }
  return table;
})();

/** The command `cdb` asks for, if this unit has it. */
export function findCommand(cdb: Uint8Array, unit: LogicalUnit | undefined): ScsiCommand | undefined {
  const entry = BY_OPCODE[cdb[0] ?? 0];
  const command = entry instanceof Map ? entry.get((cdb[1] ?? 0) & 0x1f) : (entry as ScsiCommand | undefined);
  if (command === undefined || unit === undefined) return command;
  return command.available === undefined || command.available(unit) ? command : undefined;
}

/** The commands a unit has, in opcode order. */
export function commandsOf(unit: LogicalUnit): readonly ScsiCommand[] {
  return COMMANDS.filter((c) => c.available === undefined || c.available(unit));
}
