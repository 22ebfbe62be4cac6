/**
 * `cp SRC DST`: whole-LUN copies between LUNs, files and standard streams, pipelined (--qd
 * chunks of --bs bytes in flight), with a progress bar on a terminal, zero skipping where the
 * destination can make zeros cheaply, and --verify.
 */
import { Command } from "commander";
import type { Lun, IscsiSession } from "../../node/index.js";
import { addMcsOptions, type ConnectionShare, countersNow, formatShares, mcsSessionOptions, type McsOptions, noteFewerConnections, sharesSince } from "../connection-shares.js";
import { runCopy, type Sink, type Source, verifyCopy } from "../copy/engine.js";
import { fileSink, fileSource, type LunRange, type LunZeroing, lunSink, lunSource, lunZeroing, streamSink, streamSource } from "../copy/endpoints.js";
import type { CliContext, TargetRef } from "../context.js";
import { CliError } from "../errors.js";
import type { CliIo } from "../program.js";
import { startProgress } from "../progress.js";
import { formatBytes, formatDuration, formatRate, parseCount, parseSize } from "../units.js";
import { examples, type Runner } from "./command.js";
import { DEFAULT_QUEUE_DEPTH, lunName } from "./io.js";

type Endpoint = { readonly kind: "stream"; readonly shown: string } | { readonly kind: "file"; readonly path: string; readonly shown: string } | { readonly kind: "lun"; readonly ref: TargetRef & { readonly lun: number }; readonly shown: string };

function endpoint(ctx: CliContext, text: string, role: "source" | "destination"): Endpoint {
  if (text === "-") return { kind: "stream", shown: role === "source" ? "standard input" : "standard output" };
  if (/^iscsi:\/\//i.test(text)) {
    const ref = ctx.targetRef(text, true);
    return { kind: "lun", ref, shown: lunName(ref) };
  }
  return { kind: "file", path: text, shown: text };
}

interface CpOptions extends McsOptions {
  readonly bs: string;
  readonly qd: string;
  readonly offset?: string;
  readonly count?: string;
  readonly dstOffset?: string;
  readonly verify?: boolean;
  readonly sparse: boolean;
  readonly progress: boolean;
}

export function cpCommand(run: Runner, io: CliIo): Command {
  return addMcsOptions(new Command("cp"))
    .summary("copy a whole LUN to or from a file, stdin/stdout, or another LUN")
    .description(
      [
        "SRC and DST are each a file, - (stdin/stdout) or a LUN URL. A LUN is copied whole; a file onto a LUN fills it from LBA 0 (the rest of the LUN is left as it was; a last partial block is padded with zeros).",
        "A source larger than the destination LUN is refused before anything is written. Zero chunks are not sent where the destination can make zeros itself: a new file gets holes; a thin LUN whose unmapped blocks read as zeros (LBPRZ) gets WRITE SAME with UNMAP (LBPWS) or UNMAP (LBPU). --no-sparse writes zeros like any data.",
        "--verify reads the destination back and compares it with digests of what was sent. A file destination appears under its name only when the copy (and its verification) succeeded.",
        "--offset and --count copy part of the source (a file or a LUN; from a stream, --count only); --dst-offset puts it at that byte of a destination LUN, leaving the rest of the LUN as it was. On a LUN each must be a multiple of its block size. Sizes take suffixes: 4k, 1M, 2G, or a number of bytes.",
      ].join("\n\n"),
    )
    .argument("<src>", "file, -, or iscsi://host/target-iqn/lun")
    .argument("<dst>", "file, -, or iscsi://host/target-iqn/lun")
    .option("--bs <size>", "bytes per command", "1M")
    .option("--qd <n>", "commands in flight", String(DEFAULT_QUEUE_DEPTH))
    .option("--offset <size>", "start this many bytes into the source (file or LUN)")
    .option("--count <size>", "copy this many bytes (the source must hold them)")
    .option("--dst-offset <size>", "write from this byte of the destination LUN on")
    .option("--verify", "read the destination back and compare")
    .option("--no-sparse", "write zero blocks instead of skipping them")
    .option("--no-progress", "no progress bar, even on a terminal")
    .addHelpText(
      "after",
      examples([
        "iscsi cp iscsi://127.0.0.1/iqn.2026-11.example:disk/1 disk.img",
        "iscsi cp --verify disk.img iscsi://127.0.0.1/iqn.2026-11.example:disk/1",
        "iscsi cp iscsi://10.0.0.1/iqn.2026-11.a:disk/1 iscsi://10.0.0.2/iqn.2026-11.b:disk/1 --bs 4M --qd 4",
        "iscsi cp iscsi://127.0.0.1/iqn.2026-11.example:disk/1 - | gzip > disk.img.gz",
        "iscsi cp iscsi://127.0.0.1/iqn.2026-11.example:disk/1 mbr.bin --count 512",
        "iscsi cp boot.img iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --dst-offset 1M",
        "iscsi cp --verify disk.img iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --connections 2 --json",
      ]),
    )
    .action(async (src: string, dst: string, opts: CpOptions, cmd: Command) => run(cmd, (ctx) => copyCommand(ctx, io, src, dst, opts)));
}

async function copyCommand(ctx: CliContext, io: CliIo, srcText: string, dstText: string, opts: CpOptions): Promise<void> {
  const bs = parseSize(opts.bs, "--bs");
  if (bs < 512 || bs > 64 << 20) throw new CliError("ISCSI_CLI_USAGE", `--bs ${opts.bs} must be between 512 bytes and 64 MiB`);
  const qd = parseCount(opts.qd, "--qd", { min: 1, max: 256 });
  const mcs = mcsSessionOptions(opts);
  const src = endpoint(ctx, srcText, "source");
  const dst = endpoint(ctx, dstText, "destination");
  if (srcText === dstText) throw new CliError("ISCSI_CLI_USAGE", `source and destination are the same (${src.shown})`);
  if (dst.kind === "stream") {
    if (ctx.out.json) throw new CliError("ISCSI_CLI_USAGE", "--json prints its document on standard output: copy to a file or a LUN");
    if (opts.verify === true) throw new CliError("ISCSI_CLI_USAGE", "--verify cannot read standard output back");
    if (io.stdout.isTTY === true) throw new CliError("ISCSI_CLI_USAGE", "refusing to write binary data to a terminal");
  }
  if (src.kind === "stream" && io.stdin.isTTY === true) throw new CliError("ISCSI_CLI_USAGE", "refusing to read binary data from a terminal: pipe the data in");
  const window = parseWindow(opts, src, dst);

  // Local files first: a missing source is reported without connecting anywhere.
  const fileSrc = src.kind === "file" ? await fileSource(src.path, ctx.signal) : undefined;
  try {
    await withEndpointLun(ctx, src, mcs, async (srcLun, srcSession) => {
      const srcRange = srcLun === undefined ? undefined : sourcePart(await wholeLun(srcLun, src), window);
      const source: Source = srcRange !== undefined ? lunSource(srcRange) : fileSrc !== undefined ? filePart(fileSrc, window, src.shown) : streamSource(io.stdin, ctx.signal);
      await withEndpointLun(ctx, dst, mcs, async (dstLun, dstSession) => {
        const dstRange = dstLun === undefined ? undefined : destinationPart(await wholeLun(dstLun, dst), window);
        const sessions = { source: srcSession, destination: dstSession };
        await copyBetween(ctx, io, { src, dst, source, srcRange, dstRange, bs, qd, opts, count: window.count, sessions, mcs });
      });
    });
  } finally {
    await fileSrc?.close().catch(() => undefined);
  }
}

/** Opens a session when the endpoint is a LUN (a second one for a second LUN, even on the same target). */
async function withEndpointLun(
  ctx: CliContext,
  e: Endpoint,
  mcs: Mcs,
  body: (lun: Lun | undefined, session: IscsiSession | undefined) => Promise<void>,
): Promise<void> {
  if (e.kind !== "lun") return body(undefined, undefined);
  return ctx.withLun(
    e.ref,
    (lun, session) => {
      noteFewerConnections(ctx, mcs.connections, session.connections.length);
      return body(lun, session);
    },
    mcs,
  );
}

type Mcs = ReturnType<typeof mcsSessionOptions>;

async function wholeLun(lun: Lun, e: Endpoint): Promise<LunRange> {
  const capacity = await lun.readCapacity();
  return { lun, blockSize: capacity.blockSize, lba: 0, blocks: Number(capacity.blocks), name: e.shown };
}

interface Plan {
  readonly src: Endpoint;
  readonly dst: Endpoint;
  readonly source: Source;
  readonly srcRange: LunRange | undefined;
  readonly dstRange: LunRange | undefined;
  readonly bs: number;
  readonly qd: number;
  readonly opts: CpOptions;
  /** --count: exactly this many bytes, or the copy fails. */
  readonly count: number | undefined;
  /** The session of each LUN endpoint, for its connections' shares. */
  readonly sessions: { readonly source: IscsiSession | undefined; readonly destination: IscsiSession | undefined };
  readonly mcs: Mcs;
}

/** The part of the source to copy and where it goes (--offset, --count, --dst-offset), in bytes. */
interface Window {
  readonly offset: number;
  readonly count: number | undefined;
  readonly dstOffset: number;
}

function parseWindow(opts: CpOptions, src: Endpoint, dst: Endpoint): Window {
  const offset = opts.offset === undefined ? 0 : parseSize(opts.offset, "--offset");
  const count = opts.count === undefined ? undefined : parseSize(opts.count, "--count");
  const dstOffset = opts.dstOffset === undefined ? 0 : parseSize(opts.dstOffset, "--dst-offset");
  if (count === 0) throw new CliError("ISCSI_CLI_USAGE", "--count 0 copies nothing");
  if (offset > 0 && src.kind === "stream") throw new CliError("ISCSI_CLI_USAGE", "--offset needs a file or a LUN as the source: standard input cannot seek");
  if (opts.dstOffset !== undefined && dst.kind !== "lun") {
    throw new CliError("ISCSI_CLI_USAGE", "--dst-offset needs a LUN as the destination (a file destination is written whole, under a temporary name first)");
  }
  return { offset, count, dstOffset };
}

function aligned(range: LunRange, bytes: number, option: string): number {
  if (bytes % range.blockSize !== 0) throw new CliError("ISCSI_CLI_USAGE", `${option} ${bytes} is not a multiple of the ${range.blockSize}-byte blocks of ${range.name}`);
  return bytes / range.blockSize;
}

function sourcePart(range: LunRange, w: Window): LunRange {
  const skip = aligned(range, w.offset, "--offset");
  const blocks = w.count === undefined ? range.blocks - skip : aligned(range, w.count, "--count");
  if (skip + blocks > range.blocks || skip > range.blocks) {
    throw new CliError("ISCSI_CLI_OUT_OF_RANGE", `cannot copy ${blocks} block(s) from LBA ${skip} of ${range.name}: it ends at LBA ${range.blocks - 1}`);
  }
  return { ...range, lba: skip, blocks };
}

function destinationPart(range: LunRange, w: Window): LunRange {
  const skip = aligned(range, w.dstOffset, "--dst-offset");
  if (skip >= range.blocks) throw new CliError("ISCSI_CLI_OUT_OF_RANGE", `--dst-offset ${w.dstOffset} is past the end of ${range.name} (${range.blocks * range.blockSize} bytes)`);
  return { ...range, lba: skip, blocks: range.blocks - skip };
}

/** A window of a file source: [offset, offset + count). */
function filePart(source: Source, w: Window, shown: string): Source {
  if (w.offset === 0 && w.count === undefined) return source;
  const size = source.size;
  if (size !== undefined && w.offset > size) throw new CliError("ISCSI_CLI_OUT_OF_RANGE", `--offset ${w.offset} is past the end of ${shown} (${size} bytes)`);
  if (size === undefined && w.offset > 0) throw new CliError("ISCSI_CLI_USAGE", `--offset needs a source that can seek: ${shown} is a stream`);
  const available = size === undefined ? undefined : size - w.offset;
  const length = w.count === undefined ? available : available === undefined ? w.count : Math.min(w.count, available);
  return {
    size: length,
    read: (offset, into) => {
      const room = length === undefined ? into.length : Math.min(into.length, length - offset);
      return room <= 0 ? Promise.resolve(0) : source.read(w.offset + offset, into.subarray(0, room));
    },
    close: () => source.close(),
  };
}

async function copyBetween(ctx: CliContext, io: CliIo, p: Plan): Promise<void> {
  for (const range of [p.srcRange, p.dstRange]) {
    if (range !== undefined && p.bs % range.blockSize !== 0) {
      throw new CliError("ISCSI_CLI_USAGE", `--bs ${p.opts.bs} is not a multiple of the ${range.blockSize}-byte blocks of ${range.name}`);
    }
  }
  const dstBytes = p.dstRange === undefined ? undefined : p.dstRange.blocks * p.dstRange.blockSize;
  if (p.count !== undefined && p.source.size !== undefined && p.source.size < p.count) {
    throw new CliError("ISCSI_CLI_SHORT_INPUT", `--count ${p.count}: ${p.src.shown} holds only ${p.source.size} bytes from the offset given; nothing was written`);
  }
  if (dstBytes !== undefined && p.source.size !== undefined && p.source.size > dstBytes) {
    throw new CliError(
      "ISCSI_CLI_OUT_OF_RANGE",
      `the source ${p.src.shown} (${formatBytes(p.source.size)}, ${p.source.size} bytes) is larger than ${p.dst.shown} (${formatBytes(dstBytes)}, ${dstBytes} bytes); nothing was written`,
    );
  }
  const sparse = p.opts.sparse;
  let zeroing: LunZeroing = { method: "none" };
  let sink: Sink;
  if (p.dstRange !== undefined) {
    if (sparse) zeroing = await lunZeroing(p.dstRange.lun);
    sink = lunSink(p.dstRange, zeroing);
  } else if (p.dst.kind === "file") {
    sink = await fileSink(p.dst.path, ctx.interrupts, { sparse });
  } else {
    sink = streamSink(io.stdout);
  }

  // The shares count the copy and its verification, not the setup (READ CAPACITY, VPD pages).
  for (const range of [p.srcRange, p.dstRange]) await range?.lun.maxTransferSize();
  const before = {
    source: p.sessions.source === undefined ? undefined : countersNow(p.sessions.source.connections),
    destination: p.sessions.destination === undefined ? undefined : countersNow(p.sessions.destination.connections),
  };
  const total = p.source.size ?? dstBytes;
  const bar = startProgress(io.stderr, p.opts.progress && !ctx.out.json, "copying", total);
  let result;
  try {
    result = await runCopy(p.source, sink, {
      chunkSize: p.bs,
      queueDepth: p.qd,
      ...(p.count !== undefined ? { length: p.count } : p.source.size === undefined && dstBytes !== undefined ? { length: dstBytes } : {}),
      skipZeros: sparse,
      verify: p.opts.verify === true,
      signal: ctx.signal,
      onProgress: (bytes) => bar.update(bytes),
    });
  } finally {
    bar.stop();
  }
  try {
    if (p.count !== undefined && result.bytes < p.count) {
      throw new CliError("ISCSI_CLI_SHORT_INPUT", `--count ${p.count}: ${p.src.shown} ended after ${result.bytes} bytes`);
    }
    if (p.count === undefined && p.source.size === undefined && dstBytes !== undefined && result.bytes === dstBytes) {
      // A stream that filled the LUN: if it has more, the copy was cut short.
      const more = await p.source.read(result.bytes, new Uint8Array(1));
      if (more > 0) {
        throw new CliError("ISCSI_CLI_OUT_OF_RANGE", `${p.src.shown} is larger than ${p.dst.shown} (${dstBytes} bytes): only the first ${dstBytes} bytes were written`);
      }
    }
    if (p.opts.verify === true && result.digests !== undefined) {
      const vbar = startProgress(io.stderr, p.opts.progress && !ctx.out.json, "verifying", result.bytes);
      try {
        await verifyCopy(sink, result.bytes, result.digests, {
          chunkSize: p.bs,
          queueDepth: p.qd,
          signal: ctx.signal,
          destination: p.dst.shown,
          ...(p.dstRange === undefined ? {} : { blockSize: p.dstRange.blockSize }),
          onProgress: (bytes) => vbar.update(bytes),
        });
      } finally {
        vbar.stop();
      }
    }
    await sink.commit?.();
  } catch (error) {
    await sink.abort().catch(() => undefined);
    throw error;
  }

  const connections: { source?: ConnectionShare[]; destination?: ConnectionShare[] } = {};
  for (const role of ["source", "destination"] as const) {
    const session = p.sessions[role];
    const was = before[role];
    if (session !== undefined && was !== undefined) connections[role] = sharesSince(was, session.connections);
  }
  const rate = (result.bytes * 1000) / Math.max(result.elapsedMs, 0.001);
  const summary = {
    source: p.src.kind === "lun" ? p.src.ref.shown : p.src.kind === "file" ? p.src.path : "-",
    destination: p.dst.kind === "lun" ? p.dst.ref.shown : p.dst.kind === "file" ? p.dst.path : "-",
    bytes: result.bytes,
    zeroBytesSkipped: result.zeroBytes,
    zeroMethod: result.zeroBytes > 0 ? sink.zeroMethod : undefined,
    chunkSize: p.bs,
    queueDepth: p.qd,
    elapsedMs: result.elapsedMs,
    bytesPerSecond: rate,
    verified: p.opts.verify === true,
    connectionPolicy: p.mcs.connectionPolicy,
    connections,
  };
  const text = (): string => {
    let line = `copied ${formatBytes(result.bytes)} (${result.bytes} bytes) from ${p.src.shown} to ${p.dst.shown} in ${formatDuration(result.elapsedMs)} (${formatRate(rate)})`;
    if (result.zeroBytes > 0) line += `; ${formatBytes(result.zeroBytes)} of zeros skipped (${sink.zeroMethod ?? ""})`;
    if (p.opts.verify === true) line += "; verified";
    for (const role of ["source", "destination"] as const) {
      const shares = connections[role];
      if (shares !== undefined && shares.length > 1) line += `\n${role} ${formatShares(shares, p.mcs.connectionPolicy, "").replace(/^Connections/, "connections")}`;
    }
    return line;
  };
  if (p.dst.kind === "stream") ctx.out.note(text());
  else ctx.out.result(summary, text);
}
