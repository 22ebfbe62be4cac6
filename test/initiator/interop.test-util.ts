/**
 * Shared helpers for the initiator's interop tests against tgtd: bounded waits (a library call
 * that hangs must fail its test in seconds, not at vitest's two-minute limit), the rejection of a
 * promise, byte comparison with the first differing offset, and a parser for the library's
 * one-line PDU trace so a test can assert what went over the wire.
 */
import { inspect } from "node:util";
import { describeMismatch, firstDifference } from "../support/pattern.js";
import { within } from "../support/wait.js";

/** Thrown when a library call does not settle in time: the test names the call. */
export class Hung extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not settle within ${ms} ms`);
    this.name = "Hung";
  }
}

/** `promise`'s value, or a `Hung` failure naming `what` if it takes longer than `ms`. */
export async function settle<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => {
    settled = true;
  });
  const value = await within(watched, ms);
  if (!settled) {
    // The promise may still reject later; keep that from being reported as unhandled.
    watched.catch(() => undefined);
    throw new Hung(what, ms);
  }
  return value as T;
}

/** The reason `promise` rejects with; fails if it resolves or does not settle within `ms`. */
export async function rejectionOf(promise: Promise<unknown>, what: string, ms = 20_000): Promise<unknown> {
  const outcome = await settle(
    promise.then(
      (value) => ({ resolved: true as const, value }),
      (error: unknown) => ({ resolved: false as const, error }),
    ),
    what,
    ms,
  );
  if (outcome.resolved) throw new Error(`${what} was expected to fail but resolved with ${inspect(outcome.value, { depth: 0 })}`);
  return outcome.error;
}

/** "equal", or where `actual` first differs from `expected`: for `expect(...).toBe("equal")`. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): string {
  const at = firstDifference(expected, actual);
  if (at < 0) return "equal";
  return describeMismatch({ offset: at, expected: expected[at], actual: actual[at] });
}

/** Every way a value can end up printed: String(), JSON, util.inspect, and for errors message and stack. */
export function renderings(value: unknown): string[] {
  const out = [String(value), inspect(value, { depth: 8, showHidden: true, getters: true })];
  try {
    out.push(JSON.stringify(value) ?? "");
  } catch (error) {
    // A session holds sockets and cycles; JSON.stringify refusing it is fine, leaking is not.
    out.push(String(error));
  }
  if (value instanceof Error) {
    out.push(value.message, value.stack ?? "");
    if (value.cause !== undefined) out.push(...renderings(value.cause));
  }
  return out;
}

/** One line of the library's PDU trace, split into its parts. */
export interface TraceEntry {
  readonly direction: "send" | "receive";
  readonly cid: number;
  /** The opcode's name as describePdu prints it: "ScsiCommand", "DataOut", "R2T", ... */
  readonly opcode: string;
  /** The flag letters shown in brackets ("FW", "FS"), "" when none. */
  readonly flags: string;
  /** Every `name=value` field before the text keys. */
  readonly fields: Readonly<Record<string, string>>;
  /** The login/text keys in braces, if any. */
  readonly keys: Readonly<Record<string, string>>;
  readonly line: string;
}

const TRACE_LINE = /^(>>|<<) \[(\d+)\] (\S+)(?: \[([A-Za-z]+)\])?(.*)$/;

export function parseTraceLine(line: string): TraceEntry | undefined {
  const m = TRACE_LINE.exec(line);
  if (m === null) return undefined;
  const rest = m[5] ?? "";
  const brace = rest.indexOf("{");
  const head = brace < 0 ? rest : rest.slice(0, brace);
  const fields: Record<string, string> = {};
  for (const token of head.trim().split(/\s+/)) {
    const eq = token.indexOf("=");
    if (eq > 0) fields[token.slice(0, eq)] = token.slice(eq + 1);
  }
  const keys: Record<string, string> = {};
  if (brace >= 0) {
    // Redacted values read "<redacted 66 bytes>", spaces and all.
    for (const m of rest.slice(brace + 1, rest.lastIndexOf("}")).matchAll(/([^\s=]+)=(<[^>]*>|\S*)/g)) {
      keys[m[1] as string] = m[2] ?? "";
    }
  }
  return {
    direction: m[1] === ">>" ? "send" : "receive",
    cid: Number(m[2]),
    opcode: m[3] ?? "",
    flags: m[4] ?? "",
    fields,
    keys,
    line,
  };
}

/** Collects the library's trace lines (SessionOptions.trace) and reads them back parsed. */
export class TraceLog {
  readonly lines: string[] = [];
  readonly trace = (line: string): void => {
    this.lines.push(line);
  };

  entries(): TraceEntry[] {
    return this.lines.map(parseTraceLine).filter((e): e is TraceEntry => e !== undefined);
  }

  /** Entries of one opcode (and direction, if given). */
  of(opcode: string, direction?: "send" | "receive"): TraceEntry[] {
    return this.entries().filter((e) => e.opcode === opcode && (direction === undefined || e.direction === direction));
  }

  clear(): void {
    this.lines.length = 0;
  }

  /** The last `n` lines, for an assertion message. */
  tail(n = 30): string {
    return this.lines.slice(-n).join("\n");
  }
}

/** A numeric field of a trace entry; NaN (which fails any comparison) when absent. */
export function num(entry: TraceEntry | undefined, field: string): number {
  const text = entry?.fields[field];
  if (text === undefined) return Number.NaN;
  return text.startsWith("0x") ? Number.parseInt(text, 16) : Number(text);
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
