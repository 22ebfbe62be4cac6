/**
 * Thin wrappers around the reference initiators (libiscsi's tools, QEMU's iSCSI driver). Each
 * returns the exit status and output rather than throwing, so a test can assert a refusal as
 * readily as a success; `checkOk` (processes.ts) turns a failure into an error naming the command
 * and its stderr. CHAP secrets, given in the URL or the environment, are masked in every result.
 */
import { parseIscsiPerfReports, parseQemuBenchSeconds } from "../../src/bench/libiscsi.js";
import { HarnessError } from "./errors.js";
import { checkOk, runCommand, type RunResult } from "./processes.js";
import { tail } from "./redact.js";

export type { RunResult } from "./processes.js";

export interface ChapCredentials {
  readonly user: string;
  readonly secret: string;
}

export interface IscsiUrlParts {
  readonly host: string;
  readonly port: number;
  readonly iqn?: string | undefined;
  readonly lun?: number | undefined;
  /** Put in the URL as libiscsi and QEMU read it: `user%secret@`. */
  readonly chap?: ChapCredentials | undefined;
  /** libiscsi URL arguments, e.g. `{ header_digest: "crc32c" }`. */
  readonly query?: Readonly<Record<string, string>> | undefined;
}

/** `iscsi://[user[%secret]@]host[:port][/iqn/lun][?k=v&...]`, libiscsi's (and QEMU's) URL form. */
export function iscsiUrl(parts: IscsiUrlParts): string {
  let auth = "";
  if (parts.chap !== undefined) {
    // libiscsi splits on the first '%' and '@' and does not percent-decode, so these cannot be sent.
    if (/[%@/]/.test(parts.chap.user)) {
      throw new HarnessError("PEER_ERR_USAGE", `iscsiUrl: CHAP user ${JSON.stringify(parts.chap.user)} contains '%', '@' or '/'`);
    }
    if (/[%@/]/.test(parts.chap.secret)) {
      throw new HarnessError("PEER_ERR_USAGE", `iscsiUrl: the CHAP secret of user ${JSON.stringify(parts.chap.user)} contains '%', '@' or '/'`);
    }
    auth = `${parts.chap.user}%${parts.chap.secret}@`;
  }
  let url = `iscsi://${auth}${parts.host}:${parts.port}`;
  if (parts.iqn !== undefined) url += `/${parts.iqn}/${parts.lun ?? 0}`;
  if (parts.query !== undefined && Object.keys(parts.query).length > 0) {
    url += `?${Object.entries(parts.query).map(([k, v]) => `${k}=${v}`).join("&")}`;
  }
  return url;
}

/**
 * libiscsi's CHAP environment: `initiator` is what the initiator proves (the target's incoming
 * account), `target` what it expects the target to prove (mutual CHAP, the outgoing account).
 */
export function chapEnv(options: { readonly initiator?: ChapCredentials; readonly target?: ChapCredentials }): Record<string, string> {
  const env: Record<string, string> = {};
  if (options.initiator !== undefined) {
    env["LIBISCSI_CHAP_USERNAME"] = options.initiator.user;
    env["LIBISCSI_CHAP_PASSWORD"] = options.initiator.secret;
  }
  if (options.target !== undefined) {
    env["LIBISCSI_CHAP_TARGET_USERNAME"] = options.target.user;
    env["LIBISCSI_CHAP_TARGET_PASSWORD"] = options.target.secret;
  }
  return env;
}

export interface PeerOptions {
  /** Environment over the current one (e.g. `chapEnv(...)`); `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Hard limit before the tool is killed (60 s unless told). */
  readonly timeoutMs?: number;
}

const SECRET_ENV = ["LIBISCSI_CHAP_PASSWORD", "LIBISCSI_CHAP_TARGET_PASSWORD"];

/** Secrets to mask: the URL's `%secret@` and the CHAP passwords in the environment. */
function secretsOf(urls: readonly string[], env: Readonly<Record<string, string | undefined>> | undefined): string[] {
  const secrets: string[] = [];
  for (const url of urls) {
    const m = /^iscsi:\/\/[^%@/]*%([^@/]*)@/.exec(url);
    if (m?.[1] !== undefined && m[1] !== "") secrets.push(m[1]);
  }
  for (const name of SECRET_ENV) {
    const value = env?.[name] ?? process.env[name];
    if (value !== undefined && value !== "") secrets.push(value);
  }
  return secrets;
}

function run(file: string, args: readonly string[], urls: readonly string[], options: PeerOptions): Promise<RunResult> {
  return runCommand(file, args, {
    env: options.env,
    timeoutMs: options.timeoutMs ?? 60_000,
    secrets: secretsOf(urls, options.env),
  });
}

/** `iscsi-ls [-s] <url>`: SendTargets discovery, then (with `showLuns`, the default) each target's LUNs. */
export function iscsiLs(url: string, options: PeerOptions & { readonly showLuns?: boolean } = {}): Promise<RunResult> {
  return run("iscsi-ls", options.showLuns === false ? [url] : ["-s", url], [url], options);
}

/** `iscsi-inq [args] <url>`: INQUIRY (standard, or a VPD page with `-e 1 -c <page>`). */
export function iscsiInq(url: string, args: readonly string[] = [], options: PeerOptions = {}): Promise<RunResult> {
  return run("iscsi-inq", [...args, url], [url], options);
}

/** `iscsi-readcapacity16 <url>`. */
export function iscsiReadCapacity16(url: string, options: PeerOptions = {}): Promise<RunResult> {
  return run("iscsi-readcapacity16", [url], [url], options);
}

/** `qemu-img info <url>` (its output repeats the URL's secret: masked here). */
export function qemuImgInfo(url: string, options: PeerOptions = {}): Promise<RunResult> {
  return run("qemu-img", ["info", url], [url], options);
}

export interface QemuConvertOptions extends PeerOptions {
  /** The destination is an existing iSCSI LUN, not a file to create (`-n`). */
  readonly targetIsIscsi?: boolean;
}

/** `qemu-img convert [-n] -f raw -O raw <src> <dst>`: copies raw bytes to or from an iSCSI LUN. */
export function qemuImgConvert(src: string, dst: string, options: QemuConvertOptions = {}): Promise<RunResult> {
  const targetIsIscsi = options.targetIsIscsi ?? dst.startsWith("iscsi://");
  const args = ["convert", ...(targetIsIscsi ? ["-n"] : []), "-f", "raw", "-O", "raw", src, dst];
  return run("qemu-img", args, [src, dst], { timeoutMs: 300_000, ...options });
}

export interface IscsiPerfOptions extends PeerOptions {
  /** Requests in flight (`-m`). */
  readonly qd: number;
  /** Blocks per request (`-b`): 8 blocks of 512 bytes is 4 KiB. */
  readonly blocks: number;
  /** Random rather than sequential LBAs (`-r`). */
  readonly random?: boolean;
  /** How long to run before SIGINT; iscsi-perf reports once a second, so at least 2. */
  readonly seconds: number;
}

export interface IscsiPerfResult extends RunResult {
  /** The run's average IOPS, from its last report line. */
  readonly iops: number;
  /** The run's average throughput as iscsi-perf prints it ("MB/s", computed with 2^20 bytes). */
  readonly mibPerSecond: number;
  /** How many one-second reports it printed. */
  readonly reports: number;
}

/** Runs `iscsi-perf` for `seconds`, stops it with SIGINT, and reads its final averages. */
export async function iscsiPerf(url: string, options: IscsiPerfOptions): Promise<IscsiPerfResult> {
  const args = ["-m", String(options.qd), "-b", String(options.blocks), ...(options.random === true ? ["-r"] : []), url];
  const result = await runCommand("iscsi-perf", args, {
    env: options.env,
    stopAfterMs: options.seconds * 1000,
    stopSignal: "SIGINT",
    timeoutMs: options.timeoutMs ?? options.seconds * 1000 + 10_000,
    secrets: secretsOf([url], options.env),
  });
  const reports = parseIscsiPerfReports(result.stdout);
  const last = reports[reports.length - 1];
  if (last === undefined) {
    throw new HarnessError(
      "PEER_ERR_PARSE",
      `${result.command}: no iops report in its output (exit ${String(result.code)}); stdout: ${tail(result.stdout)}; stderr: ${tail(result.stderr)}`,
    );
  }
  return { ...result, iops: last.averageIops, mibPerSecond: last.averageMibPerSecond, reports: reports.length };
}

export interface QemuBenchOptions extends PeerOptions {
  /** Requests in all (`-c`). */
  readonly count: number;
  /** Requests in flight (`-d`). */
  readonly depth: number;
  /** Bytes per request (`-s`). */
  readonly bufferSize: number;
  /** Write rather than read (`-w`); `pattern` is the byte written. */
  readonly write?: boolean;
  readonly pattern?: number;
}

export interface QemuBenchResult extends RunResult {
  readonly seconds: number;
  readonly iops: number;
  readonly bytesPerSecond: number;
}

/** `qemu-img bench` against a LUN; fails (throws) if the run does not complete. */
export async function qemuImgBench(url: string, options: QemuBenchOptions): Promise<QemuBenchResult> {
  const args = ["bench", "-f", "raw", "-c", String(options.count), "-d", String(options.depth), "-s", String(options.bufferSize)];
  if (options.write === true) args.push("-w", `--pattern=${options.pattern ?? 0xa5}`);
  args.push(url);
  const result = checkOk(await run("qemu-img", args, [url], { timeoutMs: 300_000, ...options }));
  const seconds = parseQemuBenchSeconds(result.stdout);
  if (seconds === undefined) throw new HarnessError("PEER_ERR_PARSE", `${result.command}: no "Run completed" line; stdout: ${tail(result.stdout)}`);
  // qemu-img prints milliseconds' precision; a zero would make the rates infinite.
  const divisor = Math.max(seconds, 0.001);
  return { ...result, seconds, iops: options.count / divisor, bytesPerSecond: (options.count * options.bufferSize) / divisor };
}
