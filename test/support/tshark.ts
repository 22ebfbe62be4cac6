/**
 * Wire captures with tshark, and what Wireshark's iSCSI dissector makes of them: the PDUs (with
 * every `iscsi.*` field and the login/text keys), the frames it found malformed, and its expert
 * infos. An independent decoder is the point: a test can say "no malformed PDU, no warning" about
 * bytes our code put on the wire, and read which CHAP_A a target chose.
 *
 * Capturing on `lo` needs root (dumpcap). tshark hands the capture to its child dumpcap, which
 * delivers packets in blocks and flushes the file only now and then, so "tshark said it is
 * capturing" and "every packet sent so far is in the file" are both proved with marker packets:
 * UDP datagrams sent by a socket of ours to itself, carrying a random token, which the capture
 * filter admits and the analysis ignores (it looks at the iSCSI port's TCP only).
 */
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { HarnessError } from "./errors.js";
import { checkOk, runCommand, spawnTracked, type TrackedProcess } from "./processes.js";
import { tail } from "./redact.js";
import { makeTempDir, type TempDir } from "./tmp.js";
import { pollUntil, within } from "./wait.js";

export interface CaptureOptions {
  /** The iSCSI target's TCP port: the capture keeps this port's traffic. */
  readonly port: number;
  /** Where to write the pcapng file; a temporary directory (removed at process exit) unless told. */
  readonly dir?: string;
  /** Bytes kept per packet (`-s`); whole packets unless told, as the dissector needs them. */
  readonly snaplen?: number;
  /** Time allowed for tshark to start capturing (15 s unless told). */
  readonly startTimeoutMs?: number;
}

const MARKER_INTERVAL_MS = 100;

/** A running capture. `stop()` must be called (it is also killed at process exit). */
export class Capture {
  private stopped: Promise<string> | undefined;
  private scanned = 0;

  private constructor(
    readonly port: number,
    readonly pcapPath: string,
    private readonly proc: TrackedProcess,
    private readonly marker: Socket,
    private readonly markerPort: number,
    private readonly ownDir: TempDir | undefined,
  ) {}

  static async start(options: CaptureOptions): Promise<Capture> {
    const ownDir = options.dir === undefined ? await makeTempDir("iscsi-ts-capture-") : undefined;
    const dir = options.dir ?? ownDir?.path ?? "";
    const pcapPath = join(dir, `port-${options.port}-${Date.now()}.pcapng`);
    const marker = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      marker.once("error", reject);
      marker.bind(0, "127.0.0.1", () => resolve());
    });
    const markerPort = marker.address().port;
    const filter = `tcp port ${options.port} or (udp port ${markerPort} and host 127.0.0.1)`;
    const args = ["-i", "lo", "-n", "-f", filter, "-w", pcapPath];
    if (options.snaplen !== undefined) args.push("-s", String(options.snaplen));
    const proc = spawnTracked("tshark", args);
    const capture = new Capture(options.port, pcapPath, proc, marker, markerPort, ownDir);
    try {
      await proc.waitForOutput(/Capturing on/, { timeoutMs: options.startTimeoutMs ?? 15_000, what: "that it is capturing" });
      await capture.flushThroughMarker("start");
    } catch (error) {
      await proc.kill();
      marker.close();
      throw error;
    }
    return capture;
  }

  /**
   * Stops the capture once every packet sent before the call is in the file, and returns the
   * file's path. Safe to call more than once.
   */
  stop(): Promise<string> {
    this.stopped ??= this.stopOnce();
    return this.stopped;
  }

  private async stopOnce(): Promise<string> {
    try {
      if (!this.proc.running) {
        throw new HarnessError("PEER_ERR_START", `${this.proc.command} died during the capture; stderr: ${tail(this.proc.stderr())}`);
      }
      await this.flushThroughMarker("stop");
      // SIGINT to tshark itself: it stops dumpcap, which closes the file properly.
      this.proc.signal("SIGINT");
      const exited = await within(this.proc.exited, 10_000);
      if (exited === undefined) {
        await this.proc.kill();
        throw new HarnessError("PEER_ERR_TIMEOUT", `${this.proc.command} did not exit within 10 s of SIGINT`);
      }
      return this.pcapPath;
    } finally {
      await this.proc.kill();
      this.marker.close();
    }
  }

  /** Sends marker datagrams until one shows up in the file: all earlier packets are then in it too. */
  private async flushThroughMarker(label: string): Promise<void> {
    const token = Buffer.from(`iscsi-ts capture marker ${label} ${randomBytes(12).toString("hex")}`);
    await pollUntil(
      async () => {
        if (!this.proc.running) {
          throw new HarnessError("PEER_ERR_START", `${this.proc.command} exited; stderr: ${tail(this.proc.stderr())}`);
        }
        await new Promise<void>((resolve) => this.marker.send(token, this.markerPort, "127.0.0.1", () => resolve()));
        return this.fileContains(token);
      },
      { timeoutMs: 15_000, intervalMs: MARKER_INTERVAL_MS, what: `the ${label} marker to reach ${this.pcapPath}` },
      () => `tshark stderr: ${tail(this.proc.stderr(), 500)}`,
    );
  }

  /** Looks for `token` in the part of the file not yet scanned (the file only grows). */
  private async fileContains(token: Buffer): Promise<boolean> {
    let file;
    try {
      file = await open(this.pcapPath, "r");
    } catch {
      return false; // dumpcap has not created it yet
    }
    try {
      const size = (await file.stat()).size;
      const from = Math.max(0, this.scanned - token.length);
      if (size <= from) return false;
      const bytes = Buffer.alloc(size - from);
      const { bytesRead } = await file.read(bytes, 0, bytes.length, from);
      this.scanned = from + bytesRead;
      return bytes.subarray(0, bytesRead).includes(token);
    } finally {
      await file.close();
    }
  }

  /** Removes the capture's own temporary directory (with the file); a no-op for a caller's `dir`. */
  async discard(): Promise<void> {
    await this.stop().catch(() => undefined);
    await this.ownDir?.remove();
  }
}

/** Starts capturing the traffic of a TCP port on loopback; resolves once packets are being recorded. */
export function startCapture(options: CaptureOptions): Promise<Capture> {
  return Capture.start(options);
}

/* ------------------------------------------------------------------------------------------ */
/* Analysis                                                                                     */

export type ExpertSeverity = "comment" | "chat" | "note" | "warning" | "error";

export interface ExpertInfo {
  readonly frame: number;
  readonly severity: ExpertSeverity;
  /** tshark's expert group name ("Sequence", "Malformed", "Protocol", ...). */
  readonly group: string;
  readonly message: string;
  /** The frame's protocol column and summary, for context. */
  readonly protocol: string;
  readonly info: string;
}

export interface MalformedFrame {
  readonly frame: number;
  readonly protocol: string;
  readonly info: string;
}

/** One iSCSI PDU as the dissector saw it. */
export interface CapturedPdu {
  readonly frame: number;
  /** The 6-bit opcode (RFC 7143 §11.2.1.2). */
  readonly opcode: number;
  /** tshark's name for it: "Login Command", "Login Response", "Text Command", "SCSI Data In", ... */
  readonly name: string;
  /** Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f (RFC 7143 §11.2.1.2). */
  readonly fromInitiator: boolean;
  /** Every `iscsi.*` field of the PDU, values as tshark writes them ("0x03", "1", "CHAP_A=5"). */
  readonly fields: Readonly<Record<string, readonly string[]>>;
  /** The login or text keys, in order (from `iscsi.keyvalue`). */
  readonly keys: readonly (readonly [string, string])[];
}

export interface CaptureAnalysis {
  readonly pcap: string;
  readonly port: number;
  readonly pdus: readonly CapturedPdu[];
  /** `pdus.length`: PDUs, not frames (a frame may carry several, a PDU may span several). */
  readonly pduCount: number;
  /** Opcode names in capture order. */
  readonly opcodes: readonly string[];
  readonly malformed: readonly MalformedFrame[];
  /** Expert infos of severity warning or error, on the port's TCP. */
  readonly warnings: readonly ExpertInfo[];
}

/** The first value of a field of a PDU ("iscsi.login.T", "iscsi.tsih", ...). */
export function pduField(pdu: CapturedPdu, name: string): string | undefined {
  return pdu.fields[name]?.[0];
}

/** The value of a login/text key in a PDU ("CHAP_A", "HeaderDigest", ...). */
export function pduKey(pdu: CapturedPdu, key: string): string | undefined {
  return pdu.keys.find(([k]) => k === key)?.[1];
}

/** One line per malformed frame and warning, for an assertion message; empty if clean. */
export function problems(analysis: CaptureAnalysis): string[] {
  return [
    ...analysis.malformed.map((m) => `frame ${m.frame} malformed [${m.protocol}] ${m.info}`),
    ...analysis.warnings.map((w) => `frame ${w.frame} ${w.severity} (${w.group}) ${w.message} [${w.protocol}] ${w.info}`),
  ];
}

const SEPARATOR = "\t";
/** Joins repeated values of a field in `-T fields` output: a byte no dissector text contains. */
const AGGREGATOR = "\u001f";

/** Options that let the dissector see our PDUs whole (RFC 7143 allows data segments up to 2^24-1). */
function dissectorArgs(pcap: string, port: number): string[] {
  return ["-r", pcap, "-n", "-o", "iscsi.bogus_pdu_max_data_len:16777215", "-d", `tcp.port==${port},iscsi`];
}

interface ValueTables {
  readonly opcodes: ReadonlyMap<number, string>;
  readonly severities: ReadonlyMap<number, ExpertSeverity>;
  readonly warningLevel: number;
  readonly groups: ReadonlyMap<number, string>;
}

/** tshark's value-string tables, read once per process: how it names opcodes and expert levels. */
let tables: Promise<ValueTables> | undefined;

function valueTables(): Promise<ValueTables> {
  tables ??= (async () => {
    // `-G values` prints every dissector's tables (~90 MB): keep only the three we need.
    const wanted = "^V\t(iscsi\\.opcode|_ws\\.expert\\.severity|_ws\\.expert\\.group)\t";
    const { stdout } = checkOk(
      await runCommand("sh", ["-c", `tshark -G values 2>/dev/null | grep -E '${wanted}'`], { timeoutMs: 60_000 }),
    );
    const opcodes = new Map<number, string>();
    const severities = new Map<number, ExpertSeverity>();
    const groups = new Map<number, string>();
    for (const line of stdout.split("\n")) {
      const [kind, field, value, name] = line.split("\t");
      if (kind !== "V" || value === undefined || name === undefined) continue;
      if (field === "iscsi.opcode") opcodes.set(Number(value), name);
      else if (field === "_ws.expert.severity") severities.set(Number(value), name.toLowerCase() as ExpertSeverity);
      else if (field === "_ws.expert.group") groups.set(Number(value), name);
    }
    const warningLevel = [...severities].find(([, name]) => name === "warning")?.[0];
    if (opcodes.size === 0 || warningLevel === undefined) {
      throw new HarnessError("PEER_ERR_PARSE", "tshark -G values: no iscsi.opcode or _ws.expert.severity table");
    }
    return { opcodes, severities, warningLevel, groups };
  })();
  return tables;
}

/**
 * Dissects a capture as iSCSI on `port` and returns its PDUs, malformed frames and warnings.
 * Only the port's TCP traffic is considered (marker datagrams and anything else are ignored).
 */
export async function analyze(pcap: string, port: number): Promise<CaptureAnalysis> {
  const t = await valueTables();
  const [pdus, issues] = await Promise.all([readPdus(pcap, port, t), readIssues(pcap, port, t)]);
  return {
    pcap,
    port,
    pdus,
    pduCount: pdus.length,
    opcodes: pdus.map((p) => p.name),
    malformed: issues.malformed,
    warnings: issues.warnings,
  };
}

async function readPdus(pcap: string, port: number, t: ValueTables): Promise<CapturedPdu[]> {
  const args = [...dissectorArgs(pcap, port), "-Y", `iscsi && tcp.port == ${port}`, "-T", "json", "--no-duplicate-keys", "-J", "frame iscsi"];
  const result = checkOk(await runCommand("tshark", args, { timeoutMs: 300_000, keepOutputBytes: 1 << 30 }));
  if (result.outputTruncated) throw new HarnessError("PEER_ERR_PARSE", `${result.command}: output larger than 1 GiB`);
  let frames: unknown;
  try {
    frames = JSON.parse(result.stdout === "" ? "[]" : result.stdout);
  } catch (error) {
    throw new HarnessError("PEER_ERR_PARSE", `${result.command}: output is not JSON`, { cause: error });
  }
  if (!Array.isArray(frames)) throw new HarnessError("PEER_ERR_PARSE", `${result.command}: output is not a JSON array`);
  const pdus: CapturedPdu[] = [];
  for (const entry of frames) {
    const layers = (entry as { _source?: { layers?: Record<string, unknown> } })._source?.layers ?? {};
    const frameFields = flatten(layers["frame"]);
    const frame = Number(frameFields["frame.number"]?.[0]);
    const iscsi = layers["iscsi"];
    for (const tree of Array.isArray(iscsi) ? iscsi : [iscsi]) {
      const fields = flatten(tree);
      const opcodeText = fields["iscsi.opcode"]?.[0];
      if (opcodeText === undefined) continue; // a reassembly placeholder, not a PDU
      const opcode = Number(opcodeText);
      const keys = (fields["iscsi.keyvalue"] ?? []).map((kv): [string, string] => {
        const eq = kv.indexOf("=");
        return eq < 0 ? [kv, ""] : [kv.slice(0, eq), kv.slice(eq + 1)];
      });
      pdus.push({
        frame,
        opcode,
        name: t.opcodes.get(opcode) ?? `Unknown opcode 0x${opcode.toString(16)}`,
        fromInitiator: opcode < 0x20,
        fields,
        keys,
      });
    }
  }
  return pdus;
}

/** Collects every `iscsi.*` / `frame.*` leaf of a tshark JSON tree, descending into subtrees. */
function flatten(tree: unknown, into: Record<string, string[]> = {}): Record<string, string[]> {
  if (Array.isArray(tree)) {
    for (const item of tree) flatten(item, into);
    return into;
  }
  if (tree === null || typeof tree !== "object") return into;
  for (const [name, value] of Object.entries(tree as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v === "string") (into[name] ??= []).push(v);
      else flatten(v, into);
    }
  }
  return into;
}

async function readIssues(
  pcap: string,
  port: number,
  t: ValueTables,
): Promise<{ malformed: MalformedFrame[]; warnings: ExpertInfo[] }> {
  const filter = `tcp.port == ${port} && (_ws.malformed || _ws.expert.severity >= ${t.warningLevel})`;
  const rows = await fieldRows(pcap, port, filter, [
    "_ws.col.Protocol",
    "_ws.col.Info",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.group",
    "_ws.expert.message",
  ]);
  const malformed: MalformedFrame[] = [];
  const warnings: ExpertInfo[] = [];
  for (const row of rows) {
    const protocol = row.values["_ws.col.Protocol"]?.[0] ?? "";
    const info = row.values["_ws.col.Info"]?.[0] ?? "";
    if ((row.values["_ws.malformed"] ?? []).length > 0) malformed.push({ frame: row.frame, protocol, info });
    const severities = row.values["_ws.expert.severity"] ?? [];
    const groups = row.values["_ws.expert.group"] ?? [];
    const messages = row.values["_ws.expert.message"] ?? [];
    severities.forEach((level, i) => {
      if (Number(level) < t.warningLevel) return;
      warnings.push({
        frame: row.frame,
        severity: t.severities.get(Number(level)) ?? "error",
        group: t.groups.get(Number(groups[i])) ?? String(groups[i]),
        message: messages[i] ?? "",
        protocol,
        info,
      });
    });
  }
  return { malformed, warnings };
}

export interface FieldRow {
  readonly frame: number;
  /** Each requested field's values in the frame (several if several PDUs or occurrences). */
  readonly values: Readonly<Record<string, readonly string[]>>;
}

/**
 * Per frame, the values of any tshark fields (`iscsi.*`, `scsi.*`, `tcp.*`, ...) in frames of the
 * port's TCP that match `displayFilter` ("iscsi" unless told), dissected as iSCSI on `port`.
 */
export async function extractFields(
  pcap: string,
  port: number,
  fields: readonly string[],
  displayFilter = "iscsi",
): Promise<FieldRow[]> {
  return fieldRows(pcap, port, `(${displayFilter}) && tcp.port == ${port}`, fields);
}

async function fieldRows(pcap: string, port: number, filter: string, fields: readonly string[]): Promise<FieldRow[]> {
  const args = [...dissectorArgs(pcap, port), "-Y", filter, "-T", "fields", "-e", "frame.number"];
  for (const f of fields) args.push("-e", f);
  args.push("-E", "occurrence=a", "-E", `aggregator=${AGGREGATOR}`, "-E", `separator=/t`, "-E", "quote=n");
  const result = checkOk(await runCommand("tshark", args, { timeoutMs: 300_000, keepOutputBytes: 1 << 30 }));
  if (result.outputTruncated) throw new HarnessError("PEER_ERR_PARSE", `${result.command}: output larger than 1 GiB`);
  const rows: FieldRow[] = [];
  for (const line of result.stdout.split("\n")) {
    if (line === "") continue;
    const columns = line.split(SEPARATOR);
    const frame = Number(columns[0]);
    if (!Number.isInteger(frame)) throw new HarnessError("PEER_ERR_PARSE", `${result.command}: bad frame number in ${JSON.stringify(line)}`);
    const values: Record<string, string[]> = {};
    fields.forEach((f, i) => {
      const text = columns[i + 1] ?? "";
      values[f] = text === "" ? [] : text.split(AGGREGATOR);
    });
    rows.push({ frame, values });
  }
  return rows;
}
