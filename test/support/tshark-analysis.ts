/**
 * What Wireshark's dissectors make of a capture (tshark -r): the iSCSI PDUs with every `iscsi.*`
 * field and the login/text keys, the frames found malformed, and the expert infos of severity
 * warning or error, each attributed to the layer that raised it (tcp, iscsi, scsi).
 *
 * The layer matters: tshark's SCSI dissector reads some responses past their end when the target
 * truncated them to the command's allocation length, as SPC-4 §4.2.5.6 requires (tgtd's INQUIRY
 * Device Identification page asked with 64 bytes shows as "[Malformed Packet: SCSI]"), so a test
 * of iSCSI framing asks `problems(analysis, { layers: ["tcp", "iscsi"] })`.
 */
import { HarnessError } from "./errors.js";
import { checkOk, runCommand } from "./processes.js";

export type ExpertSeverity = "comment" | "chat" | "note" | "warning" | "error";

export interface ExpertInfo {
  readonly frame: number;
  /** The protocol layer that raised it: "tcp", "iscsi", "scsi", ... */
  readonly layer: string;
  /** The expert item's own field name, e.g. "tcp.connection.rst". */
  readonly id: string;
  readonly severity: ExpertSeverity;
  /** tshark's expert group name ("Sequence", "Malformed", "Protocol", "Undecoded", ...). */
  readonly group: string;
  readonly message: string;
  /** The frame's summary line, for context. */
  readonly info: string;
}

export interface MalformedFrame {
  readonly frame: number;
  /** The protocol layer whose dissection failed: "iscsi", "scsi", ... */
  readonly layer: string;
  readonly info: string;
}

/** One iSCSI PDU as the dissector saw it. */
export interface CapturedPdu {
  readonly frame: number;
  /** The 6-bit opcode (RFC 7143 §11.2.1.2). */
  readonly opcode: number;
  /** tshark's name for it: "Login Command", "Login Response", "Text Command", "SCSI Data In", ... */
  readonly name: string;
  /** RFC 7143 §11.2.1.2: initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f. */
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

/**
 * TCP notes about what the kernel's TCP did on its own, not about what a peer sent: flow control
 * (a full or zero window and its update) and a D-SACK (the receiver saw a segment twice: the
 * sending kernel retransmitted, which a loaded loopback does now and then). No iSCSI endpoint
 * chooses them, so no test of one counts them as problems.
 */
const KERNEL_TCP_NOTES: ReadonlySet<string> = new Set([
  "tcp.analysis.window_full",
  "tcp.analysis.zero_window",
  "tcp.analysis.window_update",
  "tcp.options.sack.dsack",
]);

/**
 * One line per malformed frame and warning, for an assertion message (`expect(problems(a)).toEqual([])`
 * shows them all when it fails); with `layers`, only those raised by these protocol layers. The
 * kernel's own TCP notes (KERNEL_TCP_NOTES) are left out.
 */
export function problems(analysis: CaptureAnalysis, options: { readonly layers?: readonly string[] } = {}): string[] {
  const wanted = (layer: string): boolean => options.layers === undefined || options.layers.includes(layer);
  return [
    ...analysis.malformed.filter((m) => wanted(m.layer)).map((m) => `frame ${m.frame} malformed ${m.layer}: ${m.info}`),
    ...analysis.warnings
      .filter((w) => wanted(w.layer) && !(w.layer === "tcp" && KERNEL_TCP_NOTES.has(w.id)))
      .map((w) => `frame ${w.frame} ${w.severity} ${w.layer} (${w.group}, ${w.id}): ${w.message} | ${w.info}`),
  ];
}

/** tshark output kept for parsing: well under V8's longest string (2^29 characters). */
const MAX_OUTPUT = 256 << 20;
const SEPARATOR = "\t";
/** Joins repeated values of a field in `-T fields` output: a byte no dissector text contains. */
const AGGREGATOR = "\u001f";

/** Options that let the dissector see our PDUs whole (RFC 7143 allows data segments up to 2^24-1). */
function dissectorArgs(pcap: string, port: number): string[] {
  return ["-r", pcap, "-n", "-o", "iscsi.bogus_pdu_max_data_len:16777215", "-d", `tcp.port==${port},iscsi`];
}

async function tshark(args: readonly string[]): Promise<string> {
  const result = checkOk(await runCommand("tshark", args, { timeoutMs: 300_000, keepOutputBytes: MAX_OUTPUT }));
  if (result.outputTruncated) {
    throw new HarnessError("PEER_ERR_PARSE", `${result.command}: output too large to parse; capture less (snaplen, a shorter run)`);
  }
  return result.stdout;
}

async function tsharkJson(args: readonly string[]): Promise<unknown[]> {
  const text = await tshark([...args, "-T", "json", "--no-duplicate-keys"]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.trim() === "" ? "[]" : text);
  } catch (error) {
    throw new HarnessError("PEER_ERR_PARSE", `tshark ${args.join(" ")}: output is not JSON`, { cause: error });
  }
  if (!Array.isArray(parsed)) throw new HarnessError("PEER_ERR_PARSE", `tshark ${args.join(" ")}: output is not a JSON array`);
  return parsed;
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
 * Only the port's TCP traffic is considered (capture markers and anything else are ignored).
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

function layersOf(entry: unknown): Record<string, unknown> {
  return (entry as { _source?: { layers?: Record<string, unknown> } })._source?.layers ?? {};
}

function frameNumber(layers: Record<string, unknown>): number {
  const frame = Number(flatten(layers["frame"])["frame.number"]?.[0]);
  if (!Number.isInteger(frame)) throw new HarnessError("PEER_ERR_PARSE", "tshark JSON: a frame without frame.number");
  return frame;
}

async function readPdus(pcap: string, port: number, t: ValueTables): Promise<CapturedPdu[]> {
  // Only the frame and iscsi layers: the SCSI payload (possibly megabytes of hex) stays out.
  const frames = await tsharkJson([...dissectorArgs(pcap, port), "-Y", `iscsi && tcp.port == ${port}`, "-J", "frame iscsi"]);
  const pdus: CapturedPdu[] = [];
  for (const entry of frames) {
    const layers = layersOf(entry);
    const frame = frameNumber(layers);
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

/** Collects every string leaf of a tshark JSON tree by field name, descending into subtrees. */
function flatten(tree: unknown, into: Record<string, string[]> = {}): Record<string, string[]> {
  if (Array.isArray(tree)) {
    for (const item of tree) flatten(item, into);
    return into;
  }
  if (tree === null || typeof tree !== "object") return into;
  for (const [name, value] of Object.entries(tree as Record<string, unknown>)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === "string") (into[name] ??= []).push(v);
      else flatten(v, into);
    }
  }
  return into;
}

/** The `_ws.expert` items anywhere under a tree. */
function expertItems(tree: unknown, into: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(tree)) {
    for (const item of tree) expertItems(item, into);
  } else if (tree !== null && typeof tree === "object") {
    for (const [name, value] of Object.entries(tree as Record<string, unknown>)) {
      if (name === "_ws.expert") {
        for (const item of Array.isArray(value) ? value : [value]) {
          if (item !== null && typeof item === "object") into.push(item as Record<string, unknown>);
        }
      } else {
        expertItems(value, into);
      }
    }
  }
  return into;
}

async function readIssues(pcap: string, port: number, t: ValueTables): Promise<{ malformed: MalformedFrame[]; warnings: ExpertInfo[] }> {
  const filter = `tcp.port == ${port} && (_ws.malformed || _ws.expert.severity >= ${t.warningLevel})`;
  const [frames, infoRows] = await Promise.all([
    tsharkJson([...dissectorArgs(pcap, port), "-Y", filter]),
    fieldRows(pcap, port, filter, ["_ws.col.Info"]),
  ]);
  const infoOf = new Map(infoRows.map((row) => [row.frame, row.values["_ws.col.Info"]?.[0] ?? ""]));
  const malformed: MalformedFrame[] = [];
  const warnings: ExpertInfo[] = [];
  for (const entry of frames) {
    const layers = layersOf(entry);
    const frame = frameNumber(layers);
    const info = infoOf.get(frame) ?? "";
    // Layers come in dissection order; a malformation is reported after the layer it broke.
    let previous = "";
    for (const [layer, tree] of Object.entries(layers)) {
      if (layer === "_ws.malformed") {
        malformed.push({ frame, layer: previous, info });
        continue;
      }
      previous = layer;
      for (const item of expertItems(tree)) {
        const level = Number(item["_ws.expert.severity"]);
        if (!(level >= t.warningLevel)) continue;
        const group = Number(item["_ws.expert.group"]);
        warnings.push({
          frame,
          layer,
          id: Object.keys(item).find((k) => !k.startsWith("_ws.expert.")) ?? "",
          severity: t.severities.get(level) ?? "error",
          group: t.groups.get(group) ?? String(item["_ws.expert.group"]),
          message: String(item["_ws.expert.message"] ?? ""),
          info,
        });
      }
    }
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
export async function extractFields(pcap: string, port: number, fields: readonly string[], displayFilter = "iscsi"): Promise<FieldRow[]> {
  return fieldRows(pcap, port, `(${displayFilter}) && tcp.port == ${port}`, fields);
}

async function fieldRows(pcap: string, port: number, filter: string, fields: readonly string[]): Promise<FieldRow[]> {
  const args = [...dissectorArgs(pcap, port), "-Y", filter, "-T", "fields", "-e", "frame.number"];
  for (const f of fields) args.push("-e", f);
  args.push("-E", "occurrence=a", "-E", `aggregator=${AGGREGATOR}`, "-E", "separator=/t", "-E", "quote=n");
  const stdout = await tshark(args);
  const rows: FieldRow[] = [];
  for (const line of stdout.split("\n")) {
    if (line === "") continue;
    const columns = line.split(SEPARATOR);
    const frame = Number(columns[0]);
    if (!Number.isInteger(frame)) throw new HarnessError("PEER_ERR_PARSE", `tshark fields: bad frame number in ${JSON.stringify(line)}`);
    const values: Record<string, string[]> = {};
    fields.forEach((f, i) => {
      const text = columns[i + 1] ?? "";
      values[f] = text === "" ? [] : text.split(AGGREGATOR);
    });
    rows.push({ frame, values });
  }
  return rows;
}
