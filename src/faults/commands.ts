/**
 * The fault proxy's control language: one command a line, typed on the CLI's standard input or
 * sent to its control port. Parsing is kept apart from the proxy so it can be tested without
 * sockets.
 *
 *     drop [rst|fin]                       close every connection now
 *     stall [MS]                           stop forwarding for MS ms, or until "release"
 *     release                              end a stall
 *     delay MS [to-target|to-initiator|both]
 *     throttle BYTES_PER_S [to-target|to-initiator|both] [burst=N]   (0: off)
 *     cut DIR [MATCH...] [at=N] [rst|fin]  forward N bytes of the next matching PDU, then close
 *     flip DIR header|data [MATCH...] [offset=N] [bit=B]
 *     swallow DIR [MATCH...] [count=N]     forward nothing of the next N matching PDUs
 *     refuse on|off                        reset new connections at once
 *     clear                                withdraw pending faults, end stall and delay
 *     stats | events [N] | help | quit
 *
 * DIR is to-target (i2t) or to-initiator (t2i). MATCH is opcode=NAME|0xNN, cdb=0xNN (the SCSI
 * opcode of a SCSI Command), tmf=N (a task management function), itt=0xNN, skip=N.
 */
import { ConfigError } from "../core/errors.js";
import { OPCODE_NAMES } from "../core/pdu/opcodes.js";
import type { CloseMode, Direction, FaultProxy, PduMatch } from "./proxy.js";

export type ProxyCommand =
  | { readonly kind: "drop"; readonly mode: CloseMode }
  | { readonly kind: "stall"; readonly durationMs: number | undefined }
  | { readonly kind: "release" }
  | { readonly kind: "delay"; readonly ms: number; readonly direction: Direction | "both" }
  | { readonly kind: "throttle"; readonly bytesPerSecond: number; readonly direction: Direction | "both"; readonly burst: number }
  | { readonly kind: "cut"; readonly direction: Direction; readonly match: PduMatch; readonly at: number | undefined; readonly mode: CloseMode }
  | {
      readonly kind: "flip";
      readonly direction: Direction;
      readonly where: "header" | "data";
      readonly match: PduMatch;
      readonly offset: number | undefined;
      readonly bit: number | undefined;
    }
  | { readonly kind: "swallow"; readonly direction: Direction; readonly match: PduMatch; readonly count: number }
  | { readonly kind: "refuse"; readonly on: boolean }
  | { readonly kind: "clear" }
  | { readonly kind: "stats" }
  | { readonly kind: "events"; readonly count: number }
  | { readonly kind: "help" }
  | { readonly kind: "quit" };

export const HELP = `commands:
  drop [rst|fin]                          close every proxied connection now
  stall [MS]                              stop forwarding (for MS ms, or until release)
  release                                 end a stall
  delay MS [to-target|to-initiator|both]  hold every byte MS ms (0: off)
  throttle BPS [DIR|both] [burst=N]       forward at most BPS bytes a second (0: off)
  cut DIR [MATCH] [at=N] [rst|fin]        forward N bytes of the next matching PDU, then close
  flip DIR header|data [MATCH] [offset=N] [bit=B]
                                          flip one bit of the next matching PDU
  swallow DIR [MATCH] [count=N]           forward nothing of the next N matching PDUs
  refuse on|off                           reset new connections as they come
  clear                                   withdraw pending faults, end stall and delay
  stats | events [N] | help | quit
DIR: to-target (i2t) or to-initiator (t2i)
MATCH: opcode=NAME|0xNN  cdb=0xNN  tmf=N  itt=0xNN  skip=N`;

const OPCODES_BY_NAME = new Map(Object.entries(OPCODE_NAMES).map(([value, name]) => [name.toLowerCase(), Number(value)]));

function bad(line: string, why: string): ConfigError {
  return new ConfigError(`proxy command "${line}": ${why}`);
}

function parseNumber(line: string, what: string, text: string, max: number): number {
  const value = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw bad(line, `${what} "${text}" is not a number from 0 to ${max}`);
  return value;
}

function parseDirection(line: string, text: string | undefined): Direction {
  switch (text) {
    case "to-target":
    case "i2t":
      return "to-target";
    case "to-initiator":
    case "t2i":
      return "to-initiator";
    default:
      throw bad(line, `expected a direction (to-target or to-initiator), got ${text === undefined ? "nothing" : `"${text}"`}`);
  }
}

export function parseOpcode(line: string, text: string): number {
  const named = OPCODES_BY_NAME.get(text.toLowerCase());
  if (named !== undefined) return named;
  const value = parseNumber(line, "opcode", text, 0x3f);
  return value;
}

/** Splits `key=value` options off; returns them and the positional words. */
function split(line: string, words: readonly string[], allowed: readonly string[]): { options: Map<string, string>; rest: string[] } {
  const options = new Map<string, string>();
  const rest: string[] = [];
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq < 0) {
      rest.push(word);
      continue;
    }
    const key = word.slice(0, eq).toLowerCase();
    if (!allowed.includes(key)) throw bad(line, `unknown option "${key}" (allowed: ${allowed.join(", ")})`);
    if (options.has(key)) throw bad(line, `option "${key}" given twice`);
    options.set(key, word.slice(eq + 1));
  }
  return { options, rest };
}

const MATCH_KEYS = ["opcode", "cdb", "tmf", "itt", "skip"] as const;

function parseMatch(line: string, options: Map<string, string>): PduMatch {
  const get = (key: string): string | undefined => options.get(key);
  const opcode = get("opcode");
  const cdb = get("cdb");
  const tmf = get("tmf");
  const itt = get("itt");
  const skip = get("skip");
  return {
    ...(opcode === undefined ? {} : { opcode: parseOpcode(line, opcode) }),
    ...(cdb === undefined ? {} : { scsiOpcode: parseNumber(line, "cdb", cdb, 0xff) }),
    ...(tmf === undefined ? {} : { tmfFunction: parseNumber(line, "tmf", tmf, 0x7f) }),
    ...(itt === undefined ? {} : { initiatorTaskTag: parseNumber(line, "itt", itt, 0xffff_ffff) }),
    ...(skip === undefined ? {} : { skip: parseNumber(line, "skip", skip, 1_000_000) }),
  };
}

function closeMode(line: string, word: string | undefined, fallback: CloseMode): CloseMode {
  if (word === undefined) return fallback;
  if (word === "rst" || word === "fin") return word;
  throw bad(line, `expected rst or fin, got "${word}"`);
}

function noMore(line: string, words: readonly string[]): void {
  if (words.length > 0) throw bad(line, `unexpected "${words.join(" ")}"`);
}

/** Parses one command line; undefined for a blank line or a comment (#). */
export function parseCommand(input: string): ProxyCommand | undefined {
  const line = input.trim();
  if (line === "" || line.startsWith("#")) return undefined;
  const [verb = "", ...args] = line.split(/\s+/);
  switch (verb.toLowerCase()) {
    case "drop": {
      noMore(line, args.slice(1));
      return { kind: "drop", mode: closeMode(line, args[0], "rst") };
    }
    case "stall":
      noMore(line, args.slice(1));
      return { kind: "stall", durationMs: args[0] === undefined ? undefined : parseNumber(line, "duration", args[0], 86_400_000) };
    case "release":
      noMore(line, args);
      return { kind: "release" };
    case "delay": {
      if (args[0] === undefined) throw bad(line, "give the delay in milliseconds");
      const ms = parseNumber(line, "delay", args[0], 600_000);
      noMore(line, args.slice(2));
      const direction = args[1] === undefined || args[1] === "both" ? "both" : parseDirection(line, args[1]);
      return { kind: "delay", ms, direction };
    }
    case "throttle": {
      if (args[0] === undefined) throw bad(line, "give the rate in bytes a second");
      const bytesPerSecond = parseNumber(line, "rate", args[0], 10_000_000_000);
      const { options, rest } = split(line, args.slice(1), ["burst"]);
      noMore(line, rest.slice(1));
      const direction = rest[0] === undefined || rest[0] === "both" ? "both" : parseDirection(line, rest[0]);
      const burst = options.get("burst");
      return { kind: "throttle", bytesPerSecond, direction, burst: burst === undefined ? 16 * 1024 : Math.max(1, parseNumber(line, "burst", burst, 16 * 1024 * 1024)) };
    }
    case "cut": {
      const direction = parseDirection(line, args[0]);
      const { options, rest } = split(line, args.slice(1), [...MATCH_KEYS, "at"]);
      const mode = closeMode(line, rest[0], "fin");
      noMore(line, rest.slice(1));
      const at = options.get("at");
      return { kind: "cut", direction, match: parseMatch(line, options), at: at === undefined ? undefined : Math.max(1, parseNumber(line, "at", at, 0x1ff_ffff)), mode };
    }
    case "flip": {
      const direction = parseDirection(line, args[0]);
      const where = args[1];
      if (where !== "header" && where !== "data") throw bad(line, `expected header or data, got ${where === undefined ? "nothing" : `"${where}"`}`);
      const { options, rest } = split(line, args.slice(2), [...MATCH_KEYS, "offset", "bit"]);
      noMore(line, rest);
      const offset = options.get("offset");
      const bit = options.get("bit");
      return {
        kind: "flip",
        direction,
        where,
        match: parseMatch(line, options),
        offset: offset === undefined ? undefined : parseNumber(line, "offset", offset, where === "header" ? 47 : 0xff_ffff),
        bit: bit === undefined ? undefined : parseNumber(line, "bit", bit, 7),
      };
    }
    case "swallow": {
      const direction = parseDirection(line, args[0]);
      const { options, rest } = split(line, args.slice(1), [...MATCH_KEYS, "count"]);
      noMore(line, rest);
      const count = options.get("count");
      return { kind: "swallow", direction, match: parseMatch(line, options), count: count === undefined ? 1 : Math.max(1, parseNumber(line, "count", count, 1_000_000)) };
    }
    case "refuse":
      noMore(line, args.slice(1));
      if (args[0] !== "on" && args[0] !== "off") throw bad(line, `expected on or off`);
      return { kind: "refuse", on: args[0] === "on" };
    case "clear":
      noMore(line, args);
      return { kind: "clear" };
    case "stats":
      noMore(line, args);
      return { kind: "stats" };
    case "events":
      noMore(line, args.slice(1));
      return { kind: "events", count: args[0] === undefined ? 20 : parseNumber(line, "count", args[0], 10_000) };
    case "help":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
      return { kind: "quit" };
    default:
      throw bad(line, `unknown command "${verb}" (try help)`);
  }
}

/** Applies a command to a proxy; returns the line(s) to answer with. "quit" is the caller's to handle. */
export function applyCommand(proxy: FaultProxy, command: ProxyCommand): string {
  switch (command.kind) {
    case "drop":
      return `dropped ${proxy.drop({ mode: command.mode })} connection(s)`;
    case "stall":
      proxy.stall(command.durationMs === undefined ? {} : { durationMs: command.durationMs });
      return command.durationMs === undefined ? "stalled until release" : `stalled for ${command.durationMs} ms`;
    case "release":
      proxy.release();
      return "released";
    case "delay":
      proxy.setDelay(command.ms, command.direction);
      return `delay ${command.direction} ${command.ms} ms`;
    case "throttle":
      proxy.throttle(command.bytesPerSecond, command.direction, command.burst);
      return command.bytesPerSecond === 0 ? `throttle ${command.direction} off` : `throttle ${command.direction} ${command.bytesPerSecond} bytes/s`;
    case "cut":
      proxy.cut({ direction: command.direction, match: command.match, mode: command.mode, ...(command.at === undefined ? {} : { at: command.at }) });
      return `armed cut ${command.direction}`;
    case "flip":
      proxy.flip({
        direction: command.direction,
        where: command.where,
        match: command.match,
        ...(command.offset === undefined ? {} : { offset: command.offset }),
        ...(command.bit === undefined ? {} : { bit: command.bit }),
      });
      return `armed flip ${command.direction} ${command.where}`;
    case "swallow":
      proxy.swallow({ direction: command.direction, match: command.match, count: command.count });
      return `armed swallow ${command.direction} x${command.count}`;
    case "refuse":
      proxy.refuse(command.on);
      return command.on ? "refusing new connections" : "accepting new connections";
    case "clear":
      proxy.clearFaults();
      return "cleared";
    case "stats":
      return JSON.stringify(proxy.stats);
    case "events":
      return proxy.events
        .slice(-command.count)
        .map((e) => `+${e.at}ms ${e.kind}: ${e.detail}`)
        .join("\n");
    case "help":
      return HELP;
    case "quit":
      return "bye";
  }
}
