/**
 * `nbd`: serves one LUN as an NBD export (src/nbd) until SIGINT or SIGTERM, so that qemu-img,
 * nbdcopy, nbdfuse, fio or a kernel NBD client can use it as a disk. One iSCSI session carries
 * every NBD connection; a reconnect of that session pauses the clients, it does not fail them.
 *
 * Stopping: no new connection or request (NBD_ESHUTDOWN), the requests in flight finish,
 * SYNCHRONIZE CACHE, logout; all within --stop-timeout, else it says what was cut off.
 */
import { Command } from "commander";
import { TimeoutError, type RecoveryRecord } from "../../core/index.js";
import { errnoName } from "../../nbd/engine/constants.js";
import { commandTitle } from "../../nbd/engine/requests.js";
import { LunExport } from "../../nbd/lun-export.js";
import { DEFAULT_NBD_PORT, type NbdListen, NbdServer } from "../../nbd/server.js";
import type { CliContext } from "../context.js";
import { CliError } from "../errors.js";
import { withDeadline } from "../interrupt.js";
import { formatBytes, formatDuration, parseDuration } from "../units.js";
import { examples, type Runner } from "./command.js";
import { parseListen } from "./target.js";

interface NbdOptions {
  readonly listen?: string;
  readonly socket?: string;
  readonly readOnly?: boolean;
  readonly name?: string;
  readonly stopTimeout: string;
}

/** Lines about one client shown at most, per kind, before they are only counted. */
const LOG_LIMIT = 10;

/** `HOST:PORT`, `:PORT`, `HOST` (port 10809), `[v6]:PORT`; port 0 picks a free one. */
export function parseNbdListen(text: string): { readonly host: string; readonly port: number } {
  const hostOnly = /^[^:[\]]+$/.test(text) || /^\[[^\]]*\]$/.test(text);
  return parseListen(hostOnly ? `${text}:${DEFAULT_NBD_PORT}` : text);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** NBD has no access control: listening beyond loopback hands the LUN to whoever reaches the port. */
function warnIfExposed(ctx: CliContext, listen: NbdListen, readOnly: boolean): void {
  if (!("host" in listen) || listen.host === undefined || isLoopback(listen.host)) return;
  ctx.out.warn(`listening on ${listen.host}: NBD has no authentication or encryption, so anyone who reaches this port can read${readOnly ? "" : " and write"} the LUN`);
}

/** Writes the server's and the session's events as lines on stderr, a bounded number per client. */
function logEvents(ctx: CliContext, server: NbdServer): void {
  const log = (line: string): void => ctx.out.trace(`nbd: ${line}`);
  const shown = new Map<number, { refused: number; failed: number }>();
  const counts = (id: number): { refused: number; failed: number } => {
    let c = shown.get(id);
    if (c === undefined) shown.set(id, (c = { refused: 0, failed: 0 }));
    return c;
  };
  server.on("client-connected", (c) => log(`client ${c.id} connected from ${c.remote}`));
  server.on("client-negotiated", (c, d) => {
    const features = [d.structuredReplies ? "structured replies" : "simple replies", ...d.metaContexts].join(", ");
    log(`client ${c.id} uses export "${d.export.name}" (${d.via === "go" ? "NBD_OPT_GO" : "NBD_OPT_EXPORT_NAME"}; ${features})`);
  });
  server.on("client-refused", (c, what, message) => {
    const n = ++counts(c.id).refused;
    if (n <= LOG_LIMIT) log(`client ${c.id}: refused ${what}: ${message}`);
    else if (n === LOG_LIMIT + 1) log(`client ${c.id}: further refusals are counted, not shown`);
  });
  server.on("request-failed", (c, request, errno, error) => {
    const n = ++counts(c.id).failed;
    const what = commandTitle(request.command);
    if (n <= LOG_LIMIT) log(`client ${c.id}: ${what} at ${request.offset}+${request.length} failed (${errnoName(errno)}): ${error instanceof Error ? error.message : String(error)}`);
    else if (n === LOG_LIMIT + 1) log(`client ${c.id}: further failures are counted, not shown`);
  });
  server.on("client-closed", (c, reason, message, stats) => {
    shown.delete(c.id);
    const summary = `${stats.requests} request(s), ${formatBytes(stats.bytesRead)} read, ${formatBytes(stats.bytesWritten)} written${stats.refused + stats.failed > 0 ? `, ${stats.refused} refused, ${stats.failed} failed` : ""}`;
    const verb = reason === "disconnect" || reason === "abort" ? "left" : reason === "shutdown" ? "closed (stopping)" : "dropped";
    log(`client ${c.id} ${verb}: ${message}; ${summary}`);
  });
}

function logRecoveries(ctx: CliContext, on: (listener: (phase: "started" | "recovered" | "gave-up", record: RecoveryRecord) => void) => void): void {
  on((phase, record) => {
    const took = record.endedAt === undefined ? "" : ` after ${formatDuration(record.endedAt - record.startedAt)}`;
    ctx.out.trace(
      phase === "started"
        ? `nbd: iSCSI session lost (${record.cause}): ${record.detail}; NBD requests wait while it is re-established`
        : phase === "recovered"
          ? `nbd: iSCSI session re-established${took}: ${record.retried} command(s) re-issued, ${record.failed} failed`
          : `nbd: iSCSI session could not be re-established${took}: NBD requests fail with EIO`,
    );
  });
}

export function nbdCommand(run: Runner): Command {
  return new Command("nbd")
    .summary("serve a LUN as an NBD export (qemu-img, nbdcopy, nbdfuse, fio)")
    .description(
      "Logs in to the LUN and serves it over the NBD protocol until SIGINT or SIGTERM: on 127.0.0.1:10809 by default, or on a Unix socket (readable and writable by its owner only). The export has the LUN's size and block size; requests that are not whole blocks are refused with EINVAL (clients learn the block size from the handshake). The default (empty) export name reaches it too. NBD has no authentication and TLS is not offered: keep it on loopback or a Unix socket, and use an SSH tunnel for a remote client. With --json, one document describing the export is printed once it listens; progress and client lines go to stderr.",
    )
    .argument("<lun-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
    .option("--listen <host:port>", `TCP address to listen on (default 127.0.0.1:${DEFAULT_NBD_PORT}; port 0: any free port)`)
    .option("--socket <path>", "listen on a Unix socket instead of TCP")
    .option("--read-only", "refuse writes, trims and zeroing (EPERM)")
    .option("--name <name>", "the export's name (default: <target-iqn>/<lun>)")
    .option("--stop-timeout <duration>", "on SIGINT/SIGTERM, time for requests in flight, SYNCHRONIZE CACHE and logout", "10s")
    .addHelpText(
      "after",
      examples([
        "iscsi nbd iscsi://127.0.0.1/iqn.2026-11.example:disk/1 &",
        "nbdinfo nbd://127.0.0.1:10809",
        "qemu-img convert -p -O qcow2 nbd://127.0.0.1:10809 backup.qcow2",
        "iscsi nbd iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --socket /run/user/1000/lun1.sock --read-only",
        "nbdcopy disk.img 'nbd+unix:///?socket=/run/user/1000/lun1.sock'",
        "iscsi nbd iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --listen 127.0.0.1:0 --json   # prints the port it took",
      ]),
    )
    .action(async (url: string, opts: NbdOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        if (opts.listen !== undefined && opts.socket !== undefined) throw new CliError("ISCSI_CLI_USAGE", "--listen and --socket exclude each other: give one");
        const listen: NbdListen = opts.socket !== undefined ? { socket: opts.socket } : parseNbdListen(opts.listen ?? `127.0.0.1:${DEFAULT_NBD_PORT}`);
        const stopMs = parseDuration(opts.stopTimeout, "--stop-timeout");
        const ref = ctx.targetRef(url, true);
        await ctx.withLun(ref, async (lun, session) => {
          const backend = await LunExport.open(lun, {
            name: opts.name ?? `${ref.targetName}/${ref.lun}`,
            description: `LUN ${ref.lun} of ${ref.targetName} at ${ref.portal.host}:${ref.portal.port}`,
            readOnly: opts.readOnly === true,
          });
          const server = await NbdServer.listen({ listen, backends: [backend] });
          // Only once it listens: a listen that fails exposes nothing, and a warning before its
          // error would only mislead.
          warnIfExposed(ctx, listen, opts.readOnly === true);
          logRecoveries(ctx, (listener) => session.on("recovery", listener));
          logEvents(ctx, server);
          const e = backend.export;
          const g = backend.geometry;
          const doc = {
            uri: server.uri(),
            export: e.name,
            description: e.description,
            listen: server.address,
            lun: ref.shown,
            size: e.size,
            blockSize: { minimum: e.minimumBlockSize, preferred: e.preferredBlockSize, maximum: e.maximumPayload },
            flags: { readOnly: e.readOnly, flush: e.flush, fua: e.flush, trim: e.trim && !e.readOnly, writeZeroes: e.writeZeroes && !e.readOnly, cache: e.cache, multiConn: e.multiConn },
            blockStatus: g.thin ? "GET LBA STATUS" : "all allocated",
            thinProvisioned: g.thin,
            writeProtected: g.writeProtected,
          };
          ctx.out.result(doc, () =>
            [
              `serving LUN ${ref.lun} of ${ref.targetName} as NBD export "${e.name}" (${formatBytes(e.size)}${e.readOnly ? ", read-only" : ""}${g.thin ? ", thin" : ""})`,
              `  ${doc.uri}`,
              `  blocks: minimum ${e.minimumBlockSize}, preferred ${e.preferredBlockSize}, maximum payload ${formatBytes(e.maximumPayload)}`,
              "Ctrl-C stops.",
            ].join("\n"),
          );
          await ctx.out.flush();
          await new Promise<void>((resolve) => {
            if (ctx.signal.aborted) resolve();
            else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
          const started = performance.now();
          ctx.out.trace(`nbd: stopping: ${server.clientCount} client(s), ${server.inFlight} request(s) in flight`);
          const closed = await server.close(stopMs);
          const left = Math.max(1, stopMs - (performance.now() - started));
          if (!e.readOnly) await withDeadline(lun.flush(), left, "SYNCHRONIZE CACHE while stopping");
          if (closed.forced > 0) {
            throw new TimeoutError(`stopping: ${closed.unfinished} NBD request(s) on ${closed.forced} connection(s) did not finish within ${opts.stopTimeout}; those clients were cut off (the cache was flushed)`);
          }
          ctx.out.trace("nbd: stopped: every request answered, cache flushed; logging out");
        });
        // Stopping on SIGINT/SIGTERM is how a server ends: success.
      }),
    );
}
