/**
 * The SCSI operations a storage engineer reaches for beside read and write: `sync` (SYNCHRONIZE
 * CACHE), `tur` (TEST UNIT READY), `discard` (UNMAP), `zero` (WRITE SAME), `reset` (LOGICAL UNIT
 * RESET, or a target reset) and `cdb` (any command, its status and sense decoded). Each checks its
 * range against the LUN's capacity and what the LUN says it supports before sending anything.
 */
import { readFile, writeFile } from "node:fs/promises";
import { Command } from "commander";
import { ScsiError, buildTestUnitReadyCdb, hexOf, scsiCommandName, decodeSense, describeSense, ScsiStatus, scsiStatusName } from "../../core/index.js";
import { formatPortal } from "../../node/index.js";
import { CliError, fileError } from "../errors.js";
import type { CliIo } from "../program.js";
import { startProgress } from "../progress.js";
import { hexDump } from "../scsi-text.js";
import { formatBytes, formatDuration, parseCount } from "../units.js";
import { examples, type Runner } from "./command.js";
import { checkedRange, lunName } from "./io.js";

const LUN_URL = "iscsi://[user[%secret]@]host[:port]/target-iqn/lun";
const EXAMPLE = "iscsi://127.0.0.1/iqn.2026-11.example:disk/1";

/**
 * Blocks per UNMAP or WRITE SAME when the LUN names no limit (VPD 0xB0 fields 0): small enough
 * that a target does each quickly, so a long range is many short commands and Ctrl-C is prompt.
 */
const DEFAULT_RANGE_BLOCKS = 1 << 16;

function perCommand(limit: number | bigint | undefined): number {
  const n = limit === undefined ? 0 : Number(limit);
  return n > 0 && Number.isSafeInteger(n) ? Math.min(n, 1 << 22) : DEFAULT_RANGE_BLOCKS;
}

interface RangeOptions {
  readonly lba: string;
  readonly blocks: string;
  readonly progress: boolean;
}

/** Runs `step(lba, n)` over [lba, lba + blocks) in pieces of at most `most`, stopping on interrupt. */
async function inPieces(
  lba: number,
  blocks: number,
  most: number,
  signal: AbortSignal,
  step: (lba: number, n: number) => Promise<void>,
  onBlocks?: (done: number) => void,
): Promise<number> {
  let commands = 0;
  for (let done = 0; done < blocks; done += most) {
    if (signal.aborted) throw signal.reason;
    await step(lba + done, Math.min(most, blocks - done));
    commands++;
    onBlocks?.(Math.min(done + most, blocks));
  }
  return commands;
}



// ---------------------------------------------------------------- sync

export function syncCommand(run: Runner): Command {
  return new Command("sync")
    .summary("SYNCHRONIZE CACHE: make the LUN's cached writes durable")
    .description("Sends SYNCHRONIZE CACHE(16) over the whole LUN (SBC-3), falling back to (10) for a target without it, and waits for the target to say the data is on its medium.")
    .argument("<lun-url>", LUN_URL)
    .addHelpText("after", examples([`iscsi sync ${EXAMPLE}`]))
    .action(async (url: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const ref = ctx.targetRef(url, true);
        await ctx.withLun(ref, async (lun) => {
          const started = performance.now();
          await lun.flush();
          const elapsedMs = round(performance.now() - started);
          ctx.out.result({ target: ref.targetName, portal: formatPortal(ref.portal), lun: ref.lun, synchronized: true, elapsedMs }, () => `${lunName(ref)}: cache synchronized in ${formatDuration(elapsedMs)}`);
        });
      }),
    );
}

// ---------------------------------------------------------------- tur

export function turCommand(run: Runner): Command {
  return new Command("tur")
    .summary("TEST UNIT READY: is the LUN ready for I/O?")
    .description(
      "Sends TEST UNIT READY once (a UNIT ATTENTION, which reports a past event, is read and the command sent again). Exit 0 when the LUN is ready; exit 3 with the sense decoded (e.g. NOT READY, MEDIUM NOT PRESENT) when it is not.",
    )
    .argument("<lun-url>", LUN_URL)
    .addHelpText("after", examples([`iscsi tur ${EXAMPLE} && echo ready`]))
    .action(async (url: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const ref = ctx.targetRef(url, true);
        await ctx.withLun(ref, async (lun) => {
          const started = performance.now();
          await lun.execute(buildTestUnitReadyCdb());
          const elapsedMs = round(performance.now() - started);
          ctx.out.result({ target: ref.targetName, portal: formatPortal(ref.portal), lun: ref.lun, ready: true, elapsedMs }, () => `${lunName(ref)}: ready (${formatDuration(elapsedMs)})`);
        });
      }),
    );
}

// ---------------------------------------------------------------- discard

export function discardCommand(run: Runner, io: CliIo): Command {
  return new Command("discard")
    .summary("UNMAP: tell a thin LUN a range of blocks is free")
    .description(
      "Sends UNMAP (SBC-3) for --blocks blocks from --lba, split at the LUN's MAXIMUM UNMAP LBA COUNT. Only for a LUN that reports UNMAP support (VPD Logical Block Provisioning, LBPU): any other is refused before anything is sent. What the blocks read afterwards depends on the LUN (LBPRZ: zeros, or anything).",
    )
    .argument("<lun-url>", LUN_URL)
    .requiredOption("--lba <n>", "first logical block")
    .requiredOption("--blocks <n>", "number of blocks")
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText("after", examples([`iscsi discard ${EXAMPLE} --lba 0 --blocks 2048`]))
    .action(async (url: string, opts: RangeOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const lba = parseCount(opts.lba, "--lba");
        const blocks = parseCount(opts.blocks, "--blocks", { min: 1 });
        const ref = ctx.targetRef(url, true);
        await ctx.withLun(ref, async (lun) => {
          const range = await checkedRange(lun, ref, lba, blocks, "discard");
          const provisioning = await lun.provisioning();
          if (provisioning?.lbpu !== true) {
            throw new CliError(
              "ISCSI_CLI_UNSUPPORTED",
              `${lunName(ref)} cannot unmap: ${provisioning === undefined ? "it has no Logical Block Provisioning VPD page" : "its Logical Block Provisioning VPD page says LBPU=0"} (use \`iscsi zero\` to write zeros instead)`,
            );
          }
          const limits = await lun.blockLimits();
          const started = performance.now();
          const bar = startProgress(io.stderr, opts.progress && ctx.out.progressAllowed, "discarding", blocks * range.blockSize);
          let commands: number;
          try {
            commands = await inPieces(lba, blocks, perCommand(limits?.maximumUnmapLbaCount), ctx.signal, (at, n) => lun.unmap({ lba: at, blocks: n }), (b) => bar.update(b * range.blockSize));
          } finally {
            bar.stop();
          }
          const elapsedMs = round(performance.now() - started);
          const bytes = blocks * range.blockSize;
          ctx.out.result(
            { target: ref.targetName, portal: formatPortal(ref.portal), lun: ref.lun, lba, blocks, blockSize: range.blockSize, bytes, commands, unmappedReadsZero: provisioning.lbprz === 1, elapsedMs },
            () => `discarded ${blocks} block(s) (${formatBytes(bytes)}) from LBA ${lba} of ${range.name} in ${commands} UNMAP command(s), ${formatDuration(elapsedMs)}`,
          );
        });
      }),
    );
}

// ---------------------------------------------------------------- zero

interface ZeroOptions extends RangeOptions {
  readonly unmap?: boolean;
}

export function zeroCommand(run: Runner, io: CliIo): Command {
  return new Command("zero")
    .summary("WRITE SAME: make a range of blocks read as zeros")
    .description(
      "Sends WRITE SAME(16) of a zero block over --blocks blocks from --lba, split at the LUN's MAXIMUM WRITE SAME LENGTH. With --unmap, the UNMAP bit lets a thin LUN deallocate the blocks instead of writing them (refused before anything is sent unless the LUN reports LBPWS and that unmapped blocks read as zeros, LBPRZ).",
    )
    .argument("<lun-url>", LUN_URL)
    .requiredOption("--lba <n>", "first logical block")
    .requiredOption("--blocks <n>", "number of blocks")
    .option("--unmap", "deallocate instead of writing, where the LUN can and unmapped blocks read as zeros")
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText("after", examples([`iscsi zero ${EXAMPLE} --lba 0 --blocks 8`, `iscsi zero ${EXAMPLE} --lba 0 --blocks 1048576 --unmap`]))
    .action(async (url: string, opts: ZeroOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const lba = parseCount(opts.lba, "--lba");
        const blocks = parseCount(opts.blocks, "--blocks", { min: 1 });
        const unmap = opts.unmap === true;
        const ref = ctx.targetRef(url, true);
        await ctx.withLun(ref, async (lun) => {
          const range = await checkedRange(lun, ref, lba, blocks, "zero");
          if (unmap) {
            const provisioning = await lun.provisioning();
            if (provisioning?.lbpws !== true || provisioning.lbprz !== 1) {
              throw new CliError(
                "ISCSI_CLI_UNSUPPORTED",
                `${lunName(ref)} cannot zero by unmapping: ${provisioning === undefined ? "it has no Logical Block Provisioning VPD page" : `LBPWS=${provisioning.lbpws ? 1 : 0}, LBPRZ=${provisioning.lbprz}`} (leave out --unmap to write zeros)`,
              );
            }
          }
          const limits = await lun.blockLimits();
          const started = performance.now();
          const bar = startProgress(io.stderr, opts.progress && ctx.out.progressAllowed, "zeroing", blocks * range.blockSize);
          let commands: number;
          try {
            commands = await inPieces(lba, blocks, perCommand(limits?.maximumWriteSameLength), ctx.signal, (at, n) => lun.writeSame(at, n, { unmap }), (b) => bar.update(b * range.blockSize));
          } finally {
            bar.stop();
          }
          const elapsedMs = round(performance.now() - started);
          const bytes = blocks * range.blockSize;
          ctx.out.result(
            { target: ref.targetName, portal: formatPortal(ref.portal), lun: ref.lun, lba, blocks, blockSize: range.blockSize, bytes, unmap, commands, elapsedMs },
            () => `zeroed ${blocks} block(s) (${formatBytes(bytes)}) from LBA ${lba} of ${range.name}${unmap ? " by unmapping" : ""} in ${commands} WRITE SAME command(s), ${formatDuration(elapsedMs)}`,
          );
        });
      }),
    );
}

// ---------------------------------------------------------------- reset

interface ResetOptions {
  readonly target?: string;
  readonly cold?: boolean;
}

export function resetCommand(run: Runner): Command {
  return new Command("reset")
    .summary("LOGICAL UNIT RESET of a LUN, or a reset of the whole target")
    .description(
      "With a LUN URL, sends the task management function LOGICAL UNIT RESET (RFC 7143 §11.5): the LUN's tasks are aborted, for every initiator. With --target TARGET-URL instead, TARGET WARM RESET (--cold: TARGET COLD RESET, which also ends every session). Exit 3 when the target does not perform it, naming its answer.",
    )
    .argument("[lun-url]", LUN_URL)
    .option("--target <target-url>", "reset the whole target: iscsi://host[:port]/target-iqn")
    .option("--cold", "with --target: TARGET COLD RESET instead of WARM")
    .addHelpText("after", examples([`iscsi reset ${EXAMPLE}`, "iscsi reset --target iscsi://127.0.0.1/iqn.2026-11.example:disk"]))
    .action(async (url: string | undefined, opts: ResetOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        if ((url === undefined) === (opts.target === undefined)) throw new CliError("ISCSI_CLI_USAGE", "give either a LUN URL (LOGICAL UNIT RESET) or --target TARGET-URL (target reset), not both");
        if (opts.cold === true && opts.target === undefined) throw new CliError("ISCSI_CLI_USAGE", "--cold goes with --target");
        if (url !== undefined) {
          const ref = ctx.targetRef(url, true);
          await ctx.withLun(ref, async (lun) => {
            ctx.event(`task management: LOGICAL UNIT RESET of LUN ${ref.lun}`);
            await lun.session.lunReset(ref.lun);
            ctx.event(`task management: LOGICAL UNIT RESET of LUN ${ref.lun}: function complete`);
            ctx.out.result({ target: ref.targetName, portal: formatPortal(ref.portal), lun: ref.lun, reset: "logical-unit" }, () => `${lunName(ref)}: LOGICAL UNIT RESET done`);
          });
          return;
        }
        const ref = ctx.targetRef(opts.target as string, false);
        const kind = opts.cold === true ? "cold" : "warm";
        await ctx.withSession(ref, async (session) => {
          ctx.event(`task management: TARGET ${kind.toUpperCase()} RESET`);
          await session.targetReset(kind);
          ctx.event(`task management: TARGET ${kind.toUpperCase()} RESET: function complete`);
          ctx.out.result({ target: ref.targetName, portal: formatPortal(ref.portal), reset: `target-${kind}` }, () => `${ref.targetName}: TARGET ${kind.toUpperCase()} RESET done`);
        });
      }),
    );
}

// ---------------------------------------------------------------- cdb

interface CdbOptions {
  readonly in?: string;
  readonly out?: string;
  readonly output?: string;
}

/** "12 00 00 00 24 00", "120000002400" or "0x12,0x00,...": 6 to 32 bytes. */
export function parseCdb(text: string): Uint8Array {
  const digits = text.replace(/0x/gi, "").replace(/[\s,:]/g, "");
  if (!/^[0-9a-fA-F]*$/.test(digits) || digits.length % 2 !== 0) throw new CliError("ISCSI_CLI_USAGE", `CDB "${text}" is not hex bytes (e.g. "12 00 00 00 24 00")`);
  const bytes = Uint8Array.from({ length: digits.length / 2 }, (_, i) => Number.parseInt(digits.slice(i * 2, i * 2 + 2), 16));
  if (bytes.length < 6 || bytes.length > 32) throw new CliError("ISCSI_CLI_USAGE", `CDB of ${bytes.length} bytes: a CDB is 6 to 32 bytes (SPC-4 §4.2)`);
  return bytes;
}

export function cdbCommand(run: Runner): Command {
  return new Command("cdb")
    .summary("send any SCSI command and show its status, sense and data")
    .description(
      "Sends the CDB given in hex to the LUN. --in N reads up to N bytes of data (shown as a hex dump, or written raw with -o FILE); --out FILE sends the file's bytes. The status is shown with its sense decoded; exit 0 for GOOD, 3 otherwise. A short Data-In is not an error here: the count that came is shown. The command is never repeated after a reconnect, since its effect is unknown.",
    )
    .argument("<lun-url>", LUN_URL)
    .argument("<hex-cdb>", 'the CDB, e.g. "12 00 00 00 24 00" (INQUIRY, 36 bytes)')
    .option("--in <n>", "bytes of data to read (the Expected Data Transfer Length)")
    .option("--out <file>", "send this file's bytes as the command's data")
    .option("-o, --output <file>", "with --in: write the data read to FILE instead of a hex dump")
    .addHelpText(
      "after",
      examples([`iscsi cdb ${EXAMPLE} "12 00 00 00 24 00" --in 36`, `iscsi cdb ${EXAMPLE} "25 00 00 00 00 00 00 00 00 00" --in 8 --json`, `iscsi cdb ${EXAMPLE} "35 00 00 00 00 00 00 00 00 00"`]),
    )
    .action(async (url: string, hex: string, opts: CdbOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const cdb = parseCdb(hex);
        if (opts.in !== undefined && opts.out !== undefined) throw new CliError("ISCSI_CLI_USAGE", "--in and --out cannot go together (bidirectional commands are not supported)");
        if (opts.output !== undefined && opts.in === undefined) throw new CliError("ISCSI_CLI_USAGE", "-o FILE holds the data read: give --in N too");
        const dataIn = opts.in === undefined ? undefined : parseCount(opts.in, "--in", { min: 1, max: 16 << 20 });
        let dataOut: Uint8Array | undefined;
        if (opts.out !== undefined) {
          try {
            dataOut = new Uint8Array(await readFile(opts.out));
          } catch (error) {
            throw fileError(error, opts.out, "read the data file");
          }
        }
        const ref = ctx.targetRef(url, true);
        await ctx.withLun(ref, async (lun) => {
          const result = await lun.execute(cdb, {
            ...(dataIn === undefined ? {} : { dataIn }),
            ...(dataOut === undefined ? {} : { dataOut }),
            allowStatus: true,
            retry: "never",
            shortTransfer: "allow",
          });
          const sense = result.sense.length > 0 ? decodeSense(result.sense) : undefined;
          if (opts.output !== undefined) {
            try {
              await writeFile(opts.output, result.data);
            } catch (error) {
              throw fileError(error, opts.output, "write the data file");
            }
          }
          const name = scsiCommandName(cdb);
          const json = {
            target: ref.targetName,
            portal: formatPortal(ref.portal),
            lun: ref.lun,
            cdb: hexOf(cdb),
            command: name,
            status: scsiStatusName(result.status),
            statusCode: result.status,
            ...(sense === undefined ? {} : { sense: { key: sense.key, asc: sense.asc, ascq: sense.ascq, description: describeSense(sense), raw: hexOf(result.sense) } }),
            bytesIn: result.bytesIn,
            ...(dataOut === undefined ? {} : { bytesOut: dataOut.length }),
            residual: result.residualUnderflow ? -result.residualCount : result.residualOverflow ? result.residualCount : 0,
            ...(dataIn !== undefined && opts.output === undefined ? { data: hexOf(result.data) } : {}),
            ...(opts.output === undefined ? {} : { output: opts.output }),
          };
          if (result.status !== ScsiStatus.Good) {
            // The document first (a script wants the sense too), then the failure for the exit status.
            const what = `${name} on ${lunName(ref)}: ${scsiStatusName(result.status)}${sense === undefined ? "" : `, ${describeSense(sense)}`}`;
            throw new ScsiError(result.status, what, sense === undefined ? undefined : { key: sense.key, asc: sense.asc, ascq: sense.ascq, description: describeSense(sense) }, result.sense);
          }
          ctx.out.result(json, () => {
            const lines = [`${name}: ${scsiStatusName(result.status)}, ${result.bytesIn} byte(s) in${dataOut === undefined ? "" : `, ${dataOut.length} out`}`];
            if (dataIn !== undefined && opts.output === undefined && result.data.length > 0) lines.push(hexDump(result.data));
            if (opts.output !== undefined) lines.push(`data written to ${opts.output}`);
            return lines.join("\n");
          });
        });
      }),
    );
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
