/**
 * `read` and `write`: a range of blocks between a LUN and a file or a standard stream.
 *
 * Both check everything they can before the first byte moves: the range against the LUN's
 * capacity, the input's length against what was asked. `read -o FILE` writes a temporary file
 * and renames it when complete, so a failed read leaves no file; `write` from standard input
 * holds the input in memory (up to MAX_STDIN_BYTES) so a short input writes nothing.
 */
import { Command } from "commander";
import { type Lun, formatPortal } from "../../node/index.js";
import { type Sink, runCopy, type Source } from "../copy/engine.js";
import { fileSink, fileSource, type LunRange, lunSink, lunSource, streamSink } from "../copy/endpoints.js";
import type { CliContext, TargetRef } from "../context.js";
import { CliError } from "../errors.js";
import { untilAborted } from "../interrupt.js";
import { startProgress } from "../progress.js";
import type { CliIo } from "../program.js";
import { formatBytes, formatDuration, formatRate, parseCount } from "../units.js";
import { examples, type Runner } from "./command.js";

/** Bytes per command in flight, and how many: 8 x 1 MiB keeps a LAN link busy. */
export const DEFAULT_CHUNK = 1 << 20;
export const DEFAULT_QUEUE_DEPTH = 8;
/** `write` from a pipe is held whole before anything is sent; beyond this, use `cp`. */
export const MAX_STDIN_BYTES = 256 << 20;

/** The largest multiple of `blockSize` not above `wanted` (at least one block). */
export function chunkFor(wanted: number, blockSize: number): number {
  return Math.max(blockSize, wanted - (wanted % blockSize));
}

export function lunName(ref: TargetRef & { readonly lun: number }): string {
  return `LUN ${ref.lun} of ${ref.targetName}`;
}

/** Reads the capacity and refuses a range that does not fit, before anything is sent. */
export async function checkedRange(lun: Lun, ref: TargetRef & { readonly lun: number }, lba: number, blocks: number | undefined, verb: string): Promise<LunRange> {
  const capacity = await lun.readCapacity();
  const total = Number(capacity.blocks);
  const count = blocks ?? total - lba;
  if (lba + count > total || lba > total) {
    throw new CliError(
      "ISCSI_CLI_OUT_OF_RANGE",
      `cannot ${verb} ${count} block(s) at LBA ${lba}: ${lunName(ref)} ends at LBA ${total - 1} (${total} blocks of ${capacity.blockSize} bytes)`,
    );
  }
  return { lun, blockSize: capacity.blockSize, lba, blocks: count, name: lunName(ref) };
}

function refuseTerminal(isTty: boolean | undefined, explicit: boolean, what: "write binary data to" | "read binary data from", option: string): void {
  if (isTty === true && !explicit) {
    throw new CliError("ISCSI_CLI_USAGE", `refusing to ${what} a terminal: use ${option} FILE, or ${option} - to insist`);
  }
}

// ---------------------------------------------------------------- read

interface ReadOptions {
  readonly lba: string;
  readonly blocks: string;
  readonly output?: string;
  readonly progress: boolean;
}

export function readCommand(run: Runner, io: CliIo): Command {
  return new Command("read")
    .summary("read blocks from a LUN to a file or stdout")
    .description(
      "Reads --blocks blocks from --lba. The output is written to a temporary file and renamed to FILE when complete, so a failed read leaves nothing behind. Binary data is not written to a terminal unless -o - is given.",
    )
    .argument("<lun-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
    .requiredOption("--lba <n>", "first logical block")
    .requiredOption("--blocks <n>", "number of blocks")
    .option("-o, --output <file>", "FILE, or - for standard output (the default)")
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText(
      "after",
      examples([
        "iscsi read iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --lba 0 --blocks 1 | xxd | head",
        "iscsi read iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --lba 2048 --blocks 8 -o sector.bin",
      ]),
    )
    .action(async (url: string, opts: ReadOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const lba = parseCount(opts.lba, "--lba");
        const blocks = parseCount(opts.blocks, "--blocks", { min: 1 });
        const output = opts.output ?? "-";
        const toStdout = output === "-";
        if (toStdout && ctx.out.json) throw new CliError("ISCSI_CLI_USAGE", "--json prints its document on standard output: give the data a file with -o FILE");
        if (toStdout) refuseTerminal(io.stdout.isTTY, opts.output !== undefined, "write binary data to", "-o");
        const ref = ctx.targetRef(url, true);
        await ctx.withLun(ref, async (lun) => {
          const range = await checkedRange(lun, ref, lba, blocks, "read");
          const sink: Sink = toStdout ? streamSink(io.stdout) : await fileSink(output, ctx.interrupts);
          // On a terminal only (startProgress checks), never with --json or -q.
          const bar = startProgress(io.stderr, opts.progress && ctx.out.progressAllowed, "reading", blocks * range.blockSize);
          let result;
          try {
            result = await runCopy(lunSource(range), sink, {
              chunkSize: chunkFor(DEFAULT_CHUNK, range.blockSize),
              queueDepth: DEFAULT_QUEUE_DEPTH,
              signal: ctx.signal,
              skipZeros: true,
              onProgress: (bytes) => bar.update(bytes),
            });
          } finally {
            bar.stop();
          }
          try {
            await sink.commit?.();
          } catch (error) {
            await sink.abort();
            throw error;
          }
          const summary = {
            target: ref.targetName,
            portal: formatPortal(ref.portal),
            lun: ref.lun,
            lba,
            blocks,
            blockSize: range.blockSize,
            bytes: result.bytes,
            output: toStdout ? "-" : output,
            elapsedMs: result.elapsedMs,
          };
          if (toStdout) return;
          ctx.out.result(
            summary,
            () =>
              `read ${blocks} block(s) (${formatBytes(result.bytes)}) from LBA ${lba} of ${range.name} into ${output} in ${formatDuration(result.elapsedMs)} (${formatRate(
                (result.bytes * 1000) / Math.max(result.elapsedMs, 0.001),
              )})`,
          );
        });
      }),
    );
}

// ---------------------------------------------------------------- write

interface WriteOptions {
  readonly lba: string;
  readonly blocks?: string;
  readonly input?: string;
  readonly progress: boolean;
}

/** A source over bytes already in memory. */
export function memorySource(data: Uint8Array): Source {
  return {
    size: data.length,
    async read(offset, into) {
      const n = Math.max(0, Math.min(into.length, data.length - offset));
      into.set(data.subarray(offset, offset + n));
      return n;
    },
    close: async () => undefined,
  };
}

/**
 * Reads a stream (standard input, a FIFO, a character device: `name`) into memory: up to `stopAt`
 * bytes (the rest is left unread), refusing a stream longer than MAX_STDIN_BYTES when there is no
 * `stopAt`.
 */
async function readAll(stream: NodeJS.ReadableStream, stopAt: number | undefined, signal: AbortSignal, name: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const collect = async (): Promise<void> => {
    for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
      const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
      if (stopAt !== undefined && total + bytes.length >= stopAt) {
        parts.push(bytes.subarray(0, stopAt - total));
        total = stopAt;
        return;
      }
      total += bytes.length;
      if (total > MAX_STDIN_BYTES) {
        const cpSource = name === "standard input" ? "-" : name;
        throw new CliError("ISCSI_CLI_USAGE", `${name} holds more than ${formatBytes(MAX_STDIN_BYTES)}: give --blocks, or use \`iscsi cp ${cpSource} <lun-url>\` for a whole-LUN copy`);
      }
      parts.push(bytes);
    }
  };
  await untilAborted(collect(), signal);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function writeCommand(run: Runner, io: CliIo): Command {
  return new Command("write")
    .summary("write blocks to a LUN from a file or stdin")
    .description(
      "Writes the input at --lba. The input must be a whole number of blocks; with --blocks N it must hold at least N blocks and exactly N are written. Everything is checked before anything is written: a short input or a range past the end of the LUN writes nothing.",
    )
    .argument("<lun-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
    .requiredOption("--lba <n>", "first logical block")
    .option("-i, --input <file>", "FILE, or - for standard input (the default)")
    .option("--blocks <n>", "write exactly N blocks")
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText(
      "after",
      examples([
        "iscsi write iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --lba 0 -i boot.img",
        "head -c 4096 /dev/urandom | iscsi write iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --lba 100",
        "iscsi write iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --lba 8 --blocks 8 -i big.bin",
      ]),
    )
    .action(async (url: string, opts: WriteOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const lba = parseCount(opts.lba, "--lba");
        const wantBlocks = opts.blocks === undefined ? undefined : parseCount(opts.blocks, "--blocks", { min: 1 });
        const input = opts.input ?? "-";
        const fromStdin = input === "-";
        if (fromStdin) refuseTerminal(io.stdin.isTTY, opts.input !== undefined, "read binary data from", "-i");
        const ref = ctx.targetRef(url, true);
        // The input is opened first: a missing file is reported without connecting anywhere.
        const source = fromStdin ? undefined : await fileSource(input, ctx.signal);
        try {
          await ctx.withLun(ref, (lun) => writeBlocks(ctx, io, ref, lun, lba, wantBlocks, input, source, opts.progress));
        } finally {
          await source?.close().catch(() => undefined);
        }
      }),
    );
}

async function writeBlocks(
  ctx: CliContext,
  io: CliIo,
  ref: TargetRef & { readonly lun: number },
  lun: Lun,
  lba: number,
  wantBlocks: number | undefined,
  input: string,
  file: Source | undefined,
  progress: boolean,
): Promise<void> {
  const capacity = await lun.readCapacity();
  const bs = capacity.blockSize;
  const name = input === "-" ? "standard input" : input;
  let source: Source;
  let size: number;
  if (file !== undefined && file.size !== undefined) {
    source = file;
    size = file.size;
  } else {
    if (wantBlocks !== undefined && wantBlocks * bs > MAX_STDIN_BYTES) {
      throw new CliError("ISCSI_CLI_USAGE", `--blocks ${wantBlocks} from a stream is more than the ${formatBytes(MAX_STDIN_BYTES)} held in memory; write from a file, or in parts`);
    }
    const data = await readAll(file === undefined ? io.stdin : streamOf(file), wantBlocks === undefined ? undefined : wantBlocks * bs, ctx.signal, name);
    source = memorySource(data);
    size = data.length;
  }
  let blocks: number;
  if (wantBlocks !== undefined) {
    if (size < wantBlocks * bs) {
      throw new CliError(
        "ISCSI_CLI_SHORT_INPUT",
        `${name} holds ${size} bytes, less than the ${wantBlocks} block(s) of ${bs} bytes (${wantBlocks * bs} bytes) asked; nothing was written`,
      );
    }
    blocks = wantBlocks;
  } else {
    if (size === 0) throw new CliError("ISCSI_CLI_SHORT_INPUT", `${name} is empty; nothing was written`);
    if (size % bs !== 0) {
      throw new CliError(
        "ISCSI_CLI_SHORT_INPUT",
        `${name} holds ${size} bytes, not a whole number of ${bs}-byte blocks (give --blocks to write part of it); nothing was written`,
      );
    }
    blocks = size / bs;
  }
  const range = await checkedRange(lun, ref, lba, blocks, "write");
  const bar = startProgress(io.stderr, progress && ctx.out.progressAllowed, "writing", blocks * bs);
  let result;
  try {
    result = await runCopy(source, lunSink(range, { method: "none" }), {
      chunkSize: chunkFor(DEFAULT_CHUNK, bs),
      queueDepth: DEFAULT_QUEUE_DEPTH,
      length: blocks * bs,
      signal: ctx.signal,
      skipZeros: false,
      onProgress: (bytes) => bar.update(bytes),
    });
  } finally {
    bar.stop();
  }
  ctx.out.result(
    {
      target: ref.targetName,
      portal: formatPortal(ref.portal),
      lun: ref.lun,
      lba,
      blocks,
      blockSize: bs,
      bytes: result.bytes,
      input,
      elapsedMs: result.elapsedMs,
    },
    () =>
      `wrote ${blocks} block(s) (${formatBytes(result.bytes)}) at LBA ${lba} of ${range.name} in ${formatDuration(result.elapsedMs)} (${formatRate(
        (result.bytes * 1000) / Math.max(result.elapsedMs, 0.001),
      )})`,
  );
}

/** A stream-like view of a stream Source (a pipe given as -i FILE), for readAll. */
function streamOf(source: Source): NodeJS.ReadableStream {
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let offset = 0; ; ) {
      const buffer = new Uint8Array(1 << 16);
      const n = await source.read(offset, buffer);
      if (n === 0) return;
      offset += n;
      yield buffer.subarray(0, n);
    }
  }
  return chunks() as unknown as NodeJS.ReadableStream;
}
