/**
 * `target`: serves LUNs with the embedded target (src/target) until SIGINT or SIGTERM.
 *
 * CHAP secrets for the target's accounts never come from the command line: from
 * $ISCSI_TARGET_CHAP_SECRET / $ISCSI_TARGET_MUTUAL_SECRET, or from --chap-secret-file /
 * --mutual-secret-file.
 */
import { Command } from "commander";
import { Secret, ConfigError, describePdu, isPlausibleIscsiName, parseHostPort, parseIsnsServer } from "../../core/index.js";
import { stat } from "node:fs/promises";
import { parseBackendSpec } from "../../target/backends/spec.js";
import { startTarget, type LunConfig, type RunningTarget, type TargetServerConfig } from "../../target/server.js";
import type { SessionSummary } from "../../target/engine/events.js";
import { formatPortal } from "../../node/index.js";
import type { CliContext } from "../context.js";
import { readSecretFile, secretFromFileContent } from "../credentials.js";
import { formatTable } from "../format.js";
import { formatBytes, parseCount } from "../units.js";
import { examples, type Runner } from "./command.js";

interface TargetOptions {
  readonly listen: string;
  readonly iqn: string;
  readonly lun: readonly string[];
  readonly chap?: string;
  readonly mutual?: string;
  readonly chapSecretFile?: string;
  readonly mutualSecretFile?: string;
  readonly blockSize: string;
  readonly readOnly?: boolean;
  readonly isns?: string;
  readonly allowInitiator: readonly string[];
}

export const DEFAULT_TARGET_IQN = "iqn.2026-11.io.iscsi-ts:target";

/** `N=SPEC`: a LUN number and its backend (mem:SIZE, null:SIZE, file:PATH or a path). */
export function parseLunOption(text: string): { readonly lun: number; readonly backend: string } {
  const eq = text.indexOf("=");
  if (eq <= 0 || eq === text.length - 1) {
    throw new ConfigError(`--lun "${text}" must be N=BACKEND, e.g. 1=mem:256M, 2=null:1T, 3=/var/lib/disk.img`);
  }
  const lun = parseCount(text.slice(0, eq), "--lun number", { min: 0, max: 16383 });
  return { lun, backend: text.slice(eq + 1) };
}

/**
 * A file backend must exist: the target serves what is there and never creates a disk by
 * itself. Checked here to say so in the command line's terms (the library's own message speaks
 * of its `create` option, which the command line does not have).
 */
async function checkFileExists(option: string, backend: string): Promise<void> {
  const spec = parseBackendSpec(backend);
  if (spec.kind !== "file") return;
  const missing = await stat(spec.path).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === "ENOENT",
  );
  if (missing) {
    throw new ConfigError(`--lun ${option}: ${spec.path} does not exist (make one first, e.g. truncate -s 1G ${spec.path}, or serve memory with mem:SIZE)`);
  }
}

function collect(value: string, previous: readonly string[]): string[] {
  return [...previous, value];
}

async function readSecret(ctx: CliContext, file: string | undefined, envName: string, what: string): Promise<Secret> {
  let text: string | undefined;
  if (file !== undefined) {
    // Bounded and never blocking the event loop (a FIFO, /dev/zero): the initiator's reader.
    text = secretFromFileContent(await readSecretFile(file, ctx.signal), file);
  } else {
    const value = ctx.env[envName];
    text = value === undefined || value === "" ? undefined : value;
  }
  if (text === undefined) throw new ConfigError(`${what} needs a secret: set $${envName} or give a secret file`);
  ctx.out.addSecrets([text]);
  return Secret.fromString(text);
}

export async function targetConfig(ctx: CliContext, opts: TargetOptions): Promise<TargetServerConfig> {
  const { host, port } = parseListen(opts.listen);
  if (!isPlausibleIscsiName(opts.iqn)) throw new ConfigError(`--iqn "${opts.iqn}" is not an iSCSI name (iqn.yyyy-mm.domain:...)`);
  const blockSize = parseCount(opts.blockSize, "--block-size");
  if (blockSize !== 512 && blockSize !== 4096) throw new ConfigError(`--block-size ${blockSize} must be 512 or 4096`);
  if (opts.lun.length === 0) throw new ConfigError("give at least one --lun N=BACKEND, e.g. --lun 1=mem:256M");
  const luns: LunConfig[] = [];
  for (const text of opts.lun) {
    const { lun, backend } = parseLunOption(text);
    if (luns.some((l) => l.lun === lun)) throw new ConfigError(`--lun ${lun} is given twice`);
    await checkFileExists(text, backend);
    luns.push({ lun, backend, blockSize, ...(opts.readOnly === true ? { readOnly: true } : {}) });
  }
  const chap =
    opts.chap === undefined ? undefined : { users: [{ username: opts.chap, secret: await readSecret(ctx, opts.chapSecretFile, "ISCSI_TARGET_CHAP_SECRET", `--chap ${opts.chap}`) }] };
  if (opts.mutual !== undefined && chap === undefined) throw new ConfigError("--mutual needs --chap: mutual CHAP follows the initiator's CHAP");
  const mutualChap =
    opts.mutual === undefined ? undefined : { username: opts.mutual, secret: await readSecret(ctx, opts.mutualSecretFile, "ISCSI_TARGET_MUTUAL_SECRET", `--mutual ${opts.mutual}`) };
  return {
    listen: { host, port },
    targets: [
      {
        iqn: opts.iqn,
        luns,
        // RFC 7143 §13.20: offer up to ErrorRecoveryLevel 2 (connection recovery, TASK REASSIGN);
        // the lower of the two offers wins, so initiators asking for 0 get 0.
        policy: { errorRecoveryLevel: 2 },
        ...(chap === undefined ? {} : { chap }),
        ...(mutualChap === undefined ? {} : { mutualChap }),
        ...(opts.allowInitiator.length === 0 ? {} : { allowedInitiators: opts.allowInitiator }),
      },
    ],
    // Discovery asks for the same CHAP: --chap promises that no one without the secret gets in,
    // and SendTargets would otherwise list the target's name and portals to anyone.
    ...(chap === undefined ? {} : { discovery: { chap, ...(mutualChap === undefined ? {} : { mutualChap }) } }),
    ...(opts.isns === undefined
      ? {}
      : { isns: { server: parseIsnsServer(opts.isns), timeoutMs: ctx.timeoutMs, onError: (e) => ctx.out.note(`iSNS registration refresh failed (trying again): ${e.message}`) } }),
    ...(ctx.tracing ? { trace: (direction, cid, pdu) => ctx.out.trace(`${direction === "send" ? ">>" : "<<"} [${cid}] ${describePdu(pdu)}`) } : {}),
  };
}

/**
 * What a server logs on stderr: logins, logouts and authentication failures at the default level,
 * one line each; connections and protocol errors with -v; nothing with -q.
 */
export function logTargetEvents(ctx: CliContext, target: RunningTarget): void {
  if (ctx.verbosity < 0) return;
  const log = (text: string): void => ctx.out.trace(`iscsi target: ${text}`);
  const remotes = new Map<number, string>();
  const session = (s: SessionSummary): string =>
    `${s.initiatorName}${s.type === "Discovery" ? " (discovery session)" : ` to ${s.targetName ?? "?"}`} (TSIH ${s.tsih})`;
  target.on("connection-opened", (cid, remote) => {
    remotes.set(cid, remote);
    if (ctx.events) log(`connection ${cid} from ${remote}`);
  });
  target.on("connection-closed", (cid, error) => {
    if (ctx.events) log(`connection ${cid} from ${remotes.get(cid) ?? "?"} closed${error === undefined ? "" : `: ${error.message}`}`);
    remotes.delete(cid);
  });
  target.on("login-complete", (cid, s, leading) => {
    log(`login: ${session(s)} from ${remotes.get(cid) ?? "?"}${leading ? "" : ` (connection ${cid} added)`}`);
  });
  target.on("login-failed", (cid, error) => {
    const what = error.code === "ISCSI_ERR_AUTH" || error.code === "ISCSI_ERR_MUTUAL_AUTH" ? "authentication failed" : "login refused";
    log(`${what} from ${remotes.get(cid) ?? "?"}: ${error.message}`);
  });
  target.on("session-closed", (s, reason) => {
    log(reason === "logout" ? `logout: ${session(s)}` : `session ended (${reason}): ${session(s)}`);
  });
  target.on("protocol-error", (cid, error) => {
    if (ctx.events) log(`protocol error on connection ${cid}: ${error.message}`);
  });
  target.on("erl-fallback", (cid, detail) => {
    if (ctx.events) log(`connection ${cid}: ${detail}`);
  });
}

/** `HOST:PORT`, `HOST` (port 3260), `:PORT` (127.0.0.1), or `[v6]:PORT`. Port 0 picks a free one. */
export function parseListen(text: string): { readonly host: string; readonly port: number } {
  if (/^:\d+$/.test(text)) return { host: "127.0.0.1", port: parseCount(text.slice(1), "--listen port", { max: 65535 }) };
  const m = /^(.*):0$/.exec(text);
  if (m !== null && m[1] !== undefined && m[1] !== "") return { host: parseHostPort(m[1]).host, port: 0 };
  return parseHostPort(text, (why) => new ConfigError(`--listen "${text}": ${why}`));
}

export function describeTarget(target: RunningTarget, config: TargetServerConfig): { readonly json: unknown; readonly text: string } {
  const node = config.targets[0];
  const portal = formatPortal({ host: target.host, port: target.port });
  const luns = (node?.luns ?? []).map((l) => {
    const backend = target.backend(node?.iqn ?? "", l.lun);
    const size = backend?.size ?? 0;
    return { lun: l.lun, backend: backend?.description ?? String(l.backend), bytes: size, blockSize: l.blockSize ?? 512, readOnly: l.readOnly === true, url: target.url(node?.iqn, l.lun) };
  });
  const isns = target.isns === undefined ? undefined : { server: formatPortal(target.isns.server), entityId: target.isns.entityId, registrationPeriod: target.isns.registrationPeriod };
  const json = { iqn: node?.iqn, host: target.host, port: target.port, portal, chap: node?.chap !== undefined, mutualChap: node?.mutualChap !== undefined, luns, ...(isns === undefined ? {} : { isns }) };
  const table = formatTable(
    [{ header: "LUN", align: "right" }, { header: "BACKEND" }, { header: "SIZE", align: "right" }, { header: "URL" }],
    luns.map((l) => [String(l.lun), l.backend + (l.readOnly ? " (read-only)" : ""), formatBytes(l.bytes), l.url]),
  );
  const auth = node?.chap === undefined ? "no authentication" : `${node.mutualChap === undefined ? "CHAP" : "mutual CHAP"}, discovery too`;
  const registered = isns === undefined ? "" : `; registered with iSNS at ${isns.server} (period ${isns.registrationPeriod ?? "unlimited"} s)`;
  return { json, text: `serving ${node?.iqn ?? "?"} on ${portal} (${auth})${registered}; Ctrl-C stops\n${table}` };
}

export function targetCommand(run: Runner): Command {
  return new Command("target")
    .summary("serve LUNs with the embedded iSCSI target")
    .description(
      "Runs the embedded target until SIGINT or SIGTERM. Backends: mem:SIZE (sparse, in memory), null:SIZE (reads zeros, drops writes), file:PATH or a path. CHAP secrets come from $ISCSI_TARGET_CHAP_SECRET and $ISCSI_TARGET_MUTUAL_SECRET, or --chap-secret-file and --mutual-secret-file; never from the command line. With --json, one document describing the running target is printed once it listens. Logins, logouts and authentication failures are logged on stderr, one line each (-v adds connections, -vv every PDU, -q none).",
    )
    .option("--listen <host:port>", "address to listen on (port 0: any free port)", "127.0.0.1:3260")
    .option("--iqn <iqn>", "the target's name", DEFAULT_TARGET_IQN)
    .option("--lun <n=backend>", "a LUN: 1=mem:256M, 2=null:1T, 3=/path/disk.img (repeatable)", collect, [] as string[])
    .option("--chap <user>", "require CHAP with this user, for logins and discovery alike (secret: $ISCSI_TARGET_CHAP_SECRET or --chap-secret-file)")
    .option("--chap-secret-file <file>", "read the secret initiators must prove for --chap USER from a file (else $ISCSI_TARGET_CHAP_SECRET)")
    .option("--mutual <user>", "answer mutual CHAP as this user (secret: $ISCSI_TARGET_MUTUAL_SECRET or --mutual-secret-file)")
    .option("--mutual-secret-file <file>", "read the target's own secret, proved to initiators that ask for mutual CHAP, from a file (else $ISCSI_TARGET_MUTUAL_SECRET)")
    .option("--block-size <bytes>", "logical block size: 512 or 4096", "512")
    .option("--read-only", "refuse writes (WRITE PROTECTED)")
    .option("--allow-initiator <iqn>", "only this initiator may log in (repeatable); others are refused with status 0x0202", collect, [] as string[])
    .option("--isns <host[:port]>", "register with this iSNS server (port 3205 unless given), refresh the registration, deregister on exit")
    .addHelpText(
      "after",
      examples([
        "iscsi target --listen 127.0.0.1:3260 --lun 1=mem:256M",
        "iscsi target --listen 0.0.0.0:3260 --iqn iqn.2026-11.example:disk --lun 1=/var/lib/disk.img --lun 2=null:1T",
        "ISCSI_TARGET_CHAP_SECRET=... iscsi target --listen :3260 --lun 1=mem:1G --chap alice",
        "iscsi target --listen 127.0.0.1:0 --lun 1=mem:64M --json   # prints the port it took",
        "iscsi target --listen 10.0.0.2:3260 --lun 1=mem:1G --isns 10.0.0.5",
      ]),
    )
    .action(async (opts: TargetOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const config = await targetConfig(ctx, opts);
        const target = await startTarget(config);
        logTargetEvents(ctx, target);
        if (!isLoopback(target.host) && config.targets.some((t) => t.chap === undefined)) {
          ctx.out.warn(
            `listening on ${formatPortal({ host: target.host, port: target.port })} without CHAP: anyone who can reach this port can read and write the LUNs (add --chap USER${opts.allowInitiator.length === 0 ? ", --allow-initiator IQN" : ""}, or listen on 127.0.0.1)`,
          );
        }
        try {
          const { json, text } = describeTarget(target, config);
          ctx.out.result(json, () => text);
          await ctx.out.flush();
          await new Promise<void>((resolve) => {
            if (ctx.signal.aborted) resolve();
            else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
          ctx.out.note("stopping");
        } finally {
          await target.close();
        }
        // Stopping on SIGINT/SIGTERM is how a server ends: success.
      }),
    );
}

/** 127.0.0.0/8, ::1 and ::ffff:127.x: only this machine can connect. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(h);
}
