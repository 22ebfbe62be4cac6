/** Command-line arguments of the fault proxy (proxy-cli.ts), parsed apart so they can be tested. */
import { ConfigError } from "../core/errors.js";
import { parseHostPort } from "../core/url.js";
import { HELP } from "./commands.js";
import type { DigestPresence } from "./pdu-stream.js";
import type { FaultProxyOptions } from "./proxy.js";

export interface CliOptions {
  readonly proxy: FaultProxyOptions;
  readonly controlPort: number | undefined;
  readonly quiet: boolean;
}

export const USAGE = `usage: iscsi-fault-proxy --target HOST:PORT [--listen HOST:PORT] [--seed N]
                         [--digests auto|none|header|data|both] [--control-port N] [--quiet]

${HELP}`;

function digestsOption(text: string): "auto" | DigestPresence {
  switch (text) {
    case "auto":
      return "auto";
    case "none":
      return { header: false, data: false };
    case "header":
      return { header: true, data: false };
    case "data":
      return { header: false, data: true };
    case "both":
      return { header: true, data: true };
    default:
      throw new ConfigError(`--digests must be auto, none, header, data or both, got "${text}"`);
  }
}

function integer(flag: string, text: string | undefined, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > max) throw new ConfigError(`${flag} needs a number from 0 to ${max}`);
  return Number(text);
}

export function parseArgs(argv: readonly string[]): CliOptions | "help" {
  let target: { host: string; port: number } | undefined;
  let listen: { host: string; port: number } | undefined;
  let seed = 1;
  let digests: "auto" | DigestPresence = "auto";
  let controlPort: number | undefined;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new ConfigError(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case "--target":
        target = parseHostPort(value());
        break;
      case "--listen": {
        const text = value();
        listen = /^\d+$/.test(text) ? { host: "127.0.0.1", port: integer(arg, text, 65535) } : parseHostPort(text);
        break;
      }
      case "--seed":
        seed = integer(arg, value(), 0xffff_ffff);
        break;
      case "--digests":
        digests = digestsOption(value());
        break;
      case "--control-port":
        controlPort = integer(arg, value(), 65535);
        break;
      case "--quiet":
        quiet = true;
        break;
      case "-h":
      case "--help":
        return "help";
      default:
        throw new ConfigError(`unknown argument "${arg}"`);
    }
  }
  if (target === undefined) throw new ConfigError("--target HOST:PORT is required");
  return {
    proxy: {
      target,
      ...(listen === undefined ? {} : { listenHost: listen.host, listenPort: listen.port }),
      seed,
      digests,
    },
    controlPort,
    quiet,
  };
}

