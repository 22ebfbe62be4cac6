/**
 * `compare SRC DST`: are two disks the same? Each side is a LUN or a file (as `qemu-img compare`
 * takes two images). Both are read in chunks, several in flight, each into a fresh buffer, and
 * compared byte for byte. Sizes may differ, as qemu-img allows: the longer side's extra bytes must
 * then be zeros, unless --strict, where a size difference is itself a difference.
 */
import { Command } from "commander";
import type { Lun } from "../../node/index.js";
import type { Source } from "../copy/engine.js";
import { fileSource, lunSource } from "../copy/endpoints.js";
import type { CliContext, TargetRef } from "../context.js";
import { CliError } from "../errors.js";
import type { CliIo } from "../program.js";
import { startProgress } from "../progress.js";
import { formatBytes, formatDuration, parseCount, parseSize } from "../units.js";
import { examples, type Runner } from "./command.js";
import { lunName } from "./io.js";

interface CompareOptions {
  readonly bs: string;
  readonly qd: string;
  readonly strict?: boolean;
  readonly progress: boolean;
}

type Side = { readonly kind: "file"; readonly path: string; readonly shown: string } | { readonly kind: "lun"; readonly ref: TargetRef & { readonly lun: number }; readonly shown: string };

function side(ctx: CliContext, text: string): Side {
  if (text === "-") throw new CliError("ISCSI_CLI_USAGE", "compare reads each side twice over at offsets: give a file or a LUN URL, not -");
  if (/^iscsi:\/\//i.test(text)) {
    const ref = ctx.targetRef(text, true);
    return { kind: "lun", ref, shown: lunName(ref) };
  }
  return { kind: "file", path: text, shown: text };
}

export function compareCommand(run: Runner, io: CliIo): Command {
  return new Command("compare")
    .summary("compare two LUNs or files byte for byte (as qemu-img compare)")
    .description(
      "SRC and DST are each a file or a LUN URL. Exit 0 when they hold the same bytes, 5 when they differ, naming the first differing byte offset (and its LBA for a LUN). Sides of different sizes are equal when the longer one holds only zeros past the shorter one's end, as qemu-img compare decides; --strict makes a size difference a difference.",
    )
    .argument("<src>", "file or iscsi://host/target-iqn/lun")
    .argument("<dst>", "file or iscsi://host/target-iqn/lun")
    .option("--bs <size>", "bytes per read", "1M")
    .option("--qd <n>", "reads in flight on each side", "4")
    .option("--strict", "sides of different sizes differ")
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText(
      "after",
      examples(["iscsi compare disk.img iscsi://127.0.0.1/iqn.2026-11.example:disk/1", "iscsi compare iscsi://10.0.0.1/iqn.2026-11.a:disk/1 iscsi://10.0.0.2/iqn.2026-11.b:disk/1 --json"]),
    )
    .action(async (src: string, dst: string, opts: CompareOptions, cmd: Command) => run(cmd, (ctx) => compare(ctx, io, src, dst, opts)));
}

async function withSource(ctx: CliContext, s: Side, body: (source: Source, blockSize: number | undefined) => Promise<void>): Promise<void> {
  if (s.kind === "file") {
    const source = await fileSource(s.path, ctx.signal);
    try {
      if (source.size === undefined) throw new CliError("ISCSI_CLI_USAGE", `${s.path} has no size (a FIFO or a character device): compare needs a file, a block device or a LUN`);
      await body(source, undefined);
    } finally {
      await source.close().catch(() => undefined);
    }
    return;
  }
  await ctx.withLun(s.ref, async (lun: Lun) => {
    const capacity = await lun.readCapacity();
    await body(lunSource({ lun, blockSize: capacity.blockSize, lba: 0, blocks: Number(capacity.blocks), name: s.shown }), capacity.blockSize);
  });
}

/** Index of the first byte where `a` and `b` differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function firstNonZero(a: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return i;
  return -1;
}

async function compare(ctx: CliContext, io: CliIo, srcText: string, dstText: string, opts: CompareOptions): Promise<void> {
  const bs = parseSize(opts.bs, "--bs");
  if (bs < 512 || bs > 64 << 20) throw new CliError("ISCSI_CLI_USAGE", `--bs ${opts.bs} must be between 512 bytes and 64 MiB`);
  const qd = parseCount(opts.qd, "--qd", { min: 1, max: 64 });
  const a = side(ctx, srcText);
  const b = side(ctx, dstText);
  await withSource(ctx, a, async (sa, blockA) =>
    withSource(ctx, b, async (sb, blockB) => {
      for (const [block, s] of [[blockA, a], [blockB, b]] as const) {
        if (block !== undefined && bs % block !== 0) throw new CliError("ISCSI_CLI_USAGE", `--bs ${opts.bs} is not a multiple of the ${block}-byte blocks of ${s.shown}`);
      }
      const sizeA = sa.size as number;
      const sizeB = sb.size as number;
      const total = Math.max(sizeA, sizeB);
      const started = performance.now();
      const bar = startProgress(io.stderr, opts.progress && !ctx.out.json, "comparing", total);
      let next = 0;
      let done = 0;
      let difference: number | undefined;
      const worker = async (): Promise<void> => {
        for (;;) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          const offset = next;
          // Past a known difference nothing can come first any more.
          if (offset >= total || (difference !== undefined && offset > difference)) return;
          const want = Math.min(bs, total - offset);
          next += want;
          const [da, db] = await Promise.all([readUpTo(sa, offset, want, sizeA), readUpTo(sb, offset, want, sizeB)]);
          let at: number;
          if (da.length === db.length) at = firstDifference(da, db);
          else {
            // Past the shorter side's end: equal only where the longer holds zeros (unless --strict).
            const common = Math.min(da.length, db.length);
            at = firstDifference(da.subarray(0, common), db.subarray(0, common));
            if (at < 0) {
              if (opts.strict === true) at = common;
              else {
                const tail = firstNonZero((da.length > db.length ? da : db).subarray(common));
                at = tail < 0 ? -1 : common + tail;
              }
            }
          }
          if (at >= 0) difference = Math.min(difference ?? Number.POSITIVE_INFINITY, offset + at);
          done += want;
          bar.update(done);
        }
      };
      try {
        await Promise.all(Array.from({ length: qd }, () => worker()));
      } finally {
        bar.stop();
      }
      const elapsedMs = Math.round((performance.now() - started) * 1000) / 1000;
      const block = blockA ?? blockB;
      const summary = {
        source: a.kind === "lun" ? a.ref.shown : a.path,
        destination: b.kind === "lun" ? b.ref.shown : b.path,
        sourceBytes: sizeA,
        destinationBytes: sizeB,
        equal: difference === undefined,
        ...(difference === undefined ? {} : { firstDifference: difference, ...(block === undefined ? {} : { firstDifferenceLba: Math.floor(difference / block) }) }),
        strict: opts.strict === true,
        elapsedMs,
      };
      if (difference === undefined) {
        ctx.out.result(summary, () => `${a.shown} and ${b.shown} are identical (${formatBytes(total)} compared in ${formatDuration(elapsedMs)})${sizeA === sizeB ? "" : `; sizes differ (${sizeA} and ${sizeB} bytes), the rest is zeros`}`);
        return;
      }
      // The document for a program, then the failure (one line on stderr) for the exit status.
      ctx.out.result(summary, () => "");
      const lba = block === undefined ? "" : ` (LBA ${Math.floor(difference / block)})`;
      const why = difference >= Math.min(sizeA, sizeB) && sizeA !== sizeB ? (opts.strict === true ? ": sizes differ" : ": the longer side is not zeros past the shorter's end") : "";
      throw new CliError("ISCSI_CLI_DIFFERENT", `${a.shown} and ${b.shown} differ at byte ${difference}${lba}${why}`);
    }),
  );
}

/** Up to `want` bytes at `offset` of a side of `size` bytes: fewer past its end, none beyond. */
async function readUpTo(source: Source, offset: number, want: number, size: number): Promise<Uint8Array> {
  const n = Math.max(0, Math.min(want, size - offset));
  const buffer = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await source.read(offset + got, buffer.subarray(got));
    if (r === 0) throw new CliError("ISCSI_CLI_SHORT_INPUT", `a side ended at byte ${offset + got}, before its size of ${size} bytes`);
    got += r;
  }
  return buffer;
}
